//! Module-level functions: tensor factories, NumPy interop, joins, RNG and grad-mode control.

use crate::errors::{to_pyerr, ResultExt};
use crate::tensor::PyTensor;
use crate::types::{extract_device, extract_dtype, PyDType};
use crate::util::{int_args, missing_argument, operand, returned_gradient, run, usize_shape, wrap};
use democratising::{autograd, rng, DType, Device, Error, Storage, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::Arc;

fn dtype_or(d: Option<&Bound<'_, PyAny>>, default: DType) -> PyResult<DType> {
    match d {
        Some(d) if !d.is_none() => extract_dtype(d),
        _ => Ok(default),
    }
}

/// The `device=` argument (the default device when absent, see `default_device`). Factories
/// build on the CPU and move the result, so a seed gives the same numbers on every device.
fn check_device(d: Option<&Bound<'_, PyAny>>) -> PyResult<Device> {
    match d {
        Some(d) if !d.is_none() => extract_device(d),
        _ => Ok(crate::default_device::current()),
    }
}

/// A non-negative count argument (`steps`, `n`), as a typed error when negative.
fn count(name: &str, n: isize) -> PyResult<usize> {
    usize::try_from(n).map_err(|_| {
        to_pyerr(Error::Value(format!(
            "{name} must be non-negative, got {n}"
        )))
    })
}

fn finish(t: Tensor, device: Device, requires_grad: bool) -> PyResult<PyTensor> {
    let t = if device == Device::Cpu {
        t
    } else {
        t.to_device(device).py()?
    };
    if requires_grad {
        t.set_requires_grad(true).py()?;
    }
    Ok(wrap(t))
}

/// The shape of a factory call: the positional sizes (`zeros(2, 3)`, `zeros((2, 3))`) or
/// PyTorch's `size=` keyword (`zeros(size=(2, 3))`), not both.
fn factory_shape(
    name: &str,
    size: &Bound<'_, PyTuple>,
    keyword: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<usize>> {
    match keyword {
        // (`zeros(())` is a 0-d tensor; `zeros()` is PyTorch's missing-argument error)
        None if size.is_empty() => Err(missing_argument(name, "size")),
        Some(k) if !size.is_empty() => Err(to_pyerr(Error::Value(format!(
            "size given both positionally {} and as size={}",
            size.repr()?,
            k.repr()?
        )))),
        Some(k) => usize_shape(&int_args(&PyTuple::new(k.py(), [k])?)?),
        None => usize_shape(&int_args(size)?),
    }
}

/// A factory `name(*size, size=None, dtype=None, device=None, requires_grad=False)` over the
/// engine's `make(&shape, dtype)`: built on the CPU, then moved (see `check_device`).
macro_rules! sized_factory {
    ($name:ident, $make:expr) => {
        #[pyfunction]
        #[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false, **kwargs))]
        pub fn $name(
            py: Python<'_>,
            size: &Bound<'_, PyTuple>,
            dtype: Option<&Bound<'_, PyAny>>,
            device: Option<&Bound<'_, PyAny>>,
            requires_grad: bool,
            kwargs: Option<&Bound<'_, PyDict>>,
        ) -> PyResult<PyTensor> {
            let dev = check_device(device)?;
            let keyword = factory_keywords(stringify!($name), kwargs)?;
            let shape = factory_shape(stringify!($name), size, keyword.as_ref())?;
            let dt = dtype_or(dtype, DType::default_float())?;
            let n: usize = shape.iter().product();
            finish(run(py, n, || ($make)(&shape, dt))?, dev, requires_grad)
        }
    };
}

/// A factory's `**kwargs`: PyTorch's `size=`, and `out=None`/`layout=None`/`pin_memory=False`
/// (accepted as PyTorch's defaults); any other keyword is a `TypeError` naming it.
fn factory_keywords<'py>(
    name: &str,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut size = None;
    for (k, v) in kwargs.into_iter().flatten() {
        let key: String = k.extract()?;
        match key.as_str() {
            "size" => size = Some(v),
            "out" | "layout" if v.is_none() => {}
            "pin_memory" if !v.is_truthy()? => {}
            _ => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "{name}() got an unexpected keyword argument '{key}'"
                )))
            }
        }
    }
    Ok(size)
}

