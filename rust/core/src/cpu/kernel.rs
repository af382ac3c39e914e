//! Generic strided loops shared by the CPU kernels: map one or two (broadcast) inputs to a new
//! contiguous buffer. Contiguous inputs take a slice fast path that the compiler vectorises and
//! that rayon splits when the work is large enough to pay for threads.

use crate::layout::Layout;
use crate::simd::{collect1, collect2, fill1, fill2};
use crate::{Element, Float, Tensor};
use half::bf16;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// An element as a kernel computes with it: float32 and float64 as themselves, bfloat16 widened
/// to float32 in registers and the result rounded back once (to nearest even). So a bfloat16
/// kernel reads and writes bfloat16, with the values widening the whole tensor first would
/// give but without its float32 copies.
pub(crate) trait Computes: Element {
    type As: Float;
    fn widen(self) -> Self::As;
    fn narrow(v: Self::As) -> Self;
}

macro_rules! computes_as_itself {
    ($($t:ty),*) => {$(
        impl Computes for $t {
            type As = $t;
            #[inline(always)]
            fn widen(self) -> $t {
                self
            }
            #[inline(always)]
            fn narrow(v: $t) -> Self {
                v
            }
        }
    )*};
}
computes_as_itself!(f32, f64);

impl Computes for bf16 {
    type As = f32;
    /// The exact float32 of the same value: the bits moved up 16 places (a NaN keeps its
    /// payload; `half`'s conversion also quiets it, a branch per element that stops the loops
    /// vectorising).
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
    #[inline(always)]
    fn narrow(v: f32) -> Self {
        crate::dtype::f32_to_bf16(v)
    }
}

/// `src` widened element by element into `dst`: a row of a half tensor brought into a
/// kernel's float32 scratch.
#[inline(always)]
pub(crate) fn widen_into<S: Computes>(src: &[S], dst: &mut [S::As]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = v.widen();
    }
}

/// `src` rounded once, element by element, into `dst`: a kernel's float32 row stored back.
#[inline(always)]
pub(crate) fn narrow_into<S: Computes>(src: &[S::As], dst: &mut [S]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = S::narrow(v);
    }
}

crate::multiversion!(pub(crate) fn widen_row<S>(src: &[S], dst: &mut [S::As]) where [S: Computes] => widen_into);
crate::multiversion!(pub(crate) fn narrow_row<S>(src: &[S::As], dst: &mut [S]) where [S: Computes] => narrow_into);

/// Below this many elements a kernel stays on the calling thread.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// A new output's row `o`, zeroed while it is in cache and viewed as initialised: zeroing the
/// whole allocation first would cost a pass over memory of its own (`vec![0; n]` was a fifth of
/// a layer norm's time).
#[inline(always)]
pub(crate) fn zeroed_row<T: Element>(o: &mut [MaybeUninit<T>]) -> &mut [T] {
    o.fill(MaybeUninit::new(T::zero()));
    // SAFETY: every element of `o` was just initialised.
    unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) }
}
const CHUNK: usize = 1 << 13;

/// Builds a vector of `n` elements in parallel chunks: `fill(start, chunk)` must initialise every
/// slot of `chunk`, which covers elements `start..start + chunk.len()`. Writing into one
/// pre-sized buffer avoids the per-chunk vectors and the final concatenation.
fn par_fill<O: Element>(n: usize, fill: impl Fn(usize, &mut [MaybeUninit<O>]) + Sync) -> Vec<O> {
    let mut out: Vec<O> = Vec::with_capacity(n);
    let slots = &mut out.spare_capacity_mut()[..n];
    if !crate::threads::split() {
        fill(0, slots);
    } else if crate::threads::get() == 2 {
        // Two halves: this thread and the team's resident worker, which is usually awake
        // already (a rayon job from here would wait for a sleeping worker to wake up).
        let half = (n / 2).next_multiple_of(64).min(n);
        let (a, b) = slots.split_at_mut(half);
        crate::cpu::team::for_each(vec![(0, a), (half, b)], |(start, chunk)| fill(start, chunk));
    } else {
        slots
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| fill(i * CHUNK, chunk));
    }
    // SAFETY: every chunk of the first `n` slots was fully written by `fill`.
    unsafe { out.set_len(n) };
    out
}

