//! Compiling the kernel families with NVRTC: finding libnvrtc and the CUDA headers (a CUDA
//! toolkit, or the `nvidia-cuda-nvrtc-cu12` / `nvidia-cuda-runtime-cu12` wheels whose paths
//! the Python package registers), compiling one family for one `sm_XX` to PTX and CUBIN, and
//! an on-disk cache so a machine compiles each family once per NVRTC version.

use super::kernels::{Family, COMMON_HEADER};
use crate::{Error, Result};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Options every family is compiled with (the cache key includes them).
const OPTIONS: &[&str] = &["--std=c++17"];

#[derive(Default)]
struct Hints {
    libraries: Vec<PathBuf>,
    include_dirs: Vec<PathBuf>,
}

/// The registered search paths, locked (a panic while they were held loses nothing).
fn hints() -> MutexGuard<'static, Hints> {
    static H: OnceLock<Mutex<Hints>> = OnceLock::new();
    H.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Registers where libnvrtc (a file) and the CUDA headers (a directory holding cuda_fp16.h)
/// may be, in addition to `DEMOCRATISING_NVRTC` / `DEMOCRATISING_CUDA_INCLUDE` and the
/// usual toolkit locations. The Python package passes the pip wheels' paths here.
pub fn add_search_paths(library: Option<PathBuf>, include_dir: Option<PathBuf>) {
    let mut h = hints();
    h.libraries.extend(library);
    h.include_dirs.extend(include_dir);
}

fn env_paths(var: &str) -> Vec<PathBuf> {
    std::env::var_os(var)
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default()
}

fn toolkit_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"]
        .iter()
        .filter_map(|v| std::env::var_os(v).map(PathBuf::from))
        .collect();
    roots.push(PathBuf::from("/usr/local/cuda"));
    roots
}

/// Makes libnvrtc loadable by cudarc: already findable by name, or opened from an explicit
/// path first (once a library with soname libnvrtc.so.12 is loaded, cudarc's lookup by that
/// name returns it).
fn ensure_library() -> Result<()> {
    static LOADED: OnceLock<Mutex<Vec<libloading::Library>>> = OnceLock::new();
    let present = || unsafe { cudarc::nvrtc::sys::is_culib_present() };
    if present() {
        return Ok(());
    }
    let mut candidates = env_paths("DEMOCRATISING_NVRTC");
    candidates.extend(hints().libraries.clone());
    for root in toolkit_roots() {
        candidates.push(root.join("lib64/libnvrtc.so.12"));
    }
    let keep = LOADED.get_or_init(Default::default);
    for path in candidates.iter().filter(|p| p.is_file()) {
        // SAFETY: loading NVRTC runs no initialisers with preconditions of ours.
        if let Ok(lib) = unsafe { libloading::Library::new(path) } {
            keep.lock().unwrap_or_else(|e| e.into_inner()).push(lib);
            if present() {
                return Ok(());
            }
        }
    }
    Err(Error::Device(format!(
        "NVRTC (libnvrtc.so.12) was not found: install the `nvidia-cuda-nvrtc-cu12` wheel or a \
         CUDA 12 toolkit, or set DEMOCRATISING_NVRTC to the library's path (looked in {candidates:?} \
         and the loader's search path)"
    )))
}

/// Whether NVRTC can be loaded (without compiling anything).
pub fn is_available() -> bool {
    ensure_library().is_ok()
}

/// NVRTC's (major, minor) version.
pub fn version() -> Result<(i32, i32)> {
    ensure_library()?;
    let (mut major, mut minor) = (0, 0);
    guarded("nvrtcVersion", || unsafe {
        cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor)
    })?;
    Ok((major, minor))
}

/// The directory holding cuda_fp16.h / cuda_bf16.h, which the kernels include.
pub fn include_dir() -> Result<PathBuf> {
    let mut candidates = env_paths("DEMOCRATISING_CUDA_INCLUDE");
    candidates.extend(hints().include_dirs.clone());
    candidates.extend(toolkit_roots().into_iter().map(|r| r.join("include")));
    candidates
        .iter()
        .find(|d| d.join("cuda_fp16.h").is_file() && d.join("cuda_bf16.h").is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Device(format!(
                "the CUDA headers (cuda_fp16.h, cuda_bf16.h) were not found: install the \
                 `nvidia-cuda-runtime-cu12` wheel or a CUDA 12 toolkit, or set \
                 DEMOCRATISING_CUDA_INCLUDE (looked in {candidates:?})"
            ))
        })
}

/// Runs an NVRTC call, turning both an error code and a panic (a missing symbol in a
/// dynamically loaded library) into `Error::Device`.
fn guarded(what: &str, f: impl FnOnce() -> cudarc::nvrtc::sys::nvrtcResult) -> Result<()> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS) => Ok(()),
        Ok(code) => Err(Error::Device(format!("{what} failed: {code:?}"))),
        Err(_) => Err(Error::Device(format!("{what}: NVRTC could not be called"))),
    }
}

/// One family compiled for one architecture.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ptx: String,
    pub cubin: Vec<u8>,
}

struct Program(cudarc::nvrtc::sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = guarded("nvrtcDestroyProgram", || unsafe {
            cudarc::nvrtc::sys::nvrtcDestroyProgram(&mut self.0)
        });
    }
}

