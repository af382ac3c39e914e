//! `Tensor` shape methods: views, reshapes, permutations, splits and joins.

use super::PyTensor;
use crate::errors::{to_pyerr, ResultExt};
use crate::types::extract_dtype;
use crate::util::{dim_or_axis, dims_arg, sizes_or_kw, wrap};
use democratising::{Error, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyTuple};

/// Methods taking sizes as `f(2, 3)`, `f((2, 3))` or PyTorch's keyword (`reshape(shape=)`,
/// `permute(dims=)`, `expand(size=)`), each `self.$method(&sizes)`.
macro_rules! sizes_methods_py {
    ($($name:ident($kw:literal) => $method:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = (*sizes, **kwargs))]
                fn $name(
                    &self,
                    sizes: &Bound<'_, PyTuple>,
                    kwargs: Option<&Bound<'_, PyDict>>,
                ) -> PyResult<PyTensor> {
                    let sizes = sizes_or_kw(sizes, kwargs, stringify!($name), $kw)?;
                    self.tensor().$method(&sizes).py().map(wrap)
                }
            )*
        }
    };
}

sizes_methods_py!(
    reshape("shape") => reshape, permute("dims") => permute, expand("size") => expand_isize,
);

#[pymethods]
impl PyTensor {
    // ---- shape ------------------------------------------------------------------------------

