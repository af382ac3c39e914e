//! Copies: materialising views, dtype casts, and writing one tensor into another's memory.

use crate::autograd::record;
use crate::layout::Layout;
use crate::ops::kernel::map1;
use crate::{bail, with_dtype, DType, Element, Result, Tensor};

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
    if t.device().is_cuda() {
        return crate::cuda::ops::cast(t, to);
    }
    let l = t.layout();
    let from = t.dtype();
    with_dtype!(from, A => with_dtype!(to, O => {
        let v: Vec<O> = if from == to {
            t.data::<O>()?.into_owned()
        } else {
            map1::<A, O>(t, l, convert::<A, O>)
        };
        Tensor::from_vec(v, t.shape())
    }))
}

/// Contiguous copy with autograd (the backward of a copy is the identity).
pub(crate) fn contiguous_copy(t: &Tensor) -> Result<Tensor> {
    let out = cast_raw(t, t.dtype())?;
    Ok(record(out, "CloneBackward", &[t], |g| {
        Ok(vec![Some(g.clone())])
    }))
}

/// Writes `src` (broadcast to `dst`'s shape, cast to `dst`'s dtype) into `dst`'s memory.
pub(crate) fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    if dst.device().is_cuda() {
        return crate::cuda::ops::write_into(dst, src);
    }
    if src.device().is_cuda() {
        return write_into(dst, &crate::cuda::ops::to_device(src, dst.device())?);
    }
    let src_l = src.layout().broadcast_to(dst.shape())?;
    let src = if src.dtype() != dst.dtype() {
        let c = cast_raw(&src.with_layout(src_l), dst.dtype())?;
        let l = c.layout().clone();
        (c, l)
    } else {
        (src.clone(), src_l)
    };
    // If source and destination share storage, materialise the source first.
    let (src, src_l) = if std::sync::Arc::ptr_eq(src.0.storage(), dst.storage()) {
        let c = cast_raw(&src.0.with_layout(src.1.clone()), dst.dtype())?;
        let l = c.layout().clone();
        (c, l)
    } else {
        src
    };
    let dl = dst.layout().clone();
    if dl.numel() == 0 {
        return Ok(());
    }
    with_dtype!(dst.dtype(), T => {
        let s = src.storage().as_slice::<T>();
        // SAFETY: src does not alias dst (checked above); we write only dst's own elements.
        let d = unsafe { dst.storage().as_mut_slice::<T>() };
        if dl.is_contiguous() && src_l.is_contiguous() {
            let n = dl.numel();
            d[dl.offset..dl.offset + n].copy_from_slice(&s[src_l.offset..src_l.offset + n]);
        } else {
            for (od, os) in dl.offsets().zip(src_l.offsets()) {
                d[od] = s[os];
            }
        }
    });
    dst.storage().bump_version();
    Ok(())
}

/// Fills every element of `dst` with `value`.
pub(crate) fn fill_raw(dst: &Tensor, value: f64) -> Result<()> {
    if dst.device().is_cuda() {
        return crate::cuda::ops::fill(dst, value);
    }
    let dl: Layout = dst.layout().clone();
    if dl.numel() == 0 {
        return Ok(());
    }
    with_dtype!(dst.dtype(), T => {
        let v = T::from_f64(value);
        // SAFETY: writes only this tensor's elements.
        let d = unsafe { dst.storage().as_mut_slice::<T>() };
        if dl.is_contiguous() {
            d[dl.offset..dl.offset + dl.numel()].fill(v);
        } else {
            for o in dl.offsets() {
                d[o] = v;
            }
        }
    });
    dst.storage().bump_version();
    Ok(())
}

/// `Error::Device` saying why when `device` is a CUDA device this machine does not have.
fn check_device(device: crate::Device, what: &str) -> Result<()> {
    if let crate::Device::Cuda(i) = device {
        let n = crate::cuda::device_count();
        if i >= n {
            let why = crate::cuda::unavailable_reason()
                .unwrap_or_else(|| format!("this machine has {n} CUDA device(s)"));
            bail!(Device, "cannot {what} {device}: {why}");
        }
    }
    Ok(())
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
        Ok(record(out, "ToCopyBackward", &[self], move |g| {
            Ok(vec![Some(g.to_dtype(from)?)])
        }))
    }

    /// This tensor on `device` (itself when it is already there). Differentiable: the
    /// gradient moves back to this tensor's device.
    pub fn to_device(&self, device: crate::Device) -> Result<Tensor> {
        if self.device() == device {
            return Ok(self.clone());
        }
        check_device(device, "move a tensor to")?;
        let out = crate::cuda::ops::to_device(self, device)?;
        let from = self.device();
        Ok(record(out, "ToCopyBackward", &[self], move |g| {
            Ok(vec![Some(g.to_device(from)?)])
        }))
    }

    /// A tensor of `shape` filled with `value`, created directly on `device`.
    pub fn full_on(
        shape: &[usize],
        value: f64,
        dtype: DType,
        device: crate::Device,
    ) -> Result<Tensor> {
        match device {
            crate::Device::Cpu => Tensor::full(shape, value, dtype),
            crate::Device::Cuda(i) => {
                check_device(device, "create a tensor on")?;
                crate::cuda::ops::full(i, dtype, shape, value)
            }
        }
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
