//! `Tensor` methods that convert: dtypes and devices (`to`, `float`, `cuda`), NumPy and
//! DLPack interchange, Python numbers, `repr` and formatting, pickling and copies.

use super::memory_format::MemoryFormat;
use super::{numpy_typestr, Either, PyTensor};
use crate::errors::{to_pyerr, ResultExt};
use crate::types::{extract_device, extract_dtype, PyDType, PyDevice};
use crate::util::{run, wrap};
use democratising::{DType, Device, Error};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The dtype shorthands (`float()`, `long()`, ...): `self` cast to the named dtype, `self`
/// itself when it already has it (as PyTorch: a `Parameter` stays one).
macro_rules! cast_py {
    ($($name:ident => $dtype:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(slf: &Bound<'_, Self>) -> PyResult<Either> {
                    let t = &slf.get().tensor();
                    if t.dtype() == DType::$dtype {
                        return Ok(Either::Same(slf.clone().unbind()));
                    }
                    run(slf.py(), t.numel(), || t.to_dtype(DType::$dtype))
                        .map(wrap)
                        .map(Either::New)
                }
            )*
        }
    };
}

cast_py!(
    float => F32, double => F64, half => F16, bfloat16 => BF16,
    long => I64, int => I32, short => I16, char => I8, byte => U8, bool => Bool,
);

#[pymethods]
impl PyTensor {
    // ---- conversion -------------------------------------------------------------------------

