//! Softmax and log-softmax over contiguous rows on the CPU, and their backward; a softmax dim
//! that is not the last is read down the columns of `[n, inner]` blocks (`forward_cols`), no
//! permuted copy. Half inputs compute in float32 and round once; bfloat16 rows are widened one
//! at a time in cache (`bf16_rows`), never as a float32 copy of the tensor.

use super::kernel::{widen_row, Computes};
use super::lanes::{lane_fold, max_of};
use crate::ops::copy::cast_raw;
use crate::ops::softmax::SoftmaxAxis;
use crate::{bail, DType, Float, Result, Tensor};

use half::bf16;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements above which rows are split over the threads.
pub(super) const PAR_ELEMS: usize = 1 << 16;

/// A row's (or column's) log-sum-exp in two parts: its maximum `m` (0 for a row of -inf) and
/// `ln_s = ln(sum(exp(x - m)))`. Cross-entropy keeps them apart: `(m - x_t) + ln_s` keeps the
/// low bits of a confident prediction's loss that `(m + ln_s) - x_t` rounds away at the
/// magnitude of `m` (logits [10, 0, 0] lost 0.2% of their 9.08e-5).
#[derive(Clone, Copy, Debug)]
pub(super) struct Lse<T> {
    pub m: T,
    pub ln_s: T,
}

impl<T: Float> Lse<T> {
    /// The statistics of an empty row: an empty sum's log is -inf.
    pub(super) fn empty() -> Self {
        Lse {
            m: T::zero(),
            ln_s: T::NEG_INF,
        }
    }

    /// `-log_softmax` at a value `x` of this row: `(m - x) + ln_s`.
    #[inline(always)]
    pub(super) fn nll(self, x: T) -> T {
        (self.m - x) + self.ln_s
    }
}

/// The softmax (or log-softmax) of one row into `out`; returns the row's log-sum-exp (which
/// cross-entropy keeps).
#[inline(always)]
fn forward_row<T: Float>(row: &[T], out: &mut [T], log: bool) -> Lse<T> {
    let m = lane_fold(row, T::NEG_INF, max_of);
    let m = if m == T::NEG_INF { T::zero() } else { m };
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v - m).exp();
    }
    let s = lane_fold(out, T::zero(), |a, b| a + b);
    let ln_s = s.ln();
    if log {
        // (x - m) - ln(s), not x - (m + ln(s)): with a large m the sum rounds away ln(s)'s
        // low bits ([1000, 1000, -1000] gave -0.693176 for -0.6931472 in float32).
        for (o, &v) in out.iter_mut().zip(row) {
            *o = (v - m) - ln_s;
        }
    } else {
        let inv = T::one() / s;
        out.iter_mut().for_each(|o| *o *= inv);
    }
    Lse { m, ln_s }
}

/// softmax: dx = y * (g - sum(g*y)); log_softmax: dx = g - exp(y) * sum(g).
#[inline(always)]
fn backward_row<T: Float>(yr: &[T], gr: &[T], out: &mut [T], log: bool) {
    if log {
        let s = lane_fold(gr, T::zero(), |a, b| a + b);
        for ((o, &y), &g) in out.iter_mut().zip(yr).zip(gr) {
            *o = g - y.exp() * s;
        }
    } else {
        for ((o, &y), &g) in out.iter_mut().zip(yr).zip(gr) {
            *o = y * g;
        }
        let s = lane_fold(out, T::zero(), |a, b| a + b);
        for ((o, &y), &g) in out.iter_mut().zip(yr).zip(gr) {
            *o = y * (g - s);
        }
    }
}

/// Rows at most this long take `forward_short`.
pub(super) const SHORT_ROW: usize = 64;
/// Rows `forward_short` turns at once, one per vector lane.
const LANE_ROWS: usize = 16;
/// Rows per `forward_short` call (per task when the rows are split over threads).
pub(super) const SHORT_GROUP: usize = 256;

