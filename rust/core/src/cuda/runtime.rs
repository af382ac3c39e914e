//! The driver side of the backend (always compiled; libcuda is found at run time): the probe,
//! one primary context and stream per device, the per-device caching allocator, compiled
//! modules cached per device, and checked kernel launches. libcuda is loaded at run time, so
//! a machine without a driver gets `is_available() == false` and `Error::Device`, never a
//! panic: every driver call goes through `guarded`.

use super::allocator::{CachingAllocator, DevicePool, RawMemory};
use super::backend::{Backend, DeviceEvent, Gemm, KernelArgs};
use super::kernels::{Family, KernelRef};
use super::launch::LaunchDims;
use super::{nvrtc, ptx};
use crate::DType;
use crate::{Error, Result};
use cudarc::cublas;
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
    /// The cuBLAS handle bound to `stream`, created at the first GEMM.
    cublas: Mutex<Option<CublasHandle>>,
}

/// A cuBLAS handle (a raw pointer, used under the `cublas` lock only).
struct CublasHandle(cublas::sys::cublasHandle_t);
// SAFETY: the handle is only used while holding `DeviceState::cublas`'s lock.
unsafe impl Send for CublasHandle {}

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
        cublas: Mutex::new(None),
    });
    map.insert(device, state.clone());
    Ok(state)
}

/// Devices whose state exists (memory statistics never create a context).
pub fn existing(device: usize) -> Option<Arc<DeviceState>> {
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
        args: KernelArgs<'_>,
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

/// The directory of the `nvidia-cublas-cu12` wheel's libraries, if installed.
static CUBLAS_DIR: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

pub fn set_cublas_dir(dir: std::path::PathBuf) {
    *CUBLAS_DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir);
}

/// Loads libcublasLt/libcublas from the registered wheel directory (once), so that cudarc's
/// later `dlopen("libcublas.so.12")` finds them by soname without LD_LIBRARY_PATH.
fn preload_cublas() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = CUBLAS_DIR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(dir) = dir {
            for name in ["libcublasLt.so.12", "libcublas.so.12"] {
                // SAFETY: NVIDIA's libraries, whose initialisers are safe to run; kept loaded
                // for the life of the process (cudarc holds its own handle too).
                if let Ok(lib) = unsafe { libloading::Library::new(dir.join(name)) } {
                    std::mem::forget(lib);
                }
            }
        }
    });
}

/// Runs a cuBLAS call; errors and panics (libcublas missing) become `Error::Device`.
fn guarded_blas<T>(
    what: &str,
    f: impl FnOnce() -> std::result::Result<T, cublas::result::CublasError>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Device(format!("{what}: {e:?}"))),
        Err(_) => Err(Error::Device(format!(
            "{what}: libcublas could not be loaded (install nvidia-cublas-cu12)"
        ))),
    }
}

/// cuBLAS's view of one operand: row-major `(i, j) at i*ld + j` is column-major with the
/// same `ld` transposed, so a row-major product `C = A B` is the column-major `C^T = B^T A^T`.
/// A driver event recorded on a device's stream.
struct Event(cudarc::driver::CudaEvent);

