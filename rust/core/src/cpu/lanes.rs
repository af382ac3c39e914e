//! Small building blocks of the CPU kernels' inner loops: folds over independent lanes (one
//! running value would serialise a loop on its dependency; 16 accumulators stay in vector
//! registers) and a raw pointer that parallel kernels hand to the threads writing disjoint parts.

use super::kernel::Computes;
use crate::Float;

/// Independent accumulators per fold.
pub(super) const LANES: usize = 16;

/// Folds `x` with `f` over 16 independent lanes, then the lanes into one: `f` must combine two
/// partial results of its own kind (a sum, a max), not map an element.
#[inline(always)]
pub(super) fn lane_fold<T: Float>(x: &[T], init: T, f: impl Fn(T, T) -> T) -> T {
    let mut acc = [init; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        let c: &[T; LANES] = c.try_into().expect("LANES elements");
        for k in 0..LANES {
            acc[k] = f(acc[k], c[k]);
        }
    }
    let mut r = fold_lanes(acc, &f);
    for &v in tail {
        r = f(r, v);
    }
    r
}

/// The lanes folded pairwise (8, 4, 2, 1): vector shuffles, where folding them one by one was
/// a chain of 16 dependent scalar steps (as long as the whole loop over a 128-wide row).
#[inline(always)]
pub(super) fn fold_lanes<T: Copy>(mut a: [T; LANES], f: impl Fn(T, T) -> T) -> T {
    for t in 0..8 {
        a[t] = f(a[t], a[t + 8]);
    }
    for t in 0..4 {
        a[t] = f(a[t], a[t + 4]);
    }
    for t in 0..2 {
        a[t] = f(a[t], a[t + 2]);
    }
    f(a[0], a[1])
}

/// The lanes folded one after another, for loops that are memory-bound rather than short:
/// after a pairwise fold LLVM vectorised a 1024-wide float32 row sum two lanes at a time (half
/// PyTorch's speed on AVX-512); in order, the loop is whole vectors. (Short softmax rows are
/// faster with `fold_lanes`; layer norm was 10% faster this way.)
#[inline(always)]
pub(super) fn fold_in_order<T: Copy>(a: [T; LANES], f: impl Fn(T, T) -> T) -> T {
    a[1..].iter().fold(a[0], |s, &v| f(s, v))
}

/// The larger of two values (a `lane_fold` combiner).
#[inline(always)]
pub(super) fn max_of<T: Float>(a: T, b: T) -> T {
    if b > a {
        b
    } else {
        a
    }
}

/// `sum(a * f(b))` over 16 lanes.
#[inline(always)]
pub(super) fn lane_dot<T: Float>(a: &[T], b: &[T], f: impl Fn(T) -> T) -> T {
    lane_sum_of(a, b, |x, y| x * f(y))
}

/// `sum(f(a, b))` over 16 lanes, the elements of both slices widened as they are read.
#[inline(always)]
pub(super) fn lane_sum_zip<S: Computes<As = T>, T: Float>(
    a: &[S],
    b: &[S],
    f: impl Fn(T, T) -> T,
) -> T {
    lane_sum_of(a, b, |x: S, y: S| f(x.widen(), y.widen()))
}

/// `sum(f(a, b))` over the common length, in 16 independent lanes and then the tail.
#[inline(always)]
fn lane_sum_of<A: Copy, B: Copy, T: Float>(a: &[A], b: &[B], f: impl Fn(A, B) -> T) -> T {
    let n = a.len().min(b.len());
    let (ca, cb) = (a[..n].chunks_exact(LANES), b[..n].chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    let mut lanes = [T::zero(); LANES];
    // Whole chunks as arrays: no bounds checks left in the loop, so it vectorises.
    for (x, y) in ca.zip(cb) {
        let x: &[A; LANES] = x.try_into().expect("LANES elements");
        let y: &[B; LANES] = y.try_into().expect("LANES elements");
        for k in 0..LANES {
            lanes[k] += f(x[k], y[k]);
        }
    }
    let mut s = fold_lanes(lanes, |p, q| p + q);
    for (&x, &y) in ta.iter().zip(tb) {
        s += f(x, y);
    }
    s
}

/// A pointer the threads of a parallel kernel share, each writing its own disjoint part.
pub(super) struct SendPtr<T>(pub(super) *mut T);
// SAFETY: the kernels that build one only write disjoint ranges through it from each thread.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
