//! Matrix products through the `gemm` crate (runtime SIMD dispatch: AVX2/AVX-512/NEON), with
//! strides passed straight through so transposed views never copy.

use crate::autograd::{record, Saved};
use crate::layout::{broadcast_shapes, Layout};
use crate::ops::copy::cast_raw;
use crate::ops::promote::result_type;
use crate::{bail, DType, Element, Result, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Work (m*n*k) above which one GEMM is split across threads.
const PAR_FLOPS: usize = 1 << 25;
/// Work above which one GEMM with enough rows is split by rows over the threads.
const SPLIT_FLOPS: usize = 1 << 25;
/// Work above which one GEMM is split in two with the team's resident worker (two threads).
const TEAM_FLOPS: usize = 1 << 21;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m * n * k >= PAR_FLOPS && rayon::current_num_threads() > 1 {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    }
}

struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// `out[b] (+)= a[b] @ b[b]` for every batch index; `a`/`b` layouts already broadcast to the
/// batch shape. `out` is contiguous `[batch..., m, n]`.
#[allow(clippy::too_many_arguments)]
fn batched_gemm<T: Element>(
    a: &Tensor,
    al: &Layout,
    b: &Tensor,
    bl: &Layout,
    out: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    let nd = al.ndim();
    // A transposed right operand whose columns lie a multiple of 4 KiB apart (x @ W.t() with
    // 1024 inputs) makes the GEMM's packing thrash one cache set: 1.6x slower. Copying its
    // columns (contiguous runs, so at memcpy speed) to a pitch 16 elements longer removes the
    // aliasing for a fraction of what a transpose costs (which thrashes the same way). Only for
    // a single matrix shared by every batch entry, and for GEMMs big enough to care.
    let brow = bl.strides[nd - 2];
    let bcol = bl.strides[nd - 1];
    let aliasing = brow == 1 && bcol > 1 && (bcol * std::mem::size_of::<T>()).is_multiple_of(4096);
    if aliasing && m >= 64 && k * n >= 1 << 16 && bl.strides[..nd - 2].iter().all(|&s| s == 0) {
        let pitch = k + 16;
        let src = &b.storage().as_slice::<T>()[bl.offset..];
        let mut padded: Vec<T> = Vec::with_capacity(n * pitch);
        let copy = |(j, dst): (usize, &mut [MaybeUninit<T>])| {
            let (col, pad) = dst.split_at_mut(k);
            for (d, &v) in col.iter_mut().zip(&src[j * bcol..][..k]) {
                d.write(v);
            }
            pad.iter_mut().for_each(|d| {
                d.write(T::zero());
            });
        };
        let slots = &mut padded.spare_capacity_mut()[..n * pitch];
        if n * k >= 1 << 18 {
            slots.par_chunks_mut(pitch).enumerate().for_each(copy);
        } else {
            slots.chunks_mut(pitch).enumerate().for_each(copy);
        }
        // SAFETY: every chunk of `pitch` slots was written (k copied, the rest zeros).
        unsafe { padded.set_len(n * pitch) };
        let bt = Tensor::from_vec(padded, &[n * pitch]).expect("n*pitch elements");
        let l2 = Layout {
            shape: bl.shape.clone(),
            strides: [&bl.strides[..nd - 2], &[1, pitch][..]].concat(),
            offset: 0,
        };
        return batched_gemm(a, al, &bt, &l2, out, m, n, k, accumulate);
    }
    let batch_a = Layout {
        shape: al.shape[..nd - 2].to_vec(),
        strides: al.strides[..nd - 2].to_vec(),
        offset: al.offset,
    };
    let batch_b = Layout {
        shape: bl.shape[..nd - 2].to_vec(),
        strides: bl.strides[..nd - 2].to_vec(),
        offset: bl.offset,
    };
    let (ars, acs) = (al.strides[nd - 2] as isize, al.strides[nd - 1] as isize);
    let (brs, bcs) = (bl.strides[nd - 2] as isize, bl.strides[nd - 1] as isize);
    let pa = SendPtr(a.storage().as_slice::<T>().as_ptr() as *mut T);
    let pb = SendPtr(b.storage().as_slice::<T>().as_ptr() as *mut T);
    let offs: Vec<(usize, usize)> = batch_a.offsets().zip(batch_b.offsets()).collect();
    let po = SendPtr(out.as_mut_ptr());
    let one = T::one();
    // Rows [r0, r1) x columns [c0, c1) of batch entry `i` (operand offsets `oa`, `ob`).
    let block = |i: usize,
                 (oa, ob): (usize, usize),
                 (r0, r1): (usize, usize),
                 (c0, c1): (usize, usize),
                 par: Parallelism| {
        let (po, pa, pb) = (&po, &pa, &pb);
        // SAFETY: offsets and strides come from layouts validated against their storages; each
        // batch entry writes its own `m*n` block of `out`, and concurrent calls within one
        // entry write disjoint row/column blocks of it.
        unsafe {
            gemm::gemm(
                r1 - r0,
                c1 - c0,
                k,
                po.0.add(i * m * n + r0 * n + c0),
                1,
                n as isize,
                accumulate,
                pa.0.add(oa + r0 * ars as usize),
                acs,
                ars,
                pb.0.add(ob + c0 * bcs as usize),
                bcs,
                brs,
                one,
                one,
                false,
                false,
                false,
                par,
            );
        }
    };
    let run = |i: usize, o: (usize, usize), par: Parallelism| block(i, o, (0, m), (0, n), par);
    if k == 0 {
        if !accumulate {
            out.iter_mut().for_each(|x| *x = T::zero());
        }
        return;
    }
    let threads = rayon::current_num_threads();
    if offs.len() == 1 && threads > 1 {
        // Rows [r0, r1) x columns [c0, c1) of the single GEMM, on the calling thread.
        let part = |r0: usize, r1: usize, c0: usize, c1: usize| {
            block(0, offs[0], (r0, r1), (c0, c1), Parallelism::None)
        };
        if threads == 2 && (m >= 64 || n >= 64) && m * n * k >= TEAM_FLOPS {
            // Half on this thread, half on the resident worker of `team` (no wake-up per
            // GEMM). Both halves pack the operand they share: split the dimension that leaves
            // the smaller one shared (rows share b's k x n, columns share a's m x k).
            if m >= 64 && (m >= n || n < 64) {
                let half = (m / 2).next_multiple_of(16).min(m);
                crate::ops::team::join(|| part(0, half, 0, n), || part(half, m, 0, n));
            } else {
                let half = (n / 2).next_multiple_of(16).min(n);
                crate::ops::team::join(|| part(0, m, 0, half), || part(0, m, half, n));
            }
            return;
        }
        if m >= 128 && m * n * k >= SPLIT_FLOPS {
            // Split by output rows over the threads (blocks of 64 rows, the AVX-512
            // micro-kernel's height): the gemm crate's own parallel mode splits columns, which
            // gains little when n is one or two of its column blocks (1024x784x128: 346 -> 474
            // GFLOP/s) and no more than this elsewhere.
            let parts = threads.min(m / 64).max(1);
            let per = m.div_ceil(parts).next_multiple_of(16);
            let ranges: Vec<(usize, usize)> = (0..m)
                .step_by(per)
                .map(|r0| (r0, (r0 + per).min(m)))
                .collect();
            ranges.par_iter().for_each(|&(r0, r1)| part(r0, r1, 0, n));
            return;
        }
    }
    if offs.len() > 1 && m * n * k < PAR_FLOPS {
        offs.par_iter()
            .enumerate()
            .for_each(|(i, &o)| run(i, o, Parallelism::None));
    } else {
        for (i, &o) in offs.iter().enumerate() {
            run(i, o, parallelism(m, n, k));
        }
    }
}

