//! `t[key]` and `t[key] = value` with NumPy/PyTorch semantics: ints, slices (positive steps),
//! `None`, `...`, integer/bool tensors and lists (advanced indexing).

use crate::errors::{to_pyerr, ResultExt};
use crate::tensor::PyTensor;
use crate::util::{operand, run};
use democratising::autograd::is_grad_enabled;
use democratising::{DType, Device, Error, Result, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyInt, PyNone, PySlice, PyTuple};

enum Item {
    Int(isize),
    Slice(Option<isize>, Option<isize>, isize),
    NewAxis,
    Ellipsis,
    Index(Tensor),
}

fn parse_item(obj: &Bound<'_, PyAny>) -> PyResult<Item> {
    if obj.is_instance_of::<PyNone>() {
        return Ok(Item::NewAxis);
    }
    if obj.is_instance_of::<PyEllipsis>() {
        return Ok(Item::Ellipsis);
    }
    if obj.is_instance_of::<PyBool>() {
        let b: bool = obj.extract()?;
        return Ok(Item::Index(Tensor::from_vec(vec![b], &[]).py()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Item::Int(obj.extract()?));
    }
    if let Ok(s) = obj.cast::<PySlice>() {
        let get = |name: &str| -> PyResult<Option<isize>> {
            let v = s.getattr(name)?;
            if v.is_none() {
                return Ok(None);
            }
            // Bounds past isize clamp as in NumPy (`t[-10**20:10**20]` is the whole dim).
            match v.extract::<isize>() {
                Ok(i) => Ok(Some(i)),
                Err(_) if v.is_instance_of::<PyInt>() => {
                    Ok(Some(if v.lt(0)? { isize::MIN } else { isize::MAX }))
                }
                Err(e) => Err(e),
            }
        };
        let step = get("step")?.unwrap_or(1);
        if step <= 0 {
            return Err(to_pyerr(Error::Value("slice step must be positive".into())));
        }
        return Ok(Item::Slice(get("start")?, get("stop")?, step));
    }
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = &t.get().tensor();
        if t.ndim() == 0 && t.dtype().is_int() && t.dtype() != DType::U8 {
            return Ok(Item::Int(t.item().py()? as isize));
        }
        return index_item(obj.py(), t.clone());
    }
    if let Ok(i) = obj.extract::<isize>() {
        return Ok(Item::Int(i));
    }
    if obj.is_instance_of::<pyo3::types::PyString>() || obj.is_instance_of::<pyo3::types::PyFloat>()
    {
        // (PyTorch raises a TypeError for a string and an IndexError for a float: both)
        return Err(crate::errors::named_error(
            "IndexTypeError",
            format!(
                "only integers, slices (`:`), ellipsis (`...`), None and integer or bool \
                 tensors are valid indices, got {}",
                obj.repr()?
            ),
        ));
    }
    // Lists and arrays become index tensors (an empty list selects nothing), a NumPy array of
    // int8 or int16 widened as PyTorch reads it (as a sequence of ints).
    let t = operand(obj)?;
    let t = if (t.numel() == 0 && t.dtype().is_float())
        || matches!(t.dtype(), DType::I8 | DType::I16)
    {
        t.to_dtype(DType::I64).py()?
    } else {
        t
    };
    if !(t.dtype().is_int() || t.dtype() == DType::Bool) {
        return Err(to_pyerr(Error::Index(format!(
            "tensors used as indices must be long, int, byte or bool tensors, got {}",
            t.dtype()
        ))));
    }
    index_item(obj.py(), t)
}

/// An index tensor as PyTorch takes it: uint8 as a bool mask (PyTorch's legacy byte masks,
/// with its deprecation warning), int8, int16 and floating ones refused (`IndexError`, as
/// PyTorch's), the others as they are.
fn index_item(py: Python<'_>, t: Tensor) -> PyResult<Item> {
    match t.dtype() {
        DType::U8 => {
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyUserWarning>(),
                c"indexing with dtype uint8 is now deprecated, please use a dtype bool instead.",
                2,
            )?;
            Ok(Item::Index(t.to_dtype(DType::Bool).py()?))
        }
        dt if dt.is_small_int() => Err(to_pyerr(Error::Index(format!(
            "tensors used as indices must be long, int, byte or bool tensors, got {dt}"
        )))),
        dt if dt.is_float() => Err(crate::errors::named_error(
            "IndexTypeError",
            format!("tensors used as indices must be long, int, byte or bool tensors, got {dt}"),
        )),
        _ => Ok(Item::Index(t)),
    }
}

fn parse_key(key: &Bound<'_, PyAny>) -> PyResult<Vec<Item>> {
    if let Ok(t) = key.cast::<PyTuple>() {
        t.iter().map(|k| parse_item(&k)).collect()
    } else if let Some(items) = list_read_as_tuple(key)? {
        items.iter().map(|k| parse_item(k)).collect()
    } else {
        Ok(vec![parse_item(key)?])
    }
}

