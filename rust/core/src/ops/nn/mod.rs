//! Fused neural-network ops with their own backward kernels: convolution, pooling,
//! normalisation, the cross-entropy loss, attention and the recurrent layers.

pub mod attention;
pub mod conv;
mod conv_graph;
pub mod conv_transpose;
pub mod loss;
pub mod nll;
pub mod norm;
pub mod pool;
pub mod rnn;

use crate::ops::copy::cast_raw;
use crate::{DType, Result, Tensor};

/// The dtype a fused kernel computes in (half types widen to f32) and the input cast to it.
pub(crate) fn compute_input(t: &Tensor) -> Result<(Tensor, DType)> {
    let dt = match t.dtype() {
        DType::F64 => DType::F64,
        _ => DType::F32,
    };
    let c = if t.dtype() == dt && t.is_contiguous() {
        t.clone()
    } else {
        cast_raw(t, dt)?
    };
    Ok((c, dt))
}

/// `t` in dtype `dt` as a contiguous tensor, copying only when it is not one already (fused
/// kernels read their inputs and gradients; a same-dtype copy would only cost time).
pub(crate) fn as_dtype(t: &Tensor, dt: DType) -> Result<Tensor> {
    if t.dtype() == dt && t.is_contiguous() {
        Ok(t.clone())
    } else {
        cast_raw(t, dt)
    }
}

/// `t` detached, contiguous, in dtype `dt` (a copy only when needed): a fused kernel's operand.
pub(crate) fn detached_as(t: &Tensor, dt: DType) -> Result<Tensor> {
    as_dtype(&t.detach(), dt)
}
