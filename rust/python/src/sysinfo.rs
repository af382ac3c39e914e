//! `_core._system_info()`: what this build of the engine is and what the CPU under it offers,
//! for `democratising.show_config()` (the text users paste into bug reports).
//!
//! The wheel is built for the baseline x86-64 CPU (no `target-cpu=native`); the gemm crate and
//! `democratising::simd` pick their SIMD kernels at run time, so the interesting facts are the
//! ones detected here at run time.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `(name, detected)` for the SIMD extensions that matter to the kernels, detected at run time.
fn runtime_cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        vec![
            ("sse2", std::is_x86_feature_detected!("sse2")),
            ("sse4.1", std::is_x86_feature_detected!("sse4.1")),
            ("sse4.2", std::is_x86_feature_detected!("sse4.2")),
            ("avx", std::is_x86_feature_detected!("avx")),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("f16c", std::is_x86_feature_detected!("f16c")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
            ("avx512dq", std::is_x86_feature_detected!("avx512dq")),
            ("avx512vl", std::is_x86_feature_detected!("avx512vl")),
        ]
    }
    #[cfg(target_arch = "aarch64")]
    {
        vec![
            ("neon", std::arch::is_aarch64_feature_detected!("neon")),
            ("fp16", std::arch::is_aarch64_feature_detected!("fp16")),
            ("sve", std::arch::is_aarch64_feature_detected!("sve")),
        ]
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Vec::new()
    }
}

/// SIMD extensions the binary itself was compiled to assume (the portable wheel: sse/sse2 only).
fn compiled_target_features() -> Vec<&'static str> {
    let mut out = Vec::new();
    macro_rules! check {
        ($($f:literal),*) => {$(if cfg!(target_feature = $f) { out.push($f); })*};
    }
    check!("sse2", "sse4.2", "avx", "avx2", "fma", "avx512f", "neon");
    out
}

/// Threads rayon's global pool uses: `RAYON_NUM_THREADS` when set to a positive number, else
/// the CPUs this process may run on (rayon's own rule; the engine never builds a custom pool).
fn rayon_threads(cpus: usize) -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(cpus)
}

/// Build and CPU facts as a dict: `engine_version`, `profile`, `target`, `compiled_features`,
/// `cpu_features` (name -> bool, detected at run time), `simd_level` (what the engine's kernels
/// dispatch to), `cpus`, `rayon_threads`.
#[pyfunction]
pub fn _system_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("engine_version", env!("CARGO_PKG_VERSION"))?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    d.set_item("profile", profile)?;
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    d.set_item("target", target)?;
    d.set_item("compiled_features", compiled_target_features())?;
    let features = runtime_cpu_features();
    let cpu = PyDict::new(py);
    for &(name, on) in &features {
        cpu.set_item(name, on)?;
    }
    d.set_item("cpu_features", cpu)?;
    // The level the engine's own loops dispatch to (AVX-512 needs F+BW+DQ+VL, AVX2 needs FMA).
    d.set_item("simd_level", democratising::simd::simd_level())?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    d.set_item("cpus", cpus)?;
    d.set_item("rayon_threads", rayon_threads(cpus))?;
    Ok(d)
}
