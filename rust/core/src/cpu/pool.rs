//! 2-D pooling kernels on the CPU: max pooling (the winning index per output, for the backward)
//! and average pooling (PyTorch's `count_include_pad`). Half inputs compute in float32.

use crate::ops::nn::pool::Pool2dSpec;
use crate::ops::nn::{as_dtype, compute_input};
use crate::{DType, Element, Float, Result, Tensor};
use rayon::prelude::*;

/// `idx` entry of a window that lies entirely in the padding.
const NO_INDEX: i32 = -1;

/// The input rows (or columns) `[lo, hi)` window `o` covers, as kernel-tap indices: taps
/// `k` with `0 <= o*s + k*d - p < size`.
#[inline]
fn taps(o: usize, k: usize, s: usize, p: usize, d: usize, size: usize) -> (usize, usize) {
    let start = (o * s) as isize - p as isize;
    let lo = if start >= 0 {
        0
    } else {
        ((-start) as usize).div_ceil(d)
    };
    let hi = if (size as isize) <= start {
        0
    } else {
        (((size as isize - start) as usize).div_ceil(d)).min(k)
    };
    (lo, hi.max(lo))
}

/// One plane of 2x2, stride-2 max pooling: values into `o`, plane offsets into `ix`.
/// Branch-free selects (random data would mispredict every comparison): the first maximum of
/// each row pair, then of the two rows, which is the first maximum in row-major window order.
/// NaNs are fixed up afterwards (rare: the last NaN of a window wins, as PyTorch's scan
/// `v > max || isnan(v)` keeps it).
fn max_pool_2x2<T: Float>(
    plane: &[T],
    w: usize,
    (ho, wo): (usize, usize),
    o: &mut [T],
    ix: &mut [i32],
) {
    for oy in 0..ho {
        let (r0, r1) = (2 * oy * w, (2 * oy + 1) * w);
        let a = &plane[r0..r0 + 2 * wo];
        let b = &plane[r1..r1 + 2 * wo];
        let o = &mut o[oy * wo..(oy + 1) * wo];
        let ix = &mut ix[oy * wo..(oy + 1) * wo];
        let mut nan = false;
        for ox in 0..wo {
            let (x0, x1, y0, y1) = (a[2 * ox], a[2 * ox + 1], b[2 * ox], b[2 * ox + 1]);
            let g0 = x1 > x0;
            let m0 = if g0 { x1 } else { x0 };
            let g1 = y1 > y0;
            let m1 = if g1 { y1 } else { y0 };
            let gv = m1 > m0;
            o[ox] = if gv { m1 } else { m0 };
            let off = if gv {
                (r1 + g1 as usize) as i32
            } else {
                (r0 + g0 as usize) as i32
            };
            ix[ox] = off + 2 * ox as i32;
            nan |= x0.is_nan() | x1.is_nan() | y0.is_nan() | y1.is_nan();
        }
        if nan {
            for ox in 0..wo {
                let j = 2 * ox;
                let cand = [r0 + j, r0 + j + 1, r1 + j, r1 + j + 1];
                if let Some(c) = cand.into_iter().rev().find(|&c| plane[c].is_nan()) {
                    o[ox] = plane[c];
                    ix[ox] = c as i32;
                }
            }
        }
    }
}

/// One plane of max pooling with `1 x k` windows, stride `1 x k`, no padding or dilation
/// (`max_pool1d` runs as such on height-1 images): each window's first maximum by branch-free
/// selects, NaNs fixed up afterwards as in `max_pool_2x2` (the last NaN wins).
fn max_pool_1xk<T: Float>(
    plane: &[T],
    w: usize,
    (ho, wo, k): (usize, usize, usize),
    o: &mut [T],
    ix: &mut [i32],
) {
    for oy in 0..ho {
        let r0 = oy * w;
        let row = &plane[r0..r0 + k * wo];
        let o = &mut o[oy * wo..(oy + 1) * wo];
        let ix = &mut ix[oy * wo..(oy + 1) * wo];
        let mut nan = false;
        for (ox, win) in row.chunks_exact(k).enumerate() {
            let (mut best, mut at) = (win[0], 0);
            nan |= win[0].is_nan();
            for (t, &v) in win.iter().enumerate().skip(1) {
                let g = v > best;
                best = if g { v } else { best };
                at = if g { t } else { at };
                nan |= v.is_nan();
            }
            o[ox] = best;
            ix[ox] = (r0 + ox * k + at) as i32;
        }
        if nan {
            for (ox, win) in row.chunks_exact(k).enumerate() {
                if let Some(t) = win.iter().rposition(|v| v.is_nan()) {
                    o[ox] = win[t];
                    ix[ox] = (r0 + ox * k + t) as i32;
                }
            }
        }
    }
}

/// The kernel taps `[lo, hi)` of each output row or column.
type Taps = Vec<(usize, usize)>;

