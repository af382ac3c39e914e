//! Mixed precision: the thread-local autocast switch and the fused unscale / non-finite check.

use crate::errors::ResultExt;
use crate::tensor::PyTensor;
use crate::types::{extract_dtype, PyDType};
use democratising::{amp, Tensor};
use pyo3::prelude::*;

/// Sets autocast's dtype for this thread (None disables it); returns the previous dtype.
#[pyfunction]
#[pyo3(signature = (dtype=None))]
pub fn _set_autocast(dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Option<PyDType>> {
    let d = match dtype {
        Some(d) if !d.is_none() => Some(extract_dtype(d)?),
        _ => None,
    };
    Ok(amp::set_autocast(d).py()?.map(PyDType))
}

#[pyfunction]
pub fn _get_autocast() -> Option<PyDType> {
    amp::autocast_dtype().map(PyDType)
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
