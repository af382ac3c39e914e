//! The CUDA device as a `backend::Backend`: wires the interface to the kernels' host code in
//! `cuda/ops/` (each primitive there launches NVRTC kernels, or runs them on the emulator).

use super::ops::nn;
use crate::backend::{Backend, NormForward, NormGrads, NormSaved, RunningStats};
use crate::{Result, Tensor};

/// CUDA memory as a `Backend` (`backend::of` returns it for device tensors).
pub struct Cuda;

impl Backend for Cuda {
    fn layer_norm_forward(
        &self,
        x: &Tensor,
        d: usize,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        eps: f64,
    ) -> Result<NormForward> {
        nn::layer_norm_forward(x, d, w, b, eps)
    }

    fn layer_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        d: usize,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads> {
        nn::layer_norm_backward(saved, g, d, need_w, need_b)
    }

    fn batch_norm_forward(
        &self,
        x: &Tensor,
        running: RunningStats<'_>,
        w: Option<&Tensor>,
        b: Option<&Tensor>,
        training: bool,
        eps: f64,
    ) -> Result<NormForward> {
        nn::batch_norm_forward(x, running, w, b, training, eps)
    }

    fn batch_norm_backward(
        &self,
        saved: NormSaved<'_>,
        g: &Tensor,
        training: bool,
        need_w: bool,
        need_b: bool,
    ) -> Result<NormGrads> {
        nn::batch_norm_backward(saved, g, training, need_w, need_b)
    }
}
