//! democratising: the engine of a deep-learning training library. Tensors with shared storage and
//! strided views, reverse-mode autograd, CPU kernels (a real GEMM with runtime SIMD dispatch,
//! rayon for large work). No Python here: the PyO3 glue lives in `rust/python`.

pub mod amp;
pub mod autograd;
pub mod backend;
pub mod cpu;
pub mod cuda;
pub mod device;
pub mod dtype;
pub mod error;
pub mod fastmath;
pub mod layout;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod rng;
#[doc(hidden)]
pub mod self_test;
pub mod simd;
pub mod storage;
pub mod tensor;
pub mod threads;

pub use device::Device;
pub use dtype::{DType, Element, Float};
pub use error::{Error, Mismatch, Result};
pub use storage::Storage;
pub use tensor::{Tensor, WeakTensor};

/// The seed guide's names in one import: `use democratising::prelude::*;`.
pub mod prelude {
    pub use crate::nn::{Adam, CrossEntropyLoss, Dense, Module, Optimizer, ReLU, Sequential, SGD};
    pub use crate::{DType, Device, Error, Result, Tensor};
}
