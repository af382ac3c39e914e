//! Copies and adds of many short, equally spaced rows: `dst[d0 + r*ds ..][..len] (+)=
//! src[s0 + r*ss ..][..len]` for `r < rows`. im2col and col2im are made of these, with rows
//! of a few to a few dozen elements, where a `memcpy` call costs more than the data. With
//! AVX-512, a copied row is whole 64-byte vectors and one byte-masked vector for the rest: no
//! call, no scalar tail, no read or write past the row.

use crate::Float;

/// `dst` rows = `src` rows.
pub(crate) fn copy_rows<T: Float>(
    src: &[T],
    s: Span,
    dst: &mut [T],
    d: Span,
    rows: usize,
    len: usize,
) {
    run::<T, false>(src, s, dst, d, rows, len);
}

/// `dst` rows += `src` rows.
pub(crate) fn add_rows<T: Float>(
    src: &[T],
    s: Span,
    dst: &mut [T],
    d: Span,
    rows: usize,
    len: usize,
) {
    run::<T, true>(src, s, dst, d, rows, len);
}

/// Where the rows of one operand are: first element and the distance between rows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub start: usize,
    pub stride: usize,
}

impl Span {
    pub(crate) fn new(start: usize, stride: usize) -> Self {
        Span { start, stride }
    }

    /// One past the last element touched by `rows` rows of `len`.
    fn end(self, rows: usize, len: usize) -> usize {
        self.start + (rows - 1) * self.stride + len
    }
}

fn run<T: Float, const ADD: bool>(
    src: &[T],
    s: Span,
    dst: &mut [T],
    d: Span,
    rows: usize,
    len: usize,
) {
    if rows == 0 || len == 0 {
        return;
    }
    // Every access below is inside these bounds.
    assert!(
        s.end(rows, len) <= src.len() && d.end(rows, len) <= dst.len(),
        "rows out of bounds"
    );
    // Adds stay plain loops: measured, masked vector adds are slower in col2im, where the
    // rows of neighbouring kernel taps overlap in `dst` and a load overlapping a recent masked
    // store cannot take its data from the store buffer.
    #[cfg(target_arch = "x86_64")]
    if !ADD && crate::simd::level() >= 2 {
        let size = std::mem::size_of::<T>();
        let bytes = |sp: Span| Span::new(sp.start * size, sp.stride * size);
        // SAFETY: the CPU has AVX-512F/BW (`level`); the byte spans are the element spans
        // bounded above.
        unsafe {
            avx512::copy_bytes(
                src.as_ptr().cast(),
                bytes(s),
                dst.as_mut_ptr().cast(),
                bytes(d),
                rows,
                len * size,
            )
        };
        return;
    }
    for r in 0..rows {
        let from = &src[s.start + r * s.stride..][..len];
        let to = &mut dst[d.start + r * d.stride..][..len];
        if ADD {
            for (a, &b) in to.iter_mut().zip(from) {
                *a += b;
            }
        } else {
            to.copy_from_slice(from);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Span;
    use std::arch::x86_64::*;

    /// Copies `rows` rows of `len` bytes.
    ///
    /// # Safety
    /// AVX-512F and BW available; every row inside its buffer.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn copy_bytes(
        src: *const u8,
        s: Span,
        dst: *mut u8,
        d: Span,
        rows: usize,
        len: usize,
    ) {
        let (full, tail) = (len / 64, len % 64);
        let mask: __mmask64 = if tail == 0 {
            0
        } else {
            u64::MAX >> (64 - tail)
        };
        for r in 0..rows {
            // SAFETY: (all below) offsets stay inside the row, which the caller bounds; masked
            // bytes are neither read nor written.
            unsafe {
                let sp = src.add(s.start + r * s.stride);
                let dp = dst.add(d.start + r * d.stride);
                for c in 0..full {
                    let v = _mm512_loadu_si512(sp.add(64 * c).cast());
                    _mm512_storeu_si512(dp.add(64 * c).cast(), v);
                }
                if tail > 0 {
                    let o = 64 * full;
                    let v = _mm512_maskz_loadu_epi8(mask, sp.add(o).cast());
                    _mm512_mask_storeu_epi8(dp.add(o).cast(), mask, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{add_rows, copy_rows, Span};

    fn check<T: crate::Float + std::fmt::Debug>(len: usize) {
        let src: Vec<T> = (0..200).map(|i| T::from_usize(i)).collect();
        let mut dst = vec![T::from_usize(1000); 300];
        let mut want = dst.clone();
        for r in 0..5 {
            for k in 0..len {
                want[7 + r * 41 + k] = src[3 + r * 13 + k];
            }
        }
        copy_rows(&src, Span::new(3, 13), &mut dst, Span::new(7, 41), 5, len);
        assert_eq!(dst, want, "copy len {len}");
        for r in 0..5 {
            for k in 0..len {
                want[7 + r * 41 + k] += src[3 + r * 13 + k];
            }
        }
        add_rows(&src, Span::new(3, 13), &mut dst, Span::new(7, 41), 5, len);
        assert_eq!(dst, want, "add len {len}");
    }

    #[test]
    fn rows_of_every_length_touch_only_their_elements() {
        for len in 0..=40 {
            check::<f32>(len);
            check::<f64>(len);
        }
    }
}
