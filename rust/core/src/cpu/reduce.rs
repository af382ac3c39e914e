//! Reductions on the CPU over contiguous rows (the reduced dims moved innermost): cascaded
//! float sums that stay accurate for long rows, variance, log-sum-exp, extrema (NaN wins),
//! integer sums and extrema in int64, and arg-extrema.

use super::kernel::{narrow_into, Computes, PAR_THRESHOLD};
use super::lanes::{fold_in_order, LANES};
use crate::ops::copy::cast_raw;
use crate::ops::reduce::Kind;
use crate::{bail, DType, Element, Float, Result, Tensor};
use half::bf16;
use rayon::prelude::*;
use std::borrow::Cow;

/// Rows of the reduction: a contiguous buffer of `outer * r` elements, reduced dims innermost
/// (borrowed when the tensor is contiguous and the reduced dims are already its last ones).
fn rows<'t, T: Element>(t: &'t Tensor, dims: &[usize]) -> Result<(Cow<'t, [T]>, usize, usize)> {
    let nd = t.ndim();
    let trailing = dims
        .iter()
        .enumerate()
        .all(|(i, &d)| d == nd - dims.len() + i);
    if trailing && t.is_contiguous() {
        let (kept, reduced) = t.shape().split_at(nd - dims.len());
        return Ok((
            t.data::<T>()?,
            kept.iter().product(),
            reduced.iter().product(),
        ));
    }
    let r: usize = dims.iter().map(|&d| t.shape()[d]).product();
    let outer: usize = t
        .shape()
        .iter()
        .enumerate()
        .filter(|(i, _)| !dims.contains(i))
        .map(|(_, &n)| n)
        .product();
    let mut perm: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    perm.extend_from_slice(dims);
    let l = t.layout().permute(&perm)?;
    let v = t.with_layout(l).to_vec::<T>()?;
    Ok((Cow::Owned(v), outer, r))
}

/// Elements summed in `T` before a partial sum is folded into an f64 total: keeps float32 sums of
/// millions of elements accurate (like PyTorch's cascade sum) while the inner loop vectorises.
/// (Column sums over leading dims add this many rows per column in `T`.)
const SUM_BLOCK: usize = 256;

/// Elements of one row summed in `T` before the f64 fold: each of the `LANES` lanes adds 64.
const ROW_BLOCK: usize = 1024;

#[inline(always)]
fn block_sum<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += f(c[i]);
        }
    }
    let mut s = fold_in_order(acc, |a, b| a + b);
    for &v in rem {
        s += f(v);
    }
    s
}

/// `sum(f(x))` over a row, accurate for long rows.
#[inline(always)]
fn row_sum_map<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> T {
    if x.len() <= ROW_BLOCK {
        return block_sum(x, f);
    }
    T::from_f64(block_totals(x, f))
}

/// `sum(f(x))` in f64, from `ROW_BLOCK` partial sums in `T`.
#[inline(always)]
fn block_totals<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> f64 {
    x.chunks(ROW_BLOCK).map(|c| block_sum(c, f).to_f64()).sum()
}

#[inline(always)]
pub(crate) fn row_sum<T: Float>(x: &[T]) -> T {
    row_sum_map(x, |v| v)
}

/// Elements per task when one long row is split across threads: a fixed size, so the
/// partial results (and their combination order) do not depend on the thread count.
const ROW_CHUNK: usize = 1 << 16;

/// The extremum of a row, NaN winning: `LANES` lanes of branch-free selects and a NaN flag,
/// so the loop vectorises (a fold with NaN branches did not).
#[inline(always)]
fn row_extreme<T: Float>(x: &[T], max: bool) -> T {
    let init = if max { T::NEG_INF } else { T::INF };
    let better = |v: T, a: T| if max { v > a } else { v < a };
    let mut acc = [init; LANES];
    let mut nan = [false; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let v = c[i];
            nan[i] |= v.is_nan();
            acc[i] = if better(v, acc[i]) { v } else { acc[i] };
        }
    }
    let mut any_nan = nan.iter().any(|&n| n);
    let mut m = fold_in_order(acc, |a, v| if better(v, a) { v } else { a });
    for &v in rem {
        any_nan |= v.is_nan();
        m = if better(v, m) { v } else { m };
    }
    if any_nan {
        return T::from_f64(f64::NAN);
    }
    m
}

