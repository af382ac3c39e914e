//! Matrix products on CUDA tensors through cuBLAS (`cublasGemmStridedBatchedEx`; float32
//! accumulation for half types). Transposed views are passed as transposed operands and
//! broadcast batch dims as stride-0 batches, so the common cases never copy.

use super::{cast, empty, ordinal};
use crate::cuda::backend::{backend, Gemm, GemmOperand};
use crate::layout::Layout;
use crate::{bail, DType, Result, Tensor};

/// Collapses batch dims into one (count, stride) when their strides allow it.
fn batch_stride(shape: &[usize], strides: &[usize]) -> Option<usize> {
    let mut dims = shape
        .iter()
        .zip(strides)
        .filter(|(&n, _)| n != 1)
        .map(|(&n, &s)| (n, s));
    let Some((mut pn, mut ps)) = dims.next() else {
        return Some(0);
    };
    for (n, s) in dims {
        if ps != s * n {
            return None;
        }
        pn *= n;
        ps = s;
    }
    let _ = pn;
    Some(ps)
}

/// The leading dimension of a matrix stored as `lines` lines `line_stride` apart, each of
/// `len` elements `elem_stride` apart, when cuBLAS can read it as row-major (None otherwise).
fn leading_dim(
    (lines, line_stride, len, elem_stride): (usize, usize, usize, usize),
) -> Option<usize> {
    if elem_stride != 1 && len != 1 {
        return None;
    }
    let ld = if lines == 1 {
        len.max(1)
    } else {
        line_stride.max(len).max(1)
    };
    (lines == 1 || line_stride >= len).then_some(ld)
}

/// The GEMM form of one operand `[batch..., rows, cols]` (its layout already broadcast),
/// copying it to a contiguous tensor only when cuBLAS cannot read the view.
fn operand(t: &Tensor, l: &Layout, rows: usize, cols: usize) -> Result<(Tensor, GemmOperand)> {
    let nd = l.ndim();
    let (rs, cs) = (l.strides[nd - 2], l.strides[nd - 1]);
    let bs = batch_stride(&l.shape[..nd - 2], &l.strides[..nd - 2]);
    let size = t.dtype().size() as u64;
    let base = t.storage().device_ptr() + l.offset as u64 * size;
    if let Some(bs) = bs {
        // As stored (row-major), else as the transpose of a row-major matrix.
        for (trans, lines) in [(false, (rows, rs, cols, cs)), (true, (cols, cs, rows, rs))] {
            if let Some(ld) = leading_dim(lines) {
                return Ok((
                    t.clone(),
                    GemmOperand {
                        ptr: base,
                        trans,
                        ld,
                        batch_stride: bs,
                    },
                ));
            }
        }
    }
    let c = cast(&t.with_layout(l.clone()), t.dtype())?;
    let ptr = c.storage().device_ptr();
    Ok((
        c,
        GemmOperand {
            ptr,
            trans: false,
            ld: cols.max(1),
            batch_stride: rows * cols,
        },
    ))
}

/// The operand `t` viewed through `l`, in dtype `dt`: itself when it has it, else a
/// contiguous converted copy of the view (and that copy's layout).
fn in_dtype(t: &Tensor, l: Layout, dt: DType) -> Result<(Tensor, Layout)> {
    if t.dtype() == dt {
        return Ok((t.clone(), l));
    }
    let c = cast(&t.with_layout(l), dt)?;
    let l = c.layout().clone();
    Ok((c, l))
}

/// `a @ b` through cuBLAS for CUDA tensors already checked: `a` `[..., m, k]` and `b`
/// `[..., k, n]` broadcast to the `batch` dims (as layouts, no copy); the result is a
/// contiguous `[batch..., m, n]` tensor of dtype `dt`.
pub(crate) fn matmul(
    a: &Tensor,
    b: &Tensor,
    batch: &[usize],
    (m, n, k): (usize, usize, usize),
    dt: DType,
) -> Result<Tensor> {
    let out_shape = [batch, &[m, n]].concat();
    let al = a.layout().broadcast_to(&[batch, &[m, k]].concat())?;
    let bl = b.layout().broadcast_to(&[batch, &[k, n]].concat())?;
    let dev = ordinal(a)?;
    if !dt.is_float() {
        bail!(
            DType,
            "matmul on CUDA supports floating-point tensors, got {dt} (PyTorch has no integer CUDA matmul either)"
        );
    }
    let (a, al) = in_dtype(a, al, dt)?;
    let (b, bl) = in_dtype(b, bl, dt)?;
    let out = empty(dev, dt, &out_shape)?;
    let batch: usize = batch.iter().product();
    if out.numel() == 0 {
        return Ok(out);
    }
    if k == 0 {
        super::fill(&out, 0.0)?;
        return Ok(out);
    }
    let (_ka, ga) = operand(&a, &al, m, k)?;
    let (_kb, gb) = operand(&b, &bl, k, n)?;
    let g = Gemm {
        dtype: dt,
        batch,
        m,
        n,
        k,
        a: ga,
        b: gb,
        c: out.storage().device_ptr(),
        ldc: n,
        c_batch_stride: m * n,
        accumulate: false,
    };
    // SAFETY: the operands cover their views (kept alive by `_ka`/`_kb` until the call has
    // been queued; freed blocks are only reused by later work on the same stream).
    unsafe { backend(dev)?.gemm(&g)? };
    Ok(out)
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::batch_stride;

    fn batch_dims_collapse_when_strides_allow() {
        assert_eq!(batch_stride(&[], &[]), Some(0));
        assert_eq!(batch_stride(&[2, 3], &[60, 20]), Some(20));
        assert_eq!(batch_stride(&[2, 3], &[0, 0]), Some(0));
        assert_eq!(batch_stride(&[2, 1, 3], &[60, 7, 20]), Some(20));
        assert_eq!(batch_stride(&[2, 3], &[20, 60]), None);
        assert_eq!(batch_stride(&[2, 3], &[0, 20]), None);
    }

    crate::self_test::cases!(batch_dims_collapse_when_strides_allow);
}
