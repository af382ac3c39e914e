//! `Tensor` reductions: sums, means, extrema, softmax and their dims/keepdim arguments.

use super::PyTensor;
use crate::errors::ResultExt;
use crate::types::extract_dtype;
use crate::util::{dims_arg, run, wrap};
use democratising::{DType, Tensor};
use pyo3::prelude::*;

#[pymethods]
impl PyTensor {
    // ---- reductions -------------------------------------------------------------------------

    #[pyo3(signature = (dim=None, keepdim=false, dtype=None))]
    fn sum(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = match dtype {
            Some(dt) => self.t.to_dtype(extract_dtype(dt)?).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), || t.sum(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false, dtype=None))]
    fn mean(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = match dtype {
            Some(dt) => self.t.to_dtype(extract_dtype(dt)?).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), || t.mean(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        let t = &self.t;
        run(py, t.numel(), || t.var(d.as_deref(), c, keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        let t = &self.t;
        run(py, t.numel(), || t.std(d.as_deref(), c, keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amax(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = &self.t;
        run(py, t.numel(), || t.amax(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amin(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = &self.t;
        run(py, t.numel(), || t.amin(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn logsumexp(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = &self.t;
        run(py, t.numel(), || t.logsumexp(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        self.t.argmax(dim, keepdim).py().map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        self.t.argmin(dim, keepdim).py().map(wrap)
    }
    /// `max()` → scalar tensor; `max(dim)` → `(values, indices)`; `max(other)` → elementwise.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        self.extreme(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        self.extreme(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        let b = self.t.to_dtype(DType::Bool).py()?;
        match dim {
            None => Ok(wrap(Tensor::scalar(b.all().py()?))),
            Some(d) => b.amin(Some(&[d]), keepdim).py().map(wrap),
        }
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        let b = self.t.to_dtype(DType::Bool).py()?;
        match dim {
            None => Ok(wrap(Tensor::scalar(b.any().py()?))),
            Some(d) => b.amax(Some(&[d]), keepdim).py().map(wrap),
        }
    }
}
