//! `Tensor` reductions: sums, means, extrema, softmax and their dims/keepdim arguments.

use super::PyTensor;
use crate::errors::ResultExt;
use crate::types::extract_dtype;
use crate::util::{dim_or_axis, dims_arg, run, wrap};
use democratising::{DType, Tensor};
use pyo3::prelude::*;

/// Reductions over `dim` (an int, a sequence or `None` for all) with `keepdim`; `dtype`: the
/// input cast first (PyTorch's `sum(dtype=...)`); `correction`: the variance's, from
/// `unbiased` or `correction` as PyTorch reads them.
macro_rules! dim_reductions_py {
    ($($name:ident $(, $extra:ident)?;)*) => {
        $(dim_reductions_py!(@one $name $(, $extra)?);)*
    };
    (@one $name:ident) => {
        #[pymethods]
        impl PyTensor {
        #[pyo3(signature = (dim=None, keepdim=false, *, axis=None, keepdims=None))]
        fn $name(
            slf: &Bound<'_, Self>,
            dim: Option<&Bound<'_, PyAny>>,
            keepdim: bool,
            axis: Option<&Bound<'_, PyAny>>,
            keepdims: Option<bool>,
        ) -> PyResult<PyTensor> {
            let (d, keepdim) = reduce_args(stringify!($name), dim, axis, keepdim, keepdims)?;
            let t = &slf.get().tensor();
            run(slf.py(), t.numel(), || t.$name(d.as_deref(), keepdim)).map(wrap)
        }
        }
    };
    (@one $name:ident, dtype) => {
        #[pymethods]
        impl PyTensor {
        #[pyo3(signature = (dim=None, keepdim=false, dtype=None, *, axis=None, keepdims=None))]
        fn $name(
            &self,
            py: Python<'_>,
            dim: Option<&Bound<'_, PyAny>>,
            keepdim: bool,
            dtype: Option<&Bound<'_, PyAny>>,
            axis: Option<&Bound<'_, PyAny>>,
            keepdims: Option<bool>,
        ) -> PyResult<PyTensor> {
            let (d, keepdim) = reduce_args(stringify!($name), dim, axis, keepdim, keepdims)?;
            let want = dtype.map(|dt| extract_dtype(dt)).transpose()?;
            let t = match want {
                Some(dt) => self.tensor().to_dtype(dt).py()?,
                None => self.tensor(),
            };
            let out = run(py, t.numel(), || t.$name(d.as_deref(), keepdim))?;
            // The result in the dtype asked for (an integer sum accumulates in int64).
            match want {
                Some(dt) if out.dtype() != dt => out.to_dtype(dt).py().map(wrap),
                _ => Ok(wrap(out)),
            }
        }
        }
    };
    (@one $name:ident, correction) => {
        #[pymethods]
        impl PyTensor {
        #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None, axis=None, keepdims=None))]
        #[allow(clippy::too_many_arguments)]
        fn $name(
            &self,
            py: Python<'_>,
            dim: Option<&Bound<'_, PyAny>>,
            unbiased: Option<bool>,
            keepdim: bool,
            correction: Option<f64>,
            axis: Option<&Bound<'_, PyAny>>,
            keepdims: Option<bool>,
        ) -> PyResult<PyTensor> {
            let dim = dim_or_axis(stringify!($name), dim, axis)?;
            let keepdim = keepdims.unwrap_or(keepdim);
            // PyTorch's `var(unbiased)` overload: a lone bool is `unbiased`, not dim 0 or 1.
            let (dim, unbiased) = match dim {
                Some(b) if b.is_instance_of::<pyo3::types::PyBool>() && unbiased.is_none() => {
                    (None, Some(b.extract::<bool>()?))
                }
                _ => (dim, unbiased),
            };
            let d = dims_arg(dim)?;
            let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
            let t = &self.tensor();
            run(py, t.numel(), || t.$name(d.as_deref(), c, keepdim)).map(wrap)
        }
        }
    };
}

/// A reduction's `dim` (or NumPy's `axis`) as dims, and `keepdim` (or `keepdims`).
fn reduce_args(
    op: &str,
    dim: Option<&Bound<'_, PyAny>>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdim: bool,
    keepdims: Option<bool>,
) -> PyResult<(Option<Vec<isize>>, bool)> {
    Ok((
        dims_arg(dim_or_axis(op, dim, axis)?)?,
        keepdims.unwrap_or(keepdim),
    ))
}

dim_reductions_py! {
    sum, dtype;
    mean, dtype;
    var, correction;
    std, correction;
    amax;
    amin;
    logsumexp;
}

