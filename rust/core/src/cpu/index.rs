//! Gathers and scatters on the CPU: `gather`/`scatter_add` along a dim, NumPy advanced
//! indexing (`index`, `index_put`), `nonzero` and `where`. Index keys are validated by
//! `ops::index::AdvKey` first, the same way on every backend.

use crate::cpu::kernel::map3;
use crate::layout::Layout;
use crate::ops::copy::cast_raw;
use crate::ops::index::{AdvKey, ScatterMode};
use crate::{bail, with_dtype, DType, Element, Result, Tensor};

/// Int64 contents of an index tensor, checked to be integral.
fn index_values(index: &Tensor, what: &str) -> Result<Vec<i64>> {
    if !index.dtype().is_index() {
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
                let inv = crate::layout::inverse_permutation(p);
                fin.permute(&inv.iter().map(|&i| i as isize).collect::<Vec<_>>())
            }
        }
    }
}

/// Calls `f(row, base)` for each row of `shape` (every dim but the last, row-major order):
/// `base` is the row's offset in a layout of `strides` (starting at `offset`) with dim `skip`
/// left out, since the index gives that coordinate element by element.
fn for_each_row(
    shape: &[usize],
    (offset, strides): (usize, &[usize]),
    skip: usize,
    mut f: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    let lead = &shape[..shape.len().saturating_sub(1)];
    let mut row = 0;
    for_each_index(lead, |pos| {
        let mut base = offset;
        for (a, &p) in pos.iter().enumerate() {
            if a != skip {
                base += p * strides[a];
            }
        }
        f(row, base)?;
        row += 1;
        Ok(())
    })
}

/// Where element `p` of a row reads (or writes) given its index value `j`: along the last dim
/// the index replaces the position; along another dim it adds `j * stride_d` to it.
#[inline(always)]
fn element_offset(
    d_is_last: bool,
    j: usize,
    p: usize,
    (stride_d, stride_last): (usize, usize),
) -> usize {
    if d_is_last {
        j * stride_last
    } else {
        j * stride_d + p * stride_last
    }
}

/// `out[i][j] = t[index[i][j]][j]` (for dim `d` = 0), no autograd: a row of the index at a
/// time, each element one offset from the row's base.
pub(super) fn gather(t: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let idx = index_values(index, "gather")?;
    if t.ndim() == 0 {
        // (a 0-d tensor and index, as one element of each)
        return gather(&t.reshape(&[1])?, 0, &index.reshape(&[1])?)?.reshape(&[]);
    }
    let l = t.layout().clone();
    let (size_d, last) = (t.shape()[d], index.ndim() - 1);
    let n_last = index.shape()[last];
    let strides = (l.strides[d], l.strides[last]);
    with_dtype!(t.dtype(), T => {
        let s = t.storage().as_slice::<T>();
        let mut out = Vec::with_capacity(idx.len());
        for_each_row(index.shape(), (l.offset, &l.strides), d, |row, base| {
            for (p, &i) in idx[row * n_last..(row + 1) * n_last].iter().enumerate() {
                let j = check_index(i, size_d, d)?;
                out.push(s[base + element_offset(d == last, j, p, strides)]);
            }
            Ok(())
        })?;
        Tensor::from_vec(out, index.shape())
    })
}

/// `out = t; out[index[i][j]][j] = src[i][j]` (`+=` for `ScatterMode::Add`; for dim `d` = 0),
/// no autograd; a row of the index at a time, as `gather`. When writing, the last write to a
/// repeated position (in row-major order) wins.
pub(super) fn scatter(
    t: &Tensor,
    d: usize,
    index: &Tensor,
    src: &Tensor,
    mode: ScatterMode,
) -> Result<Tensor> {
    t.check_same_device(src)?;
    t.check_same_device(index)?;
    let add = mode == ScatterMode::Add;
    let idx = index_values(index, mode.name())?;
    let out = cast_raw(t, t.dtype())?;
    let src_c = src.to_dtype(t.dtype())?;
    if t.ndim() == 0 {
        let one = |x: &Tensor| x.reshape(&[1]);
        let (t1, i1) = (one(t)?, one(index)?);
        let s1 = if src_c.ndim() == 0 {
            one(&src_c)?
        } else {
            src_c.clone()
        };
        return scatter(&t1, 0, &i1, &s1, mode)?.reshape(&[]);
    }
    let sl = src_c.layout().clone();
    let (size_d, last) = (t.shape()[d], index.ndim() - 1);
    let n_last = index.shape()[last];
    let ostrides = out.strides().to_vec();
    let strides = (ostrides[d], ostrides[last]);
    let s_last = sl.strides[last];
    with_dtype!(t.dtype(), T => {
        let s = src_c.storage().as_slice::<T>();
        // SAFETY: `out` is a fresh contiguous tensor no one else references.
        let o = unsafe { out.storage().as_mut_slice::<T>() };
        // The source row's base: the index's position in every dim, `d` included.
        let mut src_rows = Vec::with_capacity(idx.len() / n_last.max(1));
        for_each_row(index.shape(), (sl.offset, &sl.strides), usize::MAX, |_, b| {
            src_rows.push(b);
            Ok(())
        })?;
        for_each_row(index.shape(), (0, &ostrides), d, |row, base| {
            let sb = src_rows[row];
            for (p, &i) in idx[row * n_last..(row + 1) * n_last].iter().enumerate() {
                let j = check_index(i, size_d, d)?;
                let oo = base + element_offset(d == last, j, p, strides);
                let v = s[sb + p * s_last];
                o[oo] = if add { add_elem(o[oo], v) } else { v };
            }
            Ok(())
        })?;
    });
    Ok(out)
}

