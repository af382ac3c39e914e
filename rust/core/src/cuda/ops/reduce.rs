//! Row kernels on CUDA tensors: reductions, arg-reductions, softmax and cross-entropy. Each
//! works on a contiguous `[rows, cols]` view with one block per row; the host moves the
//! reduced dims innermost first (a free view when they already are).

use super::elementwise::{binary, unary_code_raw};
use super::{cast, contiguous, empty, full, ordinal, run_typed, with_dtype, Args};
use crate::cuda::codes::{ReduceCode, UnaryCode};
use crate::cuda::launch::LaunchDims;
use crate::ops::binary::BinaryOp;
use crate::ops::nn::as_dtype;
use crate::ops::softmax::SoftmaxAxis;
use crate::ops::unary::UnaryOp;
use crate::{bail, DType, Result, Tensor};

/// The reductions `ops::reduce` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowOp {
    Sum,
    Mean,
    Max,
    Min,
    /// Variance with this correction (Bessel's is 1).
    Var(f64),
    LogSumExp,
}

/// `t` as contiguous `[outer, r]` rows with `dims` innermost.
fn rows(t: &Tensor, dims: &[usize]) -> Result<(Tensor, usize, usize)> {
    let nd = t.ndim();
    let r: usize = dims.iter().map(|&d| t.shape()[d]).product();
    let outer: usize = t.numel().checked_div(r).unwrap_or(0);
    let outer = if r == 0 {
        t.shape()
            .iter()
            .enumerate()
            .filter(|(i, _)| !dims.contains(i))
            .map(|(_, &n)| n)
            .product()
    } else {
        outer
    };
    let mut perm: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    perm.extend_from_slice(dims);
    let p = t.with_layout(t.layout().permute(&perm)?);
    let c = contiguous(&p)?;
    // Keep the offset: an already-contiguous view (a row of a matrix) starts inside its storage.
    let mut rows = crate::layout::Layout::contiguous(&[outer, r]);
    rows.offset = c.layout().offset;
    Ok((c.with_layout(rows), outer, r))
}

/// One reduce kernel over rows `[outer, r]`; the result has `outer` elements.
fn reduce_rows(x: &Tensor, outer: usize, r: usize, code: ReduceCode) -> Result<Tensor> {
    launch_rows("reduce", code, (x, outer, r), x.dtype())
}

/// `kernel` (a `reduce` or `reduce_int`, picked by `x`'s dtype) over rows `[outer, r]` into
/// `outer` elements of `out_dtype`.
fn launch_rows(
    kernel: &str,
    code: ReduceCode,
    (x, outer, r): (&Tensor, usize, usize),
    out_dtype: DType,
) -> Result<Tensor> {
    let dev = ordinal(x)?;
    let out = empty(dev, out_dtype, &[outer])?;
    if outer == 0 {
        return Ok(out);
    }
    let args = Args::new()
        .v(code as i32)
        .v(outer as i64)
        .v(r as i64)
        .data(x)
        .data(&out);
    run_typed(dev, kernel, x.dtype(), LaunchDims::rows(outer), args)?;
    Ok(out)
}

