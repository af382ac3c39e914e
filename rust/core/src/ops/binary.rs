//! Elementwise binary ops with broadcasting and PyTorch type promotion, and their gradients.

use crate::autograd::{record_differentiable, Saved};
use crate::backend;
use crate::ops::overflow::{check_scalar_fits, overflow, wrapped_int_outside};
use crate::ops::promote::result_type;
use crate::{bail, DType, Error, Result, Tensor};

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
    /// The op's name as the user calls it (`"add"`, `"eq"`).
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Maximum => "maximum",
            Minimum => "minimum",
            Remainder => "remainder",
            FloorDivide => "floor_divide",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
            LogicalXor => "logical_xor",
        }
    }

    pub(crate) fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
    pub(crate) fn is_logical(self) -> bool {
        matches!(
            self,
            BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor
        )
    }
}

/// The op without autograd: promotes, broadcasts and computes.
pub(crate) fn binary_raw(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let Some(order) = crate::ops::memory_order::shared_permutation(&[a, b]) {
        return crate::ops::memory_order::run_in_memory_order(&[a, b], &order, |v| {
            binary_raw(op, v[0], v[1])
        });
    }
    let rt = result_type(&[a, b]);
    if let Some(v) = wrapped_int_outside(&[a, b], rt).filter(|_| op != BinaryOp::Div) {
        // A Python int the integer dtype cannot hold: arithmetic, bitwise ops and comparisons
        // take it wrapped into the dtype, as PyTorch's (`int8 + 300` is `int8 + 44`,
        // `uint8 == 511` is `uint8 == 255`); a power refuses it, as PyTorch's (`uint8 ** 256`
        // would silently be 1). (True division computes in floating point: `uint8 / 256` is
        // exact.)
        if op == BinaryOp::Pow {
            return Err(overflow(v, rt));
        }
        let wrap = |t: &Tensor| {
            if t.is_wrapped_number() {
                t.to_dtype(rt)
            } else {
                Ok(t.clone())
            }
        };
        return binary_raw(op, &wrap(a)?, &wrap(b)?);
    }
    // Floor division too (PyTorch's `div_floor` reads a scalar divisor at float32 precision:
    // bfloat16 `-1.703125 // 1.7` is -2, where the rounded divisor 1.703125 gives -1).
    let opmath_scalar = matches!(
        op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::FloorDivide
    );
    if matches!(rt, DType::F16 | DType::BF16) && a.dtype() != b.dtype() && !opmath_scalar {
        // Both operands in the common half dtype first, as PyTorch: `half_t == 0.1` and
        // `half_t % 0.001` round the scalar to half (the backend would widen both sides, and
        // 0.1 is not a half value). A Python number stays a number, its value rounded. (The
        // four arithmetic ops take a scalar operand at float32 precision, as PyTorch's
        // kernels do: `half(3) * 0.2` is `half(0.6)`, not `3 * half(0.2)`.)
        let in_half = |t: &Tensor| -> Result<Tensor> {
            if t.dtype() == rt {
                return Ok(t.clone());
            }
            if t.is_wrapped_number() {
                let v = t.item()?;
                let rounded = match rt {
                    DType::F16 => half::f16::from_f64(v).to_f64(),
                    _ => crate::dtype::f64_to_bf16(v).to_f64(),
                };
                return Ok(Tensor::wrapped_scalar(rounded));
            }
            t.to_dtype(rt)
        };
        let (a, b) = (&in_half(a)?, &in_half(b)?);
        return run_binary(op, a, b, rt);
    }
    run_binary(op, a, b, rt)
}

