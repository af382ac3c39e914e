//! Maps the engine's `Error` enum onto the Python exception classes of `democratising.errors`.
//! The match is exhaustive: a new variant will not compile until it has a Python class.

use democratising::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Shape(_) => "ShapeError",
        Error::DType(_) => "DTypeError",
        Error::Device(_) => "DeviceError",
        Error::Index(_) => "IndexOutOfRangeError",
        Error::Value(_) => "InvalidValueError",
        Error::Overflow(_) => "OverflowValueError",
        Error::Autograd(_) => "AutogradError",
        Error::Checkpoint(_) => "CheckpointError",
        Error::Distributed(_) => "DistributedError",
        Error::OutOfMemory(_) => "OutOfMemoryError",
        Error::Io(_) => "FileIOError",
    }
}

/// `democratising.errors`, imported once (an error path must not pay for an import).
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Converts an engine error into the matching Python exception.
pub fn to_pyerr(e: Error) -> PyErr {
    Python::attach(|py| {
        let ty = ERRORS
            .get_or_try_init(py, || py.import("democratising.errors").map(Bound::unbind))
            .and_then(|m| m.bind(py).getattr(class_name(&e)))
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
