//! Elementwise unary kernels on the CPU: the loops over the forward formula and the fused
//! backward `grad * f'(x)`, monomorphised per op (`UnaryOp::specialize`) so they vectorise.
//! The ops and their formulas are declared once, in the table of `ops/unary.rs`.

use crate::cpu::kernel::{map1, map2, Computes};
use crate::ops::copy::cast_raw;
use crate::ops::unary::{Specialized, UnaryOp};
use crate::{DType, Element, Float, Result, Tensor};
use half::{bf16, f16};
use std::marker::PhantomData;

/// An integer-keeping op over the values as int64 (wrapping, as PyTorch's integer kernels).
pub(super) fn unary_int(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let t = cast_raw(t, DType::I64)?;
    let l = t.layout().clone();
    let v: Vec<i64> = match op {
        UnaryOp::Neg => map1(&t, &l, |x: i64| x.wrapping_neg()),
        UnaryOp::Abs => map1(&t, &l, |x: i64| x.wrapping_abs()),
        UnaryOp::Square => map1(&t, &l, |x: i64| x.wrapping_mul(x)),
        UnaryOp::Relu => map1(&t, &l, |x: i64| x.max(0)),
        UnaryOp::Sign => map1(&t, &l, |x: i64| x.signum()),
        UnaryOp::Clamp { min, max } => {
            let (lo, hi) = (
                min.ceil().max(i64::MIN as f64) as i64,
                max.floor().min(i64::MAX as f64) as i64,
            );
            map1(&t, &l, |x: i64| x.max(lo).min(hi))
        }
        _ => t.to_vec::<i64>()?,
    };
    Tensor::from_vec(v, t.shape())
}

/// `f(x)` over a tensor, one loop per op (`Specialized`), computed as `E` computes (bfloat16
/// in float32, rounded once).
struct Map<'a, E>(&'a Tensor, PhantomData<E>);

impl<E: Computes> Specialized for Map<'_, E> {
    type Out = Vec<E>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync, const FUSES: bool>(self, o: O) -> Vec<E> {
        if fuse::<E, FUSES>(&[self.0]) {
            map_with::<E, O, true>(self.0, o)
        } else {
            map_with::<E, O, false>(self.0, o)
        }
    }
}

/// `f(x)` over `t`, the formula's `_with` functions fused when `FUSED`. The closure is forced
/// inline, so the loop `map1` compiles per SIMD level holds the formula itself (an out-of-line
/// closure call per element runs scalar).
#[inline(always)]
fn map_with<E: Computes, O: Fn() -> UnaryOp + Copy + Send + Sync, const FUSED: bool>(
    t: &Tensor,
    o: O,
) -> Vec<E> {
    map1(
        t,
        t.layout(),
        #[inline(always)]
        move |x: E| E::narrow(o().forward_with::<E::As, FUSED>(x.widen())),
    )
}

/// Whether to run an op's fused formulas (`FUSES`: it has some) over these operands: where the
/// level has FMA and every operand is contiguous, which `map1`/`map2` send through the
/// multiversioned loops (a strided gather calls the formula from baseline code, where a fused
/// multiply-add would be a libm call).
fn fuse<E: Computes, const FUSES: bool>(operands: &[&Tensor]) -> bool {
    FUSES
        && E::As::FUSES
        && crate::simd::fused()
        && operands.iter().all(|t| t.layout().is_contiguous())
}

/// Whether the kernels run an op's fused formulas (`FUSES`) over contiguous operands at this
/// CPU's SIMD level: the formula a bfloat16 table (`unary_table`) must be built with.
pub(super) fn fuses_at_this_level<const FUSES: bool>() -> bool {
    fuse::<bf16, FUSES>(&[])
}

/// `g * f'(x)` over a gradient and the saved input (or output: `saved_derivative`), one loop
/// per op; for the ops whose backward is a mask (`UnaryOp::masks_gradient`), 0 where `f'` is
/// 0, so a flat region passes no gradient, even an infinite one (`relu(x).sqrt()` at 0, as
/// PyTorch's `threshold_backward`), instead of `inf * 0 = NaN`.
struct Grad<'a, E>(&'a Tensor, &'a Tensor, PhantomData<E>);

