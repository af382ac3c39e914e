//! The Python `Tensor` class: a thin wrapper over the engine's `Tensor` handle. Methods convert
//! arguments, release the GIL around large work and map errors; all logic lives in the engine.
//! This file holds the class, its construction, attributes and indexing; the other methods are
//! in one file per concern beside it.

mod arithmetic;
mod conversion;
mod gradients;
mod inplace;
mod memory_format;
mod node_hooks;
mod reductions;
mod shape;
mod structured;

use crate::errors::{to_pyerr, ResultExt};
use crate::types::{PyDType, PyDevice};
use crate::util::{operand, run, wrap};
use democratising::autograd;
use democratising::{DType, Device, Error, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyWeakrefReference};
use std::sync::{Arc, Mutex, RwLock};

/// A multi-dimensional array with autograd. See `democratising` for the full API.
/// `dict`: as in PyTorch, any tensor takes attributes (`t.tag = ...`); pickling and copying
/// keep them.
#[pyclass(
    frozen,
    subclass,
    dict,
    name = "Tensor",
    module = "democratising",
    weakref
)]
pub struct PyTensor {
    /// The engine tensor this object stands for. Behind a lock so that `Module.to(dtype)` and
    /// `.cuda()` can swap a Parameter's payload while the Python object (which optimizers and
    /// tied modules hold) stays the same, as PyTorch's `param.data = ...` does.
    handle: RwLock<Tensor>,
    /// Weak references to the Python objects last handed out as `.grad` and `.grad_fn`, so
    /// that `p.grad is p.grad` and `y.grad_fn is y.grad_fn` hold (as in PyTorch) without
    /// keeping alive a gradient the engine dropped.
    handed_out: Mutex<HandedOut>,
    /// True once the object is built. The collector may traverse a subclass instance between
    /// its allocation (zeroed memory) and the write of these fields (its `__dict__` is
    /// allocated in between), so `__traverse__` reads nothing else until this is set.
    pub(super) built: std::sync::atomic::AtomicBool,
}

/// A Python callable the engine calls (a hook, a custom Function's backward). Its one strong
/// reference lives here; the engine keeps the slot with the tensor or node the callable
/// belongs to (`Tensor::hold`), where the cycle collector is shown it (`__traverse__`), so
/// that a hook referring back to its own tensor or module can be collected.
/// `HookHandle.remove()` empties it.
#[derive(Default)]
pub struct HookSlot(pub(super) Mutex<Option<Py<PyAny>>>);

impl HookSlot {
    pub fn new(hook: Py<PyAny>) -> HookSlot {
        HookSlot(Mutex::new(Some(hook)))
    }
    /// A new slot for `hook`, shared by the engine's closure and the handle.
    pub fn shared(hook: Py<PyAny>) -> Arc<HookSlot> {
        Arc::new(HookSlot::new(hook))
    }
    /// The hook, unless it was removed.
    pub fn get(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map(|h| h.clone_ref(py))
    }
    pub fn empty(&self) {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(taken);
    }
}

/// An engine walk over what it keeps for Python (`Tensor::visit_foreign`,
/// `Node::visit_foreign_if_unshared`), given the callback it calls per object.
type ForeignWalk<'a> = &'a mut dyn FnMut(&(dyn std::any::Any + Send + Sync));