sized_factory!(zeros, |s: &[usize], dt| Tensor::full(s, 0.0, dt));
sized_factory!(ones, |s: &[usize], dt| Tensor::full(s, 1.0, dt));
sized_factory!(empty, |s: &[usize], dt| Tensor::full(s, 0.0, dt));
sized_factory!(rand, Tensor::rand);
sized_factory!(randn, Tensor::randn);

#[pyfunction]
#[pyo3(signature = (size, fill_value, *, dtype=None, device=None, requires_grad=false))]
pub fn full(
    size: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> PyResult<PyTensor> {
    let dev = check_device(device)?;
    let shape = usize_shape(&int_args(&PyTuple::new(size.py(), [size])?)?)?;
    let v = operand(fill_value)?;
    let default = match v.dtype() {
        DType::F64 | DType::F32 => DType::default_float(),
        d => d,
    };
    let dt = dtype_or(dtype, default)?;
    finish(
        Tensor::full_scalar(&shape, &v, dt).py()?,
        dev,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (start=None, end=None, step=None, *, dtype=None, device=None, requires_grad=false))]
pub fn arange(
    start: Option<&Bound<'_, PyAny>>,
    end: Option<&Bound<'_, PyAny>>,
    step: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> PyResult<PyTensor> {
    let dev = check_device(device)?;
    // `arange(end)`, `arange(end=end)` or `arange(start, end)`, as PyTorch reads them.
    let (s, e) = match (start, end) {
        (Some(s), Some(e)) => (operand(s)?, operand(e)?),
        (Some(e), None) | (None, Some(e)) => (Tensor::wrapped_scalar(0i64), operand(e)?),
        (None, None) => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "arange() missing required argument 'end'",
            ))
        }
    };
    let st = match step {
        Some(x) => operand(x)?,
        None => Tensor::wrapped_scalar(1i64),
    };
    let any_float = [&s, &e, &st].iter().any(|t| t.dtype().is_float());
    let dt = dtype_or(
        dtype,
        if any_float {
            DType::default_float()
        } else {
            DType::I64
        },
    )?;
    if dt == DType::Bool {
        return Err(to_pyerr(Error::DType(
            "arange: a range of bool is not supported".into(),
        )));
    }
    let t = if any_float {
        Tensor::arange(s.item().py()?, e.item().py()?, st.item().py()?, dt)
    } else {
        // Integer bounds: exact in int64 at any magnitude.
        let (s, e, st) = (s.item_i64().py()?, e.item_i64().py()?, st.item_i64().py()?);
        Tensor::arange_int(s, e, st, dt)
    };
    finish(t.py()?, dev, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (start, end, steps, *, dtype=None, device=None, requires_grad=false))]
