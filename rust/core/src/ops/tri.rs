//! `tril` / `triu`: a copy of the last two dims' matrices with the elements on one side of a
//! diagonal zeroed, one backend pass (a row copy and a zero fill per row on the CPU) instead
//! of a comparison of index grids and a `where`. The backward is the same cut of the
//! gradient.

use crate::autograd::record_differentiable;
use crate::{backend, bail, Result, Tensor};

impl Tensor {
    /// The lower triangle: elements `(i, j)` of each matrix with `j <= i + diagonal` kept, the
    /// rest zero (PyTorch's `tril`).
    pub fn tril(&self, diagonal: i64) -> Result<Tensor> {
        self.tri(diagonal, false)
    }

    /// The upper triangle: elements with `j >= i + diagonal` kept (PyTorch's `triu`).
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        self.tri(diagonal, true)
    }

    fn tri(&self, diagonal: i64, upper: bool) -> Result<Tensor> {
        if self.ndim() < 2 {
            let name = if upper { "triu" } else { "tril" };
            bail!(Shape, "{name} expects at least 2 dims, got {}", self.ndim());
        }
        let (rows, cols) = (self.shape()[self.ndim() - 2], self.shape()[self.ndim() - 1]);
        // A diagonal past either edge keeps or drops everything: clamped there, so that
        // `i + diagonal` cannot overflow.
        let k = diagonal.clamp(-(rows as i64) - 1, cols as i64 + 1);
        let out = backend::of(self).tri(&self.detach(), k, upper)?;
        // (Its backward keeps nothing: a reusable node.)
        Ok(crate::autograd::reusable(record_differentiable(
            out,
            if upper {
                "TriuBackward0"
            } else {
                "TrilBackward0"
            },
            &[self],
            move |g| Ok(vec![Some(g.tri(k, upper)?)]),
        )))
    }
}
