//! 2-D pooling over `[N, C, H, W]` (or `[C, H, W]`): max (remembering the winning index for the
//! backward), average (PyTorch's `count_include_pad`), and adaptive average.

use super::{as_dtype, compute_input};
use crate::autograd::record;
use crate::{bail, Element, Float, Result, Tensor};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct Pool2dSpec {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

fn pooled(input: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> Result<usize> {
    let span = d * (k - 1) + 1;
    if input + 2 * p < span {
        bail!(
            Shape,
            "pool2d: input size {input} (padding {p}) is smaller than the window {span}"
        );
    }
    let num = input + 2 * p - span;
    let mut o = if ceil {
        num.div_ceil(s) + 1
    } else {
        num / s + 1
    };
    // PyTorch: the last window must start inside the input or left padding.
    if ceil && (o - 1) * s >= input + p {
        o -= 1;
    }
    Ok(o)
}

/// Views `[C,H,W]` as `[1,C,H,W]`; returns (4-d input, whether to squeeze the result).
fn as4d(t: &Tensor, what: &str) -> Result<(Tensor, bool)> {
    match t.ndim() {
        4 => Ok((t.clone(), false)),
        3 => Ok((t.unsqueeze(0)?, true)),
        _ => bail!(
            Shape,
            "{what} expects a 3-D or 4-D input, got shape {:?}",
            t.shape()
        ),
    }
}

fn check_spec(s: &Pool2dSpec) -> Result<()> {
    if s.kernel.0 == 0
        || s.kernel.1 == 0
        || s.stride.0 == 0
        || s.stride.1 == 0
        || s.dilation.0 == 0
        || s.dilation.1 == 0
    {
        bail!(
            Value,
            "pool2d: kernel size, stride and dilation must be positive"
        );
    }
    if s.padding.0 * 2 > s.kernel.0 || s.padding.1 * 2 > s.kernel.1 {
        bail!(Value, "pool2d: padding should be at most half of the kernel size, got padding {:?} for kernel {:?}", s.padding, s.kernel);
    }
    Ok(())
}

/// `idx` entry of a window that lies entirely in the padding.
const NO_INDEX: u32 = u32::MAX;

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

/// Max pooling of `planes` planes of `h x w`: values and, per output, the plane offset of the
/// first maximum (NaN wins, as in PyTorch). 2x2 windows with stride 2 take a direct path.
fn max_pool_forward<T: Float>(
    xd: &[T],
    planes: usize,
    (h, w): (usize, usize),
    (ho, wo): (usize, usize),
    spec: &Pool2dSpec,
) -> (Vec<T>, Vec<u32>) {
    let per = (ho * wo).max(1);
    let mut out = vec![T::zero(); planes * ho * wo];
    let mut idx = vec![NO_INDEX; planes * ho * wo];
    let direct = spec.kernel == (2, 2)
        && spec.stride == (2, 2)
        && spec.padding == (0, 0)
        && spec.dilation == (1, 1)
        && 2 * ho <= h
        && 2 * wo <= w;
    let better = |v: T, best: T| v > best || (v.is_nan() && !best.is_nan());
    let ytaps: Vec<(usize, usize)> = (0..ho)
        .map(|oy| {
            taps(
                oy,
                spec.kernel.0,
                spec.stride.0,
                spec.padding.0,
                spec.dilation.0,
                h,
            )
        })
        .collect();
    let xtaps: Vec<(usize, usize)> = (0..wo)
        .map(|ox| {
            taps(
                ox,
                spec.kernel.1,
                spec.stride.1,
                spec.padding.1,
                spec.dilation.1,
                w,
            )
        })
        .collect();
    let plane_fn = |pl: usize, o: &mut [T], ix: &mut [u32]| {
        let plane = &xd[pl * h * w..(pl + 1) * h * w];
        if direct {
            for oy in 0..ho {
                let (r0, r1) = (2 * oy * w, (2 * oy + 1) * w);
                let a = &plane[r0..r0 + 2 * wo];
                let b = &plane[r1..r1 + 2 * wo];
                let o = &mut o[oy * wo..(oy + 1) * wo];
                let ix = &mut ix[oy * wo..(oy + 1) * wo];
                // Branch-free selects (random data would mispredict every comparison):
                // the first maximum of each row pair, then of the two rows, which is the
                // first maximum in row-major window order. NaNs are fixed up afterwards.
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
                        (r1 + g1 as usize) as u32
                    } else {
                        (r0 + g0 as usize) as u32
                    };
                    ix[ox] = off + 2 * ox as u32;
                    nan |= x0.is_nan() | x1.is_nan() | y0.is_nan() | y1.is_nan();
                }
                if nan {
                    // Rare: the first NaN of a window wins.
                    for ox in 0..wo {
                        let j = 2 * ox;
                        let cand = [r0 + j, r0 + j + 1, r1 + j, r1 + j + 1];
                        if let Some(c) = cand.into_iter().find(|&c| plane[c].is_nan()) {
                            o[ox] = plane[c];
                            ix[ox] = c as u32;
                        }
                    }
                }
            }
            return;
        }
        for (oy, &(ky0, ky1)) in ytaps.iter().enumerate() {
            let y0 = (oy * spec.stride.0) as isize - spec.padding.0 as isize;
            for (ox, &(kx0, kx1)) in xtaps.iter().enumerate() {
                let x0 = (ox * spec.stride.1) as isize - spec.padding.1 as isize;
                let mut best = T::NEG_INF;
                let mut bi = NO_INDEX;
                'window: for ki in ky0..ky1 {
                    let row = (y0 + (ki * spec.dilation.0) as isize) as usize * w;
                    for kj in kx0..kx1 {
                        let j = row + (x0 + (kj * spec.dilation.1) as isize) as usize;
                        let v = plane[j];
                        if bi == NO_INDEX || better(v, best) {
                            best = v;
                            bi = j as u32;
                            if v.is_nan() {
                                break 'window;
                            }
                        }
                    }
                }
                o[oy * wo + ox] = best;
                ix[oy * wo + ox] = bi;
            }
        }
    };
    if planes * h * w >= 1 << 15 {
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

impl Tensor {
    /// Max pooling; the gradient flows to the (first) maximum of each window.
    pub fn max_pool2d(&self, spec: Pool2dSpec) -> Result<Tensor> {
        check_spec(&spec)?;
        let (x4, squeeze) = as4d(self, "max_pool2d")?;
        let (n, c, h, w) = (x4.shape()[0], x4.shape()[1], x4.shape()[2], x4.shape()[3]);
        let ho = pooled(
            h,
            spec.kernel.0,
            spec.stride.0,
            spec.padding.0,
            spec.dilation.0,
            spec.ceil_mode,
        )?;
        let wo = pooled(
            w,
            spec.kernel.1,
            spec.stride.1,
            spec.padding.1,
            spec.dilation.1,
            spec.ceil_mode,
        )?;
        if x4.device().is_cuda() {
            let r = crate::cuda::ops::nn::max_pool2d(&x4, &spec, ho, wo)?;
            return if squeeze { r.squeeze(Some(0)) } else { Ok(r) };
        }
        let (x, dt) = compute_input(&x4)?;
        let planes = n * c;
        let (out, idx) = crate::with_float!(dt, T => {
            let xd = x.data::<T>()?;
            let (out, idx) = max_pool_forward(&xd, planes, (h, w), (ho, wo), &spec);
            (Tensor::from_vec(out, &[n, c, ho, wo])?, idx)
        });
        let out = as_dtype(&out, self.dtype())?;
        let in_shape = x4.shape().to_vec();
        let in_dt = self.dtype();
        let r = record(out, "MaxPool2DBackward", &[&x4], move |g| {
            let g = as_dtype(g, dt)?;
            let dx = crate::with_float!(dt, T => {
                let gd = g.data::<T>()?;
                let mut dx = vec![T::zero(); in_shape.iter().product()];
                let hw = in_shape[2] * in_shape[3];
                dx.par_chunks_mut(hw.max(1)).enumerate().for_each(|(pl, d)| {
                    for k in pl * ho * wo..(pl + 1) * ho * wo {
                        if idx[k] != NO_INDEX {
                            d[idx[k] as usize] += gd[k];
                        }
                    }
                });
                Tensor::from_vec(dx, &in_shape)?
            });
            Ok(vec![Some(as_dtype(&dx, in_dt)?)])
        });
        if squeeze {
            r.squeeze(Some(0))
        } else {
            Ok(r)
        }
    }

    /// Average pooling (`count_include_pad` as in PyTorch; dilation must be 1).
    pub fn avg_pool2d(&self, spec: Pool2dSpec) -> Result<Tensor> {
        check_spec(&spec)?;
        let (x4, squeeze) = as4d(self, "avg_pool2d")?;
        let (n, c, h, w) = (x4.shape()[0], x4.shape()[1], x4.shape()[2], x4.shape()[3]);
        let ho = pooled(
            h,
            spec.kernel.0,
            spec.stride.0,
            spec.padding.0,
            1,
            spec.ceil_mode,
        )?;
        let wo = pooled(
            w,
            spec.kernel.1,
            spec.stride.1,
            spec.padding.1,
            1,
            spec.ceil_mode,
        )?;
        if x4.device().is_cuda() {
            let r = crate::cuda::ops::nn::avg_pool2d(&x4, &spec, ho, wo)?;
            return if squeeze { r.squeeze(Some(0)) } else { Ok(r) };
        }
        // Window bounds and divisor of each output position (shared by forward and backward).
        let windows: Vec<(usize, usize, usize, usize, f64)> = (0..ho * wo)
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
            .collect();
        let (x, dt) = compute_input(&x4)?;
        let out = crate::with_float!(dt, T => {
            let xd = x.data::<T>()?;
            let mut out = vec![T::zero(); n * c * ho * wo];
            out.par_chunks_mut((ho * wo).max(1)).enumerate().for_each(|(pl, o)| {
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
        let out = as_dtype(&out, self.dtype())?;
        let in_shape = x4.shape().to_vec();
        let in_dt = self.dtype();
        let r = record(out, "AvgPool2DBackward", &[&x4], move |g| {
            let g = as_dtype(g, dt)?;
            let dx = crate::with_float!(dt, T => {
                let gd = g.data::<T>()?;
                let mut dx = vec![T::zero(); in_shape.iter().product()];
                dx.par_chunks_mut((h * w).max(1)).enumerate().for_each(|(pl, d)| {
                    for (k, &(ys, ye, xs, xe, div)) in windows.iter().enumerate() {
                        let v = gd[pl * ho * wo + k] / T::from_f64(div);
                        for y in ys..ye {
                            for e in &mut d[y * w + xs..y * w + xe] {
                                *e += v;
                            }
                        }
                    }
                });
                Tensor::from_vec(dx, &in_shape)?
            });
            Ok(vec![Some(as_dtype(&dx, in_dt)?)])
        });
        if squeeze {
            r.squeeze(Some(0))
        } else {
            Ok(r)
        }
    }

    /// Adaptive average pooling to `(out_h, out_w)`: bin i spans
    /// `[floor(i*H/out), ceil((i+1)*H/out))`, as in PyTorch.
    pub fn adaptive_avg_pool2d(&self, out_hw: (usize, usize)) -> Result<Tensor> {
        let (x4, squeeze) = as4d(self, "adaptive_avg_pool2d")?;
        let (h, w) = (x4.shape()[2], x4.shape()[3]);
        let (ho, wo) = out_hw;
        if ho == 0 || wo == 0 || h == 0 || w == 0 {
            bail!(
                Shape,
                "adaptive_avg_pool2d: output size {:?} and input {:?} must be non-empty",
                out_hw,
                self.shape()
            );
        }
        // Express each bin as a sum of products of row and column averaging matrices:
        // out = Ah @ x @ Aw^T with Ah [ho, h], Aw [wo, w]; reuses matmul and its gradient.
        let weights = |o: usize, i: usize| -> Result<Tensor> {
            let mut m = vec![0f64; o * i];
            for r in 0..o {
                let s = r * i / o;
                let e = ((r + 1) * i).div_ceil(o);
                for c in s..e {
                    m[r * i + c] = 1.0 / (e - s) as f64;
                }
            }
            Tensor::from_vec(m, &[o, i])?
                .to_dtype(x4.dtype())?
                .to_device(x4.device())
        };
        let ah = weights(ho, h)?;
        let aw = weights(wo, w)?;
        let r = ah.matmul(&x4)?.matmul(&aw.t()?)?;
        if squeeze {
            r.squeeze(Some(0))
        } else {
            Ok(r)
        }
    }
}
