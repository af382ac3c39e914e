//! Element types and PyTorch's type-promotion rules.

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

// `DType::ALL` lists the variants in declaration order, so `dt as usize` indexes it.
const _: () = {
    let mut i = 0;
    while i < DType::ALL.len() {
        assert!(DType::ALL[i] as usize == i);
        i += 1;
    }
};

/// `DType::default_float`'s value, as its index in `DType::ALL` (float32 to start with).
static DEFAULT_FLOAT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DType::F32 as usize);

impl DType {
    /// The dtype of floating-point tensors made without one (factories, Python floats, the
    /// result of a float op on integers): float32 unless `set_default_float` changed it, as
    /// PyTorch's `set_default_dtype` does (process-wide, as PyTorch's).
    pub fn default_float() -> DType {
        DType::ALL[DEFAULT_FLOAT.load(std::sync::atomic::Ordering::Relaxed)]
    }

    /// Makes `dt` (a floating-point dtype) the default float dtype.
    pub fn set_default_float(dt: DType) -> crate::Result<()> {
        if !dt.is_float() {
            crate::bail!(
                DType,
                "set_default_dtype: only floating-point dtypes can be the default, got {dt}"
            );
        }
        DEFAULT_FLOAT.store(dt as usize, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Every dtype, in promotion-category order.
    pub const ALL: [DType; 10] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64
        )
    }

