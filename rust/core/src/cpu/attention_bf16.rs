//! Fused attention on bfloat16 operands through AVX512-BF16 (`vdpbf16ps`: 16 float32 sums each
//! gaining a product of two pairs of bfloat16 per instruction). The tiling, the online softmax
//! and the score gradients are `attention.rs`'s, in float32; only the five products change:
//!
//! - scores `q k^T` and `dout v^T`: a query row's pairs of features broadcast against the key
//!   head transposed in pairs (`[e / 2, keys]` words, `pair_transposed`);
//! - `p v` and `ds k` (the output and the query gradient): a row's probabilities rounded to
//!   bfloat16 in pairs of keys, against the values (keys) interleaved by pairs of rows
//!   (`interleaved`);
//! - `p^T dout` and `ds^T q` (value and key gradients): two query rows' coefficients paired per
//!   key, against those rows interleaved.
//!
//! Rounding the probabilities (and score gradients) to bfloat16 for the products is what
//! PyTorch's bfloat16 flash attention does too; every sum stays in float32 and each result is
//! rounded once. Without AVX512-BF16 the operands widen to float32 and `attention.rs` runs.

use half::bf16;
use std::borrow::Cow;

use super::attention::{
    online_group, padded_keys, pieces, row_tasks, tile_grads, transposed_heads, HeadAt, HeadView,
    KB, QB, RB,
};
use crate::backend::AttentionSaved;
use crate::ops::nn::attention::{backward_in_float32, forward_in_float32, AttentionSpec};
use crate::{DType, Result, Tensor};

/// Whether the CPU runs `vdpbf16ps` (checked once).
fn available() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Two bfloat16 as one 32-bit word, `lo` in the low half (the order `vdpbf16ps` pairs them).
#[inline(always)]
fn pair(lo: bf16, hi: bf16) -> u32 {
    u32::from(lo.to_bits()) | (u32::from(hi.to_bits()) << 16)
}

/// `x` (`[rows, w]`) as rows of `w.div_ceil(2)` words of consecutive features (an odd `w`'s
/// last word pairs with zero), padded with zero rows to a multiple of `pad`.
fn row_pairs(x: &[bf16], rows: usize, w: usize, pad: usize) -> Vec<u32> {
    let w2 = w.div_ceil(2);
    let mut out = vec![0u32; rows.div_ceil(pad) * pad * w2];
    if w.is_multiple_of(2) {
        // A little-endian word of two bfloat16 is their bytes in order: one copy.
        let n = rows * w;
        assert!(x.len() >= n && 2 * out.len() >= n);
        // SAFETY: checked just above: `out` holds `n / 2` words, `x` `n` halves.
        unsafe {
            std::ptr::copy_nonoverlapping(
                x.as_ptr().cast::<u8>(),
                out.as_mut_ptr().cast::<u8>(),
                2 * n,
            )
        };
        return out;
    }
    for (o, r) in out.chunks_exact_mut(w2).zip(x.chunks_exact(w)) {
        for (p, ch) in o.iter_mut().zip(r.chunks(2)) {
            *p = pair(ch[0], ch.get(1).copied().unwrap_or(bf16::ZERO));
        }
    }
    out
}

/// `x` (`[rows, w]`) with rows `2i` and `2i + 1` interleaved: word `(i, c)` pairs their
/// feature `c`; `rows` is rounded up to a multiple of `RB` with zero rows.
pub(super) fn interleaved(x: &[bf16], rows: usize, w: usize) -> Vec<u32> {
    let half = rows.div_ceil(RB) * RB / 2;
    let mut out = vec![0u32; half * w];
    if w == 0 {
        return out;
    }
    let zeros = vec![bf16::ZERO; w];
    for (i, o) in out.chunks_exact_mut(w).enumerate().take(rows.div_ceil(2)) {
        let a = &x[2 * i * w..(2 * i + 1) * w];
        let b = if 2 * i + 1 < rows {
            &x[(2 * i + 1) * w..(2 * i + 2) * w]
        } else {
            &zeros[..]
        };
        interleave_simd(a, b, o);
    }
    out
}

crate::multiversion!(fn interleave_simd<>(a: &[bf16], b: &[bf16], out: &mut [u32]) where [] => interleave);

#[inline(always)]
fn interleave(a: &[bf16], b: &[bf16], out: &mut [u32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = pair(x, y);
    }
}