/// The softmax (or log-softmax) of the rows of `c <= SHORT_ROW` values in `x` (`lse.len()`
/// of them) into `out`, each row's log-sum-exp into `lse`. One row is a chain of dependent
/// steps (a max, an `exp`, a sum folded across lanes, a `ln`) that a short row cannot hide:
/// rows of 21 classes (a segmentation loss) ran at 75 ns each. Here sixteen rows at a time
/// are turned so that each lane holds one row, and the max, sum and `ln` run down the columns.
#[inline(always)]
fn forward_short_body<T: Float>(x: &[T], out: &mut [T], c: usize, log: bool, lse: &mut [Lse<T>]) {
    const R: usize = LANE_ROWS;
    // (Lanes past the last row keep an earlier group's values: each lane is its own row, so
    // they cost a little work and touch no result.)
    let mut t = [[T::zero(); R]; SHORT_ROW];
    let mut e = [[T::zero(); R]; SHORT_ROW];
    for (g, lse) in lse.chunks_mut(R).enumerate() {
        let (x, out) = (&x[g * R * c..], &mut out[g * R * c..]);
        let rows = lse.len();
        for r in 0..rows {
            for (j, &v) in x[r * c..(r + 1) * c].iter().enumerate() {
                t[j][r] = v;
            }
        }
        let mut m = [T::NEG_INF; R];
        for col in &t[..c] {
            for r in 0..R {
                m[r] = max_of(m[r], col[r]);
            }
        }
        for m in &mut m {
            if *m == T::NEG_INF {
                *m = T::zero();
            }
        }
        let mut s = [T::zero(); R];
        for (ej, tj) in e[..c].iter_mut().zip(&t[..c]) {
            for r in 0..R {
                ej[r] = (tj[r] - m[r]).exp();
                s[r] += ej[r];
            }
        }
        let mut ln_s = [T::zero(); R];
        for r in 0..R {
            ln_s[r] = s[r].ln();
        }
        for r in 0..rows {
            let o = &mut out[r * c..(r + 1) * c];
            if log {
                // As `forward_row`: (x - m) - ln(s).
                for (j, o) in o.iter_mut().enumerate() {
                    *o = (t[j][r] - m[r]) - ln_s[r];
                }
            } else {
                let inv = T::one() / s[r];
                for (j, o) in o.iter_mut().enumerate() {
                    *o = e[j][r] * inv;
                }
            }
            lse[r] = Lse {
                m: m[r],
                ln_s: ln_s[r],
            };
        }
    }
}

crate::multiversion!(pub(super) fn forward_short<T>(x: &[T], out: &mut [T], c: usize, log: bool, lse: &mut [Lse<T>]) where [T: Float] => forward_short_body);

crate::multiversion!(pub(super) fn forward_one<T>(row: &[T], out: &mut [T], log: bool) -> Lse<T> where [T: Float] => forward_row);
crate::multiversion!(fn backward_one<T>(yr: &[T], gr: &[T], out: &mut [T], log: bool) where [T: Float] => backward_row);

/// Columns of a strided softmax handled together: a float32 vector's worth on AVX-512, whose
/// running maxima and sums stay in registers.
const COLS: usize = 16;

/// The softmax (or log-softmax) over the `n` rows of `x` (`[n, inner]`, row-major) of every
/// column, into `out`: the permute to rows done by the kernel's loops, not by a copy. Each
/// column's log-sum-exp goes to `lse` unless it is empty (cross-entropy keeps it).
#[inline(always)]
fn forward_cols<T: Float>(x: &[T], out: &mut [T], inner: usize, log: bool, lse: &mut [Lse<T>]) {
    let (n, full) = (x.len() / inner.max(1), inner / COLS * COLS);
    let mut t = vec![T::zero(); n * COLS];
    for c0 in (0..full).step_by(COLS) {
        forward_chunk::<T, COLS>(x, out, (inner, c0), log, lse, &mut t);
    }
    for c0 in full..inner {
        forward_chunk::<T, 1>(x, out, (inner, c0), log, lse, &mut t[..n]);
    }
}