/// Shows the cycle collector every object `walk` reaches (a `__traverse__` body), stopping
/// at the first visit error.
pub(crate) fn report_foreign(
    visit: &pyo3::PyVisit<'_>,
    walk: impl FnOnce(ForeignWalk<'_>),
) -> Result<(), pyo3::PyTraverseError> {
    let mut result = Ok(());
    walk(&mut |obj| {
        if result.is_ok() {
            result = visit_foreign(visit, obj);
        }
    });
    result
}

/// Shows the cycle collector one object the engine keeps for Python (`Tensor::hold`, a
/// node's metadata dict).
fn visit_foreign(
    visit: &pyo3::PyVisit<'_>,
    obj: &(dyn std::any::Any + Send + Sync),
) -> Result<(), pyo3::PyTraverseError> {
    if let Some(slot) = obj.downcast_ref::<HookSlot>() {
        if let Ok(g) = slot.0.try_lock() {
            if let Some(h) = g.as_ref() {
                visit.call(h)?;
            }
        }
    } else if let Some(d) = obj.downcast_ref::<Py<pyo3::types::PyDict>>() {
        visit.call(d)?;
    }
    Ok(())
}

#[derive(Default)]
struct HandedOut {
    grad: Option<Py<PyWeakrefReference>>,
    grad_fn: Option<Py<PyWeakrefReference>>,
}

impl PyTensor {
    pub fn new(t: Tensor) -> PyTensor {
        PyTensor {
            handle: RwLock::new(t),
            handed_out: Mutex::new(HandedOut::default()),
            built: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The engine tensor (a reference-counted handle: cloning it copies no data).
    pub fn tensor(&self) -> Tensor {
        self.handle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Points this object at `t` from now on.
    pub fn replace(&self, t: Tensor) {
        *self.handle.write().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

fn numpy_typestr(dt: DType) -> PyResult<&'static str> {
    Ok(match dt {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::F16 => "<f2",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I16 => "<i2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
        DType::BF16 => {
            return Err(to_pyerr(Error::DType(
                "NumPy has no bfloat16: convert with .float() before .numpy()".into(),
            )))
        }
    })
}

macro_rules! unary_py {
    ($($name:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>) -> PyResult<PyTensor> {
                    let t = &self.tensor();
                    run(py, t.numel(), || t.$name()).map(wrap)
                }
            )*
        }
    };
}

unary_py!(
    neg,
    abs,
    exp,
    log,
    log2,
    log1p,
    expm1,
    sqrt,
    rsqrt,
    square,
    reciprocal,
    sin,
    cos,
    tanh,
    sigmoid,
    relu,
    silu,
    erf,
    sign,
    floor,
    ceil,
    round,
    trunc,
    logical_not,
);

/// Binary methods `name(other)`: `self.method(other)` for the listed names; the operators
/// after `operators:` (comparisons included: `t == None`, a string or a list is then Python's
/// identity test, `False`, as PyTorch's), and their reflected forms (`__radd__`:
/// `other.method(self)`) after `reflected:`. `other` may be a tensor, a Python number or a
/// NumPy value (see `arithmetic::operator_result`).
macro_rules! binary_py {
    ($($name:ident => $method:ident),* ;
     operators: $($oname:ident => $omethod:ident),* ;
     reflected: $($rname:ident => $rmethod:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
                    let o = operand(other)?;
                    let t = &self.tensor();
                    run(py, t.numel().max(o.numel()), || t.$method(&o)).map(wrap)
                }
            )*
            $(
                fn $oname(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                    arithmetic::operator_result(py, other, || {
                        let o = operand(other)?;
                        let t = &self.tensor();
                        run(py, t.numel().max(o.numel()), || t.$omethod(&o)).map(wrap)
                    })
                }
            )*
            $(
                fn $rname(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                    arithmetic::operator_result(py, other, || {
                        let o = operand(other)?;
                        let t = &self.tensor();
                        run(py, t.numel(), || o.$rmethod(t)).map(wrap)
                    })
                }
            )*
        }
    };
}

binary_py!(
    mul => mul, true_divide => div, maximum => maximum, minimum => minimum,
    remainder => remainder, floor_divide => floor_divide, matmul => matmul, eq => eq, ne => ne,
    lt => lt, le => le, gt => gt, ge => ge, logical_and => logical_and, logical_or => logical_or,
    logical_xor => logical_xor;
    operators:
    __add__ => add, __sub__ => sub, __mul__ => mul, __truediv__ => div, __floordiv__ => floor_divide,
    __mod__ => remainder, __matmul__ => matmul, __eq__ => eq, __ne__ => ne, __lt__ => lt,
    __le__ => le, __gt__ => gt, __ge__ => ge;
    reflected:
    __radd__ => add, __rsub__ => sub, __rmul__ => mul, __rtruediv__ => div_reflected,
    __rfloordiv__ => floor_divide, __rmod__ => remainder, __rmatmul__ => matmul,
);

/// `self` unchanged or a new tensor (what `to()` returns).
#[derive(IntoPyObject)]
enum Either {
    Same(Py<PyTensor>),
    New(PyTensor),
}

impl Either {
    /// `slf` itself when the engine handed back its very tensor (nothing to change), else a
    /// new object around `out`: PyTorch's `contiguous()`/`type_as()` return `self` then.
    fn same_or_new(slf: &Bound<'_, PyTensor>, out: Tensor) -> Either {
        if out.same(&slf.get().tensor()) {
            Either::Same(slf.clone().unbind())
        } else {
            Either::New(wrap(out))
        }
    }
}

/// A new object of `slf`'s class (`Tensor` or a subclass such as `Parameter`) around `data`,
/// with `slf`'s `requires_grad`.
fn copy_of<'py>(slf: &Bound<'py, PyTensor>, data: Tensor) -> PyResult<Bound<'py, PyAny>> {
    let new = slf.get_type().call1((wrap(data),))?;
    let requires_grad = slf.get().tensor().requires_grad();
    new.cast::<PyTensor>()?
        .get()
        .tensor()
        .set_requires_grad(requires_grad)
        .py()?;
    Ok(new)
}

