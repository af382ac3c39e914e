//! In-place `+= -= *= /=` written straight into the destination's memory, for float32,
//! float64 and bfloat16 (widened to float32 per element, rounded once). The destination may be
//! a view whose rows are contiguous (a `split`/`narrow` of the last dims, a column block of a
//! matrix): the backward of `split` adds each piece's gradient into such a view of one shared
//! buffer, which the out-of-place path did as a new tensor and a strided copy back.

use crate::cpu::kernel::Computes;
use crate::cpu::lanes::SendPtr;
use crate::layout::Layout;
use crate::ops::binary::BinaryOp;
use crate::{DType, Result, Tensor};
use half::bf16;

/// Elements above which an in-place update is split over the threads.
const PAR_INPLACE: usize = 1 << 16;
/// Shortest row the strided path takes: shorter rows cost more in bookkeeping than the
/// out-of-place path's vectorised loops.
const MIN_ROW: usize = 16;

/// `d op= o` over one contiguous stretch, computed in `S::As` (`o` one element: a number).
#[inline(always)]
fn update_body<S: Computes>(d: &mut [S], o: &[S], op: BinaryOp, alpha: S::As) {
    macro_rules! apply {
        ($f:expr) => {
            if o.len() == 1 {
                let y = o[0].widen();
                d.iter_mut().for_each(|x| *x = S::narrow($f(x.widen(), y)));
            } else {
                d.iter_mut()
                    .zip(o)
                    .for_each(|(x, &y)| *x = S::narrow($f(x.widen(), y.widen())));
            }
        };
    }
    match op {
        BinaryOp::Add => apply!(|x: S::As, y: S::As| x + alpha * y),
        BinaryOp::Sub => apply!(|x: S::As, y: S::As| x - y),
        BinaryOp::Mul => apply!(|x: S::As, y: S::As| x * y),
        _ => apply!(|x: S::As, y: S::As| x / y),
    }
}

crate::multiversion!(fn update<S>(d: &mut [S], o: &[S], op: BinaryOp, alpha: S::As) where [S: Computes] => update_body);

/// The in-place fast path (`backend::Backend::binary_inplace`): the caller checked the dtypes,
/// the shapes (`other` is `dst`'s shape or a 0-d number), that nothing is recorded and that
/// `other` is not another view of `dst`'s elements. `false` leaves it to the out-of-place path.
pub(crate) fn binary_inplace(
    dst: &Tensor,
    other: &Tensor,
    op: BinaryOp,
    alpha: f64,
) -> Result<bool> {
    if !matches!(
        op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
    ) {
        return Ok(false);
    }
    // A permuted contiguous destination (`x.t().mul_(2)`) is updated in its memory order, with
    // `other` permuted alike so that elements still pair up: one contiguous run instead of the
    // out-of-place path's strided writes (1024 x 1024: 10 ms -> ~0.3 ms).
    let order = dst.layout().dense_permutation();
    let (dst_l, other_l) = match &order {
        Some(order) => (
            dst.layout().permute(order)?,
            (other.ndim() > 0)
                .then(|| other.layout().permute(order))
                .transpose()?,
        ),
        None => (
            dst.layout().clone(),
            (other.ndim() > 0).then(|| other.layout().clone()),
        ),
    };
    let Some(plan) = Stretches::plan(&dst_l, other_l.as_ref()) else {
        return Ok(false);
    };
    match dst.dtype() {
        DType::F32 => plan.run::<f32>(dst, other, op, alpha as f32),
        DType::F64 => plan.run::<f64>(dst, other, op, alpha),
        DType::BF16 => plan.run::<bf16>(dst, other, op, alpha as f32),
        _ => return Ok(false),
    }
    dst.bump_version();
    Ok(true)
}

/// The update cut into contiguous stretches, each `(start in dst, start in other, length)`
/// (`other`'s start is unused for a number).
struct Stretches(Vec<(usize, usize, usize)>);

impl Stretches {
    /// The stretches of `dst` and `other` (`None` for a number), or `None` when a layout has
    /// no contiguous rows of at least `MIN_ROW` elements or `dst`'s rows overlap.
    fn plan(dst: &Layout, other: Option<&Layout>) -> Option<Stretches> {
        let n = dst.numel();
        let run = match other {
            Some(o) => contiguous_run(dst).min(contiguous_run(o)),
            None => contiguous_run(dst),
        };
        if n == 0 || run == 0 || (run < MIN_ROW && run != n) {
            return None;
        }
        // One long run (both contiguous): cut so the threads share it.
        let len = if run == n && n >= PAR_INPLACE {
            n.div_ceil(crate::threads::get() * 4).max(4096)
        } else {
            run
        };
        let dst_starts = row_starts(dst, run);
        let other_starts = other.map_or_else(|| vec![0; dst_starts.len()], |o| row_starts(o, run));
        if !crate::cpu::rows::disjoint(&dst_starts, run) {
            return None;
        }
        let cuts = (0..run).step_by(len);
        let stretches = dst_starts
            .iter()
            .zip(&other_starts)
            .flat_map(|(&d, &o)| cuts.clone().map(move |j| (d + j, o + j, len.min(run - j))))
            .collect();
        Some(Stretches(stretches))
    }

