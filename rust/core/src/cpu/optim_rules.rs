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
    if a.is_nan() {
        a
    } else if b.is_nan() || b > a {
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

/// A rule's constants as named fields, read in order from the constants after the prefix
/// (`optim::rules` lays them out; a missing one, which the op's length check rules out,
/// reads as zero).
macro_rules! rule_consts {
    ($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        struct $name<T> {
            $($field: T),*
        }

        impl<T: Float> $name<T> {
            fn read(c: &[f64]) -> Self {
                let mut it = c.iter().map(|&v| T::from_f64(v));
                $name {
                    $($field: it.next().unwrap_or_else(T::zero)),*
                }
            }
        }
    };
}

rule_consts!(Adadelta {
    lr,
    rho,
    one_m_rho,
    eps
});

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

rule_consts!(Adamax { clr, w, b2, eps });

impl<T: Float> Rule<T> for Adamax<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, u: &mut T) {
        *m = lerp(*m, g, self.w);
        *u = nan_max(*u * self.b2, g.abs() + self.eps);
        *p -= self.clr * (*m / *u);
    }
}

rule_consts!(NAdam {
    w,
    b2,
    one_m_b2,
    bc2,
    eps,
    c_grad,
    c_avg
});

impl<T: Float> Rule<T> for NAdam<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, v: &mut T) {
        *m = lerp(*m, g, self.w);
        *v = *v * self.b2 + self.one_m_b2 * g * g;
        let d = (*v / self.bc2).sqrt() + self.eps;
        *p += self.c_grad * (g / d);
        *p += self.c_avg * (*m / d);
    }
}

rule_consts!(
    /// `rect` is 0 until the variance is rectified (`rho_t > 5`).
    RAdam { w, b2, one_m_b2, bc1, lr, sqrt_bc2, eps, rect }
);

impl<T: Float> Rule<T> for RAdam<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, v: &mut T) {
        *m = lerp(*m, g, self.w);
        *v = *v * self.b2 + self.one_m_b2 * g * g;
        let corrected = *m / self.bc1 * self.lr;
        if self.rect != T::zero() {
            *p -= corrected * (self.sqrt_bc2 / (v.sqrt() + self.eps)) * self.rect;
        } else {
            *p -= corrected;
        }
    }
}

rule_consts!(
    /// `mu == 1` restarts the average at the parameter.
    Asgd { eta, mu }
);

impl<T: Float> Rule<T> for Asgd<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, ax: &mut T, _: &mut T) {
        *p -= self.eta * g;
        *ax = if self.mu != T::one() {
            *ax + (*p - *ax) * self.mu
        } else {
            *p
        };
    }
}

rule_consts!(Rprop {
    etaminus,
    etaplus,
    lo,
    hi
});

impl<T: Float> Rule<T> for Rprop<T> {
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, prev: &mut T, size: &mut T) {
        let zero = T::zero();
        let prod = g * *prev;
        // A NaN product (a NaN gradient, or inf times the first step's 0) has sign 0 in
        // PyTorch: the step size stays as it is.
        let factor = if prod > zero {
            self.etaplus
        } else if prod < zero {
            self.etaminus
        } else {
            T::one()
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

/// One parameter's (or one chunk's) memory: the parameter, its gradient and its states (`s1`
/// empty for one-state rules).
struct Slices<'a, T> {
    p: &'a mut [T],
    g: &'a [T],
    s0: &'a mut [T],
    s1: &'a mut [T],
}

/// The update of one contiguous chunk (forced inline so each SIMD level gets its own copy).
#[inline(always)]
fn rule_body<T: Float, R: Rule<T>>(x: Slices<'_, T>, pre: &Prefix<T>, r: &R) {
    let Slices { p, g, s0, s1 } = x;
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

crate::multiversion!(fn rule_chunk<T, R>(x: Slices<'_, T>, pre: &Prefix<T>, r: &R) where [T: Float, R: Rule<T>] => rule_body);

/// Runs rule `r` over a whole parameter, split over the pool when it is large.
fn run<T: Float, R: Rule<T>>(x: Slices<'_, T>, pre: &Prefix<T>, r: &R) {
    if x.p.len() < PAR_MIN || !crate::threads::split() {
        return rule_chunk(x, pre, r);
    }
    let Slices { p, g, s0, s1 } = x;
    let chunks = p
        .par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(s0.par_chunks_mut(CHUNK));
    if s1.is_empty() {
        chunks.for_each(|((p, g), s0)| {
            let s1 = &mut [];
            rule_chunk(Slices { p, g, s0, s1 }, pre, r)
        });
    } else {
        chunks
            .zip(s1.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), s0), s1)| rule_chunk(Slices { p, g, s0, s1 }, pre, r));
    }
}

/// Applies `rule` with constants `k` (validated by `optim::rule_step`) to one parameter.
fn apply_rule<T: Float>(rule: OptimRule, x: Slices<'_, T>, k: &[f64]) {
    let f = T::from_f64;
    let pre = Prefix {
        scale: f(k[0]),
        l2: (k[1] != 0.0).then(|| f(k[1])),
        decay: (k[2] != 1.0).then(|| f(k[2])),
    };
    let c = &k[PREFIX_CONSTS..];
    match rule {
        OptimRule::Adadelta => run(x, &pre, &Adadelta::read(c)),
        OptimRule::Adamax => run(x, &pre, &Adamax::read(c)),
        OptimRule::NAdam => run(x, &pre, &NAdam::read(c)),
        OptimRule::RAdam => run(x, &pre, &RAdam::read(c)),
        OptimRule::Asgd => run(x, &pre, &Asgd::read(c)),
        OptimRule::Rprop => run(x, &pre, &Rprop::read(c)),
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
            let x = Slices { p: slice_mut::<T>(p), g: &gd, s0, s1 };
            apply_rule::<T>(rule, x, k);
        }
    });
    Ok(())
}
