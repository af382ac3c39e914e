//! Reductions along dimensions (`sum`, `mean`, `var`, `max`, `argmax`, `logsumexp`, ...). The
//! reduced dimensions are moved innermost (a free view when they already are) so every kernel
//! reduces contiguous rows; `sum` also reduces leading dimensions in place (bias gradients).

use crate::autograd::{record, Saved};
use crate::layout::normalize_dim;
use crate::ops::copy::cast_raw;
use crate::{bail, DType, Element, Float, Result, Tensor};

/// Sorted, de-duplicated, normalised reduction dims (`None` or empty = all dims).
pub(crate) fn reduce_dims(t: &Tensor, dims: Option<&[isize]>) -> Result<Vec<usize>> {
    let nd = t.ndim();
    let mut out: Vec<usize> = match dims {
        None => (0..nd).collect(),
        Some([]) => (0..nd).collect(),
        Some(ds) => ds
            .iter()
            .map(|&d| normalize_dim(d, nd))
            .collect::<Result<_>>()?,
    };
    out.sort_unstable();
    let before = out.len();
    out.dedup();
    if out.len() != before {
        bail!(
            Value,
            "dim {:?} appears multiple times in the list of dims",
            dims.unwrap_or(&[])
        );
    }
    if nd == 0 {
        out.clear();
    }
    Ok(out)
}

fn out_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut s = Vec::new();
    for (i, &n) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                s.push(1);
            }
        } else {
            s.push(n);
        }
    }
    s
}

/// Rows of the reduction: a contiguous buffer of `outer * r` elements, reduced dims innermost.
fn rows<T: Element>(t: &Tensor, dims: &[usize]) -> Result<(Vec<T>, usize, usize)> {
    let nd = t.ndim();
    let r: usize = dims.iter().map(|&d| t.shape()[d]).product();
    let outer: usize = t
        .shape()
        .iter()
        .enumerate()
        .filter(|(i, _)| !dims.contains(i))
        .map(|(_, &n)| n)
        .product();
    let mut perm: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    perm.extend_from_slice(dims);
    let l = t.layout().permute(&perm)?;
    let v = t.with_layout(l).to_vec::<T>()?;
    Ok((v, outer, r))
}

/// Elements summed in `T` before a partial sum is folded into an f64 total: keeps float32 sums of
/// millions of elements accurate (like PyTorch's cascade sum) while the inner loop vectorises.
const SUM_BLOCK: usize = 256;

#[inline]
fn block_sum<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = x.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for &v in rem {
        s += f(v);
    }
    s
}

/// `sum(f(x))` over a row, accurate for long rows.
#[inline]
fn row_sum_map<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> T {
    if x.len() <= SUM_BLOCK {
        return block_sum(x, f);
    }
    let total: f64 = x.chunks(SUM_BLOCK).map(|c| block_sum(c, f).to_f64()).sum();
    T::from_f64(total)
}

#[inline]
pub(crate) fn row_sum<T: Float>(x: &[T]) -> T {
    row_sum_map(x, |v| v)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Sum,
    Mean,
    Var(f64),
    LogSumExp,
    Max,
    Min,
}

fn float_rows<T: Float>(kind: Kind, v: &[T], outer: usize, r: usize) -> Vec<T> {
    (0..outer)
        .map(|o| {
            let x = &v[o * r..(o + 1) * r];
            match kind {
                Kind::Sum => row_sum(x),
                Kind::Mean => row_sum(x) / T::from_usize(r),
                Kind::Var(correction) => {
                    let m = row_sum(x) / T::from_usize(r);
                    let ss = row_sum_map(x, |v| (v - m) * (v - m));
                    let denom = r as f64 - correction;
                    if denom <= 0.0 {
                        T::from_f64(f64::NAN)
                    } else {
                        ss / T::from_f64(denom)
                    }
                }
                Kind::LogSumExp => {
                    let m = x
                        .iter()
                        .fold(T::NEG_INF, |a, &v| if v > a || v.is_nan() { v } else { a });
                    // A NaN anywhere makes `m` NaN; an infinite max is the answer itself
                    // (`x - m` would be inf - inf = NaN).
                    if m.is_nan() || m == T::INF || m == T::NEG_INF {
                        m
                    } else {
                        m + row_sum_map(x, |v| (v - m).exp()).ln()
                    }
                }
                Kind::Max => x.iter().fold(T::NEG_INF, |a, &v| {
                    if v > a || v.is_nan() || a.is_nan() {
                        if a.is_nan() {
                            a
                        } else {
                            v
                        }
                    } else {
                        a
                    }
                }),
                Kind::Min => x.iter().fold(T::INF, |a, &v| {
                    if v < a || v.is_nan() || a.is_nan() {
                        if a.is_nan() {
                            a
                        } else {
                            v
                        }
                    } else {
                        a
                    }
                }),
            }
        })
        .collect()
}

