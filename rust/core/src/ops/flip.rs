//! `flip`: a copy with the order of elements reversed along some dims, one backend pass (each
//! output row copied from its mirrored source row, reversed when the last dim is flipped)
//! instead of an index gather per dim. Its backward flips the gradient back.

use crate::autograd::record_differentiable;
use crate::layout::normalize_dim;
use crate::{backend, bail, Result, Tensor};

impl Tensor {
    /// The elements in reverse order along each of `dims` (PyTorch's `flip`; a dim named
    /// twice is an error, no dims a copy).
    pub fn flip(&self, dims: &[isize]) -> Result<Tensor> {
        let mut ds: Vec<usize> = Vec::with_capacity(dims.len());
        for &d in dims {
            let d = normalize_dim(d, self.ndim().max(1))?;
            if ds.contains(&d) {
                bail!(Value, "dim {d} appears multiple times in the list of dims");
            }
            ds.push(d);
        }
        ds.sort_unstable();
        let out = if self.ndim() == 0 || ds.is_empty() || self.numel() == 0 {
            crate::ops::copy::cast_raw(self, self.dtype())?
        } else {
            backend::of(self).flip(&self.detach(), &ds)?
        };
        let back: Vec<isize> = ds.iter().map(|&d| d as isize).collect();
        // (Its backward keeps nothing: a reusable node.)
        Ok(crate::autograd::reusable(record_differentiable(
            out,
            "FlipBackward0",
            &[self],
            move |g| Ok(vec![Some(g.flip(&back)?)]),
        )))
    }
}