fn int_matmul(
    a: &Tensor,
    al: &Layout,
    b: &Tensor,
    bl: &Layout,
    m: usize,
    n: usize,
    k: usize,
) -> Vec<i64> {
    let nd = al.ndim();
    let batch_a = Layout {
        shape: al.shape[..nd - 2].to_vec(),
        strides: al.strides[..nd - 2].to_vec(),
        offset: al.offset,
    };
    let batch_b = Layout {
        shape: bl.shape[..nd - 2].to_vec(),
        strides: bl.strides[..nd - 2].to_vec(),
        offset: bl.offset,
    };
    let sa = a.storage().as_slice::<i64>();
    let sb = b.storage().as_slice::<i64>();
    let mut out = Vec::new();
    for (oa, ob) in batch_a.offsets().zip(batch_b.offsets()) {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0i64;
                for p in 0..k {
                    acc = acc.wrapping_add(
                        sa[oa + i * al.strides[nd - 2] + p * al.strides[nd - 1]]
                            .wrapping_mul(sb[ob + p * bl.strides[nd - 2] + j * bl.strides[nd - 1]]),
                    );
                }
                out.push(acc);
            }
        }
    }
    out
}

/// Matmul of two tensors with at least 2 dims each, batch dims broadcast. No autograd.
pub(crate) fn matmul_raw(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.check_same_device(b)?;
    let (an, bn) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[an - 2], a.shape()[an - 1]);
    let (k2, n) = (b.shape()[bn - 2], b.shape()[bn - 1]);
    if k != k2 {
        bail!(
            Shape,
            "matmul: shapes {:?} and {:?} cannot be multiplied ({}x{} and {}x{})",
            a.shape(),
            b.shape(),
            m,
            k,
            k2,
            n
        );
    }
    let batch = broadcast_shapes(&a.shape()[..an - 2], &b.shape()[..bn - 2]).map_err(|_| {
        crate::Error::Shape(format!(
            "matmul: batch dimensions of {:?} and {:?} cannot be broadcast",
            a.shape(),
            b.shape()
        ))
    })?;
    let dt = result_type(&[a, b]);
    if a.device().is_cuda() {
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch.clone();
        sb.extend([k, n]);
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        let (al, bl) = (a.layout().broadcast_to(&sa)?, b.layout().broadcast_to(&sb)?);
        return crate::cuda::ops::matmul::matmul(a, &al, b, &bl, &out_shape, (m, n, k), dt);
    }
    // Half types compute in f32 (float32 accumulation, as on GPUs): the `gemm` crate has no bf16
    // kernel, and its f16 one converts while packing, slower than casting the operands once.
    let compute = if matches!(dt, DType::BF16 | DType::F16) {
        DType::F32
    } else {
        dt
    };
    let a = if a.dtype() != compute {
        cast_keeping_layout(a, compute)?
    } else {
        a.clone()
    };
    let b = if b.dtype() != compute {
        cast_keeping_layout(b, compute)?
    } else {
        b.clone()
    };
    let mut sa = batch.clone();
    sa.extend([m, k]);
    let mut sb = batch.clone();
    sb.extend([k, n]);
    let al = a.layout().broadcast_to(&sa)?;
    let bl = b.layout().broadcast_to(&sb)?;
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let total: usize = out_shape.iter().product();
    let out = match compute {
        DType::F32 => {
            let mut o = vec![0f32; total];
            batched_gemm(&a, &al, &b, &bl, &mut o, m, n, k, false);
            Tensor::from_vec(o, &out_shape)?
        }
        DType::F64 => {
            let mut o = vec![0f64; total];
            batched_gemm(&a, &al, &b, &bl, &mut o, m, n, k, false);
            Tensor::from_vec(o, &out_shape)?
        }
        DType::I64 | DType::I32 | DType::Bool => {
            let a = cast_raw(&a, DType::I64)?;
            let b = cast_raw(&b, DType::I64)?;
            let al = a.layout().broadcast_to(&sa)?;
            let bl = b.layout().broadcast_to(&sb)?;
            let o = Tensor::from_vec(int_matmul(&a, &al, &b, &bl, m, n, k), &out_shape)?;
            cast_raw(&o, dt)?
        }
        DType::BF16 | DType::F16 => unreachable!("half types compute in f32"),
    };
    if out.dtype() != dt {
        cast_raw(&out, dt)
    } else {
        Ok(out)
    }
}

