//! float32 `exp`, `tanh`, `erf` and `log1p` (and float64 `exp` and `tanh`) in plain arithmetic (no libm call),
//! so the loops that use them (activations, softmax, attention) vectorise: every branch is a select. Accuracy is
//! within about 2e-7 relative (2 ulp) over the whole range, checked against the f64 functions
//! in the tests below; special values (inf, NaN, denormal results) behave like libm's.

// The coefficients are written as published (Cephes, Abramowitz & Stegun).
#![allow(clippy::excessive_precision)]

pub mod trig;
pub use trig::{cos_f32, sin_f32, tan_f32};

use crate::Float;

/// `e^x`: Cephes' `expf` (reduction by ln 2 in two parts, then `exp_reduced`).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp_f32_with::<false>(x)
}

/// `e^x` with each multiply-add of the reduction and the polynomial fused into one FMA when
/// `FUSED` (for kernels compiled at a SIMD level that has FMA: half the instructions, one
/// rounding each). `FUSED = false` is `exp_f32`.
#[inline(always)]
pub fn exp_f32_with<const FUSED: bool>(x: f32) -> f32 {
    // An input whose result is 0 (a masked score's -inf) computes from 0 instead: the edges
    // replace its value, and scaled down from -104 it would pass through denormals, which
    // Intel CPUs handle in microcode (a masked softmax ran 8x slower).
    let xc = if x < UNDERFLOW_F32 { 0.0 } else { x.min(89.0) };
    // Round to nearest by adding and removing 1.5 * 2^23 (no `floor`: on the baseline target
    // that is a libm call, which would cost more than the whole polynomial).
    const ROUND: f32 = 12_582_912.0;
    let t = xc.madd::<FUSED>(std::f32::consts::LOG2_E, ROUND);
    let n = t - ROUND;
    // The integer `n` from the rounded sum's low mantissa bits: `as i32` saturates and maps
    // NaN to 0, which compilers scalarise; this stays in vector registers.
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = n.madd::<FUSED>(2.121_944_4e-4, (-n).madd::<FUSED>(0.693_359_4, xc));
    exp_edges(x, exp_reduced::<FUSED>(r, ni), 88.722_84, UNDERFLOW_F32)
}

/// Below this `e^x` rounds to 0 in float32 (and in float64 below `UNDERFLOW_F64`).
const UNDERFLOW_F32: f32 = -103.972_08;
const UNDERFLOW_F64: f64 = -745.133_219_101_941_1;

/// `e^x` in float64 for `Float::exp_with`: `exp_f64`, whatever `FUSED` (plain arithmetic at
/// every SIMD level, so float64 results do not depend on the CPU).
#[inline(always)]
pub fn exp_f64_with<const FUSED: bool>(x: f64) -> f64 {
    exp_f64(x)
}

/// `e^x` in float64: Cephes' `exp` (reduction by ln 2 in two parts, a (3, 4) Padé form of
/// `e^r`, the power of two applied in two halves so denormal results come out right), in plain
/// arithmetic so the loops vectorise where libm's is a call per element. Within 1.5 ulp of
/// the correctly rounded result (libm: 1).
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    // Results of 0 compute from 0, as in `exp_f32_with` (no denormal intermediates).
    let xc = if x < UNDERFLOW_F64 { 0.0 } else { x.min(710.0) };
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: adding it rounds to an integer
    let t = xc * std::f64::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let ni = (t.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let r = (xc - n * 6.931_457_519_531_25e-1) - n * 1.428_606_820_309_417_232_1e-6;
    let rr = r * r;
    let p = (1.261_771_930_748_105_908_8e-4 * rr + 3.029_944_077_074_419_613e-2) * rr
        + 9.999_999_999_999_999_999_1e-1;
    let q = ((3.001_985_051_386_644_550_4e-6 * rr + 2.524_483_403_496_841_041_9e-3) * rr
        + 2.272_655_482_081_550_287_7e-1)
        * rr
        + 2.000_000_000_000_000_000_1;
    let px = r * p;
    let y = 1.0 + 2.0 * (px / (q - px));
    let (n1, n2) = (ni >> 1, ni.wrapping_sub(ni >> 1));
    exp_edges(
        x,
        y * pow2_f64(n1) * pow2_f64(n2),
        709.782_712_893_384,
        UNDERFLOW_F64,
    )
}

