//! `grad * f'(x)` for every op of the unary table, written in recorded ops. A backward running
//! in grad mode (`create_graph=True`) uses it instead of the fused kernel, so the gradient has
//! a graph of its own and can be differentiated again (Hessian-vector products, gradient
//! penalties, physics-informed losses).

use crate::autograd::record_differentiable;
use crate::ops::unary::UnaryOp;
use crate::{Result, Tensor};

fn s(v: f64) -> Tensor {
    Tensor::wrapped_scalar(v)
}

/// `mask` (bool) as 1.0 / 0.0 in `like`'s dtype.
fn ones_where(mask: &Tensor, like: &Tensor) -> Result<Tensor> {
    mask.to_dtype(like.dtype())
}

/// `mask` as 1.0 / 0.0 in `like`'s dtype, recorded as a function of `x` whose derivative is
/// zero. As PyTorch's `threshold_backward`, a ReLU's gradient so stays in `x`'s graph: a second
/// backward through it gives zeros (a ReLU net's Hessian) instead of "does not require grad".
fn step_of(x: &Tensor, mask: &Tensor, like: &Tensor) -> Result<Tensor> {
    zero_derivative_in(x, ones_where(mask, like)?)
}

/// `value`, recorded as a function of `x` with a zero derivative (see `step_of`).
fn zero_derivative_in(x: &Tensor, value: Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    Ok(record_differentiable(
        value,
        "StepBackward",
        &[x],
        move |g| Ok(vec![Some(g.zeros_like()?.to_dtype(dtype)?)]),
    ))
}

