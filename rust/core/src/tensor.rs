//! `Tensor`: a cheap, shared handle over a storage and a layout, plus the autograd metadata.

use crate::autograd::{AutogradMeta, Foreign, Hook, Node, PostAccumulateHook};
use crate::layout::{contiguous_strides, Layout};
use crate::{bail, DType, Device, Element, Error, Result, Storage};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A multi-dimensional array with optional gradient tracking. Cloning is `Arc`-cheap.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorInner>);

/// A handle that does not keep its tensor alive (a hook's removal handle holds one, so that
/// holding the handle does not make the tensor look shared; see `Tensor::visit_foreign`).
#[derive(Clone)]
pub struct WeakTensor(std::sync::Weak<TensorInner>);

impl WeakTensor {
    /// The tensor, while any strong handle to it lives.
    pub fn upgrade(&self) -> Option<Tensor> {
        self.0.upgrade().map(Tensor)
    }
}

pub struct TensorInner {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    /// Set for tensors created as views of another tensor (so in-place autograd can refuse them).
    pub(crate) is_view: bool,
    /// For views made by view ops: the tensor (never itself a view) whose storage they look into,
    /// so that an in-place op on the view can rebase that tensor's autograd history.
    pub(crate) view_base: Option<Tensor>,
    /// A 0-d tensor made from a Python number: it takes part in type promotion with the lowest
    /// priority, as in PyTorch (`int_tensor * 0.5` is float32, `half_tensor + 1.0` stays half).
    pub(crate) wrapped: bool,
    pub(crate) meta: Mutex<AutogradMeta>,
    /// PyTorch's version counter: bumped by every in-place write, shared by a tensor, its views
    /// and its `detach()` (a saved tensor checks it), but not by its `.data` (`data_alias`).
    pub(crate) version: Arc<AtomicU64>,
    /// Made in inference mode (PyTorch's inference tensor): autograd may not save it, and
    /// outside inference mode it may not be written in place. Views and detaches inherit it.
    pub(crate) inference: bool,
}

impl Tensor {
    pub(crate) fn from_parts(storage: Arc<Storage>, layout: Layout, is_view: bool) -> Tensor {
        Tensor(Arc::new(TensorInner {
            storage,
            layout,
            is_view,
            view_base: None,
            wrapped: false,
            meta: Mutex::new(AutogradMeta::default()),
            version: Arc::default(),
            inference: crate::autograd::is_inference_mode(),
        }))
    }

