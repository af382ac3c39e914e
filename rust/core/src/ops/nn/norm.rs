//! Layer and batch normalisation: argument checks, dispatch to the backend's fused forward and
//! backward primitives (`cpu/norm.rs`, `cuda/ops/nn.rs`), and the one place their backward is
//! recorded, with saved-tensor version checks on every backend.

use crate::autograd::{record, Saved};
use crate::backend::{self, NormForward, NormGrads, NormSaved, RunningStats};
use crate::{bail, DType, Result, Tensor};

/// A normalisation's forward state kept for its backward: the input and weight behind version
/// checks (an in-place change after forward raises instead of giving a wrong gradient).
struct SavedNorm {
    x: Saved,
    weight: Option<Saved>,
    mean: Tensor,
    rstd: Tensor,
}

impl SavedNorm {
    fn new(fw: &NormForward, weight: Option<&Tensor>) -> Self {
        SavedNorm {
            x: Saved::new(&fw.x),
            weight: weight.map(Saved::new),
            mean: fw.mean.clone(),
            rstd: fw.rstd.clone(),
        }
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
        let fw = backend::of(self).layer_norm_forward(self, d, weight, bias, eps)?;
        let nshape: Vec<isize> = normalized_shape.iter().map(|&v| v as isize).collect();
        let saved = SavedNorm::new(&fw, weight);
        let (dtypes, needs) = (
            NormDtypes::of(self, weight, bias),
            (weight.is_some(), bias.is_some()),
        );
        Ok(record(
            fw.y,
            "NativeLayerNormBackward",
            &norm_inputs(self, weight, bias),
            move |g| {
                let grads =
                    backend::of(g).layer_norm_backward(saved.get()?, g, d, needs.0, needs.1)?;
                dtypes.finish(grads, &nshape)
            },
        ))
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
        let running = RunningStats {
            mean: running_mean,
            var: running_var,
            momentum,
        };
        let fw =
            backend::of(self).batch_norm_forward(self, running, weight, bias, training, eps)?;
        let saved = SavedNorm::new(&fw, weight);
        let (dtypes, needs) = (
            NormDtypes::of(self, weight, bias),
            (weight.is_some(), bias.is_some()),
        );
        let cshape = [c as isize];
        Ok(record(
            fw.y,
            "NativeBatchNormBackward",
            &norm_inputs(self, weight, bias),
            move |g| {
                let grads = backend::of(g).batch_norm_backward(
                    saved.get()?,
                    g,
                    training,
                    needs.0,
                    needs.1,
                )?;
                dtypes.finish(grads, &cshape)
            },
        ))
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
    if training && count <= 1 {
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
