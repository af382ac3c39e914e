//! Softmax cross-entropy over class indices as one fused op: the argument checks and the
//! backward recorded once; `cross_entropy_forward`/`_backward` primitives per backend do the
//! log-sum-exp, label smoothing, class weights and `ignore_index` and the closed-form gradient.

use super::as_dtype;
use crate::autograd::{record, Saved};
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
        };
        let backend = crate::backend::of(self);
        let (x, target) = (self.detach(), target.detach());
        let weight = weight.map(Tensor::detach);
        let (out, saved) = backend.cross_entropy_forward(&x, &target, weight.as_ref(), &spec)?;
        // What the backward reads (the logits themselves on some backends, the weights and
        // labels on all) stays behind saved-tensor version checks, as in every op.
        let saved: Vec<Saved> = saved.iter().map(Saved::new).collect();
        let (ts, ws) = (Saved::new(&target), weight.as_ref().map(Saved::new));
        drop((x, target, weight));
        let in_dt = self.dtype();
        Ok(record(out, "CrossEntropyLossBackward", &[self], move |g| {
            let saved = saved.iter().map(Saved::get).collect::<Result<Vec<_>>>()?;
            let w = ws.as_ref().map(Saved::get).transpose()?;
            let dx = backend.cross_entropy_backward(&saved, ts.get()?, w, &spec, g)?;
            Ok(vec![Some(as_dtype(&dx, in_dt)?)])
        }))
    }
}

/// Cross-entropy's argument checks: logits `[N, C]`, integer targets `[N]`, class weights
/// `[C]` and a label smoothing in `[0, 1]`.
fn check_cross_entropy(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    label_smoothing: f64,
) -> Result<()> {
    check_class_inputs("cross_entropy", "logits", x, target, weight)?;
    if !(0.0..=1.0).contains(&label_smoothing) {
        bail!(
            Value,
            "label_smoothing must be in [0, 1], got {label_smoothing}"
        );
    }
    Ok(())
}

/// The checks every loss over class indices shares (`cross_entropy`, `nll_loss`): scores
/// `[N, C]` (`what` names them in messages), integer targets `[N]` and class weights `[C]`.
pub(super) fn check_class_inputs(
    op: &str,
    what: &str,
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
) -> Result<()> {
    if x.ndim() != 2 {
        bail!(Shape, "{op}: expected {what} [N, C], got {:?}", x.shape());
    }
    if !target.dtype().is_int() {
        bail!(
            DType,
            "{op}: expected integer class indices, got {}",
            target.dtype()
        );
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    if target.shape() != [n] {
        let msg = format!(
            "{op}: target shape {:?} does not match {what} {:?} (expected [{n}])",
            target.shape(),
            x.shape(),
        );
        return Err(crate::Error::shape_mismatch(op, &[x, target], msg));
    }
    crate::ops::check_vector(weight, &format!("{op}: weight"), c, "classes")
}
