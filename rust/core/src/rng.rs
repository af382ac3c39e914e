//! The global random generator (xoshiro256++ seeded through splitmix64). `manual_seed` makes
//! every random op reproducible; the state can be saved into checkpoints and restored.

use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The ziggurat's base: where the tail begins (128 layers of equal area `ZIG_V`).
const ZIG_R: f64 = 3.442_619_855_899;
const ZIG_V: f64 = 9.912_563_035_262_17e-3;

/// Layer edges `x[i]` (x[1] = R, x[128] = 0) and the ratios `x[i+1] / x[i]` below which a
/// sample is accepted at once.
struct Ziggurat {
    x: [f64; 129],
    ratio: [f64; 128],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x = [0.0; 129];
        let mut f = (-0.5 * ZIG_R * ZIG_R).exp();
        x[0] = ZIG_V / f;
        x[1] = ZIG_R;
        for i in 2..128 {
            x[i] = (-2.0 * (ZIG_V / x[i - 1] + f).ln()).sqrt();
            f = (-0.5 * x[i] * x[i]).exp();
        }
        let mut ratio = [0.0; 128];
        for i in 0..128 {
            ratio[i] = x[i + 1] / x[i];
        }
        Ziggurat { x, ratio }
    })
}

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        let mut x = seed;
        Rng {
            s: [
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
            ],
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by the ziggurat method (Marsaglia and Tsang, with Doornik's 128-layer
    /// table): one 64-bit draw and a table lookup for ~99% of samples, no logarithm or sine,
    /// several times faster than Box–Muller.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let z = ziggurat();
        loop {
            let bits = self.next_u64();
            let i = (bits & 0x7f) as usize;
            // The top 53 bits give u in [-1, 1); the low 7 picked the layer.
            let u = (bits >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0;
            if u.abs() < z.ratio[i] {
                return u * z.x[i];
            }
            if i == 0 {
                return self.normal_tail(u < 0.0);
            }
            let x = u * z.x[i];
            let f0 = (-0.5 * (z.x[i] * z.x[i] - x * x)).exp();
            let f1 = (-0.5 * (z.x[i + 1] * z.x[i + 1] - x * x)).exp();
            if f1 + self.uniform() * (f0 - f1) < 1.0 {
                return x;
            }
        }
    }

    /// A sample beyond the ziggurat's base `R` (Marsaglia's tail method), on the side asked.
    #[cold]
    fn normal_tail(&mut self, negative: bool) -> f64 {
        loop {
            let x = (1.0 - self.uniform()).ln() / ZIG_R;
            let y = (1.0 - self.uniform()).ln();
            if -2.0 * y >= x * x {
                return if negative { x - ZIG_R } else { ZIG_R - x };
            }
        }
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    pub fn from_state(s: [u64; 4]) -> Rng {
        Rng { s }
    }
}

static GLOBAL: Mutex<Option<Rng>> = Mutex::new(None);

thread_local! {
    /// A generator of this thread's own, which replaces the global one on it while set: a
    /// data-loader worker thread draws from a stream seeded for it, as a PyTorch worker
    /// process does, without touching the main thread's draws.
    static LOCAL: std::cell::RefCell<Option<Rng>> = const { std::cell::RefCell::new(None) };
}

/// Gives this thread its own generator seeded with `seed` (`None`: back to the global one).
pub fn seed_this_thread(seed: Option<u64>) {
    put_local(seed.map(Rng::seeded));
}

/// This thread's own generator, removed from it (`threads::install` carries it to the pool
/// thread that runs the work).
pub(crate) fn take_local() -> Option<Rng> {
    LOCAL.with(|l| l.try_borrow_mut().ok().and_then(|mut b| b.take()))
}

/// Sets (or clears) this thread's own generator.
pub(crate) fn put_local(rng: Option<Rng>) {
    LOCAL.with(|l| {
        if let Ok(mut b) = l.try_borrow_mut() {
            *b = rng;
        }
    });
}

/// Runs `f` with this thread's generator if it has one (`seed_this_thread`), else the
/// global generator (seeded from the clock until `manual_seed` is called).
pub fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    match take_local() {
        Some(mut rng) => {
            let r = f(&mut rng);
            put_local(Some(rng));
            r
        }
        None => with_global(f),
    }
}

fn with_global<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    let mut g = match GLOBAL.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let rng = g.get_or_insert_with(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED);
        Rng::seeded(t)
    });
    f(rng)
}

pub fn manual_seed(seed: u64) {
    with_rng(|r| *r = Rng::seeded(seed));
}

