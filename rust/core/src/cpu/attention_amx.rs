//! The bfloat16 attention forward and backward on AMX tiles, where the CPU has them and the head dims are
//! whole multiples of 32: per 32 query rows and 64 keys, the scores `q k^T` come out of four
//! tile registers (two 32 x 32 blocks, `e / 32` tile steps each) and the probabilities times
//! the values out of four more passes (`ev / 32` of them, two steps each), where the
//! AVX512-BF16 kernel spends 16 dot-product instructions per 512 products. The online softmax
//! between them, with masks, causality and dropout, is `attention.rs`'s (`online_group`), and
//! the probabilities are rounded to bfloat16 for the product as on the other path.
//!
//! The operands are read in place from the layouts `attention_bf16.rs` builds: the queries
//! row-major (a tile row is 32 features), the keys transposed in pairs (a tile row is one
//! pair of features of 16 keys) and the values interleaved by pairs of keys (a tile row is
//! one pair of keys of 16 features), so no copy is made per block.

use half::bf16;
use std::borrow::Cow;

use super::attention::{
    online_group, padded_keys, tile_grads, transpose_head_simd, HeadAt, KB, QB, RB,
};
use super::attention_bf16::dot::{key_pairs, row_pair_words};
use super::attention_bf16::{deltas, head_tasks, interleaved, round_scaled_simd, Operands};
use super::gemm_bf16::amx::{self, load, step, store, zero};
use super::gemm_bf16::{kernel, Kernel};
use crate::ops::nn::attention::AttentionSpec;
use crate::{Result, Tensor};

/// Whether the forward and backward of `sp` run here: AMX granted to the process, head dims in whole
/// tile steps (32 features), and at most 256 of them (the float32 block stays 32 KiB).
pub(super) fn usable(sp: &AttentionSpec) -> bool {
    let whole = |d: usize| d > 0 && d.is_multiple_of(32) && d <= 256;
    whole(sp.e) && whole(sp.ev) && kernel() == Some(Kernel::Amx)
}

/// `QB x KB` float32 scores, rows of 256 bytes for the tile stores.
#[repr(C, align(64))]
struct Scores([[f32; KB]; QB]);

/// `QB x KB` probabilities in bfloat16, as pairs of keys (`dot::key_pairs`), rows of 128
/// bytes for the tile loads.
#[repr(C, align(64))]
struct Probs([[i32; KB / 2]; QB]);

/// One 32 x 32 float32 block of `a @ b` into `c` (its byte stride between rows given), or
/// added to `c` when `add`: `a`'s 32 rows of bfloat16 with their byte stride, `steps` tile
/// steps of 32 along `k`, and step `t`'s pair of `b` tiles (16 columns each) at `b(t)` with
/// their byte stride.
///
/// # Safety
/// The tiles must be configured (`amx::configure`), and every row read or written in bounds.
#[inline(always)]
unsafe fn block_product(
    (a, sa): (*const u8, usize),
    steps: usize,
    (b, sb): (impl Fn(usize) -> *const u8, usize),
    (c, sc): (*mut f32, usize),
    add: bool,
) {
    if add {
        load(c, sc);
    } else {
        zero();
    }
    for t in 0..steps {
        let b0 = b(t);
        step(
            a.add(t * 64),
            a.add(16 * sa + t * 64),
            sa,
            b0,
            b0.add(64),
            sb,
        );
    }
    store(c, sc);
}

