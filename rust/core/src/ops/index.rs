//! Joining and indexing: `cat`, `stack`, `gather`/`scatter_add`, `index_select`/`index_add`,
//! NumPy-style advanced indexing and `index_put`, `where`, `masked_fill`, `nonzero`.

use crate::autograd::{record, Saved};
use crate::layout::{broadcast_shapes, normalize_dim, Layout};
use crate::ops::copy::{cast_raw, write_into};
use crate::ops::kernel::map3;
use crate::ops::promote::result_type;
use crate::{bail, with_dtype, DType, Element, Result, Tensor};

/// Int64 contents of an index tensor, checked to be integral.
fn index_values(index: &Tensor, what: &str) -> Result<Vec<i64>> {
    if !index.dtype().is_int() {
        bail!(
            DType,
            "{what}: expected an int64 or int32 index tensor, got {}",
            index.dtype()
        );
    }
    cast_raw(index, DType::I64)?.to_vec::<i64>()
}

fn wrap_index(i: i64, n: usize, dim: usize) -> Result<usize> {
    let j = if i < 0 { i + n as i64 } else { i };
    if j < 0 || j >= n as i64 {
        bail!(
            Index,
            "index {} is out of bounds for dimension {} with size {}",
            i,
            dim,
            n
        );
    }
    Ok(j as usize)
}

/// `i` as a position along a dim of size `n`, negatives refused: `gather` and `scatter_add`
/// take indices as they are, as PyTorch and the CUDA kernels do (no wrapping from the end).
fn check_index(i: i64, n: usize, dim: usize) -> Result<usize> {
    if i < 0 {
        bail!(
            Index,
            "index {} is out of bounds for dimension {} with size {}",
            i,
            dim,
            n
        );
    }
    wrap_index(i, n, dim)
}

/// Iterates the multi-indices of `shape` in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize]) -> Result<()>) -> Result<()> {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        f(&idx)?;
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

impl Tensor {
    /// Concatenates along `dim` (dtypes promote; shapes must agree off `dim`).
    pub fn cat(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let Some(first) = tensors.iter().find(|t| !(t.ndim() == 1 && t.numel() == 0)) else {
            if tensors.is_empty() {
                bail!(Value, "cat expects a non-empty list of tensors");
            }
            return Ok(tensors[0].clone());
        };
        let nd = first.ndim();
        if nd == 0 {
            bail!(Shape, "zero-dimensional tensor cannot be concatenated");
        }
        let d = normalize_dim(dim, nd)?;
        let parts: Vec<&Tensor> = tensors
            .iter()
            .filter(|t| !(t.ndim() == 1 && t.numel() == 0 && nd != 1))
            .collect();
        let mut total = 0;
        for t in &parts {
            first.check_same_device(t)?;
            if t.ndim() != nd
                || t.shape()
                    .iter()
                    .enumerate()
                    .any(|(i, &n)| i != d && n != first.shape()[i])
            {
                bail!(
                    Shape,
                    "cat: sizes of tensors must match except in dimension {}: got {:?} and {:?}",
                    d,
                    first.shape(),
                    t.shape()
                );
            }
            total += t.shape()[d];
        }
        let dt = result_type(&parts);
        let mut shape = first.shape().to_vec();
        shape[d] = total;
        let out = Tensor::full_on(&shape, 0.0, dt, first.device())?;
        let mut start = 0;
        let mut sizes = Vec::new();
        for t in &parts {
            let len = t.shape()[d];
            write_into(&out.with_layout(out.layout().slice(d, start, len, 1)), t)?;
            sizes.push((len, t.dtype()));
            start += len;
        }
        let refs: Vec<&Tensor> = parts.to_vec();
        Ok(record(out, "CatBackward", &refs, move |g| {
            let mut s = 0;
            sizes
                .iter()
                .map(|&(len, dt)| {
                    let r = g.slice(d as isize, s, s + len, 1)?.to_dtype(dt)?;
                    s += len;
                    Ok(Some(r))
                })
                .collect()
        }))
    }

