//! Indexing on CUDA tensors: gather / scatter_add along a dim, advanced indexing with one
//! index tensor (index_select, and index_add for its backward). Every kernel works on a
//! contiguous `[outer, dim, inner]` view and reports an out-of-range index through a device
//! flag, which becomes an `IndexError` naming the value.

use super::{
    align_device, cast, contiguous, empty, full, ordinal, run_elementwise, to_device, Args,
};
use crate::ops::index::ScatterMode;
use crate::{bail, DType, Device, Result, Tensor};

/// (outer, size of dim, inner) of a shape around `d`.
fn split(shape: &[usize], d: usize) -> (usize, usize, usize) {
    let outer = shape[..d].iter().product();
    let inner = shape[d + 1..].iter().product();
    (outer, shape.get(d).copied().unwrap_or(1), inner)
}

/// An int64 contiguous copy of an index tensor on `like`'s device.
fn index_tensor(ix: &Tensor, like: &Tensor, what: &str) -> Result<Tensor> {
    if !ix.dtype().is_index() {
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

/// Launches one of the indexing kernels, `kernel(outer, dim, n, inner, src, idx, dst, bad)`:
/// `n` indices `idx` into a dim of size `dim` of the `[outer, dim, inner]` views, over `work`
/// threads; an index out of range becomes an `IndexError` for `what`.
fn launch_indexed(
    (dev, kernel, dt): (usize, &str, DType),
    (outer, dim, n, inner): (usize, usize, usize, usize),
    [src, idx, dst]: [&Tensor; 3],
    work: usize,
    what: &str,
) -> Result<()> {
    let bad = bad_flag(dev)?;
    let args = Args::new()
        .v(outer as i64)
        .v(dim as i64)
        .v(n as i64)
        .v(inner as i64)
        .data(src)
        .data(idx)
        .data(dst)
        .data(&bad);
    run_elementwise(dev, kernel, dt, work, args)?;
    check_bad(&bad, dim, what)
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
        let geom = (outer, src_dim, index.shape()[d], inner);
        let work = out.numel();
        launch_indexed(
            (dev, "gather", t.dtype()),
            geom,
            [&src, &ix, &out],
            work,
            "gather",
        )?;
    }
    Ok(out)
}

/// Out-of-place `self.scatter_add(d, index, src)` (`ScatterMode::Add`) or `self.scatter(d, index, src)`
/// (with a repeated index, one of the writes wins, as in PyTorch).
pub(crate) fn scatter(
    t: &Tensor,
    d: usize,
    index: &Tensor,
    src: &Tensor,
    mode: ScatterMode,
) -> Result<Tensor> {
    let dev = ordinal(t)?;
    let op = mode.name();
    if mode == ScatterMode::Add && t.dtype().is_small_int() {
        // No atomic adds on narrow integers: summed in int32, wrapped back (exact).
        let r = scatter(&cast(t, DType::I32)?, d, index, src, mode)?;
        return cast(&r, t.dtype());
    }
    if mode == ScatterMode::Add && !(t.dtype().is_float() || t.dtype().is_int()) {
        bail!(
            DType,
            "scatter_add on CUDA supports floating-point and integer tensors, got {}",
            t.dtype()
        );
    }
    let ix = index_tensor(index, t, op)?;
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
                "{op} on CUDA needs index {:?} to match self {:?} outside dim {d}",
                index.shape(),
                t.shape()
            );
        }
        let (geom, work) = ((outer, dst_dim, n, inner), ix.numel());
        launch_indexed((dev, op, t.dtype()), geom, [&s, &ix, &out], work, op)?;
    }
    Ok(out)
}

/// How advanced indexing maps onto one `index_select` / `index_add` / `index_copy` along
/// dim 0: the indexed dims are permuted to the front and flattened, and the index tensors
/// (broadcast together, negatives wrapped, each checked against its own dim) become one
/// linear index into them.
struct Plan {
    /// Indexed dims first (in order), then the others.
    perm: Vec<usize>,
    /// Product of the indexed dims' sizes.
    adv_numel: usize,
    /// The linear index, flat int64 on the device.
    lin: Tensor,
    /// The broadcast shape of the index tensors.
    bshape: Vec<usize>,
    /// Sizes of the other dims, in order.
    rest: Vec<usize>,
    /// Where the broadcast dims go in the result: the first indexed dim when the indexed dims
    /// are adjacent, else the front (NumPy's and PyTorch's rule).
    place: usize,
}

impl Plan {
    fn new(t: &Tensor, indices: &[Option<Tensor>]) -> Result<Plan> {
        let key = crate::ops::index::AdvKey::new(t, indices)?;
        let bshape = key.bshape.clone();
        let adv: Vec<(usize, &Tensor)> = key.dims.iter().copied().zip(key.tensors).collect();
        let dims: Vec<usize> = adv.iter().map(|(d, _)| *d).collect();
        let mut lin: Option<Tensor> = None;
        let mut inner = 1usize;
        for &(d, ix) in adv.iter().rev() {
            let size = t.shape()[d];
            let ix = wrap_negative(&index_tensor(ix, t, "index")?, size)?.expand(&bshape)?;
            if ix.numel() > 0 {
                let out_of_range = ix
                    .lt(&Tensor::wrapped_scalar(0i64))?
                    .logical_or(&ix.ge(&Tensor::wrapped_scalar(size as i64))?)?;
                if out_of_range.any()? {
                    let bad = ix.masked_fill(&out_of_range.logical_not()?, 0.0)?;
                    let (lo, hi) = (
                        bad.amin(None, false)?.item()?,
                        bad.amax(None, false)?.item()?,
                    );
                    let v = if lo < 0.0 { lo } else { hi };
                    bail!(
                        Index,
                        "index {v} is out of bounds for dimension {d} with size {size}"
                    );
                }
            }
            let term = if inner == 1 {
                ix
            } else {
                ix.mul(&Tensor::wrapped_scalar(inner as i64))?
            };
            lin = Some(match lin {
                None => term,
                Some(l) => l.add(&term)?,
            });
            inner *= size;
        }
        let lin = contiguous(&lin.expect("one index at least").detach().reshape(&[-1])?)?;
        let mut perm = dims.clone();
        perm.extend((0..t.ndim()).filter(|d| !dims.contains(d)));
        let rest: Vec<usize> = perm[dims.len()..].iter().map(|&d| t.shape()[d]).collect();
        let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
        Ok(Plan {
            perm,
            adv_numel: inner,
            lin,
            bshape,
            rest,
            place: if adjacent { dims[0] } else { 0 },
        })
    }