/// `forward_cols` over the `W` columns from `c0`, through `t` (`n` rows of `W`): the columns
/// are gathered there as their max is taken, so the strided rows are read once. Rows a
/// multiple of 4 KiB apart (a 64x64 image's) share one L1 set: each pass over them directly
/// missed on every row.
#[inline(always)]
fn forward_chunk<T: Float, const W: usize>(
    x: &[T],
    out: &mut [T],
    (inner, c0): (usize, usize),
    log: bool,
    lse: &mut [Lse<T>],
    t: &mut [T],
) {
    let m = gather_max::<T, W>(x, (inner, c0), t);
    let mut s = [T::zero(); W];
    if log {
        // (the exponentials are only summed: the output is `(x - m) - ln(s)`)
        s = exp_sums::<T, W>(t, &m);
    } else {
        for tr in t.chunks_exact_mut(W) {
            for j in 0..W {
                tr[j] = (tr[j] - m[j]).exp();
                s[j] += tr[j];
            }
        }
    }
    let mut ls = [T::zero(); W];
    for j in 0..W {
        ls[j] = s[j].ln();
    }
    if let Some(lse) = lse.get_mut(c0..c0 + W) {
        for j in 0..W {
            lse[j] = Lse {
                m: m[j],
                ln_s: ls[j],
            };
        }
    }
    let rows = t.chunks_exact(W).zip(out.chunks_exact_mut(inner));
    if log {
        // As `forward_row`: (x - m) - ln(s).
        for (tr, o) in rows {
            let o = &mut o[c0..c0 + W];
            for j in 0..W {
                o[j] = (tr[j] - m[j]) - ls[j];
            }
        }
    } else {
        let mut inv = [T::zero(); W];
        for j in 0..W {
            inv[j] = T::one() / s[j];
        }
        for (tr, o) in rows {
            let o = &mut o[c0..c0 + W];
            for j in 0..W {
                o[j] = tr[j] * inv[j];
            }
        }
    }
}

/// The `W` columns from `c0` of the rows of `x` (`inner` long) copied into `t` (rows of `W`),
/// and each column's max (0 for an all `-inf` column: its exponentials are then 0, not NaN).
#[inline(always)]
fn gather_max<T: Float, const W: usize>(
    x: &[T],
    (inner, c0): (usize, usize),
    t: &mut [T],
) -> [T; W] {
    let mut m = [T::NEG_INF; W];
    for (row, tr) in x.chunks_exact(inner).zip(t.chunks_exact_mut(W)) {
        let r = &row[c0..c0 + W];
        for j in 0..W {
            tr[j] = r[j];
            m[j] = max_of(m[j], r[j]);
        }
    }
    // (a loop: `[T; W]::map` stayed an out-of-line call, its `ln`s scalar)
    for m in &mut m {
        if *m == T::NEG_INF {
            *m = T::zero();
        }
    }
    m
}

/// `sum(exp(t - m))` of each of the `W` columns of `t` (rows of `W`).
#[inline(always)]
fn exp_sums<T: Float, const W: usize>(t: &[T], m: &[T; W]) -> [T; W] {
    let mut s = [T::zero(); W];
    for tr in t.chunks_exact(W) {
        for j in 0..W {
            s[j] += (tr[j] - m[j]).exp();
        }
    }
    s
}

/// `forward_cols`'s statistics alone: each column's max and log-sum of exponentials, with
/// no softmax written (cross-entropy's forward when no backward will read it).
#[inline(always)]
fn lse_cols<T: Float>(x: &[T], inner: usize, lse: &mut [Lse<T>]) {
    let (n, full) = (x.len() / inner.max(1), inner / COLS * COLS);
    let mut t = vec![T::zero(); n * COLS];
    for c0 in (0..full).step_by(COLS) {
        lse_chunk::<T, COLS>(x, (inner, c0), lse, &mut t);
    }
    for c0 in full..inner {
        lse_chunk::<T, 1>(x, (inner, c0), lse, &mut t[..n]);
    }
}

#[inline(always)]
fn lse_chunk<T: Float, const W: usize>(
    x: &[T],
    (inner, c0): (usize, usize),
    lse: &mut [Lse<T>],
    t: &mut [T],
) {
    let m = gather_max::<T, W>(x, (inner, c0), t);
    let s = exp_sums::<T, W>(t, &m);
    // (the logs in a loop of their own, vectorised; stored into the pairs afterwards)
    let mut ln_s = [T::zero(); W];
    for j in 0..W {
        ln_s[j] = s[j].ln();
    }
    for j in 0..W {
        lse[c0 + j] = Lse {
            m: m[j],
            ln_s: ln_s[j],
        };
    }
}

/// `backward_row` down the columns of `[n, inner]` blocks (as `forward_cols`).
#[inline(always)]
fn backward_cols<T: Float>(y: &[T], g: &[T], out: &mut [T], inner: usize, log: bool) {
    let full = inner / COLS * COLS;
    for c0 in (0..full).step_by(COLS) {
        backward_chunk::<T, COLS>(y, g, out, inner, c0, log);
    }
    for c0 in full..inner {
        backward_chunk::<T, 1>(y, g, out, inner, c0, log);
    }
}

