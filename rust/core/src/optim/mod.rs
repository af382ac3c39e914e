//! Fused multi-tensor optimizer steps. The optimizer state (moments, step counts) is owned by the
//! caller (the Python optimizer, so its `state_dict` stays plain); each call updates a whole
//! parameter group in place, one pass over memory per parameter, with PyTorch's exact formulas.

mod adagrad;
mod adam;
mod rmsprop;
mod rules;
mod sgd;

pub use adagrad::{adagrad_step, AdagradConfig};
pub use adam::{adam_step, AdamConfig, AdamTensors};
pub use rmsprop::{rmsprop_step, RmspropConfig, RmspropState};
pub use rules::{rule_step, OptimRule, MAX_RULE_CONSTS, PREFIX_CONSTS};
pub use sgd::{sgd_step, SgdConfig};

use crate::{bail, DType, Result, Tensor};

/// Fails unless every per-parameter list (of lengths `lens`) has one entry per each of the `n`
/// parameters; `lists` names them in the message.
pub(crate) fn check_lengths(lists: &str, n: usize, lens: &[usize]) -> Result<()> {
    if lens.iter().any(|&len| len != n) {
        bail!(Value, "{lists} lists differ in length");
    }
    Ok(())
}

/// Checks that a state tensor can be updated in place alongside its parameter.
pub(crate) fn check_state(name: &str, p: &Tensor, s: &Tensor) -> Result<()> {
    if s.shape() != p.shape() || s.dtype() != p.dtype() {
        bail!(
            Shape,
            "optimizer state {name} has shape {:?} / dtype {} but its parameter has {:?} / {}",
            s.shape(),
            s.dtype(),
            p.shape(),
            p.dtype()
        );
    }
    if !s.is_contiguous() {
        bail!(Value, "optimizer state {name} must be contiguous");
    }
    if s.device() != p.device() {
        bail!(
            Device,
            "optimizer state {name} is on {} but its parameter on {}",
            s.device(),
            p.device()
        );
    }
    Ok(())
}

pub(crate) fn check_param(p: &Tensor, g: &Tensor) -> Result<()> {
    if g.device() != p.device() {
        bail!(
            Device,
            "gradient on {} but its parameter on {}",
            g.device(),
            p.device()
        );
    }
    if !matches!(p.dtype(), DType::F32 | DType::F64) {
        bail!(
            DType,
            "fused optimizer steps support float32/float64 parameters, got {}",
            p.dtype()
        );
    }
    if !p.is_contiguous() {
        bail!(
            Value,
            "optimizer parameters must be contiguous (shape {:?})",
            p.shape()
        );
    }
    if g.shape() != p.shape() {
        bail!(
            Shape,
            "gradient shape {:?} does not match parameter shape {:?}",
            g.shape(),
            p.shape()
        );
    }
    Ok(())
}

/// Mutable contiguous view of a tensor's elements.
///
/// # Safety
/// The caller must not hold another slice overlapping the same storage range.
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn slice_mut<T: crate::Element>(t: &Tensor) -> &mut [T] {
    let off = t.layout().offset;
    let n = t.numel();
    &mut t.storage().as_mut_slice::<T>()[off..off + n]
}

/// Rejects parameter/state lists that alias each other (which would make the fused update race).
pub(crate) fn check_distinct(ts: &[&Tensor]) -> Result<()> {
    for i in 0..ts.len() {
        for j in i + 1..ts.len() {
            if std::sync::Arc::ptr_eq(ts[i].storage(), ts[j].storage()) {
                bail!(
                    Value,
                    "optimizer parameter and state tensors must not share memory"
                );
            }
        }
    }
    Ok(())
}
