//! Runtime SIMD dispatch for our own loops. The crate is compiled for baseline x86-64 (so one
//! wheel runs everywhere); hot loops run through `simd(|| ...)`, which re-enters them inside a
//! function compiled with AVX-512 or AVX2 when the CPU has it. Closures inline into the
//! target-feature function, so their loops are vectorised for that level. FMA contraction is not
//! enabled by Rust, so results are bit-identical whichever path runs.

/// Runs `f` compiled for the widest vector extension this CPU supports.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if level() >= 2 {
            // SAFETY: the CPU supports AVX-512F/BW/DQ/VL (checked by `level`).
            return unsafe { avx512(f) };
        }
        if level() == 1 {
            // SAFETY: the CPU supports AVX2 and FMA (checked by `level`).
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// 2 = AVX-512, 1 = AVX2+FMA, 0 = baseline; detected once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn level() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);
    let l = LEVEL.load(Ordering::Relaxed);
    if l != u8::MAX {
        return l;
    }
    let l = if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        2
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        1
    } else {
        0
    };
    LEVEL.store(l, Ordering::Relaxed);
    l
}

/// The SIMD level name, for `show_config()`.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        match level() {
            2 => return "avx512",
            1 => return "avx2",
            _ => return "sse2",
        }
    }
    #[allow(unreachable_code)]
    "baseline"
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
