//! Layer and batch normalisation on the CPU: one pass for the statistics, one to normalise, and
//! the closed-form backward (no chain of small ops). Half inputs compute in float32; a
//! bfloat16 layer norm widens one row at a time in cache (`Bf16Rows`) and keeps its bfloat16
//! input for the backward, never a float32 copy of it.

use super::kernel::PAR_THRESHOLD;
use super::kernel::{narrow_row, widen_row, zeroed_row, Computes};
use super::lanes::{lane_dot, lane_fold, lane_sum_zip};
use crate::backend::{BatchNormArgs, NormForward, NormGrads, NormSaved};
use crate::ops::copy::cast_raw;
use crate::ops::nn::{as_dtype, compute_input};
use crate::{DType, Element, Float, Result, Tensor};
use half::bf16;
use rayon::prelude::*;
use std::borrow::Cow;
use std::mem::MaybeUninit;

fn affine<T: Float>(t: Option<&Tensor>) -> Result<Option<Vec<T>>> {
    Ok(match t {
        Some(t) => Some(cast_raw(t, T::DTYPE)?.to_vec::<T>()?),
        None => None,
    })
}

/// Row `r`'s affine parameters: row `r % period` of `[period, d]` values.
#[inline(always)]
fn affine_row<T>(v: Option<&[T]>, r: usize, d: usize, period: usize) -> Option<&[T]> {
    v.map(|v| &v[(r % period) * d..])
}

/// Row `r`'s slices of a block's per-position weight and bias gradients (none when empty:
/// not asked for).
#[inline(always)]
fn affine_acc<'a, T>(
    dw: &'a mut [T],
    db: &'a mut [T],
    r: usize,
    d: usize,
    period: usize,
) -> Option<(&'a mut [T], &'a mut [T])> {
    let at = (r % period) * d;
    (!dw.is_empty()).then(|| (&mut dw[at..], &mut db[at..]))
}

/// One row of layer norm: its normalised, affine output into `o`, and its mean and inverse
/// standard deviation. Lane accumulators keep the sums vectorised.
#[inline(always)]
fn ln_forward_row_body<T: Float>(
    row: &[T],
    w: Option<&[T]>,
    b: Option<&[T]>,
    eps: T,
    o: &mut [T],
) -> (T, T) {
    let d = row.len();
    let o = &mut o[..d];
    let m = lane_fold(row, T::zero(), |a, v| a + v) / T::from_usize(d);
    for (y, &v) in o.iter_mut().zip(row) {
        *y = v - m;
    }
    let var = lane_dot(o, o, |c| c) / T::from_usize(d);
    let rs = T::one() / (var + eps).sqrt();
    match (w, b) {
        (Some(w), Some(b)) => o
            .iter_mut()
            .zip(&w[..d])
            .zip(&b[..d])
            .for_each(|((y, &w), &b)| *y = *y * rs * w + b),
        (Some(w), None) => o
            .iter_mut()
            .zip(&w[..d])
            .for_each(|(y, &w)| *y = *y * rs * w),
        (None, Some(b)) => o
            .iter_mut()
            .zip(&b[..d])
            .for_each(|(y, &b)| *y = *y * rs + b),
        (None, None) => o.iter_mut().for_each(|y| *y *= rs),
    }
    (m, rs)
}

