//! 2-D convolution: argument checks, the output geometry, and the backward recorded once for
//! every backend (`conv2d_forward`/`conv2d_backward` primitives: `cpu/conv.rs`, and im2col +
//! cuBLAS on CUDA).

use super::conv_graph::{record_conv, ConvSaved};
use crate::ops::copy::cast_raw;
use crate::{bail, Result, Tensor};

/// Geometry of a convolution (all sizes in elements).
#[derive(Debug, Clone, Copy)]
pub struct Conv2dSpec {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

/// A convolution's sizes (shared by the CPU kernels and the CUDA path): input `[n, c, h, w]`,
/// weight `[o, c/groups, kh, kw]`, output
/// `[n, o, ho, wo]`.
#[derive(Debug, Clone, Copy)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub s: Conv2dSpec,
}

impl Geom {
    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.s.groups
    }
    /// Output channels per group.
    pub fn og(&self) -> usize {
        self.o / self.s.groups
    }
    /// Rows of one group's column matrix: `C/g * kh * kw`.
    pub fn krows(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Columns of a column matrix: one per output pixel.
    pub fn cols(&self) -> usize {
        self.ho * self.wo
    }
}

/// Output size of one spatial dim, or an error naming the problem.
fn out_size(
    input: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dil: usize,
    what: &str,
) -> Result<usize> {
    let (Some(span), Some(padded)) = (
        dil.checked_mul(k - 1).and_then(|v| v.checked_add(1)),
        pad.checked_mul(2).and_then(|v| v.checked_add(input)),
    ) else {
        bail!(
            OutOfMemory,
            "conv2d: {what} padding {pad} or dilation {dil} is too large to represent"
        );
    };
    if padded < span {
        bail!(
            Shape,
            "conv2d: {what} input size {} (padded to {}) is smaller than the kernel extent {}",
            input,
            padded,
            span
        );
    }
    Ok((padded - span) / stride + 1)
}

/// `stride` cut down to the one step that fits (`padded - span + 1`) when it is larger: the
/// output is then one position along that dim whatever the stride, and the kernels' buffers
/// grow with it (a stride of 2**62 would overflow them).
fn effective_stride(input: usize, k: usize, stride: usize, pad: usize, dil: usize) -> usize {
    let extent = input + 2 * pad - (dil * (k - 1) + 1) + 1; // out_size checked it fits
    stride.min(extent)
}

fn geometry(x: &Tensor, w: &Tensor, s: Conv2dSpec) -> Result<Geom> {
    if x.ndim() != 4 || w.ndim() != 4 {
        bail!(
            Shape,
            "conv2d expects input [N, C, H, W] and weight [O, C/groups, kH, kW], got {:?} and {:?}",
            x.shape(),
            w.shape()
        );
    }
    if s.groups == 0 || s.stride.0 == 0 || s.stride.1 == 0 || s.dilation.0 == 0 || s.dilation.1 == 0
    {
        bail!(
            Value,
            "conv2d: stride, dilation and groups must be positive"
        );
    }
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    // (PyTorch's wording: the input's channel count is what a user usually got wrong)
    let g = s.groups;
    if o % g != 0 {
        let msg = format!(
            "conv2d: given groups={g}, expected weight to be divisible by {g} at dimension 0, but got weight of size {:?} instead",
            w.shape()
        );
        return Err(crate::Error::shape_mismatch("conv2d", &[x, w], msg));
    }
    if cg * g != c {
        let msg = format!(
            "conv2d: given groups={g}, weight of size {:?}, expected input{:?} to have {} channels, but got {c} channels instead",
            w.shape(),
            x.shape(),
            cg * g
        );
        return Err(crate::Error::shape_mismatch("conv2d", &[x, w], msg));
    }
    if kh == 0 || kw == 0 {
        bail!(
            Shape,
            "conv2d: kernel size must be positive, got weight {:?}",
            w.shape()
        );
    }
    let ho = out_size(h, kh, s.stride.0, s.padding.0, s.dilation.0, "height")?;
    let wo = out_size(wd, kw, s.stride.1, s.padding.1, s.dilation.1, "width")?;
    let mut s = s;
    s.stride = (
        effective_stride(h, kh, s.stride.0, s.padding.0, s.dilation.0),
        effective_stride(wd, kw, s.stride.1, s.padding.1, s.dilation.1),
    );
    // The output and one image's patch matrix must fit in memory (a failed allocation would
    // abort the process instead of raising).
    let bytes = x.dtype().size();
    crate::ops::creation::check_alloc(&[n, o, ho, wo], bytes)?;
    crate::ops::creation::check_alloc(&[cg, kh, kw, ho, wo], bytes)?;
    Ok(Geom {
        n,
        c,
        h,
        w: wd,
        o,
        kh,
        kw,
        ho,
        wo,
        s,
    })
}

impl Tensor {
    /// `conv2d(input [N,C,H,W], weight [O,C/groups,kH,kW], bias [O])` as in PyTorch.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: Conv2dSpec,
    ) -> Result<Tensor> {
        if let Some(low) = crate::amp::in_low(self, weight, bias, |x, w, b| x.conv2d(w, b, spec)) {
            return low;
        }
        self.check_same_device(weight)?;
        crate::ops::matmul::check_layer_dtypes("conv2d", self, weight, bias)?;
        let g = geometry(self, weight, spec)?;
        if let Some(b) = bias {
            if b.shape() != [g.o] {
                bail!(
                    Shape,
                    "conv2d: bias shape {:?} does not match {} output channels",
                    b.shape(),
                    g.o
                );
            }
        }
        let out_dtype = crate::ops::promote::result_type(&[self, weight]);
        if !out_dtype.is_float() {
            bail!(
                DType,
                "conv2d expects floating point tensors, got {} and {}",
                self.dtype(),
                weight.dtype()
            );
        }
        // The kernels read one dtype: operands are cast (without autograd; the op records)
        // and the originals kept when no cast was needed, so version checks see them.
        let cast = |t: &Tensor| -> Result<Tensor> {
            Ok(if t.dtype() == out_dtype {
                t.detach()
            } else {
                cast_raw(t, out_dtype)?
            })
        };
        let (x, w) = (cast(self)?, cast(weight)?);
        let b = bias.map(cast).transpose()?;
        let backend = crate::backend::of(self);
        let out = backend.conv2d_forward(&x, &w, b.as_ref(), &g)?;
        let mut inputs = vec![self, weight];
        if let Some(b) = bias {
            inputs.push(b);
        }
        let saved = ConvSaved::new(&x, &w, &inputs, g)?;
        Ok(record_conv(out, &inputs, false, saved, move |s, gy| {
            let gr = backend.conv2d_backward(s.x.get()?, s.w.get()?, gy, &s.g, s.need)?;
            Ok([gr.dx, gr.dw, gr.db])
        }))
    }
}
