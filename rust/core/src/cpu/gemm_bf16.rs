//! bfloat16 GEMM with float32 accumulation, rounded to bfloat16 once, on one of two kernels
//! chosen at run time:
//!
//! - Intel AMX: `tdpbf16ps` multiplies a 16 x 32 bfloat16 tile by a 32 x 16 one into a
//!   16 x 16 float32 tile, 16k flops per instruction; a 32 x 32 block of `c` lives in four
//!   tile registers while `k` streams through. The CPU must have AMX-BF16 and Linux must grant
//!   the process the tile state (`arch_prctl(ARCH_REQ_XCOMP_PERM)`).
//! - AVX512-BF16: `vdpbf16ps` multiplies 16 pairs of bfloat16 into 16 float32 sums, twice the
//!   flops of a float32 FMA where the CPU issues it as fast (AMD Zen 4: 437 against 238
//!   GFLOP/s per core, measured); an 8 x 32 block of `c` lives in 16 vector registers.
//!
//! Both read `b` copied once into padded buffers of whole tiles in the pair-interleaved
//! ("VNNI") layout; AMX packs each thread's rows of `a` into tiles a block at a time (the
//! block stays in L2), the dot kernel reads a row-major `a` in place, so every load reads
//! memory in order. The packing buffers are kept per thread between calls. Where `choose`
//! finds no kernel worth it, `matmul` widens to float32.

use half::bf16;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::thread::LocalKey;

/// Rows and columns of the `c` block one kernel call computes (2 x 2 tiles of 16 x 16).
const BLOCK: usize = 32;
/// `k` per tile step (32 bfloat16 = one 64-byte tile row of `a`).
const KSTEP: usize = 32;
/// The fewest rows and columns of `c` for AMX: its tiles pad both to 32, so a matrix-vector
/// product would compute 32 times the work (below it, widening to float32 is as fast). From
/// 2048 x 128 x 128 up to 1024^3 AMX takes 0.2-0.3x the time of widening (Sapphire Rapids,
/// one or two threads), and 8 x 8 x 8 or 32 x 10 x 128 about half.
const MIN_SIDE_AMX: usize = 4;
/// Work (m * n * k) for the AVX512-BF16 kernel, which also needs `k >= MIN_K_DOT`: with fewer pairs
/// per block of `c`, or less work, the packing outweighs the faster dot products (measured on
/// Zen 4, 2 threads, against widening: 512 x 128 x 128 0.6x, 2048 x 64 x 128 0.7x, 2048 x 384 x
/// 128 1.0x, 2048 x 512 x 128 1.7x, 512^3 1.6x, 2048 x 1152 x 384 1.9x). On Sapphire
/// Rapids it is slower than widening at every size measured, but those CPUs have AMX.
const MIN_WORK_DOT: usize = 1 << 26;
const MIN_K_DOT: usize = 128;
/// Work (m * n * k) above which the row blocks are split over the threads.
const PAR_WORK: usize = 1 << 22;

/// A strided `rows x cols` matrix of bfloat16 inside a storage slice.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [bf16],
    pub offset: usize,
    /// Element strides of a row step and of a column step.
    pub strides: (usize, usize),
}

impl View<'_> {
    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> bf16 {
        self.data[self.offset + r * self.strides.0 + c * self.strides.1]
    }
}

/// A bfloat16 GEMM kernel (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Amx,
    Dot,
}

/// The fastest kernel this process can use (checked, and AMX's tile state requested, once).
pub(crate) fn kernel() -> Option<Kernel> {
    static BEST: std::sync::OnceLock<Option<Kernel>> = std::sync::OnceLock::new();
    *BEST.get_or_init(|| {
        if amx::enable() {
            Some(Kernel::Amx)
        } else if dot::available() {
            Some(Kernel::Dot)
        } else {
            None
        }
    })
}

/// The kernel for an `m x k` by `k x n` product, or `None` where widening to float32 is
/// faster (too little work to pay for packing the operands).
pub(crate) fn choose(m: usize, n: usize, k: usize) -> Option<Kernel> {
    match kernel() {
        Some(Kernel::Amx) => (m.min(n) >= MIN_SIDE_AMX).then_some(Kernel::Amx),
        Some(Kernel::Dot) => {
            let work = m.saturating_mul(n).saturating_mul(k);
            (work >= MIN_WORK_DOT && k >= MIN_K_DOT).then_some(Kernel::Dot)
        }
        None => None,
    }
}

/// The padded sizes the tiles cover.
#[derive(Clone, Copy)]
struct Padded {
    m: usize,
    n: usize,
    k: usize,
}

/// Elements of one tile (16 rows of 64 bytes).
const TILE: usize = 512;

/// A cache line of bfloat16: the unit `Tiles` are allocated in.
#[repr(C, align(64))]
struct Line([bf16; 32]);

/// Zeroed bfloat16 starting on a cache line, so each 64-byte tile row is one line (from an
/// allocator's usual 16-byte alignment every tile load touched twice the lines: 1024^3 ran
/// at 390 GFLOP/s on AMX against 650 when aligned).
struct Tiles {
    lines: Vec<Line>,
    len: usize,
}

impl Tiles {
    /// Allocated zeroed (`calloc`: a memset, or fresh zero pages), not element by element
    /// (`vec![line; n]` clones each line: 16-byte stores, 3.6% of a bfloat16 GPT step).
    fn zeroed(len: usize) -> Self {
        let n = len.div_ceil(32);
        if n == 0 {
            return Tiles {
                lines: Vec::new(),
                len,
            };
        }
        let layout = std::alloc::Layout::array::<Line>(n).expect("a buffer that fits in memory");
        // SAFETY: `layout` is `n` lines with `Line`'s alignment, as `Vec<Line>` allocates them,
        // and all-zero bits are a valid `Line`.
        let lines = unsafe {
            let ptr = std::alloc::alloc_zeroed(layout).cast::<Line>();
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Vec::from_raw_parts(ptr, n, n)
        };
        Tiles { lines, len }
    }