    pub fn stack(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        if tensors.is_empty() {
            bail!(Value, "stack expects a non-empty list of tensors");
        }
        let shape = tensors[0].shape();
        for t in tensors {
            if t.shape() != shape {
                bail!(
                    Shape,
                    "stack expects each tensor to be equal size, but got {:?} and {:?}",
                    shape,
                    t.shape()
                );
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
        if self.device().is_cuda() {
            return crate::cuda::ops::index::gather(self, d, index);
        }
        let idx = index_values(index, "gather")?;
        let l = self.layout().clone();
        let size_d = if self.ndim() == 0 { 1 } else { self.shape()[d] };
        let out = with_dtype!(self.dtype(), T => {
            let s = self.storage().as_slice::<T>();
            let mut out = Vec::with_capacity(idx.len());
            let mut k = 0;
            for_each_index(index.shape(), |pos| {
                let j = check_index(idx[k], size_d, d)?;
                k += 1;
                let mut off = l.offset;
                for (a, &p) in pos.iter().enumerate() {
                    off += if a == d { j } else { p } * l.strides[a];
                }
                out.push(s[off]);
                Ok(())
            })?;
            Tensor::from_vec(out, index.shape())?
        });
        let ix = index.clone();
        let shape = self.shape().to_vec();
        let dt = self.dtype();
        Ok(record(out, "GatherBackward", &[self], move |g| {
            let z = Tensor::full_on(&shape, 0.0, dt, g.device())?;
            Ok(vec![Some(z.scatter_add(d as isize, &ix, g)?)])
        }))
    }

    /// Out-of-place `scatter_add`: `out = self; out[index[i][j]][j] += src[i][j]` (dim 0).
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        let d = normalize_dim(dim, self.ndim().max(1))?;
        if index.ndim() != self.ndim() || src.ndim() != self.ndim() {
            bail!(
                Shape,
                "scatter_add: index {:?}, src {:?} and self {:?} must have the same number of dims",
                index.shape(),
                src.shape(),
                self.shape()
            );
        }
        for i in 0..index.ndim() {
            if index.shape()[i] > src.shape()[i] || (i != d && index.shape()[i] > self.shape()[i]) {
                bail!(
                    Shape,
                    "scatter_add: index {:?} does not fit src {:?} / self {:?}",
                    index.shape(),
                    src.shape(),
                    self.shape()
                );
            }
        }
        if self.device().is_cuda() {
            return crate::cuda::ops::index::scatter_add(self, d, index, src);
        }
        self.check_same_device(src)?;
        self.check_same_device(index)?;
        let idx = index_values(index, "scatter_add")?;
        let out = cast_raw(self, self.dtype())?;
        let src_c = src.to_dtype(self.dtype())?;
        let sl = src_c.layout().clone();
        let size_d = if self.ndim() == 0 { 1 } else { self.shape()[d] };
        let ostrides = out.strides().to_vec();
        with_dtype!(self.dtype(), T => {
            let s = src_c.storage().as_slice::<T>();
            // SAFETY: `out` is a fresh contiguous tensor no one else references.
            let o = unsafe { out.storage().as_mut_slice::<T>() };
            let mut k = 0;
            for_each_index(index.shape(), |pos| {
                let j = check_index(idx[k], size_d, d)?;
                k += 1;
                let mut oo = 0;
                let mut so = sl.offset;
                for (a, &p) in pos.iter().enumerate() {
                    oo += if a == d { j } else { p } * ostrides[a];
                    so += p * sl.strides[a];
                }
                o[oo] = add_elem(o[oo], s[so]);
                Ok(())
            })?;
        });
        let ix = index.clone();
        let ix_shape = index.shape().to_vec();
        Ok(record(out, "ScatterAddBackward", &[self, src], move |g| {
            let gs = g.gather(d as isize, &ix)?;
            let _ = &ix_shape;
            Ok(vec![Some(g.clone()), Some(gs)])
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
        let d = normalize_dim(dim, self.ndim())?;
        let mut idx: Vec<Option<Tensor>> = vec![None; d];
        idx.push(Some(index.reshape(&[-1])?));
        self.index(&idx)
    }

    /// NumPy advanced indexing: `indices[i]` is `None` (take the whole dim) or an integer index
    /// tensor; index tensors broadcast together. Bool masks must be converted with `nonzero` first.
    pub fn index(&self, indices: &[Option<Tensor>]) -> Result<Tensor> {
        if self.device().is_cuda() {
            return crate::cuda::ops::index::index(self, indices);
        }
        let plan = AdvPlan::new(self, indices)?;
        let offs = plan.offsets(self.layout())?;
        let raw = with_dtype!(self.dtype(), T => {
            let s = self.storage().as_slice::<T>();
            Tensor::from_vec(offs.iter().map(|&o| s[o]).collect::<Vec<T>>(), &plan.bmajor_shape)?
        });
        // A new tensor (not a view of the private gather buffer), so in-place ops on it are fine.
        let fin = plan.to_final(&raw)?.contiguous()?;
        let out = Tensor::from_storage(fin.storage().clone(), fin.layout().clone())?;
        let shape = self.shape().to_vec();
        let dt = self.dtype();
        let idx: Vec<Option<Tensor>> = indices.to_vec();
        Ok(record(out, "IndexBackward", &[self], move |g| {
            let z = Tensor::full_on(&shape, 0.0, dt, g.device())?;
            z.index_put_raw(&idx, g, true)?;
            Ok(vec![Some(z)])
        }))
    }

    /// Writes (or with `accumulate`, adds) `values` at the advanced-indexed positions, in place and
    /// without autograd.
    pub fn index_put_raw(
        &self,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<()> {
        if self.device().is_cuda() {
            return crate::cuda::ops::index::index_put(self, indices, values, accumulate);
        }
        if values.device() != self.device() {
            // Only a CPU scalar may meet a CPU destination here; anything else is an error.
            self.check_same_device(values)?;
        }
        let plan = AdvPlan::new(self, indices)?;
        let offs = plan.offsets(self.layout())?;
        let v = values
            .to_dtype(self.dtype())?
            .detach()
            .expand(&plan.final_shape)?;
        let vb = plan.final_to_bmajor(&v)?;
        let vb = cast_raw(&vb, self.dtype())?;
        with_dtype!(self.dtype(), T => {
            let src = vb.storage().as_slice::<T>();
            // SAFETY: `vb` is a fresh buffer, so it cannot alias `self`.
            let dst = unsafe { self.storage().as_mut_slice::<T>() };
            for (i, &o) in offs.iter().enumerate() {
                dst[o] = if accumulate { add_elem(dst[o], src[i]) } else { src[i] };
            }
        });
        self.storage().bump_version();
        Ok(())
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
        let idx: Vec<Option<Tensor>> = indices.to_vec();
        let vshape = values.shape().to_vec();
        let vdt = values.dtype();
        Ok(record(out, "IndexPutBackward", &[self, values], move |g| {
            let gself = if accumulate {
                g.clone()
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
        if self.device().is_cuda() {
            // The output size depends on the data, so the host needs the mask anyway (PyTorch
            // syncs too): one bool per element comes over, the indices go back.
            let b = cast_raw(self, DType::Bool)?;
            let host = crate::cuda::ops::to_device(&b, crate::Device::Cpu)?;
            return crate::cuda::ops::to_device(&host.nonzero()?, self.device());
        }
        let b = cast_raw(self, DType::Bool)?;
        let v = b.to_vec::<bool>()?;
        let mut out = Vec::new();
        let mut count = 0;
        let mut k = 0;
        for_each_index(self.shape(), |pos| {
            if v[k] {
                out.extend(pos.iter().map(|&p| p as i64));
                count += 1;
            }
            k += 1;
            Ok(())
        })?;
        Tensor::from_vec(out, &[count, self.ndim()])
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
        let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), a.shape())?, b.shape())?;
        let dt = result_type(&[a, b]);
        let on_cuda = [cond, a, b].iter().find(|t| t.device().is_cuda()).copied();
        let out = if let Some(like) = on_cuda {
            use crate::cuda::ops::{align_device, elementwise};
            let (c, x, y) = (
                align_device(cond, like)?,
                align_device(a, like)?,
                align_device(b, like)?,
            );
            let x = if x.dtype() == dt {
                x
            } else {
                cast_raw(&x, dt)?
            };
            elementwise::where_(&c, &x, &y, &shape)?
        } else {
            a.check_same_device(b)?;
            let ca = cast_raw(a, dt)?;
            let cb = cast_raw(b, dt)?;
            let (lc, la, lb) = (
                cond.layout().broadcast_to(&shape)?,
                ca.layout().broadcast_to(&shape)?,
                cb.layout().broadcast_to(&shape)?,
            );
            with_dtype!(dt, T => Tensor::from_vec(
            map3::<bool, T, T, T>((cond, &lc), (&ca, &la), (&cb, &lb), |c, x, y| if c { x } else { y }),
            &shape,
        )?)
        };
        let c = Saved::new(cond);
        let (sa, sb, da, db) = (a.shape().to_vec(), b.shape().to_vec(), a.dtype(), b.dtype());
        Ok(record(out, "WhereBackward", &[a, b], move |g| {
            let c = c.get()?;
            let zero = Tensor::wrapped_scalar(0.0f64);
            let ga = Tensor::where_(c, g, &zero)?;
            let gb = Tensor::where_(c, &zero, g)?;
            Ok(vec![
                Some(crate::ops::binary::grad_for(ga, &sa, da)?),
                Some(crate::ops::binary::grad_for(gb, &sb, db)?),
            ])
        }))
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
        let shape = broadcast_shapes(self.shape(), mask.shape())?;
        if shape != self.shape() {
            bail!(
                Shape,
                "masked_fill: mask of shape {:?} cannot be broadcast to {:?}",
                mask.shape(),
                self.shape()
            );
        }
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

#[inline(always)]
fn add_elem<T: Element>(a: T, b: T) -> T {
    if T::DTYPE.is_float() {
        T::from_f64(a.to_f64() + b.to_f64())
    } else {
        T::from_i64(a.to_i64().wrapping_add(b.to_i64()))
    }
}

/// How an advanced index maps output positions to input offsets.
struct AdvPlan {
    adv_dims: Vec<usize>,
    idx_values: Vec<Vec<i64>>,
    bshape: Vec<usize>,
    rest_dims: Vec<usize>,
    /// Output shape in `[broadcast index dims..., rest dims...]` order.
    bmajor_shape: Vec<usize>,
    /// Final output shape (index dims moved into place when the advanced dims are adjacent).
    final_shape: Vec<usize>,
    /// Permutation from b-major order to final order (None when identical).
    perm: Option<Vec<usize>>,
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

impl AdvPlan {
    fn new(t: &Tensor, indices: &[Option<Tensor>]) -> Result<AdvPlan> {
        let AdvKey {
            dims: adv_dims,
            tensors,
            bshape,
        } = AdvKey::new(t, indices)?;
        let mut idx_values = Vec::new();
        for (ix, &d) in tensors.iter().zip(&adv_dims) {
            let e = ix.detach().expand(&bshape)?;
            let vals = index_values(&e, "index")?;
            let n = t.shape()[d];
            for &v in &vals {
                wrap_index(v, n, d)?;
            }
            idx_values.push(vals);
        }
        let rest_dims: Vec<usize> = (0..t.ndim()).filter(|d| !adv_dims.contains(d)).collect();
        let mut bmajor_shape = bshape.clone();
        bmajor_shape.extend(rest_dims.iter().map(|&d| t.shape()[d]));
        let adjacent = adv_dims.windows(2).all(|w| w[1] == w[0] + 1);
        let (final_shape, perm) = if adjacent && adv_dims[0] > 0 {
            let before = rest_dims.iter().filter(|&&d| d < adv_dims[0]).count();
            let nb = bshape.len();
            let total = bmajor_shape.len();
            // final = [rest_before..., b..., rest_after...]
            let mut perm = Vec::new();
            perm.extend(nb..nb + before);
            perm.extend(0..nb);
            perm.extend(nb + before..total);
            let fs = perm.iter().map(|&p| bmajor_shape[p]).collect();
            (fs, Some(perm))
        } else {
            (bmajor_shape.clone(), None)
        };
        Ok(AdvPlan {
            adv_dims,
            idx_values,
            bshape,
            rest_dims,
            bmajor_shape,
            final_shape,
            perm,
        })
    }

    /// Storage offsets of every output element, b-major order.
    fn offsets(&self, l: &Layout) -> Result<Vec<usize>> {
        let nb: usize = self.bshape.iter().product();
        let rest = Layout {
            shape: self.rest_dims.iter().map(|&d| l.shape[d]).collect(),
            strides: self.rest_dims.iter().map(|&d| l.strides[d]).collect(),
            offset: 0,
        };
        let rest_offs: Vec<usize> = rest.offsets().collect();
        let mut out = Vec::with_capacity(nb * rest_offs.len());
        for b in 0..nb {
            let mut base = l.offset;
            for (k, &d) in self.adv_dims.iter().enumerate() {
                base += wrap_index(self.idx_values[k][b], l.shape[d], d)? * l.strides[d];
            }
            out.extend(rest_offs.iter().map(|&r| base + r));
        }
        Ok(out)
    }

    fn to_final(&self, bmajor: &Tensor) -> Result<Tensor> {
        match &self.perm {
            None => Ok(bmajor.clone()),
            Some(p) => bmajor.permute(&p.iter().map(|&x| x as isize).collect::<Vec<_>>()),
        }
    }

    fn final_to_bmajor(&self, fin: &Tensor) -> Result<Tensor> {
        match &self.perm {
            None => Ok(fin.clone()),
            Some(p) => {
                let mut inv = vec![0isize; p.len()];
                for (i, &x) in p.iter().enumerate() {
                    inv[x] = i as isize;
                }
                fin.permute(&inv)
            }
        }
    }
}
