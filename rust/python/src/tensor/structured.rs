//! `Tensor` structured ops: matmul, gather/scatter, where, masks and sorting helpers.

use super::PyTensor;
use crate::errors::{to_pyerr, ResultExt};
use crate::types::extract_dtype;
use crate::util::{operand, run, wrap};
use democratising::{Error, Tensor};
use pyo3::prelude::*;

/// `softmax(dim=-1, dtype=None)` and `log_softmax` (`log` says which), through `softmax_over`.
macro_rules! softmax_py {
    ($($name:ident => $log:expr),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = (dim=None, dtype=None, *, axis=None))]
                fn $name(
                    &self,
                    py: Python<'_>,
                    dim: Option<isize>,
                    dtype: Option<&Bound<'_, PyAny>>,
                    axis: Option<isize>,
                ) -> PyResult<PyTensor> {
                    let dim = crate::util::dim_or_axis(stringify!($name), dim, axis)?;
                    self.softmax_over(py, dim.unwrap_or(-1), dtype, $log)
                }
            )*
        }
    };
}

softmax_py!(softmax => false, log_softmax => true);

#[pymethods]
impl PyTensor {
    // ---- structured ops ---------------------------------------------------------------------

    /// `gather(dim, index)`; `sparse_grad` is accepted and ignored (the gradient is dense).
    #[pyo3(signature = (dim, index, *, sparse_grad=false))]
    fn gather(
        &self,
        py: Python<'_>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
        sparse_grad: bool,
    ) -> PyResult<PyTensor> {
        let _ = sparse_grad;
        let (t, i) = (&self.tensor(), &index.tensor());
        run(py, i.numel(), || t.gather(dim, i)).map(wrap)
    }
    fn scatter_add(
        &self,
        py: Python<'_>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
        src: PyRef<'_, PyTensor>,
    ) -> PyResult<PyTensor> {
        let (t, i, s) = (&self.tensor(), &index.tensor(), &src.tensor());
        if t.dtype() != s.dtype() {
            // As PyTorch (and `scatter`): the sums are not cast into `self`'s dtype.
            let msg = format!(
                "scatter_add(): expected self.dtype to be equal to src.dtype ({} vs {})",
                t.dtype().name(),
                s.dtype().name()
            );
            return Err(to_pyerr(Error::dtype_mismatch("scatter_add", &[t, s], msg)));
        }
        run(py, i.numel(), || t.scatter_add(dim, i, s)).map(wrap)
    }
    /// The engine ops behind Python's `index_add` and `scatter` (`op` names which), whose
    /// public methods check the index and shapes first.
    fn _put_along(
        &self,
        py: Python<'_>,
        op: &str,
        dim: isize,
        index: PyRef<'_, PyTensor>,
        source: PyRef<'_, PyTensor>,
    ) -> PyResult<PyTensor> {
        let f = match op {
            "index_add" => Tensor::index_add,
            "scatter" => Tensor::scatter,
            _ => return Err(to_pyerr(Error::Value(format!("_put_along: no op {op:?}")))),
        };
        let (t, i, s) = (&self.tensor(), &index.tensor(), &source.tensor());
        run(py, s.numel(), || f(t, dim, i, s)).map(wrap)
    }
    /// The engine's out-of-place `index_put` (with autograd) behind `index_put`: one integer
    /// index tensor per leading dim, broadcast together, already checked against the shape.
    fn _index_put(
        &self,
        py: Python<'_>,
        indices: Vec<PyRef<'_, PyTensor>>,
        values: PyRef<'_, PyTensor>,
        accumulate: bool,
    ) -> PyResult<PyTensor> {
        let idx: Vec<Option<Tensor>> = indices.iter().map(|i| Some(i.tensor())).collect();
        let (t, v) = (&self.tensor(), &values.tensor());
        run(py, v.numel(), || t.index_put(&idx, v, accumulate)).map(wrap)
    }
    /// The engine's constant padding behind `F.pad` (non-negative `(before, after)` amounts,
    /// the last dim first; the caller crops negative ones).
    fn _constant_pad(
        &self,
        py: Python<'_>,
        pads: Vec<(usize, usize)>,
        value: f64,
    ) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || t.constant_pad(&pads, value)).map(wrap)
    }
    /// The engine's `flip` behind the Python method, which parses the dims.
    fn _flip(&self, py: Python<'_>, dims: Vec<isize>) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || t.flip(&dims)).map(wrap)
    }
    /// The engine's `triu` (`upper`) or `tril` behind the Python methods.
    fn _tri(&self, py: Python<'_>, diagonal: i64, upper: bool) -> PyResult<PyTensor> {
        let t = &self.tensor();
        run(py, t.numel(), || match upper {
            true => t.triu(diagonal),
            false => t.tril(diagonal),
        })
        .map(wrap)
    }
    fn index_select(
        &self,
        py: Python<'_>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
    ) -> PyResult<PyTensor> {
        let (t, i) = (&self.tensor(), &index.tensor());
        run(py, t.numel(), || t.index_select(dim, i)).map(wrap)
    }
    fn masked_fill(
        &self,
        py: Python<'_>,
        mask: PyRef<'_, PyTensor>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<PyTensor> {
        let v = operand(value)?;
        if v.ndim() != 0 {
            return Err(crate::errors::to_pyerr(democratising::Error::Value(
                format!(
                    "masked_fill only supports a 0-dimensional value tensor, but got tensor with \
                 {} dimension(s).",
                    v.ndim()
                ),
            )));
        }
        democratising::ops::overflow::check_scalar_fits(&v, self.tensor().dtype()).py()?;
        let (t, m) = (&self.tensor(), &mask.tensor());
        let tracked = v.requires_grad() && democratising::autograd::is_grad_enabled();
        if tracked && t.dtype().is_float() {
            // A value that requires grad is selected, not read as a number: its gradient is
            // the sum over the filled positions, as PyTorch's.
            let v = v.to_dtype(t.dtype()).py()?;
            return run(py, t.numel(), || Tensor::where_(m, &v, t)).map(wrap);
        }
        if t.dtype().is_int() && super::arithmetic::beyond_f64(value) {
            // A value past 2**53 would round through f64: selected exactly in the integer dtype.
            let v = v.to_dtype(t.dtype()).py()?;
            return run(py, t.numel(), || Tensor::where_(m, &v, t)).map(wrap);
        }
        let v = v.item().py()?;
        run(py, t.numel(), || t.masked_fill(m, v)).map(wrap)
    }
    /// `t.where(condition, other)`: `torch.where(condition, t, other)`.
    #[pyo3(name = "where")]
    fn where_method(
        slf: &Bound<'_, Self>,
        condition: PyRef<'_, PyTensor>,
        other: &Bound<'_, PyAny>,
    ) -> PyResult<PyTensor> {
        crate::functions::where_(slf.py(), condition, slf.as_any(), other)
    }
    fn dot(&self, tensor: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        // Not on PyTorch's autocast lists: a dot product keeps its inputs' precision.
        let _plain = democratising::amp::AutocastGuard::disabled();
        self.matmul_of_rank(&tensor, 1, "dot")
    }
    fn mm(&self, mat2: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.matmul_of_rank(&mat2, 2, "mm")
    }
}

