//! `Tensor` in-place methods (`add_`, `fill_`, `copy_`, ...): they write into the tensor's memory
//! and rebase autograd as PyTorch does.

use super::PyTensor;
use crate::errors::ResultExt;
use crate::util::operand;
use democratising::autograd;
use democratising::Tensor;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt};

/// In-place methods `name(arg[, alpha=1.0])` that write `self.method(arg, alpha)` and return
/// `self`; `arg` (named as PyTorch names it) may be a tensor or a Python number.
macro_rules! operand_inplace_py {
    ($($name:ident($arg:ident $(, $alpha:ident)?) => $method:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = ($arg $(, $alpha = 1.0)?))]
                fn $name<'py>(
                    slf: Bound<'py, Self>,
                    $arg: &Bound<'py, PyAny>,
                    $($alpha: f64,)?
                ) -> PyResult<Bound<'py, Self>> {
                    let o = operand($arg)?;
                    slf.get().tensor().$method(&o $(, $alpha)?).py()?;
                    Ok(slf)
                }
            )*
        }
    };
}

operand_inplace_py!(
    add_(other, alpha) => add_, sub_(other, alpha) => sub_, mul_(other) => mul_,
    fill_(value) => fill_scalar_, copy_(src) => copy_,
);

#[pymethods]
impl PyTensor {
    // ---- in place ---------------------------------------------------------------------------

    /// `div_(other, *, rounding_mode=None)`: true division in place, or `div`'s rounded
    /// quotient (`"floor"`, `"trunc"`) written back, as PyTorch's.
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        rounding_mode: Option<&str>,
    ) -> PyResult<Bound<'py, Self>> {
        let t = slf.get().tensor();
        if rounding_mode.is_none() {
            t.div_(&operand(other)?).py()?;
        } else {
            let q = slf.get().div(slf.py(), other, rounding_mode)?;
            t.copy_(&q.tensor()).py()?;
        }
        Ok(slf)
    }

    /// `relu_()`: ReLU in place; under autograd the backward reads the output (no copy kept).
    fn relu_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let t = slf.get().tensor();
        crate::util::run(slf.py(), t.numel(), || t.relu_())?;
        Ok(slf)
    }
    /// `leaky_relu_(negative_slope=0.01)`, in place (as `torch.nn.functional.leaky_relu_`).
    #[pyo3(signature = (negative_slope=0.01))]
    fn leaky_relu_(slf: Bound<'_, Self>, negative_slope: f64) -> PyResult<Bound<'_, Self>> {
        let t = slf.get().tensor();
        crate::util::run(slf.py(), t.numel(), || t.leaky_relu_(negative_slope))?;
        Ok(slf)
    }
    fn zero_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().tensor().zero_().py()?;
        Ok(slf)
    }
    /// `clamp_(min=None, max=None)`: numbers, or tensors that broadcast against this one.
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_<'py>(
        slf: Bound<'py, Self>,
        min: Option<&Bound<'py, PyAny>>,
        max: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let (min, max) = (min.filter(|m| !m.is_none()), max.filter(|m| !m.is_none()));
        if min.is_none() && max.is_none() {
            return Err(crate::errors::value_error(
                "clamp_: at least one of 'min' and 'max' must not be None",
            ));
        }
        let t = slf.get().tensor();
        let is = |b: Option<&Bound<'py, PyAny>>, float: bool| {
            b.is_some_and(|b| {
                b.is_instance_of::<PyFloat>() || (!float && b.is_instance_of::<PyInt>())
            })
        };
        let numbers = [min, max].into_iter().all(|b| b.is_none() || is(b, false));
        let float_bound = is(min, true) || is(max, true);
        if numbers && (t.dtype().is_float() || !float_bound) {
            super::arithmetic::check_int_bounds(&t, min, max)?;
            let lo = min.map(|m| m.extract::<f64>()).transpose()?;
            let hi = max.map(|m| m.extract::<f64>()).transpose()?;
            t.clamp_(lo, hi).py()?;
        } else {
            // Tensor bounds, or an integer tensor with a float bound (refused by the in-place
            // write's dtype check, as PyTorch refuses it).
            let lo = min.map(operand).transpose()?;
            let hi = max.map(operand).transpose()?;
            t.clamp_tensors_(lo.as_ref(), hi.as_ref()).py()?;
        }
        Ok(slf)
    }
    /// Fills with samples from U(from, to), in place (no autograd), like `nn.init.uniform_`.
    #[pyo3(signature = (a=0.0, b=1.0))]
    fn uniform_(slf: Bound<'_, Self>, a: f64, b: f64) -> PyResult<Bound<'_, Self>> {
        overwrite(slf, |t| Tensor::rand_uniform(t.shape(), a, b, t.dtype()))
    }
    #[pyo3(signature = (mean=0.0, std=1.0))]
    fn normal_(slf: Bound<'_, Self>, mean: f64, std: f64) -> PyResult<Bound<'_, Self>> {
        overwrite(slf, |t| {
            Tensor::randn_scaled(t.shape(), mean, std, t.dtype())
        })
    }
}

/// `uniform_` and `normal_`: copies `sample(self)` (fresh random values of its shape and
/// dtype) into `self`; a leaf that requires grad only under `no_grad`, as `nn.init` fills.
fn overwrite<'py>(
    slf: Bound<'py, PyTensor>,
    sample: impl FnOnce(&Tensor) -> democratising::Result<Tensor>,
) -> PyResult<Bound<'py, PyTensor>> {
    let t = &slf.get().tensor();
    if autograd::is_grad_enabled() && t.requires_grad() && t.is_leaf() {
        // (as every in-place op: `nn.init` fills parameters under `no_grad`)
        return Err(crate::errors::to_pyerr(democratising::Error::Autograd(
            "a leaf Variable that requires grad is being used in an in-place operation; wrap \
             it in `with dm.no_grad():`"
                .into(),
        )));
    }
    let r = sample(t).py()?;
    // (recorded when `self` has a history: its old value then gets a zero gradient, as the
    // other in-place fills give it)
    t.copy_(&r).py()?;
    Ok(slf)
}
