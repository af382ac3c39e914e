//! The package's Python helpers the glue calls (tensor construction from Python data, the
//! repr, pickling, named results): registered once by `democratising/__init__.py` through
//! `_register_helpers`, so the extension never imports the package at run time.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

static HELPERS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The names the package must register (checked when it does).
const NAMES: [&str; 10] = [
    "as_operand",
    "bitwise",
    "dtype_from_name",
    "errors",
    "format_tensor",
    "max_result",
    "reduce_tensor",
    "size",
    "tensor",
    "zero_d_bool_key",
];

/// `tuple.__new__` and the package's `Size` class, kept apart from the dict: `shape` is read
/// on every hot path.
static SIZE: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// Registers the package's helpers (the first registration stays: a reloaded package's
/// functions behave the same).
#[pyfunction]
pub fn _register_helpers(helpers: &Bound<'_, PyDict>) -> PyResult<()> {
    for name in NAMES {
        if !helpers.contains(name)? {
            return Err(crate::errors::value_error(format!(
                "_register_helpers: missing helper {name:?}"
            )));
        }
    }
    let py = helpers.py();
    let _ = HELPERS.set(py, helpers.clone().unbind());
    if let Some(size) = helpers.get_item("size")? {
        let new = py.get_type::<PyTuple>().getattr("__new__")?;
        let _ = SIZE.set(py, (new.unbind(), size.unbind()));
    }
    Ok(())
}

/// `dims` as a `democratising.Size` (a tuple subclass, as `torch.Size`), made by `tuple`'s own
/// constructor rather than a Python `__new__`; a plain tuple before the package registers.
pub fn size<'py>(py: Python<'py>, dims: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let t = PyTuple::new(py, dims)?;
    match SIZE.get(py) {
        Some((new, cls)) => new.bind(py).call1((cls.bind(py), t)),
        None => Ok(t.into_any()),
    }
}

/// The helper registered as `name`, or a plain `RuntimeError` when the package never
/// registered its helpers (the extension loaded on its own: without `democratising.errors`
/// there is no hierarchy to raise from).
pub fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let missing = || {
        pyo3::exceptions::PyRuntimeError::new_err(format!(
            "democratising._core has no {name:?} helper: it is used without the democratising \
             package (import democratising)"
        ))
    };
    let dict = HELPERS.get(py).ok_or_else(missing)?;
    dict.bind(py).get_item(name)?.ok_or_else(missing)
}
