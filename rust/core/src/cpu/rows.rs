//! Copies and adds of many short, equally spaced rows: `dst[d0 + r*ds ..][..len] (+)=
//! src[s0 + r*ss ..][..len]` for `r < rows`. im2col and col2im are made of these, with rows
//! of a few to a few dozen elements, where a `memcpy` call costs more than the data. With
//! AVX-512, a copied row is whole 64-byte vectors and one byte-masked vector for the rest: no
//! call, no scalar tail, no read or write past the row.

use crate::Float;

/// `dst` rows = `src` rows.
pub(crate) fn copy_rows<T: Float>(src: &[T], dst: &mut [T], rows: Rows) {
    run::<T, false>(src, dst, rows);
}

/// `dst` rows += `src` rows.
pub(crate) fn add_rows<T: Float>(src: &[T], dst: &mut [T], rows: Rows) {
    run::<T, true>(src, dst, rows);
}

/// True when no two rows of `run` elements starting at `starts` share an element: a view's
/// rows that threads may write at once.
pub(crate) fn disjoint(starts: &[usize], run: usize) -> bool {
    let mut sorted = starts.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[1] - w[0] >= run)
}

/// One batch of row transfers: `count` rows of `len` elements, read at `src`, written at `dst`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows {
    pub src: Span,
    pub dst: Span,
    pub count: usize,
    pub len: usize,
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

    /// One past the last element touched by `rows` rows of `len` (at least one row).
    fn end(self, rows: usize, len: usize) -> usize {
        self.start + (rows - 1) * self.stride + len
    }

    /// Where row `r` starts.
    fn row(self, r: usize) -> usize {
        self.start + r * self.stride
    }
}

fn run<T: Float, const ADD: bool>(src: &[T], dst: &mut [T], rows: Rows) {
    let Rows {
        src: s,
        dst: d,
        count,
        len,
    } = rows;
    if count == 0 || len == 0 {
        return;
    }
    // Every access below is inside these bounds.
    assert!(
        s.end(count, len) <= src.len() && d.end(count, len) <= dst.len(),
        "rows out of bounds"
    );
    // Adds stay plain loops: measured, masked vector adds are slower in col2im, where the
    // rows of neighbouring kernel taps overlap in `dst` and a load overlapping a recent masked
    // store cannot take its data from the store buffer.
    #[cfg(target_arch = "x86_64")]
    if !ADD && crate::simd::level() >= 2 {
        let size = std::mem::size_of::<T>();
        let bytes = |sp: Span| Span::new(sp.start * size, sp.stride * size);
        let in_bytes = Rows {
            src: bytes(s),
            dst: bytes(d),
            count,
            len: len * size,
        };
        // SAFETY: the CPU has AVX-512F/BW (`level`); the byte spans are the element spans
        // bounded above.
        unsafe { avx512::copy_bytes(src.as_ptr().cast(), dst.as_mut_ptr().cast(), in_bytes) };
        return;
    }
    for r in 0..count {
        let from = &src[s.row(r)..][..len];
        let to = &mut dst[d.row(r)..][..len];
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
    use super::Rows;
    use std::arch::x86_64::*;

    /// Copies `rows` (spans and lengths in bytes).
    ///
    /// # Safety
    /// AVX-512F and BW available; every row inside its buffer.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn copy_bytes(src: *const u8, dst: *mut u8, rows: Rows) {
        let (full, tail) = (rows.len / 64, rows.len % 64);
        let mask: __mmask64 = if tail == 0 {
            0
        } else {
            u64::MAX >> (64 - tail)
        };
        for r in 0..rows.count {
            // SAFETY: (all below) offsets stay inside the row, which the caller bounds; masked
            // bytes are neither read nor written.
            unsafe {
                let sp = src.add(rows.src.row(r));
                let dp = dst.add(rows.dst.row(r));
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

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::{add_rows, copy_rows, Rows, Span};

    fn check<T: crate::Float + std::fmt::Debug>(len: usize) {
        let src: Vec<T> = (0..200).map(|i| T::from_usize(i)).collect();
        let mut dst = vec![T::from_usize(1000); 300];
        let mut want = dst.clone();
        for r in 0..5 {
            for k in 0..len {
                want[7 + r * 41 + k] = src[3 + r * 13 + k];
            }
        }
        let rows = Rows {
            src: Span::new(3, 13),
            dst: Span::new(7, 41),
            count: 5,
            len,
        };
        copy_rows(&src, &mut dst, rows);
        assert_eq!(dst, want, "copy len {len}");
        for r in 0..5 {
            for k in 0..len {
                want[7 + r * 41 + k] += src[3 + r * 13 + k];
            }
        }
        add_rows(&src, &mut dst, rows);
        assert_eq!(dst, want, "add len {len}");
    }

    fn rows_of_every_length_touch_only_their_elements() {
        for len in 0..=40 {
            check::<f32>(len);
            check::<f64>(len);
        }
    }

    crate::self_test::cases!(rows_of_every_length_touch_only_their_elements);
}