#[inline(always)]
fn backward_chunk<T: Float, const W: usize>(
    y: &[T],
    g: &[T],
    out: &mut [T],
    inner: usize,
    c0: usize,
    log: bool,
) {
    // softmax: s = sum(g * y); log-softmax: s = sum(g).
    let mut s = [T::zero(); W];
    for (yr, gr) in y.chunks_exact(inner).zip(g.chunks_exact(inner)) {
        let (yr, gr) = (&yr[c0..c0 + W], &gr[c0..c0 + W]);
        for j in 0..W {
            s[j] += if log { gr[j] } else { gr[j] * yr[j] };
        }
    }
    let rows = y.chunks_exact(inner).zip(g.chunks_exact(inner));
    for ((yr, gr), o) in rows.zip(out.chunks_exact_mut(inner)) {
        let (yr, gr, o) = (&yr[c0..c0 + W], &gr[c0..c0 + W], &mut o[c0..c0 + W]);
        for j in 0..W {
            o[j] = if log {
                gr[j] - yr[j].exp() * s[j]
            } else {
                yr[j] * (gr[j] - s[j])
            };
        }
    }
}

crate::multiversion!(pub(super) fn forward_block<T>(x: &[T], out: &mut [T], inner: usize, log: bool, lse: &mut [Lse<T>]) where [T: Float] => forward_cols);
crate::multiversion!(pub(super) fn lse_block<T>(x: &[T], inner: usize, lse: &mut [Lse<T>]) where [T: Float] => lse_cols);
crate::multiversion!(fn backward_block<T>(y: &[T], g: &[T], out: &mut [T], inner: usize, log: bool) where [T: Float] => backward_cols);

/// Runs `f(row index, output row)` over the rows of `n` of a new buffer of `len` elements, in
/// parallel when big. Each row is zeroed just before `f` writes it, while it is in cache: a
/// zeroed allocation would cost a pass over memory of its own (28 MB for a language model's
/// logits).
pub(super) fn each_row<T: Float>(
    len: usize,
    n: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(len);
    let n = n.max(1);
    let row = |(r, o): (usize, &mut [MaybeUninit<T>])| f(r, super::kernel::zeroed_row(o));
    let slots = &mut out.spare_capacity_mut()[..len];
    if len >= PAR_ELEMS && len / n > 1 && crate::threads::split() {
        let rows: Vec<_> = slots.chunks_mut(n).enumerate().collect();
        crate::cpu::team::for_each_halves(rows, row);
    } else {
        slots.chunks_mut(n).enumerate().for_each(row);
    }
    // SAFETY: the rows cover all `len` slots, each initialised by `row`.
    unsafe { out.set_len(len) };
    out
}

/// Softmax over `x` as `[outer, n, inner]`: rows (`inner` 1) or `[n, inner]` blocks, one task
/// each.
fn forward_rows<T: Float>(x: &[T], n: usize, inner: usize, log: bool) -> Vec<T> {
    let k = n * inner;
    if inner == 1 && (1..=SHORT_ROW).contains(&n) {
        let group = SHORT_GROUP * n;
        return each_row(x.len(), group, |g, o| {
            let mut lse = [Lse::empty(); SHORT_GROUP];
            forward_short(
                &x[g * group..][..o.len()],
                o,
                n,
                log,
                &mut lse[..o.len() / n],
            );
        });
    }
    each_row(x.len(), k, |r, o| match inner {
        1 => {
            forward_one(&x[r * k..][..o.len()], o, log);
        }
        _ => forward_block(&x[r * k..][..o.len()], o, inner, log, &mut []),
    })
}

fn backward_rows<T: Float>(y: &[T], g: &[T], n: usize, inner: usize, log: bool) -> Vec<T> {
    let k = n * inner;
    each_row(y.len(), k, |r, o| {
        let (yr, gr) = (&y[r * k..][..o.len()], &g[r * k..][..o.len()]);
        match inner {
            1 => backward_one(yr, gr, o, log),
            _ => backward_block(yr, gr, o, inner, log),
        }
    })
}

/// `src` rounded once into the uninitialised `dst`.
#[inline(always)]
fn narrow_uninit_body(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(bf16::narrow(v));
    }
}

crate::multiversion!(fn narrow_uninit<>(src: &[f32], dst: &mut [MaybeUninit<bf16>]) where [] => narrow_uninit_body);

