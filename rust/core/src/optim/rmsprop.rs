//! RMSprop (optionally centered, with momentum) as one fused pass per parameter, PyTorch's
//! formulas: `v = alpha v + (1 - alpha) g^2`, `avg = sqrt(v - gbar^2) + eps` (centered) or
//! `sqrt(v) + eps`, then `p -= lr * g / avg` (or through the momentum buffer).

use super::{check_distinct, check_param, check_state, slice_mut};
use crate::{bail, Float, Result, Tensor};

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

fn update<T: Float>(
    p: &mut [T],
    g: &[T],
    v: &mut [T],
    mut gbar: Option<&mut [T]>,
    mut buf: Option<&mut [T]>,
    c: &RmspropConfig,
) {
    let f = T::from_f64;
    let (lr, alpha, one_m_alpha, eps) = (f(c.lr), f(c.alpha), f(1.0 - c.alpha), f(c.eps));
    let (wd, mom, scale) = (f(c.weight_decay), f(c.momentum), f(c.grad_scale));
    for i in 0..p.len() {
        let mut gi = g[i] * scale;
        if c.maximize {
            gi = -gi;
        }
        if c.weight_decay != 0.0 {
            gi += wd * p[i];
        }
        let vi = v[i] * alpha + one_m_alpha * gi * gi;
        v[i] = vi;
        let avg = match gbar.as_deref_mut() {
            Some(gb) => {
                let m = gb[i] * alpha + one_m_alpha * gi;
                gb[i] = m;
                (vi - m * m).sqrt() + eps
            }
            None => vi.sqrt() + eps,
        };
        match buf.as_deref_mut() {
            Some(b) => {
                let nb = b[i] * mom + gi / avg;
                b[i] = nb;
                p[i] -= lr * nb;
            }
            None => p[i] -= lr * gi / avg,
        }
    }
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
        if p.device().is_cuda() {
            crate::cuda::ops::optim::rmsprop_step(p, g, st, cfg)?;
        } else {
            let g = g.to_dtype(p.dtype())?.contiguous()?;
            crate::with_float!(p.dtype(), T => {
                let gd = g.data::<T>()?;
                // SAFETY: parameter and states are distinct contiguous storages (checked above).
                unsafe {
                    update::<T>(
                        slice_mut::<T>(p),
                        &gd,
                        slice_mut::<T>(st.square_avg),
                        st.grad_avg.map(|t| slice_mut::<T>(t)),
                        st.momentum_buffer.map(|t| slice_mut::<T>(t)),
                        cfg,
                    );
                }
            });
        }
        for t in all {
            t.storage().bump_version();
        }
    }
    Ok(())
}
