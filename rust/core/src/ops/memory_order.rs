//! Elementwise ops over dense but permuted operands (a transpose, a channels-last image) run
//! in memory order and return a result laid out as its operands, as PyTorch's TensorIterator
//! does: `exp(x.t())` reads `x` straight through instead of gathering it first, and is itself
//! the transpose of a contiguous tensor (`relu` keeps a channels-last batch channels-last).

use crate::{Result, Tensor};

/// Whether `t` is one value repeated over its shape (`expand` of a number: the gradient of a
/// `sum`), which reads the same in any order.
fn one_value(t: &Tensor) -> bool {
    t.numel() == 1 || t.layout().strides.iter().all(|&s| s == 0)
}

/// The dims of `operands`' common dense permutation: the first operand that is not one
/// repeated value is dense in some order other than row-major, and every other operand either
/// has the same shape, dense in the same order or one repeated value, or is a single element
/// that broadcasts (a Python number). `None` where the ops' usual path applies (contiguous,
/// broadcast, mixed orders).
pub(crate) fn shared_permutation(operands: &[&Tensor]) -> Option<Vec<usize>> {
    let lead = operands.iter().find(|t| !one_value(t))?;
    let order = lead.layout().dense_permutation()?;
    let fits = |t: &&Tensor| {
        if t.numel() == 1 {
            return t.ndim() <= lead.ndim();
        }
        t.shape() == lead.shape()
            && (one_value(t) || t.layout().dense_permutation().as_ref() == Some(&order))
    };
    operands.iter().all(fits).then_some(order)
}

/// `op` over `operands` in the memory order `order` (from `shared_permutation`): each
/// permuted operand is seen as the contiguous tensor it is in memory, single elements pass as
/// they are (a wrapped Python number keeps its promotion rules), and the contiguous result is
/// permuted back to the operands' dims (a fresh tensor, not a view).
pub(crate) fn run_in_memory_order(
    operands: &[&Tensor],
    order: &[usize],
    op: impl FnOnce(&[&Tensor]) -> Result<Tensor>,
) -> Result<Tensor> {
    let seen: Vec<Tensor> = operands
        .iter()
        .map(|t| {
            if t.numel() == 1 {
                return Ok((*t).clone());
            }
            Ok(t.with_layout(t.layout().permute(order)?))
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = seen.iter().collect();
    let out = op(&refs)?;
    let layout = out
        .layout()
        .permute(&crate::layout::inverse_permutation(order))?;
    if seen
        .iter()
        .any(|t| std::sync::Arc::ptr_eq(t.storage(), out.storage()))
    {
        // The op handed an operand back (an identity): a copy, never an alias of an input.
        return out.with_layout(layout).deep_clone();
    }
    Tensor::from_storage(out.storage().clone(), layout)
}
