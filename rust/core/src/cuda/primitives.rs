//! The CUDA device as a `backend::Backend`: the interface's free functions, most of them the
//! host code of the kernels in `cuda/ops/` re-exported under the interface's names, a few
//! adapters defined here; the `Backend` implementation is generated from them.

use super::ops::reduce::RowOp;
use super::ops::{align_device, elementwise};
use crate::backend::{backend_interface, delegate_backend};
use crate::layout::broadcast_shapes;
use crate::ops::binary::BinaryOp;
use crate::ops::copy::cast_raw;
use crate::ops::nn::loss::{CrossEntropySpec, Reduction};
use crate::ops::reduce::Kind;
use crate::ops::unary::UnaryOp;
use crate::{DType, Device, Result, Tensor};

pub(crate) use super::ops::attention::{attention_backward, attention_forward};
pub(crate) use super::ops::elementwise::unary_backward;
pub(crate) use super::ops::index::{gather, index, index_put, scatter};
pub(crate) use super::ops::matmul::matmul;
pub(crate) use super::ops::nn::{
    avg_pool2d_backward, avg_pool2d_forward, batch_norm_backward, batch_norm_forward,
    conv2d_backward, conv2d_forward, dropout_backward, dropout_forward, layer_norm_backward,
    layer_norm_forward, max_pool2d_backward, max_pool2d_forward,
};
pub(crate) use super::ops::optim::unscale_and_check;
pub(crate) use super::ops::optim::{
    adagrad_step as adagrad_step_one, adam_step, optim_rule_step, rmsprop_step as rmsprop_step_one,
};
pub(crate) use super::ops::reduce::{
    arg_reduce, reduce_int, scan, softmax_backward_rows, softmax_rows,
};
pub(crate) use super::ops::rnn::{
    rnn_sequence_backward, rnn_sequence_forward, rnn_step_backward, rnn_step_forward,
};
pub(crate) use super::ops::{cast, fill, to_device, write_into};

/// CUDA memory as a `Backend` (`backend::of` returns it for device tensors).
pub struct Cuda;

backend_interface!(delegate_backend!(Cuda));

/// Declined: a device tensor's in-place update runs the binary kernel out of place and writes
/// the result back (`Tensor::assign_`).
pub(crate) fn binary_inplace(_: &Tensor, _: &Tensor, _: BinaryOp, _: f64) -> Result<bool> {
    Ok(false)
}

/// `x @ weight.T` through cuBLAS (the transposed view costs no copy), plus the bias.
pub(crate) fn linear_forward(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (rows, in_f, out_f) = (x.shape()[0], x.shape()[1], weight.shape()[0]);
    let y = matmul(x, &weight.t()?, &[], (rows, out_f, in_f), x.dtype())?;
    match bias {
        Some(b) => binary(BinaryOp::Add, &y, b, y.dtype()),
        None => Ok(y),
    }
}

/// The per-row losses and target weights come from one kernel and the reduction stays on the
/// device; the backward re-reads the logits (no `[n, c]` softmax kept). Logits `[n, c, s]`
/// are copied to rows first and saved as `[n, s, c]`, which tells the backward the blocks.
pub(crate) fn cross_entropy_forward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    spec: &CrossEntropySpec,
) -> Result<(Tensor, Vec<Tensor>)> {
    use super::ops::reduce::cross_entropy_rows;
    if let &[n, c, s] = x.shape() {
        let blocks = cast_raw(&x.permute(&[0, 2, 1])?, x.dtype())?;
        let rows = blocks.reshape(&[(n * s) as isize, c as isize])?;
        let (out, mut saved) = cross_entropy_forward(&rows, &target.reshape(&[-1])?, weight, spec)?;
        saved[0] = blocks;
        let out = match spec.reduction {
            Reduction::None => out.reshape(&[n as isize, s as isize])?,
            _ => out,
        };
        return Ok((out, saved));
    }
    let (losses, row_w) = cross_entropy_rows(x, target, weight, spec.ignore_index, spec.smoothing)?;
    let total = |t: &Tensor| reduce(Kind::Sum, t, &[0], &[]);
    Ok(match spec.reduction {
        Reduction::None => (losses, vec![x.clone()]),
        Reduction::Sum => (total(&losses)?, vec![x.clone()]),
        Reduction::Mean => {
            let denom = total(&row_w)?;
            let out = binary(BinaryOp::Div, &total(&losses)?, &denom, x.dtype())?;
            (out, vec![x.clone(), denom])
        }
    })
}

