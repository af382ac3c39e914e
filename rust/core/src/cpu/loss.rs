//! Softmax cross-entropy on the host in one pass per row: log-sum-exp, label smoothing, class
//! weights and `ignore_index`; the softmax is kept for the closed-form backward so it needs no
//! second `exp`. Rows run in parallel when the logits are big (a language model's vocabulary),
//! each at the CPU's SIMD level.

use super::softmax::{each_row, forward_one, forward_short, SHORT_GROUP, SHORT_ROW};
use crate::ops::copy::cast_raw;
use crate::ops::nn::loss::{CrossEntropySpec, Reduction};
use crate::ops::nn::{as_dtype, compute_input};
use crate::{bail, DType, Element, Float, Result, Tensor};

/// Logits above which the rows are split over the threads.
const PAR_ELEMS: usize = 1 << 15;

struct Rows<T> {
    lse: Vec<T>,
    /// Per-row weight of the target class (0 for ignored rows).
    wt: Vec<T>,
    /// Softmax of every row (`[n, c]`), kept for the backward so it needs no `exp`.
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

/// The loss (reduced as `spec` says) and what the backward reads: the softmax `[n, c]`, the
/// per-row target weights `[n]`, the mean's denominator (a float64 scalar) and the checked
/// int64 labels.
pub(crate) fn cross_entropy_forward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    spec: &CrossEntropySpec,
) -> Result<(Tensor, Vec<Tensor>)> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let labels_t = labels(target, c, spec.ignore_index)?;
    let labels = labels_t.data::<i64>()?;
    let (xc, dt) = compute_input(x)?;
    let eps = spec.smoothing;
    let (out, saved) = crate::with_float!(dt, T => {
        let xd = xc.data::<T>()?;
        let wv: Vec<T> = class_weights(weight, c, dt)?;
        let rows = row_stats(&xd, &labels, &wv, c, spec.ignore_index);
        let mut losses = Vec::with_capacity(n);
        for i in 0..n {
            if rows.wt[i] == T::zero() && labels[i] == spec.ignore_index {
                losses.push(T::zero());
                continue;
            }
            let r = &xd[i * c..(i + 1) * c];
            let t = labels[i] as usize;
            let nll = rows.wt[i] * (rows.lse[i] - r[t]);
            let smooth = if eps > 0.0 {
                r.iter().zip(&wv).fold(T::zero(), |a, (&v, &w)| a + w * (rows.lse[i] - v))
            } else {
                T::zero()
            };
            losses.push(T::from_f64(1.0 - eps) * nll + T::from_f64(eps / c as f64) * smooth);
        }
        let denom = rows.wt.iter().fold(T::zero(), |a, &v| a + v);
        let total = losses.iter().fold(T::zero(), |a, &v| a + v);
        let out = match spec.reduction {
            Reduction::None => Tensor::from_vec(losses, &[n])?,
            Reduction::Sum => Tensor::from_vec(vec![total], &[])?,
            Reduction::Mean => Tensor::from_vec(vec![total / denom], &[])?,
        };
        let saved = vec![
            Tensor::from_vec(rows.probs, &[n, c])?,
            Tensor::from_vec(rows.wt, &[n])?,
            Tensor::from_vec(vec![denom.to_f64()], &[])?,
            labels_t.clone(),
        ];
        (out, saved)
    });
    Ok((as_dtype(&out, x.dtype())?, saved))
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
        let denom = T::from_f64(denom.item()?);
        let (a_eps, b) = (T::from_f64(1.0 - eps), T::from_f64(eps / c as f64));
        let dx = each_row(n * c, c, |i, d: &mut [T]| {
            if labels[i] == spec.ignore_index {
                return;
            }
            let scale = match spec.reduction {
                Reduction::None => gd[i],
                Reduction::Sum => gd[0],
                Reduction::Mean => gd[0] / denom,
            };
            let a = scale * a_eps * rwt[i];
            let prow = &pd[i * c..(i + 1) * c];
            if eps > 0.0 {
                let (bs, bw) = (scale * b, scale * b * wsum);
                backward_smooth(d, prow, &wv, a + bw, bs);
            } else {
                backward_plain(d, prow, a);
            }
            d[labels[i] as usize] -= a;
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

crate::multiversion!(fn backward_plain<T>(d: &mut [T], p: &[T], a: T) where [T: Float] => backward_plain_body);
crate::multiversion!(fn backward_smooth<T>(d: &mut [T], p: &[T], w: &[T], ap: T, bs: T) where [T: Float] => backward_smooth_body);

/// Per-row log-sum-exp, target weight and softmax, the rows in parallel when big.
fn row_stats<T: Float>(xd: &[T], labels: &[i64], wv: &[T], c: usize, ignore: i64) -> Rows<T> {
    let n = labels.len();
    let mut lse = vec![T::zero(); n];
    let mut probs = vec![T::zero(); n * c];
    let row = |(i, (p, l)): (usize, (&mut [T], &mut T))| {
        *l = forward_one(&xd[i * c..(i + 1) * c], p, false);
    };
    // Short rows (few classes) sixteen at a time, one per vector lane.
    let group = |(g, (p, l)): (usize, (&mut [T], &mut [T]))| {
        let k = SHORT_GROUP * c;
        forward_short(&xd[g * k..][..p.len()], p, c, false, l);
    };
    if (1..=SHORT_ROW).contains(&c) {
        let groups: Vec<_> = probs
            .chunks_mut(SHORT_GROUP * c)
            .zip(lse.chunks_mut(SHORT_GROUP))
            .enumerate()
            .collect();
        if n * c >= PAR_ELEMS {
            crate::cpu::team::for_each_halves(groups, group);
        } else {
            groups.into_iter().for_each(group);
        }
    } else if c == 0 {
        // No classes: every log-sum-exp is -inf (an empty sum).
        lse.iter_mut().for_each(|l| *l = T::NEG_INF);
    } else if n * c >= PAR_ELEMS {
        let rows: Vec<_> = probs
            .chunks_mut(c)
            .zip(lse.iter_mut())
            .enumerate()
            .collect();
        crate::cpu::team::for_each_halves(rows, row);
    } else {
        probs
            .chunks_mut(c)
            .zip(lse.iter_mut())
            .enumerate()
            .for_each(row);
    }
    let wt = labels
        .iter()
        .map(|&l| {
            if l == ignore {
                T::zero()
            } else {
                wv[l as usize]
            }
        })
        .collect();
    Rows { lse, wt, probs }
}
