//! Dropout on the CPU: a mask of 0 or `1/(1-p)` in the input's dtype, drawn from the global
//! generator, multiplied in; the backward multiplies the gradient by the same mask.

use crate::{Result, Tensor};

pub(super) fn dropout_forward(x: &Tensor, p: f64) -> Result<(Tensor, Tensor)> {
    let mask = Tensor::dropout_mask(x.shape(), p, x.dtype())?;
    let _off = crate::autograd::GradModeGuard::new(false);
    Ok((x.mul(&mask)?, mask))
}

pub(super) fn dropout_backward(g: &Tensor, mask: &Tensor, _p: f64) -> Result<Tensor> {
    g.mul(mask)
}
