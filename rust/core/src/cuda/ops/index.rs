//! Indexing on CUDA tensors: gather / scatter_add along a dim, advanced indexing with one
//! index tensor (index_select, and index_add for its backward). Every kernel works on a
//! contiguous `[outer, dim, inner]` view and reports an out-of-range index through a device
//! flag, which becomes an `IndexError` naming the value.

use super::{
    align_device, cast, contiguous, data_ptr, empty, full, ordinal, run_typed, to_device, Args,
};
use crate::autograd::record;
use crate::cuda::launch::LaunchDims;
use crate::{bail, DType, Device, Result, Tensor};

/// (outer, size of dim, inner) of a shape around `d`.
fn split(shape: &[usize], d: usize) -> (usize, usize, usize) {
    let outer = shape[..d].iter().product();
    let inner = shape[d + 1..].iter().product();
    (outer, shape.get(d).copied().unwrap_or(1), inner)
}

/// An int64 contiguous copy of an index tensor on `like`'s device.
fn index_tensor(ix: &Tensor, like: &Tensor, what: &str) -> Result<Tensor> {
    if !ix.dtype().is_int() {
        bail!(
            DType,
            "{what}: index must be an integer tensor, got {}",
            ix.dtype()
        );
    }
    let ix = align_device(ix, like).or_else(|_| to_device(ix, like.device()))?;
    if ix.dtype() == DType::I64 {
        contiguous(&ix)
    } else {
        cast(&ix, DType::I64)
    }
}

/// Reads the device flag back: `Err(IndexError)` when a kernel saw an index outside `[0, size)`.
fn check_bad(bad: &Tensor, size: usize, what: &str) -> Result<()> {
    let v = to_device(bad, Device::Cpu)?.to_vec::<i64>()?[0];
    if v != i64::MIN {
        bail!(
            Index,
            "{what}: index {v} is out of bounds for dimension with size {size}"
        );
    }
    Ok(())
}

/// A flag the kernels overwrite with a bad index (i64::MIN: none seen).
fn bad_flag(dev: usize) -> Result<Tensor> {
    full(dev, DType::I64, &[1], i64::MIN as f64)
}

/// `self.gather(d, index)`.
pub(crate) fn gather(t: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let dev = ordinal(t)?;
    let ix = index_tensor(index, t, "gather")?;
    // The kernel reads src with index's extent in every dim but `d`.
    let mut l = t.layout().clone();
    for (i, &n) in index.shape().iter().enumerate() {
        if i != d {
            l = l.slice(i, 0, n, 1);
        }
    }
    let src = contiguous(&t.detach().with_layout(l))?;
    let out = empty(dev, t.dtype(), index.shape())?;
    if out.numel() > 0 && t.ndim() > 0 {
        let (outer, src_dim, inner) = split(src.shape(), d);
        let n = index.shape()[d];
        let bad = bad_flag(dev)?;
        let args = Args::new()
            .v(outer as i64)
            .v(src_dim as i64)
            .v(n as i64)
            .v(inner as i64)
            .data(&src)
            .data(&ix)
            .data(&out)
            .data(&bad);
        run_typed(
            dev,
            "gather",
            t.dtype(),
            LaunchDims::elementwise(out.numel()),
            args,
        )?;
        check_bad(&bad, src_dim, "gather")?;
    }
    let (ixs, shape, dt) = (index.clone(), t.shape().to_vec(), t.dtype());
    Ok(record(out, "GatherBackward", &[t], move |g| {
        let z = full(dev, dt, &shape, 0.0)?;
        Ok(vec![Some(z.scatter_add(d as isize, &ixs, g)?)])
    }))
}

/// Out-of-place `self.scatter_add(d, index, src)`.
pub(crate) fn scatter_add(t: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    let dev = ordinal(t)?;
    if !t.dtype().is_float() {
        bail!(
            DType,
            "scatter_add on CUDA supports floating-point tensors, got {}",
            t.dtype()
        );
    }
    let ix = index_tensor(index, t, "scatter_add")?;
    let out = cast(t, t.dtype())?;
    let mut l = align_device(src, t)?.detach().layout().clone();
    for (i, &n) in index.shape().iter().enumerate() {
        l = l.slice(i, 0, n, 1);
    }
    let s = align_device(src, t)?.detach().with_layout(l);
    let s = if s.dtype() == t.dtype() {
        contiguous(&s)?
    } else {
        cast(&s, t.dtype())?
    };
    if ix.numel() > 0 && t.ndim() > 0 {
        let (outer, dst_dim, inner) = split(t.shape(), d);
        let n = index.shape()[d];
        let (_, _, idx_inner) = split(index.shape(), d);
        if idx_inner != inner || index.shape()[..d] != t.shape()[..d] {
            bail!(
                Shape,
                "scatter_add on CUDA needs index {:?} to match self {:?} outside dim {d}",
                index.shape(),
                t.shape()
            );
        }
        let bad = bad_flag(dev)?;
        let args = Args::new()
            .v(outer as i64)
            .v(dst_dim as i64)
            .v(n as i64)
            .v(inner as i64)
            .data(&s)
            .data(&ix)
            .data(&out)
            .data(&bad);
        run_typed(
            dev,
            "scatter_add",
            t.dtype(),
            LaunchDims::elementwise(ix.numel()),
            args,
        )?;
        check_bad(&bad, dst_dim, "scatter_add")?;
    }
    let ixs = index.clone();
    Ok(record(out, "ScatterAddBackward", &[t, src], move |g| {
        Ok(vec![Some(g.clone()), Some(g.gather(d as isize, &ixs)?)])
    }))
}

