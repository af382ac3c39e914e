//! Running sums and products along one dim (`cumsum`, `cumprod`, and the reverse running sum
//! their backward needs): one pass over a contiguous `[outer, n, inner]` view. Along the last
//! dim each row is a sequential scan; along any other dim whole `inner`-long rows are added (or
//! multiplied) into the previous one, which vectorises.

use crate::ops::copy::cast_raw;
use crate::{bail, DType, Element, Result, Tensor};
use rayon::prelude::*;

/// How a running value takes the next element: float32 runs in float64 and rounds each
/// result once, as PyTorch's CPU scans (a float32 running sum over a million elements would
/// drift by 1%, and the cumsum of a 50k-way softmax would end above 1); int64 wraps as
/// PyTorch's (never a panic on overflow).
trait Scan: Element {
    type Acc: Copy + Send + Sync;
    fn widen(self) -> Self::Acc;
    fn narrow(a: Self::Acc) -> Self;
    fn sum(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn product(a: Self::Acc, b: Self::Acc) -> Self::Acc;
}

/// A float type whose running value is `$acc` (float32's is float64).
macro_rules! float_scan {
    ($t:ty, $acc:ty) => {
        impl Scan for $t {
            type Acc = $acc;
            fn widen(self) -> $acc {
                <$acc>::from(self)
            }
            fn narrow(a: $acc) -> $t {
                a as $t
            }
            fn sum(a: $acc, b: $acc) -> $acc {
                a + b
            }
            fn product(a: $acc, b: $acc) -> $acc {
                a * b
            }
        }
    };
}

float_scan!(f32, f64);
float_scan!(f64, f64);

impl Scan for i64 {
    type Acc = i64;
    fn widen(self) -> i64 {
        self
    }
    fn narrow(a: i64) -> i64 {
        a
    }
    fn sum(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    fn product(a: i64, b: i64) -> i64 {
        a.wrapping_mul(b)
    }
}

/// Running sums (`prod`: products) of `t` along dim `d`, from the end when `reverse`, in `t`'s
/// dtype: float32, float64 or int64 (the ops layer promotes other integers); a half tensor
/// runs in float32 and each result is rounded once, as PyTorch's.
pub(super) fn scan(t: &Tensor, d: usize, prod: bool, reverse: bool) -> Result<Tensor> {
    match t.dtype() {
        DType::F32 => scan_typed::<f32>(t, d, prod, reverse),
        DType::F64 => scan_typed::<f64>(t, d, prod, reverse),
        DType::I64 => scan_typed::<i64>(t, d, prod, reverse),
        DType::F16 | DType::BF16 => {
            let wide = scan_typed::<f32>(&cast_raw(t, DType::F32)?, d, prod, reverse)?;
            cast_raw(&wide, t.dtype())
        }
        other => bail!(
            DType,
            "a running sum or product of {other} is not supported"
        ),
    }
}

fn scan_typed<T: Scan>(t: &Tensor, d: usize, prod: bool, reverse: bool) -> Result<Tensor> {
    if prod {
        scan_with::<T>(t, d, reverse, T::product)
    } else {
        scan_with::<T>(t, d, reverse, T::sum)
    }
}

fn scan_with<T: Scan>(
    t: &Tensor,
    d: usize,
    reverse: bool,
    op: impl Fn(T::Acc, T::Acc) -> T::Acc + Sync + Copy,
) -> Result<Tensor> {
    let shape = t.shape().to_vec();
    let x = t.data::<T>()?;
    let n = shape.get(d).copied().unwrap_or(1);
    let inner: usize = shape.iter().skip(d + 1).product();
    let block = n * inner;
    let mut out = vec![T::zero(); x.len()];
    if block == 0 {
        return Tensor::from_vec(out, &shape);
    }
    let run = |(xs, os): (&[T], &mut [T])| scan_block(xs, os, n, inner, reverse, op);
    let split = crate::threads::split();
    if x.len() >= crate::cpu::kernel::PAR_THRESHOLD && x.len() > block && split {
        x.par_chunks(block)
            .zip(out.par_chunks_mut(block))
            .for_each(run);
    } else {
        x.chunks(block).zip(out.chunks_mut(block)).for_each(run);
    }
    Tensor::from_vec(out, &shape)
}

/// One `[n, inner]` block: row `i` of the output is row `i` of the input combined with the
/// running row before it (after it in reverse), kept in the accumulator type; a row of one
/// element is a running value.
fn scan_block<T: Scan>(
    xs: &[T],
    os: &mut [T],
    n: usize,
    inner: usize,
    reverse: bool,
    op: impl Fn(T::Acc, T::Acc) -> T::Acc,
) {
    let at = |k: usize| if reverse { n - 1 - k } else { k };
    if inner == 1 {
        let mut acc = xs[at(0)].widen();
        os[at(0)] = T::narrow(acc);
        for k in 1..n {
            acc = op(acc, xs[at(k)].widen());
            os[at(k)] = T::narrow(acc);
        }
        return;
    }
    // The running row: whole rows combine elementwise, which vectorises.
    let first = at(0) * inner;
    let mut acc: Vec<T::Acc> = xs[first..first + inner]
        .iter()
        .map(|&v| v.widen())
        .collect();
    os[first..first + inner].copy_from_slice(&xs[first..first + inner]);
    for k in 1..n {
        let i = at(k) * inner;
        let rows = acc
            .iter_mut()
            .zip(&xs[i..i + inner])
            .zip(&mut os[i..i + inner]);
        for ((a, &v), o) in rows {
            *a = op(*a, v.widen());
            *o = T::narrow(*a);
        }
    }
}
