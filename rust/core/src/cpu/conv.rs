//! 2-D convolution on the host as patches + GEMM (parallel over the batch; samples with small
//! outputs stacked side by side into one GEMM), with a backward that recomputes the columns
//! instead of keeping them, so memory stays at a few column buffers per thread.

use super::matmul::gemm_slices;
use super::patches::{Block, Patches};
use super::reduce::row_sum;
use crate::backend::ConvGrads;
use crate::ops::nn::conv::Geom;
use crate::ops::nn::{as_dtype, compute_input};
use crate::{DType, Float, Result, Tensor};
use std::mem::MaybeUninit;

/// `conv2d` of `x` `[n, c, h, w]` by `w` (plus `b`), all of one floating dtype, in that dtype
/// (half types compute in float32).
pub(crate) fn conv2d_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Geom,
) -> Result<Tensor> {
    let out_dtype = x.dtype();
    let (x, dt) = compute_input(x)?;
    let (w, _) = compute_input(w)?;
    let runs = sample_runs(g.n);
    let out = crate::with_float!(dt, T => {
        let bd = match b { Some(b) => Some(as_dtype(b, dt)?.to_vec::<T>()?), None => None };
        let o = forward::<T>(&x.data::<T>()?, &w.data::<T>()?, bd.as_deref(), g, &runs);
        Tensor::from_vec(o, &[g.n, g.o, g.ho, g.wo])?
    });
    as_dtype(&out, out_dtype)
}

/// The convolution's gradients from the output gradient `gy`, each in the dtype of `x` and
/// `w` (the forward's), computed only where `need` (input, weight, bias) asks.
pub(crate) fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    g: &Geom,
    need: [bool; 3],
) -> Result<ConvGrads> {
    let out_dtype = x.dtype();
    let (x, dt) = compute_input(x)?;
    let (w, _) = compute_input(w)?;
    let gy = as_dtype(gy, dt)?;
    let runs = sample_runs(g.n);
    let [need_x, need_w, need_b] = need;
    crate::with_float!(dt, T => {
        let (dx, dw, db) = backward::<T>(&x.data::<T>()?, &w.data::<T>()?, &gy.data::<T>()?, g, need_x, need_w, &runs);
        Ok(ConvGrads {
            dx: keep(dx, x.shape(), need_x, out_dtype)?,
            dw: keep(dw, w.shape(), need_w, out_dtype)?,
            db: keep(db, &[g.o], need_b, out_dtype)?,
        })
    })
}

/// A computed gradient as a tensor of `shape` in `dt`, when it was asked for.
fn keep<T: Float>(v: Vec<T>, shape: &[usize], want: bool, dt: DType) -> Result<Option<Tensor>> {
    if !want {
        return Ok(None);
    }
    Ok(Some(as_dtype(&Tensor::from_vec(v, shape)?, dt)?))
}

/// The batch split into one run of consecutive samples per thread.
fn sample_runs(n: usize) -> Vec<(usize, usize)> {
    let per = n.div_ceil(crate::threads::get()).max(1);
    (0..n)
        .step_by(per)
        .map(|s0| (s0, (s0 + per).min(n)))
        .collect()
}

/// Output positions a GEMM should at least cover: a 4x4 or 1x1 output alone (the small end
/// of a GAN, a transposed convolution's first layer) makes a GEMV-shaped product whose packing
/// costs more than its arithmetic, so such samples are stacked side by side into one GEMM.
const MIN_GEMM_COLS: usize = 256;

/// Samples per GEMM for outputs of `cols` positions, in a run of `len` samples.
fn block_len(cols: usize, len: usize) -> usize {
    (MIN_GEMM_COLS / cols.max(1)).clamp(1, len.max(1))
}

