//! 2-D convolution as im2col + GEMM per sample (parallel over the batch), with a backward that
//! recomputes the columns instead of keeping them, so memory stays at one column buffer per thread.

use super::{as_dtype, compute_input};
use crate::autograd::{record, Saved};
use crate::ops::matmul::gemm_slices;
use crate::ops::reduce::row_sum;
use crate::{bail, Float, Result, Tensor};

/// Geometry of a convolution (all sizes in elements).
#[derive(Debug, Clone, Copy)]
pub struct Conv2dSpec {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    s: Conv2dSpec,
}

impl Geom {
    fn cg(&self) -> usize {
        self.c / self.s.groups
    }
    fn og(&self) -> usize {
        self.o / self.s.groups
    }
    /// Rows of one group's column matrix: `C/g * kh * kw`.
    fn krows(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    fn cols(&self) -> usize {
        self.ho * self.wo
    }
}

/// Output size of one spatial dim, or an error naming the problem.
fn out_size(
    input: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dil: usize,
    what: &str,
) -> Result<usize> {
    let span = dil * (k - 1) + 1;
    if input + 2 * pad < span {
        bail!(
            Shape,
            "conv2d: {what} input size {} (padded to {}) is smaller than the kernel extent {}",
            input,
            input + 2 * pad,
            span
        );
    }
    Ok((input + 2 * pad - span) / stride + 1)
}

fn geometry(x: &Tensor, w: &Tensor, s: Conv2dSpec) -> Result<Geom> {
    if x.ndim() != 4 || w.ndim() != 4 {
        bail!(
            Shape,
            "conv2d expects input [N, C, H, W] and weight [O, C/groups, kH, kW], got {:?} and {:?}",
            x.shape(),
            w.shape()
        );
    }
    if s.groups == 0 || s.stride.0 == 0 || s.stride.1 == 0 || s.dilation.0 == 0 || s.dilation.1 == 0
    {
        bail!(
            Value,
            "conv2d: stride, dilation and groups must be positive"
        );
    }
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    if c % s.groups != 0 || o % s.groups != 0 || cg * s.groups != c {
        bail!(
            Shape,
            "conv2d: input has {} channels and weight {:?} with groups={}: expected weight [O, {}, kH, kW] with O divisible by groups",
            c, w.shape(), s.groups, c / s.groups.max(1)
        );
    }
    if kh == 0 || kw == 0 {
        bail!(
            Shape,
            "conv2d: kernel size must be positive, got weight {:?}",
            w.shape()
        );
    }
    let ho = out_size(h, kh, s.stride.0, s.padding.0, s.dilation.0, "height")?;
    let wo = out_size(wd, kw, s.stride.1, s.padding.1, s.dilation.1, "width")?;
    Ok(Geom {
        n,
        c,
        h,
        w: wd,
        o,
        kh,
        kw,
        ho,
        wo,
        s,
    })
}

/// The output columns `[lo, hi)` whose input column `ox * s + k_off - p` lies inside
/// `[0, w)`, for one kernel column offset `k_off` (`kj * dilation`).
#[inline]
fn valid_cols(wo: usize, w: usize, s: usize, p: usize, k_off: usize) -> (usize, usize) {
    // ox * s + k_off >= p  and  ox * s + k_off < w + p
    let lo = p.saturating_sub(k_off).div_ceil(s);
    let hi = if w + p > k_off {
        (w + p - k_off).div_ceil(s).min(wo)
    } else {
        0
    };
    (lo.min(wo), hi.max(lo.min(wo)))
}

/// Fills `col` ([C/g*kh*kw, Ho*Wo]) from one sample's group of channels. Each row of `col` is
/// a shifted copy of input rows: the in-bounds span is found once per kernel column, copied
/// with `copy_from_slice` at stride 1, and only the padding is zeroed.
/// Row `r` of this sample's columns starts at `col[r * ld]`, so several samples can sit side
/// by side in one matrix.
fn im2col_ld<T: Float>(x: &[T], g: &Geom, group: usize, col: &mut [T], ld: usize) {
    let (sh, sw) = g.s.stride;
    let (ph, pw) = g.s.padding;
    let (dh, dw) = g.s.dilation;
    let cols = g.cols();
    for ci in 0..g.cg() {
        let plane = &x[(group * g.cg() + ci) * g.h * g.w..][..g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let dst = &mut col[row * ld..row * ld + cols];
                let (lo, hi) = valid_cols(g.wo, g.w, sw, pw, kj * dw);
                for oy in 0..g.ho {
                    let iy = (oy * sh + ki * dh) as isize - ph as isize;
                    let d = &mut dst[oy * g.wo..(oy + 1) * g.wo];
                    if iy < 0 || iy >= g.h as isize {
                        d.fill(T::zero());
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    d[..lo].fill(T::zero());
                    d[hi..].fill(T::zero());
                    if hi > lo {
                        let first = lo * sw + kj * dw - pw;
                        if sw == 1 {
                            d[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                        } else {
                            for (k, v) in d[lo..hi].iter_mut().enumerate() {
                                *v = src[first + k * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds `col` back into one sample's group of input-gradient channels (the adjoint of im2col).
fn col2im<T: Float>(col: &[T], g: &Geom, group: usize, dx: &mut [T]) {
    let (sh, sw) = g.s.stride;
    let (ph, pw) = g.s.padding;
    let (dh, dw) = g.s.dilation;
    let cols = g.cols();
    for ci in 0..g.cg() {
        let plane = &mut dx[(group * g.cg() + ci) * g.h * g.w..][..g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let src = &col[row * cols..(row + 1) * cols];
                let (lo, hi) = valid_cols(g.wo, g.w, sw, pw, kj * dw);
                if hi <= lo {
                    continue;
                }
                let first = lo * sw + kj * dw - pw;
                for oy in 0..g.ho {
                    let iy = (oy * sh + ki * dh) as isize - ph as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let s = &src[oy * g.wo + lo..oy * g.wo + hi];
                    if sw == 1 {
                        for (d, &v) in dst[first..first + s.len()].iter_mut().zip(s) {
                            *d += v;
                        }
                    } else {
                        for (k, &v) in s.iter().enumerate() {
                            dst[first + k * sw] += v;
                        }
                    }
                }
            }
        }
    }
}

/// The batch split into one run of samples per thread: each run's column matrices sit side
/// by side (`[kr, samples * cols]` per group), so the forward and the weight gradient are one
/// long GEMM per run instead of a skinny one per sample.
fn sample_runs(n: usize) -> Vec<(usize, usize)> {
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    (0..n)
        .step_by(per)
        .map(|s0| (s0, (s0 + per).min(n)))
        .collect()
}

/// Where run `(s0, s1)`'s column matrices start in the column cache (all groups of a run are
/// consecutive: group `grp` at `+ grp * kr * width`).
fn run_offset(g: &Geom, s0: usize) -> usize {
    g.s.groups * g.krows() * s0 * g.cols()
}

/// One run of samples with its pieces of the output and of the column cache.
type RunPiece<'a, T> = (&'a (usize, usize), &'a mut [T], &'a mut [T]);

/// Forward pass. With `keep_cols` the column matrices are returned for the backward (which
/// then skips recomputing them); otherwise the second vector is empty.
fn forward<T: Float>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &Geom,
    runs: &[(usize, usize)],
    keep_cols: bool,
) -> (Vec<T>, Vec<T>) {
    let (kr, cols, og) = (g.krows(), g.cols(), g.og());
    let per_out = g.o * cols;
    let xsz = g.c * g.h * g.w;
    let mut out = vec![T::zero(); g.n * per_out];
    let mut cache = vec![
        T::zero();
        if keep_cols {
            g.s.groups * kr * g.n * cols
        } else {
            0
        }
    ];
    // Split `out` and `cache` into the runs' disjoint pieces.
    let mut pieces: Vec<RunPiece<'_, T>> = Vec::with_capacity(runs.len());
    let (mut out_rest, mut cache_rest) = (&mut out[..], &mut cache[..]);
    for r in runs {
        let n = r.1 - r.0;
        let (o, rest) = out_rest.split_at_mut(n * per_out);
        out_rest = rest;
        let csz = if keep_cols {
            g.s.groups * kr * n * cols
        } else {
            0
        };
        let (c, rest) = cache_rest.split_at_mut(csz);
        cache_rest = rest;
        pieces.push((r, o, c));
    }
    crate::ops::team::for_each(pieces, |(&(s0, s1), o, cached)| {
        let width = (s1 - s0) * cols;
        let mut scratch = Vec::new();
        for grp in 0..g.s.groups {
            let col: &mut [T] = if keep_cols {
                &mut cached[grp * kr * width..(grp + 1) * kr * width]
            } else {
                scratch.resize(kr * cols, T::zero());
                &mut scratch[..]
            };
            let ld = if keep_cols { width } else { cols };
            let wg = &w[grp * og * kr..][..og * kr];
            for (k, ni) in (s0..s1).enumerate() {
                // Each sample's GEMM writes its output block in place (out is [N, O, cols]).
                let c = if keep_cols {
                    &mut col[k * cols..]
                } else {
                    &mut col[..]
                };
                im2col_ld(&x[ni * xsz..][..xsz], g, grp, c, ld);
                let dst = &mut o[k * per_out + grp * og * cols..][..og * cols];
                if let Some(b) = bias {
                    for (oc, row) in dst.chunks_mut(cols).enumerate() {
                        row.fill(b[grp * og + oc]);
                    }
                }
                // out_g [og, cols] (+)= W_g [og, kr] @ col [kr, cols] (row stride ld)
                gemm_slices(og, cols, kr, wg, (kr, 1), c, (ld, 1), dst, bias.is_some());
            }
        }
    });
    (out, cache)
}

/// Returns (dx, dw, db) for float type T.
///
/// The weight and bias gradients take the batch in a few chunks (one per thread): the
/// chunk's columns sit side by side in one `[kr, S * cols]` matrix and its output gradients
/// are gathered to `[og, S * cols]`, so `dW += gy @ col^T` is one long GEMM per chunk instead
/// of a skinny one per sample; chunks are summed at the end. The input gradient is a separate
/// pass, parallel over samples: `col = W^T @ gy`, then col2im.
#[allow(clippy::too_many_arguments)]
fn backward<T: Float>(
    x: &[T],
    w: &[T],
    gy: &[T],
    g: &Geom,
    need_x: bool,
    need_w: bool,
    runs: &[(usize, usize)],
    cached_cols: Option<&[T]>,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (kr, cols, og) = (g.krows(), g.cols(), g.og());
    let xsz = g.c * g.h * g.w;
    let wsz = g.o * kr;
    let mut dx = if need_x {
        vec![T::zero(); g.n * xsz]
    } else {
        Vec::new()
    };
    if need_x {
        let mut pieces: Vec<(usize, &mut [T])> = Vec::with_capacity(runs.len());
        let mut rest = &mut dx[..];
        for &(s0, s1) in runs {
            let (d, tail) = rest.split_at_mut((s1 - s0) * xsz);
            rest = tail;
            pieces.push((s0, d));
        }
        crate::ops::team::for_each(pieces, |(s0, dxr)| {
            let mut col = vec![T::zero(); kr * cols];
            for (k, dxs) in dxr.chunks_mut(xsz.max(1)).enumerate() {
                let ni = s0 + k;
                let gys = &gy[ni * g.o * cols..][..g.o * cols];
                for grp in 0..g.s.groups {
                    let gyg = &gys[grp * og * cols..][..og * cols];
                    let wg = &w[grp * og * kr..][..og * kr];
                    // col = W_g^T [kr, og] @ gy_g [og, cols]
                    gemm_slices(kr, cols, og, wg, (1, kr), gyg, (cols, 1), &mut col, false);
                    col2im(&col, g, grp, dxs);
                }
            }
        });
    }
    // Weight and bias gradients over the same runs of samples as the forward.
    let partial = |&(s0, s1): &(usize, usize)| -> (Vec<T>, Vec<T>) {
        let width = (s1 - s0) * cols;
        let mut dw = vec![T::zero(); if need_w { wsz } else { 0 }];
        let mut db = vec![T::zero(); g.o];
        for ni in s0..s1 {
            for (oc, b) in db.iter_mut().enumerate() {
                *b += row_sum(&gy[(ni * g.o + oc) * cols..][..cols]);
            }
        }
        if !need_w {
            return (dw, db);
        }
        if kr <= 64 {
            // Few kernel rows: gather the output gradients' rows (plain copies) and let the
            // GEMM read the columns transposed.
            // dW_g [og, kr] = gy_c [og, width] @ col^T [width, kr].
            let mut scratch = vec![T::zero(); if cached_cols.is_some() { 0 } else { kr * width }];
            let mut gyc = vec![T::zero(); og * width];
            for grp in 0..g.s.groups {
                for (k, ni) in (s0..s1).enumerate() {
                    let src = &gy[(ni * g.o + grp * og) * cols..][..og * cols];
                    for (oc, row) in src.chunks_exact(cols).enumerate() {
                        gyc[oc * width + k * cols..][..cols].copy_from_slice(row);
                    }
                    if cached_cols.is_none() {
                        im2col_ld(
                            &x[ni * xsz..][..xsz],
                            g,
                            grp,
                            &mut scratch[k * cols..],
                            width,
                        );
                    }
                }
                let col = match cached_cols {
                    Some(c) => &c[run_offset(g, s0) + grp * kr * width..][..kr * width],
                    None => &scratch[..],
                };
                let dwg = &mut dw[grp * og * kr..][..og * kr];
                gemm_slices(og, kr, width, &gyc, (width, 1), col, (1, width), dwg, false);
            }
        } else {
            // Both GEMM operands row-major (the gemm crate packs those fastest):
            // dW_g^T [kr, og] = col [kr, width] @ gy_c^T [width, og].
            let mut scratch = vec![T::zero(); if cached_cols.is_some() { 0 } else { kr * width }];
            let mut gyt = vec![T::zero(); width * og];
            let mut dwt = vec![T::zero(); kr * og];
            for grp in 0..g.s.groups {
                for (k, ni) in (s0..s1).enumerate() {
                    let src = &gy[(ni * g.o + grp * og) * cols..][..og * cols];
                    let dst = &mut gyt[k * cols * og..(k + 1) * cols * og];
                    crate::ops::gather::transpose_into(src, og, cols, dst);
                    if cached_cols.is_none() {
                        im2col_ld(
                            &x[ni * xsz..][..xsz],
                            g,
                            grp,
                            &mut scratch[k * cols..],
                            width,
                        );
                    }
                }
                let col = match cached_cols {
                    Some(c) => &c[run_offset(g, s0) + grp * kr * width..][..kr * width],
                    None => &scratch[..],
                };
                gemm_slices(
                    kr,
                    og,
                    width,
                    col,
                    (width, 1),
                    &gyt,
                    (og, 1),
                    &mut dwt,
                    false,
                );
                let dwg = &mut dw[grp * og * kr..][..og * kr];
                for r in 0..kr {
                    for oc in 0..og {
                        dwg[oc * kr + r] = dwt[r * og + oc];
                    }
                }
            }
        }
        (dw, db)
    };
    let parts: Vec<(Vec<T>, Vec<T>)> = crate::ops::team::map(runs, partial);
    let mut dw = vec![T::zero(); if need_w { wsz } else { 0 }];
    let mut db = vec![T::zero(); g.o];
    for (pw, pb) in &parts {
        for (a, &b) in dw.iter_mut().zip(pw) {
            *a += b;
        }
        for (a, &b) in db.iter_mut().zip(pb) {
            *a += b;
        }
    }
    (dx, dw, db)
}

impl Tensor {
    /// `conv2d(input [N,C,H,W], weight [O,C/groups,kH,kW], bias [O])` as in PyTorch.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: Conv2dSpec,
    ) -> Result<Tensor> {
        if crate::amp::autocast_dtype().is_some() {
            let (x, w) = (crate::amp::to_low(self)?, crate::amp::to_low(weight)?);
            let b = bias.map(crate::amp::to_low).transpose()?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.conv2d(&w, b.as_ref(), spec);
        }
        self.check_same_device(weight)?;
        let g = geometry(self, weight, spec)?;
        if let Some(b) = bias {
            if b.shape() != [g.o] {
                bail!(
                    Shape,
                    "conv2d: bias shape {:?} does not match {} output channels",
                    b.shape(),
                    g.o
                );
            }
        }
        let out_dtype = crate::ops::promote::result_type(&[self, weight]);
        if !out_dtype.is_float() {
            bail!(
                DType,
                "conv2d expects floating point tensors, got {} and {}",
                self.dtype(),
                weight.dtype()
            );
        }
        if self.device().is_cuda() {
            let b = bias.map(|b| b.to_dtype(out_dtype)).transpose()?;
            let shape = crate::cuda::ops::nn::ConvShape {
                n: g.n,
                c: g.c,
                h: g.h,
                w: g.w,
                o: g.o,
                kh: g.kh,
                kw: g.kw,
                ho: g.ho,
                wo: g.wo,
            };
            return crate::cuda::ops::nn::conv2d(
                &self.to_dtype(out_dtype)?,
                &weight.to_dtype(out_dtype)?,
                b.as_ref(),
                spec,
                shape,
            );
        }
        let (x, dt) = compute_input(&self.to_dtype(out_dtype)?)?;
        let (w, _) = compute_input(&weight.to_dtype(dt)?)?;
        let b = match bias {
            Some(b) => Some(compute_input(&b.to_dtype(dt)?)?.0),
            None => None,
        };
        let shape = [g.n, g.o, g.ho, g.wo];
        let runs = sample_runs(g.n);
        // The weight gradient reuses the forward's column matrices (memory for recomputation).
        let keep = weight.requires_grad() && crate::autograd::is_grad_enabled();
        let (out, cols) = crate::with_float!(dt, T => {
            let bd = match &b { Some(b) => Some(b.data::<T>()?.into_owned()), None => None };
            let (o, c) = forward::<T>(&x.data::<T>()?, &w.data::<T>()?, bd.as_deref(), &g, &runs, keep);
            let n = c.len();
            (Tensor::from_vec(o, &shape)?, Tensor::from_vec(c, &[n])?)
        });
        let out = if out.dtype() != out_dtype {
            as_dtype(&out, out_dtype)?
        } else {
            out
        };
        let mut inputs = vec![self, weight];
        if let Some(b) = bias {
            inputs.push(b);
        }
        let (xs, ws) = (Saved::new(&x), Saved::new(&w));
        let (need_x, need_w) = (self.requires_grad(), weight.requires_grad());
        let (dx_t, dw_t) = (self.dtype(), weight.dtype());
        let bias_dt = bias.map(|b| b.dtype());
        Ok(record(out, "ConvolutionBackward", &inputs, move |gy| {
            let (x, w) = (xs.get()?, ws.get()?);
            let gy = as_dtype(gy, dt)?;
            let (dx, dw, db) = crate::with_float!(dt, T => {
                let cached = if keep { Some(cols.data::<T>()?) } else { None };
                let (dx, dw, db) = backward::<T>(&x.data::<T>()?, &w.data::<T>()?, &gy.data::<T>()?, &g, need_x, need_w, &runs, cached.as_deref());
                (
                    if need_x { Some(Tensor::from_vec(dx, x.shape())?.to_dtype(dx_t)?) } else { None },
                    if need_w { Some(Tensor::from_vec(dw, w.shape())?.to_dtype(dw_t)?) } else { None },
                    match bias_dt { Some(bd) => Some(Tensor::from_vec(db, &[g.o])?.to_dtype(bd)?), None => None },
                )
            });
            let mut v = vec![dx, dw];
            if bias_dt.is_some() {
                v.push(db);
            }
            Ok(v)
        }))
    }
}
