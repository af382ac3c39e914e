//! A recurrent layer's whole forward on the CPU in one call. A batch row's recurrence reads only
//! its own previous state, so each thread takes a block of rows through every time step on its
//! own — per step the block's hidden-projection GEMM and its gate math (`cpu/rnn.rs`'s row
//! kernels) — with no synchronisation between steps and no tensor per step: the states, gate
//! values and cell states are written straight into the layer's packed outputs. The hidden
//! weights are transposed once per sequence, so each step's GEMM reads two row-major operands.
//! The backward through time is split the same way: a row's gradients flow back through its
//! own steps only (`W_hh`'s gradient, over all rows, is one GEMM afterwards, in the op).

use super::matmul::gemm_slices;
use super::rnn::{
    act, data, gru_backward, gru_forward, lstm_backward, lstm_forward, row_blocks, run_row_blocks,
};
use crate::backend::{RnnSequence, RnnSequenceGrads, RnnSequenceInputs, RnnSequenceSaved};
use crate::ops::gather::transpose_into;
use crate::ops::nn::rnn::{prev, RnnMode};
use crate::{Element, Float, Result, Tensor};
use std::borrow::Cow;
use std::ops::Range;

/// A `[T, n, width]` output the row blocks write into: step `t`, rows `rows`.
#[derive(Clone, Copy)]
struct Slabs<T> {
    ptr: *mut T,
    len: usize,
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
            len: v.len(),
            n,
            width,
        }
    }

    /// Rows `rows` of step `t`.
    ///
    /// # Safety
    /// No other live slice covers these rows of this step (each thread owns its row block;
    /// within a thread one step's slices are dropped before the same rows of that step are
    /// taken again).
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, t: usize, rows: &Range<usize>) -> &mut [T] {
        let at = (t * self.n + rows.start) * self.width;
        assert!(
            at + rows.len() * self.width <= self.len,
            "rows outside the buffer"
        );
        // SAFETY: inside the buffer (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), rows.len() * self.width) }
    }
}

/// A sequence's sizes and direction, which the forward and the backward both walk.
#[derive(Clone, Copy)]
struct Dims {
    mode: RnnMode,
    /// Steps, batch rows, gate width `g*h`, hidden size.
    steps: usize,
    n: usize,
    w: usize,
    hid: usize,
    reverse: bool,
}

impl Dims {
    /// The time step processed `k`-th.
    fn step_at(&self, k: usize) -> usize {
        if self.reverse {
            self.steps - 1 - k
        } else {
            k
        }
    }

    /// The step processed before `t` (`None`: the initial state).
    fn prev(&self, t: usize) -> Option<usize> {
        prev(t, self.steps, self.reverse)
    }

    /// The batch rows split into blocks, each taken through every step by one thread.
    fn row_blocks(&self) -> Vec<Range<usize>> {
        row_blocks(self.n, self.steps * self.n * self.w * self.hid)
    }
}

/// One sequence's forward: its operands as slices and where its outputs go, shared by the
/// threads (each runs its own block of rows).
struct Forward<'a, T> {
    d: Dims,
    /// Saved gate values per row (0: none).
    gates: usize,
    gi: &'a [T],
    h0: &'a [T],
    /// Empty unless LSTM.
    c0: &'a [T],
    /// `W_hh^T` `[h, g*h]`.
    wt: &'a [T],
    bias: Option<&'a [T]>,
    packed: Slabs<T>,
    acts: Slabs<T>,
    cells: Slabs<T>,
}