    /// `view(2, 3)`, `view((2, 3))`, `view(size=(2, 3))`, or `view(dtype)` of the same dtype.
    #[pyo3(signature = (*shape, **kwargs))]
    fn view(
        &self,
        shape: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyTensor> {
        let dtype_kw = match kwargs {
            Some(k) if k.len() == 1 && shape.is_empty() => k.get_item("dtype")?,
            _ => None,
        };
        let first = match (&dtype_kw, shape.len()) {
            (Some(d), _) => Some(d.clone()),
            (None, 1) => Some(shape.get_item(0)?),
            _ => None,
        };
        // (Sizes are checked first: a failed dtype extraction builds a Python error, which
        // costs more than the view itself.)
        let sizes = |o: &Bound<'_, PyAny>| {
            o.is_instance_of::<PyInt>()
                || o.is_instance_of::<PyTuple>()
                || o.is_instance_of::<PyList>()
        };
        if let Some(first) = first.filter(|f| !sizes(f)) {
            if let Ok(dt) = extract_dtype(&first) {
                return self.tensor().view_dtype(dt).py().map(wrap);
            }
        }
        let shape = sizes_or_kw(shape, kwargs, "view", "size")?;
        self.tensor().view(&shape).py().map(wrap)
    }
    fn view_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let s: Vec<isize> = other.tensor().shape().iter().map(|&n| n as isize).collect();
        self.tensor().view(&s).py().map(wrap)
    }
    fn reshape_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let s: Vec<isize> = other.tensor().shape().iter().map(|&n| n as isize).collect();
        self.tensor().reshape(&s).py().map(wrap)
    }
    fn transpose(&self, dim0: isize, dim1: isize) -> PyResult<PyTensor> {
        self.tensor().transpose(dim0, dim1).py().map(wrap)
    }
    fn swapaxes(&self, axis0: isize, axis1: isize) -> PyResult<PyTensor> {
        self.tensor().transpose(axis0, axis1).py().map(wrap)
    }
    fn t(&self) -> PyResult<PyTensor> {
        if self.tensor().ndim() > 2 {
            return Err(to_pyerr(Error::Shape(format!(
                "t() expects a tensor with <= 2 dimensions, but got shape {:?}",
                self.tensor().shape()
            ))));
        }
        self.tensor().t().py().map(wrap)
    }
    fn expand_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.tensor().expand(other.tensor().shape()).py().map(wrap)
    }
    /// `squeeze()`, `squeeze(dim)`, `squeeze((d0, d1, ...))` or `squeeze(d0, d1, ...)`.
    #[pyo3(signature = (*dims, dim=None, axis=None))]
    fn squeeze(
        &self,
        dims: &Bound<'_, PyTuple>,
        dim: Option<&Bound<'_, PyAny>>,
        axis: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let positional = match dims.len() {
            0 => None,
            1 => Some(dims.get_item(0)?),
            _ => Some(dims.clone().into_any()),
        };
        let dim = match (positional, dim) {
            (Some(_), Some(_)) => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "squeeze() got multiple values for argument 'dim'",
                ))
            }
            (p, d) => p.or_else(|| d.cloned()),
        };
        let Some(dims) = dims_arg(dim_or_axis("squeeze", dim.as_ref(), axis)?)? else {
            return self.tensor().squeeze(None).py().map(wrap);
        };
        let nd = self.tensor().ndim();
        let mut ds = dims
            .iter()
            .map(|&d| democratising::layout::normalize_dim(d, nd))
            .collect::<democratising::Result<Vec<usize>>>()
            .py()?;
        ds.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(w) = ds.windows(2).find(|w| w[0] == w[1]) {
            return Err(to_pyerr(democratising::Error::Value(format!(
                "squeeze: dim {} appears multiple times in the list of dims",
                w[0]
            ))));
        }
        let mut out = self.tensor();
        for d in ds {
            out = out.squeeze(Some(d as isize)).py()?;
        }
        Ok(wrap(out))
    }
    #[pyo3(signature = (dim=None, *, axis=None))]
    fn unsqueeze(&self, dim: Option<isize>, axis: Option<isize>) -> PyResult<PyTensor> {
        let Some(dim) = dim_or_axis("unsqueeze", dim, axis)? else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "unsqueeze() missing 1 required positional argument: 'dim'",
            ));
        };
        self.tensor().unsqueeze(dim).py().map(wrap)
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: isize, end_dim: isize) -> PyResult<PyTensor> {
        self.tensor().flatten(start_dim, end_dim).py().map(wrap)
    }
    fn narrow(&self, dim: isize, start: isize, length: isize) -> PyResult<PyTensor> {
        let Ok(length) = usize::try_from(length) else {
            return Err(to_pyerr(Error::Value(format!(
                "narrow(): length must be non-negative, got {length}"
            ))));
        };
        self.tensor().narrow(dim, start, length).py().map(wrap)
    }
    /// The sliding windows along `dimension`, as a view (PyTorch's `Tensor.unfold`).
    fn unfold(&self, dimension: isize, size: isize, step: isize) -> PyResult<PyTensor> {
        let (Ok(size), Ok(step)) = (usize::try_from(size), usize::try_from(step)) else {
            return Err(to_pyerr(Error::Value(format!(
                "unfold(): size ({size}) must be >= 0 and step ({step}) > 0"
            ))));
        };
        self.tensor().unfold(dimension, size, step).py().map(wrap)
    }
    /// The view of this tensor's storage with `size`, `stride` and `storage_offset` (PyTorch's
    /// `as_strided`; the Python method checks the arguments' types and signs).
    #[pyo3(signature = (size, stride, storage_offset=None))]
    fn _as_strided(
        &self,
        size: Vec<usize>,
        stride: Vec<usize>,
        storage_offset: Option<usize>,
    ) -> PyResult<PyTensor> {
        self.tensor()
            .as_strided(&size, &stride, storage_offset)
            .py()
            .map(wrap)
    }
    #[pyo3(signature = (offset=0, dim1=0, dim2=1))]
    fn diagonal(&self, offset: isize, dim1: isize, dim2: isize) -> PyResult<PyTensor> {
        self.tensor().diagonal(offset, dim1, dim2).py().map(wrap)
    }
    fn select(&self, dim: isize, index: isize) -> PyResult<PyTensor> {
        self.tensor().select(dim, index).py().map(wrap)
    }
    #[pyo3(signature = (dim=None, *, axis=None))]
    fn unbind<'py>(
        &self,
        py: Python<'py>,
        dim: Option<isize>,
        axis: Option<isize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let dim = dim_or_axis("unbind", dim, axis)?.unwrap_or(0);
        pieces(py, self.tensor().unbind(dim).py()?)
    }
    /// `split(size, dim)` (equal pieces, the last smaller) or `split([sizes], dim)`.
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(
        &self,
        split_size_or_sections: &Bound<'py, PyAny>,
        dim: isize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = split_size_or_sections.py();
        if let Ok(size) = split_size_or_sections.extract::<usize>() {
            return pieces(py, self.tensor().split(size, dim).py()?);
        }
        let sizes: Vec<usize> = split_size_or_sections.extract()?;
        let d = if dim < 0 {
            dim + self.tensor().ndim() as isize
        } else {
            dim
        };
        let n = usize::try_from(d)
            .ok()
            .and_then(|d| self.tensor().shape().get(d).copied())
            .ok_or_else(|| {
                to_pyerr(Error::Index(format!(
                    "split: dim {dim} is out of range for a tensor of {} dims",
                    self.tensor().ndim()
                )))
            })?;
        if sizes.iter().sum::<usize>() != n {
            return Err(to_pyerr(Error::Shape(format!(
                "split: sizes {sizes:?} do not add up to {n}, the size of dim {dim}"
            ))));
        }
        let mut start: isize = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for len in sizes {
            out.push(self.tensor().narrow(dim, start, len).py()?);
            start += len as isize;
        }
        pieces(py, out)
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(
        &self,
        py: Python<'py>,
        chunks: isize,
        dim: isize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        if chunks <= 0 {
            return Err(crate::errors::value_error(format!(
                "chunk expects `chunks` to be greater than 0, got: {chunks}"
            )));
        }
        pieces(py, self.tensor().chunk(chunks as usize, dim).py()?)
    }
}

/// The pieces of a split as a tuple, as PyTorch's `split`, `chunk` and `unbind` return them.
fn pieces(py: Python<'_>, parts: Vec<Tensor>) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, parts.into_iter().map(wrap))
}
