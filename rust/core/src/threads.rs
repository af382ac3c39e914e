//! The engine's intra-op thread count (PyTorch's `set_num_threads`). Rayon's global pool is
//! sized once, when first used: `set` before that sizes it; a later `set` makes engine work
//! run inside a pool of the asked size (`install`), so the count can change at any time and
//! the default path pays nothing. One thread needs no pool: the calling thread runs the work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::{bail, Result};

/// The pool engine work runs in when `set` was called after the global pool started.
static OVERRIDE: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);
/// Whether `OVERRIDE` holds a pool: every engine call checks this, so the usual case (no
/// `set` after start-up) takes no lock.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Set by `set(1)` after the global pool started: engine work runs on the calling thread, which
/// is what one thread means. A one-thread pool would take every op to its worker and back (a
/// wake-up each: 7-40 µs for an op of 0.6 µs, in scripts that call `set_num_threads(1)`).
static SERIAL: AtomicBool = AtomicBool::new(false);

fn override_pool() -> Option<Arc<rayon::ThreadPool>> {
    if !ACTIVE.load(Ordering::Acquire) {
        return None;
    }
    OVERRIDE.read().map(|p| p.clone()).unwrap_or(None)
}

/// Sets the number of threads the engine's kernels use (at least 1).
pub fn set(n: usize) -> Result<()> {
    if n == 0 {
        bail!(
            Value,
            "set_num_threads expects a positive number of threads, got 0"
        );
    }
    let mut slot = match OVERRIDE.write() {
        Ok(slot) => slot,
        Err(poisoned) => poisoned.into_inner(),
    };
    if rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .is_ok()
        || rayon::current_num_threads() == n
    {
        *slot = None;
        ACTIVE.store(false, Ordering::Release);
        SERIAL.store(false, Ordering::Release);
        return Ok(());
    }
    if n == 1 {
        *slot = None;
        ACTIVE.store(false, Ordering::Release);
        SERIAL.store(true, Ordering::Release);
        return Ok(());
    }
    SERIAL.store(false, Ordering::Release);
    match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
        Ok(pool) => *slot = Some(Arc::new(pool)),
        Err(e) => bail!(Value, "could not start {n} threads: {e}"),
    }
    ACTIVE.store(true, Ordering::Release);
    Ok(())
}

/// The number of threads the engine's kernels use.
pub fn get() -> usize {
    if SERIAL.load(Ordering::Acquire) {
        return 1;
    }
    override_pool().map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
}

/// Whether a kernel should split its work over the pool: only with more than one thread.
/// With one, rayon would still hand a parallel loop to that pool's one worker and block the
/// caller until it is done (a wake-up per op, 5 µs on an idle machine and 100+ µs on a loaded
/// one, as under `mpirun` with a thread per rank), for no parallelism: the caller runs it.
pub fn split() -> bool {
    get() > 1
}

/// Runs `f` where engine work sees the thread count of `set`.
/// The calling thread's own generator (`rng::seed_this_thread`) goes with the work to the pool
/// thread and comes back with its advanced state.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match override_pool() {
        Some(pool) => {
            // The work runs on a pool thread: it takes this thread's modes along (a
            // `no_grad` block must not record there), and hands the local generator back.
            let local = crate::rng::take_local();
            let (grad, inference, autocast) = (
                crate::autograd::grad_mode_flag(),
                crate::autograd::is_inference_mode(),
                crate::amp::autocast_dtype(),
            );
            let (r, local) = pool.install(move || {
                let _grad = crate::autograd::GradModeGuard::new(grad);
                let _inference = crate::autograd::InferenceModeGuard::new(inference);
                let _autocast = crate::amp::AutocastGuard::set(autocast);
                crate::rng::put_local(local);
                let r = f();
                (r, crate::rng::take_local())
            });
            crate::rng::put_local(local);
            r
        }
        None => f(),
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    fn the_count_follows_set_and_work_runs_with_it() {
        // Start the global pool first, so `set` takes the override path and leaves it alone.
        let global = rayon::current_num_threads();
        super::set(1).unwrap();
        assert_eq!(super::get(), 1);
        assert!(!super::split());
        // One thread: the work runs here, not on a pool's worker.
        let here = std::thread::current().id();
        assert_eq!(super::install(|| std::thread::current().id()), here);
        super::set(3).unwrap();
        assert_eq!(super::get(), 3);
        assert_eq!(super::install(rayon::current_num_threads), 3);
        assert!(super::set(0).is_err());
        super::set(global).unwrap();
        assert_eq!(super::get(), global);
    }

    crate::self_test::cases!(the_count_follows_set_and_work_runs_with_it);
}
