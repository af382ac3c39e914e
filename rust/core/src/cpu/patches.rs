//! The patch matrix a host convolution multiplies by its weights, for a block of samples side
//! by side: as columns (`im2col`, `[kr, b*cols]`) or as rows (`im2row`, `[b*cols, kr]`,
//! weights reordered to match), whichever copies less per value for the layer's shape. The
//! forward and backward passes in `cpu::conv` see only the matrix and its strides.

use super::im2col::{col2im, im2col};
use super::im2row::{im2row, prefers_rows, reorder_taps, restore_taps, row2im, scratch_len};
use crate::ops::gather::transpose_into;
use crate::ops::nn::conv::Geom;
use crate::Float;
use std::borrow::Cow;

/// How a layer lays out its patch matrix.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Patches {
    Cols,
    Rows,
}

/// One thread's buffers for building and scattering patch matrices.
pub(super) struct Scratch<T> {
    /// One sample's columns before they are stacked beside the others' (`Cols`, blocks > 1).
    col: Vec<T>,
    /// A channels-last copy of one sample's group (`Rows`).
    xt: Vec<T>,
}

impl Patches {
    pub(super) fn of(g: &Geom) -> Self {
        if prefers_rows(g) {
            Patches::Rows
        } else {
            Patches::Cols
        }
    }

    /// The weights `[O, kr]` with each row's taps in this layout's order (the backward's
    /// operand; `forward_weights` is the forward's).
    pub(super) fn weights<'a, T: Float>(self, w: &'a [T], g: &Geom) -> Cow<'a, [T]> {
        match self {
            Patches::Cols => Cow::Borrowed(w),
            Patches::Rows => Cow::Owned(reorder_taps(w, g)),
        }
    }

    /// The forward's weights: `[O, kr]` for columns (`W_g @ cols`); for rows each group's
    /// `W_g^T` (`[kr, og]`, taps in row order), so that `rows @ W_g^T` multiplies two
    /// row-major operands (a column-major right operand packs ~3x slower).
    pub(super) fn forward_weights<'a, T: Float>(self, w: &'a [T], g: &Geom) -> Cow<'a, [T]> {
        match self {
            Patches::Cols => Cow::Borrowed(w),
            Patches::Rows => {
                let (wr, size) = (reorder_taps(w, g), g.og() * g.krows());
                let mut out = vec![T::zero(); wr.len()];
                for (src, dst) in wr.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
                    transpose_into(src, g.og(), g.krows(), dst);
                }
                Cow::Owned(out)
            }
        }
    }

    /// A weight gradient in this layout's tap order, back in `[O, C/g, kh, kw]`.
    pub(super) fn restore_weights<T: Float>(self, dw: Vec<T>, g: &Geom) -> Vec<T> {
        match self {
            Patches::Cols => dw,
            Patches::Rows => {
                let mut out = vec![T::zero(); dw.len()];
                restore_taps(&dw, g, &mut out);
                out
            }
        }
    }

    /// Buffers for blocks of up to `bmax` samples.
    pub(super) fn scratch<T: Float>(self, g: &Geom, bmax: usize) -> Scratch<T> {
        let (stacked, rows) = (self == Patches::Cols && bmax > 1, self == Patches::Rows);
        let xt = if rows { scratch_len(g) } else { 0 };
        Scratch {
            col: vec![T::zero(); if stacked { g.krows() * g.cols() } else { 0 }],
            xt: vec![T::zero(); xt],
        }
    }

    /// Builds the patch matrix of block `at`'s samples `xs` in `out`.
    pub(super) fn build<T: Float>(
        self,
        at: Block<'_>,
        xs: &[T],
        s: &mut Scratch<T>,
        out: &mut [T],
    ) {
        let Block { g, grp, b } = at;
        let (kr, cols, xsz) = (g.krows(), g.cols(), g.c * g.h * g.w);
        for j in 0..b {
            let x = &xs[j * xsz..][..xsz];
            match self {
                Patches::Rows => im2row(x, g, grp, &mut s.xt, &mut out[j * cols * kr..]),
                Patches::Cols if b == 1 => im2col(x, g, grp, &mut out[..kr * cols]),
                Patches::Cols => {
                    im2col(x, g, grp, &mut s.col);
                    stack_columns(out, &mut s.col, kr, cols, j, b, true);
                }
            }
        }
    }

    /// Adds the patch matrix `m` of block `at` back into its samples' input gradients `dxs`:
    /// the adjoint of `build`.
    pub(super) fn scatter<T: Float>(
        self,
        at: Block<'_>,
        m: &mut [T],
        s: &mut Scratch<T>,
        dxs: &mut [T],
    ) {
        let Block { g, grp, b } = at;
        let (kr, cols, xsz) = (g.krows(), g.cols(), g.c * g.h * g.w);
        for (j, dx) in dxs.chunks_exact_mut(xsz).take(b).enumerate() {
            match self {
                Patches::Rows => row2im(&m[j * cols * kr..][..cols * kr], g, grp, &mut s.xt, dx),
                Patches::Cols if b == 1 => col2im(&m[..kr * cols], g, grp, dx),
                Patches::Cols => {
                    stack_columns(m, &mut s.col, kr, cols, j, b, false);
                    col2im(&s.col, g, grp, dx);
                }
            }
        }
    }
}

/// A block of consecutive samples a GEMM covers at once, and the channel group.
#[derive(Clone, Copy)]
pub(super) struct Block<'a> {
    pub g: &'a Geom,
    pub grp: usize,
    /// Samples in the block.
    pub b: usize,
}

/// Copies sample `j`'s `[rows, cols]` block into columns `j * cols..` of the `[rows, b * cols]`
/// matrix `wide` (`into`), or back out of it.
fn stack_columns<T: Copy>(
    wide: &mut [T],
    one: &mut [T],
    rows: usize,
    cols: usize,
    j: usize,
    b: usize,
    into: bool,
) {
    for r in 0..rows {
        let w = &mut wide[r * b * cols + j * cols..][..cols];
        let o = &mut one[r * cols..][..cols];
        if into {
            w.copy_from_slice(o);
        } else {
            o.copy_from_slice(w);
        }
    }
}
