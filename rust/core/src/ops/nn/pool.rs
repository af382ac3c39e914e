//! 2-D pooling over `[N, C, H, W]` (or `[C, H, W]`): max (remembering the winning index for the
//! backward), average (PyTorch's `count_include_pad`), and adaptive average. The kernels are the
//! backends' (`cpu/pool.rs`, `cuda/ops/nn.rs`); the backward is recorded here, once.

use crate::autograd::record_differentiable;
use crate::backend;
use crate::{bail, DType, Result, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct Pool2dSpec {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

fn pooled(input: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> Result<usize> {
    let span = d * (k - 1) + 1;
    // With `ceil_mode` a window longer than the (padded) input still makes one output, as in
    // PyTorch (`(input + 2p - span + s - 1) / s + 1` when that numerator is not negative).
    let reach = input + 2 * p + if ceil { s - 1 } else { 0 };
    if reach < span {
        bail!(
            Shape,
            "pool2d: input size {input} (padding {p}) is smaller than the window {span}"
        );
    }
    let mut o = (reach - span) / s + 1;
    // PyTorch: the last window must start inside the input or left padding.
    if ceil && (o - 1) * s >= input + p {
        o -= 1;
    }
    Ok(o)
}

/// Views `[C,H,W]` as `[1,C,H,W]`; returns (4-d input, whether to squeeze the result).
fn as4d(t: &Tensor, what: &str) -> Result<(Tensor, bool)> {
    match t.ndim() {
        4 => Ok((t.clone(), false)),
        3 => Ok((t.unsqueeze(0)?, true)),
        _ => bail!(
            Shape,
            "{what} expects a 3-D or 4-D input, got shape {:?}",
            t.shape()
        ),
    }
}

fn check_spec(s: &Pool2dSpec) -> Result<()> {
    if s.kernel.0 == 0
        || s.kernel.1 == 0
        || s.stride.0 == 0
        || s.stride.1 == 0
        || s.dilation.0 == 0
        || s.dilation.1 == 0
    {
        bail!(
            Value,
            "pool2d: kernel size, stride and dilation must be positive"
        );
    }
    if s.padding.0 * 2 > s.kernel.0 || s.padding.1 * 2 > s.kernel.1 {
        bail!(Value, "pool2d: padding should be at most half of the kernel size, got padding {:?} for kernel {:?}", s.padding, s.kernel);
    }
    Ok(())
}

/// A pooling op's checked `[N, C, H, W]` input (see `as4d`), whether to squeeze its result,
/// and the output size `(ho, wo)` of `spec`'s windows at `dilation`.
fn windows(
    t: &Tensor,
    what: &str,
    spec: &Pool2dSpec,
    dilation: (usize, usize),
) -> Result<(Tensor, bool, (usize, usize))> {
    check_spec(spec)?;
    let (x4, squeeze) = as4d(t, what)?;
    let (h, w) = (x4.shape()[2], x4.shape()[3]);
    let (k, s, p, ceil) = (spec.kernel, spec.stride, spec.padding, spec.ceil_mode);
    let ho = pooled(h, k.0, s.0, p.0, dilation.0, ceil)?;
    let wo = pooled(w, k.1, s.1, p.1, dilation.1, ceil)?;
    Ok((x4, squeeze, (ho, wo)))
}

/// The result of a pooling op for the input `as4d` was given: `[C, H, W]` again when it
/// added the batch dim.
fn unbatch(r: Tensor, squeeze: bool) -> Result<Tensor> {
    if squeeze {
        r.squeeze(Some(0))
    } else {
        Ok(r)
    }
}

impl Tensor {
    /// Max pooling; the gradient flows to the (first) maximum of each window.
    pub fn max_pool2d(&self, spec: Pool2dSpec) -> Result<Tensor> {
        let (x4, squeeze, (ho, wo)) = windows(self, "max_pool2d", &spec, spec.dilation)?;
        let be = backend::of(&x4);
        let (out, argmax) = be.max_pool2d_forward(&x4, &spec, (ho, wo))?;
        let (in_shape, in_dt) = (x4.shape().to_vec(), self.dtype());
        let r = record_differentiable(out, "MaxPool2DBackward", &[&x4], move |g| {
            if crate::autograd::is_grad_enabled() {
                // `create_graph=True`: each window's gradient added at its winner, recorded.
                return Ok(vec![Some(
                    scatter_to_winners(g, &argmax, &in_shape)?.to_dtype(in_dt)?,
                )]);
            }
            let dx = backend::of(g).max_pool2d_backward(g, &argmax, &in_shape, &spec, (ho, wo))?;
            Ok(vec![Some(dx.to_dtype(in_dt)?)])
        });
        unbatch(r, squeeze)
    }

    /// Average pooling (`count_include_pad` as in PyTorch; dilation must be 1).
    pub fn avg_pool2d(&self, spec: Pool2dSpec) -> Result<Tensor> {
        let (x4, squeeze, (ho, wo)) = windows(self, "avg_pool2d", &spec, (1, 1))?;
        let out = backend::of(&x4).avg_pool2d_forward(&x4, &spec, (ho, wo))?;
        let (in_shape, in_dt) = (x4.shape().to_vec(), self.dtype());
        let r = record_differentiable(out, "AvgPool2DBackward", &[&x4], move |g| {
            let dx = backend::of(g).avg_pool2d_backward(g, &in_shape, &spec, (ho, wo))?;
            // The backward is linear in `g` and its adjoint is the pooling itself: recorded
            // that way, it can be differentiated again (`create_graph=True`).
            let dx = record_differentiable(dx, "AvgPool2DBackwardBackward", &[g], move |gg| {
                Ok(vec![Some(gg.avg_pool2d(spec)?)])
            });
            Ok(vec![Some(dx.to_dtype(in_dt)?)])
        });
        unbatch(r, squeeze)
    }

    /// Adaptive average pooling to `(out_h, out_w)`: bin i spans
    /// `[floor(i*H/out), ceil((i+1)*H/out))`, as in PyTorch.
    pub fn adaptive_avg_pool2d(&self, out_hw: (usize, usize)) -> Result<Tensor> {
        let (x4, squeeze) = as4d(self, "adaptive_avg_pool2d")?;
        let (h, w) = (x4.shape()[2], x4.shape()[3]);
        let (ho, wo) = out_hw;
        if ho == 0 || wo == 0 || h == 0 || w == 0 {
            bail!(
                Shape,
                "adaptive_avg_pool2d: output size {:?} and input {:?} must be non-empty",
                out_hw,
                self.shape()
            );
        }
        if (ho, wo) == (1, 1) && x4.dtype().is_float() {
            // Global pooling (a ResNet's head): each plane's mean, through the reductions'
            // vector loops rather than the window loop (3x faster at 32x32 planes). In the
            // input's dtype as the pooling is, also under autocast.
            let _plain = crate::amp::AutocastGuard::disabled();
            return unbatch(x4.mean(Some(&[2, 3]), true)?, squeeze);
        }
        if h % ho == 0 && w % wo == 0 {
            // Equal bins (global pooling, 14 -> 7, ...): a plain average pool.
            let k = (h / ho, w / wo);
            return self.avg_pool2d(Pool2dSpec {
                kernel: k,
                stride: k,
                padding: (0, 0),
                dilation: (1, 1),
                ceil_mode: false,
                count_include_pad: true,
            });
        }
        // Express each bin as a sum of products of row and column averaging matrices:
        // out = Ah @ x @ Aw^T with Ah [ho, h], Aw [wo, w]; reuses matmul and its gradient.
        let weights = |o: usize, i: usize| -> Result<Tensor> {
            crate::ops::creation::check_alloc(&[o, i], 8)?;
            let mut m = vec![0f64; o * i];
            for r in 0..o {
                let s = r * i / o;
                let e = ((r + 1) * i).div_ceil(o);
                for c in s..e {
                    m[r * i + c] = 1.0 / (e - s) as f64;
                }
            }
            Tensor::from_vec(m, &[o, i])?
                .to_dtype(x4.dtype())?
                .to_device(x4.device())
        };
        let ah = weights(ho, h)?;
        let aw = weights(wo, w)?;
        let r = ah.matmul(&x4)?.matmul(&aw.t()?)?;
        if !r.sum(None, false)?.item()?.is_finite() {
            // A NaN or infinity times the zero weight of a bin it is not in would spread into
            // that bin too: average each bin over its own elements instead (rare, slower).
            return unbatch(adaptive_bins(&x4, (ho, wo))?, squeeze);
        }
        unbatch(r, squeeze)
    }
}

/// Adaptive average pooling of `[N, C, H, W]` bin by bin (PyTorch's bins), in recorded ops.
fn adaptive_bins(x: &Tensor, (ho, wo): (usize, usize)) -> Result<Tensor> {
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let bin = |i: usize, n: usize, o: usize| (i * n / o, ((i + 1) * n).div_ceil(o));
    let mut rows = Vec::with_capacity(ho);
    for i in 0..ho {
        let (r0, r1) = bin(i, h, ho);
        let band = x.narrow(2, r0 as isize, r1 - r0)?;
        let mut cells = Vec::with_capacity(wo);
        for j in 0..wo {
            let (c0, c1) = bin(j, w, wo);
            cells.push(
                band.narrow(3, c0 as isize, c1 - c0)?
                    .mean(Some(&[2, 3]), true)?,
            );
        }
        rows.push(Tensor::cat(&cells, 3)?);
    }
    Tensor::cat(&rows, 2)
}

/// `g` `[n, c, ho, wo]` added into zeros `[n, c, h, w]` at each window's winner (`argmax`: the
/// offset within its plane, negative for a window with no input element), in recorded ops.
fn scatter_to_winners(g: &Tensor, argmax: &Tensor, in_shape: &[usize]) -> Result<Tensor> {
    let (n, c, h, w) = (in_shape[0], in_shape[1], in_shape[2], in_shape[3]);
    let flat = |t: &Tensor| t.reshape(&[n as isize, c as isize, -1]);
    let idx = flat(&argmax.to_dtype(DType::I64)?)?;
    let won = idx.ge(&Tensor::wrapped_scalar(0i64))?;
    let safe = Tensor::where_(&won, &idx, &Tensor::wrapped_scalar(0i64))?;
    let src = Tensor::where_(&won, &flat(g)?, &Tensor::wrapped_scalar(0.0f64))?;
    let zeros = Tensor::full_on(&[n, c, h * w], 0.0, g.dtype(), g.device())?;
    zeros
        .scatter_add(2, &safe, &src)?
        .reshape(&[n as isize, c as isize, h as isize, w as isize])
}