/// The backend's kernel for `op` with result dtype `rt`; a shape error names the operands.
fn run_binary(op: BinaryOp, a: &Tensor, b: &Tensor, rt: DType) -> Result<Tensor> {
    if op == BinaryOp::Pow && rt.is_int() && b.numel() > 0 && b.amin(None, false)?.item()? < 0.0 {
        // (checked here for every backend: an integer has no negative power)
        bail!(
            Value,
            "Integers to negative integer powers are not allowed."
        );
    }
    backend::of_operands(&[a, b])
        .binary(op, a, b, rt)
        .map_err(|e| match e {
            Error::Shape(m) => Error::shape_mismatch(op.name(), &[a, b], m),
            e => e,
        })
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

/// Which operands the backward of `op` reads, given which gradients are needed: as PyTorch's
/// derivative formulas save them, so `x + y` keeps neither alive until backward and `x * w`
/// only the one the needed gradient reads.
fn reads(op: BinaryOp, need_a: bool, need_b: bool) -> (bool, bool) {
    match op {
        BinaryOp::Add | BinaryOp::Sub => (false, false),
        BinaryOp::Mul => (need_b, need_a),
        BinaryOp::Div => (need_b, true),
        BinaryOp::Remainder => (need_b, need_b),
        BinaryOp::FloorDivide => (false, false),
        _ => (true, true),
    }
}

/// An operand `reads` said the backward keeps.
fn kept(s: &Option<Saved>) -> Result<&Saved> {
    match s {
        Some(s) => Ok(s),
        None => bail!(
            Autograd,
            "internal: a binary backward read an operand it did not save"
        ),
    }
}

/// PyTorch refuses a subtraction with a bool operand, whatever its `alpha`.
pub(crate) fn refuse_bool_sub(a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() == DType::Bool || b.dtype() == DType::Bool {
        bail!(
            DType,
            "subtraction, the `-` operator, with a bool tensor is not supported; to invert a \
             mask use `~` or logical_not(), to subtract the values convert with .long() first"
        );
    }
    Ok(())
}

fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if op == BinaryOp::Sub {
        refuse_bool_sub(a, b)?;
    }
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
        // (PyTorch's overloads: tensor ** number is PowBackward0, tensor ** tensor PowBackward1)
        BinaryOp::Pow if b.is_wrapped_number() => "PowBackward",
        BinaryOp::Pow => "PowBackward1",
        BinaryOp::Maximum => "MaximumBackward",
        BinaryOp::Minimum => "MinimumBackward",
        BinaryOp::Remainder => "RemainderBackward",
        // (`div(rounding_mode="floor")`: piecewise constant, so zero gradients, as PyTorch's)
        BinaryOp::FloorDivide => "DivBackward",
        _ => "NotDifferentiable",
    };
    let (keep_a, keep_b) = reads(op, need_a, need_b);
    let xa = keep_a.then(|| Saved::new(a)).transpose()?;
    let xb = keep_b.then(|| Saved::new(b)).transpose()?;
    // (The output serves only the exponent's gradient: `x ** 0.5` keeps just its base, as
    // PyTorch's PowBackward0, so changing the result in place afterwards is no error.)
    let saved_out = if op == BinaryOp::Pow && need_b {
        Some(Saved::output(&out)?)
    } else {
        None
    };
    // (`a + b`, `a - b` and `a % b` with a constant `b` keep nothing, and `x * 2` or
    // `add(x, y, alpha=)` only a one-element operand: a reusable node, whose backward a second
    // pass may run again; a kept activation is freed by the first pass instead)
    let large = |keep: bool, t: &Tensor| keep && t.numel() > 1;
    let saves = large(keep_a, a) || large(keep_b, b) || saved_out.is_some();
    let out = record_differentiable(out, name, &[a, b], move |g| {
        let (ga, gb): (Option<Tensor>, Option<Tensor>) = match op {
            BinaryOp::Add => (Some(g.clone()), Some(g.clone())),
            BinaryOp::Sub => (Some(g.clone()), Some(g.neg()?)),
            BinaryOp::Mul => (
                if need_a {
                    Some(g.mul(&kept(&xb)?.get_graph()?)?)
                } else {
                    None
                },
                if need_b {
                    Some(g.mul(&kept(&xa)?.get_graph()?)?)
                } else {
                    None
                },
            ),
            BinaryOp::Div => {
                let b = &kept(&xb)?.get_graph()?;
                let ga = g.div(b)?;
                let gb = if need_b {
                    Some(ga.mul(&kept(&xa)?.get_graph()?)?.div(b)?.neg()?)
                } else {
                    None
                };
                (Some(ga), gb)
            }
            BinaryOp::Pow => {
                let out = saved_out.as_ref().map(|s| s.get_graph()).transpose()?;
                let (x, e) = (kept(&xa)?.get_graph()?, kept(&xb)?.get_graph()?);
                pow_grads(g, &x, &e, out.as_ref(), need_a, need_b)?
            }
            BinaryOp::Maximum | BinaryOp::Minimum => extremum_grads(
                op == BinaryOp::Maximum,
                g,
                kept(&xa)?.get()?,
                kept(&xb)?.get()?,
            )?,
            BinaryOp::Remainder => {
                let gb = if need_b {
                    let (a, b) = (kept(&xa)?.get()?, kept(&xb)?.get()?);
                    Some(g.mul(&binary_raw(BinaryOp::FloorDivide, a, b)?)?.neg()?)
                } else {
                    None
                };
                (Some(g.clone()), gb)
            }
            BinaryOp::FloorDivide => (Some(g.zeros_like()?), Some(g.zeros_like()?)),
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
    });
    Ok(if saves {
        out
    } else {
        crate::autograd::reusable(out)
    })
}

/// The gradients of `x ^ e`: `e * x^(e-1)` for the base (0 where `e == 0`, where the formula
/// would give `0 * 0^-1`) and `x^e ln x` for the exponent (0 where `x == 0`, PyTorch's
/// convention), from the forward's output when it was kept.
fn pow_grads(
    g: &Tensor,
    x: &Tensor,
    e: &Tensor,
    out: Option<&Tensor>,
    need_a: bool,
    need_b: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let ga = if need_a {
        let em1 = e.sub(&Tensor::wrapped_scalar(1.0f64))?;
        let e_zero = e.eq(&Tensor::wrapped_scalar(0.0f64))?;
        // Where e == 0 the slope is 0: read the base as 1 there, so that neither this slope
        // (0 * 0^-1) nor its own derivative (a higher order's 0 * inf) is NaN at x == 0.
        let safe_x = Tensor::where_(&e_zero, &Tensor::wrapped_scalar(1.0f64), x)?;
        let d = e.mul(&safe_x.pow(&em1)?)?;
        Some(g.mul(&d)?)
    } else {
        None
    };
    let gb = if need_b {
        let out = match out {
            Some(o) => o.clone(),
            None => x.pow(e)?,
        };
        let zero = x.eq(&Tensor::wrapped_scalar(0.0f64))?;
        // ln x in the result's dtype: a bfloat16 base with a float32 exponent would otherwise
        // take its log in bfloat16 (a 0.2% error in the exponent's gradient).
        let ln_x = if x.dtype() == out.dtype() {
            x.log()?
        } else {
            x.to_dtype(out.dtype())?.log()?
        };
        let d = out.mul(&ln_x)?.masked_fill(&zero, 0.0)?;
        Some(g.mul(&d)?)
    } else {
        None
    };
    Ok((ga, gb))
}

