//! Layer and batch normalisation: argument checks, dispatch to the backend's fused forward and
//! backward primitives (`cpu/norm.rs`, `cuda/ops/nn.rs`), and the one place their backward is
//! recorded, with saved-tensor version checks on every backend.

use crate::autograd::{grads_by_recompute, record_differentiable, Saved};
use crate::backend::{self, BatchNormArgs, NormForward, NormGrads, NormSaved, RunningStats};
use crate::{bail, DType, Result, Tensor};

/// A normalisation's forward state kept for its backward: the input and weight behind version
/// checks (an in-place change after forward raises instead of giving a wrong gradient).
struct SavedNorm {
    x: Saved,
    weight: Option<Saved>,
    /// Only read when a backward builds a graph (the composite forward takes it as an input).
    bias: Option<Saved>,
    mean: Tensor,
    rstd: Tensor,
}

impl SavedNorm {
    fn new(
        fw: &NormForward,
        x: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
    ) -> Result<Self> {
        Ok(SavedNorm {
            x: Saved::new_as(&fw.x, x)?,
            // Saved as aliases (`new_as`), so a graph-building backward differentiates the
            // recomputed forward against each use alone: a bias computed from the weight
            // (`w * 0.5`) must not send its share to the weight a second time.
            weight: weight.map(|w| Saved::new_as(w, w)).transpose()?,
            bias: bias.map(|b| Saved::new_as(b, b)).transpose()?,
            mean: fw.mean.clone(),
            rstd: fw.rstd.clone(),
        })
    }

    /// The inputs with their histories, in the backward's order (`create_graph=True`).
    fn inputs_with_graph(&self) -> Result<Vec<Tensor>> {
        let mut v = vec![self.x.get_graph()?];
        for s in [&self.weight, &self.bias].into_iter().flatten() {
            v.push(s.get_graph()?);
        }
        Ok(v)
    }

    fn get(&self) -> Result<NormSaved<'_>> {
        Ok(NormSaved {
            x: self.x.get()?,
            weight: self.weight.as_ref().map(Saved::get).transpose()?,
            mean: &self.mean,
            rstd: &self.rstd,
        })
    }
}

/// The dtypes the gradients are returned in: each input's own.
struct NormDtypes {
    x: DType,
    weight: Option<DType>,
    bias: Option<DType>,
}

impl NormDtypes {
    fn of(x: &Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>) -> Self {
        NormDtypes {
            x: x.dtype(),
            weight: weight.map(Tensor::dtype),
            bias: bias.map(Tensor::dtype),
        }
    }

    /// The backend's gradients in the inputs' dtypes, `dw`/`db` in the affine shape.
    fn finish(&self, g: NormGrads, affine_shape: &[isize]) -> Result<Vec<Option<Tensor>>> {
        let mut out = vec![Some(g.dx.to_dtype(self.x)?)];
        for (grad, dt) in [(g.dw, self.weight), (g.db, self.bias)] {
            if let (Some(grad), Some(dt)) = (grad, dt) {
                out.push(Some(grad.reshape(affine_shape)?.to_dtype(dt)?));
            }
        }
        Ok(out)
    }
}

/// The tensors a normalisation is differentiated with respect to, in the backward's order.
fn norm_inputs<'a>(x: &'a Tensor, w: Option<&'a Tensor>, b: Option<&'a Tensor>) -> Vec<&'a Tensor> {
    let mut inputs = vec![x];
    inputs.extend(w);
    inputs.extend(b);
    inputs
}

