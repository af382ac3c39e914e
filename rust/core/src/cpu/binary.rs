//! Elementwise binary kernels on the CPU over broadcast strided layouts: float (half types
//! compute in float32), integer (wrapping, floor division and remainder as Python) and bool.

use crate::cpu::kernel::{map1, map2, Computes};
use crate::layout::{broadcast_shapes, Layout};
use crate::ops::binary::BinaryOp;
use crate::ops::copy::cast_raw;
use crate::{bail, DType, Float, Result, Tensor};
use half::{bf16, f16};

macro_rules! compare_arms {
    ($op:expr, $T:ty, $a:expr, $al:expr, $b:expr, $bl:expr, $shape:expr) => {
        match $op {
            BinaryOp::Eq => Tensor::from_vec(
                map2::<$T, $T, bool>($a, $al, $b, $bl, |x, y| x == y),
                $shape,
            ),
            BinaryOp::Ne => Tensor::from_vec(
                map2::<$T, $T, bool>($a, $al, $b, $bl, |x, y| x != y),
                $shape,
            ),
            BinaryOp::Lt => {
                Tensor::from_vec(map2::<$T, $T, bool>($a, $al, $b, $bl, |x, y| x < y), $shape)
            }
            BinaryOp::Le => Tensor::from_vec(
                map2::<$T, $T, bool>($a, $al, $b, $bl, |x, y| x <= y),
                $shape,
            ),
            BinaryOp::Gt => {
                Tensor::from_vec(map2::<$T, $T, bool>($a, $al, $b, $bl, |x, y| x > y), $shape)
            }
            BinaryOp::Ge => Tensor::from_vec(
                map2::<$T, $T, bool>($a, $al, $b, $bl, |x, y| x >= y),
                $shape,
            ),
            _ => unreachable!(),
        }
    };
}

/// PyTorch's `div_floor_floating`: the quotient of `a - fmod(a, b)`, which is exact where
/// `floor(a / b)` is not (`1.0 // 0.1` is 9, as in Python, since 0.1 is slightly above 1/10).
fn floor_divide(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut d = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        d -= 1.0;
    }
    if d == 0.0 {
        return 0.0 * (a / b); // a signed zero
    }
    let f = d.floor();
    if d - f > 0.5 {
        f + 1.0
    } else {
        f
    }
}

fn float_kernel<T: Float>(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let al = a.layout().broadcast_to(shape)?;
    let bl = b.layout().broadcast_to(shape)?;
    let (a, b, al, bl) = (a, b, &al, &bl);
    if op == BinaryOp::Pow && bl.strides.iter().all(|&s| s == 0) && bl.numel() > 0 {
        let y = b.storage().as_slice::<T>()[bl.offset];
        if let Some(v) = pow_scalar(a, al, y) {
            return Tensor::from_vec(v, shape);
        }
    }
    let v: Vec<T> = match op {
        BinaryOp::Add => map2(a, al, b, bl, |x: T, y: T| x + y),
        BinaryOp::Sub => map2(a, al, b, bl, |x: T, y: T| x - y),
        BinaryOp::Mul => map2(a, al, b, bl, |x: T, y: T| x * y),
        BinaryOp::Div => map2(a, al, b, bl, |x: T, y: T| x / y),
        BinaryOp::Pow => map2(a, al, b, bl, |x: T, y: T| x.powf(y)),
        BinaryOp::Maximum => map2(a, al, b, bl, |x: T, y: T| x.max(y)),
        BinaryOp::Minimum => map2(a, al, b, bl, |x: T, y: T| x.min(y)),
        BinaryOp::Remainder => map2(a, al, b, bl, |x: T, y: T| {
            let r = T::from_f64(x.to_f64() % y.to_f64());
            if r != T::zero() && ((r < T::zero()) != (y < T::zero())) {
                r + y
            } else {
                r
            }
        }),
        BinaryOp::FloorDivide => map2(a, al, b, bl, |x: T, y: T| {
            T::from_f64(floor_divide(x.to_f64(), y.to_f64()))
        }),
        op if op.is_comparison() => return compare_arms!(op, T, a, al, b, bl, shape),
        _ => bail!(DType, "{:?} is not defined for floating point tensors", op),
    };
    Tensor::from_vec(v, shape)
}

/// `x ** y` for one exponent `y`: the exponents PyTorch computes without `pow` take those
/// forms, vectorised (and so their edge values: `(-0) ** 0.5` is -0, `(-inf) ** 0.5` NaN);
/// `None` for any other exponent. The CUDA kernels' `dm_pow_scalar` does the same.
fn pow_scalar<T: Float>(a: &Tensor, al: &Layout, y: T) -> Option<Vec<T>> {
    let (one, e) = (T::from_f64(1.0), y.to_f64());
    Some(if e == 0.5 {
        map1(a, al, |x: T| x.sqrt())
    } else if e == -0.5 {
        map1(a, al, move |x: T| one / x.sqrt())
    } else if e == 2.0 {
        map1(a, al, |x: T| x * x)
    } else if e == 3.0 {
        map1(a, al, |x: T| x * x * x)
    } else if e == -1.0 {
        map1(a, al, move |x: T| one / x)
    } else if e == -2.0 {
        map1(a, al, move |x: T| one / (x * x))
    } else {
        return None;
    })
}

