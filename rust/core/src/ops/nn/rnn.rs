//! A fused recurrent layer: one op runs a whole sequence of one layer and direction of an
//! Elman RNN, LSTM or GRU. The caller projects the input of every time step at once (one GEMM,
//! `gi = x W_ih^T + b_ih`); this op runs the recurrence — per step one backend primitive for
//! the hidden projection's GEMM with the gate math fused — and records one backward through
//! time: per step one primitive for the gate math's backward and the previous state's gradient
//! (a GEMM), then one GEMM over all steps for `W_hh`'s gradient. Autograd sees one node
//! instead of a dozen per time step.
//!
//! The op returns its outputs packed in one tensor `[T + s, n, h]`: the hidden state of every
//! step in time order, then the final hidden state and (LSTM) the final cell state. Callers
//! take views of it (autograd nodes have one output).

use crate::autograd::{grads_by_recompute, record_differentiable, GradModeGuard, Saved};
use crate::backend::{
    self, Backend, RnnSequence, RnnSequenceGrads, RnnSequenceInputs, RnnSequenceSaved,
    RnnStepInputs, RnnStepSaved, RnnStepUpstream,
};
use crate::ops::nn::as_dtype;
use crate::{bail, DType, Error, Result, Tensor};

/// The cell of a recurrent layer, with PyTorch's gate order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RnnMode {
    /// `h' = tanh(gi + gh)`.
    Tanh,
    /// `h' = relu(gi + gh)`.
    Relu,
    /// Gates `i, f, g, o`: `c' = f c + i g`, `h' = o tanh(c')`.
    Lstm,
    /// Gates `r, z, n`: `n = tanh(gi_n + r gh_n)`, `h' = (1 - z) n + z h`.
    Gru,
}

impl RnnMode {
    /// PyTorch's mode names: `RNN_TANH`, `RNN_RELU`, `LSTM`, `GRU`.
    pub fn parse(name: &str) -> Result<RnnMode> {
        Ok(match name {
            "RNN_TANH" => RnnMode::Tanh,
            "RNN_RELU" => RnnMode::Relu,
            "LSTM" => RnnMode::Lstm,
            "GRU" => RnnMode::Gru,
            _ => bail!(
                Value,
                "unknown recurrent mode {name:?} (expected RNN_TANH, RNN_RELU, LSTM or GRU)"
            ),
        })
    }

    /// Gates per hidden unit: the projections are `[n, gates * h]`.
    pub fn gates(self) -> usize {
        match self {
            RnnMode::Tanh | RnnMode::Relu => 1,
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
        }
    }

    /// The code the CUDA kernels switch on.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The state and weights of one layer and direction besides its input projection.
#[derive(Clone, Copy)]
pub struct RnnArgs<'a> {
    /// The initial hidden state `[n, h]`.
    pub h0: &'a Tensor,
    /// The initial cell state `[n, h]` (LSTM only).
    pub c0: Option<&'a Tensor>,
    /// `[gates * h, h]`.
    pub w_hh: &'a Tensor,
    /// `[gates * h]`.
    pub b_hh: Option<&'a Tensor>,
    pub mode: RnnMode,
    /// Run from the last time step to the first (the backward direction of a bidirectional
    /// layer); the outputs stay in time order.
    pub reverse: bool,
}