impl Tensor {
    /// `self @ other` with NumPy semantics for 1-D operands and broadcast batch dims.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        if crate::amp::autocast_dtype().is_some() {
            let (a, b) = (crate::amp::to_low(self)?, crate::amp::to_low(other)?);
            let _off = crate::amp::AutocastGuard::disabled();
            return a.matmul(&b);
        }
        let (an, bn) = (self.ndim(), other.ndim());
        if an == 0 || bn == 0 {
            bail!(
                Shape,
                "matmul: both arguments need at least 1 dimension, got shapes {:?} and {:?}",
                self.shape(),
                other.shape()
            );
        }
        if an == 1 && bn == 1 {
            if self.shape()[0] != other.shape()[0] {
                bail!(
                    Shape,
                    "dot: vectors of shapes {:?} and {:?} have different lengths",
                    self.shape(),
                    other.shape()
                );
            }
            return self
                .unsqueeze(0)?
                .matmul(&other.unsqueeze(1)?)?
                .reshape(&[]);
        }
        if an == 1 {
            return self.unsqueeze(0)?.matmul(other)?.squeeze(Some(-2));
        }
        if bn == 1 {
            return self.matmul(&other.unsqueeze(1)?)?.squeeze(Some(-1));
        }
        let out = matmul_raw(self, other)?;
        if !out.dtype().is_float() {
            return Ok(out);
        }
        let (xa, xb) = (Saved::new(self), Saved::new(other));
        let (sa, sb) = (self.shape().to_vec(), other.shape().to_vec());
        let (da, db) = (self.dtype(), other.dtype());
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        Ok(record(out, "MmBackward", &[self, other], move |g| {
            let ga = if need_a {
                let r = matmul_raw(g, &xb.get()?.transpose(-1, -2)?)?;
                Some(crate::ops::binary::grad_for(r, &sa, da)?)
            } else {
                None
            };
            let gb = if need_b {
                let r = matmul_raw(&xa.get()?.transpose(-1, -2)?, g)?;
                Some(crate::ops::binary::grad_for(r, &sb, db)?)
            } else {
                None
            };
            Ok(vec![ga, gb])
        }))
    }

    /// `x @ weight.T + bias` as one fused op (the bias is written first and the GEMM accumulates
    /// onto it). `weight` is `[out, in]` as in PyTorch.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        if crate::amp::autocast_dtype().is_some() {
            let (x, w) = (crate::amp::to_low(self)?, crate::amp::to_low(weight)?);
            let b = bias.map(crate::amp::to_low).transpose()?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.linear(&w, b.as_ref());
        }
        if weight.ndim() != 2 || self.ndim() == 0 {
            bail!(
                Shape,
                "linear: expected weight [out, in] and input [..., in], got {:?} and {:?}",
                weight.shape(),
                self.shape()
            );
        }
        check_layer_dtypes("linear", self, weight, bias)?;
        let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
        let last = self.shape()[self.ndim() - 1];
        if last != in_f {
            bail!(
                Shape,
                "linear: input has {} features (shape {:?}) but weight expects {} (shape {:?})",
                last,
                self.shape(),
                in_f,
                weight.shape()
            );
        }
        if let Some(b) = bias {
            if b.shape() != [out_f] {
                bail!(
                    Shape,
                    "linear: bias shape {:?} does not match {} output features",
                    b.shape(),
                    out_f
                );
            }
        }
        let dt = self.dtype();
        let same = weight.dtype() == dt && bias.is_none_or(|b| b.dtype() == dt);
        if !(same && (dt == DType::F32 || dt == DType::F64)) || self.device().is_cuda() {
            let y = self.matmul(&weight.t()?)?;
            return match bias {
                Some(b) => y.add(b),
                None => Ok(y),
            };
        }
        self.check_same_device(weight)?;
        let lead: Vec<usize> = self.shape()[..self.ndim() - 1].to_vec();
        let rows: usize = lead.iter().product();
        let x2 = self.reshape(&[rows as isize, in_f as isize])?.detach();
        let wt = weight.layout().transpose(0, 1);
        let wl = Layout {
            shape: wt.shape.clone(),
            strides: wt.strides.clone(),
            offset: wt.offset,
        };
        let mut out_shape = lead.clone();
        out_shape.push(out_f);
        let out = crate::with_dtype!(dt, T => {
            let mut o: Vec<T> = match bias {
                Some(b) => {
                    let bv = b.data::<T>()?;
                    let mut o = Vec::with_capacity(rows * out_f);
                    for _ in 0..rows {
                        o.extend_from_slice(&bv);
                    }
                    o
                }
                None => vec![T::zero(); rows * out_f],
            };
            batched_gemm(&x2, x2.layout(), weight, &wl, &mut o, rows, out_f, in_f, bias.is_some());
            Tensor::from_vec(o, &out_shape)?
        });
        let inputs: Vec<&Tensor> = match bias {
            Some(b) => vec![self, weight, b],
            None => vec![self, weight],
        };
        let (xs, ws) = (Saved::new(&x2), Saved::new(weight));
        let in_shape: Vec<isize> = self.shape().iter().map(|&n| n as isize).collect();
        let (need_x, need_w) = (self.requires_grad(), weight.requires_grad());
        let has_bias = bias.is_some();
        Ok(record(out, "LinearBackward", &inputs, move |g| {
            let g2 = g.reshape(&[rows as isize, out_f as isize])?;
            let gx = if need_x {
                Some(matmul_raw(&g2, ws.get()?)?.reshape(&in_shape)?)
            } else {
                None
            };
            let gw = if need_w {
                Some(matmul_raw(&g2.t()?, xs.get()?)?)
            } else {
                None
            };
            let mut v = vec![gx, gw];
            if has_bias {
                v.push(Some(g2.sum(Some(&[0]), false)?));
            }
            Ok(v)
        }))
    }
}