/// Sum over leading dims `[r, inner]` of a contiguous tensor without transposing it.
fn sum_leading<T: Float>(x: &[T], r: usize, inner: usize) -> Vec<T> {
    let inner1 = inner.max(1);
    let x = &x[..(r * inner1).min(x.len())];
    if r <= SUM_BLOCK {
        let mut out = vec![T::zero(); inner];
        for row in x.chunks_exact(inner1) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
        return out;
    }
    // Partial sums over blocks of rows, folded into f64 totals (see `SUM_BLOCK`).
    let mut total = vec![0f64; inner];
    let mut part = vec![T::zero(); inner];
    for block in x.chunks(SUM_BLOCK * inner1) {
        part.iter_mut().for_each(|p| *p = T::zero());
        for row in block.chunks_exact(inner1) {
            for (p, &v) in part.iter_mut().zip(row) {
                *p += v;
            }
        }
        for (t, &p) in total.iter_mut().zip(&part) {
            *t += p.to_f64();
        }
    }
    total.into_iter().map(T::from_f64).collect()
}

fn reduce_float_typed<T: Float>(kind: Kind, t: &Tensor, dims: &[usize]) -> Result<Vec<T>> {
    let nd = t.ndim();
    // Fast path: sum over leading dims of a contiguous tensor.
    if kind == Kind::Sum
        && t.is_contiguous()
        && !dims.is_empty()
        && dims.iter().enumerate().all(|(i, &d)| i == d)
        && dims.len() < nd
    {
        let r: usize = dims.iter().map(|&d| t.shape()[d]).product();
        let inner = t.numel() / r.max(1);
        let data = t.data::<T>()?;
        if r == 0 {
            return Ok(vec![T::zero(); t.shape()[dims.len()..].iter().product()]);
        }
        return Ok(sum_leading(&data, r, inner));
    }
    let (v, outer, r) = rows::<T>(t, dims)?;
    if r == 0 {
        let fill = match kind {
            Kind::Sum => T::zero(),
            Kind::LogSumExp => T::NEG_INF,
            Kind::Max | Kind::Min => bail!(
                Index,
                "max/min of an empty dimension: the operation has no identity"
            ),
            _ => T::from_f64(f64::NAN),
        };
        return Ok(vec![fill; outer]);
    }
    Ok(float_rows(kind, &v, outer, r))
}

fn reduce_float(kind: Kind, t: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let shape = out_shape(t.shape(), dims, keepdim);
    if t.device().is_cuda() {
        use crate::cuda::ops::reduce::{reduce, RowOp};
        let op = match kind {
            Kind::Sum => RowOp::Sum,
            Kind::Mean => RowOp::Mean,
            Kind::Var(c) => RowOp::Var(c),
            Kind::LogSumExp => RowOp::LogSumExp,
            Kind::Max => RowOp::Max,
            Kind::Min => RowOp::Min,
        };
        return reduce(t, dims, &shape, op);
    }
    let dt = t.dtype();
    match dt {
        DType::F32 => Tensor::from_vec(reduce_float_typed::<f32>(kind, t, dims)?, &shape),
        DType::F64 => Tensor::from_vec(reduce_float_typed::<f64>(kind, t, dims)?, &shape),
        DType::F16 | DType::BF16 => {
            let r = Tensor::from_vec(
                reduce_float_typed::<f32>(kind, &cast_raw(t, DType::F32)?, dims)?,
                &shape,
            )?;
            cast_raw(&r, dt)
        }
        _ => unreachable!(),
    }
}

/// Expands a reduced gradient back over the reduced dims (undoing `keepdim=False`).
fn expand_back(g: &Tensor, in_shape: &[usize], dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let mut g = g.clone();
    if !keepdim {
        for &d in dims {
            g = g.unsqueeze(d as isize)?;
        }
    }
    g.expand(in_shape)
}