/// One row of the layer-norm backward: `dx = rstd (gw - mean(gw) - xhat mean(gw xhat))` with
/// `gw = g w`, into `dxr`, and the row's terms added to the weight and bias gradients `acc`
/// (when they are wanted).
#[inline(always)]
fn ln_backward_row_body<T: Float>(
    xr: &[T],
    gr: &[T],
    w: Option<&[T]>,
    (m, rs): (T, T),
    dxr: &mut [T],
    acc: Option<(&mut [T], &mut [T])>,
) {
    let d = xr.len();
    let (gr, dxr) = (&gr[..d], &mut dxr[..d]);
    if let Some((dw, db)) = acc {
        let (dw, db) = (&mut dw[..d], &mut db[..d]);
        for j in 0..d {
            let xh = (xr[j] - m) * rs;
            dw[j] += gr[j] * xh;
            db[j] += gr[j];
        }
    }
    match w {
        Some(w) => dxr
            .iter_mut()
            .zip(gr)
            .zip(&w[..d])
            .for_each(|((o, &g), &w)| *o = g * w),
        None => dxr.copy_from_slice(gr),
    }
    let s1 = lane_fold(dxr, T::zero(), |a, v| a + v);
    let s2 = lane_dot(dxr, xr, |x| x - m) * rs; // sum(gw * xhat), xhat = (x - m) rs
    let inv_d = T::one() / T::from_usize(d);
    for j in 0..d {
        let xh = (xr[j] - m) * rs;
        dxr[j] = rs * (dxr[j] - inv_d * s1 - xh * inv_d * s2);
    }
}

crate::multiversion!(fn ln_forward_row<T>(row: &[T], w: Option<&[T]>, b: Option<&[T]>, eps: T, o: &mut [T]) -> (T, T) where [T: Float] => ln_forward_row_body);
crate::multiversion!(fn ln_backward_row<T>(xr: &[T], gr: &[T], w: Option<&[T]>, stats: (T, T), dxr: &mut [T], acc: Option<(&mut [T], &mut [T])>) where [T: Float] => ln_backward_row_body);

/// Block `b` of the forward's rows: its (uninitialised) outputs and its rows' `(mean, rstd)`.
type RowBlock<'a, T, S = T> = (usize, (&'a mut [MaybeUninit<T>], &'a mut [(S, S)]));

/// Layer norm over rows of `d`; row `r` uses the affine row `r % period` of `weight`/`bias`
/// (`[period, d]`: 1 for layer norm, the groups of a group norm).
pub(super) fn layer_norm_forward(
    input: &Tensor,
    d: usize,
    period: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<NormForward> {
    if input.dtype() == DType::BF16 {
        return layer_norm_forward_bf16(input, (d, period), weight, bias, eps);
    }
    let (x, dt) = compute_input(input)?;
    let rows = x.numel().checked_div(d).unwrap_or(0);
    let (out, mean, rstd) = crate::with_float!(dt, T => {
        let xd = x.data::<T>()?;
        let (wv, bv) = (affine::<T>(weight)?, affine::<T>(bias)?);
        let mut out: Vec<T> = Vec::with_capacity(x.numel());
        let mut stats = vec![(T::zero(), T::zero()); rows];
        let (wv, bv, eps) = (wv.as_deref(), bv.as_deref(), T::from_f64(eps));
        // One block of rows per thread (all of them here when the input is small: handing
        // it to the pool costs more than the rows), on the team when there are two.
        let per = rows_per_block(rows, x.numel());
        let block = |(b, (ob, sb)): RowBlock<'_, T>| {
            for (i, (o, st)) in ob.chunks_mut(d.max(1)).zip(sb.iter_mut()).enumerate() {
                let r = b * per + i;
                let (wr, br) = (affine_row(wv, r, d, period), affine_row(bv, r, d, period));
                *st = ln_forward_row(&xd[r * d..(r + 1) * d], wr, br, eps, zeroed_row(o));
            }
        };
        let slots = &mut out.spare_capacity_mut()[..x.numel()];
        let blocks: Vec<_> = slots.chunks_mut((per * d).max(1)).zip(stats.chunks_mut(per)).enumerate().collect();
        crate::cpu::team::for_each(blocks, block);
        // SAFETY: the blocks' rows cover every element, each one written by its row.
        unsafe { out.set_len(x.numel()) };
        let (m, r): (Vec<T>, Vec<T>) = stats.into_iter().unzip();
        (Tensor::from_vec(out, x.shape())?, Tensor::from_vec(m, &[rows])?, Tensor::from_vec(r, &[rows])?)
    });
    Ok(NormForward {
        y: as_dtype(&out, input.dtype())?,
        x,
        mean,
        rstd,
    })
}

