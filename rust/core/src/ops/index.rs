//! Joining and indexing: `cat`, `stack`, `gather`/`scatter`/`scatter_add`,
//! `index_select`/`index_add`, NumPy-style advanced indexing and `index_put`, `where`,
//! `masked_fill`, `nonzero`.

use crate::autograd::{record_differentiable as record, Saved};
use crate::backend;
use crate::layout::{broadcast_shapes, normalize_dim};
use crate::ops::copy::{cast_raw, write_into};
use crate::ops::promote::result_type;
use crate::{bail, DType, Error, Result, Tensor};

/// `t` (the gradient of the `src` entries an index reaches) grown with zeros to `shape`:
/// `src` may be larger than the index along any dim, and its entries past the index get no
/// gradient.
fn zero_padded(mut t: Tensor, shape: &[usize]) -> Result<Tensor> {
    for (d, &want) in shape.iter().enumerate() {
        let have = t.shape()[d];
        if have < want {
            let mut fill = t.shape().to_vec();
            fill[d] = want - have;
            let zeros = Tensor::full_on(&fill, 0.0, t.dtype(), t.device())?;
            t = Tensor::cat(&[t, zeros], d as isize)?;
        }
    }
    Ok(t)
}

/// What `scatter` does at each target: write the source value (`scatter`) or add it
/// (`scatter_add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScatterMode {
    Write,
    Add,
}

impl ScatterMode {
    /// The op's name as the user calls it, for messages and kernel names.
    pub fn name(self) -> &'static str {
        match self {
            ScatterMode::Write => "scatter",
            ScatterMode::Add => "scatter_add",
        }
    }
}

impl Tensor {
    /// Concatenates along `dim` (dtypes promote; shapes must agree off `dim`).
    pub fn cat(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let Some(first) = tensors.iter().find(|t| !(t.ndim() == 1 && t.numel() == 0)) else {
            if tensors.is_empty() {
                bail!(Value, "cat expects a non-empty list of tensors");
            }
            // All empty: an empty tensor of the promoted dtype, in the graph of its inputs (each
            // gets an empty gradient), as every cat result.
            let refs: Vec<&Tensor> = tensors.iter().collect();
            let out = cast_raw(&tensors[0], result_type(&refs))?;
            if !out.dtype().is_float() || !refs.iter().any(|t| t.requires_grad()) {
                return Ok(out);
            }
            let dtypes: Vec<DType> = refs.iter().map(|t| t.dtype()).collect();
            return Ok(crate::autograd::reusable(record(
                out,
                "CatBackward",
                &refs,
                move |g| {
                    dtypes
                        .iter()
                        .map(|&dt| Ok(Some(Tensor::full_on(&[0], 0.0, dt, g.device())?)))
                        .collect()
                },
            )));
        };
        let nd = first.ndim();
        if nd == 0 {
            bail!(Shape, "zero-dimensional tensor cannot be concatenated");
        }
        let d = normalize_dim(dim, nd)?;
        let skipped = |t: &Tensor| t.ndim() == 1 && t.numel() == 0 && nd != 1;
        let parts: Vec<&Tensor> = tensors.iter().filter(|t| !skipped(t)).collect();
        let mut total = 0;
        for t in &parts {
            first.check_same_device(t)?;
            if t.ndim() != nd
                || t.shape()
                    .iter()
                    .enumerate()
                    .any(|(i, &n)| i != d && n != first.shape()[i])
            {
                let msg = format!(
                    "cat: sizes of tensors must match except in dimension {d}: got {:?} and {:?}",
                    first.shape(),
                    t.shape()
                );
                return Err(crate::Error::shape_mismatch("cat", &[first, t], msg));
            }
            total += t.shape()[d];
        }
        // The skipped legacy empties (`torch.tensor([])`, float32) still take part in the
        // promotion, as in PyTorch: `cat([acc, preds])` from `acc = tensor([])` is float.
        let dt = result_type(&tensors.iter().collect::<Vec<_>>());
        let mut shape = first.shape().to_vec();
        shape[d] = total;
        let out = Tensor::full_on(&shape, 0.0, dt, first.device())?;
        let mut start = 0;
        for t in &parts {
            let len = t.shape()[d];
            write_into(&out.with_layout(out.layout().slice(d, start, len, 1)), t)?;
            start += len;
        }
        // Every input is in the graph; a skipped legacy empty gets an empty gradient (len None).
        let sizes: Vec<(Option<usize>, DType)> = tensors
            .iter()
            .map(|t| ((!skipped(t)).then(|| t.shape()[d]), t.dtype()))
            .collect();
        let refs: Vec<&Tensor> = tensors.iter().collect();
        // (Its backward keeps the sizes only: a reusable node, as PyTorch's CatBackward.)
        Ok(crate::autograd::reusable(record(
            out,
            "CatBackward",
            &refs,
            move |g| {
                let mut s = 0;
                sizes
                    .iter()
                    .map(|&(len, dt)| {
                        let Some(len) = len else {
                            return Ok(Some(Tensor::full_on(&[0], 0.0, dt, g.device())?));
                        };
                        let r = g.slice(d as isize, s, s + len, 1)?.to_dtype(dt)?;
                        s += len;
                        Ok(Some(r))
                    })
                    .collect()
            },
        )))
    }