/// The backward kernel takes the upstream gradient as a device scalar (or one per row).
/// `log_softmax` of the logits the forward saved.
pub(crate) fn cross_entropy_log_probs(saved: &[&Tensor]) -> Result<Tensor> {
    match saved.first() {
        // Blocks `[n, s, c]` back to the logits' `[n, c, s]`.
        Some(x) if x.ndim() == 3 => x.detach().log_softmax(-1)?.permute(&[0, 2, 1]),
        Some(x) => x.detach().log_softmax(-1),
        None => Err(crate::Error::Value(
            "cross_entropy: the backward expects the forward's saved tensors".into(),
        )),
    }
}

pub(crate) fn cross_entropy_backward(
    saved: &[&Tensor],
    target: &Tensor,
    weight: Option<&Tensor>,
    spec: &CrossEntropySpec,
    g: &Tensor,
) -> Result<Tensor> {
    use super::ops::reduce::cross_entropy_backward_rows;
    let (x, g, stride) = match (spec.reduction, saved) {
        (Reduction::None, [x, ..]) => (*x, g.clone(), 1),
        (Reduction::Sum, [x, ..]) => (*x, g.clone(), 0),
        (Reduction::Mean, [x, denom]) => (*x, binary(BinaryOp::Div, g, denom, g.dtype())?, 0),
        _ => crate::bail!(
            Value,
            "cross_entropy: the backward expects the forward's saved tensors"
        ),
    };
    let (ignore, eps) = (spec.ignore_index, spec.smoothing);
    if let &[n, s, c] = x.shape() {
        let rows = x.reshape(&[(n * s) as isize, c as isize])?;
        // One upstream gradient per position (`reduction="none"`) or one scalar.
        let g = if stride == 1 { g.reshape(&[-1])? } else { g };
        let target = target.reshape(&[-1])?;
        let dx = cross_entropy_backward_rows(&rows, &target, weight, ignore, eps, &g, stride, 1.0)?;
        let blocks = dx.reshape(&[n as isize, s as isize, c as isize])?;
        return cast_raw(&blocks.permute(&[0, 2, 1])?, blocks.dtype());
    }
    cross_entropy_backward_rows(x, target, weight, ignore, eps, &g, stride, 1.0)
}

/// The cross-entropy backward kernel over the log-probabilities: their softmax is
/// `exp(lp)` (their log-sum-exp is 0), so it computes `scale * (exp(lp) - onehot)` per row.
pub(crate) fn log_softmax_nll_backward(
    lp: &Tensor,
    labels: &Tensor,
    scale: &Tensor,
) -> Result<Tensor> {
    use super::ops::reduce::cross_entropy_backward_rows;
    cross_entropy_backward_rows(lp, labels, None, -1, 0.0, scale, 1, 1.0)
}

/// A new device tensor of `shape` filled with `value`.
pub(crate) fn full(shape: &[usize], value: f64, dtype: DType, device: Device) -> Result<Tensor> {
    match device {
        Device::Cuda(i) => super::ops::full(i, dtype, shape, value),
        Device::Cpu => Tensor::full(shape, value, dtype),
    }
}

/// The output size depends on the data, so the host needs the mask anyway (PyTorch syncs
/// too): one bool per element comes over, the indices go back.
pub(crate) fn nonzero(t: &Tensor) -> Result<Tensor> {
    use crate::backend::Backend;
    let b = cast_raw(t, DType::Bool)?;
    let host = to_device(&b, Device::Cpu)?;
    to_device(&crate::cpu::Cpu.nonzero(&host)?, t.device())
}

/// `cond ? a : b` with every operand on the device (CPU 0-d operands move over).
pub(crate) fn where_(
    cond: &Tensor,
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    dt: DType,
) -> Result<Tensor> {
    let like = [a, b, cond]
        .into_iter()
        .find(|t| t.device().is_cuda())
        .unwrap_or(a);
    let (c, x, y) = (
        align_device(cond, like)?,
        align_device(a, like)?,
        align_device(b, like)?,
    );
    let x = if x.dtype() == dt {
        x
    } else {
        cast_raw(&x, dt)?
    };
    elementwise::where_(&c, &x, &y, shape)
}