impl<T: Float> Forward<'_, T> {
    /// Takes batch rows `rows` through every step, then writes their final states.
    fn run(&self, rows: Range<usize>) {
        let mut gh = vec![T::zero(); rows.len() * self.d.w];
        let mut last = None;
        for k in 0..self.d.steps {
            let t = self.d.step_at(k);
            self.step(t, last, &rows, &mut gh);
            last = Some(t);
        }
        self.finish(last, &rows);
    }

    /// Step `t` of rows `rows` (`last`: the step before it, `None` for the initial state).
    fn step(&self, t: usize, last: Option<usize>, rows: &Range<usize>, gh: &mut [T]) {
        let Dims {
            mode, n, w, hid, ..
        } = self.d;
        let (m, gates) = (rows.len(), self.gates);
        let (r0, r1) = (rows.start * hid, rows.end * hid);
        // SAFETY (all `rows` calls): this block's rows, distinct steps or dropped slices; the
        // previous step's rows were written by this thread.
        let h_prev: &[T] = match last {
            Some(p) => unsafe { self.packed.rows(p, rows) },
            None => &self.h0[r0..r1],
        };
        match self.bias {
            Some(b) => gh.chunks_exact_mut(w).for_each(|r| r.copy_from_slice(b)),
            None => gh.fill(T::zero()),
        }
        gemm_slices(m, w, hid, h_prev, (hid, 1), self.wt, (w, 1), gh, true);
        let xs = slab(self.gi, n, t, rows, w);
        let ho = unsafe { self.packed.rows(t, rows) };
        match mode {
            RnnMode::Lstm => {
                let c_prev: &[T] = match last {
                    Some(p) => unsafe { self.cells.rows(p, rows) },
                    None => &self.c0[r0..r1],
                };
                let (co, a) = unsafe { (self.cells.rows(t, rows), self.acts.rows(t, rows)) };
                for i in 0..m {
                    let outs = [
                        &mut ho[i * hid..][..hid],
                        &mut co[i * hid..][..hid],
                        &mut a[i * gates..][..gates],
                    ];
                    lstm_forward(
                        &xs[i * w..][..w],
                        &gh[i * w..][..w],
                        &c_prev[i * hid..][..hid],
                        outs,
                        hid,
                    );
                }
            }
            RnnMode::Gru => {
                let a = unsafe { self.acts.rows(t, rows) };
                for i in 0..m {
                    let outs = [&mut ho[i * hid..][..hid], &mut a[i * gates..][..gates]];
                    gru_forward(
                        &xs[i * w..][..w],
                        &gh[i * w..][..w],
                        &h_prev[i * hid..][..hid],
                        outs,
                        hid,
                    );
                }
            }
            RnnMode::Tanh | RnnMode::Relu => {
                for (o, (&a, &b)) in ho.iter_mut().zip(xs.iter().zip(gh.iter())) {
                    *o = act(mode, a + b);
                }
            }
        }
    }

    /// The final states, after the time-ordered ones (the initial ones for no steps).
    fn finish(&self, last: Option<usize>, rows: &Range<usize>) {
        let Dims {
            mode, steps, hid, ..
        } = self.d;
        let (r0, r1) = (rows.start * hid, rows.end * hid);
        // SAFETY: the final rows (steps `T`, `T + 1`) are distinct from every step's.
        unsafe {
            let fin = self.packed.rows(steps, rows);
            match last {
                Some(p) => fin.copy_from_slice(self.packed.rows(p, rows)),
                None => fin.copy_from_slice(&self.h0[r0..r1]),
            }
            if mode == RnnMode::Lstm {
                let fin_c = self.packed.rows(steps + 1, rows);
                match last {
                    Some(p) => fin_c.copy_from_slice(self.cells.rows(p, rows)),
                    None => fin_c.copy_from_slice(&self.c0[r0..r1]),
                }
            }
        }
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
    let dims = Dims {
        mode,
        steps,
        n,
        w,
        hid,
        reverse: x.reverse,
    };
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
        let fwd = Forward {
            d: dims,
            gates,
            gi: &gi,
            h0: &h0,
            c0: c0.as_deref().unwrap_or_default(),
            wt: &wt,
            bias: bias.as_deref(),
            packed: Slabs::of(&mut packed, n, hid),
            acts: Slabs::of(&mut acts, n, gates),
            cells: Slabs::of(&mut cells, n, hid),
        };
        run_row_blocks(dims.row_blocks(), |rows| fwd.run(rows));
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

/// Each step's saved tensor as a slice (empty where there is none).
fn per_step<T: crate::Float>(v: &[Option<Tensor>]) -> Result<Vec<Cow<'_, [T]>>> {
    v.iter()
        .map(|t| match t {
            Some(t) => data::<T>(t),
            None => Ok(Cow::Borrowed(&[][..])),
        })
        .collect()
}

