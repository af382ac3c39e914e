//! Fused scaled-dot-product attention, `softmax(q k^T * scale + mask) v`, computed tile by tile
//! with an online softmax (flash attention): the `[L, S]` score matrix is never stored, so
//! memory grows linearly in the sequence length. The forward keeps each query row's
//! log-sum-exp; the backward recomputes the probabilities from it. Both are backend primitives
//! (`cpu/attention.rs`, `cuda/ops/attention.rs`); this file checks the arguments, brings the
//! mask into the kernels' form and records the one backward.

use crate::autograd::{grads_by_recompute, record_differentiable, Saved};
use crate::backend::{self, AttentionSaved};
use crate::ops::copy::cast_raw;
use crate::ops::nn::as_dtype;
use crate::{bail, DType, Error, Result, Tensor};

/// The sizes and options the attention kernels read. Queries are `[b, hq, l, e]`, keys
/// `[b, hk, s, e]`, values `[b, hk, s, ev]`, all contiguous in the compute dtype; query head
/// `h` reads key head `h / (hq / hk)` (grouped-query attention).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionSpec {
    pub b: usize,
    pub hq: usize,
    pub hk: usize,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
    /// Element strides of the additive mask over `(b, hq, l, s)`, 0 on broadcast dims.
    pub mask_strides: [usize; 4],
    pub scale: f64,
    /// Query `i` sees keys `j <= i` only (the top-left aligned triangle, as PyTorch's).
    pub causal: bool,
    pub dropout_p: f64,
    /// Philox seed of the dropout mask; element `((b * hq + h) * l + i) * s + j` of stream
    /// (seed, 0) decides whether probability `(i, j)` of head `h` is kept.
    pub seed: u64,
}

impl AttentionSpec {
    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.hq / self.hk.max(1)
    }
}

/// What the caller asks besides query, key and value (PyTorch's keyword arguments).
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionArgs<'a> {
    /// Boolean (true: may attend) or additive float mask, broadcastable to `[..., hq, l, s]`.
    pub mask: Option<&'a Tensor>,
    pub dropout_p: f64,
    pub causal: bool,
    /// Defaults to `1 / sqrt(e)`.
    pub scale: Option<f64>,
    /// Allow fewer key/value heads than query heads.
    pub enable_gqa: bool,
}

/// `(b, h)` of a `[..., h, n, d]` tensor: the dims before the head dim multiplied together.
fn batch_heads(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        2 => (1, 1),
        n => (shape[..n - 3].iter().product(), shape[n - 3]),
    }
}

