//! The gate math of one recurrent time step on the CPU, forward and backward, row by row of
//! the batch: each row's loop over the hidden units is branch-free (the f32 `exp`/`tanh` are
//! `fastmath`'s polynomials, called through `Float` because the inherent `f32::tanh` is libm's),
//! so it vectorises (at the CPU's widest SIMD level, `multiversion!`); big batches split their rows
//! over the threads.

use crate::backend::{RnnStep, RnnStepGrads, RnnStepSaved};
use crate::ops::nn::rnn::RnnMode;
use crate::{Element, Float, Result, Tensor};
use rayon::prelude::*;
use std::borrow::Cow;

/// Elements per step below which the rows run on this thread (a fork costs more).
const PAR_ELEMS: usize = 1 << 15;

#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// The activation of an Elman RNN and its derivative from the output.
#[inline(always)]
fn act<T: Float>(mode: RnnMode, x: T) -> T {
    match mode {
        RnnMode::Relu => x.max(T::zero()),
        _ => Float::tanh(x),
    }
}

/// Runs `f(row, outs)` on every row, each output split into rows of its own width; in
/// parallel when the step is big enough.
fn for_rows<T: Float, const K: usize>(
    rows: usize,
    outs: [(&mut [T], usize); K],
    f: impl Fn(usize, [&mut [T]; K]) + Sync,
) {
    let widths = outs.each_ref().map(|(_, w)| *w);
    let total: usize = widths.iter().sum::<usize>() * rows;
    let ptrs = outs.map(|(o, _)| SendPtr(o.as_mut_ptr()));
    let run = |r: usize| {
        let mut k = 0;
        let slices = widths.map(|w| {
            // SAFETY: each output holds `rows * w` elements and row `r`'s slice is touched by
            // this call only (rows are disjoint), so the slices never alias.
            let s = unsafe { std::slice::from_raw_parts_mut(ptrs[k].get().add(r * w), w) };
            k += 1;
            s
        });
        f(r, slices);
    };
    if total >= PAR_ELEMS && rows > 1 {
        (0..rows).into_par_iter().for_each(run);
    } else {
        (0..rows).for_each(run);
    }
}

struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

fn data<T: Float>(t: &Tensor) -> Result<Cow<'_, [T]>> {
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
crate::multiversion!(fn lstm_forward<T>(x: &[T], y: &[T], cp: &[T], outs: [&mut [T]; 3], hid: usize) where [T: Float] => lstm_forward_row);
crate::multiversion!(fn gru_forward<T>(x: &[T], y: &[T], hp: &[T], outs: [&mut [T]; 2], hid: usize) where [T: Float] => gru_forward_row);
crate::multiversion!(fn lstm_backward<T>(dh: &[T], dc: Option<&[T]>, a: &[T], c: &[T], cp: &[T], outs: [&mut [T]; 2], hid: usize) where [T: Float] => lstm_backward_row);
crate::multiversion!(fn gru_backward<T>(dh: &[T], a: &[T], hp: &[T], outs: [&mut [T]; 3], hid: usize) where [T: Float] => gru_backward_row);

pub(super) fn rnn_step_forward(
    mode: RnnMode,
    gi: &Tensor,
    gh: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
) -> Result<RnnStep> {
    let (n, hid) = (h.shape()[0], h.shape()[1]);
    let w = mode.gates() * hid;
    crate::with_float!(h.dtype(), T => {
        let (gi, gh, hp) = (data::<T>(gi)?, data::<T>(gh)?, data::<T>(h)?);
        let span = |r: usize, width: usize| r * width..(r + 1) * width;
        let tensor = |v: Vec<T>, width: usize| Tensor::from_vec(v, &[n, width]);
        let mut h_out = vec![T::zero(); n * hid];
        Ok(match mode {
            RnnMode::Lstm => {
                let cp = data::<T>(c.expect("an LSTM step has a cell state"))?;
                let (mut c_out, mut acts) = (vec![T::zero(); n * hid], vec![T::zero(); n * 4 * hid]);
                for_rows(n, [(&mut h_out[..], hid), (&mut c_out[..], hid), (&mut acts[..], 4 * hid)], |r, outs| {
                    lstm_forward(&gi[span(r, w)], &gh[span(r, w)], &cp[span(r, hid)], outs, hid)
                });
                RnnStep { h: tensor(h_out, hid)?, c: Some(tensor(c_out, hid)?), act: Some(tensor(acts, 4 * hid)?) }
            }
            RnnMode::Gru => {
                let mut acts = vec![T::zero(); n * 4 * hid];
                for_rows(n, [(&mut h_out[..], hid), (&mut acts[..], 4 * hid)], |r, outs| {
                    gru_forward(&gi[span(r, w)], &gh[span(r, w)], &hp[span(r, hid)], outs, hid)
                });
                RnnStep { h: tensor(h_out, hid)?, c: None, act: Some(tensor(acts, 4 * hid)?) }
            }
            RnnMode::Tanh | RnnMode::Relu => {
                for (o, (&x, &y)) in h_out.iter_mut().zip(gi.iter().zip(gh.iter())) {
                    *o = act(mode, x + y);
                }
                RnnStep { h: tensor(h_out, hid)?, c: None, act: None }
            }
        })
    })
}

