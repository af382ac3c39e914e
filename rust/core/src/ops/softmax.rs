//! Numerically stable softmax / log-softmax along one dimension, each a single fused kernel with
//! a fused backward: the contiguous input and the softmax dim's extent and stride are handed to
//! the backend's primitives (`cpu/softmax.rs`, `cuda/ops/reduce.rs`) and the backward is
//! recorded here, once.

use crate::autograd::{record_differentiable_as, Provenance, Saved};
use crate::backend;
use crate::layout::normalize_dim;
use crate::{DType, Result, Tensor};

/// The softmax dim of a contiguous tensor seen as `[outer, n, inner]`: its extent `n`, the
/// stride `inner` of its elements (the product of the dims after it: the backend reads the
/// tensor in place, never a permuted copy), and whether the log-softmax is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxAxis {
    pub n: usize,
    pub inner: usize,
    pub log: bool,
}

impl SoftmaxAxis {
    fn of(t: &Tensor, d: usize, log: bool) -> Self {
        let (n, inner) = match t.ndim() {
            0 => (1, 1),
            _ => (t.shape()[d], t.shape()[d + 1..].iter().product()),
        };
        SoftmaxAxis { n, inner, log }
    }
}

fn softmax_impl(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let x = if x.dtype().is_float() {
        x.clone()
    } else {
        x.to_dtype(DType::default_float())?
    };
    let d = normalize_dim(dim, x.ndim())?;
    let ax = SoftmaxAxis::of(&x, d, log);
    let out = backend::of(&x).softmax_rows(&x.detach().contiguous()?, ax)?;
    let y = Saved::output(&out)?;
    // A loss reading log-probabilities row by row (`nll_loss`) may fuse this backward.
    let provenance = if log && d + 1 == x.ndim() {
        Provenance::LogSoftmaxRows
    } else {
        Provenance::Opaque
    };
    Ok(record_differentiable_as(
        out,
        if log {
            "LogSoftmaxBackward"
        } else {
            "SoftmaxBackward"
        },
        provenance,
        &[&x],
        move |g| {
            if crate::autograd::is_grad_enabled() {
                // `create_graph=True`: the same formula in recorded ops.
                let y = y.get_graph()?;
                let g = g.to_dtype(y.dtype())?;
                let di = d as isize;
                let r = if log {
                    g.sub(&y.exp()?.mul(&g.sum(Some(&[di]), true)?)?)?
                } else {
                    y.mul(&g.sub(&g.mul(&y)?.sum(Some(&[di]), true)?)?)?
                };
                return Ok(vec![Some(r)]);
            }
            let y = y.get()?;
            let g = g.to_dtype(y.dtype())?;
            let (yc, gc) = (y.detach().contiguous()?, g.detach().contiguous()?);
            let r = backend::of(y).softmax_backward_rows(&yc, &gc, ax)?;
            Ok(vec![Some(r)])
        },
    ))
}

impl Tensor {
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| x.softmax(dim)) {
            return y;
        }
        softmax_impl(self, dim, false)
    }
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| x.log_softmax(dim)) {
            return y;
        }
        softmax_impl(self, dim, true)
    }
}