pub fn linspace(
    start: f64,
    end: f64,
    steps: isize,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> PyResult<PyTensor> {
    let dev = check_device(device)?;
    let steps = count("steps", steps)?;
    let dtype = dtype_or(dtype, DType::default_float())?;
    if dtype == DType::Bool {
        // (as `arange`: PyTorch has no bool ranges)
        return Err(crate::errors::to_pyerr(democratising::Error::DType(
            "linspace: a range of bool is not supported".into(),
        )));
    }
    let t = Tensor::linspace(start, end, steps, dtype).py()?;
    finish(t, dev, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (n, m=None, *, dtype=None, device=None, requires_grad=false))]
pub fn eye(
    n: isize,
    m: Option<isize>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> PyResult<PyTensor> {
    let dev = check_device(device)?;
    let (n, m) = (count("n", n)?, m.map(|m| count("m", m)).transpose()?);
    let t = Tensor::eye(n, m, dtype_or(dtype, DType::default_float())?).py()?;
    finish(t, dev, requires_grad)
}

/// `randint(high, size)` or `randint(low, high, size)`, positionally or by keyword.
#[pyfunction]
#[pyo3(signature = (*args, low=None, high=None, size=None, dtype=None, device=None))]
pub fn randint(
    args: &Bound<'_, PyTuple>,
    low: Option<i64>,
    high: Option<i64>,
    size: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let dev = check_device(device)?;
    let mut ints: Vec<i64> = Vec::new();
    let mut shape_obj = size.cloned();
    for a in args.iter() {
        if let Ok(i) = a.extract::<i64>() {
            ints.push(i);
        } else if a.is_instance_of::<pyo3::types::PyInt>() {
            // A bound past int64 (it was read as the size, and the bounds came out wrong).
            return Err(to_pyerr(Error::Overflow(format!(
                "randint: bound {a} does not fit in int64"
            ))));
        } else {
            shape_obj = Some(a);
        }
    }
    match (low, high) {
        (Some(l), Some(h)) => ints = vec![l, h],
        (None, Some(h)) => ints = vec![ints.first().copied().unwrap_or(0), h],
        (Some(l), None) => ints.insert(0, l),
        (None, None) => {}
    }
    let (low, high) =
        match ints.as_slice() {
            [h] => (0, *h),
            [l, h] => (*l, *h),
            _ => return Err(crate::errors::type_error(
                "randint(low=0, high, size): expected one or two integer bounds and a size tuple",
            )),
        };
    let Some(shape_obj) = shape_obj else {
        return Err(crate::errors::type_error(
            "randint() missing required argument 'size'",
        ));
    };
    let shape = usize_shape(&shape_obj.extract::<Vec<isize>>()?)?;
    let t = Tensor::randint(low, high, &shape, dtype_or(dtype, DType::I64)?).py()?;
    Ok(wrap(t.to_device(dev).py()?))
}

#[pyfunction]
pub fn randperm(n: isize) -> PyResult<PyTensor> {
    Ok(wrap(Tensor::randperm(count("n", n)?).py()?))
}

/// Sets the number of threads the engine's kernels use (PyTorch's `set_num_threads`).
#[pyfunction]
pub fn set_num_threads(num: i64) -> PyResult<()> {
    if num < 1 {
        return Err(to_pyerr(Error::Value(format!(
            "set_num_threads expects a positive number of threads, got {num}"
        ))));
    }
    democratising::threads::set(num as usize).map_err(to_pyerr)
}

/// The number of threads the engine's kernels use.
#[pyfunction]
pub fn get_num_threads() -> usize {
    democratising::threads::get()
}

/// Seeds the global generator; like PyTorch, negative seeds wrap around to unsigned 64 bits.
#[pyfunction]
pub fn manual_seed(seed: i128) -> PyResult<()> {
    if seed < i64::MIN as i128 || seed > u64::MAX as i128 {
        return Err(to_pyerr(Error::Value(format!(
            "manual_seed: seed {seed} does not fit in 64 bits"
        ))));
    }
    rng::manual_seed(seed as u64);
    Ok(())
}

/// PyTorch's `set_default_dtype`: the dtype of floating-point tensors made without one.
#[pyfunction]
pub fn _set_default_dtype(dtype: &Bound<'_, PyAny>) -> PyResult<()> {
    DType::set_default_float(extract_dtype(dtype)?).py()
}

/// PyTorch's `get_default_dtype`.
#[pyfunction]
pub fn _default_dtype(py: Python<'_>) -> PyResult<Py<PyDType>> {
    crate::types::dtype_object(py, DType::default_float())
}

/// Gives the calling thread a generator of its own seeded with `seed` (wrapping to 64 bits
/// as `manual_seed`), or back to the global one with `None`: data-loader worker threads draw
/// reproducible streams of their own.
#[pyfunction]
#[pyo3(signature = (seed=None))]
pub fn _seed_thread(seed: Option<i128>) -> PyResult<()> {
    if let Some(s) = seed {
        if s < i64::MIN as i128 || s > u64::MAX as i128 {
            return Err(to_pyerr(Error::Value(format!(
                "a thread seed must fit in 64 bits, got {s}"
            ))));
        }
    }
    rng::seed_this_thread(seed.map(|s| s as u64));
    Ok(())
}

#[pyfunction]
pub fn get_rng_state() -> Vec<u64> {
    rng::get_rng_state().to_vec()
}

#[pyfunction]
pub fn set_rng_state(state: Vec<u64>) -> PyResult<()> {
    let s: [u64; 4] = state.try_into().map_err(|_| {
        to_pyerr(Error::Value(
            "an RNG state is a list of 4 unsigned 64-bit integers".into(),
        ))
    })?;
    rng::set_rng_state(s).py()
}

/// Makes `state` (4 words; `None`: none) this thread's own random stream and returns the one
/// it replaces (`None` when the thread drew from the global stream): `Generator` draws.
#[pyfunction]
#[pyo3(signature = (state=None))]
pub fn _swap_thread_rng(state: Option<Vec<u64>>) -> PyResult<Option<Vec<u64>>> {
    let s: Option<[u64; 4]> = state
        .map(|v| {
            v.try_into().map_err(|_| {
                to_pyerr(Error::Value(
                    "an RNG state is a list of 4 unsigned 64-bit integers".into(),
                ))
            })
        })
        .transpose()?;
    Ok(rng::swap_thread_state(s).py()?.map(|s| s.to_vec()))
}

#[pyfunction]
pub fn is_grad_enabled() -> bool {
    autograd::is_grad_enabled()
}

/// Sets grad mode for this thread and returns the previous mode.
#[pyfunction]
pub fn _set_grad_enabled(enabled: bool) -> bool {
    autograd::set_grad_enabled(enabled)
}

/// The grad-mode switch (`torch.is_grad_enabled()`): on under `enable_grad` even inside
/// inference mode, where `is_grad_enabled()` (whether ops record) says False.
#[pyfunction]
pub fn _grad_mode_flag() -> bool {
    autograd::grad_mode_flag()
}

/// Enters or leaves inference mode for this thread and returns the previous state.
#[pyfunction]
pub fn _set_inference_mode(on: bool) -> bool {
    autograd::set_inference_mode(on)
}

/// Whether this thread is in inference mode.
#[pyfunction]
pub fn _is_inference_mode() -> bool {
    autograd::is_inference_mode()
}

/// `cat(tensors, dim=0)` and `stack(tensors, dim=0)` (`axis=` as NumPy spells it).
macro_rules! join_py {
    ($($name:ident),*) => {
        $(
            #[pyfunction]
            #[pyo3(signature = (tensors, dim=None, *, axis=None, out=None))]
            pub fn $name<'py>(
                py: Python<'py>,
                tensors: Vec<PyRef<'py, PyTensor>>,
                dim: Option<isize>,
                axis: Option<isize>,
                out: Option<Bound<'py, PyTensor>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let dim = crate::util::dim_or_axis(stringify!($name), dim, axis)?.unwrap_or(0);
                let r = join(py, &tensors, dim, Tensor::$name)?;
                match out {
                    Some(out) => into_out(stringify!($name), r, out),
                    None => Ok(Bound::new(py, wrap(r))?.into_any()),
                }
            }
        )*
    };
}

join_py!(cat, stack);

/// `cat` and `stack`: `op` over the tensors' handles, the GIL released for large inputs.
fn join(
    py: Python<'_>,
    tensors: &[PyRef<'_, PyTensor>],
    dim: isize,
    op: fn(&[Tensor], isize) -> democratising::Result<Tensor>,
) -> PyResult<Tensor> {
    let ts: Vec<Tensor> = tensors.iter().map(|t| t.tensor()).collect();
    let n = ts.iter().map(|t| t.numel()).sum();
    run(py, n, || op(&ts, dim))
}

/// PyTorch's `out=`: `result` written into `out` (in place when the shapes agree, else `out`
/// resized to hold it), cast to `out`'s dtype when that loses no kind (a float result into an
/// integer `out` is refused), and `out` returned. Nothing here is differentiable.
fn into_out<'py>(
    op: &str,
    result: Tensor,
    out: Bound<'py, PyTensor>,
) -> PyResult<Bound<'py, PyAny>> {
    let o = out.get().tensor();
    if autograd::is_grad_enabled() && (result.requires_grad() || o.requires_grad()) {
        return Err(to_pyerr(Error::Autograd(format!(
            "{op}(): functions with out=... arguments don't support automatic differentiation, \
             but one of the arguments requires grad."
        ))));
    }
    if result.dtype().is_float() && !o.dtype().is_float() {
        return Err(to_pyerr(Error::DType(format!(
            "{op}(): result type {} can't be cast to the desired output type {}",
            result.dtype(),
            o.dtype()
        ))));
    }
    if result.device() != o.device() {
        return Err(to_pyerr(Error::Device(format!(
            "{op}(): expected out on {}, the result's device, but got out on {}",
            result.device(),
            o.device()
        ))));
    }
    let result = result.detach();
    if o.shape() == result.shape() {
        o.copy_(&result).py()?;
    } else {
        out.get()
            .replace(result.to_dtype(o.dtype()).py()?.contiguous().py()?);
    }
    Ok(out.into_any())
}

