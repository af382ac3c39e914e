//! Fused attention on the CPU: flash-attention tiling with an online softmax, so no `[l, s]`
//! matrix is stored. A forward task takes `QB` query rows of one head and walks the keys in
//! tiles of `KB`; keys (and values) are transposed once per call (`transposed_heads`), so a row's scores
//! are `e` vector updates of `KB` lanes and the exponentials vectorise (`fastmath`). Products
//! with a tile run `RB` query rows at a time with independent sums in registers
//! (`tile_dots_rows`, `accumulate_group`, `combine_rows`). A backward task owns
//! one key/value head (it alone writes those gradient rows, and those of its query heads) and
//! recomputes the probabilities from the saved log-sum-exp. Both are compiled per SIMD level
//! (`multiversion!`).

use super::lanes::SendPtr;
use crate::backend::AttentionSaved;
use crate::ops::nn::attention::AttentionSpec;
use crate::rng::philox_unit;
use crate::{Float, Result, Tensor};

/// Query rows per forward task.
pub(super) const QB: usize = 32;
/// Keys per tile.
pub(super) const KB: usize = 64;

/// `KB` lanes folded to 16 with `f`, then the 16 halved pairwise (8, 4, 2, 1): a tree the
/// compiler turns into vector shuffles, where folding the 16 one by one was a chain of 16
/// dependent scalar steps per row and tile.
#[inline(always)]
fn lanes_tree<T: Float>(x: &[T; KB], f: impl Fn(T, T) -> T) -> T {
    let mut a: [T; 16] = x[..16].try_into().expect("16 lanes");
    for c in x[16..].chunks_exact(16) {
        for t in 0..16 {
            a[t] = f(a[t], c[t]);
        }
    }
    super::lanes::fold_lanes(a, f)
}

/// The largest of the `KB` lanes.
#[inline(always)]
fn lanes_max<T: Float>(x: &[T; KB]) -> T {
    lanes_tree(x, |a, b| if b > a { b } else { a })
}

/// The sum of the `KB` lanes.
#[inline(always)]
fn lanes_sum<T: Float>(x: &[T; KB]) -> T {
    lanes_tree(x, |a, b| a + b)
}

#[inline(always)]
fn axpy<T: Float, const F: bool>(acc: &mut [T], a: T, x: &[T]) {
    for (o, &v) in acc.iter_mut().zip(x) {
        *o = a.madd::<F>(v, *o);
    }
}

#[inline(always)]
fn dot<T: Float, const F: bool>(a: &[T], b: &[T]) -> T {
    a.iter()
        .zip(b)
        .fold(T::zero(), |s, (&x, &y)| x.madd::<F>(y, s))
}

/// Where one head's mask rows and dropout stream start.
#[derive(Clone, Copy)]
pub(super) struct HeadAt {
    /// Offset of element `(b, h, 0, 0)` in the mask.
    mask: usize,
    /// Philox index of probability `(0, 0)` of this head.
    drop: u64,
}

impl HeadAt {
    pub(super) fn new(sp: &AttentionSpec, b: usize, h: usize) -> HeadAt {
        HeadAt {
            mask: b * sp.mask_strides[0] + h * sp.mask_strides[1],
            drop: (((b * sp.hq + h) * sp.l) * sp.s) as u64,
        }
    }
}

/// Adds the mask to the scores of query `i` against keys `j0 .. j0 + n`.
#[inline(always)]
fn add_mask<T: Float>(
    sp: &AttentionSpec,
    mask: Option<&[T]>,
    at: HeadAt,
    i: usize,
    j0: usize,
    sc: &mut [T],
) {
    if let Some(m) = mask {
        let row = at.mask + i * sp.mask_strides[2];
        for (t, v) in sc.iter_mut().enumerate() {
            *v += m[row + (j0 + t) * sp.mask_strides[3]];
        }
    }
}

/// The dropout factor (0 or `1 / (1 - p)`) of probability `(i, j)`.
#[inline(always)]
fn keep_factor<T: Float>(sp: &AttentionSpec, at: HeadAt, i: usize, j: usize) -> T {
    let u = philox_unit(sp.seed, 0, at.drop + (i * sp.s + j) as u64);
    if u >= sp.dropout_p {
        T::from_f64(1.0 / (1.0 - sp.dropout_p))
    } else {
        T::zero()
    }
}

/// The inputs of one head, as slices of the contiguous operands.
struct Head<'a, T> {
    /// This task's query rows and the head's key and value rows, each row `qs`, `ks`, `vs`
    /// elements after the one before (the operands may be strided views).
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    qs: usize,
    ks: usize,
    vs: usize,
    /// The head's keys transposed (`transposed_heads`), so key tiles are read in place.
    kt: &'a [T],
    at: HeadAt,
}

