//! A recurrent layer's whole forward on the CPU in one call. A batch row's recurrence reads only
//! its own previous state, so each thread takes a block of rows through every time step on its
//! own — per step the block's hidden-projection GEMM and its gate math (`cpu/rnn.rs`'s row
//! kernels) — with no synchronisation between steps and no tensor per step: the states, gate
//! values and cell states are written straight into the layer's packed outputs. The hidden
//! weights are transposed once per sequence, so each step's GEMM reads two row-major operands.
//! The backward through time is split the same way: a row's gradients flow back through its
//! own steps only (`W_hh`'s gradient, over all rows, is one GEMM afterwards, in the op).

use super::matmul::gemm_slices;
use super::rnn::{act, data, gru_backward, gru_forward, lstm_backward, lstm_forward, PAR_WORK};
use super::team;
use crate::backend::{RnnSequence, RnnSequenceGrads, RnnSequenceInputs, RnnSequenceSaved};
use crate::ops::gather::transpose_into;
use crate::ops::nn::rnn::RnnMode;
use crate::{Element, Result, Tensor};
use std::borrow::Cow;
use std::ops::Range;

/// A `[T, n, width]` output the row blocks write into: step `t`, rows `rows`.
#[derive(Clone, Copy)]
struct Slabs<T> {
    ptr: *mut T,
    n: usize,
    width: usize,
}

// SAFETY: each thread reads and writes only its own block of rows (see `rows`).
unsafe impl<T> Send for Slabs<T> {}
unsafe impl<T> Sync for Slabs<T> {}

impl<T> Slabs<T> {
    fn of(v: &mut [T], n: usize, width: usize) -> Self {
        Slabs {
            ptr: v.as_mut_ptr(),
            n,
            width,
        }
    }

    /// Rows `rows` of step `t`.
    ///
    /// # Safety
    /// `t` and `rows` lie inside the buffer, and no other live slice covers these rows of this
    /// step (each thread owns its row block; within a thread one step's slices are dropped
    /// before the same rows of that step are taken again).
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, t: usize, rows: &Range<usize>) -> &mut [T] {
        let at = (t * self.n + rows.start) * self.width;
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), rows.len() * self.width) }
    }
}

pub(super) fn rnn_sequence_forward(mode: RnnMode, x: RnnSequenceInputs<'_>) -> Result<RnnSequence> {
    let (steps, n, w) = (x.gi.shape()[0], x.gi.shape()[1], x.gi.shape()[2]);
    let hid = x.h0.shape()[1];
    let gates = if matches!(mode, RnnMode::Lstm | RnnMode::Gru) {
        4 * hid
    } else {
        0
    };
    let cell = mode == RnnMode::Lstm;
    if cell && x.c0.is_none() {
        crate::bail!(Shape, "rnn_sequence: an LSTM needs an initial cell state");
    }
    let s = 1 + usize::from(cell);
    crate::with_float!(x.gi.dtype(), T => {
        let (gi, h0, wv) = (data::<T>(x.gi)?, data::<T>(x.h0)?, data::<T>(x.w_hh)?);
        // W_hh^T `[h, g*h]` row-major, once: read as `W_hh` through strides, the GEMM would
        // repack it from columns at every step, which costs more than the product for a block
        // of a few rows (10 rows x 200 -> 800: 52 µs a step against 19).
        let mut wt = vec![T::zero(); w * hid];
        transpose_into(&wv, w, hid, &mut wt);
        let c0 = x.c0.map(data::<T>).transpose()?;
        let bias = x.b_hh.map(data::<T>).transpose()?;
        let mut packed = vec![T::zero(); (steps + s) * n * hid];
        let mut acts = vec![T::zero(); steps * n * gates];
        let mut cells = vec![T::zero(); if cell { steps * n * hid } else { 0 }];
        let out = (
            Slabs::of(&mut packed, n, hid),
            Slabs::of(&mut acts, n, gates),
            Slabs::of(&mut cells, n, hid),
        );
        let run = |rows: Range<usize>| {
            let m = rows.len();
            let mut gh = vec![T::zero(); m * w];
            let mut last = None;
            for k in 0..steps {
                let t = if x.reverse { steps - 1 - k } else { k };
                // SAFETY (all `rows` calls): this block's rows, distinct steps or dropped
                // slices; the previous step's rows were written by this thread.
                let h_prev: &[T] = match last {
                    Some(p) => unsafe { out.0.rows(p, &rows) },
                    None => &h0[rows.start * hid..rows.end * hid],
                };
                match &bias {
                    Some(b) => gh.chunks_exact_mut(w).for_each(|r| r.copy_from_slice(b)),
                    None => gh.fill(T::zero()),
                }
                gemm_slices(m, w, hid, h_prev, (hid, 1), &wt, (w, 1), &mut gh, true);
                let xs = &gi[(t * n + rows.start) * w..][..m * w];
                let ho = unsafe { out.0.rows(t, &rows) };
                match mode {
                    RnnMode::Lstm => {
                        let c_prev: &[T] = match (last, &c0) {
                            (Some(p), _) => unsafe { out.2.rows(p, &rows) },
                            (None, c) => &c.as_deref().unwrap_or_default()[rows.start * hid..rows.end * hid],
                        };
                        let (co, a) = unsafe { (out.2.rows(t, &rows), out.1.rows(t, &rows)) };
                        for i in 0..m {
                            let outs = [&mut ho[i * hid..][..hid], &mut co[i * hid..][..hid], &mut a[i * gates..][..gates]];
                            lstm_forward(&xs[i * w..][..w], &gh[i * w..][..w], &c_prev[i * hid..][..hid], outs, hid);
                        }
                    }
                    RnnMode::Gru => {
                        let a = unsafe { out.1.rows(t, &rows) };
                        for i in 0..m {
                            let outs = [&mut ho[i * hid..][..hid], &mut a[i * gates..][..gates]];
                            gru_forward(&xs[i * w..][..w], &gh[i * w..][..w], &h_prev[i * hid..][..hid], outs, hid);
                        }
                    }
                    RnnMode::Tanh | RnnMode::Relu => {
                        for (o, (&a, &b)) in ho.iter_mut().zip(xs.iter().zip(&gh)) {
                            *o = act(mode, a + b);
                        }
                    }
                }
                last = Some(t);
            }
            // The final states after the time-ordered ones.
            unsafe {
                let fin = out.0.rows(steps, &rows);
                match last {
                    Some(p) => fin.copy_from_slice(out.0.rows(p, &rows)),
                    None => fin.copy_from_slice(&h0[rows.start * hid..rows.end * hid]),
                }
                if cell {
                    let fin_c = out.0.rows(steps + 1, &rows);
                    match (last, &c0) {
                        (Some(p), _) => fin_c.copy_from_slice(out.2.rows(p, &rows)),
                        (None, c) => fin_c.copy_from_slice(&c.as_deref().unwrap_or_default()[rows.start * hid..rows.end * hid]),
                    }
                }
            }
        };
        for_row_blocks(row_blocks(steps, n, w, hid), run);
        let packed = Tensor::from_vec(packed, &[steps + s, n, hid])?;
        let per_step = |v: Vec<T>, width: usize, kept: bool| -> Result<Vec<Option<Tensor>>> {
            if !kept {
                return Ok(vec![None; steps]);
            }
            let all = Tensor::from_vec(v, &[steps, n, width])?;
            (0..steps).map(|t| Ok(Some(all.select(0, t as isize)?))).collect()
        };
        Ok(RnnSequence {
            packed,
            acts: per_step(acts, gates, gates > 0)?,
            cells: per_step(cells, hid, cell)?,
        })
    })
}

