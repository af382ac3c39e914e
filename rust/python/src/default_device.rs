//! The device factories build on when no `device=` is given: PyTorch's `set_default_device`,
//! `get_default_device` and `with torch.device("cuda"):`. One atomic read per factory call.

use crate::errors::ResultExt;
use crate::types::{extract_device, PyDevice};
use democratising::{DType, Device, Tensor};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// 0 for the CPU, `i + 1` for `cuda:i`.
static DEFAULT: AtomicUsize = AtomicUsize::new(0);

/// The defaults that `with device:` blocks replaced, innermost last.
static ENTERED: Mutex<Vec<Device>> = Mutex::new(Vec::new());

fn decode(code: usize) -> Device {
    match code {
        0 => Device::Cpu,
        i => Device::Cuda(i - 1),
    }
}

/// The device a factory call without `device=` builds on.
pub(crate) fn current() -> Device {
    decode(DEFAULT.load(Ordering::Relaxed))
}

/// Makes `d` the default and returns the one it replaces. A CUDA device is checked now (a
/// machine without one raises `DeviceError` here, not at the first factory call).
fn replace(d: Device) -> PyResult<Device> {
    if d.is_cuda() {
        Tensor::zeros(&[0], DType::F32).py()?.to_device(d).py()?;
    }
    let code = match d {
        Device::Cpu => 0,
        Device::Cuda(i) => i + 1,
    };
    Ok(decode(DEFAULT.swap(code, Ordering::Relaxed)))
}

/// PyTorch's `set_default_device`: where factories (`zeros`, `randn`, `tensor`, a layer's
/// parameters) build when not told; `None` is the CPU.
#[pyfunction]
pub fn set_default_device(device: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let d = match device {
        Some(d) if !d.is_none() => extract_device(d)?,
        _ => Device::Cpu,
    };
    replace(d).map(|_| ())
}

/// PyTorch's `get_default_device`.
#[pyfunction]
pub fn get_default_device() -> PyDevice {
    PyDevice(current())
}

/// `with device:` — the device is the default inside the block.
pub(crate) fn enter(d: Device) -> PyResult<()> {
    let before = replace(d)?;
    ENTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(before);
    Ok(())
}

/// The end of a `with device:` block: the default it replaced comes back.
pub(crate) fn exit() -> PyResult<()> {
    let before = ENTERED.lock().unwrap_or_else(|e| e.into_inner()).pop();
    replace(before.unwrap_or(Device::Cpu)).map(|_| ())
}