/// Applies `f` to every element of `t` (viewed through layout `l`).
pub fn map1<A: Element, O: Element>(t: &Tensor, l: &Layout, f: impl Fn(A) -> O + Sync) -> Vec<O> {
    let s = t.storage().as_slice::<A>();
    let n = l.numel();
    if n == 0 {
        return Vec::new();
    }
    if l.is_contiguous() {
        let src = &s[l.offset..l.offset + n];
        if n >= PAR_THRESHOLD {
            return par_fill(n, |start, out| fill1(&src[start..], out, &f));
        }
        return collect1(src, &f);
    }
    if l.strides.iter().all(|&st| st == 0) {
        return vec![f(s[l.offset]); n]; // one element broadcast: one value, filled
    }
    let g = crate::ops::gather::gather_strided(s, l);
    collect1(&g, &f)
}

/// `g` over a contiguous slice (a tensor with a number): the same vectorised, multiversioned
/// loops as two contiguous inputs, on the threads when it is long.
fn map_slice<X: Element, O: Element>(xs: &[X], g: impl Fn(X) -> O + Sync) -> Vec<O> {
    if xs.len() < PAR_THRESHOLD {
        return collect1(xs, &g);
    }
    par_fill(xs.len(), |start, out| fill1(&xs[start..], out, &g))
}

/// Applies `f` pairwise to two inputs already broadcast to the same shape.
pub fn map2<A: Element, B: Element, O: Element>(
    a: &Tensor,
    al: &Layout,
    b: &Tensor,
    bl: &Layout,
    f: impl Fn(A, B) -> O + Sync,
) -> Vec<O> {
    let sa = a.storage().as_slice::<A>();
    let sb = b.storage().as_slice::<B>();
    let n = al.numel();
    if n == 0 {
        return Vec::new();
    }
    let a_contig = al.is_contiguous();
    let b_contig = bl.is_contiguous();
    let b_scalar = bl.strides.iter().all(|&s| s == 0);
    let a_scalar = al.strides.iter().all(|&s| s == 0);
    if a_contig && b_contig {
        let xa = &sa[al.offset..al.offset + n];
        let xb = &sb[bl.offset..bl.offset + n];
        if n >= PAR_THRESHOLD {
            return par_fill(n, |start, out| fill2(&xa[start..], &xb[start..], out, &f));
        }
        return collect2(xa, xb, &f);
    }
    if a_scalar && b_scalar {
        // Both broadcast from one element (the gradient of a full sum times a number): one
        // value, filled.
        return vec![f(sa[al.offset], sb[bl.offset]); n];
    }
    if a_contig && b_scalar {
        let y = sb[bl.offset];
        return map_slice(&sa[al.offset..al.offset + n], |x| f(x, y));
    }
    if b_contig && a_scalar {
        let x = sa[al.offset];
        return map_slice(&sb[bl.offset..bl.offset + n], |y| f(x, y));
    }
    // Row-wise broadcast of the common `[rows, cols]` + `[cols]` pattern, else fully strided.
    let nd = al.ndim();
    if nd >= 1 && n > 0 {
        let cols = al.shape[nd - 1];
        let inner_a = al.strides[nd - 1];
        let inner_b = bl.strides[nd - 1];
        if cols > 1 {
            let mut out = Vec::with_capacity(n);
            let outer_a = Layout {
                shape: al.shape[..nd - 1].to_vec(),
                strides: al.strides[..nd - 1].to_vec(),
                offset: al.offset,
            };
            let outer_b = Layout {
                shape: bl.shape[..nd - 1].to_vec(),
                strides: bl.strides[..nd - 1].to_vec(),
                offset: bl.offset,
            };
            for (oa, ob) in outer_a.offsets().zip(outer_b.offsets()) {
                if inner_a == 1 && inner_b == 1 {
                    let ra = &sa[oa..oa + cols];
                    let rb = &sb[ob..ob + cols];
                    out.extend(ra.iter().zip(rb).map(|(&x, &y)| f(x, y)));
                } else if inner_a == 1 && inner_b == 0 {
                    let y = sb[ob];
                    out.extend(sa[oa..oa + cols].iter().map(|&x| f(x, y)));
                } else if inner_a == 0 && inner_b == 1 {
                    let x = sa[oa];
                    out.extend(sb[ob..ob + cols].iter().map(|&y| f(x, y)));
                } else {
                    for j in 0..cols {
                        out.push(f(sa[oa + j * inner_a], sb[ob + j * inner_b]));
                    }
                }
            }
            return out;
        }
    }
    al.offsets()
        .zip(bl.offsets())
        .map(|(oa, ob)| f(sa[oa], sb[ob]))
        .collect()
}