/// Records a fused normalisation's output `fw.y` with its one backward: the backend's closed
/// form (`fused`, over the version-checked saved tensors), or, when the backward builds a graph
/// (double backward), the forward recomputed through composite ops that have derivatives of
/// their own (`composite`, over the inputs with their histories).
fn record_norm<C, F>(
    fw: NormForward,
    name: &'static str,
    (x, weight, bias): (&Tensor, Option<&Tensor>, Option<&Tensor>),
    affine_shape: Vec<isize>,
    composite: C,
    fused: F,
) -> Result<Tensor>
where
    C: Fn(&[Tensor], &SavedNorm) -> Result<Tensor> + Send + Sync + 'static,
    F: Fn(NormSaved<'_>, &Tensor) -> Result<NormGrads> + Send + Sync + 'static,
{
    let saved = SavedNorm::new(&fw, x, weight, bias)?;
    let dtypes = NormDtypes::of(x, weight, bias);
    Ok(record_differentiable(
        fw.y,
        name,
        &norm_inputs(x, weight, bias),
        move |g| {
            if crate::autograd::is_grad_enabled() {
                return grads_by_recompute(&saved.inputs_with_graph()?, g, |t| {
                    composite(t, &saved)
                });
            }
            dtypes.finish(fused(saved.get()?, g)?, &affine_shape)
        },
    ))
}

impl Tensor {
    /// Normalises over the trailing `normalized_ndim` dims, then applies `weight`/`bias`.
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if let Some(y) =
            crate::amp::in_f32(self, |x| x.layer_norm(normalized_shape, weight, bias, eps))
        {
            return y;
        }
        let k = normalized_shape.len();
        if k == 0 || k > self.ndim() || &self.shape()[self.ndim() - k..] != normalized_shape {
            bail!(
                Shape,
                "layer_norm: normalized_shape {:?} does not match the trailing dims of input {:?}",
                normalized_shape,
                self.shape()
            );
        }
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                if t.shape() != normalized_shape {
                    bail!(
                        Shape,
                        "layer_norm: {name} shape {:?} must equal normalized_shape {:?}",
                        t.shape(),
                        normalized_shape
                    );
                }
            }
        }
        self.check_float("layer_norm expects a floating point input")?;
        let d: usize = normalized_shape.iter().product();
        let fw = backend::of(self).layer_norm_forward(self, d, 1, weight, bias, eps)?;
        let nshape: Vec<isize> = normalized_shape.iter().map(|&v| v as isize).collect();
        let needs = (weight.is_some(), bias.is_some());
        let k = normalized_shape.len();
        record_norm(
            fw,
            "NativeLayerNormBackward",
            (self, weight, bias),
            nshape,
            move |t, _| {
                let n = t[0].ndim();
                let dims: Vec<isize> = (n - k..n).map(|d| d as isize).collect();
                let y = normalized(&t[0], &dims, eps)?;
                affine(y, &t[1..], needs, |p| Ok(p.clone()))
            },
            move |saved, g| backend::of(g).layer_norm_backward(saved, g, d, 1, needs.0, needs.1),
        )
    }

    /// Group normalisation of `[N, C, *]`: each of a sample's `groups` channel groups
    /// normalised by its own mean and biased variance, then the per-channel `weight`/`bias`
    /// (`[C]`). Each group is a layer-norm row whose affine parameters are the channels'
    /// spread over their positions (`period` = `groups`), so the affine costs no passes of
    /// its own in the forward or the backward.
    pub fn group_norm(
        &self,
        groups: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| x.group_norm(groups, weight, bias, eps)) {
            return y;
        }
        if self.ndim() < 2 {
            bail!(
                Shape,
                "group_norm expects an input of at least 2 dims, got shape {:?}",
                self.shape()
            );
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        if groups == 0 || c % groups != 0 {
            bail!(
                Shape,
                "group_norm: the {c} channels of input {:?} do not split into {groups} groups",
                self.shape()
            );
        }
        let unit = format!("channels of input {:?}", self.shape());
        for (name, t) in [("weight", weight), ("bias", bias)] {
            crate::ops::check_vector(t, &format!("group_norm: {name}"), c, &unit)?;
        }
        self.check_float("group_norm expects a floating point input")?;
        let hw: usize = self.shape()[2..].iter().product();
        let rows = GroupRows { n, c, hw, groups };
        let (ws, bs) = (spread(weight, hw)?, spread(bias, hw)?);
        let (w, b) = (ws.as_ref(), bs.as_ref());
        let fw = backend::of(self).layer_norm_forward(self, rows.d(), groups, w, b, eps)?;
        let needs = (weight.is_some(), bias.is_some());
        let composite = move |t: &[Tensor], _: &SavedNorm| rows.composite(t, needs, eps);
        let fused = move |saved: NormSaved<'_>, g: &Tensor| rows.grads(saved, g, needs);
        let inputs = (self, weight, bias);
        record_norm(
            fw,
            "NativeGroupNormBackward",
            inputs,
            vec![c as isize],
            composite,
            fused,
        )
    }

    /// Batch normalisation over `[N, C, ...]`. In training mode batch statistics are used and the
    /// running statistics (if given) are updated in place with the unbiased variance and
    /// `momentum`; in eval mode the running statistics are used.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| {
            x.batch_norm(
                running_mean,
                running_var,
                weight,
                bias,
                training,
                momentum,
                eps,
            )
        }) {
            return y;
        }
        check_batch_norm(self, [running_mean, running_var, weight, bias], training)?;
        let c = self.shape()[1];
        if self.numel() == 0 {
            // An empty batch (PyTorch's too): an empty output, the running statistics left
            // as they are, and zero gradients for the affine parameters.
            let mut bshape = vec![1isize; self.ndim()];
            bshape[1] = c as isize;
            let params: Vec<Tensor> = [weight, bias].into_iter().flatten().cloned().collect();
            return affine(
                self.mul_scalar(1.0)?,
                &params,
                (weight.is_some(), bias.is_some()),
                |p| p.reshape(&bshape),
            );
        }
        let args = BatchNormArgs {
            running: RunningStats {
                mean: running_mean,
                var: running_var,
                momentum,
            },
            weight,
            bias,
            training,
            eps,
        };
        let fw = backend::of(self).batch_norm_forward(self, args)?;
        let needs = (weight.is_some(), bias.is_some());
        record_norm(
            fw,
            "NativeBatchNormBackward",
            (self, weight, bias),
            vec![c as isize],
            move |t, saved| {
                let x = &t[0];
                // Per-channel tensors broadcast as [1, C, 1, ...].
                let mut bshape = vec![1isize; x.ndim()];
                bshape[1] = c as isize;
                let per_channel = |p: &Tensor| p.reshape(&bshape);
                let y = if training {
                    let dims: Vec<isize> = (0..x.ndim() as isize).filter(|&d| d != 1).collect();
                    normalized(x, &dims, eps)?
                } else {
                    // The running statistics are constants.
                    let (mean, rstd) = (per_channel(&saved.mean)?, per_channel(&saved.rstd)?);
                    x.sub(&mean)?.mul(&rstd)?
                };
                affine(y, &t[1..], needs, per_channel)
            },
            move |saved, g| {
                backend::of(g).batch_norm_backward(saved, g, training, needs.0, needs.1)
            },
        )
    }
}

