//! Tensor factories: constants, ranges, identity, and random tensors from the global generator.

use crate::rng::with_rng;
use crate::{bail, with_dtype, DType, Element, Result, Tensor};

/// Requests at least this large are tried with a fallible allocation first.
const PROBE_BYTES: usize = 1 << 30;

/// The element count of a new tensor of `shape` needing `bytes_per` bytes per element (temporaries
/// included), checked so that a huge request fails with an error instead of aborting the process.
pub(crate) fn alloc_numel(shape: &[usize], bytes_per: usize) -> Result<usize> {
    let n = crate::layout::checked_numel(shape)?;
    let Some(bytes) = n
        .checked_mul(bytes_per)
        .filter(|&b| b <= isize::MAX as usize)
    else {
        bail!(
            OutOfMemory,
            "cannot allocate a tensor of shape {shape:?}: {n} elements is too many"
        );
    };
    if bytes >= PROBE_BYTES {
        let mut probe: Vec<u8> = Vec::new();
        if probe.try_reserve_exact(bytes).is_err() {
            bail!(
                OutOfMemory,
                "cannot allocate {bytes} bytes for a tensor of shape {shape:?}"
            );
        }
    }
    Ok(n)
}

/// An `OutOfMemory` error when a result of `shape` (`bytes_per` bytes an element) cannot be
/// allocated: ops call it before they build an output, because Rust aborts the whole process
/// (and the user's Python session) when an allocation fails.
pub(crate) fn check_alloc(shape: &[usize], bytes_per: usize) -> Result<()> {
    alloc_numel(shape, bytes_per).map(|_| ())
}