/// Forward pass: per block of samples, the patch matrix (`cpu::patches`) into per-thread
/// buffers (which stay in cache), side by side when the output is small, and one GEMM per
/// group; the output starts as the bias. The backward rebuilds the patches, which costs less
/// than writing and re-reading them through memory.
fn forward<T: Float>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &Geom,
    runs: &[(usize, usize)],
) -> Vec<T> {
    let (kr, cols, og) = (g.krows(), g.cols(), g.og());
    let xsz = g.c * g.h * g.w;
    let per_out = g.o * cols;
    let patches = Patches::of(g);
    let w = patches.forward_weights(w, g);
    let extras = vec![(); runs.len()];
    fill_runs(runs, per_out, extras, |(s0, s1), o, ()| {
        // Each output channel's row starts as its bias (or zero), then the GEMMs add.
        let o = init_rows(o, cols, |r| bias.map_or(T::zero(), |b| b[r % g.o.max(1)]));
        let bmax = block_len(cols, s1 - s0);
        let mut scratch = patches.scratch(g, bmax);
        let mut wide = vec![T::zero(); kr * bmax * cols];
        let rows = patches == Patches::Rows;
        let mut outb = vec![T::zero(); og * bmax * cols];
        for k0 in (0..s1 - s0).step_by(bmax) {
            let b = bmax.min(s1 - s0 - k0);
            let bw = b * cols;
            let xs = &x[(s0 + k0) * xsz..][..b * xsz];
            for grp in 0..g.s.groups {
                let wg = &w[grp * og * kr..][..og * kr];
                patches.build(Block { g, grp, b }, xs, &mut scratch, &mut wide);
                let (pm, ob) = (&wide[..kr * bw], &mut outb[..og * bw]);
                // Where output channel `oc` of sample `j` starts in the run's output.
                let dst_at = |j: usize, oc: usize| (k0 + j) * per_out + (grp * og + oc) * cols;
                if rows {
                    // out_g^T [bw, og] = rows [bw, kr] @ W_g^T [kr, og], added transposed.
                    gemm_slices(bw, og, kr, pm, (kr, 1), wg, (og, 1), ob, false);
                    for j in 0..b {
                        for oc in 0..og {
                            let dst = &mut o[dst_at(j, oc)..][..cols];
                            let src = &ob[j * cols * og + oc..];
                            dst.iter_mut()
                                .enumerate()
                                .for_each(|(p, d)| *d += src[p * og]);
                        }
                    }
                } else if b == 1 {
                    // out_g [og, cols] += W_g [og, kr] @ cols [kr, cols]
                    let dst = &mut o[dst_at(0, 0)..][..og * cols];
                    gemm_slices(og, cols, kr, wg, (kr, 1), pm, (cols, 1), dst, true);
                } else {
                    gemm_slices(og, bw, kr, wg, (kr, 1), pm, (bw, 1), ob, false);
                    for j in 0..b {
                        for oc in 0..og {
                            let dst = &mut o[dst_at(j, oc)..][..cols];
                            let src = &ob[oc * bw + j * cols..][..cols];
                            dst.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                        }
                    }
                }
            }
        }
    })
}

/// A vector of `per` elements for every sample of `runs`, built by the runs' workers: `fill(
/// (s0, s1), piece, extra)` must write every element of its run's piece (`(s1 - s0) * per`),
/// which it does in cache, instead of the caller zero-filling megabytes first. `extras` holds
/// one more item per run for `fill`.
fn fill_runs<T: Send, E: Send>(
    runs: &[(usize, usize)],
    per: usize,
    extras: Vec<E>,
    fill: impl Fn((usize, usize), &mut [MaybeUninit<T>], E) + Sync + Send,
) -> Vec<T> {
    let n = runs.last().map_or(0, |r| r.1) * per;
    let mut out: Vec<T> = Vec::with_capacity(n);
    let mut pieces = Vec::with_capacity(runs.len());
    let mut rest = &mut out.spare_capacity_mut()[..n];
    for (&run, extra) in runs.iter().zip(extras) {
        let (p, tail) = rest.split_at_mut((run.1 - run.0) * per);
        rest = tail;
        pieces.push((run, p, extra));
    }
    crate::cpu::team::for_each(pieces, |(run, p, extra)| fill(run, p, extra));
    // SAFETY: the runs cover all `n` elements and `fill` wrote every one of its piece.
    unsafe { out.set_len(n) };
    out
}

