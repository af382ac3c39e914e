//! Softmax cross-entropy over class indices as one fused op: the argument checks and the
//! backward recorded once; `cross_entropy_forward`/`_backward` primitives per backend do the
//! log-sum-exp, label smoothing, class weights and `ignore_index` and the closed-form gradient.

use super::as_dtype;
use crate::autograd::{grads_by_recompute, record_differentiable, History, Saved};
use crate::{bail, Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

/// Cross-entropy's options, as the backends' primitives read them.
#[derive(Debug, Clone, Copy)]
pub struct CrossEntropySpec {
    pub ignore_index: i64,
    pub reduction: Reduction,
    /// Label smoothing in `[0, 1]`.
    pub smoothing: f64,
    /// Whether the backward will run, so the forward must keep what it reads (the softmax, on
    /// the CPU): an evaluation loss under `no_grad` over a language model's logits would
    /// otherwise allocate a second copy of them.
    pub keep_for_backward: bool,
}

impl Tensor {
    /// `cross_entropy(logits [N, C], target [N] int)`, PyTorch's semantics, or over
    /// `[N, C, S]` logits with targets `[N, S]` (an image's pixels, flattened: the classes stay
    /// down dim 1 as in PyTorch's `(N, C, H, W)`). An out-of-range label raises `Index` naming
    /// it.
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
        if let Some(y) = crate::amp::in_f32(self, |x| {
            x.cross_entropy(target, weight, ignore_index, reduction, label_smoothing)
        }) {
            return y;
        }
        check_cross_entropy(self, target, weight, label_smoothing)?;
        let spec = CrossEntropySpec {
            ignore_index,
            reduction,
            smoothing: label_smoothing,
            keep_for_backward: crate::autograd::is_grad_enabled() && self.requires_grad(),
        };
        let backend = crate::backend::of(self);
        let (x, target) = (self.detach(), target.detach());
        let weight = weight.map(Tensor::detach);
        let (out, saved) = backend.cross_entropy_forward(&x, &target, weight.as_ref(), &spec)?;
        // What the backward reads (the logits themselves on some backends, the weights and
        // labels on all) stays behind saved-tensor version checks, as in every op.
        let saved: Vec<Saved> = saved.iter().map(Saved::new).collect::<Result<_>>()?;
        let (ts, ws) = (
            Saved::new(&target)?,
            weight.as_ref().map(Saved::new).transpose()?,
        );
        drop((x, target, weight));
        let in_dt = self.dtype();
        let logits = History::of(self);
        Ok(record_differentiable(
            out,
            "CrossEntropyLossBackward",
            &[self],
            move |g| {
                let saved = saved.iter().map(Saved::get).collect::<Result<Vec<_>>>()?;
                let w = ws.as_ref().map(Saved::get).transpose()?;
                if crate::autograd::is_grad_enabled() {
                    // `create_graph=True`: the loss again in recorded ops. Log-probabilities stand
                    // in for the logits (attached to their history): the loss depends on the
                    // logits only through their softmax, which a shift per row does not change.
                    let z = logits.attach(&backend.cross_entropy_log_probs(&saved)?);
                    if z.shape()[1] == 0 {
                        // No classes: nothing to pick, and nothing to differentiate.
                        return Ok(vec![Some(z.detach().zeros_like()?.to_dtype(in_dt)?)]);
                    }
                    let (t, spec) = (ts.get()?, spec);
                    let composite = |x: &[Tensor]| {
                        let (rows, labels) = as_rows(&x[0], t)?;
                        let loss = class_loss(&rows.log_softmax(-1)?, &labels, w, &spec)?;
                        match spec.reduction {
                            Reduction::None => {
                                let shape: Vec<isize> =
                                    t.shape().iter().map(|&d| d as isize).collect();
                                loss.reshape(&shape)
                            }
                            _ => Ok(loss),
                        }
                    };
                    let z = vec![z];
                    let mut grads = grads_by_recompute(&z, g, composite)?;
                    // In the logits' dtype (the recompute ran on float32 log-probabilities).
                    return Ok(vec![grads
                        .remove(0)
                        .map(|d| d.to_dtype(in_dt))
                        .transpose()?]);
                }
                let dx = backend.cross_entropy_backward(&saved, ts.get()?, w, &spec, g)?;
                Ok(vec![Some(as_dtype(&dx, in_dt)?)])
            },
        ))
    }
}

/// Logits `[N, C, S]` and their targets `[N, S]` as rows `[N * S, C]` and labels `[N * S]`
/// (a copy; only the recorded double-backward path takes it); `[N, C]` logits as they are.
fn as_rows(x: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor)> {
    match x.shape() {
        &[n, c, s] => Ok((
            // (Explicit sizes: `-1` cannot be inferred when `c` is 0.)
            x.permute(&[0, 2, 1])?
                .reshape(&[(n * s) as isize, c as isize])?,
            target.reshape(&[(n * s) as isize])?,
        )),
        _ => Ok((x.clone(), target.clone())),
    }
}