pub fn get_rng_state() -> [u64; 4] {
    with_rng(|r| r.state())
}

/// Restores a state from `get_rng_state`. All zeros is refused: xoshiro's one fixed point,
/// from which every draw would be the same number (PyTorch refuses such a state too).
pub fn set_rng_state(s: [u64; 4]) -> crate::Result<()> {
    check_state(s)?;
    with_rng(|r| *r = Rng::from_state(s));
    Ok(())
}

fn check_state(s: [u64; 4]) -> crate::Result<()> {
    if s == [0; 4] {
        crate::bail!(
            Value,
            "invalid RNG state: all zeros (every draw would be the same number); use a state \
             from get_rng_state()"
        );
    }
    Ok(())
}

/// Makes `state` this thread's own generator (`None`: back to the global one) and returns the
/// state of the one it replaces, if the thread had its own: how a `dm.Generator` draws from
/// its stream without touching the global one other threads draw from.
pub fn swap_thread_state(state: Option<[u64; 4]>) -> crate::Result<Option<[u64; 4]>> {
    if let Some(s) = state {
        check_state(s)?;
    }
    let previous = take_local().map(|r| r.state());
    put_local(state.map(Rng::from_state));
    Ok(previous)
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    fn reproducible_and_in_range() {
        let mut a = Rng::seeded(7);
        let mut b = Rng::seeded(7);
        for _ in 0..100 {
            let x = a.uniform();
            assert_eq!(x, b.uniform());
            assert!((0.0..1.0).contains(&x));
            assert!(a.below(10) < 10);
            b.below(10);
        }
        let n: f64 = (0..20000).map(|_| a.normal()).sum::<f64>() / 20000.0;
        assert!(n.abs() < 0.05);
    }

    /// The ziggurat's samples follow N(0, 1): moments, the normal CDF at several points
    /// (inside layers, near the base, in the tail) and the tail mass beyond the base.
    fn normal_matches_the_gaussian() {
        let mut r = Rng::seeded(3);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let kurt = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        assert!((kurt - 3.0).abs() < 0.05, "kurtosis {kurt}");
        // Φ(t) for t = -3, -1.5, -0.5, 0, 0.7, 2, 3.44 (the base R).
        let cdf = [
            (-3.0, 0.001_349_9),
            (-1.5, 0.066_807_2),
            (-0.5, 0.308_537_5),
            (0.0, 0.5),
            (0.7, 0.758_036_3),
            (2.0, 0.977_249_9),
            (ZIG_R, 0.999_712_0),
        ];
        for (t, p) in cdf {
            let got = xs.iter().filter(|&&x| x < t).count() as f64 / n as f64;
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!(
                (got - p).abs() < 5.0 * sd + 1e-6,
                "P(X < {t}) = {got}, expected {p}"
            );
        }
    }

    crate::self_test::cases!(reproducible_and_in_range, normal_matches_the_gaussian);
}

/// Philox4x32-10 (Salmon et al., SC'11), the same function as `random.cu`'s: a counter-based
/// generator, so a value is a pure function of (seed, offset, index) and a fused kernel can
/// redraw a dropout mask in its backward, on either device, with no mask stored.
pub(crate) fn philox4x32_10(mut c: [u32; 4], mut k0: u32, mut k1: u32) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(0x9E37_79B9);
            k1 = k1.wrapping_add(0xBB67_AE85);
        }
        let p0 = 0xD251_1F53u64 * u64::from(c[0]);
        let p1 = 0xCD9E_8D57u64 * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k0,
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k1,
            p0 as u32,
        ];
    }
    c
}

/// Uniform in [0, 1) for element `i` of stream (`seed`, `offset`): word `i % 4` of the Philox
/// block `i / 4`, as `philox_words` and `word_to_unit` of `random.cu` compute it.
pub(crate) fn philox_unit(seed: u64, offset: u64, i: u64) -> f64 {
    let g = i / 4;
    let ctr = [
        g as u32,
        (g >> 32) as u32,
        offset as u32,
        (offset >> 32) as u32,
    ];
    let w = philox4x32_10(ctr, seed as u32, (seed >> 32) as u32)[(i % 4) as usize];
    f64::from(w) * 2.328_306_436_538_696_3e-10
}

#[allow(clippy::unwrap_used)]
pub(crate) mod philox_tests {
    use super::philox4x32_10;

    fn random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], 0, 0),
            [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], u32::MAX, u32::MAX),
            [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD]
        );
    }

    crate::self_test::cases!(random123_known_answers);
}