/// Reduces floating-point `t` over `dims` (sorted, unique) to `shape`.
pub(crate) fn reduce(t: &Tensor, dims: &[usize], shape: &[usize], op: RowOp) -> Result<Tensor> {
    let dev = ordinal(t)?;
    t.check_float("CUDA reductions take floating-point tensors")?;
    let (x, outer, r) = rows(t, dims)?;
    if r == 0 {
        let fill = match op {
            RowOp::Sum => 0.0,
            RowOp::LogSumExp => f64::NEG_INFINITY,
            RowOp::Max | RowOp::Min => bail!(
                Index,
                "max/min of an empty dimension: the operation has no identity"
            ),
            _ => f64::NAN,
        };
        return full(dev, t.dtype(), shape, fill);
    }
    let out = match op {
        RowOp::Sum => reduce_rows(&x, outer, r, ReduceCode::Sum)?,
        RowOp::Mean => reduce_rows(&x, outer, r, ReduceCode::Mean)?,
        RowOp::Max => reduce_rows(&x, outer, r, ReduceCode::Max)?,
        RowOp::Min => reduce_rows(&x, outer, r, ReduceCode::Min)?,
        RowOp::Var(correction) => {
            let mean =
                reduce_rows(&x, outer, r, ReduceCode::Mean)?.reshape(&[outer as isize, 1])?;
            let centered = binary(BinaryOp::Sub, &x, &mean, &[outer, r], x.dtype())?;
            let ss = reduce_rows(&centered, outer, r, ReduceCode::SumSq)?;
            let scale = 1.0 / (r as f64 - correction).max(0.0);
            unary_code_raw(&ss, UnaryCode::Affine as i32, scale, 0.0)?
        }
        RowOp::LogSumExp => {
            let m = reduce_rows(&x, outer, r, ReduceCode::Max)?;
            // Rows whose max is infinite use 0 as the shift (so -inf rows give -inf, not NaN).
            let zero = full(dev, m.dtype(), &[outer], 0.0)?;
            let d = binary(BinaryOp::Sub, &m, &m, &[outer], m.dtype())?;
            let is_finite = binary(BinaryOp::Eq, &d, &zero, &[outer], m.dtype())?;
            let shift = super::elementwise::where_(&is_finite, &m, &zero, &[outer])?;
            let col = shift.reshape(&[outer as isize, 1])?;
            let e = binary(BinaryOp::Sub, &x, &col, &[outer, r], x.dtype())?;
            let e = unary_code_raw(&e, UnaryOp::Exp.cuda_code().0, 0.0, 0.0)?;
            let s = reduce_rows(&e, outer, r, ReduceCode::Sum)?;
            let l = unary_code_raw(&s, UnaryOp::Log.cuda_code().0, 0.0, 0.0)?;
            binary(BinaryOp::Add, &l, &shift, &[outer], l.dtype())?
        }
    };
    let shape: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
    out.reshape(&shape)
}

/// Sum, max or min of an integer or bool `t` over `dims` into int64 of shape `shape`: exact
/// (sums wrap as on the CPU), each element read in its own dtype.
pub(crate) fn reduce_int(
    kind: crate::ops::reduce::Kind,
    t: &Tensor,
    dims: &[usize],
    shape: &[usize],
) -> Result<Tensor> {
    use crate::ops::reduce::Kind;
    let code = match kind {
        Kind::Sum => ReduceCode::Sum,
        Kind::Max => ReduceCode::Max,
        Kind::Min => ReduceCode::Min,
        other => bail!(DType, "{other:?} of an integer tensor is not supported"),
    };
    // Narrow integers are read as int32 (the kernel reads int64, int32 and bool).
    let wide;
    let t = if t.dtype().is_small_int() {
        wide = cast(t, DType::I32)?;
        &wide
    } else {
        t
    };
    let (x, outer, r) = rows(t, dims)?;
    if r == 0 && kind != Kind::Sum {
        bail!(
            Index,
            "amax/amin of an empty dimension: the operation has no identity"
        );
    }
    let out = launch_rows("reduce_int", code, (&x, outer, r), DType::I64)?;
    let shape: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
    out.reshape(&shape)
}

/// Index of the first max (min) of each row of `t` over `dim`, as int64 of shape `shape`.
pub(crate) fn arg_reduce(t: &Tensor, dim: usize, shape: &[usize], max: bool) -> Result<Tensor> {
    let dev = ordinal(t)?;
    let t = if t.dtype().is_float() {
        t.clone()
    } else {
        cast(t, DType::F64)?
    };
    let (x, outer, r) = rows(&t, &[dim])?;
    if r == 0 {
        bail!(Index, "argmax/argmin of an empty dimension");
    }
    let idx = empty(dev, DType::I64, &[outer])?;
    let val = empty(dev, t.dtype(), &[outer])?;
    if outer > 0 {
        let args = Args::new()
            .v(max as i32)
            .v(outer as i64)
            .v(r as i64)
            .data(&x)
            .data(&idx)
            .data(&val);
        run_typed(dev, "arg_reduce", t.dtype(), LaunchDims::rows(outer), args)?;
    }
    let shape: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
    idx.reshape(&shape)
}