/// PyTorch's (and old NumPy's) legacy reading of a short list key as a tuple of indices, with
/// its deprecation warning: `x[[[0, 1], [2, 0]]]` is `x[[0, 1], [2, 0]]` when the list (fewer
/// than 32 items) holds a tensor, a sequence, a slice, `...` or `None`. A list of ints stays
/// one index tensor (`x[[0, 2]]`), and so does a nested list of bools, a mask (`x[m.tolist()]`,
/// which PyTorch's reading refuses).
fn list_read_as_tuple<'py>(key: &Bound<'py, PyAny>) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
    let Ok(list) = key.cast::<pyo3::types::PyList>() else {
        return Ok(None);
    };
    if list.len() >= 32 {
        return Ok(None);
    }
    let items: Vec<Bound<'py, PyAny>> = list.iter().collect();
    if items.iter().all(bool_nest) {
        return Ok(None);
    }
    let as_tuple = items.iter().any(|o| {
        o.is_instance_of::<PyTensor>()
            || o.is_instance_of::<PySlice>()
            || o.is_instance_of::<PyEllipsis>()
            || o.is_instance_of::<PyNone>()
            // SAFETY: `o` is a live object; PySequence_Check only reads its type.
            || unsafe { pyo3::ffi::PySequence_Check(o.as_ptr()) } != 0
    });
    if !as_tuple {
        return Ok(None);
    }
    PyErr::warn(
        key.py(),
        &key.py().get_type::<pyo3::exceptions::PyUserWarning>(),
        c"Using a non-tuple sequence for multidimensional indexing is deprecated; use \
          x[tuple(seq)] instead of x[seq]. PyTorch reads it as a tuple of indices, and so does \
          this library, but a future version may read it as an index tensor, x[tensor(seq)].",
        2,
    )?;
    Ok(Some(items))
}

/// Whether `o` is a bool or a non-empty (nested) list or tuple of them.
fn bool_nest(o: &Bound<'_, PyAny>) -> bool {
    if o.is_instance_of::<PyBool>() {
        return true;
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = o.cast::<pyo3::types::PyList>() {
        l.iter().collect()
    } else if let Ok(t) = o.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return false;
    };
    !items.is_empty() && items.iter().all(bool_nest)
}

fn slice_bounds(start: Option<isize>, stop: Option<isize>, n: usize) -> (usize, usize) {
    let n = n as isize;
    let norm = |v: isize| if v < 0 { (v + n).max(0) } else { v.min(n) };
    let s = start.map(norm).unwrap_or(0);
    let e = stop.map(norm).unwrap_or(n);
    (s as usize, e.max(s) as usize)
}

/// Applies the basic part of a key (a view) and collects the advanced indices per result dim.
fn apply_basic(t: &Tensor, items: &[Item]) -> Result<(Tensor, Vec<(usize, Tensor)>)> {
    let consumed: usize = items
        .iter()
        .map(|it| match it {
            Item::Int(_) | Item::Slice(..) => 1,
            // A mask covers as many dims as it has; a 0-d one (`t[True]`) none: it adds one.
            Item::Index(ix) if ix.dtype() == DType::Bool => ix.ndim(),
            Item::Index(_) => 1,
            _ => 0,
        })
        .sum();
    if consumed > t.ndim() {
        return Err(Error::Index(format!(
            "too many indices for tensor of dimension {} (shape {:?})",
            t.ndim(),
            t.shape()
        )));
    }
    let mut cur = t.clone();
    let mut d = 0usize;
    let mut adv: Vec<(usize, Tensor)> = Vec::new();
    let mut seen_ellipsis = false;
    for it in items {
        match it {
            Item::Ellipsis => {
                if seen_ellipsis {
                    return Err(Error::Index(
                        "an index can only have a single ellipsis ('...')".into(),
                    ));
                }
                seen_ellipsis = true;
                d += t.ndim() - consumed;
            }
            Item::NewAxis => {
                cur = cur.unsqueeze(d as isize)?;
                d += 1;
            }
            Item::Int(i) => {
                cur = cur.select(d as isize, *i)?;
            }
            Item::Slice(s, e, step) => {
                let (a, b) = slice_bounds(*s, *e, cur.shape()[d]);
                cur = cur.slice(d as isize, a, b, *step as usize)?;
                d += 1;
            }
            Item::Index(ix) => {
                // A CPU index into a CUDA tensor moves to its device, as in PyTorch
                // (`x_cuda[torch.randperm(n)]`); the other way round stays an error.
                let moved;
                let ix = if ix.device() == Device::Cpu && cur.device() != Device::Cpu {
                    moved = ix.to_device(cur.device())?;
                    &moved
                } else {
                    ix
                };
                if ix.dtype() == DType::Bool {
                    if ix.ndim() == 0 {
                        // `t[True]` adds a dim of size 1; `t[False]` one of size 0.
                        cur = cur.unsqueeze(d as isize)?;
                        let keep = if ix.item()? != 0.0 { 1 } else { 0 };
                        adv.push((d, Tensor::zeros(&[keep], DType::I64)?));
                        d += 1;
                        continue;
                    }
                    let expect = &cur.shape()[d..d + ix.ndim()];
                    if expect != ix.shape() {
                        return Err(Error::Index(format!(
                            "the shape of the mask {:?} does not match the shape of the indexed tensor {:?} at dimension {}",
                            ix.shape(),
                            cur.shape(),
                            d
                        )));
                    }
                    for (k, idx) in Tensor::mask_to_indices(ix)?.into_iter().enumerate() {
                        adv.push((d + k, idx));
                    }
                    d += ix.ndim();
                } else {
                    adv.push((d, ix.clone()));
                    d += 1;
                }
            }
        }
    }
    Ok((cur, adv))
}

