//! Higher-order gradients through fused ops. A fused op's backward is a kernel with no graph;
//! when a pass builds one (`create_graph=True`), the op instead recomputes its forward from the
//! saved inputs in recorded primitive ops and differentiates that with a nested pass. The
//! nested pass stops at the inputs (`grad` only runs the nodes its inputs need), so the result
//! joins the outer graph through the inputs' own histories.

use super::engine::grad;
use crate::{Result, Tensor};

/// The gradients of `composite(inputs)` against `g` for each input (inputs that do not require
/// a gradient get `None`), with a graph. `inputs` come from `Saved::get_graph`.
pub(crate) fn grads_by_recompute(
    inputs: &[Tensor],
    g: &Tensor,
    composite: impl FnOnce(&[Tensor]) -> Result<Tensor>,
) -> Result<Vec<Option<Tensor>>> {
    let out = composite(inputs)?;
    // One tensor passed as several inputs (self-attention's q = k = v) has one history: its
    // whole gradient is captured once, sent along the first of its edges (the outer pass sums
    // the edges into the same place anyway).
    let mut seen = std::collections::HashSet::new();
    let first: Vec<bool> = inputs
        .iter()
        .map(|t| t.requires_grad() && seen.insert(origin(t)))
        .collect();
    let wanted: Vec<Tensor> = inputs
        .iter()
        .zip(&first)
        .filter(|(_, &f)| f)
        .map(|(t, _)| t.clone())
        .collect();
    if wanted.is_empty() || !out.requires_grad() {
        return Ok(vec![None; inputs.len()]);
    }
    let g = if g.dtype() != out.dtype() {
        g.to_dtype(out.dtype())?
    } else {
        g.clone()
    };
    let mut got = grad(&[out], vec![Some(g)], &wanted, true, true)?.into_iter();
    Ok(first
        .iter()
        .map(|&f| if f { got.next().flatten() } else { None })
        .collect())
}

/// Where a tensor's gradient is delivered: its node, or the leaf itself.
fn origin(t: &Tensor) -> usize {
    match t.grad_fn() {
        Some(n) => std::sync::Arc::as_ptr(&n) as usize,
        None => t.id(),
    }
}
