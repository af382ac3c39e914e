//! The fused element-wise optimizer rules of `optim::rules` (Adadelta, Adamax, NAdam, RAdam,
//! ASGD, Rprop) on the CPU: one pass over each parameter and its states, PyTorch's
//! single-tensor formulas operation for operation (`cuda/kernels/optim.cu` mirrors them).

use super::optim::{with_grad_data, CHUNK, PAR_MIN};
use crate::optim::{slice_mut, OptimRule, PREFIX_CONSTS};
use crate::{Float, Result, Tensor};
use rayon::prelude::*;

/// A rule's update of one element: the parameter `p`, its prepared gradient `g` and up to two
/// state elements (`s1` is scratch for one-state rules).
trait Rule<T>: Sync {
    fn apply(&self, p: &mut T, g: T, s0: &mut T, s1: &mut T);
}

/// PyTorch's `lerp`, exact at both ends: `s + w (e - s)` below `w = 0.5`, else
/// `e - (e - s)(1 - w)`.
#[inline(always)]
fn lerp<T: Float>(s: T, e: T, w: T) -> T {
    if w < T::from_f64(0.5) {
        s + w * (e - s)
    } else {
        e - (e - s) * (T::one() - w)
    }
}

/// `torch.maximum`: NaN when either is NaN.
#[inline(always)]
fn nan_max<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b > a {
        if a.is_nan() {
            a
        } else {
            b
        }
    } else if b.is_nan() {
        b
    } else {
        a
    }
}

/// The gradient's preparation shared by every rule (`optim::rules`' prefix).
struct Prefix<T> {
    scale: T,
    l2: Option<T>,
    decay: Option<T>,
}

impl<T: Float> Prefix<T> {
    /// `g * scale (+ l2 * p)`, then `p *= decay`, in PyTorch's order.
    #[inline(always)]
    fn prepare(&self, p: &mut T, g: T) -> T {
        let mut g = g * self.scale;
        if let Some(l2) = self.l2 {
            g += l2 * *p;
        }
        if let Some(d) = self.decay {
            *p *= d;
        }
        g
    }
}

struct Adadelta<T> {
    lr: T,
    rho: T,
    one_m_rho: T,
    eps: T,
}

impl<T: Float> Rule<T> for Adadelta<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, v: &mut T, u: &mut T) {
        *v = *v * self.rho + self.one_m_rho * g * g;
        let std = (*v + self.eps).sqrt();
        let delta = (*u + self.eps).sqrt() / std * g;
        *u = *u * self.rho + self.one_m_rho * delta * delta;
        *p -= self.lr * delta;
    }
}

struct Adamax<T> {
    clr: T,
    w: T,
    b2: T,
    eps: T,
}

impl<T: Float> Rule<T> for Adamax<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, u: &mut T) {
        *m = lerp(*m, g, self.w);
        *u = nan_max(*u * self.b2, g.abs() + self.eps);
        *p -= self.clr * (*m / *u);
    }
}

struct NAdam<T> {
    w: T,
    b2: T,
    b2c: T,
    bc2: T,
    eps: T,
    c_grad: T,
    c_avg: T,
}

impl<T: Float> Rule<T> for NAdam<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, v: &mut T) {
        *m = lerp(*m, g, self.w);
        *v = *v * self.b2 + self.b2c * g * g;
        let d = (*v / self.bc2).sqrt() + self.eps;
        *p += self.c_grad * (g / d);
        *p += self.c_avg * (*m / d);
    }
}

struct RAdam<T> {
    w: T,
    b2: T,
    b2c: T,
    bc1: T,
    lr: T,
    sqrt_bc2: T,
    eps: T,
    /// `None` until the variance is rectified (`rho_t > 5`).
    rect: Option<T>,
}

impl<T: Float> Rule<T> for RAdam<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, v: &mut T) {
        *m = lerp(*m, g, self.w);
        *v = *v * self.b2 + self.b2c * g * g;
        let corrected = *m / self.bc1 * self.lr;
        match self.rect {
            Some(r) => *p -= corrected * (self.sqrt_bc2 / (v.sqrt() + self.eps)) * r,
            None => *p -= corrected,
        }
    }
}

struct Asgd<T> {
    eta: T,
    /// `None` when `mu == 1`: the average restarts at the parameter.
    mu: Option<T>,
}

impl<T: Float> Rule<T> for Asgd<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, ax: &mut T, _: &mut T) {
        *p -= self.eta * g;
        *ax = match self.mu {
            Some(mu) => *ax + (*p - *ax) * mu,
            None => *p,
        };
    }
}

struct Rprop<T> {
    etaminus: T,
    etaplus: T,
    lo: T,
    hi: T,
}

impl<T: Float> Rule<T> for Rprop<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, prev: &mut T, size: &mut T) {
        let zero = T::zero();
        let prod = g * *prev;
        let factor = if prod > zero {
            self.etaplus
        } else if prod < zero {
            self.etaminus
        } else if prod == zero {
            T::one()
        } else {
            prod
        };
        let s = *size * factor;
        // `clamp`, keeping a NaN as PyTorch does.
        *size = if s < self.lo {
            self.lo
        } else if s > self.hi {
            self.hi
        } else {
            s
        };
        // A flipped sign counts as no gradient: no move now, no memory of it next step.
        let g = if factor == self.etaminus { zero } else { g };
        let sign = if g > zero {
            T::one()
        } else if g < zero {
            -T::one()
        } else {
            zero
        };
        *p -= sign * *size;
        *prev = g;
    }
}