thread_local! {
    /// The tensor `as_subclass` is wrapping, handed to `Tensor.__new__` (which it calls to
    /// make the subclass's object without running the subclass's own `__new__`/`__init__`).
    static ALIAS: std::cell::Cell<Option<Tensor>> = const { std::cell::Cell::new(None) };
}

impl PyTensor {
    fn inplace(&self, f: impl FnOnce(&Tensor) -> democratising::Result<()>) -> PyResult<()> {
        f(&self.tensor()).py()
    }
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)`: a tensor sharing `data` if it is a tensor, else a copy of it (lists,
    /// NumPy arrays, numbers). Subclasses (`nn.Parameter`) construct through here.
    /// PyTorch's legacy constructor: `Tensor()` (empty), `Tensor(2, 3)` or `Tensor(dm.Size)`
    /// (zeros of that size), `Tensor(data)` (the data in the default float dtype, as
    /// `torch.Tensor([1, 2])` is float32), `Tensor(tensor)` (a detached alias, which is how
    /// `nn.Parameter` and subclasses wrap a tensor).
    #[new]
    #[pyo3(signature = (*args))]
    fn py_new(py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Self> {
        if let Some(t) = ALIAS.take() {
            return Ok(wrap(t));
        }
        let float = DType::default_float();
        let is_int = |a: &Bound<'_, PyAny>| {
            a.is_instance_of::<pyo3::types::PyInt>() && !a.is_instance_of::<pyo3::types::PyBool>()
        };
        if args.is_empty() {
            return Ok(wrap(Tensor::zeros(&[0], float).py()?));
        }
        if args.iter().all(|a| is_int(&a)) {
            let shape: Vec<usize> = args.extract().map_err(|_| {
                crate::errors::value_error(format!("Tensor(): negative size in {args}"))
            })?;
            return Ok(wrap(Tensor::zeros(&shape, float).py()?));
        }
        if args.len() != 1 {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "Tensor() takes sizes (ints) or one data argument, got {args}"
            )));
        }
        let d = args.get_item(0)?;
        if let Ok(t) = d.cast::<PyTensor>() {
            return Ok(wrap(t.get().tensor().detach()));
        }
        if d.get_type().name()? == "Size" {
            let shape: Vec<usize> = d.extract()?;
            return Ok(wrap(Tensor::zeros(&shape, float).py()?));
        }
        let t = crate::registry::helper(py, "tensor")?.call1((d,))?;
        let t = t.cast::<PyTensor>()?.get().tensor();
        Ok(wrap(t.to_dtype(float).py()?))
    }

    /// `t.as_subclass(cls)`: this tensor as an object of `cls` (a subclass of `Tensor`) that
    /// shares its data and stays in its autograd graph; `cls`'s `__init__` does not run.
    fn as_subclass<'py>(
        slf: &Bound<'py, Self>,
        cls: &Bound<'py, pyo3::types::PyType>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let base = slf.py().get_type::<PyTensor>();
        if !cls.is_subclass(&base)? {
            return Err(crate::errors::type_error(format!(
                "as_subclass: cls must be a subclass of Tensor, got {}",
                cls.name()?
            )));
        }
        ALIAS.set(Some(slf.get().tensor()));
        let out = base.call_method1("__new__", (cls,));
        ALIAS.take();
        out
    }

    // ---- attributes ------------------------------------------------------------------------

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::registry::size(py, self.tensor().shape())
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.tensor().ndim()
    }
    fn dim(&self) -> usize {
        self.tensor().ndim()
    }
    #[getter]
    fn dtype(&self, py: Python<'_>) -> PyResult<Py<PyDType>> {
        crate::types::dtype_object(py, self.tensor().dtype())
    }
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice(self.tensor().device())
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        matches!(self.tensor().device(), Device::Cuda(_))
    }
    #[getter]
    fn requires_grad(&self) -> bool {
        self.tensor().requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, flag: bool) -> PyResult<()> {
        self.tensor().set_requires_grad(flag).py()
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(slf: Bound<'_, Self>, requires_grad: bool) -> PyResult<Bound<'_, Self>> {
        slf.get().tensor().set_requires_grad(requires_grad).py()?;
        Ok(slf)
    }
    /// The accumulated gradient: the same Python object on every read while it stays the
    /// engine's gradient and something else holds it.
    #[getter]
    fn grad(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let t = self.tensor();
        let Some(g) = t.grad() else {
            if !t.is_leaf() && !t.retains_grad() {
                // As PyTorch: the backward pass never fills a non-leaf's `.grad`.
                PyErr::warn(
                    py,
                    &py.get_type::<pyo3::exceptions::PyUserWarning>(),
                    c"The .grad attribute of a Tensor that is not a leaf Tensor is being \
                      accessed. Its .grad attribute won't be populated during \
                      autograd.backward(). If you indeed want the .grad field to be populated \
                      for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor.",
                    2,
                )?;
            }
            return Ok(None);
        };
        let mut handed = self.handed_out.lock().unwrap_or_else(|e| e.into_inner());
        let cached = &mut handed.grad;
        if let Some(obj) = cached.as_ref().and_then(|w| w.bind(py).upgrade()) {
            if let Ok(t) = obj.cast::<PyTensor>() {
                if t.get().tensor().same(&g) {
                    return Ok(Some(obj.unbind()));
                }
            }
        }
        let obj = Bound::new(py, wrap(g))?.into_any();
        *cached = Some(PyWeakrefReference::new(&obj)?.unbind());
        Ok(Some(obj.unbind()))
    }
    #[setter]
    fn set_grad(&self, g: Option<Bound<'_, PyTensor>>) -> PyResult<()> {
        self.tensor()
            .set_grad(g.as_ref().map(|g| g.get().tensor()))
            .py()?;
        let mut handed = self.handed_out.lock().unwrap_or_else(|e| e.into_inner());
        handed.grad = match g {
            Some(g) => Some(PyWeakrefReference::new(g.as_any())?.unbind()),
            None => None,
        };
        Ok(())
    }
    /// The storage's in-place version counter (PyTorch's `_version`): every in-place write
    /// through this tensor or a view of it bumps it; saved-tensor checks compare it.
    #[getter]
    fn _version(&self) -> u64 {
        self.tensor().version()
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.tensor().is_leaf()
    }
    /// Whether this tensor was made in inference mode (PyTorch's inference tensor).
    fn is_inference(&self) -> bool {
        self.tensor().is_inference()
    }
    /// The node that produced this tensor: the same Python object on every read while
    /// something holds it and the history is unchanged.
    #[getter]
    fn grad_fn(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(node) = self.tensor().grad_fn() else {
            return Ok(None);
        };
        let mut handed = self.handed_out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(obj) = handed.grad_fn.as_ref().and_then(|w| w.bind(py).upgrade()) {
            if obj
                .cast::<GradFn>()
                .is_ok_and(|f| Arc::ptr_eq(&f.get().node, &node))
            {
                return Ok(Some(obj.unbind()));
            }
        }
        let obj = Bound::new(py, GradFn { node })?.into_any();
        handed.grad_fn = Some(PyWeakrefReference::new(&obj)?.unbind());
        Ok(Some(obj.unbind()))
    }
    #[getter]
    fn data(&self) -> PyTensor {
        wrap(self.tensor().data_alias())
    }
    #[getter(T)]
    fn transpose_all(&self) -> PyResult<PyTensor> {
        self.tensor().t().py().map(wrap)
    }
    #[getter(mT)]
    fn matrix_transpose(&self) -> PyResult<PyTensor> {
        self.tensor().transpose(-2, -1).py().map(wrap)
    }
    fn numel(&self) -> usize {
        self.tensor().numel()
    }
    fn nelement(&self) -> usize {
        self.tensor().numel()
    }
    fn element_size(&self) -> usize {
        self.tensor().dtype().size()
    }
    #[pyo3(signature = (dim=None))]
    fn size(&self, py: Python<'_>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        let t = self.tensor();
        if dim.is_none() {
            return Ok(crate::registry::size(py, t.shape())?.unbind());
        }
        per_dim(py, &t, t.shape(), dim)
    }
    #[pyo3(signature = (dim=None))]
    fn stride(&self, py: Python<'_>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        let t = self.tensor();
        per_dim(py, &t, t.strides(), dim)
    }
    fn is_floating_point(&self) -> bool {
        self.tensor().dtype().is_float()
    }
    /// Where this view starts in its storage, in elements.
    fn storage_offset(&self) -> usize {
        self.tensor().layout().offset
    }
    fn data_ptr(&self) -> usize {
        self.tensor().storage().as_ptr() as usize
            + self.tensor().layout().offset * self.tensor().dtype().size()
    }
    fn __len__(&self) -> PyResult<usize> {
        if self.tensor().ndim() == 0 {
            return Err(crate::errors::type_error("len() of a 0-d tensor"));
        }
        Ok(self.tensor().shape()[0])
    }
    /// Makes NumPy defer to the reflected operators (`np.float32(2) * t` is a Tensor).
    #[classattr]
    fn __array_priority__() -> f64 {
        1000.0
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    // ---- indexing ---------------------------------------------------------------------------

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.tensor();
        match crate::indexing::getitem(py, &t, key) {
            Err(e) if t.ndim() == 0 => match zero_d_bool_key(py, &t, key)? {
                Some((x, k)) => crate::indexing::getitem(py, &x, &k).map(wrap),
                None => Err(e),
            },
            r => r.map(wrap),
        }
    }
    /// `t[key] = value`, with PyTorch's two readings the plain assignment refuses: a bool
    /// scalar key on a 0-d tensor, and a value whose leading size-1 dims must go first
    /// (`out[i] = model(x[i:i + 1])`). Both are tried only after the plain assignment failed.
    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let t = self.tensor();
        let Err(e) = crate::indexing::setitem(py, &t, key, value) else {
            return Ok(());
        };
        if t.ndim() == 0 {
            if let Some((x, k)) = zero_d_bool_key(py, &t, key)? {
                return crate::indexing::setitem(py, &x, &k, value);
            }
        }
        if let Ok(v) = value.cast::<PyTensor>() {
            let v = v.get().tensor();
            let lead = v.shape().iter().take_while(|&&n| n == 1).count();
            if lead > 0 {
                let rest: Vec<isize> = v.shape()[lead..].iter().map(|&n| n as isize).collect();
                let stripped = Bound::new(py, wrap(v.reshape(&rest).py()?))?;
                if crate::indexing::setitem(py, &t, key, stripped.as_any()).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(e)
    }
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.tensor().ndim() == 0 {
            return Err(crate::errors::type_error("iteration over a 0-d tensor"));
        }
        let items: Vec<PyTensor> = self
            .tensor()
            .unbind(0)
            .py()?
            .into_iter()
            .map(wrap)
            .collect();
        Ok(items.into_pyobject(py)?.try_iter()?.into_any().unbind())
    }
}

impl PyTensor {
    fn extreme<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
        max: bool,
    ) -> PyResult<Py<PyAny>> {
        match dim {
            None => {
                let r = if max {
                    self.tensor().amax(None, false)
                } else {
                    self.tensor().amin(None, false)
                };
                Ok(wrap(r.py()?).into_pyobject(py)?.into_any().unbind())
            }
            Some(d) if d.is_instance_of::<PyTensor>() => {
                let o = operand(d)?;
                let r = if max {
                    self.tensor().maximum(&o)
                } else {
                    self.tensor().minimum(&o)
                };
                Ok(wrap(r.py()?).into_pyobject(py)?.into_any().unbind())
            }
            Some(d) => {
                let d: isize = d.extract()?;
                let (v, i) = self.tensor().max_dim(d, keepdim, max).py()?;
                let ret = crate::registry::helper(py, "max_result")?;
                Ok(ret.call1((wrap(v), wrap(i)))?.unbind())
            }
        }
    }
}

/// The node that produced a tensor (`t.grad_fn`), for inspecting the graph.
#[pyclass(frozen, weakref, name = "GradFn", module = "democratising")]
pub struct GradFn {
    node: Arc<autograd::Node>,
}

/// The node name of a Python-defined backward that names none (gradient checkpointing, ...).
pub const PYTHON_NODE: &str = "PythonFunctionBackward";

/// The names given to Python-defined nodes (`"<Class>Backward"` of custom Functions), each
/// stored once for the life of the process (a node's name is a `&'static str`).
static PYTHON_NODE_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// `name` as a `&'static str`, remembered as a Python-defined node's name.
pub fn python_node_name(name: String) -> &'static str {
    let mut names = PYTHON_NODE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.push(leaked);
    leaked
}