/// One sequence's backward through time: the forward's saved values as slices, the output
/// gradient, and where the input gradients go, shared by the threads.
struct Backward<'a, T: Clone> {
    d: Dims,
    /// The packed output's gradient and the packed output `[T + s, n, h]`.
    g: &'a [T],
    out: &'a [T],
    h0: &'a [T],
    /// Empty unless LSTM.
    c0: &'a [T],
    /// Each step's gate values and (LSTM) cell state.
    acts: &'a [Cow<'a, [T]>],
    cells: &'a [Cow<'a, [T]>],
    w_hh: &'a [T],
    dgi: Slabs<T>,
    dgh: Slabs<T>,
    dh0: Slabs<T>,
    dc0: Slabs<T>,
}

/// A row block's running gradients: of the state the next-processed step reads (`dh`,
/// `dc`), the current step's hidden-state gradient `dht` and the cell gradient it passes on.
struct Running<T> {
    dh: Vec<T>,
    dc: Vec<T>,
    dht: Vec<T>,
    dcp: Vec<T>,
}

impl<T: Float> Backward<'_, T> {
    /// Takes batch rows `rows` back through every step, then writes the initial states'
    /// gradients.
    fn run(&self, rows: Range<usize>) {
        let Dims {
            mode,
            steps,
            n,
            hid,
            ..
        } = self.d;
        let (m, cell) = (rows.len(), mode == RnnMode::Lstm);
        // At first the final states' own gradients.
        let mut r = Running {
            dh: slab(self.g, n, steps, &rows, hid).to_vec(),
            dc: if cell {
                slab(self.g, n, steps + 1, &rows, hid).to_vec()
            } else {
                Vec::new()
            },
            dht: vec![T::zero(); m * hid],
            dcp: vec![T::zero(); if cell { m * hid } else { 0 }],
        };
        for k in (0..steps).rev() {
            let t = self.d.step_at(k);
            self.step(t, &rows, &mut r);
            if cell {
                std::mem::swap(&mut r.dc, &mut r.dcp);
            }
        }
        // SAFETY: the initial states' gradients have one row block per thread.
        unsafe {
            self.dh0.rows(0, &rows).copy_from_slice(&r.dh);
            if cell {
                self.dc0.rows(0, &rows).copy_from_slice(&r.dc);
            }
        }
    }

    /// Step `t` of rows `rows`: its gates' gradients, and the previous state's into `r.dh`.
    fn step(&self, t: usize, rows: &Range<usize>, r: &mut Running<T>) {
        let Dims {
            mode, n, w, hid, ..
        } = self.d;
        let m = rows.len();
        let (r0, r1) = (rows.start * hid, rows.end * hid);
        let prev = self.d.prev(t);
        for ((d, &a), &b) in r
            .dht
            .iter_mut()
            .zip(slab(self.g, n, t, rows, hid))
            .zip(&r.dh)
        {
            *d = a + b;
        }
        let dht = &r.dht;
        // SAFETY (all `rows` calls): this thread's rows of step `t`, each taken once.
        let dg = unsafe { self.dgi.rows(t, rows) };
        match mode {
            RnnMode::Lstm => {
                let c_prev: &[T] = match prev {
                    Some(p) => &self.cells[p][r0..r1],
                    None => &self.c0[r0..r1],
                };
                let (a, c) = (
                    &self.acts[t][rows.start * w..rows.end * w],
                    &self.cells[t][r0..r1],
                );
                for i in 0..m {
                    let outs = [&mut dg[i * w..][..w], &mut r.dcp[i * hid..][..hid]];
                    let dc = Some(&r.dc[i * hid..][..hid]);
                    lstm_backward(
                        &dht[i * hid..][..hid],
                        dc,
                        &a[i * w..][..w],
                        &c[i * hid..][..hid],
                        &c_prev[i * hid..][..hid],
                        outs,
                        hid,
                    );
                }
            }
            RnnMode::Gru => {
                let h_prev: &[T] = match prev {
                    Some(p) => slab(self.out, n, p, rows, hid),
                    None => &self.h0[r0..r1],
                };
                let a = &self.acts[t][rows.start * 4 * hid..rows.end * 4 * hid];
                let dgh = unsafe { self.dgh.rows(t, rows) };
                for i in 0..m {
                    let o = [
                        &mut dg[i * w..][..w],
                        &mut dgh[i * w..][..w],
                        &mut r.dh[i * hid..][..hid],
                    ];
                    gru_backward(
                        &dht[i * hid..][..hid],
                        &a[i * 4 * hid..][..4 * hid],
                        &h_prev[i * hid..][..hid],
                        o,
                        hid,
                    );
                }
            }
            RnnMode::Tanh | RnnMode::Relu => {
                let hs = slab(self.out, n, t, rows, hid);
                for (d, (&g, &h)) in dg.iter_mut().zip(dht.iter().zip(hs)) {
                    *d = match mode {
                        RnnMode::Relu => {
                            if h > T::zero() {
                                g
                            } else {
                                T::zero()
                            }
                        }
                        _ => g * (T::one() - h * h),
                    };
                }
            }
        }
        // The previous state's gradient through the hidden projection (added to the GRU's
        // direct `z * dh` part, which `gru_backward` wrote into `r.dh`).
        let gru = mode == RnnMode::Gru;
        let src: &[T] = if gru {
            unsafe { self.dgh.rows(t, rows) }
        } else {
            dg
        };
        gemm_slices(m, hid, w, src, (w, 1), self.w_hh, (hid, 1), &mut r.dh, gru);
    }
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
    let dims = Dims {
        mode,
        steps,
        n,
        w,
        hid,
        reverse: s.reverse,
    };
    crate::with_float!(g.dtype(), T => {
        let (gv, out, h0, wv) = (data::<T>(g)?, data::<T>(s.out)?, data::<T>(s.h0)?, data::<T>(s.w_hh)?);
        let c0 = s.c0.map(data::<T>).transpose()?;
        let (acts, cells) = (per_step::<T>(s.acts)?, per_step::<T>(s.cells)?);
        let mut dgi = vec![T::zero(); steps * n * w];
        let mut dgh = vec![T::zero(); if gru { steps * n * w } else { 0 }];
        let mut dh0 = vec![T::zero(); n * hid];
        let mut dc0 = vec![T::zero(); if cell { n * hid } else { 0 }];
        let bwd = Backward {
            d: dims,
            g: &gv,
            out: &out,
            h0: &h0,
            c0: c0.as_deref().unwrap_or_default(),
            acts: &acts,
            cells: &cells,
            w_hh: &wv,
            dgi: Slabs::of(&mut dgi, n, w),
            dgh: Slabs::of(&mut dgh, n, w),
            dh0: Slabs::of(&mut dh0, n, hid),
            dc0: Slabs::of(&mut dc0, n, hid),
        };
        run_row_blocks(dims.row_blocks(), |rows| bwd.run(rows));
        let tensor = |v: Vec<T>, shape: &[usize]| Tensor::from_vec(v, shape);
        Ok(RnnSequenceGrads {
            dgi: tensor(dgi, &[steps, n, w])?,
            dgh: if gru { Some(tensor(dgh, &[steps, n, w])?) } else { None },
            dh0: tensor(dh0, &[n, hid])?,
            dc0: if cell { Some(tensor(dc0, &[n, hid])?) } else { None },
        })
    })
}
