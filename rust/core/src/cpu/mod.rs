//! The CPU backend: kernels over host memory, behind `backend::Backend`. Each file holds the
//! kernels of one op family; this file only wires them to the interface.

mod binary;
mod index;
mod norm;
mod pool;
pub(crate) mod reduce;
mod softmax;
mod unary;

use crate::backend::{
    Backend, IndexOps, MathOps, NormForward, NormGrads, NormSaved, PoolOps, RunningStats,
};
use crate::ops::binary::BinaryOp;
use crate::ops::nn::pool::Pool2dSpec;
use crate::ops::reduce::Kind;
use crate::ops::unary::UnaryOp;
use crate::{DType, Result, Tensor};

/// The CPU as a `Backend` (`backend::of` returns it for host tensors).
pub struct Cpu;

impl Backend for Cpu {
    fn layer_norm_forward(
        &self,
        x: &Tensor,
        d: usize,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        eps: f64,
    ) -> Result<NormForward> {
        norm::layer_norm_forward(x, d, w, b, eps)
    }

    fn layer_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        d: usize,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads> {
        norm::layer_norm_backward(saved, g, d, need_w, need_b)
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
        norm::batch_norm_forward(x, running, w, b, training, eps)
    }

    fn batch_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        training: bool,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads> {
        norm::batch_norm_backward(saved, g, training, need_w, need_b)
    }
}

impl IndexOps for Cpu {
    fn gather(&self, t: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
        index::gather(t, d, index)
    }

    fn scatter_add(&self, t: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        index::scatter_add(t, d, index, src)
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

    fn nonzero(&self, t: &Tensor) -> Result<Tensor> {
        index::nonzero(t)
    }

    fn where_(
        &self,
        cond: &Tensor,
        a: &Tensor,
        b: &Tensor,
        shape: &[usize],
        dt: DType,
    ) -> Result<Tensor> {
        index::where_(cond, a, b, shape, dt)
    }
}

impl PoolOps for Cpu {
    fn max_pool2d_forward(
        &self,
        x: &Tensor,
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<(Tensor, Tensor)> {
        pool::max_pool2d_forward(x, spec, out_hw)
    }

    fn max_pool2d_backward(
        &self,
        g: &Tensor,
        argmax: &Tensor,
        in_shape: &[usize],
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor> {
        let _ = spec;
        pool::max_pool2d_backward(g, argmax, in_shape, out_hw)
    }

    fn avg_pool2d_forward(
        &self,
        x: &Tensor,
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor> {
        pool::avg_pool2d_forward(x, spec, out_hw)
    }

    fn avg_pool2d_backward(
        &self,
        g: &Tensor,
        in_shape: &[usize],
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor> {
        pool::avg_pool2d_backward(g, in_shape, spec, out_hw)
    }

    fn dropout_forward(&self, x: &Tensor, p: f64) -> Result<(Tensor, Tensor)> {
        // The mask holds 0 or 1/(1-p) in x's dtype, drawn from the global generator.
        let mask = Tensor::dropout_mask(x.shape(), p, x.dtype())?;
        let _off = crate::autograd::GradModeGuard::new(false);
        Ok((x.mul(&mask)?, mask))
    }

    fn dropout_backward(&self, g: &Tensor, mask: &Tensor, p: f64) -> Result<Tensor> {
        let _ = p;
        g.mul(mask)
    }
}

impl MathOps for Cpu {
    fn reduce(&self, kind: Kind, t: &Tensor, dims: &[usize], shape: &[usize]) -> Result<Tensor> {
        reduce::reduce(kind, t, dims, shape)
    }

    fn reduce_int(
        &self,
        kind: Kind,
        t: &Tensor,
        dims: &[usize],
        shape: &[usize],
    ) -> Result<Tensor> {
        reduce::reduce_int(kind, t, dims, shape)
    }

    fn arg_reduce(&self, t: &Tensor, d: usize, shape: &[usize], max: bool) -> Result<Tensor> {
        reduce::arg_reduce(t, d, shape, max)
    }

    fn binary(&self, op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor> {
        binary::binary(op, a, b, rt)
    }

    fn unary_float(&self, t: &Tensor, op: UnaryOp) -> Result<Tensor> {
        unary::float_forward(t, op)
    }

    fn unary_int(&self, t: &Tensor, op: UnaryOp) -> Result<Tensor> {
        unary::int_forward(op, t)
    }

    fn unary_backward(&self, op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        unary::unary_backward(op, x, g)
    }

    fn softmax_rows(&self, rows: &Tensor, n: usize, log: bool) -> Result<Tensor> {
        softmax::softmax_rows_of(rows, n, log)
    }

    fn softmax_backward_rows(&self, y: &Tensor, g: &Tensor, n: usize, log: bool) -> Result<Tensor> {
        softmax::softmax_backward_rows_of(y, g, n, log)
    }
}