impl<'a, T> Head<'a, T> {
    /// Query head `bh` from its row `i0` on, with the key/value head it reads (grouped queries
    /// share one) and that head's transposed keys out of `kts` (`transposed_heads`).
    fn of(
        sp: &AttentionSpec,
        [q, k, v]: [&HeadView<'a, T>; 3],
        bh: usize,
        i0: usize,
        kts: &'a [T],
    ) -> Self {
        let (b, h) = (bh / sp.hq, bh % sp.hq);
        let kh = b * sp.hk + h / sp.group();
        let kt_len = sp.e * padded_keys(sp.s);
        let ((qh, qs), (k, ks), (v, vs)) = (q.head(bh), k.head(kh), v.head(kh));
        Head {
            q: &qh[(i0 * qs).min(qh.len())..],
            k,
            v,
            qs,
            ks,
            vs,
            kt: &kts[kh * kt_len..(kh + 1) * kt_len],
            at: HeadAt::new(sp, b, h),
        }
    }
}

/// Query rows whose scores one `tile_dots_rows` call computes (4 x `KB` accumulators fill 16
/// AVX-512 registers in float32).
pub(super) const RB: usize = 4;

/// `acc[r][t] = sum_d x[r][d] * tile[d][t]` for `RB` rows of `x` (`[RB, width]`, already
/// scaled) against the `KB` lanes of a transposed tile whose lane `d` starts at
/// `tile[d * stride]`: each tile lane loaded once for `RB` rows.
#[inline(always)]
fn tile_dots_rows<T: Float, const F: bool>(
    x: &[T],
    width: usize,
    tile: &[T],
    stride: usize,
    acc: &mut [[T; KB]; RB],
) {
    // Rows sliced to `width` up front, so indexing them by `d < width` needs no checks.
    let xr: [&[T]; RB] = std::array::from_fn(|r| &x[r * width..(r + 1) * width]);
    let mut a = [[T::zero(); KB]; RB];
    for d in 0..width {
        let lane: &[T; KB] = tile[d * stride..d * stride + KB]
            .try_into()
            .expect("KB lanes");
        for (ar, xrow) in a.iter_mut().zip(&xr) {
            let xv = xrow[d];
            for t in 0..KB {
                ar[t] = xv.madd::<F>(lane[t], ar[t]);
            }
        }
    }
    *acc = a;
}

/// `sum_{t < n} p[r][t] * x[t][c0 .. c0 + L]` for the `RB` (= 4) rows of `p`, `x`'s rows
/// `xs` apart. The four rows are written out so that each lane loop holds four independent sums
/// the compiler keeps in vector registers (a loop over the rows left them on the stack).
#[inline(always)]
fn group_product<T: Float, const L: usize, const F: bool>(
    p: &[[T; KB]; RB],
    n: usize,
    x: &[T],
    xs: usize,
    c0: usize,
) -> [[T; L]; RB] {
    const { assert!(RB == 4) };
    let (mut a0, mut a1, mut a2, mut a3) = (
        [T::zero(); L],
        [T::zero(); L],
        [T::zero(); L],
        [T::zero(); L],
    );
    for t in 0..n.min(KB) {
        let lane: &[T; L] = x[t * xs + c0..t * xs + c0 + L].try_into().expect("L lanes");
        let (p0, p1, p2, p3) = (p[0][t], p[1][t], p[2][t], p[3][t]);
        for u in 0..L {
            a0[u] = p0.madd::<F>(lane[u], a0[u]);
            a1[u] = p1.madd::<F>(lane[u], a1[u]);
            a2[u] = p2.madd::<F>(lane[u], a2[u]);
            a3[u] = p3.madd::<F>(lane[u], a3[u]);
        }
    }
    [a0, a1, a2, a3]
}

/// `acc[r][c0 .. c0 + L] += sums[r]` for the first `rows` rows of `acc` (`w` wide). A
/// function, not a closure, so that it is compiled with its caller's SIMD level.
#[inline(always)]
fn add_rows<T: Float, const L: usize>(
    acc: &mut [T],
    w: usize,
    c0: usize,
    sums: &[[T; L]; RB],
    rows: usize,
) {
    for (r, sr) in sums.iter().enumerate().take(rows) {
        for (o, &v) in acc[r * w + c0..r * w + c0 + L].iter_mut().zip(sr) {
            *o += v;
        }
    }
}

/// `acc[r] += sum_{t < n} p[r][t] * x[t]` for the first `rows` of `RB` rows (`acc` is
/// `[rows, w]`, `x` is `n` rows of `w`, `xs` apart): the product of a probability (or score-gradient) block with
/// a value (or key) tile, each `x` row loaded once for the `RB` rows.
#[inline(always)]
fn accumulate_group<T: Float, const F: bool>(
    acc: &mut [T],
    rows: usize,
    w: usize,
    p: &[[T; KB]; RB],
    (x, xs): (&[T], usize),
    n: usize,
) {
    let mut c0 = 0;
    while c0 + 32 <= w {
        let sums = group_product::<T, 32, F>(p, n, x, xs, c0);
        add_rows(acc, w, c0, &sums, rows);
        c0 += 32;
    }
    if c0 + 16 <= w {
        let sums = group_product::<T, 16, F>(p, n, x, xs, c0);
        add_rows(acc, w, c0, &sums, rows);
        c0 += 16;
    }
    if c0 < w {
        for r in 0..rows {
            for t in 0..n {
                axpy::<T, F>(
                    &mut acc[r * w + c0..(r + 1) * w],
                    p[r][t],
                    &x[t * xs + c0..t * xs + w],
                );
            }
        }
    }
}

/// The running softmax state of a group of `RB` query rows (`group` of them real, the first
/// being query `i`) against the key tile at `j0` (`kb` keys): each row's max `m` of its scores
/// so far, the sum `l` of `exp(score - m)`, and (in `out`, `[group, ev]`) the unnormalised
/// output, rescaled here to the new max. On entry `sc` holds the scores; on exit each row's
/// (kept) weights, zero past the keys it sees, for the caller to multiply with the value tile
/// for the whole group (`accumulate_group`). Returns how many keys the group sees. The rows'
/// rescaling factors are one vector exponential, not one scalar one per row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn online_group<T: Float, const F: bool>(
    sp: &AttentionSpec,
    at: HeadAt,
    (i, j0, kb, group): (usize, usize, usize, usize),
    sc: &mut [[T; KB]; RB],
    mask: Option<&[T]>,
    (m, l): (&mut [T], &mut [T]),
    out: &mut [T],
) -> usize {
    let ev = sp.ev;
    let mut ns = [0usize; RB];
    let mut mnew = [T::NEG_INF; RB];
    for u in 0..group {
        let n = if sp.causal {
            kb.min((i + u + 1).saturating_sub(j0))
        } else {
            kb
        };
        if n > 0 {
            add_mask(sp, mask, at, i + u, j0, &mut sc[u][..n]);
            sc[u][n..].fill(T::NEG_INF);
            mnew[u] = m[u].max(lanes_max(&sc[u]));
        }
        ns[u] = n;
    }
    // exp(m - mnew) per row in one 16-lane pass (unused lanes take exp(0)).
    let mut alpha = [T::zero(); 16];
    for u in 0..group {
        if mnew[u] != T::NEG_INF {
            alpha[u] = m[u] - mnew[u];
        }
    }
    for a in alpha.iter_mut() {
        *a = a.exp_with::<F>();
    }
    let mut nmax = 0;
    for (u, scu) in sc.iter_mut().enumerate() {
        if u >= group || ns[u] == 0 || mnew[u] == T::NEG_INF {
            // No key seen yet (or a row past the head's end): no weights.
            scu.fill(T::zero());
            continue;
        }
        if alpha[u] != T::one() {
            l[u] *= alpha[u];
            out[u * ev..(u + 1) * ev]
                .iter_mut()
                .for_each(|a| *a *= alpha[u]);
        }
        for v in scu.iter_mut() {
            *v = (*v - mnew[u]).exp_with::<F>();
        }
        l[u] += lanes_sum(scu);
        if sp.dropout_p > 0.0 {
            for (t, v) in scu[..ns[u]].iter_mut().enumerate() {
                *v *= keep_factor::<T>(sp, at, i + u, j0 + t);
            }
        }
        m[u] = mnew[u];
        nmax = nmax.max(ns[u]);
    }
    nmax
}

