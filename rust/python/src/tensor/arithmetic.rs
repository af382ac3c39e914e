//! `Tensor` arithmetic: operators, elementwise math and comparisons.

use super::PyTensor;
use crate::errors::{to_pyerr, ResultExt};
use crate::util::{operand, run, wrap};
use democratising::{DType, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PyTuple};

#[pymethods]
impl PyTensor {
    // ---- arithmetic -------------------------------------------------------------------------

    #[pyo3(signature = (other, alpha=1.0))]
    fn add(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: f64) -> PyResult<PyTensor> {
        let (t, o) = (&self.tensor(), operand(other)?);
        run(py, t.numel(), || t.add_scaled(&o, alpha)).map(wrap)
    }
    #[pyo3(signature = (other, alpha=1.0))]
    fn sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: f64) -> PyResult<PyTensor> {
        let (t, o) = (&self.tensor(), operand(other)?);
        run(py, t.numel(), || t.sub_scaled(&o, alpha)).map(wrap)
    }
    fn pow(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = &self.tensor();
        if let Ok(e) = exponent.extract::<f64>() {
            if !exponent.is_instance_of::<PyTensor>() && t.dtype().is_float() {
                return run(py, t.numel(), || t.pow_scalar(e)).map(wrap);
            }
        }
        let o = operand(exponent)?;
        run(py, t.numel(), || t.pow(&o)).map(wrap)
    }
    // Three-argument pow (`modulo`) is not supported: the argument is ignored.
    fn __rpow__(
        &self,
        other: &Bound<'_, PyAny>,
        _modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let t = &self.tensor();
        operator_result(other.py(), other, || {
            let o = operand(other)?;
            run(other.py(), t.numel(), || o.pow(t)).map(wrap)
        })
    }
    fn __pow__(
        &self,
        other: &Bound<'_, PyAny>,
        _modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        operator_result(other.py(), other, || self.pow(other.py(), other))
    }
    fn __neg__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.neg(py)
    }
    /// `+t` is `t` itself, as PyTorch's `positive`; refused for bool, as there.
    fn __pos__(&self) -> PyResult<PyTensor> {
        if self.tensor().dtype() == DType::Bool {
            return Err(crate::errors::to_pyerr(democratising::Error::DType(
                "The `+` operator, on a bool tensor is not supported.".into(),
            )));
        }
        Ok(wrap(self.tensor()))
    }
    fn __abs__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.abs(py)
    }
    fn __iadd__(&self, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = operand(other)?;
        self.inplace(|t| t.add_(&o, 1.0))
    }
    fn __isub__(&self, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = operand(other)?;
        self.inplace(|t| t.sub_(&o, 1.0))
    }
    fn __imul__(&self, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = operand(other)?;
        self.inplace(|t| t.mul_(&o))
    }
    fn __itruediv__(&self, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = operand(other)?;
        self.inplace(|t| t.div_(&o))
    }
    /// `clamp(min=None, max=None)`: numbers, or tensors that broadcast against this one.
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(
        &self,
        py: Python<'_>,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let (min, max) = (min.filter(|m| !m.is_none()), max.filter(|m| !m.is_none()));
        if min.is_none() && max.is_none() {
            return Err(crate::errors::value_error(
                "clamp: at least one of 'min' and 'max' must not be None",
            ));
        }
        let is_tensor =
            |b: Option<&Bound<'_, PyAny>>| b.is_some_and(|b| b.is_instance_of::<PyTensor>());
        let t = &self.tensor();
        if is_tensor(min) || is_tensor(max) {
            let (lo, hi) = (min.map(operand).transpose()?, max.map(operand).transpose()?);
            // The result type of all three operands (PyTorch's: an int tensor clamped by a 0-d
            // float64 and a float32 tensor is float32), not of each pair in turn.
            let all: Vec<&Tensor> = [Some(t), lo.as_ref(), hi.as_ref()]
                .into_iter()
                .flatten()
                .collect();
            let dt = democratising::ops::result_type(&all);
            let cast = |x: &Tensor| -> PyResult<Tensor> {
                if x.dtype() == dt || x.is_wrapped_number() {
                    Ok(x.clone())
                } else {
                    x.to_dtype(dt).py()
                }
            };
            let (t, lo, hi) = (
                &cast(t)?,
                lo.as_ref().map(cast).transpose()?,
                hi.as_ref().map(cast).transpose()?,
            );
            let mut out = t.clone();
            if let Some(lo) = &lo {
                out = run(py, out.numel(), || out.maximum(lo))?;
            }
            if let Some(hi) = &hi {
                out = run(py, out.numel(), || out.minimum(hi))?;
            }
            if let (Some(lo), Some(hi)) = (&lo, &hi) {
                let tracked = [t, lo, hi].iter().any(|x| x.requires_grad());
                if tracked && democratising::autograd::is_grad_enabled() {
                    // x == min == max: the gradient is x's alone, as PyTorch's (maximum then
                    // minimum would split it three ways; a tie with one bound splits in half
                    // in both).
                    out = run(py, out.numel(), || {
                        let tie = t.eq(lo)?.logical_and(&t.eq(hi)?)?;
                        Tensor::where_(&tie, t, &out)
                    })?;
                }
            }
            return Ok(wrap(out));
        }
        // An integer or boolean tensor clamped to a float bound is promoted to the default
        // float dtype first, as PyTorch's type promotion does (`tensor([1, 2]).clamp(0.5)`).
        // (A NumPy float bound counts too: `clamp(min=np.float32(2.5))`.)
        let float_bound = !t.dtype().is_float()
            && [min, max].into_iter().flatten().any(|b| {
                b.is_instance_of::<pyo3::types::PyFloat>()
                    || operand(b).is_ok_and(|o| o.dtype().is_float())
            });
        // A boolean tensor clamped to integer bounds is promoted to int64 (`clamp(tensor([True]),
        // min=-2)`), as PyTorch's; boolean bounds stay refused by the engine.
        let int_bound = t.dtype() == DType::Bool
            && [min, max].into_iter().flatten().any(|b| {
                b.is_instance_of::<pyo3::types::PyInt>()
                    && !b.is_instance_of::<pyo3::types::PyBool>()
            });
        let promoted;
        let t = if float_bound && !t.dtype().is_float() {
            promoted = t.to_dtype(DType::default_float()).py()?;
            &promoted
        } else if int_bound {
            promoted = t.to_dtype(DType::I64).py()?;
            &promoted
        } else {
            t
        };
        check_int_bounds(t, min, max)?;
        if t.dtype().is_int() && [min, max].into_iter().flatten().any(beyond_f64) {
            // A bound past 2**53 would round through f64: compare exactly in the integer dtype.
            let mut out = t.clone();
            if let Some(lo) = min {
                out = out.maximum(&operand(lo)?).py()?;
            }
            if let Some(hi) = max {
                out = out.minimum(&operand(hi)?).py()?;
            }
            return Ok(wrap(out));
        }
        let lo = min.map(|m| m.extract::<f64>()).transpose()?;
        let hi = max.map(|m| m.extract::<f64>()).transpose()?;
        run(py, t.numel(), || t.clamp(lo, hi)).map(wrap)
    }
    /// `clip`: PyTorch's alias of `clamp`.
    #[pyo3(signature = (min=None, max=None))]
    fn clip(
        slf: &Bound<'_, Self>,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        slf.get().clamp(slf.py(), min, max)
    }
    #[pyo3(signature = (approximate="none"))]
    fn gelu(&self, py: Python<'_>, approximate: &str) -> PyResult<PyTensor> {
        let t = &self.tensor();
        match approximate {
            "none" => run(py, t.numel(), || t.gelu()).map(wrap),
            "tanh" => run(py, t.numel(), || t.gelu_tanh()).map(wrap),
            other => Err(crate::errors::value_error(format!(
                "gelu: approximate must be 'none' or 'tanh', got {other:?}"
            ))),
        }
    }
    #[pyo3(signature = (negative_slope=0.01))]
    fn leaky_relu(&self, py: Python<'_>, negative_slope: f64) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || t.leaky_relu(negative_slope)).map(wrap)
    }
    #[pyo3(signature = (alpha=1.0))]
    fn elu(&self, py: Python<'_>, alpha: f64) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || t.elu(alpha)).map(wrap)
    }
    /// The `n`-th derivative of digamma (`torch.Tensor.polygamma`).
    fn polygamma(&self, py: Python<'_>, n: i64) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || t.polygamma(n)).map(wrap)
    }
    #[pyo3(signature = (beta=1.0, threshold=20.0))]
    fn softplus(&self, py: Python<'_>, beta: f64, threshold: f64) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || t.softplus(beta, threshold)).map(wrap)
    }
}

