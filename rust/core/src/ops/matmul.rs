//! Matrix products and `linear`: shape checks, broadcasting of batch dims and the recorded
//! backward; the products themselves are backend primitives (`cpu/matmul.rs`, cuBLAS).

use crate::autograd::{record_differentiable, Saved};
use crate::layout::broadcast_shapes;
use crate::ops::promote::result_type;
use crate::{bail, DType, Result, Tensor};

/// Matmul of two tensors with at least 2 dims each, batch dims broadcast. No autograd.
pub(crate) fn matmul_raw(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.check_same_device(b)?;
    let (an, bn) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[an - 2], a.shape()[an - 1]);
    let (k2, n) = (b.shape()[bn - 2], b.shape()[bn - 1]);
    if k != k2 {
        let msg = format!(
            "matmul: shapes {:?} and {:?} cannot be multiplied ({m}x{k} and {k2}x{n})",
            a.shape(),
            b.shape(),
        );
        return Err(crate::Error::shape_mismatch("matmul", &[a, b], msg));
    }
    let batch = broadcast_shapes(&a.shape()[..an - 2], &b.shape()[..bn - 2]).map_err(|_| {
        let msg = format!(
            "matmul: batch dimensions of {:?} and {:?} cannot be broadcast",
            a.shape(),
            b.shape()
        );
        crate::Error::shape_mismatch("matmul", &[a, b], msg)
    })?;
    let dt = result_type(&[a, b]);
    if a.device() == crate::Device::Cpu {
        crate::ops::creation::check_alloc(&[&batch[..], &[m, n]].concat(), dt.size())?;
    }
    crate::backend::of(a).matmul(a, b, &batch, (m, n, k), dt)
}

impl Tensor {
    /// `self @ other` with NumPy semantics for 1-D operands and broadcast batch dims.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        if let Some(low) = crate::amp::in_low(self, other, None, |a, b, _| a.matmul(b)) {
            return low;
        }
        if self.dtype() != other.dtype() {
            // As PyTorch: a product never promotes (a float64 weight would silently turn a
            // float32 model's activations into float64, or an int64 operand round).
            let msg = format!(
                "matmul: expected both operands to have the same dtype, got {} and {}",
                self.dtype().name(),
                other.dtype().name()
            );
            return Err(crate::Error::dtype_mismatch("matmul", &[self, other], msg));
        }
        let (an, bn) = (self.ndim(), other.ndim());
        if an == 0 || bn == 0 {
            bail!(
                Shape,
                "matmul: both arguments need at least 1 dimension, got shapes {:?} and {:?}",
                self.shape(),
                other.shape()
            );
        }
        if an == 1 && bn == 1 {
            if self.shape()[0] != other.shape()[0] {
                bail!(
                    Shape,
                    "dot: vectors of shapes {:?} and {:?} have different lengths",
                    self.shape(),
                    other.shape()
                );
            }
            return self
                .unsqueeze(0)?
                .matmul(&other.unsqueeze(1)?)?
                .reshape(&[]);
        }
        if an == 1 {
            return self.unsqueeze(0)?.matmul(other)?.squeeze(Some(-2));
        }
        if bn == 1 {
            return self.matmul(&other.unsqueeze(1)?)?.squeeze(Some(-1));
        }
        if bn == 2 && an > 2 {
            // A batch of matrices times one matrix is one product over all their rows: the
            // shared matrix is packed once, and its gradient is one product instead of a
            // product per batch entry summed afterwards.
            let lead = &self.shape()[..an - 1];
            let rows: usize = lead.iter().product();
            let k = self.shape()[an - 1] as isize;
            let mut shape: Vec<isize> = lead.iter().map(|&d| d as isize).collect();
            shape.push(other.shape()[1] as isize);
            return self
                .reshape(&[rows as isize, k])?
                .matmul(other)?
                .reshape(&shape);
        }
        let out = matmul_raw(self, other)?;
        if !out.dtype().is_float() {
            return Ok(out);
        }
        let (xa, xb) = (Saved::new(self)?, Saved::new(other)?);
        let (sa, sb) = (self.shape().to_vec(), other.shape().to_vec());
        let (da, db) = (self.dtype(), other.dtype());
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        Ok(record_differentiable(
            out,
            "MmBackward",
            &[self, other],
            move |g| {
                let ga = if need_a {
                    let r = grad_product(g, &xb.get_graph()?.transpose(-1, -2)?)?;
                    Some(crate::ops::binary::grad_for(r, &sa, da)?)
                } else {
                    None
                };
                let gb = if need_b {
                    let r = grad_product(&xa.get_graph()?.transpose(-1, -2)?, g)?;
                    Some(crate::ops::binary::grad_for(r, &sb, db)?)
                } else {
                    None
                };
                Ok(vec![ga, gb])
            },
        ))
    }

    /// `x @ weight.T + bias` as one fused op (the bias is written first and the GEMM accumulates
    /// onto it; in bfloat16 it seeds the float32 sums, rounded once). `weight` is `[out, in]`
    /// as in PyTorch.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        if let Some(low) = crate::amp::in_low(self, weight, bias, |x, w, b| x.linear(w, b)) {
            return low;
        }
        check_linear(self, weight, bias)?;
        let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
        let dt = self.dtype();
        let same = weight.dtype() == dt && bias.is_none_or(|b| b.dtype() == dt);
        if !(same && matches!(dt, DType::F32 | DType::F64 | DType::BF16)) {
            let y = self.matmul(&weight.t()?)?;
            return match bias {
                Some(b) => y.add(b),
                None => Ok(y),
            };
        }
        self.check_same_device(weight)?;
        let lead: Vec<usize> = self.shape()[..self.ndim() - 1].to_vec();
        let rows: usize = lead.iter().product();
        let x2 = self.detach().reshape(&[rows as isize, in_f as isize])?;
        if self.device() == crate::Device::Cpu {
            crate::ops::creation::check_alloc(&[rows, out_f], self.dtype().size())?;
        }
        let out = crate::backend::of(self).linear_forward(&x2, weight, bias)?;
        // `[rows, out]` is already the output's shape for a 2-D input.
        let out = if lead.len() == 1 {
            out
        } else {
            let mut shape: Vec<isize> = lead.iter().map(|&n| n as isize).collect();
            shape.push(out_f as isize);
            out.reshape(&shape)?
        };
        let inputs: Vec<&Tensor> = match bias {
            Some(b) => vec![self, weight, b],
            None => vec![self, weight],
        };
        let (xs, ws) = (Saved::new(self)?, Saved::new(weight)?);
        let in_shape: Vec<isize> = self.shape().iter().map(|&n| n as isize).collect();
        let (need_x, need_w) = (self.requires_grad(), weight.requires_grad());
        let has_bias = bias.is_some();
        Ok(record_differentiable(
            out,
            "LinearBackward",
            &inputs,
            move |g| {
                let g2 = g.reshape(&[rows as isize, out_f as isize])?;
                let gx = if need_x {
                    Some(grad_product(&g2, &ws.get_graph()?)?.reshape(&in_shape)?)
                } else {
                    None
                };
                let gw = if need_w {
                    let x2 = xs.get_graph()?.reshape(&[rows as isize, in_f as isize])?;
                    Some(grad_product(&g2.t()?, &x2)?)
                } else {
                    None
                };
                let mut v = vec![gx, gw];
                if has_bias {
                    v.push(Some(g2.sum(Some(&[0]), false)?));
                }
                Ok(v)
            },
        ))
    }
}