/// Rows `i0 ..` of one head: the normalised output (`out`, `[rows, ev]`) and the log-sum-exp.
#[inline(always)]
fn forward_rows<T: Float, const F: bool>(
    sp: &AttentionSpec,
    head: &Head<'_, T>,
    mask: Option<&[T]>,
    i0: usize,
    out: &mut [T],
    lse: &mut [T],
) {
    let (e, ev, rows) = (sp.e, sp.ev, lse.len());
    let scale = T::from_f64(sp.scale);
    let (mut m, mut l) = ([T::NEG_INF; QB], [T::zero(); QB]);
    let qs = padded_rows(head.q, rows, (e, head.qs), scale);
    let stride = padded_keys(sp.s);
    let mut sc = [[T::zero(); KB]; RB];
    out.fill(T::zero());
    let jmax = if sp.causal { sp.s.min(i0 + rows) } else { sp.s };
    let mut j0 = 0;
    while j0 < jmax {
        let kb = KB.min(jmax - j0);
        for r0 in (0..rows).step_by(RB) {
            let group = RB.min(rows - r0);
            if sp.causal && i0 + r0 + group <= j0 {
                continue;
            }
            tile_dots_rows::<T, F>(
                &qs[r0 * e..(r0 + RB) * e],
                e,
                &head.kt[j0..],
                stride,
                &mut sc,
            );
            let acc = &mut out[r0 * ev..(r0 + group) * ev];
            let rows_at = (i0 + r0, j0, kb, group);
            let state = (&mut m[r0..r0 + group], &mut l[r0..r0 + group]);
            let nmax = online_group::<T, F>(sp, head.at, rows_at, &mut sc, mask, state, acc);
            let vt = &head.v[j0 * head.vs..];
            accumulate_group::<T, F>(acc, group, ev, &sc, (vt, head.vs), nmax);
        }
        j0 += kb;
    }
    for r in 0..rows {
        let acc = &mut out[r * ev..(r + 1) * ev];
        if l[r] > T::zero() {
            let inv = T::one() / l[r];
            acc.iter_mut().for_each(|a| *a *= inv);
            lse[r] = m[r] + l[r].ln();
        } else if l[r].is_nan() {
            // A NaN score (or a +inf mask entry) poisons the row's softmax, as in PyTorch.
            acc.fill(l[r]);
            lse[r] = l[r];
        } else {
            acc.fill(T::zero());
            lse[r] = T::NEG_INF;
        }
    }
}

