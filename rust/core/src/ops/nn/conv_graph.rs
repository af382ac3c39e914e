//! The convolutions' gradients in recorded convolutions, for a backward that builds a graph
//! (`create_graph=True`: gradient penalties on convolutional critics). The input gradient of
//! a convolution is a transposed convolution and the reverse; the weight gradient correlates
//! the input with the output gradient, itself a convolution with stride and dilation swapped.
//! Each is a recorded op whose own backward comes back here, so any order works.

use super::conv::Conv2dSpec;
use super::conv_transpose::ConvTranspose2dSpec;
use crate::{Result, Tensor};

/// `conv2d`'s input gradient: the transposed convolution of `gy` back to `x_hw`.
pub(crate) fn conv2d_input_grad(
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
pub(crate) fn conv2d_weight_grad(
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
