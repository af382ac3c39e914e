//! One recurrent time step on the CPU, forward and backward: the hidden projection's GEMM and
//! the gate math fused per block of batch rows (each block, one per thread when the step is big
//! enough, runs its rows' GEMM and then their gates while they are in cache). Each row's loop
//! over the hidden units is branch-free (the f32 `exp`/`tanh` are `fastmath`'s polynomials,
//! called through `Float` because the inherent `f32::tanh` is libm's), so it vectorises at the
//! CPU's widest SIMD level (`multiversion!`).

use super::lanes::SendPtr;
use super::matmul::gemm_slices;
use super::team;
use crate::backend::{RnnStep, RnnStepGrads, RnnStepInputs, RnnStepSaved, RnnStepUpstream};
use crate::ops::nn::rnn::RnnMode;
use crate::{Element, Float, Result, Tensor};
use std::borrow::Cow;
use std::ops::Range;

/// Multiply-adds per step above which the batch rows are split over the threads.
const PAR_WORK: usize = 1 << 17;

#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// The activation of an Elman RNN.
#[inline(always)]
pub(super) fn act<T: Float>(mode: RnnMode, x: T) -> T {
    match mode {
        RnnMode::Relu => x.max(T::zero()),
        _ => Float::tanh(x),
    }
}

/// Runs `f(rows, outs)` over blocks of the `n` batch rows, each output (of `width` elements per
/// row, 0 for an unused one) split into the block's rows; one block per thread when the step's
/// `work` is big enough, else one block here.
fn for_blocks<T: Float, const K: usize>(
    n: usize,
    work: usize,
    outs: [(&mut [T], usize); K],
    f: impl Fn(Range<usize>, [&mut [T]; K]) + Sync,
) {
    let widths = outs.each_ref().map(|(_, w)| *w);
    let ptrs = outs.map(|(o, _)| SendPtr(o.as_mut_ptr()));
    let run = |rows: Range<usize>| {
        let mut k = 0;
        let slices = widths.map(|w| {
            // SAFETY: each output holds `n * w` elements and the blocks' row ranges are
            // disjoint, so the slices of different calls never overlap.
            let s = unsafe {
                std::slice::from_raw_parts_mut(ptrs[k].0.add(rows.start * w), rows.len() * w)
            };
            k += 1;
            s
        });
        f(rows, slices);
    };
    run_row_blocks(row_blocks(n, work), run);
}

/// The `n` batch rows as one block per thread when `work` (multiply-adds) is big enough,
/// else one block.
pub(super) fn row_blocks(n: usize, work: usize) -> Vec<Range<usize>> {
    let blocks = if work >= PAR_WORK {
        crate::threads::get().min(n).max(1)
    } else {
        1
    };
    let per = n.div_ceil(blocks).max(1);
    (0..n).step_by(per).map(|a| a..(a + per).min(n)).collect()
}

/// Runs `run` over the blocks: on the team when there are several, else here.
pub(super) fn run_row_blocks(blocks: Vec<Range<usize>>, run: impl Fn(Range<usize>) + Sync + Send) {
    if blocks.len() <= 1 {
        blocks.into_iter().for_each(run);
    } else {
        team::for_each(blocks, run);
    }
}

pub(super) fn data<T: Float>(t: &Tensor) -> Result<Cow<'_, [T]>> {
    t.data::<T>()
}

/// The `K` gate blocks of `hid` elements at the start of a row (their equal, known lengths
/// let the compiler drop the bounds checks of the unit loop).
fn gates<T, const K: usize>(row: &[T], hid: usize) -> [&[T]; K] {
    std::array::from_fn(|k| &row[k * hid..(k + 1) * hid])
}

/// `gates` for an output row.
fn gates_mut<T, const K: usize>(row: &mut [T], hid: usize) -> [&mut [T]; K] {
    let mut rest = &mut row[..K * hid];
    std::array::from_fn(|_| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(hid);
        rest = tail;
        head
    })
}

