//! Fused optimizer steps: one call updates a whole parameter group (GIL released).

use crate::errors::ResultExt;
use crate::tensor::PyTensor;
use democratising::optim::{adam_step, sgd_step, AdamConfig, SgdConfig};
use democratising::Tensor;
use pyo3::prelude::*;

fn handles(ts: &[PyRef<'_, PyTensor>]) -> Vec<Tensor> {
    ts.iter().map(|t| t.t.clone()).collect()
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
    py.detach(|| adam_step(&p, &g, &m, &v, &vm, &steps, &cfg))
        .py()
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
    py.detach(|| sgd_step(&p, &g, &b, &initialized, &cfg)).py()
}