/// Checks the operands' shapes against each other: `(t, n, h)`.
fn sizes(gi: &Tensor, a: &RnnArgs<'_>) -> Result<(usize, usize, usize)> {
    let fail = |why: String| -> Error {
        let mut all = vec![gi, a.h0, a.w_hh];
        all.extend(a.c0);
        all.extend(a.b_hh);
        Error::shape_mismatch(
            "rnn_sequence",
            &all,
            format!(
                "rnn_sequence: input projection {:?}, h0 {:?}, weight_hh {:?}: {why}",
                gi.shape(),
                a.h0.shape(),
                a.w_hh.shape()
            ),
        )
    };
    if gi.ndim() != 3 || a.h0.ndim() != 2 {
        return Err(fail(
            "expected a [T, N, G*H] projection and an [N, H] state".into(),
        ));
    }
    let (t, n, gh) = (gi.shape()[0], gi.shape()[1], gi.shape()[2]);
    let h = a.h0.shape()[1];
    let g = a.mode.gates();
    if a.h0.shape()[0] != n || gh != g * h {
        return Err(fail(format!(
            "the projection must be [T, {n}, {g}*{h}] for this state"
        )));
    }
    if a.w_hh.shape() != [g * h, h] {
        return Err(fail(format!("weight_hh must be [{}, {h}]", g * h)));
    }
    if let Some(b) = a.b_hh {
        if b.shape() != [g * h] {
            return Err(fail(format!(
                "bias_hh must be [{}], got {:?}",
                g * h,
                b.shape()
            )));
        }
    }
    match (a.mode, a.c0) {
        (RnnMode::Lstm, Some(c)) if c.shape() != a.h0.shape() => Err(fail(format!(
            "the cell state {:?} must match the hidden state",
            c.shape()
        ))),
        (RnnMode::Lstm, None) => Err(fail("an LSTM needs the initial cell state".into())),
        (RnnMode::Lstm, Some(_)) | (_, None) => Ok((t, n, h)),
        (_, Some(_)) => Err(fail("only an LSTM has a cell state".into())),
    }
}

/// The index of the step before `t` in processing order (`None`: the initial state).
pub(crate) fn prev(t: usize, steps: usize, reverse: bool) -> Option<usize> {
    if reverse {
        (t + 1 < steps).then_some(t + 1)
    } else {
        t.checked_sub(1)
    }
}

/// `W_hh`'s gradient, `sum_t dgh_t^T h_{t-1}`, as two GEMMs reading the saved states where
/// they lie (no stacked copy of the previous states): the steps whose previous state is an
/// output row, then the one that starts from `h0`. `dgh` is `[T, n, g*h]`, `out` the packed
/// forward output (its first `T` rows the states in time order).
fn weight_grad(dgh: &Tensor, out: &Tensor, h0: &Tensor, reverse: bool) -> Result<Tensor> {
    let (steps, n, gsize) = (dgh.shape()[0], dgh.shape()[1], dgh.shape()[2]);
    let h = h0.shape()[1];
    let be = backend::of(dgh);
    let dt = dgh.dtype();
    // The first step in processing order reads h0; the others read the output row before
    // (forward) or after (reverse) them.
    let (first, rest_g, rest_h) = if reverse {
        (steps - 1, 0, 1)
    } else {
        (0, 1, 0)
    };
    let g0 = dgh.select(0, first as isize)?;
    let mut dw = be.matmul(&g0.t()?, h0, &[], (gsize, h, n), dt)?;
    if steps > 1 {
        let rows = ((steps - 1) * n) as isize;
        let g = dgh
            .narrow(0, rest_g, steps - 1)?
            .reshape(&[rows, gsize as isize])?;
        let hp = out
            .narrow(0, rest_h, steps - 1)?
            .reshape(&[rows, h as isize])?;
        let rest = be.matmul(&g.t()?, &hp, &[], (gsize, h, (steps - 1) * n), dt)?;
        dw = dw.add(&rest)?;
    }
    Ok(dw)
}

