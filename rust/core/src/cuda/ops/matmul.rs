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

/// The GEMM form of one operand `[batch..., rows, cols]` (its layout already broadcast),
/// copying it to a contiguous tensor only when cuBLAS cannot read the view.
fn operand(t: &Tensor, l: &Layout, rows: usize, cols: usize) -> Result<(Tensor, GemmOperand)> {
    let nd = l.ndim();
    let (rs, cs) = (l.strides[nd - 2], l.strides[nd - 1]);
    let bs = batch_stride(&l.shape[..nd - 2], &l.strides[..nd - 2]);
    let size = t.dtype().size() as u64;
    let base = t.storage().device_ptr() + l.offset as u64 * size;
    if let Some(bs) = bs {
        if cs == 1 || cols == 1 {
            let ld = if rows == 1 {
                cols.max(1)
            } else {
                rs.max(cols).max(1)
            };
            if rows == 1 || rs >= cols {
                return Ok((
                    t.clone(),
                    GemmOperand {
                        ptr: base,
                        trans: false,
                        ld,
                        batch_stride: bs,
                    },
                ));
            }
        }
        if rs == 1 || rows == 1 {
            let ld = if cols == 1 {
                rows.max(1)
            } else {
                cs.max(rows).max(1)
            };
            if cols == 1 || cs >= rows {
                return Ok((
                    t.clone(),
                    GemmOperand {
                        ptr: base,
                        trans: true,
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

/// `a @ b` for CUDA tensors already checked and broadcast: `al` is `[batch..., m, k]`, `bl`
/// is `[batch..., k, n]`; the result is a contiguous `[batch..., m, n]` tensor of dtype `dt`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    a: &Tensor,
    al: &Layout,
    b: &Tensor,
    bl: &Layout,
    out_shape: &[usize],
    (m, n, k): (usize, usize, usize),
    dt: DType,
) -> Result<Tensor> {
    let dev = ordinal(a)?;
    if !dt.is_float() {
        bail!(
            DType,
            "matmul on CUDA supports floating-point tensors, got {dt} (PyTorch has no integer CUDA matmul either)"
        );
    }
    let (a, al) = if a.dtype() == dt {
        (a.clone(), al.clone())
    } else {
        let c = cast(&a.with_layout(al.clone()), dt)?;
        let l = c.layout().clone();
        (c, l)
    };
    let (b, bl) = if b.dtype() == dt {
        (b.clone(), bl.clone())
    } else {
        let c = cast(&b.with_layout(bl.clone()), dt)?;
        let l = c.layout().clone();
        (c, l)
    };
    let out = empty(dev, dt, out_shape)?;
    let batch: usize = out_shape[..out_shape.len() - 2].iter().product();
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

#[cfg(test)]
mod tests {
    use super::batch_stride;

    #[test]
    fn batch_dims_collapse_when_strides_allow() {
        assert_eq!(batch_stride(&[], &[]), Some(0));
        assert_eq!(batch_stride(&[2, 3], &[60, 20]), Some(20));
        assert_eq!(batch_stride(&[2, 3], &[0, 0]), Some(0));
        assert_eq!(batch_stride(&[2, 1, 3], &[60, 7, 20]), Some(20));
        assert_eq!(batch_stride(&[2, 3], &[20, 60]), None);
        assert_eq!(batch_stride(&[2, 3], &[0, 20]), None);
    }
}
