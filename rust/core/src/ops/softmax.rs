//! Numerically stable softmax / log-softmax along one dimension, each a single fused kernel with
//! a fused backward: the contiguous input and the softmax dim's extent and stride are handed to
//! the backend's primitives (`cpu/softmax.rs`, `cuda/ops/reduce.rs`) and the backward is
//! recorded here, once.

use crate::autograd::{record_differentiable_as, Provenance, Saved};
use crate::backend;
use crate::layout::normalize_dim;
use crate::{DType, Result, Tensor};

/// The extent of the softmax dim `d` of `t` and the stride of its elements in a contiguous
/// copy (the product of the dims after it): the backend reads `[outer, n, inner]` in place,
/// never a permuted copy.
fn extent(t: &Tensor, d: usize) -> (usize, usize) {
    if t.ndim() == 0 {
        return (1, 1);
    }
    (t.shape()[d], t.shape()[d + 1..].iter().product())
}

/// `f` over the contiguous `y` and `g` (same shape) with the softmax dim's extent.
fn run_rows2(
    y: &Tensor,
    g: &Tensor,
    d: usize,
    f: &dyn Fn(&Tensor, &Tensor, usize, usize) -> Result<Tensor>,
) -> Result<Tensor> {
    let (n, inner) = extent(y, d);
    f(
        &y.detach().contiguous()?,
        &g.detach().contiguous()?,
        n,
        inner,
    )
}

fn run_rows(
    t: &Tensor,
    d: usize,
    f: &dyn Fn(&Tensor, usize, usize) -> Result<Tensor>,
) -> Result<Tensor> {
    let (n, inner) = extent(t, d);
    f(&t.detach().contiguous()?, n, inner)
}

fn softmax_impl(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let x = if x.dtype().is_float() {
        x.clone()
    } else {
        x.to_dtype(DType::default_float())?
    };
    let d = normalize_dim(dim, x.ndim())?;
    let fwd =
        move |x: &Tensor, n: usize, inner: usize| backend::of(x).softmax_rows(x, n, inner, log);
    let out = run_rows(&x, d, &fwd)?;
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
            let bwd = move |yv: &Tensor, gv: &Tensor, n: usize, inner: usize| {
                backend::of(yv).softmax_backward_rows(yv, gv, n, inner, log)
            };
            let r = run_rows2(y, &g, d, &bwd)?;
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