/// Rows `i0 ..` of one head (`q`: the task's `rows x e` queries): the unnormalised output
/// sums (`acc`, `[rows, ev]`) and each row's running max `m` and sum `l`, as the AVX512-BF16
/// `forward_rows` leaves them for `finish`. `kt` holds the key head transposed in pairs
/// (`[e / 2, padded_keys(s)]` words), `x` the values interleaved by pairs of keys and padded
/// with zero rows to `padded_keys(s)` keys.
///
/// # Safety
/// `usable(sp)` must have returned true; the slices are as described.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn forward_rows(
    sp: &AttentionSpec,
    q: &[bf16],
    (kt, x): (&[u32], &[u32]),
    at: HeadAt,
    mask: Option<&[f32]>,
    i0: usize,
    acc: &mut [f32],
    (m, l): (&mut [f32; QB], &mut [f32; QB]),
) {
    let (e, ev, rows) = (sp.e, sp.ev, acc.len() / sp.ev);
    let stride = padded_keys(sp.s);
    debug_assert!(kt.len() >= e / 2 * stride && x.len() >= stride / 2 * ev);
    // The rows padded to a whole block with zeros (a partial block's tile loads stay inside).
    let mut qp = vec![bf16::ZERO; QB * e];
    qp[..rows * e].copy_from_slice(&q[..rows * e]);
    let mut block = vec![0f32; QB * ev];
    let mut scores = Scores([[0.0; KB]; QB]);
    let mut probs = Probs([[0; KB / 2]; QB]);
    let scale = sp.scale as f32;
    let jmax = if sp.causal { sp.s.min(i0 + rows) } else { sp.s };
    let (qa, ka, xa) = (qp.as_ptr().cast::<u8>(), kt.as_ptr(), x.as_ptr());
    amx::configure();
    for j0 in (0..jmax).step_by(KB) {
        let kb = KB.min(jmax - j0);
        // Scores of the 64 keys, 32 at a time; the keys are padded to whole blocks of 64.
        for half in 0..KB / 32 {
            let keys = |t: usize| ka.add(t * 16 * stride + j0 + half * 32).cast::<u8>();
            let c = scores.0[0].as_mut_ptr().add(half * 32);
            block_product((qa, e * 2), e / 32, (keys, stride * 4), (c, KB * 4), false);
        }
        for r0 in (0..QB).step_by(RB) {
            let group = RB.min(rows.saturating_sub(r0));
            if group == 0 || (sp.causal && i0 + r0 + group <= j0) {
                // No query row here, or none that sees these keys: no weights.
                probs.0[r0..r0 + RB].fill([0; KB / 2]);
                continue;
            }
            let mut sc = [[0f32; KB]; RB];
            for (dst, src) in sc.iter_mut().zip(&scores.0[r0..]) {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s * scale;
                }
            }
            let state = (&mut m[r0..r0 + group], &mut l[r0..r0 + group]);
            let out = &mut acc[r0 * ev..(r0 + group) * ev];
            online_group::<f32, true>(sp, at, (i0 + r0, j0, kb, group), &mut sc, mask, state, out);
            // Rows past `group` were zeroed by `online_group`.
            probs.0[r0..r0 + RB].copy_from_slice(&key_pairs(&sc));
        }
        // The probabilities times the values, 32 features at a time, added to the sums.
        let pa = probs.0.as_ptr().cast::<u8>();
        for dh in 0..ev / 32 {
            let values = |t: usize| xa.add((j0 + t * 32) / 2 * ev + dh * 32).cast::<u8>();
            let c = block.as_mut_ptr().add(dh * 32);
            block_product((pa, KB * 2), KB / 32, (values, ev * 4), (c, ev * 4), false);
        }
        for (a, &b) in acc.iter_mut().zip(&block) {
            *a += b;
        }
    }
    amx::release();
}

/// One key/value head's operands for the backward, as `attention_bf16.rs` lays them out.
pub(super) struct KeyHead<'a> {
    /// Keys and values transposed in pairs (`[e / 2, padded_keys(s)]` words, and `ev / 2`).
    pub(super) kt: &'a [u32],
    pub(super) vt: &'a [u32],
    /// Keys interleaved by pairs of keys, padded with zero rows to `padded_keys(s)` keys.
    pub(super) kx: &'a [u32],
}

/// One query head's saved rows for the backward.
pub(super) struct QueryHead<'a> {
    /// Queries (`[l, e]`) and output gradients (`[l, ev]`).
    pub(super) q: &'a [bf16],
    pub(super) g: &'a [bf16],
    /// Per row, `dout . out` and the forward's log-sum-exp.
    pub(super) delta: &'a [f32],
    pub(super) lse: &'a [f32],
    pub(super) at: HeadAt,
}

/// `x` (`[rows, w]`) padded with zero rows to `lp` rows (in place when it has them), and
/// transposed to `[w, lp]`.
fn padded_and_transposed(
    x: &[bf16],
    rows: usize,
    w: usize,
    lp: usize,
) -> (Cow<'_, [bf16]>, Vec<bf16>) {
    let padded = if rows == lp {
        Cow::Borrowed(&x[..rows * w])
    } else {
        let mut p = vec![bf16::ZERO; lp * w];
        p[..rows * w].copy_from_slice(&x[..rows * w]);
        Cow::Owned(p)
    };
    let mut t = vec![bf16::ZERO; w * lp];
    transpose_head_simd(x, (rows, w, w), lp, &mut t);
    (padded, t)
}