    /// A contiguous tensor that takes ownership of `data`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = crate::layout::checked_numel(shape)?;
        if n != data.len() {
            bail!(
                Shape,
                "data of length {} does not fit shape {:?} ({} elements)",
                data.len(),
                shape,
                n
            );
        }
        Ok(Self::from_parts(
            Arc::new(Storage::from_vec(data)),
            Layout::contiguous(shape),
            false,
        ))
    }

    /// Wraps an existing storage with a layout, checking that the layout stays inside it.
    pub fn from_storage(storage: Arc<Storage>, layout: Layout) -> Result<Tensor> {
        let (_, end) = layout.span();
        if end > storage.len() {
            bail!(
                Shape,
                "layout {:?} reaches element {} but the storage holds {}",
                layout,
                end,
                storage.len()
            );
        }
        Ok(Self::from_parts(storage, layout, false))
    }

    /// A 0-d tensor standing for a Python number (see `TensorInner::wrapped`).
    pub fn wrapped_scalar<T: Element>(v: T) -> Tensor {
        Tensor(Arc::new(TensorInner {
            storage: Arc::new(Storage::from_vec(vec![v])),
            layout: Layout::contiguous(&[]),
            is_view: false,
            view_base: None,
            wrapped: true,
            meta: Mutex::new(AutogradMeta::default()),
            version: Arc::default(),
            inference: crate::autograd::is_inference_mode(),
        }))
    }

    pub fn is_wrapped_number(&self) -> bool {
        self.0.wrapped
    }

    pub fn scalar<T: Element>(v: T) -> Tensor {
        Self::from_parts(
            Arc::new(Storage::from_vec(vec![v])),
            Layout::contiguous(&[]),
            false,
        )
    }

    // ---- accessors -------------------------------------------------------------------------

    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.0.layout.strides
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn storage(&self) -> &Arc<Storage> {
        &self.0.storage
    }
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }
    pub fn ndim(&self) -> usize {
        self.0.layout.ndim()
    }
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    pub fn is_view(&self) -> bool {
        self.0.is_view
    }
    /// Size of one dimension (negative indices count from the end).
    pub fn dim_size(&self, dim: isize) -> Result<usize> {
        let d = crate::layout::normalize_dim(dim, self.ndim())?;
        Ok(if self.ndim() == 0 { 1 } else { self.shape()[d] })
    }
    /// True when both handles refer to the very same tensor object.
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// An address that identifies this tensor object while it lives.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    pub(crate) fn meta(&self) -> MutexGuard<'_, AutogradMeta> {
        match self.0.meta.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    // ---- data access -------------------------------------------------------------------------

    /// The elements in row-major order, borrowed when the layout is contiguous.
    pub fn data<T: Element>(&self) -> Result<Cow<'_, [T]>> {
        self.check_dtype::<T>()?;
        self.check_cpu()?;
        let l = &self.0.layout;
        let s = self.0.storage.as_slice::<T>();
        let n = l.numel();
        if n == 0 {
            Ok(Cow::Borrowed(&[]))
        } else if l.is_contiguous() {
            Ok(Cow::Borrowed(&s[l.offset..l.offset + n]))
        } else {
            // A broadcast view may name far more elements than its storage holds.
            crate::ops::creation::check_alloc(&l.shape, std::mem::size_of::<T>())?;
            Ok(Cow::Owned(crate::ops::gather::gather_strided(s, l)))
        }
    }

    /// A freshly allocated row-major copy of the elements.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.data::<T>()?.into_owned())
    }

    /// The single value of a one-element tensor, as f64.
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            bail!(
                Value,
                "a Tensor with {} elements (shape {:?}) cannot be converted to a scalar",
                self.numel(),
                self.shape()
            );
        }
        let host = crate::backend::transfer(self, Device::Cpu)?;
        let off = host.0.layout.offset;
        Ok(crate::with_dtype!(self.dtype(), T => host.0.storage.as_slice::<T>()[off].to_f64()))
    }

    /// The single element of an integer tensor, exactly (`item` goes through f64, which
    /// rounds integers above 2^53).
    pub fn item_i64(&self) -> Result<i64> {
        if self.numel() != 1 {
            return self.item().map(|v| v as i64);
        }
        let host = crate::backend::transfer(self, Device::Cpu)?;
        let off = host.0.layout.offset;
        Ok(match self.dtype() {
            dt if dt.is_int() => {
                crate::with_dtype!(dt, T => host.0.storage.as_slice::<T>()[off].to_i64())
            }
            _ => host.item()? as i64,
        })
    }

    pub(crate) fn check_dtype<T: Element>(&self) -> Result<()> {
        if self.dtype() != T::DTYPE {
            bail!(
                DType,
                "expected a {} tensor, got {}",
                T::DTYPE,
                self.dtype()
            );
        }
        Ok(())
    }

    /// Refuses a tensor that is not floating point: `DType` error "`{what}`, got `{dtype}`"
    /// (`what` says which op wants a float and how it puts it).
    pub(crate) fn check_float(&self, what: &str) -> Result<()> {
        if !self.dtype().is_float() {
            bail!(DType, "{what}, got {}", self.dtype());
        }
        Ok(())
    }

    pub fn check_cpu(&self) -> Result<()> {
        match self.device() {
            Device::Cpu => Ok(()),
            d => Err(Error::Device(format!(
                "this operation reads host memory but the tensor is on {d}; move it with .cpu() first"
            ))),
        }
    }

    /// A new tensor sharing this storage with a different layout (no autograd recorded).
    pub(crate) fn with_layout(&self, layout: Layout) -> Tensor {
        let base = match &self.0.view_base {
            Some(b) => Some(b.clone()),
            None if !self.0.is_view => Some(self.clone()),
            None => None,
        };
        Tensor(Arc::new(TensorInner {
            storage: self.0.storage.clone(),
            layout,
            is_view: true,
            view_base: base,
            wrapped: false,
            meta: Mutex::new(AutogradMeta {
                history_version: self.version(),
                follows_base: crate::autograd::is_grad_enabled(),
                ..AutogradMeta::default()
            }),
            version: self.0.version.clone(),
            inference: self.0.inference,
        }))
    }

    /// The tensor this view looks into (see `TensorInner::view_base`); `None` for a tensor that
    /// is not a view, and for a detached one (PyTorch's `_base`).
    pub fn view_base(&self) -> Option<&Tensor> {
        self.0.view_base.as_ref()
    }

    /// Returns self if contiguous, else a contiguous copy (with autograd).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.clone())
        } else {
            crate::ops::copy::contiguous_copy(self)
        }
    }

    // ---- autograd accessors ------------------------------------------------------------------

    pub fn requires_grad(&self) -> bool {
        self.sync_view_history();
        self.meta().requires_grad
    }

    /// Brings a view's history up to date with its base's, as PyTorch regenerates a view's
    /// `grad_fn` once the base (or another view of it) was written in place:
    /// - a view taken (with grad mode on) before its base took a history through an in-place
    ///   write (`top = buf[:2]; buf[1] = x * 2`) then requires grad, so the gradient through
    ///   it reaches `x`;
    /// - a view whose base was written after it was taken (`v = y[:2]; y.mul_(3)`) gets a
    ///   node over the base's current history, so its hooks, `retain_grad` and uses in later
    ///   ops see the values it now holds.
    pub(crate) fn sync_view_history(&self) {
        let Some(base) = self.view_base() else {
            return;
        };
        let version = self.version();
        let stale = {
            let m = self.meta();
            if m.history_version == version {
                return;
            }
            let stale = m.requires_grad && m.grad_fn.is_some();
            if !stale && (m.requires_grad || !m.follows_base) {
                return;
            }
            stale
        };
        // (The base is never a view: asking it does not come back here.)
        if !stale && !base.requires_grad() {
            return;
        }
        let node = crate::autograd::regenerated_view_node(self, base);
        let old = {
            let mut m = self.meta();
            if !stale && m.requires_grad {
                return;
            }
            m.requires_grad = true;
            m.history_version = version;
            m.grad_fn.replace(node)
        };
        // A `retain_grad()` made on the old node moves to the new one.
        self.keep_retained(old);
    }

    /// Marks a leaf as requiring grad. Only floating-point tensors can.
    pub fn set_requires_grad(&self, flag: bool) -> Result<()> {
        if flag && !self.dtype().is_float() {
            bail!(
                DType,
                "only tensors of floating point dtype can require gradients (got {})",
                self.dtype()
            );
        }
        let mut m = self.meta();
        if !flag && m.grad_fn.is_some() {
            bail!(
                Autograd,
                "you can only change requires_grad flags of leaf variables; use detach() for a non-leaf"
            );
        }
        m.requires_grad = flag;
        Ok(())
    }

    pub fn is_leaf(&self) -> bool {
        self.sync_view_history();
        self.meta().grad_fn.is_none()
    }

    pub fn grad_fn(&self) -> Option<Arc<Node>> {
        self.sync_view_history();
        self.meta().grad_fn.clone()
    }

    pub fn grad(&self) -> Option<Tensor> {
        self.meta().grad.clone()
    }

    pub fn set_grad(&self, g: Option<Tensor>) -> Result<()> {
        if let Some(g) = &g {
            if g.id() == self.id() {
                bail!(Value, "can't assign a tensor as its own grad");
            }
            let (shape, dtype) = ((g.shape(), self.shape()), (g.dtype(), self.dtype()));
            if shape.0 != shape.1 {
                let (got, want) = shape;
                bail!(
                    Shape,
                    "assigned grad has shape {got:?} but the tensor has shape {want:?}"
                );
            }
            if dtype.0 != dtype.1 {
                let (got, want) = dtype;
                bail!(
                    DType,
                    "assigned grad has dtype {got} but the tensor has dtype {want}"
                );
            }
        }
        self.meta().grad = g;
        Ok(())
    }

    /// PyTorch's `leaf.data = data`: a leaf sharing `data`'s storage (any shape, dtype or
    /// device) that takes over this leaf's `requires_grad` and hooks, and its `.grad` while
    /// that still fits. The Python handle swaps it in, so `Module.to(dtype)` keeps Parameter
    /// objects (and the optimizers that hold them) valid.
    pub fn leaf_with_data(&self, data: &Tensor) -> Result<Tensor> {
        if !self.is_leaf() {
            bail!(
                Autograd,
                "cannot replace the data of a non-leaf tensor; assign to a leaf or use copy_"
            );
        }
        let new = data.detach();
        let mut old = self.meta();
        if old.requires_grad && !new.dtype().is_float() {
            bail!(
                DType,
                "a tensor that requires grad cannot take {} data (only floating point tensors \
                 can require gradients)",
                new.dtype()
            );
        }
        {
            let mut m = new.meta();
            m.requires_grad = old.requires_grad;
            m.hooks = std::mem::take(&mut old.hooks);
            m.post_hooks = std::mem::take(&mut old.post_hooks);
            m.foreign = std::mem::take(&mut old.foreign);
            m.grad = old.grad.take().filter(|g| {
                g.shape() == new.shape() && g.dtype() == new.dtype() && g.device() == new.device()
            });
        }
        old.moved_to = Some(new.clone());
        Ok(new)
    }

    /// Cuts this very tensor from the graph (PyTorch's `detach_`): a leaf that does not require
    /// grad, as seen through every handle to it (a parameter's `.grad` included).
    pub fn detach_in_place(&self) {
        let mut m = self.meta();
        m.grad_fn = None;
        m.requires_grad = false;
    }

    /// A tensor sharing data (and the version counter) but cut from the graph.
    pub fn detach(&self) -> Tensor {
        self.detached_with(self.0.version.clone())
    }

    /// PyTorch's `.data`: the same memory cut from the graph with a version counter of its
    /// own, so that writing through it does not invalidate what backward saved (the old
    /// `p.data.add_(...)` idiom).
    pub fn data_alias(&self) -> Tensor {
        self.detached_with(Arc::default())
    }

    /// The same memory and layout, with no history, counting writes in `version`.
    fn detached_with(&self, version: Arc<AtomicU64>) -> Tensor {
        Tensor(Arc::new(TensorInner {
            storage: self.0.storage.clone(),
            layout: self.0.layout.clone(),
            is_view: self.0.is_view,
            view_base: None,
            wrapped: false,
            meta: Mutex::new(AutogradMeta::default()),
            version,
            inference: self.0.inference,
        }))
    }

    /// Whether this tensor was made in inference mode (PyTorch's `is_inference()`).
    pub fn is_inference(&self) -> bool {
        self.0.inference
    }

    /// How many in-place writes this tensor (or a view sharing its counter) has had.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Relaxed)
    }

    /// Records an in-place write (see `TensorInner::version`).
    pub fn bump_version(&self) {
        self.0.version.fetch_add(1, Ordering::Relaxed);
    }

    /// Registers a hook called with this tensor's gradient during backward; it may return a
    /// replacement gradient.
    pub fn register_hook(&self, hook: Hook) -> Result<u64> {
        if !self.requires_grad() {
            bail!(
                Autograd,
                "cannot register a hook on a tensor that doesn't require gradient"
            );
        }
        let id = crate::autograd::next_hook_id();
        match self.grad_fn() {
            Some(n) => n.add_pre_hook(id, hook),
            None => self.meta().hooks.push((id, hook)),
        }
        Ok(id)
    }

    /// Registers a hook run after this leaf's `.grad` has received its final value for a backward
    /// pass (data parallelism starts its all-reduce from here).
    pub fn register_post_accumulate_grad_hook(&self, hook: PostAccumulateHook) -> Result<u64> {
        if !self.is_leaf() || !self.requires_grad() {
            bail!(
                Autograd,
                "post-accumulate-grad hooks can only be registered on leaf tensors that require grad"
            );
        }
        let id = crate::autograd::next_hook_id();
        self.meta().post_hooks.push((id, hook));
        Ok(id)
    }

    /// A handle that does not keep this tensor alive.
    /// The leaf now standing for this one: itself, or the end of the chain of
    /// `leaf_with_data` replacements (a graph recorded before `param.data = t` reaches `t`).
    pub(crate) fn current_leaf(&self) -> Tensor {
        let mut t = self.clone();
        loop {
            let next = t.meta().moved_to.clone();
            match next {
                Some(n) => t = n,
                None => return t,
            }
        }
    }

    pub fn downgrade(&self) -> WeakTensor {
        WeakTensor(Arc::downgrade(&self.0))
    }

    /// Keeps `obj` (a Python callable one of this tensor's hooks calls) where its hook lives:
    /// with the leaf, or with the node a non-leaf's hooks run on.
    pub fn hold(&self, obj: Foreign) {
        match self.grad_fn() {
            Some(n) => n.hold(obj),
            None => crate::autograd::hold_foreign(&mut self.meta().foreign, obj),
        }
    }

    /// Calls `f` with what the bindings keep with this tensor and its node (`hold`), when
    /// this handle is the only one to both: then nothing but the caller's object (which owns
    /// this handle) can reach them, so a cycle collector may count them as its references.
    /// Shared tensors or nodes report nothing (a cycle through them stays uncollected, which
    /// is safe; reporting a reference someone else can still use is not).
    pub fn visit_foreign(&self, f: &mut dyn FnMut(&(dyn std::any::Any + Send + Sync))) {
        if Arc::strong_count(&self.0) != 1 {
            return;
        }
        let Ok(m) = self.0.meta.try_lock() else {
            return;
        };
        m.foreign.iter().for_each(|h| f(&**h));
        if let Some(node) = &m.grad_fn {
            Node::visit_foreign_if_unshared(node, f);
        }
    }

    /// Removes a hook registered on this tensor (a no-op when it is already gone).
    pub fn remove_hook(&self, id: u64) {
        if let Some(n) = self.grad_fn() {
            n.remove_pre_hook(id);
        }
        let mut m = self.meta();
        m.hooks.retain(|(i, _)| *i != id);
        m.post_hooks.retain(|(i, _)| *i != id);
    }

    /// Keeps the gradient of a non-leaf in `.grad` after backward.
    pub fn retain_grad(&self) -> Result<()> {
        if !self.requires_grad() {
            bail!(
                Autograd,
                "can't retain_grad on a tensor that doesn't require gradient"
            );
        }
        if let Some(n) = self.grad_fn() {
            n.retain_for(self);
        }
        Ok(())
    }

    /// Whether `retain_grad` was called on this non-leaf tensor (PyTorch's `retains_grad`;
    /// false for leaves, whose gradient is always kept).
    pub fn retains_grad(&self) -> bool {
        self.grad_fn().is_some_and(|n| n.retains(self))
    }

    /// Contiguous row-major strides for this tensor's shape.
    pub fn contiguous_strides(&self) -> Vec<usize> {
        contiguous_strides(self.shape())
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor(shape={:?}, dtype={})",
            self.shape(),
            self.dtype()
        )
    }
}
