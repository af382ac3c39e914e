//! The CUDA device as a `backend::Backend`: the interface's free functions, most of them the
//! host code of the kernels in `cuda/ops/` re-exported under the interface's names, a few
//! adapters defined here; the `Backend` implementation is generated from them.

use super::ops::reduce::RowOp;
use super::ops::{align_device, elementwise, to_device};
use crate::backend::{backend_interface, delegate_backend};
use crate::layout::broadcast_shapes;
use crate::ops::binary::BinaryOp;
use crate::ops::copy::cast_raw;
use crate::ops::reduce::Kind;
use crate::ops::unary::UnaryOp;
use crate::{DType, Device, Result, Tensor};

pub(crate) use super::ops::elementwise::unary_backward;
pub(crate) use super::ops::index::{gather, index, index_put, scatter_add};
pub(crate) use super::ops::nn::{
    avg_pool2d_backward, avg_pool2d_forward, batch_norm_backward, batch_norm_forward,
    dropout_backward, dropout_forward, layer_norm_backward, layer_norm_forward,
    max_pool2d_backward, max_pool2d_forward,
};
pub(crate) use super::ops::optim::{
    adagrad_step as adagrad_step_one, adam_step, rmsprop_step as rmsprop_step_one,
};
pub(crate) use super::ops::reduce::{arg_reduce, softmax_backward_rows, softmax_rows};

/// CUDA memory as a `Backend` (`backend::of` returns it for device tensors).
pub struct Cuda;

backend_interface!(delegate_backend!(Cuda));

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

/// Integer reductions on the device: exact through float64 up to 2^53.
pub(crate) fn reduce_int(
    kind: Kind,
    t: &Tensor,
    dims: &[usize],
    shape: &[usize],
) -> Result<Tensor> {
    let r = reduce(kind, &cast_raw(t, DType::F64)?, dims, shape)?;
    cast_raw(&r, DType::I64)
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
    let r = elementwise::unary(&cast_raw(t, DType::F64)?, op)?;
    cast_raw(&r, DType::I64)
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