/// Rows of float32 values read from a float32 or a bfloat16 buffer: a bfloat16 row is
/// widened into the caller's scratch row.
enum Bf16Rows<'a> {
    F32(Cow<'a, [f32]>),
    Bf16(Cow<'a, [bf16]>),
}

impl Bf16Rows<'_> {
    /// `t`'s values, bfloat16 kept as they are and anything else cast to float32.
    fn of(t: &Tensor) -> Result<Bf16Rows<'_>> {
        Ok(match t.dtype() {
            DType::BF16 => Bf16Rows::Bf16(t.data::<bf16>()?),
            _ => Bf16Rows::F32(Cow::Owned(cast_raw(t, DType::F32)?.to_vec::<f32>()?)),
        })
    }

    /// Row `r` (of `scratch.len()` values), widened into `scratch` when it must be.
    #[inline(always)]
    fn row<'s>(&'s self, r: usize, scratch: &'s mut [f32]) -> &'s [f32] {
        let d = scratch.len();
        match self {
            Bf16Rows::F32(v) => &v[r * d..(r + 1) * d],
            Bf16Rows::Bf16(v) => {
                widen_row(&v[r * d..(r + 1) * d], scratch);
                scratch
            }
        }
    }
}

/// Layer norm of a bfloat16 input: each row widened into a task's scratch, normalised by the
/// float32 row kernel and rounded once (the float32 path's bits). The input itself is kept
/// for the backward, so no float32 copy of it exists at any point.
fn layer_norm_forward_bf16(
    input: &Tensor,
    (d, period): (usize, usize),
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<NormForward> {
    let x = input.contiguous()?;
    let rows = x.numel().checked_div(d).unwrap_or(0);
    let xs = Bf16Rows::of(&x)?;
    let (wv, bv) = (affine::<f32>(weight)?, affine::<f32>(bias)?);
    let (wv, bv, eps) = (wv.as_deref(), bv.as_deref(), f32::from_f64(eps));
    let mut out: Vec<bf16> = Vec::with_capacity(x.numel());
    let mut stats = vec![(0f32, 0f32); rows];
    let row = |scratch: &mut Vec<f32>, (r, (o, st)): (usize, (&mut [bf16], &mut (f32, f32)))| {
        scratch.resize(2 * d, 0.0);
        let (wide, res) = scratch.split_at_mut(d);
        let (w, b) = (affine_row(wv, r, d, period), affine_row(bv, r, d, period));
        *st = ln_forward_row(xs.row(r, wide), w, b, eps, res);
        narrow_row(res, o);
    };
    // One block of rows per thread, each with its scratch (see `layer_norm_forward`).
    let per = rows_per_block(rows, x.numel());
    let block = |(b, (ob, sb)): RowBlock<'_, bf16, f32>| {
        let mut scratch = Vec::new();
        for (i, (o, st)) in ob.chunks_mut(d.max(1)).zip(sb.iter_mut()).enumerate() {
            row(&mut scratch, (b * per + i, (zeroed_row(o), st)));
        }
    };
    let blocks: Vec<_> = out.spare_capacity_mut()[..x.numel()]
        .chunks_mut((per * d).max(1))
        .zip(stats.chunks_mut(per))
        .enumerate()
        .collect();
    crate::cpu::team::for_each(blocks, block);
    // SAFETY: the blocks' rows cover every element, each one written by its row.
    unsafe { out.set_len(x.numel()) };
    let (m, r): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    Ok(NormForward {
        y: Tensor::from_vec(out, x.shape())?,
        mean: Tensor::from_vec(m, &[rows])?,
        rstd: Tensor::from_vec(r, &[rows])?,
        x,
    })
}

