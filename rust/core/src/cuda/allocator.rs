//! A caching device allocator, like PyTorch's: freed blocks go back to a per-device cache
//! instead of `cuMemFree` (which synchronises the device), and later requests of a similar
//! size reuse them. On out-of-memory the cache is released and the allocation retried once
//! before `Error::OutOfMemory`. The policy is independent of CUDA (`RawMemory` is the driver
//! in production, a fake in the tests below), so it is tested on every machine.
//!
//! All kernels run on one stream per device, so a block freed by one op can be handed to the
//! next op at once: stream order guarantees the earlier kernels finished with it.

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Requests up to 1 MiB are rounded to 512 bytes, larger ones to 2 MiB, so freed blocks fit
/// later requests of similar size.
const SMALL: usize = 1 << 20;
const SMALL_ROUND: usize = 512;
const LARGE_ROUND: usize = 2 << 20;

/// The underlying allocator (cuMemAlloc / cuMemFree).
pub trait RawMemory: Send {
    /// A device pointer to `bytes` bytes, or `Err(true)` for out of memory, `Err(false)`
    /// for another failure.
    fn alloc(&mut self, bytes: usize) -> std::result::Result<u64, (bool, String)>;
    fn free(&mut self, ptr: u64);
}

/// A block handed out by the allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub ptr: u64,
    pub size: usize,
}

struct State<M> {
    raw: M,
    /// Cached free blocks by size.
    cache: BTreeMap<usize, Vec<u64>>,
    allocated: usize,
    reserved: usize,
    peak_allocated: usize,
    peak_reserved: usize,
}

pub struct CachingAllocator<M: RawMemory> {
    device: usize,
    state: Mutex<State<M>>,
}

/// The size class a request is served from.
pub fn round_size(bytes: usize) -> usize {
    let bytes = bytes.max(1);
    if bytes <= SMALL {
        bytes.div_ceil(SMALL_ROUND) * SMALL_ROUND
    } else {
        bytes.div_ceil(LARGE_ROUND) * LARGE_ROUND
    }
}