/// Running sums (`prod`: products) of `t` along dim `d`, from the end when `reverse`, in
/// `t`'s dtype (floating point or int64): one thread per row of the `[outer, n]` view with
/// `d` innermost, moved back to `t`'s dim order as a view.
pub(crate) fn scan(t: &Tensor, d: usize, prod: bool, reverse: bool) -> Result<Tensor> {
    let dev = ordinal(t)?;
    if !(t.dtype().is_float() || t.dtype() == DType::I64) {
        bail!(
            DType,
            "a running sum or product of {} is not supported",
            t.dtype()
        );
    }
    let (x, outer, r) = rows(t, &[d])?;
    let out = empty(dev, t.dtype(), &[outer, r])?;
    if outer > 0 && r > 0 {
        let args = Args::new()
            .v(prod as i32)
            .v(reverse as i32)
            .v(outer as i64)
            .v(r as i64)
            .data(&x)
            .data(&out);
        run_typed(dev, "scan", t.dtype(), LaunchDims::elementwise(outer), args)?;
    }
    let nd = t.ndim();
    let mut order: Vec<usize> = (0..nd).filter(|&i| i != d).collect();
    order.push(d);
    let moved: Vec<isize> = order.iter().map(|&i| t.shape()[i] as isize).collect();
    let mut back = vec![0isize; nd];
    for (at, &i) in order.iter().enumerate() {
        back[i] = at as isize;
    }
    out.reshape(&moved)?.permute(&back)
}

/// Softmax (or log-softmax) of the contiguous `x` over `ax`: the kernels read rows, so a
/// strided axis (`inner` > 1) is moved innermost on the device first.
pub(crate) fn softmax_rows(x: &Tensor, ax: SoftmaxAxis) -> Result<Tensor> {
    let SoftmaxAxis { n, inner, log } = ax;
    let x = contiguous(x)?;
    if inner > 1 && x.numel() > 0 {
        let y = launch_softmax("softmax_forward", log, n, &[&axis_last(&x, n, inner)?])?;
        return axis_back(&y, x.shape(), n, inner);
    }
    launch_softmax("softmax_forward", log, n, &[&x])
}

/// The softmax backward from the output `y` and the incoming gradient `g` (same shape).
pub(crate) fn softmax_backward_rows(y: &Tensor, g: &Tensor, ax: SoftmaxAxis) -> Result<Tensor> {
    let SoftmaxAxis { n, inner, log } = ax;
    let y = contiguous(y)?;
    let g = contiguous(&if g.dtype() == y.dtype() {
        g.clone()
    } else {
        cast(g, y.dtype())?
    })?;
    if inner > 1 && y.numel() > 0 {
        let (yr, gr) = (axis_last(&y, n, inner)?, axis_last(&g, n, inner)?);
        let dx = launch_softmax("softmax_backward", log, n, &[&yr, &gr])?;
        return axis_back(&dx, y.shape(), n, inner);
    }
    launch_softmax("softmax_backward", log, n, &[&y, &g])
}

/// The contiguous `t` as `[outer, n, inner]`, its `n` axis moved innermost (a device copy).
fn axis_last(t: &Tensor, n: usize, inner: usize) -> Result<Tensor> {
    let outer = (t.numel() / (n * inner)) as isize;
    contiguous(
        &t.reshape(&[outer, n as isize, inner as isize])?
            .permute(&[0, 2, 1])?,
    )
}

/// `axis_last`'s inverse: rows `[outer, inner, n]` back to the contiguous `shape`.
fn axis_back(t: &Tensor, shape: &[usize], n: usize, inner: usize) -> Result<Tensor> {
    let outer = (t.numel() / (n * inner)) as isize;
    let back = t
        .reshape(&[outer, inner as isize, n as isize])?
        .permute(&[0, 2, 1])?;
    contiguous(&back)?.reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
}