    /// The dtypes of index tensors (`index_select`, `gather`, advanced indexing): int64 and
    /// int32, as in PyTorch.
    pub fn is_index(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// The integer types narrower than 32 bits: kernels compute them in `i32` and wrap the
    /// result back (exact: the arithmetic is modulo `2^bits`, as PyTorch's).
    pub fn is_small_int(self) -> bool {
        matches!(self, DType::U8 | DType::I8 | DType::I16)
    }

    /// The PyTorch-style name (`float32`, `int64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "uint8" => DType::U8,
            "int8" => DType::I8,
            "int16" | "short" => DType::I16,
            "int32" | "int" => DType::I32,
            "int64" | "long" => DType::I64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return None,
        })
    }

    /// Category rank: bool < integer < floating point.
    pub(crate) fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => 1,
            _ => 2,
        }
    }

    /// Result dtype of a binary op between two tensors (PyTorch's `promote_types`).
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        match (a, b) {
            (F16, BF16) | (BF16, F16) => F32,
            // Neither holds the other's range: the narrowest type that holds both.
            (U8, I8) | (I8, U8) => I16,
            _ => {
                let rank = |d: DType| match d {
                    Bool => 0,
                    U8 => 1,
                    I8 => 2,
                    I16 => 3,
                    I32 => 4,
                    I64 => 5,
                    F16 => 6,
                    BF16 => 7,
                    F32 => 8,
                    F64 => 9,
                };
                if rank(a) >= rank(b) {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// Result dtype of a tensor combined with a Python scalar of the given kind: a scalar only
    /// changes the dtype when it is of a higher category (int tensor * 0.5 -> the default float).
    pub fn promote_with_scalar(t: DType, scalar: DType) -> DType {
        if scalar.category() > t.category() {
            match scalar.category() {
                2 => DType::default_float(),
                _ => DType::I64,
            }
        } else {
            t
        }
    }

    /// The dtype floating-point ops produce for this input (ints -> the default float).
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::default_float()
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be stored in a tensor.
pub trait Element: Copy + Send + Sync + 'static + fmt::Debug + PartialOrd {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_i64(self) -> i64;
    fn from_i64(v: i64) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
    /// Through f32 when neither side is f64: exact for f32 and the half types, and for bf16 a
    /// few bit operations that vectorise (the f64 route is a software conversion per element).
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self.to_f64() as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        Self::from_f64(f64::from(v))
    }
}

/// f32 -> bf16, rounding to nearest even (NaN stays a quiet NaN): what `bf16::from_f64` gives
/// for the same value, since f32 -> f64 is exact.
#[inline(always)]
pub(crate) fn f32_to_bf16(x: f32) -> bf16 {
    let b = x.to_bits();
    if x.is_nan() {
        return bf16::from_bits(((b >> 16) as u16) | 0x0040);
    }
    let round = 0x7FFF + ((b >> 16) & 1);
    bf16::from_bits((b.wrapping_add(round) >> 16) as u16)
}

/// f64 -> bf16 as PyTorch converts: to the nearest f32, then to the nearest bf16 (ties to
/// even both times). `half`'s own f64 conversion rounded some values past a midpoint down
/// (-0.6113285415306722 gave -0.609375, PyTorch -0.61328125).
#[inline(always)]
pub(crate) fn f64_to_bf16(x: f64) -> bf16 {
    f32_to_bf16(x as f32)
}

/// One conversion method of `Element` from its closure: `to_*(self)` or `from_*(v)`.
macro_rules! element_conversion {
    ($name:ident(self) -> $out:ty = $f:expr) => {
        #[inline(always)]
        fn $name(self) -> $out {
            #[allow(clippy::redundant_closure_call)]
            ($f)(self)
        }
    };
    ($name:ident($in:ty) -> Self = $f:expr) => {
        #[inline(always)]
        fn $name(v: $in) -> Self {
            #[allow(clippy::redundant_closure_call)]
            ($f)(v)
        }
    };
}

macro_rules! impl_element {
    ($t:ty, $dt:ident, $to:expr, $from:expr, $toi:expr, $fromi:expr, $zero:expr, $one:expr) => {
        impl_element!($t, $dt, $to, $from, $toi, $fromi, $zero, $one, {});
    };
    ($t:ty, $dt:ident, $to:expr, $from:expr, $toi:expr, $fromi:expr, $zero:expr, $one:expr, { $($extra:item)* }) => {
        impl Element for $t {
            $($extra)*
            const DTYPE: DType = DType::$dt;
            element_conversion!(to_f64(self) -> f64 = $to);
            element_conversion!(from_f64(f64) -> Self = $from);
            element_conversion!(to_i64(self) -> i64 = $toi);
            element_conversion!(from_i64(i64) -> Self = $fromi);
            #[inline(always)]
            fn zero() -> Self {
                $zero
            }
            #[inline(always)]
            fn one() -> Self {
                $one
            }
        }
    };
}

/// The primitive numbers: every conversion is an `as` cast.
macro_rules! impl_primitive_element {
    ($t:ty, $dt:ident, $zero:expr, $one:expr $(, { $($extra:item)* })?) => {
        impl_element!(
            $t,
            $dt,
            |x: $t| x as f64,
            |v: f64| v as $t,
            |x: $t| x as i64,
            |v: i64| v as $t,
            $zero,
            $one,
            { $($($extra)*)? }
        );
    };
}

/// The `half` crate's types, through f64 (exact for both); `to_f32`/`from_f32` given.
macro_rules! impl_half_element {
    ($t:ident, $dt:ident, $from_f64:expr, { $($extra:item)* }) => {
        impl_element!(
            $t,
            $dt,
            |x: $t| x.to_f64(),
            $from_f64,
            |x: $t| x.to_f64() as i64,
            |v: i64| $from_f64(v as f64),
            $t::ZERO,
            $t::ONE,
            { $($extra)* }
        );
    };
}

impl_primitive_element!(f32, F32, 0.0, 1.0, {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
});
impl_primitive_element!(f64, F64, 0.0, 1.0);
impl_primitive_element!(i64, I64, 0, 1);
impl_primitive_element!(i32, I32, 0, 1);
/// The narrow integers convert from floats as PyTorch's CPU kernels do on x86: through a
/// wider integer (`$via`: int64 for uint8, int32 for int8 and int16), so that an
/// out-of-range value wraps (`-1.0` -> 255 in uint8, `200.0` -> -56 in int8) instead of
/// saturating as Rust's `as` does; NaN, infinities and values past `$via` (which the CPU's
/// conversion gives as `$via::MIN`) become 0.
macro_rules! impl_narrow_int_element {
    ($t:ty, $dt:ident, $via:ty) => {
        impl_element!(
            $t,
            $dt,
            |x: $t| x as f64,
            |v: f64| {
                if v > <$via>::MIN as f64 && v < <$via>::MAX as f64 {
                    v as $via as $t
                } else {
                    0
                }
            },
            |x: $t| x as i64,
            |v: i64| v as $t,
            0,
            1
        );
    };
}
impl_narrow_int_element!(u8, U8, i64);
impl_narrow_int_element!(i8, I8, i32);
impl_narrow_int_element!(i16, I16, i32);
impl_element!(
    bool,
    Bool,
    |x: bool| if x { 1.0 } else { 0.0 },
    |v: f64| v != 0.0,
    |x: bool| x as i64,
    |v: i64| v != 0,
    false,
    true
);
impl_half_element!(f16, F16, f16::from_f64, {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
});
impl_half_element!(bf16, BF16, f64_to_bf16, {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f32_to_bf16(v)
    }
});