macro_rules! int_kernel {
    ($T:ty, $op:expr, $a:expr, $b:expr, $shape:expr) => {{
        let al = $a.layout().broadcast_to($shape)?;
        let bl = $b.layout().broadcast_to($shape)?;
        let (a, b, al, bl) = ($a, $b, &al, &bl);
        let v: Vec<$T> = match $op {
            BinaryOp::Add => map2(a, al, b, bl, |x: $T, y: $T| x.wrapping_add(y)),
            BinaryOp::Sub => map2(a, al, b, bl, |x: $T, y: $T| x.wrapping_sub(y)),
            BinaryOp::Mul => map2(a, al, b, bl, |x: $T, y: $T| x.wrapping_mul(y)),
            BinaryOp::Maximum => map2(a, al, b, bl, |x: $T, y: $T| x.max(y)),
            BinaryOp::Minimum => map2(a, al, b, bl, |x: $T, y: $T| x.min(y)),
            BinaryOp::Pow => {
                // (a negative exponent was refused by `ops::binary::run_binary`) Squaring over the whole exponent (`wrapping_pow` takes a u32, which would
                // cut 2**32 to 0), wrapping as PyTorch's integer pow.
                map2(a, al, b, bl, |x: $T, y: $T| {
                    let (mut base, mut e, mut acc) = (x, y as u64, 1 as $T);
                    while e > 0 {
                        if e & 1 == 1 {
                            acc = acc.wrapping_mul(base);
                        }
                        base = base.wrapping_mul(base);
                        e >>= 1;
                    }
                    acc
                })
            }
            BinaryOp::Remainder | BinaryOp::FloorDivide => {
                if b.to_dtype(DType::I64)?
                    .to_vec::<i64>()?
                    .iter()
                    .any(|&e| e == 0)
                {
                    bail!(Value, "integer division or modulo by zero");
                }
                if $op == BinaryOp::Remainder {
                    map2(a, al, b, bl, |x: $T, y: $T| {
                        // wrapping: MIN % -1 is 0 instead of a panic.
                        let r = x.wrapping_rem_euclid(y);
                        r + if y < 0 && r != 0 { y } else { 0 }
                    })
                } else {
                    map2(a, al, b, bl, |x: $T, y: $T| {
                        let q = x.wrapping_div(y);
                        if (x.wrapping_rem(y) != 0) && ((x < 0) != (y < 0)) {
                            q - 1
                        } else {
                            q
                        }
                    })
                }
            }
            op if op.is_comparison() => return compare_arms!(op, $T, a, al, b, bl, $shape),
            op => bail!(DType, "{:?} is not defined for integer tensors", op),
        };
        Tensor::from_vec(v, $shape)
    }};
}

fn bool_kernel(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let al = a.layout().broadcast_to(shape)?;
    let bl = b.layout().broadcast_to(shape)?;
    let (al, bl) = (&al, &bl);
    let v: Vec<bool> = match op {
        BinaryOp::LogicalAnd | BinaryOp::Mul | BinaryOp::Minimum => {
            map2(a, al, b, bl, |x: bool, y: bool| x && y)
        }
        BinaryOp::LogicalOr | BinaryOp::Add | BinaryOp::Maximum => {
            map2(a, al, b, bl, |x: bool, y: bool| x || y)
        }
        BinaryOp::LogicalXor | BinaryOp::Ne => map2(a, al, b, bl, |x: bool, y: bool| x != y),
        BinaryOp::Eq => map2(a, al, b, bl, |x: bool, y: bool| x == y),
        BinaryOp::Lt => map2(a, al, b, bl, |x: bool, y: bool| !x & y),
        BinaryOp::Le => map2(a, al, b, bl, |x: bool, y: bool| x <= y),
        BinaryOp::Gt => map2(a, al, b, bl, |x: bool, y: bool| x & !y),
        BinaryOp::Ge => map2(a, al, b, bl, |x: bool, y: bool| x >= y),
        op => bail!(
            DType,
            "{:?} is not supported for bool tensors; convert with .long() or .float() first",
            op
        ),
    };
    Tensor::from_vec(v, shape)
}