/// `row_extreme` with `max` known inside each branch: a run-time `max` left the selects of the
/// loop scalar.
#[inline(always)]
fn extreme_of<T: Float>(x: &[T], max: bool) -> T {
    if max {
        row_extreme(x, true)
    } else {
        row_extreme(x, false)
    }
}

/// One long row reduced in fixed-size chunks on the threads (sums, means and extrema).
fn long_row<T: Float>(kind: Kind, x: &[T]) -> Option<T> {
    let parts =
        |f: &(dyn Fn(&[T]) -> f64 + Sync)| -> Vec<f64> { x.par_chunks(ROW_CHUNK).map(f).collect() };
    match kind {
        Kind::Sum | Kind::Mean => {
            let total: f64 = parts(&|c| chunk_total(c)).iter().sum();
            // (the mean divides in `T`, as the short rows' does)
            let sum = T::from_f64(total);
            Some(if kind == Kind::Mean {
                sum / T::from_usize(x.len())
            } else {
                sum
            })
        }
        Kind::Max | Kind::Min => {
            let max = kind == Kind::Max;
            let p = parts(&|c| chunk_extreme(c, max).to_f64());
            let p: Vec<T> = p.into_iter().map(T::from_f64).collect();
            Some(row_extreme(&p, max))
        }
        _ => None,
    }
}

crate::multiversion!(fn chunk_total<T>(x: &[T]) -> f64 where [T: Float] => chunk_total_body);
crate::multiversion!(fn chunk_extreme<T>(x: &[T], max: bool) -> T where [T: Float] => extreme_of);

/// A chunk's sum in f64 (`block_totals` of the plain values).
#[inline(always)]
fn chunk_total_body<T: Float>(x: &[T]) -> f64 {
    block_totals(x, |v| v)
}

fn float_rows<T: Float>(kind: Kind, v: &[T], outer: usize, r: usize) -> Vec<T> {
    if outer == 1 && r >= 2 * ROW_CHUNK && crate::threads::split() {
        if let Some(x) = long_row(kind, v) {
            return vec![x];
        }
    }
    per_row(v, (outer, r), T::zero(), |x, o| reduce_rows(kind, x, r, o))
}

/// `outer` results (from `init`), one per `r`-long row of `v`, by `f(rows, their results)`;
/// runs of rows on the threads when there is enough work (each row reduced whole, so the same
/// order as on one thread).
fn per_row<T: Sync, O: Copy + Send>(
    v: &[T],
    (outer, r): (usize, usize),
    init: O,
    f: impl Fn(&[T], &mut [O]) + Sync,
) -> Vec<O> {
    let mut out = vec![init; outer];
    if outer >= 2 && outer * r >= PAR_THRESHOLD && crate::threads::split() {
        let per = outer.div_ceil(4 * crate::threads::get().max(1));
        out.par_chunks_mut(per)
            .zip(v.par_chunks(per * r))
            .for_each(|(o, x)| f(x, o));
    } else {
        f(v, &mut out);
    }
    out
}

crate::multiversion!(fn reduce_rows<T>(kind: Kind, v: &[T], r: usize, out: &mut [T]) where [T: Float] => reduce_rows_body);

/// Each `r`-long row of `v` reduced into `out` (compiled per SIMD level).
#[inline(always)]
fn reduce_rows_body<T: Float>(kind: Kind, v: &[T], r: usize, out: &mut [T]) {
    for (o, x) in out.iter_mut().zip(v.chunks_exact(r)) {
        *o = reduce_row(kind, x);
    }
}

