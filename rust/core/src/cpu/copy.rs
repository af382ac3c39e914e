//! Host memory: casts, writes into views, fills, the host end of transfers, and the AMP
//! unscale-and-check pass over gradients.

use crate::cpu::kernel::map1;
use crate::cpu::lanes::SendPtr;
use crate::layout::Layout;
use crate::ops::copy::convert;
use crate::ops::gather::gather_strided;
use crate::{bail, with_dtype, DType, Device, Element, Result, Tensor};
use half::f16;
use std::mem::MaybeUninit;

/// The host backend only copies to itself: a device transfer is done by the device backend
/// (`backend::transfer` routes it there).
pub(crate) fn to_device(t: &Tensor, device: Device) -> Result<Tensor> {
    if device != Device::Cpu {
        bail!(Device, "the host backend cannot copy to {device}");
    }
    Ok(t.clone())
}

/// A contiguous copy of `t` with dtype `to`.
pub(crate) fn cast(t: &Tensor, to: DType) -> Result<Tensor> {
    crate::ops::creation::check_alloc(t.shape(), to.size())?;
    let l = t.layout();
    let from = t.dtype();
    if let Some(r) = half_cast(t, to) {
        return r;
    }
    with_dtype!(from, A => with_dtype!(to, O => {
        let v: Vec<O> = if from == to {
            t.data::<O>()?.into_owned()
        } else {
            map1::<A, O>(t, l, convert::<A, O>)
        };
        Tensor::from_vec(v, t.shape())
    }))
}

/// float16 <-> float32 with the F16C instructions (`cpu::f16c`), a strided source gathered
/// first: eight values an instruction, where the per-value conversion never vectorised.
fn half_cast(t: &Tensor, to: DType) -> Option<Result<Tensor>> {
    use crate::cpu::f16c;
    let n = t.numel();
    match (t.dtype(), to) {
        (DType::F16, DType::F32) => {
            let src = t.data::<f16>().ok()?;
            let mut out = vec![0f32; n];
            in_halves(&src, &mut out, f16c::widen);
            Some(Tensor::from_vec(out, t.shape()))
        }
        (DType::F32, DType::F16) => {
            let src = t.data::<f32>().ok()?;
            let mut out = vec![f16::ZERO; n];
            in_halves(&src, &mut out, f16c::narrow);
            Some(Tensor::from_vec(out, t.shape()))
        }
        _ => None,
    }
}

/// `f(src, dst)` over matching chunks of the two slices, on the threads when they are long.
fn in_halves<A: Sync, B: Send>(src: &[A], dst: &mut [B], f: impl Fn(&[A], &mut [B]) + Sync) {
    const PAR_MIN: usize = 1 << 16;
    if src.len() < PAR_MIN || !crate::threads::split() {
        return f(src, dst);
    }
    let per = src
        .len()
        .div_ceil(crate::threads::get())
        .next_multiple_of(64);
    let pairs: Vec<_> = src.chunks(per).zip(dst.chunks_mut(per)).collect();
    crate::cpu::team::for_each(pairs, |(s, d)| f(s, d));
}

/// Copies the elements of `s` laid out as `sl` into `d` laid out as `dl` (same shape): one
/// memcpy when both are contiguous, one per row when both are contiguous along the last dim
/// (`cat` along it writes such views), a gather when only the destination is contiguous, and
/// element by element otherwise.
fn copy_strided<T: Element>(d: &mut [T], dl: &Layout, s: &[T], sl: &Layout) {
    let n = dl.numel();
    if dl.is_contiguous() && sl.is_contiguous() {
        d[dl.offset..dl.offset + n].copy_from_slice(&s[sl.offset..sl.offset + n]);
        return;
    }
    if dl.is_contiguous() {
        d[dl.offset..dl.offset + n].copy_from_slice(&gather_strided(s, sl));
        return;
    }
    // Rows along the last dim that is longer than 1 (a size-1 dim orders nothing: `stack` on
    // the last dim writes [.., k, 1] slices), the leading dims walked once per row.
    let (dl, sl) = (without_unit_dims(dl), without_unit_dims(sl));
    let nd = dl.ndim();
    if nd == 0 {
        d[dl.offset] = s[sl.offset];
        return;
    }
    let (run, ds, ss) = (dl.shape[nd - 1], dl.strides[nd - 1], sl.strides[nd - 1]);
    let outer = |l: &Layout| Layout {
        shape: l.shape[..nd - 1].to_vec(),
        strides: l.strides[..nd - 1].to_vec(),
        offset: l.offset,
    };
    if ds == 1 && ss == 1 && n >= PAR_COPY && crate::threads::split() {
        copy_rows_parallel(d, s, outer(&dl).offsets().zip(outer(&sl).offsets()), run);
        return;
    }
    for (od, os) in outer(&dl).offsets().zip(outer(&sl).offsets()) {
        if ds == 1 && ss == 1 {
            d[od..od + run].copy_from_slice(&s[os..os + run]);
        } else {
            for j in 0..run {
                d[od + j * ds] = s[os + j * ss];
            }
        }
    }
}

