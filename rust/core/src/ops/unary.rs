//! Elementwise unary ops. Each float op has a forward formula and a derivative formula; the
//! backward is one fused pass `grad * f'(x)` over the saved input.

use crate::autograd::{record, Saved};
use crate::ops::copy::cast_raw;
use crate::ops::kernel::{map1, map2};
use crate::{bail, DType, Float, Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Log2,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Square,
    Reciprocal,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Gelu,
    GeluTanh,
    Silu,
    Softplus { beta: f64, threshold: f64 },
    LeakyRelu(f64),
    Elu(f64),
    Erf,
    Sign,
    Floor,
    Ceil,
    Round,
    Trunc,
    Clamp { min: f64, max: f64 },
}

impl UnaryOp {
    /// Every op, with representative parameters: the table tests iterate over (a finite-
    /// difference gradient check of each, a CUDA-against-CPU check of each). `table_index`
    /// matches exhaustively, so a new variant does not compile until it is listed here too.
    pub const ALL: &'static [UnaryOp] = &[
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log2,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Square,
        UnaryOp::Reciprocal,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Gelu,
        UnaryOp::GeluTanh,
        UnaryOp::Silu,
        UnaryOp::Softplus {
            beta: 2.0,
            threshold: 20.0,
        },
        UnaryOp::LeakyRelu(0.1),
        UnaryOp::Elu(0.7),
        UnaryOp::Erf,
        UnaryOp::Sign,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Round,
        UnaryOp::Trunc,
        UnaryOp::Clamp {
            min: -0.5,
            max: 0.5,
        },
    ];

    /// The op's position in `ALL`.
    pub fn table_index(self) -> usize {
        match self {
            UnaryOp::Neg => 0,
            UnaryOp::Abs => 1,
            UnaryOp::Exp => 2,
            UnaryOp::Log => 3,
            UnaryOp::Log2 => 4,
            UnaryOp::Log1p => 5,
            UnaryOp::Expm1 => 6,
            UnaryOp::Sqrt => 7,
            UnaryOp::Rsqrt => 8,
            UnaryOp::Square => 9,
            UnaryOp::Reciprocal => 10,
            UnaryOp::Sin => 11,
            UnaryOp::Cos => 12,
            UnaryOp::Tanh => 13,
            UnaryOp::Sigmoid => 14,
            UnaryOp::Relu => 15,
            UnaryOp::Gelu => 16,
            UnaryOp::GeluTanh => 17,
            UnaryOp::Silu => 18,
            UnaryOp::Softplus { .. } => 19,
            UnaryOp::LeakyRelu(_) => 20,
            UnaryOp::Elu(_) => 21,
            UnaryOp::Erf => 22,
            UnaryOp::Sign => 23,
            UnaryOp::Floor => 24,
            UnaryOp::Ceil => 25,
            UnaryOp::Round => 26,
            UnaryOp::Trunc => 27,
            UnaryOp::Clamp { .. } => 28,
        }
    }

    /// Whether the op is defined for negative inputs (the others need `x > 0`).
    pub fn accepts_negative(self) -> bool {
        !matches!(
            self,
            UnaryOp::Log
                | UnaryOp::Log2
                | UnaryOp::Sqrt
                | UnaryOp::Rsqrt
                | UnaryOp::Reciprocal
                | UnaryOp::Log1p
        )
    }

    fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "NegBackward",
            UnaryOp::Abs => "AbsBackward",
            UnaryOp::Exp => "ExpBackward",
            UnaryOp::Log => "LogBackward",
            UnaryOp::Log2 => "Log2Backward",
            UnaryOp::Log1p => "Log1pBackward",
            UnaryOp::Expm1 => "Expm1Backward",
            UnaryOp::Sqrt => "SqrtBackward",
            UnaryOp::Rsqrt => "RsqrtBackward",
            UnaryOp::Square => "PowBackward",
            UnaryOp::Reciprocal => "ReciprocalBackward",
            UnaryOp::Sin => "SinBackward",
            UnaryOp::Cos => "CosBackward",
            UnaryOp::Tanh => "TanhBackward",
            UnaryOp::Sigmoid => "SigmoidBackward",
            UnaryOp::Relu => "ReluBackward",
            UnaryOp::Gelu | UnaryOp::GeluTanh => "GeluBackward",
            UnaryOp::Silu => "SiluBackward",
            UnaryOp::Softplus { .. } => "SoftplusBackward",
            UnaryOp::LeakyRelu(_) => "LeakyReluBackward",
            UnaryOp::Elu(_) => "EluBackward",
            UnaryOp::Erf => "ErfBackward",
            UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Trunc => {
                "ZeroGradBackward"
            }
            UnaryOp::Clamp { .. } => "ClampBackward",
        }
    }

    /// Ops that keep integer dtypes (everything else computes in floating point).
    fn keeps_int(self) -> bool {
        matches!(
            self,
            UnaryOp::Neg
                | UnaryOp::Abs
                | UnaryOp::Square
                | UnaryOp::Relu
                | UnaryOp::Sign
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::Trunc
                | UnaryOp::Clamp { .. }
        )
    }
}

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