/// `max()`/`min()` → scalar tensor; `max(dim)` → `(values, indices)`; `max(other)` →
/// elementwise: `extreme`, `is_max` saying which.
macro_rules! extreme_py {
    ($($name:ident => $is_max:expr),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = (dim=None, keepdim=false, *, other=None, axis=None, keepdims=None))]
                fn $name<'py>(
                    slf: &Bound<'py, Self>,
                    dim: Option<&Bound<'py, PyAny>>,
                    keepdim: bool,
                    other: Option<&Bound<'py, PyAny>>,
                    axis: Option<&Bound<'py, PyAny>>,
                    keepdims: Option<bool>,
                ) -> PyResult<Py<PyAny>> {
                    let (py, this) = (slf.py(), slf.borrow());
                    let dim = dim_or_axis(stringify!($name), dim, axis)?;
                    if other.is_some() {
                        // `max(other=t)`: the elementwise form.
                        if dim.is_some() {
                            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                                "{}() takes either dim or other, not both", stringify!($name)
                            )));
                        }
                        return this.extreme(py, other, false, $is_max);
                    }
                    this.extreme(py, dim, keepdims.unwrap_or(keepdim), $is_max)
                }
            )*
        }
    };
}

extreme_py!(max => true, min => false);

/// Methods `name(dim=None, keepdim=false)` over at most one dim, each `self.$helper(dim,
/// keepdim, $flag)`.
macro_rules! one_dim_py {
    ($($name:ident => $helper:ident($flag:expr)),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = (dim=None, keepdim=false, *, axis=None, keepdims=None))]
                fn $name(
                    &self,
                    dim: Option<isize>,
                    keepdim: bool,
                    axis: Option<isize>,
                    keepdims: Option<bool>,
                ) -> PyResult<PyTensor> {
                    let dim = dim_or_axis(stringify!($name), dim, axis)?;
                    self.$helper(dim, keepdims.unwrap_or(keepdim), $flag)
                }
            )*
        }
    };
}

one_dim_py!(argmax => arg_extreme(true), argmin => arg_extreme(false));

/// `all(dim=None, keepdim=False)` / `any`: `dim` an int or a sequence of ints, as PyTorch's.
macro_rules! truth_py {
    ($($name:ident => $any:expr),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = (dim=None, keepdim=false, *, axis=None, keepdims=None))]
                fn $name(
                    &self,
                    dim: Option<&Bound<'_, PyAny>>,
                    keepdim: bool,
                    axis: Option<&Bound<'_, PyAny>>,
                    keepdims: Option<bool>,
                ) -> PyResult<PyTensor> {
                    let dim = dim_or_axis(stringify!($name), dim, axis)?;
                    self.truth(dims_arg(dim)?, keepdims.unwrap_or(keepdim), $any)
                }
            )*
        }
    };
}

truth_py!(all => false, any => true);

impl PyTensor {
    /// `argmax` (`is_max`) or `argmin`.
    fn arg_extreme(&self, dim: Option<isize>, keepdim: bool, is_max: bool) -> PyResult<PyTensor> {
        let r = if is_max {
            self.tensor().argmax(dim, keepdim)
        } else {
            self.tensor().argmin(dim, keepdim)
        };
        r.py().map(wrap)
    }

    /// `any` (`any`) or `all`: of every element as a bool scalar, or along `dims` as the
    /// max (min) of the elements as bools; uint8 in, uint8 out (0 or 1), as in PyTorch.
    fn truth(&self, dims: Option<Vec<isize>>, keepdim: bool, any: bool) -> PyResult<PyTensor> {
        let r = self.truth_bool(dims, keepdim, any)?;
        if self.tensor().dtype() != DType::U8 {
            return Ok(r);
        }
        r.tensor().to_dtype(DType::U8).py().map(wrap)
    }

    fn truth_bool(&self, dims: Option<Vec<isize>>, keepdim: bool, any: bool) -> PyResult<PyTensor> {
        let b = self.tensor().to_dtype(DType::Bool).py()?;
        let Some(d) = dims else {
            let v = if any { b.any() } else { b.all() };
            let mut r = Tensor::scalar(v.py()?);
            if keepdim {
                r = r.reshape(&vec![1; b.ndim()]).py()?; // (PyTorch: every dim kept, size 1)
            }
            return Ok(wrap(r.to_device(b.device()).py()?));
        };
        if d.is_empty() {
            return Ok(wrap(b)); // (PyTorch 2: `dim=()` reduces nothing)
        }
        if b.numel() == 0 {
            // amax/amin have no identity; a count does: an empty lane is all-true, none-true.
            let count = b.to_dtype(DType::I64).py()?.sum(Some(&d), keepdim).py()?;
            let zero = Tensor::scalar(0i64);
            return if any {
                count.gt(&zero)
            } else {
                count.eq(&zero)
            }
            .py()
            .map(wrap);
        }
        let r = if any {
            b.amax(Some(&d), keepdim)
        } else {
            b.amin(Some(&d), keepdim)
        };
        r.py().map(wrap)
    }
}