impl Tensor {
    pub fn sum(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.sum(dims, keepdim);
        }
        let d = reduce_dims(self, dims)?;
        if !self.dtype().is_float() && self.device().is_cuda() {
            // Integer sums on the device: exact through float64 up to 2^53.
            let r = reduce_float(Kind::Sum, &cast_raw(self, DType::F64)?, &d, keepdim)?;
            return cast_raw(&r, DType::I64);
        }
        if !self.dtype().is_float() {
            let t = cast_raw(self, DType::I64)?;
            let (v, outer, r) = rows::<i64>(&t, &d)?;
            let s: Vec<i64> = (0..outer)
                .map(|o| v[o * r..(o + 1) * r].iter().sum())
                .collect();
            return Tensor::from_vec(s, &out_shape(self.shape(), &d, keepdim));
        }
        let out = reduce_float(Kind::Sum, self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        Ok(record(out, "SumBackward", &[self], move |g| {
            Ok(vec![Some(expand_back(g, &shape, &d, keepdim)?)])
        }))
    }

    pub fn mean(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.mean(dims, keepdim);
        }
        if !self.dtype().is_float() {
            bail!(
                DType,
                "mean(): could not infer output dtype. Input dtype must be floating point, got {}",
                self.dtype()
            );
        }
        let d = reduce_dims(self, dims)?;
        let out = reduce_float(Kind::Mean, self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        let r: usize = d.iter().map(|&i| shape[i]).product();
        Ok(record(out, "MeanBackward", &[self], move |g| {
            let g = g.mul_scalar(1.0 / r as f64)?;
            Ok(vec![Some(expand_back(&g, &shape, &d, keepdim)?)])
        }))
    }

    /// Variance with Bessel's `correction` (1 = unbiased, PyTorch's default).
    pub fn var(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.var(dims, correction, keepdim);
        }
        if !self.dtype().is_float() {
            bail!(
                DType,
                "var(): input dtype must be floating point, got {}",
                self.dtype()
            );
        }
        let d = reduce_dims(self, dims)?;
        let out = reduce_float(Kind::Var(correction), self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        let r: usize = d.iter().map(|&i| shape[i]).product();
        let x = Saved::new(self);
        Ok(record(out, "VarBackward", &[self], move |g| {
            let x = x.get()?;
            let centered = x.sub(&x.mean(
                Some(&d.iter().map(|&i| i as isize).collect::<Vec<_>>()),
                true,
            )?)?;
            let g = expand_back(g, &shape, &d, keepdim)?;
            let scale = 2.0 / (r as f64 - correction);
            Ok(vec![Some(g.mul(&centered)?.mul_scalar(scale)?)])
        }))
    }

    pub fn std(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var(dims, correction, keepdim)?.sqrt()
    }

