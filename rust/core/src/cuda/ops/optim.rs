//! Fused optimizer steps and the AMP unscale on CUDA tensors: up to 16 (optimizer) or 32
//! (unscale) tensors per launch, `blockIdx.y` picking the tensor. The callers in `optim` and
//! `amp` have already checked shapes, dtypes, contiguity and aliasing.

use super::{data_ptr, full, ordinal, run_elementwise, run_typed, to_device, Args};
use crate::cuda::launch::{
    AdamList, AmpList, LaunchDims, ParamList, SgdList, AMP_TENSORS, OPTIM_TENSORS,
};
use crate::optim::AdamTensors;
use crate::{Device, Result, Tensor};

/// The gradient in the parameter's dtype, contiguous, on its device.
fn grad_like(g: &Tensor, p: &Tensor) -> Result<Tensor> {
    crate::ops::nn::as_dtype(&super::align_device(g, p)?, p.dtype())
}

/// Puts parameter `p` and its gradient `g` (on `p`'s device, in its dtype) in `slot` of a list.
fn set_param(head: &mut ParamList, slot: usize, p: &Tensor, g: &Tensor) {
    head.numel[slot] = p.numel() as i64;
    head.param[slot] = data_ptr(p);
    head.grad[slot] = data_ptr(g);
}

/// One Adam/AdamW step (the semantics of `optim::adam_step`).
pub(crate) fn adam_step(ts: &AdamTensors<'_>, cfg: &crate::optim::AdamConfig) -> Result<()> {
    let params = ts.params;
    for start in (0..params.len()).step_by(OPTIM_TENSORS) {
        let end = (start + OPTIM_TENSORS).min(params.len());
        let dev = ordinal(&params[start])?;
        let dt = params[start].dtype();
        let mut list = AdamList::default();
        let mut keep = Vec::new();
        let mut max_numel = 0;
        for (slot, i) in (start..end).enumerate() {
            let p = &params[i];
            if p.device() != params[start].device() || p.dtype() != dt {
                // Mixed groups: one launch per parameter.
                return (0..params.len()).try_for_each(|i| adam_step(&ts.one(i), cfg));
            }
            let g = grad_like(&ts.grads[i], p)?;
            set_param(&mut list.head, slot, p, &g);
            list.step[slot] = ts.steps[i] as i64;
            list.exp_avg[slot] = data_ptr(&ts.exp_avgs[i]);
            list.exp_avg_sq[slot] = data_ptr(&ts.exp_avg_sqs[i]);
            if cfg.amsgrad {
                list.max_exp_avg_sq[slot] = data_ptr(&ts.max_exp_avg_sqs[i]);
            }
            max_numel = max_numel.max(p.numel());
            keep.push(g);
        }
        list.head.count = (end - start) as i32;
        let args = Args::new().v(*cfg).v(list).v(0u64);
        run_typed(
            dev,
            "adam_step",
            dt,
            LaunchDims::multi_tensor(end - start, max_numel),
            args,
        )?;
    }
    Ok(())
}

/// One SGD step (the semantics of `optim::sgd_step`).
pub(crate) fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    buffers: &[Tensor],
    initialized: &[bool],
    cfg: &crate::optim::SgdConfig,
) -> Result<()> {
    let with_momentum = cfg.momentum != 0.0;
    for i in 0..params.len() {
        // One launch per parameter keeps mixed dtypes/devices simple; the list form still
        // batches the kernel's arguments.
        let p = &params[i];
        let dev = ordinal(p)?;
        let g = grad_like(&grads[i], p)?;
        let mut list = SgdList::default();
        list.head.count = 1;
        set_param(&mut list.head, 0, p, &g);
        if with_momentum {
            list.momentum_buffer[0] = data_ptr(&buffers[i]);
            list.initialized[0] = initialized[i] as i32;
        }
        let args = Args::new().v(*cfg).v(list).v(0u64);
        run_typed(
            dev,
            "sgd_step",
            p.dtype(),
            LaunchDims::multi_tensor(1, p.numel()),
            args,
        )?;
    }
    Ok(())
}

