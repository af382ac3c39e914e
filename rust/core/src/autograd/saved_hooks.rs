//! Hooks run on the tensors an op saves for its backward (PyTorch's
//! `autograd.graph.saved_tensors_hooks`): `pack` turns a tensor into whatever the user wants
//! to keep instead (a host copy, a compressed form, a file), `unpack` turns it back when the
//! backward needs it. The hooks in force are a per-thread stack, as the Python context
//! managers that push them are.

use crate::{Result, Tensor};
use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

/// What a pack hook returned, kept until the backward unpacks it.
pub type Packed = Box<dyn Any + Send + Sync>;

/// A pair of saved-tensor hooks.
pub trait SavedTensorHooks: Send + Sync {
    /// Called when an op saves `t` for backward; the result is kept instead of `t`.
    fn pack(&self, t: &Tensor) -> Result<Packed>;
    /// Called when the backward reads the saved tensor: the tensor `pack` stood for.
    fn unpack(&self, packed: &Packed) -> Result<Tensor>;
}

thread_local! {
    static STACK: RefCell<Vec<Arc<dyn SavedTensorHooks>>> = const { RefCell::new(Vec::new()) };
}

/// Makes `hooks` the ones in force on this thread until the matching `pop_saved_tensor_hooks`.
pub fn push_saved_tensor_hooks(hooks: Arc<dyn SavedTensorHooks>) {
    STACK.with(|s| s.borrow_mut().push(hooks));
}

/// Removes the innermost hooks pushed on this thread (none: nothing happens).
pub fn pop_saved_tensor_hooks() {
    STACK.with(|s| s.borrow_mut().pop());
}

/// The innermost hooks in force on this thread.
pub(crate) fn current() -> Option<Arc<dyn SavedTensorHooks>> {
    STACK.with(|s| s.borrow().last().cloned())
}
