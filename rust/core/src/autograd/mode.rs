//! Thread-local grad mode (`no_grad` / `enable_grad` / `inference_mode`), and the global anomaly-mode NaN check.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// PyTorch's `detect_anomaly(check_nan=True)`: every node's gradients are checked for NaN
/// (global, as PyTorch's anomaly mode).
static ANOMALY_NAN_CHECK: AtomicBool = AtomicBool::new(false);

/// Turns the anomaly-mode NaN check of backward on or off.
pub fn set_anomaly_nan_check(on: bool) {
    ANOMALY_NAN_CHECK.store(on, Ordering::Relaxed);
}

/// Whether backward checks each node's gradients for NaN.
pub fn anomaly_nan_check() -> bool {
    ANOMALY_NAN_CHECK.load(Ordering::Relaxed)
}

/// What reads the caller's stack (the bindings set Python's `traceback.format_stack`).
static FORWARD_TRACE: std::sync::OnceLock<fn() -> Option<String>> = std::sync::OnceLock::new();

/// Sets how a node recorded in anomaly mode reads the stack of the code that made it.
pub fn set_forward_trace(read: fn() -> Option<String>) {
    let _ = FORWARD_TRACE.set(read);
}

/// The stack of the code recording a node, kept only in anomaly mode: its NaN error then
/// shows where the failing op was called, as PyTorch's anomaly mode does. Not on the
/// engine's pool threads: their caller may hold the GIL while it waits for them (reading a
/// Python stack there would deadlock), and their stack is not the user's code anyway.
pub(crate) fn forward_trace() -> Option<String> {
    if !anomaly_nan_check() || rayon::current_thread_index().is_some() {
        return None;
    }
    FORWARD_TRACE.get().and_then(|read| read())
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    /// PyTorch's `inference_mode`: no graph is recorded even under `enable_grad`, and the
    /// tensors made meanwhile are inference tensors (see `Tensor::is_inference`).
    static INFERENCE: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops record a graph: grad mode on, outside inference mode.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get()) && !is_inference_mode()
}

/// The grad-mode switch itself (`torch.is_grad_enabled()`), which `enable_grad` turns on
/// inside inference mode too although nothing is recorded there.
pub fn grad_mode_flag() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Whether this thread is in inference mode.
pub fn is_inference_mode() -> bool {
    INFERENCE.with(|i| i.get())
}

/// Enters or leaves inference mode and returns the previous state.
pub fn set_inference_mode(on: bool) -> bool {
    INFERENCE.with(|i| i.replace(on))
}

/// Restores the previous inference mode when dropped (the engine's pool threads take the
/// caller's mode along, as its grad mode).
pub struct InferenceModeGuard(bool);

impl InferenceModeGuard {
    pub fn new(on: bool) -> Self {
        InferenceModeGuard(set_inference_mode(on))
    }
}

impl Drop for InferenceModeGuard {
    fn drop(&mut self) {
        set_inference_mode(self.0);
    }
}

/// Sets grad mode and returns the previous value.
pub fn set_grad_enabled(enabled: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(enabled))
}

/// Restores the previous grad mode when dropped.
pub struct GradModeGuard(bool);

impl GradModeGuard {
    pub fn new(enabled: bool) -> Self {
        GradModeGuard(set_grad_enabled(enabled))
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.0);
    }
}
