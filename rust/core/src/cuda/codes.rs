//! Op codes the elementwise and reduce kernels switch on. They mirror the enums at the top of
//! `kernels/elementwise.cu` and `kernels/reduce.cu`; a test reads those sources and checks
//! every name and value, so the two sides cannot drift apart.

/// `UnaryCode` of elementwise.cu. The scalars `a`/`b` of the `unary` kernels carry the op's
/// parameters (softplus beta/threshold, slope, alpha, clamp bounds, affine scale/shift,
/// exponent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum UnaryCode {
    Identity = 0,
    Neg = 1,
    Abs = 2,
    Exp = 3,
    Log = 4,
    Log2 = 5,
    Log1p = 6,
    Expm1 = 7,
    Sqrt = 8,
    Rsqrt = 9,
    Square = 10,
    Reciprocal = 11,
    Sin = 12,
    Cos = 13,
    Tanh = 14,
    Sigmoid = 15,
    Relu = 16,
    Gelu = 17,
    GeluTanh = 18,
    Silu = 19,
    Softplus = 20,
    LeakyRelu = 21,
    Elu = 22,
    Erf = 23,
    Sign = 24,
    Floor = 25,
    Ceil = 26,
    Round = 27,
    Trunc = 28,
    Clamp = 29,
    Affine = 30,
    PowScalar = 31,
}

/// `BinaryCode` of elementwise.cu (integer kernels implement add, sub, mul, maximum, minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum BinaryCode {
    Add = 0,
    Sub = 1,
    Mul = 2,
    Div = 3,
    Pow = 4,
    Maximum = 5,
    Minimum = 6,
    Remainder = 7,
    FloorDivide = 8,
}

/// `CompareCode` of elementwise.cu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum CompareCode {
    Eq = 0,
    Ne = 1,
    Lt = 2,
    Le = 3,
    Gt = 4,
    Ge = 5,
}

/// `ReduceCode` of reduce.cu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ReduceCode {
    Sum = 0,
    Mean = 1,
    Max = 2,
    Min = 3,
    SumSq = 4,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(NAME, value)` pairs of `enum <name> { ... }` in a kernel source.
    fn enum_values(src: &str, name: &str) -> Vec<(String, i32)> {
        let start = src.find(&format!("enum {name}")).expect("enum present");
        let body = &src[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
        body.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|item| {
                let (k, v) = item.split_once('=').expect("explicit value");
                (k.trim().to_string(), v.trim().parse().expect("integer"))
            })
            .collect()
    }

    /// `GeluTanh` -> `GELU_TANH`.
    fn screaming(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.char_indices() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    fn check(src: &str, enum_name: &str, prefix: &str, host: &[(String, i32)]) {
        let device = enum_values(src, enum_name);
        let expected: Vec<(String, i32)> = host
            .iter()
            .map(|(n, v)| (format!("{prefix}{}", screaming(n)), *v))
            .collect();
        assert_eq!(
            device, expected,
            "{enum_name} differs between host and kernels"
        );
    }

    macro_rules! variants {
        ($($v:expr),*) => { [$((format!("{:?}", $v), $v as i32)),*] };
    }

    #[test]
    fn codes_match_the_kernel_sources() {
        use UnaryCode as U;
        let ew = include_str!("kernels/elementwise.cu");
        check(
            ew,
            "UnaryCode",
            "U_",
            &variants![
                U::Identity,
                U::Neg,
                U::Abs,
                U::Exp,
                U::Log,
                U::Log2,
                U::Log1p,
                U::Expm1,
                U::Sqrt,
                U::Rsqrt,
                U::Square,
                U::Reciprocal,
                U::Sin,
                U::Cos,
                U::Tanh,
                U::Sigmoid,
                U::Relu,
                U::Gelu,
                U::GeluTanh,
                U::Silu,
                U::Softplus,
                U::LeakyRelu,
                U::Elu,
                U::Erf,
                U::Sign,
                U::Floor,
                U::Ceil,
                U::Round,
                U::Trunc,
                U::Clamp,
                U::Affine,
                U::PowScalar
            ],
        );
        use BinaryCode as B;
        check(
            ew,
            "BinaryCode",
            "B_",
            &variants![
                B::Add,
                B::Sub,
                B::Mul,
                B::Div,
                B::Pow,
                B::Maximum,
                B::Minimum,
                B::Remainder,
                B::FloorDivide
            ],
        );
        use CompareCode as C;
        check(
            ew,
            "CompareCode",
            "C_",
            &variants![C::Eq, C::Ne, C::Lt, C::Le, C::Gt, C::Ge],
        );
        use ReduceCode as R;
        check(
            include_str!("kernels/reduce.cu"),
            "ReduceCode",
            "R_",
            &variants![R::Sum, R::Mean, R::Max, R::Min, R::SumSq],
        );
    }
}
