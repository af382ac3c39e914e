//! The host side of the fused attention kernels (`kernels/attention.cu`): one block per query
//! row for the forward and the query gradient (which also leaves each row's
//! `delta = dot(dout, out)`), then one block per key row for the key and value gradients.

use super::{full, ordinal, run_typed, Args};
use crate::backend::AttentionSaved;
use crate::cuda::launch::{AttnGeom, LaunchDims};
use crate::ops::nn::attention::{backward_in_float32, forward_in_float32, AttentionSpec};
use crate::{bail, DType, Result, Tensor};

/// Head dims the kernels keep in shared memory (`DM_ATTN_MAX_D`).
const MAX_HEAD_DIM: usize = 512;

fn geom(sp: &AttentionSpec, has_mask: bool) -> Result<AttnGeom> {
    if sp.e > MAX_HEAD_DIM || sp.ev > MAX_HEAD_DIM {
        bail!(
            Value,
            "scaled_dot_product_attention on CUDA supports head dims up to {MAX_HEAD_DIM}, got {} and {}",
            sp.e,
            sp.ev
        );
    }
    let ms = sp.mask_strides.map(|v| v as i64);
    Ok(AttnGeom {
        b: sp.b as i64,
        hq: sp.hq as i64,
        hk: sp.hk as i64,
        l: sp.l as i64,
        s: sp.s as i64,
        e: sp.e as i64,
        ev: sp.ev as i64,
        mask_strides: ms,
        scale: sp.scale,
        dropout_p: sp.dropout_p,
        seed: sp.seed,
        causal: sp.causal as i32,
        has_mask: has_mask as i32,
    })
}

/// The arguments every attention kernel starts with: the geometry, then q, k and v.
fn qkv_args(geo: AttnGeom, [q, k, v]: [&Tensor; 3]) -> Args {
    Args::new().v(geo).data(q).data(k).data(v)
}

pub(crate) fn attention_forward(
    qkv: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    if qkv[0].dtype() == DType::BF16 {
        // The kernels are compiled for float32 and float64 only.
        return forward_in_float32(qkv, mask, sp, attention_forward);
    }
    // The kernels read contiguous operands; the op passes strided views as they come.
    let [q, k, v] = qkv.map(Tensor::contiguous);
    let (q, k, v) = (q?, k?, v?);
    let qkv = [&q, &k, &v];
    let (dev, dt) = (ordinal(qkv[0])?, qkv[0].dtype());
    let geo = geom(sp, mask.is_some())?;
    let rows = sp.b * sp.hq * sp.l;
    let out = full(dev, dt, &[sp.b, sp.hq, sp.l, sp.ev], 0.0)?;
    let lse = full(dev, dt, &[sp.b, sp.hq, sp.l], f64::NEG_INFINITY)?;
    if rows > 0 {
        let args = qkv_args(geo, qkv).opt(mask).data(&out).data(&lse);
        run_typed(dev, "attention_forward", dt, LaunchDims::rows(rows), args)?;
    }
    Ok((out, lse))
}

pub(crate) fn attention_backward(
    saved: AttentionSaved<'_>,
    g: &Tensor,
    sp: &AttentionSpec,
) -> Result<[Tensor; 3]> {
    if saved.qkv[0].dtype() == DType::BF16 {
        return backward_in_float32(saved, g, sp, attention_backward);
    }
    // Contiguous operands, as in the forward.
    let [q, k, v] = saved.qkv.map(Tensor::contiguous);
    let (q, k, v, out, g) = (q?, k?, v?, saved.out.contiguous()?, g.contiguous()?);
    let saved = AttentionSaved {
        qkv: [&q, &k, &v],
        out: &out,
        ..saved
    };
    let g = &g;
    let [q, k, v] = saved.qkv;
    let (dev, dt) = (ordinal(q)?, q.dtype());
    let geo = geom(sp, saved.mask.is_some())?;
    let (q_rows, k_rows) = (sp.b * sp.hq * sp.l, sp.b * sp.hk * sp.s);
    let [dq, dk, dv] = [q, k, v].map(|t| full(dev, dt, t.shape(), 0.0));
    let (dq, dk, dv) = (dq?, dk?, dv?);
    let delta = full(dev, dt, &[q_rows], 0.0)?;
    if q_rows > 0 {
        let args = qkv_args(geo, saved.qkv)
            .data(saved.out)
            .data(saved.lse)
            .data(g)
            .opt(saved.mask)
            .data(&dq)
            .data(&delta);
        run_typed(
            dev,
            "attention_backward_dq",
            dt,
            LaunchDims::rows(q_rows),
            args,
        )?;
        if k_rows > 0 {
            let args = qkv_args(geo, saved.qkv)
                .data(saved.lse)
                .data(g)
                .opt(saved.mask)
                .data(&delta)
                .data(&dk)
                .data(&dv);
            run_typed(
                dev,
                "attention_backward_dkv",
                dt,
                LaunchDims::rows(k_rows),
                args,
            )?;
        }
    }
    Ok([dq, dk, dv])
}
