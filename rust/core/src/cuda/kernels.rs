//! The kernel table: every `extern "C"` kernel of `kernels/*.cu`, by family, with its
//! parameter count. It is the single list the host uses to compile and launch kernels, the
//! NVRTC test checks it against the PTX of every family (no kernel missing, none extra, same
//! arity), and the CPU emulation tests register exactly these names.

use crate::{bail, DType, Result};

/// The header every family includes, handed to NVRTC in memory under this name.
pub const COMMON_HEADER: (&str, &str) = ("common.cuh", include_str!("kernels/common.cuh"));

/// One `.cu` file: compiled as one NVRTC program and loaded as one module.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub source: &'static str,
    pub kernels: &'static [Kernel],
}

/// The dtypes a kernel is instantiated for; the extern "C" name is `<base>_<suffix>`.
#[derive(Debug, Clone, Copy)]
pub enum Variants {
    /// One kernel named `<base>`.
    Single,
    /// `<base>_<dtype>` for each dtype.
    Dtypes(&'static [DType]),
    /// `<base>_<src>_<dst>` for every ordered pair of dtypes.
    Pairs,
}

#[derive(Debug)]
pub struct Kernel {
    pub base: &'static str,
    pub variants: Variants,
    pub params: usize,
}

const FLOATS: &[DType] = &[DType::F32, DType::F64, DType::F16, DType::BF16];
const FLOATS_INTS: &[DType] = &[
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I64,
    DType::I32,
];
const ALL: &[DType] = &DType::ALL;
/// Integer reductions read these in their own dtype.
const INTEGERS: &[DType] = &[DType::I64, DType::I32, DType::Bool];
/// Running sums and products: floats, and int64 (the ops layer promotes other integers).
const SCANNED: &[DType] = &[DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64];
const F32_F64: &[DType] = &[DType::F32, DType::F64];

const fn k(base: &'static str, variants: Variants, params: usize) -> Kernel {
    Kernel {
        base,
        variants,
        params,
    }
}

use Variants::{Dtypes, Pairs, Single};

macro_rules! family {
    ($name:literal, [$($kernel:expr),* $(,)?]) => {
        Family {
            name: $name,
            source: include_str!(concat!("kernels/", $name, ".cu")),
            kernels: &[$($kernel),*],
        }
    };
}

/// Every kernel family. Parameter counts are those of the `extern "C"` signatures.
pub const FAMILIES: &[Family] = &[
    family!(
        "elementwise",
        [
            k("unary", Dtypes(FLOATS), 8),
            k("unary_backward", Dtypes(FLOATS), 9),
            k("unary_backward_out", Dtypes(FLOATS), 9),
            k("binary", Dtypes(FLOATS_INTS), 8),
            k("compare", Dtypes(ALL), 8),
            k("where", Dtypes(ALL), 9),
            k("fill", Dtypes(ALL), 4),
            k("cast", Pairs, 5),
        ]
    ),
    family!(
        "reduce",
        [
            k("reduce", Dtypes(FLOATS), 5),
            k("scan", Dtypes(SCANNED), 6),
            k("reduce_int", Dtypes(INTEGERS), 5),
            k("arg_reduce", Dtypes(FLOATS), 6)
        ]
    ),
    family!(
        "softmax",
        [
            k("softmax_forward", Dtypes(FLOATS), 5),
            k("softmax_backward", Dtypes(FLOATS), 6),
            k("cross_entropy_forward", Dtypes(FLOATS), 10),
            k("cross_entropy_backward", Dtypes(FLOATS), 11),
        ]
    ),
    family!(
        "attention",
        [
            k("attention_forward", Dtypes(F32_F64), 7),
            k("attention_backward_dq", Dtypes(F32_F64), 10),
            k("attention_backward_dkv", Dtypes(F32_F64), 10),
        ]
    ),
    family!(
        "rnn",
        [
            k("rnn_step_forward", Dtypes(F32_F64), 10),
            k("rnn_step_backward", Dtypes(F32_F64), 16),
        ]
    ),
    family!(
        "conv",
        [
            k("im2col", Dtypes(FLOATS), 3),
            k("col2im", Dtypes(FLOATS), 3)
        ]
    ),
    family!(
        "pool",
        [
            k("max_pool2d_forward", Dtypes(FLOATS), 4),
            k("max_pool2d_backward", Dtypes(FLOATS), 4),
            k("avg_pool2d_forward", Dtypes(FLOATS), 3),
            k("avg_pool2d_backward", Dtypes(FLOATS), 3),
        ]
    ),
    family!(
        "norm",
        [
            k("layer_norm_forward", Dtypes(FLOATS), 10),
            k("layer_norm_backward", Dtypes(FLOATS), 9),
            k("layer_norm_backward_affine", Dtypes(FLOATS), 9),
            k("batch_norm_stats", Dtypes(FLOATS), 8),
            k("batch_norm_update_running", Dtypes(FLOATS), 7),
            k("batch_norm_forward", Dtypes(FLOATS), 9),
            k("batch_norm_backward_reduce", Dtypes(FLOATS), 9),
            k("batch_norm_backward", Dtypes(FLOATS), 12),
        ]
    ),
    family!(
        "random",
        [
            k("philox4x32_10_raw", Single, 3),
            k("dropout_forward", Dtypes(FLOATS), 7),
            k("dropout_backward", Dtypes(FLOATS), 5),
            k("uniform", Dtypes(FLOATS), 6),
            k("normal", Dtypes(FLOATS), 6),
        ]
    ),
    family!(
        "index",
        [
            k("embedding_forward", Dtypes(ALL), 7),
            k("gather", Dtypes(ALL), 8),
            k("index_select", Dtypes(ALL), 8),
            k("index_copy", Dtypes(ALL), 8),
            k("scatter", Dtypes(ALL), 8),
            k("embedding_backward", Dtypes(FLOATS), 7),
            k("scatter_add", Dtypes(FLOATS_INTS), 8),
            k("index_add", Dtypes(FLOATS_INTS), 8),
        ]
    ),
    family!(
        "optim",
        [
            k("adam_step", Dtypes(F32_F64), 3),
            k("sgd_step", Dtypes(F32_F64), 3),
            k("rmsprop_step", Dtypes(F32_F64), 13),
            k("adagrad_step", Dtypes(F32_F64), 9),
            k("optim_rule_step", Dtypes(F32_F64), 7),
        ]
    ),
    family!(
        "amp",
        [
            k("amp_unscale", Dtypes(FLOATS), 4),
            k("amp_update_scale", Single, 6),
        ]
    ),
];

/// The suffix of a dtype in kernel names (`unary_f32`, `cast_bf16_i64`).
pub fn suffix(dt: DType) -> &'static str {
    match dt {
        DType::Bool => "bool",
        DType::U8 => "u8",
        DType::I8 => "i8",
        DType::I16 => "i16",
        DType::I32 => "i32",
        DType::I64 => "i64",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F32 => "f32",
        DType::F64 => "f64",
    }
}

