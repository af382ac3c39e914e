//! im2col (one sample's input patches as the columns of a matrix, so a convolution is a GEMM)
//! and its adjoint col2im. Row `(ci, ki, kj)` of the column matrix holds, for every output
//! pixel, the input value under kernel tap `(ki, kj)` of channel `ci` (zero in the padding).
//! With stride 1 each output row's in-bounds span is a shifted input row, so both are a few
//! hundred short strided row copies/adds (`ops::rows`); other strides gather element-wise.

use crate::cpu::rows::{add_rows, copy_rows, Rows, Span};
use crate::ops::nn::conv::Geom;
use crate::Float;

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

/// Where one kernel tap `(ci, ki, kj)` reads the image: output rows `ylo..yhi` and columns
/// `lo..hi` have their input inside it, and `first` is the input index of output `(ylo, lo)`.
#[derive(Clone, Copy)]
struct Window {
    ylo: usize,
    yhi: usize,
    lo: usize,
    hi: usize,
    first: usize,
}

/// The window of each of the `kh * kw` kernel positions within a channel's plane (None when
/// no output pixel sees the image through it), worked out once per call: a layer with
/// hundreds of channels has thousands of taps per sample, and each window costs divisions.
fn kernel_windows(g: &Geom) -> Vec<Option<Window>> {
    let ((sh, sw), (ph, pw), (dh, dw)) = (g.s.stride, g.s.padding, g.s.dilation);
    (0..g.kh)
        .flat_map(|ki| {
            // Output rows whose input row `oy*sh + ki*dh - ph` is inside the image.
            let (ylo, yhi) = valid_cols(g.ho, g.h, sh, ph, ki * dh);
            (0..g.kw).map(move |kj| {
                let (lo, hi) = valid_cols(g.wo, g.w, sw, pw, kj * dw);
                (hi > lo && yhi > ylo).then(|| Window {
                    ylo,
                    yhi,
                    lo,
                    hi,
                    // Row oy*sh + ki*dh - ph, column lo*sw + kj*dw - pw of the plane.
                    first: (ylo * sh + ki * dh - ph) * g.w + lo * sw + kj * dw - pw,
                })
            })
        })
        .collect()
}

/// Calls `f(row, window)` for every kernel tap of one group's channels, in column-matrix
/// row order, with its window in the sample (`kernel`'s, shifted to the channel's plane).
#[inline(always)]
fn for_each_tap(
    g: &Geom,
    group: usize,
    kernel: &[Option<Window>],
    mut f: impl FnMut(usize, Option<Window>),
) {
    for ci in 0..g.cg() {
        let plane = (group * g.cg() + ci) * g.h * g.w;
        for (k, w) in kernel.iter().enumerate() {
            let w = w.map(|w| Window {
                first: plane + w.first,
                ..w
            });
            f(ci * kernel.len() + k, w);
        }
    }
}

/// Whether a group's columns are its input itself: one output position whose window is the
/// whole unpadded image (the small end of a GAN: 4x4 -> 1x1, and the transposed 1x1 -> 4x4).
fn whole_image(g: &Geom) -> bool {
    g.ho == 1
        && g.wo == 1
        && g.s.padding == (0, 0)
        && g.s.dilation == (1, 1)
        && (g.kh, g.kw) == (g.h, g.w)
}

/// Fills `col` (`[C/g*kh*kw, Ho*Wo]`) from one sample's group of channels `x`.
pub(super) fn im2col<T: Float>(x: &[T], g: &Geom, group: usize, col: &mut [T]) {
    if whole_image(g) {
        let kr = g.krows();
        col[..kr].copy_from_slice(&x[group * kr..][..kr]);
        return;
    }
    let ((sh, sw), w, wo) = (g.s.stride, g.w, g.wo);
    let cols = g.ho * wo;
    let kernel = kernel_windows(g);
    for_each_tap(g, group, &kernel, |row, window| {
        let d = &mut col[row * cols..(row + 1) * cols];
        let Some(window) = window else {
            d.fill(T::zero());
            return;
        };
        let Window {
            ylo,
            yhi,
            lo,
            hi,
            first,
        } = window;
        d[..ylo * wo].fill(T::zero());
        d[yhi * wo..].fill(T::zero());
        let rows = yhi - ylo;
        if sw == 1 {
            let transfer = Rows {
                src: Span::new(first, sh * w),
                dst: Span::new(ylo * wo + lo, wo),
                count: rows,
                len: hi - lo,
            };
            copy_rows(x, d, transfer);
        } else {
            for r in 0..rows {
                let s = first + r * sh * w;
                let o = (ylo + r) * wo;
                for (k, v) in d[o + lo..o + hi].iter_mut().enumerate() {
                    *v = x[s + k * sw];
                }
            }
        }
        if lo > 0 || hi < wo {
            for oy in ylo..yhi {
                d[oy * wo..oy * wo + lo].fill(T::zero());
                d[oy * wo + hi..(oy + 1) * wo].fill(T::zero());
            }
        }
    });
}

/// Adds `col` (`[C/g*kh*kw, Ho*Wo]`, rows packed) back into one sample's group of input-
/// gradient channels `dx`: the adjoint of `im2col`.
pub(super) fn col2im<T: Float>(col: &[T], g: &Geom, group: usize, dx: &mut [T]) {
    if whole_image(g) {
        let kr = g.krows();
        let d = &mut dx[group * kr..][..kr];
        d.iter_mut().zip(&col[..kr]).for_each(|(d, &c)| *d += c);
        return;
    }
    let ((sh, sw), w, wo) = (g.s.stride, g.w, g.wo);
    let cols = g.ho * wo;
    let kernel = kernel_windows(g);
    for_each_tap(g, group, &kernel, |row, window| {
        let Some(win) = window else {
            return;
        };
        let src = row * cols + win.ylo * wo + win.lo;
        let (first, rows, len) = (win.first, win.yhi - win.ylo, win.hi - win.lo);
        if sw == 1 {
            let transfer = Rows {
                src: Span::new(src, wo),
                dst: Span::new(first, sh * w),
                count: rows,
                len,
            };
            add_rows(col, dx, transfer);
        } else {
            for r in 0..rows {
                let (s, o) = (src + r * wo, first + r * sh * w);
                for (k, &v) in col[s..s + len].iter().enumerate() {
                    dx[o + k * sw] += v;
                }
            }
        }
    });
}
