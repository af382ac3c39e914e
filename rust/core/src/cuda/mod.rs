//! The CUDA backend, built on cudarc with the driver and NVRTC loaded at run time: the crate
//! builds with no CUDA toolkit and runs with no driver (`is_available()` is then false and
//! device calls return `Error::Device`). Kernels are the `.cu` files of `kernels/`, listed in
//! `kernels::FAMILIES`, compiled by NVRTC for the device's `sm_XX` at first use and cached
//! per device (and on disk). `emulation/` lets the same sources run on the CPU in tests.
//!
//! Wiring tensor ops to the GPU (device storages, dispatch in `ops`) builds on
//! `runtime::DeviceBuffer` (allocator-backed memory), `kernels::lookup` (the kernel of an op
//! and dtype), `launch` (argument structs and grid sizes) and `DeviceState::launch`.

pub mod allocator;
pub mod backend;
pub mod codes;
pub mod emulated;
pub mod kernels;
pub mod launch;
pub mod nvrtc;
pub mod ops;
pub mod primitives;
pub mod ptx;
pub mod runtime;

pub use primitives::Cuda;

pub(crate) mod nvrtc_tests;

use crate::{Error, Result};

/// Why CUDA cannot be used here, or None when a device is available.
pub fn unavailable_reason() -> Option<String> {
    if let Some(path) = backend::emulator_path() {
        return emulated::device(path, 0).err().map(|e| e.to_string());
    }
    runtime::unavailable_reason()
}

/// Adds places to look for libnvrtc (a file) and the CUDA headers (a directory holding
/// cuda_fp16.h), e.g. the pip wheels' (the Python package registers them).
pub fn add_search_paths(
    library: Option<std::path::PathBuf>,
    include_dir: Option<std::path::PathBuf>,
) {
    nvrtc::add_search_paths(library, include_dir);
}

/// Whether at least one CUDA device can be used. Never panics, never fails.
pub fn is_available() -> bool {
    device_count() > 0
}

/// The number of CUDA devices (0 without a driver).
pub fn device_count() -> usize {
    if backend::emulator_path().is_some() {
        return if unavailable_reason().is_none() {
            emulated::device_count()
        } else {
            0
        };
    }
    runtime::device_count()
}

fn not_available() -> Error {
    Error::Device(format!(
        "CUDA is not available: {}",
        unavailable_reason().unwrap_or_default()
    ))
}

/// (free, total) bytes of device memory, as the driver reports them.
pub fn get_memory_info(device: usize) -> Result<(usize, usize)> {
    backend::backend(device)?.memory_info()
}

/// Bytes held by tensors on `device` (0 when it was never used).
pub fn memory_allocated(device: usize) -> usize {
    backend::existing(device).map_or(0, |d| d.memory_allocated())
}

/// Bytes obtained from the driver on `device`: allocated plus cached.
pub fn memory_reserved(device: usize) -> usize {
    backend::existing(device).map_or(0, |d| d.memory_reserved())
}

/// The peak of `memory_allocated` on `device`.
pub fn max_memory_allocated(device: usize) -> usize {
    backend::existing(device).map_or(0, |d| d.max_memory_allocated())
}

/// The peak of `memory_reserved` on `device`.
pub fn max_memory_reserved(device: usize) -> usize {
    backend::existing(device).map_or(0, |d| d.pool().max_memory_reserved())
}

/// Starts the peaks of `device` again from the current values (a no-op on an unused device).
pub fn reset_peak_memory_stats(device: usize) {
    if let Some(d) = backend::existing(device) {
        d.pool().reset_peak_memory_stats();
    }
}

/// Returns every cached (unused) block to the driver. A no-op without CUDA.
pub fn empty_cache() {
    for d in backend::all_existing() {
        d.empty_cache();
    }
}

/// Waits for all queued work on `device`.
pub fn synchronize(device: usize) -> Result<()> {
    if !is_available() {
        return Err(not_available());
    }
    backend::backend(device)?.synchronize()
}

/// The raw `CUstream` handle the engine queues `device`'s work on (0 on the emulated device).
pub fn stream_handle(device: usize) -> Result<usize> {
    if !is_available() {
        return Err(not_available());
    }
    Ok(backend::backend(device)?.stream_handle())
}

/// A copy of CPU tensor `t` in page-locked host memory (PyTorch's `pin_memory`), from which
/// copies to a device are DMA transfers; `t` itself when it is already pinned.
pub fn pin_memory(t: &crate::Tensor) -> Result<crate::Tensor> {
    if t.device() != crate::Device::Cpu {
        return Err(crate::Error::Device(format!(
            "pin_memory: only CPU tensors can be pinned, this one is on {}",
            t.device()
        )));
    }
    if is_pinned(t) {
        return Ok(t.clone());
    }
    if !is_available() {
        return Err(not_available());
    }
    let c = t.contiguous()?;
    let (n, dt) = (c.numel(), c.dtype());
    let bytes = n * dt.size();
    let host = backend::PinnedHost::new(0, bytes)?;
    let src = &c.storage().as_bytes()[c.layout().offset * dt.size()..][..bytes];
    // SAFETY: `host` holds at least `bytes` bytes and is a fresh allocation.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), host.ptr(), bytes) };
    let ptr = host.ptr();
    // SAFETY: `ptr` addresses `n` elements of `dt` that live as long as `host`, its owner.
    let storage = unsafe {
        crate::storage::Storage::from_foreign_on(ptr, n, dt, crate::Device::Cpu, Box::new(host))
    };
    crate::Tensor::from_storage(
        std::sync::Arc::new(storage),
        crate::layout::Layout::contiguous(c.shape()),
    )
}

/// Whether `t`'s memory is page-locked (made by `pin_memory`).
pub fn is_pinned(t: &crate::Tensor) -> bool {
    t.storage().owner_is::<backend::PinnedHost>()
}

/// An event marking the work queued on `device` so far (`torch.cuda.Event.record`).
pub fn record_event(device: usize) -> Result<std::sync::Arc<dyn backend::DeviceEvent>> {
    if !is_available() {
        return Err(not_available());
    }
    backend::backend(device)?.record_event()
}

/// Compiles (or loads from the disk cache) every kernel family on `device`, checks each
/// against the kernel table and looks up every kernel: a smoke test for a GPU machine.
pub fn load_all_kernels(device: usize) -> Result<usize> {
    let state = backend::backend(device)?;
    let mut n = 0;
    for family in kernels::FAMILIES {
        for k in family.kernels {
            for name in k.names() {
                state.load_kernel(&kernels::KernelRef {
                    family,
                    name,
                    params: k.params,
                })?;
                n += 1;
            }
        }
    }
    Ok(n)
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn queries_never_panic_and_agree() {
        let n = device_count();
        assert_eq!(is_available(), n > 0);
        if n == 0 {
            assert!(unavailable_reason().is_some());
            assert!(matches!(get_memory_info(0), Err(Error::Device(_))));
            assert!(matches!(synchronize(0), Err(Error::Device(_))));
            assert_eq!((memory_allocated(0), memory_reserved(0)), (0, 0));
            empty_cache();
        }
    }

    crate::self_test::cases!(queries_never_panic_and_agree);
}
