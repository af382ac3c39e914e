//! Copies: materialising views, dtype casts, and writing one tensor into another's memory.

use crate::autograd::{record_differentiable, reusable};
use crate::{bail, DType, Element, Result, Tensor};

/// Converts one element between dtypes (integers go through i64 so large values stay exact).
#[inline(always)]
pub fn convert<A: Element, O: Element>(x: A) -> O {
    let narrow_float = |d: DType| d.is_float() && d != DType::F64;
    if narrow_float(A::DTYPE) && narrow_float(O::DTYPE) {
        // f32/f16/bf16 among themselves: exact through f32 (one rounding, as through f64).
        return O::from_f32(x.to_f32());
    }
    if A::DTYPE.is_float() || O::DTYPE.is_float() {
        O::from_f64(x.to_f64())
    } else {
        O::from_i64(x.to_i64())
    }
}

/// A contiguous copy of `t` with dtype `to`, without autograd.
pub(crate) fn cast_raw(t: &Tensor, to: DType) -> Result<Tensor> {
    crate::backend::of(t).cast(t, to)
}

/// Contiguous copy with autograd (the backward of a copy is the identity).
pub(crate) fn contiguous_copy(t: &Tensor) -> Result<Tensor> {
    let out = cast_raw(t, t.dtype())?;
    Ok(reusable(record_differentiable(
        out,
        "CloneBackward",
        &[t],
        |g| Ok(vec![Some(g.clone())]),
    )))
}

/// Writes `src` (broadcast to `dst`'s shape, cast to `dst`'s dtype) into `dst`'s memory.
pub(crate) fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    crate::backend::of(dst).write_into(dst, src)
}

/// Fills every element of `dst` with `value`.
pub(crate) fn fill_raw(dst: &Tensor, value: f64) -> Result<()> {
    crate::backend::of(dst).fill(dst, value)
}

/// Records `out`, a converted copy of `src`, whose gradient is the incoming one converted back
/// (a reusable node: it keeps no tensor).
fn record_to_copy(
    out: Tensor,
    src: &Tensor,
    back: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
) -> Tensor {
    reusable(record_differentiable(
        out,
        "ToCopyBackward",
        &[src],
        move |g| Ok(vec![Some(back(g)?)]),
    ))
}

impl Tensor {
    /// Casts to `dtype` (a no-op returning `self` when it already has it). Differentiable between
    /// floating-point dtypes.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            return Ok(self.clone());
        }
        let out = cast_raw(self, dtype)?;
        if !dtype.is_float() {
            return Ok(out);
        }
        let from = self.dtype();
        Ok(record_to_copy(out, self, move |g| g.to_dtype(from)))
    }

    /// This tensor on `device` (itself when it is already there). Differentiable: the
    /// gradient moves back to this tensor's device.
    pub fn to_device(&self, device: crate::Device) -> Result<Tensor> {
        if self.device() == device {
            return Ok(self.clone());
        }
        let out = crate::backend::transfer(self, device)?;
        let from = self.device();
        Ok(record_to_copy(out, self, move |g| g.to_device(from)))
    }

    /// A tensor of `shape` filled with `value`, created directly on `device`.
    pub fn full_on(
        shape: &[usize],
        value: f64,
        dtype: DType,
        device: crate::Device,
    ) -> Result<Tensor> {
        crate::backend::on(device, "create a tensor on")?.full(shape, value, dtype, device)
    }

    /// A copy that owns its memory (`clone()` in PyTorch), differentiable.
    pub fn deep_clone(&self) -> Result<Tensor> {
        contiguous_copy(self)
    }

    /// Checks that two tensors may be combined and names both shapes when they may not.
    pub(crate) fn check_same_device(&self, other: &Tensor) -> Result<()> {
        if self.device() != other.device() {
            bail!(
                Device,
                "expected all tensors to be on the same device, but found {} and {}",
                self.device(),
                other.device()
            );
        }
        Ok(())
    }
}