#[pyfunction]
#[pyo3(name = "where")]
pub fn where_(
    py: Python<'_>,
    condition: PyRef<'_, PyTensor>,
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
) -> PyResult<PyTensor> {
    let (a, b) = (operand(input)?, operand(other)?);
    let c = &condition.tensor();
    run(py, c.numel(), || Tensor::where_(c, &a, &b)).map(wrap)
}

/// `autograd.grad(outputs, inputs, grad_outputs=None, retain_graph=None, allow_unused=False)`.
#[pyfunction]
#[pyo3(signature = (outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=false, allow_unused=false))]
pub fn autograd_grad(
    py: Python<'_>,
    outputs: Vec<PyRef<'_, PyTensor>>,
    inputs: Vec<PyRef<'_, PyTensor>>,
    grad_outputs: Option<Vec<Option<PyRef<'_, PyTensor>>>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: bool,
) -> PyResult<Vec<Option<PyTensor>>> {
    let outs: Vec<Tensor> = outputs.iter().map(|t| t.tensor()).collect();
    let ins: Vec<Tensor> = inputs.iter().map(|t| t.tensor()).collect();
    let gos: Vec<Option<Tensor>> = match grad_outputs {
        Some(g) => g.into_iter().map(|x| x.map(|t| t.tensor())).collect(),
        None => vec![None; outs.len()],
    };
    let retain = retain_graph.unwrap_or(create_graph);
    let r = crate::util::detach(py, || {
        autograd::grad(&outs, gos, &ins, retain, create_graph)
    })
    .py()?;
    if !allow_unused && r.iter().any(|g| g.is_none()) {
        return Err(to_pyerr(Error::Autograd(
            "one of the differentiated tensors appears to not have been used in the graph; set allow_unused=True if this is the desired behavior".into(),
        )));
    }
    Ok(r.into_iter().map(|g| g.map(wrap)).collect())
}

