//! Elementwise ops on CUDA tensors: the `unary`, `unary_backward`, `binary`, `compare` and
//! `where` kernels index every operand through its own strided layout, so broadcast and
//! transposed views are read in place and only the output is allocated.

use super::{cast, empty, layout, ordinal, run_elementwise, with_dtype, Args};
use crate::cuda::codes::{BinaryCode, CompareCode, UnaryCode};
use crate::cuda::launch::DmLayout;
use crate::ops::binary::BinaryOp;
use crate::ops::unary::UnaryOp;
use crate::{bail, DType, Result, Tensor};

/// The kernel code of a unary op and its two scalar parameters.
/// `y = f(x)` for a floating-point CUDA tensor (the output is contiguous, same dtype).
pub(crate) fn unary(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let (code, a, b) = op.cuda_code();
    unary_code_raw(t, code, a, b)
}

pub(crate) fn unary_code_raw(t: &Tensor, code: i32, a: f64, b: f64) -> Result<Tensor> {
    t.check_float("the CUDA unary kernels take floating-point tensors")?;
    launch_unary("unary", (code, a, b), t, None)
}

/// `g * f'(x)` in one pass; `g` has `x`'s shape. `x` is what the op saved: its output for
/// the ops that save it (`UnaryOp::saves_output`), which have a kernel of their own.
pub(crate) fn unary_backward(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let g = if g.dtype() == x.dtype() {
        g.clone()
    } else {
        cast(g, x.dtype())?
    };
    let kernel = if op.saves_output() {
        "unary_backward_out"
    } else {
        "unary_backward"
    };
    launch_unary(kernel, op.cuda_code(), x, Some(&g))
}

/// One launch of `unary` (`g` None: `kernel(code, n, x layout, out layout, x, out, a, b)`) or
/// `unary_backward` (`kernel(code, n, x layout, g layout, x, g, out, a, b)`) over `x`'s
/// elements, into a new contiguous tensor of `x`'s dtype.
fn launch_unary(
    kernel: &str,
    (code, a, b): (i32, f64, f64),
    x: &Tensor,
    g: Option<&Tensor>,
) -> Result<Tensor> {
    let dev = ordinal(x)?;
    let out = empty(dev, x.dtype(), x.shape())?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let second = match g {
        Some(g) => layout(g)?,
        None => DmLayout::contiguous(n, 0),
    };
    let mut args = Args::new()
        .v(code)
        .v(n as i64)
        .v(layout(x)?)
        .v(second)
        .base(x);
    if let Some(g) = g {
        args = args.base(g);
    }
    let args = args.base(&out).v(a).v(b);
    run_elementwise(dev, kernel, x.dtype(), n, args).map(|()| out)
}

fn binary_code(op: BinaryOp) -> Option<BinaryCode> {
    Some(match op {
        BinaryOp::Add => BinaryCode::Add,
        BinaryOp::Sub => BinaryCode::Sub,
        BinaryOp::Mul => BinaryCode::Mul,
        BinaryOp::Div => BinaryCode::Div,
        BinaryOp::Pow => BinaryCode::Pow,
        BinaryOp::Maximum => BinaryCode::Maximum,
        BinaryOp::Minimum => BinaryCode::Minimum,
        BinaryOp::Remainder => BinaryCode::Remainder,
        BinaryOp::FloorDivide => BinaryCode::FloorDivide,
        _ => return None,
    })
}

fn compare_code(op: BinaryOp) -> Option<CompareCode> {
    Some(match op {
        BinaryOp::Eq => CompareCode::Eq,
        BinaryOp::Ne => CompareCode::Ne,
        BinaryOp::Lt => CompareCode::Lt,
        BinaryOp::Le => CompareCode::Le,
        BinaryOp::Gt => CompareCode::Gt,
        BinaryOp::Ge => CompareCode::Ge,
        _ => return None,
    })
}