/// Floating-point element types that kernels compute in natively (f32 and f64); half types are
/// widened to f32 for elementwise math.
pub trait Float:
    Element
    + Default
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
{
    const INF: Self;
    const NEG_INF: Self;
    /// Whether the `_with::<true>` functions differ from the plain ones (float32's
    /// polynomials; float64 calls libm either way), so a fused kernel is worth compiling.
    const FUSES: bool;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn tanh(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn log10(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn ln_1p(self) -> Self;
    fn erf(self) -> Self;
    fn erfc(self) -> Self;
    fn erfinv(self) -> Self;
    fn exp2(self) -> Self;
    fn exp_m1(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    fn from_usize(n: usize) -> Self;
    /// `self * a + b`: one FMA instruction when `FUSED`, a multiply and an add otherwise.
    /// Kernels compiled per SIMD level take `FUSED` from `multiversion!(... fused)`, so the
    /// levels with FMA use it and the baseline never calls libm's software `fma`.
    fn madd<const FUSED: bool>(self, a: Self, b: Self) -> Self;
    /// `exp`, its polynomial fused as `madd::<FUSED>` is.
    fn exp_with<const FUSED: bool>(self) -> Self;
    /// `erf`, fused as `exp_with`.
    fn erf_with<const FUSED: bool>(self) -> Self;
    /// `tanh`, fused as `exp_with`.
    fn tanh_with<const FUSED: bool>(self) -> Self;
}

/// `fn $m(self) -> Self { <$t>::$m(self) }` for each method `Float` takes as it is from std.
macro_rules! inherent_float_methods {
    ($t:ty: $($m:ident),*) => {
        $(
            #[inline(always)]
            fn $m(self) -> Self {
                <$t>::$m(self)
            }
        )*
    };
}

/// `max`/`min` that propagate NaN, like PyTorch's maximum/minimum (std's ignore it).
macro_rules! nan_propagating_methods {
    ($t:ty: $($m:ident),*) => {
        $(
            #[inline(always)]
            fn $m(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::$m(self, o)
                }
            }
        )*
    };
}

/// `Float` for `$t`, each listed method computed by the function after its name.
macro_rules! impl_float {
    ($t:ty, fuses: $fuses:literal, exp_with: $($ew:ident)::+, erf_with: $($erfw:ident)::+, tanh_with: $($tw:ident)::+, $($m:ident: $f:path),* $(,)?) => {
        impl Float for $t {
            const INF: Self = <$t>::INFINITY;
            const NEG_INF: Self = <$t>::NEG_INFINITY;
            const FUSES: bool = $fuses;
            inherent_float_methods!($t: sqrt, abs);
            $(
                #[inline(always)]
                fn $m(self) -> Self {
                    $f(self)
                }
            )*
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            nan_propagating_methods!($t: max, min);
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline(always)]
            fn madd<const FUSED: bool>(self, a: Self, b: Self) -> Self {
                if FUSED {
                    <$t>::mul_add(self, a, b)
                } else {
                    self * a + b
                }
            }
            #[inline(always)]
            fn exp_with<const FUSED: bool>(self) -> Self {
                $($ew)::+::<FUSED>(self)
            }
            #[inline(always)]
            fn erf_with<const FUSED: bool>(self) -> Self {
                $($erfw)::+::<FUSED>(self)
            }
            #[inline(always)]
            fn tanh_with<const FUSED: bool>(self) -> Self {
                $($tw)::+::<FUSED>(self)
            }
        }
    };
}
// float32 uses the vectorisable `fastmath` functions (libm's would be a call per element).
impl_float!(
    f32,
    fuses: true,
    exp_with: crate::fastmath::exp_f32_with,
    erf_with: crate::fastmath::erf_f32_with,
    tanh_with: crate::fastmath::tanh_f32_with,
    exp: crate::fastmath::exp_f32,
    ln: crate::fastmath::ln_f32,
    tanh: crate::fastmath::tanh_f32,
    erf: crate::fastmath::erf_f32,
    erfc: crate::fastmath::erfc_f32,
    erfinv: crate::fastmath::erfinv_f32,
    ln_1p: crate::fastmath::log1p_f32,
    exp2: crate::fastmath::exp2_f32,
    exp_m1: crate::fastmath::expm1_f32,
    asin: crate::fastmath::asin_f32,
    acos: crate::fastmath::acos_f32,
    atan: crate::fastmath::atan_f32,
    asinh: crate::fastmath::asinh_f32,
    acosh: crate::fastmath::acosh_f32,
    atanh: crate::fastmath::atanh_f32,
    sin: crate::fastmath::sin_f32,
    cos: crate::fastmath::cos_f32,
    tan: crate::fastmath::tan_f32,
    // libm's (within an ulp): rarer ops, one rounding where a composition of the others had several.
    sinh: f32::sinh,
    cosh: f32::cosh,
    log10: f32::log10,
);
impl_float!(
    f64,
    fuses: false,
    exp_with: crate::fastmath::exp_f64_with,
    erf_with: crate::fastmath::erf_f64_with,
    tanh_with: crate::fastmath::tanh_f64_with,
    exp: crate::fastmath::exp_f64,
    ln: f64::ln,
    tanh: crate::fastmath::tanh_f64,
    erf: crate::ops::special::erf,
    erfc: crate::ops::special::erfc,
    erfinv: crate::ops::unary::erfinv,
    ln_1p: f64::ln_1p,
    exp2: f64::exp2,
    exp_m1: f64::exp_m1,
    asin: f64::asin,
    acos: f64::acos,
    atan: f64::atan,
    asinh: crate::ops::unary::asinh,
    acosh: crate::ops::unary::acosh,
    atanh: f64::atanh,
    sin: f64::sin,
    cos: f64::cos,
    tan: f64::tan,
    sinh: f64::sinh,
    cosh: f64::cosh,
    log10: f64::log10,
);

/// Runs `$body` with `$T` bound to the Rust type of `$dt`, for every dtype.
#[macro_export]
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        $crate::match_dtype!($dt, $T => $body;
            F32: f32, F64: f64, F16: half::f16, BF16: half::bf16, I64: i64, I32: i32, I16: i16, I8: i8, U8: u8,
            Bool: bool)
    };
}