/// `2^n` for `-1022 <= n <= 1023`.
#[inline(always)]
fn pow2_f64(n: i64) -> f64 {
    f64::from_bits((n.wrapping_add(1023) as u64) << 52)
}

/// `tanh` in float64 for `Float::tanh_with`: `tanh_f64`, whatever `FUSED`.
#[inline(always)]
pub fn tanh_f64_with<const FUSED: bool>(x: f64) -> f64 {
    tanh_f64(x)
}

/// `(tanh(x) / x - 1) / x^2` as a polynomial in `z = x^2` for `|x| < 0.625`: a Chebyshev
/// least-squares fit of degree 11 to the function computed in 40-digit arithmetic (mpmath).
const TANH_F64_SMALL: [f64; 12] = [
    -0.33333333333333354,
    0.13333333333336259,
    -0.05396825396995357,
    0.021869488578728506,
    -0.008863236065251724,
    0.0035921312310473246,
    -0.0014558354835424955,
    0.0005899103352938137,
    -0.0002382671970209399,
    9.372151497673737e-05,
    -3.231484971289124e-05,
    6.953359147136419e-06,
];

/// `tanh` in float64: `x + x^3 p(x^2)` below 0.625, `1 - 2 / (e^{2|x|} + 1)` above (through
/// `exp_f64`), in plain arithmetic so the loops vectorise. Within 2 ulp of libm's.
#[inline(always)]
pub fn tanh_f64(x: f64) -> f64 {
    let z = x * x;
    let mut p = TANH_F64_SMALL[11];
    for &c in TANH_F64_SMALL[..11].iter().rev() {
        p = p * z + c;
    }
    let small = (x + x * z * p).copysign(x);
    let a = x.abs();
    // (e^40 makes the fraction exactly 1: no overflow, and inf and NaN come through.)
    let large = (1.0 - 2.0 / (exp_f64(2.0 * a.min(40.0)) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else if x.is_nan() {
        x
    } else {
        large
    }
}

/// `erf` in float64, whatever `FUSED` (for `Float::erf_with`).
#[inline(always)]
pub fn erf_f64_with<const FUSED: bool>(x: f64) -> f64 {
    crate::ops::special::erf(x)
}

/// `scaled`, unless `x` is past the overflow (inf) or underflow (0) threshold, or NaN.
#[inline(always)]
fn exp_edges<T: Float>(x: T, scaled: T, overflow: T, underflow: T) -> T {
    if x > overflow {
        T::INF
    } else if x < underflow {
        T::zero()
    } else if x.is_nan() {
        x
    } else {
        scaled
    }
}

/// `e^r * 2^n` for `|r| <= ln 2 / 2`: Cephes' degree-6 polynomial, the power of two applied
/// in two halves so denormal results come out right.
#[inline(always)]
fn exp_reduced<const FUSED: bool>(r: f32, n: i32) -> f32 {
    let mut p = 1.987_569_1e-4_f32;
    p = p.madd::<FUSED>(r, 1.398_199_9e-3);
    p = p.madd::<FUSED>(r, 8.333_452e-3);
    p = p.madd::<FUSED>(r, 4.166_579_6e-2);
    p = p.madd::<FUSED>(r, 0.166_666_65);
    p = p.madd::<FUSED>(r, 0.5);
    let y = (p * r).madd::<FUSED>(r, r) + 1.0;
    let (n1, n2) = (n >> 1, n.wrapping_sub(n >> 1));
    y * pow2(n1) * pow2(n2)
}

/// `2^n` for `-126 <= n <= 127`.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// `tanh`: Cephes' odd polynomial below 0.625, `1 - 2 / (e^{2|x|} + 1)` above.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    tanh_f32_with::<false>(x)
}

/// `tanh`, its multiply-adds fused when `FUSED` (as `exp_f32_with`).
#[inline(always)]
pub fn tanh_f32_with<const FUSED: bool>(x: f32) -> f32 {
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    p = p.madd::<FUSED>(z, 2.063_908_9e-2);
    p = p.madd::<FUSED>(z, -5.373_971_6e-2);
    p = p.madd::<FUSED>(z, 0.133_314_42);
    p = p.madd::<FUSED>(z, -0.333_332_82);
    let small = (p * z).madd::<FUSED>(x, x).copysign(x);
    let a = x.abs();
    let large = (1.0 - 2.0 / (exp_f32_with::<FUSED>(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        large
    }
}

/// `erf`: Cephes' `erff` polynomial below 1, Abramowitz & Stegun 7.1.26 above.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    erf_f32_with::<false>(x)
}

/// `erf`, its multiply-adds fused when `FUSED` (as `exp_f32_with`).
#[inline(always)]
pub fn erf_f32_with<const FUSED: bool>(x: f32) -> f32 {
    let z = x * x;
    let mut p = 7.853_861_4e-5_f32;
    p = p.madd::<FUSED>(z, -8.010_193_6e-4);
    p = p.madd::<FUSED>(z, 5.188_327_7e-3);
    p = p.madd::<FUSED>(z, -2.685_381_2e-2);
    p = p.madd::<FUSED>(z, 0.112_835_85);
    p = p.madd::<FUSED>(z, -0.376_126_26);
    p = p.madd::<FUSED>(z, std::f32::consts::FRAC_2_SQRT_PI);
    let small = x * p;
    let a = x.abs();
    let t = 1.0 / 0.327_591_1_f32.madd::<FUSED>(a, 1.0);
    let mut q = 1.061_405_4_f32;
    q = q.madd::<FUSED>(t, -1.453_152_1);
    q = q.madd::<FUSED>(t, 1.421_413_7);
    q = q.madd::<FUSED>(t, -0.284_496_74);
    q = q.madd::<FUSED>(t, 0.254_829_6);
    let large = (-(q * t))
        .madd::<FUSED>(exp_f32_with::<FUSED>(-z), 1.0)
        .copysign(x);
    if a < 1.0 {
        small
    } else if x.is_nan() {
        x
    } else {
        large
    }
}

/// `ln x` for finite `x > 0` (normal or denormal): Cephes' `logf` (the mantissa brought
/// into `[sqrt(1/2), sqrt(2))`, a degree-9 polynomial, the exponent's `ln 2` in two parts).
#[inline(always)]
fn ln_positive(x: f32) -> f32 {
    // A denormal is scaled by 2^25 first (its exponent field reads 0).
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 33_554_432.0 } else { x };
    let bits = xs.to_bits() as i32;
    let e0 = ((bits >> 23) & 0xff) - 126 - if tiny { 25 } else { 0 };
    let m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f00_0000) as u32); // [0.5, 1)
    let low = m < std::f32::consts::FRAC_1_SQRT_2;
    let e = (if low { e0 - 1 } else { e0 }) as f32;
    let f = if low { m + m - 1.0 } else { m - 1.0 };
    let z = f * f;
    let mut y = 7.037_683_6e-2_f32;
    y = y * f - 1.151_461e-1;
    y = y * f + 1.167_699_9e-1;
    y = y * f - 1.242_014_1e-1;
    y = y * f + 1.424_932_3e-1;
    y = y * f - 1.666_805_8e-1;
    y = y * f + 2.000_071_4e-1;
    y = y * f - 2.499_999_4e-1;
    y = y * f + 3.333_333e-1;
    let y = y * f * z + e * -2.121_944_4e-4 - 0.5 * z;
    f + y + e * 0.693_359_4
}

