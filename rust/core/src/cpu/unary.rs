//! Elementwise unary kernels on the CPU: each op's forward formula and derivative (the backward
//! is one fused pass `grad * f'(x)`), monomorphised per op so the loops vectorise. The op list
//! itself (`UnaryOp`, its names and table) lives in `ops/unary.rs`.

use crate::cpu::kernel::{map1, map2};
use crate::ops::copy::cast_raw;
use crate::ops::unary::UnaryOp;
use crate::{DType, Float, Result, Tensor};

/// Runs `$body` with `$o` bound to a closure returning `$op`: each arm's closure is its own type,
/// so the variant is a compile-time constant in the monomorphised loop and `forward`/`derivative`
/// (always inlined) lose their per-element `match`, letting the loops vectorise.
macro_rules! specialize {
    ($op:expr, |$o:ident| $body:expr) => {
        match $op {
            UnaryOp::Neg => {
                let $o = move || UnaryOp::Neg;
                $body
            }
            UnaryOp::Abs => {
                let $o = move || UnaryOp::Abs;
                $body
            }
            UnaryOp::Exp => {
                let $o = move || UnaryOp::Exp;
                $body
            }
            UnaryOp::Log => {
                let $o = move || UnaryOp::Log;
                $body
            }
            UnaryOp::Log2 => {
                let $o = move || UnaryOp::Log2;
                $body
            }
            UnaryOp::Log1p => {
                let $o = move || UnaryOp::Log1p;
                $body
            }
            UnaryOp::Expm1 => {
                let $o = move || UnaryOp::Expm1;
                $body
            }
            UnaryOp::Sqrt => {
                let $o = move || UnaryOp::Sqrt;
                $body
            }
            UnaryOp::Rsqrt => {
                let $o = move || UnaryOp::Rsqrt;
                $body
            }
            UnaryOp::Square => {
                let $o = move || UnaryOp::Square;
                $body
            }
            UnaryOp::Reciprocal => {
                let $o = move || UnaryOp::Reciprocal;
                $body
            }
            UnaryOp::Sin => {
                let $o = move || UnaryOp::Sin;
                $body
            }
            UnaryOp::Cos => {
                let $o = move || UnaryOp::Cos;
                $body
            }
            UnaryOp::Tanh => {
                let $o = move || UnaryOp::Tanh;
                $body
            }
            UnaryOp::Sigmoid => {
                let $o = move || UnaryOp::Sigmoid;
                $body
            }
            UnaryOp::Relu => {
                let $o = move || UnaryOp::Relu;
                $body
            }
            UnaryOp::Gelu => {
                let $o = move || UnaryOp::Gelu;
                $body
            }
            UnaryOp::GeluTanh => {
                let $o = move || UnaryOp::GeluTanh;
                $body
            }
            UnaryOp::Silu => {
                let $o = move || UnaryOp::Silu;
                $body
            }
            UnaryOp::Erf => {
                let $o = move || UnaryOp::Erf;
                $body
            }
            UnaryOp::Sign => {
                let $o = move || UnaryOp::Sign;
                $body
            }
            UnaryOp::Floor => {
                let $o = move || UnaryOp::Floor;
                $body
            }
            UnaryOp::Ceil => {
                let $o = move || UnaryOp::Ceil;
                $body
            }
            UnaryOp::Round => {
                let $o = move || UnaryOp::Round;
                $body
            }
            UnaryOp::Trunc => {
                let $o = move || UnaryOp::Trunc;
                $body
            }
            UnaryOp::Softplus { beta, threshold } => {
                let $o = move || UnaryOp::Softplus { beta, threshold };
                $body
            }
            UnaryOp::LeakyRelu(s) => {
                let $o = move || UnaryOp::LeakyRelu(s);
                $body
            }
            UnaryOp::Elu(a) => {
                let $o = move || UnaryOp::Elu(a);
                $body
            }
            UnaryOp::Clamp { min, max } => {
                let $o = move || UnaryOp::Clamp { min, max };
                $body
            }
        }
    };
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

#[inline(always)]
fn forward<T: Float>(op: UnaryOp, x: T) -> T {
    let c = T::from_f64;
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Log2 => x.ln() / c(std::f64::consts::LN_2),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Expm1 => T::from_f64(x.to_f64().exp_m1()),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => T::one() / x.sqrt(),
        UnaryOp::Square => x * x,
        UnaryOp::Reciprocal => T::one() / x,
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Relu => {
            if x > T::zero() || x.is_nan() {
                x
            } else {
                T::zero()
            }
        }
        UnaryOp::Gelu => c(0.5) * x * (T::one() + (x * c(INV_SQRT_2)).erf()),
        UnaryOp::GeluTanh => {
            c(0.5) * x * (T::one() + (c(SQRT_2_OVER_PI) * (x + c(0.044715) * x * x * x)).tanh())
        }
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::Softplus { beta, threshold } => {
            let bx = x * c(beta);
            if bx > c(threshold) {
                x
            } else {
                bx.exp().ln_1p() / c(beta)
            }
        }
        UnaryOp::LeakyRelu(s) => {
            if x > T::zero() {
                x
            } else {
                x * c(s)
            }
        }
        UnaryOp::Elu(a) => {
            if x > T::zero() {
                x
            } else {
                c(a) * T::from_f64(x.to_f64().exp_m1())
            }
        }
        UnaryOp::Erf => x.erf(),
        UnaryOp::Sign => {
            if x > T::zero() {
                T::one()
            } else if x < T::zero() {
                -T::one()
            } else {
                x * T::zero()
            }
        }
        UnaryOp::Floor => T::from_f64(x.to_f64().floor()),
        UnaryOp::Ceil => T::from_f64(x.to_f64().ceil()),
        UnaryOp::Round => T::from_f64(x.to_f64().round_ties_even()),
        UnaryOp::Trunc => T::from_f64(x.to_f64().trunc()),
        UnaryOp::Clamp { min, max } => {
            if x.is_nan() {
                x
            } else {
                x.max(c(min)).min(c(max))
            }
        }
    }
}

