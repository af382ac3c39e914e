//! Negative log-likelihood of log-probabilities `[N, C]` at class indices, PyTorch's
//! `nll_loss`. When the log-probabilities are `log_softmax`'s output and nothing else observes
//! their gradient, the backward goes straight to the logits as `scale * (exp(lp) - onehot)`:
//! one pass over the rows instead of a dense one-hot gradient, a scatter and `log_softmax`'s
//! own backward (over a language model's `[tokens, vocabulary]` rows, most of the loss's cost).

use super::loss::Reduction;
use crate::autograd::{capturing, edge_of, record_edges, Edge, Node, Provenance, Saved};
use crate::{bail, DType, Device, Result, Tensor};
use std::sync::Arc;

impl Tensor {
    /// `nll_loss(log-probabilities [N, C], target [N] int)` with class `weight`s,
    /// `ignore_index` and `reduction`. An out-of-range label raises `Index` naming it.
    pub fn nll_loss(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        ignore_index: i64,
        reduction: Reduction,
    ) -> Result<Tensor> {
        check_nll(self, target, weight)?;
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let labels = host_labels(target, c, ignore_index)?;
        let dev = self.device();
        // An ignored row reads class 0 (its weight is 0): its label may be any value, even >= C.
        let safe: Vec<i64> = labels
            .iter()
            .map(|&l| if l == ignore_index { 0 } else { l })
            .collect();
        let valid: Vec<f64> = labels
            .iter()
            .map(|&l| f64::from(u8::from(l != ignore_index)))
            .collect();
        let safe = Tensor::from_vec(safe, &[n])?.to_device(dev)?;
        let lp = self.detach();
        // Each row's weight: its class's weight, 0 for an ignored row.
        let mut row_w = Tensor::from_vec(valid, &[n])?
            .to_device(dev)?
            .to_dtype(lp.dtype())?;
        if let Some(w) = weight {
            let w = w.detach().to_device(dev)?.to_dtype(lp.dtype())?;
            row_w = row_w.mul(&w.index_select(0, &safe)?)?;
        }
        let picked = if c == 0 {
            row_w.zeros_like()?
        } else {
            lp.gather(1, &safe.unsqueeze(1)?)?.squeeze(Some(1))?
        };
        // An ignored row contributes 0 whatever it holds (-inf * 0 would be NaN).
        let picked = if labels.contains(&ignore_index) {
            let ignored: Vec<bool> = labels.iter().map(|&l| l == ignore_index).collect();
            picked.masked_fill(&Tensor::from_vec(ignored, &[n])?.to_device(dev)?, 0.0)?
        } else {
            picked
        };
        let losses = picked.mul(&row_w)?.mul_scalar(-1.0)?;
        let denom = row_w.sum(None, false)?;
        let out = match reduction {
            Reduction::None => losses,
            Reduction::Sum => losses.sum(None, false)?,
            Reduction::Mean => losses.sum(None, false)?.div(&denom)?,
        };
        let fusable = self
            .grad_fn()
            .filter(|f| f.provenance == Provenance::LogSoftmaxRows);
        // Edges: the logits (through the fused backward), then the log-probabilities.
        let logits = fusable.as_ref().map_or(Edge::None, |f| f.edges[0].clone());
        let edges = vec![logits, edge_of(self)];
        let (lp, safe) = (Saved::new(self)?, safe);
        Ok(record_edges(
            out,
            "NllLossBackward",
            Provenance::Opaque,
            edges,
            move |g| {
                // The gradient each row's target log-probability receives, negated.
                let scale = match reduction {
                    Reduction::None => g.mul(&row_w)?,
                    Reduction::Sum => row_w.mul(g)?,
                    Reduction::Mean => {
                        // All targets ignored: the mean is NaN (0 / 0) and the gradient 0, as
                        // PyTorch's, rather than 0 * inf.
                        let some = denom.masked_fill(&denom.eq(&denom.zeros_like()?)?, 1.0)?;
                        row_w.mul(&g.div(&some)?)?
                    }
                };
                let lp = lp.get()?;
                if c == 0 {
                    return Ok(vec![None, Some(lp.zeros_like()?)]);
                }
                // (Not when the backward builds a graph: the fused kernel records nothing.)
                let graph = crate::autograd::is_grad_enabled();
                if !graph && fusable.as_ref().is_some_and(bypassable) {
                    let scale = scale.to_dtype(lp.dtype())?;
                    let dx = crate::backend::of(lp).log_softmax_nll_backward(lp, &safe, &scale)?;
                    return Ok(vec![Some(dx), None]);
                }
                let src = scale.mul_scalar(-1.0)?.unsqueeze(1)?.to_dtype(lp.dtype())?;
                let dlp = lp.zeros_like()?.scatter_add(1, &safe.unsqueeze(1)?, &src)?;
                Ok(vec![None, Some(dlp)])
            },
        ))
    }
}

/// Whether the backward may skip `log_softmax`'s node: nobody observes the gradient it would
/// receive (no hook, no retained `.grad`, no `grad` capturing it).
fn bypassable(node: &Arc<Node>) -> bool {
    node.unobserved() && !capturing()
}

/// The labels on the host as int64, each in `[0, c)` or `ignore_index`.
fn host_labels(target: &Tensor, c: usize, ignore_index: i64) -> Result<Vec<i64>> {
    let labels = target.to_device(Device::Cpu)?.to_dtype(DType::I64)?;
    let labels = labels.to_vec::<i64>()?;
    if let Some(&l) = labels
        .iter()
        .find(|&&l| l != ignore_index && (l < 0 || l >= c as i64))
    {
        bail!(Index, "target label {l} is out of bounds for {c} classes");
    }
    Ok(labels)
}

/// `nll_loss`'s argument checks: float log-probabilities `[N, C]` on the targets' device,
/// besides those of every loss over class indices.
fn check_nll(lp: &Tensor, target: &Tensor, weight: Option<&Tensor>) -> Result<()> {
    if !lp.dtype().is_float() {
        bail!(
            DType,
            "nll_loss expects floating point log-probabilities, got {}",
            lp.dtype()
        );
    }
    super::loss::check_class_inputs("nll_loss", "log-probabilities", lp, target, weight, false)?;
    lp.check_same_device(target)
}
