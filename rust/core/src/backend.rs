//! One interface over the devices. An op in `ops/` validates its arguments, asks
//! `backend::of(tensor)` for the primitives it needs and records its backward once, in terms of
//! the same interface; each backend (`cpu/`, `cuda/`) implements the primitives for its memory.
//! `of` is the one place that matches on the device: no op asks where its tensors live.
//!
//! A fused op follows one pattern (candle's `CustomOp`): a `*_forward` primitive per backend
//! that returns the output and what the backward needs, and a `*_backward` primitive that
//! turns the saved values and the output gradient into input gradients.

use crate::{Device, Tensor};

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

/// What the fused attention's backward reads: the inputs, output and per-row log-sum-exp of
/// the forward, and its additive mask.
pub struct AttentionSaved<'a> {
    pub qkv: [&'a Tensor; 3],
    pub out: &'a Tensor,
    pub lse: &'a Tensor,
    pub mask: Option<&'a Tensor>,
}

/// One recurrent step's pointwise results: the new hidden state, the new cell state (LSTM)
/// and the gate values the backward reads (LSTM: `i, f, g, o` after their activations; GRU:
/// `r, z, n` and the hidden projection's `n` part), each `[n, k*h]`.
pub struct RnnStep {
    pub h: Tensor,
    pub c: Option<Tensor>,
    pub act: Option<Tensor>,
}

/// A recurrent layer's forward over a whole sequence: `packed` `[T + s, n, h]` holds every
/// step's hidden state in time order, then the final hidden state and (LSTM) the final cell
/// state; `acts[t]` and `cells[t]` are step `t`'s gate values and (LSTM) cell state, as
/// `RnnStep` has them, for the backward.
pub struct RnnSequence {
    pub packed: Tensor,
    pub acts: Vec<Option<Tensor>>,
    pub cells: Vec<Option<Tensor>>,
}

/// A recurrent layer's inputs: the input projection of every step `gi` (`[T, n, g*h]`, its
/// bias included), the initial states `h0` (and `c0`, LSTM), the hidden weights `w_hh`
/// `[g*h, h]` and bias, all contiguous f32 or f64 of one dtype; `reverse` runs from the last
/// step to the first.
#[derive(Clone, Copy)]
pub struct RnnSequenceInputs<'a> {
    pub gi: &'a Tensor,
    pub h0: &'a Tensor,
    pub c0: Option<&'a Tensor>,
    pub w_hh: &'a Tensor,
    pub b_hh: Option<&'a Tensor>,
    pub reverse: bool,
}

/// One recurrent step's inputs: the input projection `gi` (`[n, g*h]`, its bias included),
/// the previous state `h` (and `c`, LSTM) and the hidden weights `w_hh` `[g*h, h]` and bias.
#[derive(Clone, Copy)]
pub struct RnnStepInputs<'a> {
    pub gi: &'a Tensor,
    pub h: &'a Tensor,
    pub c: Option<&'a Tensor>,
    pub w_hh: &'a Tensor,
    pub b_hh: Option<&'a Tensor>,
}

/// What one recurrent step's backward reads: its output `h` and input `h_prev` states, the
/// cell states around it (LSTM), its saved gate values and the hidden weights.
pub struct RnnStepSaved<'a> {
    pub h: &'a Tensor,
    pub h_prev: &'a Tensor,
    pub c: Option<&'a Tensor>,
    pub c_prev: Option<&'a Tensor>,
    pub act: Option<&'a Tensor>,
    pub w_hh: &'a Tensor,
}

/// The gradients reaching one recurrent step: of its hidden state (the sum of the present
/// parts, each `[n, h]`) and of its cell state (LSTM; `None`: 0).
#[derive(Clone, Copy)]
pub struct RnnStepUpstream<'a> {
    pub dh: [Option<&'a Tensor>; 2],
    pub dc: Option<&'a Tensor>,
}

/// One recurrent step's gradients: of the input projection's gates `[n, g*h]`, of the hidden
/// projection's gates when they differ (GRU), of the previous hidden state (through the hidden
/// projection and the gate math) and of the previous cell state (LSTM).
pub struct RnnStepGrads {
    pub dgi: Tensor,
    pub dgh: Option<Tensor>,
    pub dh_prev: Tensor,
    pub dc_prev: Option<Tensor>,
}

