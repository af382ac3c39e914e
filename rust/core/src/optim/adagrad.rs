//! Adagrad as one fused pass per parameter, PyTorch's formulas: `sum += g^2`,
//! `p -= clr * g / (sqrt(sum) + eps)` with `clr = lr / (1 + (step - 1) * lr_decay)`.

use super::{check_distinct, check_lengths, check_param, check_state};
use crate::backend;
use crate::{Result, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct AdagradConfig {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub eps: f64,
    pub maximize: bool,
    pub grad_scale: f64,
}

impl AdagradConfig {
    /// The decayed learning rate at `step` (1 for the first step).
    pub fn clr(&self, step: u64) -> f64 {
        self.lr / (1.0 + (step.max(1) - 1) as f64 * self.lr_decay)
    }
}

/// One Adagrad step over a parameter group; `steps[i]` is parameter i's step count after this
/// step (PyTorch increments first).
pub fn adagrad_step(
    params: &[Tensor],
    grads: &[Tensor],
    sums: &[Tensor],
    steps: &[u64],
    cfg: &AdagradConfig,
) -> Result<()> {
    let wide = |p: &[Tensor], g: &[Tensor], [s]: [&[Tensor]; 1]| adagrad_step(p, g, s, steps, cfg);
    if let Some(done) = super::on_staged_copies(params, grads, [sums], wide) {
        return done;
    }
    let lens = [grads.len(), sums.len(), steps.len()];
    check_lengths(
        "adagrad_step: parameter, gradient, state and step",
        params.len(),
        &lens,
    )?;
    // Every parameter is checked before any steps, so a refused step changes nothing.
    for i in 0..params.len() {
        let (p, g, s) = (&params[i], &grads[i], &sums[i]);
        check_param(p, g)?;
        check_state("sum", p, s)?;
        check_distinct(&[p, s])?;
    }
    for i in 0..params.len() {
        let (p, g, s) = (&params[i], &grads[i], &sums[i]);
        let clr = cfg.clr(steps[i]);
        backend::of(p).adagrad_step_one(p, g, s, clr, cfg)?;
        p.bump_version();
        s.bump_version();
    }
    Ok(())
}
