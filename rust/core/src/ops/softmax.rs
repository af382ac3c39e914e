//! Numerically stable softmax / log-softmax along one dimension, each a single fused kernel with
//! a fused backward: rows of the softmax dim are handed to the backend's row primitives
//! (`cpu/softmax.rs`, `cuda/ops/reduce.rs`) and the backward is recorded here, once.

use crate::autograd::{record_differentiable_as, Provenance, Saved};
use crate::backend;
use crate::layout::normalize_dim;
use crate::{DType, Result, Tensor};

/// Moves `dim` innermost and returns contiguous rows (`outer x n`) plus the permutation used.
fn rows_last(t: &Tensor, d: usize) -> Result<(Tensor, Vec<isize>)> {
    let nd = t.ndim();
    let mut perm: Vec<isize> = (0..nd as isize).filter(|&i| i != d as isize).collect();
    perm.push(d as isize);
    let p = t.detach().permute(&perm)?.contiguous()?;
    Ok((p, perm))
}

fn undo_perm(t: &Tensor, perm: &[isize]) -> Result<Tensor> {
    let mut inv = vec![0isize; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p as usize] = i as isize;
    }
    t.permute(&inv)?.contiguous()
}

/// `run_rows` for the backward: `y` and `g` (same shape) moved to rows together.
fn run_rows2(
    y: &Tensor,
    g: &Tensor,
    d: usize,
    f: &dyn Fn(&Tensor, &Tensor, usize) -> Result<Tensor>,
) -> Result<Tensor> {
    if y.ndim() == 0 {
        return f(&y.reshape(&[1])?, &g.reshape(&[1])?, 1)?.reshape(&[]);
    }
    let n = y.shape()[d];
    if d == y.ndim() - 1 {
        return f(&y.detach().contiguous()?, &g.detach().contiguous()?, n);
    }
    let (py, perm) = rows_last(y, d)?;
    let (pg, _) = rows_last(g, d)?;
    undo_perm(&f(&py, &pg, n)?, &perm)
}

fn run_rows(t: &Tensor, d: usize, f: &dyn Fn(&Tensor, usize) -> Result<Tensor>) -> Result<Tensor> {
    if t.ndim() == 0 {
        return f(&t.reshape(&[1])?, 1)?.reshape(&[]);
    }
    let n = t.shape()[d];
    if d == t.ndim() - 1 {
        return f(&t.detach().contiguous()?, n);
    }
    let (p, perm) = rows_last(t, d)?;
    undo_perm(&f(&p, n)?, &perm)
}

fn softmax_impl(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let x = if x.dtype().is_float() {
        x.clone()
    } else {
        x.to_dtype(DType::default_float())?
    };
    let d = normalize_dim(dim, x.ndim())?;
    let fwd = move |rows: &Tensor, n: usize| backend::of(rows).softmax_rows(rows, n, log);
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
            let bwd = move |yv: &Tensor, gv: &Tensor, n: usize| {
                backend::of(yv).softmax_backward_rows(yv, gv, n, log)
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
