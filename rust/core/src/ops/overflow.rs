//! Range checks for numbers stored into a dtype, one rule everywhere (as NumPy and PyTorch):
//! a Python number given to a factory, `fill_`, `where` or an indexed assignment must fit the
//! dtype it lands in, or the call fails with `Error::Overflow` instead of wrapping (`2**40`
//! into `int32` was 0) or saturating (`full` gave `i32::MAX`). Casting an existing tensor
//! (`.to(int32)`) keeps C's wrap-around, as in both libraries, and so does integer arithmetic
//! with a number (`int8 + 300`, PyTorch's; NumPy 2 refuses it).

use crate::{bail, DType, Result, Tensor};

/// The integers `d` holds, for the integer dtypes.
pub fn int_range(d: DType) -> Option<(i64, i64)> {
    match d {
        DType::U8 => Some((0, i64::from(u8::MAX))),
        DType::I8 => Some((i64::from(i8::MIN), i64::from(i8::MAX))),
        DType::I16 => Some((i64::from(i16::MIN), i64::from(i16::MAX))),
        DType::I32 => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
        DType::I64 => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

/// The integers that may be stored into `d` (PyTorch's `c10::overflows`): its range, and for
/// uint8 also -255..-1, which wrap (`fill_(-1)` is 255), as in PyTorch.
fn accepted_ints(d: DType) -> Option<(i64, i64)> {
    match d {
        DType::U8 => Some((-255, 255)),
        d => int_range(d),
    }
}

/// The largest finite value of `d` (None: every f64 fits). As in PyTorch, a finite number
/// beyond it fails, and the largest value itself fits.
fn float_limit(d: DType) -> Option<f64> {
    match d {
        DType::F16 => Some(f64::from(half::f16::MAX)),
        DType::BF16 => Some(f64::from(half::bf16::MAX)),
        DType::F32 => Some(f64::from(f32::MAX)),
        _ => None,
    }
}

pub fn overflow(value: impl std::fmt::Display, dtype: DType) -> crate::Error {
    let range = match int_range(dtype) {
        Some((lo, hi)) => format!(" (its range is [{lo}, {hi}])"),
        None => String::new(),
    };
    crate::Error::Overflow(format!(
        "value {value} cannot be converted to {dtype} without overflow{range}"
    ))
}

/// Fails when the single number in `value` (a 0-d tensor, e.g. a Python number) does not fit
/// `dtype`: an integer outside its range, a float that is NaN, infinite or out of range for an
/// integer dtype, or a finite float beyond a float dtype's largest value.
pub fn check_scalar_fits(value: &Tensor, dtype: DType) -> Result<()> {
    if value.numel() != 1 || dtype == DType::Bool {
        return Ok(());
    }
    if !value.dtype().is_float() {
        let v = value.item_i64()?;
        if let Some((lo, hi)) = accepted_ints(dtype) {
            if v < lo || v > hi {
                return Err(overflow(v, dtype));
            }
        } else if float_limit(dtype).is_some_and(|limit| (v as f64).abs() > limit) {
            // `fill_(70000)` into float16, as PyTorch refuses it.
            return Err(overflow(v, dtype));
        }
        return Ok(());
    }
    let v = value.item()?;
    if let Some((lo, hi)) = int_range(dtype) {
        // Truncation toward zero must land in range: (lo - 1, hi + 1) exclusive.
        if !(v.is_finite() && v > lo as f64 - 1.0 && v < hi as f64 + 1.0) {
            return Err(overflow(v, dtype));
        }
    } else if let Some(limit) = float_limit(dtype) {
        if v.is_finite() && v.abs() > limit {
            return Err(overflow(v, dtype));
        }
    }
    Ok(())
}

/// Fails when an integer `value` does not fit the integer `dtype`.
pub fn check_int_fits(value: i64, dtype: DType) -> Result<()> {
    match accepted_ints(dtype) {
        Some((lo, hi)) if value < lo || value > hi => Err(overflow(value, dtype)),
        _ => Ok(()),
    }
}

/// A wrapped Python integer among `operands` that does not fit the integer dtype `compute`
/// (the dtype an op computes in), if any.
pub(crate) fn wrapped_int_outside(operands: &[&Tensor], compute: DType) -> Option<i64> {
    let (lo, hi) = accepted_ints(compute)?;
    operands
        .iter()
        .filter(|t| t.is_wrapped_number() && t.dtype().is_int())
        .filter_map(|t| t.item_i64().ok())
        .find(|&v| v < lo || v > hi)
}

impl Tensor {
    /// `full(shape, value)` from a 0-d tensor holding the value exactly (a Python int above
    /// 2**53 stays exact in int64), checked to fit `dtype`.
    pub fn full_scalar(shape: &[usize], value: &Tensor, dtype: DType) -> Result<Tensor> {
        check_scalar_fits(value, dtype)?;
        if value.dtype().is_float() || value.dtype() == DType::Bool {
            return Tensor::full(shape, value.item()?, dtype);
        }
        let v = value.item_i64()?;
        if v.unsigned_abs() <= 1 << 53 {
            return Tensor::full(shape, v as f64, dtype);
        }
        value.to_dtype(dtype)?.detach().expand(shape)?.contiguous()
    }

    /// `fill_(value)` from a 0-d tensor, with `full_scalar`'s checks and exactness.
    pub fn fill_scalar_(&self, value: &Tensor) -> Result<()> {
        check_scalar_fits(value, self.dtype())?;
        if value.requires_grad() && crate::autograd::is_grad_enabled() && self.dtype().is_float() {
            // A value that requires grad is copied in, so its gradient (the sum of the
            // filled elements') reaches it, as PyTorch's `fill_(tensor)`.
            return self.copy_(&value.to_dtype(self.dtype())?.expand(self.shape())?);
        }
        if !value.dtype().is_float() && value.item_i64()?.unsigned_abs() > 1 << 53 {
            return self.copy_(&value.to_dtype(self.dtype())?.detach());
        }
        self.fill_(value.item()?)
    }

    /// `arange` over integers, computed exactly in i64 (an f64 range loses every odd value
    /// above 2**53 and its length at 2**62).
    pub fn arange_int(start: i64, end: i64, step: i64, dtype: DType) -> Result<Tensor> {
        if step == 0 {
            bail!(Value, "arange: step must be nonzero");
        }
        let span = i128::from(end) - i128::from(start);
        if span != 0 && (span < 0) != (step < 0) {
            bail!(
                Value,
                "arange: upper bound and lower bound inconsistent with step sign"
            );
        }
        let step128 = i128::from(step);
        let n = (span + step128 - step128.signum()) / step128;
        let n = usize::try_from(n.max(0)).map_err(|_| {
            crate::Error::OutOfMemory(format!(
                "arange({start}, {end}, {step}) has too many elements"
            ))
        })?;
        let n = crate::ops::creation::alloc_numel(&[n], dtype.size())?;
        if n > 0 && dtype.is_int() {
            check_int_fits(start, dtype)?;
            check_int_fits(start.wrapping_add((n as i64 - 1).wrapping_mul(step)), dtype)?;
        }
        // Every value lies between start and end, so the wrapping arithmetic is exact.
        let v: Vec<i64> = (0..n as i64)
            .map(|i| start.wrapping_add(i.wrapping_mul(step)))
            .collect();
        let t = Tensor::from_vec(v, &[n])?;
        if dtype == DType::I64 {
            Ok(t)
        } else {
            t.to_dtype(dtype)
        }
    }
}
