//! `Tensor` in-place methods (`add_`, `fill_`, `copy_`, ...): they write into the tensor's memory
//! and rebase autograd as PyTorch does.

use super::PyTensor;
use crate::errors::ResultExt;
use crate::util::operand;
use democratising::autograd;
use democratising::Tensor;
use pyo3::prelude::*;

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
    div_(other) => div_, fill_(value) => fill_scalar_, copy_(src) => copy_,
);

#[pymethods]
impl PyTensor {
    // ---- in place ---------------------------------------------------------------------------

    fn zero_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().tensor().zero_().py()?;
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(
        slf: Bound<'_, Self>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> PyResult<Bound<'_, Self>> {
        slf.get().tensor().clamp_(min, max).py()?;
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
/// dtype) into `self`, outside autograd, as `nn.init` does.
fn overwrite<'py>(
    slf: Bound<'py, PyTensor>,
    sample: impl FnOnce(&Tensor) -> democratising::Result<Tensor>,
) -> PyResult<Bound<'py, PyTensor>> {
    let t = &slf.get().tensor();
    let r = sample(t).py()?;
    let _g = autograd::GradModeGuard::new(false);
    t.copy_(&r).py()?;
    drop(_g);
    Ok(slf)
}