#[inline(always)]
fn reduce_row<T: Float>(kind: Kind, x: &[T]) -> T {
    let r = x.len();
    match kind {
        Kind::Sum => row_sum(x),
        Kind::Mean => row_sum(x) / T::from_usize(r),
        Kind::Var(correction) => {
            // The corrected two-pass algorithm: the deviations from the rounded mean `m`
            // have a small mean `d / r` of their own, taken out in f64, so the mean's
            // rounding (half an ulp of 1e4 in float32, next to a spread of 0.01) does not
            // enter the variance squared.
            let m = row_sum(x) / T::from_usize(r);
            let d = row_sum_map(x, |v| v - m).to_f64();
            let ss = row_sum_map(x, |v| (v - m) * (v - m)).to_f64() - d * d / r as f64;
            // (rounding may leave it just below 0; a NaN stays NaN)
            let ss = if ss < 0.0 { 0.0 } else { ss };
            // PyTorch divides by max(0, N - correction): inf (NaN for a constant
            // row) once the correction reaches the count.
            T::from_f64(ss / (r as f64 - correction).max(0.0))
        }
        Kind::LogSumExp => {
            let m = row_extreme(x, true);
            // A NaN anywhere makes `m` NaN; an infinite max is the answer itself
            // (`x - m` would be inf - inf = NaN).
            if m.is_nan() || m == T::INF || m == T::NEG_INF {
                m
            } else {
                m + row_sum_map(x, |v| (v - m).exp()).ln()
            }
        }
        Kind::Max => row_extreme(x, true),
        Kind::Min => row_extreme(x, false),
    }
}

/// Sum over leading dims `[r, inner]` of a contiguous tensor without transposing it, in
/// `S::As` (a bfloat16 gradient's bias sum widens as it reads, with no float32 copy). Large
/// sums split their blocks of rows (or, with one block, their columns) over the threads; each
/// column's order of additions is the same either way.
fn sum_leading<S: Computes>(x: &[S], r: usize, inner: usize) -> Vec<S::As> {
    let inner1 = inner.max(1);
    let x = &x[..(r * inner1).min(x.len())];
    let mut out = vec![S::As::zero(); inner];
    let threads = crate::threads::get().max(1);
    if r * inner >= PAR_THRESHOLD && r > SUM_BLOCK && threads > 1 {
        // Blocks of whole rows on the threads, each read front to back (half-rows, one
        // thread's columns, streamed at half the bandwidth), each block's partial sums then
        // folded in order: the same additions as `sum_columns_body` makes on one thread.
        let blocks: Vec<&[S]> = x.chunks(SUM_BLOCK * inner1).collect();
        let groups: Vec<&[&[S]]> = blocks.chunks(blocks.len().div_ceil(threads)).collect();
        let partials = crate::cpu::team::map(groups, |group| {
            let sums = |block: &&[S]| {
                let mut p = vec![S::As::zero(); inner];
                sum_columns(block, inner1, 0, &mut p);
                p
            };
            group.iter().map(sums).collect::<Vec<_>>()
        });
        let mut total = vec![0f64; inner];
        partials
            .iter()
            .flatten()
            .for_each(|p| fold_partial(&mut total, p));
        store_totals(&mut out, &total);
    } else if r * inner >= PAR_THRESHOLD && inner >= 32 * threads && threads > 1 {
        let per = inner.div_ceil(threads).next_multiple_of(16);
        let parts: Vec<_> = out.chunks_mut(per).enumerate().collect();
        crate::cpu::team::for_each_halves(parts, |(i, o)| sum_columns(x, inner1, i * per, o));
    } else {
        sum_columns(x, inner1, 0, &mut out);
    }
    out
}

crate::multiversion!(fn sum_columns<S>(x: &[S], inner: usize, c0: usize, out: &mut [S::As]) where [S: Computes] => sum_columns_body);

/// Columns `c0..c0 + out.len()` of the rows of `x` (each `inner` long) summed into `out`.
#[inline(always)]
fn sum_columns_body<S: Computes>(x: &[S], inner: usize, c0: usize, out: &mut [S::As]) {
    if x.len() <= SUM_BLOCK * inner {
        return add_rows(x, inner, c0, out);
    }
    // Partial sums over blocks of rows, folded into f64 totals (see `SUM_BLOCK`).
    let mut total = vec![0f64; out.len()];
    for block in x.chunks(SUM_BLOCK * inner) {
        out.iter_mut().for_each(|p| *p = S::As::zero());
        add_rows(block, inner, c0, out);
        fold_partial(&mut total, out);
    }
    store_totals(out, &total);
}

/// Adds one block's partial column sums into the float64 totals (see `SUM_BLOCK`).
#[inline(always)]
fn fold_partial<A: Float>(total: &mut [f64], partial: &[A]) {
    for (t, &p) in total.iter_mut().zip(partial) {
        *t += p.to_f64();
    }
}