/// Runs `$body` with `$T` bound to f32 or f64 (other dtypes are an engine bug here: callers check).
#[macro_export]
macro_rules! with_float {
    ($dt:expr, $T:ident => $body:expr) => {
        $crate::match_dtype!($dt, $T => $body; F64: f64; _: f32)
    };
}

/// The `match` behind `with_dtype!`/`with_float!`: one arm per listed `DType` variant binding
/// `$T` to its Rust type, and an optional catch-all type for the rest.
#[doc(hidden)]
#[macro_export]
macro_rules! match_dtype {
    ($dt:expr, $T:ident => $body:expr; $($v:ident: $t:ty),* $(; _: $other:ty)?) => {
        match $dt {
            $($crate::DType::$v => {
                type $T = $t;
                $body
            })*
            $(_ => {
                type $T = $other;
                $body
            })?
        }
    };
}

#[allow(clippy::unwrap_used)]
pub(crate) mod conversion_tests {
    use super::{f32_to_bf16, Element};
    use half::bf16;

    /// The bf16 nearest to `x` (ties to the even one), from exact f64 distances.
    fn nearest(x: f32) -> u16 {
        let b = x.to_bits();
        let lo = (b >> 16) as u16;
        let hi = lo.wrapping_add(1);
        let value = |h: u16| f64::from(f32::from_bits(u32::from(h) << 16));
        let (dl, dh) = (
            (f64::from(x) - value(lo)).abs(),
            (value(hi) - f64::from(x)).abs(),
        );
        if dl < dh || (dl == dh && lo.is_multiple_of(2)) {
            lo
        } else {
            hi
        }
    }