    pub fn stack(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        if tensors.is_empty() {
            bail!(Value, "stack expects a non-empty list of tensors");
        }
        let shape = tensors[0].shape();
        for t in tensors {
            if t.shape() != shape {
                let msg = format!(
                    "stack expects each tensor to be equal size, but got {:?} and {:?}",
                    shape,
                    t.shape()
                );
                return Err(crate::Error::shape_mismatch(
                    "stack",
                    &[&tensors[0], t],
                    msg,
                ));
            }
        }
        let d = normalize_dim(dim, tensors[0].ndim() + 1)? as isize;
        let parts: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<_>>()?;
        Tensor::cat(&parts, d)
    }

    /// `out[i][j] = self[index[i][j]][j]` (for dim 0), PyTorch's `gather`.
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        self.check_same_device(index)?;
        if self.ndim() == 0 && index.ndim() == 1 {
            // PyTorch reads a 0-d input as one element along dim 0.
            normalize_dim(dim, 0)?;
            return self.reshape(&[1])?.gather(0, index);
        }
        let nd = self.ndim().max(1);
        let d = normalize_dim(dim, nd)?;
        if index.ndim() != self.ndim() {
            bail!(
                Shape,
                "gather: index {:?} must have as many dims as input {:?}",
                index.shape(),
                self.shape()
            );
        }
        for i in 0..self.ndim() {
            if i != d && index.shape()[i] > self.shape()[i] {
                bail!(
                    Shape,
                    "gather: index {:?} is larger than input {:?} in dimension {}",
                    index.shape(),
                    self.shape(),
                    i
                );
            }
        }
        let out = backend::of(self).gather(self, d, index)?;
        let ix = save_indices(&[Some(index.clone())], &[self])?;
        let shape = self.shape().to_vec();
        let dt = self.dtype();
        Ok(record(out, "GatherBackward", &[self], move |g| {
            let ix = one_index(&ix)?;
            let z = Tensor::full_on(&shape, 0.0, dt, g.device())?;
            Ok(vec![Some(z.scatter_add(d as isize, &ix, g)?)])
        }))
    }

    /// Out-of-place `scatter_add`: `out = self; out[index[i][j]][j] += src[i][j]` (dim 0).
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, index, src, ScatterMode::Add)
    }

    /// Out-of-place `scatter`: `out = self; out[index[i][j]][j] = src[i][j]` (dim 0); for a
    /// repeated index the last write in row-major order wins (on the CPU).
    pub fn scatter(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, index, src, ScatterMode::Write)
    }

    fn scatter_impl(
        &self,
        dim: isize,
        index: &Tensor,
        src: &Tensor,
        mode: ScatterMode,
    ) -> Result<Tensor> {
        let op = mode.name();
        self.check_same_device(index)?;
        if self.ndim() == 0
            && index.ndim().max(src.ndim()) == 1
            && index.ndim().min(src.ndim()) <= 1
        {
            // A 0-d tensor takes its one element's writes along dim 0, as in PyTorch.
            normalize_dim(dim, 0)?;
            let (index, src) = (index.reshape(&[-1])?, src.reshape(&[-1])?);
            return self
                .reshape(&[1])?
                .scatter_impl(0, &index, &src, mode)?
                .reshape(&[]);
        }
        let d = normalize_dim(dim, self.ndim().max(1))?;
        if index.ndim() != self.ndim() || src.ndim() != self.ndim() {
            bail!(
                Shape,
                "{op}: index {:?}, src {:?} and self {:?} must have the same number of dims",
                index.shape(),
                src.shape(),
                self.shape()
            );
        }
        for i in 0..index.ndim() {
            if index.shape()[i] > src.shape()[i] || (i != d && index.shape()[i] > self.shape()[i]) {
                bail!(
                    Shape,
                    "{op}: index {:?} does not fit src {:?} / self {:?}",
                    index.shape(),
                    src.shape(),
                    self.shape()
                );
            }
        }
        let out = backend::of(self).scatter(self, d, index, src, mode)?;
        let saved_ix = save_indices(&[Some(index.clone())], &[self, src])?;
        let src_shape = src.shape().to_vec();
        let name = match mode {
            ScatterMode::Add => "ScatterAddBackward",
            ScatterMode::Write => "ScatterBackward",
        };
        Ok(record(out, name, &[self, src], move |g| {
            let ix = &one_index(&saved_ix)?;
            let gs = zero_padded(g.gather(d as isize, ix)?, &src_shape)?;
            if mode == ScatterMode::Add {
                return Ok(vec![Some(g.clone()), Some(gs)]);
            }
            // The written positions take no gradient back to `self` (PyTorch's
            // `grad.scatter(dim, index, 0)`).
            let zeros = Tensor::full_on(ix.shape(), 0.0, g.dtype(), g.device())?;
            Ok(vec![Some(g.scatter(d as isize, ix, &zeros)?), Some(gs)])
        }))
    }

    /// Selects entries along `dim` with a 1-D index.
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        if index.ndim() > 1 {
            bail!(
                Shape,
                "index_select: index must be 1-D, got shape {:?}",
                index.shape()
            );
        }
        if self.ndim() == 0 {
            // A 0-d tensor is one element along dim 0: one index picks it, 0-d again.
            normalize_dim(dim, 0)?;
            if index.numel() != 1 {
                bail!(
                    Index,
                    "index_select(): Index to scalar can have only 1 value, got {} value(s)",
                    index.numel()
                );
            }
            let one = self.reshape(&[1])?.index_select(0, &index.reshape(&[1])?)?;
            return one.reshape(&[]);
        }
        let d = normalize_dim(dim, self.ndim())?;
        // Unlike indexing with `[]`, PyTorch's index_select does not wrap negative indices.
        if index.numel() > 0 && !index.dtype().is_float() {
            let low = index.amin(None, false)?.item()?;
            if low < 0.0 {
                bail!(
                    Index,
                    "index_select(): index {low} is out of range for dimension {d} with size {}",
                    self.shape()[d]
                );
            }
        }
        let mut idx: Vec<Option<Tensor>> = vec![None; d];
        idx.push(Some(index.reshape(&[-1])?));
        self.index(&idx)
    }

    /// Out-of-place `index_add`: `source`'s slices along `dim` added at the 1-D `index`
    /// (repeats accumulate). An accumulating `index_put` of whole slices, not a `scatter_add`
    /// over an index as large as `source`; the caller checks the index range and shapes.
    pub fn index_add(&self, dim: isize, index: &Tensor, source: &Tensor) -> Result<Tensor> {
        let d = normalize_dim(dim, self.ndim())?;
        let mut idx: Vec<Option<Tensor>> = vec![None; d];
        idx.push(Some(index.reshape(&[-1])?));
        self.index_put(&idx, source, true)
    }

    /// NumPy advanced indexing: `indices[i]` is `None` (take the whole dim) or an integer index
    /// tensor; index tensors broadcast together. Bool masks must be converted with `nonzero` first.
    pub fn index(&self, indices: &[Option<Tensor>]) -> Result<Tensor> {
        let out = backend::of(self).index(self, indices)?;
        let shape = self.shape().to_vec();
        let dt = self.dtype();
        let saved = save_indices(indices, &[self])?;
        // (It keeps the integer indices only, no activation: a reusable node, so a second
        // backward through `flip` or `x[idx]` works.)
        Ok(crate::autograd::reusable(record(
            out,
            "IndexBackward",
            &[self],
            move |g| {
                let idx = saved_indices(&saved)?;
                let z = Tensor::full_on(&shape, 0.0, dt, g.device())?;
                if crate::autograd::is_grad_enabled() {
                    // `create_graph=True`: the scatter is recorded.
                    return Ok(vec![Some(z.index_put(&idx, g, true)?)]);
                }
                z.index_put_raw(&idx, g, true)?;
                Ok(vec![Some(z)])
            },
        )))
    }

    /// Writes (or with `accumulate`, adds) `values` at the advanced-indexed positions, in place and
    /// without autograd.
    pub fn index_put_raw(
        &self,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<()> {
        self.check_writable()?;
        backend::of(self).index_put(self, indices, values, accumulate)
    }

    /// Out-of-place `index_put` with autograd for both `self` and `values`.
    pub fn index_put(
        &self,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        let out = cast_raw(self, self.dtype())?;
        out.index_put_raw(indices, values, accumulate)?;
        let saved = save_indices(indices, &[self, values])?;
        let vshape = values.shape().to_vec();
        let vdt = values.dtype();
        Ok(record(out, "IndexPutBackward", &[self, values], move |g| {
            let idx = saved_indices(&saved)?;
            let gself = if accumulate {
                g.clone()
            } else if crate::autograd::is_grad_enabled() {
                g.index_put(&idx, &Tensor::wrapped_scalar(0.0f64), false)?
            } else {
                let z = g.detach().deep_clone()?;
                z.index_put_raw(&idx, &Tensor::wrapped_scalar(0.0f64), false)?;
                z
            };
            let gv = g.index(&idx)?.sum_to_shape(&vshape)?.to_dtype(vdt)?;
            Ok(vec![Some(gself), Some(gv)])
        }))
    }

    /// Indices of nonzero elements, shape `[n, ndim]` (int64).
    pub fn nonzero(&self) -> Result<Tensor> {
        backend::of(self).nonzero(self)
    }

    /// `cond ? self : other`, broadcasting all three.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        if cond.dtype() != DType::Bool {
            bail!(
                DType,
                "where expected condition to be a boolean tensor, but got {}",
                cond.dtype()
            );
        }
        let shape = broadcast_shapes(cond.shape(), a.shape())
            .and_then(|s| broadcast_shapes(&s, b.shape()))
            .map_err(|e| crate::Error::shape_mismatch("where", &[cond, a, b], e.to_string()))?;
        let dt = result_type(&[a, b]);
        if let Some(v) = crate::ops::overflow::wrapped_int_outside(&[a, b], dt) {
            return Err(crate::ops::overflow::overflow(v, dt));
        }
        let out = backend::of_operands(&[a, b, cond]).where_(cond, a, b, &shape, dt)?;
        let c = Saved::new(cond)?;
        let (sa, sb, da, db) = (a.shape().to_vec(), b.shape().to_vec(), a.dtype(), b.dtype());
        // (It keeps the boolean condition only, no activation: a reusable node, so a second
        // backward through `tril`, `triu` or `masked_fill` works.)
        Ok(crate::autograd::reusable(record(
            out,
            "WhereBackward",
            &[a, b],
            move |g| {
                let c = c.get()?;
                let zero = Tensor::wrapped_scalar(0.0f64);
                let ga = Tensor::where_(c, g, &zero)?;
                let gb = Tensor::where_(c, &zero, g)?;
                Ok(vec![
                    Some(crate::ops::binary::grad_for(ga, &sa, da)?),
                    Some(crate::ops::binary::grad_for(gb, &sb, db)?),
                ])
            },
        )))
    }

    /// Replaces elements where `mask` is true by `value` (keeps `self`'s dtype).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        if mask.dtype() != DType::Bool {
            bail!(
                DType,
                "masked_fill only supports boolean masks, but got mask with dtype {}",
                mask.dtype()
            );
        }
        // The result has the broadcast shape of `self` and `mask` (a larger mask widens it, as
        // in PyTorch; `masked_fill_` refuses that when it writes back).
        broadcast_shapes(self.shape(), mask.shape()).map_err(|_| {
            Error::Shape(format!(
                "masked_fill: mask of shape {:?} cannot be broadcast with {:?}",
                mask.shape(),
                self.shape()
            ))
        })?;
        let v = Tensor::full(&[], value, self.dtype())?;
        Tensor::where_(mask, &v, self)?.to_dtype(self.dtype())
    }

    /// Converts a boolean mask (covering the leading dims) into integer index tensors.
    pub fn mask_to_indices(mask: &Tensor) -> Result<Vec<Tensor>> {
        let nz = mask.nonzero()?;
        (0..mask.ndim())
            .map(|i| nz.select(1, i as isize)?.contiguous())
            .collect()
    }
}