/// The float64 column totals rounded into `out`.
#[inline(always)]
fn store_totals<A: Float>(out: &mut [A], total: &[f64]) {
    for (o, &t) in out.iter_mut().zip(total) {
        *o = A::from_f64(t);
    }
}

/// Adds columns `c0..` of each row of `rows` into `acc`, widening as it reads.
#[inline(always)]
fn add_rows<S: Computes>(rows: &[S], inner: usize, c0: usize, acc: &mut [S::As]) {
    for row in rows.chunks_exact(inner) {
        for (a, &v) in acc.iter_mut().zip(&row[c0..]) {
            *a += v.widen();
        }
    }
}

/// `(r, inner)` when a sum or mean over `dims` is one over the leading dims of a contiguous
/// tensor, which `sum_leading` reads in place (a `mean(0)` no longer transposes a copy first).
fn leading_sum(kind: Kind, t: &Tensor, dims: &[usize]) -> Option<(usize, usize)> {
    let leading = dims.iter().enumerate().all(|(i, &d)| i == d);
    if !matches!(kind, Kind::Sum | Kind::Mean)
        || !t.is_contiguous()
        || dims.is_empty()
        || !leading
        || dims.len() >= t.ndim()
    {
        return None;
    }
    let r: usize = dims.iter().map(|&d| t.shape()[d]).product();
    Some((r, t.shape()[dims.len()..].iter().product()))
}

/// A contiguous tensor reduced over a run of trailing dims and others before them (a conv
/// bias's gradient: dims 0, 2 and 3 of `[N, C, H, W]`): the trailing run first, as contiguous
/// rows, then the other dims of a result smaller by the run's size. Gathering the whole tensor
/// into reduced-last order first cost 4x as much. Sums, means and extrema split this way.
fn trailing_run_first<T: Float + Computes<As = T>>(
    kind: Kind,
    t: &Tensor,
    dims: &[usize],
) -> Result<Option<Vec<T>>> {
    let nd = t.ndim();
    let run = dims
        .iter()
        .rev()
        .enumerate()
        .take_while(|&(i, &d)| d + 1 + i == nd)
        .count();
    let splits = matches!(kind, Kind::Sum | Kind::Mean | Kind::Max | Kind::Min);
    if !splits || !t.is_contiguous() || run == 0 || run == dims.len() {
        return Ok(None);
    }
    let step = if kind == Kind::Mean { Kind::Sum } else { kind };
    let (rest, trailing) = dims.split_at(dims.len() - run);
    let part = reduce_float_typed::<T>(step, t, trailing)?;
    let part = Tensor::from_vec(part, &t.shape()[..nd - run])?;
    let mut out = reduce_float_typed::<T>(step, &part, rest)?;
    if kind == Kind::Mean {
        let n = T::from_usize(dims.iter().map(|&d| t.shape()[d]).product());
        out.iter_mut().for_each(|v| *v /= n);
    }
    Ok(Some(out))
}

/// A contiguous tensor reduced over one run of consecutive middle dims (`x.sum(1)` of
/// `[N, C, H, W]`, `amax` down a segmentation map's classes): each `[r, inner]` block of the
/// `[outer, r, inner]` view reduced down its columns in place, where gathering the reduced dims
/// innermost first cost 10x PyTorch. Sums, means and extrema; `None` for anything else (and
/// for leading or trailing runs, which have their own paths, and empty runs).
fn middle_run<T: Float + Computes<As = T>>(
    kind: Kind,
    t: &Tensor,
    dims: &[usize],
) -> Result<Option<Vec<T>>> {
    let consecutive = dims.windows(2).all(|w| w[1] == w[0] + 1);
    let splits = matches!(kind, Kind::Sum | Kind::Mean | Kind::Max | Kind::Min);
    let (Some(&d0), Some(&last)) = (dims.first(), dims.last()) else {
        return Ok(None);
    };
    let shape = t.shape();
    if !splits || !consecutive || !t.is_contiguous() || d0 == 0 || last + 1 >= shape.len() {
        return Ok(None);
    }
    let outer: usize = shape[..d0].iter().product();
    let r: usize = shape[d0..=last].iter().product();
    let inner: usize = shape[last + 1..].iter().product();
    if outer * r * inner == 0 {
        return Ok(None);
    }
    let x = t.data::<T>()?;
    let mut out = vec![T::zero(); outer * inner];
    let block = |(o, dst): (usize, &mut [T])| {
        let src = &x[o * r * inner..][..r * inner];
        match kind {
            Kind::Max | Kind::Min => extreme_columns(src, inner, kind == Kind::Max, dst),
            _ => sum_columns(src, inner, 0, dst),
        }
        if kind == Kind::Mean {
            let n = T::from_usize(r);
            dst.iter_mut().for_each(|v| *v /= n);
        }
    };
    let blocks: Vec<_> = out.chunks_mut(inner).enumerate().collect();
    if outer * r * inner >= PAR_THRESHOLD {
        crate::cpu::team::for_each_halves(blocks, block);
    } else {
        blocks.into_iter().for_each(block);
    }
    Ok(Some(out))
}