/// The layer-norm backward for a bfloat16 input (`layer_norm_forward_bf16`): the input and
/// output-gradient rows widened in each task's scratch, `dx` rounded once per row, the weight
/// and bias gradients summed in float32.
fn layer_norm_backward_bf16(
    saved: NormSaved<'_>,
    g: &Tensor,
    (d, period): (usize, usize),
    need_w: bool,
    need_b: bool,
) -> Result<NormGrads> {
    let x = saved.x;
    let rows = x.numel().checked_div(d).unwrap_or(0);
    let (xs, gs) = (Bf16Rows::of(x)?, Bf16Rows::of(g)?);
    let (md, rd) = (saved.mean.data::<f32>()?, saved.rstd.data::<f32>()?);
    let wv = affine::<f32>(saved.weight)?;
    let wv = wv.as_deref();
    let mut dx: Vec<bf16> = Vec::with_capacity(x.numel());
    let per = rows_per_block(rows, x.numel());
    let block = |(b, dxb): (usize, &mut [MaybeUninit<bf16>])| {
        // Per-position partial gradients, only when asked for (`period * d` each).
        let n = if need_w || need_b { period * d } else { 0 };
        let (mut dw, mut db) = (vec![0f32; n], vec![0f32; n]);
        let mut scratch = vec![0f32; 3 * d];
        let (xw, rest) = scratch.split_at_mut(d);
        let (gw, dxw) = rest.split_at_mut(d);
        for (i, dxr) in dxb.chunks_mut(d.max(1)).enumerate() {
            let r = b * per + i;
            let (xr, gr) = (xs.row(r, xw), gs.row(r, gw));
            let w = affine_row(wv, r, d, period);
            let acc = affine_acc(&mut dw, &mut db, r, d, period);
            ln_backward_row(xr, gr, w, (md[r], rd[r]), dxw, acc);
            narrow_row(dxw, zeroed_row(dxr));
        }
        (dw, db)
    };
    let slots = &mut dx.spare_capacity_mut()[..x.numel()];
    let blocks: Vec<_> = slots.chunks_mut((per * d).max(1)).enumerate().collect();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = crate::cpu::team::map(blocks, block);
    // SAFETY: the blocks' rows cover every element, each one written by its row.
    unsafe { dx.set_len(x.numel()) };
    layer_norm_grads(
        Tensor::from_vec(dx, x.shape())?,
        &partials,
        period * d,
        need_w,
        need_b,
    )
}

/// The layer-norm backward (`dw`/`db` as `[period * d]`, see `layer_norm_forward`).
pub(super) fn layer_norm_backward(
    saved: NormSaved<'_>,
    g: &Tensor,
    d: usize,
    period: usize,
    need_w: bool,
    need_b: bool,
) -> Result<NormGrads> {
    if saved.x.dtype() == DType::BF16 {
        return layer_norm_backward_bf16(saved, g, (d, period), need_w, need_b);
    }
    let x = saved.x;
    let dt = x.dtype();
    let rows = x.numel().checked_div(d).unwrap_or(0);
    let g = as_dtype(g, dt)?;
    crate::with_float!(dt, T => {
        let (xd, gd) = (x.data::<T>()?, g.data::<T>()?);
        let (md, rd) = (saved.mean.data::<T>()?, saved.rstd.data::<T>()?);
        let wv = affine::<T>(saved.weight)?;
        let mut dx: Vec<T> = Vec::with_capacity(x.numel());
        let wv = wv.as_deref();
        // Blocks of rows in parallel, each with its own partial weight and bias gradients.
        let per = rows_per_block(rows, x.numel());
        let block = |(b, dxb): (usize, &mut [MaybeUninit<T>])| {
            let n = if need_w || need_b { period * d } else { 0 };
            let (mut dw, mut db) = (vec![T::zero(); n], vec![T::zero(); n]);
            for (i, dxr) in dxb.chunks_mut(d.max(1)).enumerate() {
                let r = b * per + i;
                let (xr, gr) = (&xd[r * d..(r + 1) * d], &gd[r * d..(r + 1) * d]);
                let w = affine_row(wv, r, d, period);
                let acc = affine_acc(&mut dw, &mut db, r, d, period);
                ln_backward_row(xr, gr, w, (md[r], rd[r]), zeroed_row(dxr), acc);
            }
            (dw, db)
        };
        let slots = &mut dx.spare_capacity_mut()[..x.numel()];
        let blocks: Vec<_> = slots.chunks_mut((per * d).max(1)).enumerate().collect();
        let partials: Vec<(Vec<T>, Vec<T>)> = crate::cpu::team::map(blocks, block);
        // SAFETY: the blocks' rows cover every element, each one written by its row.
        unsafe { dx.set_len(x.numel()) };
        layer_norm_grads(Tensor::from_vec(dx, x.shape())?, &partials, period * d, need_w, need_b)
    })
}