/// One RMSprop step of one parameter (the semantics of `optim::rmsprop_step`).
pub(crate) fn rmsprop_step(
    p: &Tensor,
    g: &Tensor,
    st: &crate::optim::RmspropState<'_>,
    c: &crate::optim::RmspropConfig,
) -> Result<()> {
    let g = grad_like(g, p)?;
    let flags = i32::from(c.centered) | (i32::from(c.maximize) << 1);
    let args = Args::new()
        .v(c.lr)
        .v(c.alpha)
        .v(c.eps)
        .v(c.weight_decay)
        .v(c.momentum)
        .v(c.grad_scale)
        .v(flags)
        .v(p.numel() as i64)
        .data(p)
        .data(&g)
        .data(st.square_avg)
        .opt(st.grad_avg)
        .opt(st.momentum_buffer);
    run_elementwise(ordinal(p)?, "rmsprop_step", p.dtype(), p.numel(), args)
}

/// One Adagrad step of one parameter at the decayed rate `clr` (`optim::adagrad_step`).
pub(crate) fn adagrad_step(
    p: &Tensor,
    g: &Tensor,
    sum: &Tensor,
    clr: f64,
    c: &crate::optim::AdagradConfig,
) -> Result<()> {
    let g = grad_like(g, p)?;
    let args = Args::new()
        .v(clr)
        .v(c.weight_decay)
        .v(c.eps)
        .v(c.grad_scale)
        .v(i32::from(c.maximize))
        .v(p.numel() as i64)
        .data(p)
        .data(&g)
        .data(sum);
    run_elementwise(ordinal(p)?, "adagrad_step", p.dtype(), p.numel(), args)
}

/// One step of an element-wise optimizer rule of one parameter (`optim::rule_step`).
pub(crate) fn optim_rule_step(
    rule: crate::optim::OptimRule,
    p: &Tensor,
    g: &Tensor,
    state: &[&Tensor],
    k: &[f64],
) -> Result<()> {
    let g = grad_like(g, p)?;
    // optim.cu's `RuleConsts`: the constants padded to a fixed-size array.
    let mut consts = [0.0f64; crate::optim::MAX_RULE_CONSTS];
    consts[..k.len()].copy_from_slice(k);
    let args = Args::new()
        .v(rule as i32)
        .v(consts)
        .v(p.numel() as i64)
        .data(p)
        .data(&g)
        .data(state[0])
        .opt(state.get(1).copied());
    run_elementwise(ordinal(p)?, "optim_rule_step", p.dtype(), p.numel(), args)
}

/// Multiplies every CUDA gradient by `inv_scale` in place (when `apply`) and reports whether
/// any value is infinite or NaN (one flag per device, read back once).
pub(crate) fn unscale_and_check(grads: &[&Tensor], inv_scale: f64, apply: bool) -> Result<bool> {
    let mut found = false;
    let mut by_key: Vec<((usize, crate::DType), Vec<&Tensor>)> = Vec::new();
    for &g in grads {
        let key = (ordinal(g)?, g.dtype());
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(g),
            None => by_key.push((key, vec![g])),
        }
    }
    for ((dev, dt), gs) in by_key {
        let flag = full(dev, crate::DType::F32, &[1], 0.0)?;
        for chunk in gs.chunks(AMP_TENSORS) {
            let mut list = AmpList {
                count: chunk.len() as i32,
                pad: 0,
                numel: [0; AMP_TENSORS],
                grad: [0; AMP_TENSORS],
            };
            let mut max_numel = 0;
            for (i, g) in chunk.iter().enumerate() {
                list.numel[i] = g.numel() as i64;
                list.grad[i] = data_ptr(g);
                max_numel = max_numel.max(g.numel());
            }
            let args = Args::new()
                .v(list)
                .v(inv_scale)
                .v(apply as i32)
                .v(data_ptr(&flag));
            run_typed(
                dev,
                "amp_unscale",
                dt,
                LaunchDims::multi_tensor(chunk.len(), max_numel),
                args,
            )?;
            if apply {
                for g in chunk {
                    g.bump_version();
                }
            }
        }
        found |= to_device(&flag, Device::Cpu)?.to_vec::<f32>()?[0] != 0.0;
    }
    Ok(found)
}
