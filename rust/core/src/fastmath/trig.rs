//! float32 `sin`, `cos` and `tan` in plain arithmetic, so the loops that use them vectorise
//! (libm's are a call per element, 3-7x slower than PyTorch's vectorised ones).
//!
//! The argument is reduced by π/2 exactly for every float32 (Payne–Hanek): `|x| = M·2^k` with an
//! integer mantissa `M < 2^24`, and `2^k·(2/π) mod 4` is stored per exponent as three 29-bit
//! pieces, so `M·piece` is exact in f64 and the quadrant and the fraction come out to far
//! better than float32 precision even for `x` near a multiple of π/2. The reduced angle's sine
//! and cosine are then Taylor polynomials in f64 (|θ| <= π/4: error below 3e-9 relative).
//! Accuracy: within 1 ulp of the correctly rounded result over the whole float32 range.

/// The bits of `2/π` after the binary point, 24 per entry (enough for the largest float32).
const TWO_OVER_PI: [u32; 10] = [
    0xA2F983, 0x6E4E44, 0x1529FC, 0x2757D1, 0xF534DD, 0xC0DB62, 0x95993C, 0x439041, 0xFE5163,
    0xABDEBB,
];

/// Bit `j` (1 = first after the binary point) of `2/π`.
const fn two_over_pi_bit(j: i32) -> u64 {
    if j < 1 {
        return 0;
    }
    let j = (j - 1) as usize;
    ((TWO_OVER_PI[j / 24] >> (23 - j % 24)) & 1) as u64
}

/// `2^e` as an f64 (normal range only, which is all the table needs).
const fn pow2_f64(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// `2^(i-150)·(2/π) mod 4` for float32 exponent field `i` as three consecutive 29-bit pieces,
/// the first starting at the leading bit (or at the 2^1 bit, the mod 4 cut).
const fn reduction_row(i: i32) -> [f64; 3] {
    // Bit j of 2/π stands at position p = i - 150 - j of 2^(i-150)·(2/π).
    let top = if i - 151 < 1 { i - 151 } else { 1 };
    let mut row = [0.0; 3];
    let mut piece = 0;
    while piece < 3 {
        let hi = top - 29 * piece as i32; // position of this piece's leading bit
        let mut bits = 0u64;
        let mut k = 0;
        while k < 29 {
            bits = bits << 1 | two_over_pi_bit(i - 150 - (hi - k));
            k += 1;
        }
        row[piece] = bits as f64 * pow2_f64(hi - 28);
        piece += 1;
    }
    row
}

const fn reduction_table() -> [[f64; 3]; 256] {
    let mut table = [[0.0; 3]; 256];
    let mut i = 1;
    while i < 255 {
        table[i] = reduction_row(i as i32);
        i += 1;
    }
    table[0] = table[1]; // denormals: M·2^-149, the same scale as exponent field 1
    table
}

/// Per float32 exponent field, `2^(e-150)·(2/π) mod 4` in three exact pieces.
static REDUCTION: [[f64; 3]; 256] = reduction_table();

/// `|x| = q·π/2 + θ` with `|θ| <= π/4` (a hair more at ties): `(θ, q mod 4)`; garbage (but no
/// panic) for inf and NaN, which the callers select away.
#[inline(always)]
fn reduce(x: f32) -> (f64, u32) {
    let bits = x.to_bits() & 0x7fff_ffff;
    let field = bits >> 23;
    let mantissa = bits & 0x7f_ffff;
    let m = (mantissa | if field == 0 { 0 } else { 0x80_0000 }) as f64;
    let [a, b, c] = REDUCTION[field as usize];
    // M·a is exact, an integer multiple of a's last bit below 2^26: so is its distance to the
    // nearest integer q, and the remaining pieces add the low bits.
    let (ma, mb) = (m * a, m * b);
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    let t = (ma + mb) + ROUND;
    let q = t - ROUND;
    let quadrant = (t.to_bits() & 3) as u32;
    let frac = ((ma - q) + mb) + m * c;
    (frac * std::f64::consts::FRAC_PI_2, quadrant)
}

/// `(sin θ, cos θ)` for `|θ| <= π/4`: Taylor series to θ^9 and θ^10.
#[inline(always)]
fn sin_cos_reduced(t: f64) -> (f64, f64) {
    let z = t * t;
    let s =
        t + t * z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0 + z * (1.0 / 362_880.0))));
    let c = 1.0
        + z * (-0.5
            + z * (1.0 / 24.0
                + z * (-1.0 / 720.0 + z * (1.0 / 40_320.0 + z * (-1.0 / 3_628_800.0)))));
    (s, c)
}

