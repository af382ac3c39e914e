//! Splitting one mid-size kernel (a 128x784x128 GEMM takes ~100 µs) over two cores without
//! paying a thread wake-up each time. Rayon's workers fall asleep between the kernels of a
//! training step, and waking one costs as much as the split saves (70-100 µs on a VM). Here
//! the first split starts a *resident*: a rayon job that stays on its worker for `LINGER`
//! after its last half-kernel, running rayon's other pending work meanwhile (so parallel ops
//! keep both threads) and picking up the next half-kernel the moment it is posted.
//!
//! A posted half that the resident has not started when the caller finishes its own half is
//! taken back and run by the caller: no wait on a sleeping thread, no deadlock when the call
//! comes from inside the pool, never slower than running both halves in a row.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the resident stays after its last half-kernel.
const LINGER: Duration = Duration::from_millis(2);

type Job = Box<dyn FnOnce() + Send + 'static>;

const IDLE: u8 = 0;
const POSTED: u8 = 1;
const RUNNING: u8 = 2;
const DONE: u8 = 3;
const PANICKED: u8 = 4;

struct Team {
    state: AtomicU8,
    job: Mutex<Option<Job>>,
    /// A resident is running (or has been spawned).
    alive: AtomicBool,
    /// Held by the one caller whose half is posted; concurrent callers run both halves.
    busy: AtomicBool,
}

static TEAM: Team = Team {
    state: AtomicU8::new(IDLE),
    job: Mutex::new(None),
    alive: AtomicBool::new(false),
    busy: AtomicBool::new(false),
};

fn slot() -> MutexGuard<'static, Option<Job>> {
    TEAM.job.lock().unwrap_or_else(|e| e.into_inner())
}

/// The resident: runs posted halves, helps rayon otherwise, leaves after `LINGER` idle.
fn serve() {
    let mut last = Instant::now();
    loop {
        if TEAM
            .state
            .compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let job = slot().take();
            let ok = job.is_none_or(|j| catch_unwind(AssertUnwindSafe(j)).is_ok());
            TEAM.state
                .store(if ok { DONE } else { PANICKED }, Ordering::Release);
            last = Instant::now();
            continue;
        }
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last = Instant::now(),
            _ => std::hint::spin_loop(),
        }
        if last.elapsed() > LINGER {
            // A half posted from here on is taken back by its caller.
            TEAM.alive.store(false, Ordering::Release);
            return;
        }
    }
}

/// What became of the posted half.
enum Settled {
    /// Not started by the resident: the caller runs it.
    Back(Option<Job>),
    /// Run by the resident; true if it panicked.
    Ran(bool),
}

/// Takes the posted half back or waits for the resident to finish it; frees the team. Runs
/// on every exit from `join`, unwinding included, so the half's borrows never outlive it.
struct Settle;

impl Settle {
    fn settle() -> Settled {
        let s = if TEAM
            .state
            .compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            Settled::Back(slot().take())
        } else {
            loop {
                let s = TEAM.state.load(Ordering::Acquire);
                if s == DONE || s == PANICKED {
                    break;
                }
                std::hint::spin_loop();
            }
            Settled::Ran(TEAM.state.swap(IDLE, Ordering::AcqRel) == PANICKED)
        };
        TEAM.busy.store(false, Ordering::Release);
        s
    }

    fn finish(self) -> Settled {
        std::mem::forget(self);
        Self::settle()
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        // Unwinding out of the caller's half: a half taken back is dropped unrun.
        let _ = Self::settle();
    }
}

/// Whether a spinning resident has a core of its own (never on a single-core machine, where
/// it would only steal time from the caller).
fn enabled() -> bool {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    cores >= 2 && crate::threads::get() >= 2
}