    pub fn logsumexp(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.logsumexp(dims, keepdim);
        }
        let t = if self.dtype().is_float() {
            self.clone()
        } else {
            self.to_dtype(DType::F32)?
        };
        let d = reduce_dims(&t, dims)?;
        let out = reduce_float(Kind::LogSumExp, &t, &d, keepdim)?;
        let shape = t.shape().to_vec();
        let (x, o) = (Saved::new(&t), Saved::new(&out));
        Ok(record(out, "LogsumexpBackward", &[&t], move |g| {
            let o = expand_back(o.get()?, &shape, &d, keepdim)?;
            let g = expand_back(g, &shape, &d, keepdim)?;
            Ok(vec![Some(g.mul(&x.get()?.sub(&o)?.exp()?)?)])
        }))
    }

    fn extreme(&self, dims: Option<&[isize]>, keepdim: bool, max: bool) -> Result<Tensor> {
        let d = reduce_dims(self, dims)?;
        if !self.dtype().is_float() && self.device().is_cuda() {
            let kind = if max { Kind::Max } else { Kind::Min };
            let r = reduce_float(kind, &cast_raw(self, DType::F64)?, &d, keepdim)?;
            return cast_raw(&r, self.dtype());
        }
        if !self.dtype().is_float() {
            let t = cast_raw(self, DType::I64)?;
            let (v, outer, r) = rows::<i64>(&t, &d)?;
            if r == 0 {
                bail!(
                    Index,
                    "amax/amin of an empty dimension: the operation has no identity"
                );
            }
            let s: Vec<i64> = (0..outer)
                .map(|o| {
                    let row = v[o * r..(o + 1) * r].iter();
                    if max {
                        row.copied().max().unwrap_or(0)
                    } else {
                        row.copied().min().unwrap_or(0)
                    }
                })
                .collect();
            let out = Tensor::from_vec(s, &out_shape(self.shape(), &d, keepdim))?;
            return cast_raw(&out, self.dtype());
        }
        let out = reduce_float(if max { Kind::Max } else { Kind::Min }, self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        let (x, o) = (Saved::new(self), Saved::new(&out));
        Ok(record(
            out,
            if max { "AmaxBackward" } else { "AminBackward" },
            &[self],
            move |g| {
                // Ties share the gradient equally.
                let o = expand_back(o.get()?, &shape, &d, keepdim)?;
                let mask = x.get()?.eq(&o)?.to_dtype(g.dtype())?;
                let dims_i: Vec<isize> = d.iter().map(|&i| i as isize).collect();
                let count = mask.sum(Some(&dims_i), true)?;
                let g = expand_back(g, &shape, &d, keepdim)?;
                Ok(vec![Some(g.mul(&mask)?.div(&count)?)])
            },
        ))
    }

    pub fn amax(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        self.extreme(dims, keepdim, true)
    }
    pub fn amin(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        self.extreme(dims, keepdim, false)
    }

    /// Index of the first maximum (or minimum) along `dim`, or over the flattened tensor.
    pub fn argextreme(&self, dim: Option<isize>, keepdim: bool, max: bool) -> Result<Tensor> {
        let (t, d) = match dim {
            Some(dim) => (self.clone(), vec![normalize_dim(dim, self.ndim())?]),
            None => (self.reshape(&[-1])?, vec![0]),
        };
        let t = if t.ndim() == 0 { t.reshape(&[1])? } else { t };
        if t.device().is_cuda() {
            let shape = match dim {
                Some(_) => out_shape(self.shape(), &d, keepdim),
                None if keepdim => vec![1; self.ndim()],
                None => vec![],
            };
            return crate::cuda::ops::reduce::arg_reduce(&t, d[0], &shape, max);
        }
        let t64 = cast_raw(&t, DType::F64)?;
        let (v, outer, r) = rows::<f64>(&t64, &d)?;
        if r == 0 {
            bail!(Index, "argmax/argmin of an empty dimension");
        }
        let idx: Vec<i64> = (0..outer)
            .map(|o| {
                let row = &v[o * r..(o + 1) * r];
                let mut best = 0;
                for (i, &x) in row.iter().enumerate() {
                    let b = row[best];
                    if b.is_nan() {
                        break;
                    }
                    if x.is_nan() || (max && x > b) || (!max && x < b) {
                        best = i;
                    }
                }
                best as i64
            })
            .collect();
        let shape = match dim {
            Some(_) => out_shape(self.shape(), &d, keepdim),
            None if keepdim => vec![1; self.ndim()],
            None => vec![],
        };
        Tensor::from_vec(idx, &shape)
    }

    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.argextreme(dim, keepdim, true)
    }
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.argextreme(dim, keepdim, false)
    }

    /// `max(dim)`: values and indices; the gradient flows to the selected index only.
    pub fn max_dim(&self, dim: isize, keepdim: bool, max: bool) -> Result<(Tensor, Tensor)> {
        let idx = self.argextreme(Some(dim), true, max)?;
        let d = normalize_dim(dim, self.ndim())? as isize;
        let values = if self.ndim() == 0 {
            self.clone()
        } else {
            self.gather(d, &idx)?
        };
        if keepdim || self.ndim() == 0 {
            Ok((values, idx))
        } else {
            Ok((values.squeeze(Some(d))?, idx.squeeze(Some(d))?))
        }
    }

    pub fn all(&self) -> Result<bool> {
        Ok(self
            .to_dtype(DType::Bool)?
            .to_device(crate::Device::Cpu)?
            .to_vec::<bool>()?
            .iter()
            .all(|&b| b))
    }
    pub fn any(&self) -> Result<bool> {
        Ok(self
            .to_dtype(DType::Bool)?
            .to_device(crate::Device::Cpu)?
            .to_vec::<bool>()?
            .iter()
            .any(|&b| b))
    }

    /// Sums a broadcast gradient down to `shape` (the adjoint of `expand`).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.ndim() - shape.len();
        let mut dims: Vec<isize> = (0..lead as isize).collect();
        for (i, &n) in shape.iter().enumerate() {
            if n == 1 && self.shape()[lead + i] != 1 {
                dims.push((lead + i) as isize);
            }
        }
        let s = if dims.is_empty() {
            self.clone()
        } else {
            self.sum(Some(&dims), true)?
        };
        s.reshape(&shape.iter().map(|&n| n as isize).collect::<Vec<_>>())
    }
}
