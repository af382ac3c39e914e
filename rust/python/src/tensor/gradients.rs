//! `Tensor` methods of autograd: `backward`, `grad`, `requires_grad`, hooks, `detach`.

use super::{copy_of, HookHandle, HookSlot, PyTensor};
use crate::errors::{from_pyerr, to_pyerr, ResultExt};
use crate::util::{operand, returned_gradient, run, wrap};
use democratising::autograd;
use democratising::{DType, Error, Tensor};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;

#[pymethods]
impl PyTensor {
    // ---- autograd ---------------------------------------------------------------------------

    /// `inputs`: accumulate only into these tensors' `.grad` (leaves or not), as PyTorch.
    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false, inputs=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<PyRef<'_, PyTensor>>,
        retain_graph: Option<bool>,
        create_graph: bool,
        inputs: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let g = gradient.map(|g| g.tensor());
        let t = &self.tensor();
        // As in PyTorch, building the gradients' graph keeps the graph they came from.
        let retain = retain_graph.unwrap_or(create_graph);
        let Some(inputs) = inputs else {
            return crate::util::detach(py, || autograd::backward(t, g, retain, create_graph)).py();
        };
        // One tensor is one input (not an iterable of its rows).
        let ins: Vec<Tensor> = match inputs.cast::<PyTensor>() {
            Ok(one) => vec![one.get().tensor()],
            Err(_) => inputs
                .extract::<Vec<PyRef<'_, PyTensor>>>()?
                .iter()
                .map(|t| t.tensor())
                .collect(),
        };
        if ins.is_empty() {
            return Err(to_pyerr(Error::Value(
                "`inputs` argument to `backward()` cannot be empty.".into(),
            )));
        }
        // A non-leaf input retains its gradient from now on (PyTorch's `retains_grad`), so the
        // engine writes its `.grad` as for any `retain_grad()`.
        for x in ins.iter().filter(|x| !x.is_leaf() && !x.retains_grad()) {
            x.retain_grad().py()?;
        }
        let outs = std::slice::from_ref(t);
        let got = crate::util::detach(py, || {
            autograd::grad(outs, vec![g], &ins, retain, create_graph)
        })
        .py()?;
        let mut done = std::collections::HashSet::new();
        for (x, grad) in ins.iter().zip(got) {
            if x.retains_grad() || !done.insert(x.id()) {
                continue; // written by the engine already, or the same leaf given twice
            }
            if let Some(grad) = grad {
                // Into `.grad` in place, then the post-accumulate hooks: the engine's own step.
                crate::util::detach(py, || autograd::accumulate_leaf_grad(x, grad, create_graph))
                    .py()?;
            }
        }
        Ok(())
    }
    fn detach(&self) -> PyTensor {
        wrap(self.tensor().detach())
    }
    /// Detaches this object in place: from now on it is a leaf sharing the same data, with
    /// `requires_grad=False` (PyTorch's `detach_`).
    fn detach_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if slf.get().tensor().view_base().is_some() {
            // As PyTorch: the base's graph would still reach this storage through the view.
            return Err(crate::errors::to_pyerr(democratising::Error::Autograd(
                "Can't detach views in-place. Use detach() instead.".into(),
            )));
        }
        slf.get().tensor().detach_in_place();
        Ok(slf)
    }
    /// True for a view of another tensor's storage (PyTorch's `_is_view`).
    fn _is_view(&self) -> bool {
        self.tensor().view_base().is_some()
    }
    /// The tensor this one is a view of (PyTorch's `_base`); None where it owns its memory.
    /// (A new Python object over that tensor on each read: `is` does not hold.)
    #[getter]
    fn _base(&self) -> Option<PyTensor> {
        self.tensor().view_base().cloned().map(wrap)
    }
    /// `div(other, rounding_mode=None)`: true division, or rounded with `"floor"` / `"trunc"`
    /// (integer inputs then give an integer result, as in PyTorch).
    #[pyo3(signature = (other, *, rounding_mode=None))]
    pub(crate) fn div(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        rounding_mode: Option<&str>,
    ) -> PyResult<PyTensor> {
        let o = operand(other)?;
        let t = &self.tensor();
        let n = t.numel().max(o.numel());
        match rounding_mode {
            None => run(py, n, || t.div(&o)).map(wrap),
            Some("floor") => run(py, n, || t.floor_divide(&o)).map(wrap),
            Some("trunc") => {
                let dt = democratising::ops::result_type(&[t, &o]);
                if dt.is_float() {
                    // Half types divide in float32 and round once, after truncating (PyTorch's
                    // opmath): a quotient just below an integer would round up to it first.
                    let wide = |x: &Tensor| match dt {
                        DType::F16 | DType::BF16 if !x.is_wrapped_number() => {
                            x.to_dtype(DType::F32)
                        }
                        _ => Ok(x.clone()),
                    };
                    return run(py, n, || wide(t)?.div(&wide(&o)?)?.trunc()?.to_dtype(dt))
                        .map(wrap);
                }
                // Integers stay exact (a float quotient rounds past 2**24 / 2**53): the floor
                // quotient (which refuses a zero divisor), one step back up where the exact
                // quotient was negative and inexact (remainder and dividend differ in sign).
                run(py, n, || {
                    let q = t.floor_divide(&o)?;
                    let r = t.remainder(&o)?;
                    let zero = Tensor::wrapped_scalar(0i64);
                    let up = r.sign()?.mul(&t.sign()?)?.lt(&zero)?.to_dtype(dt)?;
                    q.add(&up)
                })
                .map(wrap)
            }
            Some(other) => Err(crate::errors::value_error(format!(
                "div: rounding_mode must be None, 'floor' or 'trunc', got {other:?}"
            ))),
        }
    }
    /// Indices of the non-zero elements: `[n, ndim]`, or with `as_tuple=True` one index tensor
    /// per dim (what advanced indexing takes: `t[t.nonzero(as_tuple=True)]`).
    #[pyo3(signature = (*, as_tuple=false))]
    fn nonzero<'py>(&self, py: Python<'py>, as_tuple: bool) -> PyResult<Bound<'py, PyAny>> {
        let t = if self.tensor().ndim() == 0 && as_tuple {
            self.tensor().reshape(&[1]).py()?
        } else {
            self.tensor()
        };
        let idx = run(py, t.numel(), || t.nonzero())?;
        if !as_tuple {
            return Ok(Bound::new(py, wrap(idx))?.into_any());
        }
        // One contiguous row per dim (as PyTorch's: `view` works on each).
        let rows = idx.transpose(0, 1).and_then(|r| r.contiguous()).py()?;
        let cols = (0..t.ndim())
            .map(|d| rows.select(0, d as isize).map(wrap))
            .collect::<democratising::Result<Vec<_>>>()
            .py()?;
        Ok(PyTuple::new(py, cols)?.into_any())
    }
    /// Assigning `t.data` points a leaf at `value`'s data (sharing it; any shape, dtype or
    /// device), keeping the object, `requires_grad` and hooks, as in PyTorch. A non-leaf
    /// takes a copy of the values instead (shapes must match).
    #[setter]
    fn set_data(&self, py: Python<'_>, value: PyRef<'_, PyTensor>) -> PyResult<()> {
        let (cur, src) = (self.tensor(), value.tensor());
        if cur.is_leaf() {
            self.replace(cur.leaf_with_data(&src).py()?);
            return Ok(());
        }
        if src.shape() != cur.shape() {
            return Err(to_pyerr(Error::Shape(format!(
                "cannot assign .data of shape {:?} to a non-leaf tensor of shape {:?}",
                src.shape(),
                cur.shape()
            ))));
        }
        let (dst, src) = (cur.detach(), src.detach());
        run(py, dst.numel(), || dst.copy_(&src))
    }
    /// Makes this object stand for `view` (a view of its own data, or another tensor's data)
    /// from now on: the in-place metadata ops (`unsqueeze_`, `t_`, `resize_`, `set_`...). A
    /// leaf that requires grad refuses in grad mode, as in PyTorch; under `no_grad` it stays
    /// a leaf over the new view.
    fn _become(&self, view: PyRef<'_, PyTensor>, op: &str) -> PyResult<()> {
        let (cur, new) = (self.tensor(), view.tensor());
        if cur.is_leaf() && cur.requires_grad() {
            if autograd::is_grad_enabled() {
                return Err(to_pyerr(Error::Autograd(format!(
                    "{op}: a leaf Variable that requires grad is being used in an in-place \
                     operation."
                ))));
            }
            self.replace(cur.leaf_with_data(&new.detach()).py()?);
        } else {
            self.replace(new);
        }
        Ok(())
    }
    /// `f"{t:.4f}"` formats a 0-d tensor as its number (PyTorch).
    fn __format__(slf: &Bound<'_, Self>, spec: &str) -> PyResult<String> {
        if slf.get().tensor().ndim() == 0 {
            return slf
                .call_method0("item")?
                .call_method1("__format__", (spec,))?
                .extract();
        }
        if spec.is_empty() {
            return slf.str()?.extract();
        }
        Err(crate::errors::type_error(format!(
            "unsupported format string {spec:?} for a tensor of shape {:?} (only 0-d tensors \
             format as numbers)",
            slf.get().tensor().shape()
        )))
    }
    /// `pickle`: the values as a NumPy array, dtype, device and `requires_grad` (leaves only).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        crate::registry::helper(py, "reduce_tensor")?.call1((slf,))
    }
    /// `copy.deepcopy(t)`: a leaf with its own copy of the data (and of `.grad`), the same
    /// class (`Parameter` stays a parameter), `requires_grad` and instance attributes. As in
    /// PyTorch, only graph leaves can be deep-copied.
    fn __deepcopy__<'py>(
        slf: &Bound<'py, Self>,
        memo: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let t = &slf.get().tensor();
        if !t.is_leaf() {
            return Err(to_pyerr(Error::Autograd(format!(
                "only graph leaves (tensors created by the user) can be deep-copied; this tensor \
                 of shape {:?} is the result of an operation: detach() it first",
                t.shape()
            ))));
        }
        let data = crate::util::detach(py, || t.detach().deep_clone()).py()?;
        let grad = match t.grad() {
            Some(g) => Some(crate::util::detach(py, || g.deep_clone()).py()?),
            None => None,
        };
        let new = copy_of(slf, data)?;
        new.cast::<PyTensor>()?.get().tensor().set_grad(grad).py()?;
        if let Ok(attrs) = slf.getattr("__dict__") {
            let copied = py
                .import("copy")?
                .getattr("deepcopy")?
                .call1((attrs, memo))?;
            new.getattr("__dict__")?.call_method1("update", (copied,))?;
        }
        Ok(new)
    }
    /// `copy.copy(t)`: a new tensor object of the same class sharing this one's data (as
    /// PyTorch's), with the same `requires_grad`.
    fn __copy__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let new = copy_of(slf, slf.get().tensor().detach())?;
        if let Ok(attrs) = slf.getattr("__dict__") {
            new.getattr("__dict__")?.call_method1("update", (attrs,))?;
        }
        Ok(new)
    }
    fn retain_grad(&self) -> PyResult<()> {
        self.tensor().retain_grad().py()
    }
    /// Whether `retain_grad()` was called on this non-leaf tensor.
    #[getter]
    fn retains_grad(&self) -> bool {
        self.tensor().retains_grad()
    }
    /// Calls `hook(grad)` during backward; a returned tensor replaces the gradient.
    fn register_hook(&self, hook: Py<PyAny>) -> PyResult<HookHandle> {
        // The engine reaches the hook through a slot kept with the tensor (see `HookSlot`),
        // not through a reference of its own.
        let t = self.tensor();
        let slot = HookSlot::shared(hook);
        let held = slot.clone();
        let f: autograd::Hook = Arc::new(move |g: &Tensor| {
            Python::attach(|py| {
                let Some(hook) = held.get(py) else {
                    return Ok(None); // removed
                };
                let r = hook
                    .call1(py, (wrap(g.clone()),))
                    .map_err(|e| from_pyerr(e, "a tensor hook"))?;
                let expected = "a tensor hook must return None or a Tensor";
                let Some(t) = returned_gradient(r.bind(py), expected)? else {
                    return Ok(None);
                };
                // The replacement must stand for the same gradient (as PyTorch checks).
                let changed = |what: &str, detail: String| {
                    let name = hook
                        .bind(py)
                        .getattr("__name__")
                        .map_or_else(|_| "hook".to_string(), |n| n.to_string());
                    Err(Error::Autograd(format!(
                        "hook '{name}' has changed the {what} of value ({detail})"
                    )))
                };
                if t.shape() != g.shape() {
                    let detail = format!("from {:?} to {:?}", g.shape(), t.shape());
                    return changed("size", detail);
                }
                if t.dtype() != g.dtype() {
                    return changed("type", format!("was {} got {}", g.dtype(), t.dtype()));
                }
                Ok(Some(t))
            })
        });
        let id = t.register_hook(f).py()?;
        t.hold(slot.clone());
        Ok(HookHandle::new(&t, id, slot))
    }
    /// Reports the Python callables the engine keeps with this tensor and its node (hooks, a
    /// custom Function's backward) to the cycle collector, when this object is the only way
    /// to reach them (see `Tensor::visit_foreign`).
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if !self.built.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let Ok(t) = self.handle.try_read() else {
            return Ok(());
        };
        super::report_foreign(&visit, |each| t.visit_foreign(each))
    }
    /// Calls `hook(tensor)` once this leaf's `.grad` is final for the current backward pass,
    /// `tensor` being this very Python object (as PyTorch's: optimizers in hooks look their
    /// state up by parameter). It is held weakly: a hook keeps no parameter alive.
    fn register_post_accumulate_grad_hook(
        slf: &Bound<'_, Self>,
        hook: Py<PyAny>,
    ) -> PyResult<HookHandle> {
        let me = pyo3::types::PyWeakrefReference::new(slf.as_any())?.unbind();
        let target = slf.get().tensor();
        let slot = HookSlot::shared(hook);
        let held = slot.clone();
        let f: autograd::PostAccumulateHook = Arc::new(move |t: &Tensor| {
            Python::attach(|py| {
                let call = || -> PyResult<()> {
                    let Some(hook) = held.get(py) else {
                        return Ok(()); // removed
                    };
                    let arg = match me.bind(py).upgrade() {
                        Some(obj) => obj,
                        None => Bound::new(py, wrap(t.clone()))?.into_any(),
                    };
                    hook.call1(py, (arg,)).map(drop)
                };
                call().map_err(|e| from_pyerr(e, "a post-accumulate-grad hook"))
            })
        });
        let id = target.register_post_accumulate_grad_hook(f).py()?;
        target.hold(slot.clone());
        Ok(HookHandle::new(&target, id, slot))
    }
}
