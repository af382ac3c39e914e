//! Elementwise binary ops with broadcasting and PyTorch type promotion, and their gradients.

use crate::autograd::{record, Saved};
use crate::layout::broadcast_shapes;
use crate::ops::copy::cast_raw;
use crate::ops::kernel::map2;
use crate::ops::overflow::{overflow, wrapped_int_outside};
use crate::ops::promote::result_type;
use crate::{bail, DType, Float, Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    Remainder,
    FloorDivide,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
}

impl BinaryOp {
    fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
    fn is_logical(self) -> bool {
        matches!(
            self,
            BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor
        )
    }
}

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

fn float_kernel<T: Float>(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let al = a.layout().broadcast_to(shape)?;
    let bl = b.layout().broadcast_to(shape)?;
    let (a, b, al, bl) = (a, b, &al, &bl);
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
            T::from_f64((x / y).to_f64().floor())
        }),
        op if op.is_comparison() => return compare_arms!(op, T, a, al, b, bl, shape),
        _ => bail!(DType, "{:?} is not defined for floating point tensors", op),
    };
    Tensor::from_vec(v, shape)
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
                if b.to_dtype(DType::I64)?
                    .to_vec::<i64>()?
                    .iter()
                    .any(|&e| e < 0)
                {
                    bail!(Value, "integers to negative integer powers are not allowed");
                }
                map2(a, al, b, bl, |x: $T, y: $T| x.wrapping_pow(y as u32))
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

/// The op without autograd: promotes, broadcasts and computes.
pub(crate) fn binary_raw(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let rt = result_type(&[a, b]);
    if let Some(v) = wrapped_int_outside(&[a, b], rt) {
        // A Python int that int32 cannot hold: a comparison is still well defined (computed in
        // int64, as NumPy does); arithmetic would wrap, so it fails as in NumPy 2.
        if !op.is_comparison() {
            return Err(overflow(v, rt));
        }
        return binary_raw(op, &a.to_dtype(DType::I64)?, &b.to_dtype(DType::I64)?);
    }
    if a.device().is_cuda() || b.device().is_cuda() {
        return binary_cuda(op, a, b, rt);
    }
    a.check_same_device(b)?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
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
    let compute = match compute {
        DType::F16 | DType::BF16 => DType::F32,
        c => c,
    };
    let ca = if a.dtype() == compute {
        a.clone()
    } else {
        cast_raw(a, compute)?
    };
    let cb = if b.dtype() == compute {
        b.clone()
    } else {
        cast_raw(b, compute)?
    };
    let r = match compute {
        DType::F32 => float_kernel::<f32>(op, &ca, &cb, &shape)?,
        DType::F64 => float_kernel::<f64>(op, &ca, &cb, &shape)?,
        DType::I64 => int_kernel!(i64, op, &ca, &cb, &shape)?,
        DType::I32 => int_kernel!(i32, op, &ca, &cb, &shape)?,
        DType::Bool => bool_kernel(op, &ca, &cb, &shape)?,
        DType::F16 | DType::BF16 => unreachable!(),
    };
    if r.dtype() != out {
        cast_raw(&r, out)
    } else {
        Ok(r)
    }
}