/// `ln(1 + x)`, accurate for tiny `x`: `ln(u) * x / (u - 1)` with `u = 1 + x` corrects the
/// rounding of `u` (Goldberg's trick); -1 gives -inf, below it NaN, +inf stays inf.
#[inline(always)]
pub fn log1p_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    let d = u - 1.0;
    let safe = if u > 0.0 && u < f32::INFINITY { u } else { 1.0 };
    let r = ln_positive(safe) * (x / if d == 0.0 { 1.0 } else { d });
    if d == 0.0 {
        x
    } else if x.is_nan() || x < -1.0 {
        f32::NAN
    } else if x == -1.0 {
        f32::NEG_INFINITY
    } else if u == f32::INFINITY {
        f32::INFINITY
    } else {
        r
    }
}

/// `ln x` over every input: NaN below 0 (and for NaN), -inf at 0, inf at inf.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let finite_positive = x > 0.0 && x < f32::INFINITY;
    let r = ln_positive(if finite_positive { x } else { 1.0 });
    if finite_positive {
        r
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        f32::NAN
    }
}

/// `2^x`: `x = n + r` with `|r| <= 1/2` split exactly, `2^r = e^{r ln 2}` by `exp_reduced`
/// (never `e^{x ln 2}`, whose rounded product would cost digits at large `x`).
#[inline(always)]
pub fn exp2_f32(x: f32) -> f32 {
    let xc = x.clamp(-151.0, 129.0);
    const ROUND: f32 = 12_582_912.0;
    let t = xc + ROUND;
    let n = t - ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // (127.999_99 is the float just below 128: from 128 up, 2^x overflows.)
    exp_edges(
        x,
        exp_reduced::<false>((xc - n) * std::f32::consts::LN_2, ni),
        127.999_99,
        -150.0,
    )
}