/// Rows `rows` of step `t` of a `[T, n, width]` buffer.
fn slab<'a, T>(v: &'a [T], n: usize, t: usize, rows: &Range<usize>, width: usize) -> &'a [T] {
    &v[(t * n + rows.start) * width..(t * n + rows.end) * width]
}

/// The row blocks a sequence of `steps` splits into: one per thread when the work (`steps *
/// n * w * hid` multiply-adds) is big enough, else one.
fn row_blocks(steps: usize, n: usize, w: usize, hid: usize) -> Vec<Range<usize>> {
    let blocks = if steps * n * w * hid >= PAR_WORK {
        rayon::current_num_threads().min(n).max(1)
    } else {
        1
    };
    let per = n.div_ceil(blocks).max(1);
    (0..n).step_by(per).map(|a| a..(a + per).min(n)).collect()
}

/// Runs `run` over the blocks, on the team when there are several.
fn for_row_blocks(blocks: Vec<Range<usize>>, run: impl Fn(Range<usize>) + Sync + Send) {
    if blocks.len() <= 1 {
        blocks.into_iter().for_each(run);
    } else {
        team::for_each(blocks, run);
    }
}

/// Each step's saved tensor as a slice (empty where there is none).
fn per_step<T: crate::Float>(v: &[Option<Tensor>]) -> Result<Vec<Cow<'_, [T]>>> {
    v.iter()
        .map(|t| match t {
            Some(t) => data::<T>(t),
            None => Ok(Cow::Borrowed(&[][..])),
        })
        .collect()
}