/// The advanced part of an index key, checked the same way on every backend: which dims are
/// indexed, by which tensors, and the shape those tensors broadcast to (NumPy's rules and its
/// `IndexError` for a key that does not fit).
pub(crate) struct AdvKey<'a> {
    pub dims: Vec<usize>,
    pub tensors: Vec<&'a Tensor>,
    pub bshape: Vec<usize>,
}

impl<'a> AdvKey<'a> {
    pub(crate) fn new(t: &Tensor, indices: &'a [Option<Tensor>]) -> Result<AdvKey<'a>> {
        if indices.len() > t.ndim() {
            bail!(
                Index,
                "too many indices for tensor of dimension {} (got {})",
                t.ndim(),
                indices.len()
            );
        }
        let mut dims = Vec::new();
        let mut tensors = Vec::new();
        for (i, ix) in indices.iter().enumerate() {
            if let Some(ix) = ix {
                t.check_same_device(ix)?;
                dims.push(i);
                tensors.push(ix);
            }
        }
        if dims.is_empty() {
            bail!(Index, "advanced indexing needs at least one index tensor");
        }
        let mut bshape: Vec<usize> = Vec::new();
        for ix in &tensors {
            bshape = broadcast_shapes(&bshape, ix.shape()).map_err(|_| {
                crate::Error::Index(format!(
                    "shape mismatch: indexing tensors could not be broadcast together (shapes {:?})",
                    tensors.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>()
                ))
            })?;
        }
        Ok(AdvKey {
            dims,
            tensors,
            bshape,
        })
    }
}

/// Index tensors kept for a backward, version-checked as saved tensors are: an index changed
/// in place before the backward is PyTorch's "modified by an inplace operation" error, not a
/// gradient sent to the wrong place. Nothing is kept (nor packed by saved-tensor hooks) when
/// no input (`inputs`) records a backward.
fn save_indices(indices: &[Option<Tensor>], inputs: &[&Tensor]) -> Result<Vec<Option<Saved>>> {
    if !crate::autograd::is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
        return Ok(Vec::new());
    }
    indices
        .iter()
        .map(|i| i.as_ref().map(Saved::new).transpose())
        .collect()
}

/// The index tensors `save_indices` kept, checked unchanged.
fn saved_indices(saved: &[Option<Saved>]) -> Result<Vec<Option<Tensor>>> {
    saved
        .iter()
        .map(|s| s.as_ref().map(|s| s.get().cloned()).transpose())
        .collect()
}

/// The one index tensor `save_indices` kept (`gather`, `scatter`).
fn one_index(saved: &[Option<Saved>]) -> Result<Tensor> {
    match saved_indices(saved)?.pop().flatten() {
        Some(t) => Ok(t),
        None => bail!(
            Autograd,
            "internal: the index was not kept for this backward"
        ),
    }
}
