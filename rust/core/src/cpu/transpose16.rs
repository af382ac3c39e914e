//! 32 x 32 blocks of 16-bit values (bfloat16) transposed in AVX-512 registers, for packing a
//! transposed operand of the bfloat16 GEMM: a weight gradient `g^T @ x` reads `g^T`, whose
//! rows are columns of `g`, and element-by-element packing took a tenth of a bfloat16
//! transformer step.
//!
//! Five rounds of `vpermt2w` over the 32 rows, each swapping one bit of the row index with the
//! same bit of the column index, replace 1024 scalar moves.

use half::bf16;

/// Side of the blocks.
pub(crate) const SIDE: usize = 32;

/// `out[r * 32 + e] = src[e][r]`: with AVX-512BW when the CPU has it, else element by element.
pub(crate) fn transpose_block(src: &[[bf16; SIDE]; SIDE], out: &mut [bf16]) {
    let out: &mut [bf16; SIDE * SIDE] = (&mut out[..SIDE * SIDE]).try_into().expect("a block");
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { avx512::transpose(src, out) };
            return;
        }
    }
    for (r, row) in out.chunks_exact_mut(SIDE).enumerate() {
        for (e, o) in row.iter_mut().enumerate() {
            *o = src[e][r];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::SIDE;
    use half::bf16;
    use std::arch::x86_64::*;

    /// The permutation of round `bit` for the lower row of a pair (`low`) or the upper: lane
    /// `c` takes lane `c` or `c + s` of the lower row (indices below 32) or lane `c - s` or `c`
    /// of the upper (indices 32 and up), by bit `bit` of `c`.
    fn round_index(bit: usize, low: bool) -> [u16; SIDE] {
        let s = 1 << bit;
        std::array::from_fn(|c| {
            let c_has = c & s != 0;
            (match (low, c_has) {
                (true, false) => c,
                (true, true) => SIDE + c - s,
                (false, false) => c + s,
                (false, true) => SIDE + c,
            }) as u16
        })
    }

    /// # Safety
    /// The CPU must have AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn transpose(src: &[[bf16; SIDE]; SIDE], out: &mut [bf16; SIDE * SIDE]) {
        let mut v: [__m512i; SIDE] =
            std::array::from_fn(|e| _mm512_loadu_si512(src[e].as_ptr().cast()));
        for bit in 0..5 {
            let s = 1 << bit;
            let lo = _mm512_loadu_si512(round_index(bit, true).as_ptr().cast());
            let hi = _mm512_loadu_si512(round_index(bit, false).as_ptr().cast());
            for i in (0..SIDE).filter(|i| i & s == 0) {
                let (a, b) = (v[i], v[i | s]);
                v[i] = _mm512_permutex2var_epi16(a, lo, b);
                v[i | s] = _mm512_permutex2var_epi16(a, hi, b);
            }
        }
        for (r, x) in v.iter().enumerate() {
            _mm512_storeu_si512(out[r * SIDE..].as_mut_ptr().cast(), *x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_like_the_definition() {
        // Every element a distinct bit pattern.
        let src: [[bf16; SIDE]; SIDE] = std::array::from_fn(|e| {
            std::array::from_fn(|r| bf16::from_bits((e * SIDE + r) as u16))
        });
        let mut out = vec![bf16::ZERO; SIDE * SIDE];
        transpose_block(&src, &mut out);
        for r in 0..SIDE {
            for e in 0..SIDE {
                assert_eq!(
                    out[r * SIDE + e].to_bits(),
                    src[e][r].to_bits(),
                    "r {r} e {e}"
                );
            }
        }
    }
}
