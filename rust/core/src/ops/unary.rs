//! Elementwise unary ops. Each float op has a forward formula and a derivative formula; the
//! backward is one fused pass `grad * f'(x)` over the saved input.

use crate::autograd::{record, Saved};
use crate::backend;
use crate::ops::copy::cast_raw;
use crate::{bail, DType, Result, Tensor};

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
    pub(crate) fn keeps_int(self) -> bool {
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

pub(crate) fn unary_raw(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let dt = t.dtype();
    if !dt.is_float() {
        if dt == DType::Bool && op != UnaryOp::Abs {
            bail!(DType, "{:?} is not supported for bool tensors", op);
        }
        if op.keeps_int() {
            let r = backend::of(t).unary_int(t, op)?;
            return cast_raw(&r, dt);
        }
        return unary_raw(&cast_raw(t, DType::F32)?, op);
    }
    backend::of(t).unary_float(t, op)
}

/// `grad * f'(x)` in one pass (the backend's fused kernel).
pub(crate) fn unary_backward(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    backend::of(x).unary_backward(op, x, g)
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
