//! Allocator tuning at import. glibc returns every buffer above 128 KiB to the OS with `munmap`,
//! so a training step that allocates and frees the same activation sizes page-faults them all in
//! again on every step (thousands of faults per CNN step). Raising the mmap and trim thresholds
//! keeps those buffers in the heap for reuse. Set `DEMOCRATISING_MALLOC_TUNING=0` to opt out.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    use std::os::raw::c_int;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;
    if std::env::var("DEMOCRATISING_MALLOC_TUNING").is_ok_and(|v| v == "0") {
        return;
    }
    // SAFETY: mallopt only changes glibc's tunables; it is safe to call at any time.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 64 << 20);
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