/// The kernel taps each output row (`dim` 0) or column (`dim` 1) covers inside the input.
fn window_taps(spec: &Pool2dSpec, dim: usize, outs: usize, size: usize) -> Taps {
    let pick = |p: (usize, usize)| if dim == 0 { p.0 } else { p.1 };
    let (k, s, p, d) = (
        pick(spec.kernel),
        pick(spec.stride),
        pick(spec.padding),
        pick(spec.dilation),
    );
    (0..outs).map(|o| taps(o, k, s, p, d, size)).collect()
}

/// One plane of max pooling with any window: values into `o`, plane offsets into `ix` (the
/// first maximum; the last NaN wins, as in PyTorch).
fn max_pool_windows<T: Float>(
    plane: &[T],
    w: usize,
    (ytaps, xtaps): (&Taps, &Taps),
    spec: &Pool2dSpec,
    o: &mut [T],
    ix: &mut [i32],
) {
    let wo = xtaps.len();
    let better = |v: T, best: T| v > best || v.is_nan();
    for (oy, &(ky0, ky1)) in ytaps.iter().enumerate() {
        let y0 = (oy * spec.stride.0) as isize - spec.padding.0 as isize;
        for (ox, &(kx0, kx1)) in xtaps.iter().enumerate() {
            let x0 = (ox * spec.stride.1) as isize - spec.padding.1 as isize;
            let mut best = T::NEG_INF;
            let mut bi = NO_INDEX;
            for ki in ky0..ky1 {
                let row = (y0 + (ki * spec.dilation.0) as isize) as usize * w;
                for kj in kx0..kx1 {
                    let j = row + (x0 + (kj * spec.dilation.1) as isize) as usize;
                    let v = plane[j];
                    if bi == NO_INDEX || better(v, best) {
                        best = v;
                        bi = j as i32;
                    }
                }
            }
            o[oy * wo + ox] = best;
            ix[oy * wo + ox] = bi;
        }
    }
}

/// Max pooling of `planes` planes of `h x w`: values and, per output, the plane offset of the
/// first maximum (the last NaN wins, as in PyTorch), planes in parallel when there is enough work.
/// 2x2 windows with stride 2, and `1 x k` windows with stride `1 x k`, take direct paths.
fn max_pool_forward<T: Float>(
    xd: &[T],
    planes: usize,
    (h, w): (usize, usize),
    (ho, wo): (usize, usize),
    spec: &Pool2dSpec,
) -> (Vec<T>, Vec<i32>) {
    let per = (ho * wo).max(1);
    let mut out = vec![T::zero(); planes * ho * wo];
    let mut idx = vec![NO_INDEX; planes * ho * wo];
    let direct = spec.kernel == (2, 2)
        && spec.stride == (2, 2)
        && spec.padding == (0, 0)
        && spec.dilation == (1, 1)
        && 2 * ho <= h
        && 2 * wo <= w;
    let k = spec.kernel.1;
    let rows_1xk = spec.kernel.0 == 1
        && spec.stride == (1, k)
        && spec.padding == (0, 0)
        && spec.dilation == (1, 1)
        && ho <= h
        && k * wo <= w;
    let (ytaps, xtaps) = (window_taps(spec, 0, ho, h), window_taps(spec, 1, wo, w));
    let plane_fn = |pl: usize, o: &mut [T], ix: &mut [i32]| {
        let plane = &xd[pl * h * w..(pl + 1) * h * w];
        if direct {
            max_pool_2x2(plane, w, (ho, wo), o, ix);
        } else if rows_1xk {
            max_pool_1xk(plane, w, (ho, wo, k), o, ix);
        } else {
            max_pool_windows(plane, w, (&ytaps, &xtaps), spec, o, ix);
        }
    };
    if planes * h * w >= PAR_WORK && crate::threads::split() {
        out.par_chunks_mut(per)
            .zip(idx.par_chunks_mut(per))
            .enumerate()
            .for_each(|(pl, (o, ix))| plane_fn(pl, o, ix));
    } else {
        out.chunks_mut(per)
            .zip(idx.chunks_mut(per))
            .enumerate()
            .for_each(|(pl, (o, ix))| plane_fn(pl, o, ix));
    }
    (out, idx)
}

