//! `democratising.cuda`'s engine calls: device queries, memory statistics, NVRTC search
//! paths and the kernel table (for the tests). Without a GPU they answer "none" or raise
//! `DeviceError`; nothing here loads CUDA at import time.

use crate::errors::ResultExt;
use democratising::cuda;
use democratising::cuda::backend::DeviceEvent;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

#[pyfunction]
fn _cuda_is_available(py: Python<'_>) -> bool {
    py.detach(cuda::is_available)
}

#[pyfunction]
fn _cuda_device_count(py: Python<'_>) -> usize {
    py.detach(cuda::device_count)
}

/// Why CUDA cannot be used, or None when it can.
#[pyfunction]
fn _cuda_unavailable_reason(py: Python<'_>) -> Option<String> {
    py.detach(cuda::unavailable_reason)
}

#[pyfunction]
fn _cuda_get_memory_info(py: Python<'_>, device: usize) -> PyResult<(usize, usize)> {
    py.detach(|| cuda::get_memory_info(device)).py()
}

/// The caching allocator's byte counters of one device, each the engine's function of the
/// same name (0 on a device never used).
macro_rules! memory_counters {
    ($($py:ident => $engine:ident),* $(,)?) => {$(
        #[pyfunction]
        fn $py(device: usize) -> usize {
            cuda::$engine(device)
        }
    )*};
}

memory_counters!(
    _cuda_memory_allocated => memory_allocated,
    _cuda_memory_reserved => memory_reserved,
    _cuda_max_memory_allocated => max_memory_allocated,
    _cuda_max_memory_reserved => max_memory_reserved,
);

#[pyfunction]
fn _cuda_reset_peak_memory_stats(device: usize) {
    cuda::reset_peak_memory_stats(device)
}

#[pyfunction]
fn _cuda_empty_cache(py: Python<'_>) {
    py.detach(cuda::empty_cache)
}

#[pyfunction]
fn _cuda_synchronize(py: Python<'_>, device: usize) -> PyResult<()> {
    py.detach(|| cuda::synchronize(device)).py()
}

/// The raw `CUstream` handle the engine queues `device`'s work on.
#[pyfunction]
fn _cuda_stream_handle(device: usize) -> PyResult<usize> {
    cuda::stream_handle(device).py()
}

/// A recorded device event (`democratising.cuda.Event` holds one).
#[pyclass(name = "_CudaEvent", module = "democratising._core", frozen)]
pub struct PyCudaEvent {
    ev: Arc<dyn DeviceEvent>,
}

#[pymethods]
impl PyCudaEvent {
    /// Whether the work before the event has completed.
    fn query(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| self.ev.query()).py()
    }
    /// Waits for the work before the event.
    fn synchronize(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.ev.synchronize()).py()
    }
    /// Milliseconds from this event to `end`.
    fn elapsed_ms(&self, py: Python<'_>, end: PyRef<'_, PyCudaEvent>) -> PyResult<f32> {
        let end = end.ev.clone();
        py.detach(|| self.ev.elapsed_ms(end.as_ref())).py()
    }
}

/// An event marking the work queued on `device` so far.
#[pyfunction]
fn _cuda_record_event(device: usize) -> PyResult<PyCudaEvent> {
    Ok(PyCudaEvent {
        ev: cuda::record_event(device).py()?,
    })
}

/// Where libnvrtc (a file), the CUDA headers (a directory) and libcublas (a directory) may
/// be: the pip wheels.
#[pyfunction]
#[pyo3(signature = (library=None, include_dir=None, cublas_dir=None))]
fn _cuda_add_search_paths(
    library: Option<PathBuf>,
    include_dir: Option<PathBuf>,
    cublas_dir: Option<PathBuf>,
) {
    cuda::add_search_paths(library, include_dir);
    if let Some(d) = cublas_dir {
        cuda::runtime::set_cublas_dir(d);
    }
}

/// (family, kernel name, parameter count) of every CUDA kernel.
#[pyfunction]
fn _cuda_kernel_table() -> Vec<(&'static str, String, usize)> {
    cuda::kernels::all_kernels()
}

/// Compiles, loads and looks up every kernel on `device`; returns how many.
#[pyfunction]
fn _cuda_load_all_kernels(py: Python<'_>, device: usize) -> PyResult<usize> {
    py.detach(|| cuda::load_all_kernels(device)).py()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add_functions {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add_functions!(
        _cuda_is_available,
        _cuda_device_count,
        _cuda_unavailable_reason,
        _cuda_get_memory_info,
        _cuda_memory_allocated,
        _cuda_memory_reserved,
        _cuda_max_memory_allocated,
        _cuda_max_memory_reserved,
        _cuda_reset_peak_memory_stats,
        _cuda_empty_cache,
        _cuda_synchronize,
        _cuda_stream_handle,
        _cuda_record_event,
        _cuda_add_search_paths,
        _cuda_kernel_table,
        _cuda_load_all_kernels,
    );
    m.add_class::<PyCudaEvent>()?;
    Ok(())
}
