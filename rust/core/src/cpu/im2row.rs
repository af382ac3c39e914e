//! im2row: one sample's input patches as the rows of a matrix `[Ho*Wo, kh*kw*C/g]`, built from
//! a channels-last copy of the sample, and its adjoint row2im. Row `p` holds output pixel `p`'s
//! patch in tap order `(ki, kj, ci)`: with dilation 1 along the width, the `kw` taps of one
//! kernel row at one pixel are `kw * C/g` consecutive channels-last values, so a patch is `kh`
//! long copies. im2col (`cpu::im2col`) makes the same products from `C/g * kh * kw` rows of one
//! output row each, short copies when the output is small: a GAN's 8x8 and 16x16 layers spend
//! more time there than in the GEMM. The weights are reordered to match (`reorder_taps`).

use super::im2col::whole_image;
use crate::ops::gather::transpose_into;
use crate::ops::nn::conv::Geom;
use crate::Float;

/// Shortest run of channels-last values (`kw * C/g`) for which patches as rows beat im2col's
/// output rows: below it, each copy is too short to pay for the transposes.
const MIN_RUN: usize = 32;

/// Output rows at most this long make im2col's copies short enough for rows to win at unit
/// stride (measured: 3x3 layers at 8x8 and 4x4 outputs 10-30% faster as rows, at 24x24 and
/// 32x32 5-15% slower).
const MAX_SHORT_ROW: usize = 16;

/// Whether a layer builds its patches as rows (this module) instead of columns (`im2col`).
/// Columns stay for short channel runs, for long output rows at unit stride (long copies
/// already), for 1x1 kernels (their columns are the input or a plain copy of it; the rows
/// path's two transposes cost 15-20% there) and for whole-image layers.
pub(super) fn prefers_rows(g: &Geom) -> bool {
    let short_rows = g.wo <= MAX_SHORT_ROW || g.s.stride.1 > 1;
    g.s.dilation.1 == 1
        && g.cg() * g.kw >= MIN_RUN
        && g.kh * g.kw > 1
        && short_rows
        && !whole_image(g)
}

/// Scratch for one channels-last group of one sample (`H * W * C/g` values).
pub(super) fn scratch_len(g: &Geom) -> usize {
    g.h * g.w * g.cg()
}

/// The input columns `[lo, hi)` of kernel taps `kj` in range for output column `ox`, and the
/// image column of tap `lo` (taps outside the image read the zero padding).
#[inline]
fn taps_in_width(g: &Geom, ox: usize) -> (usize, usize, usize) {
    let (sw, pw) = (g.s.stride.1, g.s.padding.1);
    let start = ox * sw; // image column + pw of tap 0
    let lo = pw.saturating_sub(start).min(g.kw);
    let hi = (g.w + pw).saturating_sub(start).min(g.kw).max(lo);
    (lo, hi, (start + lo).saturating_sub(pw))
}

/// The image row read by kernel row `ki` at output row `oy`, if inside the image.
#[inline]
fn image_row(g: &Geom, oy: usize, ki: usize) -> Option<usize> {
    let (sh, ph, dh) = (g.s.stride.0, g.s.padding.0, g.s.dilation.0);
    (oy * sh + ki * dh).checked_sub(ph).filter(|&iy| iy < g.h)
}

/// Calls `f(at, Some(from), len)` for every in-image part of every patch row (`len` values at
/// `at` within the patch matrix, read at `from` in the channels-last image) and
/// `f(at, None, len)` for the parts in the padding.
#[inline(always)]
fn for_each_run(g: &Geom, mut f: impl FnMut(usize, Option<usize>, usize)) {
    let (cg, kr) = (g.cg(), g.krows());
    let run = g.kw * cg;
    let widths: Vec<(usize, usize, usize)> = (0..g.wo).map(|ox| taps_in_width(g, ox)).collect();
    for oy in 0..g.ho {
        for (ox, &(lo, hi, ix)) in widths.iter().enumerate() {
            let patch = (oy * g.wo + ox) * kr;
            for ki in 0..g.kh {
                let at = patch + ki * run;
                match image_row(g, oy, ki) {
                    Some(iy) if hi > lo => {
                        f(at, None, lo * cg);
                        f(at + lo * cg, Some((iy * g.w + ix) * cg), (hi - lo) * cg);
                        f(at + hi * cg, None, (g.kw - hi) * cg);
                    }
                    _ => f(at, None, run),
                }
            }
        }
    }
}

