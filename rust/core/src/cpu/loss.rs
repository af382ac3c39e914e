//! Softmax cross-entropy on the host in one pass per row: log-sum-exp, label smoothing, class
//! weights and `ignore_index`; the softmax is kept for the closed-form backward so it needs no
//! second `exp`. Rows run in parallel when the logits are big (a language model's vocabulary),
//! each at the CPU's SIMD level.

use super::softmax::{
    each_row, forward_block, forward_one, forward_short, lse_block, Lse, SHORT_GROUP, SHORT_ROW,
};
use crate::ops::copy::cast_raw;
use crate::ops::nn::loss::{CrossEntropySpec, Reduction};
use crate::ops::nn::{as_dtype, compute_input};
use crate::{bail, DType, Element, Float, Result, Tensor};

/// Logits above which the rows are split over the threads.
const PAR_ELEMS: usize = 1 << 15;

/// What the forward computes per row (`[n, c]` logits) or per column (`[n, c, s]`).
struct Rows<T> {
    lse: Vec<Lse<T>>,
    /// Per-row (per-column) weight of the target class (0 for ignored ones).
    wt: Vec<T>,
    /// The softmax, in the logits' shape, kept for the backward so it needs no `exp` (empty
    /// when no backward will run).
    probs: Vec<T>,
}

/// The labels as an int64 tensor, each checked against the `c` classes (`ignore_index`
/// allowed).
fn labels(target: &Tensor, c: usize, ignore_index: i64) -> Result<Tensor> {
    let labels = cast_raw(target, DType::I64)?;
    for &l in labels.data::<i64>()?.iter() {
        if l != ignore_index && (l < 0 || l >= c as i64) {
            bail!(Index, "target label {l} is out of bounds for {c} classes");
        }
    }
    Ok(labels)
}

/// The class weights in `dt` (ones without a weight tensor).
fn class_weights<T: Float>(weight: Option<&Tensor>, c: usize, dt: DType) -> Result<Vec<T>> {
    match weight {
        Some(w) => cast_raw(w, dt)?.to_vec::<T>(),
        None => Ok(vec![T::one(); c]),
    }
}

/// The loss (reduced as `spec` says) and what the backward reads: the softmax (of the
/// logits' shape), the per-row target weights, the mean's denominator (a float64 scalar) and
/// the checked int64 labels. Logits are `[n, c]` rows or `[n, c, s]` blocks with the classes
/// down the columns (an image's pixels, as PyTorch's `(N, C, H, W)`).
pub(crate) fn cross_entropy_forward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    spec: &CrossEntropySpec,
) -> Result<(Tensor, Vec<Tensor>)> {
    let c = x.shape()[1];
    let labels_t = labels(target, c, spec.ignore_index)?;
    let labels = labels_t.data::<i64>()?;
    let (xc, dt) = compute_input(x)?;
    let (out, saved) = crate::with_float!(dt, T => {
        let xd = xc.data::<T>()?;
        let wv: Vec<T> = class_weights(weight, c, dt)?;
        let (losses, rows) = match x.shape() {
            &[n, c, s] => column_losses(&xd, &labels, &wv, [n, c, s], spec),
            _ => row_losses(&xd, &labels, &wv, c, spec),
        };
        // Totals in float64: one float32 running sum over a segmentation map's 10^5-10^6
        // positions drifted by 1e-4.
        let denom = rows.wt.iter().fold(0.0, |a, &v| a + v.to_f64());
        let total = losses.iter().fold(0.0, |a, &v| a + v.to_f64());
        let loss_shape: Vec<usize> = [&x.shape()[..1], &x.shape()[2..]].concat();
        let out = match spec.reduction {
            Reduction::None => Tensor::from_vec(losses, &loss_shape)?,
            Reduction::Sum => Tensor::from_vec(vec![T::from_f64(total)], &[])?,
            Reduction::Mean => Tensor::from_vec(vec![T::from_f64(total / denom)], &[])?,
        };
        // (Nothing when no backward will run: the op records no node to read it.)
        let saved = if spec.keep_for_backward {
            vec![
                Tensor::from_vec(rows.probs, x.shape())?,
                Tensor::from_vec(rows.wt, &[loss_shape.iter().product()])?,
                Tensor::from_vec(vec![denom], &[])?,
                labels_t.clone(),
            ]
        } else {
            Vec::new()
        };
        (out, saved)
    });
    Ok((as_dtype(&out, x.dtype())?, saved))
}

