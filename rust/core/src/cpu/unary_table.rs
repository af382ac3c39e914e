//! bfloat16 unary ops by table lookup. A bfloat16 has 65,536 bit patterns, so an op whose
//! formula costs dozens of instructions per element (GELU's `exp` and division, `lgamma`'s
//! series) is computed once per pattern, with the very formula and rounding of the
//! elementwise kernels, and then looked up: 16 elements per AVX-512 gather. The results are
//! the kernels' bit for bit; GELU over a GPT MLP's activations ran about 4x faster each way.
//!
//! Tables are built on an op's first large bfloat16 call and kept: 128 KiB for the forward
//! (the rounded results) and 256 KiB for the backward (the float32 derivative at each
//! pattern, which multiplies the gradient before the one rounding, as in `unary.rs`).

use crate::cpu::kernel::Computes;
use crate::ops::unary::{Specialized, UnaryOp};
use crate::{Result, Tensor};
use half::bf16;
use std::sync::OnceLock;

/// Fewest elements for which a table is used (and built): below, the formula loops cost
/// little and a first call would pay for a table it barely uses.
const MIN_ELEMENTS: usize = 1 << 16;
/// Bit patterns of a bfloat16.
const PATTERNS: usize = 1 << 16;
/// The ops with tables: those whose formulas are long (transcendental), with no parameters.
const TABLED: [UnaryOp; 29] = {
    use UnaryOp::*;
    [
        Exp, Log, Log2, Log10, Log1p, Expm1, Exp2, Sin, Cos, Tan, Tanh, Sinh, Cosh, Sigmoid, Gelu,
        GeluTanh, Silu, Mish, Erf, Erfc, Erfinv, Asin, Acos, Atan, Asinh, Acosh, Atanh, Lgamma,
        Digamma,
    ]
};

/// The forward tables, one slot per `TABLED` op.
static FORWARD: [OnceLock<Box<[u16]>>; TABLED.len()] = [const { OnceLock::new() }; TABLED.len()];
/// The backward (derivative) tables, one slot per `TABLED` op.
static DERIVATIVE: [OnceLock<Box<[f32]>>; TABLED.len()] = [const { OnceLock::new() }; TABLED.len()];

/// `op`'s slot in the tables, when it has one.
fn slot(op: UnaryOp) -> Option<usize> {
    TABLED
        .iter()
        .position(|t| std::mem::discriminant(t) == std::mem::discriminant(&op))
}

/// Whether this CPU does the gathers (AVX-512 with its byte and word instructions).
fn usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The slot of `op` over these contiguous bfloat16 operands of `n` elements, when a table
/// serves them.
fn tabled(op: UnaryOp, operands: &[&Tensor]) -> Option<usize> {
    let n = operands[0].numel();
    let fits = n >= MIN_ELEMENTS
        && operands
            .iter()
            .all(|t| t.dtype() == crate::DType::BF16 && t.layout().is_contiguous());
    (fits && usable()).then(|| slot(op)).flatten()
}

/// `op(t)` by table, or `None` when no table serves `t` (see `tabled`).
pub(super) fn forward(op: UnaryOp, t: &Tensor) -> Option<Result<Tensor>> {
    let slot = tabled(op, &[t])?;
    let table = FORWARD[slot].get_or_init(|| {
        // One more entry, so a 32-bit gather at the last pattern stays inside.
        let e = op.specialize(Entries(Kind::Forward));
        e.into_iter().map(|b| b as u16).chain([0]).collect()
    });
    let x = &t.storage().as_slice::<bf16>()[t.layout().offset..][..t.numel()];
    Some(Tensor::from_vec(
        fill(x, None, table, &[], false),
        t.shape(),
    ))
}

/// `g * op'(saved)` by table (`saved` as `unary.rs`'s backward takes it), or `None`.
pub(super) fn backward(op: UnaryOp, saved: &Tensor, g: &Tensor) -> Option<Result<Tensor>> {
    let slot = tabled(op, &[saved, g])?;
    let table = DERIVATIVE[slot].get_or_init(|| {
        let e = op.specialize(Entries(Kind::Derivative));
        e.into_iter().map(f32::from_bits).collect()
    });
    let x = &saved.storage().as_slice::<bf16>()[saved.layout().offset..][..saved.numel()];
    let gs = &g.storage().as_slice::<bf16>()[g.layout().offset..][..g.numel()];
    Some(Tensor::from_vec(
        fill(x, Some(gs), &[], table, op.masks_gradient()),
        saved.shape(),
    ))
}

