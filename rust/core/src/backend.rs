//! One interface over the devices. An op in `ops/` validates its arguments, asks
//! `backend::of(tensor)` for the primitives it needs and records its backward once, in terms of
//! the same interface; each backend (`cpu/`, `cuda/`) implements the primitives for its memory.
//! `of` is the one place that matches on the device: no op asks where its tensors live.
//!
//! A fused op follows one pattern (candle's `CustomOp`): a `*_forward` primitive per backend
//! that returns the output and what the backward needs, and a `*_backward` primitive that
//! turns the saved values and the output gradient into input gradients.

use crate::ops::binary::BinaryOp;
use crate::ops::nn::pool::Pool2dSpec;
use crate::ops::reduce::Kind as ReduceKind;
use crate::ops::unary::UnaryOp;
use crate::{DType, Device, Result, Tensor};

/// What a normalisation's forward hands to its backward.
pub struct NormForward {
    /// The output, in the input's dtype.
    pub y: Tensor,
    /// The input as the backward reads it (the input itself when no copy was needed, so the
    /// op's saved-tensor version check sees in-place changes of it).
    pub x: Tensor,
    /// Per-row (layer norm) or per-channel (batch norm) mean and inverse standard deviation.
    pub mean: Tensor,
    pub rstd: Tensor,
}

/// A normalisation's input gradients: `dx` in the saved input's dtype; `dw`/`db` flat
/// (`[d]` or `[C]`), when asked for.
pub struct NormGrads {
    pub dx: Tensor,
    pub dw: Option<Tensor>,
    pub db: Option<Tensor>,
}

/// The saved state of a normalisation, as its backward primitive reads it.
pub struct NormSaved<'a> {
    pub x: &'a Tensor,
    pub weight: Option<&'a Tensor>,
    pub mean: &'a Tensor,
    pub rstd: &'a Tensor,
}

/// The running statistics batch norm updates in training mode (or reads in eval mode).
#[derive(Clone, Copy)]
pub struct RunningStats<'a> {
    pub mean: Option<&'a Tensor>,
    pub var: Option<&'a Tensor>,
    pub momentum: f64,
}

/// The primitives a device provides.
pub trait Backend: IndexOps + MathOps + PoolOps + Sync {
    /// Layer norm over rows of `d` contiguous elements, with optional affine `w`/`b` (`[d]`).
    fn layer_norm_forward(
        &self,
        x: &Tensor,
        d: usize,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        eps: f64,
    ) -> Result<NormForward>;

    /// The closed-form layer-norm backward.
    fn layer_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        d: usize,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads>;

    /// Batch norm over `[N, C, ...]`: batch statistics in training mode (updating `running`),
    /// the running statistics in eval mode.
    fn batch_norm_forward(
        &self,
        x: &Tensor,
        running: RunningStats<'_>,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        training: bool,
        eps: f64,
    ) -> Result<NormForward>;

    /// The closed-form batch-norm backward (`training`: through the batch statistics).
    fn batch_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        training: bool,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads>;
}

