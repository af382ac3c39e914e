//! Reverse-mode automatic differentiation: a dynamic graph of `Node`s recorded by ops, walked
//! once in topological order by `backward`.

mod engine;
mod mode;
mod node;
mod recompute;
mod saved_hooks;

pub(crate) use engine::capturing;
pub use engine::{accumulate_leaf_grad, backward, grad, queue_callback, EndCallback};
pub use mode::{
    anomaly_nan_check, grad_mode_flag, is_grad_enabled, is_inference_mode, set_anomaly_nan_check,
    set_forward_trace, set_grad_enabled, set_inference_mode, GradModeGuard, InferenceModeGuard,
};
pub(crate) use node::{
    edge_of, hold_foreign, next_hook_id, record_differentiable_as, record_edges, record_view,
    regenerated_view_node, reusable,
};
pub use node::{
    record, record_differentiable, AutogradMeta, BackwardFn, Edge, Foreign, History, Hook, Node,
    NodeHook, PostAccumulateHook, Provenance, Saved,
};
pub(crate) use recompute::grads_by_recompute;
pub use saved_hooks::{pop_saved_tensor_hooks, push_saved_tensor_hooks, Packed, SavedTensorHooks};