/// `out (+)= a @ b` on raw row-major-or-strided slices, single-threaded: the building block of
/// kernels that parallelise over an outer dimension themselves (conv2d over the batch).
/// Strides are (row stride, column stride) in elements.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_slices<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_strides: (usize, usize),
    b: &[T],
    b_strides: (usize, usize),
    out: &mut [T],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].iter_mut().for_each(|x| *x = T::zero());
        }
        return;
    }
    // SAFETY: callers pass slices covering `m x k`, `k x n` and `m x n` elements for the given
    // strides; `out` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_strides.1 as isize,
            a_strides.0 as isize,
            b.as_ptr(),
            b_strides.1 as isize,
            b_strides.0 as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// A layer's input, weight and bias must share one dtype, as in PyTorch: silently promoting a
/// float64 or integer batch against float32 weights would hide a bug (and cost a copy).
/// Autocast casts before this check.
pub(crate) fn check_layer_dtypes(
    op: &str,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<()> {
    if x.dtype() != weight.dtype() {
        bail!(
            DType,
            "{op}: input dtype {} does not match the weight's {} (convert the input with \
             .to({}) or the layer with .to({}))",
            x.dtype(),
            weight.dtype(),
            weight.dtype(),
            x.dtype()
        );
    }
    if let Some(b) = bias {
        if b.dtype() != weight.dtype() {
            bail!(
                DType,
                "{op}: bias dtype {} does not match the weight's {}",
                b.dtype(),
                weight.dtype()
            );
        }
    }
    Ok(())
}

/// `t` cast to `dt`, keeping its strides when it is a permutation of a dense block (the
/// transposed weight of `x @ W.t()` under bfloat16 autocast): one flat elementwise cast
/// instead of a transposing copy, and the GEMM reads the transposed layout as it would have.
fn cast_keeping_layout(t: &Tensor, dt: DType) -> Result<Tensor> {
    let l = t.layout();
    if t.device().is_cuda() || l.is_contiguous() || !is_dense_permutation(l) {
        return cast_raw(t, dt);
    }
    let (lo, _) = l.span();
    let flat = t.with_layout(Layout {
        shape: vec![l.numel()],
        strides: vec![1],
        offset: lo,
    });
    let c = cast_raw(&flat, dt)?;
    Ok(c.with_layout(Layout {
        shape: l.shape.clone(),
        strides: l.strides.clone(),
        offset: l.offset - lo,
    }))
}

/// Whether the view's elements fill their span exactly once: its dims, ordered by stride,
/// nest like a contiguous tensor's (each stride is the product of the smaller dims' sizes).
fn is_dense_permutation(l: &Layout) -> bool {
    let mut dims: Vec<(usize, usize)> = l
        .shape
        .iter()
        .zip(&l.strides)
        .filter(|(&n, _)| n != 1)
        .map(|(&n, &s)| (s, n))
        .collect();
    dims.sort_unstable();
    let mut expect = 1;
    for (s, n) in dims {
        if s != expect {
            return false;
        }
        expect *= n;
    }
    true
}
