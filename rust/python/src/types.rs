//! `dm.dtype` and `dm.Device` objects, and parsing of the many ways users name them.

use crate::errors::{to_pyerr, ResultExt};
use democratising::{DType, Device};
use pyo3::prelude::*;

/// A tensor element type (`dm.float32`, ...).
#[pyclass(frozen, eq, hash, name = "dtype", module = "democratising")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType(pub DType);

/// One Python object per dtype, made once: `x.dtype is dm.float32` holds, as in PyTorch.
static DTYPE_OBJECTS: pyo3::sync::PyOnceLock<Vec<Py<PyDType>>> = pyo3::sync::PyOnceLock::new();

/// The Python object of `dt` (the same one every time, and the one `dm.<name>` is).
pub fn dtype_object(py: Python<'_>, dt: DType) -> PyResult<Py<PyDType>> {
    let all = DTYPE_OBJECTS.get_or_try_init(py, || {
        DType::ALL
            .iter()
            .map(|&d| Py::new(py, PyDType(d)))
            .collect::<PyResult<Vec<_>>>()
    })?;
    match all.get(dt as usize) {
        Some(obj) => Ok(obj.clone_ref(py)),
        None => Py::new(py, PyDType(dt)),
    }
}

#[pymethods]
impl PyDType {
    fn __repr__(&self) -> String {
        format!("democratising.{}", self.0.name())
    }
    fn __str__(&self) -> String {
        self.__repr__()
    }
    #[getter]
    fn name(&self) -> &'static str {
        self.0.name()
    }
    #[getter]
    fn is_floating_point(&self) -> bool {
        self.0.is_float()
    }
    /// Whether the type holds negative values (every dtype but `bool` and `uint8`, as in
    /// PyTorch).
    #[getter]
    fn is_signed(&self) -> bool {
        !matches!(self.0, DType::Bool | DType::U8)
    }
    /// Always false: there are no complex dtypes (the attribute exists for PyTorch code).
    #[getter]
    fn is_complex(&self) -> bool {
        false
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.0.size()
    }
    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, (String,))> {
        let f = crate::registry::helper(py, "dtype_from_name")?;
        Ok((f.unbind(), (self.0.name().to_string(),)))
    }
}

/// Accepts `dm.float32`, `"float32"`, NumPy dtypes/types, and Python's `float`/`int`/`bool`.
pub fn extract_dtype(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    if let Ok(d) = obj.cast::<PyDType>() {
        return Ok(d.get().0);
    }
    let py = obj.py();
    let builtins = py.import("builtins")?;
    if obj.is(&builtins.getattr("float")?) {
        return Ok(DType::F64);
    }
    if obj.is(&builtins.getattr("int")?) {
        return Ok(DType::I64);
    }
    if obj.is(&builtins.getattr("bool")?) {
        return Ok(DType::Bool);
    }
    let name: String = if let Ok(s) = obj.extract::<String>() {
        s
    } else if let Ok(n) = py
        .import("numpy")
        .and_then(|np| np.getattr("dtype")?.call1((obj,)))
        .and_then(|d| d.getattr("name"))
        .and_then(|n| n.extract::<String>())
    {
        n
    } else {
        return Err(to_pyerr(democratising::Error::DType(format!(
            "cannot interpret {obj} as a dtype"
        ))));
    };
    let name = name
        .trim_start_matches("democratising.")
        .trim_start_matches("torch.");
    DType::from_name(name).ok_or_else(|| {
        to_pyerr(democratising::Error::DType(format!(
            "unsupported dtype {name:?}: expected one of float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool"
        )))
    })
}

/// A device: `Device("cpu")`, `Device.cpu()`, `Device.cuda(0)`.
#[pyclass(frozen, eq, hash, name = "Device", module = "democratising")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDevice(pub Device);

#[pymethods]
impl PyDevice {
    #[new]
    #[pyo3(signature = (spec, index=None))]
    fn new(spec: &Bound<'_, PyAny>, index: Option<usize>) -> PyResult<Self> {
        let mut d = extract_device(spec)?;
        if let (Device::Cuda(_), Some(i)) = (d, index) {
            d = Device::Cuda(i);
        }
        Ok(PyDevice(d))
    }
    #[staticmethod]
    fn cpu() -> Self {
        PyDevice(Device::Cpu)
    }
    #[staticmethod]
    #[pyo3(signature = (index=0))]
    fn cuda(index: i64) -> PyResult<Self> {
        let i = usize::try_from(index).map_err(|_| {
            crate::errors::to_pyerr(democratising::Error::Device(format!(
                "CUDA device index must be non-negative, got {index}"
            )))
        })?;
        Ok(PyDevice(Device::Cuda(i)))
    }
    /// Every CUDA device; raises `DeviceError` when there is none.
    #[staticmethod]
    fn cuda_all() -> PyResult<Vec<PyDevice>> {
        let n = democratising::cuda::device_count();
        if n == 0 {
            let why = democratising::cuda::unavailable_reason().unwrap_or_default();
            return Err(crate::errors::to_pyerr(democratising::Error::Device(
                format!("no CUDA devices are available: {why}"),
            )));
        }
        Ok((0..n).map(|i| PyDevice(Device::Cuda(i))).collect())
    }
    #[getter]
    fn r#type(&self) -> &'static str {
        match self.0 {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
        }
    }
    #[getter]
    fn index(&self) -> Option<usize> {
        match self.0 {
            Device::Cpu => None,
            Device::Cuda(i) => Some(i),
        }
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
    /// PyTorch's form, `device(type='cuda', index=0)`: `dm.device` is this class.
    fn __repr__(&self) -> String {
        match self.0 {
            Device::Cpu => "device(type='cpu')".to_string(),
            Device::Cuda(i) => format!("device(type='cuda', index={i})"),
        }
    }
    /// `with dm.Device("cuda"):` makes the device the factories' default inside the block.
    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        crate::default_device::enter(slf.get().0)?;
        Ok(slf)
    }
    fn __exit__(
        &self,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        crate::default_device::exit()?;
        Ok(false)
    }
    /// Pickles (and so `copy.deepcopy` of anything holding a device) as `Device("cuda:0")`.
    fn __reduce__(slf: &Bound<'_, Self>) -> (Py<PyAny>, (String,)) {
        (
            slf.get_type().into_any().unbind(),
            (slf.get().0.to_string(),),
        )
    }
}

pub fn extract_device(obj: &Bound<'_, PyAny>) -> PyResult<Device> {
    if let Ok(d) = obj.cast::<PyDevice>() {
        return Ok(d.get().0);
    }
    if let Ok(s) = obj.extract::<String>() {
        return Device::parse(&s).py();
    }
    // A bool is an int to Python but never a device index (`to(dtype, True)` is non_blocking).
    if !obj.is_instance_of::<pyo3::types::PyBool>() {
        if let Ok(i) = obj.extract::<usize>() {
            return Ok(Device::Cuda(i));
        }
    }
    Err(crate::errors::type_error(format!(
        "cannot interpret {obj} as a device"
    )))
}