/// `flip` as an index gather per flipped dim on the device (the reversed index vectors that
/// come over are as long as the dims).
pub(crate) fn flip(t: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let mut out = t.clone();
    for &d in dims {
        let n = t.shape()[d] as i64;
        let rev = Tensor::arange_int(n - 1, -1, -1, DType::I64)?.to_device(t.device())?;
        let mut at: Vec<Option<Tensor>> = vec![None; d];
        at.push(Some(rev));
        out = index(&out, &at)?;
    }
    Ok(out)
}

/// `tril`/`triu` as a comparison of a row and a column of indices and a `where` on the device
/// (no kernel of its own: the index vectors that come over are `rows + cols` values).
pub(crate) fn tri(t: &Tensor, k: i64, upper: bool) -> Result<Tensor> {
    let nd = t.ndim();
    let (rows, cols) = (t.shape()[nd - 2] as i64, t.shape()[nd - 1] as i64);
    let dev = t.device();
    let col = Tensor::arange_int(0, cols, 1, DType::I64)?.to_device(dev)?;
    let row = Tensor::arange_int(k, rows + k, 1, DType::I64)?.to_device(dev)?;
    let (col, row) = (
        col.reshape(&[1, cols as isize])?,
        row.reshape(&[rows as isize, 1])?,
    );
    let keep = if upper { col.ge(&row)? } else { col.le(&row)? };
    let zero = Tensor::full_on(&[], 0.0, t.dtype(), dev)?;
    where_(&keep, t, &zero, t.shape(), t.dtype())
}

/// A float reduction through the row kernels.
pub(crate) fn reduce(kind: Kind, t: &Tensor, dims: &[usize], shape: &[usize]) -> Result<Tensor> {
    let op = match kind {
        Kind::Sum => RowOp::Sum,
        Kind::Mean => RowOp::Mean,
        Kind::Var(c) => RowOp::Var(c),
        Kind::LogSumExp => RowOp::LogSumExp,
        Kind::Max => RowOp::Max,
        Kind::Min => RowOp::Min,
    };
    super::ops::reduce::reduce(t, dims, shape, op)
}

/// `op(a, b)` on the device: a CPU 0-d operand (a Python number) becomes a kernel argument or
/// moves over.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor> {
    if let Some(r) = elementwise::with_host_scalar(op, a, b, rt)? {
        return Ok(r);
    }
    let (a, b) = if a.device().is_cuda() {
        (a.clone(), align_device(b, a)?)
    } else {
        (align_device(a, b)?, b.clone())
    };
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let compute = if op.is_logical() {
        DType::Bool
    } else if op == BinaryOp::Div {
        rt.to_float()
    } else {
        rt
    };
    elementwise::binary(op, &a, &b, &shape, compute)
}

pub(crate) fn unary_float(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    elementwise::unary(t, op)
}

/// Integer ops on the device: exact through float64 for |x| < 2^53.
pub(crate) fn unary_int(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    // Negation, squares and absolute values exactly, wrapping as on the CPU, through the
    // integer binary kernels; the rest is exact through float64 for |x| < 2^53.
    let t = if t.dtype() == DType::I64 {
        t.clone()
    } else {
        cast_raw(t, DType::I64)?
    };
    let int =
        |op: BinaryOp, a: &Tensor, b: &Tensor| elementwise::binary(op, a, b, t.shape(), DType::I64);
    let neg = || {
        let zero = crate::cuda::ops::full(super::ops::ordinal(&t)?, DType::I64, &[], 0.0)?;
        int(BinaryOp::Sub, &zero, &t)
    };
    match op {
        UnaryOp::Neg => neg(),
        UnaryOp::Square => int(BinaryOp::Mul, &t, &t),
        UnaryOp::Abs => int(BinaryOp::Maximum, &t, &neg()?),
        _ => {
            let r = elementwise::unary(&cast_raw(&t, DType::F64)?, op)?;
            cast_raw(&r, DType::I64)
        }
    }
}

/// One SGD step of one parameter through the list kernel.
pub(crate) fn sgd_step_one(
    p: &Tensor,
    g: &Tensor,
    buf: Option<&Tensor>,
    initialized: bool,
    cfg: &crate::optim::SgdConfig,
) -> Result<()> {
    let bufs = buf.map(std::slice::from_ref).unwrap_or(&[]);
    let init: &[bool] = if buf.is_some() { &[initialized] } else { &[] };
    super::ops::optim::sgd_step(
        std::slice::from_ref(p),
        std::slice::from_ref(g),
        bufs,
        init,
        cfg,
    )
}