/// Edge of the blocks `to_channels_last` moves through registers.
const BLOCK: usize = 8;

/// `xt[p * cg + c] = x[c * hw + p]`: by 8x8 blocks (8 contiguous loads, 8 contiguous stores;
/// element by element, the loads 4 KiB apart stall on the stores), the edges element-wise.
fn to_channels_last<T: Copy>(x: &[T], cg: usize, hw: usize, xt: &mut [T]) {
    let (cb, pb) = (cg / BLOCK * BLOCK, hw / BLOCK * BLOCK);
    for c0 in (0..cb).step_by(BLOCK) {
        for p0 in (0..pb).step_by(BLOCK) {
            let mut t = [[x[0]; BLOCK]; BLOCK];
            for (i, row) in t.iter_mut().enumerate() {
                row.copy_from_slice(&x[(c0 + i) * hw + p0..][..BLOCK]);
            }
            for j in 0..BLOCK {
                let d = &mut xt[(p0 + j) * cg + c0..][..BLOCK];
                for (i, v) in d.iter_mut().enumerate() {
                    *v = t[i][j];
                }
            }
        }
    }
    for c in 0..cg {
        let first = if c < cb { pb } else { 0 };
        for p in first..hw {
            xt[p * cg + c] = x[c * hw + p];
        }
    }
}

/// Fills `rows` (`[Ho*Wo, krows]`) with the patches of one sample's group of channels `x`;
/// `xt` is scratch of `scratch_len` values.
pub(super) fn im2row<T: Float>(x: &[T], g: &Geom, group: usize, xt: &mut [T], rows: &mut [T]) {
    let (cg, hw) = (g.cg(), g.h * g.w);
    to_channels_last(&x[group * cg * hw..][..cg * hw], cg, hw, xt);
    let out = &mut rows[..g.cols() * g.krows()];
    for_each_run(g, |at, from, len| {
        let d = &mut out[at..at + len];
        match from {
            Some(from) => d.copy_from_slice(&xt[from..from + len]),
            None => d.fill(T::zero()),
        }
    });
}

/// Adds `rows` (`[Ho*Wo, krows]`, as `im2row` lays them out) back into one sample's group of
/// input-gradient channels `dx`: the adjoint of `im2row`. `xt` is scratch of `scratch_len`
/// values.
pub(super) fn row2im<T: Float>(rows: &[T], g: &Geom, group: usize, xt: &mut [T], dx: &mut [T]) {
    let (cg, hw) = (g.cg(), g.h * g.w);
    let xt = &mut xt[..cg * hw];
    xt.fill(T::zero());
    for_each_run(g, |at, to, len| {
        if let Some(to) = to {
            for (d, &v) in xt[to..to + len].iter_mut().zip(&rows[at..at + len]) {
                *d += v;
            }
        }
    });
    let dx = &mut dx[group * cg * hw..][..cg * hw];
    for (c, plane) in dx.chunks_exact_mut(hw).enumerate() {
        for (p, d) in plane.iter_mut().enumerate() {
            *d += xt[p * cg + c];
        }
    }
}

/// The weights `[O, C/g, kh, kw]` with each output channel's taps in im2row's order
/// `(ki, kj, ci)`, as `[O, kh*kw*C/g]`.
pub(super) fn reorder_taps<T: Float>(w: &[T], g: &Geom) -> Vec<T> {
    let (cg, taps) = (g.cg(), g.kh * g.kw);
    let mut out = vec![T::zero(); w.len()];
    for (src, dst) in w
        .chunks_exact(cg * taps)
        .zip(out.chunks_exact_mut(cg * taps))
    {
        transpose_into(src, cg, taps, dst);
    }
    out
}

/// The inverse of `reorder_taps`, in place of `dst` (`[O, C/g, kh, kw]`).
pub(super) fn restore_taps<T: Float>(w: &[T], g: &Geom, dst: &mut [T]) {
    let (cg, taps) = (g.cg(), g.kh * g.kw);
    for (src, dst) in w
        .chunks_exact(cg * taps)
        .zip(dst.chunks_exact_mut(cg * taps))
    {
        transpose_into(src, taps, cg, dst);
    }
}