/// The float32 row kernel `f` over `K` bfloat16 inputs cut in rows of `n`: each task widens
/// a row of every input into its scratch (in cache), runs `f` on them into a float32 row and
/// rounds that once into the output. The bits are those of widening the whole tensors first,
/// without their float32 copies (three passes over memory and twice the tensor's size).
fn bf16_rows<const K: usize>(
    inputs: [&[bf16]; K],
    n: usize,
    f: impl Fn([&[f32]; K], &mut [f32]) + Sync,
) -> Vec<bf16> {
    let len = inputs[0].len();
    let n = n.max(1);
    let mut out: Vec<bf16> = Vec::with_capacity(len);
    let row = |scratch: &mut Vec<f32>, (r, o): (usize, &mut [MaybeUninit<bf16>])| {
        let k = o.len();
        scratch.resize((K + 1) * k, 0.0);
        let (wide, res) = scratch.split_at_mut(K * k);
        for (w, x) in wide.chunks_exact_mut(k.max(1)).zip(inputs) {
            widen_row(&x[r * n..][..k], w);
        }
        let rows: [&[f32]; K] = std::array::from_fn(|i| &wide[i * k..(i + 1) * k]);
        f(rows, res);
        narrow_uninit(res, o);
    };
    let slots = &mut out.spare_capacity_mut()[..len];
    if len >= PAR_ELEMS && len / n > 1 && crate::threads::split() {
        slots
            .par_chunks_mut(n)
            .enumerate()
            .for_each_init(Vec::new, row);
    } else {
        let mut scratch = Vec::new();
        slots
            .chunks_mut(n)
            .enumerate()
            .for_each(|x| row(&mut scratch, x));
    }
    // SAFETY: the rows cover all `len` slots, each written by `row`.
    unsafe { out.set_len(len) };
    out
}

/// Softmax (or log-softmax) of the contiguous `x` over `ax`. bfloat16 rows (`inner` 1) are
/// widened one at a time; other half inputs compute in float32.
pub(super) fn softmax_rows(x: &Tensor, ax: SoftmaxAxis) -> Result<Tensor> {
    let SoftmaxAxis { n, inner, log } = ax;
    match x.dtype() {
        DType::F64 => Tensor::from_vec(forward_rows(&x.data::<f64>()?, n, inner, log), x.shape()),
        DType::F32 => Tensor::from_vec(forward_rows(&x.data::<f32>()?, n, inner, log), x.shape()),
        DType::BF16 if inner == 1 => {
            let xd = x.data::<bf16>()?;
            let y = bf16_rows([&xd], n, |[r], o| {
                forward_one(r, o, log);
            });
            Tensor::from_vec(y, x.shape())
        }
        dt => {
            let r = cast_raw(x, DType::F32)?;
            let y = forward_rows(&r.data::<f32>()?, n, inner, log);
            cast_raw(&Tensor::from_vec(y, r.shape())?, dt)
        }
    }
}

/// The gradient of `softmax_rows` from its output `y` and the output gradient `g`.
pub(super) fn softmax_backward_rows(y: &Tensor, g: &Tensor, ax: SoftmaxAxis) -> Result<Tensor> {
    let SoftmaxAxis { n, inner, log } = ax;
    match (y.dtype(), g.dtype()) {
        (DType::F64, DType::F64) => Tensor::from_vec(
            backward_rows(&y.data::<f64>()?, &g.data::<f64>()?, n, inner, log),
            y.shape(),
        ),
        (DType::F32, DType::F32) => Tensor::from_vec(
            backward_rows(&y.data::<f32>()?, &g.data::<f32>()?, n, inner, log),
            y.shape(),
        ),
        (DType::BF16, DType::BF16) if inner == 1 => {
            let (yd, gd) = (y.data::<bf16>()?, g.data::<bf16>()?);
            let dx = bf16_rows([&yd, &gd], n, |[yr, gr], o| backward_one(yr, gr, o, log));
            Tensor::from_vec(dx, y.shape())
        }
        (dt @ (DType::F16 | DType::BF16), _) => {
            let (a, b) = (cast_raw(y, DType::F32)?, cast_raw(g, DType::F32)?);
            let dx = backward_rows(&a.data::<f32>()?, &b.data::<f32>()?, n, inner, log);
            cast_raw(&Tensor::from_vec(dx, a.shape())?, dt)
        }
        (dt, gdt) => bail!(
            DType,
            "softmax backward: the gradient is {gdt}, the output {dt} (the caller converts it)"
        ),
    }
}