crate::multiversion!(fn forward_rows_simd<T>(sp: &AttentionSpec, head: &Head<'_, T>, mask: Option<&[T]>, i0: usize, out: &mut [T], lse: &mut [T]) where [T: Float] => forward_rows fused);

/// Rows per transposed head: `s` rounded up to whole key tiles.
pub(super) fn padded_keys(s: usize) -> usize {
    s.div_ceil(KB) * KB
}

/// Every key (or value) head (`[s, e]`) transposed to `[e, padded_keys(s)]`, zero past `s`:
/// built once per call, so row blocks (and, with grouped queries, every query head of a
/// key head) read their tiles in place instead of each transposing the tiles it visits.
pub(super) fn transposed_heads<T: Copy + Default + Send + Sync>(
    k: &HeadView<'_, T>,
    heads: usize,
    s: usize,
    e: usize,
) -> Vec<T> {
    let stride = padded_keys(s);
    let mut out = vec![T::default(); heads * e * stride];
    if stride > 0 && e > 0 {
        let heads: Vec<_> = out.chunks_mut(e * stride).enumerate().collect();
        crate::cpu::team::for_each_halves(heads, |(h, o)| {
            let (kh, ks) = k.head(h);
            transpose_head_simd(kh, (s, e, ks), stride, o)
        });
    }
    out
}

crate::multiversion!(pub(super) fn transpose_head_simd<T>(kh: &[T], rows: (usize, usize, usize), stride: usize, o: &mut [T]) where [T: Copy] => transpose_head);

/// Keys whose `d`-th features `transpose_head` gathers into one contiguous run.
const TB: usize = 16;

/// One head's `s` rows of `e` (`ks` apart) written as `e` runs of `stride`: `TB` rows at a time, so each
/// store is a contiguous run of `TB` lanes rather than one element `stride` apart (the
/// element-at-a-time loop cost about 5% of a GPT-mid step).
#[inline(always)]
fn transpose_head<T: Copy>(
    kh: &[T],
    (s, e, ks): (usize, usize, usize),
    stride: usize,
    o: &mut [T],
) {
    let full = s / TB * TB;
    for t0 in (0..full).step_by(TB) {
        let rows: [&[T]; TB] = std::array::from_fn(|j| &kh[(t0 + j) * ks..][..e]);
        for d in 0..e {
            let run: &mut [T] = &mut o[d * stride + t0..][..TB];
            for (slot, row) in run.iter_mut().zip(&rows) {
                *slot = row[d];
            }
        }
    }
    for t in full..s {
        for (d, &v) in kh[t * ks..][..e].iter().enumerate() {
            o[d * stride + t] = v;
        }
    }
}

/// `v` cut into `n` consecutive pieces of `len` (which may be 0).
pub(super) fn pieces<T>(mut v: &mut [T], n: usize, len: usize) -> Vec<&mut [T]> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (head, rest) = v.split_at_mut(len);
        out.push(head);
        v = rest;
    }
    out
}

/// A `[b, h, n, d]` operand as the kernels read it, in place: row `t` of head `(b, h)` starts
/// at `off + b * sb + h * sh + t * st` of the storage and its `d` elements are contiguous. So a
/// strided view (the heads of a fused `qkv` projection, split and transposed) costs no copy.
pub(super) struct HeadView<'a, T> {
    data: &'a [T],
    off: usize,
    sb: usize,
    sh: usize,
    st: usize,
    heads: usize,
    n: usize,
    d: usize,
}

impl<'a, T: crate::Element> HeadView<'a, T> {
    pub(super) fn of(t: &'a Tensor) -> Result<Self> {
        t.check_cpu()?;
        t.check_dtype::<T>()?;
        let l = t.layout();
        if l.ndim() != 4 || (l.shape[3] > 1 && l.strides[3] != 1) {
            crate::bail!(
                Shape,
                "attention kernels read [b, h, n, d] operands with contiguous rows, got shape {:?} strides {:?}",
                l.shape,
                l.strides
            );
        }
        Ok(HeadView {
            data: t.storage().as_slice::<T>(),
            off: l.offset,
            sb: l.strides[0],
            sh: l.strides[1],
            st: l.strides[2],
            heads: l.shape[1],
            n: l.shape[2],
            d: l.shape[3],
        })
    }
}