/// f'(x), used by the fused backward `grad * f'(x)`.
#[inline(always)]
fn derivative<T: Float>(op: UnaryOp, x: T) -> T {
    let c = T::from_f64;
    match op {
        UnaryOp::Neg => -T::one(),
        UnaryOp::Abs => forward(UnaryOp::Sign, x),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => T::one() / x,
        UnaryOp::Log2 => T::one() / (x * c(std::f64::consts::LN_2)),
        UnaryOp::Log1p => T::one() / (T::one() + x),
        UnaryOp::Expm1 => x.exp(),
        UnaryOp::Sqrt => c(0.5) / x.sqrt(),
        UnaryOp::Rsqrt => c(-0.5) / (x * x.sqrt()),
        UnaryOp::Square => c(2.0) * x,
        UnaryOp::Reciprocal => -T::one() / (x * x),
        UnaryOp::Sin => x.cos(),
        UnaryOp::Cos => -x.sin(),
        UnaryOp::Tanh => {
            let t = x.tanh();
            T::one() - t * t
        }
        UnaryOp::Sigmoid => {
            let s = sigmoid(x);
            s * (T::one() - s)
        }
        UnaryOp::Relu => {
            if x > T::zero() {
                T::one()
            } else {
                T::zero()
            }
        }
        UnaryOp::Gelu => {
            let cdf = c(0.5) * (T::one() + (x * c(INV_SQRT_2)).erf());
            let pdf = (c(-0.5) * x * x).exp() * c(0.398_942_280_401_432_7);
            cdf + x * pdf
        }
        UnaryOp::GeluTanh => {
            let inner = c(SQRT_2_OVER_PI) * (x + c(0.044715) * x * x * x);
            let t = inner.tanh();
            let dinner = c(SQRT_2_OVER_PI) * (T::one() + c(3.0 * 0.044715) * x * x);
            c(0.5) * (T::one() + t) + c(0.5) * x * (T::one() - t * t) * dinner
        }
        UnaryOp::Silu => {
            let s = sigmoid(x);
            s * (T::one() + x * (T::one() - s))
        }
        UnaryOp::Softplus { beta, threshold } => {
            if x * c(beta) > c(threshold) {
                T::one()
            } else {
                sigmoid(x * c(beta))
            }
        }
        UnaryOp::LeakyRelu(s) => {
            if x > T::zero() {
                T::one()
            } else {
                c(s)
            }
        }
        UnaryOp::Elu(a) => {
            if x > T::zero() {
                T::one()
            } else {
                c(a) * x.exp()
            }
        }
        UnaryOp::Erf => c(std::f64::consts::FRAC_2_SQRT_PI) * (-x * x).exp(),
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Trunc => {
            T::zero()
        }
        UnaryOp::Clamp { min, max } => {
            if x >= c(min) && x <= c(max) {
                T::one()
            } else {
                T::zero()
            }
        }
    }
}

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

fn float_map<T: Float>(op: UnaryOp, t: &Tensor) -> Result<Tensor> {
    let v: Vec<T> = specialize!(op, |o| map1(t, t.layout(), move |x: T| forward(o(), x)));
    Tensor::from_vec(v, t.shape())
}

/// The op over a floating tensor (half types compute in float32 and round once).
pub(super) fn unary_float(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    match t.dtype() {
        DType::F32 => float_map::<f32>(op, t),
        DType::F64 => float_map::<f64>(op, t),
        dt => {
            let r = float_map::<f32>(op, &cast_raw(t, DType::F32)?)?;
            cast_raw(&r, dt)
        }
    }
}

/// `grad * f'(x)` in one pass, computed in f32 for half types.
pub(super) fn unary_backward(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let dt = x.dtype();
    let (x, g) = match dt {
        DType::F32 | DType::F64 => (x.clone(), g.to_dtype(dt)?.contiguous()?),
        _ => (cast_raw(x, DType::F32)?, cast_raw(g, DType::F32)?),
    };
    let r = match x.dtype() {
        DType::F64 => {
            let v: Vec<f64> = specialize!(op, |o| map2(
                &g,
                g.layout(),
                &x,
                x.layout(),
                move |g: f64, x: f64| g * derivative(o(), x)
            ));
            Tensor::from_vec(v, x.shape())?
        }
        _ => {
            let v: Vec<f32> = specialize!(op, |o| map2(
                &g,
                g.layout(),
                &x,
                x.layout(),
                move |g: f32, x: f32| g * derivative(o(), x)
            ));
            Tensor::from_vec(v, x.shape())?
        }
    };
    r.to_dtype(dt)
}
