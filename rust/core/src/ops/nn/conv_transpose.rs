//! 2-D transposed convolution (PyTorch's `conv_transpose2d`), built from the convolution's own
//! primitives: its output is the input gradient of the convolution that maps the output back
//! to the input (`conv2d_backward`'s `dx`), its input gradient that convolution's forward, and
//! its weight gradient that convolution's weight gradient with the roles of input and output
//! gradient swapped. So every backend that convolves also transposes, with no kernel of its
//! own.

use super::conv::{Conv2dSpec, Geom};
use super::conv_graph::{record_conv, ConvSaved};
use super::detached_as;
use crate::{bail, Result, Tensor};

/// The options of a transposed convolution: those of the convolution it transposes, and
/// PyTorch's `output_padding`.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2dSpec {
    pub conv: Conv2dSpec,
    /// Extra rows/columns on one side of the output (picks among the output sizes a strided
    /// convolution maps to the same input size).
    pub output_padding: (usize, usize),
}

/// One output dim: `(input - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1`,
/// in signed arithmetic as PyTorch's (an empty input of an empty batch still has a size).
/// `None` when it is not positive or does not fit (absurd strides or paddings): PyTorch's
/// "output size is too small".
fn out_size(input: usize, k: usize, s: usize, p: usize, d: usize, op: usize) -> Option<usize> {
    let [input, k, s, p, d, op] = [input, k, s, p, d, op].map(|v| v as i128);
    let v = (input - 1)
        .checked_mul(s)?
        .checked_sub(p.checked_mul(2)?)?
        .checked_add(d.checked_mul(k - 1)?)?
        .checked_add(op + 1)?;
    usize::try_from(v).ok().filter(|&v| v > 0)
}

/// The convolution this transposes: input `[n, c_out, ho, wo]` (the transposed op's output),
/// weight `[c_in, c_out / groups, kh, kw]` (the same tensor), output `[n, c_in, h, w]`.
fn geometry(x: &Tensor, w: &Tensor, spec: ConvTranspose2dSpec) -> Result<Geom> {
    let (s, output_padding) = (spec.conv, spec.output_padding);
    if x.ndim() != 4 || w.ndim() != 4 {
        bail!(
            Shape,
            "conv_transpose2d expects input [N, C_in, H, W] and weight [C_in, C_out/groups, kH, kW], got {:?} and {:?}",
            x.shape(),
            w.shape()
        );
    }
    let positive = [s.stride.0, s.stride.1, s.dilation.0, s.dilation.1, s.groups];
    if positive.contains(&0) {
        bail!(
            Value,
            "conv_transpose2d: stride, dilation and groups must be positive"
        );
    }
    let (n, c_in, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (wc, og, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    if wc != c_in || c_in % s.groups != 0 {
        let msg = format!(
            "conv_transpose2d: input has {c_in} channels but weight {:?} expects {wc} (weight is [C_in, C_out/groups, kH, kW], groups={})",
            w.shape(),
            s.groups
        );
        return Err(crate::Error::shape_mismatch(
            "conv_transpose2d",
            &[x, w],
            msg,
        ));
    }
    if kh == 0 || kw == 0 || og == 0 {
        bail!(
            Shape,
            "conv_transpose2d: weight {:?} has no output channels or an empty kernel",
            w.shape()
        );
    }
    if (h == 0 || wd == 0) && n > 0 && c_in > 0 {
        bail!(
            Shape,
            "conv_transpose2d: input {:?} has an empty spatial size (only an empty batch or no channels may)",
            x.shape()
        );
    }
    for (op, st, d) in [
        (output_padding.0, s.stride.0, s.dilation.0),
        (output_padding.1, s.stride.1, s.dilation.1),
    ] {
        if op >= st && op >= d {
            bail!(
                Value,
                "conv_transpose2d: output padding must be smaller than either stride or dilation, got output_padding={op}, stride={st}, dilation={d}"
            );
        }
    }
    let size = |i: usize, k: usize, dim: usize| {
        let pick = |t: (usize, usize)| if dim == 0 { t.0 } else { t.1 };
        out_size(
            i,
            k,
            pick(s.stride),
            pick(s.padding),
            pick(s.dilation),
            pick(output_padding),
        )
    };
    let (Some(ho), Some(wo)) = (size(h, kh, 0), size(wd, kw, 1)) else {
        bail!(
            Shape,
            "conv_transpose2d: input {:?} with kernel {kh}x{kw}, stride {:?} and padding {:?} gives an output size that is too small (every output dim must be at least 1)",
            x.shape(),
            s.stride,
            s.padding
        );
    };
    // The output, and the column buffer the input is scattered through, must fit in memory
    // (a failed allocation would abort the process).
    let bytes = x.dtype().size();
    crate::ops::creation::check_alloc(&[n, og * s.groups, ho, wo], bytes)?;
    crate::ops::creation::check_alloc(&[og, kh, kw, h, wd], bytes)?;
    Ok(Geom {
        n,
        c: og * s.groups,
        h: ho,
        w: wo,
        o: c_in,
        kh,
        kw,
        ho: h,
        wo: wd,
        s,
    })
}

impl Tensor {
    /// `conv_transpose2d(input [N, C_in, H, W], weight [C_in, C_out/groups, kH, kW], bias
    /// [C_out])` as in PyTorch.
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: ConvTranspose2dSpec,
    ) -> Result<Tensor> {
        if let Some(low) =
            crate::amp::in_low(self, weight, bias, |x, w, b| x.conv_transpose2d(w, b, spec))
        {
            return low;
        }
        self.check_same_device(weight)?;
        crate::ops::matmul::check_layer_dtypes("conv_transpose2d", self, weight, bias)?;
        let g = geometry(self, weight, spec)?;
        crate::ops::check_vector(bias, "conv_transpose2d: bias", g.c, "output channels")?;
        self.check_float("conv_transpose2d expects floating point tensors")?;
        let dt = self.dtype();
        let (x, w) = (detached_as(self, dt)?, detached_as(weight, dt)?);
        let backend = crate::backend::of(self);
        let shape = [g.n, g.c, g.h, g.w];
        let zeros = backend.full(&shape, 0.0, dt, self.device())?;
        let out = backend
            .conv2d_backward(&zeros, &w, &x, &g, [true, false, false])?
            .dx
            .expect("the input gradient was asked for");
        let out = match bias {
            Some(b) => {
                let _off = crate::autograd::GradModeGuard::new(false);
                out.add(&b.reshape(&[1, g.c as isize, 1, 1])?)?
            }
            None => out,
        };
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let saved = ConvSaved::new(&x, &w, &inputs, g)?;
        Ok(record_conv(out, &inputs, true, saved, move |s, gy| {
            let (x, w, g) = (s.x.get()?, s.w.get()?, &s.g);
            let gy = detached_as(gy, dt)?;
            let dx = match s.need[0] {
                true => Some(backend.conv2d_forward(&gy, w, None, g)?),
                false => None,
            };
            let dw = match s.need[1] {
                true => {
                    backend
                        .conv2d_backward(&gy, w, x, g, [false, true, false])?
                        .dw
                }
                false => None,
            };
            let db = s.need[2]
                .then(|| gy.sum(Some(&[0, 2, 3]), false))
                .transpose()?;
            Ok([dx, dw, db])
        }))
    }
}
