//! The driver side of the backend (only with the `cuda` feature): the availability probe,
//! one primary context and stream per device, the per-device caching allocator, compiled
//! modules cached per device, and checked kernel launches. libcuda is loaded at run time, so
//! a machine without a driver gets `is_available() == false` and `Error::Device`, never a
//! panic: every driver call goes through `guarded`.

use super::allocator::{Block, CachingAllocator, RawMemory};
use super::kernels::{Family, KernelRef};
use super::launch::LaunchDims;
use super::{nvrtc, ptx};
use crate::{Error, Result};
use cudarc::driver::{result as drv, sys, CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

/// Runs a driver call; a driver error or a panic inside cudarc (a library or symbol that
/// could not be loaded) becomes `Error::Device` naming `what`.
fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> std::result::Result<T, drv::DriverError>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => {
            Err(Error::OutOfMemory(format!("{what}: CUDA out of memory")))
        }
        Ok(Err(e)) => Err(Error::Device(format!("{what}: {e:?}"))),
        Err(_) => Err(Error::Device(format!(
            "{what}: the CUDA driver library could not be used"
        ))),
    }
}

/// Device count, or why there is no usable device (probed once).
fn probe() -> &'static std::result::Result<usize, String> {
    static PROBE: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        // SAFETY: only tries to open the library by its usual names.
        if !unsafe { sys::is_culib_present() } {
            return Err("no NVIDIA driver: libcuda.so could not be loaded".into());
        }
        let n = guarded("cuInit / cuDeviceGetCount", || {
            drv::init()?;
            drv::device::get_count()
        })
        .map_err(|e| e.to_string())?;
        if n <= 0 {
            return Err("the NVIDIA driver reports no CUDA devices".into());
        }
        Ok(n as usize)
    })
}

pub fn device_count() -> usize {
    probe().as_ref().map(|&n| n).unwrap_or(0)
}

pub fn unavailable_reason() -> Option<String> {
    probe().as_ref().err().cloned()
}

fn check_device(device: usize) -> Result<()> {
    match probe() {
        Err(why) => Err(Error::Device(format!("CUDA is not available: {why}"))),
        Ok(n) if device >= *n => Err(Error::Device(format!(
            "cuda:{device} does not exist: this machine has {n} CUDA device(s)"
        ))),
        Ok(_) => Ok(()),
    }
}

/// Per-device state, created on first use.
pub struct DeviceState {
    pub ordinal: usize,
    pub context: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub arch: String,
    pub allocator: CachingAllocator<DriverMemory>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, CudaFunction>>,
}

fn devices() -> &'static Mutex<HashMap<usize, Arc<DeviceState>>> {
    static D: OnceLock<Mutex<HashMap<usize, Arc<DeviceState>>>> = OnceLock::new();
    D.get_or_init(Default::default)
}

/// The state of `device`, creating its context on first use.
pub fn device(device: usize) -> Result<Arc<DeviceState>> {
    check_device(device)?;
    let mut map = devices().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = map.get(&device) {
        return Ok(d.clone());
    }
    let context = guarded("creating the CUDA context", || CudaContext::new(device))?;
    let (major, minor) = guarded("reading the compute capability", || {
        context.compute_capability()
    })?;
    let stream = context.default_stream();
    let state = Arc::new(DeviceState {
        ordinal: device,
        allocator: CachingAllocator::new(device, DriverMemory(context.clone())),
        context,
        stream,
        arch: format!("sm_{major}{minor}"),
        modules: Default::default(),
        functions: Default::default(),
    });
    map.insert(device, state.clone());
    Ok(state)
}

/// Devices whose state exists (memory statistics never create a context).
fn existing(device: usize) -> Option<Arc<DeviceState>> {
    devices()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&device)
        .cloned()
}

/// cuMemAlloc / cuMemFree in a device's context.
pub struct DriverMemory(Arc<CudaContext>);

impl RawMemory for DriverMemory {
    fn alloc(&mut self, bytes: usize) -> std::result::Result<u64, (bool, String)> {
        let ctx = &self.0;
        let r = guarded("cuMemAlloc", || {
            ctx.bind_to_thread()?;
            // SAFETY: a plain allocation in the bound context.
            unsafe { drv::malloc_sync(bytes) }
        });
        r.map_err(|e| (matches!(e, Error::OutOfMemory(_)), e.to_string()))
    }

    fn free(&mut self, ptr: u64) {
        let ctx = &self.0;
        let _ = guarded("cuMemFree", || {
            ctx.bind_to_thread()?;
            // SAFETY: `ptr` came from `alloc` and is no longer referenced (cached blocks only).
            unsafe { drv::free_sync(ptr) }
        });
    }
}