/// Max pooling of `[n, c, h, w]` to `out_hw`: the values (in the input's dtype) and the plane
/// offset of each output's maximum (int32, -1 for a window wholly in the padding).
pub(super) fn max_pool2d_forward(
    x4: &Tensor,
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<(Tensor, Tensor)> {
    let (n, c, h, w) = (x4.shape()[0], x4.shape()[1], x4.shape()[2], x4.shape()[3]);
    if h * w > i32::MAX as usize {
        // The argmax is an int32 offset within a plane.
        crate::bail!(
            Value,
            "max_pool2d: a plane of {h}x{w} is too large (at most 2^31 - 1 elements)"
        );
    }
    let (x, dt) = compute_input(x4)?;
    let (out, idx) = crate::with_float!(dt, T => {
        let xd = x.data::<T>()?;
        let (out, idx) = max_pool_forward(&xd, n * c, (h, w), (ho, wo), spec);
        (Tensor::from_vec(out, &[n, c, ho, wo])?, idx)
    });
    Ok((
        as_dtype(&out, x4.dtype())?,
        Tensor::from_vec(idx, &[n, c, ho, wo])?,
    ))
}

/// Scatters `g` back to each window's maximum.
pub(super) fn max_pool2d_backward(
    g: &Tensor,
    argmax: &Tensor,
    in_shape: &[usize],
    _spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let dt = compute_dtype(g.dtype());
    let g = as_dtype(g, dt)?;
    let idx = argmax.data::<i32>()?;
    crate::with_float!(dt, T => {
        let gd = g.data::<T>()?;
        let mut dx = vec![T::zero(); in_shape.iter().product()];
        let hw = in_shape[2] * in_shape[3];
        for_planes(&mut dx, hw.max(1), |pl, d| {
            for k in pl * ho * wo..(pl + 1) * ho * wo {
                if idx[k] >= 0 {
                    d[idx[k] as usize] += gd[k];
                }
            }
        });
        Tensor::from_vec(dx, in_shape)
    })
}

/// Elements of work below which a pooling kernel stays on the calling thread.
const PAR_WORK: usize = 1 << 15;

/// `f(plane, chunk)` over `buf` in `per`-long planes (an input-sized gradient).
fn for_planes<T: Send>(buf: &mut [T], per: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let work = buf.len();
    for_planes_of(buf, per, work, f);
}

/// `f(plane, chunk)` over `buf` in `per`-long planes, on the threads when `work` (the elements
/// read) is large and there are several, else here.
fn for_planes_of<T: Send>(
    buf: &mut [T],
    per: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if work >= PAR_WORK && crate::threads::split() {
        buf.par_chunks_mut(per)
            .enumerate()
            .for_each(|(pl, d)| f(pl, d));
    } else {
        buf.chunks_mut(per).enumerate().for_each(|(pl, d)| f(pl, d));
    }
}

/// The dtype the kernels compute in for inputs of `dt`.
fn compute_dtype(dt: DType) -> DType {
    if dt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Window bounds `(y0, y1, x0, x1)` in the input and divisor of each output position.
fn avg_windows(
    (h, w): (usize, usize),
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Vec<(usize, usize, usize, usize, f64)> {
    (0..ho * wo)
        .map(|k| {
            let (oy, ox) = (k / wo, k % wo);
            let y0 = (oy * spec.stride.0) as isize - spec.padding.0 as isize;
            let x0 = (ox * spec.stride.1) as isize - spec.padding.1 as isize;
            let y1 = (y0 + spec.kernel.0 as isize).min((h + spec.padding.0) as isize);
            let x1 = (x0 + spec.kernel.1 as isize).min((w + spec.padding.1) as isize);
            let pool = ((y1 - y0) * (x1 - x0)) as f64;
            let (ys, xs) = (y0.max(0) as usize, x0.max(0) as usize);
            let (ye, xe) = (y1.min(h as isize) as usize, x1.min(w as isize) as usize);
            let div = if spec.count_include_pad {
                pool
            } else {
                ((ye - ys) * (xe - xs)) as f64
            };
            (ys, ye, xs, xe, div)
        })
        .collect()
}

/// Average pooling of `[n, c, h, w]` to `out_hw`, in the input's dtype.
pub(super) fn avg_pool2d_forward(
    x4: &Tensor,
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let (n, c, h, w) = (x4.shape()[0], x4.shape()[1], x4.shape()[2], x4.shape()[3]);
    let windows = avg_windows((h, w), spec, (ho, wo));
    let (x, dt) = compute_input(x4)?;
    let out = crate::with_float!(dt, T => {
        let xd = x.data::<T>()?;
        let mut out = vec![T::zero(); n * c * ho * wo];
        for_planes_of(&mut out, (ho * wo).max(1), xd.len(), |pl, o| {
            let plane = &xd[pl * h * w..(pl + 1) * h * w];
            for (k, &(ys, ye, xs, xe, div)) in windows.iter().enumerate() {
                let mut s = T::zero();
                for y in ys..ye {
                    for v in &plane[y * w + xs..y * w + xe] {
                        s += *v;
                    }
                }
                o[k] = s / T::from_f64(div);
            }
        });
        Tensor::from_vec(out, &[n, c, ho, wo])?
    });
    as_dtype(&out, x4.dtype())
}

/// Spreads `g` evenly over each window.
pub(super) fn avg_pool2d_backward(
    g: &Tensor,
    in_shape: &[usize],
    spec: &Pool2dSpec,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let (h, w) = (in_shape[2], in_shape[3]);
    let windows = avg_windows((h, w), spec, (ho, wo));
    let dt = compute_dtype(g.dtype());
    let g = as_dtype(g, dt)?;
    crate::with_float!(dt, T => {
        let gd = g.data::<T>()?;
        let mut dx = vec![T::zero(); in_shape.iter().product()];
        for_planes(&mut dx, (h * w).max(1), |pl, d| {
            for (k, &(ys, ye, xs, xe, div)) in windows.iter().enumerate() {
                let v = gd[pl * ho * wo + k] / T::from_f64(div);
                for y in ys..ye {
                    for e in &mut d[y * w + xs..y * w + xe] {
                        *e += v;
                    }
                }
            }
        });
        Tensor::from_vec(dx, in_shape)
    })
}
