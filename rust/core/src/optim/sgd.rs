//! SGD with momentum, dampening, Nesterov and weight decay as one fused pass per parameter
//! (the backends' `sgd_step_one`; the CPU loop is in `cpu/optim.rs`).

use super::{check_distinct, check_lengths, check_param, check_state};
use crate::backend;
use crate::{Result, Tensor};

/// SGD's hyperparameters. `repr(C)`: the CUDA kernel takes the struct as it is (optim.cu's
/// `SgdConfig` mirrors it field for field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
    pub grad_scale: f64,
}

impl SgdConfig {
    /// PyTorch's defaults at learning rate `lr` and `momentum`: no dampening, weight decay or
    /// Nesterov, minimizing.
    pub fn new(lr: f64, momentum: f64) -> SgdConfig {
        SgdConfig {
            lr,
            momentum,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
            grad_scale: 1.0,
        }
    }
}

/// One SGD step over a parameter group. With momentum, `buffers[i]` is updated in place;
/// `initialized[i] == false` means "first step: the buffer becomes the gradient", as in PyTorch.
pub fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    buffers: &[Tensor],
    initialized: &[bool],
    cfg: &SgdConfig,
) -> Result<()> {
    let wide =
        |p: &[Tensor], g: &[Tensor], [b]: [&[Tensor]; 1]| sgd_step(p, g, b, initialized, cfg);
    if let Some(done) = super::on_staged_copies(params, grads, [buffers], wide) {
        return done;
    }
    let with_momentum = cfg.momentum != 0.0;
    let mut lens = vec![grads.len()];
    if with_momentum {
        lens.extend([buffers.len(), initialized.len()]);
    }
    check_lengths(
        "sgd_step: parameter, gradient and buffer",
        params.len(),
        &lens,
    )?;
    // Every parameter is checked before any steps, so a refused step changes nothing.
    for i in 0..params.len() {
        let (p, g) = (&params[i], &grads[i]);
        check_param(p, g)?;
        if with_momentum {
            check_state("momentum_buffer", p, &buffers[i])?;
            check_distinct(&[p, &buffers[i]])?;
        }
    }
    for i in 0..params.len() {
        let (p, g) = (&params[i], &grads[i]);
        let buf = with_momentum.then(|| &buffers[i]);
        let init = with_momentum && initialized[i];
        backend::of(p).sgd_step_one(p, g, buf, init, cfg)?;
        p.bump_version();
        if let Some(b) = buf {
            b.bump_version();
        }
    }
    Ok(())
}
