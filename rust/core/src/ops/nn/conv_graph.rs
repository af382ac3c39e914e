//! The convolutions' gradients in recorded convolutions, for a backward that builds a graph
//! (`create_graph=True`: gradient penalties on convolutional critics). The input gradient of
//! a convolution is a transposed convolution and the reverse; the weight gradient correlates
//! the input with the output gradient, itself a convolution with stride and dilation swapped.
//! Each is a recorded op whose own backward comes back here, so any order works.

use super::conv::{Conv2dSpec, Geom};
use super::conv_transpose::ConvTranspose2dSpec;
use crate::autograd::{record_differentiable, Saved};
use crate::{DType, Result, Tensor};

/// What a convolution's backward reads: its operands in the kernels' dtype (with their
/// inputs' histories), its geometry, which of input, weight and bias need a gradient, and
/// the dtypes those are returned in (the operands' own).
pub(crate) struct ConvSaved {
    pub x: Saved,
    pub w: Saved,
    pub g: Geom,
    pub need: [bool; 3],
    dtypes: [Option<DType>; 3],
}

impl ConvSaved {
    /// `x`, `w`: the operands as the kernels read them; `inputs`: the op's `[input, weight,
    /// (bias)]`.
    pub(crate) fn new(x: &Tensor, w: &Tensor, inputs: &[&Tensor], g: Geom) -> Result<ConvSaved> {
        let bias = inputs.get(2);
        Ok(ConvSaved {
            x: Saved::new_as(x, inputs[0])?,
            w: Saved::new_as(w, inputs[1])?,
            g,
            need: [
                inputs[0].requires_grad(),
                inputs[1].requires_grad(),
                bias.is_some(),
            ],
            dtypes: [
                Some(inputs[0].dtype()),
                Some(inputs[1].dtype()),
                bias.map(|b| b.dtype()),
            ],
        })
    }
}

/// Records a convolution (or, `transposed`, a transposed convolution) over `inputs`:
/// `first_order` is its fused backward, returning `[input, weight, bias]` gradients; a pass
/// that builds a graph (`create_graph=True`) computes them as recorded convolutions instead.
/// Either way they come back in the operands' dtypes.
pub(crate) fn record_conv(
    out: Tensor,
    inputs: &[&Tensor],
    transposed: bool,
    saved: ConvSaved,
    first_order: impl Fn(&ConvSaved, &Tensor) -> Result<[Option<Tensor>; 3]> + Send + Sync + 'static,
) -> Tensor {
    record_differentiable(out, "ConvolutionBackward", inputs, move |gy| {
        let grads = if crate::autograd::is_grad_enabled() {
            conv_grads(transposed, &saved, gy)?
        } else {
            first_order(&saved, gy)?
        };
        let mut v = Vec::with_capacity(3);
        for (grad, dt) in grads.into_iter().zip(saved.dtypes) {
            if let Some(dt) = dt {
                v.push(grad.map(|t| t.to_dtype(dt)).transpose()?);
            }
        }
        Ok(v)
    })
}

/// A convolution's (or, `transposed`, a transposed convolution's) `[input, weight, bias]`
/// gradients as recorded convolutions. The transposed op's input gradient is a convolution
/// back, and its weight gradient that of the convolution it transposes (whose input is `gy`
/// and output gradient `x`).
fn conv_grads(transposed: bool, s: &ConvSaved, gy: &Tensor) -> Result<[Option<Tensor>; 3]> {
    let (x, w, g, need) = (s.x.get_graph()?, s.w.get_graph()?, &s.g, s.need);
    let gy = gy.to_dtype(x.dtype())?;
    let kernel = (g.kh, g.kw);
    let (dx, dw) = if transposed {
        let dx = need[0].then(|| gy.conv2d(&w, None, g.s));
        (
            dx,
            need[1].then(|| conv2d_weight_grad(&gy, &x, kernel, g.s)),
        )
    } else {
        let dx = need[0].then(|| conv2d_input_grad(&gy, &w, (g.h, g.w), g.s));
        (
            dx,
            need[1].then(|| conv2d_weight_grad(&x, &gy, kernel, g.s)),
        )
    };
    let db = need[2].then(|| gy.sum(Some(&[0, 2, 3]), false));
    Ok([dx.transpose()?, dw.transpose()?, db.transpose()?])
}

/// `conv2d`'s input gradient: the transposed convolution of `gy` back to `x_hw`.
fn conv2d_input_grad(
    gy: &Tensor,
    w: &Tensor,
    x_hw: (usize, usize),
    spec: Conv2dSpec,
) -> Result<Tensor> {
    let (ho, wo) = (gy.shape()[2], gy.shape()[3]);
    let (kh, kw) = (w.shape()[2], w.shape()[3]);
    // The rows and columns a strided convolution skipped at the end come back as output
    // padding (always smaller than the stride).
    let base =
        |o: usize, k: usize, s: usize, p: usize, d: usize| (o - 1) * s + d * (k - 1) + 1 - 2 * p;
    let op = (
        x_hw.0 - base(ho, kh, spec.stride.0, spec.padding.0, spec.dilation.0),
        x_hw.1 - base(wo, kw, spec.stride.1, spec.padding.1, spec.dilation.1),
    );
    let spec = ConvTranspose2dSpec {
        conv: spec,
        output_padding: op,
    };
    gy.conv_transpose2d(w, None, spec)
}

/// The weight gradient `[o, c / groups, kh, kw]` of a convolution with input `x` `[n, c, h, w]`
/// and output gradient `gy` `[n, o, ho, wo]`: per group, `x` correlated with `gy` over the
/// batch (batch and channels swapped, stride and dilation swapped), cut to the kernel size.
fn conv2d_weight_grad(
    x: &Tensor,
    gy: &Tensor,
    kernel: (usize, usize),
    spec: Conv2dSpec,
) -> Result<Tensor> {
    let groups = spec.groups;
    let (cg, og) = (x.shape()[1] / groups, gy.shape()[1] / groups);
    let corr = Conv2dSpec {
        stride: spec.dilation,
        padding: spec.padding,
        dilation: spec.stride,
        groups: 1,
    };
    let mut parts = Vec::with_capacity(groups);
    for gi in 0..groups {
        let xg = x.slice(1, gi * cg, (gi + 1) * cg, 1)?.transpose(0, 1)?;
        let gg = gy.slice(1, gi * og, (gi + 1) * og, 1)?.transpose(0, 1)?;
        let r = xg.conv2d(&gg, None, corr)?; // [cg, og, kh', kw'], kh' >= kh
        let r = r.slice(2, 0, kernel.0, 1)?.slice(3, 0, kernel.1, 1)?;
        parts.push(r.transpose(0, 1)?);
    }
    if parts.len() == 1 {
        return Ok(parts.remove(0));
    }
    Tensor::cat(&parts, 0)
}
