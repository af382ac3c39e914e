//! Special functions not in `std`.

/// The error function to ~1e-15: its Maclaurin series for |x| < 2.5 and a continued fraction
/// for `erfc` beyond (short polynomial approximations are not accurate enough for gradchecks).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_infinite() {
        return x.signum(); // (the tail's expansion would give inf * 0)
    }
    let ax = x.abs();
    let r = if ax < 2.5 {
        erf_series(ax)
    } else {
        1.0 - erfc_tail(ax)
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// The complementary error function `1 - erf(x)`, from the continued fraction in the tail so
/// that it keeps its relative precision where `erf` rounds to 1 (`erfc(10) ~ 2e-45`).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_infinite() {
        return 1.0 - x.signum();
    }
    // (Below 1.5, `1 - erf` loses nothing; above it the subtraction cancels digits, 1e-11
    // relative by 2.5, and the continued fraction converges within ~90 terms.)
    if x >= 1.5 {
        erfc_tail(x)
    } else if x <= -1.5 {
        2.0 - erfc_tail(-x)
    } else {
        1.0 - erf(x)
    }
}

/// `erf(ax)` for `0 <= ax < 2.5`.
fn erf_series(ax: f64) -> f64 {
    // Maclaurin series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let x2 = ax * ax;
    let mut term = ax;
    let mut sum = ax;
    // At most ~60 terms are needed for |x| < 2.5; the cap also covers x == 0.
    for k in 1..100 {
        let n = k as f64;
        term *= -x2 / n;
        let add = term / (2.0 * n + 1.0);
        sum += add;
        if add.abs() <= 1e-17 * sum.abs() {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// `erfc(ax)` for `ax >= 2.5`.
fn erfc_tail(ax: f64) -> f64 {
    // Continued fraction for erfc (Lentz), converges within ~90 terms for x >= 1.5.
    let x2 = ax * ax;
    let mut f = ax;
    let mut c = ax;
    let mut d = 0.0;
    for k in 1..200 {
        let a = k as f64 * 0.5;
        d = ax + a * d;
        d = if d == 0.0 { 1e-300 } else { 1.0 / d };
        c = ax + a / c;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x2).exp() / (f * std::f64::consts::PI.sqrt())
}

/// Lanczos' coefficients for `g = 7`, nine terms (about 15 significant digits).
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `(-1)^k zeta(k) / k` for `k = 2..=31`: the Taylor series of `ln Gamma(1 + z)` around the zero at
/// `z = 0`, where Lanczos' sum loses its relative precision.
#[allow(clippy::excessive_precision)]
const LGAMMA_NEAR_ONE: [f64; 30] = [
    0.8224670334241132,
    -0.40068563438653143,
    0.27058080842778454,
    -0.20738555102867398,
    0.1695571769974082,
    -0.1440498967688461,
    0.12550966952474304,
    -0.11133426586956469,
    0.1000994575127818,
    -0.09095401714582904,
    0.083353840546109,
    -0.0769325164113522,
    0.07143294629536133,
    -0.06666870588242046,
    0.06250095514121304,
    -0.058823978658684585,
    0.055555767627403614,
    -0.05263167937961666,
    0.05000004769810169,
    -0.047619070330142226,
    0.04545455629320467,
    -0.04347826605304026,
    0.04166666915034121,
    -0.04000000119214014,
    0.03846153903467518,
    -0.037037037312989324,
    0.035714285847333355,
    -0.034482758684919304,
    0.03333333336437758,
    -0.03225806453115042,
];

/// `ln Gamma(1 + z)` for `|z| <= 0.2`: `-gamma z + sum_k (-1)^k zeta(k) z^k / k` (full relative
/// precision near the zeros of `lgamma` at 1 and 2).
fn lgamma_one_plus(z: f64) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    let tail = LGAMMA_NEAR_ONE
        .iter()
        .rev()
        .fold(0.0, |acc, &c| acc * z + c);
    z * (z * tail - EULER_GAMMA)
}

/// `ln |Gamma(x)|` (PyTorch's `lgamma`): Lanczos' approximation for `x >= 0.5`, the reflection
/// `Gamma(x) Gamma(1 - x) = pi / sin(pi x)` below; `+inf` at the poles `0, -1, -2, ...`.
pub fn lgamma(x: f64) -> f64 {
    use std::f64::consts::PI;
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    if x <= 0.0 && x == x.floor() {
        return f64::INFINITY;
    }
    if x == 1.0 || x == 2.0 {
        return 0.0; // Gamma(1) = Gamma(2) = 1 exactly, where the series leaves ~1e-15
    }
    if x.abs() < 1e-8 {
        // Gamma(x) = 1/x - gamma + O(x): the reflection below would overflow for subnormal x.
        const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
        return -x.abs().ln() - EULER_GAMMA * x;
    }
    if (x - 1.0).abs() <= 0.2 {
        return lgamma_one_plus(x - 1.0);
    }
    if (x - 2.0).abs() <= 0.2 {
        let z = x - 2.0;
        return z.ln_1p() + lgamma_one_plus(z); // Gamma(2 + z) = (1 + z) Gamma(1 + z)
    }
    if x < 0.5 {
        return (PI / (PI * x).sin().abs()).ln() - lgamma(1.0 - x);
    }
    let z = x - 1.0;
    let t = z + 7.5;
    let sum = LANCZOS[1..]
        .iter()
        .enumerate()
        .fold(LANCZOS[0], |acc, (i, &k)| acc + k / (z + (i + 1) as f64));
    0.5 * (2.0 * PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

/// The digamma function `psi(x) = d/dx ln Gamma(x)`: the recurrence `psi(x) = psi(x + 1) -
/// 1/x` up to `x >= 10`, then the asymptotic series; the reflection formula below 0. As
/// PyTorch: `-inf` at 0, NaN at the negative integers.
pub fn digamma(x: f64) -> f64 {
    use std::f64::consts::PI;
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::INFINITY.copysign(-x);
    }
    if x < 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    let (mut x, mut acc) = (x, 0.0);
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    // sum_k B_2k / (2k x^2k), to k = 6: the next term is below 1e-15 for x >= 10.
    let r = 1.0 / (x * x);
    let series = [
        1.0 / 12.0,
        -1.0 / 120.0,
        1.0 / 252.0,
        -1.0 / 240.0,
        1.0 / 132.0,
    ]
    .iter()
    .rev()
    .fold(-691.0 / 32_760.0 * r, |acc, &k| (acc + k) * r);
    acc + x.ln() - 0.5 / x - series
}

/// Bernoulli numbers `B_2, B_4, ..., B_16` over `(2k)!`: the Euler-Maclaurin tail of the
/// Hurwitz zeta function in `polygamma`.
const BERNOULLI_OVER_FACTORIAL: [f64; 8] = [
    1.0 / 6.0 / 2.0,
    -1.0 / 30.0 / 24.0,
    1.0 / 42.0 / 720.0,
    -1.0 / 30.0 / 40_320.0,
    5.0 / 66.0 / 3_628_800.0,
    -691.0 / 2730.0 / 479_001_600.0,
    7.0 / 6.0 / 87_178_291_200.0,
    -3617.0 / 510.0 / 20_922_789_888_000.0,
];

/// The polygamma function `psi^(n)(x)`, the `n`-th derivative of digamma (`n = 0` is digamma
/// itself): `(-1)^(n+1) n! zeta(n + 1, x)`, the Hurwitz zeta summed directly until `x + k`
/// is large and then closed with its Euler-Maclaurin tail. NaN for a negative or fractional
/// `n`; at the poles `0, -1, ...` `+inf` for odd `n` and `-inf` for even `n`, as PyTorch's.
pub fn polygamma(n: f64, x: f64) -> f64 {
    if n < 0.0 || n != n.floor() || x.is_nan() {
        return f64::NAN;
    }
    if n == 0.0 {
        return digamma(x);
    }
    if x <= 0.0 && x == x.floor() {
        return if n % 2.0 == 1.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
    }
    let s = n + 1.0;
    if n > 170.0 {
        // n! overflows f64 (PyTorch multiplies exp(lgamma(n + 1)) by the zeta): +-inf, or NaN
        // where zeta(n + 1, x), dominated by its first term x^-(n+1), underflows to zero. The
        // direct sum below would also take ~n steps (it hung for n = 2**62).
        let sign = if n % 2.0 == 1.0 { 1.0 } else { -1.0 };
        return sign * f64::INFINITY * x.powf(-s);
    }
    let mut z = x;
    let mut zeta = 0.0;
    while z < 20.0 + n {
        zeta += z.powf(-s);
        z += 1.0;
    }
    // zeta(s, z) ~ z^(1-s)/(s-1) + z^-s/2 + sum_k B_2k/(2k)! s(s+1)...(s+2k-2) z^(-s-2k+1)
    let mut tail = z.powf(1.0 - s) / (s - 1.0) + 0.5 * z.powf(-s);
    let mut rising = s; // s (s+1) ... (s + 2k - 2)
    let mut power = z.powf(-s - 1.0);
    for (k, &b) in BERNOULLI_OVER_FACTORIAL.iter().enumerate() {
        tail += b * rising * power;
        let j = 2.0 * k as f64;
        rising *= (s + j + 1.0) * (s + j + 2.0);
        power /= z * z;
    }
    let factorial: f64 = (1..=n as u64).map(|i| i as f64).product();
    let sign = if n % 2.0 == 1.0 { 1.0 } else { -1.0 };
    sign * factorial * (zeta + tail)
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    fn erf_values() {
        let cases = [
            (0.0, 0.0),
            (1e-300, 1.128_379_167_095_512_6e-300),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (-1.5, -0.966_105_146_475_310_7),
        ];
        for (x, want) in cases {
            assert!((super::erf(x) - want).abs() < 1e-14, "erf({x})");
        }
        assert_eq!(super::erf(f64::INFINITY), 1.0);
        assert_eq!(super::erf(f64::NEG_INFINITY), -1.0);
        assert_eq!(super::erfc(f64::INFINITY), 0.0);
        assert_eq!(super::erfc(f64::NEG_INFINITY), 2.0);
    }

    crate::self_test::cases!(erf_values);
}