/// Elements above which a copy of rows is split between the threads.
const PAR_COPY: usize = 1 << 16;

/// `d[od..][..run] = s[os..][..run]` for each `(od, os)` of `rows`, in groups of rows shared
/// out to the threads (a split's gradient written into its piece of the whole).
fn copy_rows_parallel<T: Element>(
    d: &mut [T],
    s: &[T],
    rows: impl Iterator<Item = (usize, usize)>,
    run: usize,
) {
    let rows: Vec<(usize, usize)> = rows.collect();
    let starts: Vec<usize> = rows.iter().map(|r| r.0).collect();
    if !crate::cpu::rows::disjoint(&starts, run) {
        // (An overlapping view, e.g. of `as_strided`: written in order, the last row wins.)
        for &(od, os) in &rows {
            d[od..od + run].copy_from_slice(&s[os..os + run]);
        }
        return;
    }
    let per = rows.len().div_ceil(crate::threads::get() * 4);
    let d = &SendPtr(d.as_mut_ptr());
    crate::cpu::team::for_each_halves(rows.chunks(per).collect(), |group| {
        for &(od, os) in group {
            // SAFETY: the destination rows are disjoint (checked above), each written by one
            // group only.
            let dst = unsafe { std::slice::from_raw_parts_mut(d.0.add(od), run) };
            dst.copy_from_slice(&s[os..os + run]);
        }
    });
}

/// `l` without its size-1 dims (same elements, same order); the two layouts of a copy have
/// one shape, so they drop the same dims.
fn without_unit_dims(l: &Layout) -> Layout {
    let keep: Vec<usize> = (0..l.ndim()).filter(|&i| l.shape[i] != 1).collect();
    Layout {
        shape: keep.iter().map(|&i| l.shape[i]).collect(),
        strides: keep.iter().map(|&i| l.strides[i]).collect(),
        offset: l.offset,
    }
}

/// Writes `src` (broadcast to `dst`'s shape, cast to `dst`'s dtype) into `dst`'s memory.
pub(crate) fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    if src.device() != dst.device() {
        return write_into(dst, &crate::backend::transfer(src, dst.device())?);
    }
    let src_l = src.layout().broadcast_to(dst.shape())?;
    let src = if src.dtype() != dst.dtype() {
        let c = cast(&src.with_layout(src_l), dst.dtype())?;
        let l = c.layout().clone();
        (c, l)
    } else {
        (src.clone(), src_l)
    };
    // If source and destination share storage, materialise the source first.
    let (src, src_l) = if std::sync::Arc::ptr_eq(src.0.storage(), dst.storage()) {
        let c = cast(&src.0.with_layout(src.1.clone()), dst.dtype())?;
        let l = c.layout().clone();
        (c, l)
    } else {
        src
    };
    let dl = dst.layout().clone();
    if dl.numel() == 0 {
        return Ok(());
    }
    with_dtype!(dst.dtype(), T => {
        let s = src.storage().as_slice::<T>();
        // SAFETY: src does not alias dst (checked above); we write only dst's own elements.
        let d = unsafe { dst.storage().as_mut_slice::<T>() };
        copy_strided(d, &dl, s, &src_l);
    });
    dst.bump_version();
    Ok(())
}

/// Fills every element of `dst`'s view with `value`.
pub(crate) fn fill(dst: &Tensor, value: f64) -> Result<()> {
    let dl = dst.layout().clone();
    if dl.numel() == 0 {
        return Ok(());
    }
    with_dtype!(dst.dtype(), T => {
        let v = T::from_f64(value);
        // SAFETY: writes only this tensor's elements.
        let d = unsafe { dst.storage().as_mut_slice::<T>() };
        if dl.is_contiguous() {
            d[dl.offset..dl.offset + dl.numel()].fill(v);
        } else {
            for o in dl.offsets() {
                d[o] = v;
            }
        }
    });
    dst.bump_version();
    Ok(())
}

/// A new host tensor of `shape` filled with `value`.
pub(crate) fn full(shape: &[usize], value: f64, dtype: DType, _device: Device) -> Result<Tensor> {
    Tensor::full(shape, value, dtype)
}

