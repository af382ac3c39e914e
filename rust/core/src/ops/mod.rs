//! Tensor operations. Each file holds one family; every op is a method on `Tensor` that computes
//! its result with a CPU kernel and records its backward rule when autograd needs it.

pub mod binary;
pub mod copy;
pub mod creation;
pub mod gather;
pub mod index;
pub mod inplace;
pub mod kernel;
pub mod matmul;
pub mod nn;
pub mod overflow;
pub mod promote;
pub mod reduce;
pub(crate) mod rows;
pub mod softmax;
pub mod special;
pub(crate) mod team;
pub mod unary;
pub mod views;

pub use binary::BinaryOp;
pub use promote::result_type;
pub use unary::UnaryOp;
