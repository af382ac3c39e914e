//! PyTorch's memory formats (`dm.channels_last`, `dm.contiguous_format`, ...): a tensor
//! asked for `channels_last` becomes the NHWC-strided view PyTorch would give, so
//! `is_contiguous(memory_format=...)` answers as it does there; the values never change.

use super::{Either, PyTensor};
use crate::errors::to_pyerr;
use crate::util::{run, wrap};
use democratising::{Error, Tensor};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// A `memory_format=` argument, read from the `_name` of a `dm.memory_format`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemoryFormat {
    Preserve,
    Contiguous,
    ChannelsLast,
    ChannelsLast3d,
}

impl MemoryFormat {
    pub(crate) fn extract(obj: Option<&Bound<'_, PyAny>>) -> PyResult<MemoryFormat> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(MemoryFormat::Preserve);
        };
        let name = obj
            .getattr("_memory_format")
            .and_then(|n| n.extract::<String>())
            .unwrap_or_default();
        match name.as_str() {
            "preserve_format" => Ok(MemoryFormat::Preserve),
            "contiguous_format" => Ok(MemoryFormat::Contiguous),
            "channels_last" => Ok(MemoryFormat::ChannelsLast),
            "channels_last_3d" => Ok(MemoryFormat::ChannelsLast3d),
            _ => Err(PyTypeError::new_err(format!(
                "memory_format must be dm.preserve_format, dm.contiguous_format, \
                 dm.channels_last or dm.channels_last_3d, got {}",
                obj.repr().map(|r| r.to_string()).unwrap_or_default()
            ))),
        }
    }

    /// The order of the dims from outermost to innermost in memory: channels (dim 1) last.
    fn order(self, ndim: usize) -> Option<Vec<usize>> {
        let rank = match self {
            MemoryFormat::ChannelsLast => 4,
            MemoryFormat::ChannelsLast3d => 5,
            _ => return None,
        };
        (ndim == rank).then(|| [0].into_iter().chain(2..ndim).chain([1]).collect())
    }

    fn rank_error(self, t: &Tensor) -> PyErr {
        let (name, rank) = match self {
            MemoryFormat::ChannelsLast3d => ("channels_last_3d", 5),
            _ => ("channels_last", 4),
        };
        to_pyerr(Error::Shape(format!(
            "{name} needs a rank-{rank} tensor, got shape {:?}",
            t.shape()
        )))
    }

    /// Whether `t`'s strides are this format's dense order (size-1 dims may have any stride);
    /// never for a channels-last format and a tensor of another rank, as in PyTorch.
    pub(crate) fn is_contiguous(self, t: &Tensor) -> bool {
        let Some(order) = self.order(t.ndim()) else {
            return matches!(self, MemoryFormat::Preserve | MemoryFormat::Contiguous)
                && t.is_contiguous();
        };
        let (shape, strides) = (t.shape(), t.strides());
        let mut expected = 1;
        for &d in order.iter().rev() {
            if shape[d] != 1 && strides[d] != expected {
                return false;
            }
            expected *= shape[d];
        }
        true
    }

    /// The layout `preserve_format` keeps: channels-last when `t` is dense that way (and not
    /// also row-major), else row-major.
    fn of(t: &Tensor) -> MemoryFormat {
        if !t.is_contiguous() {
            for f in [MemoryFormat::ChannelsLast, MemoryFormat::ChannelsLast3d] {
                if f.order(t.ndim()).is_some() && f.is_contiguous(t) {
                    return f;
                }
            }
        }
        MemoryFormat::Contiguous
    }

    /// `t` laid out in this format: `t` itself when it already is (and no `copy` is asked
    /// for), else a dense copy (for the channels-last formats, the permuted copy seen through
    /// the inverse permutation). `Preserve` copies keep a channels-last layout.
    pub(crate) fn apply(self, py: Python<'_>, t: &Tensor, copy: bool) -> PyResult<Tensor> {
        let order = match self {
            MemoryFormat::Preserve if copy => return MemoryFormat::of(t).apply(py, t, true),
            MemoryFormat::Preserve => return Ok(t.clone()),
            MemoryFormat::Contiguous if copy || !t.is_contiguous() => {
                return run(py, t.numel(), || t.deep_clone())
            }
            MemoryFormat::Contiguous => return Ok(t.clone()),
            _ => self.order(t.ndim()).ok_or_else(|| self.rank_error(t))?,
        };
        if !copy && self.is_contiguous(t) {
            return Ok(t.clone());
        }
        let mut inverse = vec![0isize; order.len()];
        for (i, &d) in order.iter().enumerate() {
            inverse[d] = i as isize;
        }
        let order: Vec<isize> = order.iter().map(|&d| d as isize).collect();
        run(py, t.numel(), || {
            t.permute(&order)?.deep_clone()?.permute(&inverse)
        })
    }
}

#[pymethods]
impl PyTensor {
    /// `is_contiguous(memory_format=dm.contiguous_format)`: dense in that format's order.
    #[pyo3(signature = (memory_format=None))]
    fn is_contiguous(&self, memory_format: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        Ok(MemoryFormat::extract(memory_format)?.is_contiguous(&self.tensor()))
    }
    /// `self` when already dense in `memory_format` (row-major by default), else a copy that is.
    #[pyo3(signature = (memory_format=None))]
    fn contiguous(
        slf: &Bound<'_, Self>,
        memory_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Either> {
        let format = match MemoryFormat::extract(memory_format)? {
            MemoryFormat::Preserve => MemoryFormat::Contiguous,
            f => f,
        };
        let (py, t) = (slf.py(), &slf.get().tensor());
        let out = if format == MemoryFormat::Contiguous {
            run(py, t.numel(), || t.contiguous())?
        } else {
            format.apply(py, t, false)?
        };
        Ok(Either::same_or_new(slf, out))
    }
    /// A copy that owns its memory, laid out in `memory_format` (by default row-major, or
    /// channels-last when `self` is: `preserve_format`).
    #[pyo3(signature = (*, memory_format=None))]
    fn clone(
        &self,
        py: Python<'_>,
        memory_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        MemoryFormat::extract(memory_format)?
            .apply(py, &self.tensor(), true)
            .map(wrap)
    }
}
