//! Optimizer updates on the CPU: SGD, Adam/AdamW, RMSprop and Adagrad as one fused pass over
//! each parameter and its state, PyTorch's formulas operation for operation (`optim/` checks
//! the arguments and dispatches; the CUDA kernels in `cuda/kernels/optim.cu` mirror these).

use crate::optim::slice_mut;
use crate::optim::{
    AdagradConfig, AdamConfig, AdamTensors, RmspropConfig, RmspropState, SgdConfig,
};
use crate::{Float, Result, Tensor};

/// Runs `$body` with `$T` the parameter `$p`'s float type and `$gd` the gradient `$g`'s
/// elements in it (converted and made contiguous first when needed): how every update starts.
macro_rules! with_grad_data {
    ($p:expr, $g:expr, $T:ident, $gd:ident => $body:expr) => {{
        let g = $g.to_dtype($p.dtype())?.contiguous()?;
        crate::with_float!($p.dtype(), $T => {
            let $gd = g.data::<$T>()?;
            $body
        })
    }};
}
pub(super) use with_grad_data;

/// The gradient an update applies: unscaled (`scale`), negated under `maximize`, plus the L2
/// weight decay `wd * p` when there is one (PyTorch's order of operations).
#[inline(always)]
fn effective_grad<T: Float>(g: T, p: T, scale: T, maximize: bool, wd: Option<T>) -> T {
    let mut d = g * scale;
    if maximize {
        d = -d;
    }
    if let Some(wd) = wd {
        d += wd * p;
    }
    d
}

fn sgd_update<T: Float>(p: &mut [T], g: &[T], buf: Option<(&mut [T], bool)>, c: &SgdConfig) {
    let f = T::from_f64;
    let (lr, wd, mom, damp, scale) = (
        f(c.lr),
        f(c.weight_decay),
        f(c.momentum),
        f(1.0 - c.dampening),
        f(c.grad_scale),
    );
    let decay = (c.weight_decay != 0.0).then_some(wd);
    match buf {
        None => {
            for i in 0..p.len() {
                let d = effective_grad(g[i], p[i], scale, c.maximize, decay);
                p[i] -= lr * d;
            }
        }
        Some((b, initialized)) => {
            for i in 0..p.len() {
                let d = effective_grad(g[i], p[i], scale, c.maximize, decay);
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

/// One SGD step of one parameter (`buf`: the momentum buffer, `initialized` false on its first
/// step, when it becomes the gradient).
pub(super) fn sgd_step_one(
    p: &Tensor,
    g: &Tensor,
    buf: Option<&Tensor>,
    initialized: bool,
    cfg: &SgdConfig,
) -> Result<()> {
    with_grad_data!(p, g, T, gd => {
        // SAFETY: parameter and buffer are distinct contiguous storages (checked by the op).
        unsafe {
            let b = buf.map(|b| (slice_mut::<T>(b), initialized));
            sgd_update::<T>(slice_mut::<T>(p), &gd, b, cfg);
        }
    });
    Ok(())
}

fn rmsprop_update<T: Float>(
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
    let decay = (c.weight_decay != 0.0).then_some(wd);
    for i in 0..p.len() {
        let gi = effective_grad(g[i], p[i], scale, c.maximize, decay);
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

/// One RMSprop step of one parameter and its state.
pub(super) fn rmsprop_step_one(
    p: &Tensor,
    g: &Tensor,
    st: &RmspropState<'_>,
    cfg: &RmspropConfig,
) -> Result<()> {
    with_grad_data!(p, g, T, gd => {
        // SAFETY: parameter and states are distinct contiguous storages (checked by the op).
        unsafe {
            rmsprop_update::<T>(
                slice_mut::<T>(p),
                &gd,
                slice_mut::<T>(st.square_avg),
                st.grad_avg.map(|t| slice_mut::<T>(t)),
                st.momentum_buffer.map(|t| slice_mut::<T>(t)),
                cfg,
            );
        }
    });
    Ok(())
}

fn adagrad_update<T: Float>(p: &mut [T], g: &[T], sum: &mut [T], clr: f64, c: &AdagradConfig) {
    let f = T::from_f64;
    let (clr, wd, eps, scale) = (f(clr), f(c.weight_decay), f(c.eps), f(c.grad_scale));
    let decay = (c.weight_decay != 0.0).then_some(wd);
    for i in 0..p.len() {
        let gi = effective_grad(g[i], p[i], scale, c.maximize, decay);
        let s = sum[i] + gi * gi;
        sum[i] = s;
        p[i] -= clr * gi / (s.sqrt() + eps);
    }
}

/// One Adagrad step of one parameter at the decayed rate `clr`.
pub(super) fn adagrad_step_one(
    p: &Tensor,
    g: &Tensor,
    sum: &Tensor,
    clr: f64,
    cfg: &AdagradConfig,
) -> Result<()> {
    with_grad_data!(p, g, T, gd => {
        // SAFETY: parameter and state are distinct contiguous storages (checked by the op).
        unsafe { adagrad_update::<T>(slice_mut::<T>(p), &gd, slice_mut::<T>(sum), clr, cfg) };
    });
    Ok(())
}

pub(super) const CHUNK: usize = 1 << 14;
/// Below this many elements a parameter is updated on the calling thread: waking the pool costs
/// more than it saves.
pub(super) const PAR_MIN: usize = 1 << 18;

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

/// One parameter's Adam state: first and second moments, and the running maximum of the
/// second under amsgrad.
struct Moments<'a, T> {
    m: &'a mut [T],
    v: &'a mut [T],
    vmax: Option<&'a mut [T]>,
}

fn adam_update<T: Float>(p: &mut [T], g: &[T], moments: Moments<'_, T>, c: &AdamConfig, step: u64) {
    let Moments { m, v, vmax } = moments;
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
        // Chunks in two halves on the team (or rayon's threads): no wake-up per step. Without
        // AMSGrad's `vmax`, each chunk gets `None` for it.
        let vmaxes = vmax
            .into_iter()
            .flat_map(|vm| vm.chunks_mut(CHUNK).map(Some))
            .chain(std::iter::repeat_with(|| None));
        let chunks: Vec<_> = p
            .chunks_mut(CHUNK)
            .zip(g.chunks(CHUNK))
            .zip(m.chunks_mut(CHUNK))
            .zip(v.chunks_mut(CHUNK))
            .zip(vmaxes)
            .collect();
        crate::cpu::team::for_each_halves(chunks, |((((p, g), m), v), vm)| kernel(p, g, m, v, vm));
    } else {
        kernel(p, g, m, v, vmax);
    }
}

/// One Adam/AdamW step over parameters on the CPU (validated by the op).
pub(super) fn adam_step(ts: &AdamTensors<'_>, cfg: &AdamConfig) -> Result<()> {
    for i in 0..ts.params.len() {
        let p = &ts.params[i];
        with_grad_data!(p, ts.grads[i], T, gd => {
            // SAFETY: p and its states are distinct contiguous storages (checked by the op); the
            // gradient was made contiguous and may only alias if it is one of them, which
            // `contiguous()` of a different tensor cannot be.
            unsafe {
                let moments = Moments {
                    m: slice_mut::<T>(&ts.exp_avgs[i]),
                    v: slice_mut::<T>(&ts.exp_avg_sqs[i]),
                    vmax: if cfg.amsgrad { Some(slice_mut::<T>(&ts.max_exp_avg_sqs[i])) } else { None },
                };
                adam_update::<T>(slice_mut::<T>(p), &gd, moments, cfg, ts.steps[i]);
            }
        });
    }
    Ok(())
}