/// One operand of `map3` as the output's elements see it: a contiguous run, or one value
/// broadcast everywhere (a 0-d tensor, a Python number).
enum Run<'a, T> {
    Slice(&'a [T]),
    Scalar(T),
}

fn run_of<'a, T: Element>(s: &'a [T], l: &Layout, n: usize) -> Option<Run<'a, T>> {
    if l.is_contiguous() {
        Some(Run::Slice(&s[l.offset..l.offset + n]))
    } else if l.strides.iter().all(|&st| st == 0) {
        Some(Run::Scalar(s[l.offset]))
    } else {
        None
    }
}

/// Three slices element by element (zipped iterators: no bounds check per element).
fn zip3<'s, A: Copy, B: Copy, C: Copy>(
    a: &'s [A],
    b: &'s [B],
    c: &'s [C],
) -> impl Iterator<Item = (A, B, C)> + 's {
    a.iter().zip(b).zip(c).map(|((&a, &b), &c)| (a, b, c))
}

/// Three-input map (used by `where`). Contiguous and broadcast-scalar operands get one
/// monomorphic loop per combination (the general strided walk costs several times more).
pub fn map3<A: Element, B: Element, C: Element, O: Element>(
    a: (&Tensor, &Layout),
    b: (&Tensor, &Layout),
    c: (&Tensor, &Layout),
    f: impl Fn(A, B, C) -> O,
) -> Vec<O> {
    let sa = a.0.storage().as_slice::<A>();
    let sb = b.0.storage().as_slice::<B>();
    let sc = c.0.storage().as_slice::<C>();
    let n = a.1.numel();
    if n > 0 {
        use Run::{Scalar as V, Slice as S};
        if let (Some(ra), Some(rb), Some(rc)) =
            (run_of(sa, a.1, n), run_of(sb, b.1, n), run_of(sc, c.1, n))
        {
            return match (ra, rb, rc) {
                (S(x), S(y), S(z)) => zip3(x, y, z).map(|(x, y, z)| f(x, y, z)).collect(),
                (S(x), S(y), V(z)) => x.iter().zip(y).map(|(&x, &y)| f(x, y, z)).collect(),
                (S(x), V(y), S(z)) => x.iter().zip(z).map(|(&x, &z)| f(x, y, z)).collect(),
                (S(x), V(y), V(z)) => x.iter().map(|&x| f(x, y, z)).collect(),
                (V(x), S(y), S(z)) => y.iter().zip(z).map(|(&y, &z)| f(x, y, z)).collect(),
                (V(x), S(y), V(z)) => y.iter().map(|&y| f(x, y, z)).collect(),
                (V(x), V(y), S(z)) => z.iter().map(|&z| f(x, y, z)).collect(),
                (V(x), V(y), V(z)) => vec![f(x, y, z); n],
            };
        }
    }
    // Rows whose last dim each operand walks contiguously or broadcasts (`where(mask, x,
    // bias_row)`): the strided walk only over the leading dims.
    let nd = a.1.ndim();
    let inner = |l: &Layout| l.strides.get(nd.wrapping_sub(1)).copied().unwrap_or(0);
    let (ia, ib, ic) = (inner(a.1), inner(b.1), inner(c.1));
    if nd >= 1 && n > 0 && a.1.shape[nd - 1] > 1 && ia <= 1 && ib <= 1 && ic <= 1 {
        let cols = a.1.shape[nd - 1];
        let outer = |l: &Layout| Layout {
            shape: l.shape[..nd - 1].to_vec(),
            strides: l.strides[..nd - 1].to_vec(),
            offset: l.offset,
        };
        let (la, lb, lc) = (outer(a.1), outer(b.1), outer(c.1));
        let mut out = Vec::with_capacity(n);
        for ((oa, ob), oc) in la.offsets().zip(lb.offsets()).zip(lc.offsets()) {
            out.extend((0..cols).map(|j| f(sa[oa + j * ia], sb[ob + j * ib], sc[oc + j * ic])));
        }
        return out;
    }
    a.1.offsets()
        .zip(b.1.offsets())
        .zip(c.1.offsets())
        .map(|((oa, ob), oc)| f(sa[oa], sb[ob], sc[oc]))
        .collect()
}
