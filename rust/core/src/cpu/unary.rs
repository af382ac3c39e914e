//! Elementwise unary kernels on the CPU: the loops over the forward formula and the fused
//! backward `grad * f'(x)`, monomorphised per op (`UnaryOp::specialize`) so they vectorise.
//! The ops and their formulas are declared once, in the table of `ops/unary.rs`.

use crate::cpu::kernel::{map1, map2};
use crate::dtype::f32_to_bf16;
use crate::ops::copy::cast_raw;
use crate::ops::unary::{Specialized, UnaryOp};
use crate::{DType, Float, Result, Tensor};
use half::bf16;
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

/// `f(x)` over a tensor, one loop per op (`Specialized`).
struct Map<'a, T>(&'a Tensor, PhantomData<T>);

impl<T: Float> Specialized for Map<'_, T> {
    type Out = Vec<T>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync>(self, o: O) -> Vec<T> {
        // Forced inline, so the loop `map1` compiles per SIMD level holds the formula itself
        // (an out-of-line closure call per element runs scalar).
        map1(
            self.0,
            self.0.layout(),
            #[inline(always)]
            move |x: T| o().forward(x),
        )
    }
}

/// `g * f'(x)` over a gradient and the saved input, one loop per op.
struct Grad<'a, T>(&'a Tensor, &'a Tensor, PhantomData<T>);

impl<T: Float> Specialized for Grad<'_, T> {
    type Out = Vec<T>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync>(self, o: O) -> Vec<T> {
        let (g, x) = (self.0, self.1);
        map2(
            g,
            g.layout(),
            x,
            x.layout(),
            #[inline(always)]
            move |g: T, x: T| g * o().derivative(x),
        )
    }
}

/// `f(x)` over a bfloat16 tensor in one pass: each element widened, computed in float32 and
/// rounded once (what widening the tensor first gives, without its two float32 copies).
struct MapBf16<'a>(&'a Tensor);

impl Specialized for MapBf16<'_> {
    type Out = Vec<bf16>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync>(self, o: O) -> Vec<bf16> {
        map1(
            self.0,
            self.0.layout(),
            #[inline(always)]
            move |x: bf16| f32_to_bf16(o().forward(x.to_f32())),
        )
    }
}

/// `g * f'(x)` over bfloat16 gradient and input in one pass, as `MapBf16`.
struct GradBf16<'a>(&'a Tensor, &'a Tensor);

impl Specialized for GradBf16<'_> {
    type Out = Vec<bf16>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync>(self, o: O) -> Vec<bf16> {
        let (g, x) = (self.0, self.1);
        map2(
            g,
            g.layout(),
            x,
            x.layout(),
            #[inline(always)]
            move |g: bf16, x: bf16| f32_to_bf16(g.to_f32() * o().derivative(x.to_f32())),
        )
    }
}

fn float_map<T: Float>(op: UnaryOp, t: &Tensor) -> Result<Tensor> {
    let v: Vec<T> = op.specialize(Map::<T>(t, PhantomData));
    Tensor::from_vec(v, t.shape())
}

/// The op over a floating tensor (half types compute in float32 and round once).
pub(super) fn unary_float(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    match t.dtype() {
        DType::F32 => float_map::<f32>(op, t),
        DType::F64 => float_map::<f64>(op, t),
        DType::BF16 => Tensor::from_vec(op.specialize(MapBf16(t)), t.shape()),
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
        return Tensor::from_vec(op.specialize(GradBf16(g, x)), x.shape());
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
