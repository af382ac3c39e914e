//! Softmax and log-softmax over contiguous rows on the CPU, and their backward. Half inputs
//! compute in float32 and round once.

use crate::ops::copy::cast_raw;
use crate::{DType, Float, Result, Tensor};

fn forward_rows<T: Float>(x: &[T], n: usize, log: bool) -> Vec<T> {
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

/// Softmax (or log-softmax) of each row of `n` elements of the contiguous `rows`.
pub(super) fn softmax_rows(rows: &Tensor, n: usize, log: bool) -> Result<Tensor> {
    match rows.dtype() {
        DType::F64 => Tensor::from_vec(forward_rows(&rows.data::<f64>()?, n, log), rows.shape()),
        DType::F32 => Tensor::from_vec(forward_rows(&rows.data::<f32>()?, n, log), rows.shape()),
        dt => {
            let r = cast_raw(rows, DType::F32)?;
            let y = Tensor::from_vec(forward_rows(&r.data::<f32>()?, n, log), r.shape())?;
            cast_raw(&y, dt)
        }
    }
}

/// The gradient of `softmax_rows_of` from its output `y` and the output gradient `g`.
pub(super) fn softmax_backward_rows(y: &Tensor, g: &Tensor, n: usize, log: bool) -> Result<Tensor> {
    match y.dtype() {
        DType::F64 => Tensor::from_vec(
            backward_rows(&y.data::<f64>()?, &g.data::<f64>()?, n, log),
            y.shape(),
        ),
        DType::F32 => Tensor::from_vec(
            backward_rows(&y.data::<f32>()?, &g.data::<f32>()?, n, log),
            y.shape(),
        ),
        other => {
            let (a, b) = (cast_raw(y, DType::F32)?, cast_raw(g, DType::F32)?);
            let dx = backward_rows(&a.data::<f32>()?, &b.data::<f32>()?, n, log);
            cast_raw(&Tensor::from_vec(dx, a.shape())?, other)
        }
    }
}