/// Runs `a` here and `b` on the resident (or here, after `a`), returning when both are done.
pub(crate) fn join<A: FnOnce() + Send, B: FnOnce() + Send>(a: A, b: B) {
    if !enabled() || TEAM.busy.swap(true, Ordering::Acquire) {
        a();
        b();
        return;
    }
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(b);
    // SAFETY: `Settle` (run on return and on unwinding) either takes the job back before the
    // resident starts it or waits until the resident has finished it, so the job never runs
    // after this call returns and its borrows stay valid while it can run.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    *slot() = Some(job);
    TEAM.state.store(POSTED, Ordering::Release);
    if !TEAM.alive.swap(true, Ordering::AcqRel) {
        rayon::spawn(serve);
    }
    let settle = Settle;
    a();
    match settle.finish() {
        Settled::Back(Some(job)) => job(),
        Settled::Back(None) | Settled::Ran(false) => {}
        Settled::Ran(true) => resume_unwind(Box::new(
            "a kernel half running on the resident worker panicked",
        )),
    }
}

/// Runs `f` on every item: one item here, two split between this thread and the resident
/// (see `join`), any other count through rayon.
pub(crate) fn for_each<T: Send, F: Fn(T) + Sync + Send>(items: Vec<T>, f: F) {
    use rayon::prelude::*;
    if items.len() < 2 || !crate::threads::split() {
        items.into_iter().for_each(f);
    } else if items.len() == 2 && crate::threads::get() == 2 && enabled() {
        let mut it = items.into_iter();
        let (a, b) = (it.next().expect("two"), it.next().expect("two"));
        join(|| f(a), || f(b));
    } else {
        items.into_par_iter().for_each(f);
    }
}

/// Runs `f` on every item: one item here; with two threads, the first half of the items here
/// and the second on the resident (see `join`; for items of about equal cost), else through
/// rayon.
pub(crate) fn for_each_halves<T: Send, F: Fn(T) + Sync + Send>(mut items: Vec<T>, f: F) {
    use rayon::prelude::*;
    if items.len() < 2 || !crate::threads::split() {
        items.into_iter().for_each(f);
    } else if crate::threads::get() == 2 && enabled() {
        let second = items.split_off(items.len() / 2);
        join(
            || items.into_iter().for_each(&f),
            || second.into_iter().for_each(&f),
        );
    } else {
        items.into_par_iter().for_each(f);
    }
}

/// `f` of every item, in order: one item here, two split between this thread and the
/// resident (see `join`), any other count through rayon.
pub(crate) fn map<T: Send, R: Send, F: Fn(T) -> R + Sync + Send>(items: Vec<T>, f: F) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() < 2 || !crate::threads::split() {
        items.into_iter().map(f).collect()
    } else if items.len() == 2 && crate::threads::get() == 2 && enabled() {
        let mut it = items.into_iter();
        let (a, b) = (it.next().expect("two"), it.next().expect("two"));
        let (mut ra, mut rb) = (None, None);
        join(|| ra = Some(f(a)), || rb = Some(f(b)));
        ra.into_iter().chain(rb).collect()
    } else {
        items.into_par_iter().map(f).collect()
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::join;

    fn both_halves_run_and_see_their_borrows() {
        for i in 0..2000 {
            let mut left = vec![0u32; 64];
            let mut right = vec![0u32; 64];
            join(
                || left.iter_mut().for_each(|v| *v = 1),
                || right.iter_mut().for_each(|v| *v = 2),
            );
            assert!(left.iter().all(|&v| v == 1) && right.iter().all(|&v| v == 2));
            if i % 500 == 0 {
                // Let the resident leave, so later joins start a new one.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    fn concurrent_and_nested_callers_still_run_both_halves() {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..300 {
                        let (mut a, mut b, mut c) = (0u64, 0u64, 0u64);
                        join(|| a += 1, || join(|| b += 2, || c += 3));
                        assert_eq!((a, b, c), (1, 2, 3));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // From inside the pool.
        rayon::scope(|_| {
            let (mut a, mut b) = (0, 0);
            join(|| a = 1, || b = 2);
            assert_eq!((a, b), (1, 2));
        });
    }

    crate::self_test::cases!(
        both_halves_run_and_see_their_borrows,
        concurrent_and_nested_callers_still_run_both_halves
    );
}