fn int_forward(op: UnaryOp, t: &Tensor) -> Result<Tensor> {
    if t.device().is_cuda() {
        // Integer ops on the device: exact through float64 for |x| < 2^53.
        let r = unary_raw(&cast_raw(t, DType::F64)?, op)?;
        return cast_raw(&r, DType::I64);
    }
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

pub(crate) fn unary_raw(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let dt = t.dtype();
    if t.device().is_cuda() && dt.is_float() {
        return crate::cuda::ops::elementwise::unary(t, op);
    }
    if !dt.is_float() {
        if dt == DType::Bool && op != UnaryOp::Abs {
            bail!(DType, "{:?} is not supported for bool tensors", op);
        }
        if op.keeps_int() {
            let r = int_forward(op, t)?;
            return cast_raw(&r, dt);
        }
        return unary_raw(&cast_raw(t, DType::F32)?, op);
    }
    match dt {
        DType::F32 => float_map::<f32>(op, t),
        DType::F64 => float_map::<f64>(op, t),
        _ => {
            let r = float_map::<f32>(op, &cast_raw(t, DType::F32)?)?;
            cast_raw(&r, dt)
        }
    }
}

/// `grad * f'(x)` in one pass, computed in f32 for half types.
pub(crate) fn unary_backward(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    if x.device().is_cuda() {
        return crate::cuda::ops::elementwise::unary_backward(op, x, g);
    }
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

pub(crate) fn unary(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let out = unary_raw(t, op)?;
    if !out.dtype().is_float() || !t.requires_grad() {
        return Ok(out);
    }
    let x = Saved::new(t);
    Ok(record(out, op.name(), &[t], move |g| {
        Ok(vec![Some(unary_backward(op, x.get()?, g)?)])
    }))
}

impl Tensor {
    /// Applies the elementwise `op` (differentiable): the op table's entry point.
    pub fn apply_unary(&self, op: UnaryOp) -> Result<Tensor> {
        unary(self, op)
    }
}

macro_rules! unary_methods {
    ($($name:ident => $op:expr),* $(,)?) => {
        impl Tensor {
            $(
                pub fn $name(&self) -> Result<Tensor> {
                    unary(self, $op)
                }
            )*
        }
    };
}

unary_methods!(
    neg => UnaryOp::Neg, abs => UnaryOp::Abs, exp => UnaryOp::Exp, log => UnaryOp::Log,
    log2 => UnaryOp::Log2, log1p => UnaryOp::Log1p, expm1 => UnaryOp::Expm1,
    sqrt => UnaryOp::Sqrt, rsqrt => UnaryOp::Rsqrt, square => UnaryOp::Square,
    reciprocal => UnaryOp::Reciprocal, sin => UnaryOp::Sin, cos => UnaryOp::Cos,
    tanh => UnaryOp::Tanh, sigmoid => UnaryOp::Sigmoid, relu => UnaryOp::Relu,
    gelu => UnaryOp::Gelu, gelu_tanh => UnaryOp::GeluTanh, silu => UnaryOp::Silu,
    erf => UnaryOp::Erf, sign => UnaryOp::Sign, floor => UnaryOp::Floor, ceil => UnaryOp::Ceil,
    round => UnaryOp::Round, trunc => UnaryOp::Trunc,
);

impl Tensor {
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        unary(self, UnaryOp::Softplus { beta, threshold })
    }
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        unary(self, UnaryOp::LeakyRelu(slope))
    }
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        unary(self, UnaryOp::Elu(alpha))
    }
    /// Clamps to `[min, max]` (either bound optional).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi && !self.dtype().is_float() {
                bail!(Value, "clamp: min ({lo}) is greater than max ({hi})");
            }
        }
        unary(
            self,
            UnaryOp::Clamp {
                min: min.unwrap_or(f64::NEG_INFINITY),
                max: max.unwrap_or(f64::INFINITY),
            },
        )
    }
    pub fn logical_not(&self) -> Result<Tensor> {
        self.eq(&Tensor::wrapped_scalar(false))
    }
}
