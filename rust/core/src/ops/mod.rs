//! Tensor operations. Each file holds one family; every op is a method on `Tensor` that checks
//! its arguments, computes its result through the backend primitives (`backend::of`) and
//! records its backward rule, once for every device, when autograd needs it.

pub mod as_strided;
pub mod binary;
pub mod copy;
pub mod creation;
pub mod flip;
pub mod gather;
pub mod index;
pub mod inplace;
pub mod matmul;
pub(crate) mod memory_order;
pub mod nn;
pub mod overflow;
pub mod pad;
pub mod promote;
pub mod reduce;
pub mod scan;
pub mod shared_fill;
pub mod softmax;
pub mod special;
pub mod tri;
pub mod unary;
pub(crate) mod unary_graph;
pub mod view_dtype;
pub mod views;

pub use binary::BinaryOp;
pub use promote::result_type;
pub use unary::UnaryOp;

/// Checks an optional per-feature tensor (a bias, class weights, per-channel statistics) is a
/// vector of `n`: "`{what}` shape .. does not match `{n}` `{unit}`" otherwise.
pub(crate) fn check_vector(
    t: Option<&crate::Tensor>,
    what: &str,
    n: usize,
    unit: &str,
) -> crate::Result<()> {
    match t {
        Some(t) if t.shape() != [n] => crate::bail!(
            Shape,
            "{what} shape {:?} does not match {n} {unit}",
            t.shape()
        ),
        _ => Ok(()),
    }
}