/// Batch norm's argument checks: a floating `[N, C, ...]` input, per-channel tensors
/// (running mean and variance, weight, bias) of shape `[C]`, more than one value per channel
/// in training mode and the running statistics in eval mode.
fn check_batch_norm(x: &Tensor, per_channel: [Option<&Tensor>; 4], training: bool) -> Result<()> {
    if x.ndim() < 2 {
        bail!(
            Shape,
            "batch_norm expects input [N, C, ...], got {:?}",
            x.shape()
        );
    }
    x.check_float("batch_norm expects a floating point input")?;
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let inner: usize = x.shape()[2..].iter().product();
    let names = ["running_mean", "running_var", "weight", "bias"];
    let unit = format!("channels of input {:?}", x.shape());
    for (name, t) in names.into_iter().zip(per_channel) {
        crate::ops::check_vector(t, &format!("batch_norm: {name}"), c, &unit)?;
    }
    let count = n * inner;
    if training && count == 1 {
        bail!(
            Value,
            "expected more than 1 value per channel when training, got input size {:?}",
            x.shape()
        );
    }
    if !training && (per_channel[0].is_none() || per_channel[1].is_none()) {
        bail!(
            Value,
            "batch_norm in eval mode needs running_mean and running_var"
        );
    }
    Ok(())
}

