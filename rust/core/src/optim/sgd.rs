//! SGD with momentum, dampening, Nesterov and weight decay as one fused pass per parameter.

use super::{check_distinct, check_param, check_state, slice_mut};
use crate::{bail, Float, Result, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
    pub grad_scale: f64,
}

fn update<T: Float>(p: &mut [T], g: &[T], buf: Option<(&mut [T], bool)>, c: &SgdConfig) {
    let f = T::from_f64;
    let (lr, wd, mom, damp, scale) = (
        f(c.lr),
        f(c.weight_decay),
        f(c.momentum),
        f(1.0 - c.dampening),
        f(c.grad_scale),
    );
    match buf {
        None => {
            for i in 0..p.len() {
                let mut d = g[i] * scale;
                if c.maximize {
                    d = -d;
                }
                if c.weight_decay != 0.0 {
                    d += wd * p[i];
                }
                p[i] -= lr * d;
            }
        }
        Some((b, initialized)) => {
            for i in 0..p.len() {
                let mut d = g[i] * scale;
                if c.maximize {
                    d = -d;
                }
                if c.weight_decay != 0.0 {
                    d += wd * p[i];
                }
                let nb = if initialized {
                    b[i] * mom + damp * d
                } else {
                    d
                };
                b[i] = nb;
                let step = if c.nesterov { d + mom * nb } else { nb };
                p[i] -= lr * step;
            }
        }
    }
}

/// One SGD step over a parameter group. With momentum, `buffers[i]` is updated in place;
/// `initialized[i] == false` means "first step: the buffer becomes the gradient", as in PyTorch.
pub fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    buffers: &[Tensor],
    initialized: &[bool],
    cfg: &SgdConfig,
) -> Result<()> {
    let n = params.len();
    let with_momentum = cfg.momentum != 0.0;
    if grads.len() != n || (with_momentum && (buffers.len() != n || initialized.len() != n)) {
        bail!(
            Value,
            "sgd_step: parameter, gradient and buffer lists differ in length"
        );
    }
    for i in 0..n {
        let (p, g) = (&params[i], &grads[i]);
        check_param(p, g)?;
        if with_momentum {
            check_state("momentum_buffer", p, &buffers[i])?;
            check_distinct(&[p, &buffers[i]])?;
        }
        if p.device().is_cuda() {
            let b = if with_momentum {
                std::slice::from_ref(&buffers[i])
            } else {
                &[]
            };
            let init = if with_momentum {
                &initialized[i..i + 1]
            } else {
                &[]
            };
            crate::cuda::ops::optim::sgd_step(
                std::slice::from_ref(p),
                std::slice::from_ref(g),
                b,
                init,
                cfg,
            )?;
            p.storage().bump_version();
            if with_momentum {
                buffers[i].storage().bump_version();
            }
            continue;
        }
        let g = g.to_dtype(p.dtype())?.contiguous()?;
        crate::with_float!(p.dtype(), T => {
            let gd = g.data::<T>()?;
            // SAFETY: parameter and buffer are distinct contiguous storages (checked above).
            unsafe {
                let b = if with_momentum { Some((slice_mut::<T>(&buffers[i]), initialized[i])) } else { None };
                update::<T>(slice_mut::<T>(p), &gd, b, cfg);
            }
        });
        p.storage().bump_version();
        if with_momentum {
            buffers[i].storage().bump_version();
        }
    }
    Ok(())
}