fn typestr_dtype(s: &str) -> Option<DType> {
    Some(match s {
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<f2" => DType::F16,
        "<i8" => DType::I64,
        "<i4" => DType::I32,
        "<i2" => DType::I16,
        "|i1" => DType::I8,
        "|u1" => DType::U8,
        "|b1" => DType::Bool,
        _ => return None,
    })
}

/// The engine dtype a NumPy integer array without one of its own is copied into: uint16
/// widens to int32, unsigned 32- and 64-bit ones to int64 (as `torch.from_numpy(a).long()`).
fn widened_typestr(s: &str) -> Option<&'static str> {
    match s.get(1..)? {
        "u2" => Some("<i4"),
        "u4" | "u8" => Some("<i8"),
        _ => None,
    }
}

/// Keeps a Python object (the NumPy array) alive for as long as a storage uses its memory.
struct PyOwner(#[allow(dead_code)] Py<PyAny>);

/// A tensor sharing the memory of a NumPy array (copied only when its layout or dtype cannot be
/// shared: negative or unaligned strides, read-only memory, big-endian data, or an integer dtype the
/// engine lacks, such as uint16, which widens into int32).
#[pyfunction]
pub fn from_numpy(py: Python<'_>, array: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let np = py.import("numpy")?;
    if !array.is_instance(&np.getattr("ndarray")?)? {
        return Err(crate::errors::type_error(format!(
            "from_numpy expects a numpy.ndarray, got {}",
            array.get_type()
        )));
    }
    if let Some(t) = shared_by_dlpack(array) {
        return Ok(wrap(t));
    }
    let mut arr = array.clone();
    for attempt in 0..2 {
        let iface = arr.getattr("__array_interface__")?;
        let iface = iface.cast::<PyDict>()?;
        let typestr: String = iface
            .get_item("typestr")?
            .map(|t| t.extract())
            .transpose()?
            .unwrap_or_default();
        let Some(dt) = typestr_dtype(&typestr) else {
            if let Some(wide) = widened_typestr(&typestr).filter(|_| attempt == 0) {
                if wide == "<i8" && typestr.ends_with("u8") {
                    let too_big = np.getattr("any")?.call1((np
                        .getattr("greater")?
                        .call1((&arr, np.getattr("uint64")?.call1((i64::MAX as u64,))?))?,))?;
                    if too_big.is_truthy()? {
                        return Err(to_pyerr(Error::DType(
                            "a uint64 NumPy array holds values above 2**63-1, which int64 can't hold"
                                .into(),
                        )));
                    }
                }
                arr = np
                    .getattr("ascontiguousarray")?
                    .call1((arr.call_method1("astype", (wide,))?,))?;
                continue;
            }
            if attempt == 0 && typestr.starts_with('>') {
                arr = np
                    .getattr("ascontiguousarray")?
                    .call1((arr.call_method1("astype", (typestr.replace('>', "<"),))?,))?;
                continue;
            }
            return Err(to_pyerr(Error::DType(format!(
                "can't convert a NumPy array of dtype {}: supported are floating (64, 32, 16-bit), integer and bool arrays",
                arr.getattr("dtype")?
            ))));
        };
        if dt == DType::Bool && attempt == 0 {
            // NumPy lets any byte sit in a bool array (`uint8_array.view(bool)`); a Rust bool
            // must be 0 or 1, so such an array is normalised into a copy (nonzero -> True).
            let bytes = arr.call_method1("view", (np.getattr("uint8")?,))?;
            let any_big = np
                .getattr("any")?
                .call1((np.getattr("greater")?.call1((&bytes, 1))?,))?;
            if any_big.is_truthy()? {
                arr = np.getattr("not_equal")?.call1((bytes, 0))?;
                continue;
            }
        }
        let (ptr, readonly): (usize, bool) = iface
            .get_item("data")?
            .map(|d| d.extract())
            .transpose()?
            .unwrap_or((0, true));
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        let bstrides: Vec<isize> = arr.getattr("strides")?.extract()?;
        let isz = dt.size() as isize;
        let ok =
            !readonly && ptr % dt.size() == 0 && bstrides.iter().all(|&s| s >= 0 && s % isz == 0);
        if !ok {
            if attempt == 0 {
                let kw = PyDict::new(py);
                kw.set_item("copy", true)?;
                kw.set_item("order", "C")?;
                arr = np.getattr("array")?.call((arr,), Some(&kw))?;
                continue;
            }
            break;
        }
        // An empty array's strides may be anything (NumPy 2 gives zeros): any layout will do.
        let strides: Vec<usize> = if shape.contains(&0) {
            democratising::layout::contiguous_strides(&shape)
        } else {
            bstrides.iter().map(|&s| (s / isz) as usize).collect()
        };
        let layout = democratising::layout::Layout {
            shape: shape.clone(),
            strides,
            offset: 0,
        };
        let (_, end) = layout.span();
        let owner = PyOwner(arr.clone().unbind());
        // SAFETY: the array's memory spans `end` elements from `ptr` (per its shape/strides) and
        // stays alive while `owner` holds a reference to the array.
        let storage = unsafe { Storage::from_foreign(ptr as *mut u8, end, dt, Box::new(owner)) };
        return Ok(wrap(Tensor::from_storage(Arc::new(storage), layout).py()?));
    }
    Err(to_pyerr(Error::Value(
        "could not obtain a shareable copy of the array".into(),
    )))
}

/// `from_numpy`'s fast path: NumPy's own DLPack export (one C call, where building
/// `__array_interface__` costs ~2 µs) for an array the engine can share as it is. `None` sends
/// every other array (read-only, byte-swapped, negative or odd strides, bool, a dtype the engine
/// lacks) down the general path, which copies or normalises it.
fn shared_by_dlpack(array: &Bound<'_, PyAny>) -> Option<Tensor> {
    let py = array.py();
    let capsule = array.call_method0(pyo3::intern!(py, "__dlpack__")).ok()?;
    let t = crate::dlpack::import_capsule(py, &capsule).ok()?;
    if t.numel() == 0 {
        return None; // (NumPy gives an empty array any strides; the general path rebuilds them)
    }
    if t.dtype() == DType::Bool && !t.storage().is_empty() {
        // NumPy lets any byte sit in a bool array; a Rust bool must be 0 or 1, so an array
        // holding another byte goes down the general path, which normalises it.
        let st = t.storage();
        // SAFETY: the storage spans `len` bytes of host memory (NumPy's), kept alive by `t`,
        // read here as plain bytes.
        let bytes = unsafe { std::slice::from_raw_parts(st.as_ptr(), st.len()) };
        if bytes.iter().any(|&b| b > 1) {
            return None;
        }
    }
    Some(t)
}

/// Dropout in one engine op (`nn.functional.dropout`; a Philox kernel on CUDA).
#[pyfunction]
pub fn _dropout(py: Python<'_>, input: PyRef<'_, PyTensor>, p: f64) -> PyResult<PyTensor> {
    let x = &input.tensor();
    run(py, x.numel(), || x.dropout(p)).map(wrap)
}

/// `input @ weight.T + bias` as one fused engine op (`nn.functional.linear`).
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None))]
pub fn _linear(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
) -> PyResult<PyTensor> {
    let (x, w) = (&input.tensor(), &weight.tensor());
    let b = bias.as_ref().map(|b| b.tensor());
    run(
        py,
        x.numel() * w.shape().first().copied().unwrap_or(1),
        || x.linear(w, b.as_ref()),
    )
    .map(wrap)
}

