//! Tensor operations. Each file holds one family; every op is a method on `Tensor` that checks
//! its arguments, computes its result through the backend primitives (`backend::of`) and
//! records its backward rule, once for every device, when autograd needs it.

pub mod binary;
pub mod copy;
pub mod creation;
pub mod gather;
pub mod index;
pub mod inplace;
pub mod matmul;
pub mod nn;
pub mod overflow;
pub mod promote;
pub mod reduce;
pub mod softmax;
pub mod special;
pub mod unary;
pub mod views;

pub use binary::BinaryOp;
pub use promote::result_type;
pub use unary::UnaryOp;