/// Every head (`[s, w]`) as `[w / 2, padded_keys(s)]` words: row `p` holds each key's
/// features `2p` and `2p + 1`, so a tile of `KB` keys is read in place for one pair.
pub(super) fn pair_transposed(x: &[bf16], heads: usize, s: usize, w: usize) -> Vec<u32> {
    let x = &x[..heads * s * w];
    let w2 = w.div_ceil(2);
    // SAFETY: every bit pattern of two bfloat16 is a valid u32.
    let (before, words, _) = unsafe { x.align_to::<u32>() };
    if w.is_multiple_of(2) && before.is_empty() && words.len() == heads * s * w2 {
        // Pairs of features are already words in place (little-endian): no copy.
        return transposed_heads(&HeadView::packed(words, s, w2), heads, s, w2);
    }
    let words = row_pairs(x, heads * s, w, 1);
    transposed_heads(&HeadView::packed(&words, s, w2), heads, s, w2)
}

/// The float32 results of `backward` as a bfloat16 tensor of `shape`.
fn rounded(x: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(x, shape)?.to_dtype(DType::BF16)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod dot {
    //! The five products on `vdpbf16ps`. Every function requires `super::available()`.
    use super::{Block, KB, PAIRS, RB};
    use std::arch::x86_64::*;

    /// Lanes of a 16-wide column chunk within `w - c0` columns.
    #[inline(always)]
    fn lanes(left: usize) -> __mmask16 {
        if left >= 16 {
            0xFFFF
        } else {
            ((1u32 << left) - 1) as __mmask16
        }
    }

    // Masked loads and stores may name lanes past a slice's end (masked off, so never
    // touched): their addresses are formed with `wrapping_add`, which may leave the
    // allocation, where `add` may not.

    #[inline(always)]
    unsafe fn bh(v: __m512i) -> __m512bh {
        std::mem::transmute(v)
    }

    /// `acc[r][t] = scale * sum_p x[r][p] . tile[p][t]`: `RB` rows of `w2` feature pairs
    /// (`x`, `[RB, w2]` words) against `KB` keys whose pair `p` starts at `tile[p * stride]`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn scores(
        x: &[u32],
        w2: usize,
        tile: &[u32],
        stride: usize,
        scale: f32,
        acc: &mut [[f32; KB]; RB],
    ) {
        debug_assert!(x.len() >= RB * w2);
        debug_assert!(w2 == 0 || tile.len() >= (w2 - 1) * stride + KB);
        let mut a = [[_mm512_setzero_ps(); KB / 16]; RB];
        let (xp, tp) = (x.as_ptr().cast::<i32>(), tile.as_ptr().cast::<i32>());
        for p in 0..w2 {
            let row = tp.add(p * stride);
            let t: [__m512bh; KB / 16] =
                std::array::from_fn(|c| bh(_mm512_loadu_si512(row.add(16 * c).cast())));
            for (r, ar) in a.iter_mut().enumerate() {
                let b = bh(_mm512_set1_epi32(xp.add(r * w2 + p).read()));
                for (a, &t) in ar.iter_mut().zip(&t) {
                    *a = _mm512_dpbf16_ps(*a, b, t);
                }
            }
        }
        let s = _mm512_set1_ps(scale);
        for (out, ar) in acc.iter_mut().zip(&a) {
            for (c, &a) in ar.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * c), _mm512_mul_ps(a, s));
            }
        }
    }

    /// Each row of `coef` rounded to bfloat16: word `u` pairs keys `2u` and `2u + 1`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(in crate::cpu) unsafe fn key_pairs(coef: &[[f32; KB]; RB]) -> [[i32; KB / 2]; RB] {
        let mut out = [[0i32; KB / 2]; RB];
        for (o, c) in out.iter_mut().zip(coef) {
            for h in 0..KB / 32 {
                let lo = _mm512_loadu_ps(c.as_ptr().add(32 * h));
                let hi = _mm512_loadu_ps(c.as_ptr().add(32 * h + 16));
                let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                _mm512_storeu_si512(o.as_mut_ptr().add(16 * h).cast(), v);
            }
        }
        out
    }

    /// `acc[r][c] += sum_t coef[r][t] x[t][c]` for the first `rows` of `RB` rows and `t < n`:
    /// `x` holds the keys interleaved in pairs (`[n / 2, w]` words), `acc` is `[rows, w]`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn rows_times_keys(
        acc: &mut [f32],
        rows: usize,
        w: usize,
        coef: &[[f32; KB]; RB],
        x: &[u32],
        n: usize,
    ) {
        let n2 = n.div_ceil(2);
        debug_assert!(x.len() >= n2 * w && acc.len() >= rows * w);
        let cp = key_pairs(coef);
        let xp = x.as_ptr().cast::<i32>();
        for c0 in (0..w).step_by(32) {
            let m = [lanes(w - c0), lanes((w - c0).saturating_sub(16))];
            let mut a = [[_mm512_setzero_ps(); 2]; RB];
            for u in 0..n2 {
                let at = xp.add(u * w + c0);
                let x0 = bh(_mm512_maskz_loadu_epi32(m[0], at));
                let x1 = bh(_mm512_maskz_loadu_epi32(m[1], at.wrapping_add(16)));
                for (ar, cr) in a.iter_mut().zip(&cp) {
                    let b = bh(_mm512_set1_epi32(cr[u]));
                    ar[0] = _mm512_dpbf16_ps(ar[0], b, x0);
                    ar[1] = _mm512_dpbf16_ps(ar[1], b, x1);
                }
            }
            for (r, ar) in a.iter().enumerate().take(rows) {
                let o = acc.as_mut_ptr().add(r * w + c0);
                for h in 0..2 {
                    if m[h] != 0 {
                        let at = o.add(16 * h);
                        let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m[h], at), ar[h]);
                        _mm512_mask_storeu_ps(at, m[h], sum);
                    }
                }
            }
        }
    }

    /// `coef`'s rows `2i` and `2i + 1` rounded and paired per key: word `t` holds both rows'
    /// coefficient of key `t` (row `2i` in the low half).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(in crate::cpu) unsafe fn row_pair_words(coef: &[[f32; KB]; RB], i: usize) -> [i32; KB] {
        let idx = _mm512_set_epi16(
            31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20,
            4, 19, 3, 18, 2, 17, 1, 16, 0,
        );
        let mut words = [0i32; KB];
        for h in 0..KB / 16 {
            let lo = _mm512_loadu_ps(coef[2 * i].as_ptr().add(16 * h));
            let hi = _mm512_loadu_ps(coef[2 * i + 1].as_ptr().add(16 * h));
            let both: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            let v = _mm512_permutexvar_epi16(idx, both);
            _mm512_storeu_si512(words.as_mut_ptr().add(16 * h).cast(), v);
        }
        words
    }

    /// Writes `coef`'s rows `2i`, `2i + 1` paired per key, rounded, into `block[t][slot + i]`
    /// (`i < RB / 2`): the coefficients of `keys_times_block` for one group of rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn stash_pairs(coef: &[[f32; KB]; RB], block: &mut Block, slot: usize) {
        for i in 0..RB / 2 {
            for (row, &w) in block.iter_mut().zip(&row_pair_words(coef, i)) {
                row[slot + i] = w;
            }
        }
    }

    /// `out[t][c] += sum_i block[t][i] . x[i][c]` for `t < n` (`out` is `[n, w]`): `x` holds
    /// `pairs` row pairs interleaved (`[pairs, w]` words) and `block` their coefficients per
    /// key (`stash_pairs`). A 32-column slice of all `PAIRS` rows of `x` stays in registers
    /// while the keys stream, so each output row is loaded and stored once per `2 PAIRS`
    /// query rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn keys_times_block(
        out: &mut [f32],
        w: usize,
        block: &Block,
        pairs: usize,
        x: &[u32],
        n: usize,
    ) {
        debug_assert!(pairs <= PAIRS && x.len() >= pairs * w && out.len() >= n * w);
        let xp = x.as_ptr().cast::<i32>();
        for c0 in (0..w).step_by(32) {
            let m = [lanes(w - c0), lanes((w - c0).saturating_sub(16))];
            let xr: [[__m512bh; 2]; PAIRS] = std::array::from_fn(|i| {
                std::array::from_fn(|h| {
                    let keep = if i < pairs { m[h] } else { 0 };
                    bh(_mm512_maskz_loadu_epi32(
                        keep,
                        xp.wrapping_add(i * w + c0 + 16 * h),
                    ))
                })
            });
            for (t, row) in block.iter().enumerate().take(n) {
                let o = out.as_mut_ptr().add(t * w + c0);
                let mut o0 = _mm512_maskz_loadu_ps(m[0], o);
                let mut o1 = _mm512_maskz_loadu_ps(m[1], o.wrapping_add(16));
                for (&c, x) in row.iter().zip(&xr) {
                    let b = bh(_mm512_set1_epi32(c));
                    o0 = _mm512_dpbf16_ps(o0, b, x[0]);
                    o1 = _mm512_dpbf16_ps(o1, b, x[1]);
                }
                _mm512_mask_storeu_ps(o, m[0], o0);
                _mm512_mask_storeu_ps(o.wrapping_add(16), m[1], o1);
            }
        }
    }
}