/// Each row's loss `(1 - eps) * w_t * (lse - x_t) + eps / c * sum_j w_j * (lse - x_j)` over
/// logits `[n, c]` (0 for ignored rows), with the row statistics the backward keeps.
fn row_losses<T: Float>(
    xd: &[T],
    labels: &[i64],
    wv: &[T],
    c: usize,
    spec: &CrossEntropySpec,
) -> (Vec<T>, Rows<T>) {
    let eps = spec.smoothing;
    let rows = row_stats(xd, labels, wv, c, spec);
    let losses = (0..labels.len())
        .map(|i| {
            if labels[i] == spec.ignore_index {
                return T::zero();
            }
            let (r, l) = (&xd[i * c..(i + 1) * c], rows.lse[i]);
            let smooth = if eps > 0.0 {
                r.iter()
                    .zip(wv)
                    .fold(T::zero(), |a, (&v, &w)| a + w * l.nll(v))
            } else {
                T::zero()
            };
            mixed(rows.wt[i] * l.nll(r[labels[i] as usize]), smooth, eps, c)
        })
        .collect();
    (losses, rows)
}

/// `row_losses` over logits `[n, c, s]`: the softmax runs down the columns of each `[c, s]`
/// block (`forward_block`), so the logits are never permuted into rows (a copy that cost as
/// much as the loss itself for a segmentation map).
fn column_losses<T: Float>(
    xd: &[T],
    labels: &[i64],
    wv: &[T],
    [n, c, s]: [usize; 3],
    spec: &CrossEntropySpec,
) -> (Vec<T>, Rows<T>) {
    let (k, eps, ignore) = (c * s, spec.smoothing, spec.ignore_index);
    let mut lse = vec![Lse::empty(); n * s];
    let keep = spec.keep_for_backward;
    let mut probs = vec![T::zero(); if keep { n * k } else { 0 }];
    if k > 0 {
        let blocks: Vec<_> = lse
            .chunks_mut(s)
            .zip(outputs(&mut probs, k, n))
            .enumerate()
            .collect();
        let block = |(i, (l, p)): (usize, (&mut [Lse<T>], &mut [T]))| {
            let x = &xd[i * k..][..k];
            if keep {
                forward_block(x, p, s, false, l);
            } else {
                lse_block(x, s, l);
            }
        };
        if n * k >= PAR_ELEMS {
            crate::cpu::team::for_each_halves(blocks, block);
        } else {
            blocks.into_iter().for_each(block);
        }
    }
    // sum_j w_j * ((m - x_j) + ln_s) of each column, the block's rows read in order.
    let mut smooth = vec![T::zero(); if eps > 0.0 { n * s } else { 0 }];
    for (i, sm) in smooth.chunks_mut(s.max(1)).enumerate() {
        let l = &lse[i * s..(i + 1) * s];
        for (j, &w) in wv.iter().enumerate() {
            let xr = &xd[i * k + j * s..][..s];
            for ((a, &v), l) in sm.iter_mut().zip(xr).zip(l) {
                *a += w * l.nll(v);
            }
        }
    }
    let wt = target_weights(labels, wv, ignore);
    // (Block by block, not `pos / s` and `pos % s` per position: two integer divisions cost
    // as much as the rest of the loop.)
    let mut losses = vec![T::zero(); n * s];
    for (i, block) in losses.chunks_mut(s.max(1)).enumerate() {
        for (j, loss) in block.iter_mut().enumerate() {
            let pos = i * s + j;
            if labels[pos] != ignore {
                let xt = xd[i * k + labels[pos] as usize * s + j];
                let smooth = smooth.get(pos).copied().unwrap_or(T::zero());
                *loss = mixed(wt[pos] * lse[pos].nll(xt), smooth, eps, c);
            }
        }
    }
    (losses, Rows { lse, wt, probs })
}