/// Queues `callback()` to run once the backward pass in progress ends (every gradient
/// accumulated, every hook run): `democratising.autograd.queue_callback`.
#[pyfunction]
pub fn _queue_callback(callback: Py<PyAny>) -> PyResult<()> {
    let f: autograd::EndCallback = Box::new(move || {
        Python::attach(|py| {
            callback
                .call0(py)
                .map(|_| ())
                .map_err(|e| crate::errors::from_pyerr(e, "a queued backward callback"))
        })
    });
    autograd::queue_callback(f).py()
}

/// Attaches a Python-defined backward to `output` (for `autograd.Function` and gradient
/// checkpointing). `backward(grad)` returns one gradient (or None) per tensor in `inputs`;
/// `differentiable` says it is written in recorded ops, so `create_graph=True` may run it.
/// `name` names the node (`grad_fn.name()`): a custom Function's is `"<Class>Backward"`, as
/// in PyTorch.
#[pyfunction]
#[pyo3(signature = (output, inputs, backward, differentiable=false, name=None))]
pub fn _record_function(
    output: PyRef<'_, PyTensor>,
    inputs: Vec<PyRef<'_, PyTensor>>,
    backward: Py<PyAny>,
    differentiable: bool,
    name: Option<String>,
) -> PyResult<PyTensor> {
    let ins: Vec<Tensor> = inputs.iter().map(|t| t.tensor()).collect();
    let n = ins.len();
    let shapes: Vec<Vec<usize>> = ins.iter().map(|t| t.shape().to_vec()).collect();
    let out = output.tensor().detach();
    let refs: Vec<&Tensor> = ins.iter().collect();
    // The callable (with the ctx it closes over) lives in a slot kept with the node, where the
    // output's object can show it to the cycle collector (see `HookSlot`).
    let slot = crate::tensor::HookSlot::shared(backward);
    let held = slot.clone();
    let f = move |g: &Tensor| -> democratising::Result<Vec<Option<Tensor>>> {
        Python::attach(|py| {
            let Some(backward) = held.get(py) else {
                return Err(Error::Autograd(
                    "a custom Function's backward was freed".into(),
                ));
            };
            let r = backward
                .call1(py, (wrap(g.clone()),))
                .map_err(|e| crate::errors::from_pyerr(e, "a custom Function's backward"))?;
            let r = r.bind(py);
            let items: Vec<Bound<'_, PyAny>> = if let Ok(t) = r.cast::<PyTuple>() {
                t.iter().collect()
            } else if let Ok(l) = r.cast::<pyo3::types::PyList>() {
                l.iter().collect()
            } else {
                vec![r.clone()]
            };
            if items.len() != n {
                return Err(Error::Autograd(format!(
                    "backward returned {} gradients but the function had {} tensor inputs",
                    items.len(),
                    n
                )));
            }
            items
                .iter()
                .zip(&shapes)
                .map(|(it, shape)| {
                    let Some(g) = returned_gradient(it, "backward must return Tensors or None")?
                    else {
                        return Ok(None);
                    };
                    if g.shape() != shape.as_slice() {
                        return Err(Error::Shape(format!(
                            "backward returned a gradient of shape {:?} for an input of shape {:?}",
                            g.shape(),
                            shape
                        )));
                    }
                    Ok(Some(g))
                })
                .collect()
        })
    };
    let name = match name {
        Some(n) => crate::tensor::python_node_name(n),
        None => crate::tensor::PYTHON_NODE,
    };
    let out = if differentiable {
        autograd::record_differentiable(out, name, &refs, f)
    } else {
        autograd::record(out, name, &refs, f)
    };
    if let Some(node) = out.grad_fn() {
        node.hold(slot);
    }
    Ok(wrap(out))
}