crate::multiversion!(fn extreme_columns<T>(block: &[T], inner: usize, max: bool, out: &mut [T]) where [T: Float] => extreme_columns_body);

/// The extremum of each column of `block` (rows of `inner`) into `out`, NaN winning, as
/// branch-free selects over whole rows.
#[inline(always)]
fn extreme_columns_body<T: Float>(block: &[T], inner: usize, max: bool, out: &mut [T]) {
    out.copy_from_slice(&block[..inner]);
    for row in block.chunks_exact(inner).skip(1) {
        if max {
            for (b, &x) in out.iter_mut().zip(row) {
                *b = if !b.is_nan() && (x.is_nan() || x > *b) {
                    x
                } else {
                    *b
                };
            }
        } else {
            for (b, &x) in out.iter_mut().zip(row) {
                *b = if !b.is_nan() && (x.is_nan() || x < *b) {
                    x
                } else {
                    *b
                };
            }
        }
    }
}

fn reduce_float_typed<T: Float + Computes<As = T>>(
    kind: Kind,
    t: &Tensor,
    dims: &[usize],
) -> Result<Vec<T>> {
    if let Some((r, inner)) = leading_sum(kind, t, dims) {
        let mut sums = sum_leading(&t.data::<T>()?, r, inner);
        if kind == Kind::Mean {
            // (divided in `T`, as the rows' means are; 0 / 0 is NaN for an empty dim)
            let n = T::from_usize(r);
            sums.iter_mut().for_each(|v| *v /= n);
        }
        return Ok(sums);
    }
    if let Some(v) = trailing_run_first(kind, t, dims)? {
        return Ok(v);
    }
    if let Some(v) = middle_run(kind, t, dims)? {
        return Ok(v);
    }
    let (v, outer, r) = rows::<T>(t, dims)?;
    if r == 0 {
        let fill = match kind {
            Kind::Sum => T::zero(),
            Kind::LogSumExp => T::NEG_INF,
            Kind::Max | Kind::Min => bail!(
                Index,
                "max/min of an empty dimension: the operation has no identity"
            ),
            _ => T::from_f64(f64::NAN),
        };
        return Ok(vec![fill; outer]);
    }
    Ok(float_rows(kind, &v, outer, r))
}

/// A float reduction of `t` over `dims` into `shape` (half types through float32).
pub(super) fn reduce(kind: Kind, t: &Tensor, dims: &[usize], shape: &[usize]) -> Result<Tensor> {
    if let Some(order) = t.layout().dense_permutation() {
        return reduce_permuted(kind, t, dims, shape, &order);
    }
    let dt = t.dtype();
    let leading = leading_sum(kind, t, dims);
    match (dt, leading) {
        (DType::F32, _) => Tensor::from_vec(reduce_float_typed::<f32>(kind, t, dims)?, shape),
        (DType::F64, _) => Tensor::from_vec(reduce_float_typed::<f64>(kind, t, dims)?, shape),
        (DType::BF16, Some((r, inner))) => {
            let mut sums = sum_leading(&t.data::<bf16>()?, r, inner);
            if kind == Kind::Mean {
                let n = r as f32;
                sums.iter_mut().for_each(|v| *v /= n);
            }
            let mut out = vec![bf16::ZERO; sums.len()];
            narrow_into(&sums, &mut out);
            Tensor::from_vec(out, shape)
        }
        _ => {
            let r = Tensor::from_vec(
                reduce_float_typed::<f32>(kind, &cast_raw(t, DType::F32)?, dims)?,
                shape,
            )?;
            cast_raw(&r, dt)
        }
    }
}