/// `grad * f'(x)` for `op`, differentiable in both `x` and `g`; `x` is what the op saved (its
/// output for the ops that save it, `UnaryOp::saves_output`).
pub(crate) fn unary_backward_graph(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    use std::f64::consts::{FRAC_2_SQRT_PI, LN_2, PI};
    match op {
        UnaryOp::Neg => g.neg(),
        UnaryOp::Abs => g.mul(&x.sign()?),
        // `x` is the output `exp(input)`.
        UnaryOp::Exp => g.mul(x),
        // `x` is the output `expm1(input)` for these five, as for `exp`.
        UnaryOp::Expm1 => g.mul(&x.add_scalar(1.0)?),
        UnaryOp::Log => g.div(x),
        UnaryOp::Log2 => g.div(&x.mul_scalar(LN_2)?),
        UnaryOp::Log1p => g.div(&x.add_scalar(1.0)?),
        UnaryOp::Sqrt => g.div(&x.mul_scalar(2.0)?),
        UnaryOp::Rsqrt => g.mul(&x.mul(x)?.mul(x)?.mul_scalar(-0.5)?),
        UnaryOp::Square => g.mul(&x.mul_scalar(2.0)?),
        UnaryOp::Reciprocal => g.mul(&x.mul(x)?)?.neg(),
        UnaryOp::Sinh => g.mul(&x.apply_unary(UnaryOp::Cosh)?),
        UnaryOp::Cosh => g.mul(&x.apply_unary(UnaryOp::Sinh)?),
        UnaryOp::Log10 => g.div(&x.mul_scalar(std::f64::consts::LN_10)?),
        UnaryOp::Mish => {
            // softplus's threshold (x past 20 stays x) changes no value: tanh has rounded to 1
            // there; it keeps exp's overflow from making a 0 * inf NaN in the next derivative.
            let t = x.softplus(1.0, 20.0)?.tanh()?;
            let d = t.add(&x.mul(&x.sigmoid()?)?.mul(&s(1.0).sub(&t.mul(&t)?)?)?)?;
            g.mul(&d)
        }
        UnaryOp::Sin => g.mul(&x.cos()?),
        UnaryOp::Cos => g.mul(&x.sin()?)?.neg(),
        // `x` is the output `tanh(input)`, `sigmoid(input)`.
        UnaryOp::Tanh => g.mul(&s(1.0).sub(&x.mul(x)?)?),
        UnaryOp::Sigmoid => g.mul(&x.mul(&s(1.0).sub(x)?)?),
        // 0 at and below 0, 1 elsewhere, NaN included (as the table's derivative).
        UnaryOp::Relu => g.mul(&step_of(x, &x.le(&s(0.0))?.logical_not()?, g)?),
        UnaryOp::Gelu => {
            let cdf = x
                .mul_scalar(FRAC_1_SQRT_2)?
                .erf()?
                .add_scalar(1.0)?
                .mul_scalar(0.5)?;
            let pdf = x
                .mul(x)?
                .mul_scalar(-0.5)?
                .exp()?
                .mul_scalar(INV_SQRT_2PI)?;
            g.mul(&cdf.add(&x.mul(&pdf)?)?)
        }
        UnaryOp::GeluTanh => {
            let k = (2.0 / PI).sqrt();
            let x2 = x.mul(x)?;
            let inner = x.add(&x2.mul(x)?.mul_scalar(0.044715)?)?.mul_scalar(k)?;
            let t = inner.tanh()?;
            let dinner = x2
                .mul_scalar(3.0 * 0.044715)?
                .add_scalar(1.0)?
                .mul_scalar(k)?;
            let left = t.add_scalar(1.0)?.mul_scalar(0.5)?;
            let right = x
                .mul(&s(1.0).sub(&t.mul(&t)?)?)?
                .mul(&dinner)?
                .mul_scalar(0.5)?;
            g.mul(&left.add(&right)?)
        }
        UnaryOp::Silu => {
            let sg = x.sigmoid()?;
            let d = sg.mul(&x.mul(&s(1.0).sub(&sg)?)?.add_scalar(1.0)?)?;
            g.mul(&d)
        }
        UnaryOp::Softplus { beta, threshold } => {
            let bx = x.mul_scalar(beta)?;
            let d = Tensor::where_(&bx.gt(&s(threshold))?, &s(1.0), &bx.sigmoid()?)?;
            g.mul(&d)
        }
        UnaryOp::LeakyRelu { slope } => {
            let step = step_of(x, &x.gt(&s(0.0))?, g)?;
            g.mul(&step.mul_scalar(1.0 - slope)?.add_scalar(slope)?)
        }
        UnaryOp::Elu { alpha } => {
            let neg = g.mul(&x.exp()?.mul_scalar(alpha)?)?;
            Tensor::where_(&x.le(&s(0.0))?, &neg, g)
        }
        UnaryOp::Erf => g.mul(&x.mul(x)?.neg()?.exp()?.mul_scalar(FRAC_2_SQRT_PI)?),
        UnaryOp::Erfinv => {
            let y = x.apply_unary(UnaryOp::Erfinv)?;
            g.mul(&y.mul(&y)?.exp()?.mul_scalar(0.5 * PI.sqrt())?)
        }
        UnaryOp::Tan => {
            let t = x.apply_unary(UnaryOp::Tan)?;
            g.mul(&t.mul(&t)?.add_scalar(1.0)?)
        }
        UnaryOp::Asin => g.mul(&s(1.0).sub(&x.mul(x)?)?.rsqrt()?),
        UnaryOp::Acos => g.mul(&s(1.0).sub(&x.mul(x)?)?.rsqrt()?)?.neg(),
        UnaryOp::Atan => g.div(&x.mul(x)?.add_scalar(1.0)?),
        UnaryOp::Asinh => g.mul(&x.mul(x)?.add_scalar(1.0)?.rsqrt()?),
        UnaryOp::Acosh => g.mul(&x.mul(x)?.add_scalar(-1.0)?.rsqrt()?),
        UnaryOp::Atanh => g.div(&s(1.0).sub(&x.mul(x)?)?),
        UnaryOp::Erfc => g.mul(&x.mul(x)?.neg()?.exp()?.mul_scalar(-FRAC_2_SQRT_PI)?),
        UnaryOp::Exp2 => g.mul(&x.mul_scalar(LN_2)?),
        UnaryOp::Lgamma => g.mul(&x.apply_unary(UnaryOp::Digamma)?),
        UnaryOp::Digamma => g.mul(&x.apply_unary(UnaryOp::Polygamma { n: 1.0 })?),
        UnaryOp::Polygamma { n } => g.mul(&x.apply_unary(UnaryOp::Polygamma { n: n + 1.0 })?),
        UnaryOp::Hardsigmoid => {
            let inside = x.gt(&s(-3.0))?.logical_and(&x.lt(&s(3.0))?)?;
            g.mul(&step_of(x, &inside, g)?.mul_scalar(1.0 / 6.0)?)
        }
        UnaryOp::Hardswish => {
            // 0 up to -3 (NaN passes, as the table's), `x / 3 + 1/2` below 3, 1 from 3.
            let from = step_of(x, &x.le(&s(-3.0))?.logical_not()?, g)?;
            let ramp = x.div(&s(3.0))?.add_scalar(0.5)?;
            g.mul(&from.mul(&Tensor::where_(&x.lt(&s(3.0))?, &ramp, &s(1.0))?)?)
        }
        UnaryOp::Clamp { min, max } => {
            // As the table's derivative: a side without a bound passes everything.
            let above = (min > f64::NEG_INFINITY)
                .then(|| x.gt(&s(min)))
                .transpose()?;
            let below = (max < f64::INFINITY).then(|| x.lt(&s(max))).transpose()?;
            let inside = match (above, below) {
                (Some(a), Some(b)) => a.logical_and(&b)?,
                (Some(m), None) | (None, Some(m)) => m,
                (None, None) => return Ok(g.clone()),
            };
            g.mul(&zero_derivative_in(x, ones_where(&inside, g)?)?)
        }
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Trunc => {
            g.mul_scalar(0.0)
        }
    }
}

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`, the standard normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