/// Turns the engine's anomaly-mode NaN check on or off (`autograd.detect_anomaly`).
#[pyfunction]
pub fn _set_anomaly_nan_check(on: bool) {
    autograd::set_anomaly_nan_check(on);
}

/// The calling thread's Python stack (`traceback.format_stack()`), which anomaly mode keeps
/// with every node it records, to show where a failing op was called.
pub fn python_stack() -> Option<String> {
    Python::attach(|py| {
        let lines = py
            .import("traceback")
            .ok()?
            .call_method0("format_stack")
            .ok()?;
        Some(lines.extract::<Vec<String>>().ok()?.concat())
    })
}

/// `tensor` takes the history of `output` (`_record_function`'s result for it): a custom
/// Function's dirty input becomes its output, as PyTorch's `mark_dirty`.
#[pyfunction]
pub fn _rebase_history(tensor: PyRef<'_, PyTensor>, output: PyRef<'_, PyTensor>) -> PyResult<()> {
    tensor.tensor().rebase_history(&output.tensor()).py()
}

/// Writes `result` (of `tensor`'s shape) into `tensor`, which takes `result`'s node as its
/// own: the last step of a Python-composed in-place op, so `y.exp_()` shows ExpBackward0
/// (`copy_` would record a CopyBackwards node of its own).
#[pyfunction]
pub fn _assign(
    py: Python<'_>,
    tensor: PyRef<'_, PyTensor>,
    result: PyRef<'_, PyTensor>,
) -> PyResult<()> {
    let (t, r) = (tensor.tensor(), result.tensor());
    run(py, t.numel(), || t.assign_(&r))
}

