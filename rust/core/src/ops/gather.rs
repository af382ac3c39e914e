//! Materialising strided views fast: the copy behind `contiguous()`, `data()` and casts of
//! non-contiguous tensors. The view's dims are merged first; then whole rows are copied with
//! `copy_from_slice` when the innermost dim is contiguous, and a transposed pair of dims (the
//! common `x.t()` / permuted-heads case) goes through cache-sized tiles instead of a stride-n
//! walk per element. Large copies split over rows with rayon.

use crate::layout::Layout;
use crate::Element;
use rayon::prelude::*;

/// Tile edge of the blocked transpose. A tile reads one cache line from each of 8 source
/// rows and writes 8 destination rows: where the rows are a multiple of 4 KiB apart (a
/// 1024-wide float32 matrix) every line of a tile lands in one L1 set, and 8 lines fit its
/// ways where 32 (a 32 x 32 tile) thrashed: `x.t().contiguous()` at 1024 x 1024 took 2.7 ms,
/// with 8 x 8 tiles 0.7 ms.
const TILE: usize = 8;
/// Below this many elements the copy stays on the calling thread.
const PAR_MIN: usize = 1 << 16;

/// Offsets of the outer dims (all but the last `inner` merged dims), in row-major order.
pub(crate) fn outer_offsets(dims: &[(usize, usize)], base: usize) -> Vec<usize> {
    let mut offs = vec![base];
    for &(n, s) in dims {
        let mut next = Vec::with_capacity(offs.len() * n);
        for &o in &offs {
            for i in 0..n {
                next.push(o + i * s);
            }
        }
        offs = next;
    }
    offs
}

/// Copies the `rows x cols` block at `src[o + r * rs + c * cs]` into `dst` (row-major
/// `rows x cols`), tile by tile, each tile's destination written along its rows.
#[inline]
fn copy_block<T: Copy>(
    src: &[T],
    o: usize,
    (rs, cs): (usize, usize),
    rows: usize,
    cols: usize,
    dst: &mut [T],
) {
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for r in r0..r1 {
                let row = &mut dst[r * cols + c0..r * cols + c1];
                let base = o + r * rs + c0 * cs;
                for (k, d) in row.iter_mut().enumerate() {
                    *d = src[base + k * cs];
                }
            }
        }
    }
}

/// Writes the transpose of the row-major `rows x cols` matrix `src` into `dst` (row-major
/// `cols x rows`), tile by tile.
pub(crate) fn transpose_into<T: Copy>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    copy_block(src, 0, (1, cols), cols, rows, &mut dst[..rows * cols]);
}