/// One launch of a softmax kernel, `kernel(log, rows, n, inputs..., out)`, over the
/// contiguous rows of `n` of `inputs[0]`, into a new tensor of its shape and dtype.
fn launch_softmax(kernel: &str, log: bool, n: usize, inputs: &[&Tensor]) -> Result<Tensor> {
    let y = inputs[0];
    let dev = ordinal(y)?;
    let rows = y.numel().checked_div(n).unwrap_or(0);
    let out = empty(dev, y.dtype(), y.shape())?;
    if rows > 0 {
        let args = Args::new().v(log as i32).v(rows as i64).v(n as i64);
        let args = inputs.iter().fold(args, |args, t| args.data(t)).data(&out);
        run_typed(dev, kernel, y.dtype(), LaunchDims::rows(rows), args)?;
    }
    Ok(out)
}

/// Per-row cross-entropy of logits `[n, c]` against int64 targets: (loss, row weight).
/// A target outside `[0, c)` that is not `ignore_index` is an `IndexError` naming it.
pub(crate) fn cross_entropy_rows(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
) -> Result<(Tensor, Tensor)> {
    let dev = ordinal(x)?;
    let ops = ce_operands(x, target, weight)?;
    let (x, (n, c)) = (&ops.x, ops.rows_classes());
    let loss = empty(dev, x.dtype(), &[n])?;
    let row_weight = empty(dev, x.dtype(), &[n])?;
    let bad = full(dev, DType::I64, &[1], ignore_index as f64)?;
    if n > 0 {
        let args = ops
            .args(ignore_index, smoothing)
            .data(&loss)
            .data(&row_weight)
            .data(&bad);
        run_typed(
            dev,
            "cross_entropy_forward",
            x.dtype(),
            LaunchDims::rows(n),
            args,
        )?;
        let bad = super::to_device(&bad, crate::Device::Cpu)?.to_vec::<i64>()?[0];
        if bad != ignore_index {
            bail!(
                Index,
                "Target {bad} is out of bounds: cross_entropy expects class indices in [0, {c})"
            );
        }
    }
    Ok((loss, row_weight))
}

/// d loss / d logits: `grad_out` is one value per row (`grad_stride` 1) or one scalar
/// (`grad_stride` 0), times `grad_scale`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cross_entropy_backward_rows(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    grad_out: &Tensor,
    grad_stride: usize,
    grad_scale: f64,
) -> Result<Tensor> {
    let dev = ordinal(x)?;
    let ops = ce_operands(x, target, weight)?;
    let (x, (n, c)) = (&ops.x, ops.rows_classes());
    let g = as_dtype(&super::align_device(grad_out, x)?, x.dtype())?;
    let dx = empty(dev, x.dtype(), &[n, c])?;
    if n > 0 {
        let args = ops
            .args(ignore_index, smoothing)
            .data(&g)
            .v(grad_stride as i64)
            .v(grad_scale)
            .data(&dx);
        run_typed(
            dev,
            "cross_entropy_backward",
            x.dtype(),
            LaunchDims::rows(n),
            args,
        )?;
    }
    Ok(dx)
}

/// The cross-entropy kernels' operands: contiguous logits, int64 targets and optional class
/// weights in the logits' dtype, all on the logits' device.
struct CeOperands {
    x: Tensor,
    target: Tensor,
    weight: Option<Tensor>,
}

impl CeOperands {
    /// `(n, c)` of the logits.
    fn rows_classes(&self) -> (usize, usize) {
        (self.x.shape()[0], self.x.shape()[1])
    }

    /// The arguments both kernels start with: sizes, operands and options.
    fn args(&self, ignore_index: i64, smoothing: f64) -> Args {
        let (n, c) = self.rows_classes();
        Args::new()
            .v(n as i64)
            .v(c as i64)
            .data(&self.x)
            .data(&self.target)
            .opt(self.weight.as_ref())
            .v(ignore_index)
            .v(smoothing)
    }
}

fn ce_operands(x: &Tensor, target: &Tensor, weight: Option<&Tensor>) -> Result<CeOperands> {
    let x = contiguous(x)?;
    let target = contiguous(&super::align_device(&with_dtype(target, DType::I64)?, &x)?)?;
    let weight = weight
        .map(|w| as_dtype(&super::align_device(w, &x)?, x.dtype()))
        .transpose()?;
    Ok(CeOperands { x, target, weight })
}