pub(super) fn rnn_sequence_backward(
    mode: RnnMode,
    s: RnnSequenceSaved<'_>,
    g: &Tensor,
) -> Result<RnnSequenceGrads> {
    let steps = s.acts.len();
    let (n, hid) = (s.h0.shape()[0], s.h0.shape()[1]);
    let w = mode.gates() * hid;
    let (gru, cell) = (mode == RnnMode::Gru, mode == RnnMode::Lstm);
    if cell && s.c0.is_none() {
        crate::bail!(Shape, "rnn_sequence: an LSTM needs an initial cell state");
    }
    crate::with_float!(g.dtype(), T => {
        let (gv, out, h0, wv) = (data::<T>(g)?, data::<T>(s.out)?, data::<T>(s.h0)?, data::<T>(s.w_hh)?);
        let c0 = s.c0.map(data::<T>).transpose()?;
        let (acts, cells) = (per_step::<T>(s.acts)?, per_step::<T>(s.cells)?);
        let mut dgi = vec![T::zero(); steps * n * w];
        let mut dgh = vec![T::zero(); if gru { steps * n * w } else { 0 }];
        let mut dh0 = vec![T::zero(); n * hid];
        let mut dc0 = vec![T::zero(); if cell { n * hid } else { 0 }];
        let outs = (
            Slabs::of(&mut dgi, n, w),
            Slabs::of(&mut dgh, n, w),
            Slabs::of(&mut dh0, n, hid),
            Slabs::of(&mut dc0, n, hid),
        );
        let run = |rows: Range<usize>| {
            let m = rows.len();
            let (r0, r1) = (rows.start * hid, rows.end * hid);
            // The gradient reaching the next-processed step's state from later ones, and the
            // cell state's: at first the final states' own gradients.
            let mut dh_next = slab(&gv, n, steps, &rows, hid).to_vec();
            let mut dc = if cell { slab(&gv, n, steps + 1, &rows, hid).to_vec() } else { Vec::new() };
            let mut dht = vec![T::zero(); m * hid];
            let mut dcp = vec![T::zero(); if cell { m * hid } else { 0 }];
            for k in (0..steps).rev() {
                let t = if s.reverse { steps - 1 - k } else { k };
                let p = if s.reverse { (t + 1 < steps).then_some(t + 1) } else { t.checked_sub(1) };
                for ((d, &a), &b) in dht.iter_mut().zip(slab(&gv, n, t, &rows, hid)).zip(&dh_next) {
                    *d = a + b;
                }
                // SAFETY (all `rows` calls): this thread's rows of step `t`, each taken once.
                let dg = unsafe { outs.0.rows(t, &rows) };
                match mode {
                    RnnMode::Lstm => {
                        let c_prev: &[T] = match p {
                            Some(p) => &cells[p][r0..r1],
                            None => &c0.as_deref().unwrap_or_default()[r0..r1],
                        };
                        let (a, c) = (&acts[t][rows.start * w..rows.end * w], &cells[t][r0..r1]);
                        for i in 0..m {
                            let outs = [&mut dg[i * w..][..w], &mut dcp[i * hid..][..hid]];
                            let d = (&dht[i * hid..][..hid], Some(&dc[i * hid..][..hid]));
                            lstm_backward(d.0, d.1, &a[i * w..][..w], &c[i * hid..][..hid], &c_prev[i * hid..][..hid], outs, hid);
                        }
                    }
                    RnnMode::Gru => {
                        let h_prev: &[T] = match p {
                            Some(p) => slab(&out, n, p, &rows, hid),
                            None => &h0[r0..r1],
                        };
                        let a = &acts[t][rows.start * 4 * hid..rows.end * 4 * hid];
                        let dgh_t = unsafe { outs.1.rows(t, &rows) };
                        for i in 0..m {
                            let o = [&mut dg[i * w..][..w], &mut dgh_t[i * w..][..w], &mut dh_next[i * hid..][..hid]];
                            gru_backward(&dht[i * hid..][..hid], &a[i * 4 * hid..][..4 * hid], &h_prev[i * hid..][..hid], o, hid);
                        }
                    }
                    RnnMode::Tanh | RnnMode::Relu => {
                        let hs = slab(&out, n, t, &rows, hid);
                        for (d, (&g, &h)) in dg.iter_mut().zip(dht.iter().zip(hs)) {
                            *d = match mode {
                                RnnMode::Relu => if h > T::zero() { g } else { T::zero() },
                                _ => g * (T::one() - h * h),
                            };
                        }
                    }
                }
                // The previous state's gradient through the hidden projection (added to the
                // GRU's direct `z * dh` part, which `gru_backward` wrote into `dh_next`).
                let src: &[T] = if gru { unsafe { outs.1.rows(t, &rows) } } else { dg };
                gemm_slices(m, hid, w, src, (w, 1), &wv, (hid, 1), &mut dh_next, gru);
                if cell {
                    std::mem::swap(&mut dc, &mut dcp);
                }
            }
            unsafe {
                outs.2.rows(0, &rows).copy_from_slice(&dh_next);
                if cell {
                    outs.3.rows(0, &rows).copy_from_slice(&dc);
                }
            }
        };
        for_row_blocks(row_blocks(steps, n, w, hid), run);
        let tensor = |v: Vec<T>, shape: &[usize]| Tensor::from_vec(v, shape);
        Ok(RnnSequenceGrads {
            dgi: tensor(dgi, &[steps, n, w])?,
            dgh: if gru { Some(tensor(dgh, &[steps, n, w])?) } else { None },
            dh0: tensor(dh0, &[n, hid])?,
            dc0: if cell { Some(tensor(dc0, &[n, hid])?) } else { None },
        })
    })
}
