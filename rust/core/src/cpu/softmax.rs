//! Softmax and log-softmax over contiguous rows on the CPU, and their backward. Half inputs
//! compute in float32 and round once; bfloat16 rows are widened one at a time in cache
//! (`bf16_rows`), never as a float32 copy of the tensor.

use super::kernel::{widen_row, Computes};
use super::lanes::{lane_fold, max_of};
use crate::ops::copy::cast_raw;
use crate::{DType, Float, Result, Tensor};

use half::bf16;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements above which rows are split over the threads.
pub(super) const PAR_ELEMS: usize = 1 << 16;

/// The softmax (or log-softmax) of one row into `out`; returns the row's log-sum-exp (which
/// cross-entropy keeps).
#[inline(always)]
fn forward_row<T: Float>(row: &[T], out: &mut [T], log: bool) -> T {
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
    ln_s + m
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

crate::multiversion!(pub(super) fn forward_one<T>(row: &[T], out: &mut [T], log: bool) -> T where [T: Float] => forward_row);
crate::multiversion!(fn backward_one<T>(yr: &[T], gr: &[T], out: &mut [T], log: bool) where [T: Float] => backward_row);

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

fn forward_rows<T: Float>(x: &[T], n: usize, log: bool) -> Vec<T> {
    each_row(x.len(), n, |r, o| {
        forward_one(&x[r * n..][..o.len()], o, log);
    })
}

fn backward_rows<T: Float>(y: &[T], g: &[T], n: usize, log: bool) -> Vec<T> {
    each_row(y.len(), n, |r, o| {
        let k = o.len();
        backward_one(&y[r * n..][..k], &g[r * n..][..k], o, log)
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

/// Softmax (or log-softmax) of each row of `n` elements of the contiguous `rows`.
pub(super) fn softmax_rows(rows: &Tensor, n: usize, log: bool) -> Result<Tensor> {
    match rows.dtype() {
        DType::F64 => Tensor::from_vec(forward_rows(&rows.data::<f64>()?, n, log), rows.shape()),
        DType::F32 => Tensor::from_vec(forward_rows(&rows.data::<f32>()?, n, log), rows.shape()),
        DType::BF16 => {
            let x = rows.data::<bf16>()?;
            let y = bf16_rows([&x], n, |[r], o| {
                forward_one(r, o, log);
            });
            Tensor::from_vec(y, rows.shape())
        }
        dt => {
            let r = cast_raw(rows, DType::F32)?;
            let y = Tensor::from_vec(forward_rows(&r.data::<f32>()?, n, log), r.shape())?;
            cast_raw(&y, dt)
        }
    }
}

/// The gradient of `softmax_rows_of` from its output `y` and the output gradient `g`.
pub(super) fn softmax_backward_rows(y: &Tensor, g: &Tensor, n: usize, log: bool) -> Result<Tensor> {
    match y.dtype() {
        DType::F64 => Tensor::from_vec(
            backward_rows(&y.data::<f64>()?, &g.data::<f64>()?, n, log),
            y.shape(),
        ),
        DType::F32 => Tensor::from_vec(
            backward_rows(&y.data::<f32>()?, &g.data::<f32>()?, n, log),
            y.shape(),
        ),
        DType::BF16 if g.dtype() == DType::BF16 => {
            let (yd, gd) = (y.data::<bf16>()?, g.data::<bf16>()?);
            let dx = bf16_rows([&yd, &gd], n, |[yr, gr], o| backward_one(yr, gr, o, log));
            Tensor::from_vec(dx, y.shape())
        }
        other => {
            let (a, b) = (cast_raw(y, DType::F32)?, cast_raw(g, DType::F32)?);
            let dx = backward_rows(&a.data::<f32>()?, &b.data::<f32>()?, n, log);
            cast_raw(&Tensor::from_vec(dx, a.shape())?, other)
        }
    }
}