impl Tensor {
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let n = alloc_numel(shape, dtype.size())?;
        if value.to_bits() == 0 && matches!(dtype, DType::BF16 | DType::F16) {
            // +0.0: zeroed memory straight from the allocator, as `vec!` gives the other dtypes
            // (a gradient accumulator of a split is one; it filled element by element).
            use half::vec::HalfBitsVecExt;
            let zeros = vec![0u16; n];
            return match dtype {
                DType::BF16 => Tensor::from_vec(zeros.reinterpret_into::<half::bf16>(), shape),
                _ => Tensor::from_vec(zeros.reinterpret_into::<half::f16>(), shape),
            };
        }
        with_dtype!(dtype, T => Tensor::from_vec(vec![T::from_f64(value); n], shape))
    }
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Self::full(shape, 0.0, dtype)
    }
    pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Self::full(shape, 1.0, dtype)
    }
    /// Zeros of this tensor's shape and dtype, on its device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Self::full_on(self.shape(), 0.0, self.dtype(), self.device())
    }
    /// Ones of this tensor's shape and dtype, on its device.
    pub fn ones_like(&self) -> Result<Tensor> {
        Self::full_on(self.shape(), 1.0, self.dtype(), self.device())
    }

    /// `arange(start, end, step)` in `dtype`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            bail!(
                Value,
                "arange: step must be nonzero and bounds finite (got {start}, {end}, {step})"
            );
        }
        if (end - start) * step < 0.0 {
            bail!(
                Value,
                "arange: upper bound and lower bound inconsistent with step sign"
            );
        }
        let n = ((end - start) / step).ceil().max(0.0);
        if n >= isize::MAX as f64 {
            bail!(
                OutOfMemory,
                "arange({start}, {end}, {step}) has too many elements"
            );
        }
        let n = alloc_numel(&[n as usize], dtype.size())?;
        with_dtype!(dtype, T => {
            let v: Vec<T> = (0..n).map(|i| T::from_f64(start + i as f64 * step)).collect();
            Tensor::from_vec(v, &[n])
        })
    }

    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        alloc_numel(&[steps], dtype.size())?;
        // An integer dtype takes the ends as its own values first, as PyTorch's does
        // (`linspace(0.43, 11.13, 8, dtype=int64)` spaces 0..11).
        let (start, end) = if dtype.is_int() {
            (start.trunc(), end.trunc())
        } else {
            (start, end)
        };
        let step = if steps > 1 {
            (end - start) / (steps - 1) as f64
        } else {
            0.0
        };
        with_dtype!(dtype, T => {
            // Symmetric evaluation as in PyTorch: the second half counts back from `end`.
            let v: Vec<T> = (0..steps)
                .map(|i| {
                    if steps == 1 {
                        T::from_f64(start)
                    } else if i < steps / 2 {
                        T::from_f64(start + step * i as f64)
                    } else {
                        T::from_f64(end - step * (steps - 1 - i) as f64)
                    }
                })
                .collect();
            Tensor::from_vec(v, &[steps])
        })
    }

    pub fn eye(n: usize, m: Option<usize>, dtype: DType) -> Result<Tensor> {
        let m = m.unwrap_or(n);
        alloc_numel(&[n, m], dtype.size())?;
        with_dtype!(dtype, T => {
            let mut v = vec![T::zero(); n * m];
            for i in 0..n.min(m) {
                v[i * m + i] = T::one();
            }
            Tensor::from_vec(v, &[n, m])
        })
    }

    /// Uniform in `[low, high)`.
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
        if !dtype.is_float() {
            bail!(DType, "rand: expected a floating point dtype, got {dtype}");
        }
        let n = alloc_numel(shape, dtype.size())?;
        // As PyTorch: `k / 2^digits` with as many random bits as the dtype's mantissa holds, so
        // that `[0, 1)` stays half-open after rounding (a 53-bit draw near 1 rounds up to 1.0 in
        // float16, bfloat16 and float32).
        let digits = match dtype {
            DType::F16 => 11,
            DType::BF16 => 8,
            DType::F32 => 24,
            _ => 53,
        };
        let scale = (high - low) / (1u64 << digits) as f64;
        // A draw that rounds up to `high` in the dtype becomes the largest value below it,
        // as PyTorch keeps `[low, high)` half-open (bfloat16 `uniform_(2, 5)` gave 5 in 0.4%).
        let below = largest_below(high, dtype);
        with_dtype!(dtype, T => {
            let v: Vec<T> = with_rng(|r| {
                (0..n)
                    .map(|_| {
                        let v = T::from_f64(low + scale * (r.next_u64() >> (64 - digits)) as f64);
                        if high > low && v.to_f64() >= high {
                            T::from_f64(below)
                        } else {
                            v
                        }
                    })
                    .collect()
            });
            Tensor::from_vec(v, shape)
        })
    }

    pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Self::rand_uniform(shape, 0.0, 1.0, dtype)
    }

    /// Normal with the given mean and standard deviation.
    pub fn randn_scaled(shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
        if !dtype.is_float() {
            bail!(DType, "randn: expected a floating point dtype, got {dtype}");
        }
        let n = alloc_numel(shape, dtype.size())?;
        with_dtype!(dtype, T => {
            let v: Vec<T> =
                with_rng(|r| (0..n).map(|_| T::from_f64(mean + std * r.normal())).collect());
            Tensor::from_vec(v, shape)
        })
    }

    pub fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Self::randn_scaled(shape, 0.0, 1.0, dtype)
    }

    /// Integers uniform in `[low, high)`.
    pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType) -> Result<Tensor> {
        if high <= low {
            bail!(
                Value,
                "randint: expected low < high, got low={low}, high={high}"
            );
        }
        let n = alloc_numel(shape, 8 + dtype.size())?;
        let span = (high - low) as u64;
        let raw: Vec<i64> = with_rng(|r| (0..n).map(|_| low + r.below(span) as i64).collect());
        with_dtype!(dtype, T => Tensor::from_vec(raw.into_iter().map(T::from_i64).collect::<Vec<T>>(), shape))
    }

    /// A random permutation of `0..n` (int64).
    pub fn randperm(n: usize) -> Result<Tensor> {
        alloc_numel(&[n], 8)?;
        let mut v: Vec<i64> = (0..n as i64).collect();
        with_rng(|r| {
            for i in (1..n).rev() {
                let j = r.below(i as u64 + 1) as usize;
                v.swap(i, j);
            }
        });
        Tensor::from_vec(v, &[n])
    }

    /// Bernoulli(1-p) keep-mask scaled by 1/(1-p): the dropout multiplier.
    pub fn dropout_mask(shape: &[usize], p: f64, dtype: DType) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            bail!(
                Value,
                "dropout probability has to be between 0 and 1, but got {p}"
            );
        }
        let n = alloc_numel(shape, 8 + dtype.size())?;
        let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
        let raw: Vec<f64> = with_rng(|r| {
            (0..n)
                .map(|_| if r.uniform() >= p { scale } else { 0.0 })
                .collect()
        });
        with_dtype!(dtype, T => Tensor::from_vec(raw.into_iter().map(T::from_f64).collect::<Vec<T>>(), shape))
    }

    /// Dropout: zeroes each element with probability `p` and scales the rest by `1/(1-p)`.
    /// The mask comes from the backend (CUDA: the device's Philox generator; CPU:
    /// `dropout_mask`); the backward is recorded here, once.
    pub fn dropout(&self, p: f64) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            bail!(
                Value,
                "dropout probability has to be between 0 and 1, but got {p}"
            );
        }
        self.check_float("dropout expects a floating point input")?;
        let (y, mask) = crate::backend::of(self).dropout_forward(self, p)?;
        Ok(crate::autograd::record_differentiable(
            y,
            "NativeDropoutBackward",
            &[self],
            move |g| {
                if crate::autograd::is_grad_enabled() {
                    // `create_graph=True`: the same product, recorded. The mask is the kept
                    // elements' scale on some backends and a bool on others.
                    let m = if mask.dtype() != DType::Bool {
                        mask.to_dtype(g.dtype())?
                    } else if p < 1.0 {
                        mask.to_dtype(g.dtype())?.mul_scalar(1.0 / (1.0 - p))?
                    } else {
                        mask.to_dtype(g.dtype())?.mul_scalar(0.0)?
                    };
                    return Ok(vec![Some(g.mul(&m)?)]);
                }
                Ok(vec![Some(
                    crate::backend::of(g).dropout_backward(g, &mask, p)?,
                )])
            },
        ))
    }
}

/// The largest value of the floating dtype `dtype` strictly below `x` (as an f64, exact).
fn largest_below(x: f64, dtype: DType) -> f64 {
    /// One step toward -inf on the bits of an IEEE float whose sign bit is `sign`.
    fn step_down(bits: u64, sign: u64) -> u64 {
        if bits & !sign == 0 {
            sign | 1 // +-0: the smallest negative subnormal
        } else if bits & sign == 0 {
            bits - 1
        } else {
            bits + 1
        }
    }
    /// The half type `$h`'s value nearest `x`, stepped down when it is not below `x`.
    macro_rules! half_below {
        ($h:ty) => {{
            let h = <$h>::from_f64(x);
            if h.to_f64() < x {
                h.to_f64()
            } else {
                <$h>::from_bits(step_down(u64::from(h.to_bits()), 0x8000) as u16).to_f64()
            }
        }};
    }
    match dtype {
        DType::F16 => half_below!(half::f16),
        DType::BF16 => half_below!(half::bf16),
        DType::F32 => {
            let h = x as f32;
            let h = if f64::from(h) < x {
                h
            } else {
                f32::from_bits(step_down(u64::from(h.to_bits()), 0x8000_0000) as u32)
            };
            f64::from(h)
        }
        _ => f64::from_bits(step_down(x.to_bits(), 1 << 63)),
    }
}