    /// A buffer of `len` elements from the thread's kept one in `slot` where that is large
    /// enough, else a new zeroed one. A reused buffer holds the last call's values: `clear`
    /// zeroes it, for callers whose packing leaves the padding unwritten.
    fn take(slot: &'static LocalKey<Cell<Option<Tiles>>>, len: usize, clear: bool) -> Tiles {
        match slot.with(Cell::take) {
            Some(mut tiles) if tiles.lines.len() * 32 >= len => {
                tiles.len = len;
                if clear {
                    tiles.as_mut_slice().fill(bf16::ZERO);
                }
                tiles
            }
            _ => Tiles::zeroed(len),
        }
    }

    /// Keeps the buffer in the thread's `slot` for the next call, unless it is large.
    fn keep(self, slot: &'static LocalKey<Cell<Option<Tiles>>>) {
        if self.lines.len() * 32 <= KEEP {
            slot.with(|s| s.set(Some(self)));
        }
    }

    fn as_slice(&self) -> &[bf16] {
        // SAFETY: `lines` holds at least `len` bfloat16, contiguous (`Line` has no padding).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [bf16] {
        // SAFETY: as `as_slice`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

/// Elements of a packing buffer a thread keeps between calls (4 MiB): a training step's
/// GEMMs then neither allocate nor clear their buffers (the clearing was 3% of a bfloat16
/// GPT step), while one huge product's buffer is not held forever.
const KEEP: usize = 2 << 20;

thread_local! {
    /// The AMX kernel's tiles of `a`, one block of rows at a time.
    static A_TILES: Cell<Option<Tiles>> = const { Cell::new(None) };
    /// `pack_b`'s panels.
    static B_TILES: Cell<Option<Tiles>> = const { Cell::new(None) };
}

/// Runs `fill` on each chunk of `out`, in parallel when the packing is large.
fn fill_chunks<F: Fn((usize, &mut [bf16])) + Sync>(
    out: &mut [bf16],
    chunk: usize,
    big: bool,
    fill: F,
) {
    if big {
        let chunks: Vec<_> = out.chunks_mut(chunk.max(1)).enumerate().collect();
        crate::cpu::team::for_each_halves(chunks, &fill);
    } else {
        out.chunks_mut(chunk.max(1)).enumerate().for_each(&fill);
    }
}

/// `a` cut into tiles, each stored whole (`[m_pad / 32][k_pad / 32][2][16][32]`: the two
/// 16-row halves of a 32-row block), so a tile load reads 1 KiB in order; zeros in the
/// padding. Row blocks are filled in parallel when large, walking `a` along its contiguous
/// dim (rows of `a`, or its columns when `a` is a transposed view).
fn pack_a(a: View<'_>, m: usize, k: usize, p: Padded) -> Tiles {
    let mut tiles = Tiles::zeroed(p.m * p.k);
    let out = tiles.as_mut_slice();
    let fill = |(mb, blk): (usize, &mut [bf16])| {
        pack_a_block_simd(a, m, k, mb, blk);
    };
    if m > 0 {
        fill_chunks(
            &mut out[..m.div_ceil(BLOCK) * BLOCK * p.k],
            BLOCK * p.k,
            m * k >= 1 << 16,
            fill,
        );
    }
    tiles
}

crate::multiversion!(fn pack_a_block_simd<>(a: View<'_>, m: usize, k: usize, mb: usize, blk: &mut [bf16]) where [] => pack_a_block);

/// Row block `mb` of `pack_a` into its `blk` (zeroed).
#[inline(always)]
fn pack_a_block(a: View<'_>, m: usize, k: usize, mb: usize, blk: &mut [bf16]) {
    let kt = blk.len() / (2 * TILE);
    let (r0, rows) = (mb * BLOCK, BLOCK.min(m - mb * BLOCK));
    for t in 0..kt {
        let (e0, len) = (t * KSTEP, KSTEP.min(k - (t * KSTEP).min(k)));
        let tiles = &mut blk[t * 2 * TILE..(t + 1) * 2 * TILE];
        if a.strides.1 == 1 {
            for (r, tile_row) in tiles.chunks_exact_mut(KSTEP).take(rows).enumerate() {
                let src = &a.data[a.offset + (r0 + r) * a.strides.0 + e0..][..len];
                // An element loop (one vector) rather than a `memcpy` call per 64 bytes.
                for (d, &v) in tile_row.iter_mut().zip(src) {
                    *d = v;
                }
            }
        } else if a.strides.0 == 1 {
            // `a` transposed: a run of rows per `k`; the 32 x 32 block (zero-padded) is
            // transposed in registers into the tile pair, rows of `k` values.
            const { assert!(BLOCK == super::transpose16::SIDE && KSTEP == BLOCK) };
            let mut block = [[bf16::ZERO; KSTEP]; BLOCK];
            for (e, row) in block.iter_mut().enumerate().take(len) {
                let at = a.offset + (e0 + e) * a.strides.1 + r0;
                if rows == BLOCK {
                    // A fixed 64 bytes: one vector move, where a slice copy called `memmove`
                    // (2.7% of a bfloat16 GPT step, through the weight gradients).
                    *row = a.data[at..at + BLOCK]
                        .try_into()
                        .expect("a whole block row");
                } else {
                    for (d, &v) in row.iter_mut().zip(&a.data[at..at + rows]) {
                        *d = v;
                    }
                }
            }
            super::transpose16::transpose_block(&block, tiles);
        } else {
            for e in 0..len {
                for r in 0..rows {
                    tiles[r * KSTEP + e] = a.at(r0 + r, e0 + e);
                }
            }
        }
    }
}

/// `b` in the pair-interleaved ("VNNI") layout the tiles read, cut into whole tiles
/// (`[n_pad / 32][k_pad / 32][2][16 pairs][16 columns][2]`): rows `2q` and `2q + 1` of a
/// column side by side. Column blocks are filled in parallel when large, walking `b` along
/// its contiguous dim.
fn pack_b(b: View<'_>, k: usize, n: usize, p: Padded) -> Tiles {
    let kt = p.k / KSTEP;
    // Every element is written when `k` and `n` come in whole blocks; else the padding must
    // read zero.
    let clear = !k.is_multiple_of(KSTEP) || !n.is_multiple_of(BLOCK);
    let mut tiles = Tiles::take(&B_TILES, p.k * p.n, clear);
    let out = tiles.as_mut_slice();
    // Compiled for the CPU's SIMD level: at the baseline the interleaving ran on 8-byte moves.
    let fill = |(nb, panel): (usize, &mut [bf16])| {
        pack_b_panel_simd(b, k, n, nb, panel);
    };
    if n > 0 {
        fill_chunks(out, kt * 2 * TILE, k * n >= 1 << 16, fill);
    }
    tiles
}

crate::multiversion!(fn pack_b_panel_simd<>(b: View<'_>, k: usize, n: usize, nb: usize, panel: &mut [bf16]) where [] => pack_b_panel_any);

/// `pack_b_panel` in AVX-512 registers where the CPU has them (every CPU with a bfloat16
/// kernel does) and `b` has a contiguous dim, else element by element.
#[inline(always)]
fn pack_b_panel_any(b: View<'_>, k: usize, n: usize, nb: usize, panel: &mut [bf16]) {
    #[cfg(target_arch = "x86_64")]
    {
        if (b.strides.0 == 1 || b.strides.1 == 1) && pack_avx512::available() {
            // SAFETY: the CPU has the features (checked); `panel` is column block `nb`'s.
            unsafe {
                if b.strides.0 == 1 {
                    pack_avx512::columns(b, k, n, nb, panel);
                } else {
                    pack_avx512::rows(b, k, n, nb, panel);
                }
            }
            return;
        }
    }
    pack_b_panel(b, k, n, nb, panel)
}

/// `pack_b`'s panels in AVX-512 registers: a tile row is 16 columns' pair of `k`, 64 bytes.
#[cfg(target_arch = "x86_64")]
mod pack_avx512 {
    use super::{pair_at, View, BLOCK, KSTEP};
    use half::bf16;
    use std::arch::x86_64::*;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }

    /// Columns contiguous (`b` a transposed weight): one column's 32 `k` of a tile step are
    /// 16 words (pairs), and the tile's 16 rows are word `q` of its 16 columns, so a tile is a
    /// 16 x 16 transpose of words. Loads are masked at the end of `k` (zeros past it).
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512BW; `panel` is column block `nb` of `pack_b`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn columns(b: View<'_>, k: usize, n: usize, nb: usize, panel: &mut [bf16]) {
        let (c0, cols) = (nb * BLOCK, BLOCK.min(n - nb * BLOCK));
        let base = b.data.as_ptr().add(b.offset);
        for lo in (0..cols).step_by(16) {
            let live = (cols - lo).min(16);
            for t in 0..k.div_ceil(KSTEP) {
                let e0 = t * KSTEP;
                let mask = (u32::MAX >> (KSTEP - (k - e0).min(KSTEP))) as __mmask32;
                let mut v = [_mm512_setzero_si512(); 16];
                for (c, v) in v.iter_mut().enumerate().take(live) {
                    let at = base.add((c0 + lo + c) * b.strides.1 + e0);
                    *v = _mm512_maskz_loadu_epi16(mask, at.cast());
                }
                crate::cpu::transpose16::avx512::transpose_words(&mut v);
                let dst = panel.as_mut_ptr().add(pair_at(t, 0, lo));
                for (q, v) in v.iter().enumerate() {
                    _mm512_storeu_si512(dst.add(q * 32).cast(), *v);
                }
            }
        }
    }

    /// Rows contiguous: a tile row interleaves rows `2q` and `2q + 1` of 16 columns, one
    /// `vpermt2w` of the two rows' runs (masked loads at the block's last columns).
    ///
    /// # Safety
    /// As `columns`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn rows(b: View<'_>, k: usize, n: usize, nb: usize, panel: &mut [bf16]) {
        let (c0, cols) = (nb * BLOCK, BLOCK.min(n - nb * BLOCK));
        let base = b.data.as_ptr().add(b.offset + c0);
        let index: [u16; 32] = std::array::from_fn(|i| ((i % 2) * 32 + i / 2) as u16);
        let pairs = _mm512_loadu_si512(index.as_ptr().cast());
        for lo in (0..cols).step_by(16) {
            let mask = (u32::MAX >> (32 - (cols - lo).min(16))) as __mmask32;
            for r in (0..k).step_by(2) {
                let (t, q) = (r / KSTEP, (r % KSTEP) / 2);
                let even = _mm512_maskz_loadu_epi16(mask, base.add(r * b.strides.0 + lo).cast());
                // An odd `k`'s last pair has no second row (zeros, as the padding).
                let odd = if r + 1 < k {
                    _mm512_maskz_loadu_epi16(mask, base.add((r + 1) * b.strides.0 + lo).cast())
                } else {
                    _mm512_setzero_si512()
                };
                let v = _mm512_permutex2var_epi16(even, pairs, odd);
                _mm512_storeu_si512(panel.as_mut_ptr().add(pair_at(t, q, lo)).cast(), v);
            }
        }
    }
}

/// Where row pair `q` of tile step `t` keeps column `c`'s two values, in a column block.
#[inline(always)]
fn pair_at(t: usize, q: usize, c: usize) -> usize {
    (t * 2 + c / 16) * TILE + (q * 16 + c % 16) * 2
}

/// Column block `nb` of `pack_b` into its `panel` (zeroed).
#[inline(always)]
fn pack_b_panel(b: View<'_>, k: usize, n: usize, nb: usize, panel: &mut [bf16]) {
    let (c0, cols) = (nb * BLOCK, BLOCK.min(n - nb * BLOCK));
    if b.strides.0 == 1 {
        // Columns contiguous (`b` a transposed weight): a column's pairs are neighbours, and
        // pair `r2` of 16 columns fills one 64-byte tile row, written whole.
        let zeros = vec![bf16::ZERO; k];
        for h in 0..cols.div_ceil(16) {
            let (lo, hi) = (h * 16, (h * 16 + 16).min(cols));
            let col: [&[bf16]; 16] = std::array::from_fn(|c| {
                if lo + c < hi {
                    &b.data[b.offset + (c0 + lo + c) * b.strides.1..][..k]
                } else {
                    &zeros[..]
                }
            });
            for r2 in 0..k / 2 {
                let dst: &mut [bf16] = &mut panel[pair_at(r2 / 16, r2 % 16, lo)..][..32];
                for (d, c) in dst.chunks_exact_mut(2).zip(&col) {
                    d[0] = c[2 * r2];
                    d[1] = c[2 * r2 + 1];
                }
            }
            if k % 2 == 1 {
                // An odd `k`: the last row's pair has no second value (left zero).
                let r2 = k / 2;
                let dst = &mut panel[pair_at(r2 / 16, r2 % 16, lo)..][..32];
                for (d, c) in dst.chunks_exact_mut(2).zip(&col) {
                    d[0] = c[k - 1];
                }
            }
        }
    } else if b.strides.1 == 1 {
        // Rows contiguous: interleave two rows' runs of 16 columns into one tile row.
        let row = |r: usize| &b.data[b.offset + r * b.strides.0 + c0..][..cols];
        let zeros = [bf16::ZERO; BLOCK];
        for r in (0..k).step_by(2) {
            let (t, q) = (r / KSTEP, (r % KSTEP) / 2);
            let (even, odd) = (
                row(r),
                if r + 1 < k {
                    row(r + 1)
                } else {
                    &zeros[..cols]
                },
            );
            for h in 0..cols.div_ceil(16) {
                let (lo, hi) = (h * 16, (h * 16 + 16).min(cols));
                let dst = &mut panel[pair_at(t, q, lo)..][..(hi - lo) * 2];
                for ((d, &x), &y) in dst.chunks_exact_mut(2).zip(&even[lo..hi]).zip(&odd[lo..hi]) {
                    d[0] = x;
                    d[1] = y;
                }
            }
        }
    } else {
        for r in 0..k {
            for c in 0..cols {
                panel[pair_at(r / KSTEP, (r % KSTEP) / 2, c) + r % 2] = b.at(r, c0 + c);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod amx {
    use super::{Padded, BLOCK, KSTEP};
    use half::bf16;
    use std::arch::asm;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// `arch_prctl`'s request for an extended state component, and AMX's tile data.
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    const SYS_ARCH_PRCTL: i64 = 158;

    /// Whether the CPU has AMX-BF16 and the kernel lets this process use the tiles.
    pub(super) fn enable() -> bool {
        // CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE (std's detection of them is
        // not stable yet). Whether the OS saves the tiles is what arch_prctl answers.
        let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
        // The epilogue rounds on AVX-512 with AVX512-BF16 (every AMX CPU has them).
        if edx & (1 << 22) == 0 || edx & (1 << 24) == 0 || !super::dot::available() {
            return false;
        }
        let ret: i64;
        // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) only changes which extended
        // state this process may use; it reads no memory.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack)
            );
        }
        ret == 0
    }

    /// The tile configuration: tiles 0-3 hold `c` (16 x 16 float32), 4-5 `a` (16 x 32
    /// bfloat16), 6-7 `b` (16 pair rows x 16 columns), every row 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }

    const CONFIG: TileConfig = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

    /// Loads the tile configuration every AMX kernel here uses (eight tiles of 16 rows of
    /// 64 bytes: float32 sums, `a` rows of 32 bfloat16, `b` rows of 16 pairs).
    ///
    /// # Safety
    /// `enable()` must have returned true.
    #[inline]
    pub(crate) unsafe fn configure() {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG as *const TileConfig, options(nostack));
    }

    /// Gives the tile state back (zeroed, so the OS does not keep saving it).
    ///
    /// # Safety
    /// `enable()` must have returned true.
    #[inline]
    pub(crate) unsafe fn release() {
        asm!("tilerelease", options(nostack));
    }

    /// One tile step into the 2 x 2 sums (`tmm0`-`tmm3`): `a0`, `a1` the two 16-row `a`
    /// tiles, `b0`, `b1` the two 16-column `b` tiles, each with its byte stride between rows.
    /// Each operand is loaded right before its first use, so the tile unit starts on a
    /// product while the other loads are in flight.
    ///
    /// # Safety
    /// The tiles must be configured (`configure`), and every row read must be in bounds.
    #[inline(always)]
    pub(crate) unsafe fn step(
        a0: *const u8,
        a1: *const u8,
        sa: usize,
        b0: *const u8,
        b1: *const u8,
        sb: usize,
    ) {
        asm!(
            "tileloadd tmm4, [{a0} + {sa}*1]",
            "tileloadd tmm6, [{b0} + {sb}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b1} + {sb}*1]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a1} + {sa}*1]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            a0 = in(reg) a0,
            a1 = in(reg) a1,
            b0 = in(reg) b0,
            b1 = in(reg) b1,
            sa = in(reg) sa,
            sb = in(reg) sb,
            options(nostack, readonly)
        );
    }

    /// Zeroes the four sum tiles.
    ///
    /// # Safety
    /// The tiles must be configured (`configure`).
    #[inline(always)]
    pub(crate) unsafe fn zero() {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack)
        );
    }

    /// Loads a 32 x 32 float32 block at `c` (`stride` bytes per row) into the four sum tiles,
    /// for products that add to sums kept in memory.
    ///
    /// # Safety
    /// The tiles must be configured, and `c` hold the block's 32 rows.
    #[inline(always)]
    pub(crate) unsafe fn load(c: *const f32, stride: usize) {
        let row = stride / 4;
        asm!(
            "tileloadd tmm0, [{c0} + {s}*1]",
            "tileloadd tmm1, [{c1} + {s}*1]",
            "tileloadd tmm2, [{c2} + {s}*1]",
            "tileloadd tmm3, [{c3} + {s}*1]",
            c0 = in(reg) c,
            c1 = in(reg) c.add(16),
            c2 = in(reg) c.add(16 * row),
            c3 = in(reg) c.add(16 * row + 16),
            s = in(reg) stride,
            options(nostack, readonly)
        );
    }

    /// Stores the four sum tiles as a 32 x 32 float32 block at `c` (`stride` bytes per row).
    ///
    /// # Safety
    /// The tiles must be configured, and `c` hold the block's 32 rows.
    #[inline(always)]
    pub(crate) unsafe fn store(c: *mut f32, stride: usize) {
        let row = stride / 4;
        asm!(
            "tilestored [{c0} + {s}*1], tmm0",
            "tilestored [{c1} + {s}*1], tmm1",
            "tilestored [{c2} + {s}*1], tmm2",
            "tilestored [{c3} + {s}*1], tmm3",
            c0 = in(reg) c,
            c1 = in(reg) c.add(16),
            c2 = in(reg) c.add(16 * row),
            c3 = in(reg) c.add(16 * row + 16),
            s = in(reg) stride,
            options(nostack)
        );
    }

    /// Two 32 x 32 float32 blocks of `c` as the tiles store them, aligned for whole-row loads:
    /// one block's sums are rounded while the next block's are computed.
    #[repr(C, align(64))]
    struct Blocks([f32; 2 * BLOCK * BLOCK]);

    /// Rows `0..rows` of `seed + a @ b` into `out` (`rows x n` bfloat16, row-major), from
    /// `a`'s rows tile-packed (`pack_a_block`, `rows` rounded up to whole blocks) and the
    /// tile-packed `b`. Each 32 x 32 block of sums lives in four tile registers while `k`
    /// streams through, then is stored to a 4 KiB buffer (in L1); its rows get the column's
    /// seed and are rounded to bfloat16 a few at a time between the next block's tile steps,
    /// so the vector work overlaps the tile unit's instead of waiting for it. No float32
    /// copy of `c` is made.
    ///
    /// # Safety
    /// `enable()` must have returned true; `a` holds `rows.div_ceil(32) * 32 x p.k` and `b`
    /// `p.k x p.n` elements, `seed` `p.n`, and `out` `rows x n`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(super) unsafe fn blocks(
        a: &[bf16],
        b: &[bf16],
        seed: &[f32],
        out: &mut [MaybeUninit<bf16>],
        (rows, n): (usize, usize),
        p: Padded,
    ) {
        const TILE_ROW: usize = 64;
        let kt = p.k / KSTEP;
        let tile = |packed: &[bf16], block: usize, t: usize, half: usize| {
            packed
                .as_ptr()
                .add(((block * kt + t) * 2 + half) * super::TILE)
        };
        let o = out.as_mut_ptr().cast::<i16>();
        let mut sums = Blocks([0.0; 2 * BLOCK * BLOCK]);
        let bufs = [sums.0.as_mut_ptr(), sums.0.as_mut_ptr().add(BLOCK * BLOCK)];
        // Rows of the previous block rounded after each tile step (all 32 within `kt` steps).
        let per_step = BLOCK.div_ceil(kt);
        // The block whose sums wait in a buffer: (row block, column block, buffer).
        let mut pending: Option<(usize, usize, usize)> = None;
        let round = |(mb, nb, which): (usize, usize, usize), r0: usize, r1: usize| {
            let live = rows - mb * BLOCK;
            epilogue(
                bufs[which],
                o,
                seed,
                n,
                (mb, nb),
                r0.min(live)..r1.min(live),
            );
        };
        configure();
        let mut which = 0;
        for nb in 0..p.n / BLOCK {
            for mb in 0..rows.div_ceil(BLOCK) {
                zero();
                for t in 0..kt {
                    let (a0, b0) = (tile(a, mb, t, 0).cast::<u8>(), tile(b, nb, t, 0).cast());
                    let (a1, b1) = (tile(a, mb, t, 1).cast(), tile(b, nb, t, 1).cast());
                    step(a0, a1, TILE_ROW, b0, b1, TILE_ROW);
                    if let Some(last) = pending {
                        round(last, t * per_step, (t + 1) * per_step);
                    }
                }
                store(bufs[which], BLOCK * 4);
                pending = Some((mb, nb, which));
                which ^= 1;
            }
        }
        if let Some(last) = pending {
            round(last, 0, BLOCK);
        }
        release();
    }

    /// Rows `rs` of the 32 x 32 block `(mb, nb)` of sums in `buf`: each plus its column's
    /// seed, rounded into the row-major `rows x n` output at `o`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    unsafe fn epilogue(
        buf: *const f32,
        o: *mut i16,
        seed: &[f32],
        n: usize,
        (mb, nb): (usize, usize),
        rs: std::ops::Range<usize>,
    ) {
        let s = seed.as_ptr().add(nb * BLOCK);
        let start = [_mm512_loadu_ps(s), _mm512_loadu_ps(s.add(16))];
        for r in rs {
            let row = buf.add(r * BLOCK);
            let sums = [
                _mm512_add_ps(_mm512_load_ps(row), start[0]),
                _mm512_add_ps(_mm512_load_ps(row.add(16)), start[1]),
            ];
            super::dot::store_row(o, mb * BLOCK + r, n, nb, sums);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) mod amx {
    pub(super) fn enable() -> bool {
        false
    }
}

/// Where the AVX512-BF16 kernel reads `a`'s pairs of `k` from.
#[derive(Clone, Copy)]
enum ASource<'a> {
    /// The tile-packed copy (`pack_a`).
    Packed(&'a [bf16]),
    /// A row-major `a` itself (column stride 1) with its `k`: each row's pairs are already
    /// consecutive 32-bit words, so the kernel broadcasts them in place and packing (a full
    /// copy of `a`, 12% of a GEMM's time) is skipped.
    Rows(View<'a>, usize),
}

#[cfg(target_arch = "x86_64")]
mod dot {
    use super::{ASource, Padded, BLOCK, KSTEP, TILE};
    use half::bf16;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Rows of `c` per register block (8 rows x 32 columns: 16 accumulators).
    const MR: usize = 8;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512bf16")
    }

    /// Rows `first_row..first_row + rows` of `seed + a @ b` into `out` (`rows x n` bfloat16,
    /// row-major), from the tile-packed `a` and `b` (`pack_a`, `pack_b`): for each 32-column
    /// block of `b` and 8 rows of `a`, per pair of `k` two 16-column rows of `b` and each row's
    /// pair of `a` broadcast; the sums start at the column's `seed` (the bias, or zero) and are
    /// rounded to bfloat16 as they are stored.
    ///
    /// # Safety
    /// `available()` must have returned true; `a` holds `p.m x p.k` and `b` `p.k x p.n`
    /// elements, `seed` `p.n`, `first_row` is a multiple of 32 and `out` holds `rows x n`
    /// elements.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(super) unsafe fn blocks(
        a: ASource<'_>,
        b: &[bf16],
        seed: &[f32],
        out: &mut [MaybeUninit<bf16>],
        (first_row, rows, n): (usize, usize, usize),
        p: Padded,
    ) {
        let kt = p.k / KSTEP;
        let (b, o) = (b.as_ptr(), out.as_mut_ptr().cast::<i16>());
        for nb in 0..p.n / BLOCK {
            let s = seed.as_ptr().add(nb * BLOCK);
            let start = [_mm512_loadu_ps(s), _mm512_loadu_ps(s.add(16))];
            for mb in 0..rows.div_ceil(BLOCK) {
                let ab = first_row / BLOCK + mb;
                for mr in 0..BLOCK / MR {
                    let row0 = mb * BLOCK + mr * MR;
                    if row0 >= rows {
                        break;
                    }
                    let mut acc = [start; MR];
                    // A `b` tile row holds one pair of `k` of all 16 columns of its half.
                    let b_at = |t: usize| b.add((nb * kt + t) * 2 * TILE).cast::<f32>();
                    match a {
                        ASource::Packed(a) => {
                            // A tile row holds one row's 32 `k` (16 pairs).
                            let (half, r0) = (mr * MR / 16, mr * MR % 16);
                            for t in 0..kt {
                                let at = a.as_ptr().add(((ab * kt + t) * 2 + half) * TILE);
                                let at = at.add(r0 * KSTEP).cast::<i32>();
                                let rows: [*const i32; MR] =
                                    std::array::from_fn(|r| at.add(r * KSTEP / 2));
                                pairs(&mut acc, rows, b_at(t), KSTEP / 2);
                            }
                        }
                        ASource::Rows(a, k) => {
                            // Rows past this part's end repeat its last row (their sums are
                            // never stored).
                            let starts: [*const bf16; MR] = std::array::from_fn(|r| {
                                let row = first_row + (row0 + r).min(rows - 1);
                                a.data.as_ptr().add(a.offset + row * a.strides.0)
                            });
                            let whole = k / 2;
                            for t in 0..whole.div_ceil(KSTEP / 2) {
                                let q0 = t * KSTEP / 2;
                                let at = starts.map(|r| r.add(2 * q0).cast::<i32>());
                                pairs(&mut acc, at, b_at(t), (whole - q0).min(KSTEP / 2));
                            }
                            if k % 2 == 1 {
                                // The last `k` alone: its pair's other half is zero, as in
                                // the packed `b`.
                                let last = starts.map(|r| (*r.add(k - 1)).to_bits() as i32);
                                let at = last.each_ref().map(|v| v as *const i32);
                                let b0 = b_at(whole / (KSTEP / 2)).add(whole % (KSTEP / 2) * 16);
                                pairs(&mut acc, at, b0, 1);
                            }
                        }
                    }
                    for (r, &acc) in acc.iter().enumerate().take(rows - row0) {
                        store_row(o, row0 + r, n, nb, acc);
                    }
                }
            }
        }
    }

    /// Adds `count` pairs of `k` to an `MR x 32` block of sums: pair `q` of row `r` is the
    /// 32-bit word at `rows[r] + q`, and the two 16-column halves of `b`'s pair `q` start at
    /// `b0 + 16 q` and `b0 + TILE / 2 + 16 q` (floats).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn pairs(
        acc: &mut [[__m512; 2]; MR],
        rows: [*const i32; MR],
        b0: *const f32,
        count: usize,
    ) {
        let b1 = b0.add(TILE / 2);
        for q in 0..count {
            let w0: __m512bh = std::mem::transmute(_mm512_loadu_ps(b0.add(q * 16)));
            let w1: __m512bh = std::mem::transmute(_mm512_loadu_ps(b1.add(q * 16)));
            for (acc, row) in acc.iter_mut().zip(rows) {
                let x = _mm512_set1_epi32(row.add(q).read_unaligned());
                let x: __m512bh = std::mem::transmute(x);
                acc[0] = _mm512_dpbf16_ps(acc[0], x, w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], x, w1);
            }
        }
    }