    /// `[adv_numel, rest...]` as (outer, dim, inner) of the kernels.
    fn split(&self) -> (usize, usize, usize) {
        (1, self.adv_numel, self.rest.iter().product())
    }

    /// The result shape in kernel order: `[bshape..., rest...]`.
    fn bmajor_shape(&self) -> Vec<usize> {
        let mut s = self.bshape.clone();
        s.extend_from_slice(&self.rest);
        s
    }

    /// Permutation from kernel order `[bshape..., rest...]` to the final order.
    fn to_final(&self) -> Vec<usize> {
        let (nb, nr) = (self.bshape.len(), self.rest.len());
        let rest: Vec<usize> = (nb..nb + nr).collect();
        let mut p: Vec<usize> = rest[..self.place].to_vec();
        p.extend(0..nb);
        p.extend_from_slice(&rest[self.place..]);
        p
    }

    fn final_shape(&self) -> Vec<usize> {
        let b = self.bmajor_shape();
        self.to_final().iter().map(|&i| b[i]).collect()
    }
}

fn inverse(perm: &[usize]) -> Vec<isize> {
    let inv = crate::layout::inverse_permutation(perm);
    inv.into_iter().map(|i| i as isize).collect()
}

/// Negative indices count from the end (as in PyTorch's advanced indexing).
fn wrap_negative(ix: &Tensor, size: usize) -> Result<Tensor> {
    let neg = ix.lt(&Tensor::wrapped_scalar(0i64))?;
    let shifted = ix.add(&Tensor::wrapped_scalar(size as i64))?;
    Tensor::where_(&neg, &shifted, ix)
}

/// `t[indices]`: NumPy/PyTorch advanced indexing with any number of index tensors.
pub(crate) fn index(t: &Tensor, indices: &[Option<Tensor>]) -> Result<Tensor> {
    let dev = ordinal(t)?;
    let plan = Plan::new(t, indices)?;
    let perm: Vec<isize> = plan.perm.iter().map(|&d| d as isize).collect();
    let src = contiguous(&t.detach().permute(&perm)?)?;
    let (outer, src_dim, inner) = plan.split();
    let n = plan.lin.numel();
    let out = empty(dev, t.dtype(), &plan.bmajor_shape())?;
    if out.numel() > 0 {
        let (geom, work) = ((outer, src_dim, n, inner), out.numel());
        let kernel = (dev, "index_select", t.dtype());
        launch_indexed(kernel, geom, [&src, &plan.lin, &out], work, "index")?;
    }
    let to_final: Vec<isize> = plan.to_final().iter().map(|&d| d as isize).collect();
    let out = contiguous(&out.permute(&to_final)?)?;
    Ok(out)
}

/// `t[indices] = values` (or `+=` with `accumulate`) in place.
pub(crate) fn index_put(
    t: &Tensor,
    indices: &[Option<Tensor>],
    values: &Tensor,
    accumulate: bool,
) -> Result<()> {
    let dev = ordinal(t)?;
    if accumulate && t.dtype().is_small_int() {
        // As `scatter`'s sums: in an int32 copy, written back wrapped.
        let wide = cast(t, DType::I32)?;
        index_put(&wide, indices, values, true)?;
        super::write_into(t, &wide)?;
        t.bump_version();
        return Ok(());
    }
    if accumulate && !(t.dtype().is_float() || t.dtype().is_int()) {
        bail!(
            DType,
            "accumulating index_put on CUDA supports floating-point and integer tensors, got {}",
            t.dtype()
        );
    }
    let plan = Plan::new(t, indices)?;
    let perm: Vec<isize> = plan.perm.iter().map(|&d| d as isize).collect();
    // The kernels write a contiguous [adv, rest...] buffer: the permuted view, copied.
    let view = t.detach().permute(&perm)?;
    let target = contiguous(&view)?;
    let (outer, dst_dim, inner) = plan.split();
    let n = plan.lin.numel();
    // Values broadcast to the indexing result, then put in kernel order.
    let v = align_device(values, t)?.detach().to_dtype(t.dtype())?;
    let v = v.expand(&plan.final_shape())?;
    let v = contiguous(&v.permute(&inverse(&plan.to_final()))?)?;
    if n > 0 && inner > 0 {
        let kernel = if accumulate {
            "index_add"
        } else {
            "index_copy"
        };
        let (geom, work) = ((outer, dst_dim, n, inner), outer * n * inner);
        let ts = [&v, &plan.lin, &target];
        launch_indexed((dev, kernel, t.dtype()), geom, ts, work, "index_put")?;
    }
    if !target.same(&view) {
        super::write_into(&view, &target)?;
    }
    t.bump_version();
    Ok(())
}