/// `+ - * /` over half (and float32) operands in one pass, each element widened and the
/// result rounded once: what casting both to float32 first gives, without the copies.
fn widened<A, B, O>(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor>
where
    A: Computes<As = f32>,
    B: Computes<As = f32>,
    O: Computes<As = f32>,
{
    let al = a.layout().broadcast_to(shape)?;
    let bl = b.layout().broadcast_to(shape)?;
    let (al, bl) = (&al, &bl);
    let v: Vec<O> = match op {
        BinaryOp::Add => map2(a, al, b, bl, |x: A, y: B| O::narrow(x.widen() + y.widen())),
        BinaryOp::Sub => map2(a, al, b, bl, |x: A, y: B| O::narrow(x.widen() - y.widen())),
        BinaryOp::Mul => map2(a, al, b, bl, |x: A, y: B| O::narrow(x.widen() * y.widen())),
        _ => map2(a, al, b, bl, |x: A, y: B| O::narrow(x.widen() / y.widen())),
    };
    Tensor::from_vec(v, shape)
}

/// Which `widened` instance computes a half-precision `+ - * /` (`H`: the half dtype).
#[derive(Clone, Copy)]
enum HalfPlan {
    /// `H op number` into `H`, the 0-d number (any dtype) widened to float32 first.
    HalfNumber,
    /// `number op H` into `H`.
    NumberHalf,
    /// `H op H` into `H`.
    Half,
    /// `f32 op H` into float32.
    FloatHalf,
    /// `H op f32` into float32.
    HalfFloat,
}

impl HalfPlan {
    fn run<H: Computes<As = f32>>(
        self,
        op: BinaryOp,
        a: &Tensor,
        b: &Tensor,
        shape: &[usize],
    ) -> Result<Tensor> {
        match self {
            HalfPlan::HalfNumber => widened::<H, f32, H>(op, a, &cast_raw(b, DType::F32)?, shape),
            HalfPlan::NumberHalf => widened::<f32, H, H>(op, &cast_raw(a, DType::F32)?, b, shape),
            HalfPlan::Half => widened::<H, H, H>(op, a, b, shape),
            HalfPlan::FloatHalf => widened::<f32, H, f32>(op, a, b, shape),
            HalfPlan::HalfFloat => widened::<H, f32, f32>(op, a, b, shape),
        }
    }
}

/// The half-precision arithmetic `widened` covers (bfloat16 and float16, alone, with
/// float32 or with a 0-d number), or `None` for everything else.
fn half_arith(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    out: DType,
) -> Option<Result<Tensor>> {
    use DType::{BF16, F16, F32};
    if !matches!(
        op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
    ) {
        return None;
    }
    let (ta, tb) = (a.dtype(), b.dtype());
    let h = [BF16, F16].into_iter().find(|&h| ta == h || tb == h)?;
    // A number (0-d, any other dtype: `x * 2` brings an int64) with a half tensor: widened
    // in float32, as PyTorch's opmath, instead of the whole tensor cast to float32 and back.
    let number = |t: &Tensor| t.ndim() == 0 && t.dtype() != h;
    let plan = if out == h && ta == h && number(b) {
        HalfPlan::HalfNumber
    } else if out == h && tb == h && number(a) {
        HalfPlan::NumberHalf
    } else if ta == h && tb == h && out == h {
        HalfPlan::Half
    } else if ta == F32 && tb == h && out == F32 {
        HalfPlan::FloatHalf
    } else if ta == h && tb == F32 && out == F32 {
        HalfPlan::HalfFloat
    } else {
        return None;
    };
    Some(if h == BF16 {
        plan.run::<bf16>(op, a, b, shape)
    } else {
        plan.run::<f16>(op, a, b, shape)
    })
}

/// `op(a, b)` broadcast, computed in the promoted dtype `rt` (comparisons return bool).
pub(super) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor> {
    a.check_same_device(b)?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    crate::ops::creation::check_alloc(&shape, rt.size())?;
    if let Some(r) = half_arith(op, a, b, &shape, rt) {
        return r;
    }
    let (compute, out) = if op.is_logical() {
        (DType::Bool, DType::Bool)
    } else if op.is_comparison() {
        (rt, DType::Bool)
    } else if op == BinaryOp::Div {
        (rt.to_float(), rt.to_float())
    } else {
        (rt, rt)
    };
    // Half types compute in f32 and round once at the end.
    // Integers narrower than 32 bits compute in int32 and wrap back (exact modulo 2^bits).
    let compute = match compute {
        DType::F16 | DType::BF16 => DType::F32,
        c if c.is_small_int() => DType::I32,
        c => c,
    };
    // A narrow integer op is one in that dtype: each operand is converted to it first (a
    // 0-d int64 300 is 44 in uint8, as in PyTorch), then widened.
    let operand = |t: &Tensor| -> Result<Tensor> {
        let t = if rt.is_small_int() && t.dtype() != rt && compute == DType::I32 {
            cast_raw(t, rt)?
        } else {
            t.clone()
        };
        if t.dtype() == compute {
            Ok(t)
        } else {
            cast_raw(&t, compute)
        }
    };
    let (ca, cb) = (operand(a)?, operand(b)?);
    let r = match compute {
        DType::F32 => float_kernel::<f32>(op, &ca, &cb, &shape)?,
        DType::F64 => float_kernel::<f64>(op, &ca, &cb, &shape)?,
        DType::I64 => int_kernel!(i64, op, &ca, &cb, &shape)?,
        DType::I32 => int_kernel!(i32, op, &ca, &cb, &shape)?,
        DType::Bool => bool_kernel(op, &ca, &cb, &shape)?,
        DType::F16 | DType::BF16 | DType::U8 | DType::I8 | DType::I16 => unreachable!(),
    };
    if r.dtype() != out {
        cast_raw(&r, out)
    } else {
        Ok(r)
    }
}
