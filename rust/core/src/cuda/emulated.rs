//! The emulated device: the kernels of `kernels/` compiled for the CPU against the shim of
//! `emulation/` (one shared library, built by the Python test harness), "device memory" in
//! host RAM behind the same caching allocator, and GEMM on the CPU. It is a test backend:
//! chosen with `DEMOCRATISING_CUDA_EMULATOR=/path/libdmemu.so` (devices:
//! `DEMOCRATISING_CUDA_EMULATOR_DEVICES`, default 2), it lets the whole device path run
//! with no GPU. Launches are serialised: the emulator's scheduler is global.

use super::allocator::{CachingAllocator, DevicePool, RawMemory};
use super::backend::{Backend, DeviceEvent, Gemm, KernelArgs};
use super::kernels::KernelRef;
use super::launch::LaunchDims;
use crate::{DType, Error, Result};
use half::{bf16, f16};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::{Arc, Mutex, OnceLock};

const ALIGN: usize = 256;

/// An event of the emulated device: launches run synchronously, so the work before it is
/// done when it is recorded, and its timestamp is the host's clock.
struct Event(std::time::Instant);

impl DeviceEvent for Event {
    fn query(&self) -> Result<bool> {
        Ok(true)
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    fn elapsed_ms(&self, end: &dyn DeviceEvent) -> Result<f32> {
        match end.as_any().downcast_ref::<Event>() {
            Some(end) => Ok(end.0.saturating_duration_since(self.0).as_secs_f32() * 1e3),
            None => Err(Error::Device(
                "elapsed_time: the events are of different devices".into(),
            )),
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
/// The memory an emulated device reports as its total.
const TOTAL: usize = 4 << 30;

type Launch = unsafe extern "C" fn(
    c_int,
    *const c_uint,
    *const c_uint,
    *mut *mut c_void,
    *mut c_char,
    c_int,
) -> c_int;

/// The loaded library: its launch entry point and kernel indices by name.
struct Library {
    _lib: libloading::Library,
    launch: Launch,
    index: HashMap<String, (c_int, usize)>,
    lock: Mutex<()>,
}

fn library(path: &str) -> Result<&'static Library> {
    static LIB: OnceLock<std::result::Result<Library, String>> = OnceLock::new();
    LIB.get_or_init(|| load(path))
        .as_ref()
        .map_err(|e| Error::Device(format!("the CUDA emulator {path:?} could not be used: {e}")))
}

/// The function `name` (NUL-terminated) of the emulator library.
///
/// # Safety
/// `F` must be the symbol's real signature.
unsafe fn symbol<F: Copy>(
    lib: &libloading::Library,
    name: &[u8],
) -> std::result::Result<F, String> {
    lib.get::<F>(name).map(|s| *s).map_err(|e| e.to_string())
}

fn load(path: &str) -> std::result::Result<Library, String> {
    type Count = unsafe extern "C" fn() -> c_int;
    type Name = unsafe extern "C" fn(c_int) -> *const c_char;
    type Sig = unsafe extern "C" fn(c_int, *mut c_char, c_int) -> c_int;
    // SAFETY: the library is the emulator built from our sources; the symbols have these
    // signatures (emulator.cpp's extern "C" API).
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| e.to_string())?;
        let count: Count = symbol(&lib, b"dm_emu_count\0")?;
        let name: Name = symbol(&lib, b"dm_emu_name\0")?;
        let sig: Sig = symbol(&lib, b"dm_emu_signature\0")?;
        let launch: Launch = symbol(&lib, b"dm_emu_launch\0")?;
        let mut index = HashMap::new();
        let mut buf = [0 as c_char; 512];
        for i in 0..count() {
            let n = CStr::from_ptr(name(i)).to_string_lossy().into_owned();
            let params = sig(i, buf.as_mut_ptr(), buf.len() as c_int) as usize;
            index.insert(n, (i, params));
        }
        Ok(Library {
            _lib: lib,
            launch,
            index,
            lock: Mutex::new(()),
        })
    }
}

/// Host memory standing in for device memory.
#[derive(Default)]
struct HostMemory {
    sizes: HashMap<u64, usize>,
}

impl RawMemory for HostMemory {
    fn alloc(&mut self, bytes: usize) -> std::result::Result<u64, (bool, String)> {
        let reserved: usize = self.sizes.values().sum();
        if reserved + bytes > TOTAL {
            return Err((true, "emulated device memory exhausted".into()));
        }
        let layout = std::alloc::Layout::from_size_align(bytes.max(1), ALIGN)
            .map_err(|e| (false, e.to_string()))?;
        // SAFETY: a non-zero-sized layout.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            return Err((true, "host allocation failed".into()));
        }
        self.sizes.insert(p as u64, bytes.max(1));
        Ok(p as u64)
    }