/// Row pairs whose value and key gradients one `keys_times_block` call adds (16 query rows).
const PAIRS: usize = 8;
/// Per key of a tile, the rounded coefficients of `PAIRS` row pairs.
type Block = [[i32; PAIRS]; KB];

/// One head's operands in the products' layouts.
struct PairedHead<'a> {
    /// The head's keys and values transposed in pairs (`pair_transposed`).
    kt: &'a [u32],
    /// Its values (forward) or keys (backward) interleaved by pairs of keys (`interleaved`).
    x: &'a [u32],
    at: HeadAt,
}

/// Rows `i0 ..` of one head (`q`: this task's rows in pairs, `row_pairs`): the normalised
/// output, rounded into `out` (`[rows, ev]`), and the log-sum-exp. Compiled for AVX-512, so
/// the float32 softmax it inlines from `attention.rs` is vectorised too.
///
/// # Safety
/// `available()` must have returned true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,fma")]
unsafe fn forward_rows(
    sp: &AttentionSpec,
    q: &[u32],
    head: &PairedHead<'_>,
    mask: Option<&[f32]>,
    i0: usize,
    out: &mut [bf16],
    lse: &mut [f32],
) {
    let (e2, ev, rows) = (sp.e.div_ceil(2), sp.ev, lse.len());
    let (mut m, mut l) = ([f32::NEG_INFINITY; QB], [0f32; QB]);
    let stride = padded_keys(sp.s);
    let mut sc = [[0f32; KB]; RB];
    let mut acc = vec![0f32; rows * ev];
    let jmax = if sp.causal { sp.s.min(i0 + rows) } else { sp.s };
    for j0 in (0..jmax).step_by(KB) {
        let kb = KB.min(jmax - j0);
        for r0 in (0..rows).step_by(RB) {
            let group = RB.min(rows - r0);
            if sp.causal && i0 + r0 + group <= j0 {
                continue;
            }
            let qr = &q[r0 * e2..(r0 + RB) * e2];
            // SAFETY: `available()` (checked by the caller); the slices hold what `scores`
            // reads (`RB` padded rows, whole padded key tiles).
            unsafe { dot::scores(qr, e2, &head.kt[j0..], stride, sp.scale as f32, &mut sc) };
            let a = &mut acc[r0 * ev..(r0 + group) * ev];
            let state = (&mut m[r0..r0 + group], &mut l[r0..r0 + group]);
            let nmax = online_group::<f32, true>(
                sp,
                head.at,
                (i0 + r0, j0, kb, group),
                &mut sc,
                mask,
                state,
                a,
            );
            // SAFETY: as above; the values hold `s` rounded up to even rows.
            unsafe { dot::rows_times_keys(a, group, ev, &sc, &head.x[j0 / 2 * ev..], nmax) };
        }
    }
    finish(&acc, (&m, &l), out, lse);
}

