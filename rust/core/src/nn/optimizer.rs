//! Optimizers for Rust users: own their state and call the fused multi-tensor steps.

use crate::autograd::GradModeGuard;
use crate::optim::{adam_step, sgd_step, AdamConfig, SgdConfig};
use crate::{bail, Result, Tensor};

pub trait Optimizer {
    /// Updates every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;
    fn zero_grad(&self) -> Result<()>;
}

/// The parameters of a step that have a gradient (their indices and gradients), read with
/// grad mode off for as long as this lives.
struct WithGrads {
    _no_grad: GradModeGuard,
    idx: Vec<usize>,
    grads: Vec<Tensor>,
}

impl WithGrads {
    fn of(params: &[Tensor]) -> WithGrads {
        let _no_grad = GradModeGuard::new(false);
        let (idx, grads) = params
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.grad().map(|g| (i, g)))
            .unzip();
        WithGrads {
            _no_grad,
            idx,
            grads,
        }
    }

    /// The entries of `v` (one per parameter) of the parameters that have a gradient.
    fn pick<T: Clone>(&self, v: &[T]) -> Vec<T> {
        self.idx.iter().map(|&i| v[i].clone()).collect()
    }
}

/// Clears every parameter's gradient (`zero_grad` of both optimizers).
fn clear_grads(params: &[Tensor]) -> Result<()> {
    for p in params {
        p.set_grad(None)?;
    }
    Ok(())
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
            config: AdamConfig::new(lr),
        })
    }
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        let with = WithGrads::of(&self.params);
        for &i in &with.idx {
            self.steps[i] += 1;
        }
        adam_step(
            &with.pick(&self.params),
            &with.grads,
            &with.pick(&self.exp_avg),
            &with.pick(&self.exp_avg_sq),
            &[],
            &with.pick(&self.steps),
            &self.config,
        )
    }

    fn zero_grad(&self) -> Result<()> {
        clear_grads(&self.params)
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
            config: SgdConfig::new(lr, momentum),
        })
    }
}

impl Optimizer for SGD {
    fn step(&mut self) -> Result<()> {
        let with = WithGrads::of(&self.params);
        let (params, bufs) = (with.pick(&self.params), with.pick(&self.buffers));
        sgd_step(
            &params,
            &with.grads,
            &bufs,
            &with.pick(&self.initialized),
            &self.config,
        )?;
        for &i in &with.idx {
            self.initialized[i] = true;
        }
        Ok(())
    }

    fn zero_grad(&self) -> Result<()> {
        clear_grads(&self.params)
    }
}
