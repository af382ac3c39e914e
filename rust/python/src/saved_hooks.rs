//! `democratising.autograd.graph.saved_tensors_hooks`: Python `pack`/`unpack` callables the
//! engine runs on every tensor an op saves for backward (while the context is active on the
//! thread that records the op).

use crate::errors::from_pyerr;
use crate::tensor::PyTensor;
use crate::util::wrap;
use democratising::autograd::{self, Packed, SavedTensorHooks};
use democratising::{Error, Result, Tensor};
use pyo3::prelude::*;
use std::sync::Arc;

struct PyHooks {
    pack: Py<PyAny>,
    unpack: Py<PyAny>,
}

impl SavedTensorHooks for PyHooks {
    fn pack(&self, t: &Tensor) -> Result<Packed> {
        Python::attach(|py| {
            let packed = self
                .pack
                .call1(py, (wrap(t.clone()),))
                .map_err(|e| from_pyerr(e, "a saved-tensor pack hook"))?;
            Ok(Box::new(packed) as Packed)
        })
    }

    fn unpack(&self, packed: &Packed) -> Result<Tensor> {
        let Some(packed) = packed.downcast_ref::<Py<PyAny>>() else {
            return Err(Error::Autograd(
                "a saved tensor was packed by other hooks than the ones unpacking it".into(),
            ));
        };
        Python::attach(|py| {
            let r = self
                .unpack
                .call1(py, (packed.clone_ref(py),))
                .map_err(|e| from_pyerr(e, "a saved-tensor unpack hook"))?;
            match r.bind(py).cast::<PyTensor>() {
                Ok(t) => Ok(t.get().tensor()),
                Err(_) => Err(Error::Type(format!(
                    "a saved-tensor unpack hook must return a Tensor, got {}",
                    r.bind(py)
                        .get_type()
                        .name()
                        .map_or("?".into(), |n| n.to_string())
                ))),
            }
        })
    }
}

/// Makes `pack`/`unpack` the saved-tensor hooks of this thread (innermost wins) until
/// `_pop_saved_tensors_hooks`.
#[pyfunction]
pub fn _push_saved_tensors_hooks(pack: Py<PyAny>, unpack: Py<PyAny>) {
    autograd::push_saved_tensor_hooks(Arc::new(PyHooks { pack, unpack }));
}

/// Removes the innermost saved-tensor hooks of this thread.
#[pyfunction]
pub fn _pop_saved_tensors_hooks() {
    autograd::pop_saved_tensor_hooks();
}