impl Tensor {
    /// The recurrence of one layer and direction over `self`, the input projection
    /// `[T, n, gates * h]` of every step (bias included): the hidden states of all steps, the
    /// final hidden state and (LSTM) the final cell state, packed as `[T + s, n, h]`. Half
    /// inputs compute in float32; under autocast the result has the autocast dtype.
    pub fn rnn_sequence(&self, a: &RnnArgs<'_>) -> Result<Tensor> {
        let mut operands = vec![self, a.h0, a.w_hh];
        operands.extend(a.c0);
        operands.extend(a.b_hh);
        for t in &operands {
            t.check_float("rnn_sequence expects floating point inputs, states and weights")?;
            self.check_same_device(t)?;
        }
        let autocast = crate::amp::autocast_dtype();
        if autocast.is_none() && operands.iter().any(|t| t.dtype() != self.dtype()) {
            let names: Vec<String> = operands.iter().map(|t| t.dtype().to_string()).collect();
            bail!(
                DType,
                "rnn_sequence expects one dtype for input, states and weights, got {}",
                names.join(", ")
            );
        }
        let (steps, n, h) = sizes(self, a)?;
        let mode = a.mode;
        let dt = if operands.iter().all(|t| t.dtype() == DType::F64) {
            DType::F64
        } else {
            DType::F32
        };
        let out_dt = autocast.unwrap_or(self.dtype());
        let gi = as_dtype(self, dt)?;
        let h0 = as_dtype(a.h0, dt)?;
        let c0 = a.c0.map(|c| as_dtype(c, dt)).transpose()?;
        let w = as_dtype(a.w_hh, dt)?;
        let b = a.b_hh.map(|b| as_dtype(b, dt)).transpose()?;
        let be = backend::of(self);
        let reverse = a.reverse;
        let (packed, acts, cs) = {
            let _no_grad = GradModeGuard::new(false);
            let seq = be.rnn_sequence_forward(
                mode,
                RnnSequenceInputs {
                    gi: &gi,
                    h0: &h0,
                    c0: c0.as_ref(),
                    w_hh: &w,
                    b_hh: b.as_ref(),
                    reverse,
                },
            )?;
            (seq.packed, seq.acts, seq.cells)
        };

        let mut inputs = vec![self, a.h0];
        inputs.extend(a.c0);
        inputs.push(a.w_hh);
        inputs.extend(a.b_hh);
        let dtypes: Vec<DType> = inputs.iter().map(|t| t.dtype()).collect();
        let (saved_out, saved_w) = (Saved::new(&packed)?, Saved::new(&w)?);
        let has_bias = b.is_some();
        // What a backward that builds a graph recomputes the recurrence from (the inputs with
        // their histories; the input projection is the only tensor kept for it alone).
        let mut graph_inputs = vec![Saved::new_as(&gi, self)?, Saved::new_as(&h0, a.h0)?];
        if let (Some(c), Some(of)) = (&c0, a.c0) {
            graph_inputs.push(Saved::new_as(c, of)?);
        }
        graph_inputs.push(Saved::new_as(&w, a.w_hh)?);
        if let (Some(bt), Some(of)) = (&b, a.b_hh) {
            graph_inputs.push(Saved::new_as(bt, of)?);
        }
        let result = packed.to_dtype(out_dt)?;
        Ok(record_differentiable(
            result,
            "RnnSequenceBackward",
            &inputs,
            move |g| {
                if crate::autograd::is_grad_enabled() {
                    // `create_graph=True`: the recurrence again in recorded ops, differentiated.
                    let t = graph_inputs
                        .iter()
                        .map(Saved::get_graph)
                        .collect::<Result<Vec<_>>>()?;
                    let composite = |t: &[Tensor]| recurrence(t, mode, reverse, has_bias);
                    let grads = grads_by_recompute(&t, g, composite)?;
                    return grads
                        .into_iter()
                        .zip(&dtypes)
                        .map(|(grad, &want)| grad.map(|t| t.to_dtype(want)).transpose())
                        .collect();
                }
                let _no_grad = GradModeGuard::new(false);
                let (out, w) = (saved_out.get()?, saved_w.get()?);
                let g = as_dtype(g, dt)?;
                let be = backend::of(&g);
                let gsize = mode.gates() * h;
                let (dgi, dh0, dc, dw, db) = if steps == 0 {
                    let zeros = |shape: &[usize]| backend::of(&g).full(shape, 0.0, dt, g.device());
                    let dc = match mode {
                        RnnMode::Lstm => Some(g.select(0, 1)?),
                        _ => None,
                    };
                    (
                        zeros(&[0, n, gsize])?,
                        g.select(0, 0)?,
                        dc,
                        zeros(&[gsize, h])?,
                        zeros(&[gsize])?,
                    )
                } else {
                    let saved = RnnSequenceSaved {
                        out,
                        h0: &h0,
                        c0: c0.as_ref(),
                        acts: &acts,
                        cells: &cs,
                        w_hh: w,
                        reverse,
                    };
                    let grads = be.rnn_sequence_backward(mode, saved, &g)?;
                    let dgh = grads.dgh.unwrap_or_else(|| grads.dgi.clone());
                    let dw = weight_grad(&dgh, out, &h0, reverse)?;
                    let db = dgh.reshape(&[(steps * n) as isize, gsize as isize])?;
                    let db = db.sum(Some(&[0]), false)?;
                    (grads.dgi, grads.dh0, grads.dc0, dw, db)
                };
                let mut grads = vec![dgi, dh0];
                if let Some(dc) = dc {
                    grads.push(dc);
                }
                grads.push(dw);
                if has_bias {
                    grads.push(db);
                }
                grads
                    .into_iter()
                    .zip(&dtypes)
                    .map(|(grad, &want)| Ok(Some(grad.to_dtype(want)?)))
                    .collect()
            },
        ))
    }
}

