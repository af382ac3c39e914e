//! Losses for Rust users.

use crate::ops::nn::loss::Reduction;
use crate::{Result, Tensor};

/// Mean softmax cross-entropy over class indices (the fused engine kernel).
#[derive(Debug, Clone, Copy)]
pub struct CrossEntropyLoss {
    pub label_smoothing: f64,
    pub ignore_index: i64,
}

impl Default for CrossEntropyLoss {
    fn default() -> Self {
        CrossEntropyLoss {
            label_smoothing: 0.0,
            ignore_index: -100,
        }
    }
}

impl CrossEntropyLoss {
    pub fn new() -> CrossEntropyLoss {
        Self::default()
    }

    pub fn forward(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        logits.cross_entropy(
            target,
            None,
            self.ignore_index,
            Reduction::Mean,
            self.label_smoothing,
        )
    }
}
