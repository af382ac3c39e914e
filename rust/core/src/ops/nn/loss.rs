//! Softmax cross-entropy over class indices in one fused kernel: log-sum-exp, label smoothing,
//! class weights and `ignore_index` forward, and the closed-form gradient backward.

use super::{as_dtype, compute_input};
use crate::autograd::{record, Saved};
use crate::ops::copy::cast_raw;
use crate::{bail, DType, Element, Float, Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

struct Rows<T> {
    lse: Vec<T>,
    /// Per-row weight of the target class (0 for ignored rows).
    wt: Vec<T>,
    /// Softmax of every row (`[n, c]`), kept for the backward so it needs no `exp`.
    probs: Vec<T>,
}

impl Tensor {
    /// `cross_entropy(logits [N, C], target [N] int)`, PyTorch's semantics. An out-of-range
    /// label raises `Index` naming it.
    pub fn cross_entropy(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        ignore_index: i64,
        reduction: Reduction,
        label_smoothing: f64,
    ) -> Result<Tensor> {
        if !self.dtype().is_float() {
            bail!(
                DType,
                "cross_entropy expects floating point logits, got {} (convert with .float())",
                self.dtype()
            );
        }
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.cross_entropy(target, weight, ignore_index, reduction, label_smoothing);
        }
        if self.ndim() != 2 {
            bail!(
                Shape,
                "cross_entropy: expected logits [N, C], got {:?}",
                self.shape()
            );
        }
        if !target.dtype().is_int() {
            bail!(
                DType,
                "cross_entropy: expected integer class indices, got {}",
                target.dtype()
            );
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        if target.shape() != [n] {
            bail!(
                Shape,
                "cross_entropy: target shape {:?} does not match logits {:?} (expected [{}])",
                target.shape(),
                self.shape(),
                n
            );
        }
        if let Some(w) = weight {
            if w.shape() != [c] {
                bail!(
                    Shape,
                    "cross_entropy: weight shape {:?} does not match {} classes",
                    w.shape(),
                    c
                );
            }
        }
        if !(0.0..=1.0).contains(&label_smoothing) {
            bail!(
                Value,
                "label_smoothing must be in [0, 1], got {label_smoothing}"
            );
        }
        if self.device().is_cuda() {
            return cross_entropy_cuda(
                self,
                target,
                weight,
                ignore_index,
                reduction,
                label_smoothing,
            );
        }
        let labels = cast_raw(target, DType::I64)?.to_vec::<i64>()?;
        for &l in &labels {
            if l != ignore_index && (l < 0 || l >= c as i64) {
                bail!(Index, "target label {l} is out of bounds for {c} classes");
            }
        }
        let (x, dt) = compute_input(self)?;
        let eps = label_smoothing;
        let (out, wsum_all, saved) = crate::with_float!(dt, T => {
            let xd = x.data::<T>()?;
            let wv: Vec<T> = match weight { Some(w) => cast_raw(w, dt)?.to_vec::<T>()?, None => vec![T::one(); c] };
            let wsum = wv.iter().fold(T::zero(), |a, &v| a + v);
            let rows = row_stats(&xd, &labels, &wv, c, ignore_index);
            let mut losses = Vec::with_capacity(n);
            for i in 0..n {
                if rows.wt[i] == T::zero() && labels[i] == ignore_index {
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
            let out = match reduction {
                Reduction::None => Tensor::from_vec(losses, &[n])?,
                Reduction::Sum => Tensor::from_vec(vec![total], &[])?,
                Reduction::Mean => Tensor::from_vec(vec![total / denom], &[])?,
            };
            let saved = (Tensor::from_vec(rows.probs, &[n, c])?, Tensor::from_vec(rows.wt, &[n])?);
            (out, (wsum.to_f64(), denom.to_f64()), saved)
        });
        let out = as_dtype(&out, self.dtype())?;
        let (probs, row_wt) = saved;
        let wt = weight.map(Saved::new);
        let in_dt = self.dtype();
        Ok(record(out, "CrossEntropyLossBackward", &[self], move |g| {
            let g = as_dtype(g, dt)?;
            let dx = crate::with_float!(dt, T => {
                let (pd, rwt, gd) = (probs.data::<T>()?, row_wt.data::<T>()?, g.data::<T>()?);
                let wv: Vec<T> = match &wt { Some(w) => cast_raw(w.get()?, dt)?.to_vec::<T>()?, None => vec![T::one(); c] };
                let (wsum, denom) = (T::from_f64(wsum_all.0), T::from_f64(wsum_all.1));
                let mut dx = vec![T::zero(); n * c];
                for i in 0..n {
                    if labels[i] == ignore_index {
                        continue;
                    }
                    let scale = match reduction {
                        Reduction::None => gd[i],
                        Reduction::Sum => gd[0],
                        Reduction::Mean => gd[0] / denom,
                    };
                    let prow = &pd[i * c..(i + 1) * c];
                    let t = labels[i] as usize;
                    let a = T::from_f64(1.0 - eps) * rwt[i];
                    let b = T::from_f64(eps / c as f64);
                    for (j, &p) in prow.iter().enumerate() {
                        let mut d = a * p + b * (wsum * p - wv[j]);
                        if j == t {
                            d -= a;
                        }
                        dx[i * c + j] = scale * d;
                    }
                }
                Tensor::from_vec(dx, &[n, c])?
            });
            Ok(vec![Some(as_dtype(&dx, in_dt)?)])
        }))
    }
}

/// The CUDA form: the per-row losses and target weights come from one kernel, the reduction
/// stays on the device, and the backward kernel takes the upstream gradient as a device scalar.
fn cross_entropy_cuda(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    reduction: Reduction,
    eps: f64,
) -> Result<Tensor> {
    use crate::cuda::ops::reduce::{cross_entropy_backward_rows, cross_entropy_rows};
    let xd = x.detach();
    let wt = weight.map(|w| w.detach());
    let (losses, row_w) = cross_entropy_rows(&xd, target, wt.as_ref(), ignore_index, eps)?;
    let denom = match reduction {
        Reduction::Mean => Some(row_w.sum(None, false)?),
        _ => None,
    };
    let out = match reduction {
        Reduction::None => losses,
        Reduction::Sum => losses.sum(None, false)?,
        Reduction::Mean => losses
            .sum(None, false)?
            .div(denom.as_ref().expect("mean"))?,
    };
    let target = target.detach();
    // The backward reads the logits and weights again: behind version checks, as every op.
    let (xs, ws) = (Saved::new(&xd), wt.as_ref().map(Saved::new));
    drop((xd, wt));
    Ok(record(out, "CrossEntropyLossBackward", &[x], move |g| {
        let (xd, wt) = (xs.get()?, ws.as_ref().map(Saved::get).transpose()?);
        let (g, stride) = match (&reduction, &denom) {
            (Reduction::None, _) => (g.clone(), 1),
            (Reduction::Mean, Some(d)) => (g.div(d)?, 0),
            _ => (g.clone(), 0),
        };
        let dx = cross_entropy_backward_rows(xd, &target, wt, ignore_index, eps, &g, stride, 1.0)?;
        Ok(vec![Some(dx)])
    }))
}

fn row_stats<T: Float>(xd: &[T], labels: &[i64], wv: &[T], c: usize, ignore: i64) -> Rows<T> {
    let n = labels.len();
    let mut lse = Vec::with_capacity(n);
    let mut wt = Vec::with_capacity(n);
    let mut probs = vec![T::zero(); n * c];
    for i in 0..n {
        let r = &xd[i * c..(i + 1) * c];
        let p = &mut probs[i * c..(i + 1) * c];
        let m = r.iter().fold(T::NEG_INF, |a, &v| if v > a { v } else { a });
        let m = if m == T::NEG_INF { T::zero() } else { m };
        let mut sum = T::zero();
        for (e, &v) in p.iter_mut().zip(r) {
            *e = (v - m).exp();
            sum += *e;
        }
        let inv = T::one() / sum;
        p.iter_mut().for_each(|e| *e *= inv);
        lse.push(m + sum.ln());
        wt.push(if labels[i] == ignore {
            T::zero()
        } else {
            wv[labels[i] as usize]
        });
    }
    Rows { lse, wt, probs }
}
