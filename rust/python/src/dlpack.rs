//! DLPack: zero-copy exchange of tensors with NumPy, PyTorch, CuPy and JAX, on the CPU and
//! on CUDA devices. `__dlpack__` hands out a capsule that keeps our storage alive until the
//! consumer calls its deleter; `_from_dlpack` wraps another library's capsule as a storage
//! whose owner calls the producer's deleter when the last view of it goes away. Both the
//! legacy (`dltensor`) and the versioned (`dltensor_versioned`, DLPack 1.x) capsules are read
//! and written (the versioned one when the consumer asks for DLPack 1.x).

use crate::errors::{to_pyerr, ResultExt};
use crate::tensor::PyTensor;
use crate::util::wrap;
use democratising::layout::Layout;
use democratising::storage::Storage;
use democratising::{DType, Device, Error, Tensor};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_void, CStr};
use std::sync::Arc;

const DLTENSOR: &CStr = c"dltensor";
const USED_DLTENSOR: &CStr = c"used_dltensor";
const DLTENSOR_VERSIONED: &CStr = c"dltensor_versioned";
const USED_DLTENSOR_VERSIONED: &CStr = c"used_dltensor_versioned";

const CPU: i32 = 1;
const CUDA: i32 = 2;
/// Pinned host memory: addressable from the CPU.
const CUDA_HOST: i32 = 3;

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
struct DLManagedTensorVersioned {
    version: [u32; 2],
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

/// DLPack's type of a dtype: (code, bits); codes int 0, uint 1, float 2, bfloat 4, bool 6.
fn dl_dtype(dt: DType) -> DLDataType {
    let (code, bits) = match dt {
        DType::Bool => (6, 8),
        DType::U8 => (1, 8),
        DType::I8 => (0, 8),
        DType::I16 => (0, 16),
        DType::I32 => (0, 32),
        DType::I64 => (0, 64),
        DType::F16 => (2, 16),
        DType::BF16 => (4, 16),
        DType::F32 => (2, 32),
        DType::F64 => (2, 64),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

fn our_dtype(t: DLDataType) -> Result<DType, Error> {
    Ok(match (t.code, t.bits, t.lanes) {
        (6, 8, 1) | (1, 1, 1) => DType::Bool,
        (1, 8, 1) => DType::U8,
        (0, 8, 1) => DType::I8,
        (0, 16, 1) => DType::I16,
        (0, 32, 1) => DType::I32,
        (0, 64, 1) => DType::I64,
        (2, 16, 1) => DType::F16,
        (4, 16, 1) => DType::BF16,
        (2, 32, 1) => DType::F32,
        (2, 64, 1) => DType::F64,
        (code, bits, lanes) => {
            return Err(Error::DType(format!(
                "from_dlpack: unsupported DLPack dtype (code {code}, {bits} bits, {lanes} lanes); \
                 supported are float64/32/16, bfloat16, int64/32/16/8, uint8 and bool"
            )))
        }
    })
}

// ---- export -------------------------------------------------------------------------------

/// What an exported capsule owns: the DLPack struct handed out (legacy or versioned), its
/// shape and strides, and the storage (kept alive until the consumer calls the deleter).
struct Exported<M> {
    managed: M,
    shape: Vec<i64>,
    strides: Vec<i64>,
    _storage: Arc<Storage>,
}

/// The two DLPack structs' common handling: where their `DLTensor` and context live.
trait Managed: Sized {
    const NAME: &'static CStr;
    fn new(t: DLTensor) -> Self;
    fn parts(&mut self) -> (&mut DLTensor, &mut *mut c_void);
    fn deleter(&self) -> Option<unsafe extern "C" fn(*mut Self)>;
    /// Calls the struct's deleter.
    ///
    /// # Safety
    /// `m` must be a live struct that was not deleted yet.
    unsafe fn delete(m: *mut Self) {
        // SAFETY: the caller's guarantee.
        unsafe {
            if let Some(d) = (*m).deleter() {
                d(m);
            }
        }
    }
}

impl Managed for DLManagedTensor {
    const NAME: &'static CStr = DLTENSOR;
    fn new(dl_tensor: DLTensor) -> Self {
        DLManagedTensor {
            dl_tensor,
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete_exported::<DLManagedTensor>),
        }
    }
    fn parts(&mut self) -> (&mut DLTensor, &mut *mut c_void) {
        (&mut self.dl_tensor, &mut self.manager_ctx)
    }
    fn deleter(&self) -> Option<unsafe extern "C" fn(*mut Self)> {
        self.deleter
    }
}

impl Managed for DLManagedTensorVersioned {
    const NAME: &'static CStr = DLTENSOR_VERSIONED;
    fn new(dl_tensor: DLTensor) -> Self {
        DLManagedTensorVersioned {
            version: [1, 0],
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete_exported::<DLManagedTensorVersioned>),
            flags: 0,
            dl_tensor,
        }
    }
    fn parts(&mut self) -> (&mut DLTensor, &mut *mut c_void) {
        (&mut self.dl_tensor, &mut self.manager_ctx)
    }
    fn deleter(&self) -> Option<unsafe extern "C" fn(*mut Self)> {
        self.deleter
    }
}

unsafe extern "C" fn delete_exported<M: Managed>(m: *mut M) {
    // SAFETY: `manager_ctx` is the `Exported` box `export` leaked; each capsule is deleted once.
    unsafe { drop(Box::from_raw(*(*m).parts().1 as *mut Exported<M>)) };
}

/// Frees a capsule nobody consumed (a consumer renames the capsules it takes).
unsafe extern "C" fn capsule_destructor<M: Managed>(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python with a capsule object; the name check tells an unconsumed one.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, M::NAME.as_ptr()) == 1 {
            M::delete(ffi::PyCapsule_GetPointer(capsule, M::NAME.as_ptr()) as *mut M);
        } else {
            ffi::PyErr_Clear();
        }
    }
}