/// PyTorch's spelling of a node's name: the engine's built-in nodes carry the overload digit
/// (`MulBackward0`); Python-defined ones are named as given (`MyFunctionBackward`).
fn display_name(name: &'static str) -> std::borrow::Cow<'static, str> {
    let python = name == PYTHON_NODE
        || PYTHON_NODE_NAMES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|n| std::ptr::eq(*n, name));
    if python || !name.ends_with("Backward") {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("{name}0"))
    }
}

#[pymethods]
impl GradFn {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        display_name(self.node.name)
    }
    /// Two handles on the same graph node are equal and hash alike (each `grad_fn` access
    /// makes a new handle), so a walk over the graph can keep a `seen` set.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<GradFn>()
            .is_ok_and(|o| Arc::ptr_eq(&self.node, &o.get().node))
    }
    fn __hash__(&self) -> u64 {
        Arc::as_ptr(&self.node) as usize as u64
    }
    /// As PyTorch's: one `(function, 0)` pair per input, the function being the input's node,
    /// an `AccumulateGrad` for a leaf that requires grad, or `None`.
    #[getter]
    fn next_functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let pairs = self
            .node
            .edges()
            .iter()
            .map(|e| {
                let f = match e {
                    autograd::Edge::Node(node) => {
                        Bound::new(py, GradFn { node: node.clone() })?.into_any()
                    }
                    autograd::Edge::Leaf(t) => {
                        Bound::new(py, AccumulateGrad { leaf: t.clone() })?.into_any()
                    }
                    autograd::Edge::None => py.None().into_bound(py),
                };
                PyTuple::new(py, [f, 0i64.into_pyobject(py)?.into_any()])
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, pairs)
    }
    fn __repr__(&self) -> String {
        format!(
            "<{} object at {:#x}>",
            display_name(self.node.name),
            Arc::as_ptr(&self.node) as usize
        )
    }
}

