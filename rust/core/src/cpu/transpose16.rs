//! 32 x 32 blocks of 16-bit values (bfloat16) transposed in AVX-512 registers, for packing a
//! transposed operand of the bfloat16 GEMM: a weight gradient `g^T @ x` reads `g^T`, whose
//! rows are columns of `g`, and element-by-element packing took a tenth of a bfloat16
//! transformer step.
//!
//! Five rounds of `vpermt2w` over the 32 rows, each swapping one bit of the row index with the
//! same bit of the column index, replace 1024 scalar moves. The same in four rounds transposes
//! 16 x 16 32-bit words: pairs of bfloat16, for packing the GEMM's `b` pair-interleaved.

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
pub(crate) mod avx512 {
    use super::SIDE;
    use half::bf16;
    use std::arch::x86_64::*;

    /// The permutation of round `bit` for the lower row of a pair (`low`) or the upper, on
    /// rows of `N` lanes: lane `c` takes lane `c` or `c + s` of the lower row (indices below
    /// `N`) or lane `c - s` or `c` of the upper (indices `N` and up), by bit `bit` of `c`.
    const fn round_index<const N: usize>(bit: usize, low: bool) -> [u32; N] {
        let s = 1 << bit;
        let mut out = [0u32; N];
        let mut c = 0;
        while c < N {
            let c_has = c & s != 0;
            out[c] = (match (low, c_has) {
                (true, false) => c,
                (true, true) => N + c - s,
                (false, false) => c + s,
                (false, true) => N + c,
            }) as u32;
            c += 1;
        }
        out
    }

    /// Both permutations of each round, for 16 lanes of 32 bits, built at compile time.
    static WORD_ROUNDS: [[[u32; 16]; 2]; 4] = {
        let mut t = [[[0; 16]; 2]; 4];
        let mut bit = 0;
        while bit < 4 {
            t[bit] = [round_index(bit, true), round_index(bit, false)];
            bit += 1;
        }
        t
    };

    /// The same for 32 lanes of 16 bits.
    static HALF_ROUNDS: [[[u16; SIDE]; 2]; 5] = {
        let mut t = [[[0; SIDE]; 2]; 5];
        let mut bit = 0;
        while bit < 5 {
            let pair = [
                round_index::<SIDE>(bit, true),
                round_index::<SIDE>(bit, false),
            ];
            let mut c = 0;
            while c < SIDE {
                t[bit][0][c] = pair[0][c] as u16;
                t[bit][1][c] = pair[1][c] as u16;
                c += 1;
            }
            bit += 1;
        }
        t
    };

    /// Transposes 16 rows of 16 32-bit words in place (four rounds of `vpermt2d`, as
    /// `transpose` does with 16-bit lanes).
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn transpose_words(v: &mut [__m512i; 16]) {
        for (bit, [lo, hi]) in WORD_ROUNDS.iter().enumerate() {
            let s = 1 << bit;
            let lo = _mm512_loadu_si512(lo.as_ptr().cast());
            let hi = _mm512_loadu_si512(hi.as_ptr().cast());
            for i in (0..16).filter(|i| i & s == 0) {
                let (a, b) = (v[i], v[i | s]);
                v[i] = _mm512_permutex2var_epi32(a, lo, b);
                v[i | s] = _mm512_permutex2var_epi32(a, hi, b);
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn transpose(src: &[[bf16; SIDE]; SIDE], out: &mut [bf16; SIDE * SIDE]) {
        let mut v: [__m512i; SIDE] =
            std::array::from_fn(|e| _mm512_loadu_si512(src[e].as_ptr().cast()));
        for (bit, [lo, hi]) in HALF_ROUNDS.iter().enumerate() {
            let s = 1 << bit;
            let lo = _mm512_loadu_si512(lo.as_ptr().cast());
            let hi = _mm512_loadu_si512(hi.as_ptr().cast());
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

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

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

    #[cfg(target_arch = "x86_64")]
    fn transposes_words_like_the_definition() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        use std::arch::x86_64::*;
        let src: [[u32; 16]; 16] =
            std::array::from_fn(|r| std::array::from_fn(|c| (r * 16 + c) as u32));
        // SAFETY: the CPU has AVX-512F (checked above).
        let out = unsafe {
            let mut v = src.map(|row| _mm512_loadu_si512(row.as_ptr().cast()));
            avx512::transpose_words(&mut v);
            v.map(|x| std::mem::transmute::<__m512i, [u32; 16]>(x))
        };
        for r in 0..16 {
            for c in 0..16 {
                assert_eq!(out[r][c], src[c][r], "r {r} c {c}");
            }
        }
    }

    crate::self_test::cases!(
        transposes_like_the_definition,
        transposes_words_like_the_definition
    );
}