/// A reduction of a permuted contiguous tensor (`x.t().sum(1)`, a channels-last batch) run on
/// the contiguous tensor it permutes, over the same dims under their names there, so the fast
/// row and leading-dim paths apply instead of gathering the whole input into reduction order
/// first (10x slower for a transposed 1024 x 1024 sum). Only the result is put back in order.
fn reduce_permuted(
    kind: Kind,
    t: &Tensor,
    dims: &[usize],
    shape: &[usize],
    order: &[usize],
) -> Result<Tensor> {
    let base = t.with_layout(t.layout().permute(order)?);
    let base_dims: Vec<usize> = (0..order.len())
        .filter(|&i| dims.contains(&order[i]))
        .collect();
    let kept: Vec<usize> = base
        .shape()
        .iter()
        .enumerate()
        .map(|(i, &n)| if base_dims.contains(&i) { 1 } else { n })
        .collect();
    let r = reduce(kind, &base, &base_dims, &kept)?;
    // `r` has the base's dim order; the inverse puts each of `t`'s dims back at its place.
    let inverse = crate::layout::inverse_permutation(order);
    let back = r.with_layout(r.layout().permute(&inverse)?);
    let copy = cast_raw(&back, back.dtype())?; // fresh and contiguous, with keepdim's 1s
    Ok(Tensor::from_parts(
        copy.storage().clone(),
        crate::layout::Layout::contiguous(shape),
        false,
    ))
}

/// Sum, max or min of an integer (or bool) tensor in int64.
pub(super) fn reduce_int(
    kind: Kind,
    t: &Tensor,
    dims: &[usize],
    shape: &[usize],
) -> Result<Tensor> {
    let t = cast_raw(t, DType::I64)?;
    let (v, outer, r) = rows::<i64>(&t, dims)?;
    let row = |o: usize| v[o * r..(o + 1) * r].iter().copied();
    let out: Vec<i64> = match kind {
        Kind::Sum => (0..outer)
            .map(|o| row(o).fold(0i64, i64::wrapping_add))
            .collect(),
        Kind::Max | Kind::Min => {
            if r == 0 {
                bail!(
                    Index,
                    "amax/amin of an empty dimension: the operation has no identity"
                );
            }
            (0..outer)
                .map(|o| {
                    if kind == Kind::Max {
                        row(o).max().unwrap_or(0)
                    } else {
                        row(o).min().unwrap_or(0)
                    }
                })
                .collect()
        }
        other => bail!(
            DType,
            "{other:?} of an integer tensor: convert it to float first"
        ),
    };
    Tensor::from_vec(out, shape)
}

/// Index of the first maximum (or minimum) along dim `d` of `t` (NaN wins), into `shape`.
pub(super) fn arg_reduce(t: &Tensor, d: usize, shape: &[usize], max: bool) -> Result<Tensor> {
    // Integers compare as int64 (float64 would merge values past 2**53); floats in their own
    // dtype (half types as float32: widening keeps the order, and a copy costs more than the
    // comparisons).
    let idx = if t.dtype() == DType::F64 {
        float_arg_reduce::<f64>(t, d, max)?
    } else if t.dtype().is_float() {
        let wide = if t.dtype() == DType::F32 {
            t.clone()
        } else {
            cast_raw(t, DType::F32)?
        };
        float_arg_reduce::<f32>(&wide, d, max)?
    } else {
        let wide = cast_raw(t, DType::I64)?;
        let (v, outer, r) = rows::<i64>(&wide, &[d])?;
        best_in_rows(&v, outer, r, max, |_| false)?
    };
    Tensor::from_vec(idx, shape)
}

