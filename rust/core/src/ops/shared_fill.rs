//! Constant writes into an `expand`ed view, whose elements share memory locations. Other
//! in-place ops refuse such a tensor (the write would race with itself), but PyTorch lets
//! `fill_`, `zero_`, `masked_fill_`, `index_fill_` and `x[key] = number` through: every
//! element sharing a location gets the same constant, so each location is written once.

use crate::{DType, Result, Tensor};

impl Tensor {
    /// Dims along which elements share one memory location (stride 0, length > 1).
    pub fn expanded_dims(&self) -> Vec<isize> {
        let l = self.layout();
        if l.shape.contains(&0) {
            return Vec::new();
        }
        (0..l.ndim())
            .filter(|&d| l.shape[d] > 1 && l.strides[d] == 0)
            .map(|d| d as isize)
            .collect()
    }

    /// This tensor with each expanded dim cut to length 1: the same memory, each location once.
    fn distinct_view(&self, dims: &[isize]) -> Result<Tensor> {
        dims.iter()
            .try_fold(self.clone(), |t, &d| t.narrow(d, 0, 1))
    }

    /// `fill_` without autograd that accepts an expanded view.
    pub(crate) fn fill_shared_(&self, value: f64) -> Result<()> {
        let dims = self.expanded_dims();
        crate::ops::copy::fill_raw(&self.distinct_view(&dims)?, value)
    }

    /// Writes the 0-d `value` wherever `mask` (broadcast to this shape) holds, without
    /// autograd, into a tensor that may be an expanded view: a location is written when any
    /// element sharing it is selected.
    pub fn masked_fill_shared_(&self, mask: &Tensor, value: &Tensor) -> Result<()> {
        let dims = self.expanded_dims();
        let mut mask = mask.expand(self.shape())?;
        if !dims.is_empty() {
            mask = mask
                .to_dtype(DType::U8)?
                .amax(Some(&dims), true)?
                .to_dtype(DType::Bool)?;
        }
        let target = self.distinct_view(&dims)?;
        let filled = Tensor::where_(&mask, &value.to_dtype(self.dtype())?, &target)?;
        target.copy_(&filled)
    }
}