impl<E: Computes> Specialized for Grad<'_, E> {
    type Out = Vec<E>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync, const FUSES: bool>(self, o: O) -> Vec<E> {
        let (g, x) = (self.0, self.1);
        if fuse::<E, FUSES>(&[g, x]) {
            grad_with::<E, O, true>(g, x, o)
        } else {
            grad_with::<E, O, false>(g, x, o)
        }
    }
}

/// `g * f'(x)` over the two tensors, fused as `map_with`.
#[inline(always)]
fn grad_with<E: Computes, O: Fn() -> UnaryOp + Copy + Send + Sync, const FUSED: bool>(
    g: &Tensor,
    x: &Tensor,
    o: O,
) -> Vec<E> {
    map2(
        g,
        g.layout(),
        x,
        x.layout(),
        #[inline(always)]
        move |g: E, x: E| {
            let op = o();
            let d = op.saved_derivative_with::<E::As, FUSED>(x.widen());
            let zero = <E::As as Element>::zero();
            E::narrow(if op.masks_gradient() && d == zero {
                zero
            } else {
                g.widen() * d
            })
        },
    )
}

fn float_map<E: Computes>(op: UnaryOp, t: &Tensor) -> Result<Tensor> {
    let v: Vec<E> = op.specialize(Map::<E>(t, PhantomData));
    Tensor::from_vec(v, t.shape())
}

/// `-x` and `|x|` of a half tensor: its sign bit flipped or cleared (exact; infinities keep
/// their size and a NaN stays a NaN, its payload kept), with no widening to float32 and back;
/// `None` for other ops and dtypes.
fn half_sign_bit(t: &Tensor, op: UnaryOp) -> Option<Result<Tensor>> {
    // `(bits & and) ^ xor`: one closure for both ops, so the loop vectorises.
    let (and, xor) = match op {
        UnaryOp::Neg => (0xffff_u16, 0x8000_u16),
        UnaryOp::Abs => (0x7fff, 0),
        _ => return None,
    };
    let v = match t.dtype() {
        DType::BF16 => Tensor::from_vec(
            map1(t, t.layout(), move |x: bf16| {
                bf16::from_bits((x.to_bits() & and) ^ xor)
            }),
            t.shape(),
        ),
        DType::F16 => Tensor::from_vec(
            map1(t, t.layout(), move |x: f16| {
                f16::from_bits((x.to_bits() & and) ^ xor)
            }),
            t.shape(),
        ),
        _ => return None,
    };
    Some(v)
}

/// The op over a floating tensor (half types compute in float32 and round once).
pub(super) fn unary_float(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    crate::ops::creation::check_alloc(t.shape(), t.dtype().size())?;
    if let Some(r) = half_sign_bit(t, op) {
        return r;
    }
    match t.dtype() {
        DType::F32 => float_map::<f32>(op, t),
        DType::F64 => float_map::<f64>(op, t),
        DType::BF16 => match super::unary_table::forward(op, t) {
            Some(r) => r,
            None => float_map::<bf16>(op, t),
        },
        dt => {
            let r = float_map::<f32>(op, &cast_raw(t, DType::F32)?)?;
            cast_raw(&r, dt)
        }
    }
}

/// `grad * f'(x)` in one pass, computed in f32 for half types.
pub(super) fn unary_backward(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let dt = x.dtype();
    if dt == DType::BF16 && g.dtype() == dt && g.shape() == x.shape() {
        if let Some(r) = super::unary_table::backward(op, x, g) {
            return r;
        }
        let v: Vec<bf16> = op.specialize(Grad::<bf16>(g, x, PhantomData));
        return Tensor::from_vec(v, x.shape());
    }
    let (x, g) = match dt {
        DType::F32 | DType::F64 => (x.clone(), g.to_dtype(dt)?.contiguous()?),
        _ => (cast_raw(x, DType::F32)?, cast_raw(g, DType::F32)?),
    };
    let r = match x.dtype() {
        DType::F64 => Tensor::from_vec(op.specialize(Grad::<f64>(&g, &x, PhantomData)), x.shape())?,
        _ => Tensor::from_vec(op.specialize(Grad::<f32>(&g, &x, PhantomData)), x.shape())?,
    };
    r.to_dtype(dt)
}