/// A position's loss from its weighted NLL and its smoothing sum `sum_j w_j * nll_j`:
/// `(1 - eps) * nll + eps / c * smooth`.
fn mixed<T: Float>(nll: T, smooth: T, eps: f64, c: usize) -> T {
    T::from_f64(1.0 - eps) * nll + T::from_f64(eps / c as f64) * smooth
}

/// `log(p)` of the forward's saved softmax.
pub(crate) fn cross_entropy_log_probs(saved: &[&Tensor]) -> Result<Tensor> {
    match saved.first() {
        Some(p) => crate::ops::unary::unary_raw(p, crate::ops::unary::UnaryOp::Log),
        None => bail!(
            Value,
            "cross_entropy: the backward expects the forward's saved tensors"
        ),
    }
}

/// The closed-form gradient of the logits from the forward's saved softmax, row weights and
/// denominator, at the labels it checked (the target itself is not read again):
/// `scale * ((1 - eps) * w_t * (p - onehot) + eps / c * (wsum * p - w))`.
pub(crate) fn cross_entropy_backward(
    saved: &[&Tensor],
    _target: &Tensor,
    weight: Option<&Tensor>,
    spec: &CrossEntropySpec,
    g: &Tensor,
) -> Result<Tensor> {
    let [probs, row_wt, denom, labels] = saved else {
        bail!(
            Value,
            "cross_entropy: the backward expects the forward's 4 saved tensors"
        );
    };
    let (n, c) = (probs.shape()[0], probs.shape()[1]);
    let dt = probs.dtype();
    let labels = labels.data::<i64>()?;
    let g = as_dtype(g, dt)?;
    let eps = spec.smoothing;
    crate::with_float!(dt, T => {
        let (pd, rwt, gd) = (probs.data::<T>()?, row_wt.data::<T>()?, g.data::<T>()?);
        let wv: Vec<T> = class_weights(weight, c, dt)?;
        let wsum = wv.iter().fold(T::zero(), |a, &v| a + v);
        let denom = denom.item()?;
        let (a_eps, b) = (T::from_f64(1.0 - eps), T::from_f64(eps / c as f64));
        // Each row's (or column's) upstream gradient, 0 for an ignored one.
        let scale = |i: usize| {
            if labels[i] == spec.ignore_index {
                return T::zero();
            }
            match spec.reduction {
                Reduction::None => gd[i],
                Reduction::Sum => gd[0],
                Reduction::Mean => T::from_f64(gd[0].to_f64() / denom),
            }
        };
        if let &[_, _, s] = probs.shape() {
            // Per column: `a * p` (`ap * p - bs * w_j` with smoothing), less `a` at the label.
            let a: Vec<T> = (0..n * s).map(|i| scale(i) * a_eps * rwt[i]).collect();
            let bs: Vec<T> = (0..n * s).map(|i| scale(i) * b).collect();
            let ap: Vec<T> = a.iter().zip(&bs).map(|(&a, &bs)| a + bs * wsum).collect();
            let k = c * s;
            let dx = each_row(n * k, k, |i, d: &mut [T]| {
                let cols = i * s..(i + 1) * s;
                let (a, ap, bs) = (&a[cols.clone()], &ap[cols.clone()], &bs[cols.clone()]);
                for (j, (d, p)) in d.chunks_mut(s).zip(pd[i * k..][..k].chunks(s)).enumerate() {
                    if eps > 0.0 {
                        smooth_cols(d, p, ap, bs, wv[j]);
                    } else {
                        scale_cols(d, p, a);
                    }
                }
                for (j, &l) in labels[cols].iter().enumerate() {
                    if l != spec.ignore_index {
                        d[l as usize * s + j] -= a[j];
                    }
                }
            });
            return Tensor::from_vec(dx, probs.shape());
        }
        let dx = each_row(n * c, c, |i, d: &mut [T]| {
            // (An ignored row's scale is 0: its gradient is 0, NaN where its logits are not
            // finite, as PyTorch's and the columns' above.)
            let scale = scale(i);
            let a = scale * a_eps * rwt[i];
            let prow = &pd[i * c..(i + 1) * c];
            if eps > 0.0 {
                let (bs, bw) = (scale * b, scale * b * wsum);
                backward_smooth(d, prow, &wv, a + bw, bs);
            } else {
                backward_plain(d, prow, a);
            }
            if labels[i] != spec.ignore_index {
                d[labels[i] as usize] -= a;
            }
        });
        Tensor::from_vec(dx, &[n, c])
    })
}