/// Adds one query head's gradients: its queries' (`dq`, `[l, e]`, unscaled) and its
/// key/value head's, kept transposed (`dkt` `[e, padded_keys(s)]`, unscaled, and `dvt`
/// `[ev, padded_keys(s)]`) so that each product's `a` tile is read in place. Per 64 keys,
/// for every 32 query rows that see them: the scores and `dout v^T` as in the forward,
/// `tile_grads` between, then `ds k` added to the rows' query gradient sums; the rows'
/// probabilities and score gradients are kept, paired per key, so that `dout^T p` and
/// `q^T ds` then run over all the rows with the key columns' sums in tile registers (one
/// load and store of them per key block, where a product per 32 rows was bound by them).
///
/// # Safety
/// `usable(sp)` must have returned true; the slices are as described.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")]
pub(super) unsafe fn backward_head(
    sp: &AttentionSpec,
    rows: &QueryHead<'_>,
    keys: &KeyHead<'_>,
    mask: Option<&[f32]>,
    dq: &mut [bf16],
    (dkt, dvt): (&mut [f32], &mut [f32]),
) {
    let (l, e, ev) = (sp.l, sp.e, sp.ev);
    let stride = padded_keys(sp.s);
    let lp = l.div_ceil(QB) * QB;
    debug_assert!(keys.kt.len() >= e / 2 * stride && keys.vt.len() >= ev / 2 * stride);
    debug_assert!(keys.kx.len() >= stride / 2 * e && dq.len() >= l * e);
    debug_assert!(dkt.len() >= e * stride && dvt.len() >= ev * stride);
    let (qp, qt) = padded_and_transposed(rows.q, l, e, lp);
    let (gp, gt) = padded_and_transposed(rows.g, l, ev, lp);
    let mut dqp = vec![0f32; lp * e];
    let mut scores = Scores([[0.0; KB]; QB]);
    let mut dps = Scores([[0.0; KB]; QB]);
    let mut ds = Probs([[0; KB / 2]; QB]);
    // Per pair of query rows, its probabilities and score gradients paired per key: a tile
    // row of the `b` operands of `dout^T p` and `q^T ds` (16 keys of one pair of rows).
    let (mut pp, mut dsp) = (vec![[0i32; KB]; lp / 2], vec![[0i32; KB]; lp / 2]);
    let scale = sp.scale as f32;
    let (kt, vt, kx) = (keys.kt.as_ptr(), keys.vt.as_ptr(), keys.kx.as_ptr());
    amx::configure();
    for j0 in (0..sp.s).step_by(KB) {
        let kb = KB.min(sp.s - j0);
        // Rows before `j0` see none of these keys when causal.
        let first = if sp.causal { j0 / QB * QB } else { 0 };
        for i0 in (first..l).step_by(QB) {
            let qa = qp.as_ptr().add(i0 * e).cast::<u8>();
            let ga = gp.as_ptr().add(i0 * ev).cast::<u8>();
            for half in 0..KB / 32 {
                let col = j0 + half * 32;
                let kc = |t: usize| kt.add(t * 16 * stride + col).cast::<u8>();
                let c = scores.0[0].as_mut_ptr().add(half * 32);
                block_product((qa, e * 2), e / 32, (kc, stride * 4), (c, KB * 4), false);
                let vc = |t: usize| vt.add(t * 16 * stride + col).cast::<u8>();
                let c = dps.0[0].as_mut_ptr().add(half * 32);
                block_product((ga, ev * 2), ev / 32, (vc, stride * 4), (c, KB * 4), false);
            }
            for r0 in (0..QB).step_by(RB) {
                let mut p = [[0f32; KB]; RB];
                for (dst, src) in p.iter_mut().zip(&scores.0[r0..]) {
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = s * scale;
                    }
                }
                let mut dp: [[f32; KB]; RB] = std::array::from_fn(|u| dps.0[r0 + u]);
                let at = (rows.at, rows.lse);
                tile_grads::<f32, true>(
                    sp,
                    at,
                    mask,
                    (i0 + r0, j0, kb),
                    rows.delta,
                    &mut p,
                    &mut dp,
                );
                ds.0[r0..r0 + RB].copy_from_slice(&key_pairs(&dp));
                for i in 0..RB / 2 {
                    pp[(i0 + r0) / 2 + i] = row_pair_words(&p, i);
                    dsp[(i0 + r0) / 2 + i] = row_pair_words(&dp, i);
                }
            }
            // The query rows' gradient sums gain `ds k`, 32 features at a time.
            let da = ds.0.as_ptr().cast::<u8>();
            for dh in 0..e / 32 {
                let kr = |t: usize| kx.add((j0 + t * 32) / 2 * e + dh * 32).cast::<u8>();
                let c = dqp.as_mut_ptr().add(i0 * e + dh * 32);
                block_product((da, KB * 2), KB / 32, (kr, e * 4), (c, e * 4), true);
            }
        }
        // The key columns' sums gain `dout^T p` and `q^T ds` over the rows that see them.
        let steps = lp.saturating_sub(first) / 32;
        if steps == 0 {
            continue;
        }
        for half in 0..KB / 32 {
            let col = j0 + half * 32;
            let words = |x: &[[i32; KB]]| x.as_ptr().cast::<i32>().add(first / 2 * KB + half * 32);
            let (pb, db) = (words(&pp), words(&dsp));
            let pt = |t: usize| pb.add(t * 16 * KB).cast::<u8>();
            for dh in 0..ev / 32 {
                let a = gt.as_ptr().add(dh * 32 * lp + first).cast::<u8>();
                let c = dvt.as_mut_ptr().add(dh * 32 * stride + col);
                block_product((a, lp * 2), steps, (pt, KB * 4), (c, stride * 4), true);
            }
            let dt = |t: usize| db.add(t * 16 * KB).cast::<u8>();
            for dh in 0..e / 32 {
                let a = qt.as_ptr().add(dh * 32 * lp + first).cast::<u8>();
                let c = dkt.as_mut_ptr().add(dh * 32 * stride + col);
                block_product((a, lp * 2), steps, (dt, KB * 4), (c, stride * 4), true);
            }
        }
    }
    amx::release();
    round_scaled_simd(&dqp[..l * e], scale, dq);
}

