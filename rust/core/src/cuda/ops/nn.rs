//! Neural-network primitives on CUDA tensors: convolution (im2col kernel + one batched cuBLAS
//! GEMM forward; col2im and two GEMMs backward), max/avg pooling, layer norm and batch norm
//! with their fused backward kernels.

use super::{contiguous, empty, ordinal, run_elementwise, run_typed, Args};
use crate::backend::{BatchNormArgs, ConvGrads, NormForward, NormGrads, NormSaved};
use crate::cuda::launch::{ConvGeom, LaunchDims, PoolGeom};
use crate::cuda::primitives;
use crate::ops::binary::BinaryOp;
use crate::ops::nn::conv::Geom;
use crate::ops::nn::detached_as;
use crate::ops::nn::pool::Pool2dSpec;
use crate::ops::reduce::Kind;
use crate::{DType, Result, Tensor};

/// Means and inverse standard deviations are kept in float32 (float64 for float64 inputs).
fn acc(dt: DType) -> DType {
    if dt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

fn conv_geom(s: &Geom) -> ConvGeom {
    let spec = &s.s;
    ConvGeom {
        n: s.n as i32,
        c: (s.c / spec.groups) as i32,
        groups: spec.groups as i32,
        h: s.h as i32,
        w: s.w as i32,
        kh: s.kh as i32,
        kw: s.kw as i32,
        sh: spec.stride.0 as i32,
        sw: spec.stride.1 as i32,
        ph: spec.padding.0 as i32,
        pw: spec.padding.1 as i32,
        dh: spec.dilation.0 as i32,
        dw: spec.dilation.1 as i32,
        ho: s.ho as i32,
        wo: s.wo as i32,
    }
}

/// The column matrix `[n, groups, c/groups * kh * kw, ho * wo]` of `x`.
fn im2col(x: &Tensor, s: &Geom) -> Result<Tensor> {
    let dev = ordinal(x)?;
    let xc = contiguous(x)?;
    let col = empty(dev, x.dtype(), &[s.n, s.s.groups, s.krows(), s.cols()])?;
    if col.numel() > 0 {
        let args = Args::new().v(conv_geom(s)).data(&xc).data(&col);
        run_elementwise(dev, "im2col", x.dtype(), col.numel(), args)?;
    }
    Ok(col)
}

/// The adjoint of `im2col`: each column entry added back to its input pixel.
fn col2im(gcol: &Tensor, s: &Geom) -> Result<Tensor> {
    let (dev, dt) = (ordinal(gcol)?, gcol.dtype());
    let gc = contiguous(gcol)?;
    let dx = empty(dev, dt, &[s.n, s.c, s.h, s.w])?;
    if dx.numel() > 0 {
        let args = Args::new().v(conv_geom(s)).data(&gc).data(&dx);
        run_elementwise(dev, "col2im", dt, dx.numel(), args)?;
    }
    Ok(dx)
}

/// Each group's weight as a matrix `[groups, o/groups, krows]`.
fn weight_matrix(w: &Tensor, s: &Geom) -> Result<Tensor> {
    w.detach()
        .reshape(&[s.s.groups as isize, s.og() as isize, s.krows() as isize])
}

/// `conv2d` as im2col and one batched cuBLAS GEMM: `W_g [og, kr] @ col [kr, cols]` for
/// every sample and group.
pub(crate) fn conv2d_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    s: &Geom,
) -> Result<Tensor> {
    let cols = im2col(x, s)?;
    let wg = weight_matrix(w, s)?;
    let dims = (s.og(), s.cols(), s.krows());
    let y = primitives::matmul(&wg, &cols, &[s.n, s.s.groups], dims, x.dtype())?;
    let y = y.reshape(&[s.n as isize, s.o as isize, s.ho as isize, s.wo as isize])?;
    match b {
        Some(b) => {
            let b4 = b.detach().reshape(&[1, s.o as isize, 1, 1])?;
            primitives::binary(BinaryOp::Add, &y, &b4, y.dtype())
        }
        None => Ok(y),
    }
}

