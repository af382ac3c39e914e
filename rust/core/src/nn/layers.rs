//! `Module` and the layers of the seed's first example.

use crate::{DType, Result, Tensor};

/// A trainable computation: a forward pass and the parameters it owns.
pub trait Module: Send + Sync {
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
    fn parameters(&self) -> Vec<Tensor>;

    /// Clears every parameter's gradient.
    fn zero_grad(&self) -> Result<()> {
        for p in self.parameters() {
            p.set_grad(None)?;
        }
        Ok(())
    }
}

/// `y = x @ W^T + b` with PyTorch's default initialisation U(±1/√in).
pub struct Dense {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Dense {
    pub fn new(in_features: usize, out_features: usize) -> Dense {
        Self::with_bias(in_features, out_features, true)
    }

    pub fn with_bias(in_features: usize, out_features: usize, bias: bool) -> Dense {
        let bound = if in_features > 0 {
            1.0 / (in_features as f64).sqrt()
        } else {
            0.0
        };
        let init = |shape: &[usize]| -> Tensor {
            let t = Tensor::rand_uniform(shape, -bound, bound, DType::F32)
                .unwrap_or_else(|_| Tensor::scalar(0f32));
            let _ = t.set_requires_grad(true);
            t
        };
        Dense {
            weight: init(&[out_features, in_features]),
            bias: if bias {
                Some(init(&[out_features]))
            } else {
                None
            },
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight, self.bias.as_ref())
    }
    fn parameters(&self) -> Vec<Tensor> {
        let mut v = vec![self.weight.clone()];
        v.extend(self.bias.clone());
        v
    }
}

#[derive(Default)]
pub struct ReLU;

impl ReLU {
    pub fn new() -> ReLU {
        ReLU
    }
}

impl Module for ReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.relu()
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
}

/// Layers applied in order; built with the seed's `Sequential::new().add(..).build()`.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn add<M: Module + 'static>(mut self, layer: M) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    /// Ends the builder; fails when the model has no layers.
    pub fn build(self) -> Result<Sequential> {
        if self.layers.is_empty() {
            crate::bail!(Value, "Sequential::build: add at least one layer");
        }
        Ok(self)
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }
    fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }
}