/// The end of a leaf's path in the graph (`grad_fn.next_functions` for a parameter), as
/// PyTorch's: `variable` is the leaf whose `.grad` receives the gradient.
#[pyclass(frozen, name = "AccumulateGrad", module = "democratising")]
pub struct AccumulateGrad {
    leaf: Tensor,
}

#[pymethods]
impl AccumulateGrad {
    fn name(&self) -> &'static str {
        "torch::autograd::AccumulateGrad" // (PyTorch's name, which graph walkers compare)
    }
    /// Equal (and hashing alike) for the same leaf, as `GradFn`'s handles for the same node.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<AccumulateGrad>()
            .is_ok_and(|o| self.leaf.same(&o.get().leaf))
    }
    fn __hash__(&self) -> u64 {
        self.leaf.id() as u64
    }
    #[getter]
    fn variable(&self) -> PyTensor {
        wrap(self.leaf.clone())
    }
    #[getter]
    fn next_functions<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        PyTuple::empty(py)
    }
    fn __repr__(&self) -> &'static str {
        "<AccumulateGrad object>"
    }
}

/// Returned by `register_hook`, like PyTorch's handle: `handle.remove()` unregisters the hook.
#[pyclass(frozen, name = "RemovableHandle", module = "democratising")]
pub struct HookHandle {
    target: Hooked,
    id: u64,
    /// The hook's Python callable, dropped on `remove()` even where the engine still holds
    /// the hook (a graph in flight).
    slot: Arc<HookSlot>,
}

