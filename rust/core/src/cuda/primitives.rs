//! The CUDA device as a `backend::Backend`: wires the interface to the kernels' host code in
//! `cuda/ops/` (each primitive there launches NVRTC kernels, or runs them on the emulator).

use super::ops::reduce::{self, RowOp};
use super::ops::{align_device, elementwise, index, nn, to_device};
use crate::backend::{
    Backend, IndexOps, MathOps, NormForward, NormGrads, NormSaved, PoolOps, RunningStats,
};
use crate::layout::broadcast_shapes;
use crate::ops::binary::BinaryOp;
use crate::ops::copy::cast_raw;
use crate::ops::nn::pool::Pool2dSpec;
use crate::ops::reduce::Kind;
use crate::ops::unary::UnaryOp;
use crate::{DType, Device, Result, Tensor};

/// CUDA memory as a `Backend` (`backend::of` returns it for device tensors).
pub struct Cuda;

impl Backend for Cuda {
    fn layer_norm_forward(
        &self,
        x: &Tensor,
        d: usize,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        eps: f64,
    ) -> Result<NormForward> {
        nn::layer_norm_forward(x, d, w, b, eps)
    }

    fn layer_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        d: usize,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads> {
        nn::layer_norm_backward(saved, g, d, need_w, need_b)
    }

    fn batch_norm_forward(
        &self,
        x: &Tensor,
        running: RunningStats<'_>,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        training: bool,
        eps: f64,
    ) -> Result<NormForward> {
        nn::batch_norm_forward(x, running, w, b, training, eps)
    }

    fn batch_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        training: bool,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads> {
        nn::batch_norm_backward(saved, g, training, need_w, need_b)
    }
}

impl IndexOps for Cuda {
    fn gather(&self, t: &Tensor, d: usize, ix: &Tensor) -> Result<Tensor> {
        index::gather(t, d, ix)
    }

    fn scatter_add(&self, t: &Tensor, d: usize, ix: &Tensor, src: &Tensor) -> Result<Tensor> {
        index::scatter_add(t, d, ix, src)
    }

    fn index(&self, t: &Tensor, indices: &[Option<Tensor>]) -> Result<Tensor> {
        index::index(t, indices)
    }

    fn index_put(
        &self,
        t: &Tensor,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<()> {
        index::index_put(t, indices, values, accumulate)
    }

    /// The output size depends on the data, so the host needs the mask anyway (PyTorch syncs
    /// too): one bool per element comes over, the indices go back.
    fn nonzero(&self, t: &Tensor) -> Result<Tensor> {
        let b = cast_raw(t, DType::Bool)?;
        let host = to_device(&b, Device::Cpu)?;
        to_device(&crate::cpu::Cpu.nonzero(&host)?, t.device())
    }

    fn where_(
        &self,
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
}

impl PoolOps for Cuda {
    fn max_pool2d_forward(
        &self,
        x: &Tensor,
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<(Tensor, Tensor)> {
        nn::max_pool2d_forward(x, spec, out_hw)
    }

    fn max_pool2d_backward(
        &self,
        g: &Tensor,
        argmax: &Tensor,
        in_shape: &[usize],
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor> {
        nn::max_pool2d_backward(g, argmax, in_shape, spec, out_hw)
    }

    fn avg_pool2d_forward(
        &self,
        x: &Tensor,
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor> {
        nn::avg_pool2d_forward(x, spec, out_hw)
    }

    fn avg_pool2d_backward(
        &self,
        g: &Tensor,
        in_shape: &[usize],
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor> {
        nn::avg_pool2d_backward(g, in_shape, spec, out_hw)
    }

    fn dropout_forward(&self, x: &Tensor, p: f64) -> Result<(Tensor, Tensor)> {
        nn::dropout_forward(x, p)
    }

    fn dropout_backward(&self, g: &Tensor, mask: &Tensor, p: f64) -> Result<Tensor> {
        nn::dropout_backward(g, mask, p)
    }
}

impl MathOps for Cuda {
    fn reduce(&self, kind: Kind, t: &Tensor, dims: &[usize], shape: &[usize]) -> Result<Tensor> {
        let op = match kind {
            Kind::Sum => RowOp::Sum,
            Kind::Mean => RowOp::Mean,
            Kind::Var(c) => RowOp::Var(c),
            Kind::LogSumExp => RowOp::LogSumExp,
            Kind::Max => RowOp::Max,
            Kind::Min => RowOp::Min,
        };
        reduce::reduce(t, dims, shape, op)
    }

    /// Integer reductions on the device: exact through float64 up to 2^53.
    fn reduce_int(
        &self,
        kind: Kind,
        t: &Tensor,
        dims: &[usize],
        shape: &[usize],
    ) -> Result<Tensor> {
        let r = self.reduce(kind, &cast_raw(t, DType::F64)?, dims, shape)?;
        cast_raw(&r, DType::I64)
    }

    fn arg_reduce(&self, t: &Tensor, d: usize, shape: &[usize], max: bool) -> Result<Tensor> {
        reduce::arg_reduce(t, d, shape, max)
    }

    /// A CPU 0-d operand (a Python number) moves over, or becomes a kernel argument.
    fn binary(&self, op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor> {
        use crate::cuda::ops::align_device;
        if let Some(r) = crate::cuda::ops::elementwise::with_host_scalar(op, a, b, rt)? {
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
        crate::cuda::ops::elementwise::binary(op, &a, &b, &shape, compute)
    }

    fn unary_float(&self, t: &Tensor, op: UnaryOp) -> Result<Tensor> {
        elementwise::unary(t, op)
    }

    /// Integer ops on the device: exact through float64 for |x| < 2^53.
    fn unary_int(&self, t: &Tensor, op: UnaryOp) -> Result<Tensor> {
        let r = elementwise::unary(&cast_raw(t, DType::F64)?, op)?;
        cast_raw(&r, DType::I64)
    }

    fn unary_backward(&self, op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        elementwise::unary_backward(op, x, g)
    }

    fn softmax_rows(&self, rows: &Tensor, n: usize, log: bool) -> Result<Tensor> {
        reduce::softmax_rows(rows, n, log)
    }

    fn softmax_backward_rows(&self, y: &Tensor, g: &Tensor, n: usize, log: bool) -> Result<Tensor> {
        reduce::softmax_backward_rows(y, g, n, log)
    }
}