/// A capsule viewing `t`'s memory (no copy) with its shape and strides: `dltensor_versioned`
/// (DLPack 1.0) when the consumer asks for 1.x, else the legacy `dltensor`.
pub fn export<'py>(py: Python<'py>, t: &Tensor, versioned: bool) -> PyResult<Bound<'py, PyAny>> {
    if versioned {
        export_as::<DLManagedTensorVersioned>(py, t)
    } else {
        export_as::<DLManagedTensor>(py, t)
    }
}

fn export_as<'py, M: Managed>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let l = t.layout();
    let device = match t.device() {
        Device::Cpu => DLDevice {
            device_type: CPU,
            device_id: 0,
        },
        Device::Cuda(i) => DLDevice {
            device_type: CUDA,
            device_id: i as i32,
        },
    };
    let mut ex = Box::new(Exported {
        managed: M::new(DLTensor {
            data: t.storage().device_ptr() as *mut c_void,
            device,
            ndim: l.shape.len() as i32,
            dtype: dl_dtype(t.dtype()),
            shape: std::ptr::null_mut(),
            strides: std::ptr::null_mut(),
            byte_offset: (l.offset * t.dtype().size()) as u64,
        }),
        shape: l.shape.iter().map(|&n| n as i64).collect(),
        strides: l.strides.iter().map(|&s| s as i64).collect(),
        _storage: t.storage().clone(),
    });
    let (shape, strides) = (ex.shape.as_mut_ptr(), ex.strides.as_mut_ptr());
    let dl = ex.managed.parts().0;
    dl.shape = shape;
    dl.strides = strides;
    let raw = Box::into_raw(ex);
    // SAFETY: `raw` is a live box; the capsule (or the consumer, through the deleter) frees it.
    unsafe {
        *(*raw).managed.parts().1 = raw as *mut c_void;
        let m = &mut (*raw).managed as *mut M as *mut c_void;
        let cap = ffi::PyCapsule_New(m, M::NAME.as_ptr(), Some(capsule_destructor::<M>));
        if cap.is_null() {
            drop(Box::from_raw(raw));
        }
        Bound::from_owned_ptr_or_err(py, cap)
    }
}

// ---- import -------------------------------------------------------------------------------

/// Calls the producer's deleter when the storage wrapping its memory is dropped.
struct Imported {
    managed: *mut c_void,
    versioned: bool,
}

// SAFETY: DLPack deleters may be called from any thread (producers take the GIL themselves
// when they need it; we take it too, below).
unsafe impl Send for Imported {}
unsafe impl Sync for Imported {}

impl Drop for Imported {
    fn drop(&mut self) {
        // At interpreter shutdown (an array freed by the last collection) there is no Python to
        // attach to: the producer's memory is left to the exiting process instead of a panic.
        let _ = Python::try_attach(|_| {
            // SAFETY: `managed` is the producer's struct of the kind `versioned` says, whose
            // ownership the consumed capsule handed to us; it is deleted exactly once here.
            unsafe {
                if self.versioned {
                    DLManagedTensorVersioned::delete(self.managed as *mut _);
                } else {
                    DLManagedTensor::delete(self.managed as *mut _);
                }
            }
        });
    }
}

fn value_error(msg: String) -> PyErr {
    to_pyerr(Error::Value(msg))
}