/// The AMP pass over host gradients: scale each in place (when `apply`) and look for
/// non-finite values, one read (and write) of each.
pub(crate) fn unscale_and_check(grads: &[&Tensor], inv_scale: f64, apply: bool) -> Result<bool> {
    let mut found = false;
    for g in grads {
        found |= match g.dtype() {
            DType::F32 => check_and_scale::<f32>(g, inv_scale, apply),
            DType::F64 => check_and_scale::<f64>(g, inv_scale, apply),
            DType::F16 => check_and_scale::<half::f16>(g, inv_scale, apply),
            DType::BF16 => check_and_scale::<half::bf16>(g, inv_scale, apply),
            dt => bail!(DType, "gradients must be floating point, got {dt}"),
        };
    }
    Ok(found)
}

fn check_and_scale<T: Element>(t: &Tensor, inv_scale: f64, apply: bool) -> bool {
    let off = t.layout().offset;
    let n = t.numel();
    if apply {
        let mut found = false;
        // SAFETY: gradients are contiguous (checked by `amp`) and updated one at a time.
        let s = unsafe { &mut t.storage().as_mut_slice::<T>()[off..off + n] };
        for v in s.iter_mut() {
            let x = v.to_f64() * inv_scale;
            found |= !x.is_finite();
            *v = T::from_f64(x);
        }
        t.bump_version();
        found
    } else {
        let s = &t.storage().as_slice::<T>()[off..off + n];
        s.iter().any(|v| !v.to_f64().is_finite())
    }
}

/// `tril`/`triu` (`Backend::tri`): each output row is the input row's kept run copied and
/// the rest zero-filled, rows split over the threads when the tensor is large.
pub(crate) fn tri(t: &Tensor, k: i64, upper: bool) -> Result<Tensor> {
    let nd = t.ndim();
    let (rows, cols) = (t.shape()[nd - 2], t.shape()[nd - 1]);
    with_dtype!(t.dtype(), T => {
        let x = t.data::<T>()?;
        let out = rows_into(x.len(), cols, |r, o| {
            // Row `i` keeps columns `j <= i + k` (lower) or `j >= i + k` (upper).
            let d = (r % rows) as i64 + k;
            let (a, b) = match upper {
                true => (d.clamp(0, cols as i64) as usize, cols),
                false => (0, (d + 1).clamp(0, cols as i64) as usize),
            };
            let zero = MaybeUninit::new(T::zero());
            o[..a].fill(zero);
            for (o, &v) in o[a..b].iter_mut().zip(&x[r * cols + a..r * cols + b]) {
                o.write(v);
            }
            o[b..].fill(zero);
        });
        Tensor::from_vec(out, t.shape())
    })
}

/// `flip` (`Backend::flip`): every output row (the last dim) copied from its mirrored source
/// row, reversed when the last dim is flipped; rows over the threads when the tensor is large.
pub(crate) fn flip(t: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let nd = t.ndim();
    let cols = t.shape()[nd - 1];
    // The source row of each output row, in output order: the outer dims walked as
    // `outer_offsets` does, a flipped dim from its end.
    let mut src = vec![0usize];
    let mut stride = cols;
    let mut strides = vec![0usize; nd - 1];
    for d in (0..nd - 1).rev() {
        strides[d] = stride;
        stride *= t.shape()[d];
    }
    for (d, &s) in strides.iter().enumerate() {
        let n = t.shape()[d];
        let flipped = dims.contains(&d);
        let at = move |i: usize| (if flipped { n - 1 - i } else { i }) * s;
        src = src
            .iter()
            .flat_map(|&o| (0..n).map(move |i| o + at(i)))
            .collect();
    }
    let reverse = dims.contains(&(nd - 1));
    with_dtype!(t.dtype(), T => {
        let x = t.data::<T>()?;
        let out = rows_into(x.len(), cols, |r, o| {
            let s = &x[src[r]..src[r] + cols];
            if reverse {
                o.iter_mut().zip(s.iter().rev()).for_each(|(o, &v)| {
                    o.write(v);
                });
            } else {
                o.iter_mut().zip(s).for_each(|(o, &v)| {
                    o.write(v);
                });
            }
        });
        Tensor::from_vec(out, t.shape())
    })
}

/// A new vector of `n` elements written row by row: `row(r, slots)` must initialise all the
/// `cols` slots of row `r`. Rows go over the threads when the vector is large.
fn rows_into<T: Element>(
    n: usize,
    cols: usize,
    row: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(n);
    let slots = &mut out.spare_capacity_mut()[..n];
    if cols > 0 {
        let rows = slots.chunks_mut(cols).enumerate();
        if n >= crate::cpu::kernel::PAR_THRESHOLD && crate::threads::split() {
            crate::cpu::team::for_each_halves(rows.collect(), |(r, o)| row(r, o));
        } else {
            rows.for_each(|(r, o)| row(r, o));
        }
    }
    // SAFETY: every row of `cols` slots was written by `row` (there are none when `cols` is
    // 0, and then `n` is 0 too).
    unsafe { out.set_len(n) };
    out
}
