//! PyTorch's `result_type`: dimensioned tensors outrank 0-d tensors, which outrank Python
//! numbers, unless a lower-priority operand is of a higher category (bool < int < float).

use crate::{DType, Tensor};

fn category(d: DType) -> u8 {
    d.category()
}

fn promote_opt(a: Option<DType>, b: Option<DType>) -> Option<DType> {
    match (a, b) {
        (Some(a), Some(b)) => Some(DType::promote(a, b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn combine(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (Some(h), Some(l)) => {
            if category(h) == 2 {
                Some(h)
            } else if h == DType::Bool || category(l) == 2 {
                Some(DType::promote(h, l))
            } else {
                Some(h)
            }
        }
        (h, None) => h,
        (None, l) => l,
    }
}

/// The dtype an elementwise op over `tensors` computes in and returns.
pub fn result_type(tensors: &[&Tensor]) -> DType {
    let (mut dim, mut zero, mut wrapped) = (None, None, None);
    for t in tensors {
        let d = t.dtype();
        if t.is_wrapped_number() {
            // Python numbers count as the default dtype of their category.
            let as_default = match category(d) {
                2 => DType::default_float(),
                1 => DType::I64,
                _ => DType::Bool,
            };
            wrapped = promote_opt(wrapped, Some(as_default));
        } else if t.ndim() == 0 {
            zero = promote_opt(zero, Some(d));
        } else {
            dim = promote_opt(dim, Some(d));
        }
    }
    combine(dim, combine(zero, wrapped)).unwrap_or_else(DType::default_float)
}