/// Rows per block of the layer-norm forward and backward: one block per pool thread, or all
/// the rows in one block (run in the calling thread) when the input is too small to be worth
/// the pool.
fn rows_per_block(rows: usize, numel: usize) -> usize {
    if numel < PAR_THRESHOLD || !crate::threads::split() {
        return rows.max(1);
    }
    rows.div_ceil(crate::threads::get()).max(1)
}

/// The layer-norm gradients from `dx` and each block of rows' partial weight and bias
/// gradients (summed here, in block order).
fn layer_norm_grads<T: Float>(
    dx: Tensor,
    partials: &[(Vec<T>, Vec<T>)],
    d: usize,
    need_w: bool,
    need_b: bool,
) -> Result<NormGrads> {
    let (mut dw, mut db) = (vec![T::zero(); d], vec![T::zero(); d]);
    for (pw, pb) in partials {
        dw.iter_mut().zip(pw).for_each(|(a, &v)| *a += v);
        db.iter_mut().zip(pb).for_each(|(a, &v)| *a += v);
    }
    let flat = |v: Vec<T>, need: bool| need.then(|| Tensor::from_vec(v, &[d])).transpose();
    Ok(NormGrads {
        dx,
        dw: flat(dw, need_w)?,
        db: flat(db, need_b)?,
    })
}

/// `x` as the batch norm kernels read it: float32, float64 and bfloat16 as they are (made
/// contiguous), float16 widened to float32.
fn batch_norm_input(x: &Tensor) -> Result<Tensor> {
    match x.dtype() {
        DType::F32 | DType::F64 | DType::BF16 => x.contiguous(),
        _ => compute_input(x).map(|(c, _)| c),
    }
}

pub(super) fn batch_norm_forward(input: &Tensor, args: BatchNormArgs<'_>) -> Result<NormForward> {
    let x = batch_norm_input(input)?;
    let mut fw = match x.dtype() {
        DType::F64 => bn_forward::<f64>(x, args)?,
        DType::BF16 => bn_forward::<bf16>(x, args)?,
        _ => bn_forward::<f32>(x, args)?,
    };
    fw.y = as_dtype(&fw.y, input.dtype())?;
    Ok(fw)
}

/// The `[N, C, inner]` extent of a batch norm input.
#[derive(Clone, Copy)]
struct Channels {
    n: usize,
    c: usize,
    inner: usize,
}

impl Channels {
    fn of(x: &Tensor) -> Self {
        let inner = x.shape()[2..].iter().product();
        Channels {
            n: x.shape()[0],
            c: x.shape()[1],
            inner,
        }
    }

    /// Elements per batch row (`C * inner`, at least 1 so it can size chunks).
    fn row(self) -> usize {
        (self.c * self.inner).max(1)
    }

