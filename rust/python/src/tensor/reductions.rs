//! `Tensor` reductions: sums, means, extrema, softmax and their dims/keepdim arguments.

use super::PyTensor;
use crate::errors::ResultExt;
use crate::types::extract_dtype;
use crate::util::{dims_arg, run, wrap};
use democratising::{DType, Tensor};
use pyo3::prelude::*;

/// Reductions over `dim` (an int, a sequence or `None` for all) with `keepdim`; `dtype`: the
/// input cast first (PyTorch's `sum(dtype=...)`); `correction`: the variance's, from
/// `unbiased` or `correction` as PyTorch reads them.
macro_rules! dim_reductions_py {
    ($($name:ident $(, $extra:ident)?;)*) => {
        $(dim_reductions_py!(@one $name $(, $extra)?);)*
    };
    (@one $name:ident) => {
        #[pymethods]
        impl PyTensor {
        #[pyo3(signature = (dim=None, keepdim=false))]
        fn $name(
            &self,
            py: Python<'_>,
            dim: Option<&Bound<'_, PyAny>>,
            keepdim: bool,
        ) -> PyResult<PyTensor> {
            let d = dims_arg(dim)?;
            let t = &self.t;
            run(py, t.numel(), || t.$name(d.as_deref(), keepdim)).map(wrap)
        }
        }
    };
    (@one $name:ident, dtype) => {
        #[pymethods]
        impl PyTensor {
        #[pyo3(signature = (dim=None, keepdim=false, dtype=None))]
        fn $name(
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
            run(py, t.numel(), || t.$name(d.as_deref(), keepdim)).map(wrap)
        }
        }
    };
    (@one $name:ident, correction) => {
        #[pymethods]
        impl PyTensor {
        #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
        fn $name(
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
            run(py, t.numel(), || t.$name(d.as_deref(), c, keepdim)).map(wrap)
        }
        }
    };
}

dim_reductions_py! {
    sum, dtype;
    mean, dtype;
    var, correction;
    std, correction;
    amax;
    amin;
    logsumexp;
}

#[pymethods]
impl PyTensor {
    // ---- reductions -------------------------------------------------------------------------

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