crate::multiversion!(pub(super) fn round_scaled_simd<>(x: &[f32], factor: f32, out: &mut [bf16]) where [] => round_scaled);

/// `out = x * factor`, rounded to bfloat16 (vectorised at the AVX levels).
#[inline(always)]
fn round_scaled(x: &[f32], factor: f32, out: &mut [bf16]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = crate::dtype::f32_to_bf16(v * factor);
    }
}

/// Each row's output sums (`acc`, `[rows, ev]`) divided by its softmax sum `l` and rounded
/// into `out`, and its log-sum-exp `m + ln l` into `lse`.
#[cfg(target_arch = "x86_64")]
fn finish(acc: &[f32], (m, l): (&[f32; QB], &[f32; QB]), out: &mut [bf16], lse: &mut [f32]) {
    let (rows, ev) = (lse.len(), out.len() / lse.len().max(1));
    for r in 0..rows {
        let (a, o) = (&acc[r * ev..(r + 1) * ev], &mut out[r * ev..(r + 1) * ev]);
        if l[r] > 0.0 {
            round_scaled_simd(a, 1.0 / l[r], o);
            lse[r] = m[r] + l[r].ln();
        } else if l[r].is_nan() {
            // A NaN score (or a +inf mask entry) poisons the row's softmax, as in PyTorch.
            o.fill(bf16::NAN);
            lse[r] = f32::NAN;
        } else {
            o.fill(bf16::ZERO);
            lse[r] = f32::NEG_INFINITY;
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn forward_native(
    [q, k, v]: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    let (qd, kd, vd) = (q.data::<bf16>()?, k.data::<bf16>()?, v.data::<bf16>()?);
    let md = mask.map(|m| m.data::<f32>()).transpose()?;
    let md = md.as_deref();
    let heads = sp.b * sp.hq;
    let mut out = vec![bf16::ZERO; heads * sp.l * sp.ev];
    let mut lse = vec![f32::NEG_INFINITY; heads * sp.l];
    if sp.ev > 0 && sp.l > 0 {
        let kv_heads = sp.b * sp.hk;
        let kts = pair_transposed(&kd, kv_heads, sp.s, sp.e);
        let lv = sp.s * sp.ev;
        let amx = super::attention_amx::usable(sp);
        let mut vs: Vec<Vec<u32>> = vec![Vec::new(); kv_heads];
        let slots: Vec<_> = vs.iter_mut().enumerate().collect();
        crate::cpu::team::for_each_halves(slots, |(h, slot)| {
            *slot = interleaved(&vd[h * lv..(h + 1) * lv], sp.s, sp.ev);
            if amx {
                // The tiles read whole blocks of keys: zero values past the last.
                slot.resize(padded_keys(sp.s) / 2 * sp.ev, 0);
            }
        });
        let kt_len = sp.e.div_ceil(2) * padded_keys(sp.s);
        // Halves of the tasks on the team's two threads (or rayon's), as the float32 kernels.
        crate::cpu::team::for_each_halves(row_tasks(sp, &mut out, &mut lse), |t| {
            let (kh, rows) = (t.kh, t.lse.len());
            let qrows = &qd[(t.bh * sp.l + t.i0) * sp.e..(t.bh * sp.l + t.i0 + rows) * sp.e];
            let head = PairedHead {
                kt: &kts[kh * kt_len..(kh + 1) * kt_len],
                x: &vs[kh],
                at: t.at,
            };
            if amx {
                let mut acc = vec![0f32; rows * sp.ev];
                let (mut m, mut l) = ([f32::NEG_INFINITY; QB], [0f32; QB]);
                let state = (&mut m, &mut l);
                // SAFETY: `usable(sp)`; `kt` and the padded values are laid out as it reads.
                unsafe {
                    let kv = (head.kt, head.x);
                    super::attention_amx::forward_rows(
                        sp, qrows, kv, t.at, md, t.i0, &mut acc, state,
                    );
                }
                finish(&acc, (&m, &l), t.out, t.lse);
                return;
            }
            let q = row_pairs(qrows, rows, sp.e, RB);
            // SAFETY: `available()`.
            unsafe { forward_rows(sp, &q, &head, md, t.i0, t.out, t.lse) };
        });
    }
    Ok((
        Tensor::from_vec(out, &[sp.b, sp.hq, sp.l, sp.ev])?,
        Tensor::from_vec(lse, &[sp.b, sp.hq, sp.l])?,
    ))
}

/// One query head's backward inputs, in the products' layouts, and its saved rows.
struct HeadRows<'a> {
    /// Queries and output gradients in pairs of features (`row_pairs`, for the scores) and
    /// interleaved by pairs of rows (`interleaved`, for the key and value gradients).
    q: Vec<u32>,
    g: Vec<u32>,
    qi: Vec<u32>,
    gi: Vec<u32>,
    delta: Vec<f32>,
    lse: &'a [f32],
}

impl<'a> HeadRows<'a> {
    fn new(sp: &AttentionSpec, q: &[bf16], g: &[bf16], out: &[bf16], lse: &'a [f32]) -> Self {
        let (l, e, ev) = (sp.l, sp.e, sp.ev);
        let delta = deltas(g, out, l, ev);
        HeadRows {
            q: row_pairs(q, l, e, RB),
            g: row_pairs(g, l, ev, RB),
            qi: interleaved(q, l, e),
            gi: interleaved(g, l, ev),
            delta,
            lse,
        }
    }
}

/// Per row of one head, `dout . out` in float32 (the softmax gradient's subtrahend).
pub(super) fn deltas(g: &[bf16], out: &[bf16], l: usize, ev: usize) -> Vec<f32> {
    let mut d = vec![0f32; l];
    if ev > 0 {
        deltas_simd(&g[..l * ev], &out[..l * ev], ev, &mut d);
    }
    d
}

crate::multiversion!(fn deltas_simd<>(g: &[bf16], out: &[bf16], ev: usize, d: &mut [f32]) where [] => row_dots);

/// `d[i] = g_i . out_i` over rows of `ev`, in 16 running lanes (vectorised) then folded.
#[inline(always)]
fn row_dots(g: &[bf16], out: &[bf16], ev: usize, d: &mut [f32]) {
    for ((gr, or), d) in g.chunks_exact(ev).zip(out.chunks_exact(ev)).zip(d) {
        let mut lanes = [0f32; 16];
        let (gc, oc) = (gr.chunks_exact(16), or.chunks_exact(16));
        let tail: f32 = gc
            .remainder()
            .iter()
            .zip(oc.remainder())
            .map(|(a, b)| a.to_f32() * b.to_f32())
            .sum();
        for (a, b) in gc.zip(oc) {
            for ((l, x), y) in lanes.iter_mut().zip(a).zip(b) {
                *l += x.to_f32() * y.to_f32();
            }
        }
        *d = lanes.iter().sum::<f32>() + tail;
    }
}

/// Adds one query head's contribution to its query gradient (`dq`, `[l, e]`, unscaled) and
/// its key/value head's (`dk` `[s, e]` unscaled, `dv` `[s, ev]`), all float32.
///
/// # Safety
/// `available()` must have returned true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn backward_head(
    sp: &AttentionSpec,
    rows: &HeadRows<'_>,
    head: &PairedHead<'_>,
    vt: &[u32],
    mask: Option<&[f32]>,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (e, ev, stride) = (sp.e, sp.ev, padded_keys(sp.s));
    let (e2, ev2) = (e.div_ceil(2), ev.div_ceil(2));
    let (mut p, mut dp) = ([[0f32; KB]; RB], [[0f32; KB]; RB]);
    for j0 in (0..sp.s).step_by(KB) {
        let kb = KB.min(sp.s - j0);
        let first = if sp.causal { j0 / RB * RB } else { 0 };
        for b0 in (first..sp.l).step_by(2 * PAIRS) {
            let (mut bp, mut bds): (Block, Block) = ([[0; PAIRS]; KB], [[0; PAIRS]; KB]);
            let groups = (sp.l - b0).min(2 * PAIRS).div_ceil(RB);
            for gi in 0..groups {
                let r0 = b0 + gi * RB;
                let (qr, gr) = (&rows.q[r0 * e2..], &rows.g[r0 * ev2..]);
                // SAFETY: `available()` (checked by the caller); the row and key layouts are
                // padded to whole `RB` row groups and `KB` key tiles.
                unsafe {
                    dot::scores(qr, e2, &head.kt[j0..], stride, sp.scale as f32, &mut p);
                    dot::scores(gr, ev2, &vt[j0..], stride, 1.0, &mut dp);
                }
                let at = (head.at, rows.lse);
                tile_grads::<f32, true>(sp, at, mask, (r0, j0, kb), &rows.delta, &mut p, &mut dp);
                let group = RB.min(sp.l - r0);
                // SAFETY: as above.
                unsafe {
                    let dqr = &mut dq[r0 * e..(r0 + group) * e];
                    dot::rows_times_keys(dqr, group, e, &dp, &head.x[j0 / 2 * e..], kb);
                    dot::stash_pairs(&p, &mut bp, gi * RB / 2);
                    dot::stash_pairs(&dp, &mut bds, gi * RB / 2);
                }
            }
            let pairs = groups * RB / 2;
            // SAFETY: as above; the interleaved rows are padded to whole groups.
            unsafe {
                dot::keys_times_block(
                    &mut dv[j0 * ev..],
                    ev,
                    &bp,
                    pairs,
                    &rows.gi[b0 / 2 * ev..],
                    kb,
                );
                dot::keys_times_block(
                    &mut dk[j0 * e..],
                    e,
                    &bds,
                    pairs,
                    &rows.qi[b0 / 2 * e..],
                    kb,
                );
            }
        }
    }
}

/// The bfloat16 backward's inputs as contiguous slices (copied only where a tensor is not):
/// queries, keys, the output, its gradient, the log-sum-exps and the mask; the values are
/// read only for their paired transpose.
#[cfg(target_arch = "x86_64")]
pub(super) struct Operands<'a> {
    pub(super) q: Cow<'a, [bf16]>,
    pub(super) k: Cow<'a, [bf16]>,
    pub(super) out: Cow<'a, [bf16]>,
    pub(super) g: Cow<'a, [bf16]>,
    pub(super) lse: Cow<'a, [f32]>,
    pub(super) mask: Option<Cow<'a, [f32]>>,
    /// Every key/value head's keys and values transposed in pairs (`pair_transposed`).
    pub(super) kt: Vec<u32>,
    pub(super) vt: Vec<u32>,
    /// The shapes of the queries, keys and values: their gradients'.
    pub(super) shapes: [&'a [usize]; 3],
}

#[cfg(target_arch = "x86_64")]
impl<'a> Operands<'a> {
    pub(super) fn read(
        saved: &AttentionSaved<'a>,
        g: &'a Tensor,
        sp: &AttentionSpec,
    ) -> Result<Self> {
        let [q, k, v] = saved.qkv;
        let shapes = saved.qkv.map(Tensor::shape);
        let (k, v) = (k.data::<bf16>()?, v.data::<bf16>()?);
        let kv_heads = sp.b * sp.hk;
        Ok(Operands {
            q: q.data()?,
            kt: pair_transposed(&k, kv_heads, sp.s, sp.e),
            vt: pair_transposed(&v, kv_heads, sp.s, sp.ev),
            k,
            out: saved.out.data()?,
            g: g.data()?,
            lse: saved.lse.data()?,
            mask: saved.mask.map(|m| m.data()).transpose()?,
            shapes,
        })
    }
}

/// Per key/value head, its index and its slices of the three gradients (`dq` holding its
/// `group()` query heads): the backward's tasks.
#[allow(clippy::type_complexity)]
pub(super) fn head_tasks<'a, T>(
    sp: &AttentionSpec,
    (dq, dk, dv): (&'a mut [T], &'a mut [T], &'a mut [T]),
) -> Vec<(usize, ((&'a mut [T], &'a mut [T]), &'a mut [T]))> {
    let kv_heads = sp.b * sp.hk;
    pieces(dq, kv_heads, sp.group() * sp.l * sp.e)
        .into_iter()
        .zip(pieces(dk, kv_heads, sp.s * sp.e))
        .zip(pieces(dv, kv_heads, sp.s * sp.ev))
        .enumerate()
        .collect()
}

#[cfg(target_arch = "x86_64")]
fn backward_native(ops: &Operands<'_>, sp: &AttentionSpec) -> Result<[Tensor; 3]> {
    let (qd, kd, od, gd, ld) = (&*ops.q, &*ops.k, &*ops.out, &*ops.g, &*ops.lse);
    let (md, kts, vts) = (ops.mask.as_deref(), &ops.kt, &ops.vt);
    let (kv_heads, grp) = (sp.b * sp.hk, sp.group());
    let (lq, lk, lv) = (sp.l * sp.e, sp.s * sp.e, sp.s * sp.ev);
    let mut dq = vec![0f32; sp.b * sp.hq * lq];
    let mut dk = vec![0f32; kv_heads * lk];
    let mut dv = vec![0f32; kv_heads * lv];
    let (kt_len, vt_len) = (
        sp.e.div_ceil(2) * padded_keys(sp.s),
        sp.ev.div_ceil(2) * padded_keys(sp.s),
    );
    let tasks = head_tasks(sp, (&mut dq, &mut dk, &mut dv));
    crate::cpu::team::for_each_halves(tasks, |(kh, ((dqs, dks), dvs))| {
        let b = kh / sp.hk;
        let keys = interleaved(&kd[kh * lk..(kh + 1) * lk], sp.s, sp.e);
        for r in 0..grp {
            let bh = kh * grp + r;
            let (lo, hi) = (bh * sp.l * sp.ev, (bh + 1) * sp.l * sp.ev);
            let lse = &ld[bh * sp.l..(bh + 1) * sp.l];
            let rows = HeadRows::new(
                sp,
                &qd[bh * lq..(bh + 1) * lq],
                &gd[lo..hi],
                &od[lo..hi],
                lse,
            );
            let head = PairedHead {
                kt: &kts[kh * kt_len..(kh + 1) * kt_len],
                x: &keys,
                at: HeadAt::new(sp, b, bh % sp.hq),
            };
            let vt = &vts[kh * vt_len..(kh + 1) * vt_len];
            let dqh = &mut dqs[r * lq..(r + 1) * lq];
            // SAFETY: `available()`.
            unsafe { backward_head(sp, &rows, &head, vt, md, dqh, dks, dvs) };
        }
    });
    let scale = sp.scale as f32;
    dq.iter_mut().chain(dk.iter_mut()).for_each(|x| *x *= scale);
    Ok([
        rounded(dq, ops.shapes[0])?,
        rounded(dk, ops.shapes[1])?,
        rounded(dv, ops.shapes[2])?,
    ])
}

/// The bfloat16 forward: native where the CPU has AVX512-BF16, else widened to float32.
pub(super) fn forward(
    qkv: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    #[cfg(target_arch = "x86_64")]
    if available() {
        return forward_native(qkv, mask, sp);
    }
    forward_widened(qkv, mask, sp)
}

/// The bfloat16 backward, on the same path as `forward`.
pub(super) fn backward(
    saved: AttentionSaved<'_>,
    g: &Tensor,
    sp: &AttentionSpec,
) -> Result<[Tensor; 3]> {
    #[cfg(target_arch = "x86_64")]
    {
        let amx = super::attention_amx::usable(sp);
        if amx || available() {
            let ops = Operands::read(&saved, g, sp)?;
            return if amx {
                super::attention_amx::backward(&ops, sp)
            } else {
                backward_native(&ops, sp)
            };
        }
    }
    backward_widened(saved, g, sp)
}

/// The fallback: float32 kernels on widened operands.
fn forward_widened(
    qkv: [&Tensor; 3],
    mask: Option<&Tensor>,
    sp: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    forward_in_float32(qkv, mask, sp, super::attention::attention_forward)
}

fn backward_widened(
    saved: AttentionSaved<'_>,
    g: &Tensor,
    sp: &AttentionSpec,
) -> Result<[Tensor; 3]> {
    backward_in_float32(saved, g, sp, super::attention::attention_backward)
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn spec(
        b: usize,
        (hq, hk): (usize, usize),
        (l, s): (usize, usize),
        (e, ev): (usize, usize),
    ) -> AttentionSpec {
        AttentionSpec {
            b,
            hq,
            hk,
            l,
            s,
            e,
            ev,
            mask_strides: [0; 4],
            scale: 1.0 / (e.max(1) as f64).sqrt(),
            causal: false,
            dropout_p: 0.0,
            seed: 0,
        }
    }

    fn tensor(n: usize, shape: &[usize], salt: f32) -> Tensor {
        let v: Vec<bf16> = (0..n)
            .map(|i| bf16::from_f32(((i as f32 * 0.37 + salt).sin()) * 1.5))
            .collect();
        Tensor::from_vec(v, shape).expect("shape")
    }

    fn floats(t: &Tensor) -> Vec<f32> {
        t.to_dtype(DType::F32)
            .and_then(|t| t.to_vec::<f32>())
            .expect("floats")
    }

    fn close(a: &Tensor, b: &Tensor, what: &str) {
        let (a, b) = (floats(a), floats(b));
        let top = b.iter().fold(0f32, |m, v| m.max(v.abs())) + 1e-6;
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        // Probabilities and score gradients are rounded to bfloat16 for the products (as in
        // PyTorch's bfloat16 flash attention); sums that cancel lose a few more bits.
        assert!(worst <= 0.02 * top + 4e-3, "{what}: {worst} against {top}");
    }

    /// The `vdpbf16ps` kernels against the widened float32 fallback (the path of CPUs
    /// without AVX512-BF16), forward and backward, on odd sizes.
    fn native_kernels_match_the_widened_fallback() {
        if !available() {
            return;
        }
        let cases = [
            (spec(2, (3, 3), (17, 17), (8, 8)), true),
            (spec(1, (2, 2), (129, 70), (80, 80)), false),
            (spec(2, (4, 2), (33, 33), (7, 5)), false),
            (spec(1, (1, 1), (1, 1), (64, 64)), true),
            (spec(1, (2, 1), (5, 0), (16, 16)), false),
            // Head dims in whole 32s: the AMX forward and backward where the CPU has them.
            (spec(2, (4, 2), (70, 100), (32, 64)), true),
            (spec(1, (2, 2), (129, 129), (64, 64)), false),
            // Causal with keys past the last query block (no rows see the later key blocks).
            (spec(1, (2, 2), (50, 130), (32, 96)), true),
            // Whole blocks of queries (read in place by the AMX backward), GQA.
            (spec(1, (2, 1), (64, 64), (32, 32)), true),
        ];
        for (mut sp, causal) in cases {
            sp.causal = causal;
            let q = tensor(sp.b * sp.hq * sp.l * sp.e, &[sp.b, sp.hq, sp.l, sp.e], 0.1);
            let k = tensor(sp.b * sp.hk * sp.s * sp.e, &[sp.b, sp.hk, sp.s, sp.e], 0.7);
            let v = tensor(
                sp.b * sp.hk * sp.s * sp.ev,
                &[sp.b, sp.hk, sp.s, sp.ev],
                1.3,
            );
            let g = tensor(
                sp.b * sp.hq * sp.l * sp.ev,
                &[sp.b, sp.hq, sp.l, sp.ev],
                2.9,
            );
            let what = format!("{sp:?}");
            let (out, lse) = forward_native([&q, &k, &v], None, &sp).expect("native");
            let (wout, wlse) = forward_widened([&q, &k, &v], None, &sp).expect("widened");
            close(&out, &wout, &what);
            let finite = |t: &Tensor| floats(t).iter().map(|v| v.max(-1e30)).collect::<Vec<_>>();
            let (a, b) = (finite(&lse), finite(&wlse));
            assert!(
                a.iter()
                    .zip(&b)
                    .all(|(x, y)| (x - y).abs() <= 0.02 * (1.0 + y.abs())),
                "{what}"
            );
            let saved = AttentionSaved {
                qkv: [&q, &k, &v],
                out: &out,
                lse: &lse,
                mask: None,
            };
            let ops = Operands::read(&saved, &g, &sp).expect("operands");
            let mut native = vec![backward_native(&ops, &sp).expect("native")];
            if super::super::attention_amx::usable(&sp) {
                native.push(super::super::attention_amx::backward(&ops, &sp).expect("amx"));
            }
            let saved = AttentionSaved {
                qkv: [&q, &k, &v],
                out: &out,
                lse: &lse,
                mask: None,
            };
            let wide = backward_widened(saved, &g, &sp).expect("widened");
            for grads in &native {
                for (a, b) in grads.iter().zip(&wide) {
                    assert_eq!(a.dtype(), DType::BF16);
                    close(a, b, &what);
                }
            }
        }
    }

    crate::self_test::cases!(native_kernels_match_the_widened_fallback);
}
