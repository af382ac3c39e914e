//! `Tensor` in-place methods (`add_`, `fill_`, `copy_`, ...): they write into the tensor's memory
//! and rebase autograd as PyTorch does.

use super::PyTensor;
use crate::errors::ResultExt;
use crate::util::operand;
use democratising::autograd;
use democratising::Tensor;
use pyo3::prelude::*;

#[pymethods]
impl PyTensor {
    // ---- in place ---------------------------------------------------------------------------

    #[pyo3(signature = (other, alpha=1.0))]
    fn add_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: f64,
    ) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.add_(&o, alpha).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (other, alpha=1.0))]
    fn sub_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: f64,
    ) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.sub_(&o, alpha).py()?;
        Ok(slf)
    }
    fn mul_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.mul_(&o).py()?;
        Ok(slf)
    }
    fn div_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.div_(&o).py()?;
        Ok(slf)
    }
    fn zero_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.zero_().py()?;
        Ok(slf)
    }
    fn fill_<'py>(slf: Bound<'py, Self>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let v = operand(value)?;
        slf.get().t.fill_scalar_(&v).py()?;
        Ok(slf)
    }
    fn copy_<'py>(slf: Bound<'py, Self>, src: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let s = operand(src)?;
        slf.get().t.copy_(&s).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(
        slf: Bound<'_, Self>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> PyResult<Bound<'_, Self>> {
        slf.get().t.clamp_(min, max).py()?;
        Ok(slf)
    }
    /// Fills with samples from U(from, to), in place (no autograd), like `nn.init.uniform_`.
    #[pyo3(signature = (a=0.0, b=1.0))]
    fn uniform_(slf: Bound<'_, Self>, a: f64, b: f64) -> PyResult<Bound<'_, Self>> {
        let t = &slf.get().t;
        let r = Tensor::rand_uniform(t.shape(), a, b, t.dtype()).py()?;
        let _g = autograd::GradModeGuard::new(false);
        t.copy_(&r).py()?;
        drop(_g);
        Ok(slf)
    }
    #[pyo3(signature = (mean=0.0, std=1.0))]
    fn normal_(slf: Bound<'_, Self>, mean: f64, std: f64) -> PyResult<Bound<'_, Self>> {
        let t = &slf.get().t;
        let r = Tensor::randn_scaled(t.shape(), mean, std, t.dtype()).py()?;
        let _g = autograd::GradModeGuard::new(false);
        t.copy_(&r).py()?;
        drop(_g);
        Ok(slf)
    }
}