/// The elements of the view `l` of `s`, row-major, in a new vector.
pub fn gather_strided<T: Element>(s: &[T], l: &Layout) -> Vec<T> {
    let n = l.numel();
    if n == 0 {
        return Vec::new();
    }
    let dims = l.merged_dims();
    if dims.is_empty() {
        return vec![s[l.offset]];
    }
    if dims.iter().all(|&(_, st)| st == 0) {
        return vec![s[l.offset]; n]; // one element broadcast (`expand` of a scalar): a fill
    }
    let (last_n, last_s) = dims[dims.len() - 1];
    if last_s == 1 {
        // Contiguous rows: one memcpy per row, straight into the new vector (zeroing it first
        // was a pass of its own, 1% of a bfloat16 GPT step through its attention inputs).
        let outer = outer_offsets(&dims[..dims.len() - 1], l.offset);
        debug_assert_eq!(outer.len() * last_n, n);
        let mut out: Vec<T> = Vec::with_capacity(n);
        let dst = &mut out.spare_capacity_mut()[..n];
        let fill = |(rows, offs): (&mut [std::mem::MaybeUninit<T>], &[usize])| {
            for (row, &o) in rows.chunks_mut(last_n).zip(offs) {
                row.write_copy_of_slice(&s[o..o + last_n]);
            }
        };
        if n >= PAR_MIN && crate::threads::split() {
            // A few groups of whole rows per thread (a rayon task per short row cost more
            // than its copy: GPT's heads merge back in rows of 64 elements).
            let per = outer.len().div_ceil(crate::threads::get() * 4);
            let groups = dst
                .chunks_mut(per * last_n)
                .zip(outer.chunks(per))
                .collect();
            crate::cpu::team::for_each_halves(groups, fill);
        } else {
            fill((dst, &outer));
        }
        // SAFETY: the rows cover all `n` slots (one per outer offset, `last_n` each), and
        // each was written above.
        unsafe { out.set_len(n) };
        return out;
    }
    let mut out: Vec<T> = vec![T::zero(); n];
    if dims.len() >= 2 {
        // The last two merged dims as a (rows x cols) block per outer index, read in tiles so
        // both the strided source and the destination stay in cache.
        let (rows, rs) = dims[dims.len() - 2];
        let (cols, cs) = (last_n, last_s);
        let outer = outer_offsets(&dims[..dims.len() - 2], l.offset);
        let block = rows * cols;
        let fill = |(dst, o): (&mut [T], &usize)| copy_block(s, *o, (rs, cs), rows, cols, dst);
        if n >= PAR_MIN && crate::threads::split() && outer.len() > 1 {
            out.par_chunks_mut(block)
                .zip(outer.par_iter())
                .for_each(fill);
        } else if n >= PAR_MIN && crate::threads::split() {
            // One big block: split its rows over threads.
            let o = outer[0];
            let rows_per = rows.div_ceil(crate::threads::get() * 4).max(TILE);
            out.par_chunks_mut(rows_per * cols)
                .enumerate()
                .for_each(|(i, dst)| {
                    let r0 = i * rows_per;
                    let rr = dst.len() / cols;
                    copy_block(s, o + r0 * rs, (rs, cs), rr, cols, dst);
                });
        } else {
            out.chunks_mut(block).zip(outer.iter()).for_each(fill);
        }
        return out;
    }
    // One strided dim.
    for (i, v) in out.iter_mut().enumerate() {
        *v = s[l.offset + i * last_s];
    }
    out
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn reference(s: &[f32], l: &Layout) -> Vec<f32> {
        l.offsets().map(|o| s[o]).collect()
    }

    fn matches_the_offset_walk_for_many_views() {
        let s: Vec<f32> = (0..5000).map(|i| i as f32).collect();
        let base = Layout::contiguous(&[7, 33, 20]);
        let views = vec![
            base.clone(),
            base.transpose(1, 2),
            base.transpose(0, 2),
            base.permute(&[2, 0, 1]).unwrap(),
            base.slice(1, 3, 20, 2),
            base.slice(2, 1, 10, 3).transpose(0, 1),
            Layout::contiguous(&[20]).broadcast_to(&[7, 20]).unwrap(),
            Layout::contiguous(&[7, 1]).broadcast_to(&[7, 20]).unwrap(),
            Layout::contiguous(&[300, 16]).transpose(0, 1),
            Layout::contiguous(&[1]).broadcast_to(&[3, 4]).unwrap(),
            Layout::contiguous(&[]),
        ];
        let mut t = vec![0f32; 33 * 70];
        transpose_into(&s[..33 * 70], 33, 70, &mut t);
        assert_eq!(
            t,
            reference(&s, &Layout::contiguous(&[33, 70]).transpose(0, 1))
        );
        for l in views {
            assert_eq!(gather_strided(&s, &l), reference(&s, &l), "{l:?}");
        }
        // Large enough to take the parallel paths.
        let big: Vec<f32> = (0..(600 * 500)).map(|i| i as f32).collect();
        for l in [
            Layout::contiguous(&[600, 500]).transpose(0, 1),
            Layout::contiguous(&[6, 100, 500]).transpose(1, 2),
            Layout::contiguous(&[600, 500]).slice(1, 0, 400, 1),
        ] {
            assert_eq!(gather_strided(&big, &l), reference(&big, &l), "{l:?}");
        }
    }

    crate::self_test::cases!(matches_the_offset_walk_for_many_views);
}