/// `scale[i] * (exp(lp[i]) - onehot(labels[i]))` per row (see the backend interface): the
/// dense one-hot gradient and `log_softmax`'s backward in one pass over the rows.
pub(crate) fn log_softmax_nll_backward(
    lp: &Tensor,
    labels: &Tensor,
    scale: &Tensor,
) -> Result<Tensor> {
    let (n, c) = (lp.shape()[0], lp.shape()[1]);
    let labels = cast_raw(labels, DType::I64)?;
    let labels = labels.data::<i64>()?;
    let (lpc, dt) = compute_input(lp)?;
    let dx = crate::with_float!(dt, T => {
        let (ld, sd) = (lpc.data::<T>()?, as_dtype(scale, dt)?.to_vec::<T>()?);
        let dx = each_row(n * c, c, |i, d: &mut [T]| {
            exp_scaled(d, &ld[i * c..(i + 1) * c], sd[i]);
            if let Some(d) = usize::try_from(labels[i]).ok().and_then(|l| d.get_mut(l)) {
                *d -= sd[i];
            }
        });
        Tensor::from_vec(dx, &[n, c])?
    });
    as_dtype(&dx, lp.dtype())
}

/// `d = a * exp(lp)` over a row.
#[inline(always)]
fn exp_scaled_body<T: Float>(d: &mut [T], lp: &[T], a: T) {
    for (d, &v) in d.iter_mut().zip(lp) {
        *d = a * v.exp();
    }
}

crate::multiversion!(fn exp_scaled<T>(d: &mut [T], lp: &[T], a: T) where [T: Float] => exp_scaled_body);

/// `d = a * p` over a row.
#[inline(always)]
fn backward_plain_body<T: Float>(d: &mut [T], p: &[T], a: T) {
    for (d, &p) in d.iter_mut().zip(p) {
        *d = a * p;
    }
}

/// `d = ap * p - bs * w` over a row (label smoothing with class weights `w`).
#[inline(always)]
fn backward_smooth_body<T: Float>(d: &mut [T], p: &[T], w: &[T], ap: T, bs: T) {
    for ((d, &p), &w) in d.iter_mut().zip(p).zip(w) {
        *d = ap * p - bs * w;
    }
}

/// `d = a * p` elementwise (a column-laid-out gradient: one scale per column).
#[inline(always)]
fn scale_cols_body<T: Float>(d: &mut [T], p: &[T], a: &[T]) {
    for ((d, &p), &a) in d.iter_mut().zip(p).zip(a) {
        *d = a * p;
    }
}

/// `d = ap * p - bs * w` elementwise, `w` the row's class weight (label smoothing by column).
#[inline(always)]
fn smooth_cols_body<T: Float>(d: &mut [T], p: &[T], ap: &[T], bs: &[T], w: T) {
    for (((d, &p), &ap), &bs) in d.iter_mut().zip(p).zip(ap).zip(bs) {
        *d = ap * p - bs * w;
    }
}

