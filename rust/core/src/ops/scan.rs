//! Running sums and products along a dim (`cumsum`, `cumprod`), one backend pass each. The
//! sum's backward is the reverse running sum of its gradient (itself recorded, so gradients of
//! gradients nest); the product's gradient, exact at zeros, is composed in the Python layer,
//! which asks for this native pass only where no gradient is needed.

use crate::autograd::{is_grad_enabled, record_differentiable};
use crate::layout::normalize_dim;
use crate::{backend, bail, DType, Result, Tensor};

impl Tensor {
    /// Running sums along `dim` (from the end when `reverse`), in this tensor's dtype:
    /// floating point, int64 or int32 (which wraps, as PyTorch's `cumsum(dtype=int32)`; the
    /// caller promotes other integers).
    pub fn cumsum_along(&self, dim: isize, reverse: bool) -> Result<Tensor> {
        let d = self.scan_dim("cumsum", dim)?;
        let out = self.scan_raw(d, false, reverse)?;
        // (Its backward keeps nothing: a reusable node.)
        Ok(crate::autograd::reusable(record_differentiable(
            out,
            "CumsumBackward0",
            &[self],
            move |g| Ok(vec![Some(g.cumsum_along(d as isize, !reverse)?)]),
        )))
    }

    /// Running products along `dim`, without a gradient: refused where one would be needed
    /// (the differentiable form, exact at zeros, is composed from elementwise ops).
    pub fn cumprod_along(&self, dim: isize, reverse: bool) -> Result<Tensor> {
        let d = self.scan_dim("cumprod", dim)?;
        if self.requires_grad() && is_grad_enabled() {
            bail!(
                Autograd,
                "cumprod_along records no gradient; use the differentiable cumprod for a tensor \
                 that requires grad"
            );
        }
        self.scan_raw(d, true, reverse)
    }

    /// The scanned dim of `op`, checked: a 0-d tensor scans as one element (dim 0 or -1).
    fn scan_dim(&self, op: &str, dim: isize) -> Result<usize> {
        if !(self.dtype().is_float() || self.dtype().is_int()) {
            bail!(
                DType,
                "{op}: expected a floating point or integer tensor, got {} (promote it first)",
                self.dtype()
            );
        }
        normalize_dim(dim, self.ndim().max(1))
    }

    fn scan_raw(&self, d: usize, prod: bool, reverse: bool) -> Result<Tensor> {
        if self.dtype().is_int() && self.dtype() != DType::I64 {
            // Scanned in int64 and narrowed: the same wrapped values as a narrower scan.
            let wide = self.detach().to_dtype(DType::I64)?;
            return wide.scan_raw(d, prod, reverse)?.to_dtype(self.dtype());
        }
        if self.ndim() == 0 {
            let one = self.detach().reshape(&[1])?;
            return backend::of(self).scan(&one, 0, prod, reverse)?.reshape(&[]);
        }
        backend::of(self).scan(&self.detach(), d, prod, reverse)
    }
}