/// A product inside a backward: recorded when the backward builds a graph
/// (`create_graph=True`), the plain GEMM otherwise.
fn grad_product(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if crate::autograd::is_grad_enabled() {
        a.matmul(b)
    } else {
        matmul_raw(a, b)
    }
}

/// `linear`'s argument checks: weight `[out, in]`, input `[..., in]` of the weight's dtype,
/// bias `[out]`.
fn check_linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
    if weight.ndim() != 2 || x.ndim() == 0 {
        bail!(
            Shape,
            "linear: expected weight [out, in] and input [..., in], got {:?} and {:?}",
            weight.shape(),
            x.shape()
        );
    }
    check_layer_dtypes("linear", x, weight, bias)?;
    let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
    let last = x.shape()[x.ndim() - 1];
    if last != in_f {
        let msg = format!(
            "linear: input has {last} features (shape {:?}) but weight expects {in_f} (shape {:?})",
            x.shape(),
            weight.shape()
        );
        return Err(crate::Error::shape_mismatch("linear", &[x, weight], msg));
    }
    super::check_vector(bias, "linear: bias", out_f, "output features")
}

/// A layer's input, weight and bias must share one dtype, as in PyTorch: silently promoting a
/// float64 or integer batch against float32 weights would hide a bug (and cost a copy).
/// Autocast casts before this check.
pub(crate) fn check_layer_dtypes(
    op: &str,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<()> {
    let operands: Vec<&Tensor> = [Some(x), Some(weight), bias]
        .into_iter()
        .flatten()
        .collect();
    if x.dtype() != weight.dtype() {
        let msg = format!(
            "{op}: input dtype {} does not match the weight's {} (convert the input with \
             .to({}) or the layer with .to({}))",
            x.dtype(),
            weight.dtype(),
            weight.dtype(),
            x.dtype()
        );
        return Err(crate::Error::dtype_mismatch(op, &operands, msg));
    }
    if let Some(b) = bias {
        if b.dtype() != weight.dtype() {
            let msg = format!(
                "{op}: bias dtype {} does not match the weight's {}",
                b.dtype(),
                weight.dtype()
            );
            return Err(crate::Error::dtype_mismatch(op, &operands, msg));
        }
    }
    Ok(())
}