/// What a recurrent layer's backward reads: the packed forward output `out` `[T + s, n, h]`,
/// the initial states, the per-step gate values and cell states the forward returned
/// (`RnnSequence`), the hidden weights and the direction.
pub struct RnnSequenceSaved<'a> {
    pub out: &'a Tensor,
    pub h0: &'a Tensor,
    pub c0: Option<&'a Tensor>,
    pub acts: &'a [Option<Tensor>],
    pub cells: &'a [Option<Tensor>],
    pub w_hh: &'a Tensor,
    pub reverse: bool,
}

/// A recurrent layer's gradients from its packed output's gradient: of every step's input
/// projection `[T, n, g*h]`, of the hidden projection's gates when they differ (GRU), and of
/// the initial states.
pub struct RnnSequenceGrads {
    pub dgi: Tensor,
    pub dgh: Option<Tensor>,
    pub dh0: Tensor,
    pub dc0: Option<Tensor>,
}

/// A convolution's input gradients, in the dtype its forward read; each only when asked for.
pub struct ConvGrads {
    pub dx: Option<Tensor>,
    pub dw: Option<Tensor>,
    pub db: Option<Tensor>,
}

/// The running statistics batch norm updates in training mode (or reads in eval mode).
#[derive(Clone, Copy)]
pub struct RunningStats<'a> {
    pub mean: Option<&'a Tensor>,
    pub var: Option<&'a Tensor>,
    pub momentum: f64,
}

/// Batch norm's options beside its input: the running statistics, the optional affine
/// `weight`/`bias` `[C]`, the mode and `eps` (one value, so every backend takes the same two
/// arguments).
#[derive(Clone, Copy)]
pub struct BatchNormArgs<'a> {
    pub running: RunningStats<'a>,
    pub weight: Option<&'a Tensor>,
    pub bias: Option<&'a Tensor>,
    pub training: bool,
    pub eps: f64,
}

