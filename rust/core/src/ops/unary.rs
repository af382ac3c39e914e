//! Elementwise unary ops, declared once in the `unary_ops!` table below (the enum, names,
//! formulas, derivatives and CUDA codes); the backward is one fused pass `grad * f'(x)` over
//! the saved input.

use crate::autograd::{record_differentiable, Saved};
use crate::backend;
use crate::ops::copy::cast_raw;
use crate::ops::memory_order;
use crate::ops::special;
use crate::{bail, DType, Float, Result, Tensor};

/// Where an op is defined (its inputs; the table's tests sample inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Real,
    /// `x > 0`.
    Positive,
    /// `-1 < x < 1`.
    Unit,
    /// `x > 1`.
    AboveOne,
}

impl Domain {
    pub fn contains(self, x: f64) -> bool {
        match self {
            Domain::Real => true,
            Domain::Positive => x > 0.0,
            Domain::Unit => x.abs() < 1.0,
            Domain::AboveOne => x > 1.0,
        }
    }
}

/// What an op does to integer and bool tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ints {
    /// Computed on the integers (`unary_int`), the dtype kept.
    Keep,
    /// Computed in floating point (the tensor is cast to float32 first).
    Float,
}

/// `v` in the kernel's float type (the formulas below are written with it).
#[inline(always)]
fn c<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

/// `1 / (1 + e^-x)` from `e = e^-|x|`, which never overflows: `1 / (1 + e)` for `x >= 0`,
/// `e / (1 + e)` below. One `exp` and a select (no branch), so the loop vectorises; the CUDA
/// kernels' `sigmoid` is the same expression.
#[inline(always)]
fn sigmoid<T: Float, const FUSED: bool>(x: T) -> T {
    sigmoid_pair::<T, FUSED>(x).0
}

/// `(sigmoid x, 1 - sigmoid x)`, each from the same `e^-|x|` without cancellation.
#[inline(always)]
fn sigmoid_pair<T: Float, const FUSED: bool>(x: T) -> (T, T) {
    let e = (-x.abs()).exp_with::<FUSED>();
    let r = T::one() / (T::one() + e);
    if x >= T::zero() {
        (r, e * r)
    } else {
        (e * r, r)
    }
}

/// What a backend's unary kernel runs with: `run` is called with a closure that returns the
/// op, a distinct type per op, so the op is a constant in the monomorphised loop and the
/// formulas lose their per-element `match` (the loops vectorise).
/// `FUSES` says whether the op's formulas call a `_with::<FUSED>` function (`madd`), so that
/// a kernel compiles a fused variant only for those ops.
pub(crate) trait Specialized {
    type Out;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync, const FUSES: bool>(self, op: O) -> Self::Out;
}

/// Whether a formula's source mentions `FUSED` (the table's rows, stringified).
const fn mentions_fused(src: &str) -> bool {
    let (s, w) = (src.as_bytes(), b"FUSED");
    let mut i = 0;
    while i + w.len() <= s.len() {
        let mut j = 0;
        while j < w.len() && s[i + j] == w[j] {
            j += 1;
        }
        if j == w.len() {
            return true;
        }
        i += 1;
    }
    false
}