impl<M: RawMemory> CachingAllocator<M> {
    pub fn new(device: usize, raw: M) -> Self {
        CachingAllocator {
            device,
            state: Mutex::new(State {
                raw,
                cache: BTreeMap::new(),
                allocated: 0,
                reserved: 0,
                peak_allocated: 0,
                peak_reserved: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<M>> {
        // A panic while holding the lock leaves consistent counters: recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A device's memory pool as its backend exposes it (`Backend::pool`): the caching allocator
/// over whichever raw memory the backend has (the driver, or host RAM in the emulator).
pub trait DevicePool: Send + Sync {
    /// The device ordinal the pool serves.
    fn device(&self) -> usize;
    /// A block of at least `bytes` bytes (out of memory: `Error::OutOfMemory`).
    fn allocate(&self, bytes: usize) -> Result<Block>;
    /// Returns a block to the cache.
    fn release(&self, block: Block);
    /// Frees every cached block back to the driver.
    fn empty_cache(&self);
    /// Bytes in blocks held by tensors.
    fn memory_allocated(&self) -> usize;
    /// Bytes obtained from the driver: allocated plus cached.
    fn memory_reserved(&self) -> usize;
    /// The peak of `memory_allocated`.
    fn max_memory_allocated(&self) -> usize;
    /// The peak of `memory_reserved`.
    fn max_memory_reserved(&self) -> usize;
    /// Starts both peaks again from the current values (`torch.cuda.reset_peak_memory_stats`).
    fn reset_peak_memory_stats(&self);
}

impl<M: RawMemory> DevicePool for CachingAllocator<M> {
    fn device(&self) -> usize {
        self.device
    }

    /// A block of at least `bytes` bytes: a cached one of the same size class (or a larger
    /// one up to twice the size), else fresh memory; on out-of-memory the cache is emptied
    /// and the allocation retried once.
    fn allocate(&self, bytes: usize) -> Result<Block> {
        let size = round_size(bytes);
        let mut st = self.lock();
        let hit = st
            .cache
            .range(size..=size.saturating_mul(2))
            .next()
            .map(|(&s, _)| s);
        if let Some(s) = hit {
            let list = st.cache.get_mut(&s).expect("size present");
            let ptr = list.pop().expect("non-empty list");
            if list.is_empty() {
                st.cache.remove(&s);
            }
            st.allocated += s;
            st.peak_allocated = st.peak_allocated.max(st.allocated);
            return Ok(Block { ptr, size: s });
        }
        let ptr = match st.raw.alloc(size) {
            Ok(p) => p,
            Err((true, _)) => {
                release_cache(&mut st);
                match st.raw.alloc(size) {
                    Ok(p) => p,
                    Err((_, msg)) => {
                        return Err(Error::OutOfMemory(format!(
                        "CUDA out of memory on cuda:{}: tried to allocate {} bytes with {} bytes \
                             allocated by tensors and the cache emptied ({msg})",
                        self.device, size, st.allocated
                    )))
                    }
                }
            }
            Err((false, msg)) => {
                return Err(Error::Device(format!(
                    "cuda:{}: allocating {size} bytes failed: {msg}",
                    self.device
                )))
            }
        };
        st.reserved += size;
        st.allocated += size;
        st.peak_allocated = st.peak_allocated.max(st.allocated);
        st.peak_reserved = st.peak_reserved.max(st.reserved);
        Ok(Block { ptr, size })
    }

    /// Returns a block to the cache.
    fn release(&self, block: Block) {
        let mut st = self.lock();
        st.allocated -= block.size;
        st.cache.entry(block.size).or_default().push(block.ptr);
    }

    /// Frees every cached block back to the driver.
    fn empty_cache(&self) {
        release_cache(&mut self.lock());
    }

    /// Bytes in blocks held by tensors.
    fn memory_allocated(&self) -> usize {
        self.lock().allocated
    }

    /// Bytes obtained from the driver: allocated plus cached.
    fn memory_reserved(&self) -> usize {
        self.lock().reserved
    }

    fn max_memory_allocated(&self) -> usize {
        self.lock().peak_allocated
    }

    fn max_memory_reserved(&self) -> usize {
        self.lock().peak_reserved
    }

    fn reset_peak_memory_stats(&self) {
        let mut st = self.lock();
        st.peak_allocated = st.allocated;
        st.peak_reserved = st.reserved;
    }
}

fn release_cache<M: RawMemory>(st: &mut State<M>) {
    let cache = std::mem::take(&mut st.cache);
    for (size, ptrs) in cache {
        for p in ptrs {
            st.raw.free(p);
            st.reserved -= size;
        }
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A device of `capacity` bytes handing out increasing fake addresses.
    struct Fake {
        capacity: usize,
        used: usize,
        next: u64,
        live: std::collections::HashMap<u64, usize>,
        frees: usize,
    }

    impl Fake {
        fn new(capacity: usize) -> Self {
            Fake {
                capacity,
                used: 0,
                next: 0x1000,
                live: Default::default(),
                frees: 0,
            }
        }
    }

    impl RawMemory for Fake {
        fn alloc(&mut self, bytes: usize) -> std::result::Result<u64, (bool, String)> {
            if self.used + bytes > self.capacity {
                return Err((true, "CUDA_ERROR_OUT_OF_MEMORY".into()));
            }
            self.used += bytes;
            let p = self.next;
            self.next += bytes as u64;
            self.live.insert(p, bytes);
            Ok(p)
        }
        fn free(&mut self, ptr: u64) {
            self.used -= self.live.remove(&ptr).expect("double free");
            self.frees += 1;
        }
    }

    fn rounding() {
        assert_eq!(round_size(0), 512);
        assert_eq!(round_size(513), 1024);
        assert_eq!(round_size(SMALL), SMALL);
        assert_eq!(round_size(SMALL + 1), 2 << 20);
        assert_eq!(round_size(5 << 20), 6 << 20);
    }

    fn freed_blocks_are_reused_and_counted() {
        let a = CachingAllocator::new(0, Fake::new(1 << 30));
        let b1 = a.allocate(1000).unwrap();
        assert_eq!((a.memory_allocated(), a.memory_reserved()), (1024, 1024));
        a.release(b1);
        assert_eq!((a.memory_allocated(), a.memory_reserved()), (0, 1024));
        let b2 = a.allocate(700).unwrap();
        assert_eq!(b2, b1, "same size class reuses the cached block");
        let b3 = a.allocate(3000).unwrap();
        assert_ne!(b3.ptr, b1.ptr);
        assert_eq!(a.memory_reserved(), 1024 + 3072);
        a.release(b2);
        a.release(b3);
        a.empty_cache();
        assert_eq!((a.memory_allocated(), a.memory_reserved()), (0, 0));
        assert_eq!(a.max_memory_allocated(), 1024 + 3072);
        assert_eq!(a.lock().raw.frees, 2);
    }

    fn peaks_restart_from_the_current_values() {
        let a = CachingAllocator::new(0, Fake::new(1 << 30));
        let b1 = a.allocate(4096).unwrap();
        let b2 = a.allocate(4096).unwrap();
        a.release(b2);
        assert_eq!(
            (a.max_memory_allocated(), a.max_memory_reserved()),
            (8192, 8192)
        );
        a.empty_cache();
        a.reset_peak_memory_stats();
        assert_eq!(
            (a.max_memory_allocated(), a.max_memory_reserved()),
            (4096, 4096)
        );
        a.release(b1);
        assert_eq!(a.max_memory_allocated(), 4096, "a release keeps the peak");
    }

    fn a_much_larger_cached_block_is_not_wasted_on_a_small_request() {
        let a = CachingAllocator::new(0, Fake::new(1 << 30));
        let big = a.allocate(8 << 20).unwrap();
        a.release(big);
        let small = a.allocate(1 << 20).unwrap();
        assert_ne!(small.ptr, big.ptr);
    }

    fn out_of_memory_empties_the_cache_retries_then_fails_cleanly() {
        let a = CachingAllocator::new(3, Fake::new(6 << 20));
        let x = a.allocate(4 << 20).unwrap();
        a.release(x); // 4 MiB cached
        let y = a.allocate(3 << 20).unwrap(); // 4 MiB block fits 3 MiB request (<= 2x)
        assert_eq!(y.ptr, x.ptr);
        a.release(y);
        // 6 MiB does not fit next to the cached 4 MiB: the cache is freed and the retry works.
        let z = a.allocate(6 << 20).unwrap();
        assert_eq!(a.memory_reserved(), 6 << 20);
        let err = a.allocate(1).unwrap_err();
        match err {
            Error::OutOfMemory(m) => assert!(m.contains("cuda:3"), "{m}"),
            e => panic!("expected OutOfMemory, got {e:?}"),
        }
        a.release(z);
        assert_eq!(a.memory_allocated(), 0);
    }

    crate::self_test::cases!(
        rounding,
        freed_blocks_are_reused_and_counted,
        peaks_restart_from_the_current_values,
        a_much_larger_cached_block_is_not_wasted_on_a_small_request,
        out_of_memory_empties_the_cache_retries_then_fails_cleanly
    );
}
