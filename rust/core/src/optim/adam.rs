//! Adam / AdamW (with amsgrad and maximize) as one fused pass per parameter.

use super::{check_distinct, check_lengths, check_param, check_state};
use crate::backend;
use crate::{bail, Result, Tensor};

/// Adam's hyperparameters. `repr(C)`: the CUDA kernel takes the struct as it is (optim.cu's
/// `AdamConfig` mirrors it field for field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
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

impl AdamConfig {
    /// PyTorch's defaults at learning rate `lr`: betas 0.9/0.999, eps 1e-8, no weight decay,
    /// no amsgrad, minimizing.
    pub fn new(lr: f64) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            amsgrad: false,
            maximize: false,
            grad_scale: 1.0,
        }
    }
}

/// The per-parameter tensors of one Adam step, as a backend receives them: one entry per
/// parameter in each list (`max_exp_avg_sqs` is empty without amsgrad).
#[derive(Clone, Copy)]
pub struct AdamTensors<'a> {
    pub params: &'a [Tensor],
    pub grads: &'a [Tensor],
    pub exp_avgs: &'a [Tensor],
    pub exp_avg_sqs: &'a [Tensor],
    pub max_exp_avg_sqs: &'a [Tensor],
    pub steps: &'a [u64],
}

impl<'a> AdamTensors<'a> {
    /// Parameter `i` alone (with its max_exp_avg_sq when there are any).
    pub fn one(&self, i: usize) -> AdamTensors<'a> {
        let at = |v: &'a [Tensor]| v.get(i..i + 1).unwrap_or(&[]);
        AdamTensors {
            params: at(self.params),
            grads: at(self.grads),
            exp_avgs: at(self.exp_avgs),
            exp_avg_sqs: at(self.exp_avg_sqs),
            max_exp_avg_sqs: at(self.max_exp_avg_sqs),
            steps: &self.steps[i..i + 1],
        }
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
    let states = [exp_avgs, exp_avg_sqs, max_exp_avg_sqs];
    let wide = |p: &[Tensor], g: &[Tensor], [m, v, vmax]: [&[Tensor]; 3]| {
        adam_step(p, g, m, v, vmax, steps, cfg)
    };
    if let Some(done) = super::on_staged_copies(params, grads, states, wide) {
        return done;
    }
    let n = params.len();
    let lens = [grads.len(), exp_avgs.len(), exp_avg_sqs.len(), steps.len()];
    check_lengths("adam_step: parameter, gradient, state and step", n, &lens)?;
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
    }
    // One call per device: the CUDA kernel updates up to 16 parameters per launch.
    for group in backend::by_device(params) {
        let pick = |v: &[Tensor]| -> Vec<Tensor> { group.iter().map(|&i| v[i].clone()).collect() };
        let vmax = if cfg.amsgrad {
            pick(max_exp_avg_sqs)
        } else {
            Vec::new()
        };
        let st: Vec<u64> = group.iter().map(|&i| steps[i]).collect();
        let (ps, ms, vs) = (pick(params), pick(exp_avgs), pick(exp_avg_sqs));
        let ts = AdamTensors {
            params: &ps,
            grads: &pick(grads),
            exp_avgs: &ms,
            exp_avg_sqs: &vs,
            max_exp_avg_sqs: &vmax,
            steps: &st,
        };
        backend::of(&ps[0]).adam_step(&ts, cfg)?;
        for t in ps.iter().chain(&ms).chain(&vs).chain(&vmax) {
            t.bump_version();
        }
    }
    Ok(())
}