/// `op(a, b)` with both operands already of dtype `compute` and on one device, broadcast to
/// `shape`. Arithmetic returns `compute`; comparisons and logical ops return bool.
pub(crate) fn binary(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    compute: DType,
) -> Result<Tensor> {
    let (a, b) = (with_dtype(a, compute)?, with_dtype(b, compute)?);
    if compute.is_small_int() {
        // Integers narrower than 32 bits: through int32, wrapped back (exact modulo 2^bits).
        let (ia, ib) = (cast(&a, DType::I32)?, cast(&b, DType::I32)?);
        let r = binary(op, &ia, &ib, shape, DType::I32)?;
        return if r.dtype() == DType::I32 {
            cast(&r, compute)
        } else {
            Ok(r)
        };
    }
    if let Some(code) = compare_code(op) {
        return launch_binary(
            "compare",
            code as i32,
            (&a, &b),
            shape,
            compute,
            DType::Bool,
        );
    }
    if compute == DType::Bool {
        // Logical ops on bools: through int32 (and, or, xor are min, max, ne of 0/1).
        let (ia, ib) = (cast(&a, DType::I32)?, cast(&b, DType::I32)?);
        let r = match op {
            BinaryOp::LogicalAnd | BinaryOp::Mul | BinaryOp::Minimum => {
                binary(BinaryOp::Minimum, &ia, &ib, shape, DType::I32)?
            }
            BinaryOp::LogicalOr | BinaryOp::Add | BinaryOp::Maximum => {
                binary(BinaryOp::Maximum, &ia, &ib, shape, DType::I32)?
            }
            BinaryOp::LogicalXor => return binary(BinaryOp::Ne, &ia, &ib, shape, DType::I32),
            op => bail!(
                DType,
                "{:?} is not supported for bool tensors; convert with .long() or .float() first",
                op
            ),
        };
        return cast(&r, DType::Bool);
    }
    let Some(code) = binary_code(op) else {
        bail!(DType, "{:?} is not defined for {} tensors", op, compute)
    };
    if !compute.is_float()
        && !matches!(
            op,
            BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Maximum
                | BinaryOp::Minimum
                | BinaryOp::FloorDivide
                | BinaryOp::Remainder
                | BinaryOp::Pow
        )
    {
        // Any other integer op: exact through float64 for |x| < 2^53.
        let r = binary(op, &a, &b, shape, DType::F64)?;
        return cast(&r, compute);
    }
    launch_binary("binary", code as i32, (&a, &b), shape, compute, compute)
}

/// One launch of the `binary` or `compare` kernel (op `code`): `a op b`, both of dtype
/// `compute` and broadcast to `shape`, into a new tensor of `out_dtype`.
fn launch_binary(
    kernel: &str,
    code: i32,
    (a, b): (&Tensor, &Tensor),
    shape: &[usize],
    compute: DType,
    out_dtype: DType,
) -> Result<Tensor> {
    let dev = ordinal(a)?;
    let al = DmLayout::from_layout(&a.layout().broadcast_to(shape)?)?;
    let bl = DmLayout::from_layout(&b.layout().broadcast_to(shape)?)?;
    let n = crate::layout::checked_numel(shape)?;
    let out = empty(dev, out_dtype, shape)?;
    if n > 0 {
        let args = Args::new()
            .v(code)
            .v(n as i64)
            .v(al)
            .v(bl)
            .v(DmLayout::contiguous(n, 0))
            .base(a)
            .base(b)
            .base(&out);
        run_elementwise(dev, kernel, compute, n, args)?;
    }
    Ok(out)
}

/// `x op s` for a floating CUDA tensor and a CPU 0-d scalar (a Python number) as one `unary`
/// launch with the scalar as a kernel argument: no host-to-device copy (and the stream sync
/// it implies) per scalar op. Add, Sub (either side), Mul, Div by the scalar (as a multiply by
/// its reciprocal, as PyTorch's CUDA kernel does) and Pow by the scalar; None for the others.
pub(crate) fn with_host_scalar(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    rt: DType,
) -> Result<Option<Tensor>> {
    let host_scalar = |t: &Tensor| !t.device().is_cuda() && t.ndim() == 0;
    let (x, s, scalar_right) = if a.device().is_cuda() && host_scalar(b) {
        (a, b, true)
    } else if b.device().is_cuda() && host_scalar(a) {
        (b, a, false)
    } else {
        return Ok(None);
    };
    if !rt.is_float() || x.dtype() != rt {
        return Ok(None);
    }
    let v = s.item()?;
    use UnaryCode as U;
    let (code, ka, kb) = match (op, scalar_right) {
        (BinaryOp::Add, _) => (U::Affine as i32, 1.0, v),
        (BinaryOp::Sub, true) => (U::Affine as i32, 1.0, -v),
        (BinaryOp::Sub, false) => (U::Affine as i32, -1.0, v),
        (BinaryOp::Mul, _) => (U::Affine as i32, v, 0.0),
        (BinaryOp::Div, true) => (U::Affine as i32, 1.0 / v, 0.0),
        (BinaryOp::Pow, true) => (U::PowScalar as i32, v, 0.0),
        _ => return Ok(None),
    };
    unary_code_raw(x, code, ka, kb).map(Some)
}

/// `cond ? a : b` with all three broadcast to `shape`; `a` and `b` already share a dtype.
pub(crate) fn where_(cond: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let dev = ordinal(a)?;
    let cond = with_dtype(cond, DType::Bool)?;
    let dt = a.dtype();
    let b = with_dtype(b, dt)?;
    let out = empty(dev, dt, shape)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let args = Args::new()
        .v(n as i64)
        .v(DmLayout::from_layout(&cond.layout().broadcast_to(shape)?)?)
        .v(DmLayout::from_layout(&a.layout().broadcast_to(shape)?)?)
        .v(DmLayout::from_layout(&b.layout().broadcast_to(shape)?)?)
        .v(DmLayout::contiguous(n, 0))
        .base(&cond)
        .base(a)
        .base(&b)
        .base(&out);
    run_elementwise(dev, "where", dt, n, args)?;
    Ok(out)
}
