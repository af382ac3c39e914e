//! Optimizers for Rust users: own their state and call the fused multi-tensor steps.

use crate::autograd::GradModeGuard;
use crate::optim::{adam_step, sgd_step, AdamConfig, SgdConfig};
use crate::{bail, Result, Tensor};

pub trait Optimizer {
    /// Updates every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;
    fn zero_grad(&self) -> Result<()>;
}

fn with_grads(params: &[Tensor]) -> (Vec<usize>, Vec<Tensor>) {
    let mut idx = Vec::new();
    let mut grads = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if let Some(g) = p.grad() {
            idx.push(i);
            grads.push(g);
        }
    }
    (idx, grads)
}

/// Adam with PyTorch's defaults (betas 0.9/0.999, eps 1e-8).
pub struct Adam {
    params: Vec<Tensor>,
    pub config: AdamConfig,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    steps: Vec<u64>,
}

impl Adam {
    pub fn new(params: Vec<Tensor>, lr: f64) -> Result<Adam> {
        if lr < 0.0 {
            bail!(Value, "invalid learning rate: {lr}");
        }
        if params.is_empty() {
            bail!(Value, "optimizer got an empty parameter list");
        }
        let zeros = |p: &Tensor| p.zeros_like();
        Ok(Adam {
            exp_avg: params.iter().map(zeros).collect::<Result<_>>()?,
            exp_avg_sq: params.iter().map(zeros).collect::<Result<_>>()?,
            steps: vec![0; params.len()],
            params,
            config: AdamConfig {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                decoupled: false,
                amsgrad: false,
                maximize: false,
                grad_scale: 1.0,
            },
        })
    }
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        let _g = GradModeGuard::new(false);
        let (idx, grads) = with_grads(&self.params);
        let pick = |v: &[Tensor]| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        for &i in &idx {
            self.steps[i] += 1;
        }
        let steps: Vec<u64> = idx.iter().map(|&i| self.steps[i]).collect();
        adam_step(
            &pick(&self.params),
            &grads,
            &pick(&self.exp_avg),
            &pick(&self.exp_avg_sq),
            &[],
            &steps,
            &self.config,
        )
    }

    fn zero_grad(&self) -> Result<()> {
        for p in &self.params {
            p.set_grad(None)?;
        }
        Ok(())
    }
}

/// Plain SGD with optional momentum.
pub struct SGD {
    params: Vec<Tensor>,
    pub config: SgdConfig,
    buffers: Vec<Tensor>,
    initialized: Vec<bool>,
}

impl SGD {
    pub fn new(params: Vec<Tensor>, lr: f64, momentum: f64) -> Result<SGD> {
        if lr < 0.0 || momentum < 0.0 {
            bail!(
                Value,
                "invalid SGD hyper-parameters: lr={lr}, momentum={momentum}"
            );
        }
        Ok(SGD {
            buffers: params
                .iter()
                .map(|p| p.zeros_like())
                .collect::<Result<_>>()?,
            initialized: vec![false; params.len()],
            params,
            config: SgdConfig {
                lr,
                momentum,
                dampening: 0.0,
                weight_decay: 0.0,
                nesterov: false,
                maximize: false,
                grad_scale: 1.0,
            },
        })
    }
}

impl Optimizer for SGD {
    fn step(&mut self) -> Result<()> {
        let _g = GradModeGuard::new(false);
        let (idx, grads) = with_grads(&self.params);
        let params: Vec<Tensor> = idx.iter().map(|&i| self.params[i].clone()).collect();
        let bufs: Vec<Tensor> = idx.iter().map(|&i| self.buffers[i].clone()).collect();
        let init: Vec<bool> = idx.iter().map(|&i| self.initialized[i]).collect();
        sgd_step(&params, &grads, &bufs, &init, &self.config)?;
        for &i in &idx {
            self.initialized[i] = true;
        }
        Ok(())
    }

    fn zero_grad(&self) -> Result<()> {
        for p in &self.params {
            p.set_grad(None)?;
        }
        Ok(())
    }
}