impl<'a, T> HeadView<'a, T> {
    /// A contiguous `[heads, n, d]` buffer.
    pub(super) fn packed(data: &'a [T], n: usize, d: usize) -> Self {
        let (off, sb, sh, heads) = (0, n * d, 0, 1);
        HeadView {
            data,
            off,
            sb,
            sh,
            st: d,
            heads,
            n,
            d,
        }
    }

    /// Head `bh` (`b * heads + h`): its rows from the first, and the distance between rows.
    pub(super) fn head(&self, bh: usize) -> (&'a [T], usize) {
        if self.n == 0 || self.d == 0 {
            return (&[], self.st);
        }
        let start = self.off + bh / self.heads * self.sb + bh % self.heads * self.sh;
        (
            &self.data[start..start + (self.n - 1) * self.st + self.d],
            self.st,
        )
    }
}

/// Whether a result laid out like `t` puts the heads inside the rows (`[b, n, h, d]` memory
/// viewed as `[b, h, n, d]`, as a split and transposed `qkv` projection is): the
/// transpose and reshape back to `[b, n, h * d]` that follow are then free.
fn heads_inner(t: &Tensor) -> bool {
    let l = t.layout();
    l.ndim() == 4 && l.shape[1] > 1 && l.shape[2] > 1 && l.strides[1] < l.strides[2]
}

/// Where row `i` of head `bh` of a `[b, heads, n, w]` result starts in its buffer.
fn result_row(inner: bool, bh: usize, heads: usize, (n, w): (usize, usize), i: usize) -> usize {
    let (b, h) = (bh / heads, bh % heads);
    if inner {
        ((b * n + i) * heads + h) * w
    } else {
        (bh * n + i) * w
    }
}

/// A `[b, heads, n, w]` result from its buffer (`inner`: laid out as `[b, n, heads, w]`).
fn result_tensor<T: crate::Element>(
    v: Vec<T>,
    inner: bool,
    [b, h, n, w]: [usize; 4],
) -> Result<Tensor> {
    if inner {
        Tensor::from_vec(v, &[b, n, h, w])?.transpose(1, 2)
    } else {
        Tensor::from_vec(v, &[b, h, n, w])
    }
}

/// Copies the `rows` rows of `src` (`w` wide, packed) to rows `i0 ..` of head `bh` of the
/// result buffer at `dst`.
///
/// # Safety
/// `dst` holds the whole `[b, heads, n, w]` result, and no other thread writes these rows.
unsafe fn scatter_rows<T: Copy>(
    dst: &SendPtr<T>,
    src: &[T],
    (inner, bh, heads): (bool, usize, usize),
    (n, w): (usize, usize),
    i0: usize,
) {
    if w == 0 {
        return;
    }
    for (r, row) in src.chunks_exact(w).enumerate() {
        let at = result_row(inner, bh, heads, (n, w), i0 + r);
        // SAFETY: in bounds of the result (the caller's contract); the rows are this task's.
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), dst.0.add(at), w) };
    }
}

/// One forward task: `QB` query rows from `i0` (fewer at a head's end) of query head `bh`,
/// which reads key head `kh`, with its blocks of the output and the log-sum-exp.
pub(super) struct RowTask<'a, O, L> {
    pub bh: usize,
    pub kh: usize,
    pub i0: usize,
    pub at: HeadAt,
    pub out: &'a mut [O],
    pub lse: &'a mut [L],
}

/// `out` (`[b, hq, l, ev]`) and `lse` (`[b, hq, l]`) cut into the forward's tasks.
pub(super) fn row_tasks<'a, O, L>(
    sp: &AttentionSpec,
    out: &'a mut [O],
    lse: &'a mut [L],
) -> Vec<RowTask<'a, O, L>> {
    let heads = sp.b * sp.hq;
    let mut tasks = Vec::new();
    let outs = pieces(out, heads, sp.l * sp.ev);
    for (bh, (o, ls)) in outs.into_iter().zip(pieces(lse, heads, sp.l)).enumerate() {
        let (b, h) = (bh / sp.hq, bh % sp.hq);
        let (kh, at) = (b * sp.hk + h / sp.group(), HeadAt::new(sp, b, h));
        for (blk, (out, lse)) in o.chunks_mut(QB * sp.ev).zip(ls.chunks_mut(QB)).enumerate() {
            let i0 = blk * QB;
            tasks.push(RowTask {
                bh,
                kh,
                i0,
                at,
                out,
                lse,
            });
        }
    }
    tasks
}