/// Cross-entropy's argument checks: logits `[N, C]` (or `[N, C, S]`), integer targets `[N]`
/// (`[N, S]`), class weights `[C]` and a label smoothing in `[0, 1]`.
fn check_cross_entropy(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    label_smoothing: f64,
) -> Result<()> {
    check_class_inputs("cross_entropy", "logits", x, target, weight, true)?;
    if !(0.0..=1.0).contains(&label_smoothing) {
        bail!(
            Value,
            "label_smoothing must be in [0, 1], got {label_smoothing}"
        );
    }
    Ok(())
}

/// The checks every loss over class indices shares (`cross_entropy`, `nll_loss`): scores
/// `[N, C]` (`what` names them in messages; `[N, C, S]` too where `columns`), integer targets
/// of the scores' shape without `C` and class weights `[C]`.
pub(super) fn check_class_inputs(
    op: &str,
    what: &str,
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    columns: bool,
) -> Result<()> {
    match x.ndim() {
        2 => {}
        3 if columns => {}
        _ if columns => bail!(
            Shape,
            "{op}: expected {what} [N, C] or [N, C, S], got {:?}",
            x.shape()
        ),
        _ => bail!(Shape, "{op}: expected {what} [N, C], got {:?}", x.shape()),
    }
    if !target.dtype().is_int() {
        bail!(
            DType,
            "{op}: expected integer class indices, got {}",
            target.dtype()
        );
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let want: Vec<usize> = [&[n], &x.shape()[2..]].concat();
    if target.shape() != want {
        let msg = format!(
            "{op}: target shape {:?} does not match {what} {:?} (expected {want:?})",
            target.shape(),
            x.shape(),
        );
        return Err(crate::Error::shape_mismatch(op, &[x, target], msg));
    }
    match weight {
        Some(w) if w.shape() != [c] => {
            let msg = format!(
                "{op}: weight shape {:?} does not match {c} classes",
                w.shape()
            );
            Err(crate::Error::shape_mismatch(op, &[x, target, w], msg))
        }
        _ => Ok(()),
    }
}

/// Cross-entropy (or, with `smoothing` 0, `nll_loss`) from log-probabilities `lp` `[n, c]` in
/// recorded ops, with the fused kernels' semantics: class weights, rows whose label is
/// `ignore_index` contribute nothing, label smoothing spreads `smoothing` over the classes,
/// and the mean divides by the summed weights of the counted rows.
pub(crate) fn class_loss(
    lp: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    spec: &CrossEntropySpec,
) -> Result<Tensor> {
    use crate::DType;
    let c = lp.shape()[1];
    let target = target.to_dtype(DType::I64)?;
    let counted = target.ne(&Tensor::wrapped_scalar(spec.ignore_index))?;
    let safe = Tensor::where_(&counted, &target, &Tensor::wrapped_scalar(0i64))?;
    let on = counted.to_dtype(lp.dtype())?;
    let row_w = match weight {
        Some(w) => w.to_dtype(lp.dtype())?.index_select(0, &safe)?.mul(&on)?,
        None => on.clone(),
    };
    let picked = lp.gather(1, &safe.unsqueeze(1)?)?.squeeze(Some(1))?;
    let mut rows = picked
        .mul(&row_w)?
        .neg()?
        .mul_scalar(1.0 - spec.smoothing)?;
    if spec.smoothing > 0.0 {
        let weighted = match weight {
            Some(w) => lp.mul(&w.to_dtype(lp.dtype())?)?,
            None => lp.clone(),
        };
        let smooth = weighted.sum(Some(&[1]), false)?.neg()?.mul(&on)?;
        rows = rows.add(&smooth.mul_scalar(spec.smoothing / c as f64)?)?;
    }
    match spec.reduction {
        Reduction::None => Ok(rows),
        Reduction::Sum => rows.sum(None, false),
        Reduction::Mean => {
            // No target counted: the fused forward's mean is NaN (0 / 0) and its gradient 0,
            // as PyTorch's; a denominator of 1 gives that gradient here (the rows are all 0).
            // Counted targets whose weights sum to 0 keep the division (NaN, as PyTorch's).
            let denom = row_w.sum(None, false)?;
            let none = on.sum(None, false)?.eq(&Tensor::wrapped_scalar(0.0))?;
            rows.sum(None, false)?.div(&denom.masked_fill(&none, 1.0)?)
        }
    }
}