    /// Elements per parallel task: the batch rows split evenly over the threads, or one task
    /// when the tensor is too small to pay for a second thread.
    fn task(self) -> usize {
        let rows = if self.n * self.row() < PAR_THRESHOLD || !crate::threads::split() {
            self.n
        } else {
            self.n.div_ceil(crate::threads::get())
        };
        rows.max(1) * self.row()
    }
}

/// The two `[N, C, inner]` operands of a batch-norm pass (`a` and `b` may be the same),
/// read per channel: `sums` reduces them, `map` writes a new buffer from them.
#[derive(Clone, Copy)]
struct ChannelPair<'a, S> {
    a: &'a [S],
    b: &'a [S],
    dims: Channels,
}

impl<'a, S: Computes> ChannelPair<'a, S> {
    fn new(a: &'a [S], b: &'a [S], dims: Channels) -> Self {
        ChannelPair { a, b, dims }
    }

    /// Per-channel sums of `f(k[channel], a, b)` over a batch norm's `[N, C, inner]` elements:
    /// each task sums its block of batch rows (16 lanes along `inner`, or across the channels when
    /// `inner` is 1, as in `BatchNorm1d` over `[N, C]`), then the blocks add up in order. The
    /// channel's constants `k` are read once per run of `inner` elements, so the loops vectorise.
    fn sums<K: Copy + Sync>(
        self,
        k: &[K],
        f: impl Fn(K, S::As, S::As) -> S::As + Sync,
    ) -> Vec<S::As> {
        let ChannelPair { a, b, dims } = self;
        let partials: Vec<Vec<S::As>> = a
            .par_chunks(dims.task())
            .zip(b.par_chunks(dims.task()))
            .map(|(ab, bb)| block_sums(ab, bb, dims, k, &f))
            .collect();
        let mut sums = vec![S::As::zero(); dims.c];
        for p in &partials {
            sums.iter_mut().zip(p).for_each(|(s, &v)| *s += v);
        }
        sums
    }

    /// `f(k[channel], a, b)` at every element of a batch norm's `[N, C, inner]` operands, rounded
    /// once into a new `S` buffer; blocks of batch rows in parallel.
    fn map<K: Copy + Sync>(self, k: &[K], f: impl Fn(K, S::As, S::As) -> S::As + Sync) -> Vec<S> {
        let ChannelPair { a, b, dims } = self;
        let mut out: Vec<S> = Vec::with_capacity(a.len());
        out.spare_capacity_mut()[..a.len()]
            .par_chunks_mut(dims.task())
            .zip(a.par_chunks(dims.task()).zip(b.par_chunks(dims.task())))
            .for_each(|(ob, (ab, bb))| block_map(ob, ab, bb, dims, k, &f));
        // SAFETY: the tasks' blocks cover every element, each row initialised by `block_map`.
        unsafe { out.set_len(a.len()) };
        out
    }
}

/// One task's per-channel partial sums over its block of batch rows (`ChannelPair::sums`).
#[inline(always)]
fn block_sums_body<S: Computes, K: Copy, F: Fn(K, S::As, S::As) -> S::As>(
    ab: &[S],
    bb: &[S],
    dims: Channels,
    k: &[K],
    f: &F,
) -> Vec<S::As> {
    let inner = dims.inner;
    let mut acc = vec![S::As::zero(); dims.c];
    for (ar, br) in ab.chunks(dims.row()).zip(bb.chunks(dims.row())) {
        if inner == 1 {
            for (((s, &x), &y), &kc) in acc.iter_mut().zip(ar).zip(br).zip(k) {
                *s += f(kc, x.widen(), y.widen());
            }
            continue;
        }
        let runs = ar.chunks(inner).zip(br.chunks(inner));
        for ((s, &kc), (x, y)) in acc.iter_mut().zip(k).zip(runs) {
            *s += lane_sum_zip(x, y, |x, y| f(kc, x, y));
        }
    }
    acc
}