/// Writes the number `value` where `mask` holds into `tensor`, an expanded view (elements
/// sharing memory), without autograd: how `masked_fill_` and `index_fill_` accept one, as
/// PyTorch's do.
#[pyfunction]
pub fn _fill_shared(
    py: Python<'_>,
    tensor: PyRef<'_, PyTensor>,
    mask: PyRef<'_, PyTensor>,
    value: PyRef<'_, PyTensor>,
) -> PyResult<()> {
    let (t, m, v) = (tensor.tensor(), mask.tensor(), value.tensor());
    run(py, t.numel(), || t.masked_fill_shared_(&m, &v))
}

/// `op(input)` for a parameterless op of the engine's unary table, by its Python name: ops
/// added to the table reach Python as methods and free functions without glue of their own.
#[pyfunction]
pub fn _unary(py: Python<'_>, input: PyRef<'_, PyTensor>, name: &str) -> PyResult<PyTensor> {
    let op = democratising::ops::UnaryOp::by_name(name)
        .ok_or_else(|| crate::errors::value_error(format!("no elementwise op named {name:?}")))?;
    let x = &input.tensor();
    run(py, x.numel(), || x.apply_unary(op)).map(wrap)
}

/// Running sums (`prod`: products) of `input` along `dim`, from the end when `reverse`: the
/// engine's one-pass scan. The sum records its gradient; the product is for inputs that need
/// none (the Python layer composes its differentiable form).
#[pyfunction]
#[pyo3(signature = (input, dim, prod=false, reverse=false))]
pub fn _scan(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    dim: isize,
    prod: bool,
    reverse: bool,
) -> PyResult<PyTensor> {
    let x = &input.tensor();
    run(py, x.numel(), || {
        if prod {
            x.cumprod_along(dim, reverse)
        } else {
            x.cumsum_along(dim, reverse)
        }
    })
    .map(wrap)
}

/// The Python names of the unary table's parameterless ops (`"exp"`, `"erf"`, ...).
#[pyfunction]
pub fn _unary_names() -> Vec<&'static str> {
    democratising::ops::UnaryOp::ALL
        .iter()
        .map(|op| op.python_name())
        .filter(|n| !n.is_empty())
        .collect()
}