/// Checks the operands' shapes against each other and returns the kernels' sizes (the mask
/// strides, scale and options are filled in by the caller).
fn spec_of(q: &Tensor, k: &Tensor, v: &Tensor, enable_gqa: bool) -> Result<AttentionSpec> {
    let fail = |why: String| -> Error {
        Error::shape_mismatch(
            "scaled_dot_product_attention",
            &[q, k, v],
            format!(
                "scaled_dot_product_attention: query {:?}, key {:?} and value {:?}: {why}",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        )
    };
    let n = q.ndim();
    if n < 2 || k.ndim() != n || v.ndim() != n {
        return Err(fail("expected tensors of one rank, at least 2 dims".into()));
    }
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    if n >= 4 && (qs[..n - 3] != ks[..n - 3] || ks[..n - 3] != vs[..n - 3]) {
        return Err(fail("the batch dims differ".into()));
    }
    if qs[n - 1] != ks[n - 1] {
        return Err(fail("query and key feature sizes differ".into()));
    }
    if ks[n - 2] != vs[n - 2] || (n >= 3 && ks[n - 3] != vs[n - 3]) {
        return Err(fail("key and value lengths (or heads) differ".into()));
    }
    let ((b, hq), (_, hk)) = (batch_heads(qs), batch_heads(ks));
    if hq != hk && !(enable_gqa && hk > 0 && hq % hk == 0) {
        let why = if enable_gqa {
            format!("{hq} query heads are not a multiple of {hk} key/value heads")
        } else {
            format!("{hq} query heads but {hk} key/value heads (pass enable_gqa=True)")
        };
        return Err(fail(why));
    }
    Ok(AttentionSpec {
        b,
        hq,
        hk,
        l: qs[n - 2],
        s: ks[n - 2],
        e: qs[n - 1],
        ev: vs[n - 1],
        mask_strides: [0; 4],
        scale: 1.0,
        causal: false,
        dropout_p: 0.0,
        seed: 0,
    })
}

/// The mask as the kernels read it: additive, in `dt`, contiguous over `(mb, mh, ml, ms)`
/// where each dim is 1 (broadcast, stride 0) or the full size.
fn kernel_mask(
    mask: &Tensor,
    q: &Tensor,
    sp: &AttentionSpec,
    dt: DType,
) -> Result<(Tensor, [usize; 4])> {
    let n = q.ndim();
    let mut full: Vec<usize> = q.shape()[..n - 2].to_vec();
    full.extend([sp.l, sp.s]);
    if n == 2 {
        full.insert(0, 1);
    }
    let m = mask.ndim();
    let fits = m <= full.len()
        && mask
            .shape()
            .iter()
            .zip(&full[full.len() - m..])
            .all(|(&a, &f)| a == 1 || a == f);
    if !fits {
        return Err(Error::shape_mismatch(
            "scaled_dot_product_attention",
            &[q, mask],
            format!(
                "scaled_dot_product_attention: attn_mask of shape {:?} does not broadcast to the \
                 scores' shape {:?}",
                mask.shape(),
                full
            ),
        ));
    }
    let add = if mask.dtype() == DType::Bool {
        let zero = Tensor::zeros(&[], dt)?;
        let ninf = Tensor::full(&[], f64::NEG_INFINITY, dt)?;
        Tensor::where_(
            mask,
            &zero.to_device(mask.device())?,
            &ninf.to_device(mask.device())?,
        )?
    } else if mask.dtype().is_float() {
        mask.to_dtype(dt)?
    } else {
        bail!(
            DType,
            "scaled_dot_product_attention: attn_mask must be bool or floating point, got {}",
            mask.dtype()
        );
    };
    let mut padded = vec![1usize; full.len() - m];
    padded.extend_from_slice(mask.shape());
    let nb = full.len() - 3;
    let mut shaped = add.reshape(&padded.iter().map(|&d| d as isize).collect::<Vec<_>>())?;
    let mb = if padded[..nb].iter().all(|&d| d == 1) {
        1
    } else {
        if padded[..nb] != full[..nb] {
            let mut to = full[..nb].to_vec();
            to.extend_from_slice(&padded[nb..]);
            shaped = shaped.expand(&to)?;
        }
        sp.b
    };
    let dims = [mb, padded[nb], padded[nb + 1], padded[nb + 2]];
    let four: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
    let shaped = as_dtype(&shaped.contiguous()?.reshape(&four)?, dt)?;
    let mut strides = [0usize; 4];
    let mut step = 1;
    for d in (0..4).rev() {
        if dims[d] != 1 {
            strides[d] = step;
        }
        step *= dims[d];
    }
    Ok((shaped, strides))
}

/// bfloat16 attention computed by float32 kernels (`forward`), for backends or CPUs without
/// bfloat16 ones: the operands widened, the output rounded back, the log-sum-exp float32.
pub(crate) fn forward_in_float32(
    qkv: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
    forward: impl FnOnce([&Tensor; 3], Option<&Tensor>, &AttentionSpec) -> Result<(Tensor, Tensor)>,
) -> Result<(Tensor, Tensor)> {
    let [q, k, v] = widened(qkv)?;
    let (out, lse) = forward([&q, &k, &v], mask, sp)?;
    Ok((out.to_dtype(DType::BF16)?, lse))
}

/// The backward of `forward_in_float32`, through the float32 `backward`.
pub(crate) fn backward_in_float32(
    saved: AttentionSaved<'_>,
    g: &Tensor,
    sp: &AttentionSpec,
    backward: impl FnOnce(AttentionSaved<'_>, &Tensor, &AttentionSpec) -> Result<[Tensor; 3]>,
) -> Result<[Tensor; 3]> {
    let [q, k, v] = widened(saved.qkv)?;
    let out = saved.out.to_dtype(DType::F32)?;
    let wide = AttentionSaved {
        qkv: [&q, &k, &v],
        out: &out,
        ..saved
    };
    let [dq, dk, dv] =
        backward(wide, &g.to_dtype(DType::F32)?, sp)?.map(|t| t.to_dtype(DType::BF16));
    Ok([dq?, dk?, dv?])
}

fn widened(qkv: [&Tensor; 3]) -> Result<[Tensor; 3]> {
    let [q, k, v] = qkv.map(|t| t.to_dtype(DType::F32));
    Ok([q?, k?, v?])
}

/// The dtype the kernels read: float64 and bfloat16 operands as they are (bfloat16 kernels
/// sum in float32), anything else in float32.
fn kernel_dtype(q: &Tensor, k: &Tensor, v: &Tensor) -> DType {
    match q.dtype() {
        dt @ (DType::F64 | DType::BF16) if k.dtype() == dt && v.dtype() == dt => dt,
        _ => DType::F32,
    }
}

/// The additive mask's dtype for kernels reading `dt`: float32 beside bfloat16, whose 8-bit
/// mantissa would round the mask.
fn mask_dtype(dt: DType) -> DType {
    if dt == DType::BF16 {
        DType::F32
    } else {
        dt
    }
}

/// `t` reshaped to the kernels' four dims `[b, h, n, d]`, in `dt`, contiguous.
fn four_dims(t: &Tensor, b: usize, dt: DType) -> Result<Tensor> {
    let n = t.ndim();
    let sh = t.shape();
    let h = if n == 2 { 1 } else { sh[n - 3] };
    let four = [
        b as isize,
        h as isize,
        sh[n - 2] as isize,
        sh[n - 1] as isize,
    ];
    kernel_operand(&t.reshape(&four)?, dt)
}

/// `t` in `dt` as the kernels read it: the tensor itself (a strided view costs no copy) when it
/// has that dtype and contiguous rows, else a contiguous copy. A backend whose kernels need
/// more makes its operands contiguous itself.
fn kernel_operand(t: &Tensor, dt: DType) -> Result<Tensor> {
    let rows = t.shape().last().is_none_or(|&d| d <= 1) || t.layout().strides.last() == Some(&1);
    if t.dtype() == dt && rows {
        Ok(t.clone())
    } else {
        cast_raw(t, dt)
    }
}

impl Tensor {
    /// `softmax(self @ key^T * scale + mask) @ value` over `[..., l, e]` queries, `[..., s, e]`
    /// keys and `[..., s, ev]` values (PyTorch's `F.scaled_dot_product_attention`), as one
    /// fused op. float16 inputs compute in float32, bfloat16 ones on kernels that sum in
    /// float32; a fully masked row gives zeros.
    pub fn scaled_dot_product_attention(
        &self,
        key: &Tensor,
        value: &Tensor,
        args: &AttentionArgs<'_>,
    ) -> Result<Tensor> {
        let (q, k, v) = (self, key, value);
        for t in [q, k, v] {
            t.check_float(
                "scaled_dot_product_attention expects floating point query, key and value",
            )?;
        }
        // Autocast leaves float64 alone (PyTorch casts only float16/32 and bfloat16).
        let autocast = crate::amp::autocast_dtype()
            .filter(|_| [q, k, v].iter().all(|t| t.dtype() != DType::F64));
        let out_dt = autocast.unwrap_or(q.dtype());
        if autocast.is_none() && (k.dtype() != q.dtype() || v.dtype() != q.dtype()) {
            bail!(
                DType,
                "scaled_dot_product_attention expects query, key and value of one dtype, got {}, {} and {}",
                q.dtype(),
                k.dtype(),
                v.dtype()
            );
        }
        if !(0.0..1.0).contains(&args.dropout_p) {
            bail!(Value, "dropout_p must be in [0, 1), got {}", args.dropout_p);
        }
        if args.causal && args.mask.is_some() {
            bail!(
                Value,
                "scaled_dot_product_attention: pass attn_mask or is_causal, not both"
            );
        }
        q.check_same_device(k)?;
        q.check_same_device(v)?;
        let mut sp = spec_of(q, k, v, args.enable_gqa)?;
        sp.scale = args.scale.unwrap_or(1.0 / (sp.e.max(1) as f64).sqrt());
        sp.causal = args.causal;
        sp.dropout_p = args.dropout_p;
        if sp.dropout_p > 0.0 {
            sp.seed = crate::rng::with_rng(|r| r.next_u64());
        }
        let dt = kernel_dtype(q, k, v);
        let mask = match args.mask {
            Some(m) => {
                q.check_same_device(m)?;
                let (m, strides) = kernel_mask(m, q, &sp, mask_dtype(dt))?;
                sp.mask_strides = strides;
                Some(m)
            }
            None => None,
        };
        let (q4, k4, v4) = (
            four_dims(q, sp.b, dt)?,
            four_dims(k, sp.b, dt)?,
            four_dims(v, sp.b, dt)?,
        );
        let (out, lse) = backend::of(q).attention_forward([&q4, &k4, &v4], mask.as_ref(), &sp)?;
        let mut out_shape: Vec<isize> = q.shape().iter().map(|&d| d as isize).collect();
        *out_shape.last_mut().expect("rank >= 2") = sp.ev as isize;
        let saved = [
            Saved::new_as(&q4, q)?,
            Saved::new_as(&k4, k)?,
            Saved::new_as(&v4, v)?,
            Saved::new(&out)?,
        ];
        let shapes = [q.shape().to_vec(), k.shape().to_vec(), v.shape().to_vec()];
        let dtypes = [q.dtype(), k.dtype(), v.dtype()];
        // Back to the caller's dtype (a no-op when the kernel already ran in it).
        let result = out.reshape(&out_shape)?.to_dtype(out_dt)?;
        Ok(record_differentiable(
            result,
            "ScaledDotProductFlashAttentionBackward",
            &[q, k, v],
            move |g| {
                if crate::autograd::is_grad_enabled() {
                    let qkv = [&saved[0], &saved[1], &saved[2]].map(Saved::get_graph);
                    let [q4, k4, v4] = qkv;
                    let g =
                        g.reshape(&[sp.b as isize, sp.hq as isize, sp.l as isize, sp.ev as isize])?;
                    let composite = |t: &[Tensor]| composite_attention(t, mask.as_ref(), &sp);
                    let grads = grads_by_recompute(&[q4?, k4?, v4?], &g, composite)?;
                    let mut res = Vec::with_capacity(3);
                    for ((grad, shape), want) in grads.into_iter().zip(&shapes).zip(dtypes) {
                        let shape: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
                        res.push(
                            grad.map(|t| t.reshape(&shape)?.to_dtype(want))
                                .transpose()?,
                        );
                    }
                    return Ok(res);
                }
                let [q4, k4, v4, out] =
                    [&saved[0], &saved[1], &saved[2], &saved[3]].map(Saved::get);
                let (q4, k4, v4, out) = (q4?, k4?, v4?, out?);
                let g = kernel_operand(
                    &g.reshape(&[sp.b as isize, sp.hq as isize, sp.l as isize, sp.ev as isize])?,
                    dt,
                )?;
                let saved = AttentionSaved {
                    qkv: [q4, k4, v4],
                    out,
                    lse: &lse,
                    mask: mask.as_ref(),
                };
                let grads = if sp.ev == 0 {
                    // Values without features: the output is empty, so nothing flows back
                    // (the kernels would index rows of no width).
                    let [q, k, v] = saved.qkv;
                    [q.zeros_like()?, k.zeros_like()?, v.zeros_like()?]
                } else {
                    backend::of(&g).attention_backward(saved, &g, &sp)?
                };
                let mut res = Vec::with_capacity(3);
                for ((grad, shape), want) in grads.into_iter().zip(&shapes).zip(dtypes) {
                    let shape: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
                    res.push(Some(grad.reshape(&shape)?.to_dtype(want)?));
                }
                Ok(res)
            },
        ))
    }
}

/// The attention in recorded ops over the kernels' four-dimensional operands (`[b, h, n, d]`),
/// for a backward that builds a graph (`create_graph=True`): it materialises the scores, which
/// only higher-order gradients pay for.
fn composite_attention(
    qkv: &[Tensor],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<Tensor> {
    if sp.dropout_p > 0.0 {
        bail!(
            Autograd,
            "create_graph=True through scaled_dot_product_attention with dropout_p > 0 is not \
             supported; use dropout_p=0 for higher-order gradients"
        );
    }
    let (q, mut k, mut v) = (qkv[0].clone(), qkv[1].clone(), qkv[2].clone());
    if sp.hq != sp.hk {
        // Grouped-query attention: each key/value head serves `group` query heads.
        let grp = sp.group();
        let widen = |t: &Tensor, d: usize| -> Result<Tensor> {
            t.unsqueeze(2)?
                .expand(&[sp.b, sp.hk, grp, sp.s, d])?
                .reshape(&[sp.b as isize, sp.hq as isize, sp.s as isize, d as isize])
        };
        k = widen(&k, sp.e)?;
        v = widen(&v, sp.ev)?;
    }
    let mut scores = q.matmul(&k.transpose(-1, -2)?)?.mul_scalar(sp.scale)?;
    if let Some(m) = mask {
        scores = scores.add(&m.to_dtype(scores.dtype())?)?;
    }
    if sp.causal {
        let tri: Vec<f64> = (0..sp.l * sp.s)
            .map(|ij| {
                if ij % sp.s > ij / sp.s {
                    f64::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let tri = Tensor::from_vec(tri, &[sp.l, sp.s])?
            .to_dtype(scores.dtype())?
            .to_device(scores.device())?;
        scores = scores.add(&tri)?;
    }
    scores.softmax(-1)?.matmul(&v)
}
