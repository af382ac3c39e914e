//! Fused neural-network ops behind `democratising.nn.functional`.

use crate::errors::ResultExt;
use crate::tensor::PyTensor;
use crate::util::{run, wrap};
use democratising::ops::nn::conv::Conv2dSpec;
use democratising::ops::nn::conv_transpose::ConvTranspose2dSpec;
use democratising::ops::nn::loss::Reduction;
use democratising::ops::nn::pool::Pool2dSpec;
use democratising::Tensor;
use pyo3::prelude::*;

/// A geometry argument (`stride`, `padding`, ...) checked against its minimum, so a negative
/// value is a typed error naming it instead of PyO3's "can't convert negative int to unsigned".
fn geom(op: &str, name: &str, v: (isize, isize), min: isize) -> PyResult<(usize, usize)> {
    if v.0 < min || v.1 < min {
        return Err(crate::errors::to_pyerr(democratising::Error::Value(
            format!("{op}: {name} must be >= {min}, got {v:?}"),
        )));
    }
    Ok((v.0 as usize, v.1 as usize))
}

fn opt(t: &Option<PyRef<'_, PyTensor>>) -> Option<Tensor> {
    t.as_ref().map(|t| t.tensor())
}

#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, dilation, groups))]
#[allow(clippy::too_many_arguments)]
pub fn _conv2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: (isize, isize),
    padding: (isize, isize),
    dilation: (isize, isize),
    groups: isize,
) -> PyResult<PyTensor> {
    let (x, w, b) = (&input.tensor(), &weight.tensor(), opt(&bias));
    let spec = conv_spec("conv2d", [stride, padding, dilation], groups)?;
    run(py, conv_work(x, w), || x.conv2d(w, b.as_ref(), spec)).map(wrap)
}

/// A convolution's options from `[stride, padding, dilation]` and `groups`, each checked.
fn conv_spec(
    op: &str,
    [stride, padding, dilation]: [(isize, isize); 3],
    groups: isize,
) -> PyResult<Conv2dSpec> {
    Ok(Conv2dSpec {
        stride: geom(op, "stride", stride, 1)?,
        padding: geom(op, "padding", padding, 0)?,
        dilation: geom(op, "dilation", dilation, 1)?,
        groups: geom(op, "groups", (groups, groups), 1)?.0,
    })
}

/// The multiply-adds of a convolution of `x` by `w`, for the GIL decision.
fn conv_work(x: &Tensor, w: &Tensor) -> usize {
    x.numel() * w.numel() / w.shape().first().copied().unwrap_or(1).max(1)
}

/// PyTorch's `conv_transpose2d` (weight `[C_in, C_out/groups, kH, kW]`).
#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, output_padding, groups, dilation))]
#[allow(clippy::too_many_arguments)]
pub fn _conv_transpose2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: (isize, isize),
    padding: (isize, isize),
    output_padding: (isize, isize),
    groups: isize,
    dilation: (isize, isize),
) -> PyResult<PyTensor> {
    let (x, w, b) = (&input.tensor(), &weight.tensor(), opt(&bias));
    let op = "conv_transpose2d";
    let spec = ConvTranspose2dSpec {
        conv: conv_spec(op, [stride, padding, dilation], groups)?,
        output_padding: geom(op, "output_padding", output_padding, 0)?,
    };
    run(py, conv_work(x, w), || {
        x.conv_transpose2d(w, b.as_ref(), spec)
    })
    .map(wrap)
}

/// A pooling window from `[kernel, stride, padding, dilation]` (each checked: positive,
/// padding non-negative).
fn pool_spec(
    op: &str,
    [kernel, stride, padding, dilation]: [(isize, isize); 4],
    ceil_mode: bool,
    count_include_pad: bool,
) -> PyResult<Pool2dSpec> {
    Ok(Pool2dSpec {
        kernel: geom(op, "kernel_size", kernel, 1)?,
        stride: geom(op, "stride", stride, 1)?,
        padding: geom(op, "padding", padding, 0)?,
        dilation: geom(op, "dilation", dilation, 1)?,
        ceil_mode,
        count_include_pad,
    })
}