crate::multiversion!(fn block_sums<S, K, F>(ab: &[S], bb: &[S], dims: Channels, k: &[K], f: &F) -> Vec<S::As> where [S: Computes, K: Copy, F: Fn(K, S::As, S::As) -> S::As] => block_sums_body);

/// `ChannelPair::map` over one task's block of batch rows (each row zeroed in cache, then written).
#[inline(always)]
fn block_map_body<S: Computes, K: Copy, F: Fn(K, S::As, S::As) -> S::As>(
    ob: &mut [MaybeUninit<S>],
    ab: &[S],
    bb: &[S],
    dims: Channels,
    k: &[K],
    f: &F,
) {
    let inner = dims.inner;
    let rows = ob
        .chunks_mut(dims.row())
        .zip(ab.chunks(dims.row()).zip(bb.chunks(dims.row())));
    for (or, (ar, br)) in rows {
        let or = zeroed_row(or);
        if inner == 1 {
            for (((o, &x), &y), &kc) in or.iter_mut().zip(ar).zip(br).zip(k) {
                *o = S::narrow(f(kc, x.widen(), y.widen()));
            }
            continue;
        }
        let runs = or
            .chunks_mut(inner)
            .zip(ar.chunks(inner).zip(br.chunks(inner)));
        for ((o, (x, y)), &kc) in runs.zip(k) {
            for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                *o = S::narrow(f(kc, x.widen(), y.widen()));
            }
        }
    }
}

crate::multiversion!(fn block_map<S, K, F>(ob: &mut [MaybeUninit<S>], ab: &[S], bb: &[S], dims: Channels, k: &[K], f: &F) where [S: Computes, K: Copy, F: Fn(K, S::As, S::As) -> S::As] => block_map_body);

/// Batch norm over `x` stored as `S` (contiguous `[N, C, ...]`), computed in `S::As`:
/// per-channel statistics in two passes (mean, then squared deviations), then one pass that
/// normalises and rounds once. A bfloat16 `x` is saved as it is, never as a float32 copy.
fn bn_forward<S: Computes>(x: Tensor, args: BatchNormArgs<'_>) -> Result<NormForward> {
    let BatchNormArgs {
        running,
        weight,
        bias,
        training,
        eps,
    } = args;
    let dims = Channels::of(&x);
    let c = dims.c;
    let count = dims.n * dims.inner;
    let xd = x.data::<S>()?;
    let num = |k: usize| S::As::from_usize(k);
    let (mean, var): (Vec<S::As>, Vec<S::As>) = if training {
        let sums = ChannelPair::new(&xd, &xd, dims).sums(&vec![(); c], |_, v, _| v);
        let mean: Vec<S::As> = sums.into_iter().map(|s| s / num(count)).collect();
        let sq = ChannelPair::new(&xd, &xd, dims).sums(&mean, |m, v, _| (v - m) * (v - m));
        let var = sq.into_iter().map(|s| s / num(count)).collect();
        (mean, var)
    } else {
        let stat = |t: Option<&Tensor>| affine::<S::As>(t).map(Option::unwrap_or_default);
        (stat(running.mean)?, stat(running.var)?)
    };
    let rstd: Vec<S::As> = var
        .iter()
        .map(|&v| S::As::one() / (v + S::As::from_f64(eps)).sqrt())
        .collect();
    if training {
        if let (Some(rm), Some(rv)) = (running.mean, running.var) {
            let _g = crate::autograd::GradModeGuard::new(false);
            let unbiased: Vec<S::As> = var
                .iter()
                .map(|&v| v * num(count) / num(count - 1))
                .collect();
            let bm = Tensor::from_vec(mean.clone(), &[c])?;
            let bv = Tensor::from_vec(unbiased, &[c])?;
            let mo = running.momentum;
            rm.copy_(&rm.mul_scalar(1.0 - mo)?.add(&bm.mul_scalar(mo)?)?)?;
            rv.copy_(&rv.mul_scalar(1.0 - mo)?.add(&bv.mul_scalar(mo)?)?)?;
        }
    }
    let (wv, bv) = (affine::<S::As>(weight)?, affine::<S::As>(bias)?);
    // y = x * scale + shift, per channel.
    let affine: Vec<(S::As, S::As)> = (0..c)
        .map(|ci| {
            let scale = rstd[ci] * wv.as_ref().map_or(S::As::one(), |w| w[ci]);
            (
                scale,
                bv.as_ref().map_or(S::As::zero(), |b| b[ci]) - mean[ci] * scale,
            )
        })
        .collect();
    let out =
        ChannelPair::new(&xd, &xd, dims).map(&affine, |(scale, shift), v, _| v * scale + shift);
    Ok(NormForward {
        y: Tensor::from_vec(out, x.shape())?,
        mean: Tensor::from_vec(mean, &[c])?,
        rstd: Tensor::from_vec(rstd, &[c])?,
        x,
    })
}