/// NVRTC's "size of an output" and "copy it out" calls (`nvrtcGetPTXSize`, `nvrtcGetPTX`).
type SizeFn = unsafe fn(cudarc::nvrtc::sys::nvrtcProgram, *mut usize) -> NvrtcResult;
type CopyFn = unsafe fn(cudarc::nvrtc::sys::nvrtcProgram, *mut c_char) -> NvrtcResult;
type NvrtcResult = cudarc::nvrtc::sys::nvrtcResult;

impl Program {
    /// One of the program's outputs (its log, PTX or CUBIN) through its size and copy calls;
    /// `what` names them in errors (`"PTX"`: nvrtcGetPTXSize, nvrtcGetPTX).
    fn output(&self, what: &str, size_of: SizeFn, copy: CopyFn) -> Result<Vec<u8>> {
        let mut size = 0usize;
        guarded(&format!("nvrtcGet{what}Size"), || unsafe {
            size_of(self.0, &mut size)
        })?;
        let mut out = vec![0u8; size];
        guarded(&format!("nvrtcGet{what}"), || unsafe {
            copy(self.0, out.as_mut_ptr() as *mut c_char)
        })?;
        Ok(out)
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Value("NUL byte in NVRTC input".into()))
}

/// Compiles `family` for `arch` (`"sm_80"`; a real architecture, so ptxas runs too and
/// register or shared-memory overflows are errors here, not at launch).
pub fn compile(family: &Family, arch: &str) -> Result<Compiled> {
    use cudarc::nvrtc::sys;
    ensure_library()?;
    let include = include_dir()?;
    let src = c_string(family.source)?;
    let name = c_string(&format!("{}.cu", family.name))?;
    let header = c_string(COMMON_HEADER.1)?;
    let header_name = c_string(COMMON_HEADER.0)?;
    let mut options: Vec<CString> = OPTIONS.iter().map(|o| c_string(o)).collect::<Result<_>>()?;
    options.push(c_string(&format!("--gpu-architecture={arch}"))?);
    options.push(c_string(&format!("--include-path={}", include.display()))?);
    let option_ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();

    let mut prog = Program(std::ptr::null_mut());
    guarded("nvrtcCreateProgram", || unsafe {
        sys::nvrtcCreateProgram(
            &mut prog.0,
            src.as_ptr(),
            name.as_ptr(),
            1,
            &header.as_ptr(),
            &header_name.as_ptr(),
        )
    })?;
    let compiled = guarded("nvrtcCompileProgram", || unsafe {
        sys::nvrtcCompileProgram(prog.0, option_ptrs.len() as i32, option_ptrs.as_ptr())
    });
    if let Err(e) = compiled {
        let log = prog
            .output(
                "ProgramLog",
                sys::nvrtcGetProgramLogSize,
                sys::nvrtcGetProgramLog,
            )
            .unwrap_or_default();
        let log = CStr::from_bytes_until_nul(&log)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(Error::Device(format!(
            "{e} for {}.cu ({arch}):\n{log}",
            family.name
        )));
    }
    let ptx = prog.output("PTX", sys::nvrtcGetPTXSize, sys::nvrtcGetPTX)?;
    let ptx = CStr::from_bytes_until_nul(&ptx)
        .map(|c| c.to_string_lossy().into_owned())
        .map_err(|_| Error::Device("NVRTC returned PTX without a terminator".into()))?;
    let cubin = prog.output("CUBIN", sys::nvrtcGetCUBINSize, sys::nvrtcGetCUBIN)?;
    Ok(Compiled { ptx, cubin })
}

/// FNV-1a: a stable hash for cache file names (std's hasher may change between releases).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.iter().chain(&[0xffu8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Where compiled kernels are kept: `DEMOCRATISING_KERNEL_CACHE` (`off` disables), else
/// `$XDG_CACHE_HOME/democratising/kernels` or `~/.cache/democratising/kernels`.
fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("DEMOCRATISING_KERNEL_CACHE") {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|d| d.join("democratising").join("kernels")),
    }
}

/// `compile`, through the on-disk cache (a failed cache write only costs a recompile).
pub fn compile_cached(family: &Family, arch: &str) -> Result<Compiled> {
    let Some(dir) = cache_dir() else {
        return compile(family, arch);
    };
    let (major, minor) = version()?;
    let key = fnv1a(&[
        family.source.as_bytes(),
        COMMON_HEADER.1.as_bytes(),
        arch.as_bytes(),
        OPTIONS.join(" ").as_bytes(),
        format!("{major}.{minor}").as_bytes(),
    ]);
    let stem = dir.join(format!("{}-{arch}-{key:016x}", family.name));
    let (ptx_path, cubin_path) = (stem.with_extension("ptx"), stem.with_extension("cubin"));
    if let (Ok(ptx), Ok(cubin)) = (
        std::fs::read_to_string(&ptx_path),
        std::fs::read(&cubin_path),
    ) {
        return Ok(Compiled { ptx, cubin });
    }
    let c = compile(family, arch)?;
    let write = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    };
    let _ = write(&cubin_path, &c.cubin).and_then(|_| write(&ptx_path, c.ptx.as_bytes()));
    Ok(c)
}