/// Where a hook was registered, held weakly: a handle kept by a module must not make its
/// tensor or node look shared (see `Tensor::visit_foreign`), nor keep it alive.
enum Hooked {
    Tensor(democratising::WeakTensor),
    /// A graph node (`grad_fn.register_hook`/`register_prehook`).
    Node(std::sync::Weak<autograd::Node>),
}

impl HookHandle {
    /// The handle of hook `id` on `tensor`, whose Python callable is in `slot`.
    pub(crate) fn new(tensor: &Tensor, id: u64, slot: Arc<HookSlot>) -> HookHandle {
        HookHandle {
            target: Hooked::Tensor(tensor.downgrade()),
            id,
            slot,
        }
    }
    pub(crate) fn on_node(node: &Arc<autograd::Node>, id: u64, slot: Arc<HookSlot>) -> HookHandle {
        HookHandle {
            target: Hooked::Node(Arc::downgrade(node)),
            id,
            slot,
        }
    }
}

#[pymethods]
impl HookHandle {
    fn remove(&self) {
        match &self.target {
            Hooked::Tensor(t) => {
                if let Some(t) = t.upgrade() {
                    t.remove_hook(self.id);
                }
            }
            Hooked::Node(node) => {
                if let Some(node) = node.upgrade() {
                    node.remove_hook(self.id);
                }
            }
        }
        self.slot.empty();
    }
    /// A copy removes the same hook (PyTorch's handle copies, so modules keeping handles can
    /// be deep-copied).
    fn __copy__(&self) -> HookHandle {
        HookHandle {
            target: match &self.target {
                Hooked::Tensor(t) => Hooked::Tensor(t.clone()),
                Hooked::Node(n) => Hooked::Node(n.clone()),
            },
            id: self.id,
            slot: self.slot.clone(),
        }
    }
    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> HookHandle {
        self.__copy__()
    }
    /// `with t.register_hook(fn):` keeps the hook for the block only (as PyTorch's handle).
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __exit__(
        &self,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.remove();
        false
    }
}