fn forward_typed<T: Float>(
    qkv: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    let [q, k, v] = qkv.map(HeadView::<T>::of);
    let (q, k, v) = (q?, k?, v?);
    let mask = mask.map(|m| m.data::<T>()).transpose()?;
    let md = mask.as_deref();
    let heads = sp.b * sp.hq;
    let inner = heads_inner(qkv[0]);
    // Every row is written below (no zeroing pass); the length is set once they are.
    let n = heads * sp.l * sp.ev;
    let mut out: Vec<T> = Vec::with_capacity(n);
    let mut lse = vec![T::NEG_INF; heads * sp.l];
    if n > 0 {
        let kts = transposed_heads(&k, sp.b * sp.hk, sp.s, sp.e);
        let dst = SendPtr(out.as_mut_ptr());
        let tasks: Vec<(usize, usize, &mut [T])> = lse
            .chunks_mut(sp.l)
            .enumerate()
            .flat_map(|(bh, ls)| {
                ls.chunks_mut(QB)
                    .enumerate()
                    .map(move |(c, l)| (bh, c * QB, l))
            })
            .collect();
        // Halves of the heads on the team's two threads (or rayon's).
        crate::cpu::team::for_each_halves(tasks, |(bh, i0, lse)| {
            let dst = &dst;
            let head = Head::of(sp, [&q, &k, &v], bh, i0, &kts);
            let mut acc = vec![T::zero(); lse.len() * sp.ev];
            forward_rows_simd(sp, &head, md, i0, &mut acc, lse);
            // SAFETY: `out` holds every head's `l` rows; this task alone has rows `i0..` of
            // head `bh`.
            unsafe { scatter_rows(dst, &acc, (inner, bh, sp.hq), (sp.l, sp.ev), i0) };
        });
    }
    // SAFETY: the tasks wrote all `n` elements (every row of every head).
    unsafe { out.set_len(n) };
    Ok((
        result_tensor(out, inner, [sp.b, sp.hq, sp.l, sp.ev])?,
        Tensor::from_vec(lse, &[sp.b, sp.hq, sp.l])?,
    ))
}

/// What one query head's backward reads besides its inputs: the forward's output and
/// log-sum-exp, the output gradient, and its key head's values transposed
/// (`transposed_heads`).
struct HeadGrad<'a, T> {
    /// The output and output-gradient rows, `os` and `gs` apart.
    out: &'a [T],
    os: usize,
    lse: &'a [T],
    g: &'a [T],
    gs: usize,
    vt: &'a [T],
}

/// `out[t][c0 .. c0 + L] += sum_r coef[r][t] * x[r][c0 .. c0 + L]` for `t < n`: the `RB` (= 4)
/// slices of `x` are loaded once into registers (named, so the compiler keeps them there) and
/// each output row is read and written once for the four contributions.
#[inline(always)]
fn combine_chunk<T: Float, const L: usize, const F: bool>(
    out: &mut [T],
    w: usize,
    coef: &[[T; KB]; RB],
    x: &[T],
    n: usize,
    c0: usize,
) {
    const { assert!(RB == 4) };
    let part = |r: usize| -> [T; L] { x[r * w + c0..r * w + c0 + L].try_into().expect("L lanes") };
    let (x0, x1, x2, x3) = (part(0), part(1), part(2), part(3));
    for t in 0..n.min(KB) {
        let (c0t, c1t, c2t, c3t) = (coef[0][t], coef[1][t], coef[2][t], coef[3][t]);
        if c0t == T::zero() && c1t == T::zero() && c2t == T::zero() && c3t == T::zero() {
            continue;
        }
        let o: &mut [T; L] = (&mut out[t * w + c0..t * w + c0 + L])
            .try_into()
            .expect("L lanes");
        for u in 0..L {
            let s = c1t.madd::<F>(x1[u], c0t.madd::<F>(x0[u], o[u]));
            o[u] = c3t.madd::<F>(x3[u], c2t.madd::<F>(x2[u], s));
        }
    }
}

/// `out[t] += sum_r coef[r][t] * x[r]` for the first `n` rows of `out` (`w` wide), `x` being
/// `RB` rows: each output row is read and written once for `RB` contributions.
#[inline(always)]
fn combine_rows<T: Float, const F: bool>(
    out: &mut [T],
    w: usize,
    coef: &[[T; KB]; RB],
    x: &[T],
    n: usize,
) {
    let mut c0 = 0;
    while c0 + 32 <= w {
        combine_chunk::<T, 32, F>(out, w, coef, x, n, c0);
        c0 += 32;
    }
    if c0 + 16 <= w {
        combine_chunk::<T, 16, F>(out, w, coef, x, n, c0);
        c0 += 16;
    }
    if c0 < w {
        for t in 0..n {
            let o = &mut out[t * w + c0..(t + 1) * w];
            for (r, xr) in x.chunks_exact(w).take(RB).enumerate() {
                axpy::<T, F>(o, coef[r][t], &xr[c0..]);
            }
        }
    }
}

/// `rows` rows of `x` (`w` wide, `xs` apart) times `factor`, packed and padded with zero rows
/// to a multiple of `RB`.
#[inline(always)]
fn padded_rows<T: Float>(x: &[T], rows: usize, (w, xs): (usize, usize), factor: T) -> Vec<T> {
    let mut out = vec![T::zero(); rows.div_ceil(RB) * RB * w];
    if w > 0 {
        for (r, o) in out.chunks_exact_mut(w).take(rows).enumerate() {
            for (o, &v) in o.iter_mut().zip(&x[r * xs..r * xs + w]) {
                *o = v * factor;
            }
        }
    }
    out
}