/// The packed result of `rnn_sequence` (every step's hidden state, the final hidden state and,
/// LSTM, the final cell state) in recorded ops, from `[gi, h0, (c0), w_hh, (b_hh)]`: what a
/// backward that builds a graph differentiates.
fn recurrence(t: &[Tensor], mode: RnnMode, reverse: bool, has_bias: bool) -> Result<Tensor> {
    let lstm = mode == RnnMode::Lstm;
    let (gi, h0) = (&t[0], &t[1]);
    let c0 = lstm.then(|| &t[2]);
    let w = &t[if lstm { 3 } else { 2 }];
    let b = has_bias.then(|| &t[t.len() - 1]);
    let (steps, hsz) = (gi.shape()[0], h0.shape()[1]);
    let gate = |x: &Tensor, k: usize| x.narrow(1, (k * hsz) as isize, hsz);
    let (mut h, mut c) = (h0.clone(), c0.cloned());
    let mut hs: Vec<Option<Tensor>> = vec![None; steps];
    let order: Vec<usize> = if reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    };
    for step in order {
        let x = gi.select(0, step as isize)?;
        let gh = h.linear(w, b)?;
        h = match mode {
            RnnMode::Tanh => x.add(&gh)?.tanh()?,
            RnnMode::Relu => x.add(&gh)?.relu()?,
            RnnMode::Lstm => {
                let z = x.add(&gh)?;
                let (i, f) = (gate(&z, 0)?.sigmoid()?, gate(&z, 1)?.sigmoid()?);
                let (g, o) = (gate(&z, 2)?.tanh()?, gate(&z, 3)?.sigmoid()?);
                let cell = f.mul(c.as_ref().expect("an LSTM has a cell state"))?;
                let cell = cell.add(&i.mul(&g)?)?;
                let out = o.mul(&cell.tanh()?)?;
                c = Some(cell);
                out
            }
            RnnMode::Gru => {
                let r = gate(&x, 0)?.add(&gate(&gh, 0)?)?.sigmoid()?;
                let z = gate(&x, 1)?.add(&gate(&gh, 1)?)?.sigmoid()?;
                let n = gate(&x, 2)?.add(&r.mul(&gate(&gh, 2)?)?)?.tanh()?;
                let keep = z.mul(&h)?;
                n.sub(&z.mul(&n)?)?.add(&keep)?
            }
        };
        hs[step] = Some(h.clone());
    }
    let mut rows: Vec<Tensor> = hs.into_iter().flatten().collect();
    rows.push(h);
    rows.extend(c);
    Tensor::stack(&rows, 0)
}