pub(super) fn batch_norm_backward(
    saved: NormSaved<'_>,
    g: &Tensor,
    training: bool,
    need_w: bool,
    need_b: bool,
) -> Result<NormGrads> {
    let g = as_dtype(g, saved.x.dtype())?;
    match saved.x.dtype() {
        DType::F64 => bn_backward::<f64>(saved, &g, training, (need_w, need_b)),
        DType::BF16 => bn_backward::<bf16>(saved, &g, training, (need_w, need_b)),
        _ => bn_backward::<f32>(saved, &g, training, (need_w, need_b)),
    }
}

/// The batch norm backward for `x` and `g` stored as `S`: per-channel sums of `g` and
/// `g * (x - mean)` in `S::As`, then `dx = a g + b (x - mean) + d` with per-channel
/// coefficients, rounded once.
fn bn_backward<S: Computes>(
    saved: NormSaved<'_>,
    g: &Tensor,
    training: bool,
    (need_w, need_b): (bool, bool),
) -> Result<NormGrads> {
    let x = saved.x;
    let dims = Channels::of(x);
    let c = dims.c;
    let (xd, gd) = (x.data::<S>()?, g.data::<S>()?);
    let (md, rd) = (saved.mean.data::<S::As>()?, saved.rstd.data::<S::As>()?);
    let wv = affine::<S::As>(saved.weight)?;
    // Per-channel sums of g (the bias gradient) and g * xhat (the weight gradient).
    let s1 = ChannelPair::new(&gd, &gd, dims).sums(&vec![(); c], |_, g, _| g);
    let s2 = ChannelPair::new(&gd, &xd, dims).sums(&md, |m, g, x| g * (x - m));
    let s2: Vec<S::As> = s2.iter().zip(rd.iter()).map(|(&s, &r)| s * r).collect();
    let inv = S::As::one() / S::As::from_usize(dims.n * dims.inner);
    // dx = a g + b (x - mean) + d, per channel (b and d only in training).
    let coef: Vec<[S::As; 4]> = (0..c)
        .map(|ci| {
            let a = wv.as_ref().map_or(S::As::one(), |w| w[ci]) * rd[ci];
            let (b, d) = if training {
                (-a * rd[ci] * inv * s2[ci], -a * inv * s1[ci])
            } else {
                (S::As::zero(), S::As::zero())
            };
            [a, b, md[ci], d]
        })
        .collect();
    let dx =
        ChannelPair::new(&gd, &xd, dims).map(&coef, |[a, b, m, d], g, x| a * g + b * (x - m) + d);
    let per_channel =
        |v: Vec<S::As>, need: bool| need.then(|| Tensor::from_vec(v, &[c])).transpose();
    Ok(NormGrads {
        dx: Tensor::from_vec(dx, x.shape())?,
        dw: per_channel(s2, need_w)?,
        db: per_channel(s1, need_b)?,
    })
}
