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
    if s.dtype() != p.dtype() {
        bail!(
            DType,
            "optimizer state {name} is {} but its parameter is {} (was the model cast after \
             the optimizer stepped? make the optimizer after casting, or cast its state too)",
            s.dtype(),
            p.dtype()
        );
    }
    if s.shape() != p.shape() {
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
    if !p.dtype().is_float() {
        bail!(
            DType,
            "optimizers step floating-point parameters, got {}",
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

/// True when a step must run on staged copies (`widened_one`): a float16 or bfloat16 tensor
/// (the fused kernels step float32 and float64; PyTorch computes half parameters' steps in
/// float32 too) or a strided one (the kernels walk dense memory; PyTorch steps a transposed
/// parameter, or a strided state loaded from a checkpoint, as any other).
pub(crate) fn needs_staging<'a>(ts: impl IntoIterator<Item = &'a Tensor>) -> bool {
    ts.into_iter()
        .any(|t| matches!(t.dtype(), DType::F16 | DType::BF16) || !t.is_contiguous())
}

/// `t` staged for a fused step: a float32 copy when it is half precision, a dense copy when
/// it is strided, else `t` itself (shared).
pub(crate) fn widened_one(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        DType::F16 | DType::BF16 => crate::ops::copy::cast_raw(t, DType::F32),
        dt if !t.is_contiguous() => crate::ops::copy::cast_raw(t, dt),
        _ => Ok(t.clone()),
    }
}

/// `ts` each staged by `widened_one`.
pub(crate) fn widened(ts: &[Tensor]) -> Result<Vec<Tensor>> {
    ts.iter().map(widened_one).collect()
}

/// Writes a staged copy from `widened_one` back into `t` (once per step; a half parameter's
/// new value rounded, as PyTorch stores it), bumping its version; nothing when `wide` is `t`
/// itself.
pub(crate) fn round_back_one(t: &Tensor, wide: &Tensor) -> Result<()> {
    if !t.same(wide) {
        crate::ops::copy::write_into(t, wide)?;
        t.bump_version();
    }
    Ok(())
}

/// Runs `step` on staged copies when a parameter or state `needs_staging`: the parameters,
/// gradients and each list of states (parallel to the parameters) staged, and the results
/// written back. `None` when none does: the caller steps directly.
pub(crate) fn on_staged_copies<const K: usize>(
    params: &[Tensor],
    grads: &[Tensor],
    states: [&[Tensor]; K],
    step: impl FnOnce(&[Tensor], &[Tensor], [&[Tensor]; K]) -> Result<()>,
) -> Option<Result<()>> {
    if !needs_staging(params.iter().chain(states.iter().flat_map(|s| s.iter()))) {
        return None;
    }
    let run = || {
        let (pw, gw) = (widened(params)?, widened(grads)?);
        let sw = states
            .iter()
            .map(|s| widened(s))
            .collect::<Result<Vec<_>>>()?;
        step(&pw, &gw, std::array::from_fn(|i| &sw[i][..]))?;
        round_back(params, &pw)?;
        states
            .iter()
            .zip(&sw)
            .try_for_each(|(s, w)| round_back(s, w))
    };
    Some(run())
}

/// `round_back_one` over parallel lists.
pub(crate) fn round_back(ts: &[Tensor], wide: &[Tensor]) -> Result<()> {
    ts.iter()
        .zip(wide)
        .try_for_each(|(t, w)| round_back_one(t, w))
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
