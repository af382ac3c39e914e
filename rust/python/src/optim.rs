//! Fused optimizer steps: one call updates a whole parameter group (GIL released).

use crate::errors::ResultExt;
use crate::tensor::PyTensor;
use democratising::optim::{
    adagrad_step, adam_step, rmsprop_step, rule_step, sgd_step, AdagradConfig, AdamConfig,
    OptimRule, RmspropConfig, RmspropState, SgdConfig,
};
use democratising::Tensor;
use pyo3::prelude::*;

fn handles(ts: &[PyRef<'_, PyTensor>]) -> Vec<Tensor> {
    ts.iter().map(|t| t.tensor()).collect()
}

#[pyfunction]
#[pyo3(signature = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, grad_scale=1.0))]
#[allow(clippy::too_many_arguments)]
pub fn _adam_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    exp_avgs: Vec<PyRef<'_, PyTensor>>,
    exp_avg_sqs: Vec<PyRef<'_, PyTensor>>,
    max_exp_avg_sqs: Vec<PyRef<'_, PyTensor>>,
    steps: Vec<u64>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    amsgrad: bool,
    maximize: bool,
    grad_scale: f64,
) -> PyResult<()> {
    let (p, g, m, v, vm) = (
        handles(&params),
        handles(&grads),
        handles(&exp_avgs),
        handles(&exp_avg_sqs),
        handles(&max_exp_avg_sqs),
    );
    let cfg = AdamConfig {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled,
        amsgrad,
        maximize,
        grad_scale,
    };
    crate::util::detach(py, || adam_step(&p, &g, &m, &v, &vm, &steps, &cfg)).py()
}

#[pyfunction]
#[pyo3(signature = (params, grads, buffers, initialized, *, lr, momentum, dampening, weight_decay, nesterov, maximize, grad_scale=1.0))]
#[allow(clippy::too_many_arguments)]
pub fn _sgd_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    buffers: Vec<PyRef<'_, PyTensor>>,
    initialized: Vec<bool>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
    grad_scale: f64,
) -> PyResult<()> {
    let (p, g, b) = (handles(&params), handles(&grads), handles(&buffers));
    let cfg = SgdConfig {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
        maximize,
        grad_scale,
    };
    crate::util::detach(py, || sgd_step(&p, &g, &b, &initialized, &cfg)).py()
}

#[pyfunction]
#[pyo3(signature = (params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr, alpha, eps, weight_decay, momentum, centered, maximize, grad_scale=1.0))]
#[allow(clippy::too_many_arguments)]
pub fn _rmsprop_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    square_avgs: Vec<PyRef<'_, PyTensor>>,
    grad_avgs: Vec<PyRef<'_, PyTensor>>,
    momentum_buffers: Vec<PyRef<'_, PyTensor>>,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool,
    grad_scale: f64,
) -> PyResult<()> {
    let (p, g, v) = (handles(&params), handles(&grads), handles(&square_avgs));
    let (gbar, buf) = (handles(&grad_avgs), handles(&momentum_buffers));
    let cfg = RmspropConfig {
        lr,
        alpha,
        eps,
        weight_decay,
        momentum,
        centered,
        maximize,
        grad_scale,
    };
    let states: Vec<RmspropState<'_>> = (0..v.len())
        .map(|i| RmspropState {
            square_avg: &v[i],
            grad_avg: gbar.get(i),
            momentum_buffer: buf.get(i),
        })
        .collect();
    crate::util::detach(py, || rmsprop_step(&p, &g, &states, &cfg)).py()
}

#[pyfunction]
#[pyo3(signature = (params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps, maximize, grad_scale=1.0))]
#[allow(clippy::too_many_arguments)]
pub fn _adagrad_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    sums: Vec<PyRef<'_, PyTensor>>,
    steps: Vec<u64>,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    maximize: bool,
    grad_scale: f64,
) -> PyResult<()> {
    let (p, g, s) = (handles(&params), handles(&grads), handles(&sums));
    let cfg = AdagradConfig {
        lr,
        lr_decay,
        weight_decay,
        eps,
        maximize,
        grad_scale,
    };
    crate::util::detach(py, || adagrad_step(&p, &g, &s, &steps, &cfg)).py()
}

/// One step of an element-wise rule (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop) over a
/// group: `states[i]` are parameter i's state tensors, `consts[i]` its per-step constants
/// (`optim::rules` lays them out).
#[pyfunction]
pub fn _optim_rule_step(
    py: Python<'_>,
    rule: &str,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    states: Vec<Vec<PyRef<'_, PyTensor>>>,
    consts: Vec<Vec<f64>>,
) -> PyResult<()> {
    let rule = OptimRule::parse(rule).py()?;
    let (p, g) = (handles(&params), handles(&grads));
    let s: Vec<Vec<Tensor>> = states.iter().map(|st| handles(st)).collect();
    crate::util::detach(py, || rule_step(rule, &p, &g, &s, &consts)).py()
}
