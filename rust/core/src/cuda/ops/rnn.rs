//! The host side of the recurrent step kernels (`kernels/rnn.cu`): per step the hidden
//! projection (cuBLAS) and one kernel for the gate math, one thread per batch row and hidden
//! unit; backward, the gate kernel and a cuBLAS GEMM for the previous state's gradient. The op
//! (`ops/nn/rnn.rs`) runs the time loop.

use super::{empty, ordinal, run_elementwise, Args};
use crate::backend::{
    self, RnnSequence, RnnSequenceGrads, RnnSequenceInputs, RnnSequenceSaved, RnnStep,
    RnnStepGrads, RnnStepInputs, RnnStepSaved, RnnStepUpstream,
};
use crate::cuda::primitives::{binary, linear_forward, matmul};
use crate::ops::binary::BinaryOp;
use crate::ops::nn::rnn::RnnMode;
use crate::{Result, Tensor};

/// The kernels' leading arguments: batch rows, hidden size and mode.
fn head(n: usize, hid: usize, mode: RnnMode) -> Args {
    Args::new().v(n as i64).v(hid as i64).v(mode.code())
}

/// The sequence as one step kernel per time step (`ops::nn::rnn::sequence_by_steps`).
pub(crate) fn rnn_sequence_forward(mode: RnnMode, x: RnnSequenceInputs<'_>) -> Result<RnnSequence> {
    crate::ops::nn::rnn::sequence_by_steps(backend::of(x.gi), mode, x)
}

/// Its backward as one step backward per time step (`ops::nn::rnn::backward_by_steps`).
pub(crate) fn rnn_sequence_backward(
    mode: RnnMode,
    saved: RnnSequenceSaved<'_>,
    g: &Tensor,
) -> Result<RnnSequenceGrads> {
    crate::ops::nn::rnn::backward_by_steps(backend::of(g), mode, saved, g)
}

pub(crate) fn rnn_step_forward(mode: RnnMode, x: RnnStepInputs<'_>) -> Result<RnnStep> {
    let h = x.h;
    let (dev, dt) = (ordinal(h)?, h.dtype());
    let gh = linear_forward(h, x.w_hh, x.b_hh)?;
    let (n, hid) = (h.shape()[0], h.shape()[1]);
    let h_out = empty(dev, dt, &[n, hid])?;
    let c_out = match mode {
        RnnMode::Lstm => Some(empty(dev, dt, &[n, hid])?),
        _ => None,
    };
    let act = match mode {
        RnnMode::Lstm | RnnMode::Gru => Some(empty(dev, dt, &[n, 4 * hid])?),
        _ => None,
    };
    if n * hid > 0 {
        let args = head(n, hid, mode)
            .data(x.gi)
            .data(&gh)
            .data(h)
            .opt(x.c)
            .data(&h_out)
            .opt(c_out.as_ref())
            .opt(act.as_ref());
        run_elementwise(dev, "rnn_step_forward", dt, n * hid, args)?;
    }
    Ok(RnnStep {
        h: h_out,
        c: c_out,
        act,
    })
}

pub(crate) fn rnn_step_backward(
    mode: RnnMode,
    saved: RnnStepSaved<'_>,
    up: RnnStepUpstream<'_>,
) -> Result<RnnStepGrads> {
    let RnnStepUpstream { dh, dc } = up;
    let (dev, dt) = (ordinal(saved.h)?, saved.h.dtype());
    let (n, hid) = (saved.h.shape()[0], saved.h.shape()[1]);
    let wide = mode.gates() * hid;
    let dgi = empty(dev, dt, &[n, wide])?;
    let (dgh, dhp, dcp) = match mode {
        RnnMode::Gru => (
            Some(empty(dev, dt, &[n, wide])?),
            Some(empty(dev, dt, &[n, hid])?),
            None,
        ),
        RnnMode::Lstm => (None, None, Some(empty(dev, dt, &[n, hid])?)),
        _ => (None, None, None),
    };
    if n * hid > 0 {
        let args = head(n, hid, mode)
            .opt(dh[0])
            .opt(dh[1])
            .opt(None)
            .opt(dc)
            .data(saved.h)
            .data(saved.h_prev)
            .opt(saved.c)
            .opt(saved.c_prev)
            .opt(saved.act)
            .data(&dgi)
            .opt(dgh.as_ref())
            .opt(dhp.as_ref())
            .opt(dcp.as_ref());
        run_elementwise(dev, "rnn_step_backward", dt, n * hid, args)?;
    }
    // The previous state's gradient through the hidden projection, plus the GRU's `z * dh`.
    let through = matmul(
        dgh.as_ref().unwrap_or(&dgi),
        saved.w_hh,
        &[],
        (n, hid, wide),
        dt,
    )?;
    let dh_prev = match dhp {
        Some(direct) => binary(BinaryOp::Add, &through, &direct, dt)?,
        None => through,
    };
    Ok(RnnStepGrads {
        dgi,
        dgh,
        dh_prev,
        dc_prev: dcp,
    })
}