/// The convolution's gradients: `dW_g = sum_n gy_g @ col^T` (the columns recomputed),
/// `dx = col2im(W_g^T @ gy_g)`, `db` the sum of `gy` over batch and pixels.
pub(crate) fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    s: &Geom,
    [need_x, need_w, need_b]: [bool; 3],
) -> Result<ConvGrads> {
    let dt = x.dtype();
    let gy = detached_as(gy, dt)?;
    let gyg = gy.reshape(&[
        s.n as isize,
        s.s.groups as isize,
        s.og() as isize,
        s.cols() as isize,
    ])?;
    let batch = [s.n, s.s.groups];
    let dx = if need_x {
        let wt = weight_matrix(w, s)?.transpose(-1, -2)?;
        let gcol = primitives::matmul(&wt, &gyg, &batch, (s.krows(), s.cols(), s.og()), dt)?;
        Some(col2im(&gcol, s)?)
    } else {
        None
    };
    let dw = if need_w {
        let cols = im2col(x, s)?.transpose(-1, -2)?;
        let per = primitives::matmul(&gyg, &cols, &batch, (s.og(), s.krows(), s.cols()), dt)?;
        let shape = [s.s.groups, s.og(), s.krows()];
        let sum = primitives::reduce(Kind::Sum, &per, &[0], &shape)?;
        Some(sum.reshape(&w.shape().iter().map(|&d| d as isize).collect::<Vec<_>>())?)
    } else {
        None
    };
    let db = if need_b {
        Some(primitives::reduce(Kind::Sum, &gy, &[0, 2, 3], &[s.o])?)
    } else {
        None
    };
    Ok(ConvGrads { dx, dw, db })
}

fn pool_geom(x: &Tensor, spec: &Pool2dSpec, ho: usize, wo: usize) -> PoolGeom {
    pool_geom_of(x.shape(), spec, ho, wo)
}

fn pool_geom_of(sh: &[usize], spec: &Pool2dSpec, ho: usize, wo: usize) -> PoolGeom {
    PoolGeom {
        planes: (sh[0] * sh[1]) as i64,
        h: sh[2] as i32,
        w: sh[3] as i32,
        ho: ho as i32,
        wo: wo as i32,
        kh: spec.kernel.0 as i32,
        kw: spec.kernel.1 as i32,
        sh: spec.stride.0 as i32,
        sw: spec.stride.1 as i32,
        ph: spec.padding.0 as i32,
        pw: spec.padding.1 as i32,
        dh: spec.dilation.0 as i32,
        dw: spec.dilation.1 as i32,
        count_include_pad: spec.count_include_pad as i32,
        pad: 0,
    }
}