/// The table of elementwise unary ops, the one place an op is declared. Each row gives the
/// variant (with its `f64` parameters and the example values the table tests use), the
/// Python name (`""`: reached through a method with parameters), the autograd node's name,
/// what happens to integer inputs, the domain, the CUDA code with its two scalars, and the
/// forward and derivative formulas (the backward is one fused pass `grad * f'(x)`); an optional
/// `dy` gives the derivative in terms of the output `y`, and such an op saves its output for
/// the backward instead of its input (`saves_output`). From it
/// come the enum, `ALL`, the names, the CPU kernels' formulas and the CUDA op codes (the
/// `UnaryCode` C enum in `cuda/kernels/common.cuh`); the CUDA formulas are the same
/// expressions in `cuda/kernels/elementwise.cu`.
macro_rules! unary_ops {
    (@has_dy $($e:expr)?) => { false $(|| { let _ = stringify!($e); true })? };
    (@saved $s:ident, $dx:ident, $de:expr) => {{ let $dx = $s; $de }};
    (@saved $s:ident, $dx:ident, $de:expr, $dy:ident, $dye:expr) => {{ let $dy = $s; $dye }};
    ($(
        $(#[$doc:meta])*
        $v:ident $({ $($f:ident = $ex:expr),+ })? => {
            python: $py:literal,
            backward: $bw:literal,
            ints: $ints:ident,
            domain: $dom:ident,
            cuda: $code:literal ($ca:expr, $cb:expr),
            f: |$x:ident| $fe:expr,
            df: |$dx:ident| $de:expr
            $(, dy: |$dy:ident| $dye:expr)? $(,)?
        }
    )*) => {
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum UnaryOp {
            $($(#[$doc])* $v $({ $($f: f64),+ })?,)*
        }

        impl UnaryOp {
            /// Every op, with representative parameters: the table tests iterate over it (a
            /// finite-difference gradient check of each, a CUDA-against-CPU check of each).
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$v $({ $($f: $ex),+ })?,)*];

            /// `(code, a, b)`: the CUDA kernels' op code and scalar parameters.
            pub fn cuda_code(self) -> (i32, f64, f64) {
                match self {
                    $(UnaryOp::$v $({ $($f),+ })? => ($code, $ca, $cb),)*
                }
            }

            /// `(variant name, code)` of every op, for the generated C enum.
            pub const CUDA_CODES: &'static [(&'static str, i32)] = &[$((stringify!($v), $code),)*];

            /// The parameterless op called `name` in Python (`"erf"`), if any.
            pub fn by_name(name: &str) -> Option<UnaryOp> {
                Self::ALL.iter().copied().find(|op| !op.python_name().is_empty() && op.python_name() == name)
            }

            /// The name Python reaches the op by through `by_name` (`""` for ops with
            /// parameters, which have methods of their own).
            pub fn python_name(self) -> &'static str {
                match self {
                    $(UnaryOp::$v { .. } => $py,)*
                }
            }

            /// The autograd node's name.
            pub fn name(self) -> &'static str {
                match self {
                    $(UnaryOp::$v { .. } => $bw,)*
                }
            }

            /// Ops that keep integer dtypes (everything else computes in floating point).
            pub(crate) fn keeps_int(self) -> bool {
                match self {
                    $(UnaryOp::$v { .. } => Ints::$ints == Ints::Keep,)*
                }
            }

            /// Where the op is defined.
            pub fn domain(self) -> Domain {
                match self {
                    $(UnaryOp::$v { .. } => Domain::$dom,)*
                }
            }

            /// Calls `s.run` with a closure returning this op (see `Specialized`).
            pub(crate) fn specialize<S: Specialized>(self, s: S) -> S::Out {
                match self {
                    $(UnaryOp::$v $({ $($f),+ })? => s.run::<_, {
                        mentions_fused(concat!(stringify!($fe), stringify!($de) $(, stringify!($dye))?))
                    }>(move || UnaryOp::$v $({ $($f),+ })?),)*
                }
            }

            /// `f(x)`.
            #[inline(always)]
            pub(crate) fn forward<T: Float>(self, x: T) -> T {
                self.forward_with::<T, false>(x)
            }

            /// `f(x)`, the formulas' `_with::<FUSED>` functions fused (`Float::madd`).
            #[inline(always)]
            #[allow(unused_variables)]
            pub(crate) fn forward_with<T: Float, const FUSED: bool>(self, x: T) -> T {
                match self {
                    $(UnaryOp::$v $({ $($f),+ })? => {
                        let $x = x;
                        $fe
                    })*
                }
            }

            /// Whether the backward reads the op's output instead of its input (the rows with
            /// `dy`, the derivative written in `y = f(x)`, as PyTorch saves `exp`'s, `sigmoid`'s
            /// and `tanh`'s results): the input need not stay alive, and the backward does not
            /// evaluate `f` again.
            pub fn saves_output(self) -> bool {
                match self {
                    $(UnaryOp::$v { .. } => unary_ops!(@has_dy $($dye)?),)*
                }
            }

            /// `f'` from the tensor the op saved: `dy(y)` for the ops that save their output,
            /// else `df(x)`. The fused backward is `grad * saved_derivative(saved)`.
            #[inline(always)]
            #[allow(unused_variables)]
            pub(crate) fn saved_derivative_with<T: Float, const FUSED: bool>(self, saved: T) -> T {
                match self {
                    $(UnaryOp::$v $({ $($f),+ })? => unary_ops!(@saved saved, $dx, $de $(, $dy, $dye)?),)*
                }
            }
        }
    };
}