/// The bfloat16 backward on AMX (`usable(sp)`): per key/value head, each of its query
/// heads through `backward_head`, then the head's key and value gradients transposed back
/// and rounded. Every result is written in bfloat16 once, with no float32 copy of it.
pub(super) fn backward(ops: &Operands<'_>, sp: &AttentionSpec) -> Result<[Tensor; 3]> {
    let (qd, kd, od, gd, ld) = (&*ops.q, &*ops.k, &*ops.out, &*ops.g, &*ops.lse);
    let (md, kts, vts) = (ops.mask.as_deref(), &ops.kt, &ops.vt);
    let (kv_heads, grp, stride) = (sp.b * sp.hk, sp.group(), padded_keys(sp.s));
    let (lq, lk, lv) = (sp.l * sp.e, sp.s * sp.e, sp.s * sp.ev);
    let mut dq = vec![bf16::ZERO; sp.b * sp.hq * lq];
    let mut dk = vec![bf16::ZERO; kv_heads * lk];
    let mut dv = vec![bf16::ZERO; kv_heads * lv];
    let (kt_len, vt_len) = (sp.e / 2 * stride, sp.ev / 2 * stride);
    let tasks = head_tasks(sp, (&mut dq, &mut dk, &mut dv));
    let scale = sp.scale as f32;
    crate::cpu::team::for_each_halves(tasks, |(kh, ((dqs, dks), dvs))| {
        // The tiles read whole blocks of keys: zero keys past the last.
        let mut keys = interleaved(&kd[kh * lk..(kh + 1) * lk], sp.s, sp.e);
        keys.resize(stride / 2 * sp.e, 0);
        let kv = KeyHead {
            kt: &kts[kh * kt_len..(kh + 1) * kt_len],
            vt: &vts[kh * vt_len..(kh + 1) * vt_len],
            kx: &keys,
        };
        let (mut dkt, mut dvt) = (vec![0f32; sp.e * stride], vec![0f32; sp.ev * stride]);
        for r in 0..grp {
            let bh = kh * grp + r;
            let (lo, hi) = (bh * sp.l * sp.ev, (bh + 1) * sp.l * sp.ev);
            let delta = deltas(&gd[lo..hi], &od[lo..hi], sp.l, sp.ev);
            let rows = QueryHead {
                q: &qd[bh * lq..(bh + 1) * lq],
                g: &gd[lo..hi],
                delta: &delta,
                lse: &ld[bh * sp.l..(bh + 1) * sp.l],
                at: HeadAt::new(sp, kh / sp.hk, bh % sp.hq),
            };
            let dqh = &mut dqs[r * lq..(r + 1) * lq];
            // SAFETY: `usable(sp)`; the key layouts are padded to whole key blocks.
            unsafe { backward_head(sp, &rows, &kv, md, dqh, (&mut dkt, &mut dvt)) };
        }
        // Back to `[s, e]` rows, scaled (keys) and rounded.
        let mut rows = vec![0f32; sp.s * sp.e.max(sp.ev)];
        transpose_head_simd(&dkt, (sp.e, sp.s, stride), sp.e, &mut rows);
        round_scaled_simd(&rows[..lk], scale, dks);
        transpose_head_simd(&dvt, (sp.ev, sp.s, stride), sp.ev, &mut rows);
        round_scaled_simd(&rows[..lv], 1.0, dvs);
    });
    Ok([
        Tensor::from_vec(dq, ops.shapes[0])?,
        Tensor::from_vec(dk, ops.shapes[1])?,
        Tensor::from_vec(dv, ops.shapes[2])?,
    ])
}