/// `e^x - 1`, accurate for tiny `x`: Kahan's `(u - 1) * x / ln u` with `u = e^x`, whose
/// quotient cancels the rounding of `u` (`u - 1` and `ln u` are exact-ish near 1).
#[inline(always)]
pub fn expm1_f32(x: f32) -> f32 {
    let u = exp_f32(x);
    let um1 = u - 1.0;
    let l = ln_positive(if u > 0.0 && u < f32::INFINITY { u } else { 2.0 });
    let r = um1 * (x / if l == 0.0 { 1.0 } else { l });
    if u == 1.0 || x.is_nan() {
        x
    } else if um1 == -1.0 {
        -1.0
    } else if u == f32::INFINITY {
        u
    } else {
        r
    }
}

/// `atanh x = ln((1 + x) / (1 - x)) / 2`, written `log1p(2|x| / (1 - |x|)) / 2` (odd) so
/// small `x` keeps its digits and `log1p` never sees an argument near -1; inf at 1 and NaN
/// beyond come out of `log1p`.
#[inline(always)]
pub fn atanh_f32(x: f32) -> f32 {
    let a = x.abs();
    (0.5 * log1p_f32((a + a) / (1.0 - a))).copysign(x)
}

/// `asinh x = ln(|x| + sqrt(x² + 1))`, as `log1p(|x| + x² / (1 + sqrt(x² + 1)))` (no
/// cancellation near 0), and `ln|x| + ln 2` from 2^12 up (where `x²` would lose `+ 1`).
#[inline(always)]
pub fn asinh_f32(x: f32) -> f32 {
    let a = x.abs();
    let big = a > 4096.0;
    let s = if big { 1.0 } else { a };
    let near = log1p_f32(s + s * s / (1.0 + (s * s + 1.0).sqrt()));
    let far = ln_f32(a) + std::f32::consts::LN_2;
    (if big { far } else { near }).copysign(x)
}

/// `acosh x = ln(x + sqrt(x² - 1))`, as `log1p(t + sqrt(2t + t²))` with `t = x - 1` (exact
/// near 1), and `ln x + ln 2` from 2^12 up; NaN below 1.
#[inline(always)]
pub fn acosh_f32(x: f32) -> f32 {
    let big = x > 4096.0;
    let t = if big { 1.0 } else { x - 1.0 };
    let near = log1p_f32(t + (t + t + t * t).sqrt());
    let far = ln_f32(x) + std::f32::consts::LN_2;
    if big {
        far
    } else if x >= 1.0 {
        near
    } else {
        f32::NAN
    }
}

/// `asin s` for `|s| <= 1/2`: Cephes' `asinf` polynomial `s + s·z·P(z)`, `z = s²`.
#[inline(always)]
fn asin_small(s: f32) -> f32 {
    let z = s * s;
    let mut p = 4.216_319_9e-2_f32;
    p = p * z + 2.418_131_1e-2;
    p = p * z + 4.547_002_6e-2;
    p = p * z + 7.495_300_3e-2;
    p = p * z + 1.666_675_2e-1;
    p * z * s + s
}