/// Writes `value(r)` into every element of row `r` of `block` (rows of `len`) and returns the
/// block, now initialised.
fn init_rows<T: Copy>(
    block: &mut [MaybeUninit<T>],
    len: usize,
    value: impl Fn(usize) -> T,
) -> &mut [T] {
    for (r, row) in block.chunks_mut(len.max(1)).enumerate() {
        let v = value(r);
        row.iter_mut().for_each(|e| {
            e.write(v);
        });
    }
    // SAFETY: every element was written just above; MaybeUninit<T> has T's layout.
    unsafe { &mut *(block as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// One run's share of the weight and bias gradients.
struct Partial<T> {
    dw: Vec<T>,
    db: Vec<T>,
}

/// Returns (dx, dw, db) for float type T, in one pass over each thread's run of samples, all
/// per block of samples (side by side when the output is small, as in the forward) from buffers
/// that stay in cache:
/// - bias: row sums of the output gradients;
/// - weight: the patches again and `dW_g^T [kr, og] += patches @ gy_g^T` (measured: faster
///   than one long GEMM over the run's gathered patches, even for thin kernels, as nothing is
///   gathered);
/// - input: `patches = W_g^T @ gy_g`, then scattered back into each sample's gradient.
///
/// Runs' partial weight/bias gradients are summed at the end.
#[allow(clippy::too_many_arguments)]
fn backward<T: Float>(
    x: &[T],
    w: &[T],
    gy: &[T],
    g: &Geom,
    need_x: bool,
    need_w: bool,
    runs: &[(usize, usize)],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (kr, cols, og) = (g.krows(), g.cols(), g.og());
    let xsz = g.c * g.h * g.w;
    let wsz = g.o * kr;
    let patches = Patches::of(g);
    let w = patches.weights(w, g);
    let mut partials: Vec<Partial<T>> = runs
        .iter()
        .map(|_| Partial {
            dw: vec![T::zero(); if need_w { wsz } else { 0 }],
            db: vec![T::zero(); g.o],
        })
        .collect();
    let per_x = if need_x { xsz } else { 0 };
    let extras: Vec<&mut Partial<T>> = partials.iter_mut().collect();
    let dx = fill_runs(runs, per_x, extras, |(s0, s1), dxr, part| {
        for ni in s0..s1 {
            for (oc, b) in part.db.iter_mut().enumerate() {
                *b += row_sum(&gy[(ni * g.o + oc) * cols..][..cols]);
            }
        }
        // The samples' input gradients start at zero; the scatters add every group into them.
        let dxr = init_rows(dxr, xsz, |_| T::zero());
        if !need_w && !need_x {
            return;
        }
        let bmax = block_len(cols, s1 - s0);
        let wide_len = kr * bmax * cols;
        let mut scratch = patches.scratch(g, bmax);
        let mut wide = vec![T::zero(); if need_w { wide_len } else { 0 }];
        let mut colx = vec![T::zero(); if need_x { wide_len } else { 0 }];
        let mut gyb = vec![T::zero(); if bmax > 1 { og * bmax * cols } else { 0 }];
        let mut dwt = vec![T::zero(); if need_w { wsz } else { 0 }];
        for k0 in (0..s1 - s0).step_by(bmax) {
            let b = bmax.min(s1 - s0 - k0);
            let bw = b * cols;
            for grp in 0..g.s.groups {
                // gy_g for the block, [og, b * cols] (the sample's own block when alone).
                let gy_at = |j: usize| (s0 + k0 + j) * g.o * cols + grp * og * cols;
                let gyg: &[T] = if b == 1 {
                    &gy[gy_at(0)..][..og * cols]
                } else {
                    for j in 0..b {
                        for oc in 0..og {
                            let src = &gy[gy_at(j) + oc * cols..][..cols];
                            gyb[oc * bw + j * cols..][..cols].copy_from_slice(src);
                        }
                    }
                    &gyb[..og * bw]
                };
                if need_w {
                    let xs = &x[(s0 + k0) * xsz..][..b * xsz];
                    patches.build(Block { g, grp, b }, xs, &mut scratch, &mut wide);
                    // cols: dW_g^T [kr, og] += cols [kr, bw] @ gy_g^T [bw, og];
                    // rows: dW_g [og, kr] += gy_g [og, bw] @ rows [bw, kr].
                    let dst = &mut dwt[grp * kr * og..][..kr * og];
                    let pm = &wide[..kr * bw];
                    match patches {
                        Patches::Cols => {
                            gemm_slices(kr, og, bw, pm, (bw, 1), gyg, (1, bw), dst, true)
                        }
                        Patches::Rows => {
                            gemm_slices(og, kr, bw, gyg, (bw, 1), pm, (kr, 1), dst, true)
                        }
                    }
                }
                if need_x {
                    // patches = W_g^T [kr, og] @ gy_g [og, bw], stored in the layout's order:
                    // for rows that is `gy_g^T [bw, og] @ W_g [og, kr]`.
                    let wg = &w[grp * og * kr..][..og * kr];
                    let m = &mut colx[..kr * bw];
                    match patches {
                        Patches::Cols => {
                            gemm_slices(kr, bw, og, wg, (1, kr), gyg, (bw, 1), m, false)
                        }
                        Patches::Rows => {
                            gemm_slices(bw, kr, og, gyg, (1, bw), wg, (kr, 1), m, false)
                        }
                    }
                    let dxs = &mut dxr[k0 * xsz..][..b * xsz];
                    patches.scatter(Block { g, grp, b }, &mut colx, &mut scratch, dxs);
                }
            }
        }
        if need_w && patches == Patches::Rows {
            part.dw.copy_from_slice(&dwt);
        } else if need_w {
            for grp in 0..g.s.groups {
                let src = &dwt[grp * kr * og..][..kr * og];
                let dst = &mut part.dw[grp * og * kr..][..og * kr];
                crate::ops::gather::transpose_into(src, kr, og, dst);
            }
        }
    });
    let mut dw = vec![T::zero(); if need_w { wsz } else { 0 }];
    let mut db = vec![T::zero(); g.o];
    for p in &partials {
        for (a, &b) in dw.iter_mut().zip(&p.dw) {
            *a += b;
        }
        for (a, &b) in db.iter_mut().zip(&p.db) {
            *a += b;
        }
    }
    (dx, patches.restore_weights(dw, g), db)
}