impl DeviceEvent for Event {
    fn query(&self) -> Result<bool> {
        guarded("cuEventQuery", || self.0.try_is_complete())
    }
    fn synchronize(&self) -> Result<()> {
        guarded("cuEventSynchronize", || self.0.synchronize())
    }
    fn elapsed_ms(&self, end: &dyn DeviceEvent) -> Result<f32> {
        let Some(end) = end.as_any().downcast_ref::<Event>() else {
            return Err(Error::Device(
                "elapsed_time: the events are of different devices".into(),
            ));
        };
        guarded("cuEventElapsedTime", || self.0.elapsed_ms(&end.0))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn blas_op(trans: bool) -> cublas::sys::cublasOperation_t {
    if trans {
        cublas::sys::cublasOperation_t::CUBLAS_OP_T
    } else {
        cublas::sys::cublasOperation_t::CUBLAS_OP_N
    }
}

impl Backend for DeviceState {
    fn pool(&self) -> &dyn DevicePool {
        &self.allocator
    }
    /// Waits for queued kernels first: the cached blocks they use go back to the driver.
    fn empty_cache(&self) {
        let _ = DeviceState::synchronize(self);
        self.allocator.empty_cache()
    }
    fn copy_htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        let st = self;
        guarded("cuMemcpyHtoD", || {
            st.context.bind_to_thread()?;
            // SAFETY: `dst` holds at least src.len() bytes; the wait completes the copy.
            unsafe { drv::memcpy_htod_async(dst, src, st.stream.cu_stream()) }?;
            st.stream.synchronize()
        })
    }
    fn copy_dtoh(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        let st = self;
        guarded("cuMemcpyDtoH", || {
            st.context.bind_to_thread()?;
            // SAFETY: as above; the stream sync completes the copy before `dst` is read.
            unsafe { drv::memcpy_dtoh_async(dst, src, st.stream.cu_stream()) }?;
            st.stream.synchronize()
        })
    }
    fn copy_dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        let st = self;
        guarded("cuMemcpyDtoD", || {
            st.context.bind_to_thread()?;
            // SAFETY: both ranges are live device memory of `bytes` bytes (stream-ordered).
            unsafe { drv::memcpy_dtod_async(dst, src, bytes, st.stream.cu_stream()) }
        })
    }
    fn load_kernel(&self, k: &KernelRef) -> Result<()> {
        self.function(k).map(|_| ())
    }
    unsafe fn launch(&self, k: &KernelRef, dims: LaunchDims, args: KernelArgs<'_>) -> Result<()> {
        DeviceState::launch(self, k, dims, args)
    }
    unsafe fn gemm(&self, g: &Gemm) -> Result<()> {
        use cublas::sys::{cublasComputeType_t as C, cudaDataType as D};
        if g.m == 0 || g.n == 0 || g.batch == 0 {
            return Ok(());
        }
        let (dt, compute) = match g.dtype {
            DType::F32 => (D::CUDA_R_32F, C::CUBLAS_COMPUTE_32F),
            DType::F64 => (D::CUDA_R_64F, C::CUBLAS_COMPUTE_64F),
            DType::F16 => (D::CUDA_R_16F, C::CUBLAS_COMPUTE_32F),
            DType::BF16 => (D::CUDA_R_16BF, C::CUBLAS_COMPUTE_32F),
            other => {
                return Err(Error::DType(format!(
                    "matmul on CUDA supports floating-point tensors, got {other}"
                )))
            }
        };
        let beta = if g.accumulate { 1.0 } else { 0.0 };
        let (a64, b64) = (1.0f64, beta);
        let (a32, b32) = (1.0f32, beta as f32);
        let (alpha, beta): (*const c_void, *const c_void) = if g.dtype == DType::F64 {
            (&a64 as *const f64 as _, &b64 as *const f64 as _)
        } else {
            (&a32 as *const f32 as _, &b32 as *const f32 as _)
        };
        let mut slot = self.cublas.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            preload_cublas();
            let stream = self.stream.cu_stream();
            let ctx = &self.context;
            guarded("binding the context", || ctx.bind_to_thread())?;
            let h = guarded_blas("cublasCreate", || {
                let h = cublas::result::create_handle()?;
                // SAFETY: a fresh handle and this device's live stream.
                unsafe { cublas::result::set_stream(h, stream as _) }?;
                Ok(h)
            })?;
            *slot = Some(CublasHandle(h));
        }
        let h = slot.as_ref().expect("created above").0;
        let k = g.k.max(1);
        let ctx = &self.context;
        guarded("binding the context", || ctx.bind_to_thread())?;
        guarded_blas("cublasGemmStridedBatchedEx", || {
            cublas::result::gemm_strided_batched_ex(
                h,
                blas_op(g.b.trans),
                blas_op(g.a.trans),
                g.n as i32,
                g.m as i32,
                g.k as i32,
                alpha,
                g.b.ptr as *const c_void,
                dt,
                g.b.ld.max(if g.b.trans { k } else { g.n }).max(1) as i32,
                g.b.batch_stride as i64,
                g.a.ptr as *const c_void,
                dt,
                g.a.ld.max(if g.a.trans { g.m } else { k }).max(1) as i32,
                g.a.batch_stride as i64,
                beta,
                g.c as *mut c_void,
                dt,
                g.ldc.max(g.n) as i32,
                g.c_batch_stride as i64,
                g.batch as i32,
                compute,
                cublas::sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        })
    }
    fn synchronize(&self) -> Result<()> {
        DeviceState::synchronize(self)
    }
    fn stream_handle(&self) -> usize {
        self.stream.cu_stream() as usize
    }
    fn alloc_pinned(&self, bytes: usize) -> Result<*mut u8> {
        let ctx = &self.context;
        guarded("cuMemHostAlloc", || {
            ctx.bind_to_thread()?;
            // SAFETY: a plain allocation of `bytes` (> 0) bytes, freed by `free_pinned`.
            unsafe { drv::malloc_host(bytes, 0) }
        })
        .map(|p| p as *mut u8)
    }
    unsafe fn free_pinned(&self, ptr: *mut u8, _bytes: usize) {
        let ctx = &self.context;
        let _ = guarded("cuMemFreeHost", || {
            ctx.bind_to_thread()?;
            // SAFETY: `ptr` came from `alloc_pinned` and is freed once.
            unsafe { drv::free_host(ptr as *mut c_void) }
        });
    }
    fn record_event(&self) -> Result<Arc<dyn DeviceEvent>> {
        let stream = &self.stream;
        let event = guarded("cuEventCreate / cuEventRecord", || {
            stream.record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
        })?;
        Ok(Arc::new(Event(event)))
    }
    fn memory_info(&self) -> Result<(usize, usize)> {
        let ctx = &self.context;
        guarded("cuMemGetInfo", || ctx.mem_get_info())
    }
}