pub(super) fn rnn_step_backward(
    mode: RnnMode,
    saved: RnnStepSaved<'_>,
    dh: [Option<&Tensor>; 3],
    dc: Option<&Tensor>,
) -> Result<RnnStepGrads> {
    let (n, hid) = (saved.h.shape()[0], saved.h.shape()[1]);
    let w = mode.gates() * hid;
    crate::with_float!(saved.h.dtype(), T => {
        // The hidden-state gradient: the sum of its parts.
        let mut dht = vec![T::zero(); n * hid];
        for part in dh.into_iter().flatten() {
            for (d, &v) in dht.iter_mut().zip(data::<T>(part)?.iter()) {
                *d += v;
            }
        }
        let dht = &dht;
        let span = |r: usize, width: usize| r * width..(r + 1) * width;
        let tensor = |v: Vec<T>, width: usize| Tensor::from_vec(v, &[n, width]);
        let mut dgi = vec![T::zero(); n * w];
        Ok(match mode {
            RnnMode::Lstm => {
                let a = data::<T>(saved.act.expect("saved gates"))?;
                let c = data::<T>(saved.c.expect("saved cell state"))?;
                let cp = data::<T>(saved.c_prev.expect("saved cell state"))?;
                let dcn = dc.map(data::<T>).transpose()?;
                let mut dcp = vec![T::zero(); n * hid];
                for_rows(n, [(&mut dgi[..], w), (&mut dcp[..], hid)], |r, outs| {
                    let dc = dcn.as_ref().map(|d| &d[span(r, hid)]);
                    lstm_backward(&dht[span(r, hid)], dc, &a[span(r, w)], &c[span(r, hid)], &cp[span(r, hid)], outs, hid)
                });
                RnnStepGrads { dgi: tensor(dgi, w)?, dgh: None, dh_prev: None, dc_prev: Some(tensor(dcp, hid)?) }
            }
            RnnMode::Gru => {
                let (a, hp) = (data::<T>(saved.act.expect("saved gates"))?, data::<T>(saved.h_prev)?);
                let (mut dgh, mut dhp) = (vec![T::zero(); n * w], vec![T::zero(); n * hid]);
                for_rows(n, [(&mut dgi[..], w), (&mut dgh[..], w), (&mut dhp[..], hid)], |r, outs| {
                    gru_backward(&dht[span(r, hid)], &a[span(r, 4 * hid)], &hp[span(r, hid)], outs, hid)
                });
                RnnStepGrads { dgi: tensor(dgi, w)?, dgh: Some(tensor(dgh, w)?), dh_prev: Some(tensor(dhp, hid)?), dc_prev: None }
            }
            RnnMode::Tanh | RnnMode::Relu => {
                let h = data::<T>(saved.h)?;
                for (d, (&dh, &h)) in dgi.iter_mut().zip(dht.iter().zip(h.iter())) {
                    *d = match mode {
                        RnnMode::Relu => if h > T::zero() { dh } else { T::zero() },
                        _ => dh * (T::one() - h * h),
                    };
                }
                RnnStepGrads { dgi: tensor(dgi, hid)?, dgh: None, dh_prev: None, dc_prev: None }
            }
        })
    })
}
