//! Matrix products on the host through the `gemm` crate (runtime SIMD dispatch:
//! AVX2/AVX-512/NEON), with strides passed straight through so transposed views never copy;
//! work split over the threads by batch entry, by rows, or in two with the team's worker.

use super::gemm_bf16;
use super::lanes::SendPtr;
use crate::layout::Layout;
use crate::ops::copy::cast_raw;
use crate::{DType, Element, Result, Tensor};
use gemm::Parallelism;
use half::bf16;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Work (m*n*k) above which one GEMM is split across threads.
const PAR_FLOPS: usize = 1 << 25;
/// Work above which one GEMM with enough rows is split by rows over the threads.
const SPLIT_FLOPS: usize = 1 << 25;
/// Work above which one GEMM is split in two with the team's resident worker (two threads).
const TEAM_FLOPS: usize = 1 << 21;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m * n * k >= PAR_FLOPS && crate::threads::split() {
        Parallelism::Rayon(crate::threads::get())
    } else {
        Parallelism::None
    }
}

/// A transposed right operand whose columns lie a multiple of 4 KiB apart (x @ W.t() with
/// 1024 inputs) makes the GEMM's packing thrash one cache set: 1.6x slower. Copying its
/// columns (contiguous runs, so at memcpy speed) to a pitch 16 elements longer removes the
/// aliasing for a fraction of what a transpose costs (which thrashes the same way). Only for
/// a single matrix shared by every batch entry, and for GEMMs big enough to care: `None`
/// when `b` is read as it is.
fn repitched<T: Element>(
    b: &Tensor,
    bl: &Layout,
    m: usize,
    n: usize,
    k: usize,
) -> Option<(Tensor, Layout)> {
    let nd = bl.ndim();
    let brow = bl.strides[nd - 2];
    let bcol = bl.strides[nd - 1];
    let aliasing = brow == 1 && bcol > 1 && (bcol * std::mem::size_of::<T>()).is_multiple_of(4096);
    if !(aliasing && m >= 64 && k * n >= 1 << 16 && bl.strides[..nd - 2].iter().all(|&s| s == 0)) {
        return None;
    }
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
        let cols: Vec<_> = slots.chunks_mut(pitch).enumerate().collect();
        crate::cpu::team::for_each_halves(cols, copy);
    } else {
        slots.chunks_mut(pitch).enumerate().for_each(copy);
    }
    // SAFETY: every chunk of `pitch` slots was written (k copied, the rest zeros).
    unsafe { padded.set_len(n * pitch) };
    let bt = Tensor::from_vec(padded, &[n * pitch]).ok()?;
    let l2 = Layout {
        shape: bl.shape.clone(),
        strides: [&bl.strides[..nd - 2], &[1, pitch][..]].concat(),
        offset: 0,
    };
    Some((bt, l2))
}

/// Splits one GEMM of `m x n x k` over the threads when it is big enough, `part(r0, r1, c0,
/// c1)` computing one block on the calling thread; `false` when it is better run whole.
fn split_single<F>((m, n, k): (usize, usize, usize), part: F) -> bool
where
    F: Fn(usize, usize, usize, usize) + Sync,
{
    let threads = crate::threads::get();
    if threads < 2 {
        return false;
    }
    if threads == 2 && (m >= 64 || n >= 64) && m * n * k >= TEAM_FLOPS {
        // Half on this thread, half on the resident worker of `team` (no wake-up per GEMM).
        // Both halves pack the operand they share: split the dimension that leaves the smaller
        // one shared (rows share b's k x n, columns share a's m x k).
        if m >= 64 && (m >= n || n < 64) {
            let half = (m / 2).next_multiple_of(16).min(m);
            crate::cpu::team::join(|| part(0, half, 0, n), || part(half, m, 0, n));
        } else {
            let half = (n / 2).next_multiple_of(16).min(n);
            crate::cpu::team::join(|| part(0, m, 0, half), || part(0, m, half, n));
        }
        return true;
    }
    if m >= 128 && m * n * k >= SPLIT_FLOPS {
        // Split by output rows over the threads (blocks of 64 rows, the AVX-512 micro-kernel's
        // height): the gemm crate's own parallel mode splits columns, which gains little when
        // n is one or two of its column blocks (1024x784x128: 346 -> 474 GFLOP/s) and no more
        // than this elsewhere.
        let parts = threads.min(m / 64).max(1);
        let per = m.div_ceil(parts).next_multiple_of(16);
        let ranges: Vec<(usize, usize)> = (0..m)
            .step_by(per)
            .map(|r0| (r0, (r0 + per).min(m)))
            .collect();
        ranges.par_iter().for_each(|&(r0, r1)| part(r0, r1, 0, n));
        return true;
    }
    false
}