/// A group norm's shape: `n` samples of `c` channels of `hw` positions in `groups` groups (one
/// layer-norm row of `c / groups * hw` values each).
#[derive(Clone, Copy)]
struct GroupRows {
    n: usize,
    c: usize,
    hw: usize,
    groups: usize,
}

impl GroupRows {
    fn d(self) -> usize {
        self.c / self.groups * self.hw
    }

    /// The forward in recorded ops, for a backward that builds a graph.
    fn composite(self, t: &[Tensor], needs: (bool, bool), eps: f64) -> Result<Tensor> {
        let x = &t[0];
        let rows = x.reshape(&[self.n as isize, self.groups as isize, self.d() as isize])?;
        let shape: Vec<isize> = x.shape().iter().map(|&v| v as isize).collect();
        let y = normalized(&rows, &[-1], eps)?.reshape(&shape)?;
        let mut bshape = vec![1isize; x.ndim()];
        bshape[1] = self.c as isize;
        affine(y, &t[1..], needs, |p| p.reshape(&bshape))
    }

    /// The fused backward: the layer-norm rows' with the weight spread again, each position's
    /// share of the affine gradients summed into its channel's (half-precision shares widened
    /// first: a channel sums N * HW of them).
    fn grads(self, saved: NormSaved<'_>, g: &Tensor, needs: (bool, bool)) -> Result<NormGrads> {
        let w = spread(saved.weight, self.hw)?;
        let rows = NormSaved {
            weight: w.as_ref(),
            ..saved
        };
        let be = backend::of(g);
        let grads = be.layer_norm_backward(rows, g, self.d(), self.groups, needs.0, needs.1)?;
        let per_channel = |t: Option<Tensor>| {
            t.map(|t| {
                let t = match t.dtype() {
                    DType::F16 | DType::BF16 => t.to_dtype(DType::F32)?,
                    _ => t,
                };
                t.reshape(&[self.c as isize, self.hw as isize])?
                    .sum(Some(&[-1]), false)
            })
            .transpose()
        };
        Ok(NormGrads {
            dx: grads.dx,
            dw: per_channel(grads.dw)?,
            db: per_channel(grads.db)?,
        })
    }
}

/// A per-channel parameter `[C]` spread over each channel's `hw` positions (`[C * hw]`, no
/// autograd): the affine rows of a group norm's layer-norm kernels.
fn spread(p: Option<&Tensor>, hw: usize) -> Result<Option<Tensor>> {
    p.map(|p| {
        let c = p.numel();
        p.detach()
            .reshape(&[c as isize, 1])?
            .expand(&[c, hw])?
            .contiguous()?
            .reshape(&[(c * hw) as isize])
    })
    .transpose()
}

/// `(x - mean) / sqrt(var + eps)` over `dims` (biased variance) in recorded ops: the
/// normalisations' forward as a backward that builds a graph recomputes it.
fn normalized(x: &Tensor, dims: &[isize], eps: f64) -> Result<Tensor> {
    let centered = x.sub(&x.mean(Some(dims), true)?)?;
    let var = centered.mul(&centered)?.mean(Some(dims), true)?;
    centered.mul(&var.add_scalar(eps)?.rsqrt()?)
}

/// `y * weight + bias` with whichever of the two `needs` says are present (`params` holds
/// them in that order), each shaped by `shape` to broadcast.
fn affine(
    y: Tensor,
    params: &[Tensor],
    needs: (bool, bool),
    shape: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut it = params.iter();
    let y = match (needs.0, it.clone().next()) {
        (true, Some(w)) => {
            it.next();
            y.mul(&shape(w)?)?
        }
        _ => y,
    };
    match (needs.1, it.next()) {
        (true, Some(b)) => y.add(&shape(b)?),
        _ => Ok(y),
    }
}