/// `arg_reduce` of a float tensor: over a contiguous tensor's inner dim the columns are scanned
/// in place (no transposed copy); otherwise the rows of the reduced dim.
fn float_arg_reduce<T: Float>(t: &Tensor, d: usize, max: bool) -> Result<Vec<i64>> {
    let shape = t.shape();
    let inner: usize = shape[d + 1..].iter().product();
    if t.is_contiguous() && inner > 1 {
        let (outer, r) = (shape[..d].iter().product::<usize>(), shape[d]);
        if r == 0 {
            bail!(Index, "argmax/argmin of an empty dimension");
        }
        let v = t.data::<T>()?;
        let mut out = vec![0i64; outer * inner];
        let mut best = vec![T::zero(); inner];
        for (o, block) in out.chunks_mut(inner).zip(v.chunks_exact(r * inner)) {
            best_in_columns(block, inner, max, &mut best, o);
        }
        return Ok(out);
    }
    let (v, outer, r) = rows::<T>(t, &[d])?;
    best_in_float_rows(&v, outer, r, max)
}

crate::multiversion!(fn best_in_columns<T>(block: &[T], inner: usize, max: bool, best: &mut [T], idx: &mut [i64]) where [T: Float] => best_in_columns_body);

/// For each column of `block` (rows of `inner`), the index of its first extremum (first NaN),
/// as branch-free selects over whole rows.
#[inline(always)]
fn best_in_columns_body<T: Float>(
    block: &[T],
    inner: usize,
    max: bool,
    best: &mut [T],
    idx: &mut [i64],
) {
    best.copy_from_slice(&block[..inner]);
    idx.iter_mut().for_each(|i| *i = 0);
    for (i, row) in block.chunks_exact(inner).enumerate().skip(1) {
        let i = i as i64;
        let zipped = best.iter_mut().zip(idx.iter_mut()).zip(row);
        if max {
            for ((b, k), &x) in zipped {
                let take = !b.is_nan() && (x.is_nan() || x > *b);
                *b = if take { x } else { *b };
                *k = if take { i } else { *k };
            }
        } else {
            for ((b, k), &x) in zipped {
                let take = !b.is_nan() && (x.is_nan() || x < *b);
                *b = if take { x } else { *b };
                *k = if take { i } else { *k };
            }
        }
    }
}

/// `best_in_rows` for floats in two vectorised passes: the row's extremum (NaN winning), then
/// the first element equal to it (or the first NaN). The one-pass compare-and-branch loop ran
/// at a few cycles an element.
fn best_in_float_rows<T: Float>(v: &[T], outer: usize, r: usize, max: bool) -> Result<Vec<i64>> {
    if r == 0 {
        bail!(Index, "argmax/argmin of an empty dimension");
    }
    if r < LANES {
        // (rows shorter than one vector: the single compare-and-branch pass is quicker)
        return best_in_rows(v, outer, r, max, T::is_nan);
    }
    Ok(per_row(v, (outer, r), 0, |x, o| {
        first_extreme_rows(x, r, max, o)
    }))
}

crate::multiversion!(fn first_extreme_rows<T>(v: &[T], r: usize, max: bool, out: &mut [i64]) where [T: Float] => first_extreme_rows_body);

#[inline(always)]
fn first_extreme_rows_body<T: Float>(v: &[T], r: usize, max: bool, out: &mut [i64]) {
    for (o, row) in out.iter_mut().zip(v.chunks_exact(r)) {
        let m = extreme_of(row, max);
        let hit = |x: T| if m.is_nan() { x.is_nan() } else { x == m };
        // Whole chunks are tested with branch-free ors, then the chunk that has it is searched.
        let mut base = 0;
        for c in row.chunks(LANES) {
            if c.iter().fold(false, |a, &x| a | hit(x)) {
                break;
            }
            base += c.len();
        }
        let at = row[base..].iter().position(|&x| hit(x)).unwrap_or(0);
        *o = (base + at) as i64;
    }
}

/// The index of the largest (`max`) or smallest value of each of `outer` rows of `r` values:
/// the first one on ties, the first NaN where there is one (as PyTorch).
fn best_in_rows<T: PartialOrd + Copy>(
    v: &[T],
    outer: usize,
    r: usize,
    max: bool,
    is_nan: impl Fn(T) -> bool,
) -> Result<Vec<i64>> {
    if r == 0 {
        bail!(Index, "argmax/argmin of an empty dimension");
    }
    Ok((0..outer)
        .map(|o| {
            let row = &v[o * r..(o + 1) * r];
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                let b = row[best];
                if is_nan(b) {
                    break;
                }
                if is_nan(x) || (max && x > b) || (!max && x < b) {
                    best = i;
                }
            }
            best as i64
        })
        .collect())
}
