//! Small building blocks of the CPU kernels' inner loops: folds over independent lanes (one
//! running value would serialise a loop on its dependency; 16 accumulators stay in vector
//! registers) and a raw pointer that parallel kernels hand to the threads writing disjoint parts.

use super::kernel::Computes;
use crate::Float;

/// Independent accumulators per fold.
const LANES: usize = 16;

/// Folds `x` with `f` over 16 independent lanes, then the lanes into one: `f` must combine two
/// partial results of its own kind (a sum, a max), not map an element.
#[inline(always)]
pub(super) fn lane_fold<T: Float>(x: &[T], init: T, f: impl Fn(T, T) -> T) -> T {
    let mut acc = [init; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] = f(acc[k], c[k]);
        }
    }
    let mut r = init;
    for &v in acc.iter().chain(tail) {
        r = f(r, v);
    }
    r
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
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [T::zero(); LANES];
    let full = n / LANES * LANES;
    for c in (0..full).step_by(LANES) {
        for k in 0..LANES {
            lanes[k] += f(a[c + k], b[c + k]);
        }
    }
    let mut s = lanes.iter().fold(T::zero(), |acc, &v| acc + v);
    for j in full..n {
        s += f(a[j], b[j]);
    }
    s
}

/// A pointer the threads of a parallel kernel share, each writing its own disjoint part.
pub(super) struct SendPtr<T>(pub(super) *mut T);
// SAFETY: the kernels that build one only write disjoint ranges through it from each thread.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
