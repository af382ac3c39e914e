//! `_core._SizeBase`: the tuple subclass `democratising.Size` derives from. Its C-level slots
//! make a slice, a join (`size + (1,)`, `(1,) + size`) and a repeat of a shape a `Size` again,
//! as `torch.Size`'s are, while `shape[0]` stays as fast as a tuple's index: the same methods
//! in Python would cost every shape computation in the ops a Python call (8-15x slower).
//! PyO3 classes cannot extend `tuple`, so the type is built from a `PyType_Spec` with only
//! stable-ABI calls.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyInt, PyTuple};
use std::ptr;

/// `tuple.__new__`, which makes a subclass instance from a tuple without the subclass's own
/// (checking) `__new__`.
static TUPLE_NEW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The `_SizeBase` type itself, to tell which operand of a join is the `Size`.
static SIZE_BASE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `items` as an instance of `cls` (a subclass of `_SizeBase`); when `check`, items that are
/// not all ints go through `cls(items)`, whose `__new__` raises PyTorch's `TypeError`.
fn retyped<'py>(
    cls: &Bound<'py, PyAny>,
    items: Bound<'py, PyTuple>,
    check: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    if check && !items.iter().all(|v| v.is_exact_instance_of::<PyInt>()) {
        return cls.call1((items,));
    }
    let new = TUPLE_NEW.get_or_try_init(py, || {
        py.get_type::<PyTuple>()
            .getattr("__new__")
            .map(Bound::unbind)
    })?;
    new.bind(py).call1((cls, items))
}

/// Runs `f` with the GIL's token, turning its error into a raised exception (null).
///
/// # Safety
/// Only from a slot function, which CPython calls with the thread attached.
unsafe fn slot(f: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyAny>>) -> *mut ffi::PyObject {
    let py = Python::assume_attached();
    match f(py) {
        Ok(v) => v.into_ptr(),
        Err(e) => {
            e.restore(py);
            ptr::null_mut()
        }
    }
}

/// `self[key]`: an item for an integer key (tuple's errors otherwise), a `type(self)` for a
/// slice.
unsafe extern "C" fn subscript(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let n = ffi::PyTuple_Size(slf);
    if n < 0 {
        return ptr::null_mut();
    }
    if ffi::PySlice_Check(key) != 0 {
        let (mut start, mut stop, mut step) = (0, 0, 0);
        if ffi::PySlice_Unpack(key, &mut start, &mut stop, &mut step) < 0 {
            return ptr::null_mut();
        }
        let len = ffi::PySlice_AdjustIndices(n, &mut start, &mut stop, step);
        return slot(|py| {
            let this = Bound::from_borrowed_ptr(py, slf).cast_into::<PyTuple>()?;
            // The tuple's own items: `get_item` on the object would come back into this slot.
            let items = if step == 1 {
                Bound::from_owned_ptr_or_err(py, ffi::PyTuple_GetSlice(slf, start, stop))?
                    .cast_into::<PyTuple>()?
            } else {
                let picked = (0..len).map(|k| this.get_item((start + k * step) as usize));
                PyTuple::new(py, picked.collect::<PyResult<Vec<_>>>()?)?
            };
            retyped(&this.get_type().into_any(), items, false)
        });
    }
    if ffi::PyIndex_Check(key) == 0 {
        return slot(|py| {
            let name = Bound::from_borrowed_ptr(py, key).get_type().name()?;
            Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "tuple indices must be integers or slices, not {name}"
            )))
        });
    }
    let mut i = ffi::PyNumber_AsSsize_t(key, ffi::PyExc_IndexError);
    if i == -1 && !ffi::PyErr_Occurred().is_null() {
        return ptr::null_mut();
    }
    if i < 0 {
        i += n;
    }
    // (Out of range, still negative included, it raises tuple's own IndexError.)
    let item = ffi::PyTuple_GetItem(slf, i);
    ffi::Py_XINCREF(item);
    item
}

/// `a + b` where either is a `Size` and both are tuples: a `Size` of the first `Size`'s type
/// (its items checked to be ints); anything else is left to `tuple` (`NotImplemented`).
unsafe extern "C" fn add(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> *mut ffi::PyObject {
    if ffi::PyTuple_Check(a) == 0 || ffi::PyTuple_Check(b) == 0 {
        let r = ffi::Py_NotImplemented();
        ffi::Py_XINCREF(r);
        return r;
    }
    slot(|py| {
        let (a, b) = (
            Bound::from_borrowed_ptr(py, a),
            Bound::from_borrowed_ptr(py, b),
        );
        let a_sized = match SIZE_BASE.get(py) {
            Some(base) => a.is_instance(base.bind(py))?,
            None => false,
        };
        let cls = if a_sized { a.get_type() } else { b.get_type() };
        // (Item by item: `PySequence_Concat` would come back here through the Python
        // subclass's `__add__`.)
        let (a, b) = (a.cast::<PyTuple>()?, b.cast::<PyTuple>()?);
        let joined = PyTuple::new(py, a.iter().chain(b.iter()).collect::<Vec<_>>())?;
        retyped(&cls.into_any(), joined, true)
    })
}

/// `size * n` and `n * size`: the sizes repeated, as a `Size`.
unsafe extern "C" fn multiply(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let (size, count) = if ffi::PyTuple_Check(a) != 0 {
        (a, b)
    } else {
        (b, a)
    };
    if ffi::PyIndex_Check(count) == 0 {
        let r = ffi::Py_NotImplemented();
        ffi::Py_XINCREF(r);
        return r;
    }
    slot(|py| {
        let size = Bound::from_borrowed_ptr(py, size);
        let n = Bound::from_borrowed_ptr(py, count)
            .extract::<isize>()?
            .max(0) as usize;
        let items: Vec<Bound<'_, PyAny>> = size.try_iter()?.collect::<PyResult<_>>()?;
        // (Item by item: `PySequence_Repeat` would come back here through the subclass's
        // `__mul__`.) A count too large for memory raises `MemoryError`, as a tuple's does,
        // instead of aborting in the allocator.
        let mut repeated = Vec::new();
        items
            .len()
            .checked_mul(n)
            .and_then(|total| repeated.try_reserve_exact(total).ok())
            .ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err(()))?;
        repeated.extend(items.iter().cycle().take(items.len() * n).cloned());
        let repeated = PyTuple::new(py, repeated)?;
        retyped(&size.get_type().into_any(), repeated, false)
    })
}

/// The `_SizeBase` type object (a heap type deriving from `tuple`).
pub fn size_base(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let entry = |slot: i32, f: *mut std::os::raw::c_void| ffi::PyType_Slot { slot, pfunc: f };
    let mut slots = [
        entry(ffi::Py_mp_subscript, subscript as *mut _),
        entry(ffi::Py_nb_add, add as *mut _),
        entry(ffi::Py_nb_multiply, multiply as *mut _),
        entry(0, ptr::null_mut()),
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"democratising._core._SizeBase".as_ptr(),
        basicsize: 0, // both sizes inherited from `tuple`
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_BASETYPE) as std::os::raw::c_uint,
        slots: slots.as_mut_ptr(),
    };
    let bases = PyTuple::new(py, [py.get_type::<PyTuple>()])?;
    // SAFETY: the spec and its slots outlive the call (CPython copies what it keeps).
    let t = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpecWithBases(&mut spec, bases.as_ptr()))?
    };
    let _ = SIZE_BASE.set(py, t.clone().unbind());
    Ok(t)
}
