//! View ops: new layouts over the same storage (no copy), each with its gradient rule.

use crate::autograd::record_differentiable as record;
use crate::autograd::reusable;
use crate::layout::{infer_shape, normalize_dim, Layout};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

fn to_isize(shape: &[usize]) -> Vec<isize> {
    shape.iter().map(|&n| n as isize).collect()
}

impl Tensor {
    /// Reshape without copying; fails when the strides do not allow it.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        let new = infer_shape(shape, self.numel(), self.shape())?;
        let Some(l) = self.layout().view(&new) else {
            bail!(
                Shape,
                "view size {:?} is not compatible with input tensor's size {:?} and stride {:?}; use reshape() instead",
                shape,
                self.shape(),
                self.strides()
            );
        };
        let old = to_isize(self.shape());
        Ok(reusable(record(
            self.with_layout(l),
            "ViewBackward",
            &[self],
            move |g| Ok(vec![Some(g.reshape(&old)?)]),
        )))
    }

    /// Reshape, viewing when possible and copying otherwise.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let new = infer_shape(shape, self.numel(), self.shape())?;
        if self.layout().view(&new).is_some() {
            self.view(shape)
        } else {
            self.contiguous()?.view(shape)
        }
    }

    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            // A 0-d tensor has one dim to name (0 or -1), as in PyTorch.
            normalize_dim(start, 1)?;
            normalize_dim(end, 1)?;
            return self.reshape(&[1]);
        }
        let s = normalize_dim(start, self.ndim())?;
        let e = normalize_dim(end, self.ndim())?;
        if s > e {
            bail!(
                Value,
                "flatten() has invalid args: start_dim {} cannot come after end_dim {}",
                start,
                end
            );
        }
        let mut shape: Vec<isize> = to_isize(&self.shape()[..s]);
        shape.push(self.shape()[s..=e].iter().product::<usize>() as isize);
        shape.extend(to_isize(&self.shape()[e + 1..]));
        self.reshape(&shape)
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        let nd = self.ndim();
        let d: Vec<usize> = dims
            .iter()
            .map(|&x| normalize_dim(x, nd))
            .collect::<Result<_>>()?;
        let l = self.layout().permute(&d)?;
        let inv: Vec<isize> = crate::layout::inverse_permutation(&d)
            .into_iter()
            .map(|i| i as isize)
            .collect();
        Ok(reusable(record(
            self.with_layout(l),
            "PermuteBackward",
            &[self],
            move |g| Ok(vec![Some(g.permute(&inv)?)]),
        )))
    }

    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            normalize_dim(a, 1)?;
            normalize_dim(b, 1)?;
            return Ok(self.alias("TransposeBackward"));
        }
        let a = normalize_dim(a, self.ndim())?;
        let b = normalize_dim(b, self.ndim())?;
        let l = self.layout().transpose(a, b);
        Ok(reusable(record(
            self.with_layout(l),
            "TransposeBackward",
            &[self],
            move |g| Ok(vec![Some(g.transpose(a as isize, b as isize)?)]),
        )))
    }

    /// A view with this tensor's own layout (a view op that changes nothing): a new tensor,
    /// as PyTorch's, so that it has its own history, hooks and `.grad`.
    pub(crate) fn alias(&self, name: &'static str) -> Tensor {
        reusable(record(
            self.with_layout(self.layout().clone()),
            name,
            &[self],
            |g| Ok(vec![Some(g.clone())]),
        ))
    }

    /// `.T`: reverses all dims.
    pub fn t(&self) -> Result<Tensor> {
        let dims: Vec<isize> = (0..self.ndim() as isize).rev().collect();
        self.permute(&dims)
    }

    /// Broadcasts to `shape` with zero strides.
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.alias("ExpandBackward"));
        }
        crate::layout::checked_numel(shape)?;
        let l = self.layout().broadcast_to(shape)?;
        let orig = self.shape().to_vec();
        Ok(reusable(record(
            self.with_layout(l),
            "ExpandBackward",
            &[self],
            move |g| Ok(vec![Some(g.sum_to_shape(&orig)?)]),
        )))
    }

    /// `expand` with PyTorch's `-1` meaning "keep this dim".
    pub fn expand_isize(&self, shape: &[isize]) -> Result<Tensor> {
        let extra = shape.len().checked_sub(self.ndim()).ok_or_else(|| {
            crate::Error::Shape(format!(
                "cannot expand shape {:?} to {:?}",
                self.shape(),
                shape
            ))
        })?;
        let s = shape
            .iter()
            .enumerate()
            .map(|(i, &n)| match n {
                -1 if i >= extra => Ok(self.shape()[i - extra]),
                -1 => Err(crate::Error::Shape(format!(
                    "expand: -1 is not allowed in a leading, non-existing dimension ({i}) when \
                     expanding {:?} to {:?}",
                    self.shape(),
                    shape
                ))),
                n if n < 0 => Err(crate::Error::Shape(format!(
                    "expand: invalid size {n} in {shape:?} (sizes must be non-negative or -1)"
                ))),
                n => Ok(n as usize),
            })
            .collect::<Result<Vec<usize>>>()?;
        self.expand(&s)
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.ndim() + 1)?;
        let l = self.layout().unsqueeze(d);
        Ok(reusable(record(
            self.with_layout(l),
            "UnsqueezeBackward",
            &[self],
            move |g| Ok(vec![Some(g.squeeze(Some(d as isize))?)]),
        )))
    }

    /// Removes size-1 dims (all of them, or only `dim`).
    pub fn squeeze(&self, dim: Option<isize>) -> Result<Tensor> {
        let shape: Vec<isize> = match dim {
            Some(d) => {
                if self.ndim() == 0 {
                    return Ok(self.alias("SqueezeBackward"));
                }
                let d = normalize_dim(d, self.ndim())?;
                if self.shape()[d] != 1 {
                    return Ok(self.alias("SqueezeBackward"));
                }
                let mut s = to_isize(self.shape());
                s.remove(d);
                s
            }
            None => self
                .shape()
                .iter()
                .filter(|&&n| n != 1)
                .map(|&n| n as isize)
                .collect(),
        };
        self.view(&shape)
    }

    /// Normalises `dim` for an op that needs an actual dimension (refusing 0-d tensors).
    fn existing_dim(&self, dim: isize, op: &str) -> Result<usize> {
        if self.ndim() == 0 {
            bail!(
                Index,
                "{op}() cannot be applied to a 0-dim tensor (dim {dim} was given)"
            );
        }
        normalize_dim(dim, self.ndim())
    }

    /// Elements `start..end` stepping by `step` along `dim` (Python slice semantics already applied).
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        if step == 0 {
            bail!(Value, "slice step cannot be zero");
        }
        let d = self.existing_dim(dim, "slice")?;
        let n = self.shape()[d];
        let start = start.min(n);
        let end = end.min(n).max(start);
        let len = (end - start).div_ceil(step);
        // With at most one element the step is never taken: keep the stride small (a step of
        // 10**20 would make a stride no consumer of the layout could represent).
        let step = if len <= 1 { 1 } else { step };
        Ok(self.sub_view("SliceBackward", move |l| l.slice(d, start, len, step)))
    }

    /// `narrow(dim, start, length)`.
    pub fn narrow(&self, dim: isize, start: isize, length: usize) -> Result<Tensor> {
        let d = self.existing_dim(dim, "narrow")?;
        let n = self.shape()[d] as isize;
        let s = if start < 0 { start + n } else { start };
        if s < 0 || s as usize + length > n as usize {
            bail!(
                Index,
                "narrow: start ({}) + length ({}) exceeds dimension size ({}) of shape {:?}",
                start,
                length,
                n,
                self.shape()
            );
        }
        self.slice(d as isize, s as usize, s as usize + length, 1)
    }

    /// Fixes `dim` at `index` (negative counts from the end), dropping the dimension.
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let d = self.existing_dim(dim, "select")?;
        let n = self.shape()[d] as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            bail!(
                Index,
                "index {} is out of bounds for dimension {} with size {}",
                index,
                d,
                n
            );
        }
        let i = i as usize;
        Ok(self.sub_view("SelectBackward", move |l| l.select(d, i)))
    }

    /// `diagonal(offset, dim1, dim2)`: a view of the `offset`-th diagonal (above the main one
    /// when positive) of the matrices in `dim1`/`dim2`, as the last dim (PyTorch's view).
    pub fn diagonal(&self, offset: isize, dim1: isize, dim2: isize) -> Result<Tensor> {
        let nd = self.ndim();
        if nd < 2 {
            bail!(
                Index,
                "diagonal: Dimension out of range: needs at least 2 dimensions, got {}",
                nd
            );
        }
        let (d1, d2) = (normalize_dim(dim1, nd)?, normalize_dim(dim2, nd)?);
        if d1 == d2 {
            bail!(
                Value,
                "diagonal dimensions cannot be identical {}, {}",
                dim1,
                dim2
            );
        }
        Ok(self.sub_view("DiagonalBackward", move |l| l.diagonal(offset, d1, d2)))
    }

    /// `unfold(dim, size, step)`: the windows of `size` elements `step` apart along `dim`, as
    /// a view (PyTorch's): that dim counts the windows, a new last dim runs through each. A
    /// 0-d tensor is one element.
    pub fn unfold(&self, dim: isize, size: usize, step: usize) -> Result<Tensor> {
        if step == 0 {
            bail!(Value, "unfold(): step is 0 but must be > 0");
        }
        if self.ndim() == 0 {
            normalize_dim(dim, 0)?; // (0 and -1 name a 0-d tensor's one dim)
            if size > 1 {
                bail!(
                    Shape,
                    "unfold(): maximum size for a 0-dim tensor is 1 but size is {size}"
                );
            }
            return self.reshape(&[1])?.narrow(0, 0, size);
        }
        let d = normalize_dim(dim, self.ndim())?;
        let n = self.shape()[d];
        if size > n {
            bail!(
                Shape,
                "unfold(): maximum size for tensor at dimension {d} is {n} but size is {size}"
            );
        }
        let windows = (n - size) / step + 1;
        let (in_shape, dtype) = (self.shape().to_vec(), self.dtype());
        let out = self.with_layout(self.layout().unfold(d, size, step, windows));
        Ok(crate::autograd::record_view(
            out,
            "UnfoldBackward",
            self,
            move |g| {
                let z = Tensor::full_on(&in_shape, 0.0, dtype, g.device())?;
                fold_windows(&z, &g.detach(), d, size, step, windows)?;
                // Recorded (when a backward builds a graph): the adjoint of the fold unfolds.
                Ok(vec![Some(reusable(record(
                    z,
                    "UnfoldScatterBackward",
                    &[g],
                    move |gg| Ok(vec![Some(gg.unfold(d as isize, size, step)?)]),
                )))])
            },
            move |acc, g| fold_windows(acc, g, d, size, step, windows),
        ))
    }

    /// The view of `self` through `view` (a slice, a select), recorded as `name`: its backward
    /// writes the gradient into zeros of `self`'s shape through the same `view`.
    fn sub_view(
        &self,
        name: &'static str,
        view: impl Fn(&Layout) -> Layout + Send + Sync + 'static,
    ) -> Tensor {
        self.sub_view_shared(name, Arc::new(view))
    }

    fn sub_view_shared(&self, name: &'static str, view: ViewFn) -> Tensor {
        let (in_shape, dtype) = (self.shape().to_vec(), self.dtype());
        let into = view.clone();
        crate::autograd::record_view(
            self.with_layout(view(self.layout())),
            name,
            self,
            move |g| {
                let z = Tensor::full_on(&in_shape, 0.0, dtype, g.device())?;
                crate::ops::copy::write_into(&z.with_layout(view(z.layout())), g)?;
                // Recorded (when a backward builds a graph): its own gradient takes the view.
                let v = view.clone();
                Ok(vec![Some(reusable(record(
                    z,
                    "ViewScatterBackward",
                    &[g],
                    move |gg| Ok(vec![Some(gg.sub_view_shared(name, v.clone()))]),
                )))])
            },
            move |acc, g| acc.with_layout(into(acc.layout())).add_(g, 1.0),
        )
    }

    /// Splits into chunks of `size` along `dim` (the last may be smaller).
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Tensor>> {
        if size == 0 {
            bail!(Value, "split size must be positive");
        }
        let d = self.existing_dim(dim, "split")?;
        let n = self.shape()[d];
        let mut out = Vec::new();
        let mut s = 0;
        while s < n {
            let e = (s + size).min(n);
            out.push(self.slice(d as isize, s, e, 1)?);
            s = e;
        }
        Ok(out)
    }

    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            bail!(Value, "chunk expects chunks to be greater than 0");
        }
        let d = self.existing_dim(dim, "chunk")?;
        let n = self.shape()[d];
        self.split(n.div_ceil(chunks).max(1), dim)
    }

    pub fn unbind(&self, dim: isize) -> Result<Vec<Tensor>> {
        let d = self.existing_dim(dim, "unbind")?;
        (0..self.shape()[d])
            .map(|i| self.select(d as isize, i as isize))
            .collect()
    }
}

/// A view's layout from its base's (shared by a sub-view and its gradient's adjoint).
type ViewFn = Arc<dyn Fn(&Layout) -> Layout + Send + Sync>;

/// Adds the windows' gradient `g` (`unfold`'s output shape) into `acc` where each window was
/// read: one strided add per offset within a window, each touching distinct elements, so the
/// overlaps of overlapping windows sum.
fn fold_windows(
    acc: &Tensor,
    g: &Tensor,
    d: usize,
    size: usize,
    step: usize,
    windows: usize,
) -> Result<()> {
    for j in 0..size {
        let into = acc.with_layout(acc.layout().slice(d, j, windows, step));
        into.add_(&g.with_layout(g.layout().select(g.ndim() - 1, j)), 1.0)?;
    }
    Ok(())
}