/// The primitives a device provides, listed once: `backend_interface!` hands this list to a
/// macro, so the trait (`declare_backend!`, below) and each backend's implementation
/// (`delegate_backend!`, in `cpu/mod.rs` and `cuda/primitives.rs`, forwarding every method to
/// the backend's free function of the same name) are generated from it and cannot drift apart.
macro_rules! backend_interface {
    ($callback:ident!($($prefix:tt)*)) => {
        $callback! {
            ($($prefix)*)
            // ---- memory: transfers, casts, fills, creation ----
            /// `t` copied to `device` without autograd (`backend::transfer` picks the backend
            /// of the end that is not the host; `t` itself when it is already there).
            fn to_device(
                t: &$crate::Tensor,
                device: $crate::Device,
            ) -> $crate::Result<$crate::Tensor>;
            /// A contiguous copy of `t` converted to `to`, without autograd.
            fn cast(t: &$crate::Tensor, to: $crate::DType) -> $crate::Result<$crate::Tensor>;
            /// Writes `src` (any device, broadcast to `dst`'s shape, cast to its dtype) into
            /// `dst`'s view, bumping its version.
            fn write_into(dst: &$crate::Tensor, src: &$crate::Tensor) -> $crate::Result<()>;
            /// Sets every element of `dst`'s view to `value`, bumping its version.
            fn fill(dst: &$crate::Tensor, value: f64) -> $crate::Result<()>;
            /// A new tensor of `shape` filled with `value` on `device` (of this backend).
            fn full(
                shape: &[usize],
                value: f64,
                dtype: $crate::DType,
                device: $crate::Device,
            ) -> $crate::Result<$crate::Tensor>;
            /// Multiplies the (contiguous, floating) gradients by `inv_scale` in place when
            /// `apply`, and says whether any value is infinite or NaN.
            fn unscale_and_check(
                grads: &[&$crate::Tensor],
                inv_scale: f64,
                apply: bool,
            ) -> $crate::Result<bool>;
            // ---- matrix products ----
            /// `a @ b` (`[..., m, k]` by `[..., k, n]`) over the broadcast `batch` dims, in
            /// the promoted dtype `dt`.
            fn matmul(
                a: &$crate::Tensor,
                b: &$crate::Tensor,
                batch: &[usize],
                mnk: (usize, usize, usize),
                dt: $crate::DType,
            ) -> $crate::Result<$crate::Tensor>;
            /// `x @ weight.T + bias` for `x` `[rows, in]`, `weight` `[out, in]` (one float
            /// dtype), as `[rows, out]`.
            fn linear_forward(
                x: &$crate::Tensor,
                weight: &$crate::Tensor,
                bias: Option<&$crate::Tensor>,
            ) -> $crate::Result<$crate::Tensor>;
            // ---- convolution: forward, and the backward the op records ----
            /// `conv2d` of `x` `[n, c, h, w]` by `w` (plus `b`), all of one float dtype.
            fn conv2d_forward(
                x: &$crate::Tensor,
                w: &$crate::Tensor,
                b: Option<&$crate::Tensor>,
                geom: &$crate::ops::nn::conv::Geom,
            ) -> $crate::Result<$crate::Tensor>;
            /// The gradients for input, weight and bias (as `need` asks) from `gy`.
            fn conv2d_backward(
                x: &$crate::Tensor,
                w: &$crate::Tensor,
                gy: &$crate::Tensor,
                geom: &$crate::ops::nn::conv::Geom,
                need: [bool; 3],
            ) -> $crate::Result<$crate::backend::ConvGrads>;
            // ---- cross-entropy: forward, and the backward the op records ----
            /// The loss of logits `x` `[n, c]` against class indices `target` `[n]` (or `x`
            /// `[n, c, s]` against `[n, s]`, the classes down dim 1), reduced as `spec` says,
            /// in `x`'s dtype, and the tensors its backward reads.
            fn cross_entropy_forward(
                x: &$crate::Tensor,
                target: &$crate::Tensor,
                weight: Option<&$crate::Tensor>,
                spec: &$crate::ops::nn::loss::CrossEntropySpec,
            ) -> $crate::Result<($crate::Tensor, Vec<$crate::Tensor>)>;
            /// The logits' gradient from the forward's saved tensors and the output gradient.
            fn cross_entropy_backward(
                saved: &[&$crate::Tensor],
                target: &$crate::Tensor,
                weight: Option<&$crate::Tensor>,
                spec: &$crate::ops::nn::loss::CrossEntropySpec,
                g: &$crate::Tensor,
            ) -> $crate::Result<$crate::Tensor>;
            /// The log-probabilities `log_softmax(x)` over dim 1, in the logits' shape, from the
            /// forward's saved tensors (a backward that builds a graph recomputes the loss
            /// from them).
            fn cross_entropy_log_probs(
                saved: &[&$crate::Tensor],
            ) -> $crate::Result<$crate::Tensor>;
            /// The logits' gradient of `nll_loss(log_softmax(x))` from the log-probabilities
            /// `lp` `[n, c]`: row `i` is `scale[i] * (exp(lp[i]) - onehot(labels[i]))`, with
            /// int64 `labels` in `[0, c)` and `scale` `[n]` in `lp`'s dtype.
            fn log_softmax_nll_backward(
                lp: &$crate::Tensor,
                labels: &$crate::Tensor,
                scale: &$crate::Tensor,
            ) -> $crate::Result<$crate::Tensor>;
            // ---- normalisation: forward primitives and the closed-form backward ----
            /// Layer norm over rows of `d` contiguous elements, optional affine `w`/`b` of
            /// `[period, d]`: row `r` uses the affine row `r % period` (1 for layer norm; group
            /// norm's groups, its per-channel parameters spread over their positions).
            fn layer_norm_forward(
                x: &$crate::Tensor,
                d: usize,
                period: usize,
                w: Option<&$crate::Tensor>,
                b: Option<&$crate::Tensor>,
                eps: f64,
            ) -> $crate::Result<$crate::backend::NormForward>;
            /// The closed-form layer-norm backward (`dw`/`db` as `[period * d]`).
            fn layer_norm_backward(
                saved: $crate::backend::NormSaved<'_>,
                g: &$crate::Tensor,
                d: usize,
                period: usize,
                need_w: bool,
                need_b: bool,
            ) -> $crate::Result<$crate::backend::NormGrads>;
            /// Batch norm over `[N, C, ...]`: batch statistics in training mode (updating
            /// `running`), the running statistics in eval mode.
            fn batch_norm_forward(
                x: &$crate::Tensor,
                args: $crate::backend::BatchNormArgs<'_>,
            ) -> $crate::Result<$crate::backend::NormForward>;
            /// The closed-form batch-norm backward (`training`: through the batch statistics).
            fn batch_norm_backward(
                saved: $crate::backend::NormSaved<'_>,
                g: &$crate::Tensor,
                training: bool,
                need_w: bool,
                need_b: bool,
            ) -> $crate::Result<$crate::backend::NormGrads>;
            // ---- gathers and scatters (no autograd: `ops/index.rs` records) ----
            /// `out[i][j] = t[index[i][j]][j]` along dim `d` (negative indices refused).
            fn gather(
                t: &$crate::Tensor,
                d: usize,
                index: &$crate::Tensor,
            ) -> $crate::Result<$crate::Tensor>;
            /// `out = t; out[index[i][j]][j] = src[i][j]` along dim `d` (`+=` for
            /// `ScatterMode::Add`; otherwise a repeated index keeps one of its writes: the
            /// last in row-major order on the CPU).
            fn scatter(
                t: &$crate::Tensor,
                d: usize,
                index: &$crate::Tensor,
                src: &$crate::Tensor,
                mode: $crate::ops::index::ScatterMode,
            ) -> $crate::Result<$crate::Tensor>;
            /// `t[indices]`, NumPy's advanced indexing (`None`: the whole dim).
            fn index(
                t: &$crate::Tensor,
                indices: &[Option<$crate::Tensor>],
            ) -> $crate::Result<$crate::Tensor>;
            /// `t[indices] = values` (or `+=`), in place.
            fn index_put(
                t: &$crate::Tensor,
                indices: &[Option<$crate::Tensor>],
                values: &$crate::Tensor,
                accumulate: bool,
            ) -> $crate::Result<()>;
            /// The positions of nonzero elements, `[n, ndim]` int64.
            fn nonzero(t: &$crate::Tensor) -> $crate::Result<$crate::Tensor>;
            /// A copy of `t` (not empty, at least 1-d) with the order of its elements reversed
            /// along `dims` (sorted, distinct).
            fn flip(t: &$crate::Tensor, dims: &[usize]) -> $crate::Result<$crate::Tensor>;
            /// A copy of `t` (`[..., rows, cols]`) with each matrix's elements `(i, j)` zeroed
            /// where `j > i + k` (`upper`: `j < i + k`); `k` is clamped to the matrix.
            fn tri(t: &$crate::Tensor, k: i64, upper: bool) -> $crate::Result<$crate::Tensor>;
            /// `cond ? a : b` broadcast to `shape`, in dtype `dt`.
            fn where_(
                cond: &$crate::Tensor,
                a: &$crate::Tensor,
                b: &$crate::Tensor,
                shape: &[usize],
                dt: $crate::DType,
            ) -> $crate::Result<$crate::Tensor>;
            // ---- pooling and dropout: forward, and the backward the op records ----
            /// Max pooling of `[n, c, h, w]` to `out_hw`: values, and an argmax tensor that only
            /// this backend's `max_pool2d_backward` reads.
            fn max_pool2d_forward(
                x: &$crate::Tensor,
                spec: &$crate::ops::nn::pool::Pool2dSpec,
                out_hw: (usize, usize),
            ) -> $crate::Result<($crate::Tensor, $crate::Tensor)>;
            /// `g` scattered back to the maxima, `[n, c, h, w]`.
            fn max_pool2d_backward(
                g: &$crate::Tensor,
                argmax: &$crate::Tensor,
                in_shape: &[usize],
                spec: &$crate::ops::nn::pool::Pool2dSpec,
                out_hw: (usize, usize),
            ) -> $crate::Result<$crate::Tensor>;
            /// Average pooling of `[n, c, h, w]` to `out_hw`.
            fn avg_pool2d_forward(
                x: &$crate::Tensor,
                spec: &$crate::ops::nn::pool::Pool2dSpec,
                out_hw: (usize, usize),
            ) -> $crate::Result<$crate::Tensor>;
            /// `g` spread evenly over the windows, `[n, c, h, w]`.
            fn avg_pool2d_backward(
                g: &$crate::Tensor,
                in_shape: &[usize],
                spec: &$crate::ops::nn::pool::Pool2dSpec,
                out_hw: (usize, usize),
            ) -> $crate::Result<$crate::Tensor>;
            /// Dropout with probability `p`: the output and a mask only `dropout_backward` reads.
            fn dropout_forward(
                x: &$crate::Tensor,
                p: f64,
            ) -> $crate::Result<($crate::Tensor, $crate::Tensor)>;
            /// `g` through the forward's mask.
            fn dropout_backward(
                g: &$crate::Tensor,
                mask: &$crate::Tensor,
                p: f64,
            ) -> $crate::Result<$crate::Tensor>;
            // ---- fused attention: forward, and the backward the op records ----
            /// `softmax(q k^T * scale + mask) v` for contiguous `q` `[b, hq, l, e]`, `k`
            /// `[b, hk, s, e]`, `v` `[b, hk, s, ev]` (f32, f64 or bf16) and the additive `mask`
            /// (f32 beside bf16) read through `spec.mask_strides`: the output `[b, hq, l, ev]`
            /// and each query row's log-sum-exp `[b, hq, l]` (f32 for bf16; `-inf` for a fully
            /// masked row).
            fn attention_forward(
                qkv: [&$crate::Tensor; 3],
                mask: Option<&$crate::Tensor>,
                spec: &$crate::ops::nn::attention::AttentionSpec,
            ) -> $crate::Result<($crate::Tensor, $crate::Tensor)>;
            /// The gradients of `q`, `k` and `v` from the forward's output and log-sum-exp and
            /// the output gradient `g`, recomputing the probabilities tile by tile.
            fn attention_backward(
                saved: $crate::backend::AttentionSaved<'_>,
                g: &$crate::Tensor,
                spec: &$crate::ops::nn::attention::AttentionSpec,
            ) -> $crate::Result<[$crate::Tensor; 3]>;
            // ---- recurrent layers: a whole sequence, or one step with the gate math fused ----
            /// The recurrence over every step of a sequence (`RnnSequence`).
            fn rnn_sequence_forward(
                mode: $crate::ops::nn::rnn::RnnMode,
                x: $crate::backend::RnnSequenceInputs<'_>,
            ) -> $crate::Result<$crate::backend::RnnSequence>;
            /// Its backward through time from the packed output's gradient `g` (`T >= 1`).
            fn rnn_sequence_backward(
                mode: $crate::ops::nn::rnn::RnnMode,
                saved: $crate::backend::RnnSequenceSaved<'_>,
                g: &$crate::Tensor,
            ) -> $crate::Result<$crate::backend::RnnSequenceGrads>;
            /// The new state of one step: the hidden projection and the gate math, all
            /// operands contiguous f32 or f64.
            fn rnn_step_forward(
                mode: $crate::ops::nn::rnn::RnnMode,
                x: $crate::backend::RnnStepInputs<'_>,
            ) -> $crate::Result<$crate::backend::RnnStep>;
            /// The step's gradients from what reaches it.
            fn rnn_step_backward(
                mode: $crate::ops::nn::rnn::RnnMode,
                saved: $crate::backend::RnnStepSaved<'_>,
                up: $crate::backend::RnnStepUpstream<'_>,
            ) -> $crate::Result<$crate::backend::RnnStepGrads>;
            // ---- optimizer steps (in place; `optim/` checks shapes, dtypes and aliasing) ----
            /// One SGD step of one parameter (`buf`: its momentum buffer, if any).
            fn sgd_step_one(
                p: &$crate::Tensor,
                g: &$crate::Tensor,
                buf: Option<&$crate::Tensor>,
                initialized: bool,
                cfg: &$crate::optim::SgdConfig,
            ) -> $crate::Result<()>;
            /// One Adam/AdamW step over parameters of this backend (`steps`: counts after it).
            fn adam_step(
                ts: &$crate::optim::AdamTensors<'_>,
                cfg: &$crate::optim::AdamConfig,
            ) -> $crate::Result<()>;
            /// One RMSprop step of one parameter and its state.
            fn rmsprop_step_one(
                p: &$crate::Tensor,
                g: &$crate::Tensor,
                st: &$crate::optim::RmspropState<'_>,
                cfg: &$crate::optim::RmspropConfig,
            ) -> $crate::Result<()>;
            /// One Adagrad step of one parameter at the decayed learning rate `clr`.
            fn adagrad_step_one(
                p: &$crate::Tensor,
                g: &$crate::Tensor,
                sum: &$crate::Tensor,
                clr: f64,
                cfg: &$crate::optim::AdagradConfig,
            ) -> $crate::Result<()>;
            /// One step of an element-wise optimizer rule (`optim::rules`) of one parameter:
            /// `p` and its `state` updated in place with the per-step constants `k`.
            fn optim_rule_step(
                rule: $crate::optim::OptimRule,
                p: &$crate::Tensor,
                g: &$crate::Tensor,
                state: &[&$crate::Tensor],
                k: &[f64],
            ) -> $crate::Result<()>;
            // ---- elementwise, reductions and softmax ----
            /// `op(a, b)` broadcast, computed in the promoted dtype `rt` (comparisons give
            /// bool). One operand may be a CPU 0-d tensor (a Python number).
            fn binary(
                op: $crate::ops::BinaryOp,
                a: &$crate::Tensor,
                b: &$crate::Tensor,
                rt: $crate::DType,
            ) -> $crate::Result<$crate::Tensor>;
            /// `dst = dst op other` (`dst + alpha * other` for `Add`) written into `dst`'s memory,
            /// for an f32/f64/bf16 `dst` and an `other` of its dtype and shape (or a 0-d number)
            /// in another buffer, with no autograd; `false` when this backend leaves it to the
            /// out-of-place path (compute, then write back), e.g. for a layout it cannot walk.
            fn binary_inplace(
                dst: &$crate::Tensor,
                other: &$crate::Tensor,
                op: $crate::ops::BinaryOp,
                alpha: f64,
            ) -> $crate::Result<bool>;
            /// `op` over a floating tensor, in its dtype.
            fn unary_float(
                t: &$crate::Tensor,
                op: $crate::ops::UnaryOp,
            ) -> $crate::Result<$crate::Tensor>;
            /// An integer-keeping `op` over an integer tensor, as int64.
            fn unary_int(
                t: &$crate::Tensor,
                op: $crate::ops::UnaryOp,
            ) -> $crate::Result<$crate::Tensor>;
            /// `g * op'(x)`, in `x`'s dtype.
            fn unary_backward(
                op: $crate::ops::UnaryOp,
                x: &$crate::Tensor,
                g: &$crate::Tensor,
            ) -> $crate::Result<$crate::Tensor>;
            /// A float reduction of `t` over `dims` (sorted) into `shape`, in `t`'s dtype.
            fn reduce(
                kind: $crate::ops::reduce::Kind,
                t: &$crate::Tensor,
                dims: &[usize],
                shape: &[usize],
            ) -> $crate::Result<$crate::Tensor>;
            /// Sum, max or min of an integer or bool tensor over `dims`, as int64.
            fn reduce_int(
                kind: $crate::ops::reduce::Kind,
                t: &$crate::Tensor,
                dims: &[usize],
                shape: &[usize],
            ) -> $crate::Result<$crate::Tensor>;
            /// The index of the first maximum (or minimum) along dim `d`, int64, into `shape`.
            fn arg_reduce(
                t: &$crate::Tensor,
                d: usize,
                shape: &[usize],
                max: bool,
            ) -> $crate::Result<$crate::Tensor>;
            /// Softmax (or log-softmax) of the contiguous `x` over `ax` (rows of `ax.n` when
            /// `ax.inner` is 1).
            fn softmax_rows(
                x: &$crate::Tensor,
                ax: $crate::ops::softmax::SoftmaxAxis,
            ) -> $crate::Result<$crate::Tensor>;
            /// Its backward from the output `y` and the output gradient `g` (contiguous, the
            /// same shape).
            fn softmax_backward_rows(
                y: &$crate::Tensor,
                g: &$crate::Tensor,
                ax: $crate::ops::softmax::SoftmaxAxis,
            ) -> $crate::Result<$crate::Tensor>;
            /// Running sums (`prod`: products) of `t` along dim `d`, from the end when
            /// `reverse`, in `t`'s dtype (floating point or int64, which wraps).
            fn scan(
                t: &$crate::Tensor,
                d: usize,
                prod: bool,
                reverse: bool,
            ) -> $crate::Result<$crate::Tensor>;
        }
    };
}
pub(crate) use backend_interface;

