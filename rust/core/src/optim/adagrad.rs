//! Adagrad as one fused pass per parameter, PyTorch's formulas: `sum += g^2`,
//! `p -= clr * g / (sqrt(sum) + eps)` with `clr = lr / (1 + (step - 1) * lr_decay)`.

use super::{check_distinct, check_param, check_state, slice_mut};
use crate::{bail, Float, Result, Tensor};

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

fn update<T: Float>(p: &mut [T], g: &[T], sum: &mut [T], clr: f64, c: &AdagradConfig) {
    let f = T::from_f64;
    let (clr, wd, eps, scale) = (f(clr), f(c.weight_decay), f(c.eps), f(c.grad_scale));
    for i in 0..p.len() {
        let mut gi = g[i] * scale;
        if c.maximize {
            gi = -gi;
        }
        if c.weight_decay != 0.0 {
            gi += wd * p[i];
        }
        let s = sum[i] + gi * gi;
        sum[i] = s;
        p[i] -= clr * gi / (s.sqrt() + eps);
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
    let n = params.len();
    if grads.len() != n || sums.len() != n || steps.len() != n {
        bail!(
            Value,
            "adagrad_step: parameter, gradient, state and step lists differ in length"
        );
    }
    for i in 0..n {
        let (p, g, s) = (&params[i], &grads[i], &sums[i]);
        check_param(p, g)?;
        check_state("sum", p, s)?;
        check_distinct(&[p, s])?;
        let clr = cfg.clr(steps[i]);
        if p.device().is_cuda() {
            crate::cuda::ops::optim::adagrad_step(p, g, s, clr, cfg)?;
        } else {
            let g = g.to_dtype(p.dtype())?.contiguous()?;
            crate::with_float!(p.dtype(), T => {
                let gd = g.data::<T>()?;
                // SAFETY: parameter and state are distinct contiguous storages (checked above).
                unsafe { update::<T>(slice_mut::<T>(p), &gd, slice_mut::<T>(s), clr, cfg) };
            });
        }
        p.storage().bump_version();
        s.storage().bump_version();
    }
    Ok(())
}
