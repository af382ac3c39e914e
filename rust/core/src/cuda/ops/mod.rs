//! The CUDA side of the tensor ops. Each CPU op checks its inputs' device first and, for CUDA
//! tensors, calls the function of the same name here, which allocates the output on the
//! device and launches the kernels of `kernels/` (or cuBLAS). Autograd is shared: the backward
//! closures call the same tensor ops, which dispatch again. Ops with no CUDA path return
//! `Error::Device` naming the op; nothing silently falls back to the CPU.

pub mod attention;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod nn;
pub mod optim;
pub mod reduce;
pub mod rnn;

use super::backend::{backend, DeviceBuffer};
use super::kernels::{lookup, lookup_cast, KernelRef};
use super::launch::{DmLayout, LaunchDims};
use crate::layout::{checked_numel, Layout};
use crate::{bail, with_dtype, DType, Device, Element, Error, Result, Storage, Tensor};
use std::ffi::c_void;
use std::sync::Arc;

/// The ordinal of a CUDA tensor (an engine bug to call for a CPU one).
pub(crate) fn ordinal(t: &Tensor) -> Result<usize> {
    match t.device() {
        Device::Cuda(i) => Ok(i),
        Device::Cpu => Err(Error::Device(
            "expected a CUDA tensor, got a CPU one".into(),
        )),
    }
}

/// A contiguous tensor on `cuda:device` whose elements are not initialised.
pub(crate) fn empty(device: usize, dtype: DType, shape: &[usize]) -> Result<Tensor> {
    let n = checked_numel(shape)?;
    let buf = DeviceBuffer::new(device, (n * dtype.size()).max(1))?;
    Ok(Tensor::from_parts(
        Arc::new(Storage::from_device(buf, n, dtype)),
        Layout::contiguous(shape),
        false,
    ))
}

/// A tensor of `shape` filled with `value` on `cuda:device`.
pub(crate) fn full(device: usize, dtype: DType, shape: &[usize], value: f64) -> Result<Tensor> {
    let t = empty(device, dtype, shape)?;
    fill(&t, value)?;
    Ok(t)
}

/// Kernel arguments: each value is copied into its own 8-byte-aligned slot, and the launch
/// receives a pointer to each slot (as cuLaunchKernel and the emulator expect).
#[derive(Default)]
pub(crate) struct Args(Vec<Vec<u64>>);

impl Args {
    pub fn new() -> Args {
        Args::default()
    }
    /// A scalar or `repr(C)` struct, passed by value.
    pub fn v<T: Copy>(mut self, v: T) -> Args {
        let mut slot = vec![0u64; std::mem::size_of::<T>().div_ceil(8).max(1)];
        // SAFETY: the slot holds at least size_of::<T>() bytes and is 8-byte aligned.
        unsafe { std::ptr::write(slot.as_mut_ptr() as *mut T, v) };
        self.0.push(slot);
        self
    }
    /// The storage base of `t` (for kernels that take a `DmLayout`, which holds the offset).
    pub fn base(self, t: &Tensor) -> Args {
        self.v(t.storage().device_ptr())
    }
    /// The address of `t`'s first element (for kernels over contiguous data).
    pub fn data(self, t: &Tensor) -> Args {
        let p = data_ptr(t);
        self.v(p)
    }
    /// An optional tensor's data address, or null.
    pub fn opt(self, t: Option<&Tensor>) -> Args {
        let p = t.map_or(0, data_ptr);
        self.v(p)
    }
}

pub(crate) fn data_ptr(t: &Tensor) -> u64 {
    t.storage().device_ptr() + (t.layout().offset * t.dtype().size()) as u64
}

/// Launches `k` on `cuda:device`.
pub(crate) fn run(device: usize, k: &KernelRef, dims: LaunchDims, mut args: Args) -> Result<()> {
    let be = backend(device)?;
    let mut ptrs: Vec<*mut c_void> = args
        .0
        .iter_mut()
        .map(|s| s.as_mut_ptr() as *mut c_void)
        .collect();
    // SAFETY: the callers build `args` with the kernel's parameter types (the table's arity
    // is checked by the launch), from tensors that stay alive until the stream is synchronised
    // or that the storage's Arc keeps alive (stream order makes reuse of freed blocks safe).
    unsafe { be.launch(k, dims, &mut ptrs) }
}

/// Launches the `<base>_<dtype>` kernel.
pub(crate) fn run_typed(
    device: usize,
    base: &str,
    dtype: DType,
    dims: LaunchDims,
    args: Args,
) -> Result<()> {
    run(device, &lookup(base, Some(dtype))?, dims, args)
}

/// Launches the `<base>_<dtype>` grid-stride kernel over `n` elements.
pub(crate) fn run_elementwise(
    device: usize,
    base: &str,
    dtype: DType,
    n: usize,
    args: Args,
) -> Result<()> {
    run_typed(device, base, dtype, LaunchDims::elementwise(n), args)
}