#[inline(always)]
fn lstm_forward_row<T: Float>(x: &[T], y: &[T], cp: &[T], outs: [&mut [T]; 3], hid: usize) {
    let [ho, co, a] = outs;
    let ([xi, xf, xg, xo], [yi, yf, yg, yo]) = (gates::<T, 4>(x, hid), gates::<T, 4>(y, hid));
    let [ai, af, ag, ao] = gates_mut::<T, 4>(a, hid);
    let (cp, ho, co) = (&cp[..hid], &mut ho[..hid], &mut co[..hid]);
    for j in 0..hid {
        let i = sigmoid(xi[j] + yi[j]);
        let f = sigmoid(xf[j] + yf[j]);
        let g = Float::tanh(xg[j] + yg[j]);
        let o = sigmoid(xo[j] + yo[j]);
        let cn = f * cp[j] + i * g;
        co[j] = cn;
        ho[j] = o * Float::tanh(cn);
        (ai[j], af[j], ag[j], ao[j]) = (i, f, g, o);
    }
}

#[inline(always)]
fn gru_forward_row<T: Float>(x: &[T], y: &[T], hp: &[T], outs: [&mut [T]; 2], hid: usize) {
    let [ho, a] = outs;
    let ([xr, xz, xn], [yr, yz, yn]) = (gates::<T, 3>(x, hid), gates::<T, 3>(y, hid));
    let [ar, az, an, ay] = gates_mut::<T, 4>(a, hid);
    let (hp, ho) = (&hp[..hid], &mut ho[..hid]);
    for j in 0..hid {
        let r = sigmoid(xr[j] + yr[j]);
        let z = sigmoid(xz[j] + yz[j]);
        let n = Float::tanh(xn[j] + r * yn[j]);
        ho[j] = (T::one() - z) * n + z * hp[j];
        (ar[j], az[j], an[j], ay[j]) = (r, z, n, yn[j]);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_backward_row<T: Float>(
    dh: &[T],
    dc: Option<&[T]>,
    a: &[T],
    c: &[T],
    cp: &[T],
    outs: [&mut [T]; 2],
    hid: usize,
) {
    let [dg, dcp] = outs;
    let [ai, af, ag, ao] = gates::<T, 4>(a, hid);
    let [di, df, dgg, d_o] = gates_mut::<T, 4>(dg, hid);
    let (dh, c, cp, dcp) = (&dh[..hid], &c[..hid], &cp[..hid], &mut dcp[..hid]);
    let zeros;
    let dc = match dc {
        Some(dc) => &dc[..hid],
        None => {
            zeros = vec![T::zero(); hid];
            &zeros[..]
        }
    };
    for j in 0..hid {
        let (i, f, g, o) = (ai[j], af[j], ag[j], ao[j]);
        let tc = Float::tanh(c[j]);
        let d = dh[j] * o * (T::one() - tc * tc) + dc[j];
        di[j] = d * g * i * (T::one() - i);
        df[j] = d * cp[j] * f * (T::one() - f);
        dgg[j] = d * i * (T::one() - g * g);
        d_o[j] = dh[j] * tc * o * (T::one() - o);
        dcp[j] = d * f;
    }
}

#[inline(always)]
fn gru_backward_row<T: Float>(dh: &[T], a: &[T], hp: &[T], outs: [&mut [T]; 3], hid: usize) {
    let [dgi, dgh, dhp] = outs;
    let [ar, az, an, ay] = gates::<T, 4>(a, hid);
    let [dir, diz, din] = gates_mut::<T, 3>(dgi, hid);
    let [dhr, dhz, dhn] = gates_mut::<T, 3>(dgh, hid);
    let (dh, hp, dhp) = (&dh[..hid], &hp[..hid], &mut dhp[..hid]);
    for j in 0..hid {
        let (r, z, n, yn) = (ar[j], az[j], an[j], ay[j]);
        let dn = dh[j] * (T::one() - z) * (T::one() - n * n);
        let dr = dn * yn * r * (T::one() - r);
        let dz = dh[j] * (hp[j] - n) * z * (T::one() - z);
        (dir[j], diz[j], din[j]) = (dr, dz, dn);
        (dhr[j], dhz[j], dhn[j]) = (dr, dz, dn * r);
        dhp[j] = dh[j] * z;
    }
}

// Each row function compiled for the CPU's widest SIMD level (the crate's baseline is SSE2).
crate::multiversion!(pub(super) fn lstm_forward<T>(x: &[T], y: &[T], cp: &[T], outs: [&mut [T]; 3], hid: usize) where [T: Float] => lstm_forward_row);
crate::multiversion!(pub(super) fn gru_forward<T>(x: &[T], y: &[T], hp: &[T], outs: [&mut [T]; 2], hid: usize) where [T: Float] => gru_forward_row);
crate::multiversion!(pub(super) fn lstm_backward<T>(dh: &[T], dc: Option<&[T]>, a: &[T], c: &[T], cp: &[T], outs: [&mut [T]; 2], hid: usize) where [T: Float] => lstm_backward_row);
crate::multiversion!(pub(super) fn gru_backward<T>(dh: &[T], a: &[T], hp: &[T], outs: [&mut [T]; 3], hid: usize) where [T: Float] => gru_backward_row);

/// `out (+)= a @ W^T` for the block's `m` rows of `a` (`[m, k]`) and `W` `[n, k]` row-major.
fn times_w_t<T: Float>(m: usize, n: usize, k: usize, a: &[T], w: &[T], out: &mut [T], acc: bool) {
    gemm_slices(m, n, k, a, (k, 1), w, (1, k), out, acc);
}

pub(super) fn rnn_step_forward(mode: RnnMode, x: RnnStepInputs<'_>) -> Result<RnnStep> {
    let (gi, h, c, w_hh, b_hh) = (x.gi, x.h, x.c, x.w_hh, x.b_hh);
    let (n, hid) = (h.shape()[0], h.shape()[1]);
    let w = mode.gates() * hid;
    let saves = matches!(mode, RnnMode::Lstm | RnnMode::Gru);
    let cell = mode == RnnMode::Lstm;
    crate::with_float!(h.dtype(), T => {
        let (gi, hp, wv) = (data::<T>(gi)?, data::<T>(h)?, data::<T>(w_hh)?);
        let cp = c.map(data::<T>).transpose()?;
        let bv = b_hh.map(data::<T>).transpose()?;
        let mut h_out = vec![T::zero(); n * hid];
        let mut c_out = vec![T::zero(); if cell { n * hid } else { 0 }];
        let mut acts = vec![T::zero(); if saves { n * 4 * hid } else { 0 }];
        if n * hid > 0 {
            let outs = [
                (&mut h_out[..], hid),
                (&mut c_out[..], if cell { hid } else { 0 }),
                (&mut acts[..], if saves { 4 * hid } else { 0 }),
            ];
            for_blocks(n, n * w * hid, outs, |rows, [ho, co, a]| {
                let (r0, m) = (rows.start, rows.len());
                // The hidden projection of the block's rows, bias first.
                let mut gh = vec![T::zero(); m * w];
                if let Some(b) = &bv {
                    gh.chunks_exact_mut(w).for_each(|row| row.copy_from_slice(b));
                }
                times_w_t(m, w, hid, &hp[r0 * hid..(r0 + m) * hid], &wv, &mut gh, bv.is_some());
                let x = &gi[r0 * w..(r0 + m) * w];
                match mode {
                    RnnMode::Lstm => {
                        let cp = cp.as_ref().expect("an LSTM step has a cell state");
                        for (i, ((ho, co), a)) in ho.chunks_exact_mut(hid).zip(co.chunks_exact_mut(hid)).zip(a.chunks_exact_mut(4 * hid)).enumerate() {
                            let cr = &cp[(r0 + i) * hid..][..hid];
                            lstm_forward(&x[i * w..][..w], &gh[i * w..][..w], cr, [ho, co, a], hid);
                        }
                    }
                    RnnMode::Gru => {
                        for (i, (ho, a)) in ho.chunks_exact_mut(hid).zip(a.chunks_exact_mut(4 * hid)).enumerate() {
                            let hr = &hp[(r0 + i) * hid..][..hid];
                            gru_forward(&x[i * w..][..w], &gh[i * w..][..w], hr, [ho, a], hid);
                        }
                    }
                    RnnMode::Tanh | RnnMode::Relu => {
                        for (o, (&a, &b)) in ho.iter_mut().zip(x.iter().zip(&gh)) {
                            *o = act(mode, a + b);
                        }
                    }
                }
            });
        }
        let tensor = |v: Vec<T>, width: usize| Tensor::from_vec(v, &[n, width]);
        Ok(RnnStep {
            h: tensor(h_out, hid)?,
            c: if cell { Some(tensor(c_out, hid)?) } else { None },
            act: if saves { Some(tensor(acts, 4 * hid)?) } else { None },
        })
    })
}

pub(super) fn rnn_step_backward(
    mode: RnnMode,
    saved: RnnStepSaved<'_>,
    up: RnnStepUpstream<'_>,
) -> Result<RnnStepGrads> {
    let (dh, dc, w_hh) = (up.dh, up.dc, saved.w_hh);
    let (n, hid) = (saved.h.shape()[0], saved.h.shape()[1]);
    let w = mode.gates() * hid;
    let (gru, cell) = (mode == RnnMode::Gru, mode == RnnMode::Lstm);
    crate::with_float!(saved.h.dtype(), T => {
        // The hidden-state gradient: the sum of its parts.
        let mut dht = vec![T::zero(); n * hid];
        for part in dh.into_iter().flatten() {
            for (d, &v) in dht.iter_mut().zip(data::<T>(part)?.iter()) {
                *d += v;
            }
        }
        let wv = data::<T>(w_hh)?;
        let a = saved.act.map(data::<T>).transpose()?;
        let c = saved.c.map(data::<T>).transpose()?;
        let cp = saved.c_prev.map(data::<T>).transpose()?;
        let dcn = dc.map(data::<T>).transpose()?;
        let (hs, hp) = (data::<T>(saved.h)?, data::<T>(saved.h_prev)?);
        let mut dgi = vec![T::zero(); n * w];
        let mut dgh = vec![T::zero(); if gru { n * w } else { 0 }];
        let mut dhp = vec![T::zero(); n * hid];
        let mut dcp = vec![T::zero(); if cell { n * hid } else { 0 }];
        if n * hid > 0 {
            let outs = [
                (&mut dgi[..], w),
                (&mut dgh[..], if gru { w } else { 0 }),
                (&mut dhp[..], hid),
                (&mut dcp[..], if cell { hid } else { 0 }),
            ];
            for_blocks(n, n * w * hid, outs, |rows, [dgi, dgh, dhp, dcp]| {
                let (r0, m) = (rows.start, rows.len());
                let span = |i: usize, width: usize| (r0 + i) * width..(r0 + i + 1) * width;
                let dh = &dht[r0 * hid..(r0 + m) * hid];
                match mode {
                    RnnMode::Lstm => {
                        let (a, c, cp) = (a.as_ref().expect("saved gates"), c.as_ref().expect("saved cell state"), cp.as_ref().expect("saved cell state"));
                        for (i, (dg, dcp)) in dgi.chunks_exact_mut(w).zip(dcp.chunks_exact_mut(hid)).enumerate() {
                            let dcr = dcn.as_ref().map(|d| &d[span(i, hid)]);
                            lstm_backward(&dh[i * hid..][..hid], dcr, &a[span(i, w)], &c[span(i, hid)], &cp[span(i, hid)], [dg, dcp], hid);
                        }
                    }
                    RnnMode::Gru => {
                        let a = a.as_ref().expect("saved gates");
                        for (i, ((di, dg), dd)) in dgi.chunks_exact_mut(w).zip(dgh.chunks_exact_mut(w)).zip(dhp.chunks_exact_mut(hid)).enumerate() {
                            gru_backward(&dh[i * hid..][..hid], &a[span(i, 4 * hid)], &hp[span(i, hid)], [di, dg, dd], hid);
                        }
                    }
                    RnnMode::Tanh | RnnMode::Relu => {
                        let hs = &hs[r0 * hid..(r0 + m) * hid];
                        for (d, (&g, &h)) in dgi.iter_mut().zip(dh.iter().zip(hs)) {
                            *d = match mode {
                                RnnMode::Relu => if h > T::zero() { g } else { T::zero() },
                                _ => g * (T::one() - h * h),
                            };
                        }
                    }
                }
                // The previous state's gradient through the hidden projection (added to the
                // GRU's direct `z * dh` part).
                let src: &[T] = if gru { dgh } else { dgi };
                gemm_slices(m, hid, w, src, (w, 1), &wv, (hid, 1), dhp, gru);
            });
        }
        let tensor = |v: Vec<T>, width: usize| Tensor::from_vec(v, &[n, width]);
        Ok(RnnStepGrads {
            dgi: tensor(dgi, w)?,
            dgh: if gru { Some(tensor(dgh, w)?) } else { None },
            dh_prev: tensor(dhp, hid)?,
            dc_prev: if cell { Some(tensor(dcp, hid)?) } else { None },
        })
    })
}