/// The `Backend` trait from the interface list.
macro_rules! declare_backend {
    (() $($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        /// The primitives a device provides (see `backend_interface!` for the list).
        pub trait Backend: Sync {
            $($(#[$doc])* fn $name(&self, $($arg: $ty),*) -> $ret;)*
        }
    };
}
backend_interface!(declare_backend!());

/// `impl Backend for $t`, each method calling the free function of the same name in scope
/// where the macro is invoked (the backend's module).
macro_rules! delegate_backend {
    (($t:ty) $($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        impl $crate::backend::Backend for $t {
            $(fn $name(&self, $($arg: $ty),*) -> $ret {
                $name($($arg),*)
            })*
        }
    };
}
pub(crate) use delegate_backend;

/// The backend of an op over several operands: that of the first one that is not a CPU number
/// (a 0-d CPU tensor, e.g. a Python scalar, may meet tensors of any device).
pub fn of_operands(operands: &[&Tensor]) -> &'static dyn Backend {
    let lead = operands
        .iter()
        .find(|t| !(t.device() == Device::Cpu && t.ndim() == 0))
        .or(operands.first());
    match lead {
        Some(t) => of(t),
        None => &crate::cpu::Cpu,
    }
}

/// The backend that holds `t`'s memory.
pub fn of(t: &Tensor) -> &'static dyn Backend {
    match t.device() {
        Device::Cpu => &crate::cpu::Cpu,
        Device::Cuda(_) => &crate::cuda::Cuda,
    }
}

/// The backend of `device`, or `Error::Device` saying why this machine does not have it
/// (`what` names the attempted action: "move a tensor to").
pub fn on(device: Device, what: &str) -> crate::Result<&'static dyn Backend> {
    match device {
        Device::Cpu => Ok(&crate::cpu::Cpu),
        Device::Cuda(i) => {
            let n = crate::cuda::device_count();
            if i >= n {
                let why = crate::cuda::unavailable_reason()
                    .unwrap_or_else(|| format!("this machine has {n} CUDA device(s)"));
                crate::bail!(Device, "cannot {what} {device}: {why}");
            }
            Ok(&crate::cuda::Cuda)
        }
    }
}

/// `t` copied to `device` without autograd: the device backend does the transfer whichever
/// way it goes (the host backend only ever copies to itself).
pub fn transfer(t: &Tensor, device: Device) -> crate::Result<Tensor> {
    if t.device() == device {
        return Ok(t.clone());
    }
    let be = match device {
        Device::Cpu => of(t),
        Device::Cuda(_) => on(device, "move a tensor to")?,
    };
    be.to_device(t, device)
}

/// Indices of `ts` grouped by device, each group in first-seen order (one backend call per
/// device).
pub fn by_device(ts: &[Tensor]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Device, Vec<usize>)> = Vec::new();
    for (i, t) in ts.iter().enumerate() {
        match groups.iter_mut().find(|(d, _)| *d == t.device()) {
            Some((_, g)) => g.push(i),
            None => groups.push((t.device(), vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}
