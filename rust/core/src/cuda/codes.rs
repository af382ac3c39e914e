//! Op codes the elementwise and reduce kernels switch on, declared once: `op_codes!` makes
//! each Rust enum and, from the same list (and the unary op table's codes), the C enums the
//! `.cu` files use (`header()`), kept
//! in a generated region of `kernels/common.cuh` that a test compares against `header()`
//! (`DEMOCRATISING_BLESS=1 cargo test --release -p democratising -p democratising-py codes`
//! rewrites it).

/// Declares each code enum (`#[repr(i32)]`, explicit values) and `header()`, their C form.
macro_rules! op_codes {
    ($($(#[$doc:meta])* enum $name:ident as $prefix:literal { $($v:ident = $n:literal,)* })*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            #[repr(i32)]
            pub enum $name {
                $($v = $n,)*
            }
        )*

        /// The C enums of every code list, as `kernels/common.cuh` holds them (`UnaryCode`
        /// with the unary table's codes merged in, by value).
        pub fn header() -> String {
            let mut out = String::new();
            $(
                let mut codes: Vec<(&str, i32)> = vec![$((stringify!($v), $n)),*];
                if stringify!($name) == "UnaryCode" {
                    codes.extend_from_slice(crate::ops::unary::UnaryOp::CUDA_CODES);
                    codes.sort_by_key(|&(_, n)| n);
                }
                out.push_str(&c_enum(stringify!($name), $prefix, &codes));
            )*
            out
        }
    };
}

/// `enum Name { PREFIX_VARIANT = n, ... };` with `GeluTanh` written `GELU_TANH`.
fn c_enum(name: &str, prefix: &str, variants: &[(&str, i32)]) -> String {
    let mut out = format!("enum {name} {{\n");
    for (v, n) in variants {
        let mut c = String::new();
        for (i, ch) in v.char_indices() {
            if ch.is_uppercase() && i > 0 {
                c.push('_');
            }
            c.push(ch.to_ascii_uppercase());
        }
        out.push_str(&format!("    {prefix}{c} = {n},\n"));
    }
    out.push_str("};\n");
    out
}

op_codes! {
    /// `UnaryCode`, the codes the host launches directly (the identity, `x * a + b` for
    /// scalar arithmetic, `x ^ a`); every op of the unary table (`ops/unary.rs`) adds its own
    /// code to the same C enum. The scalars `a`/`b` of the `unary` kernels carry an op's
    /// parameters.
    enum UnaryCode as "U_" {
        Identity = 0,
        Affine = 30,
        PowScalar = 31,
    }
    /// `BinaryCode` (integer kernels implement add, sub, mul, maximum, minimum).
    enum BinaryCode as "B_" {
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
    /// `CompareCode` of the comparison kernels.
    enum CompareCode as "C_" {
        Eq = 0,
        Ne = 1,
        Lt = 2,
        Le = 3,
        Gt = 4,
        Ge = 5,
    }
    /// `ReduceCode` of the row reductions.
    enum ReduceCode as "R_" {
        Sum = 0,
        Mean = 1,
        Max = 2,
        Min = 3,
        SumSq = 4,
    }
}

/// The markers around the generated region of `kernels/common.cuh`.
pub const BEGIN: &str = "// ---- op codes: generated from cuda/codes.rs (codes::header) ----\n";
pub const END: &str = "// ---- end of generated op codes ----\n";

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn common_header_holds_the_generated_codes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cuda/kernels/common.cuh");
        let src = include_str!("kernels/common.cuh");
        let (start, end) = (
            src.find(BEGIN).expect("begin marker"),
            src.find(END).expect("end marker"),
        );
        let region = &src[start + BEGIN.len()..end];
        let want = header();
        if region != want && std::env::var_os("DEMOCRATISING_BLESS").is_some() {
            let fixed = format!("{}{}{}", &src[..start + BEGIN.len()], want, &src[end..]);
            std::fs::write(path, fixed).expect("write common.cuh");
            return;
        }
        assert_eq!(
            region, want,
            "kernels/common.cuh is stale: run DEMOCRATISING_BLESS=1 cargo test --release -p democratising -p democratising-py codes"
        );
    }

    fn unary_codes_are_distinct() {
        let mut codes: Vec<i32> = crate::ops::unary::UnaryOp::CUDA_CODES
            .iter()
            .map(|c| c.1)
            .collect();
        codes.extend([
            UnaryCode::Identity as i32,
            UnaryCode::Affine as i32,
            UnaryCode::PowScalar as i32,
        ]);
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "two unary ops share a CUDA code");
    }

    fn kernel_sources_declare_no_codes_of_their_own() {
        for src in [
            include_str!("kernels/elementwise.cu"),
            include_str!("kernels/reduce.cu"),
        ] {
            assert!(!src.contains("enum UnaryCode") && !src.contains("enum ReduceCode"));
        }
    }

    crate::self_test::cases!(
        common_header_holds_the_generated_codes,
        unary_codes_are_distinct,
        kernel_sources_declare_no_codes_of_their_own
    );
}