    fn item<'py>(&self, py: Python<'py>) -> PyResult<Py<PyAny>> {
        let v = self.tensor().item().py()?;
        Ok(match self.tensor().dtype() {
            DType::Bool => (v != 0.0).into_pyobject(py)?.to_owned().into_any().unbind(),
            dt if dt.is_int() => self
                .tensor()
                .item_i64()
                .py()?
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            _ => v.into_pyobject(py)?.into_any().unbind(),
        })
    }
    fn __float__(&self) -> PyResult<f64> {
        self.tensor().item().py()
    }
    /// `int(t)`: integers exactly (not through a float: `2**62 + 1` stays itself), floats
    /// truncated as Python's `int(float)` does, NaN and infinity refused as Python refuses
    /// them (`ValueError`, `OverflowError`).
    fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.tensor();
        if t.dtype().is_int() || t.dtype() == DType::Bool {
            return Ok(t.item_i64().py()?.into_pyobject(py)?.into_any());
        }
        let v = t.item().py()?;
        pyo3::types::PyFloat::new(py, v).call_method0("__int__")
    }
    /// `t` as an index (`range(t)`, `xs[t]`): one integer or bool element, as PyTorch's.
    fn __index__(&self) -> PyResult<i64> {
        let t = self.tensor();
        if !(t.dtype().is_int() || t.dtype() == DType::Bool) {
            return Err(crate::errors::type_error(
                "only integer tensors of a single element can be converted to an index",
            ));
        }
        t.item_i64().py()
    }
    fn __bool__(&self) -> PyResult<bool> {
        if self.tensor().numel() != 1 {
            return Err(to_pyerr(Error::Value(format!(
                "Boolean value of Tensor with {} elements (shape {:?}) is ambiguous",
                self.tensor().numel(),
                self.tensor().shape()
            ))));
        }
        Ok(self.tensor().item().py()? != 0.0)
    }

    /// NumPy's array interface: lets `numpy.asarray(t)` view this tensor's memory without a copy.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        if self.tensor().device().is_cuda() {
            return Err(crate::errors::type_error(format!(
                "can't convert {} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
                self.tensor().device()
            )));
        }
        let d = PyDict::new(py);
        let isz = self.tensor().dtype().size();
        d.set_item("shape", PyTuple::new(py, self.tensor().shape())?)?;
        d.set_item("typestr", numpy_typestr(self.tensor().dtype())?)?;
        let strides: Vec<usize> = self.tensor().strides().iter().map(|s| s * isz).collect();
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
        let Device::Cuda(i) = self.tensor().device() else {
            // A plain AttributeError: `hasattr(t, "__cuda_array_interface__")` is the protocol.
            return Err(pyo3::exceptions::PyAttributeError::new_err(
                "CPU tensors have no __cuda_array_interface__; use __array_interface__ or .numpy()",
            ));
        };
        if self.tensor().requires_grad() {
            return Err(crate::errors::to_pyerr(Error::Autograd(
                "Can't export a tensor that requires grad; use tensor.detach() first.".into(),
            )));
        }
        democratising::cuda::synchronize(i).py()?;
        let d = PyDict::new(py);
        let isz = self.tensor().dtype().size();
        d.set_item("shape", PyTuple::new(py, self.tensor().shape())?)?;
        d.set_item("typestr", numpy_typestr(self.tensor().dtype())?)?;
        if self.tensor().is_contiguous() {
            d.set_item("strides", py.None())?;
        } else {
            let strides: Vec<usize> = self.tensor().strides().iter().map(|s| s * isz).collect();
            d.set_item("strides", PyTuple::new(py, strides)?)?;
        }
        d.set_item("data", (self.data_ptr(), false))?;
        d.set_item("version", 3)?;
        d.set_item("stream", py.None())?;
        Ok(d)
    }

    /// A NumPy array sharing this tensor's memory.
    fn numpy<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if slf.get().tensor().requires_grad() {
            return Err(crate::errors::to_pyerr(Error::Autograd(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
                    .into(),
            )));
        }
        let t = slf.get().tensor();
        if t.device() == Device::Cpu && t.dtype() != DType::BF16 {
            // Through DLPack: NumPy's `asarray` probes several protocols before it reads
            // `__array_interface__` (1.8 µs against 0.5 µs). The memory is shared either way.
            static FROM_DLPACK: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
            let f = FROM_DLPACK.get_or_try_init(py, || {
                py.import("numpy")?
                    .getattr("from_dlpack")
                    .map(Bound::unbind)
            })?;
            return f.bind(py).call1((slf,));
        }
        // (bfloat16 and device memory: `__array_interface__` raises the error that says why)
        py.import("numpy")?.getattr("asarray")?.call1((slf,))
    }

    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = if self.tensor().dtype() == DType::BF16 || self.tensor().dtype() == DType::F16 {
            self.tensor().to_dtype(DType::F32).py()?
        } else {
            self.tensor()
        };
        let t = t.to_device(Device::Cpu).py()?;
        // Python numbers built here, as NumPy's `tolist` would give them (no array made).
        let shape = t.shape().to_vec();
        match t.dtype() {
            DType::Bool => {
                let v = t.to_dtype(DType::I64).py()?.to_vec::<i64>().py()?;
                nested(py, &shape, &v, |x| x != 0)
            }
            dt if dt.is_float() => {
                let v = t.to_dtype(DType::F64).py()?.to_vec::<f64>().py()?;
                nested(py, &shape, &v, |x| x)
            }
            _ => {
                let v = t.to_dtype(DType::I64).py()?.to_vec::<i64>().py()?;
                nested(py, &shape, &v, |x| x)
            }
        }
    }

    /// A DLPack capsule sharing this tensor's memory (any dtype, CPU or CUDA). A CUDA tensor's
    /// queued work is finished first, so the consumer's stream may read it at once.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<&Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = stream; // the hand-off synchronises the device below
        let versioned = max_version.is_some_and(|(major, _)| major >= 1);
        if self.tensor().requires_grad() {
            return Err(to_pyerr(Error::Autograd(
                "Can't export a tensor that requires grad through DLPack; use tensor.detach()"
                    .into(),
            )));
        }
        if dl_device.is_some_and(|d| d != self.__dlpack_device__()) {
            return Err(pyo3::exceptions::PyBufferError::new_err(format!(
                "__dlpack__: the tensor is on {}, not on the requested DLPack device {:?}",
                self.tensor().device(),
                dl_device
            )));
        }
        let t = if copy == Some(true) {
            self.tensor().detach().deep_clone().py()?
        } else {
            self.tensor().detach()
        };
        if let Device::Cuda(i) = t.device() {
            py.detach(|| democratising::cuda::synchronize(i)).py()?;
        }
        crate::dlpack::export(py, &t, versioned)
    }
    fn __dlpack_device__(&self) -> (i32, i32) {
        match self.tensor().device() {
            Device::Cpu => (1, 0),
            Device::Cuda(i) => (2, i as i32),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<String> {
        crate::registry::helper(py, "format_tensor")?
            .call1((slf,))?
            .extract()
    }

    /// `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other_tensor)` or keywords.
    /// `memory_format=dm.channels_last` lays the result out as PyTorch's would.
    #[pyo3(signature = (*args, dtype=None, device=None, copy=false, non_blocking=false, memory_format=None))]
    fn to(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        dtype: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        copy: bool,
        non_blocking: bool,
        memory_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Either> {
        let _ = non_blocking;
        let format = MemoryFormat::extract(memory_format)?;
        let py = slf.py();
        let this = slf.get();
        let mut dt = None;
        let mut dev = None;
        let mut copy = copy;
        let mut flags = 0; // positional bools: `non_blocking`, then `copy` (PyTorch's order)
        for a in args.iter() {
            if a.is_none() {
                continue; // `x.to(None)` changes nothing, as in PyTorch
            }
            if a.is_instance_of::<pyo3::types::PyBool>() {
                flags += 1;
                match flags {
                    1 => {} // non_blocking: every copy here completes before returning
                    2 => copy = a.is_truthy()?,
                    _ => {
                        return Err(crate::errors::type_error(
                            "to() takes at most two positional flags (non_blocking, copy)",
                        ))
                    }
                }
                continue;
            }
            // The common spellings first, each recognised without building a failed parse's
            // error (`to(x.device)` took 2.4 µs for a no-op, `to("cpu")` 1.4 µs).
            if let Ok(d) = a.cast::<PyDevice>() {
                dev = Some(d.get().0);
            } else if let Ok(d) = a.cast::<PyDType>() {
                dt = Some(d.get().0);
            } else if let Some(d) = device_name(&a) {
                dev = Some(extract_device(&d)?);
            } else if let Ok(t) = a.cast::<PyTensor>() {
                dt = Some(t.get().tensor().dtype());
                dev = Some(t.get().tensor().device());
            } else {
                // A device is only tried when the argument is not a dtype (`to(dm.float32)`
                // builds no device error).
                let dtype = extract_dtype(&a);
                let device = if dtype.is_ok() {
                    None
                } else {
                    Some(extract_device(&a))
                };
                match (dtype, device) {
                    (Ok(d), _) => dt = Some(d),
                    (_, Some(Ok(d))) => dev = Some(d),
                    (_, None) => {}
                    // Neither: say what it is not as a dtype, unless it reads as a device name.
                    (Err(dtype_err), Some(Err(device_err))) => {
                        let name = a.extract::<String>().unwrap_or_default();
                        let device_like = DEVICE_PREFIXES.iter().any(|p| name.starts_with(p));
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
            Some(d) if d != this.tensor().device() => {
                let src = &this.tensor();
                moved = run(py, src.numel(), || src.to_device(d))?;
                &moved
            }
            _ => &this.tensor(),
        };
        let out = match dt {
            Some(d) => run(py, t.numel(), || t.to_dtype(d))?,
            None => t.clone(),
        };
        let out = format.apply(py, &out, false)?;
        if copy && out.same(t) {
            return run(py, t.numel(), || t.deep_clone())
                .map(wrap)
                .map(Either::New);
        }
        if out.same(&slf.get().tensor()) {
            // Nothing to move or convert: `self`, as in PyTorch.
            return Ok(Either::Same(slf.clone().unbind()));
        }
        Ok(Either::New(wrap(out)))
    }
    /// `other`'s dtype and device (PyTorch's `type_as` names a tensor type, which includes
    /// the device: `x.type_as(cuda_tensor)` moves `x`).
    fn type_as(slf: &Bound<'_, Self>, other: PyRef<'_, PyTensor>) -> PyResult<Either> {
        let (t, o) = (slf.get().tensor(), other.tensor());
        let out = run(slf.py(), t.numel(), || {
            let t = t.to_dtype(o.dtype())?;
            if t.device() == o.device() {
                Ok(t)
            } else {
                t.to_device(o.device())
            }
        })?;
        Ok(Either::same_or_new(slf, out))
    }
    /// `self` when already on the CPU (PyTorch), else a copy in host memory (laid out in
    /// `memory_format` when one is given).
    #[pyo3(signature = (memory_format=None))]
    fn cpu(slf: &Bound<'_, Self>, memory_format: Option<&Bound<'_, PyAny>>) -> PyResult<Either> {
        let format = MemoryFormat::extract(memory_format)?;
        let t = &slf.get().tensor();
        let moved = if t.device() == Device::Cpu {
            t.clone()
        } else {
            run(slf.py(), t.numel(), || t.to_device(Device::Cpu))?
        };
        let out = format.apply(slf.py(), &moved, false)?;
        if out.same(t) {
            return Ok(Either::Same(slf.clone().unbind()));
        }
        Ok(Either::New(wrap(out)))
    }
    /// A copy in page-locked host memory (`self` when already pinned): copies from it to a
    /// GPU are DMA transfers. Without a CUDA device there is nothing to pin for, and `self`
    /// comes back unchanged, so PyTorch programs that pin run on any machine.
    fn pin_memory<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if !py.detach(democratising::cuda::is_available) {
            return Ok(slf.clone().into_any());
        }
        let t = slf.get().tensor();
        let pinned = py.detach(|| democratising::cuda::pin_memory(&t)).py()?;
        Ok(Bound::new(py, wrap(pinned))?.into_any())
    }
    /// Whether the memory is page-locked (made by `pin_memory`).
    fn is_pinned(&self) -> bool {
        democratising::cuda::is_pinned(&self.tensor())
    }
    /// `cuda()`, `cuda(1)`, `cuda("cuda:1")` or `cuda(Device)`, laid out in `memory_format`
    /// when one is given. `non_blocking` is accepted: the copy is synchronous, as `to`'s.
    #[pyo3(signature = (device=None, non_blocking=false, memory_format=None))]
    fn cuda(
        slf: &Bound<'_, Self>,
        device: Option<&Bound<'_, PyAny>>,
        non_blocking: bool,
        memory_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let (py, _) = (slf.py(), non_blocking);
        let format = MemoryFormat::extract(memory_format)?;
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
        let t = &slf.get().tensor();
        let moved = run(py, t.numel(), || t.to_device(d))?;
        format.apply(py, &moved, false).map(wrap)
    }
}

/// `data` (row-major, of `shape`) as nested Python lists of `item(x)`; a 0-d shape gives the
/// number itself.
fn nested<'py, X: Copy, Y: IntoPyObject<'py>>(
    py: Python<'py>,
    shape: &[usize],
    data: &[X],
    item: fn(X) -> Y,
) -> PyResult<Bound<'py, PyAny>> {
    let Some((&n, rest)) = shape.split_first() else {
        return match data.first() {
            Some(&x) => pyo3::IntoPyObjectExt::into_bound_py_any(item(x), py),
            None => Ok(pyo3::types::PyList::empty(py).into_any()),
        };
    };
    let step: usize = rest.iter().product();
    let items = (0..n)
        .map(|i| {
            let part = data.get(i * step..(i + 1) * step).unwrap_or(&[]);
            if rest.is_empty() {
                match part.first() {
                    Some(&x) => pyo3::IntoPyObjectExt::into_bound_py_any(item(x), py),
                    None => Ok(py.None().into_bound(py)),
                }
            } else {
                nested(py, rest, part, item)
            }
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(pyo3::types::PyList::new(py, items)?.into_any())
}

/// How device names begin (`"cuda:1"`), PyTorch's included, to tell them from dtype names.
const DEVICE_PREFIXES: [&str; 9] = [
    "cpu", "cuda", "mps", "xpu", "meta", "xla", "hpu", "mtia", "ipu",
];

/// `a` when it is a string naming a device this engine has (`"cpu"`, `"cuda"`, `"cuda:0"`).
fn device_name<'py>(a: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    let name: String = a.cast::<pyo3::types::PyString>().ok()?.extract().ok()?;
    (name == "cpu" || name.starts_with("cuda")).then(|| a.clone())
}