    /// Row `row` of a row-major `rows x n` bfloat16 output at `o`: column block `nb`'s 32
    /// sums rounded, the columns past `n` left out (shared with the AMX kernel).
    ///
    /// # Safety
    /// `available()` must have returned true; `o` holds `(row + 1) * n` elements.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(super) unsafe fn store_row(
        o: *mut i16,
        row: usize,
        n: usize,
        nb: usize,
        sums: [__m512; 2],
    ) {
        // `vcvtne2ps2bf16` rounds 32 sums to nearest even in one instruction and quiets a NaN
        // as `f32_to_bf16` does, but flushes a subnormal to zero: rows holding one (class
        // bit 0x20) take the exact path.
        const SUBNORMAL: i32 = 0x20;
        let tiny = _mm512_fpclass_ps_mask::<SUBNORMAL>(sums[0])
            | _mm512_fpclass_ps_mask::<SUBNORMAL>(sums[1]);
        if tiny == 0 {
            let col = nb * BLOCK;
            let keep = if n - col >= BLOCK {
                u32::MAX
            } else {
                (1u32 << (n - col)) - 1
            };
            let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(sums[1], sums[0]));
            _mm512_mask_storeu_epi16(o.add(row * n + col), keep, v);
            return;
        }
        for (h, &v) in sums.iter().enumerate() {
            let col = nb * BLOCK + h * 16;
            if col < n {
                let keep = (1u32 << (n - col).min(16)) - 1;
                _mm256_mask_storeu_epi16(o.add(row * n + col), keep as __mmask16, round(v));
            }
        }
    }

    /// `f32_to_bf16` on 16 lanes: round to nearest even, a NaN kept (and made quiet).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    fn round(v: __m512) -> __m256i {
        let bits = _mm512_castps_si512(v);
        let high = _mm512_srli_epi32::<16>(bits);
        let lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
        let bias = _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF));
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, bias));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        let quiet = _mm512_or_si512(high, _mm512_set1_epi32(0x40));
        _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet))
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod dot {
    pub(super) fn available() -> bool {
        false
    }
}