/// A `block_key`: the indexed dim, the positions along it, the output's shape.
type BlockKey = (usize, Vec<usize>, Vec<usize>);

/// The common key `t[:, ..., idx]` (one integer index tensor, after whole dims only) on a
/// contiguous `t`: `(dim, positions, output shape)`. Such an index picks whole blocks of
/// `t` (rows, for an embedding lookup), so it is a run of block copies rather than one offset
/// per element.
fn block_key(t: &Tensor, indices: &[Option<Tensor>]) -> Result<Option<BlockKey>> {
    let Some((d, Some(ix))) = indices.iter().enumerate().next_back() else {
        return Ok(None);
    };
    let plain = indices[..d].iter().all(Option::is_none);
    if !plain || d >= t.ndim() || !t.is_contiguous() || !ix.dtype().is_int() {
        return Ok(None);
    }
    t.check_same_device(ix)?;
    let n = t.shape()[d];
    let pos = index_values(ix, "index")?
        .into_iter()
        .map(|i| wrap_index(i, n, d))
        .collect::<Result<Vec<_>>>()?;
    let shape = [&t.shape()[..d], ix.shape(), &t.shape()[d + 1..]].concat();
    Ok(Some((d, pos, shape)))
}

/// `t[indices]` (NumPy advanced indexing), no autograd.
pub(super) fn index(t: &Tensor, indices: &[Option<Tensor>]) -> Result<Tensor> {
    if let Some((d, pos, shape)) = block_key(t, indices)? {
        let inner: usize = t.shape()[d + 1..].iter().product();
        let outer: usize = t.shape()[..d].iter().product();
        let n = t.shape()[d];
        return with_dtype!(t.dtype(), T => {
            let s = &t.storage().as_slice::<T>()[t.layout().offset..];
            let mut out = Vec::with_capacity(outer * pos.len() * inner);
            for o in 0..outer {
                let row = &s[o * n * inner..(o + 1) * n * inner];
                if inner == 1 {
                    // Single elements (`x[..., idx]`, `flip(-1)`): a gather loop, not a copy
                    // call per element.
                    out.extend(pos.iter().map(|&j| row[j]));
                } else {
                    for &j in &pos {
                        out.extend_from_slice(&row[j * inner..(j + 1) * inner]);
                    }
                }
            }
            Tensor::from_vec(out, &shape)
        });
    }
    let plan = AdvPlan::new(t, indices)?;
    let offs = plan.offsets(t.layout())?;
    let raw = with_dtype!(t.dtype(), T => {
        let s = t.storage().as_slice::<T>();
        Tensor::from_vec(offs.iter().map(|&o| s[o]).collect::<Vec<T>>(), &plan.bmajor_shape)?
    });
    // A new tensor (not a view of the private gather buffer), so in-place ops on it are fine.
    let fin = plan.to_final(&raw)?.contiguous()?;
    Tensor::from_storage(fin.storage().clone(), fin.layout().clone())
}