/// `t` in dtype `dt`: itself when it already has it, else a contiguous converted copy on its
/// own device.
pub(crate) fn with_dtype(t: &Tensor, dt: DType) -> Result<Tensor> {
    if t.dtype() == dt {
        Ok(t.clone())
    } else {
        crate::ops::copy::cast_raw(t, dt)
    }
}

/// The kernel layout of `t`'s view.
pub(crate) fn layout(t: &Tensor) -> Result<DmLayout> {
    DmLayout::from_layout(t.layout())
}

// ---- copies between host and device, casts, fills -------------------------------------------

/// `t` on `device`, without autograd (a new tensor; `t` itself when it is already there).
pub(crate) fn to_device(t: &Tensor, device: Device) -> Result<Tensor> {
    match (t.device(), device) {
        (a, b) if a == b => Ok(t.clone()),
        (Device::Cpu, Device::Cuda(i)) => {
            let out = empty(i, t.dtype(), t.shape())?;
            if t.numel() > 0 {
                let be = backend(i)?;
                with_dtype!(t.dtype(), T => {
                    let host = t.data::<T>()?;
                    be.copy_htod(data_ptr(&out), as_bytes::<T>(&host))?;
                });
            }
            Ok(out)
        }
        (Device::Cuda(i), Device::Cpu) => {
            let c = contiguous(t)?;
            let n = c.numel();
            with_dtype!(c.dtype(), T => {
                let mut v: Vec<T> = vec![T::zero(); n];
                if n > 0 {
                    // SAFETY: `v` holds n elements of T, viewed as bytes for the copy.
                    let bytes = unsafe {
                        std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), n * std::mem::size_of::<T>())
                    };
                    backend(i)?.copy_dtoh(data_ptr(&c), bytes)?;
                }
                Tensor::from_vec(v, c.shape())
            })
        }
        (Device::Cuda(_), Device::Cuda(_)) => to_device(&to_device(t, Device::Cpu)?, device),
        (Device::Cpu, Device::Cpu) => Ok(t.clone()),
    }
}

fn as_bytes<T: Element>(s: &[T]) -> &[u8] {
    // SAFETY: plain-old-data elements viewed as bytes.
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s)) }
}

/// `t` itself when it is contiguous, else a contiguous copy on the same device.
pub(crate) fn contiguous(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        Ok(t.clone())
    } else {
        cast(t, t.dtype())
    }
}

/// A contiguous copy of `t` converted to `to` (the `cast_<src>_<dst>` kernel).
pub(crate) fn cast(t: &Tensor, to: DType) -> Result<Tensor> {
    let dev = ordinal(t)?;
    let out = empty(dev, to, t.shape())?;
    let n = t.numel();
    if n == 0 {
        return Ok(out);
    }
    let args = Args::new()
        .v(n as i64)
        .v(layout(t)?)
        .v(DmLayout::contiguous(n, 0))
        .base(t)
        .base(&out);
    run(
        dev,
        &lookup_cast(t.dtype(), to)?,
        LaunchDims::elementwise(n),
        args,
    )?;
    Ok(out)
}

/// Writes `src` (already on `dst`'s device, broadcast to its shape) into `dst`'s view.
pub(crate) fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let dev = ordinal(dst)?;
    if src.device() != dst.device() {
        let moved = to_device(src, dst.device())?;
        return write_into(dst, &moved);
    }
    let n = dst.numel();
    if n == 0 {
        return Ok(());
    }
    let sl = src.layout().broadcast_to(dst.shape())?;
    // A source sharing dst's storage is materialised first, so overlapping views read old values.
    let src = if Arc::ptr_eq(src.storage(), dst.storage()) {
        cast(&src.with_layout(sl), src.dtype())?
    } else {
        src.with_layout(sl)
    };
    let args = Args::new()
        .v(n as i64)
        .v(layout(&src)?)
        .v(layout(dst)?)
        .base(&src)
        .base(dst);
    run(
        dev,
        &lookup_cast(src.dtype(), dst.dtype())?,
        LaunchDims::elementwise(n),
        args,
    )?;
    dst.bump_version();
    Ok(())
}

/// Sets every element of `dst`'s view to `value`.
pub(crate) fn fill(dst: &Tensor, value: f64) -> Result<()> {
    let dev = ordinal(dst)?;
    let n = dst.numel();
    if n == 0 {
        return Ok(());
    }
    let args = Args::new().v(n as i64).v(layout(dst)?).base(dst).v(value);
    run_elementwise(dev, "fill", dst.dtype(), n, args)?;
    dst.bump_version();
    Ok(())
}

/// Brings a CPU 0-d tensor (a Python number, a CPU scalar) to `like`'s CUDA device, as
/// PyTorch does for scalars; any other mix of devices is an error.
pub(crate) fn align_device(t: &Tensor, like: &Tensor) -> Result<Tensor> {
    if t.device() == like.device() {
        return Ok(t.clone());
    }
    if t.device() == Device::Cpu && t.ndim() == 0 {
        return to_device(t, like.device());
    }
    bail!(
        Device,
        "expected all tensors to be on the same device, but found {} and {}",
        like.device(),
        t.device()
    )
}