impl PyTensor {
    /// `dot` and `mm`: `matmul` of two tensors that must both have `ndim` dims.
    fn matmul_of_rank(&self, other: &PyTensor, ndim: usize, op: &str) -> PyResult<PyTensor> {
        if self.tensor().ndim() != ndim || other.tensor().ndim() != ndim {
            return Err(to_pyerr(Error::Shape(format!(
                "{op}: {ndim}D tensors expected, but got {:?} and {:?}",
                self.tensor().shape(),
                other.tensor().shape()
            ))));
        }
        self.tensor().matmul(&other.tensor()).py().map(wrap)
    }

    /// Softmax (or log-softmax) along `dim`, the input cast to `dtype` first when given.
    fn softmax_over(
        &self,
        py: Python<'_>,
        dim: isize,
        dtype: Option<&Bound<'_, PyAny>>,
        log: bool,
    ) -> PyResult<PyTensor> {
        let t = match dtype {
            Some(d) => {
                let dt = extract_dtype(d)?;
                if !dt.is_float() {
                    let op = if log { "log_softmax" } else { "softmax" };
                    let msg = format!(
                        "\"{op}\" not implemented for {} (dtype= must be a float dtype)",
                        dt.name()
                    );
                    return Err(to_pyerr(Error::DType(msg)));
                }
                self.tensor().to_dtype(dt).py()?
            }
            None => self.tensor(),
        };
        run(py, t.numel(), || {
            if log {
                t.log_softmax(dim)
            } else {
                t.softmax(dim)
            }
        })
        .map(wrap)
    }
}
