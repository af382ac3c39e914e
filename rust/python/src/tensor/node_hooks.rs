//! Hooks and metadata on graph nodes, as PyTorch's `torch.autograd.graph.Node`:
//! `grad_fn.register_prehook(fn(grad_outputs))` before the node's backward,
//! `grad_fn.register_hook(fn(grad_inputs, grad_outputs))` after it (either may return
//! replacements), and `grad_fn.metadata`, a dict kept with the node.

use super::{GradFn, HookHandle, HookSlot};
use crate::errors::from_pyerr;
use crate::util::{returned_gradient, wrap};
use democratising::{autograd, Error, Result, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::sync::Arc;

/// Gradients as the Python tuple a hook receives (`None` where there is none).
fn as_tuple<'py>(py: Python<'py>, grads: &[Option<Tensor>]) -> PyResult<Bound<'py, PyTuple>> {
    let items = grads
        .iter()
        .map(|g| match g {
            Some(t) => Ok(Bound::new(py, wrap(t.clone()))?.into_any()),
            None => Ok(py.None().into_bound(py)),
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, items)
}

/// What a hook returned: `None` (keep the gradients) or `n` gradients (tensors or `None`).
fn returned(obj: &Bound<'_, PyAny>, n: usize, what: &str) -> Result<Option<Vec<Option<Tensor>>>> {
    if obj.is_none() {
        return Ok(None);
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else {
        return Err(Error::Autograd(format!(
            "{what} must return None or a tuple of gradients"
        )));
    };
    if items.len() != n {
        return Err(Error::Autograd(format!(
            "{what} returned {} gradients, expected {n}",
            items.len()
        )));
    }
    let expected = format!("{what} must return tensors or None");
    items
        .iter()
        .map(|o| returned_gradient(o, &expected))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Calls a Python hook under the GIL (nothing once it was removed), carrying a Python
/// exception through the engine.
fn call(
    slot: &HookSlot,
    what: &str,
    args: impl FnOnce(Python<'_>) -> PyResult<Py<PyTuple>>,
    n: usize,
) -> Result<Option<Vec<Option<Tensor>>>> {
    Python::attach(|py| {
        let Some(hook) = slot.get(py) else {
            return Ok(None);
        };
        let r = args(py)
            .and_then(|a| hook.call1(py, a.bind(py).clone()))
            .map_err(|e| from_pyerr(e, what))?;
        returned(r.bind(py), n, what)
    })
}

#[pymethods]
impl GradFn {
    /// `hook(grad_outputs)` before this node's backward: may return replacement gradients.
    fn register_prehook(&self, hook: Py<PyAny>) -> HookHandle {
        let slot = HookSlot::shared(hook);
        let held = slot.clone();
        let f: autograd::Hook = Arc::new(move |g: &Tensor| {
            let args = |py: Python<'_>| -> PyResult<Py<PyTuple>> {
                Ok(PyTuple::new(py, [as_tuple(py, &[Some(g.clone())])?])?.unbind())
            };
            Ok(call(&held, "a node pre-hook", args, 1)?.and_then(|mut v| v.remove(0)))
        });
        self.node.hold(slot.clone());
        HookHandle::on_node(&self.node, self.node.register_prehook(f), slot)
    }

    /// `hook(grad_inputs, grad_outputs)` after this node's backward: may return replacement
    /// input gradients (`None` for the inputs that need none).
    fn register_hook(&self, hook: Py<PyAny>) -> HookHandle {
        let slot = HookSlot::shared(hook);
        let held = slot.clone();
        let f: autograd::NodeHook = Arc::new(move |grads: &[Option<Tensor>], g: &Tensor| {
            let args = |py: Python<'_>| -> PyResult<Py<PyTuple>> {
                let outs = as_tuple(py, &[Some(g.clone())])?;
                Ok(PyTuple::new(py, [as_tuple(py, grads)?, outs])?.unbind())
            };
            call(&held, "a node hook", args, grads.len())
        });
        self.node.hold(slot.clone());
        HookHandle::on_node(&self.node, self.node.register_hook(f), slot)
    }

    /// Reports what the engine keeps with this node for Python (its hooks, a custom
    /// Function's backward, `metadata`) to the cycle collector, when this object is the
    /// node's only handle (see `Tensor::visit_foreign`).
    fn __traverse__(
        &self,
        visit: pyo3::PyVisit<'_>,
    ) -> std::result::Result<(), pyo3::PyTraverseError> {
        super::report_foreign(&visit, |each| {
            autograd::Node::visit_foreign_if_unshared(&self.node, each)
        })
    }

    /// A dict kept with the node for the life of the graph (PyTorch's `Node.metadata`).
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let slot = self
            .node
            .metadata()
            .get_or_init(|| Box::new(PyDict::new(py).unbind()));
        slot.downcast_ref::<Py<PyDict>>()
            .map(|d| d.clone_ref(py))
            .ok_or_else(|| {
                pyo3::exceptions::PyRuntimeError::new_err("internal: node metadata slot")
            })
    }
}