/// `size(dim)`/`stride(dim)`: `values` (one per dim of `t`) as a tuple, or the one at `dim`.
/// A 0-d tensor has no dimension to name (PyTorch raises there, where reductions accept 0 or
/// -1 for a scalar).
fn per_dim(
    py: Python<'_>,
    t: &Tensor,
    values: &[usize],
    dim: Option<isize>,
) -> PyResult<Py<PyAny>> {
    let Some(dim) = dim else {
        return Ok(PyTuple::new(py, values)?.into_any().unbind());
    };
    if t.ndim() == 0 {
        return Err(to_pyerr(Error::Index(format!(
            "dimension specified as {dim} but tensor has no dimensions"
        ))));
    }
    let i = democratising::layout::normalize_dim(dim, t.ndim()).py()?;
    Ok(values[i].into_pyobject(py)?.into_any().unbind())
}

/// The package's reading of a bool scalar key on a 0-d tensor (`tensor(5)[True]`): the
/// tensor as a 1-element view and the key with a 1-element mask, or `None` for other keys.
fn zero_d_bool_key<'py>(
    py: Python<'py>,
    t: &Tensor,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<(Tensor, Bound<'py, PyAny>)>> {
    let fixed = crate::registry::helper(py, "zero_d_bool_key")?.call1((wrap(t.clone()), key))?;
    if fixed.is_none() {
        return Ok(None);
    }
    let (x, k): (PyRef<'py, PyTensor>, Bound<'py, PyAny>) = fixed.extract()?;
    Ok(Some((x.tensor(), k)))
}

