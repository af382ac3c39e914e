//! Runtime SIMD dispatch for our own loops. The crate is compiled for baseline x86-64 (so one
//! wheel runs everywhere); hot loops are `multiversion!` functions, compiled once more with
//! AVX-512 and with AVX2 and chosen at run time by the CPU's `level`. FMA contraction is not
//! enabled by Rust, so those results are bit-identical whichever path runs; kernels declared
//! `fused` (attention) use FMA instructions where the level has them, so theirs differ in the
//! last bits between an FMA level and the baseline.

/// 2 = AVX-512, 1 = AVX2+FMA, 0 = baseline; detected once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn level() -> u8 {
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

/// Whether the baseline compilation of a `fused` kernel has FMA anyway: targets built with it
/// (aarch64 always has it).
pub(crate) const BASELINE_FUSED: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

/// Whether `multiversion!` runs fused code here (`Float::madd`'s `FUSED`): at the AVX levels,
/// or where the baseline has FMA.
#[inline(always)]
pub(crate) fn fused() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        BASELINE_FUSED || level() >= 1
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        BASELINE_FUSED
    }
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

/// Defines `$name` as a dispatcher over three compilations of the `#[inline(always)]` function
/// `$inner`: AVX-512, AVX2+FMA and baseline. A closure run inside a target-feature function is
/// not enough: the compiler may keep it out of line, compiled for the baseline (the bf16
/// packing, transposes and row casts ran on SSE that way); a forced-inline named body is
/// always compiled for each level.
#[macro_export]
macro_rules! multiversion {
    // The three compilations, `$fma` called at the AVX levels and `$base` on the baseline.
    (@levels $vis:vis fn $name:ident<$($gen:ident),*>($($arg:ident: $ty:ty),*) $(-> $ret:ty)? where [$($bounds:tt)*] fma: [$($fma:tt)*] base: [$($base:tt)*]) => {
        $vis fn $name<$($gen),*>($($arg: $ty),*) $(-> $ret)? where $($bounds)* {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn v4<$($gen),*>($($arg: $ty),*) $(-> $ret)? where $($bounds)* {
                    $($fma)*($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3<$($gen),*>($($arg: $ty),*) $(-> $ret)? where $($bounds)* {
                    $($fma)*($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level` checked that the CPU has these features.
                    2 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    1 => return unsafe { v3($($arg),*) },
                    _ => {}
                }
            }
            $($base)*($($arg),*)
        }
    };
    ($vis:vis fn $name:ident<$($gen:ident),*>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? where [$($bounds:tt)*] => $inner:ident) => {
        $crate::multiversion!(@levels $vis fn $name<$($gen),*>($($arg: $ty),*) $(-> $ret)? where [$($bounds)*] fma: [$inner] base: [$inner]);
    };
    // `=> inner fused`: `inner` takes a last `const FUSED: bool` (see `Float::madd`), true at
    // the levels with FMA and `BASELINE_FUSED` on the baseline.
    ($vis:vis fn $name:ident<$($gen:ident),*>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? where [$($bounds:tt)*] => $inner:ident fused) => {
        $crate::multiversion!(@levels $vis fn $name<$($gen),*>($($arg: $ty),*) $(-> $ret)? where [$($bounds)*]
            fma: [$inner::<$($gen,)* true>] base: [$inner::<$($gen,)* { $crate::simd::BASELINE_FUSED }>]);
    };
}

use std::mem::MaybeUninit;

#[inline(always)]
fn fill1_body<A: Copy, O, F: Fn(A) -> O>(src: &[A], out: &mut [MaybeUninit<O>], f: &F) {
    for (o, &x) in out.iter_mut().zip(src) {
        o.write(f(x));
    }
}

#[inline(always)]
fn fill2_body<A: Copy, B: Copy, O, F: Fn(A, B) -> O>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<O>],
    f: &F,
) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(f(x, y));
    }
}

multiversion!(pub(crate) fn fill1<A, O, F>(src: &[A], out: &mut [MaybeUninit<O>], f: &F) where [A: Copy, F: Fn(A) -> O] => fill1_body);
multiversion!(pub(crate) fn fill2<A, B, O, F>(a: &[A], b: &[B], out: &mut [MaybeUninit<O>], f: &F) where [A: Copy, B: Copy, F: Fn(A, B) -> O] => fill2_body);

/// `src.map(f)` into a new vector, vectorised for the CPU's SIMD level.
pub(crate) fn collect1<A: Copy, O, F: Fn(A) -> O>(src: &[A], f: &F) -> Vec<O> {
    let n = src.len();
    let mut out = Vec::with_capacity(n);
    fill1(src, &mut out.spare_capacity_mut()[..n], f);
    // SAFETY: `fill1` wrote all `n` slots.
    unsafe { out.set_len(n) };
    out
}

/// `zip(a, b).map(f)` into a new vector, vectorised for the CPU's SIMD level.
pub(crate) fn collect2<A: Copy, B: Copy, O, F: Fn(A, B) -> O>(a: &[A], b: &[B], f: &F) -> Vec<O> {
    let n = a.len().min(b.len());
    let mut out = Vec::with_capacity(n);
    fill2(a, b, &mut out.spare_capacity_mut()[..n], f);
    // SAFETY: `fill2` wrote all `n` slots.
    unsafe { out.set_len(n) };
    out
}