/// The layout of a DLPack tensor (strides in elements; none means row-major), refusing
/// negative strides and an offset that is not a whole number of elements.
///
/// # Safety
/// `d.shape` (and `d.strides` when non-null) must point to `d.ndim` values.
unsafe fn layout_of(d: &DLTensor, isz: usize) -> PyResult<Layout> {
    let n =
        usize::try_from(d.ndim).map_err(|_| value_error("from_dlpack: negative ndim".into()))?;
    let dims = |p: *const i64| -> &[i64] {
        if n == 0 || p.is_null() {
            &[]
        } else {
            // SAFETY: the caller's guarantee.
            unsafe { std::slice::from_raw_parts(p, n) }
        }
    };
    let shape: Vec<usize> = dims(d.shape)
        .iter()
        .map(|&s| usize::try_from(s))
        .collect::<Result<_, _>>()
        .map_err(|_| value_error("from_dlpack: negative dimension".into()))?;
    let strides: Vec<usize> = if d.strides.is_null() {
        democratising::layout::contiguous_strides(&shape)
    } else {
        dims(d.strides)
            .iter()
            .map(|&s| usize::try_from(s))
            .collect::<Result<_, _>>()
            .map_err(|_| value_error("from_dlpack: negative strides are not supported".into()))?
    };
    if !d.byte_offset.is_multiple_of(isz as u64) {
        return Err(value_error(format!(
            "from_dlpack: byte offset {} is not a multiple of the element size {isz}",
            d.byte_offset
        )));
    }
    Ok(Layout {
        shape,
        strides,
        offset: (d.byte_offset / isz as u64) as usize,
    })
}

/// A tensor sharing the memory of a DLPack capsule (`dltensor` or `dltensor_versioned`),
/// which is marked used: the tensor now owns it.
#[pyfunction]
pub fn _from_dlpack(py: Python<'_>, capsule: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    import_capsule(py, capsule).map(wrap)
}

/// The engine tensor of `_from_dlpack`. A capsule it refuses is left unconsumed (its producer
/// frees it as usual).
pub fn import_capsule(py: Python<'_>, capsule: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let cap = capsule.as_ptr();
    // SAFETY: PyCapsule_IsValid accepts any object; the pointers read below are the
    // producer's, valid while the capsule is unconsumed (and then for as long as we own it).
    unsafe {
        let versioned = if ffi::PyCapsule_IsValid(cap, DLTENSOR.as_ptr()) == 1 {
            false
        } else if ffi::PyCapsule_IsValid(cap, DLTENSOR_VERSIONED.as_ptr()) == 1 {
            true
        } else {
            ffi::PyErr_Clear();
            return Err(crate::errors::type_error(format!(
                "from_dlpack expects an unconsumed DLPack capsule, got {}",
                capsule.get_type()
            )));
        };
        let name = if versioned {
            DLTENSOR_VERSIONED
        } else {
            DLTENSOR
        };
        let managed = ffi::PyCapsule_GetPointer(cap, name.as_ptr());
        if managed.is_null() {
            return Err(PyErr::fetch(py));
        }
        let d: &DLTensor = if versioned {
            let m = &*(managed as *const DLManagedTensorVersioned);
            if m.version[0] != 1 {
                return Err(value_error(format!(
                    "from_dlpack: DLPack {}.{} is not supported (1.x is)",
                    m.version[0], m.version[1]
                )));
            }
            &m.dl_tensor
        } else {
            &(*(managed as *const DLManagedTensor)).dl_tensor
        };
        let dt = our_dtype(d.dtype).py()?;
        let device = match d.device.device_type {
            CPU | CUDA_HOST => Device::Cpu,
            CUDA => Device::Cuda(d.device.device_id.max(0) as usize),
            other => {
                return Err(to_pyerr(Error::Device(format!(
                    "from_dlpack: DLPack device type {other} is not supported (CPU and CUDA are)"
                ))))
            }
        };
        let layout = layout_of(d, dt.size())?;
        if !(d.data as usize)
            .wrapping_add(d.byte_offset as usize)
            .is_multiple_of(dt.size())
        {
            return Err(value_error(format!(
                "from_dlpack: the data is not aligned to its {}-byte elements",
                dt.size()
            )));
        }
        let (_, end) = layout.span();
        let used = if versioned {
            USED_DLTENSOR_VERSIONED
        } else {
            USED_DLTENSOR
        };
        if ffi::PyCapsule_SetName(cap, used.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        // DLPack 1.x's read-only flag: share nothing we might write into.
        let read_only = versioned && (*(managed as *const DLManagedTensorVersioned)).flags & 1 != 0;
        let owner = Imported { managed, versioned };
        let storage = Storage::from_foreign_on(d.data as *mut u8, end, dt, device, Box::new(owner));
        let t = Tensor::from_storage(Arc::new(storage), layout).py()?;
        if read_only {
            t.deep_clone().py()
        } else {
            Ok(t)
        }
    }
}
