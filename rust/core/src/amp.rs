//! Automatic mixed precision. `autocast` is a thread-local mode: while it is set, matmul, linear
//! and conv run in the low dtype (float16/bfloat16, accumulating in float32), while softmax,
//! losses, norms and reductions run in float32. Casts are recorded by autograd, so the backward
//! follows the forward's dtypes and float32 parameters receive float32 gradients.
//! `unscale_and_check` is the fused non-finite check / unscale over all gradients of a step.

use crate::{bail, DType, Result, Tensor};
use std::cell::Cell;

thread_local! {
    static AUTOCAST: Cell<Option<DType>> = const { Cell::new(None) };
}

/// The low-precision dtype autocast uses on this thread, if enabled.
pub fn autocast_dtype() -> Option<DType> {
    AUTOCAST.with(|a| a.get())
}

/// Sets (or clears) autocast on this thread; returns the previous setting.
pub fn set_autocast(dtype: Option<DType>) -> Result<Option<DType>> {
    if let Some(d) = dtype {
        if !matches!(d, DType::F16 | DType::BF16) {
            bail!(DType, "autocast dtype must be float16 or bfloat16, got {d}");
        }
    }
    Ok(AUTOCAST.with(|a| a.replace(dtype)))
}

/// Restores the previous autocast setting when dropped (the backward pass runs without it).
pub struct AutocastGuard(Option<DType>);

impl AutocastGuard {
    pub fn disabled() -> Self {
        AutocastGuard(AUTOCAST.with(|a| a.replace(None)))
    }

    /// Sets `dtype` (already validated: another thread's setting) until dropped.
    pub(crate) fn set(dtype: Option<DType>) -> Self {
        AutocastGuard(AUTOCAST.with(|a| a.replace(dtype)))
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.0));
    }
}

/// For ops that autocast runs in low precision: the input cast to the autocast dtype.
pub(crate) fn to_low(t: &Tensor) -> Result<Tensor> {
    match autocast_dtype() {
        // float64 is not eligible, as in PyTorch: a double op stays double under autocast.
        Some(d) if t.dtype().is_float() && t.dtype() != d && t.dtype() != DType::F64 => {
            t.to_dtype(d)
        }
        _ => Ok(t.clone()),
    }
}

/// For ops that autocast runs in float32: half inputs widened to float32.
pub(crate) fn to_f32(t: &Tensor) -> Result<Tensor> {
    match (autocast_dtype(), t.dtype()) {
        (Some(_), DType::F16 | DType::BF16) => t.to_dtype(DType::F32),
        _ => Ok(t.clone()),
    }
}

/// For ops that autocast runs in float32, called first thing with the op itself: under
/// autocast, a half `t` is widened to float32 and `op` runs on it with autocast off (the
/// result to return); `None` when the op should go ahead as called.
pub(crate) fn in_f32(
    t: &Tensor,
    op: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Option<Result<Tensor>> {
    if !matches!(t.dtype(), DType::F16 | DType::BF16) || autocast_dtype().is_none() {
        return None;
    }
    Some(to_f32(t).and_then(|x| {
        let _off = AutocastGuard::disabled();
        op(&x)
    }))
}

/// For ops that autocast runs in low precision (matmul, linear, conv), called first thing with
/// the op itself: under autocast, the operands are cast to the autocast dtype and `op` runs on
/// them with autocast off (the result to return); `None` when autocast is off.
pub(crate) fn in_low(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    op: impl FnOnce(&Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>,
) -> Option<Result<Tensor>> {
    autocast_dtype()?;
    if x.dtype() == DType::F64 || w.dtype() == DType::F64 {
        return None; // float64 ops run as called (PyTorch casts only float16/32/bfloat16)
    }
    let run = || {
        let (x, w) = (to_low(x)?, to_low(w)?);
        let b = bias.map(to_low).transpose()?;
        let _off = AutocastGuard::disabled();
        op(&x, &w, b.as_ref())
    };
    Some(run())
}

/// Multiplies every gradient by `inv_scale` in place (when `apply`) and reports whether any
/// value is infinite or NaN: one pass over all gradients of an optimizer step, one call per
/// device.
pub fn unscale_and_check(grads: &[Tensor], inv_scale: f64, apply: bool) -> Result<bool> {
    for g in grads {
        if !g.dtype().is_float() {
            bail!(DType, "gradients must be floating point, got {}", g.dtype());
        }
        if !g.is_contiguous() {
            bail!(
                Value,
                "gradients must be contiguous to be unscaled in place"
            );
        }
    }
    let mut found = false;
    for group in crate::backend::by_device(grads) {
        let gs: Vec<&Tensor> = group.iter().map(|&i| &grads[i]).collect();
        found |= crate::backend::of(gs[0]).unscale_and_check(&gs, inv_scale, apply)?;
    }
    Ok(found)
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn unscale_finds_non_finite() {
        let g = Tensor::from_vec(vec![2.0f32, 4.0], &[2]).unwrap();
        assert!(!unscale_and_check(std::slice::from_ref(&g), 0.5, true).unwrap());
        assert_eq!(g.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
        let bad = Tensor::from_vec(vec![1.0f32, f32::INFINITY], &[2]).unwrap();
        assert!(unscale_and_check(&[g, bad], 1.0, false).unwrap());
    }

    fn autocast_matmul_runs_in_half() {
        let a = Tensor::ones(&[2, 3], DType::F32).unwrap();
        let prev = set_autocast(Some(DType::BF16)).unwrap();
        let y = a.matmul(&a.t().unwrap()).unwrap();
        let s = y.softmax(-1).unwrap();
        set_autocast(prev).unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        assert_eq!(s.dtype(), DType::F32);
    }

    crate::self_test::cases!(unscale_finds_non_finite, autocast_matmul_runs_in_half);
}
