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
        Error::Autograd(_) => "AutogradError",
        Error::Checkpoint(_) => "CheckpointError",
        Error::Distributed(_) => "DistributedError",
        Error::OutOfMemory(_) => "OutOfMemoryError",
        Error::Io(_) => "FileIOError",
    }
}

/// Converts an engine error into the matching Python exception.
pub fn to_pyerr(e: Error) -> PyErr {
    Python::attach(|py| {
        let ty = py
            .import("democratising.errors")
            .and_then(|m| m.getattr(class_name(&e)))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match ty {
            Ok(t) => PyErr::from_type(t, e.to_string()),
            Err(err) => err,
        }
    })
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

/// Builds an engine error from a Python exception raised inside a hook.
pub fn from_pyerr(e: PyErr) -> Error {
    Error::Autograd(format!("a hook raised: {e}"))
}
