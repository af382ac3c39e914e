//! One CUDA device as the tensor ops see it: memory, copies, kernel launches and GEMM.
//!
//! Two implementations sit behind [`Backend`]: the driver (`runtime`, a real GPU through cudarc
//! and cuBLAS) and the emulator (`emulated`, the same kernel sources compiled for the CPU with
//! the shim of `emulation/`). With `DEMOCRATISING_CUDA_EMULATOR=/path/libdmemu.so` the emulator
//! stands in for the driver, so `make test` runs every device code path (storages, dispatch,
//! launch arguments, GEMM operand setup) on a machine without a GPU.

use super::allocator::{Block, DevicePool};
use super::kernels::KernelRef;
use super::launch::LaunchDims;
use crate::{DType, Result};
use std::ffi::c_void;
use std::sync::{Arc, OnceLock};

/// A launch's arguments as `cuLaunchKernel` takes them: `args[i]` points at the value of
/// kernel parameter `i`.
pub type KernelArgs<'a> = &'a mut [*mut c_void];

/// One operand of a GEMM in row-major terms: element `(i, j)` of the (logical) matrix is at
/// `ptr + (i * ld + j)` elements, or at `ptr + (j * ld + i)` when `trans` is set, plus
/// `batch * batch_stride`. cuBLAS needs one unit stride per operand; the dispatcher copies
/// views that have none.
#[derive(Debug, Clone, Copy)]
pub struct GemmOperand {
    pub ptr: u64,
    pub trans: bool,
    pub ld: usize,
    pub batch_stride: usize,
}

/// `c[b] = a[b] @ b[b] (+ c[b] when accumulate)` for `b < batch`; `c` is row-major with
/// leading dimension `ldc`. Half types accumulate in float32.
#[derive(Debug, Clone, Copy)]
pub struct Gemm {
    pub dtype: DType,
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: GemmOperand,
    pub b: GemmOperand,
    pub c: u64,
    pub ldc: usize,
    pub c_batch_stride: usize,
    pub accumulate: bool,
}