/// `asin`: the polynomial below 1/2, `π/2 - 2 asin(sqrt((1 - |x|) / 2))` above (Cephes);
/// NaN beyond ±1 from the square root.
#[inline(always)]
pub fn asin_f32(x: f32) -> f32 {
    let a = x.abs();
    let big = a > 0.5;
    let s = if big { (0.5 * (1.0 - a)).sqrt() } else { a };
    let p = asin_small(s);
    let r = if big {
        std::f32::consts::FRAC_PI_2 - (p + p)
    } else {
        p
    };
    if x.is_nan() {
        x
    } else {
        r.copysign(x)
    }
}

/// `acos`: `2 asin(sqrt((1 - x) / 2))` above 1/2, `π - 2 asin(sqrt((1 + x) / 2))` below
/// -1/2, `π/2 - asin x` between (Cephes); NaN beyond ±1.
#[inline(always)]
pub fn acos_f32(x: f32) -> f32 {
    let (hi, lo) = (x > 0.5, x < -0.5);
    let s = if hi {
        (0.5 * (1.0 - x)).sqrt()
    } else if lo {
        (0.5 * (1.0 + x)).sqrt()
    } else {
        x
    };
    let p = asin_small(s);
    if hi {
        p + p
    } else if lo {
        std::f32::consts::PI - (p + p)
    } else {
        std::f32::consts::FRAC_PI_2 - p
    }
}

/// `atan`: Cephes' `atanf` (the argument brought below tan(π/8) by `-1/x` past tan(3π/8) or
/// `(x - 1) / (x + 1)` past tan(π/8), then an odd polynomial).
#[inline(always)]
pub fn atan_f32(x: f32) -> f32 {
    let a = x.abs();
    let (far, mid) = (a > 2.414_213_6, a > 0.414_213_57);
    let (base, r) = if far {
        (std::f32::consts::FRAC_PI_2, -1.0 / a)
    } else if mid {
        (std::f32::consts::FRAC_PI_4, (a - 1.0) / (a + 1.0))
    } else {
        (0.0, a)
    };
    let z = r * r;
    let mut p = 8.053_744_5e-2_f32;
    p = p * z - 1.387_768_6e-1;
    p = p * z + 1.997_771_1e-1;
    p = p * z - 3.333_295e-1;
    let y = base + (p * z * r + r);
    if x.is_nan() {
        x
    } else {
        y.copysign(x)
    }
}

/// `x e^{x²} erfc x` in powers of `1/x - 1.5` on [1/2, 1), `1/x - 0.75` on [1, 2) and
/// `1/x - 0.2971698` on [2, 10.6] (highest power first).
const ERFC_HALF_TO_ONE: [f32; 9] = [
    -4.5055454e-04,
    9.494125e-04,
    -1.4859141e-03,
    2.0442759e-03,
    -1.1652374e-03,
    -5.931848e-03,
    3.315696e-02,
    -1.1839805e-01,
    3.5952294e-01,
];
const ERFC_ONE_TO_TWO: [f32; 9] = [
    1.3779263e-02,
    -1.8770121e-03,
    -1.827057e-02,
    3.780548e-02,
    -5.0462075e-02,
    4.029115e-02,
    1.934784e-02,
    -1.6908097e-01,
    4.6817958e-01,
];
const ERFC_FROM_TWO: [f32; 9] = [
    -3.2215902e-01,
    -1.780594e-01,
    3.5094547e-01,
    -1.6687167e-01,
    -7.9331264e-02,
    2.0901214e-01,
    -1.3735399e-01,
    -1.3382864e-01,
    5.4201305e-01,
];

