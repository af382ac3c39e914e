//! Proves, without a GPU, that every kernel family compiles with NVRTC for sm_80 and sm_90
//! (a real architecture, so ptxas runs: register and shared-memory limits are checked) and
//! that the PTX has exactly the kernels of the table, with the table's arity and the struct
//! parameter sizes of `launch`. NVRTC and the headers come from the pip wheels that
//! `make test` installs into .venv. Without them the test is skipped with a message, except
//! under CI (`CI=true`), where it fails.

use super::kernels::{Family, FAMILIES};
use super::launch::*;
use super::{nvrtc, ptx};
use std::mem::size_of;
use std::path::PathBuf;

const ARCHS: &[&str] = &["sm_80", "sm_90"];

/// (kernel, parameter index, size of the host struct passed there).
fn struct_params() -> Vec<(&'static str, usize, usize)> {
    vec![
        ("unary_f32", 2, size_of::<DmLayout>()),
        ("binary_bf16", 4, size_of::<DmLayout>()),
        ("where_bool", 4, size_of::<DmLayout>()),
        ("cast_f16_i64", 2, size_of::<DmLayout>()),
        ("im2col_f64", 0, size_of::<ConvGeom>()),
        ("max_pool2d_forward_f32", 0, size_of::<PoolGeom>()),
        ("attention_forward_f32", 0, size_of::<AttnGeom>()),
        ("adam_step_f32", 0, size_of::<AdamConfig>()),
        ("adam_step_f64", 1, size_of::<AdamList>()),
        ("sgd_step_f32", 0, size_of::<SgdConfig>()),
        ("sgd_step_f32", 1, size_of::<SgdList>()),
        ("amp_unscale_f16", 0, size_of::<AmpList>()),
    ]
}

/// The wheels' libnvrtc and include directory inside the repository's .venv, if installed.
fn venv_wheels() -> (Option<PathBuf>, Option<PathBuf>) {
    let venv_lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
    let site = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/nvidia"))
        .find(|p| p.is_dir());
    match site {
        Some(s) => (
            Some(s.join("cuda_nvrtc/lib/libnvrtc.so.12")).filter(|p| p.is_file()),
            Some(s.join("cuda_runtime/include")).filter(|p| p.is_dir()),
        ),
        None => (None, None),
    }
}

fn check(family: &'static Family, arch: &'static str) -> Result<(), String> {
    let c = nvrtc::compile(family, arch).map_err(|e| e.to_string())?;
    if c.cubin.is_empty() {
        return Err(format!(
            "{}.cu ({arch}): NVRTC produced no CUBIN",
            family.name
        ));
    }
    ptx::check_family(family, &c.ptx)?;
    let entries = ptx::entries(&c.ptx);
    for (kernel, index, size) in struct_params() {
        if let Some(e) = entries.iter().find(|e| e.name == kernel) {
            if e.param_sizes.get(index) != Some(&size) {
                return Err(format!(
                    "{kernel} parameter {index}: {:?} bytes in the PTX, {size} on the host",
                    e.param_sizes.get(index)
                ));
            }
        }
    }
    Ok(())
}

fn every_kernel_compiles_for_sm80_and_sm90_and_matches_the_table() {
    let (lib, include) = venv_wheels();
    nvrtc::add_search_paths(lib, include);
    let missing = match (nvrtc::is_available(), nvrtc::include_dir()) {
        (false, _) => Some("libnvrtc.so.12 (nvidia-cuda-nvrtc-cu12)".to_string()),
        (_, Err(e)) => Some(e.to_string()),
        _ => None,
    };
    if let Some(what) = missing {
        let msg =
            format!("NVRTC kernel check: {what} is not installed; `make venv` installs the wheels");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (required under CI)");
        }
        eprintln!("SKIPPED {msg}");
        return;
    }
    // One thread per (family, arch): NVRTC programs compile independently.
    let jobs: Vec<_> = FAMILIES
        .iter()
        .flat_map(|f| ARCHS.iter().map(move |&a| (f, a)))
        .map(|(f, a)| std::thread::spawn(move || check(f, a)))
        .collect();
    let errors: Vec<String> = jobs
        .into_iter()
        .filter_map(|j| {
            j.join()
                .unwrap_or_else(|_| Err("a compile thread panicked".into()))
                .err()
        })
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
    let structs: Vec<_> = struct_params().into_iter().map(|(k, _, _)| k).collect();
    let all: Vec<String> = super::kernels::all_kernels()
        .into_iter()
        .map(|(_, n, _)| n)
        .collect();
    for k in structs {
        assert!(all.iter().any(|n| n == k), "{k} is not in the kernel table");
    }
}

crate::self_test::cases!(every_kernel_compiles_for_sm80_and_sm90_and_matches_the_table);
