//! The Python `Tensor` class: a thin wrapper over the engine's `Tensor` handle. Methods convert
//! arguments, release the GIL around large work and map errors; all logic lives in the engine.

use crate::errors::{from_pyerr, to_pyerr, ResultExt};
use crate::types::{extract_device, extract_dtype, PyDType, PyDevice};
use crate::util::{dims_arg, int_args, operand, run, wrap};
use democratising::autograd;
use democratising::{DType, Device, Error, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::Arc;

/// A multi-dimensional array with autograd. See `democratising` for the full API.
#[pyclass(frozen, subclass, name = "Tensor", module = "democratising", weakref)]
pub struct PyTensor {
    pub t: Tensor,
}

fn numpy_typestr(dt: DType) -> PyResult<&'static str> {
    Ok(match dt {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::F16 => "<f2",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::Bool => "|b1",
        DType::BF16 => {
            return Err(to_pyerr(Error::DType(
                "NumPy has no bfloat16: convert with .float() before .numpy()".into(),
            )))
        }
    })
}

macro_rules! unary_py {
    ($($name:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>) -> PyResult<PyTensor> {
                    let t = &self.t;
                    run(py, t.numel(), || t.$name()).map(wrap)
                }
            )*
        }
    };
}

unary_py!(
    neg,
    abs,
    exp,
    log,
    log2,
    log1p,
    expm1,
    sqrt,
    rsqrt,
    square,
    reciprocal,
    sin,
    cos,
    tanh,
    sigmoid,
    relu,
    silu,
    erf,
    sign,
    floor,
    ceil,
    round,
    trunc,
    logical_not,
);

macro_rules! binary_py {
    ($($name:ident => $method:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
                    let o = operand(other)?;
                    let t = &self.t;
                    run(py, t.numel().max(o.numel()), || t.$method(&o)).map(wrap)
                }
            )*
        }
    };
}

binary_py!(
    mul => mul, true_divide => div, maximum => maximum, minimum => minimum,
    remainder => remainder, floor_divide => floor_divide, matmul => matmul, eq => eq, ne => ne,
    lt => lt, le => le, gt => gt, ge => ge, logical_and => logical_and, logical_or => logical_or,
    logical_xor => logical_xor,
    __add__ => add, __sub__ => sub, __mul__ => mul, __truediv__ => div, __floordiv__ => floor_divide,
    __mod__ => remainder, __matmul__ => matmul, __and__ => logical_and, __or__ => logical_or,
    __xor__ => logical_xor,
);

macro_rules! rbinary_py {
    ($($name:ident => $method:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
                    let o = operand(other)?;
                    let t = &self.t;
                    run(py, t.numel(), || o.$method(t)).map(wrap)
                }
            )*
        }
    };
}

rbinary_py!(
    __radd__ => add, __rsub__ => sub, __rmul__ => mul, __rtruediv__ => div,
    __rfloordiv__ => floor_divide, __rmod__ => remainder, __rmatmul__ => matmul,
);

/// `self` unchanged or a new tensor (what `to()` returns).
#[derive(IntoPyObject)]
enum Either {
    Same(Py<PyTensor>),
    New(PyTensor),
}

/// A new object of `slf`'s class (`Tensor` or a subclass such as `Parameter`) around `data`,
/// with `slf`'s `requires_grad`.
fn copy_of<'py>(slf: &Bound<'py, PyTensor>, data: Tensor) -> PyResult<Bound<'py, PyAny>> {
    let new = slf.get_type().call1((wrap(data),))?;
    let requires_grad = slf.get().t.requires_grad();
    new.cast::<PyTensor>()?
        .get()
        .t
        .set_requires_grad(requires_grad)
        .py()?;
    Ok(new)
}

