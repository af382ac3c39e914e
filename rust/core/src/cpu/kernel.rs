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

impl Computes for half::f16 {
    type As = f32;
    /// (`half`'s conversion asks the CPU for F16C on every call: branch-free bit arithmetic
    /// instead, which the loops vectorise.)
    #[inline(always)]
    fn widen(self) -> f32 {
        crate::cpu::f16c::widen_one(self)
    }
    #[inline(always)]
    fn narrow(v: f32) -> Self {
        crate::cpu::f16c::narrow_one(v)
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
    map_slice(&crate::ops::gather::gather_strided(s, l), f)
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
    map2_slices(
        (a.storage().as_slice::<A>(), al),
        (b.storage().as_slice::<B>(), bl),
        f,
    )
}

/// Whether the row loops of `map2`/`map3` read `l` well: contiguous along its last dim (or
/// broadcast there), more than one element wide.
fn walks_rows(l: &Layout) -> bool {
    let nd = l.ndim();
    nd >= 1 && l.shape[nd - 1] > 1 && l.strides[nd - 1] <= 1
}

/// `s` through `l` as a contiguous run when the map loops would otherwise read it element
/// by element down a stride (a transposed or stepped view): one tiled copy
/// (`gather_strided`) and the vectorised loops cost several times less than that walk.
fn gathered<T: Element>(s: &[T], l: &Layout) -> Option<Vec<T>> {
    let plain = l.is_contiguous() || l.strides.iter().all(|&st| st == 0) || walks_rows(l);
    (!plain).then(|| crate::ops::gather::gather_strided(s, l))
}

/// `map2` over storage slices and their layouts.
fn map2_slices<A: Element, B: Element, O: Element>(
    (sa, al): (&[A], &Layout),
    (sb, bl): (&[B], &Layout),
    f: impl Fn(A, B) -> O + Sync,
) -> Vec<O> {
    let n = al.numel();
    if n == 0 {
        return Vec::new();
    }
    let (ga, gb) = (gathered(sa, al), gathered(sb, bl));
    if ga.is_some() || gb.is_some() {
        let dense = Layout::contiguous(&al.shape);
        let a = ga.as_deref().map_or((sa, al), |g| (g, &dense));
        let b = gb.as_deref().map_or((sb, bl), |g| (g, &dense));
        return map2_slices(a, b, f);
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
    // Row-wise broadcast of the common `[rows, cols]` + `[cols]` pattern: each operand's
    // last dim is contiguous or broadcast (`walks_rows`, else it was gathered above).
    let nd = al.ndim();
    let cols = al.shape[nd - 1];
    let (inner_a, inner_b) = (al.strides[nd - 1], bl.strides[nd - 1]);
    let outer = |l: &Layout| Layout {
        shape: l.shape[..nd - 1].to_vec(),
        strides: l.strides[..nd - 1].to_vec(),
        offset: l.offset,
    };
    let mut out = Vec::with_capacity(n);
    for (oa, ob) in outer(al).offsets().zip(outer(bl).offsets()) {
        match (inner_a, inner_b) {
            (1, 1) => out.extend(
                sa[oa..oa + cols]
                    .iter()
                    .zip(&sb[ob..ob + cols])
                    .map(|(&x, &y)| f(x, y)),
            ),
            (1, _) => {
                let y = sb[ob];
                out.extend(sa[oa..oa + cols].iter().map(|&x| f(x, y)));
            }
            (_, 1) => {
                let x = sa[oa];
                out.extend(sb[ob..ob + cols].iter().map(|&y| f(x, y)));
            }
            _ => out.extend(std::iter::repeat_n(f(sa[oa], sb[ob]), cols)),
        }
    }
    out
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
    map3_slices(
        (a.0.storage().as_slice::<A>(), a.1),
        (b.0.storage().as_slice::<B>(), b.1),
        (c.0.storage().as_slice::<C>(), c.1),
        f,
    )
}

/// `map3` over storage slices and their layouts.
fn map3_slices<A: Element, B: Element, C: Element, O: Element>(
    (sa, la): (&[A], &Layout),
    (sb, lb): (&[B], &Layout),
    (sc, lc): (&[C], &Layout),
    f: impl Fn(A, B, C) -> O,
) -> Vec<O> {
    let n = la.numel();
    if n == 0 {
        return Vec::new();
    }
    let (ga, gb, gc) = (gathered(sa, la), gathered(sb, lb), gathered(sc, lc));
    if ga.is_some() || gb.is_some() || gc.is_some() {
        let dense = Layout::contiguous(&la.shape);
        let a = ga.as_deref().map_or((sa, la), |g| (g, &dense));
        let b = gb.as_deref().map_or((sb, lb), |g| (g, &dense));
        let c = gc.as_deref().map_or((sc, lc), |g| (g, &dense));
        return map3_slices(a, b, c, f);
    }
    use Run::{Scalar as V, Slice as S};
    if let (Some(ra), Some(rb), Some(rc)) =
        (run_of(sa, la, n), run_of(sb, lb, n), run_of(sc, lc, n))
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
    // Rows whose last dim each operand walks contiguously or broadcasts (`where(mask, x,
    // bias_row)`, else it was gathered above): the strided walk only over the leading dims.
    let nd = la.ndim();
    let cols = la.shape[nd - 1];
    let (ia, ib, ic) = (la.strides[nd - 1], lb.strides[nd - 1], lc.strides[nd - 1]);
    let outer = |l: &Layout| Layout {
        shape: l.shape[..nd - 1].to_vec(),
        strides: l.strides[..nd - 1].to_vec(),
        offset: l.offset,
    };
    let (oa, ob, oc) = (outer(la), outer(lb), outer(lc));
    let mut out = Vec::with_capacity(n);
    for ((oa, ob), oc) in oa.offsets().zip(ob.offsets()).zip(oc.offsets()) {
        out.extend((0..cols).map(|j| f(sa[oa + j * ia], sb[ob + j * ib], sc[oc + j * ic])));
    }
    out
}