crate::multiversion!(fn backward_plain<T>(d: &mut [T], p: &[T], a: T) where [T: Float] => backward_plain_body);
crate::multiversion!(fn scale_cols<T>(d: &mut [T], p: &[T], a: &[T]) where [T: Float] => scale_cols_body);
crate::multiversion!(fn smooth_cols<T>(d: &mut [T], p: &[T], ap: &[T], bs: &[T], w: T) where [T: Float] => smooth_cols_body);
crate::multiversion!(fn backward_smooth<T>(d: &mut [T], p: &[T], w: &[T], ap: T, bs: T) where [T: Float] => backward_smooth_body);

/// Each row's log-sum-exp (and softmax, where the backward will read it) over logits
/// `[n, c]`: short rows (few classes) sixteen at a time, one per vector lane, in groups of
/// `SHORT_GROUP`; long ones one at a time, in runs of about `PAR_ELEMS / 4` logits a task.
fn row_stats<T: Float>(
    xd: &[T],
    labels: &[i64],
    wv: &[T],
    c: usize,
    spec: &CrossEntropySpec,
) -> Rows<T> {
    let (n, keep) = (labels.len(), spec.keep_for_backward);
    let mut lse = vec![Lse::empty(); n];
    let mut probs = vec![T::zero(); if keep { n * c } else { 0 }];
    // No classes: every log-sum-exp stays -inf (an empty sum), as `Lse::empty` has it.
    if c > 0 {
        let short = c <= SHORT_ROW;
        let per = if short {
            SHORT_GROUP
        } else {
            (PAR_ELEMS / 4 / c).max(1)
        };
        let tasks: Vec<_> = lse
            .chunks_mut(per)
            .zip(outputs(&mut probs, per * c, n.div_ceil(per)))
            .enumerate()
            .collect();
        let task = |(g, (l, p)): (usize, (&mut [Lse<T>], &mut [T]))| {
            let x = &xd[g * per * c..][..l.len() * c];
            let mut scratch = Vec::new();
            if short {
                forward_short(x, or_scratch(p, &mut scratch, x.len()), c, false, l);
                return;
            }
            // Without a kept softmax, one scratch row serves the task's rows in turn.
            let p = or_scratch(p, &mut scratch, c);
            for (i, l) in l.iter_mut().enumerate() {
                let out = if keep {
                    &mut p[i * c..][..c]
                } else {
                    &mut p[..]
                };
                *l = forward_one(&x[i * c..][..c], out, false);
            }
        };
        if n * c >= PAR_ELEMS {
            crate::cpu::team::for_each_halves(tasks, task);
        } else {
            tasks.into_iter().for_each(task);
        }
    }
    let wt = target_weights(labels, wv, spec.ignore_index);
    Rows { lse, wt, probs }
}

/// `tasks` output chunks of `probs`, `len` long, or as many empty ones when it is empty (no
/// softmax kept).
fn outputs<T>(probs: &mut [T], len: usize, tasks: usize) -> Vec<&mut [T]> {
    if probs.is_empty() {
        (0..tasks).map(|_| <&mut [T]>::default()).collect()
    } else {
        probs.chunks_mut(len).collect()
    }
}

/// `out`, or (when it is empty: no softmax kept) a scratch buffer of `len`.
fn or_scratch<'a, T: Float>(out: &'a mut [T], scratch: &'a mut Vec<T>, len: usize) -> &'a mut [T] {
    if out.is_empty() {
        scratch.resize(len, T::zero());
        scratch
    } else {
        out
    }
}

/// Each row's (or column's) target class weight, 0 where the target is ignored.
fn target_weights<T: Float>(labels: &[i64], wv: &[T], ignore: i64) -> Vec<T> {
    let weight = |&l: &i64| {
        if l == ignore {
            T::zero()
        } else {
            wv[l as usize]
        }
    };
    labels.iter().map(weight).collect()
}
