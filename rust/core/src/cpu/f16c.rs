//! float16 <-> float32 over slices with the F16C instructions, eight values an instruction.
//! `half`'s per-value conversion asks the CPU for F16C on every call and never vectorises,
//! and its slice conversion calls out once per eight values: float16 arithmetic, which runs
//! in float32 between two such casts, spent most of its time converting.

use half::f16;

/// `dst[i] = src[i]` widened (exact).
pub(crate) fn widen(src: &[f16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { x86::widen(src, dst) };
            return;
        }
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
}

/// `dst[i] = src[i]` rounded to the nearest float16 (ties to even, as `half` and PyTorch).
pub(crate) fn narrow(src: &[f32], dst: &mut [f16]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { x86::narrow(src, dst) };
            return;
        }
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(*s);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use half::f16;
    use std::arch::x86_64::{
        __m128i, _mm256_cvtph_ps, _mm256_cvtps_ph, _mm256_loadu_ps, _mm256_storeu_ps,
        _mm_loadu_si128, _mm_storeu_si128, _MM_FROUND_TO_NEAREST_INT,
    };

    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n` keeps both 8-value accesses inside the slices.
            unsafe {
                let h = _mm_loadu_si128(s.add(i).cast::<__m128i>());
                _mm256_storeu_ps(d.add(i), _mm256_cvtph_ps(h));
            }
            i += 8;
        }
        for j in i..n {
            dst[j] = src[j].to_f32();
        }
    }

    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn narrow(src: &[f32], dst: &mut [f16]) {
        let n = src.len().min(dst.len());
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n` keeps both 8-value accesses inside the slices.
            unsafe {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(s.add(i)));
                _mm_storeu_si128(d.add(i).cast::<__m128i>(), h);
            }
            i += 8;
        }
        for j in i..n {
            dst[j] = f16::from_f32(src[j]);
        }
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// Every float16 bit pattern widens as `half` does (NaNs stay NaN), and narrowing rounds
    /// as `half` does, ties to even, across the whole float16 range and past it.
    fn converts_as_half_does() {
        let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut wide = vec![0f32; all.len()];
        widen(&all, &mut wide);
        for (h, w) in all.iter().zip(&wide) {
            let want = h.to_f32();
            assert!(
                want.to_bits() == w.to_bits() || (want.is_nan() && w.is_nan()),
                "{h:?}"
            );
        }
        let probes: Vec<f32> = (0..200_003)
            .map(|i| (i as f32 - 100_000.0) * 0.7519 + (i % 7) as f32 * 1e-4)
            .chain([
                65504.0,
                65520.0,
                65519.99,
                1e-8,
                -6.0e-8,
                2.98e-8,
                f32::INFINITY,
            ])
            .collect();
        let mut narrow_out = vec![f16::ZERO; probes.len()];
        narrow(&probes, &mut narrow_out);
        for (p, h) in probes.iter().zip(&narrow_out) {
            assert_eq!(h.to_bits(), f16::from_f32(*p).to_bits(), "{p}");
        }
    }

    crate::self_test::cases!(converts_as_half_does);
}