/// Appends `a @ b (+ bias)` (`m x k` by `k x n`, bfloat16; `bias` one float32 per column) to
/// `out` row-major on `kernel` (one `choose` returned), summed in float32 and rounded once.
/// The bias seeds the sums, so a biased linear layer is one pass over its output.
pub(crate) fn gemm(
    kernel: Kernel,
    a: View<'_>,
    b: View<'_>,
    (m, n, k): (usize, usize, usize),
    bias: Option<&[f32]>,
    out: &mut Vec<bf16>,
) {
    let p = Padded {
        m: m.next_multiple_of(BLOCK),
        n: n.next_multiple_of(BLOCK),
        k: k.next_multiple_of(KSTEP),
    };
    // The bias padded to whole column blocks (zeros: no bias), so the kernels load it whole.
    let mut seed = vec![0f32; p.n];
    if let Some(bias) = bias {
        seed[..n].copy_from_slice(&bias[..n]);
    }
    if m == 0 || n == 0 || k == 0 {
        for _ in 0..m {
            out.extend(seed[..n].iter().map(|&v| crate::dtype::f32_to_bf16(v)));
        }
        return;
    }
    // The dot kernel reads a row-major `a` in place, else a packed copy; the AMX kernel packs
    // each thread's rows itself, a block of them at a time (`amx_rows`).
    let pa = (kernel == Kernel::Dot && a.strides.1 != 1).then(|| pack_a(a, m, k, p));
    let a_src = match &pa {
        Some(packed) => ASource::Packed(packed.as_slice()),
        None => ASource::Rows(a, k),
    };
    let tiles_b = pack_b(b, k, n, p);
    let pb = tiles_b.as_slice();
    let start = out.len();
    out.reserve(m * n);
    let dst = &mut out.spare_capacity_mut()[..m * n];
    // One thread's rows of the result (`first_row` a multiple of 32), into its slice of `dst`.
    let run = |first_row: usize, dst: &mut [MaybeUninit<bf16>]| {
        let rows = dst.len() / n;
        match kernel {
            // SAFETY: `kernel()` checked the CPU (and the OS, for AMX); the packed buffers
            // are padded to whole blocks, and the rows start at a block.
            #[cfg(target_arch = "x86_64")]
            Kernel::Amx => unsafe { amx_rows(a, pb, &seed, dst, (first_row, m, n, k), p) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Dot => unsafe { dot::blocks(a_src, pb, &seed, dst, (first_row, rows, n), p) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no bfloat16 kernel off x86-64"),
        }
    };
    let threads = crate::threads::get();
    if m * n * k >= PAR_WORK && threads > 1 && p.m > BLOCK {
        let per = (p.m / BLOCK).div_ceil(threads) * BLOCK;
        // One block of rows per thread: on the team's two threads (no pool wake-up), or rayon.
        let blocks: Vec<_> = dst.chunks_mut(per * n).enumerate().collect();
        crate::cpu::team::for_each(blocks, |(i, chunk)| run(i * per, chunk));
    } else {
        run(0, dst);
    }
    tiles_b.keep(&B_TILES);
    // SAFETY: every row of the `m x n` result was written by one thread.
    unsafe { out.set_len(start + m * n) };
}

/// Bytes of packed `a` the AMX kernel works through at once: with the `b` panel in L1 it
/// stays in L2 while every column block passes over it (a 1024 x 1536 part re-read from L3
/// for each of them ran at 0.65x).
const A_BLOCK_BYTES: usize = 512 << 10;

/// Rows `first_row..` of `a @ b` (one thread's part, `dst.len() / n` rows) on AMX: `a`'s
/// rows packed into the thread's kept buffer a block at a time (a copy that stays in L2,
/// aligned to cache lines, where reading a row-major `a` in place touched two lines per
/// tile row unless it happened to be aligned), each block then multiplied by every column
/// block of `b`.
///
/// # Safety
/// `amx::enable()` must have returned true; `b` is `pack_b`'s, `seed` holds `p.n` values and
/// `first_row` is a multiple of 32.
#[cfg(target_arch = "x86_64")]
unsafe fn amx_rows(
    a: View<'_>,
    b: &[bf16],
    seed: &[f32],
    dst: &mut [MaybeUninit<bf16>],
    (first_row, m, n, k): (usize, usize, usize, usize),
    p: Padded,
) {
    let rows = dst.len() / n;
    let span = (A_BLOCK_BYTES / (2 * p.k) / BLOCK).max(1) * BLOCK;
    let span = span.min(rows.next_multiple_of(BLOCK));
    let mut tiles = Tiles::take(&A_TILES, span * p.k, false);
    for r0 in (0..rows).step_by(span) {
        let part = span.min(rows - r0);
        let packed = &mut tiles.as_mut_slice()[..part.next_multiple_of(BLOCK) * p.k];
        for (i, blk) in packed.chunks_exact_mut(BLOCK * p.k).enumerate() {
            let mb = (first_row + r0) / BLOCK + i;
            // `pack_a_block` writes only `a`'s elements: a block with padding is cleared.
            if !k.is_multiple_of(KSTEP) || m - mb * BLOCK < BLOCK {
                blk.fill(bf16::ZERO);
            }
            pack_a_block_simd(a, m, k, mb, blk);
        }
        let out = &mut dst[r0 * n..(r0 + part) * n];
        amx::blocks(packed, b, seed, out, (part, n), p);
    }
    tiles.keep(&A_TILES);
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// Every kernel this CPU has (AMX hosts usually have AVX512-BF16 too).
    fn kernels() -> Vec<Kernel> {
        let mut all = Vec::new();
        if kernel() == Some(Kernel::Amx) {
            all.push(Kernel::Amx);
        }
        if dot::available() {
            all.push(Kernel::Dot);
        }
        all
    }

    fn matches_float32_on_odd_sizes_and_strides() {
        for kernel in kernels() {
            matches_float32(kernel);
        }
    }

    fn matches_float32(kernel: Kernel) {
        for &(m, n, k) in &[
            (1, 1, 1),
            (9, 33, 17),
            (17, 64, 64),
            (40, 100, 129),
            (70, 3, 300),
            (5, 7, 0),
            (300, 70, 257), // split over the threads, so parts start past row 0
            (64, 40, 96),   // whole blocks: AMX reads a row-major `a` in place
            (320, 33, 64),  // the same, split over the threads
        ] {
            let a: Vec<bf16> = (0..2 * m * k)
                .map(|i| bf16::from_f32(((i * 7 % 13) as f32 - 6.0) / 8.0))
                .collect();
            // b stored transposed (n x k) and read through strides, or row-major, or with
            // neither stride 1 (every other element of a wider buffer).
            let bt: Vec<bf16> = (0..2 * n * k)
                .map(|i| bf16::from_f32(((i * 5 % 11) as f32 - 5.0) / 4.0))
                .collect();
            // a row-major, transposed, or with neither stride 1.
            let layouts = [
                ((k, 1), (1, k)),
                ((k, 1), (n, 1)),
                ((1, m), (2 * n, 2)),
                ((2 * k, 2), (n, 1)),
            ];
            for (sa, sb) in layouts {
                let view = |data, strides| View {
                    data,
                    offset: 0,
                    strides,
                };
                check(kernel, view(&a, sa), view(&bt, sb), (m, n, k));
            }
        }
    }

    fn check(kernel: Kernel, av: View<'_>, bv: View<'_>, (m, n, k): (usize, usize, usize)) {
        let mut got = Vec::new();
        // Every other call with a bias, which seeds each column's sum.
        let bias: Vec<f32> = (0..n).map(|j| (j % 7) as f32 - 3.0).collect();
        let biased = k % 2 == 1 || k == 0;
        let seed = biased.then_some(&bias[..]);
        gemm(kernel, av, bv, (m, n, k), seed, &mut got);
        let got: Vec<f32> = got.iter().map(|v| v.to_f32()).collect();
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k)
                    .map(|q| av.at(i, q).to_f32() * bv.at(q, j).to_f32())
                    .sum::<f32>()
                    + if biased { bias[j] } else { 0.0 };
                let g = got[i * n + j];
                let tol = 4e-3 * want.abs().max(1.0);
                assert!(
                    (g - want).abs() <= tol,
                    "{kernel:?} {m}x{n}x{k}: {g} vs {want}"
                );
            }
        }
    }

    crate::self_test::cases!(matches_float32_on_odd_sizes_and_strides);
}
