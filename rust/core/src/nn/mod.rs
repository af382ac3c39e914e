//! Building blocks for Rust users, mirroring the Python `democratising.nn` (and the seed guide):
//! `Sequential::new().add(Dense::new(784, 128)).add(ReLU::new()).build()`, losses, and
//! optimizers driving the fused steps in `crate::optim`.

mod layers;
mod loss;
mod optimizer;

pub use layers::{Dense, Module, ReLU, Sequential};
pub use loss::CrossEntropyLoss;
pub use optimizer::{Adam, Optimizer, SGD};