/// The one advanced dim of `indices` and its index tensor, or an error for other forms.
fn single_index(t: &Tensor, indices: &[Option<Tensor>]) -> Result<(usize, Tensor)> {
    let adv: Vec<(usize, &Tensor)> = indices
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.as_ref().map(|x| (i, x)))
        .collect();
    if adv.len() != 1 || indices.len() > t.ndim() {
        bail!(
            Device,
            "indexing a CUDA tensor with {} index tensors is not implemented; index one dim at a time",
            adv.len()
        );
    }
    Ok((adv[0].0, adv[0].1.clone()))
}

/// Negative indices count from the end (as in PyTorch's advanced indexing).
fn wrap_negative(ix: &Tensor, size: usize) -> Result<Tensor> {
    let neg = ix.lt(&Tensor::wrapped_scalar(0i64))?;
    let shifted = ix.add(&Tensor::wrapped_scalar(size as i64))?;
    Tensor::where_(&neg, &shifted, ix)
}

/// `t[..., index, ...]` with one index tensor at dim `d`.
pub(crate) fn index(t: &Tensor, indices: &[Option<Tensor>]) -> Result<Tensor> {
    let dev = ordinal(t)?;
    let (d, ix) = single_index(t, indices)?;
    let size = t.shape()[d];
    let flat = wrap_negative(&index_tensor(&ix, t, "index")?.reshape(&[-1])?, size)?;
    let src = contiguous(&t.detach())?;
    let (outer, src_dim, inner) = split(src.shape(), d);
    let n = flat.numel();
    let mut shape = t.shape()[..d].to_vec();
    shape.extend_from_slice(ix.shape());
    shape.extend_from_slice(&t.shape()[d + 1..]);
    let out = empty(dev, t.dtype(), &shape)?;
    if out.numel() > 0 {
        let bad = bad_flag(dev)?;
        let args = Args::new()
            .v(outer as i64)
            .v(src_dim as i64)
            .v(n as i64)
            .v(inner as i64)
            .data(&src)
            .data(&flat)
            .data(&out)
            .data(&bad);
        run_typed(
            dev,
            "index_select",
            t.dtype(),
            LaunchDims::elementwise(out.numel()),
            args,
        )?;
        check_bad(&bad, size, "index")?;
    }
    let (tshape, dt, idx) = (t.shape().to_vec(), t.dtype(), indices.to_vec());
    Ok(record(out, "IndexBackward", &[t], move |g| {
        let z = full(dev, dt, &tshape, 0.0)?;
        index_put(&z, &idx, g, true)?;
        Ok(vec![Some(z)])
    }))
}

/// `t[..., index, ...] = values` (or `+=` with `accumulate`) in place, one index tensor at
/// dim `d`.
pub(crate) fn index_put(
    t: &Tensor,
    indices: &[Option<Tensor>],
    values: &Tensor,
    accumulate: bool,
) -> Result<()> {
    let dev = ordinal(t)?;
    let (d, ix) = single_index(t, indices)?;
    if accumulate && !t.dtype().is_float() {
        bail!(
            DType,
            "accumulating index_put on CUDA supports floating-point tensors, got {}",
            t.dtype()
        );
    }
    // The kernels write a contiguous [outer, dim, inner] buffer; views go through a copy.
    let target = contiguous(t)?;
    let size = t.shape()[d];
    let flat = wrap_negative(&index_tensor(&ix, t, "index_put")?.reshape(&[-1])?, size)?;
    let n = flat.numel();
    let (outer, dst_dim, inner) = split(target.shape(), d);
    let v = align_device(values, t)?.detach();
    let v = v.to_dtype(t.dtype())?;
    let v = contiguous(&v.expand(&{
        let mut s = t.shape()[..d].to_vec();
        s.extend_from_slice(ix.shape());
        s.extend_from_slice(&t.shape()[d + 1..]);
        s
    })?)?;
    if n > 0 && t.numel() > 0 {
        let bad = bad_flag(dev)?;
        let args = Args::new()
            .v(outer as i64)
            .v(dst_dim as i64)
            .v(n as i64)
            .v(inner as i64)
            .v(data_ptr(&v))
            .data(&flat)
            .data(&target)
            .data(&bad);
        let kernel = if accumulate {
            "index_add"
        } else {
            "index_copy"
        };
        let dims = LaunchDims::elementwise(outer * n * inner);
        run_typed(dev, kernel, t.dtype(), dims, args)?;
        check_bad(&bad, size, "index_put")?;
    }
    if !target.same(t) {
        super::write_into(t, &target)?;
    }
    t.storage().bump_version();
    Ok(())
}
