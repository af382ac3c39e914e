//! `view(dtype)`: the same bytes read as another dtype (PyTorch's bit reinterpretation: a
//! float's bits as an integer, float16 data as bfloat16, shared-memory buffers re-typed). No
//! copy and, as in PyTorch, no autograd: the result is a new tensor over the same memory.

use crate::layout::Layout;
use crate::storage::Storage;
use crate::{bail, DType, Result, Tensor};
use std::sync::Arc;

impl Tensor {
    /// This tensor's memory read as `dtype`. Between dtypes of different sizes the last
    /// dimension must be contiguous; it grows (or shrinks) by the ratio of the sizes.
    pub fn view_dtype(&self, dtype: DType) -> Result<Tensor> {
        let from = self.dtype();
        if dtype == from {
            return Ok(self.alias("AliasBackward"));
        }
        if dtype == DType::Bool {
            // A Rust bool must be 0 or 1: other bytes read as bool would be undefined.
            bail!(
                DType,
                "view({from} as bool) is not supported: use .bool() or != 0"
            );
        }
        let layout = resized_layout(self.layout(), from, dtype)?;
        let st = self.storage();
        let bytes = st.len() * from.size();
        if bytes > 0 && !(st.as_ptr() as usize).is_multiple_of(dtype.size()) {
            bail!(
                DType,
                "cannot view {from} as {dtype}: the memory is not aligned to {} bytes",
                dtype.size()
            );
        }
        // SAFETY: the new storage covers the same bytes as `st` (no more: `bytes / size`
        // elements), at an address aligned for `dtype` (checked above; an empty storage is
        // never read), and holds `st` alive as its owner. Every bit pattern is a valid value of
        // the non-bool dtypes it can be.
        let storage = unsafe {
            Storage::from_foreign_on(
                st.as_ptr() as *mut u8,
                bytes / dtype.size(),
                dtype,
                st.device(),
                Box::new(Arc::clone(st)),
            )
        };
        Tensor::from_storage(Arc::new(storage), layout)
    }
}

/// `layout` counted in elements of `to` instead of `from`.
fn resized_layout(layout: &Layout, from: DType, to: DType) -> Result<Layout> {
    let (a, b) = (from.size(), to.size());
    if a == b {
        return Ok(layout.clone());
    }
    let Some(last) = layout.shape.len().checked_sub(1) else {
        bail!(
            Shape,
            "self.dim() cannot be 0 to view {from} as {to} (different element sizes)"
        );
    };
    if layout.strides[last] != 1 {
        bail!(
            Shape,
            "self.stride(-1) must be 1 to view {from} as {to} (different element sizes), but got {}",
            layout.strides[last]
        );
    }
    let mut out = layout.clone();
    if a > b {
        let r = a / b;
        out.shape[last] *= r;
        for s in &mut out.strides[..last] {
            *s *= r;
        }
        out.offset *= r;
    } else {
        let r = b / a;
        if !out.shape[last].is_multiple_of(r) {
            bail!(
                Shape,
                "self.size(-1) must be divisible by {r} to view {from} as {to} (different element sizes), but got {}",
                out.shape[last]
            );
        }
        if out.strides[..last].iter().any(|s| !s.is_multiple_of(r)) {
            bail!(
                Shape,
                "self.stride(i) must be divisible by {r} for all i < dim-1 to view {from} as {to} (different element sizes)"
            );
        }
        if !out.offset.is_multiple_of(r) {
            bail!(
                Shape,
                "self.storage_offset() must be divisible by {r} to view {from} as {to} (different element sizes), but got {}",
                out.offset
            );
        }
        out.shape[last] /= r;
        for s in &mut out.strides[..last] {
            *s /= r;
        }
        out.offset /= r;
    }
    Ok(out)
}