#[pyfunction]
#[pyo3(signature = (input, kernel, stride, padding, dilation, ceil_mode))]
pub fn _max_pool2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kernel: (isize, isize),
    stride: (isize, isize),
    padding: (isize, isize),
    dilation: (isize, isize),
    ceil_mode: bool,
) -> PyResult<PyTensor> {
    let window = [kernel, stride, padding, dilation];
    let spec = pool_spec("max_pool2d", window, ceil_mode, true)?;
    let x = &input.tensor();
    run(py, x.numel(), || x.max_pool2d(spec)).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (input, kernel, stride, padding, ceil_mode, count_include_pad))]
pub fn _avg_pool2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kernel: (isize, isize),
    stride: (isize, isize),
    padding: (isize, isize),
    ceil_mode: bool,
    count_include_pad: bool,
) -> PyResult<PyTensor> {
    let window = [kernel, stride, padding, (1, 1)];
    let spec = pool_spec("avg_pool2d", window, ceil_mode, count_include_pad)?;
    let x = &input.tensor();
    run(py, x.numel(), || x.avg_pool2d(spec)).map(wrap)
}

#[pyfunction]
pub fn _adaptive_avg_pool2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    output_size: (isize, isize),
) -> PyResult<PyTensor> {
    let output_size = geom("adaptive_avg_pool2d", "output_size", output_size, 1)?;
    let x = &input.tensor();
    run(py, x.numel(), || x.adaptive_avg_pool2d(output_size)).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight=None, bias=None, eps=1e-5))]
pub fn _layer_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    normalized_shape: Vec<usize>,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    eps: f64,
) -> PyResult<PyTensor> {
    normalise(py, &input, [&weight, &bias], |x, w, b| {
        x.layer_norm(&normalized_shape, w, b, eps)
    })
}

/// `F.group_norm` after its argument checks: the engine's fused group norm.
#[pyfunction]
#[pyo3(signature = (input, num_groups, weight=None, bias=None, eps=1e-5))]
pub fn _group_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    num_groups: usize,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    eps: f64,
) -> PyResult<PyTensor> {
    normalise(py, &input, [&weight, &bias], |x, w, b| {
        x.group_norm(num_groups, w, b, eps)
    })
}

