//! im2col (one sample's input patches as the columns of a matrix, so a convolution is a GEMM)
//! and its adjoint col2im. Row `(ci, ki, kj)` of the column matrix holds, for every output
//! pixel, the input value under kernel tap `(ki, kj)` of channel `ci` (zero in the padding).
//! Each output row's in-bounds span is then a shifted input row, so both are a few hundred
//! short strided row copies/adds (`cpu::rows`). A column stride `s > 1` first splits every
//! input row into its `s` column phases (the even columns, then the odd ones, for `s = 2`):
//! a tap reads one phase at consecutive columns, so the same row copies serve instead of an
//! element-wise gather (a GAN's 4x4 stride-2 layers).

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

/// The phase layout of a channel plane for column stride `s`: each image row becomes `s`
/// segments of `len = ceil(w / s)` elements, segment `p` holding columns `p, p + s, ...`.
/// With `s = 1` it is the image itself.
#[derive(Clone, Copy)]
struct Phases {
    stride: usize,
    len: usize,
    /// Elements per row: `stride * len`.
    row: usize,
}

impl Phases {
    fn of(g: &Geom) -> Self {
        let stride = g.s.stride.1;
        let len = g.w.div_ceil(stride);
        Phases {
            stride,
            len,
            row: stride * len,
        }
    }

    /// Where image column `c` lies within a row.
    fn column(self, c: usize) -> usize {
        (c % self.stride) * self.len + c / self.stride
    }

    /// Elements of one channel plane of `h` rows.
    fn plane(self, h: usize) -> usize {
        h * self.row
    }

    /// Writes `x`'s rows (each `w` long, `rows` of them) in this layout into `out` (the pad
    /// past the last column of a short phase is zero; no window reads it).
    fn split<T: Float>(self, x: &[T], w: usize, out: &mut [T]) {
        for (src, dst) in x.chunks_exact(w).zip(out.chunks_exact_mut(self.row)) {
            if self.row != w {
                dst.fill(T::zero());
            }
            if self.stride == 2 {
                let (even, odd) = dst.split_at_mut(self.len);
                for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if w % 2 == 1 {
                    even[w / 2] = src[w - 1];
                }
                continue;
            }
            for (c, &v) in src.iter().enumerate() {
                dst[self.column(c)] = v;
            }
        }
    }

    /// Adds `p` (rows in this layout) into `x`'s rows (each `w` long): the adjoint of `split`.
    fn merge_add<T: Float>(self, p: &[T], w: usize, x: &mut [T]) {
        for (src, dst) in p.chunks_exact(self.row).zip(x.chunks_exact_mut(w)) {
            if self.stride == 2 {
                let (even, odd) = src.split_at(self.len);
                for ((&e, &o), pair) in even.iter().zip(odd).zip(dst.chunks_exact_mut(2)) {
                    pair[0] += e;
                    pair[1] += o;
                }
                if w % 2 == 1 {
                    dst[w - 1] += even[w / 2];
                }
                continue;
            }
            for (c, d) in dst.iter_mut().enumerate() {
                *d += src[self.column(c)];
            }
        }
    }
}

/// The window of each of the `kh * kw` kernel positions within a channel's plane in the
/// phase layout (`Phases`; None when no output pixel sees the image through it), worked out
/// once per call: a layer with hundreds of channels has thousands of taps per sample, and
/// each window costs divisions.
fn kernel_windows(g: &Geom) -> Vec<Option<Window>> {
    let ((sh, sw), (ph, pw), (dh, dw)) = (g.s.stride, g.s.padding, g.s.dilation);
    let ph_w = Phases::of(g);
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
                    // Row oy*sh + ki*dh - ph, column lo*sw + kj*dw - pw of the image.
                    first: (ylo * sh + ki * dh - ph) * ph_w.row
                        + ph_w.column(lo * sw + kj * dw - pw),
                })
            })
        })
        .collect()
}

