//! Layer and batch normalisation as fused kernels: one pass for statistics, one to normalise,
//! and the closed-form backward (no chain of small ops).

use super::{as_dtype, compute_input};
use crate::autograd::{record, Saved};
use crate::ops::copy::cast_raw;
use crate::{bail, DType, Element, Float, Result, Tensor};
use rayon::prelude::*;

fn affine<T: Float>(t: Option<&Tensor>) -> Result<Option<Vec<T>>> {
    Ok(match t {
        Some(t) => Some(cast_raw(t, T::DTYPE)?.to_vec::<T>()?),
        None => None,
    })
}

impl Tensor {
    /// Normalises over the trailing `normalized_ndim` dims, then applies `weight`/`bias`.
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.layer_norm(normalized_shape, weight, bias, eps);
        }
        let k = normalized_shape.len();
        if k == 0 || k > self.ndim() || &self.shape()[self.ndim() - k..] != normalized_shape {
            bail!(
                Shape,
                "layer_norm: normalized_shape {:?} does not match the trailing dims of input {:?}",
                normalized_shape,
                self.shape()
            );
        }
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                if t.shape() != normalized_shape {
                    bail!(
                        Shape,
                        "layer_norm: {name} shape {:?} must equal normalized_shape {:?}",
                        t.shape(),
                        normalized_shape
                    );
                }
            }
        }
        if !self.dtype().is_float() {
            bail!(
                DType,
                "layer_norm expects a floating point input, got {}",
                self.dtype()
            );
        }
        let d: usize = normalized_shape.iter().product();
        if self.device().is_cuda() {
            return crate::cuda::ops::nn::layer_norm(self, d, weight, bias, eps);
        }
        let (x, dt) = compute_input(self)?;
        let rows = x.numel().checked_div(d).unwrap_or(0);
        let (out, mean, rstd) = crate::with_float!(dt, T => {
            let xd = x.data::<T>()?;
            let (wv, bv) = (affine::<T>(weight)?, affine::<T>(bias)?);
            let mut out = vec![T::zero(); x.numel()];
            let mut stats = vec![(T::zero(), T::zero()); rows];
            out.par_chunks_mut(d.max(1)).zip(stats.par_iter_mut()).enumerate().for_each(|(r, (o, st))| {
                let row = &xd[r * d..(r + 1) * d];
                let m = row.iter().fold(T::zero(), |a, &v| a + v) / T::from_usize(d);
                let var = row.iter().fold(T::zero(), |a, &v| a + (v - m) * (v - m)) / T::from_usize(d);
                let rs = T::one() / (var + T::from_f64(eps)).sqrt();
                for j in 0..d {
                    let mut y = (row[j] - m) * rs;
                    if let Some(w) = &wv { y *= w[j]; }
                    if let Some(b) = &bv { y += b[j]; }
                    o[j] = y;
                }
                *st = (m, rs);
            });
            let (m, r): (Vec<T>, Vec<T>) = stats.into_iter().unzip();
            (Tensor::from_vec(out, x.shape())?, Tensor::from_vec(m, &[rows])?, Tensor::from_vec(r, &[rows])?)
        });
        let out = as_dtype(&out, self.dtype())?;
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (xs, ws) = (Saved::new(&x), weight.map(Saved::new));
        let (has_w, has_b) = (weight.is_some(), bias.is_some());
        let (xdt, wdt, bdt) = (
            self.dtype(),
            weight.map(|w| w.dtype()),
            bias.map(|b| b.dtype()),
        );
        let nshape = normalized_shape.to_vec();
        Ok(record(out, "NativeLayerNormBackward", &inputs, move |g| {
            let x = xs.get()?;
            let w = match &ws {
                Some(s) => Some(s.get()?.clone()),
                None => None,
            };
            let g = as_dtype(g, dt)?;
            crate::with_float!(dt, T => {
                let (xd, gd) = (x.data::<T>()?, g.data::<T>()?);
                let (md, rd) = (mean.data::<T>()?, rstd.data::<T>()?);
                let wv = affine::<T>(w.as_ref())?;
                let mut dx = vec![T::zero(); x.numel()];
                let mut dw = vec![T::zero(); d];
                let mut db = vec![T::zero(); d];
                for r in 0..rows {
                    let (xr, gr) = (&xd[r * d..(r + 1) * d], &gd[r * d..(r + 1) * d]);
                    let (m, rs) = (md[r], rd[r]);
                    let mut s1 = T::zero();
                    let mut s2 = T::zero();
                    for j in 0..d {
                        let xh = (xr[j] - m) * rs;
                        let gw = match &wv { Some(w) => gr[j] * w[j], None => gr[j] };
                        s1 += gw;
                        s2 += gw * xh;
                        dw[j] += gr[j] * xh;
                        db[j] += gr[j];
                    }
                    let inv_d = T::one() / T::from_usize(d);
                    for j in 0..d {
                        let xh = (xr[j] - m) * rs;
                        let gw = match &wv { Some(w) => gr[j] * w[j], None => gr[j] };
                        dx[r * d + j] = rs * (gw - inv_d * s1 - xh * inv_d * s2);
                    }
                }
                let mut v = vec![Some(Tensor::from_vec(dx, x.shape())?.to_dtype(xdt)?)];
                if has_w { v.push(Some(Tensor::from_vec(dw, &nshape)?.to_dtype(wdt.unwrap_or(DType::F32))?)); }
                if has_b { v.push(Some(Tensor::from_vec(db, &nshape)?.to_dtype(bdt.unwrap_or(DType::F32))?)); }
                Ok(v)
            })
        }))
    }

    /// Batch normalisation over `[N, C, ...]`. In training mode batch statistics are used and the
    /// running statistics (if given) are updated in place with the unbiased variance and
    /// `momentum`; in eval mode the running statistics are used.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        if matches!(self.dtype(), DType::F16 | DType::BF16)
            && crate::amp::autocast_dtype().is_some()
        {
            let x = crate::amp::to_f32(self)?;
            let _off = crate::amp::AutocastGuard::disabled();
            return x.batch_norm(
                running_mean,
                running_var,
                weight,
                bias,
                training,
                momentum,
                eps,
            );
        }
        if self.ndim() < 2 {
            bail!(
                Shape,
                "batch_norm expects input [N, C, ...], got {:?}",
                self.shape()
            );
        }
        if !self.dtype().is_float() {
            bail!(
                DType,
                "batch_norm expects a floating point input, got {}",
                self.dtype()
            );
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let inner: usize = self.shape()[2..].iter().product();
        for (name, t) in [
            ("running_mean", running_mean),
            ("running_var", running_var),
            ("weight", weight),
            ("bias", bias),
        ] {
            if let Some(t) = t {
                if t.shape() != [c] {
                    bail!(
                        Shape,
                        "batch_norm: {name} shape {:?} does not match {} channels of input {:?}",
                        t.shape(),
                        c,
                        self.shape()
                    );
                }
            }
        }
        let count = n * inner;
        if training && count <= 1 {
            bail!(
                Value,
                "expected more than 1 value per channel when training, got input size {:?}",
                self.shape()
            );
        }
        if !training && (running_mean.is_none() || running_var.is_none()) {
            bail!(
                Value,
                "batch_norm in eval mode needs running_mean and running_var"
            );
        }
        if self.device().is_cuda() {
            return crate::cuda::ops::nn::batch_norm(
                self,
                running_mean,
                running_var,
                weight,
                bias,
                training,
                momentum,
                eps,
            );
        }
        let (x, dt) = compute_input(self)?;
        let (out, mean_t, rstd_t) = crate::with_float!(dt, T => {
            let xd = x.data::<T>()?;
            let at = |ni: usize, ci: usize| &xd[(ni * c + ci) * inner..(ni * c + ci + 1) * inner];
            let (mean, var): (Vec<T>, Vec<T>) = if training {
                (0..c).into_par_iter().map(|ci| {
                    let mut s = T::zero();
                    for ni in 0..n { s += at(ni, ci).iter().fold(T::zero(), |a, &v| a + v); }
                    let m = s / T::from_usize(count);
                    let mut ss = T::zero();
                    for ni in 0..n { ss += at(ni, ci).iter().fold(T::zero(), |a, &v| a + (v - m) * (v - m)); }
                    (m, ss / T::from_usize(count))
                }).unzip()
            } else {
                (affine::<T>(running_mean)?.unwrap_or_default(), affine::<T>(running_var)?.unwrap_or_default())
            };
            let rstd: Vec<T> = var.iter().map(|&v| T::one() / (v + T::from_f64(eps)).sqrt()).collect();
            if training {
                if let (Some(rm), Some(rv)) = (running_mean, running_var) {
                    let _g = crate::autograd::GradModeGuard::new(false);
                    let unbiased: Vec<T> = var.iter().map(|&v| v * T::from_usize(count) / T::from_usize(count - 1)).collect();
                    let bm = Tensor::from_vec(mean.clone(), &[c])?;
                    let bv = Tensor::from_vec(unbiased, &[c])?;
                    rm.copy_(&rm.mul_scalar(1.0 - momentum)?.add(&bm.mul_scalar(momentum)?)?)?;
                    rv.copy_(&rv.mul_scalar(1.0 - momentum)?.add(&bv.mul_scalar(momentum)?)?)?;
                }
            }
            let (wv, bv) = (affine::<T>(weight)?, affine::<T>(bias)?);
            let mut out = vec![T::zero(); x.numel()];
            out.par_chunks_mut(inner.max(1)).enumerate().for_each(|(k, o)| {
                let ci = k % c;
                let src = &xd[k * inner..(k + 1) * inner];
                let scale = rstd[ci] * wv.as_ref().map_or(T::one(), |w| w[ci]);
                let shift = bv.as_ref().map_or(T::zero(), |b| b[ci]) - mean[ci] * scale;
                for (d, &v) in o.iter_mut().zip(src) { *d = v * scale + shift; }
            });
            (Tensor::from_vec(out, x.shape())?, Tensor::from_vec(mean, &[c])?, Tensor::from_vec(rstd, &[c])?)
        });
        let out = as_dtype(&out, self.dtype())?;
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (xs, ws) = (Saved::new(&x), weight.map(Saved::new));
        let (has_w, has_b) = (weight.is_some(), bias.is_some());
        let (xdt, wdt, bdt) = (
            self.dtype(),
            weight.map(|w| w.dtype()),
            bias.map(|b| b.dtype()),
        );
        Ok(record(out, "NativeBatchNormBackward", &inputs, move |g| {
            let x = xs.get()?;
            let w = match &ws {
                Some(s) => Some(s.get()?.clone()),
                None => None,
            };
            let g = as_dtype(g, dt)?;
            crate::with_float!(dt, T => {
                let (xd, gd) = (x.data::<T>()?, g.data::<T>()?);
                let (md, rd) = (mean_t.data::<T>()?, rstd_t.data::<T>()?);
                let wv = affine::<T>(w.as_ref())?;
                // Per-channel sums of g and g * xhat.
                let sums: Vec<(T, T)> = (0..c).into_par_iter().map(|ci| {
                    let (mut s1, mut s2) = (T::zero(), T::zero());
                    for ni in 0..n {
                        let o = (ni * c + ci) * inner;
                        for j in o..o + inner {
                            s1 += gd[j];
                            s2 += gd[j] * (xd[j] - md[ci]) * rd[ci];
                        }
                    }
                    (s1, s2)
                }).collect();
                let inv = T::one() / T::from_usize(count);
                let mut dx = vec![T::zero(); x.numel()];
                dx.par_chunks_mut(inner.max(1)).enumerate().for_each(|(k, d)| {
                    let ci = k % c;
                    let wc = wv.as_ref().map_or(T::one(), |w| w[ci]);
                    let (s1, s2) = sums[ci];
                    for (j, dj) in d.iter_mut().enumerate() {
                        let idx = k * inner + j;
                        *dj = if training {
                            let xh = (xd[idx] - md[ci]) * rd[ci];
                            wc * rd[ci] * (gd[idx] - inv * s1 - xh * inv * s2)
                        } else {
                            wc * rd[ci] * gd[idx]
                        };
                    }
                });
                let dw: Vec<T> = sums.iter().map(|s| s.1).collect();
                let db: Vec<T> = sums.iter().map(|s| s.0).collect();
                let mut v = vec![Some(Tensor::from_vec(dx, x.shape())?.to_dtype(xdt)?)];
                if has_w { v.push(Some(Tensor::from_vec(dw, &[c])?.to_dtype(wdt.unwrap_or(DType::F32))?)); }
                if has_b { v.push(Some(Tensor::from_vec(db, &[c])?.to_dtype(bdt.unwrap_or(DType::F32))?)); }
                Ok(v)
            })
        }))
    }
}