    fn f32_to_bf16_rounds_to_nearest_even_and_back_is_exact() {
        let mut bits: Vec<u32> = (0..u32::MAX).step_by(65_521).collect();
        bits.extend([
            0,
            0x8000_0000,
            0x7F7F_0000,
            0x0001_8000,
            0x3F80_8000,
            0x3F81_8000,
        ]);
        bits.extend([0x3F80_7FFF, 0x3F80_8001, 0x9108_8001, 0x7F7F_7FFF]);
        for b in bits {
            let x = f32::from_bits(b);
            let got = f32_to_bf16(x);
            if x.is_nan() {
                assert!(got.is_nan(), "{b:#x}");
                continue;
            }
            // Both neighbours finite (above bf16's largest finite value, IEEE rounds to inf).
            let next = f32::from_bits((u32::from((b >> 16) as u16) + 1) << 16);
            if x.is_finite() && next.is_finite() {
                assert_eq!(got.to_bits(), nearest(x), "{b:#x}");
            }
            assert_eq!(
                <bf16 as Element>::to_f32(got).to_bits(),
                got.to_f32().to_bits()
            );
        }
        assert!(f32_to_bf16(f32::MAX).is_infinite() && f32_to_bf16(f32::INFINITY).is_infinite());
    }

    /// f64 -> bf16 rounds to the nearest (ties to even) for values a float32 tells apart
    /// from a midpoint, and matches PyTorch's route through float32 for the rest.
    fn f64_to_bf16_rounds_to_nearest() {
        use super::f64_to_bf16;
        let mut checked = 0;
        for bits in (0x3F00u16..0x3F80)
            .chain(0x0001..0x0040)
            .chain(0x7F00..0x7F7F)
        {
            let lo = f64::from(<bf16 as Element>::to_f32(bf16::from_bits(bits)));
            let hi = f64::from(<bf16 as Element>::to_f32(bf16::from_bits(bits + 1)));
            let mid = (lo + hi) / 2.0;
            for (x, want) in [
                (mid + (hi - lo) * 1e-3, bits + 1),
                (mid - (hi - lo) * 1e-3, bits),
                (mid, if bits % 2 == 0 { bits } else { bits + 1 }),
            ] {
                assert_eq!(f64_to_bf16(x).to_bits(), want, "{x:e}");
                assert_eq!(f64_to_bf16(-x).to_bits(), want | 0x8000, "{x:e}");
                checked += 1;
            }
        }
        assert_eq!(f64_to_bf16(-0.6113285415306722).to_f64(), -0.61328125);
        assert!(f64_to_bf16(1e300).is_infinite() && f64_to_bf16(f64::NAN).is_nan());
        assert_eq!(f64_to_bf16(-1e-50).to_bits(), 0x8000);
        assert!(checked > 500);
    }

    crate::self_test::cases!(
        f32_to_bf16_rounds_to_nearest_even_and_back_is_exact,
        f64_to_bf16_rounds_to_nearest
    );
}