/// `t[indices] = values` (or `+=` with `accumulate`) in place, no autograd.
pub(super) fn index_put(
    t: &Tensor,
    indices: &[Option<Tensor>],
    values: &Tensor,
    accumulate: bool,
) -> Result<()> {
    if values.device() != t.device() {
        // Only a CPU scalar may meet a CPU destination here; anything else is an error.
        t.check_same_device(values)?;
    }
    let separate = !std::sync::Arc::ptr_eq(values.storage(), t.storage());
    if separate
        && values.is_contiguous()
        && values.dtype() == t.dtype()
        && values.device() == t.device()
    {
        if let Some((d, pos, shape)) = block_key(t, indices)? {
            if values.shape() == shape.as_slice() {
                put_blocks(t, d, &pos, values, accumulate);
                t.bump_version();
                return Ok(());
            }
        }
    }
    let plan = AdvPlan::new(t, indices)?;
    let offs = plan.offsets(t.layout())?;
    let v = values
        .to_dtype(t.dtype())?
        .detach()
        .expand(&plan.final_shape)?;
    let vb = plan.final_to_bmajor(&v)?;
    let vb = cast_raw(&vb, t.dtype())?;
    with_dtype!(t.dtype(), T => {
        let src = vb.storage().as_slice::<T>();
        // SAFETY: `vb` is a fresh buffer, so it cannot alias `t`.
        let dst = unsafe { t.storage().as_mut_slice::<T>() };
        for (i, &o) in offs.iter().enumerate() {
            dst[o] = if accumulate { add_elem(dst[o], src[i]) } else { src[i] };
        }
    });
    t.bump_version();
    Ok(())
}

/// `index_put` for a `block_key` index with values of the output's shape: whole blocks written
/// (or added: an embedding's gradient) at once.
fn put_blocks(t: &Tensor, d: usize, pos: &[usize], values: &Tensor, accumulate: bool) {
    let inner: usize = t.shape()[d + 1..].iter().product();
    let outer: usize = t.shape()[..d].iter().product();
    let n = t.shape()[d];
    with_dtype!(t.dtype(), T => {
        let src = &values.storage().as_slice::<T>()[values.layout().offset..];
        let off = t.layout().offset;
        // SAFETY: the caller (`index_put_raw`) checked that `t` has no overlapping elements,
        // and `index_put` that `values` is contiguous data of this shape in other memory.
        let dst = unsafe { &mut t.storage().as_mut_slice::<T>()[off..] };
        let mut k = 0;
        for o in 0..outer {
            for &j in pos {
                let at = (o * n + j) * inner;
                let (to, from) = (&mut dst[at..at + inner], &src[k..k + inner]);
                if accumulate {
                    to.iter_mut().zip(from).for_each(|(a, &b)| *a = add_elem(*a, b));
                } else {
                    to.copy_from_slice(from);
                }
                k += inner;
            }
        }
    });
}

/// Indices of nonzero elements, shape `[n, ndim]` (int64).
pub(super) fn nonzero(t: &Tensor) -> Result<Tensor> {
    let b = cast_raw(t, DType::Bool)?;
    let v = b.data::<bool>()?;
    // The flat positions first (a tight scan of the mask), then each one's coordinates: a
    // call per element through `for_each_index` cost 6 ns each (1M elements: 6 ms).
    let flat: Vec<usize> = v
        .iter()
        .enumerate()
        .filter_map(|(i, &x)| x.then_some(i))
        .collect();
    let strides = crate::layout::contiguous_strides(t.shape());
    let mut out = Vec::with_capacity(flat.len() * t.ndim());
    for &i in &flat {
        let mut rest = i;
        for &s in &strides {
            out.push((rest / s) as i64);
            rest %= s;
        }
    }
    Tensor::from_vec(out, &[flat.len(), t.ndim()])
}

/// `cond ? a : b` broadcast to `shape`, computed in `dt`, no autograd.
pub(super) fn where_(
    cond: &Tensor,
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    dt: DType,
) -> Result<Tensor> {
    for t in [cond, a, b] {
        if t.ndim() > 0 || t.device() != crate::Device::Cpu {
            a.check_same_device(t)?;
        }
    }
    // (`cast_raw` to the same dtype is a copy: an operand already in `dt` is read in place)
    let in_dt = |t: &Tensor| match t.dtype() == dt {
        true => Ok(t.clone()),
        false => cast_raw(t, dt),
    };
    let (ca, cb) = (in_dt(a)?, in_dt(b)?);
    let (lc, la, lb) = (
        cond.layout().broadcast_to(shape)?,
        ca.layout().broadcast_to(shape)?,
        cb.layout().broadcast_to(shape)?,
    );
    with_dtype!(dt, T => Tensor::from_vec(
        map3::<bool, T, T, T>((cond, &lc), (&ca, &la), (&cb, &lb), |c, x, y| if c { x } else { y }),
        shape,
    ))
}