/// `rnn_sequence_forward` as a loop over `be`'s one-step primitive: for a backend whose step
/// is one kernel launch anyway (CUDA), where the host's fused loop (`cpu/rnn_sequence.rs`)
/// has nothing to gain.
pub(crate) fn sequence_by_steps(
    be: &dyn Backend,
    mode: RnnMode,
    x: RnnSequenceInputs<'_>,
) -> Result<RnnSequence> {
    let steps = x.gi.shape()[0];
    let order: Vec<usize> = if x.reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    };
    let (mut state, mut cell) = (x.h0.clone(), x.c0.cloned());
    let mut hs: Vec<Option<Tensor>> = vec![None; steps];
    let mut acts: Vec<Option<Tensor>> = vec![None; steps];
    let mut cells: Vec<Option<Tensor>> = vec![None; steps];
    for &t in &order {
        let gi_t = x.gi.select(0, t as isize)?;
        let inputs = RnnStepInputs {
            gi: &gi_t,
            h: &state,
            c: cell.as_ref(),
            w_hh: x.w_hh,
            b_hh: x.b_hh,
        };
        let step = be.rnn_step_forward(mode, inputs)?;
        hs[t] = Some(step.h.clone());
        acts[t] = step.act;
        cells[t] = step.c.clone();
        state = step.h;
        cell = step.c;
    }
    let mut rows: Vec<Tensor> = hs.into_iter().flatten().collect();
    rows.push(state);
    rows.extend(cell);
    Ok(RnnSequence {
        packed: Tensor::stack(&rows, 0)?,
        acts,
        cells,
    })
}

/// `rnn_sequence_backward` as a loop over `be`'s one-step backward, in reverse processing
/// order (the CUDA backend's; see `sequence_by_steps`).
pub(crate) fn backward_by_steps(
    be: &dyn Backend,
    mode: RnnMode,
    s: RnnSequenceSaved<'_>,
    g: &Tensor,
) -> Result<RnnSequenceGrads> {
    let steps = s.acts.len();
    let order: Vec<usize> = if s.reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    };
    let mut dh_next = g.select(0, steps as isize)?;
    let mut dc = match mode {
        RnnMode::Lstm => Some(g.select(0, steps as isize + 1)?),
        _ => None,
    };
    let mut dgis: Vec<Option<Tensor>> = vec![None; steps];
    let mut dghs: Vec<Option<Tensor>> = vec![None; steps];
    for &t in order.iter().rev() {
        let p = prev(t, steps, s.reverse);
        let h_prev = match p {
            Some(p) => s.out.select(0, p as isize)?,
            None => s.h0.clone(),
        };
        let c_prev = match p {
            Some(p) => s.cells[p].clone(),
            None => s.c0.cloned(),
        };
        let (h_t, gy) = (s.out.select(0, t as isize)?, g.select(0, t as isize)?);
        let saved = RnnStepSaved {
            h: &h_t,
            h_prev: &h_prev,
            c: s.cells[t].as_ref(),
            c_prev: c_prev.as_ref(),
            act: s.acts[t].as_ref(),
            w_hh: s.w_hh,
        };
        let up = RnnStepUpstream {
            dh: [Some(&gy), Some(&dh_next)],
            dc: dc.as_ref(),
        };
        let grads = be.rnn_step_backward(mode, saved, up)?;
        dh_next = grads.dh_prev;
        dc = grads.dc_prev;
        dgis[t] = Some(grads.dgi);
        dghs[t] = grads.dgh;
    }
    let stack =
        |v: Vec<Option<Tensor>>| Tensor::stack(&v.into_iter().flatten().collect::<Vec<_>>(), 0);
    Ok(RnnSequenceGrads {
        dgi: stack(dgis)?,
        dgh: match mode {
            RnnMode::Gru => Some(stack(dghs)?),
            _ => None,
        },
        dh0: dh_next,
        dc0: dc,
    })
}