/// Device memory owned by the caching allocator; dropping it returns the block to the cache.
pub struct DeviceBuffer {
    state: Arc<DeviceState>,
    block: Block,
    bytes: usize,
}

impl DeviceBuffer {
    pub fn new(device_index: usize, bytes: usize) -> Result<DeviceBuffer> {
        let state = device(device_index)?;
        let block = state.allocator.allocate(bytes)?;
        Ok(DeviceBuffer {
            state,
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
        self.state.ordinal
    }
    /// Copies host bytes in (stream-ordered, then waits).
    pub fn copy_from_host(&self, src: &[u8]) -> Result<()> {
        let n = src.len().min(self.bytes);
        let st = &self.state;
        guarded("cuMemcpyHtoD", || {
            st.context.bind_to_thread()?;
            // SAFETY: the block holds at least `n` bytes; the wait makes the copy complete.
            unsafe { drv::memcpy_htod_async(self.block.ptr, &src[..n], st.stream.cu_stream()) }?;
            st.stream.synchronize()
        })
    }
    /// Copies the buffer out (waits for the kernels queued before).
    pub fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
        let n = dst.len().min(self.bytes);
        let st = &self.state;
        guarded("cuMemcpyDtoH", || {
            st.context.bind_to_thread()?;
            // SAFETY: as above; the stream sync completes the copy before `dst` is read.
            unsafe {
                drv::memcpy_dtoh_async(&mut dst[..n], self.block.ptr, st.stream.cu_stream())
            }?;
            st.stream.synchronize()
        })
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        self.state.allocator.release(self.block);
    }
}

impl DeviceState {
    /// The module of `family`, compiled (or read from the disk cache) and checked against
    /// the kernel table on first use.
    pub fn module(&self, family: &'static Family) -> Result<Arc<CudaModule>> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(family.name) {
            return Ok(m.clone());
        }
        let compiled = nvrtc::compile_cached(family, &self.arch)?;
        ptx::check_family(family, &compiled.ptx).map_err(Error::Device)?;
        let ctx = &self.context;
        let module = guarded("loading a kernel module", || {
            ctx.load_module(cudarc::nvrtc::Ptx::from_binary(compiled.cubin.clone()))
        })?;
        modules.insert(family.name, module.clone());
        Ok(module)
    }

    pub fn function(&self, k: &KernelRef) -> Result<CudaFunction> {
        if let Some(f) = self
            .functions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&k.name)
        {
            return Ok(f.clone());
        }
        let module = self.module(k.family)?;
        let f = guarded(&format!("looking up kernel {}", k.name), || {
            module.load_function(&k.name)
        })?;
        self.functions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k.name.clone(), f.clone());
        Ok(f)
    }

    /// Queues kernel `k` on this device's stream. `args[i]` points at the value of parameter
    /// i (a `u64` device address, a scalar or a `repr(C)` struct from `launch`); their count
    /// must be the table's arity.
    ///
    /// # Safety
    /// Each argument must have the type the kernel declares, and every device address must
    /// stay valid until the kernel has run (stream order: until a later sync).
    pub unsafe fn launch(
        &self,
        k: &KernelRef,
        dims: LaunchDims,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        if args.len() != k.params {
            return Err(Error::Value(format!(
                "kernel {} takes {} arguments, {} given",
                k.name,
                k.params,
                args.len()
            )));
        }
        let f = self.function(k)?;
        let (ctx, stream) = (&self.context, &self.stream);
        guarded(&format!("launching {}", k.name), || {
            ctx.bind_to_thread()?;
            drv::launch_kernel(
                f.cu_function(),
                dims.grid,
                dims.block,
                0,
                stream.cu_stream(),
                args,
            )
        })
    }

    pub fn synchronize(&self) -> Result<()> {
        let stream = &self.stream;
        guarded("synchronizing the device", || stream.synchronize())
    }
}

/// (free, total) bytes of `device` from the driver.
pub fn memory_info(device_index: usize) -> Result<(usize, usize)> {
    let d = device(device_index)?;
    let ctx = &d.context;
    guarded("cuMemGetInfo", || ctx.mem_get_info())
}

pub fn synchronize(device_index: usize) -> Result<()> {
    device(device_index)?.synchronize()
}

pub fn memory_allocated(device_index: usize) -> usize {
    existing(device_index).map_or(0, |d| d.allocator.memory_allocated())
}

pub fn memory_reserved(device_index: usize) -> usize {
    existing(device_index).map_or(0, |d| d.allocator.memory_reserved())
}

pub fn max_memory_allocated(device_index: usize) -> usize {
    existing(device_index).map_or(0, |d| d.allocator.max_memory_allocated())
}

pub fn empty_cache() {
    let all: Vec<_> = devices()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    for d in all {
        let _ = d.synchronize();
        d.allocator.empty_cache();
    }
}