/// What the tensor ops need from a device. Addresses are device addresses (`u64`); every
/// call is ordered on the device's one stream, and copies to the host wait for it.
pub trait Backend: Send + Sync {
    /// The device's caching allocator; memory and its statistics come from it.
    fn pool(&self) -> &dyn DevicePool;
    fn ordinal(&self) -> usize {
        self.pool().device()
    }
    /// Memory from the caching allocator (out of memory: `Error::OutOfMemory`).
    fn allocate(&self, bytes: usize) -> Result<Block> {
        self.pool().allocate(bytes)
    }
    fn release(&self, block: Block) {
        self.pool().release(block)
    }
    fn copy_htod(&self, dst: u64, src: &[u8]) -> Result<()>;
    fn copy_dtoh(&self, src: u64, dst: &mut [u8]) -> Result<()>;
    fn copy_dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()>;
    /// Compiles/loads kernel `k` and checks it against the table (a smoke test).
    fn load_kernel(&self, k: &KernelRef) -> Result<()>;
    /// Queues kernel `k`; `args[i]` points at the value of parameter i.
    ///
    /// # Safety
    /// Each argument must have the type the kernel declares and every address must stay
    /// valid until the kernel has run.
    unsafe fn launch(&self, k: &KernelRef, dims: LaunchDims, args: KernelArgs<'_>) -> Result<()>;
    /// # Safety
    /// Every operand must cover the elements the shapes, strides and batch reach.
    unsafe fn gemm(&self, g: &Gemm) -> Result<()>;
    fn synchronize(&self) -> Result<()>;
    /// The raw `CUstream` every kernel, copy and GEMM of this device is queued on (0, the
    /// legacy default stream, where there is no real one), for libraries that queue work in
    /// the same order (NCCL through CuPy).
    fn stream_handle(&self) -> usize;
    /// An event marking the work queued so far, with a timestamp (`torch.cuda.Event`).
    fn record_event(&self) -> Result<Arc<dyn DeviceEvent>>;
    /// `bytes` of page-locked host memory (faster, DMA-able copies to and from the device).
    fn alloc_pinned(&self, bytes: usize) -> Result<*mut u8>;
    /// Frees memory from `alloc_pinned`.
    ///
    /// # Safety
    /// `ptr` must come from this backend's `alloc_pinned(bytes)` and not be used afterwards.
    unsafe fn free_pinned(&self, ptr: *mut u8, bytes: usize);
    /// (free, total) bytes.
    fn memory_info(&self) -> Result<(usize, usize)>;
    fn memory_allocated(&self) -> usize {
        self.pool().memory_allocated()
    }
    fn memory_reserved(&self) -> usize {
        self.pool().memory_reserved()
    }
    fn max_memory_allocated(&self) -> usize {
        self.pool().max_memory_allocated()
    }
    fn empty_cache(&self) {
        self.pool().empty_cache()
    }
}

/// A point in a device's queue (`Backend::record_event`).
pub trait DeviceEvent: Send + Sync {
    /// Whether the work before the event has completed.
    fn query(&self) -> Result<bool>;
    /// Waits for the work before the event.
    fn synchronize(&self) -> Result<()>;
    /// Milliseconds from this event to `end` (an event of the same device), waiting for both.
    fn elapsed_ms(&self, end: &dyn DeviceEvent) -> Result<f32>;
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Page-locked host memory of a device's driver (`Tensor::pin_memory`); freed on drop.
pub struct PinnedHost {
    backend: Arc<dyn Backend>,
    ptr: *mut u8,
    bytes: usize,
}

// SAFETY: the allocation is plain host memory, reached only through the storage that owns it.
unsafe impl Send for PinnedHost {}
unsafe impl Sync for PinnedHost {}

impl PinnedHost {
    /// `bytes` of pinned memory through the driver of `device` (at least one byte).
    pub fn new(device: usize, bytes: usize) -> Result<PinnedHost> {
        let backend = backend(device)?;
        let ptr = backend.alloc_pinned(bytes.max(1))?;
        Ok(PinnedHost {
            backend,
            ptr,
            bytes: bytes.max(1),
        })
    }
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for PinnedHost {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these bytes; nothing uses it after its owner drops.
        unsafe { self.backend.free_pinned(self.ptr, self.bytes) };
    }
}

/// Device memory from a backend's caching allocator; dropping it returns the block.
pub struct DeviceBuffer {
    backend: Arc<dyn Backend>,
    block: Block,
    bytes: usize,
}

impl DeviceBuffer {
    pub fn new(device: usize, bytes: usize) -> Result<DeviceBuffer> {
        let backend = backend(device)?;
        let block = backend.allocate(bytes)?;
        Ok(DeviceBuffer {
            backend,
            block,
            bytes,
        })
    }
    /// The device address, for kernel arguments.
    pub fn ptr(&self) -> u64 {
        self.block.ptr
    }
    pub fn len_bytes(&self) -> usize {
        self.bytes
    }
    pub fn device(&self) -> usize {
        self.backend.ordinal()
    }
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    pub fn copy_from_host(&self, src: &[u8]) -> Result<()> {
        let n = src.len().min(self.bytes);
        self.backend.copy_htod(self.block.ptr, &src[..n])
    }
    pub fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
        let n = dst.len().min(self.bytes);
        self.backend.copy_dtoh(self.block.ptr, &mut dst[..n])
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        self.backend.release(self.block);
    }
}

/// The emulator library named by `DEMOCRATISING_CUDA_EMULATOR`, read once.
pub(crate) fn emulator_path() -> Option<&'static str> {
    static P: OnceLock<Option<String>> = OnceLock::new();
    P.get_or_init(|| {
        std::env::var("DEMOCRATISING_CUDA_EMULATOR")
            .ok()
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// The backend of `cuda:device`, created on first use.
pub fn backend(device: usize) -> Result<Arc<dyn Backend>> {
    if let Some(path) = emulator_path() {
        return super::emulated::device(path, device).map(|d| d as Arc<dyn Backend>);
    }
    super::runtime::device(device).map(|d| d as Arc<dyn Backend>)
}

/// Backends that already exist (memory statistics never create one).
pub fn existing(device: usize) -> Option<Arc<dyn Backend>> {
    if emulator_path().is_some() {
        return super::emulated::existing(device).map(|d| d as Arc<dyn Backend>);
    }
    super::runtime::existing(device).map(|d| d as Arc<dyn Backend>)
}

pub fn all_existing() -> Vec<Arc<dyn Backend>> {
    (0..super::device_count())
        .filter_map(existing)
        .collect::<Vec<_>>()
}