impl Kernel {
    /// Every extern "C" name this entry stands for.
    pub fn names(&self) -> Vec<String> {
        match self.variants {
            Single => vec![self.base.to_string()],
            Dtypes(dts) => dts
                .iter()
                .map(|&d| format!("{}_{}", self.base, suffix(d)))
                .collect(),
            Pairs => ALL
                .iter()
                .flat_map(|&s| {
                    ALL.iter()
                        .map(move |&d| format!("{}_{}_{}", self.base, suffix(s), suffix(d)))
                })
                .collect(),
        }
    }
}

/// (family, kernel name, parameter count) for every kernel, in table order.
pub fn all_kernels() -> Vec<(&'static str, String, usize)> {
    FAMILIES
        .iter()
        .flat_map(|f| {
            f.kernels
                .iter()
                .flat_map(move |k| k.names().into_iter().map(move |n| (f.name, n, k.params)))
        })
        .collect()
}

/// A kernel resolved for launching: its family (the module to load), name and arity.
#[derive(Debug, Clone)]
pub struct KernelRef {
    pub family: &'static Family,
    pub name: String,
    pub params: usize,
}

/// Looks up `<base>_<dtype>` (or `<base>` when `dtype` is None); a dtype the kernel is not
/// instantiated for is a `DType` error naming the supported ones.
pub fn lookup(base: &str, dtype: Option<DType>) -> Result<KernelRef> {
    let found = FAMILIES
        .iter()
        .find_map(|f| f.kernels.iter().find(|k| k.base == base).map(|k| (f, k)));
    let Some((family, k)) = found else {
        bail!(Value, "no CUDA kernel named {base}")
    };
    let name = match (k.variants, dtype) {
        (Single, None) => base.to_string(),
        (Dtypes(dts), Some(d)) if dts.contains(&d) => format!("{base}_{}", suffix(d)),
        (Dtypes(dts), Some(d)) => bail!(
            DType,
            "the CUDA kernel {base} supports {:?}, not {}",
            dts.iter().map(|d| d.name()).collect::<Vec<_>>(),
            d
        ),
        _ => bail!(Value, "CUDA kernel {base}: wrong dtype arguments"),
    };
    Ok(KernelRef {
        family,
        name,
        params: k.params,
    })
}

/// `cast_<src>_<dst>`.
pub fn lookup_cast(src: DType, dst: DType) -> Result<KernelRef> {
    let family = &FAMILIES[0];
    Ok(KernelRef {
        family,
        name: format!("cast_{}_{}", suffix(src), suffix(dst)),
        params: 5,
    })
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashSet;

    fn names_are_unique_and_lookups_resolve() {
        let all = all_kernels();
        let names: HashSet<_> = all.iter().map(|(_, n, _)| n.clone()).collect();
        assert_eq!(names.len(), all.len());
        assert!(names.contains("cast_bf16_i64"));
        let k = lookup("softmax_forward", Some(DType::BF16)).unwrap();
        assert_eq!(
            (k.family.name, k.name.as_str(), k.params),
            ("softmax", "softmax_forward_bf16", 5)
        );
        assert!(matches!(
            lookup("adam_step", Some(DType::F16)),
            Err(crate::Error::DType(_))
        ));
        assert!(lookup("amp_update_scale", None).is_ok());
        assert!(lookup("nope", None).is_err());
        assert!(names.contains(&lookup_cast(DType::Bool, DType::F16).unwrap().name));
    }

    fn every_family_source_includes_the_common_header() {
        for f in FAMILIES {
            assert!(f.source.contains("#include \"common.cuh\""), "{}", f.name);
        }
    }

    crate::self_test::cases!(
        names_are_unique_and_lookups_resolve,
        every_family_source_includes_the_common_header
    );
}