/// The gradients of `maximum(x, y)` (`max`) or `minimum`: to the operand that won, split
/// evenly on ties (as PyTorch).
fn extremum_grads(
    max: bool,
    g: &Tensor,
    x: &Tensor,
    y: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    // Each side gets the gradient unless the other side won outright; ties halve it. Where
    // either is NaN neither wins nor ties, so both get all of it, as in PyTorch.
    let (pick_a, pick_b) = if max {
        (x.gt(y)?, x.lt(y)?)
    } else {
        (x.lt(y)?, x.gt(y)?)
    };
    let half_ties = x
        .eq(y)?
        .to_dtype(g.dtype())?
        .mul(&Tensor::wrapped_scalar(0.5f64))?;
    let one = Tensor::wrapped_scalar(1.0f64);
    let wa = one.sub(&pick_b.to_dtype(g.dtype())?)?.sub(&half_ties)?;
    let wb = one.sub(&pick_a.to_dtype(g.dtype())?)?.sub(&half_ties)?;
    // The loser gets exactly 0, even of an infinite gradient (`maximum(x, 0).sqrt()` at 0).
    let zero = Tensor::wrapped_scalar(0.0f64);
    let ga = Tensor::where_(&pick_b, &zero, &g.mul(&wa)?)?;
    let gb = Tensor::where_(&pick_a, &zero, &g.mul(&wb)?)?;
    Ok((Some(ga), Some(gb)))
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
        let any_bool = self.dtype() == DType::Bool || other.dtype() == DType::Bool;
        if alpha == -1.0 && !any_bool {
            return self.sub(other); // (an add of a bool with alpha -1 is allowed, sub is not)
        }
        let rt = result_type(&[self, other]);
        // The scaling happens in the result dtype, as PyTorch's: an int `other` times a float
        // alpha must not make a float16 sum float32.
        let cast;
        let other = if rt.is_float() && other.dtype() != rt {
            cast = other.to_dtype(rt)?;
            &cast
        } else {
            other
        };
        if matches!(rt, DType::BF16 | DType::F16) {
            // PyTorch's opmath: `self + alpha * other` in float32, rounded once to the half
            // type (as the in-place kernels do), not `alpha * other` rounded first.
            let wide = |t: &Tensor| t.to_dtype(DType::F32);
            let scaled = wide(other)?.mul(&Tensor::wrapped_scalar(alpha))?;
            return wide(self)?.add(&scaled)?.to_dtype(rt);
        }
        if !rt.is_float() && alpha.fract() != 0.0 {
            // (It would be truncated: `int + int * 0.5` must not silently drop the half.)
            bail!(
                DType,
                "for integral input tensors, argument alpha must not be a floating point number (got {alpha})"
            );
        }
        // An integral alpha stays an integer (int tensors keep their dtype, as in PyTorch),
        // and must fit it: unlike an operand, PyTorch does not wrap alpha.
        let a = if alpha.fract() == 0.0 && alpha.abs() < 9.0e15 {
            Tensor::wrapped_scalar(alpha as i64)
        } else {
            Tensor::wrapped_scalar(alpha)
        };
        check_scalar_fits(&a, rt)?;
        // An integer or bool pair keeps its own result type (`bool + bool * 2` is bool, as in
        // PyTorch), not the int64 that the product with a Python int would give.
        let scaled = other.mul(&a)?;
        if !rt.is_float() && scaled.dtype() != rt {
            return self.add(&scaled.to_dtype(rt)?);
        }
        self.add(&scaled)
    }

    /// `self - other * alpha` (PyTorch's `sub(other, alpha=)`): a bool operand is refused.
    pub fn sub_scaled(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        refuse_bool_sub(self, other)?;
        self.add_scaled(other, -alpha)
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

    /// `self / t` for Python's reflected `/` (`2 / t`, `self` the left operand): a number over
    /// a tensor is the tensor's reciprocal times the number, as PyTorch's `__rtruediv__`
    /// computes it (its rounding, and a backward that keeps the reciprocal, not the divisor).
    pub fn div_reflected(&self, t: &Tensor) -> Result<Tensor> {
        if self.is_wrapped_number() {
            return t.reciprocal()?.mul(self);
        }
        self.div(t)
    }
}