/// The output of a lookup over `x`: the forward table's entries, or with a gradient `g`, the
/// gradient times the derivative table's entries (0 where it is 0 when the op `masks`: see
/// `UnaryOp::masks_gradient`), rounded once. The halves on the threads.
fn fill(
    x: &[bf16],
    g: Option<&[bf16]>,
    forward: &[u16],
    derivative: &[f32],
    masks: bool,
) -> Vec<bf16> {
    let n = x.len();
    let mut out: Vec<bf16> = Vec::with_capacity(n);
    let parts = crate::threads::get().max(1) * 4;
    let per = n.div_ceil(parts).next_multiple_of(64);
    let pieces: Vec<_> = out.spare_capacity_mut()[..n]
        .chunks_mut(per)
        .enumerate()
        .map(|(i, o)| (i * per, o))
        .collect();
    crate::cpu::team::for_each_halves(pieces, |(start, o)| {
        let (xs, gs) = (&x[start..][..o.len()], g.map(|g| &g[start..][..o.len()]));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable()` checked the CPU has AVX-512F and BW; every slot of `o` is written.
        unsafe {
            match gs {
                None => avx512::forward(xs, forward, o),
                Some(gs) => avx512::backward(xs, gs, derivative, o, masks),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        for (i, slot) in o.iter_mut().enumerate() {
            let p = usize::from(xs[i].to_bits());
            slot.write(match gs {
                None => bf16::from_bits(forward[p]),
                Some(gs) => scaled(gs[i], derivative[p], masks),
            });
        }
    });
    // SAFETY: the pieces cover the first `n` slots, each fully written by a lookup loop.
    unsafe { out.set_len(n) };
    out
}

/// `g * d` (with `masks`, 0 where the derivative `d` is 0), rounded once: `unary.rs`'s
/// backward formula.
#[inline(always)]
fn scaled(g: bf16, d: f32, masks: bool) -> bf16 {
    bf16::narrow(if masks && d == 0.0 {
        0.0
    } else {
        g.widen() * d
    })
}

/// Which of an op's tables to build.
#[derive(Clone, Copy)]
enum Kind {
    Forward,
    Derivative,
}

/// Builds one of an op's tables as raw bits, every pattern's entry in pattern order
/// (`UnaryOp::specialize` hands over the op as a closure).
struct Entries(Kind);

impl Specialized for Entries {
    type Out = Vec<u32>;
    fn run<O: Fn() -> UnaryOp + Copy + Send + Sync, const FUSES: bool>(self, o: O) -> Vec<u32> {
        // The formula as the kernels run it over contiguous operands (`unary::fuse`).
        if super::unary::fuses_at_this_level::<FUSES>() {
            entries::<O, true>(o, self.0)
        } else {
            entries::<O, false>(o, self.0)
        }
    }
}

/// The rounded result (forward) or the float32 derivative at each pattern, as bits.
fn entries<O: Fn() -> UnaryOp, const FUSED: bool>(o: O, kind: Kind) -> Vec<u32> {
    (0..PATTERNS)
        .map(|b| {
            let x = bf16::from_bits(b as u16).widen();
            match kind {
                Kind::Forward => {
                    u32::from(bf16::narrow(o().forward_with::<f32, FUSED>(x)).to_bits())
                }
                Kind::Derivative => o().saved_derivative_with::<f32, FUSED>(x).to_bits(),
            }
        })
        .collect()
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::scaled;
    use half::bf16;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// `out[i] = forward[x[i]]`: the patterns widened to 32-bit indices, one gather of 16
    /// words at byte offset `2 * pattern` (the entry and its neighbour), its low halves kept.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn forward(x: &[bf16], forward: &[u16], out: &mut [MaybeUninit<bf16>]) {
        let n = x.len() / 16 * 16;
        let (xp, op, tp) = (x.as_ptr(), out.as_mut_ptr(), forward.as_ptr());
        for i in (0..n).step_by(16) {
            // SAFETY: `i + 16 <= n`: the loads and stores stay in `x` and `out`; every index
            // is below 65,536 and the table has 65,537 entries, so the gather reads inside it.
            unsafe {
                let idx = _mm512_cvtepu16_epi32(_mm256_loadu_si256(xp.add(i).cast()));
                let w = _mm512_i32gather_epi32::<2>(idx, tp.cast());
                _mm256_storeu_si256(op.add(i).cast(), _mm512_cvtepi32_epi16(w));
            }
        }
        for i in n..x.len() {
            out[i].write(bf16::from_bits(forward[usize::from(x[i].to_bits())]));
        }
    }

    /// `out[i] = g[i] * derivative[x[i]]` (with `masks`, 0 where the derivative is 0), rounded to nearest
    /// even as `dtype::f32_to_bf16` rounds (a NaN quieted, its sign and payload top kept).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn backward(
        x: &[bf16],
        g: &[bf16],
        derivative: &[f32],
        out: &mut [MaybeUninit<bf16>],
        masks: bool,
    ) {
        let n = x.len() / 16 * 16;
        let (xp, gp, op, tp) = (
            x.as_ptr(),
            g.as_ptr(),
            out.as_mut_ptr(),
            derivative.as_ptr(),
        );
        let (bias, one, quiet) = (
            _mm512_set1_epi32(0x7FFF),
            _mm512_set1_epi32(1),
            _mm512_set1_epi32(0x0040),
        );
        for i in (0..n).step_by(16) {
            // SAFETY: as in `forward`; the derivative table has 65,536 entries.
            unsafe {
                let idx = _mm512_cvtepu16_epi32(_mm256_loadu_si256(xp.add(i).cast()));
                let d = _mm512_i32gather_ps::<4>(idx, tp);
                let gw = _mm512_cvtepu16_epi32(_mm256_loadu_si256(gp.add(i).cast()));
                let gf = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(gw));
                let nonzero = match masks {
                    true => _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(d, _mm512_setzero_ps()),
                    false => 0xFFFF,
                };
                let p = _mm512_maskz_mul_ps(nonzero, gf, d);
                let bits = _mm512_castps_si512(p);
                let high = _mm512_srli_epi32::<16>(bits);
                let even = _mm512_add_epi32(bias, _mm512_and_si512(high, one));
                let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, even));
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(p, p);
                let r = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(high, quiet));
                _mm256_storeu_si256(op.add(i).cast(), _mm512_cvtepi32_epi16(r));
            }
        }
        for i in n..x.len() {
            out[i].write(scaled(g[i], derivative[usize::from(x[i].to_bits())], masks));
        }
    }
}
