//! float32 `exp`, `tanh`, `erf` and `log1p` in plain arithmetic (no libm call), so the loops that use
//! them (activations, softmax, attention) vectorise: every branch is a select. Accuracy is
//! within about 2e-7 relative (2 ulp) over the whole range, checked against the f64 functions
//! in the tests below; special values (inf, NaN, denormal results) behave like libm's.

// The coefficients are written as published (Cephes, Abramowitz & Stegun).
#![allow(clippy::excessive_precision)]

/// `e^x`: Cephes' `expf` (reduction by ln 2 in two parts, a degree-6 polynomial), the power
/// of two applied in two halves so denormal results come out right.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let xc = x.clamp(-104.0, 89.0);
    // Round to nearest by adding and removing 1.5 * 2^23 (no `floor`: on the baseline target
    // that is a libm call, which would cost more than the whole polynomial).
    const ROUND: f32 = 12_582_912.0;
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    // The integer `n` from the rounded sum's low mantissa bits: `as i32` saturates and maps
    // NaN to 0, which compilers scalarise; this stays in vector registers.
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = xc - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let (n1, n2) = (ni >> 1, ni.wrapping_sub(ni >> 1));
    let scaled = y * pow2(n1) * pow2(n2);
    if x > 88.722_84 {
        f32::INFINITY
    } else if x < -103.972_08 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        scaled
    }
}

/// `2^n` for `-126 <= n <= 127`.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// `tanh`: Cephes' odd polynomial below 0.625, `1 - 2 / (e^{2|x|} + 1)` above.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    p = p * z + 2.063_908_9e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 0.133_314_42;
    p = p * z - 0.333_332_82;
    let small = (p * z * x + x).copysign(x);
    let a = x.abs();
    let large = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        large
    }
}

/// `erf`: Cephes' `erff` polynomial below 1, Abramowitz & Stegun 7.1.26 above.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let z = x * x;
    let mut p = 7.853_861_4e-5_f32;
    p = p * z - 8.010_193_6e-4;
    p = p * z + 5.188_327_7e-3;
    p = p * z - 2.685_381_2e-2;
    p = p * z + 0.112_835_85;
    p = p * z - 0.376_126_26;
    p = p * z + std::f32::consts::FRAC_2_SQRT_PI;
    let small = x * p;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut q = 1.061_405_4_f32;
    q = q * t - 1.453_152_1;
    q = q * t + 1.421_413_7;
    q = q * t - 0.284_496_74;
    q = q * t + 0.254_829_6;
    let large = (1.0 - q * t * exp_f32(-z)).copysign(x);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, f: fn(f32) -> f32, reference: fn(f64) -> f64, lo: f32, hi: f32) {
        let n = 200_000;
        for i in 0..=n {
            let x = lo + (hi - lo) * i as f32 / n as f32;
            let (got, want) = (f(x) as f64, reference(x as f64));
            let tol = 2.5e-7 * want.abs() + 1e-44;
            assert!(
                (got - want).abs() <= tol,
                "{name}({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
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
    }

    #[test]
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
        let x = -1.0f32 + 1e-7;
        let near = log1p_f32(x) as f64;
        assert!((near - (x as f64).ln_1p()).abs() < 1e-6 * near.abs());
    }
}