/// `binary_raw` for CUDA operands (a CPU 0-d operand, e.g. a Python number, moves over).
fn binary_cuda(op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor> {
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

/// Reduces a broadcast gradient back to an input's shape and dtype.
pub(crate) fn grad_for(g: Tensor, input_shape: &[usize], input_dtype: DType) -> Result<Tensor> {
    let g = if g.shape() != input_shape {
        g.sum_to_shape(input_shape)?
    } else {
        g
    };
    g.to_dtype(input_dtype)
}

fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let out = binary_raw(op, a, b)?;
    if !out.dtype().is_float() || !(a.requires_grad() || b.requires_grad()) {
        return Ok(out);
    }
    let (sa, da, sb, db) = (a.shape().to_vec(), a.dtype(), b.shape().to_vec(), b.dtype());
    let (need_a, need_b) = (a.requires_grad(), b.requires_grad());
    let name = match op {
        BinaryOp::Add => "AddBackward",
        BinaryOp::Sub => "SubBackward",
        BinaryOp::Mul => "MulBackward",
        BinaryOp::Div => "DivBackward",
        BinaryOp::Pow => "PowBackward",
        BinaryOp::Maximum => "MaximumBackward",
        BinaryOp::Minimum => "MinimumBackward",
        BinaryOp::Remainder => "RemainderBackward",
        _ => "NotDifferentiable",
    };
    let (xa, xb) = (Saved::new(a), Saved::new(b));
    let saved_out = if op == BinaryOp::Pow {
        Some(Saved::new(&out))
    } else {
        None
    };
    Ok(record(out, name, &[a, b], move |g| {
        let (ga, gb): (Option<Tensor>, Option<Tensor>) = match op {
            BinaryOp::Add => (Some(g.clone()), Some(g.clone())),
            BinaryOp::Sub => (Some(g.clone()), Some(g.neg()?)),
            BinaryOp::Mul => (
                if need_a {
                    Some(g.mul(xb.get()?)?)
                } else {
                    None
                },
                if need_b {
                    Some(g.mul(xa.get()?)?)
                } else {
                    None
                },
            ),
            BinaryOp::Div => {
                let b = xb.get()?;
                let ga = g.div(b)?;
                let gb = if need_b {
                    Some(ga.mul(xa.get()?)?.div(b)?.neg()?)
                } else {
                    None
                };
                (Some(ga), gb)
            }
            BinaryOp::Pow => {
                let (x, e) = (xa.get()?, xb.get()?);
                let ga = if need_a {
                    // e * x^(e-1), defined as 0 where e == 0 (0 * 0^-1 would be NaN).
                    let em1 = e.sub(&Tensor::wrapped_scalar(1.0f64))?;
                    let e_zero = e.eq(&Tensor::wrapped_scalar(0.0f64))?;
                    let d = e.mul(&x.pow(&em1)?)?.masked_fill(&e_zero, 0.0)?;
                    Some(g.mul(&d)?)
                } else {
                    None
                };
                let gb = if need_b {
                    let out = saved_out.as_ref().map(|s| s.get()).transpose()?.cloned();
                    let out = match out {
                        Some(o) => o,
                        None => x.pow(e)?,
                    };
                    // d/de x^e = x^e ln x, defined as 0 where x == 0 (PyTorch's convention).
                    let lx = x.log()?;
                    let zero = x.eq(&Tensor::wrapped_scalar(0.0f64))?;
                    let d = out.mul(&lx)?.masked_fill(&zero, 0.0)?;
                    Some(g.mul(&d)?)
                } else {
                    None
                };
                (ga, gb)
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let (x, y) = (xa.get()?, xb.get()?);
                let pick_a = if op == BinaryOp::Maximum {
                    x.gt(y)?
                } else {
                    x.lt(y)?
                };
                let tie = x.eq(y)?;
                let wa = pick_a.to_dtype(g.dtype())?.add(
                    &tie.to_dtype(g.dtype())?
                        .mul(&Tensor::wrapped_scalar(0.5f64))?,
                )?;
                let wb = Tensor::wrapped_scalar(1.0f64).sub(&wa)?;
                (Some(g.mul(&wa)?), Some(g.mul(&wb)?))
            }
            BinaryOp::Remainder => {
                let q = binary_raw(BinaryOp::FloorDivide, xa.get()?, xb.get()?)?;
                (Some(g.clone()), Some(g.mul(&q)?.neg()?))
            }
            _ => (None, None),
        };
        Ok(vec![
            match ga {
                Some(t) if need_a => Some(grad_for(t, &sa, da)?),
                _ => None,
            },
            match gb {
                Some(t) if need_b => Some(grad_for(t, &sb, db)?),
                _ => None,
            },
        ])
    }))
}

macro_rules! binary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
                    binary(BinaryOp::$op, self, other)
                }
            )*
        }
    };
}

binary_methods!(
    add => Add, sub => Sub, mul => Mul, div => Div, pow => Pow, maximum => Maximum,
    minimum => Minimum, remainder => Remainder, floor_divide => FloorDivide,
    eq => Eq, ne => Ne, lt => Lt, le => Le, gt => Gt, ge => Ge,
    logical_and => LogicalAnd, logical_or => LogicalOr, logical_xor => LogicalXor,
);

impl Tensor {
    /// `self + other * alpha` in one call (PyTorch's `add(other, alpha=)`).
    pub fn add_scaled(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        if alpha == 1.0 {
            return self.add(other);
        }
        self.add(&other.mul(&Tensor::wrapped_scalar(alpha))?)
    }

    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        self.add(&Tensor::wrapped_scalar(v))
    }

    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        self.mul(&Tensor::wrapped_scalar(v))
    }

    pub fn pow_scalar(&self, e: f64) -> Result<Tensor> {
        if e == 2.0 && self.dtype().is_float() {
            return crate::ops::unary::unary(self, crate::ops::unary::UnaryOp::Square);
        }
        self.pow(&Tensor::wrapped_scalar(e))
    }
}
