//! RMSprop (optionally centered, with momentum) as one fused pass per parameter, PyTorch's
//! formulas: `v = alpha v + (1 - alpha) g^2`, `avg = sqrt(v - gbar^2) + eps` (centered) or
//! `sqrt(v) + eps`, then `p -= lr * g / avg` (or through the momentum buffer).

use super::{check_distinct, check_param, check_state};
use crate::backend;
use crate::{bail, Result, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct RmspropConfig {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
    pub grad_scale: f64,
}

/// The per-parameter state: `square_avg` always, `grad_avg` when centered, `momentum_buffer`
/// when momentum > 0.
pub struct RmspropState<'a> {
    pub square_avg: &'a Tensor,
    pub grad_avg: Option<&'a Tensor>,
    pub momentum_buffer: Option<&'a Tensor>,
}

/// One RMSprop step over a parameter group, updating `params` and their states in place.
pub fn rmsprop_step(
    params: &[Tensor],
    grads: &[Tensor],
    states: &[RmspropState<'_>],
    cfg: &RmspropConfig,
) -> Result<()> {
    if grads.len() != params.len() || states.len() != params.len() {
        bail!(
            Value,
            "rmsprop_step: {} parameters, {} gradients and {} states",
            params.len(),
            grads.len(),
            states.len()
        );
    }
    let state_tensors = states.iter().flat_map(|s| {
        [Some(s.square_avg), s.grad_avg, s.momentum_buffer]
            .into_iter()
            .flatten()
    });
    if super::needs_staging(params.iter().chain(state_tensors)) {
        let (pw, gw) = (super::widened(params)?, super::widened(grads)?);
        let opt = |t: Option<&Tensor>| t.map(super::widened_one).transpose();
        let wide = states
            .iter()
            .map(|s| {
                Ok((
                    super::widened_one(s.square_avg)?,
                    opt(s.grad_avg)?,
                    opt(s.momentum_buffer)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let ws: Vec<RmspropState<'_>> = wide
            .iter()
            .map(|(sq, ga, mb)| RmspropState {
                square_avg: sq,
                grad_avg: ga.as_ref(),
                momentum_buffer: mb.as_ref(),
            })
            .collect();
        rmsprop_step(&pw, &gw, &ws, cfg)?;
        super::round_back(params, &pw)?;
        for (s, w) in states.iter().zip(&ws) {
            super::round_back_one(s.square_avg, w.square_avg)?;
            for (t, tw) in [
                (s.grad_avg, w.grad_avg),
                (s.momentum_buffer, w.momentum_buffer),
            ] {
                if let (Some(t), Some(tw)) = (t, tw) {
                    super::round_back_one(t, tw)?;
                }
            }
        }
        return Ok(());
    }
    // Every parameter is checked before any steps, so a refused step changes nothing.
    let mut touched = Vec::with_capacity(params.len());
    for ((p, g), st) in params.iter().zip(grads).zip(states) {
        check_param(p, g)?;
        check_state("square_avg", p, st.square_avg)?;
        let mut all = vec![p, st.square_avg];
        for (name, s) in [
            ("grad_avg", st.grad_avg),
            ("momentum_buffer", st.momentum_buffer),
        ] {
            if let Some(s) = s {
                check_state(name, p, s)?;
                all.push(s);
            }
        }
        check_distinct(&all)?;
        if cfg.centered != st.grad_avg.is_some()
            || (cfg.momentum > 0.0) != st.momentum_buffer.is_some()
        {
            bail!(
                Value,
                "rmsprop_step: state does not match the settings (centered={}, momentum={})",
                cfg.centered,
                cfg.momentum
            );
        }
        touched.push(all);
    }
    for (((p, g), st), all) in params.iter().zip(grads).zip(states).zip(touched) {
        backend::of(p).rmsprop_step_one(p, g, st, cfg)?;
        for t in all {
            t.bump_version();
        }
    }
    Ok(())
}