/// The gathers and scatters every backend provides (no autograd: the ops in `ops/index.rs`
/// record the backward once, for all backends).
pub trait IndexOps {
    /// `out[i][j] = t[index[i][j]][j]` along dim `d` (negative indices refused).
    fn gather(&self, t: &Tensor, d: usize, index: &Tensor) -> Result<Tensor>;
    /// `out = t; out[index[i][j]][j] += src[i][j]` along dim `d`.
    fn scatter_add(&self, t: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor>;
    /// `t[indices]`, NumPy's advanced indexing (`None`: the whole dim).
    fn index(&self, t: &Tensor, indices: &[Option<Tensor>]) -> Result<Tensor>;
    /// `t[indices] = values` (or `+=`), in place.
    fn index_put(
        &self,
        t: &Tensor,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<()>;
    /// The positions of nonzero elements, `[n, ndim]` int64.
    fn nonzero(&self, t: &Tensor) -> Result<Tensor>;
    /// `cond ? a : b` broadcast to `shape`, in dtype `dt`.
    fn where_(
        &self,
        cond: &Tensor,
        a: &Tensor,
        b: &Tensor,
        shape: &[usize],
        dt: DType,
    ) -> Result<Tensor>;
}

/// Pooling and dropout: a forward per backend, the backward primitive the op records once.
pub trait PoolOps {
    /// Max pooling of `[n, c, h, w]` to `out_hw`: values and an argmax tensor that only this
    /// backend's `max_pool2d_backward` reads.
    fn max_pool2d_forward(
        &self,
        x: &Tensor,
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<(Tensor, Tensor)>;
    /// `g` scattered back to the maxima, `[n, c, h, w]`.
    fn max_pool2d_backward(
        &self,
        g: &Tensor,
        argmax: &Tensor,
        in_shape: &[usize],
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor>;
    /// Average pooling of `[n, c, h, w]` to `out_hw`.
    fn avg_pool2d_forward(
        &self,
        x: &Tensor,
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor>;
    /// `g` spread evenly over the windows, `[n, c, h, w]`.
    fn avg_pool2d_backward(
        &self,
        g: &Tensor,
        in_shape: &[usize],
        spec: &Pool2dSpec,
        out_hw: (usize, usize),
    ) -> Result<Tensor>;
    /// Dropout with probability `p`: the output and a mask only `dropout_backward` reads.
    fn dropout_forward(&self, x: &Tensor, p: f64) -> Result<(Tensor, Tensor)>;
    /// `g` through the forward's mask.
    fn dropout_backward(&self, g: &Tensor, mask: &Tensor, p: f64) -> Result<Tensor>;
}

/// Elementwise and row-wise math: the forward and backward kernels of the elementwise unary
/// ops and of softmax.
pub trait MathOps {
    /// `op(a, b)` broadcast, computed in the promoted dtype `rt` (comparisons give bool). One
    /// operand may be a CPU 0-d tensor (a Python number) whatever this backend is.
    fn binary(&self, op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor>;
    /// `op` over a floating tensor, in its dtype.
    fn unary_float(&self, t: &Tensor, op: UnaryOp) -> Result<Tensor>;
    /// An integer-keeping `op` (`UnaryOp::keeps_int`) over an integer tensor, as int64.
    fn unary_int(&self, t: &Tensor, op: UnaryOp) -> Result<Tensor>;
    /// `g * op'(x)`, in `x`'s dtype.
    fn unary_backward(&self, op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor>;
    /// A float reduction of `t` over `dims` (sorted) into `shape`, in `t`'s dtype.
    fn reduce(
        &self,
        kind: ReduceKind,
        t: &Tensor,
        dims: &[usize],
        shape: &[usize],
    ) -> Result<Tensor>;
    /// Sum, max or min of an integer or bool tensor over `dims`, as int64.
    fn reduce_int(
        &self,
        kind: ReduceKind,
        t: &Tensor,
        dims: &[usize],
        shape: &[usize],
    ) -> Result<Tensor>;
    /// The index of the first maximum (or minimum) along dim `d`, int64, into `shape`.
    fn arg_reduce(&self, t: &Tensor, d: usize, shape: &[usize], max: bool) -> Result<Tensor>;
    /// Softmax (or log-softmax) of each row of `n` elements of the contiguous `rows`.
    fn softmax_rows(&self, rows: &Tensor, n: usize, log: bool) -> Result<Tensor>;
    /// Its backward from the output `y` and the output gradient `g` (both contiguous rows).
    fn softmax_backward_rows(&self, y: &Tensor, g: &Tensor, n: usize, log: bool) -> Result<Tensor>;
}

/// The backend that holds `t`'s memory.
pub fn of(t: &Tensor) -> &'static dyn Backend {
    match t.device() {
        Device::Cpu => &crate::cpu::Cpu,
        Device::Cuda(_) => &crate::cuda::Cuda,
    }
}
