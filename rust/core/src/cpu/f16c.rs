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

/// One float16 widened without F16C, branch-free so the loops that call it per element
/// vectorise (float16 arithmetic widens each element as it reads): exact, infinities and NaN
/// kept, subnormals scaled from their mantissa.
#[inline(always)]
pub(crate) fn widen_one(h: f16) -> f32 {
    let h = u32::from(h.to_bits());
    let (sign, em) = ((h & 0x8000) << 16, h & 0x7fff);
    let shifted = em << 13;
    let normal = shifted + ((127 - 15) << 23); // the exponent rebiased
    let special = shifted | 0x7f80_0000; // infinity or NaN (payload kept)
    let subnormal = (em as f32 * f32::from_bits(0x3380_0000)).to_bits(); // mantissa * 2^-24
    let bits = if em >= 0x7c00 {
        special
    } else if em < 0x0400 {
        subnormal
    } else {
        normal
    };
    f32::from_bits(bits | sign)
}

/// One float32 rounded to the nearest float16, ties to even (as `half` and F16C), branch-free
/// as `widen_one`: past the float16 range infinity, NaN a quiet NaN, subnormals rounded by one
/// float addition that shifts them into place.
#[inline(always)]
pub(crate) fn narrow_one(x: f32) -> f16 {
    const INF: u32 = 255 << 23;
    const TOO_BIG: u32 = (127 + 16) << 23; // 2^16: rounds to infinity
    const SMALLEST_NORMAL: u32 = 113 << 23; // 2^-14
    const SUBNORMAL_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23;
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let f = bits ^ sign;
    let big = if f > INF { 0x7e00 } else { 0x7c00 };
    let subnormal = (f32::from_bits(f) + f32::from_bits(SUBNORMAL_MAGIC))
        .to_bits()
        .wrapping_sub(SUBNORMAL_MAGIC);
    // Normal: rebias, add just under half an ulp plus the ulp's low bit (ties to even), cut.
    let odd = (f >> 13) & 1;
    let normal = f.wrapping_sub(112 << 23).wrapping_add(0xfff + odd) >> 13;
    let o = if f >= TOO_BIG {
        big
    } else if f < SMALLEST_NORMAL {
        subnormal
    } else {
        normal
    };
    f16::from_bits((o | (sign >> 16)) as u16)
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

    /// The branch-free per-element conversions agree with `half` as the slice ones do: every
    /// float16 widened, and every float16 value, the midpoints between neighbours (ties) and
    /// a sweep of other float32 values narrowed.
    fn converts_one_as_half_does() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            let (want, got) = (h.to_f32(), widen_one(h));
            assert!(
                want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                "{bits:#x}"
            );
        }
        let mut probes: Vec<f32> = (0..200_003)
            .map(|i| (i as f32 - 100_000.0) * 0.7519 + (i % 7) as f32 * 1e-4)
            .chain([
                65504.0, 65520.0, 65519.99, 65536.0, 1e-8, -6.0e-8, 2.98e-8, 1e30,
            ])
            .chain([
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MAX,
                f32::MIN_POSITIVE,
                0.0,
                -0.0,
            ])
            .collect();
        for bits in 0..0x7c00u16 {
            let (lo, hi) = (
                f16::from_bits(bits).to_f32(),
                f16::from_bits(bits + 1).to_f32(),
            );
            probes.extend([
                lo,
                (lo + hi) / 2.0,
                -(lo + hi) / 2.0,
                f32::from_bits(lo.to_bits() + 1),
            ]);
        }
        for p in probes {
            assert_eq!(narrow_one(p).to_bits(), f16::from_f32(p).to_bits(), "{p:e}");
        }
        assert!(narrow_one(f32::NAN).is_nan() && narrow_one(-f32::NAN).is_nan());
    }

    crate::self_test::cases!(converts_as_half_does, converts_one_as_half_does);
}
