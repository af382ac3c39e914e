//! The bfloat16 attention forward on AMX tiles, where the CPU has them and the head dims are
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

use super::attention::{online_group, padded_keys, HeadAt, KB, QB, RB};
use super::attention_bf16::dot::key_pairs;
use super::gemm_bf16::amx::{self, step, store, zero};
use super::gemm_bf16::{kernel, Kernel};
use crate::ops::nn::attention::AttentionSpec;

/// Whether the forward of `sp` runs here: AMX granted to the process, head dims in whole
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

/// One 32 x 32 float32 block of `a @ b` into `c` (its byte stride between rows given):
/// `a`'s 32 rows of bfloat16 with their byte stride, `steps` tile steps of 32 along `k`, and
/// step `t`'s pair of `b` tiles (16 columns each) at `b(t)` with their byte stride.
///
/// # Safety
/// The tiles must be configured (`amx::configure`), and every row read or written in bounds.
#[inline(always)]
unsafe fn block_product(
    (a, sa): (*const u8, usize),
    steps: usize,
    (b, sb): (impl Fn(usize) -> *const u8, usize),
    (c, sc): (*mut f32, usize),
) {
    zero();
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
            block_product((qa, e * 2), e / 32, (keys, stride * 4), (c, KB * 4));
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
            block_product((pa, KB * 2), KB / 32, (values, ev * 4), (c, ev * 4));
        }
        for (a, &b) in acc.iter_mut().zip(&block) {
            *a += b;
        }
    }
    amx::release();
}