/// Calls `f(row, window)` for every kernel tap of one group's `g.cg()` channels, in column-
/// matrix row order, with its window shifted to the channel's plane (planes of `plane_len`
/// elements, the group's first at plane index `first_plane`).
#[inline(always)]
fn for_each_tap(
    g: &Geom,
    first_plane: usize,
    plane_len: usize,
    kernel: &[Option<Window>],
    mut f: impl FnMut(usize, Option<Window>),
) {
    for ci in 0..g.cg() {
        let plane = (first_plane + ci) * plane_len;
        for (k, w) in kernel.iter().enumerate() {
            let w = w.map(|w| Window {
                first: plane + w.first,
                ..w
            });
            f(ci * kernel.len() + k, w);
        }
    }
}

/// One group's channels in the phase layout, and the plane index of its first channel there:
/// `x` itself for column stride 1, else a split copy of just the group's channels.
fn group_source<'a, T: Float>(
    x: &'a [T],
    g: &Geom,
    group: usize,
    ph: Phases,
) -> (std::borrow::Cow<'a, [T]>, usize) {
    if ph.stride == 1 {
        return (std::borrow::Cow::Borrowed(x), group * g.cg());
    }
    let planes = g.cg() * g.h;
    let mut buf = vec![T::zero(); planes * ph.row];
    ph.split(
        &x[group * g.cg() * g.h * g.w..][..planes * g.w],
        g.w,
        &mut buf,
    );
    (std::borrow::Cow::Owned(buf), 0)
}

/// Whether a group's columns are its input itself: one output position whose window is the
/// whole unpadded image (the small end of a GAN: 4x4 -> 1x1, and the transposed 1x1 -> 4x4).
pub(super) fn whole_image(g: &Geom) -> bool {
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
    let (sh, wo) = (g.s.stride.0, g.wo);
    let cols = g.ho * wo;
    let kernel = kernel_windows(g);
    let ph = Phases::of(g);
    let (src, first_plane) = group_source(x, g, group, ph);
    for_each_tap(g, first_plane, ph.plane(g.h), &kernel, |row, window| {
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
        let transfer = Rows {
            src: Span::new(first, sh * ph.row),
            dst: Span::new(ylo * wo + lo, wo),
            count: yhi - ylo,
            len: hi - lo,
        };
        copy_rows(&src, d, transfer);
        if lo > 0 || hi < wo {
            for oy in ylo..yhi {
                d[oy * wo..oy * wo + lo].fill(T::zero());
                d[oy * wo + hi..(oy + 1) * wo].fill(T::zero());
            }
        }
    });
}

/// Adds `col` (`[C/g*kh*kw, Ho*Wo]`, rows packed) back into one sample's group of input-
/// gradient channels `dx`: the adjoint of `im2col` (through a phase-layout buffer when the
/// column stride is above 1).
pub(super) fn col2im<T: Float>(col: &[T], g: &Geom, group: usize, dx: &mut [T]) {
    if whole_image(g) {
        let kr = g.krows();
        let d = &mut dx[group * kr..][..kr];
        d.iter_mut().zip(&col[..kr]).for_each(|(d, &c)| *d += c);
        return;
    }
    let ph = Phases::of(g);
    if ph.stride == 1 {
        scatter(col, g, group * g.cg(), ph, dx);
        return;
    }
    let planes = g.cg() * g.h;
    let mut buf = vec![T::zero(); planes * ph.row];
    scatter(col, g, 0, ph, &mut buf);
    ph.merge_add(&buf, g.w, &mut dx[group * planes * g.w..][..planes * g.w]);
}

/// Adds every tap's row of `col` into its window of `dst` (planes in the phase layout `ph`,
/// the group's first at plane index `first_plane`).
fn scatter<T: Float>(col: &[T], g: &Geom, first_plane: usize, ph: Phases, dst: &mut [T]) {
    let (sh, wo) = (g.s.stride.0, g.wo);
    let cols = g.ho * wo;
    let kernel = kernel_windows(g);
    for_each_tap(g, first_plane, ph.plane(g.h), &kernel, |row, window| {
        let Some(win) = window else {
            return;
        };
        let transfer = Rows {
            src: Span::new(row * cols + win.ylo * wo + win.lo, wo),
            dst: Span::new(win.first, sh * ph.row),
            count: win.yhi - win.ylo,
            len: win.hi - win.lo,
        };
        add_rows(col, dst, transfer);
    });
}