/// A normalisation `f(input, weight, bias)` run with the GIL released.
fn normalise(
    py: Python<'_>,
    input: &PyTensor,
    [weight, bias]: [&Option<PyRef<'_, PyTensor>>; 2],
    f: impl FnOnce(&Tensor, Option<&Tensor>, Option<&Tensor>) -> democratising::Result<Tensor> + Send,
) -> PyResult<PyTensor> {
    let (x, w, b) = (&input.tensor(), opt(weight), opt(bias));
    run(py, x.numel(), || f(x, w.as_ref(), b.as_ref())).map(wrap)
}

/// The fused `F.scaled_dot_product_attention` (flash attention; no `[L, S]` matrix).
#[pyfunction]
#[pyo3(signature = (query, key, value, attn_mask=None, dropout_p=0.0, is_causal=false, scale=None, enable_gqa=false))]
#[allow(clippy::too_many_arguments)]
pub fn _scaled_dot_product_attention(
    py: Python<'_>,
    query: PyRef<'_, PyTensor>,
    key: PyRef<'_, PyTensor>,
    value: PyRef<'_, PyTensor>,
    attn_mask: Option<PyRef<'_, PyTensor>>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
    enable_gqa: bool,
) -> PyResult<PyTensor> {
    let (q, k, v, mask) = (
        &query.tensor(),
        &key.tensor(),
        &value.tensor(),
        opt(&attn_mask),
    );
    let work = q.numel().saturating_mul(k.numel());
    run(py, work, || {
        let args = democratising::ops::nn::attention::AttentionArgs {
            mask: mask.as_ref(),
            dropout_p,
            causal: is_causal,
            scale,
            enable_gqa,
        };
        q.scaled_dot_product_attention(k, v, &args)
    })
    .map(wrap)
}

/// One layer and direction of `nn.RNN`/`LSTM`/`GRU` as one op: the recurrence over the input
/// projection `gi` `[T, N, G*H]`, packed as `[T + s, N, H]` (outputs, final `h`, final `c`).
#[pyfunction]
#[pyo3(signature = (gi, h0, c0, w_hh, b_hh, mode, reverse=false))]
#[allow(clippy::too_many_arguments)]
pub fn _rnn_sequence(
    py: Python<'_>,
    gi: PyRef<'_, PyTensor>,
    h0: PyRef<'_, PyTensor>,
    c0: Option<PyRef<'_, PyTensor>>,
    w_hh: PyRef<'_, PyTensor>,
    b_hh: Option<PyRef<'_, PyTensor>>,
    mode: &str,
    reverse: bool,
) -> PyResult<PyTensor> {
    use democratising::ops::nn::rnn::{RnnArgs, RnnMode};
    let (x, h, c, w, b) = (
        &gi.tensor(),
        &h0.tensor(),
        opt(&c0),
        &w_hh.tensor(),
        opt(&b_hh),
    );
    let mode = RnnMode::parse(mode).py()?;
    let work = x
        .numel()
        .saturating_mul(h.shape().get(1).copied().unwrap_or(1));
    run(py, work, || {
        let args = RnnArgs {
            h0: h,
            c0: c.as_ref(),
            w_hh: w,
            b_hh: b.as_ref(),
            mode,
            reverse,
        };
        x.rnn_sequence(&args)
    })
    .map(wrap)
}

#[pyfunction]
#[pyo3(signature = (input, running_mean, running_var, weight, bias, training, momentum, eps))]
#[allow(clippy::too_many_arguments)]
pub fn _batch_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    running_mean: Option<PyRef<'_, PyTensor>>,
    running_var: Option<PyRef<'_, PyTensor>>,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> PyResult<PyTensor> {
    let x = &input.tensor();
    let (rm, rv, w, b) = (
        opt(&running_mean),
        opt(&running_var),
        opt(&weight),
        opt(&bias),
    );
    run(py, x.numel(), || {
        x.batch_norm(
            rm.as_ref(),
            rv.as_ref(),
            w.as_ref(),
            b.as_ref(),
            training,
            momentum,
            eps,
        )
    })
    .map(wrap)
}

/// The losses over class indices of `[N, C]` scores (other shapes take the Python
/// composites): softmax cross-entropy of logits, or with `log_probs` the negative
/// log-likelihood of log-probabilities (`nll_loss`, no label smoothing).
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, log_probs=false))]
#[allow(clippy::too_many_arguments)]
pub fn _cross_entropy(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    ignore_index: i64,
    reduction: &str,
    label_smoothing: f64,
    log_probs: bool,
) -> PyResult<PyTensor> {
    let red = reduction_of(reduction)?;
    let (x, t, w) = (&input.tensor(), &target.tensor(), opt(&weight));
    run(py, x.numel(), || match log_probs {
        true if label_smoothing != 0.0 => Err(democratising::Error::Value(
            "nll_loss takes no label smoothing".into(),
        )),
        true => x.nll_loss(t, w.as_ref(), ignore_index, red),
        false => x.cross_entropy(t, w.as_ref(), ignore_index, red, label_smoothing),
    })
    .map(wrap)
}

fn reduction_of(reduction: &str) -> PyResult<Reduction> {
    match reduction {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        other => Err(crate::errors::value_error(format!(
            "reduction must be 'mean', 'sum' or 'none', got {other:?}"
        ))),
    }
}