/// The batch dims of a matmul operand's layout (all but the last two), at its offset: walking
/// them gives each matrix's start.
fn batch_dims(l: &Layout) -> Layout {
    let nd = l.ndim();
    Layout {
        shape: l.shape[..nd - 2].to_vec(),
        strides: l.strides[..nd - 2].to_vec(),
        offset: l.offset,
    }
}

/// `out` viewed as possibly-uninitialised slots, for `batched_gemm`.
fn as_slots<T>(out: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and `batched_gemm` only writes initialised
    // values through the slots, so `out` stays initialised.
    unsafe { &mut *(out as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// `out[b] (+)= a[b] @ b[b]` for every batch index; `a`/`b` layouts already broadcast to the
/// batch shape. `out` is contiguous `[batch..., m, n]`; without `accumulate` every slot is
/// written and none read, so it may start uninitialised (no zero-fill pass per product).
#[allow(clippy::too_many_arguments)]
fn batched_gemm<T: Element>(
    a: &Tensor,
    al: &Layout,
    b: &Tensor,
    bl: &Layout,
    out: &mut [MaybeUninit<T>],
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    if let Some((bt, l2)) = repitched::<T>(b, bl, m, n, k) {
        return batched_gemm(a, al, &bt, &l2, out, m, n, k, accumulate);
    }
    let nd = al.ndim();
    let (batch_a, batch_b) = (batch_dims(al), batch_dims(bl));
    let (ars, acs) = (al.strides[nd - 2] as isize, al.strides[nd - 1] as isize);
    let (brs, bcs) = (bl.strides[nd - 2] as isize, bl.strides[nd - 1] as isize);
    let pa = SendPtr(a.storage().as_slice::<T>().as_ptr() as *mut T);
    let pb = SendPtr(b.storage().as_slice::<T>().as_ptr() as *mut T);
    let offs: Vec<(usize, usize)> = batch_a.offsets().zip(batch_b.offsets()).collect();
    let po = SendPtr(out.as_mut_ptr().cast::<T>());
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
            out.iter_mut().for_each(|x| {
                x.write(T::zero());
            });
        }
        return;
    }
    if offs.len() == 1 {
        // Rows [r0, r1) x columns [c0, c1) of the single GEMM, on the calling thread.
        let part = |r0: usize, r1: usize, c0: usize, c1: usize| {
            block(0, offs[0], (r0, r1), (c0, c1), Parallelism::None)
        };
        if split_single((m, n, k), part) {
            return;
        }
    }
    if offs.len() > 1 && m * n * k < PAR_FLOPS && crate::threads::split() {
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
    let (batch_a, batch_b) = (batch_dims(al), batch_dims(bl));
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

/// `batched_gemm` into a fresh buffer of `total` elements, never zero-filled.
fn product<T: Element>(
    a: &Tensor,
    al: &Layout,
    b: &Tensor,
    bl: &Layout,
    (m, n, k): (usize, usize, usize),
    total: usize,
) -> Vec<T> {
    let mut o: Vec<T> = Vec::with_capacity(total);
    batched_gemm(
        a,
        al,
        b,
        bl,
        &mut o.spare_capacity_mut()[..total],
        m,
        n,
        k,
        false,
    );
    // SAFETY: without accumulation `batched_gemm` wrote all `total` slots.
    unsafe { o.set_len(total) };
    o
}

/// `a @ b` over the broadcast `batch` dims (`a`: `[..., m, k]`, `b`: `[..., k, n]`), in `dt`.
/// Half types compute in f32 (float32 accumulation, as on GPUs): the `gemm` crate has no bf16
/// kernel, and its f16 one converts while packing, slower than casting the operands once.
pub(crate) fn matmul(
    a: &Tensor,
    b: &Tensor,
    batch: &[usize],
    (m, n, k): (usize, usize, usize),
    dt: DType,
) -> Result<Tensor> {
    if let Some(out) = bf16_matmul(a, b, batch, (m, n, k), dt)? {
        return Ok(out);
    }
    let compute = if matches!(dt, DType::BF16 | DType::F16) {
        DType::F32
    } else {
        dt
    };
    let cast = |t: &Tensor, to: DType| {
        if t.dtype() != to {
            cast_keeping_layout(t, to)
        } else {
            Ok(t.clone())
        }
    };
    let (a, b) = (cast(a, compute)?, cast(b, compute)?);
    let sa = [batch, &[m, k]].concat();
    let sb = [batch, &[k, n]].concat();
    let out_shape = [batch, &[m, n]].concat();
    let (al, bl) = (a.layout().broadcast_to(&sa)?, b.layout().broadcast_to(&sb)?);
    let total: usize = out_shape.iter().product();
    let out = match compute {
        DType::F32 => Tensor::from_vec(
            product::<f32>(&a, &al, &b, &bl, (m, n, k), total),
            &out_shape,
        )?,
        DType::F64 => Tensor::from_vec(
            product::<f64>(&a, &al, &b, &bl, (m, n, k), total),
            &out_shape,
        )?,
        _ => {
            let (a, b) = (cast_raw(&a, DType::I64)?, cast_raw(&b, DType::I64)?);
            let (al, bl) = (a.layout().broadcast_to(&sa)?, b.layout().broadcast_to(&sb)?);
            Tensor::from_vec(int_matmul(&a, &al, &b, &bl, m, n, k), &out_shape)?
        }
    };
    if out.dtype() != dt {
        cast_raw(&out, dt)
    } else {
        Ok(out)
    }
}

/// bfloat16 operands through a bfloat16 kernel (`gemm_bf16`), one GEMM per batch entry;
/// `None` when the operands are not both bfloat16, the work is too small to pay for packing,
/// or this CPU has no such kernel.
fn bf16_matmul(
    a: &Tensor,
    b: &Tensor,
    batch: &[usize],
    (m, n, k): (usize, usize, usize),
    dt: DType,
) -> Result<Option<Tensor>> {
    let all_bf16 = dt == DType::BF16 && a.dtype() == dt && b.dtype() == dt;
    let Some(kernel) = all_bf16.then(|| gemm_bf16::choose(m, n, k)).flatten() else {
        return Ok(None);
    };
    let al = a.layout().broadcast_to(&[batch, &[m, k]].concat())?;
    let bl = b.layout().broadcast_to(&[batch, &[k, n]].concat())?;
    let nd = al.ndim();
    let (sa, sb) = (
        a.storage().as_slice::<bf16>(),
        b.storage().as_slice::<bf16>(),
    );
    let mut out = Vec::with_capacity(batch.iter().product::<usize>() * m * n);
    for (oa, ob) in batch_dims(&al).offsets().zip(batch_dims(&bl).offsets()) {
        let av = gemm_bf16::View {
            data: sa,
            offset: oa,
            strides: (al.strides[nd - 2], al.strides[nd - 1]),
        };
        let bv = gemm_bf16::View {
            data: sb,
            offset: ob,
            strides: (bl.strides[nd - 2], bl.strides[nd - 1]),
        };
        gemm_bf16::gemm(kernel, av, bv, (m, n, k), None, &mut out);
    }
    Ok(Some(Tensor::from_vec(out, &[batch, &[m, n]].concat())?))
}

/// `x @ weight.T + bias` for `x` `[rows, in]` and `weight` `[out, in]` of one float dtype: the
/// bias is written first and the GEMM accumulates onto it (`weight.T` read through strides).
pub(crate) fn linear_forward(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if x.dtype() == DType::BF16 {
        return bf16_linear(x, weight, bias);
    }
    let (rows, in_f) = (x.shape()[0], x.shape()[1]);
    let out_f = weight.shape()[0];
    let wl = weight.layout().transpose(0, 1);
    let wl = Layout {
        shape: wl.shape.clone(),
        strides: wl.strides.clone(),
        offset: wl.offset,
    };
    crate::with_float!(x.dtype(), T => {
        let o: Vec<T> = match bias {
            Some(b) => {
                let mut o = seeded_rows(&b.data::<T>()?, rows);
                batched_gemm(x, x.layout(), weight, &wl, as_slots(&mut o), rows, out_f, in_f, true);
                o
            }
            None => product::<T>(x, x.layout(), weight, &wl, (rows, out_f, in_f), rows * out_f),
        };
        Tensor::from_vec(o, &[rows, out_f])
    })
}

/// `rows` copies of the bias `bv`, the sums a linear's GEMM accumulates into. A large output is
/// written by the team's two threads, each the half of the rows its GEMM half then computes.
fn seeded_rows<T: Element>(bv: &[T], rows: usize) -> Vec<T> {
    let n = rows * bv.len();
    let mut o: Vec<T> = Vec::with_capacity(n);
    if n == 0 {
        return o;
    }
    let fill = |blk: &mut [MaybeUninit<T>]| {
        for r in blk.chunks_exact_mut(bv.len()) {
            // SAFETY: `r` holds exactly `bv.len()` slots, and `bv` is not inside `o`.
            unsafe {
                std::ptr::copy_nonoverlapping(bv.as_ptr(), r.as_mut_ptr().cast::<T>(), bv.len())
            };
        }
    };
    let slots = &mut o.spare_capacity_mut()[..n];
    if n >= 1 << 16 {
        let blocks: Vec<_> = slots.chunks_mut(16 * bv.len()).collect();
        crate::cpu::team::for_each_halves(blocks, fill);
    } else {
        fill(slots);
    }
    // SAFETY: every row of `n` slots was written.
    unsafe { o.set_len(n) };
    o
}

/// bfloat16 `x @ weight.T + bias`, summed in float32 with the bias and rounded once: the bias
/// seeds the bfloat16 kernel's sums, or, where that kernel does not pay (`gemm_bf16::choose`),
/// the float32 linear runs on the widened operands. One pass over the output instead of a
/// product and a separate bias add.
fn bf16_linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (rows, in_f, out_f) = (x.shape()[0], x.shape()[1], weight.shape()[0]);
    let wide = |t: &Tensor| cast_raw(t, DType::F32);
    let bias = bias.map(wide).transpose()?;
    if let Some(kernel) = gemm_bf16::choose(rows, out_f, in_f) {
        let seed = bias.as_ref().map(|b| b.data::<f32>()).transpose()?;
        let (xl, wl) = (x.layout(), weight.layout());
        let av = gemm_bf16::View {
            data: x.storage().as_slice::<bf16>(),
            offset: xl.offset,
            strides: (xl.strides[0], xl.strides[1]),
        };
        // `weight.T` (`in x out`): the weight's strides swapped.
        let bv = gemm_bf16::View {
            data: weight.storage().as_slice::<bf16>(),
            offset: wl.offset,
            strides: (wl.strides[1], wl.strides[0]),
        };
        let mut out = Vec::with_capacity(rows * out_f);
        gemm_bf16::gemm(
            kernel,
            av,
            bv,
            (rows, out_f, in_f),
            seed.as_deref(),
            &mut out,
        );
        return Tensor::from_vec(out, &[rows, out_f]);
    }
    let y = linear_forward(&wide(x)?, &wide(weight)?, bias.as_ref())?;
    cast_raw(&y, DType::BF16)
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

/// `t` cast to `dt`, keeping its strides when it is a permutation of a dense block (the
/// transposed weight of `x @ W.t()` under bfloat16 autocast): one flat elementwise cast
/// instead of a transposing copy, and the GEMM reads the transposed layout as it would have.
fn cast_keeping_layout(t: &Tensor, dt: DType) -> Result<Tensor> {
    let l = t.layout();
    if l.is_contiguous() || !is_dense_permutation(l) {
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
    let mut dims: Vec<(usize, usize)> = l.sized_dims().map(|(n, s)| (s, n)).collect();
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