/// `f(sin θ, cos θ, q)` for `|x| = qπ/2 + θ` (`q` mod 4), negated for a negative `x` when the
/// function is `odd`; NaN for inf and NaN.
#[inline(always)]
fn from_reduced(x: f32, odd: bool, f: impl Fn(f64, f64, u32) -> f64) -> f32 {
    let (t, q) = reduce(x);
    let (s, c) = sin_cos_reduced(t);
    let v = f(s, c, q);
    let y = if odd && x.is_sign_negative() { -v } else { v } as f32;
    if x.is_finite() {
        y
    } else {
        f32::NAN
    }
}

/// `sin x`.
#[inline(always)]
pub fn sin_f32(x: f32) -> f32 {
    from_reduced(x, true, |s, c, q| {
        let v = if q & 1 == 0 { s } else { c };
        if q & 2 == 0 {
            v
        } else {
            -v
        }
    })
}

/// `cos x` (even: `cos(-x) = cos x`).
#[inline(always)]
pub fn cos_f32(x: f32) -> f32 {
    from_reduced(x, false, |s, c, q| {
        let v = if q & 1 == 0 { c } else { s };
        if (q + 1) & 2 == 0 {
            v
        } else {
            -v
        }
    })
}

/// `tan x` (`-cot θ` in the odd quadrants).
#[inline(always)]
pub fn tan_f32(x: f32) -> f32 {
    from_reduced(x, true, |s, c, q| if q & 1 == 0 { s / c } else { -c / s })
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::f32::consts::{FRAC_PI_2, PI, TAU};

    /// Within one float32 ulp of the f64 function at 200,001 points spread over `[lo, hi]`.
    fn check(name: &str, f: fn(f32) -> f32, reference: fn(f64) -> f64, lo: f32, hi: f32) {
        let n = 200_000;
        let points =
            (0..=n).map(|i| (lo as f64 + (hi as f64 - lo as f64) * i as f64 / n as f64) as f32);
        for x in points {
            close(name, x, f(x), reference(x as f64));
        }
    }

    fn close(name: &str, x: f32, got: f32, want: f64) {
        // One float32 ulp at |want|: its binade's power of two times 2^-23 (2^-149 for denormals).
        let binade = (want.abs() as f32).to_bits() & 0x7f80_0000;
        let ulp = f32::from_bits(binade.max(0x0080_0000)) as f64 * f32::EPSILON as f64;
        assert!(
            (got as f64 - want).abs() <= ulp + 1e-45,
            "{name}({x:e}) = {got:e}, want {want:e}"
        );
    }

    fn within_one_ulp_everywhere() {
        for (lo, hi) in [
            (-10.0, 10.0),
            (-1e-3, 1e-3),
            (-1e6, 1e6),
            (1e6, 3e38),
            (-3e38, -1e30),
        ] {
            check("sin", sin_f32, f64::sin, lo, hi);
            check("cos", cos_f32, f64::cos, lo, hi);
        }
        check("tan", tan_f32, f64::tan, -1.5, 1.5);
        check("tan", tan_f32, f64::tan, -1e5, 1e5);
        // Every 997th float32 bit pattern: all exponents, denormals included.
        for bits in (0..0x7f80_0000u32).step_by(997) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                close("sin", x, sin_f32(x), (x as f64).sin());
                close("cos", x, cos_f32(x), (x as f64).cos());
                close("tan", x, tan_f32(x), (x as f64).tan());
            }
        }
    }

    fn hard_cases_near_multiples_of_half_pi() {
        // The float32s nearest to multiples of π/2 (the reduction's worst cases), large ones
        // whose reduction needs ~100 bits of 2/π, the largest and the smallest (denormal) ones.
        for x in [
            1.0e22f32,
            FRAC_PI_2,
            PI,
            3.0 * FRAC_PI_2,
            TAU,
            16_777_216.0,
            1.0e7,
            105_414_350.0,
            2.0f32.powi(127) * 1.9,
            9.9e37,
            4.0e-45,
            1.2e-38,
        ] {
            for x in [x, -x] {
                close("sin", x, sin_f32(x), (x as f64).sin());
                close("cos", x, cos_f32(x), (x as f64).cos());
            }
        }
    }

    fn special_values() {
        for f in [sin_f32, cos_f32, tan_f32] {
            assert!(f(f32::NAN).is_nan() && f(f32::INFINITY).is_nan());
            assert!(f(f32::NEG_INFINITY).is_nan());
        }
        assert_eq!(sin_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tan_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!((sin_f32(0.0), cos_f32(0.0), cos_f32(-0.0)), (0.0, 1.0, 1.0));
        assert_eq!(sin_f32(1e-40), 1e-40);
    }

    crate::self_test::cases!(
        within_one_ulp_everywhere,
        hard_cases_near_multiples_of_half_pi,
        special_values
    );
}