impl UnaryOp {
    /// Whether the backward selects the gradient where `f'` is not 0 instead of multiplying
    /// by `f'`: PyTorch's mask-based backwards (`threshold_backward` of relu, `hardtanh`'s
    /// and `clamp`'s ranges, hardsigmoid's flat parts, the zero gradient of the rounding ops;
    /// not hardswish, whose backward multiplies inside [-3, 3], where `f'` is 0 at -1.5). There a NaN or inf gradient stops; everywhere else `g * 0` keeps it NaN,
    /// as PyTorch's (`abs`, `x ** 2` at 0 pass a NaN on).
    #[inline(always)]
    pub fn masks_gradient(self) -> bool {
        matches!(
            self,
            UnaryOp::Relu
                | UnaryOp::Clamp { .. }
                | UnaryOp::Hardsigmoid
                | UnaryOp::Sign
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::Trunc
        )
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const LN_2: f64 = std::f64::consts::LN_2;
const LN_10: f64 = std::f64::consts::LN_10;

unary_ops! {
    Neg => {
        python: "neg", backward: "NegBackward", ints: Keep, domain: Real, cuda: 1 (0.0, 0.0),
        f: |x| -x,
        df: |x| -T::one(),
    }
    Abs => {
        python: "abs", backward: "AbsBackward", ints: Keep, domain: Real, cuda: 2 (0.0, 0.0),
        f: |x| x.abs(),
        df: |x| UnaryOp::Sign.forward(x),
    }
    Exp => {
        python: "exp", backward: "ExpBackward", ints: Float, domain: Real, cuda: 3 (0.0, 0.0),
        f: |x| x.exp_with::<FUSED>(),
        df: |x| x.exp_with::<FUSED>(),
        dy: |y| y,
    }
    Log => {
        python: "log", backward: "LogBackward", ints: Float, domain: Positive, cuda: 4 (0.0, 0.0),
        f: |x| x.ln(),
        df: |x| T::one() / x,
    }
    Log2 => {
        python: "log2", backward: "Log2Backward", ints: Float, domain: Positive, cuda: 5 (0.0, 0.0),
        f: |x| x.ln() / c(LN_2),
        df: |x| T::one() / (x * c(LN_2)),
    }
    Log1p => {
        python: "log1p", backward: "Log1PBackward", ints: Float, domain: Positive, cuda: 6 (0.0, 0.0),
        f: |x| x.ln_1p(),
        df: |x| T::one() / (T::one() + x),
    }
    Expm1 => {
        python: "expm1", backward: "Expm1Backward", ints: Float, domain: Real, cuda: 7 (0.0, 0.0),
        f: |x| x.exp_m1(),
        df: |x| x.exp(),
        dy: |y| y + T::one(),
    }
    Sqrt => {
        python: "sqrt", backward: "SqrtBackward", ints: Float, domain: Positive, cuda: 8 (0.0, 0.0),
        f: |x| x.sqrt(),
        df: |x| c::<T>(0.5) / x.sqrt(),
        dy: |y| c::<T>(0.5) / y,
    }
    Rsqrt => {
        python: "rsqrt", backward: "RsqrtBackward", ints: Float, domain: Positive, cuda: 9 (0.0, 0.0),
        f: |x| T::one() / x.sqrt(),
        df: |x| c::<T>(-0.5) / (x * x.sqrt()),
        dy: |y| c::<T>(-0.5) * y * y * y,
    }
    Square => {
        python: "square", backward: "PowBackward", ints: Keep, domain: Real, cuda: 10 (0.0, 0.0),
        f: |x| x * x,
        df: |x| c::<T>(2.0) * x,
    }
    Reciprocal => {
        python: "reciprocal", backward: "ReciprocalBackward", ints: Float, domain: Positive,
        cuda: 11 (0.0, 0.0),
        f: |x| T::one() / x,
        df: |x| -T::one() / (x * x),
        dy: |y| -(y * y),
    }
    Sin => {
        python: "sin", backward: "SinBackward", ints: Float, domain: Real, cuda: 12 (0.0, 0.0),
        f: |x| x.sin(),
        df: |x| x.cos(),
    }
    Cos => {
        python: "cos", backward: "CosBackward", ints: Float, domain: Real, cuda: 13 (0.0, 0.0),
        f: |x| x.cos(),
        df: |x| -x.sin(),
    }
    Tanh => {
        python: "tanh", backward: "TanhBackward", ints: Float, domain: Real, cuda: 14 (0.0, 0.0),
        f: |x| x.tanh_with::<FUSED>(),
        df: |x| {
            let t = x.tanh_with::<FUSED>();
            T::one() - t * t
        },
        dy: |y| T::one() - y * y,
    }
    Sigmoid => {
        python: "sigmoid", backward: "SigmoidBackward", ints: Float, domain: Real,
        cuda: 15 (0.0, 0.0),
        f: |x| sigmoid::<T, FUSED>(x),
        df: |x| {
            let s = sigmoid::<T, FUSED>(x);
            s * (T::one() - s)
        },
        dy: |y| y * (T::one() - y),
    }
    Relu => {
        python: "relu", backward: "ReluBackward", ints: Keep, domain: Real, cuda: 16 (0.0, 0.0),
        f: |x| if x > T::zero() || x.is_nan() { x } else { T::zero() },
        // 0 at and below 0, 1 elsewhere, NaN included (PyTorch's threshold_backward).
        df: |x| if x <= T::zero() { T::zero() } else { T::one() },
        dy: |y| if y <= T::zero() { T::zero() } else { T::one() },
    }
    Gelu => {
        python: "", backward: "GeluBackward", ints: Float, domain: Real, cuda: 17 (0.0, 0.0),
        f: |x| c::<T>(0.5) * x * (T::one() + (x * c(INV_SQRT_2)).erf_with::<FUSED>()),
        df: |x| {
            let cdf = c::<T>(0.5) * (T::one() + (x * c(INV_SQRT_2)).erf_with::<FUSED>());
            let pdf = (c::<T>(-0.5) * x * x).exp_with::<FUSED>() * c(0.398_942_280_401_432_7);
            cdf + x * pdf
        },
    }
    /// `x (1 + tanh u) / 2` with `u = sqrt(2/pi) (x + 0.044715 x^3)`, computed as the equal
    /// `x sigmoid(2u)`: one `exp` and no cancellation in `1 + tanh u` where `u` is negative.
    GeluTanh => {
        python: "", backward: "GeluBackward", ints: Float, domain: Real, cuda: 18 (0.0, 0.0),
        f: |x| {
            let z = c::<T>(2.0 * SQRT_2_OVER_PI) * (x + c::<T>(0.044715) * x * x * x);
            x * sigmoid::<T, FUSED>(z)
        },
        df: |x| {
            let z = c::<T>(2.0 * SQRT_2_OVER_PI) * (x + c::<T>(0.044715) * x * x * x);
            let (s, rest) = sigmoid_pair::<T, FUSED>(z);
            let dz = c::<T>(2.0 * SQRT_2_OVER_PI) * (T::one() + c::<T>(3.0 * 0.044715) * x * x);
            s + s * rest * x * dz
        },
    }
    Silu => {
        python: "silu", backward: "SiluBackward", ints: Float, domain: Real, cuda: 19 (0.0, 0.0),
        f: |x| x * sigmoid::<T, FUSED>(x),
        df: |x| {
            let s = sigmoid::<T, FUSED>(x);
            s * (T::one() + x * (T::one() - s))
        },
    }
    Softplus { beta = 2.0, threshold = 20.0 } => {
        python: "", backward: "SoftplusBackward", ints: Float, domain: Real,
        cuda: 20 (beta, threshold),
        f: |x| {
            let bx = x * c(beta);
            if bx > c(threshold) { x } else { bx.exp().ln_1p() / c(beta) }
        },
        df: |x| if x * c(beta) > c(threshold) { T::one() } else { sigmoid::<T, FUSED>(x * c(beta)) },
    }
    LeakyRelu { slope = 0.1 } => {
        python: "", backward: "LeakyReluBackward", ints: Float, domain: Real,
        cuda: 21 (slope, 0.0),
        f: |x| if x > T::zero() { x } else { x * c(slope) },
        df: |x| if x > T::zero() { T::one() } else { c(slope) },
    }
    Elu { alpha = 0.7 } => {
        python: "", backward: "EluBackward", ints: Float, domain: Real, cuda: 22 (alpha, 0.0),
        f: |x| if x > T::zero() { x } else { c::<T>(alpha) * x.exp_m1() },
        // (NaN takes the positive side's 1, as PyTorch's elu_backward.)
        df: |x| if x <= T::zero() { c::<T>(alpha) * x.exp() } else { T::one() },
    }
    Erf => {
        python: "erf", backward: "ErfBackward", ints: Float, domain: Real, cuda: 23 (0.0, 0.0),
        f: |x| x.erf_with::<FUSED>(),
        df: |x| c::<T>(std::f64::consts::FRAC_2_SQRT_PI) * (-x * x).exp_with::<FUSED>(),
    }
    Sign => {
        python: "sign", backward: "ZeroGradBackward", ints: Keep, domain: Real,
        cuda: 24 (0.0, 0.0),
        f: |x| {
            if x > T::zero() {
                T::one()
            } else if x < T::zero() {
                -T::one()
            } else {
                // PyTorch's: zero for both zeros and for NaN.
                T::zero()
            }
        },
        df: |x| T::zero(),
    }
    Floor => {
        python: "floor", backward: "ZeroGradBackward", ints: Keep, domain: Real,
        cuda: 25 (0.0, 0.0),
        f: |x| c(x.to_f64().floor()),
        df: |x| T::zero(),
    }
    Ceil => {
        python: "ceil", backward: "ZeroGradBackward", ints: Keep, domain: Real,
        cuda: 26 (0.0, 0.0),
        f: |x| c(x.to_f64().ceil()),
        df: |x| T::zero(),
    }
    Round => {
        python: "round", backward: "ZeroGradBackward", ints: Keep, domain: Real,
        cuda: 27 (0.0, 0.0),
        f: |x| c(x.to_f64().round_ties_even()),
        df: |x| T::zero(),
    }
    Trunc => {
        python: "trunc", backward: "ZeroGradBackward", ints: Keep, domain: Real,
        cuda: 28 (0.0, 0.0),
        f: |x| c(x.to_f64().trunc()),
        df: |x| T::zero(),
    }
    Erfinv => {
        python: "erfinv", backward: "ErfinvBackward", ints: Float, domain: Unit,
        cuda: 32 (0.0, 0.0),
        f: |x| x.erfinv(),
        df: |x| {
            let y = x.erfinv();
            c::<T>(0.5 * std::f64::consts::PI.sqrt()) * (y * y).exp()
        },
    }
    Tan => {
        python: "tan", backward: "TanBackward", ints: Float, domain: Unit, cuda: 33 (0.0, 0.0),
        f: |x| x.tan(),
        df: |x| {
            let t = x.tan();
            T::one() + t * t
        },
    }
    Asin => {
        python: "asin", backward: "AsinBackward", ints: Float, domain: Unit, cuda: 34 (0.0, 0.0),
        f: |x| x.asin(),
        df: |x| T::one() / (T::one() - x * x).sqrt(),
    }
    Acos => {
        python: "acos", backward: "AcosBackward", ints: Float, domain: Unit, cuda: 35 (0.0, 0.0),
        f: |x| x.acos(),
        df: |x| -T::one() / (T::one() - x * x).sqrt(),
    }
    Atan => {
        python: "atan", backward: "AtanBackward", ints: Float, domain: Real, cuda: 36 (0.0, 0.0),
        f: |x| x.atan(),
        df: |x| T::one() / (T::one() + x * x),
    }
    Asinh => {
        python: "asinh", backward: "AsinhBackward", ints: Float, domain: Real,
        cuda: 37 (0.0, 0.0),
        f: |x| x.asinh(),
        df: |x| T::one() / (x * x + T::one()).sqrt(),
    }
    Acosh => {
        python: "acosh", backward: "AcoshBackward", ints: Float, domain: AboveOne,
        cuda: 38 (0.0, 0.0),
        f: |x| x.acosh(),
        df: |x| T::one() / (x * x - T::one()).sqrt(),
    }
    Atanh => {
        python: "atanh", backward: "AtanhBackward", ints: Float, domain: Unit,
        cuda: 39 (0.0, 0.0),
        f: |x| x.atanh(),
        df: |x| T::one() / (T::one() - x * x),
    }
    Erfc => {
        python: "erfc", backward: "ErfcBackward", ints: Float, domain: Real, cuda: 40 (0.0, 0.0),
        f: |x| x.erfc(),
        df: |x| c::<T>(-std::f64::consts::FRAC_2_SQRT_PI) * (-x * x).exp(),
    }
    Exp2 => {
        python: "exp2", backward: "Exp2Backward", ints: Float, domain: Real, cuda: 41 (0.0, 0.0),
        f: |x| x.exp2(),
        df: |x| x.exp2() * c(LN_2),
        dy: |y| y * c(LN_2),
    }
    Lgamma => {
        python: "lgamma", backward: "LgammaBackward", ints: Float, domain: Positive,
        cuda: 42 (0.0, 0.0),
        f: |x| c(special::lgamma(x.to_f64())),
        df: |x| c(special::digamma(x.to_f64())),
    }
    Digamma => {
        python: "digamma", backward: "DigammaBackward", ints: Float, domain: Positive,
        cuda: 43 (0.0, 0.0),
        f: |x| c(special::digamma(x.to_f64())),
        df: |x| c(special::polygamma(1.0, x.to_f64())),
    }
    /// The `n`-th derivative of digamma (`Tensor::polygamma`, `n >= 1`).
    Polygamma { n = 2.0 } => {
        python: "", backward: "PolygammaBackward", ints: Float, domain: Positive,
        cuda: 44 (n, 0.0),
        f: |x| c(special::polygamma(n, x.to_f64())),
        df: |x| c(special::polygamma(n + 1.0, x.to_f64())),
    }
    /// `relu6(x + 3) / 6`; its slope `1/6` strictly between -3 and 3, as PyTorch's.
    Hardsigmoid => {
        python: "hardsigmoid", backward: "HardsigmoidBackward", ints: Float, domain: Real,
        cuda: 45 (0.0, 0.0),
        f: |x| (x + c(3.0)).max(T::zero()).min(c(6.0)) / c(6.0),
        df: |x| if x > c(-3.0) && x < c(3.0) { c(1.0 / 6.0) } else { T::zero() },
    }
    /// `x relu6(x + 3) / 6` (MobileNetV3); the derivative PyTorch's `hardswish_backward` gives:
    /// 0 up to -3, `x / 3 + 1/2` strictly between -3 and 3, 1 from 3 (and for NaN).
    Hardswish => {
        python: "hardswish", backward: "HardswishBackward", ints: Float, domain: Real,
        cuda: 46 (0.0, 0.0),
        f: |x| x * (x + c(3.0)).max(T::zero()).min(c(6.0)) / c(6.0),
        df: |x| {
            if x <= c(-3.0) {
                T::zero()
            } else if x < c(3.0) {
                x / c(3.0) + c(0.5)
            } else {
                T::one()
            }
        },
    }
    /// Hyperbolic sine and cosine, each the other's derivative (libm's, so a bfloat16 result is
    /// rounded once from float32, and the gradient near 0 has no cancellation).
    Sinh => {
        python: "sinh", backward: "SinhBackward", ints: Float, domain: Real, cuda: 47 (0.0, 0.0),
        f: |x| x.sinh(),
        df: |x| x.cosh(),
    }
    Cosh => {
        python: "cosh", backward: "CoshBackward", ints: Float, domain: Real, cuda: 48 (0.0, 0.0),
        f: |x| x.cosh(),
        df: |x| x.sinh(),
    }
    Log10 => {
        python: "log10", backward: "Log10Backward", ints: Float, domain: Positive,
        cuda: 49 (0.0, 0.0),
        f: |x| x.log10(),
        df: |x| T::one() / (x * c(LN_10)),
    }
    /// `x tanh(softplus(x))` (Misra, 2019) and PyTorch's `mish_backward`:
    /// `t + x sigmoid(x) (1 - t^2)` with `t = tanh(softplus(x))`.
    Mish => {
        python: "mish", backward: "MishBackward", ints: Float, domain: Real, cuda: 50 (0.0, 0.0),
        f: |x| x * x.exp().ln_1p().tanh(),
        df: |x| {
            let t = x.exp().ln_1p().tanh();
            t + x * sigmoid::<T, FUSED>(x) * (T::one() - t * t)
        },
    }
    Clamp { min = -0.5, max = 0.5 } => {
        python: "", backward: "ClampBackward1", ints: Keep, domain: Real, cuda: 29 (min, max),
        f: |x| if x.is_nan() { x } else { x.max(c(min)).min(c(max)) },
        // Strictly inside: no gradient at a bound, as PyTorch's (relu6, hardtanh at their kinks);
        // a side without a bound passes everything, infinities included (`clamp(min=0)` at inf).
        df: |x| {
            let above = x > c(min) || min == f64::NEG_INFINITY;
            let below = x < c(max) || max == f64::INFINITY;
            if above && below { T::one() } else { T::zero() }
        },
    }
}

/// `asinh`, finite up to f64's largest value (`f64::asinh` overflows to inf past ~9e307, where
/// `x + sqrt(x² + 1)` does): there `asinh(x) = ln(2|x|)` to within rounding.
pub(crate) fn asinh(x: f64) -> f64 {
    if x.abs() > 1e150 {
        (x.abs().ln() + LN_2).copysign(x)
    } else {
        x.asinh()
    }
}

/// `acosh`, finite up to f64's largest value (`x * x` overflows past ~1.3e154): there
/// `acosh(x) = ln(2x)` to within rounding.
pub(crate) fn acosh(x: f64) -> f64 {
    if x > 1e150 {
        x.ln() + LN_2
    } else {
        x.acosh()
    }
}

/// The inverse error function on `(-1, 1)` (`±inf` at `±1`, NaN outside): Giles' single
/// precision approximation ("Approximating the erfinv function", 2010), then two Newton
/// steps on `erf(x) = y`, which bring it to double precision.
pub(crate) fn erfinv(y: f64) -> f64 {
    if y.is_nan() || y.abs() > 1.0 {
        return f64::NAN;
    }
    if y.abs() == 1.0 {
        return y * f64::INFINITY;
    }
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let horner = |w: f64, cs: &[f64]| cs.iter().fold(0.0, |p, &k| k + p * w);
    let p = if w < 5.0 {
        let cs = [
            2.810_226_36e-08,
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            2.185_808_7e-04,
            -1.253_725_03e-03,
            -4.177_681_64e-03,
            2.466_407_27e-01,
            1.501_409_41,
        ];
        horner(w - 2.5, &cs)
    } else {
        let cs = [
            -2.002_142_57e-04,
            1.009_505_58e-04,
            1.349_343_22e-03,
            -3.673_428_44e-03,
            5.739_507_73e-03,
            -7.622_461_3e-03,
            9.438_870_47e-03,
            1.001_674_06,
            2.832_976_82,
        ];
        horner(w.sqrt() - 3.0, &cs)
    };
    let x = p * y;
    let slope = |x: f64| std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp();
    if y.abs() < 0.5 {
        let mut x = x;
        for _ in 0..2 {
            x -= (crate::ops::special::erf(x) - y) / slope(x);
        }
        return x;
    }
    // In the tails `erf(x)` rounds to 1 and Newton's steps on it stall: they solve
    // `ln erfc(x) = ln(1 - |y|)` instead (`1 - |y|` is exact for |y| >= 0.5), nearly linear
    // in the far tail, where the single-precision start is off by up to 0.7 at 1 - 2^-53.
    let (q, mut a) = (1.0 - y.abs(), x.abs());
    for _ in 0..8 {
        let e = crate::ops::special::erfc(a);
        let step = (e.ln() - q.ln()) * e / slope(a);
        a += step;
        if step.abs() <= 1e-15 * a {
            break;
        }
    }
    a.copysign(y)
}

impl UnaryOp {
    /// The op's position in `ALL`.
    pub fn table_index(self) -> usize {
        let d = std::mem::discriminant(&self);
        Self::ALL
            .iter()
            .position(|o| std::mem::discriminant(o) == d)
            .unwrap_or(usize::MAX)
    }

    /// Whether the op is defined for negative inputs.
    pub fn accepts_negative(self) -> bool {
        self.domain() == Domain::Real
    }
}

pub(crate) fn unary_raw(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    if let Some(order) = memory_order::shared_permutation(&[t]) {
        return memory_order::run_in_memory_order(&[t], &order, |v| unary_raw(v[0], op));
    }
    let dt = t.dtype();
    if dt == DType::Bool {
        // PyTorch's rules: the math functions read bools as 0/1 floats, `square` as int64s and
        // `sign` is the identity; `abs`, the rounding ops and activations refuse them.
        return match op {
            UnaryOp::Sign => t.deep_clone(),
            UnaryOp::Square => unary_raw(&cast_raw(t, DType::I64)?, op),
            UnaryOp::Abs
            | UnaryOp::Gelu
            | UnaryOp::GeluTanh
            | UnaryOp::Silu
            | UnaryOp::Softplus { .. }
            | UnaryOp::LeakyRelu { .. }
            | UnaryOp::Elu { .. } => {
                bail!(DType, "{:?} is not supported for bool tensors", op)
            }
            _ if op.keeps_int() => bail!(DType, "{:?} is not supported for bool tensors", op),
            _ => unary_raw(&cast_raw(t, DType::default_float())?, op),
        };
    }
    if !dt.is_float() {
        if op.keeps_int() {
            let r = backend::of(t).unary_int(t, op)?;
            return cast_raw(&r, dt);
        }
        return unary_raw(&cast_raw(t, DType::default_float())?, op);
    }
    backend::of(t).unary_float(t, op)
}

/// `grad * f'(x)` in one pass (the backend's fused kernel).
pub(crate) fn unary_backward(op: UnaryOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    if let Some(order) = memory_order::shared_permutation(&[x, g]) {
        return memory_order::run_in_memory_order(&[x, g], &order, |v| {
            unary_backward(op, v[0], v[1])
        });
    }
    backend::of(x).unary_backward(op, x, g)
}

pub(crate) fn unary(t: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let out = unary_raw(t, op)?;
    if !out.dtype().is_float() || !t.requires_grad() {
        return Ok(out);
    }
    if op == UnaryOp::Neg {
        // `-x` keeps nothing (its gradient is `-g`): a reusable node, as PyTorch's NegBackward.
        return Ok(crate::autograd::reusable(record_differentiable(
            out,
            op.name(),
            &[t],
            |g| Ok(vec![Some(g.neg()?)]),
        )));
    }
    // ReLU's, exp's, sigmoid's and tanh's backward read their output, as PyTorch's do
    // (`saves_output`): the input need not stay alive (a Linear -> ReLU -> Linear chain keeps
    // one activation per layer, not two), and an in-place change of the output is caught by
    // the saved-tensor version check.
    let x = if op.saves_output() {
        Saved::output(&out)?
    } else {
        Saved::new(t)?
    };
    Ok(record_differentiable(out, op.name(), &[t], move |g| {
        if crate::autograd::is_grad_enabled() {
            // `create_graph=True`: the gradient is built of recorded ops.
            let x = x.get_graph()?;
            return Ok(vec![Some(crate::ops::unary_graph::unary_backward_graph(
                op, &x, g,
            )?)]);
        }
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
        unary(self, UnaryOp::LeakyRelu { slope })
    }
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        unary(self, UnaryOp::Elu { alpha })
    }
    /// The `n`-th derivative of digamma (`n = 0` is `digamma`); `n` must be a non-negative
    /// integer.
    pub fn polygamma(&self, n: i64) -> Result<Tensor> {
        match n {
            ..=-1 => bail!(Value, "polygamma: n must be non-negative, got {n}"),
            0 => unary(self, UnaryOp::Digamma),
            n => unary(self, UnaryOp::Polygamma { n: n as f64 }),
        }
    }
    /// Clamps to `[min, max]` (either bound optional).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        // min > max is allowed, as in PyTorch: every element becomes max.
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
