//! Small conversions shared by the glue: operands, shape/dim arguments, GIL release.

use crate::errors::ResultExt;
use crate::tensor::PyTensor;
use democratising::{threads, Result, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyTuple};

/// Elements of work below which the GIL is kept (releasing it costs more than the op).
const GIL_RELEASE_WORK: usize = 1 << 14;

/// Runs engine work, releasing the GIL when it is large enough to matter.
pub fn run<R: Send>(
    py: Python<'_>,
    work: usize,
    f: impl FnOnce() -> Result<R> + Send,
) -> PyResult<R> {
    if work >= GIL_RELEASE_WORK {
        detach(py, f).py()
    } else {
        threads::install(f).py()
    }
}

/// Runs `f` without the GIL, with the engine's thread count (`set_num_threads`).
pub fn detach<R: Send>(py: Python<'_>, f: impl FnOnce() -> R + Send) -> R {
    py.detach(|| threads::install(f))
}

/// A tensor, or a Python/NumPy number or array promoted to one.
pub fn operand(obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(t.get().tensor());
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Tensor::wrapped_scalar(obj.extract::<bool>()?));
    }
    if obj.is_instance_of::<PyInt>() {
        // Beyond int64 a Python int has no dtype to live in (PyTorch: "Overflow when
        // unpacking long"); rounding it to a float would silently change the value.
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Tensor::wrapped_scalar(i)),
            Err(_) => Err(crate::errors::to_pyerr(democratising::Error::Overflow(
                format!("Python int {obj} is out of range for int64, the widest integer dtype"),
            ))),
        };
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Tensor::wrapped_scalar(obj.extract::<f64>()?));
    }
    let py = obj.py();
    if is_numpy_scalar(obj)? {
        // A NumPy scalar counts as the Python number it holds (its range checked the same way).
        return operand(&obj.call_method0("item")?);
    }
    let conv = crate::registry::helper(py, "as_operand")?;
    let r = conv.call1((obj,))?;
    match r.cast::<PyTensor>() {
        Ok(t) => Ok(t.get().tensor()),
        Err(_) => Err(crate::errors::type_error(format!(
            "unsupported operand type {}",
            obj.get_type()
        ))),
    }
}

/// Whether `obj` is a NumPy scalar (`np.int64(5)`, `np.float32(1.5)`, `np.bool_(True)`).
fn is_numpy_scalar(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    // `numpy.generic` is the base of every NumPy scalar type (never of an array, not even a
    // one-element one, whose shape must broadcast as such).
    let Some(numpy) = obj
        .py()
        .import("sys")?
        .getattr("modules")?
        .get_item("numpy")
        .ok()
    else {
        return Ok(false);
    };
    obj.is_instance(&numpy.getattr("generic")?)
}

/// `f(2, 3)` or `f((2, 3))` or `f([2, 3])` → `[2, 3]`.
pub fn int_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<isize>> {
    if args.len() == 1 {
        let a = args.get_item(0)?;
        if a.is_instance_of::<PyTuple>() || a.is_instance_of::<PyList>() {
            return a.extract::<Vec<isize>>();
        }
        if let Ok(t) = a.cast::<PyTensor>() {
            let v = t
                .get()
                .tensor()
                .to_dtype(democratising::DType::I64)
                .py()?
                .to_device(democratising::Device::Cpu)
                .py()?
                .to_vec::<i64>()
                .py()?;
            return Ok(v.into_iter().map(|x| x as isize).collect());
        }
    }
    args.iter().map(|a| a.extract::<isize>()).collect()
}

/// A `dim` argument that may be an int, a tuple/list of ints, or None.
pub fn dims_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<isize>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => {
            if let Ok(i) = o.extract::<isize>() {
                Ok(Some(vec![i]))
            } else {
                Ok(Some(o.extract::<Vec<isize>>()?))
            }
        }
    }
}

pub fn usize_shape(v: &[isize]) -> PyResult<Vec<usize>> {
    v.iter()
        .map(|&n| {
            if n < 0 {
                Err(crate::errors::to_pyerr(democratising::Error::Shape(
                    format!("negative dimension {n} in shape {v:?}"),
                )))
            } else {
                Ok(n as usize)
            }
        })
        .collect()
}

pub fn wrap(t: Tensor) -> PyTensor {
    PyTensor::new(t)
}

/// What a Python callback (a tensor hook, a custom `Function.backward`) returned for one
/// gradient: `None` for none, the tensor for a `Tensor`, and an autograd error naming
/// `expected` for anything else.
pub fn returned_gradient(obj: &Bound<'_, PyAny>, expected: &str) -> Result<Option<Tensor>> {
    if obj.is_none() {
        return Ok(None);
    }
    match obj.cast::<PyTensor>() {
        Ok(t) => Ok(Some(t.get().tensor())),
        Err(_) => Err(democratising::Error::Autograd(expected.into())),
    }
}

/// PyTorch's argument parser also takes NumPy's `axis=` for `dim=` (and `keepdims=` for
/// `keepdim=`): whichever of the two was given; both is PyTorch's `TypeError`.
pub fn dim_or_axis<T>(op: &str, dim: Option<T>, axis: Option<T>) -> PyResult<Option<T>> {
    match (dim, axis) {
        (Some(_), Some(_)) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{op}() got multiple values for argument 'dim' (as dim= and axis=)"
        ))),
        (d, None) => Ok(d),
        (None, a) => Ok(a),
    }
}

/// PyTorch's `TypeError` for a call without its required sizes (`zeros()`, `x.permute()`).
pub fn missing_argument(op: &str, name: &str) -> PyErr {
    crate::errors::type_error(format!(
        "{op}() missing 1 required positional arguments: \"{name}\""
    ))
}

/// The sizes of a `*sizes` method given as `f(2, 3)`, `f((2, 3))` or by PyTorch's keyword,
/// `f(<name>=(2, 3))`; none at all is PyTorch's missing-argument `TypeError`.
pub fn sizes_or_kw<'py>(
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    op: &str,
    name: &str,
) -> PyResult<Vec<isize>> {
    let Some(k) = kwargs.filter(|k| !k.is_empty()) else {
        if args.is_empty() {
            return Err(missing_argument(op, name));
        }
        return int_args(args);
    };
    match (args.is_empty(), k.len(), k.get_item(name)?) {
        (true, 1, Some(v)) => int_args(&PyTuple::new(v.py(), [v])?),
        _ => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{op}() takes the sizes positionally or as {name}=, got keywords {}",
            k.keys()
        ))),
    }
}
