//! Thread-local grad mode (`no_grad` / `enable_grad`), and the global anomaly-mode NaN check.

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

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
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
