//! Adam / AdamW (with amsgrad and maximize) as one fused pass per parameter.

use super::{check_distinct, check_param, check_state, slice_mut};
use crate::{bail, Float, Result, Tensor};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: decay the weights directly instead of adding `wd * p` to the gradient.
    pub decoupled: bool,
    pub amsgrad: bool,
    pub maximize: bool,
    /// Multiplies gradients first (AMP's `1/scale`); 1.0 otherwise.
    pub grad_scale: f64,
}

const CHUNK: usize = 1 << 14;
/// Below this many elements a parameter is updated on the calling thread: waking the pool costs
/// more than it saves.
const PAR_MIN: usize = 1 << 18;

/// Per-step constants of the update, computed once per parameter.
struct Consts<T> {
    scale: T,
    l2: T,
    decay: T,
    b1c: T,
    b2: T,
    b2c: T,
    bc2_sqrt: T,
    step_size: T,
    eps: T,
}

/// The update of one contiguous chunk (forced inline so each SIMD level gets its own copy).
#[inline(always)]
fn adam_body<T: Float>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: Option<&mut [T]>,
    k: &Consts<T>,
) {
    let moments = |pi: &mut T, gi: T, mi: &mut T, vi: &mut T| {
        let gi = gi * k.scale + k.l2 * *pi;
        *pi *= k.decay;
        *mi += k.b1c * (gi - *mi);
        *vi = *vi * k.b2 + k.b2c * gi * gi;
    };
    match vmax {
        None => {
            for (((pi, &gi), mi), vi) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                moments(pi, gi, mi, vi);
                *pi -= k.step_size * (*mi / (vi.sqrt() / k.bc2_sqrt + k.eps));
            }
        }
        Some(vm) => {
            for ((((pi, &gi), mi), vi), vmi) in p
                .iter_mut()
                .zip(g)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
                .zip(vm.iter_mut())
            {
                moments(pi, gi, mi, vi);
                if *vi > *vmi {
                    *vmi = *vi;
                }
                *pi -= k.step_size * (*mi / (vmi.sqrt() / k.bc2_sqrt + k.eps));
            }
        }
    }
}

crate::multiversion!(fn adam_chunk<T>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], vmax: Option<&mut [T]>, k: &Consts<T>) where [T: Float] => adam_body);

#[allow(clippy::too_many_arguments)]
fn update<T: Float>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: Option<&mut [T]>,
    c: &AdamConfig,
    step: u64,
) {
    let f = T::from_f64;
    let bc1 = 1.0 - c.beta1.powi(step as i32);
    let bc2_sqrt = f((1.0 - c.beta2.powi(step as i32)).sqrt());
    let step_size = f(c.lr / bc1);
    let (b1c, b2, b2c, eps) = (f(1.0 - c.beta1), f(c.beta2), f(1.0 - c.beta2), f(c.eps));
    // Branch-free per element: L2 decay folds into the gradient, decoupled decay into a factor
    // (1.0 when unused), `maximize` into the sign of the gradient scale.
    let l2 = f(if c.decoupled { 0.0 } else { c.weight_decay });
    let decay = f(if c.decoupled {
        1.0 - c.lr * c.weight_decay
    } else {
        1.0
    });
    let scale = f(if c.maximize {
        -c.grad_scale
    } else {
        c.grad_scale
    });
    let k = Consts {
        scale,
        l2,
        decay,
        b1c,
        b2,
        b2c,
        bc2_sqrt,
        step_size,
        eps,
    };
    let kernel = |p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], vmax: Option<&mut [T]>| {
        adam_chunk(p, g, m, v, vmax, &k)
    };
    if p.len() >= PAR_MIN {
        match vmax {
            Some(vm) => p
                .par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .zip(vm.par_chunks_mut(CHUNK))
                .for_each(|((((p, g), m), v), vm)| kernel(p, g, m, v, Some(vm))),
            None => p
                .par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((p, g), m), v)| kernel(p, g, m, v, None)),
        }
    } else {
        kernel(p, g, m, v, vmax);
    }
}

/// One Adam/AdamW step over a parameter group. `steps[i]` is parameter i's step count *after*
/// this step (PyTorch increments before computing the bias corrections).
pub fn adam_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    max_exp_avg_sqs: &[Tensor],
    steps: &[u64],
    cfg: &AdamConfig,
) -> Result<()> {
    let n = params.len();
    if grads.len() != n || exp_avgs.len() != n || exp_avg_sqs.len() != n || steps.len() != n {
        bail!(
            Value,
            "adam_step: parameter, gradient, state and step lists differ in length"
        );
    }
    if cfg.amsgrad && max_exp_avg_sqs.len() != n {
        bail!(
            Value,
            "adam_step: amsgrad needs one max_exp_avg_sq per parameter"
        );
    }
    for i in 0..n {
        let (p, g) = (&params[i], &grads[i]);
        check_param(p, g)?;
        check_state("exp_avg", p, &exp_avgs[i])?;
        check_state("exp_avg_sq", p, &exp_avg_sqs[i])?;
        let mut all = vec![p, &exp_avgs[i], &exp_avg_sqs[i]];
        if cfg.amsgrad {
            check_state("max_exp_avg_sq", p, &max_exp_avg_sqs[i])?;
            all.push(&max_exp_avg_sqs[i]);
        }
        check_distinct(&all)?;
        if p.device().is_cuda() {
            continue;
        }
        let g = g.to_dtype(p.dtype())?.contiguous()?;
        crate::with_float!(p.dtype(), T => {
            let gd = g.data::<T>()?;
            // SAFETY: p and its states are distinct contiguous storages (checked above); the
            // gradient was made contiguous and may only alias if it is one of them, which
            // `contiguous()` of a different tensor cannot be.
            unsafe {
                let vmax = if cfg.amsgrad { Some(slice_mut::<T>(&max_exp_avg_sqs[i])) } else { None };
                update::<T>(
                    slice_mut::<T>(p),
                    &gd,
                    slice_mut::<T>(&exp_avgs[i]),
                    slice_mut::<T>(&exp_avg_sqs[i]),
                    vmax,
                    cfg,
                    steps[i],
                );
            }
        });
        for t in &all {
            t.storage().bump_version();
        }
    }
    let on_cuda: Vec<usize> = (0..n).filter(|&i| params[i].device().is_cuda()).collect();
    if !on_cuda.is_empty() {
        let pick =
            |v: &[Tensor]| -> Vec<Tensor> { on_cuda.iter().map(|&i| v[i].clone()).collect() };
        let vmax = if cfg.amsgrad {
            pick(max_exp_avg_sqs)
        } else {
            Vec::new()
        };
        let st: Vec<u64> = on_cuda.iter().map(|&i| steps[i]).collect();
        let ps = pick(params);
        let (ms, vs) = (pick(exp_avgs), pick(exp_avg_sqs));
        crate::cuda::ops::optim::adam_step(&ps, &pick(grads), &ms, &vs, &vmax, &st, cfg)?;
        for t in ps.iter().chain(&ms).chain(&vs).chain(&vmax) {
            t.storage().bump_version();
        }
    }
    Ok(())
}