    /// Applies the update, the stretches split between the threads when there are many
    /// elements.
    fn run<S: Computes>(&self, dst: &Tensor, other: &Tensor, op: BinaryOp, alpha: S::As) {
        let o = other.storage().as_slice::<S>();
        let number = (other.ndim() == 0).then(|| [o[other.layout().offset]]);
        // SAFETY: only `dst`'s own elements are written, through stretches that `plan`
        // checked are disjoint; `other` does not share `dst`'s storage (the caller's check).
        let d = &SendPtr(unsafe { dst.storage().as_mut_slice::<S>() }.as_mut_ptr());
        let apply = |range: std::ops::Range<usize>| {
            for &(ds, os, len) in &self.0[range] {
                // SAFETY: `plan` keeps every stretch inside `dst`'s view, disjoint from the rest.
                let dr = unsafe { std::slice::from_raw_parts_mut(d.0.add(ds), len) };
                let or = match &number {
                    Some(y) => &y[..],
                    None => &o[os..os + len],
                };
                update(dr, or, op, alpha);
            }
        };
        let count = self.0.len();
        if dst.numel() >= PAR_INPLACE && count > 1 && crate::threads::split() {
            let per = count.div_ceil(crate::threads::get() * 4);
            let groups: Vec<_> = (0..count)
                .step_by(per)
                .map(|a| a..(a + per).min(count))
                .collect();
            crate::cpu::team::for_each_halves(groups, apply);
        } else {
            apply(0..count);
        }
    }
}

/// How many elements `l` holds contiguously from each row start: its last merged dim when
/// that has stride 1 (1 when every dim is 1), else 0.
fn contiguous_run(l: &Layout) -> usize {
    match l.merged_dims().last() {
        Some(&(n, 1)) => n,
        None => 1,
        _ => 0,
    }
}

/// Where each row of `run` elements of `l` starts, in row-major order (`run` divides
/// `contiguous_run(l)`: the two operands' runs are products of trailing dims of one shape).
fn row_starts(l: &Layout, run: usize) -> Vec<usize> {
    let mut dims = l.merged_dims();
    let last = match dims.pop() {
        Some((last, 1)) => last,
        _ => 1,
    };
    let mut starts = Vec::with_capacity(l.numel() / run);
    for base in crate::ops::gather::outer_offsets(&dims, l.offset) {
        starts.extend((0..last).step_by(run).map(|j| base + j));
    }
    starts
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// Every element of `l` in row-major order, as the stretches list them.
    fn covered(s: &Stretches) -> Vec<usize> {
        s.0.iter().flat_map(|&(d, _, len)| d..d + len).collect()
    }

    fn stretches_walk_a_views_rows_once_in_order() {
        // A column block of a matrix: rows of 20, 48 apart, against a contiguous operand.
        let view = Layout::contiguous(&[5, 48]).slice(1, 8, 20, 1);
        let plan = Stretches::plan(&view, Some(&Layout::contiguous(&[5, 20]))).expect("rows");
        let want: Vec<_> = (0..5).map(|r| (r * 48 + 8, r * 20, 20)).collect();
        assert_eq!(plan.0, want);
        assert_eq!(covered(&plan), view.offsets().collect::<Vec<_>>());
        // Two strided operands: the shorter run (the other's rows of 16) cuts both.
        let other = Layout::contiguous(&[5, 2, 32]).slice(2, 0, 16, 1);
        let dst = Layout::contiguous(&[5, 40]).slice(1, 4, 32, 1);
        let (dst, other) = (dst.view(&[5, 2, 16]).expect("a view"), other);
        let plan = Stretches::plan(&dst, Some(&other)).expect("rows");
        assert!(plan.0.iter().all(|&(_, _, len)| len == 16));
        assert_eq!(covered(&plan), dst.offsets().collect::<Vec<_>>());
        let others: Vec<_> = plan.0.iter().flat_map(|&(_, o, len)| o..o + len).collect();
        assert_eq!(others, other.offsets().collect::<Vec<_>>());
    }

    fn one_long_run_is_cut_for_the_threads_and_covered_exactly() {
        let n = (1 << 17) + 5;
        let l = Layout::contiguous(&[n]);
        let plan = Stretches::plan(&l, None).expect("a run");
        assert_eq!(covered(&plan), (0..n).collect::<Vec<_>>());
        assert!(plan.0.len() > 1, "cut for the threads");
    }

    fn short_or_overlapping_rows_are_left_to_the_general_path() {
        let narrow = Layout::contiguous(&[8, 40]).slice(1, 0, 8, 1);
        assert!(Stretches::plan(&narrow, None).is_none());
        let overlapping = Layout {
            shape: vec![4, 32],
            strides: vec![16, 1],
            offset: 0,
        };
        assert!(Stretches::plan(&overlapping, None).is_none());
        let stepped = Layout::contiguous(&[4, 64]).slice(1, 0, 32, 2);
        assert!(Stretches::plan(&stepped, None).is_none());
        assert!(Stretches::plan(&Layout::contiguous(&[0, 32]), None).is_none());
    }

    crate::self_test::cases!(
        stretches_walk_a_views_rows_once_in_order,
        one_long_run_is_cut_for_the_threads_and_covered_exactly,
        short_or_overlapping_rows_are_left_to_the_general_path
    );
}