/// Max pooling of a 4-D CUDA tensor to `[n, c, ho, wo]`: values and argmax (int64).
pub(crate) fn max_pool2d_forward(
    x4: &Tensor,
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<(Tensor, Tensor)> {
    let dev = ordinal(x4)?;
    let dt = x4.dtype();
    let xc = contiguous(&x4.detach())?;
    let g = pool_geom(x4, spec, ho, wo);
    let out_shape = [x4.shape()[0], x4.shape()[1], ho, wo];
    let y = empty(dev, dt, &out_shape)?;
    let idx = empty(dev, DType::I64, &out_shape)?;
    if y.numel() > 0 {
        let args = Args::new().v(g).data(&xc).data(&y).data(&idx);
        run_elementwise(dev, "max_pool2d_forward", dt, y.numel(), args)?;
    }
    Ok((y, idx))
}

/// The max-pooling backward: `g` scattered to each window's argmax.
pub(crate) fn max_pool2d_backward(
    gy: &Tensor,
    argmax: &Tensor,
    in_shape: &[usize],
    spec: &Pool2dSpec,
    out_hw: (usize, usize),
) -> Result<Tensor> {
    pool_backward(
        "max_pool2d_backward",
        gy,
        Some(argmax),
        in_shape,
        spec,
        out_hw,
    )
}

/// A pooling backward kernel (`argmax`: max pooling's winners) writing `[n, c, h, w]`.
fn pool_backward(
    kernel: &str,
    gy: &Tensor,
    argmax: Option<&Tensor>,
    in_shape: &[usize],
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let (dev, dt) = (ordinal(gy)?, gy.dtype());
    let g = pool_geom_of(in_shape, spec, ho, wo);
    let gc = detached_as(gy, dt)?;
    let dx = empty(dev, dt, in_shape)?;
    if dx.numel() > 0 {
        let mut args = Args::new().v(g).data(&gc);
        if let Some(idx) = argmax {
            args = args.data(idx);
        }
        run_elementwise(dev, kernel, dt, dx.numel(), args.data(&dx))?;
    }
    Ok(dx)
}

/// Average pooling of a 4-D CUDA tensor to `[n, c, ho, wo]`.
pub(crate) fn avg_pool2d_forward(
    x4: &Tensor,
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let dev = ordinal(x4)?;
    let dt = x4.dtype();
    let xc = contiguous(&x4.detach())?;
    let g = pool_geom(x4, spec, ho, wo);
    let y = empty(dev, dt, &[x4.shape()[0], x4.shape()[1], ho, wo])?;
    if y.numel() > 0 {
        let args = Args::new().v(g).data(&xc).data(&y);
        run_elementwise(dev, "avg_pool2d_forward", dt, y.numel(), args)?;
    }
    Ok(y)
}

/// The average-pooling backward.
pub(crate) fn avg_pool2d_backward(
    gy: &Tensor,
    in_shape: &[usize],
    spec: &Pool2dSpec,
    out_hw: (usize, usize),
) -> Result<Tensor> {
    pool_backward("avg_pool2d_backward", gy, None, in_shape, spec, out_hw)
}

/// Layer norm over rows of `d` elements, affine rows by `r % period`
/// (`backend::Backend::layer_norm_forward`).
pub(crate) fn layer_norm_forward(
    x: &Tensor,
    d: usize,
    period: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<NormForward> {
    let dev = ordinal(x)?;
    let dt = x.dtype();
    let xc = contiguous(&x.detach())?;
    let rows = xc.numel().checked_div(d).unwrap_or(0);
    let w = affine_like(weight, x)?;
    let b = affine_like(bias, x)?;
    let y = empty(dev, dt, x.shape())?;
    let mean = empty(dev, acc(dt), &[rows])?;
    let rstd = empty(dev, acc(dt), &[rows])?;
    if rows > 0 {
        let args = Args::new()
            .v(rows as i64)
            .v(d as i64)
            .v(period as i64)
            .data(&xc)
            .opt(w.as_ref())
            .opt(b.as_ref())
            .v(eps)
            .data(&y)
            .data(&mean)
            .data(&rstd);
        run_typed(dev, "layer_norm_forward", dt, LaunchDims::rows(rows), args)?;
    }
    Ok(NormForward {
        y,
        x: xc,
        mean,
        rstd,
    })
}

/// The layer-norm backward (`backend::Backend::layer_norm_backward`).
pub(crate) fn layer_norm_backward(
    saved: NormSaved<'_>,
    g: &Tensor,
    d: usize,
    period: usize,
    need_w: bool,
    need_b: bool,
) -> Result<NormGrads> {
    let xc = saved.x;
    let (dev, dt) = (ordinal(xc)?, xc.dtype());
    let rows = xc.numel().checked_div(d).unwrap_or(0);
    let w = affine_like(saved.weight, xc)?;
    let gc = detached_as(g, dt)?;
    let dx = empty(dev, dt, xc.shape())?;
    let dw = need_w.then(|| empty(dev, dt, &[period * d])).transpose()?;
    let db = need_b.then(|| empty(dev, dt, &[period * d])).transpose()?;
    if rows > 0 {
        let args = Args::new()
            .v(rows as i64)
            .v(d as i64)
            .v(period as i64)
            .data(xc)
            .opt(w.as_ref())
            .data(saved.mean)
            .data(saved.rstd)
            .data(&gc)
            .data(&dx);
        run_typed(dev, "layer_norm_backward", dt, LaunchDims::rows(rows), args)?;
    }
    if need_w || need_b {
        if rows == 0 {
            for t in dw.iter().chain(db.iter()) {
                super::fill(t, 0.0)?;
            }
        } else {
            let args = Args::new()
                .v(rows as i64)
                .v(d as i64)
                .v(period as i64)
                .data(xc)
                .data(saved.mean)
                .data(saved.rstd)
                .data(&gc)
                .opt(dw.as_ref())
                .opt(db.as_ref());
            run_elementwise(dev, "layer_norm_backward_affine", dt, period * d, args)?;
        }
    }
    Ok(NormGrads { dx, dw, db })
}

/// An affine parameter on `x`'s device in `x`'s dtype (the kernels read it as such).
fn affine_like(t: Option<&Tensor>, x: &Tensor) -> Result<Option<Tensor>> {
    t.map(|t| detached_as(&super::align_device(t, x)?, x.dtype()))
        .transpose()
}

/// Batch norm over `[n, c, inner...]` (`backend::Backend::batch_norm_forward`).
pub(crate) fn batch_norm_forward(x: &Tensor, args: BatchNormArgs<'_>) -> Result<NormForward> {
    let (running, training, eps) = (args.running, args.training, args.eps);
    let dev = ordinal(x)?;
    let dt = x.dtype();
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let inner: usize = x.shape()[2..].iter().product();
    let xc = contiguous(&x.detach())?;
    let w = affine_like(args.weight, x)?;
    let b = affine_like(args.bias, x)?;
    let (mean, invstd) = match (training, running.mean, running.var) {
        (true, rm, rv) => {
            let mean = empty(dev, acc(dt), &[c])?;
            let var = empty(dev, acc(dt), &[c])?;
            let invstd = empty(dev, acc(dt), &[c])?;
            let args = Args::new()
                .v(n as i64)
                .v(c as i64)
                .v(inner as i64)
                .data(&xc)
                .v(eps)
                .data(&mean)
                .data(&var)
                .data(&invstd);
            run_typed(dev, "batch_norm_stats", dt, LaunchDims::rows(c), args)?;
            if let (Some(rm), Some(rv)) = (rm, rv) {
                // The kernel updates running stats of the input's dtype; others go through a copy.
                let (rmc, rvc) = (detached_as(rm, dt)?, detached_as(rv, dt)?);
                let args = Args::new()
                    .v(c as i64)
                    .v((n * inner) as i64)
                    .v(running.momentum)
                    .data(&mean)
                    .data(&var)
                    .data(&rmc)
                    .data(&rvc);
                run_elementwise(dev, "batch_norm_update_running", dt, c, args)?;
                super::write_into(rm, &rmc)?;
                super::write_into(rv, &rvc)?;
            }
            (mean, invstd)
        }
        (false, Some(rm), Some(rv)) => {
            let mean = detached_as(rm, acc(dt))?;
            let invstd = detached_as(rv, acc(dt))?
                .add(&Tensor::wrapped_scalar(eps))?
                .rsqrt()?
                .detach();
            (mean, invstd)
        }
        (false, _, _) => {
            return Err(crate::Error::Value(
                "batch_norm in eval mode needs running_mean and running_var".into(),
            ))
        }
    };
    let y = empty(dev, dt, x.shape())?;
    if y.numel() > 0 {
        let args = Args::new()
            .v(n as i64)
            .v(c as i64)
            .v(inner as i64)
            .data(&xc)
            .data(&mean)
            .data(&invstd)
            .opt(w.as_ref())
            .opt(b.as_ref())
            .data(&y);
        run_elementwise(dev, "batch_norm_forward", dt, y.numel(), args)?;
    }
    Ok(NormForward {
        y,
        x: xc,
        mean,
        rstd: invstd,
    })
}

/// The batch-norm backward (`backend::Backend::batch_norm_backward`).
pub(crate) fn batch_norm_backward(
    saved: NormSaved<'_>,
    g: &Tensor,
    training: bool,
    need_w: bool,
    need_b: bool,
) -> Result<NormGrads> {
    let xc = saved.x;
    let (dev, dt) = (ordinal(xc)?, xc.dtype());
    let (n, c) = (xc.shape()[0], xc.shape()[1]);
    let inner: usize = xc.shape()[2..].iter().product();
    let w = affine_like(saved.weight, xc)?;
    let gc = detached_as(g, dt)?;
    let sum_g = empty(dev, acc(dt), &[c])?;
    let sum_gx = empty(dev, acc(dt), &[c])?;
    let args = Args::new()
        .v(n as i64)
        .v(c as i64)
        .v(inner as i64)
        .data(xc)
        .data(&gc)
        .data(saved.mean)
        .data(saved.rstd)
        .data(&sum_g)
        .data(&sum_gx);
    run_typed(
        dev,
        "batch_norm_backward_reduce",
        dt,
        LaunchDims::rows(c),
        args,
    )?;
    let dx = empty(dev, dt, xc.shape())?;
    if dx.numel() > 0 {
        let args = Args::new()
            .v(n as i64)
            .v(c as i64)
            .v(inner as i64)
            .v(training as i32)
            .data(xc)
            .data(&gc)
            .data(saved.mean)
            .data(saved.rstd)
            .opt(w.as_ref())
            .data(&sum_g)
            .data(&sum_gx)
            .data(&dx);
        run_elementwise(dev, "batch_norm_backward", dt, dx.numel(), args)?;
    }
    Ok(NormGrads {
        dx,
        dw: need_w.then_some(sum_gx),
        db: need_b.then_some(sum_g),
    })
}

/// Dropout with the counter-based Philox generator: keeps each element with probability
/// `1 - p`, scaled by `1 / (1 - p)`; returns the output and the keep-mask (bool).
pub(crate) fn dropout_forward(x: &Tensor, p: f64) -> Result<(Tensor, Tensor)> {
    let dev = ordinal(x)?;
    let dt = x.dtype();
    let xc = contiguous(&x.detach())?;
    let n = xc.numel();
    let y = empty(dev, dt, x.shape())?;
    let mask = empty(dev, DType::Bool, x.shape())?;
    // A fresh Philox stream per call: its key and counter offset come from the global RNG.
    let (seed, offset) = crate::rng::with_rng(|r| (r.next_u64(), r.next_u64() >> 16));
    if n > 0 {
        let args = Args::new()
            .v(n as i64)
            .data(&xc)
            .data(&y)
            .data(&mask)
            .v(p)
            .v(seed)
            .v(offset);
        run_elementwise(dev, "dropout_forward", dt, n.div_ceil(4), args)?;
    }
    Ok((y, mask))
}

/// The dropout backward: `g` through the saved keep-mask, scaled as the forward.
pub(crate) fn dropout_backward(g: &Tensor, mask: &Tensor, p: f64) -> Result<Tensor> {
    let (dev, dt) = (ordinal(g)?, g.dtype());
    let gc = detached_as(g, dt)?;
    let n = gc.numel();
    let dx = empty(dev, dt, gc.shape())?;
    if n > 0 {
        let args = Args::new().v(n as i64).data(&gc).data(mask).v(p).data(&dx);
        run_elementwise(dev, "dropout_backward", dt, n, args)?;
    }
    Ok(dx)
}
