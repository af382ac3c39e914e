//! Mixed precision: the thread-local autocast switch and the fused unscale / non-finite check.

use crate::errors::ResultExt;
use crate::tensor::PyTensor;
use crate::types::{dtype_object, extract_dtype, PyDType};
use democratising::{amp, Tensor};
use pyo3::prelude::*;

/// Sets autocast's dtype for this thread (None disables it); returns the previous dtype.
#[pyfunction]
#[pyo3(signature = (dtype=None))]
pub fn _set_autocast(
    py: Python<'_>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Py<PyDType>>> {
    let d = match dtype {
        Some(d) if !d.is_none() => Some(extract_dtype(d)?),
        _ => None,
    };
    amp::set_autocast(d)
        .py()?
        .map(|d| dtype_object(py, d))
        .transpose()
}

#[pyfunction]
pub fn _get_autocast(py: Python<'_>) -> PyResult<Option<Py<PyDType>>> {
    amp::autocast_dtype()
        .map(|d| dtype_object(py, d))
        .transpose()
}

/// Multiplies all gradients by `inv_scale` in place (if `apply`) and returns whether any is
/// inf/NaN, in one pass.
#[pyfunction]
#[pyo3(signature = (grads, inv_scale, apply=true))]
pub fn _amp_unscale(
    py: Python<'_>,
    grads: Vec<PyRef<'_, PyTensor>>,
    inv_scale: f64,
    apply: bool,
) -> PyResult<bool> {
    let gs: Vec<Tensor> = grads.iter().map(|g| g.tensor()).collect();
    crate::util::detach(py, || amp::unscale_and_check(&gs, inv_scale, apply)).py()
}