/// The backward's probabilities for `RB` query rows against one key tile: on entry `p` holds
/// the scores and `dp` the products `dout . v`; on exit `p` holds the kept probabilities
/// (dropout applied) and `dp` the score gradients `p * (dp * keep - delta)`. Rows past the
/// head's end, and fully masked rows, get zeros.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn tile_grads<T: Float, const F: bool>(
    sp: &AttentionSpec,
    (at, lse): (HeadAt, &[T]),
    mask: Option<&[T]>,
    (r0, j0, kb): (usize, usize, usize),
    delta: &[T],
    p: &mut [[T; KB]; RB],
    dp: &mut [[T; KB]; RB],
) {
    for u in 0..RB {
        let i = r0 + u;
        let n = match (i < sp.l, sp.causal) {
            (false, _) => 0,
            (true, true) => kb.min((i + 1).saturating_sub(j0)),
            (true, false) => kb,
        };
        if n == 0 || lse[i] == T::NEG_INF {
            p[u] = [T::zero(); KB];
            dp[u] = [T::zero(); KB];
            continue;
        }
        add_mask(sp, mask, at, i, j0, &mut p[u][..n]);
        p[u][n..].fill(T::NEG_INF);
        let lse = lse[i];
        for v in p[u].iter_mut() {
            *v = (*v - lse).exp_with::<F>();
        }
        if sp.dropout_p > 0.0 {
            for t in 0..n {
                let z = keep_factor::<T>(sp, at, i, j0 + t);
                dp[u][t] = p[u][t] * (dp[u][t] * z - delta[i]);
                p[u][t] *= z;
            }
        } else {
            for t in 0..KB {
                dp[u][t] = p[u][t] * (dp[u][t] - delta[i]);
            }
        }
        dp[u][n..].fill(T::zero());
    }
}

/// Adds one query head's contribution to the gradients of its queries (`dq`, `[l, e]`) and
/// of its key/value head (`dk` `[s, e]`, `dv` `[s, ev]`), `RB` query rows at a time.
#[inline(always)]
fn backward_head<T: Float, const F: bool>(
    sp: &AttentionSpec,
    head: &Head<'_, T>,
    st: &HeadGrad<'_, T>,
    mask: Option<&[T]>,
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) {
    let (e, ev, scale) = (sp.e, sp.ev, T::from_f64(sp.scale));
    // A loop, not a `map` closure: a closure may be compiled out of line without this
    // level's FMA, and its `mul_add` would then be a libm call per element.
    let mut delta = vec![T::zero(); sp.l];
    for (i, d) in delta.iter_mut().enumerate() {
        let (g, o) = (&st.g[i * st.gs..][..ev], &st.out[i * st.os..][..ev]);
        *d = dot::<T, F>(g, o);
    }
    let qs = padded_rows(head.q, sp.l, (e, head.qs), scale);
    let gs = padded_rows(st.g, sp.l, (ev, st.gs), T::one());
    let stride = padded_keys(sp.s);
    let (mut p, mut dp) = ([[T::zero(); KB]; RB], [[T::zero(); KB]; RB]);
    let mut j0 = 0;
    while j0 < sp.s {
        let kb = KB.min(sp.s - j0);
        let first = if sp.causal { j0 / RB * RB } else { 0 };
        for r0 in (first..sp.l).step_by(RB) {
            tile_dots_rows::<T, F>(
                &qs[r0 * e..(r0 + RB) * e],
                e,
                &head.kt[j0..],
                stride,
                &mut p,
            );
            tile_dots_rows::<T, F>(
                &gs[r0 * ev..(r0 + RB) * ev],
                ev,
                &st.vt[j0..],
                stride,
                &mut dp,
            );
            let (at, lse) = (head.at, st.lse);
            tile_grads::<T, F>(sp, (at, lse), mask, (r0, j0, kb), &delta, &mut p, &mut dp);
            combine_rows::<T, F>(&mut dv[j0 * ev..], ev, &p, &gs[r0 * ev..(r0 + RB) * ev], kb);
            combine_rows::<T, F>(&mut dk[j0 * e..], e, &dp, &qs[r0 * e..(r0 + RB) * e], kb);
            let group = RB.min(sp.l - r0);
            let kr = (&head.k[j0 * head.ks..], head.ks);
            accumulate_group::<T, F>(&mut dq[r0 * e..(r0 + group) * e], group, e, &dp, kr, kb);
        }
        j0 += kb;
    }
    dq.iter_mut().for_each(|v| *v *= scale);
}

crate::multiversion!(fn backward_head_simd<T>(sp: &AttentionSpec, head: &Head<'_, T>, st: &HeadGrad<'_, T>, mask: Option<&[T]>, dq: &mut [T], dk: &mut [T], dv: &mut [T]) where [T: Float] => backward_head fused);