/// Giles' erfinv polynomials in `w - 2.5` (`w < 5`) and `sqrt(w) - 3` (highest power first).
const ERFINV_CENTRE: [f32; 9] = [
    2.810_226_4e-8,
    3.432_739_4e-7,
    -3.523_387_7e-6,
    -4.391_506_5e-6,
    2.185_808_7e-4,
    -1.253_725e-3,
    -4.177_681_6e-3,
    2.466_407_3e-1,
    1.501_409_4,
];
const ERFINV_TAIL: [f32; 9] = [
    -2.002_142_6e-4,
    1.009_505_6e-4,
    1.349_343_2e-3,
    -3.673_428_4e-3,
    5.739_507_7e-3,
    -7.622_461_3e-3,
    9.438_870_5e-3,
    1.001_674_1,
    2.832_976_8,
];

/// `c[0] x^(N-1) + ... + c[N-1]` by Horner's rule.
#[inline(always)]
fn horner<const N: usize>(x: f32, c: &[f32; N]) -> f32 {
    let mut p = c[0];
    for &k in &c[1..] {
        p = p * x + k;
    }
    p
}

/// `erfc`: `1 - erf x` below 1/2 (where it is not small), above it the tail
/// `e^{-x²} P(1/x) / x` (`P` degree-8 least-squares fits of `x e^{x²} erfc x` on [1/2, 1),
/// [1, 2) and [2, 10.6] in `1/x` about each piece's centre, relative error below 4e-9), with `e^{-x²}` from `x = m + f` (`m`
/// on a 1/64 grid, so `m²` is exact) as `e^{-m²} e^{-(2m + f) f}`: a rounded `x²` would
/// cost digits at large `x`.
#[inline(always)]
pub fn erfc_f32(x: f32) -> f32 {
    let a = x.abs();
    let tail_a = a.clamp(0.5, 11.0);
    const ROUND: f32 = 12_582_912.0;
    let m = ((tail_a * 64.0 + ROUND) - ROUND) * (1.0 / 64.0);
    let f = tail_a - m;
    let e = exp_f32(-(m * m)) * exp_f32(-((m + m + f) * f));
    let y = 1.0 / tail_a;
    let p = if tail_a < 1.0 {
        horner(y - 1.5, &ERFC_HALF_TO_ONE)
    } else if tail_a < 2.0 {
        horner(y - 0.75, &ERFC_ONE_TO_TWO)
    } else {
        horner(y - 0.297_169_8, &ERFC_FROM_TWO)
    };
    let tail = e * y * p;
    if a < 0.5 {
        1.0 - erf_f32(x)
    } else if x.is_nan() {
        x
    } else if x > 0.0 {
        if a > 10.5 {
            0.0
        } else {
            tail
        }
    } else {
        2.0 - tail
    }
}

