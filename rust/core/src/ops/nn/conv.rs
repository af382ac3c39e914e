//! 2-D convolution as im2col + GEMM per sample (parallel over the batch), with a backward that
//! recomputes the columns instead of keeping them, so memory stays at one column buffer per thread.

use super::im2col::{col2im, im2col};
use super::{as_dtype, compute_input};
use crate::autograd::{record, Saved};
use crate::cpu::reduce::row_sum;
use crate::ops::matmul::gemm_slices;
use crate::{bail, Float, Result, Tensor};
use std::mem::MaybeUninit;

/// Geometry of a convolution (all sizes in elements).
#[derive(Debug, Clone, Copy)]
pub struct Conv2dSpec {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

/// A convolution's sizes (shared by the CPU kernels and the CUDA path): input `[n, c, h, w]`,
/// weight `[o, c/groups, kh, kw]`, output
/// `[n, o, ho, wo]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub s: Conv2dSpec,
}

impl Geom {
    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.s.groups
    }
    /// Output channels per group.
    pub fn og(&self) -> usize {
        self.o / self.s.groups
    }
    /// Rows of one group's column matrix: `C/g * kh * kw`.
    pub fn krows(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Columns of a column matrix: one per output pixel.
    pub fn cols(&self) -> usize {
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

/// The batch split into one run of consecutive samples per thread.
fn sample_runs(n: usize) -> Vec<(usize, usize)> {
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    (0..n)
        .step_by(per)
        .map(|s0| (s0, (s0 + per).min(n)))
        .collect()
}

/// Forward pass: per sample, im2col into a per-thread buffer (which stays in cache) and one
/// GEMM per group writing the output block in place. The backward recomputes the columns,
/// which costs less than writing and re-reading them through memory.
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
    let extras = vec![(); runs.len()];
    fill_runs(runs, per_out, extras, |(s0, _), o, ()| {
        let mut col = vec![T::zero(); kr * cols];
        for (k, dst) in o.chunks_mut(per_out.max(1)).enumerate() {
            let xs = &x[(s0 + k) * xsz..][..xsz];
            // Each output channel's row starts as its bias (or zero), then the GEMMs add.
            let dst = init_rows(dst, cols, |oc| bias.map_or(T::zero(), |b| b[oc]));
            for grp in 0..g.s.groups {
                im2col(xs, g, grp, &mut col);
                let dst = &mut dst[grp * og * cols..][..og * cols];
                // out_g [og, cols] (+)= W_g [og, kr] @ col [kr, cols]
                let wg = &w[grp * og * kr..][..og * kr];
                let acc = bias.is_some();
                gemm_slices(og, cols, kr, wg, (kr, 1), &col, (cols, 1), dst, acc);
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
    crate::ops::team::for_each(pieces, |(run, p, extra)| fill(run, p, extra));
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
/// per sample from buffers that stay in cache:
/// - bias: row sums of the output gradients;
/// - weight: im2col again and `dW_g^T [kr, og] += col @ gy_g^T` (measured: faster than one
///   long GEMM over the run's gathered columns, even for thin kernels, as nothing is gathered);
/// - input: `col = W_g^T @ gy_g`, then col2im into the sample's gradient.
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
        if !need_w && !need_x {
            return;
        }
        let mut col = vec![T::zero(); if need_w { kr * cols } else { 0 }];
        let mut dwt = vec![T::zero(); if need_w { wsz } else { 0 }];
        let mut colx = vec![T::zero(); if need_x { kr * cols } else { 0 }];
        // Empty without an input gradient.
        let mut dx_samples = dxr.chunks_mut(xsz.max(1));
        for ni in s0..s1 {
            let xs = &x[ni * xsz..][..xsz];
            // The sample's input gradient starts at zero; col2im adds every group into it.
            let mut dxs = dx_samples.next().map(|d| init_rows(d, xsz, |_| T::zero()));
            for grp in 0..g.s.groups {
                let gyg = &gy[(ni * g.o + grp * og) * cols..][..og * cols];
                if need_w {
                    im2col(xs, g, grp, &mut col);
                    // dW_g^T [kr, og] += col [kr, cols] @ gy_g^T [cols, og]
                    let dst = &mut dwt[grp * kr * og..][..kr * og];
                    gemm_slices(kr, og, cols, &col, (cols, 1), gyg, (1, cols), dst, true);
                }
                if let Some(dxs) = dxs.as_deref_mut() {
                    // col = W_g^T [kr, og] @ gy_g [og, cols]
                    let wg = &w[grp * og * kr..][..og * kr];
                    gemm_slices(kr, cols, og, wg, (1, kr), gyg, (cols, 1), &mut colx, false);
                    col2im(&colx, g, grp, dxs);
                }
            }
        }
        if need_w {
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
        crate::ops::matmul::check_layer_dtypes("conv2d", self, weight, bias)?;
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
            return crate::cuda::ops::nn::conv2d(
                &self.to_dtype(out_dtype)?,
                &weight.to_dtype(out_dtype)?,
                b.as_ref(),
                g,
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
        let out = crate::with_float!(dt, T => {
            let bd = match &b { Some(b) => Some(b.data::<T>()?.into_owned()), None => None };
            let o = forward::<T>(&x.data::<T>()?, &w.data::<T>()?, bd.as_deref(), &g, &runs);
            Tensor::from_vec(o, &shape)?
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
                let (dx, dw, db) = backward::<T>(&x.data::<T>()?, &w.data::<T>()?, &gy.data::<T>()?, &g, need_x, need_w, &runs);
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
