//! Reductions along dimensions (`sum`, `mean`, `var`, `max`, `argmax`, `logsumexp`, ...). The
//! reduced dimensions are moved innermost (a free view when they already are) so every kernel
//! reduces contiguous rows; `sum` also reduces leading dimensions in place (bias gradients).

use crate::autograd::{record_differentiable, Saved};
use crate::backend;
use crate::layout::normalize_dim;
use crate::ops::copy::cast_raw;
use crate::{bail, DType, Result, Tensor};

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

pub(crate) fn out_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
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

#[derive(Clone, Copy, PartialEq, Debug)]
/// A float reduction over rows, as the backends' `reduce` primitive computes it.
pub enum Kind {
    Sum,
    Mean,
    Var(f64),
    LogSumExp,
    Max,
    Min,
}

fn reduce_float(kind: Kind, t: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let shape = out_shape(t.shape(), dims, keepdim);
    backend::of(t).reduce(kind, t, dims, &shape)
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
        if let Some(y) = crate::amp::in_f32(self, |x| x.sum(dims, keepdim)) {
            return y;
        }
        let d = reduce_dims(self, dims)?;
        if !self.dtype().is_float() {
            let shape = out_shape(self.shape(), &d, keepdim);
            return backend::of(self).reduce_int(Kind::Sum, self, &d, &shape);
        }
        let out = reduce_float(Kind::Sum, self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        Ok(crate::autograd::reusable(record_differentiable(
            out,
            // PyTorch's overloads: sum() is SumBackward0, sum(dim) SumBackward1
            if dims.is_some() {
                "SumBackward1"
            } else {
                "SumBackward"
            },
            &[self],
            move |g| Ok(vec![Some(expand_back(g, &shape, &d, keepdim)?)]),
        )))
    }

    pub fn mean(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| x.mean(dims, keepdim)) {
            return y;
        }
        self.check_float(
            "mean(): could not infer output dtype. Input dtype must be floating point",
        )?;
        let d = reduce_dims(self, dims)?;
        let out = reduce_float(Kind::Mean, self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        let r: usize = d.iter().map(|&i| shape[i]).product();
        let name = if dims.is_some() {
            "MeanBackward1"
        } else {
            "MeanBackward"
        };
        Ok(crate::autograd::reusable(record_differentiable(
            out,
            name,
            &[self],
            move |g| {
                let g = g.mul_scalar(1.0 / r as f64)?;
                Ok(vec![Some(expand_back(&g, &shape, &d, keepdim)?)])
            },
        )))
    }

    /// Variance with Bessel's `correction` (1 = unbiased, PyTorch's default).
    pub fn var(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| x.var(dims, correction, keepdim)) {
            return y;
        }
        self.check_float("var(): input dtype must be floating point")?;
        let d = reduce_dims(self, dims)?;
        let out = reduce_float(Kind::Var(correction), self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        let r: usize = d.iter().map(|&i| shape[i]).product();
        let x = Saved::new(self)?;
        Ok(record_differentiable(
            out,
            "VarBackward",
            &[self],
            move |g| {
                let x = &x.get_graph()?;
                let centered = x.sub(&x.mean(
                    Some(&d.iter().map(|&i| i as isize).collect::<Vec<_>>()),
                    true,
                )?)?;
                let g = expand_back(g, &shape, &d, keepdim)?;
                let scale = 2.0 / (r as f64 - correction).max(0.0);
                Ok(vec![Some(g.mul(&centered)?.mul_scalar(scale)?)])
            },
        ))
    }

    /// `sqrt(var)`. Its gradient is zero where the deviation is zero (a constant slice), as
    /// in PyTorch, not `0 * inf = NaN` through the square root's derivative.
    pub fn std(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        let var = self.var(dims, correction, keepdim)?;
        if self.dtype() == DType::F32 && var.numel() > 0 && self.device() == crate::Device::Cpu {
            // The squares of float32 values past ~1.8e19 overflow where their standard deviation
            // does not (PyTorch accumulates wider): such a result is taken again in float64.
            // (On the CPU only: reading the result back would stall a CUDA stream every call.)
            // (Any infinite slice, whatever the others hold: a NaN slice would hide it from a
            // max.)
            let overflowed = var
                .detach()
                .to_vec::<f32>()?
                .iter()
                .any(|v| v.is_infinite());
            if overflowed {
                return self
                    .to_dtype(DType::F64)?
                    .std(dims, correction, keepdim)?
                    .to_dtype(DType::F32);
            }
        }
        let out = {
            let _g = crate::autograd::GradModeGuard::new(false);
            var.sqrt()?
        };
        let y = Saved::output(&out)?;
        Ok(record_differentiable(
            out,
            "StdBackward",
            &[&var],
            move |g| {
                let y = y.get_graph()?;
                let dv = g.div(&y.mul_scalar(2.0)?)?;
                let flat = y.eq(&Tensor::wrapped_scalar(0.0))?;
                Ok(vec![Some(Tensor::where_(&flat, &dv.zeros_like()?, &dv)?)])
            },
        ))
    }

    pub fn logsumexp(&self, dims: Option<&[isize]>, keepdim: bool) -> Result<Tensor> {
        if let Some(y) = crate::amp::in_f32(self, |x| x.logsumexp(dims, keepdim)) {
            return y;
        }
        let t = if self.dtype().is_float() {
            self.clone()
        } else {
            self.to_dtype(DType::default_float())?
        };
        let d = reduce_dims(&t, dims)?;
        let out = reduce_float(Kind::LogSumExp, &t, &d, keepdim)?;
        let shape = t.shape().to_vec();
        let (x, o) = (Saved::new(&t)?, Saved::output(&out)?);
        Ok(record_differentiable(
            out,
            "LogsumexpBackward",
            &[&t],
            move |g| {
                let o = expand_back(&o.get_graph()?, &shape, &d, keepdim)?;
                let g = expand_back(g, &shape, &d, keepdim)?;
                Ok(vec![Some(g.mul(&x.get_graph()?.sub(&o)?.exp()?)?)])
            },
        ))
    }

    fn extreme(&self, dims: Option<&[isize]>, keepdim: bool, max: bool) -> Result<Tensor> {
        let d = reduce_dims(self, dims)?;
        if !self.dtype().is_float() {
            let shape = out_shape(self.shape(), &d, keepdim);
            let kind = if max { Kind::Max } else { Kind::Min };
            let out = backend::of(self).reduce_int(kind, self, &d, &shape)?;
            return cast_raw(&out, self.dtype());
        }
        let out = reduce_float(if max { Kind::Max } else { Kind::Min }, self, &d, keepdim)?;
        let shape = self.shape().to_vec();
        // The gradient only reads where the extremes are, so the mask needs no graph.
        let (x, o) = (Saved::new(self)?, Saved::output(&out)?);
        Ok(record_differentiable(
            out,
            if max { "AmaxBackward" } else { "AminBackward" },
            &[self],
            move |g| {
                // Ties share the gradient equally; a NaN result's gradient is shared by the
                // NaNs that made it (PyTorch's `max()`), not spread as NaN everywhere.
                let o = expand_back(o.get()?, &shape, &d, keepdim)?;
                let x = x.get()?;
                let mask = x
                    .eq(&o)?
                    .logical_or(&x.ne(x)?.logical_and(&o.ne(&o)?)?)?
                    .to_dtype(g.dtype())?;
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
        let shape = match dim {
            Some(_) => out_shape(self.shape(), &d, keepdim),
            None if keepdim => vec![1; self.ndim()],
            None => vec![],
        };
        backend::of(&t).arg_reduce(&t, d[0], &shape, max)
    }

    /// The index of the largest value (refused for bool, as PyTorch's; `max(dim)` allows it).
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            bail!(DType, "argmax(): does not support bool input");
        }
        self.argextreme(dim, keepdim, true)
    }
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            bail!(DType, "argmin(): does not support bool input");
        }
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
        Ok(self.host_bools()?.iter().all(|&b| b))
    }
    pub fn any(&self) -> Result<bool> {
        Ok(self.host_bools()?.iter().any(|&b| b))
    }
    /// The elements as bools, read back to the host (for `all`/`any`).
    fn host_bools(&self) -> Result<Vec<bool>> {
        self.to_dtype(DType::Bool)?
            .to_device(crate::Device::Cpu)?
            .to_vec::<bool>()
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
