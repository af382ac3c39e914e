//! Constant padding (`F.pad(x, pads, value=v)` with non-negative amounts): one new tensor
//! filled with the value and the input written into its middle; the backward is the middle of
//! the gradient. Where a `cat` per padded dim copied the whole tensor each time (and again in
//! its backward). Negative amounts (crops) are the caller's `narrow`s.

use crate::autograd::record_differentiable;
use crate::{bail, Result, Tensor};

impl Tensor {
    /// `pads[i] = (before, after)` for dim `ndim - 1 - i` (PyTorch's order: the last dim
    /// first), the new elements `value`.
    pub fn constant_pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if pads.len() > self.ndim() {
            bail!(
                Value,
                "padding for {} dims of a {}-d tensor",
                pads.len(),
                self.ndim()
            );
        }
        let mut shape = self.shape().to_vec();
        // (dim, start, length) of the input inside the result.
        let mut middle = Vec::with_capacity(pads.len());
        for (i, &(lo, hi)) in pads.iter().enumerate() {
            let d = self.ndim() - 1 - i;
            middle.push((d as isize, lo as isize, shape[d]));
            shape[d] += lo + hi;
        }
        crate::ops::creation::check_alloc(&shape, self.dtype().size())?;
        let out = Tensor::full_on(&shape, value, self.dtype(), self.device())?;
        crate::ops::copy::write_into(&inside(&out, &middle)?, &self.detach())?;
        // (Its backward keeps only the ranges: a reusable node.)
        Ok(crate::autograd::reusable(record_differentiable(
            out,
            "ConstantPadNdBackward0",
            &[self],
            move |g| Ok(vec![Some(inside(g, &middle)?.contiguous()?)]),
        )))
    }
}

/// The view of `t` at `middle`'s `(dim, start, length)` ranges.
fn inside(t: &Tensor, middle: &[(isize, isize, usize)]) -> Result<Tensor> {
    let mut v = t.clone();
    for &(d, start, n) in middle {
        v = v.narrow(d, start, n)?;
    }
    Ok(v)
}
