//! Numerically stable softmax / log-softmax along one dimension, each a single fused kernel with
//! a fused backward.

use crate::autograd::{record, Saved};
use crate::layout::normalize_dim;
use crate::ops::copy::cast_raw;
use crate::{DType, Float, Result, Tensor};

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

fn softmax_rows<T: Float>(x: &[T], n: usize, log: bool) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(n.max(1)) {
        let m = row
            .iter()
            .fold(T::NEG_INF, |a, &v| if v > a { v } else { a });
        let m = if m == T::NEG_INF { T::zero() } else { m };
        let s = row.iter().fold(T::zero(), |a, &v| a + (v - m).exp());
        if log {
            let ls = s.ln() + m;
            out.extend(row.iter().map(|&v| v - ls));
        } else {
            let inv = T::one() / s;
            out.extend(row.iter().map(|&v| (v - m).exp() * inv));
        }
    }
    out
}

/// softmax: dx = y * (g - sum(g*y)); log_softmax: dx = g - exp(y) * sum(g).
fn backward_rows<T: Float>(y: &[T], g: &[T], n: usize, log: bool) -> Vec<T> {
    let mut out = Vec::with_capacity(y.len());
    for (yr, gr) in y.chunks_exact(n.max(1)).zip(g.chunks_exact(n.max(1))) {
        if log {
            let s = gr.iter().fold(T::zero(), |a, &v| a + v);
            out.extend(yr.iter().zip(gr).map(|(&y, &g)| g - y.exp() * s));
        } else {
            let s = yr.iter().zip(gr).fold(T::zero(), |a, (&y, &g)| a + y * g);
            out.extend(yr.iter().zip(gr).map(|(&y, &g)| y * (g - s)));
        }
    }
    out
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
        x.to_dtype(DType::F32)?
    };
    let d = normalize_dim(dim, x.ndim())?;
    let dt = x.dtype();
    let fwd = move |rows: &Tensor, n: usize| -> Result<Tensor> {
        if rows.device().is_cuda() {
            return crate::cuda::ops::reduce::softmax_rows(rows, n, log);
        }
        match rows.dtype() {
            DType::F64 => {
                Tensor::from_vec(softmax_rows(&rows.data::<f64>()?, n, log), rows.shape())
            }
            DType::F32 => {
                Tensor::from_vec(softmax_rows(&rows.data::<f32>()?, n, log), rows.shape())
            }
            _ => {
                let r = cast_raw(rows, DType::F32)?;
                cast_raw(
                    &Tensor::from_vec(softmax_rows(&r.data::<f32>()?, n, log), r.shape())?,
                    dt,
                )
            }
        }
    };
    let out = run_rows(&x, d, &fwd)?;
    let y = Saved::new(&out);
    Ok(record(
        out,
        if log {
            "LogSoftmaxBackward"
        } else {
            "SoftmaxBackward"
        },
        &[&x],
        move |g| {
            let y = y.get()?;
            let g = g.to_dtype(y.dtype())?;
            let bwd = move |yv: &Tensor, gv: &Tensor, n: usize| -> Result<Tensor> {
                if yv.device().is_cuda() {
                    return crate::cuda::ops::reduce::softmax_backward_rows(yv, gv, n, log);
                }
                match yv.dtype() {
                    DType::F64 => Tensor::from_vec(
                        backward_rows(&yv.data::<f64>()?, &gv.data::<f64>()?, n, log),
                        yv.shape(),
                    ),
                    DType::F32 => Tensor::from_vec(
                        backward_rows(&yv.data::<f32>()?, &gv.data::<f32>()?, n, log),
                        yv.shape(),
                    ),
                    other => {
                        let (a, b) = (cast_raw(yv, DType::F32)?, cast_raw(gv, DType::F32)?);
                        cast_raw(
                            &Tensor::from_vec(
                                backward_rows(&a.data::<f32>()?, &b.data::<f32>()?, n, log),
                                a.shape(),
                            )?,
                            other,
                        )
                    }
                }
            };
            let r = run_rows2(y, &g, d, &bwd)?;
            Ok(vec![Some(r)])
        },
    ))
}

impl Tensor {
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.softmax(dim);
        }
        softmax_impl(self, dim, false)
    }
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.log_softmax(dim);
        }
        softmax_impl(self, dim, true)
    }
}