/// The inverse error function: Giles' single-precision approximation ("Approximating the
/// erfinv function", 2010), ±inf at ±1, NaN beyond.
#[inline(always)]
pub fn erfinv_f32(x: f32) -> f32 {
    let w = -ln_f32((1.0 - x) * (1.0 + x));
    let small = w < 5.0;
    let v = if small { w - 2.5 } else { w.sqrt() - 3.0 };
    let p = if small {
        horner(v, &ERFINV_CENTRE)
    } else {
        horner(v, &ERFINV_TAIL)
    };
    let a = x.abs();
    if a == 1.0 {
        x * f32::INFINITY
    } else if a < 1.0 {
        p * x
    } else {
        f32::NAN
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn check(name: &str, f: fn(f32) -> f32, reference: fn(f64) -> f64, lo: f32, hi: f32) {
        check_ulps(name, f, reference, lo, hi, 4.2);
    }

    /// `f` within `ulps` float32 ulps (relative) of `reference` at 200,001 points of [lo, hi].
    fn check_ulps(
        name: &str,
        f: fn(f32) -> f32,
        reference: fn(f64) -> f64,
        lo: f32,
        hi: f32,
        ulps: f64,
    ) {
        let n = 200_000;
        for i in 0..=n {
            let x = (lo as f64 + (hi as f64 - lo as f64) * i as f64 / n as f64) as f32;
            let (got, want) = (f(x) as f64, reference(x as f64));
            let tol = ulps * f32::EPSILON as f64 / 2.0 * want.abs() + 1e-44;
            assert!(
                (got - want).abs() <= tol,
                "{name}({x}) = {got}, want {want}"
            );
        }
    }

    /// `exp_f64` within 1.5 ulp of libm's `exp` (itself within 1) over the whole range, and
    /// its edges (overflow, the last denormals, NaN) as libm's.
    fn exp_f64_within_two_ulp_of_libm() {
        let n = 400_000;
        for (lo, hi) in [(-745.0, 709.7), (-1.0, 1.0), (-1e-6, 1e-6)] {
            for i in 0..=n {
                let x = lo + (hi - lo) * i as f64 / n as f64;
                let (got, want) = (exp_f64(x), x.exp());
                let tol = if want < f64::MIN_POSITIVE {
                    5e-324
                } else {
                    2.0 * f64::EPSILON * want
                };
                assert!(
                    (got - want).abs() <= tol,
                    "exp_f64({x}) = {got}, want {want}"
                );
            }
        }
        for x in [
            709.78,
            709.8,
            1e300,
            f64::INFINITY,
            -745.13,
            -745.2,
            -1e300,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
        ] {
            assert_eq!(exp_f64(x), x.exp(), "exp_f64({x})");
        }
        assert!(exp_f64(f64::NAN).is_nan());
    }

    /// `tanh_f64` within 2 ulp of libm's `tanh` over the range, exact at its edges.
    fn tanh_f64_within_two_ulp_of_libm() {
        let n = 400_000;
        for (lo, hi) in [(-25.0, 25.0), (-0.7, 0.7), (-1e-6, 1e-6)] {
            for i in 0..=n {
                let x: f64 = lo + (hi - lo) * i as f64 / n as f64;
                let (got, want) = (tanh_f64(x), x.tanh());
                let tol = 2.5 * f64::EPSILON * want.abs() + 1e-300;
                assert!(
                    (got - want).abs() <= tol,
                    "tanh_f64({x}) = {got}, want {want}"
                );
            }
        }
        for x in [
            0.0,
            -0.0,
            1e-300,
            5e-324,
            30.0,
            -30.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let (got, want) = (tanh_f64(x), x.tanh());
            assert!(
                got == want && got.is_sign_negative() == want.is_sign_negative(),
                "tanh_f64({x}) = {got}"
            );
        }
        assert!(tanh_f64(f64::NAN).is_nan());
    }

    fn within_two_ulp_of_the_f64_functions() {
        check("exp", exp_f32, f64::exp, -103.0, 88.7);
        check("tanh", tanh_f32, f64::tanh, -12.0, 12.0);
        check("tanh small", tanh_f32, f64::tanh, -1e-3, 1e-3);
        check("erf", erf_f32, crate::ops::special::erf, -6.0, 6.0);
        check("erf small", erf_f32, crate::ops::special::erf, -1e-3, 1e-3);
        check("log1p", log1p_f32, f64::ln_1p, -0.999, 20.0);
        check("log1p small", log1p_f32, f64::ln_1p, -1e-3, 1e-3);
        check("log1p large", log1p_f32, f64::ln_1p, 20.0, 1e30);
        check("log1p tiny", log1p_f32, f64::ln_1p, -1e-30, 1e-30);
        check("ln", ln_f32, f64::ln, 1e-38, 10.0);
        check("ln large", ln_f32, f64::ln, 10.0, 3e38);
        check("exp2", exp2_f32, f64::exp2, -149.0, 127.9);
        check("exp2 small", exp2_f32, f64::exp2, -1e-3, 1e-3);
        check("expm1", expm1_f32, f64::exp_m1, -90.0, 88.0);
        check("expm1 small", expm1_f32, f64::exp_m1, -1e-3, 1e-3);
        check("expm1 tiny", expm1_f32, f64::exp_m1, -1e-30, 1e-30);
        check("atanh", atanh_f32, f64::atanh, -0.999_99, 0.999_99);
        check("atanh small", atanh_f32, f64::atanh, -1e-3, 1e-3);
        check("asinh", asinh_f32, f64::asinh, -100.0, 100.0);
        check("asinh small", asinh_f32, f64::asinh, -1e-3, 1e-3);
        check("asinh large", asinh_f32, f64::asinh, 100.0, 3e38);
        check("acosh", acosh_f32, f64::acosh, 1.0, 100.0);
        check("acosh large", acosh_f32, f64::acosh, 100.0, 3e38);
        check_ulps("asin", asin_f32, f64::asin, -1.0, 1.0, 5.0);
        check("asin small", asin_f32, f64::asin, -1e-3, 1e-3);
        check("acos", acos_f32, f64::acos, -1.0, 1.0);
        check("atan", atan_f32, f64::atan, -100.0, 100.0);
        check("atan small", atan_f32, f64::atan, -1e-3, 1e-3);
        check("atan large", atan_f32, f64::atan, 100.0, 3e38);
        check_ulps("erfc", erfc_f32, crate::ops::special::erfc, -6.0, 10.0, 6.0);
        check_ulps(
            "erfinv",
            erfinv_f32,
            crate::ops::unary::erfinv,
            -0.999_999,
            0.999_999,
            5.0,
        );
        check(
            "erfinv small",
            erfinv_f32,
            crate::ops::unary::erfinv,
            -1e-3,
            1e-3,
        );
    }

    fn special_values() {
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(f32::NAN).is_nan() && tanh_f32(f32::NAN).is_nan());
        assert!(erf_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!(exp_f32(-100.0) > 0.0, "denormal results are kept");
        assert_eq!(log1p_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(log1p_f32(-1.0), f32::NEG_INFINITY);
        assert!(log1p_f32(-2.0).is_nan() && log1p_f32(f32::NAN).is_nan());
        assert_eq!(log1p_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(log1p_f32(1e-40), 1e-40);
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        assert_eq!(ln_f32(0.0), -inf);
        assert_eq!(ln_f32(inf), inf);
        assert!(ln_f32(-1.0).is_nan() && ln_f32(-inf).is_nan());
        assert_eq!(exp2_f32(128.0), inf);
        assert_eq!(exp2_f32(-inf), 0.0);
        assert_eq!(exp2_f32(-149.0), 2f32.powi(-149));
        assert_eq!(exp2_f32(10.0), 1024.0);
        assert_eq!(expm1_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(expm1_f32(inf), inf);
        assert_eq!(expm1_f32(-inf), -1.0);
        assert_eq!((atanh_f32(1.0), atanh_f32(-1.0)), (inf, -inf));
        assert!(atanh_f32(2.0).is_nan() && atanh_f32(-2.0).is_nan());
        assert_eq!(asinh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!((asinh_f32(inf), asinh_f32(-inf)), (inf, -inf));
        assert_eq!((acosh_f32(1.0), acosh_f32(inf)), (0.0, inf));
        assert!(acosh_f32(0.5).is_nan() && acosh_f32(-1e10).is_nan());
        assert!(asin_f32(1.5).is_nan() && acos_f32(-1.5).is_nan());
        assert_eq!(asin_f32(1.0), std::f32::consts::FRAC_PI_2);
        assert_eq!(acos_f32(-1.0), std::f32::consts::PI);
        assert_eq!(acos_f32(1.0), 0.0);
        assert_eq!(atan_f32(-inf), -std::f32::consts::FRAC_PI_2);
        assert_eq!(
            (erfc_f32(inf), erfc_f32(-inf), erfc_f32(0.0)),
            (0.0, 2.0, 1.0)
        );
        assert_eq!(
            (erfinv_f32(1.0), erfinv_f32(-1.0), erfinv_f32(0.0)),
            (inf, -inf, 0.0)
        );
        assert!(erfinv_f32(1.5).is_nan());
        for f in [
            ln_f32, exp2_f32, expm1_f32, atanh_f32, asinh_f32, acosh_f32, asin_f32, acos_f32,
            atan_f32, erfc_f32, erfinv_f32,
        ] {
            assert!(f(nan).is_nan());
        }
        let x = -1.0f32 + 1e-7;
        let near = log1p_f32(x) as f64;
        assert!((near - (x as f64).ln_1p()).abs() < 1e-6 * near.abs());
    }

    crate::self_test::cases!(
        exp_f64_within_two_ulp_of_libm,
        tanh_f64_within_two_ulp_of_libm,
        within_two_ulp_of_the_f64_functions,
        special_values
    );
}