fn backward_typed<T: Float>(
    saved: &AttentionSaved<'_>,
    g: &Tensor,
    sp: &AttentionSpec,
) -> Result<[Tensor; 3]> {
    let [q, k, v] = saved.qkv.map(HeadView::<T>::of);
    let (q, k, v) = (q?, k?, v?);
    let (o, gr) = (HeadView::<T>::of(saved.out)?, HeadView::<T>::of(g)?);
    let mask = saved.mask.map(|m| m.data::<T>()).transpose()?;
    let (md, ld) = (mask.as_deref(), saved.lse.data::<T>()?);
    let ld = &*ld;
    let (kv_heads, grp) = (sp.b * sp.hk, sp.group());
    let (lq, lk, lv) = (sp.l * sp.e, sp.s * sp.e, sp.s * sp.ev);
    // Each gradient is laid out as its input is (`heads_inner`).
    let inner = saved.qkv.map(heads_inner);
    // Written in full by the tasks below (no zeroing pass); lengths set once they are.
    let lens = [sp.b * sp.hq * lq, kv_heads * lk, kv_heads * lv];
    let [mut dq, mut dk, mut dv] = lens.map(Vec::<T>::with_capacity);
    let dst = [&mut dq, &mut dk, &mut dv].map(|d| SendPtr(d.as_mut_ptr()));
    let (kts, vts) = (
        transposed_heads(&k, kv_heads, sp.s, sp.e),
        transposed_heads(&v, kv_heads, sp.s, sp.ev),
    );
    let vt_len = sp.ev * padded_keys(sp.s);
    crate::cpu::team::for_each_halves((0..kv_heads).collect(), |kh| {
        let dst = &dst;
        let (mut dqs, mut dks, mut dvs) = (
            vec![T::zero(); grp * lq],
            vec![T::zero(); lk],
            vec![T::zero(); lv],
        );
        for r in 0..grp {
            let bh = kh * grp + r;
            let ((oh, os), (gh, gs)) = (o.head(bh), gr.head(bh));
            let head = Head::of(sp, [&q, &k, &v], bh, 0, &kts);
            let lse = &ld[bh * sp.l..(bh + 1) * sp.l];
            let vt = &vts[kh * vt_len..(kh + 1) * vt_len];
            let st = HeadGrad {
                out: oh,
                os,
                lse,
                g: gh,
                gs,
                vt,
            };
            let dqh = &mut dqs[r * lq..(r + 1) * lq];
            backward_head_simd(sp, &head, &st, md, dqh, &mut dks, &mut dvs);
        }
        // SAFETY: the buffers hold every head's rows; this task alone has key/value head
        // `kh` and its query heads.
        unsafe {
            for r in 0..grp {
                let dqh = &dqs[r * lq..(r + 1) * lq];
                scatter_rows(
                    &dst[0],
                    dqh,
                    (inner[0], kh * grp + r, sp.hq),
                    (sp.l, sp.e),
                    0,
                );
            }
            scatter_rows(&dst[1], &dks, (inner[1], kh, sp.hk), (sp.s, sp.e), 0);
            scatter_rows(&dst[2], &dvs, (inner[2], kh, sp.hk), (sp.s, sp.ev), 0);
        }
    });
    // SAFETY: the tasks wrote every row of every head of the three gradients.
    unsafe {
        dq.set_len(lens[0]);
        dk.set_len(lens[1]);
        dv.set_len(lens[2]);
    }
    Ok([
        result_tensor(dq, inner[0], [sp.b, sp.hq, sp.l, sp.e])?,
        result_tensor(dk, inner[1], [sp.b, sp.hk, sp.s, sp.e])?,
        result_tensor(dv, inner[2], [sp.b, sp.hk, sp.s, sp.ev])?,
    ])
}

pub(super) fn attention_forward(
    qkv: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    if qkv[0].dtype() == crate::DType::BF16 {
        return super::attention_bf16::forward(qkv, mask, sp);
    }
    crate::with_float!(qkv[0].dtype(), T => forward_typed::<T>(qkv, mask, sp))
}

pub(super) fn attention_backward(
    saved: AttentionSaved<'_>,
    g: &Tensor,
    sp: &AttentionSpec,
) -> Result<[Tensor; 3]> {
    if saved.qkv[0].dtype() == crate::DType::BF16 {
        return super::attention_bf16::backward(saved, g, sp);
    }
    crate::with_float!(saved.qkv[0].dtype(), T => backward_typed::<T>(&saved, g, sp))
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn transposed_heads_match_the_definition() {
        for (heads, s, e) in [(1, 1, 1), (2, 17, 3), (3, 40, 16), (1, 64, 5), (2, 70, 33)] {
            let k: Vec<f32> = (0..heads * s * e).map(|i| i as f32).collect();
            let stride = padded_keys(s);
            let out = transposed_heads(&HeadView::packed(&k, s, e), heads, s, e);
            assert_eq!(out.len(), heads * e * stride);
            for h in 0..heads {
                for d in 0..e {
                    for t in 0..stride {
                        let want = if t < s { k[(h * s + t) * e + d] } else { 0.0 };
                        assert_eq!(out[(h * e + d) * stride + t], want, "{heads} {s} {e}");
                    }
                }
            }
        }
    }

    crate::self_test::cases!(transposed_heads_match_the_definition);
}
