//! The element-wise optimizers with at most two state tensors per parameter (Adadelta, Adamax,
//! NAdam, RAdam, ASGD, Rprop) as one fused pass per parameter, behind one entry point.
//!
//! The caller (the Python optimizer, which owns the step counts and scalar state such as
//! NAdam's `mu_product`) computes each parameter's per-step constants; the backends apply the
//! per-element rule with them, PyTorch's single-tensor formulas operation for operation. Every
//! rule's constants start with the same three, the gradient's preparation:
//! `g = g * scale + l2 * p` (`scale` is -1 under `maximize`), then `p *= decay` (decoupled
//! weight decay, ASGD's `1 - lambd * eta`; 1 otherwise).

use super::{check_distinct, check_lengths, check_param, check_state};
use crate::backend;
use crate::{bail, Result, Tensor};

/// Which update a fused rule step applies; the discriminant is the rule's number in the CUDA
/// kernel (`optim.cu`'s `optim_rule_step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimRule {
    /// States `square_avg, acc_delta`; constants `lr, rho, 1 - rho, eps`. (`1 - x` of a
    /// constant comes computed in float64, as PyTorch's Python computes it.)
    Adadelta = 0,
    /// States `exp_avg, exp_inf`; constants `clr (lr / (1 - b1^t)), 1 - b1, b2, eps`.
    Adamax = 1,
    /// States `exp_avg, exp_avg_sq`; constants `1 - b1, b2, 1 - b2, 1 - b2^t, eps, c_grad, c_avg`:
    /// `d = sqrt(v / (1 - b2^t)) + eps`, `p += c_grad * g / d`, then `p += c_avg * m / d`.
    NAdam = 2,
    /// States `exp_avg, exp_avg_sq`; constants `1 - b1, b2, 1 - b2, 1 - b1^t, lr, sqrt(1 - b2^t),
    /// eps, rect`, with `rect == 0` meaning the variance is not yet rectified (a momentum-SGD step).
    RAdam = 3,
    /// State `ax`; constants `eta, mu` (`decay` is `1 - lambd * eta`).
    Asgd = 4,
    /// States `prev, step_size`; constants `etaminus, etaplus, step_size_min, step_size_max`.
    Rprop = 5,
}

/// The constants every rule starts with: `scale, l2, decay`.
pub const PREFIX_CONSTS: usize = 3;

impl OptimRule {
    /// The rule named as in `torch.optim` (case-insensitive: `"nadam"`, `"ASGD"`).
    pub fn parse(name: &str) -> Result<OptimRule> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "adadelta" => OptimRule::Adadelta,
            "adamax" => OptimRule::Adamax,
            "nadam" => OptimRule::NAdam,
            "radam" => OptimRule::RAdam,
            "asgd" => OptimRule::Asgd,
            "rprop" => OptimRule::Rprop,
            _ => bail!(
                Value,
                "unknown optimizer rule {name:?} (adadelta, adamax, nadam, radam, asgd, rprop)"
            ),
        })
    }

    /// The state tensors a parameter carries under this rule, in order.
    pub fn states(self) -> &'static [&'static str] {
        match self {
            OptimRule::Adadelta => &["square_avg", "acc_delta"],
            OptimRule::Adamax => &["exp_avg", "exp_inf"],
            OptimRule::NAdam | OptimRule::RAdam => &["exp_avg", "exp_avg_sq"],
            OptimRule::Asgd => &["ax"],
            OptimRule::Rprop => &["prev", "step_size"],
        }
    }

    /// How many constants follow the shared prefix.
    pub fn consts(self) -> usize {
        match self {
            OptimRule::Adadelta => 4,
            OptimRule::Adamax => 4,
            OptimRule::NAdam => 7,
            OptimRule::RAdam => 8,
            OptimRule::Asgd => 2,
            OptimRule::Rprop => 4,
        }
    }
}

/// The most constants any rule takes, prefix included (the CUDA kernel's array size).
pub const MAX_RULE_CONSTS: usize = 12;

/// One step of `rule` over a parameter group: `states[i]` are parameter i's state tensors (as
/// [`OptimRule::states`] lists them) and `consts[i]` its constants (the prefix, then the
/// rule's), all updated in place.
pub fn rule_step(
    rule: OptimRule,
    params: &[Tensor],
    grads: &[Tensor],
    states: &[Vec<Tensor>],
    consts: &[Vec<f64>],
) -> Result<()> {
    if super::needs_staging(params.iter().chain(states.iter().flatten())) {
        let pw = super::widened(params)?;
        let sw = states
            .iter()
            .map(|s| super::widened(s))
            .collect::<Result<Vec<_>>>()?;
        rule_step(rule, &pw, &super::widened(grads)?, &sw, consts)?;
        super::round_back(params, &pw)?;
        for (s, w) in states.iter().zip(&sw) {
            super::round_back(s, w)?;
        }
        return Ok(());
    }
    let lens = [grads.len(), states.len(), consts.len()];
    let what = "optimizer rule step: parameter, gradient, state and constant";
    check_lengths(what, params.len(), &lens)?;
    let names = rule.states();
    let n_consts = PREFIX_CONSTS + rule.consts();
    // Every parameter is checked before any steps, so a refused step changes nothing.
    let mut touched = Vec::with_capacity(params.len());
    for i in 0..params.len() {
        let (p, g, st, k) = (&params[i], &grads[i], &states[i], &consts[i]);
        check_param(p, g)?;
        if st.len() != names.len() {
            bail!(
                Value,
                "{rule:?} keeps {} state tensors per parameter ({}), got {}",
                names.len(),
                names.join(", "),
                st.len()
            );
        }
        if k.len() != n_consts {
            bail!(
                Value,
                "{rule:?} takes {n_consts} constants per parameter, got {}",
                k.len()
            );
        }
        let mut all = vec![p];
        for (name, s) in names.iter().zip(st) {
            check_state(name, p, s)?;
            all.push(s);
        }
        check_distinct(&all)?;
        touched.push(all);
    }
    for (i, all) in touched.into_iter().enumerate() {
        let (p, g, st, k) = (&params[i], &grads[i], &states[i], &consts[i]);
        let refs: Vec<&Tensor> = st.iter().collect();
        backend::of(p).optim_rule_step(rule, p, g, &refs, k)?;
        for t in all {
            t.bump_version();
        }
    }
    Ok(())
}