    fn free(&mut self, ptr: u64) {
        if let Some(bytes) = self.sizes.remove(&ptr) {
            let layout = std::alloc::Layout::from_size_align(bytes, ALIGN).expect("valid");
            // SAFETY: allocated above with this layout.
            unsafe { std::alloc::dealloc(ptr as *mut u8, layout) };
        }
    }
}

pub struct EmulatedDevice {
    lib: &'static Library,
    allocator: CachingAllocator<HostMemory>,
}

fn devices() -> &'static Mutex<HashMap<usize, Arc<EmulatedDevice>>> {
    static D: OnceLock<Mutex<HashMap<usize, Arc<EmulatedDevice>>>> = OnceLock::new();
    D.get_or_init(Default::default)
}

/// How many emulated devices there are.
pub fn device_count() -> usize {
    std::env::var("DEMOCRATISING_CUDA_EMULATOR_DEVICES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

pub fn device(path: &str, ordinal: usize) -> Result<Arc<EmulatedDevice>> {
    let n = device_count();
    if ordinal >= n {
        return Err(Error::Device(format!(
            "cuda:{ordinal} does not exist: this machine has {n} CUDA device(s) (emulated)"
        )));
    }
    let lib = library(path)?;
    let mut map = devices().lock().unwrap_or_else(|e| e.into_inner());
    Ok(map
        .entry(ordinal)
        .or_insert_with(|| {
            Arc::new(EmulatedDevice {
                lib,
                allocator: CachingAllocator::new(ordinal, HostMemory::default()),
            })
        })
        .clone())
}

pub fn existing(ordinal: usize) -> Option<Arc<EmulatedDevice>> {
    devices()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ordinal)
        .cloned()
}

/// `c (+)= a @ b` on host memory through the CPU GEMM, for one dtype `T` the gemm crate has.
///
/// # Safety
/// As `Backend::gemm`.
unsafe fn gemm_host<T: crate::Element>(g: &Gemm) {
    let strides = |o: &super::backend::GemmOperand| -> (isize, isize) {
        if o.trans {
            (1, o.ld as isize)
        } else {
            (o.ld as isize, 1)
        }
    };
    let (ars, acs) = strides(&g.a);
    let (brs, bcs) = strides(&g.b);
    for i in 0..g.batch {
        let a = (g.a.ptr as *const T).add(i * g.a.batch_stride);
        let b = (g.b.ptr as *const T).add(i * g.b.batch_stride);
        let c = (g.c as *mut T).add(i * g.c_batch_stride);
        if g.k == 0 {
            if !g.accumulate {
                for r in 0..g.m {
                    for j in 0..g.n {
                        *c.add(r * g.ldc + j) = T::zero();
                    }
                }
            }
            continue;
        }
        gemm::gemm(
            g.m,
            g.n,
            g.k,
            c,
            1,
            g.ldc as isize,
            g.accumulate,
            a,
            acs,
            ars,
            b,
            bcs,
            brs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// bfloat16 GEMM through float32 copies (the gemm crate has no bf16 kernel).
///
/// # Safety
/// As `Backend::gemm`.
unsafe fn gemm_bf16(g: &Gemm) {
    let widen = |o: &super::backend::GemmOperand, rows: usize, cols: usize| -> Vec<f32> {
        let mut v = Vec::with_capacity(g.batch * rows * cols);
        for b in 0..g.batch {
            let p = (o.ptr as *const bf16).add(b * o.batch_stride);
            for i in 0..rows {
                for j in 0..cols {
                    let off = if o.trans { j * o.ld + i } else { i * o.ld + j };
                    v.push((*p.add(off)).to_f32());
                }
            }
        }
        v
    };
    let a = widen(&g.a, g.m, g.k);
    let b = widen(&g.b, g.k, g.n);
    for bi in 0..g.batch {
        let pc = (g.c as *mut bf16).add(bi * g.c_batch_stride);
        for i in 0..g.m {
            for j in 0..g.n {
                let mut s = if g.accumulate {
                    (*pc.add(i * g.ldc + j)).to_f32()
                } else {
                    0.0
                };
                for p in 0..g.k {
                    s += a[(bi * g.m + i) * g.k + p] * b[(bi * g.k + p) * g.n + j];
                }
                *pc.add(i * g.ldc + j) = bf16::from_f32(s);
            }
        }
    }
}

impl Backend for EmulatedDevice {
    fn pool(&self) -> &dyn DevicePool {
        &self.allocator
    }
    fn copy_htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        // SAFETY: `dst` is an emulated device address (host memory) of at least src.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }
    fn copy_dtoh(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        // SAFETY: as above.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }
    fn copy_dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        // SAFETY: as above; `copy` allows overlap like cuMemcpyDtoD's caller must avoid anyway.
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }
    fn load_kernel(&self, k: &KernelRef) -> Result<()> {
        match self.lib.index.get(&k.name) {
            Some(&(_, p)) if p == k.params => Ok(()),
            Some(&(_, p)) => Err(Error::Device(format!(
                "kernel {} takes {p} parameters in the emulator, {} in the table",
                k.name, k.params
            ))),
            None => Err(Error::Device(format!(
                "kernel {} is not in the emulator library",
                k.name
            ))),
        }
    }
    unsafe fn launch(&self, k: &KernelRef, dims: LaunchDims, args: KernelArgs<'_>) -> Result<()> {
        let &(index, params) = self.lib.index.get(&k.name).ok_or_else(|| {
            Error::Device(format!("kernel {} is not in the emulator library", k.name))
        })?;
        if args.len() != k.params || params != k.params {
            return Err(Error::Value(format!(
                "kernel {} takes {} arguments, {} given",
                k.name,
                params,
                args.len()
            )));
        }
        let grid = [dims.grid.0, dims.grid.1, dims.grid.2];
        let block = [dims.block.0, dims.block.1, dims.block.2];
        let mut err = [0 as c_char; 512];
        let _guard = self.lib.lock.lock().unwrap_or_else(|e| e.into_inner());
        let rc = (self.lib.launch)(
            index,
            grid.as_ptr(),
            block.as_ptr(),
            args.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len() as c_int,
        );
        if rc != 0 {
            let msg = CStr::from_ptr(err.as_ptr()).to_string_lossy().into_owned();
            return Err(Error::Device(format!("launching {}: {msg}", k.name)));
        }
        Ok(())
    }
    unsafe fn gemm(&self, g: &Gemm) -> Result<()> {
        if g.m == 0 || g.n == 0 || g.batch == 0 {
            return Ok(());
        }
        match g.dtype {
            DType::F32 => gemm_host::<f32>(g),
            DType::F64 => gemm_host::<f64>(g),
            DType::F16 => gemm_host::<f16>(g),
            DType::BF16 => gemm_bf16(g),
            dt => {
                return Err(Error::DType(format!(
                    "matmul on CUDA supports floating-point tensors, got {dt}"
                )))
            }
        }
        Ok(())
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    fn stream_handle(&self) -> usize {
        0 // launches run synchronously: every stream is the default one
    }
    fn alloc_pinned(&self, bytes: usize) -> Result<*mut u8> {
        let layout = std::alloc::Layout::from_size_align(bytes.max(1), ALIGN)
            .map_err(|e| Error::Value(e.to_string()))?;
        // SAFETY: a non-zero-sized layout.
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            return Err(Error::OutOfMemory("pinned host allocation failed".into()));
        }
        Ok(p)
    }
    unsafe fn free_pinned(&self, ptr: *mut u8, bytes: usize) {
        if let Ok(layout) = std::alloc::Layout::from_size_align(bytes.max(1), ALIGN) {
            // SAFETY: allocated by `alloc_pinned` with this layout.
            unsafe { std::alloc::dealloc(ptr, layout) };
        }
    }
    fn record_event(&self) -> Result<Arc<dyn DeviceEvent>> {
        Ok(Arc::new(Event(std::time::Instant::now())))
    }
    fn memory_info(&self) -> Result<(usize, usize)> {
        Ok((TOTAL - self.allocator.memory_reserved(), TOTAL))
    }
}