impl PyTensor {
    fn inplace(&self, f: impl FnOnce(&Tensor) -> democratising::Result<()>) -> PyResult<()> {
        f(&self.t).py()
    }
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)`: a tensor sharing `data` if it is a tensor, else a copy of it (lists,
    /// NumPy arrays, numbers). Subclasses (`nn.Parameter`) construct through here.
    #[new]
    #[pyo3(signature = (data=None))]
    fn py_new(py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        match data {
            None => Ok(wrap(Tensor::zeros(&[0], DType::F32).py()?)),
            Some(d) => match d.cast::<PyTensor>() {
                Ok(t) => Ok(wrap(t.get().t.detach())),
                Err(_) => {
                    let t = py
                        .import("democratising._tensor")?
                        .getattr("tensor")?
                        .call1((d,))?;
                    Ok(wrap(t.cast::<PyTensor>()?.get().t.clone()))
                }
            },
        }
    }

    // ---- attributes ------------------------------------------------------------------------

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.t.shape())
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.t.ndim()
    }
    fn dim(&self) -> usize {
        self.t.ndim()
    }
    #[getter]
    fn dtype(&self) -> PyDType {
        PyDType(self.t.dtype())
    }
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice(self.t.device())
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        matches!(self.t.device(), Device::Cuda(_))
    }
    #[getter]
    fn requires_grad(&self) -> bool {
        self.t.requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, flag: bool) -> PyResult<()> {
        self.t.set_requires_grad(flag).py()
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(slf: Bound<'_, Self>, requires_grad: bool) -> PyResult<Bound<'_, Self>> {
        slf.get().t.set_requires_grad(requires_grad).py()?;
        Ok(slf)
    }
    #[getter]
    fn grad(&self) -> Option<PyTensor> {
        self.t.grad().map(wrap)
    }
    #[setter]
    fn set_grad(&self, g: Option<PyRef<'_, PyTensor>>) -> PyResult<()> {
        self.t.set_grad(g.map(|g| g.t.clone())).py()
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.t.is_leaf()
    }
    #[getter]
    fn grad_fn(&self) -> Option<GradFn> {
        self.t.grad_fn().map(|n| GradFn { node: n })
    }
    #[getter]
    fn data(&self) -> PyTensor {
        wrap(self.t.detach())
    }
    #[getter(T)]
    fn transpose_all(&self) -> PyResult<PyTensor> {
        self.t.t().py().map(wrap)
    }
    #[getter(mT)]
    fn matrix_transpose(&self) -> PyResult<PyTensor> {
        self.t.transpose(-2, -1).py().map(wrap)
    }
    fn numel(&self) -> usize {
        self.t.numel()
    }
    fn nelement(&self) -> usize {
        self.t.numel()
    }
    fn element_size(&self) -> usize {
        self.t.dtype().size()
    }
    #[pyo3(signature = (dim=None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        match dim {
            Some(d) => Ok(self
                .t
                .dim_size(d)
                .py()?
                .into_pyobject(py)?
                .into_any()
                .unbind()),
            None => Ok(PyTuple::new(py, self.t.shape())?.into_any().unbind()),
        }
    }
    #[pyo3(signature = (dim=None))]
    fn stride<'py>(&self, py: Python<'py>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        match dim {
            Some(d) => {
                let i = democratising::layout::normalize_dim(d, self.t.ndim()).py()?;
                Ok(self.t.strides()[i].into_pyobject(py)?.into_any().unbind())
            }
            None => Ok(PyTuple::new(py, self.t.strides())?.into_any().unbind()),
        }
    }
    fn is_contiguous(&self) -> bool {
        self.t.is_contiguous()
    }
    fn is_floating_point(&self) -> bool {
        self.t.dtype().is_float()
    }
    fn data_ptr(&self) -> usize {
        self.t.storage().as_ptr() as usize + self.t.layout().offset * self.t.dtype().size()
    }
    fn __len__(&self) -> PyResult<usize> {
        if self.t.ndim() == 0 {
            return Err(crate::errors::type_error("len() of a 0-d tensor"));
        }
        Ok(self.t.shape()[0])
    }
    /// Makes NumPy defer to the reflected operators (`np.float32(2) * t` is a Tensor).
    #[classattr]
    fn __array_priority__() -> f64 {
        1000.0
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    // ---- conversion -------------------------------------------------------------------------

    fn item<'py>(&self, py: Python<'py>) -> PyResult<Py<PyAny>> {
        let v = self.t.item().py()?;
        Ok(match self.t.dtype() {
            DType::Bool => (v != 0.0).into_pyobject(py)?.to_owned().into_any().unbind(),
            DType::I64 | DType::I32 => self
                .t
                .item_i64()
                .py()?
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            _ => v.into_pyobject(py)?.into_any().unbind(),
        })
    }
    fn __float__(&self) -> PyResult<f64> {
        self.t.item().py()
    }
    fn __int__(&self) -> PyResult<i64> {
        Ok(self.t.item().py()? as i64)
    }
    fn __index__(&self) -> PyResult<i64> {
        if !self.t.dtype().is_int() {
            return Err(crate::errors::type_error(
                "only integer tensors of a single element can be converted to an index",
            ));
        }
        Ok(self.t.item().py()? as i64)
    }
    fn __bool__(&self) -> PyResult<bool> {
        if self.t.numel() != 1 {
            return Err(to_pyerr(Error::Value(format!(
                "Boolean value of Tensor with {} elements (shape {:?}) is ambiguous",
                self.t.numel(),
                self.t.shape()
            ))));
        }
        Ok(self.t.item().py()? != 0.0)
    }

    /// NumPy's array interface: lets `numpy.asarray(t)` view this tensor's memory without a copy.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        if self.t.device().is_cuda() {
            return Err(crate::errors::type_error(format!(
                "can't convert {} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
                self.t.device()
            )));
        }
        let d = PyDict::new(py);
        let isz = self.t.dtype().size();
        d.set_item("shape", PyTuple::new(py, self.t.shape())?)?;
        d.set_item("typestr", numpy_typestr(self.t.dtype())?)?;
        let strides: Vec<usize> = self.t.strides().iter().map(|s| s * isz).collect();
        d.set_item("strides", PyTuple::new(py, strides)?)?;
        d.set_item("data", (self.data_ptr(), false))?;
        d.set_item("version", 3)?;
        Ok(d)
    }

    /// The CUDA Array Interface (v3) of a CUDA tensor: CuPy, Numba and CUDA-aware MPI read
    /// its device memory without a copy. Queued work is finished first (no stream handed
    /// over). CPU tensors have no such attribute, as in PyTorch.
    #[getter]
    fn __cuda_array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let Device::Cuda(i) = self.t.device() else {
            // A plain AttributeError: `hasattr(t, "__cuda_array_interface__")` is the protocol.
            return Err(pyo3::exceptions::PyAttributeError::new_err(
                "CPU tensors have no __cuda_array_interface__; use __array_interface__ or .numpy()",
            ));
        };
        if self.t.requires_grad() {
            return Err(crate::errors::to_pyerr(Error::Autograd(
                "Can't export a tensor that requires grad; use tensor.detach() first.".into(),
            )));
        }
        democratising::cuda::synchronize(i).py()?;
        let d = PyDict::new(py);
        let isz = self.t.dtype().size();
        d.set_item("shape", PyTuple::new(py, self.t.shape())?)?;
        d.set_item("typestr", numpy_typestr(self.t.dtype())?)?;
        if self.t.is_contiguous() {
            d.set_item("strides", py.None())?;
        } else {
            let strides: Vec<usize> = self.t.strides().iter().map(|s| s * isz).collect();
            d.set_item("strides", PyTuple::new(py, strides)?)?;
        }
        d.set_item("data", (self.data_ptr(), false))?;
        d.set_item("version", 3)?;
        d.set_item("stream", py.None())?;
        Ok(d)
    }

    /// A NumPy array sharing this tensor's memory.
    fn numpy<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if slf.get().t.requires_grad() {
            return Err(crate::errors::to_pyerr(Error::Autograd(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
                    .into(),
            )));
        }
        py.import("numpy")?.getattr("asarray")?.call1((slf,))
    }

    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = if self.t.dtype() == DType::BF16 || self.t.dtype() == DType::F16 {
            self.t.to_dtype(DType::F32).py()?
        } else {
            self.t.clone()
        };
        let t = t.to_device(Device::Cpu).py()?;
        let arr = py
            .import("numpy")?
            .getattr("asarray")?
            .call1((wrap(t.detach()),))?;
        arr.call_method0("tolist")
    }

    #[pyo3(signature = (**kwargs))]
    fn __dlpack__<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arr = py.import("numpy")?.getattr("asarray")?.call1((slf,))?;
        arr.call_method("__dlpack__", (), kwargs)
    }
    fn __dlpack_device__(&self) -> (i32, i32) {
        match self.t.device() {
            Device::Cpu => (1, 0),
            Device::Cuda(i) => (2, i as i32),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<String> {
        py.import("democratising._format")?
            .getattr("format_tensor")?
            .call1((slf,))?
            .extract()
    }

    /// `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other_tensor)` or keywords.
    #[pyo3(signature = (*args, dtype=None, device=None, copy=false, non_blocking=false))]
    fn to(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        dtype: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        copy: bool,
        non_blocking: bool,
    ) -> PyResult<Either> {
        let _ = non_blocking;
        let py = slf.py();
        let this = slf.get();
        let mut dt = None;
        let mut dev = None;
        for a in args.iter() {
            if let Ok(t) = a.cast::<PyTensor>() {
                dt = Some(t.get().t.dtype());
                dev = Some(t.get().t.device());
            } else {
                match (extract_dtype(&a), extract_device(&a)) {
                    (Ok(d), _) => dt = Some(d),
                    (_, Ok(d)) => dev = Some(d),
                    // Neither: say what it is not as a dtype, unless it reads as a device name.
                    (Err(dtype_err), Err(device_err)) => {
                        let name = a.extract::<String>().unwrap_or_default();
                        let device_like = ["cpu", "cuda", "mps", "xpu"]
                            .iter()
                            .any(|p| name.starts_with(p));
                        return Err(if device_like { device_err } else { dtype_err });
                    }
                }
            }
        }
        if let Some(d) = dtype {
            dt = Some(extract_dtype(d)?);
        }
        if let Some(d) = device {
            dev = Some(extract_device(d)?);
        }
        let moved;
        let t = match dev {
            Some(d) if d != this.t.device() => {
                let src = &this.t;
                moved = run(py, src.numel(), || src.to_device(d))?;
                &moved
            }
            _ => &this.t,
        };
        let out = match dt {
            Some(d) => run(py, t.numel(), || t.to_dtype(d))?,
            None => t.clone(),
        };
        if copy && out.same(t) {
            return run(py, t.numel(), || t.deep_clone())
                .map(wrap)
                .map(Either::New);
        }
        if out.same(&slf.get().t) {
            // Nothing to move or convert: `self`, as in PyTorch.
            return Ok(Either::Same(slf.clone().unbind()));
        }
        Ok(Either::New(wrap(out)))
    }
    fn float(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::F32)).map(wrap)
    }
    fn double(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::F64)).map(wrap)
    }
    fn half(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::F16)).map(wrap)
    }
    fn bfloat16(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::BF16)).map(wrap)
    }
    fn long(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::I64)).map(wrap)
    }
    fn int(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::I32)).map(wrap)
    }
    fn bool(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.to_dtype(DType::Bool)).map(wrap)
    }
    fn type_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.t.to_dtype(other.t.dtype()).py().map(wrap)
    }
    /// `self` when already on the CPU (PyTorch), else a copy in host memory.
    fn cpu(slf: &Bound<'_, Self>) -> PyResult<Either> {
        let t = &slf.get().t;
        if t.device() == Device::Cpu {
            return Ok(Either::Same(slf.clone().unbind()));
        }
        run(slf.py(), t.numel(), || t.to_device(Device::Cpu))
            .map(wrap)
            .map(Either::New)
    }
    /// `cuda()`, `cuda(1)`, `cuda("cuda:1")` or `cuda(Device)`.
    #[pyo3(signature = (device=None))]
    fn cuda(&self, py: Python<'_>, device: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let d = match device {
            None => Device::Cuda(0),
            Some(d) if d.is_none() => Device::Cuda(0),
            Some(d) => match d.extract::<usize>() {
                Ok(i) => Device::Cuda(i),
                Err(_) => match extract_device(d)? {
                    Device::Cpu => {
                        return Err(to_pyerr(Error::Device(
                            "cuda(): expected a CUDA device, got cpu".into(),
                        )))
                    }
                    cuda => cuda,
                },
            },
        };
        let t = &self.t;
        run(py, t.numel(), || t.to_device(d)).map(wrap)
    }

    // ---- autograd ---------------------------------------------------------------------------

    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<PyRef<'_, PyTensor>>,
        retain_graph: Option<bool>,
        create_graph: bool,
    ) -> PyResult<()> {
        if create_graph {
            return Err(to_pyerr(Error::Autograd(
                "create_graph=True (higher-order gradients) is not supported by democratising"
                    .into(),
            )));
        }
        let g = gradient.map(|g| g.t.clone());
        let t = &self.t;
        let retain = retain_graph.unwrap_or(false);
        py.detach(|| autograd::backward(t, g, retain)).py()
    }
    fn detach(&self) -> PyTensor {
        wrap(self.t.detach())
    }
    fn detach_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        Err(to_pyerr(Error::Autograd(format!(
            "detach_() is not supported; use t = t.detach() (shape {:?})",
            slf.get().t.shape()
        ))))
    }
    fn clone(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.deep_clone()).map(wrap)
    }
    /// `div(other, rounding_mode=None)`: true division, or rounded with `"floor"` / `"trunc"`
    /// (integer inputs then give an integer result, as in PyTorch).
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        rounding_mode: Option<&str>,
    ) -> PyResult<PyTensor> {
        let o = operand(other)?;
        let t = &self.t;
        let n = t.numel().max(o.numel());
        match rounding_mode {
            None => run(py, n, || t.div(&o)).map(wrap),
            Some("floor") => run(py, n, || t.floor_divide(&o)).map(wrap),
            Some("trunc") => {
                let dt = democratising::ops::result_type(&[t, &o]);
                run(py, n, || t.div(&o)?.trunc()?.to_dtype(dt)).map(wrap)
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
        let t = if self.t.ndim() == 0 && as_tuple {
            self.t.reshape(&[1]).py()?
        } else {
            self.t.clone()
        };
        let idx = run(py, t.numel(), || t.nonzero())?;
        if !as_tuple {
            return Ok(Bound::new(py, wrap(idx))?.into_any());
        }
        let cols = (0..t.ndim())
            .map(|d| idx.select(1, d as isize).map(wrap))
            .collect::<democratising::Result<Vec<_>>>()
            .py()?;
        Ok(PyTuple::new(py, cols)?.into_any())
    }
    /// Assigning `t.data` copies the values in (shapes must match), as
    /// `with no_grad(): t.copy_(value)`.
    #[setter]
    fn set_data(&self, py: Python<'_>, value: PyRef<'_, PyTensor>) -> PyResult<()> {
        if value.t.shape() != self.t.shape() {
            return Err(to_pyerr(Error::Shape(format!(
                "cannot assign .data of shape {:?} to a tensor of shape {:?}",
                value.t.shape(),
                self.t.shape()
            ))));
        }
        let (dst, src) = (self.t.detach(), value.t.detach());
        run(py, dst.numel(), || dst.copy_(&src))
    }
    /// `f"{t:.4f}"` formats a 0-d tensor as its number (PyTorch).
    fn __format__(slf: &Bound<'_, Self>, spec: &str) -> PyResult<String> {
        if slf.get().t.ndim() == 0 {
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
            slf.get().t.shape()
        )))
    }
    /// Methods written in Python on top of the engine's ops (`democratising._tensor_extra`:
    /// `sort`, `norm`, `cumsum`, ...), looked up only when no built-in attribute matches.
    fn __getattr__<'py>(slf: &Bound<'py, Self>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if !name.starts_with("__") {
            let extra = py.import("democratising._tensor_extra")?;
            if let Some(f) = extra.getattr("METHODS")?.cast::<PyDict>()?.get_item(name)? {
                return py.import("types")?.getattr("MethodType")?.call1((f, slf));
            }
        }
        // A plain AttributeError, as `getattr`/`hasattr` expect of `__getattr__`.
        Err(pyo3::exceptions::PyAttributeError::new_err(format!(
            "'{}' object has no attribute '{name}'",
            slf.get_type().name()?
        )))
    }
    /// `pickle`: the values as a NumPy array, dtype, device and `requires_grad` (leaves only).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let rebuild = py
            .import("democratising._tensor_extra")?
            .getattr("_reduce")?;
        rebuild.call1((slf,))
    }
    /// `copy.deepcopy(t)`: a leaf with its own copy of the data (and of `.grad`), the same
    /// class (`Parameter` stays a parameter), `requires_grad` and instance attributes. As in
    /// PyTorch, only graph leaves can be deep-copied.
    fn __deepcopy__<'py>(
        slf: &Bound<'py, Self>,
        memo: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let t = &slf.get().t;
        if !t.is_leaf() {
            return Err(to_pyerr(Error::Autograd(format!(
                "only graph leaves (tensors created by the user) can be deep-copied; this tensor \
                 of shape {:?} is the result of an operation: detach() it first",
                t.shape()
            ))));
        }
        let data = py.detach(|| t.detach().deep_clone()).py()?;
        let grad = match t.grad() {
            Some(g) => Some(py.detach(|| g.deep_clone()).py()?),
            None => None,
        };
        let new = copy_of(slf, data)?;
        new.cast::<PyTensor>()?.get().t.set_grad(grad).py()?;
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
        let new = copy_of(slf, slf.get().t.detach())?;
        if let Ok(attrs) = slf.getattr("__dict__") {
            new.getattr("__dict__")?.call_method1("update", (attrs,))?;
        }
        Ok(new)
    }
    fn retain_grad(&self) -> PyResult<()> {
        self.t.retain_grad().py()
    }
    /// Calls `hook(grad)` during backward; a returned tensor replaces the gradient.
    fn register_hook(&self, hook: Py<PyAny>) -> PyResult<HookHandle> {
        let f: autograd::Hook = Arc::new(move |g: &Tensor| {
            Python::attach(|py| {
                let r = hook
                    .call1(py, (wrap(g.clone()),))
                    .map_err(|e| from_pyerr(e, "a tensor hook"))?;
                let r = r.bind(py);
                if r.is_none() {
                    return Ok(None);
                }
                match r.cast::<PyTensor>() {
                    Ok(t) => Ok(Some(t.get().t.clone())),
                    Err(_) => Err(Error::Autograd(
                        "a tensor hook must return None or a Tensor".into(),
                    )),
                }
            })
        });
        let id = self.t.register_hook(f).py()?;
        Ok(HookHandle {
            tensor: self.t.clone(),
            id,
        })
    }
    /// Calls `hook(tensor)` once this leaf's `.grad` is final for the current backward pass.
    fn register_post_accumulate_grad_hook(
        slf: &Bound<'_, Self>,
        hook: Py<PyAny>,
    ) -> PyResult<HookHandle> {
        let f: autograd::PostAccumulateHook = Arc::new(move |t: &Tensor| {
            Python::attach(|py| {
                hook.call1(py, (wrap(t.clone()),))
                    .map_err(|e| from_pyerr(e, "a post-accumulate-grad hook"))?;
                Ok(())
            })
        });
        let id = slf.get().t.register_post_accumulate_grad_hook(f).py()?;
        Ok(HookHandle {
            tensor: slf.get().t.clone(),
            id,
        })
    }

    // ---- arithmetic -------------------------------------------------------------------------

    #[pyo3(signature = (other, alpha=1.0))]
    fn add(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: f64) -> PyResult<PyTensor> {
        let o = operand(other)?;
        let t = &self.t;
        run(py, t.numel(), || t.add_scaled(&o, alpha)).map(wrap)
    }
    #[pyo3(signature = (other, alpha=1.0))]
    fn sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: f64) -> PyResult<PyTensor> {
        let o = operand(other)?;
        let t = &self.t;
        run(py, t.numel(), || t.add_scaled(&o, -alpha)).map(wrap)
    }
    fn pow(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = &self.t;
        if let Ok(e) = exponent.extract::<f64>() {
            if !exponent.is_instance_of::<PyTensor>() && t.dtype().is_float() {
                return run(py, t.numel(), || t.pow_scalar(e)).map(wrap);
            }
        }
        let o = operand(exponent)?;
        run(py, t.numel(), || t.pow(&o)).map(wrap)
    }
    fn __rpow__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let _ = modulo;
        let o = operand(other)?;
        let t = &self.t;
        run(py, t.numel(), || o.pow(t)).map(wrap)
    }
    fn __pow__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let _ = modulo;
        self.pow(py, other)
    }
    fn __neg__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.neg(py)
    }
    fn __pos__(&self) -> PyTensor {
        wrap(self.t.clone())
    }
    fn __abs__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.abs(py)
    }
    fn __invert__(&self) -> PyResult<PyTensor> {
        if self.t.dtype() != DType::Bool {
            return Err(to_pyerr(Error::DType(format!(
                "~ is only supported on bool tensors here, got {}",
                self.t.dtype()
            ))));
        }
        self.t.logical_not().py().map(wrap)
    }
    /// `t == None` is `False` (PyTorch); anything else compares elementwise.
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if other.is_none() {
            return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind());
        }
        Ok(Bound::new(py, self.eq(py, other)?)?.into_any().unbind())
    }
    fn __ne__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if other.is_none() {
            return Ok(true.into_pyobject(py)?.to_owned().into_any().unbind());
        }
        Ok(Bound::new(py, self.ne(py, other)?)?.into_any().unbind())
    }
    fn __lt__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.lt(py, other)
    }
    fn __le__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.le(py, other)
    }
    fn __gt__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.gt(py, other)
    }
    fn __ge__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.ge(py, other)
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
        let t = &self.t;
        if is_tensor(min) || is_tensor(max) {
            let mut out = t.clone();
            if let Some(lo) = min {
                let lo = operand(lo)?;
                out = run(py, out.numel(), || out.maximum(&lo))?;
            }
            if let Some(hi) = max {
                let hi = operand(hi)?;
                out = run(py, out.numel(), || out.minimum(&hi))?;
            }
            return Ok(wrap(out));
        }
        let lo = min.map(|m| m.extract::<f64>()).transpose()?;
        let hi = max.map(|m| m.extract::<f64>()).transpose()?;
        run(py, t.numel(), || t.clamp(lo, hi)).map(wrap)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(
        &self,
        py: Python<'_>,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        self.clamp(py, min, max)
    }
    #[pyo3(signature = (approximate="none"))]
    fn gelu(&self, py: Python<'_>, approximate: &str) -> PyResult<PyTensor> {
        let t = &self.t;
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
        let t = &self.t;
        run(py, t.numel(), || t.leaky_relu(negative_slope)).map(wrap)
    }
    #[pyo3(signature = (alpha=1.0))]
    fn elu(&self, py: Python<'_>, alpha: f64) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.elu(alpha)).map(wrap)
    }
    #[pyo3(signature = (beta=1.0, threshold=20.0))]
    fn softplus(&self, py: Python<'_>, beta: f64, threshold: f64) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.softplus(beta, threshold)).map(wrap)
    }

    // ---- reductions -------------------------------------------------------------------------

    #[pyo3(signature = (dim=None, keepdim=false, dtype=None))]
    fn sum(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = match dtype {
            Some(dt) => self.t.to_dtype(extract_dtype(dt)?).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), || t.sum(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false, dtype=None))]
    fn mean(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = match dtype {
            Some(dt) => self.t.to_dtype(extract_dtype(dt)?).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), || t.mean(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        let t = &self.t;
        run(py, t.numel(), || t.var(d.as_deref(), c, keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        let t = &self.t;
        run(py, t.numel(), || t.std(d.as_deref(), c, keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amax(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = &self.t;
        run(py, t.numel(), || t.amax(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amin(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = &self.t;
        run(py, t.numel(), || t.amin(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn logsumexp(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<PyTensor> {
        let d = dims_arg(dim)?;
        let t = &self.t;
        run(py, t.numel(), || t.logsumexp(d.as_deref(), keepdim)).map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        self.t.argmax(dim, keepdim).py().map(wrap)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        self.t.argmin(dim, keepdim).py().map(wrap)
    }
    /// `max()` → scalar tensor; `max(dim)` → `(values, indices)`; `max(other)` → elementwise.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        self.extreme(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        self.extreme(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        let b = self.t.to_dtype(DType::Bool).py()?;
        match dim {
            None => Ok(wrap(Tensor::scalar(b.all().py()?))),
            Some(d) => b.amin(Some(&[d]), keepdim).py().map(wrap),
        }
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        let b = self.t.to_dtype(DType::Bool).py()?;
        match dim {
            None => Ok(wrap(Tensor::scalar(b.any().py()?))),
            Some(d) => b.amax(Some(&[d]), keepdim).py().map(wrap),
        }
    }

    // ---- shape ------------------------------------------------------------------------------

    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        self.t.reshape(&int_args(shape)?).py().map(wrap)
    }
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        if shape.len() == 1 {
            if let Ok(dt) = extract_dtype(&shape.get_item(0)?) {
                if dt != self.t.dtype() {
                    return Err(to_pyerr(Error::DType(
                        "view(dtype) reinterpretation is not supported; use .to(dtype)".into(),
                    )));
                }
                return Ok(wrap(self.t.clone()));
            }
        }
        self.t.view(&int_args(shape)?).py().map(wrap)
    }
    fn view_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let s: Vec<isize> = other.t.shape().iter().map(|&n| n as isize).collect();
        self.t.view(&s).py().map(wrap)
    }
    fn reshape_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let s: Vec<isize> = other.t.shape().iter().map(|&n| n as isize).collect();
        self.t.reshape(&s).py().map(wrap)
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        self.t.permute(&int_args(dims)?).py().map(wrap)
    }
    fn transpose(&self, dim0: isize, dim1: isize) -> PyResult<PyTensor> {
        self.t.transpose(dim0, dim1).py().map(wrap)
    }
    fn swapaxes(&self, dim0: isize, dim1: isize) -> PyResult<PyTensor> {
        self.t.transpose(dim0, dim1).py().map(wrap)
    }
    fn t(&self) -> PyResult<PyTensor> {
        if self.t.ndim() > 2 {
            return Err(to_pyerr(Error::Shape(format!(
                "t() expects a tensor with <= 2 dimensions, but got shape {:?}",
                self.t.shape()
            ))));
        }
        self.t.t().py().map(wrap)
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        self.t.expand_isize(&int_args(sizes)?).py().map(wrap)
    }
    fn expand_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.t.expand(other.t.shape()).py().map(wrap)
    }
    /// `squeeze()`, `squeeze(dim)` or `squeeze((d0, d1, ...))`.
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let Some(dims) = dims_arg(dim)? else {
            return self.t.squeeze(None).py().map(wrap);
        };
        let nd = self.t.ndim();
        let mut ds = dims
            .iter()
            .map(|&d| democratising::layout::normalize_dim(d, nd))
            .collect::<democratising::Result<Vec<usize>>>()
            .py()?;
        ds.sort_unstable_by(|a, b| b.cmp(a));
        ds.dedup();
        let mut out = self.t.clone();
        for d in ds {
            out = out.squeeze(Some(d as isize)).py()?;
        }
        Ok(wrap(out))
    }
    fn unsqueeze(&self, dim: isize) -> PyResult<PyTensor> {
        self.t.unsqueeze(dim).py().map(wrap)
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: isize, end_dim: isize) -> PyResult<PyTensor> {
        self.t.flatten(start_dim, end_dim).py().map(wrap)
    }
    fn narrow(&self, dim: isize, start: isize, length: isize) -> PyResult<PyTensor> {
        let Ok(length) = usize::try_from(length) else {
            return Err(to_pyerr(Error::Value(format!(
                "narrow(): length must be non-negative, got {length}"
            ))));
        };
        self.t.narrow(dim, start, length).py().map(wrap)
    }
    fn select(&self, dim: isize, index: isize) -> PyResult<PyTensor> {
        self.t.select(dim, index).py().map(wrap)
    }
    #[pyo3(signature = (dim=0))]
    fn unbind(&self, dim: isize) -> PyResult<Vec<PyTensor>> {
        Ok(self.t.unbind(dim).py()?.into_iter().map(wrap).collect())
    }
    /// `split(size, dim)` (equal pieces, the last smaller) or `split([sizes], dim)`.
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split(
        &self,
        split_size_or_sections: &Bound<'_, PyAny>,
        dim: isize,
    ) -> PyResult<Vec<PyTensor>> {
        if let Ok(size) = split_size_or_sections.extract::<usize>() {
            return Ok(self
                .t
                .split(size, dim)
                .py()?
                .into_iter()
                .map(wrap)
                .collect());
        }
        let sizes: Vec<usize> = split_size_or_sections.extract()?;
        let d = if dim < 0 {
            dim + self.t.ndim() as isize
        } else {
            dim
        };
        let n = usize::try_from(d)
            .ok()
            .and_then(|d| self.t.shape().get(d).copied())
            .ok_or_else(|| {
                to_pyerr(Error::Index(format!(
                    "split: dim {dim} is out of range for a tensor of {} dims",
                    self.t.ndim()
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
            out.push(wrap(self.t.narrow(dim, start, len).py()?));
            start += len as isize;
        }
        Ok(out)
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk(&self, chunks: usize, dim: isize) -> PyResult<Vec<PyTensor>> {
        Ok(self
            .t
            .chunk(chunks, dim)
            .py()?
            .into_iter()
            .map(wrap)
            .collect())
    }
    fn contiguous(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = &self.t;
        run(py, t.numel(), || t.contiguous()).map(wrap)
    }

    // ---- structured ops ---------------------------------------------------------------------

    #[pyo3(signature = (dim=-1, dtype=None))]
    fn softmax(
        &self,
        py: Python<'_>,
        dim: isize,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let t = match dtype {
            Some(d) => self.t.to_dtype(extract_dtype(d)?).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), || t.softmax(dim)).map(wrap)
    }
    #[pyo3(signature = (dim=-1, dtype=None))]
    fn log_softmax(
        &self,
        py: Python<'_>,
        dim: isize,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let t = match dtype {
            Some(d) => self.t.to_dtype(extract_dtype(d)?).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), || t.log_softmax(dim)).map(wrap)
    }
    fn gather(&self, py: Python<'_>, dim: isize, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let (t, i) = (&self.t, &index.t);
        run(py, i.numel(), || t.gather(dim, i)).map(wrap)
    }
    fn scatter_add(
        &self,
        py: Python<'_>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
        src: PyRef<'_, PyTensor>,
    ) -> PyResult<PyTensor> {
        let (t, i, s) = (&self.t, &index.t, &src.t);
        run(py, i.numel(), || t.scatter_add(dim, i, s)).map(wrap)
    }
    fn index_select(
        &self,
        py: Python<'_>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
    ) -> PyResult<PyTensor> {
        let (t, i) = (&self.t, &index.t);
        run(py, t.numel(), || t.index_select(dim, i)).map(wrap)
    }
    fn masked_fill(
        &self,
        py: Python<'_>,
        mask: PyRef<'_, PyTensor>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<PyTensor> {
        let v = operand(value)?;
        democratising::ops::overflow::check_scalar_fits(&v, self.t.dtype()).py()?;
        let v = v.item().py()?;
        let (t, m) = (&self.t, &mask.t);
        run(py, t.numel(), || t.masked_fill(m, v)).map(wrap)
    }
    #[pyo3(name = "where")]
    fn where_method(
        &self,
        py: Python<'_>,
        condition: PyRef<'_, PyTensor>,
        other: &Bound<'_, PyAny>,
    ) -> PyResult<PyTensor> {
        let o = operand(other)?;
        let (t, c) = (&self.t, &condition.t);
        run(py, t.numel(), || Tensor::where_(c, t, &o)).map(wrap)
    }
    fn dot(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        if self.t.ndim() != 1 || other.t.ndim() != 1 {
            return Err(to_pyerr(Error::Shape(format!(
                "dot: 1D tensors expected, but got {:?} and {:?}",
                self.t.shape(),
                other.t.shape()
            ))));
        }
        self.t.matmul(&other.t).py().map(wrap)
    }
    fn mm(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        if self.t.ndim() != 2 || other.t.ndim() != 2 {
            return Err(to_pyerr(Error::Shape(format!(
                "mm: 2D tensors expected, but got {:?} and {:?}",
                self.t.shape(),
                other.t.shape()
            ))));
        }
        self.t.matmul(&other.t).py().map(wrap)
    }

    // ---- in place ---------------------------------------------------------------------------

    #[pyo3(signature = (other, alpha=1.0))]
    fn add_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: f64,
    ) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.add_(&o, alpha).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (other, alpha=1.0))]
    fn sub_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: f64,
    ) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.sub_(&o, alpha).py()?;
        Ok(slf)
    }
    fn mul_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.mul_(&o).py()?;
        Ok(slf)
    }
    fn div_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let o = operand(other)?;
        slf.get().t.div_(&o).py()?;
        Ok(slf)
    }
    fn zero_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.zero_().py()?;
        Ok(slf)
    }
    fn fill_<'py>(slf: Bound<'py, Self>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let v = operand(value)?;
        slf.get().t.fill_scalar_(&v).py()?;
        Ok(slf)
    }
    fn copy_<'py>(slf: Bound<'py, Self>, src: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let s = operand(src)?;
        slf.get().t.copy_(&s).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(
        slf: Bound<'_, Self>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> PyResult<Bound<'_, Self>> {
        slf.get().t.clamp_(min, max).py()?;
        Ok(slf)
    }
    /// Fills with samples from U(from, to), in place (no autograd), like `nn.init.uniform_`.
    #[pyo3(signature = (a=0.0, b=1.0))]
    fn uniform_(slf: Bound<'_, Self>, a: f64, b: f64) -> PyResult<Bound<'_, Self>> {
        let t = &slf.get().t;
        let r = Tensor::rand_uniform(t.shape(), a, b, t.dtype()).py()?;
        let _g = autograd::GradModeGuard::new(false);
        t.copy_(&r).py()?;
        drop(_g);
        Ok(slf)
    }
    #[pyo3(signature = (mean=0.0, std=1.0))]
    fn normal_(slf: Bound<'_, Self>, mean: f64, std: f64) -> PyResult<Bound<'_, Self>> {
        let t = &slf.get().t;
        let r = Tensor::randn_scaled(t.shape(), mean, std, t.dtype()).py()?;
        let _g = autograd::GradModeGuard::new(false);
        t.copy_(&r).py()?;
        drop(_g);
        Ok(slf)
    }

    // ---- indexing ---------------------------------------------------------------------------

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        crate::indexing::getitem(py, &self.t, key).map(wrap)
    }
    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        crate::indexing::setitem(py, &self.t, key, value)
    }
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.t.ndim() == 0 {
            return Err(crate::errors::type_error("iteration over a 0-d tensor"));
        }
        let items: Vec<PyTensor> = self.t.unbind(0).py()?.into_iter().map(wrap).collect();
        Ok(items.into_pyobject(py)?.try_iter()?.into_any().unbind())
    }
}

impl PyTensor {
    fn extreme<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
        max: bool,
    ) -> PyResult<Py<PyAny>> {
        match dim {
            None => {
                let r = if max {
                    self.t.amax(None, false)
                } else {
                    self.t.amin(None, false)
                };
                Ok(wrap(r.py()?).into_pyobject(py)?.into_any().unbind())
            }
            Some(d) if d.is_instance_of::<PyTensor>() => {
                let o = operand(d)?;
                let r = if max {
                    self.t.maximum(&o)
                } else {
                    self.t.minimum(&o)
                };
                Ok(wrap(r.py()?).into_pyobject(py)?.into_any().unbind())
            }
            Some(d) => {
                let d: isize = d.extract()?;
                let (v, i) = self.t.max_dim(d, keepdim, max).py()?;
                let ret = py.import("democratising._tensor")?.getattr("MaxResult")?;
                Ok(ret.call1((wrap(v), wrap(i)))?.unbind())
            }
        }
    }
}

/// The node that produced a tensor (`t.grad_fn`), for inspecting the graph.
#[pyclass(frozen, name = "GradFn", module = "democratising")]
pub struct GradFn {
    node: Arc<autograd::Node>,
}

#[pymethods]
impl GradFn {
    fn name(&self) -> &'static str {
        self.node.name
    }
    #[getter]
    fn next_functions(&self) -> Vec<Option<GradFn>> {
        self.node
            .next_functions()
            .into_iter()
            .map(|n| n.map(|node| GradFn { node }))
            .collect()
    }
    fn __repr__(&self) -> String {
        format!("<{} object>", self.node.name)
    }
}

/// Returned by `register_hook`, like PyTorch's handle: `handle.remove()` unregisters the hook.
#[pyclass(frozen, name = "RemovableHandle", module = "democratising")]
pub struct HookHandle {
    tensor: Tensor,
    id: u64,
}

#[pymethods]
impl HookHandle {
    fn remove(&self) {
        self.tensor.remove_hook(self.id);
    }
}
