//! Maps the engine's `Error` enum onto the Python exception classes of `democratising.errors`.
//! The match is exhaustive: a new variant will not compile until it has a Python class.

use democratising::Error;
use pyo3::prelude::*;
use pyo3::types::PyType;

fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Shape(_) => "ShapeError",
        Error::DType(_) => "DTypeError",
        Error::Device(_) => "DeviceError",
        Error::Index(_) => "IndexOutOfRangeError",
        Error::Value(_) => "InvalidValueError",
        Error::Type(_) => "ArgumentTypeError",
        Error::Overflow(_) => "OverflowValueError",
        Error::Autograd(_) => "AutogradError",
        Error::Checkpoint(_) => "CheckpointError",
        Error::Distributed(_) => "DistributedError",
        Error::OutOfMemory(_) => "OutOfMemoryError",
        Error::Io(_) => "FileIOError",
        Error::External(_) => "AutogradError",
        Error::ShapeMismatch(_) => "ShapeError",
        Error::DTypeMismatch(_) => "DTypeError",
    }
}

/// Converts an engine error into the matching Python exception. A Python exception that
/// travelled through the engine (raised in a hook or a custom backward) comes back as itself,
/// its type and traceback intact, with a note saying where the engine called it.
pub fn to_pyerr(e: Error) -> PyErr {
    if let Error::External(x) = &e {
        if let Some(err) = x.payload.downcast_ref::<PyErr>() {
            return Python::attach(|py| {
                let err = err.clone_ref(py);
                let value = err.value(py);
                if value.hasattr("add_note").unwrap_or(false) {
                    let note = format!("(raised in {} during backward)", x.where_);
                    // Best effort: a note is context, never a reason to lose the error.
                    let _ = value.call_method1("add_note", (note,));
                    if !x.notes.is_empty() {
                        let _ = value.call_method1("add_note", (x.notes.trim(),));
                    }
                }
                err
            });
        }
    }
    Python::attach(|py| {
        // `democratising.errors`, registered by the package at import (an error path never
        // imports anything).
        let ty = crate::registry::helper(py, "errors")
            .and_then(|m| m.getattr(class_name(&e)))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match ty {
            Ok(t) => {
                let err = PyErr::from_type(t, e.to_string());
                if let Some(m) = e.mismatch() {
                    // Best effort: the attributes are context, never a reason to lose the error.
                    let _ = describe(py, &err, m);
                }
                err
            }
            Err(err) => err,
        }
    })
}

/// An exception of the class `name` of `democratising.errors` (one no engine error maps to,
/// as `IndexTypeError`), or the lookup's own error.
pub fn named_error(name: &str, msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    Python::attach(|py| {
        crate::registry::helper(py, "errors")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from))
            .map_or_else(|e| e, |t| PyErr::from_type(t, msg))
    })
}

/// A `TypeError` of the hierarchy (`ArgumentTypeError`).
pub fn type_error(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::Type(msg.into()))
}

/// A `ValueError` of the hierarchy (`InvalidValueError`).
pub fn value_error(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::Value(msg.into()))
}

/// `?`-friendly conversion of engine results.
pub trait ResultExt<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> ResultExt<T> for democratising::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}

/// Carries a Python exception raised by user code the engine called (`where_`: a tensor hook,
/// a custom `Function.backward`, ...) through the engine; `to_pyerr` gives it back unchanged.
pub fn from_pyerr(e: PyErr, where_: &str) -> Error {
    let message = e.to_string();
    Error::external(e, message, where_)
}

/// Sets `op`, `shapes` (tuples) and `dtypes` (dtype objects) on a raised `ShapeError` or
/// `DTypeError` of a mismatch.
fn describe(py: Python<'_>, err: &PyErr, m: &democratising::Mismatch) -> PyResult<()> {
    let value = err.value(py);
    value.setattr("op", &m.op)?;
    let shapes: Vec<Bound<'_, pyo3::types::PyTuple>> = m
        .shapes
        .iter()
        .map(|s| pyo3::types::PyTuple::new(py, s))
        .collect::<PyResult<_>>()?;
    value.setattr("shapes", pyo3::types::PyTuple::new(py, shapes)?)?;
    let dtypes: Vec<Py<crate::types::PyDType>> = m
        .dtypes
        .iter()
        .map(|&d| crate::types::dtype_object(py, d))
        .collect::<PyResult<_>>()?;
    value.setattr("dtypes", pyo3::types::PyTuple::new(py, dtypes)?)?;
    Ok(())
}