/// The update of one contiguous chunk (forced inline so each SIMD level gets its own copy);
/// `s1` is empty for one-state rules.
#[inline(always)]
fn rule_body<T: Float, R: Rule<T>>(
    p: &mut [T],
    g: &[T],
    s0: &mut [T],
    s1: &mut [T],
    pre: &Prefix<T>,
    r: &R,
) {
    if s1.is_empty() {
        for ((pi, &gi), a) in p.iter_mut().zip(g).zip(s0.iter_mut()) {
            let gi = pre.prepare(pi, gi);
            let mut scratch = T::zero();
            r.apply(pi, gi, a, &mut scratch);
        }
    } else {
        for (((pi, &gi), a), b) in p.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
            let gi = pre.prepare(pi, gi);
            r.apply(pi, gi, a, b);
        }
    }
}

crate::multiversion!(fn rule_chunk<T, R>(p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T], pre: &Prefix<T>, r: &R) where [T: Float, R: Rule<T>] => rule_body);

/// Runs rule `r` over a whole parameter, split over the pool when it is large.
fn run<T: Float, R: Rule<T>>(
    p: &mut [T],
    g: &[T],
    s0: &mut [T],
    s1: &mut [T],
    pre: &Prefix<T>,
    r: &R,
) {
    if p.len() < PAR_MIN {
        return rule_chunk(p, g, s0, s1, pre, r);
    }
    let chunks = p
        .par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(s0.par_chunks_mut(CHUNK));
    if s1.is_empty() {
        chunks.for_each(|((p, g), a)| rule_chunk(p, g, a, &mut [], pre, r));
    } else {
        chunks
            .zip(s1.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), a), b)| rule_chunk(p, g, a, b, pre, r));
    }
}

/// Applies `rule` with constants `k` (validated by `optim::rule_step`) to one parameter.
fn apply_rule<T: Float>(rule: OptimRule, p: &mut [T], g: &[T], s: [&mut [T]; 2], k: &[f64]) {
    let f = T::from_f64;
    let pre = Prefix {
        scale: f(k[0]),
        l2: (k[1] != 0.0).then(|| f(k[1])),
        decay: (k[2] != 1.0).then(|| f(k[2])),
    };
    let c = &k[PREFIX_CONSTS..];
    let [s0, s1] = s;
    match rule {
        OptimRule::Adadelta => {
            let r = Adadelta {
                lr: f(c[0]),
                rho: f(c[1]),
                one_m_rho: f(1.0 - c[1]),
                eps: f(c[2]),
            };
            run(p, g, s0, s1, &pre, &r)
        }
        OptimRule::Adamax => {
            let r = Adamax {
                clr: f(c[0]),
                w: f(c[1]),
                b2: f(c[2]),
                eps: f(c[3]),
            };
            run(p, g, s0, s1, &pre, &r)
        }
        OptimRule::NAdam => {
            let r = NAdam {
                w: f(c[0]),
                b2: f(c[1]),
                b2c: f(1.0 - c[1]),
                bc2: f(c[2]),
                eps: f(c[3]),
                c_grad: f(c[4]),
                c_avg: f(c[5]),
            };
            run(p, g, s0, s1, &pre, &r)
        }
        OptimRule::RAdam => {
            let r = RAdam {
                w: f(c[0]),
                b2: f(c[1]),
                b2c: f(1.0 - c[1]),
                bc1: f(c[2]),
                lr: f(c[3]),
                sqrt_bc2: f(c[4]),
                eps: f(c[5]),
                rect: (c[6] != 0.0).then(|| f(c[6])),
            };
            run(p, g, s0, s1, &pre, &r)
        }
        OptimRule::Asgd => {
            let r = Asgd {
                eta: f(c[0]),
                mu: (c[1] != 1.0).then(|| f(c[1])),
            };
            run(p, g, s0, s1, &pre, &r)
        }
        OptimRule::Rprop => {
            let r = Rprop {
                etaminus: f(c[0]),
                etaplus: f(c[1]),
                lo: f(c[2]),
                hi: f(c[3]),
            };
            run(p, g, s0, s1, &pre, &r)
        }
    }
}

/// One step of `rule` of one parameter and its states (validated by `optim::rule_step`).
pub(super) fn optim_rule_step(
    rule: OptimRule,
    p: &Tensor,
    g: &Tensor,
    state: &[&Tensor],
    k: &[f64],
) -> Result<()> {
    with_grad_data!(p, g, T, gd => {
        // SAFETY: the parameter and its states are distinct contiguous storages (checked by
        // the op); the gradient was made contiguous and is none of them.
        unsafe {
            let s0 = slice_mut::<T>(state[0]);
            let s1 = match state.get(1) {
                Some(t) => slice_mut::<T>(t),
                None => &mut [],
            };
            apply_rule::<T>(rule, slice_mut::<T>(p), &gd, [s0, s1], k);
        }
    });
    Ok(())
}
