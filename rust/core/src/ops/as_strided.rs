//! `as_strided`: any geometry over a tensor's storage, as a view (PyTorch's), with the
//! gradient PyTorch gives it: summed over the storage positions the view reads (overlapping
//! windows add up) and read back in the input's own geometry.

use crate::autograd::record_view;
use crate::layout::Layout;
use crate::{bail, Result, Tensor};

/// The storage position of every element of `l`, in its element order.
fn positions(l: &Layout) -> Vec<i64> {
    l.offsets().map(|p| p as i64).collect()
}

impl Tensor {
    /// The view of `self`'s storage with shape `size`, strides `stride` and first element at
    /// `storage_offset` (default: `self`'s). It may read storage outside `self`'s own
    /// elements, and windows may overlap (sliding windows over a signal).
    pub fn as_strided(
        &self,
        size: &[usize],
        stride: &[usize],
        storage_offset: Option<usize>,
    ) -> Result<Tensor> {
        if size.len() != stride.len() {
            bail!(
                Shape,
                "as_strided(): mismatch in length of strides and shape ({} vs {})",
                stride.len(),
                size.len()
            );
        }
        let offset = storage_offset.unwrap_or(self.layout().offset);
        let out_layout = Layout {
            shape: size.to_vec(),
            strides: stride.to_vec(),
            offset,
        };
        let numel = crate::layout::checked_numel(size)?;
        if numel > 0 {
            let reach = size.iter().zip(stride).try_fold(offset, |acc, (&n, &s)| {
                (n - 1).checked_mul(s).and_then(|d| acc.checked_add(d))
            });
            let len = self.storage().len();
            match reach {
                Some(last) if last < len => {}
                _ => bail!(
                    Index,
                    "as_strided(): sizes {size:?}, strides {stride:?} and storage offset \
                     {offset} reach past the tensor's storage of {len} elements"
                ),
            }
        }
        let out = self.with_layout(out_layout.clone());
        let in_layout = self.layout().clone();
        let (dtype, device) = (self.dtype(), self.device());
        let back = move |g: &Tensor| -> Result<Tensor> {
            let (pin, pout) = (positions(&in_layout), positions(&out_layout));
            // An input whose elements share positions (an expanded tensor) shares each
            // position's gradient among them, as PyTorch's.
            let shared = !distinct(&pin);
            let lo = pin.iter().chain(&pout).copied().min().unwrap_or(0);
            let hi = pin.iter().chain(&pout).copied().max().map_or(0, |m| m + 1);
            let span = (hi - lo) as usize;
            let rebase = |p: Vec<i64>| -> Result<Tensor> {
                let n = p.len();
                Tensor::from_vec(p.into_iter().map(|x| x - lo).collect(), &[n])?.to_device(device)
            };
            let (pin_t, pout_t) = (rebase(pin)?, rebase(pout)?);
            // The gradient of each storage position: the sum over the view's elements there.
            let storage = Tensor::full_on(&[span], 0.0, dtype, device)?;
            let summed = storage.index_add(0, &pout_t, &g.reshape(&[-1])?)?;
            let mut gin = summed.index_select(0, &pin_t)?;
            if shared {
                let ones = Tensor::full_on(&[pin_t.numel()], 1.0, dtype, device)?;
                let count = Tensor::full_on(&[span], 0.0, dtype, device)?
                    .index_add(0, &pin_t, &ones)?
                    .index_select(0, &pin_t)?;
                gin = gin.div(&count)?;
            }
            let shape: Vec<isize> = in_layout.shape.iter().map(|&n| n as isize).collect();
            gin.reshape(&shape)
        };
        let back_into = back.clone();
        Ok(record_view(
            out,
            "AsStridedBackward0",
            self,
            move |g| Ok(vec![Some(back(g)?)]),
            move |acc, g| acc.add_(&back_into(&g.detach())?, 1.0),
        ))
    }
}

/// Whether the positions in `p` are all different.
fn distinct(p: &[i64]) -> bool {
    let mut v = p.to_vec();
    v.sort_unstable();
    v.windows(2).all(|w| w[0] != w[1])
}