/// `&`, `|`, `^` (and reflected): see `PyTensor::bitwise`.
macro_rules! bitwise_py {
    ($($name:ident => $op:literal, $reflected:literal;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                    self.bitwise(py, $op, other, $reflected)
                }
            )*
        }
    };
}

bitwise_py! {
    __and__ => "bitwise_and", false;
    __or__ => "bitwise_or", false;
    __xor__ => "bitwise_xor", false;
    __rand__ => "bitwise_and", true;
    __ror__ => "bitwise_or", true;
    __rxor__ => "bitwise_xor", true;
}

/// `~`: the engine's logical NOT of a bool tensor, PyTorch's bitwise NOT of an integer one.
#[pymethods]
impl PyTensor {
    fn __invert__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let t = slf.get().tensor();
        if t.dtype() == DType::Bool {
            let r = t.logical_not().py()?;
            return Ok(Bound::new(py, wrap(r))?.into_any().unbind());
        }
        if t.dtype().is_float() {
            return Err(to_pyerr(Error::DType(format!(
                "~ (operator.invert) is only implemented on integer and Boolean-type tensors, \
                 got {}",
                t.dtype()
            ))));
        }
        let f = crate::registry::helper(py, "bitwise")?;
        Ok(f.call1(("bitwise_not", slf))?.unbind())
    }
}

impl PyTensor {
    /// `&`, `|`, `^`: the engine's logical op when both operands are bool, PyTorch's bitwise
    /// op (the package's `bitwise_*`, in the promoted integer dtype) otherwise.
    fn bitwise(
        &self,
        py: Python<'_>,
        name: &str,
        other: &Bound<'_, PyAny>,
        reflected: bool,
    ) -> PyResult<Py<PyAny>> {
        let t = self.tensor();
        if t.dtype() == DType::Bool {
            if let Ok(o) = operand(other) {
                if o.dtype() == DType::Bool {
                    let r = run(py, t.numel().max(o.numel()), || match name {
                        "bitwise_and" => t.logical_and(&o),
                        "bitwise_or" => t.logical_or(&o),
                        _ => t.logical_xor(&o),
                    })?;
                    return Ok(Bound::new(py, wrap(r))?.into_any().unbind());
                }
            }
        }
        let f = crate::registry::helper(py, "bitwise")?;
        let me = Bound::new(py, wrap(t))?;
        let r = if reflected {
            f.call1((name, other, me))?
        } else {
            f.call1((name, me, other))?
        };
        Ok(r.unbind())
    }
}
