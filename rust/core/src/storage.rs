//! Reference-counted memory behind tensors. A storage is a raw, typed buffer that is either owned
//! (a `Vec<T>` we allocated) or borrowed from a foreign owner (a NumPy array, a DLPack capsule)
//! that is kept alive for as long as the storage lives. Views share one storage.

use crate::{DType, Device, Element};
use std::any::Any;

/// Something that keeps foreign memory alive (e.g. a Python object reference held by the glue crate).
pub type Owner = Box<dyn Any + Send + Sync>;

/// A contiguous buffer of `len` elements of one dtype.
pub struct Storage {
    ptr: *mut u8,
    len: usize,
    dtype: DType,
    device: Device,
    _owner: Owner,
}

// SAFETY: the buffer is only reached through `Storage`, which is shared via `Arc`. Mutation happens
// through in-place ops, which PyTorch also leaves unsynchronised; the engine never hands out
// overlapping `&mut` slices within one call.
unsafe impl Send for Storage {}
unsafe impl Sync for Storage {}

impl Storage {
    /// Takes ownership of a vector without copying it.
    pub fn from_vec<T: Element>(mut v: Vec<T>) -> Storage {
        let ptr = v.as_mut_ptr() as *mut u8;
        let len = v.len();
        Storage {
            ptr,
            len,
            dtype: T::DTYPE,
            device: Device::Cpu,
            _owner: Box::new(v),
        }
    }

    /// Wraps memory owned by someone else.
    ///
    /// # Safety
    /// `ptr` must point to `len` valid, aligned elements of `dtype` that stay valid (and are not
    /// freed) for as long as `owner` lives.
    pub unsafe fn from_foreign(ptr: *mut u8, len: usize, dtype: DType, owner: Owner) -> Storage {
        // SAFETY: the caller's guarantee, for host memory.
        unsafe { Storage::from_foreign_on(ptr, len, dtype, Device::Cpu, owner) }
    }

    /// Wraps memory on `device` owned by someone else (another library's device buffer,
    /// shared through DLPack): `ptr` is a host address for the CPU, a device address for CUDA.
    ///
    /// # Safety
    /// `ptr` must address `len` valid, aligned elements of `dtype` on `device` that stay valid
    /// for as long as `owner` lives.
    pub unsafe fn from_foreign_on(
        ptr: *mut u8,
        len: usize,
        dtype: DType,
        device: Device,
        owner: Owner,
    ) -> Storage {
        Storage {
            ptr,
            len,
            dtype,
            device,
            _owner: owner,
        }
    }

    /// Wraps device memory holding `len` elements of `dtype`; `ptr` is the device address.
    pub fn from_device(
        buf: crate::cuda::backend::DeviceBuffer,
        len: usize,
        dtype: DType,
    ) -> Storage {
        Storage {
            ptr: buf.ptr() as *mut u8,
            len,
            dtype,
            device: Device::Cuda(buf.device()),
            _owner: Box::new(buf),
        }
    }

    /// Whether the memory is owned by a `T` (e.g. `cuda::backend::PinnedHost`).
    pub fn owner_is<T: Any>(&self) -> bool {
        self._owner.is::<T>()
    }

    /// The device address of element 0 (the host address for CPU storages).
    pub fn device_ptr(&self) -> u64 {
        self.ptr as u64
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Typed read access. Panics only on a dtype mismatch, which is an engine bug.
    pub fn as_slice<T: Element>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.dtype, "storage dtype mismatch");
        assert_eq!(self.device, Device::Cpu, "host access to a device storage");
        if self.len == 0 {
            return &[];
        }
        // SAFETY: ptr/len describe a live buffer of T (checked dtype) kept alive by `_owner`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const T, self.len) }
    }

    /// Typed write access for in-place ops.
    ///
    /// # Safety
    /// The caller must ensure no other slice of this storage is being read or written at the same
    /// time in a way that overlaps the elements it writes.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice<T: Element>(&self) -> &mut [T] {
        assert_eq!(T::DTYPE, self.dtype, "storage dtype mismatch");
        assert_eq!(self.device, Device::Cpu, "host access to a device storage");
        if self.len == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.ptr as *mut T, self.len)
    }

    /// Bumped by every in-place write; autograd uses it to detect tensors modified after being saved.
    /// Raw bytes of the whole buffer (for serialisation).
    pub fn as_bytes(&self) -> &[u8] {
        assert_eq!(self.device, Device::Cpu, "host access to a device storage");
        if self.len == 0 {
            return &[];
        }
        // SAFETY: same buffer as `as_slice`, viewed as bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len * self.dtype.size()) }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Storage({} x {}, {:?})",
            self.len, self.dtype, self.device
        )
    }
}