fn adv_vec(adv: Vec<(usize, Tensor)>) -> Vec<Option<Tensor>> {
    let n = adv.iter().map(|(d, _)| d + 1).max().unwrap_or(0);
    let mut v = vec![None; n];
    for (d, t) in adv {
        v[d] = Some(t);
    }
    v
}

/// The mask of a key that is one bool tensor of `t`'s shape on `t`'s device (`x[x < 0]`).
fn full_mask<'a>(items: &'a [Item], t: &Tensor) -> Option<&'a Tensor> {
    match items {
        [Item::Index(m)]
            if m.dtype() == DType::Bool && m.shape() == t.shape() && m.device() == t.device() =>
        {
            Some(m)
        }
        _ => None,
    }
}

pub fn getitem(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let items = parse_key(key)?;
    run(py, t.numel(), || {
        // `x[mask]` with a mask of x's shape: one index into the flattened tensor instead of
        // an index per dim (the gather of a 1024 x 1024 mask: 8 ms -> 1.6 ms).
        if let Some(mask) = full_mask(&items, t).filter(|m| m.ndim() > 1) {
            let at = mask.reshape(&[-1])?.nonzero()?.reshape(&[-1])?;
            return t.reshape(&[-1])?.index(&[Some(at)]);
        }
        let (cur, adv) = apply_basic(t, &items)?;
        if adv.is_empty() {
            return Ok(cur);
        }
        cur.index(&adv_vec(adv))
    })
}

pub fn setitem(
    py: Python<'_>,
    t: &Tensor,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let items = parse_key(key)?;
    let v = operand(value)?;
    // A number written through a basic index is cast as `copy_` casts (PyTorch: 1e6 into
    // float16 is inf); an advanced index, or an integer dtype, refuses one that does not fit.
    let basic = !items.iter().any(|it| matches!(it, Item::Index(_)));
    let half = matches!(t.dtype(), DType::F16 | DType::BF16);
    if v.is_wrapped_number() && !(basic && half) {
        democratising::ops::overflow::check_scalar_fits(&v, t.dtype()).py()?;
    }
    run(py, t.numel(), || {
        let tracked = is_grad_enabled() && (t.requires_grad() || v.requires_grad());
        if !tracked && v.is_wrapped_number() && !t.expanded_dims().is_empty() {
            // A number into an expanded view, as PyTorch allows: the key selects a mask.
            let mask = Tensor::zeros(t.shape(), DType::Bool)?;
            let (cur, adv) = apply_basic(&mask, &items)?;
            match adv.is_empty() {
                true => cur.fill_(1.0)?,
                false => {
                    cur.index_put_raw(&adv_vec(adv), &Tensor::full(&[], 1.0, DType::Bool)?, false)?
                }
            }
            return t.masked_fill_shared_(&mask.to_device(t.device())?, &v);
        }
        // `x[mask] = number` (the idiom `x[x < 0] = 0`) is one `where` pass, as PyTorch routes
        // it to masked_fill, not the mask's indices gathered and scattered into (7x slower).
        if let Some(mask) = full_mask(&items, t) {
            if v.ndim() == 0 && !v.requires_grad() {
                let filled = Tensor::where_(mask, &v.to_dtype(t.dtype())?, t)?;
                return if tracked {
                    t.assign_(&filled)
                } else {
                    t.copy_(&filled)
                };
            }
        }
        let (cur, adv) = apply_basic(t, &items)?;
        if !tracked {
            if adv.is_empty() {
                return cur.copy_(&v);
            }
            return cur.index_put_raw(&adv_vec(adv), &v, false);
        }
        let f = |x: &Tensor| -> Result<Tensor> { Ok(apply_basic(x, &items)?.0) };
        let r = if adv.is_empty() {
            t.view_assign(&f, &v)?
        } else if cur.same(t) || (cur.shape() == t.shape() && cur.strides() == t.strides()) {
            t.index_put(&adv_vec(adv), &v, false)?
        } else {
            // Mixed key: put the values into the (differentiable) basic view out of place, then
            // write that view back into the tensor.
            let region = cur.index_put(&adv_vec(adv), &v, false)?;
            t.view_assign(&f, &region)?
        };
        t.assign_(&r)
    })
}