/// A Python int (or 0-d integer tensor) that float64 cannot hold exactly (|v| > 2**53).
pub(crate) fn beyond_f64(b: &Bound<'_, PyAny>) -> bool {
    const EXACT: u64 = 1 << 53;
    match b.extract::<i64>() {
        Ok(v) => v.unsigned_abs() > EXACT,
        Err(_) => b.cast::<PyTensor>().is_ok_and(|t| {
            let t = t.get().tensor();
            t.dtype().is_int()
                && t.numel() == 1
                && t.item_i64().is_ok_and(|v| v.unsigned_abs() > EXACT)
        }),
    }
}

/// An integer tensor's clamp bound past its dtype's range clamps nothing
/// (`uint8.clamp(max=300)`), unless it leaves no value of the range (`uint8.clamp(max=-1)`,
/// `clamp(min=300)`): an error, as PyTorch's.
pub(crate) fn check_int_bounds(
    t: &Tensor,
    min: Option<&Bound<'_, PyAny>>,
    max: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let Some((lo, hi)) = democratising::ops::overflow::int_range(t.dtype()) else {
        return Ok(());
    };
    for (b, is_max) in [(min, false), (max, true)] {
        let Some(b) = b else { continue };
        let x = operand(b)?.item().py()?;
        if (is_max && x < lo as f64) || (!is_max && x > hi as f64) {
            let err = democratising::ops::overflow::overflow(x, t.dtype());
            return Err(to_pyerr(err));
        }
    }
    Ok(())
}

/// An operator's answer: the tensor `f` makes for an operand that is a tensor, a number or
/// an array (`__array__`, `__dlpack__`); else `NotImplemented`, as PyTorch's, so Python's own
/// meaning applies: `[0] * t` repeats the list through `t.__index__`, `t == [1]` is `False`,
/// `t + [1]` a TypeError, and `dense @ sparse` is the sparse tensor's `__rmatmul__`.
pub(super) fn operator_result(
    py: Python<'_>,
    other: &Bound<'_, PyAny>,
    f: impl FnOnce() -> PyResult<PyTensor>,
) -> PyResult<Py<PyAny>> {
    let operand = other.is_instance_of::<PyTensor>()
        || other.is_instance_of::<PyInt>()
        || other.is_instance_of::<PyFloat>()
        || (!other.is_instance_of::<PyList>()
            && !other.is_instance_of::<PyTuple>()
            && (other.hasattr("__array__")? || other.hasattr("__dlpack__")?));
    if !operand {
        return Ok(py.NotImplemented());
    }
    Ok(Bound::new(py, f()?)?.into_any().unbind())
}
