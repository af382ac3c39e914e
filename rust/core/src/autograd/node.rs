//! Graph nodes: one per differentiable op output, holding the op's backward closure and edges
//! to the nodes (or leaves) of its inputs.

use super::mode::is_grad_enabled;
use super::saved_hooks::{self, Packed, SavedTensorHooks};
use crate::storage::Storage;
use crate::{bail, Result, Tensor};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Computes input gradients from the output gradient (one entry per recorded input).
pub type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;
/// A gradient hook: may return a replacement gradient.
pub type Hook = Arc<dyn Fn(&Tensor) -> Result<Option<Tensor>> + Send + Sync>;
/// A hook on a node, run after its backward with its input gradients and the gradient it
/// received (PyTorch's `grad_fn.register_hook`): may return replacement input gradients.
pub type NodeHook =
    Arc<dyn Fn(&[Option<Tensor>], &Tensor) -> Result<Option<Vec<Option<Tensor>>>> + Send + Sync>;
/// Called with the leaf once its `.grad` is final for the current backward pass.
pub type PostAccumulateHook = Arc<dyn Fn(&Tensor) -> Result<()> + Send + Sync>;
/// A view's backward as an in-place update: adds the view's gradient (second argument) into
/// the part of its base's gradient (first argument, owned by the engine) that the view covers.
pub type ScatterInto = Box<dyn Fn(&Tensor, &Tensor) -> Result<()> + Send + Sync>;

/// Per-tensor autograd state.
#[derive(Default)]
pub struct AutogradMeta {
    pub requires_grad: bool,
    pub grad: Option<Tensor>,
    pub grad_fn: Option<Arc<Node>>,
    /// The storage version when `grad_fn` was set (for a view, when it was taken). A view
    /// whose storage was since written through its base or another view has a stale history
    /// (see `edge_of`).
    pub history_version: u64,
    /// A view taken with grad mode on: once its base takes a history by an in-place write, it
    /// takes one too (see `Tensor::sync_view_history`). Not one taken under `no_grad`.
    pub follows_base: bool,
    /// Hooks on a leaf (hooks on non-leaves live on their node).
    pub hooks: Vec<(u64, Hook)>,
    pub post_hooks: Vec<(u64, PostAccumulateHook)>,
    /// What the bindings keep with a leaf for its hooks (see `Node::hold`).
    pub foreign: Vec<Foreign>,
    /// The leaf that took this one's place (`param.data = t`, `Tensor::leaf_with_data`): a
    /// graph recorded before the swap delivers its gradient there, as PyTorch's does into the
    /// one parameter object.
    pub moved_to: Option<Tensor>,
}

/// Where the gradient of one op input goes.
pub enum Edge {
    /// The input does not need a gradient.
    None,
    /// The input is a leaf: its gradient accumulates into `.grad`.
    Leaf(Tensor),
    /// The input was produced by another op.
    Node(Arc<Node>),
}

impl Clone for Edge {
    fn clone(&self) -> Self {
        match self {
            Edge::None => Edge::None,
            Edge::Leaf(t) => Edge::Leaf(t.clone()),
            Edge::Node(n) => Edge::Node(n.clone()),
        }
    }
}

/// What a later op may rely on about how a node made its output, so that it can fuse its own
/// backward with this node's and skip it (`nll_loss` right after `log_softmax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    Opaque,
    /// `log_softmax` over the last dimension: each row of the output holds log-probabilities,
    /// and the node's one edge leads to the logits.
    LogSoftmaxRows,
}

pub struct Node {
    pub name: &'static str,
    pub(crate) provenance: Provenance,
    /// Whether the backward is written in recorded ops (and reads its saved tensors with
    /// `Saved::get_graph`), so that running it in grad mode builds the graph of the gradient
    /// itself: `create_graph=True` refuses to run any other node.
    pub(crate) differentiable: bool,
    pub(crate) edges: Vec<Edge>,
    pub(crate) backward: Mutex<Option<BackwardFn>>,
    /// Whether the backward captures no tensor (a view's shapes only), so a backward without
    /// `retain_graph` keeps it: a second backward through it works, as through PyTorch's
    /// nodes with nothing saved.
    pub(crate) reusable: std::sync::atomic::AtomicBool,
    /// For a view of one input: its backward done in place when the input's gradient already
    /// has an accumulator the engine alone holds (the second of `q, k, v = x.split(...)` adds
    /// into the first's buffer instead of materialising a zero-filled gradient of its own).
    pub(crate) scatter_into: Option<ScatterInto>,
    pub(crate) pre_hooks: Mutex<Vec<(u64, Hook)>>,
    /// Hooks run after the backward (`register_hook` on the node).
    pub(crate) post_hooks: Mutex<Vec<(u64, NodeHook)>>,
    /// A slot the bindings fill with the node's `metadata` dict on first use.
    metadata: OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// Non-leaf tensors that asked to keep their gradient (`retain_grad`).
    pub(crate) retained: Mutex<Vec<Weak<crate::tensor::TensorInner>>>,
    /// Foreign objects the bindings keep with the node (the Python callables its backward and
    /// hooks call), so that a cycle collector can be shown them (see `Tensor::visit_foreign`).
    foreign: Mutex<Vec<Foreign>>,
    /// In anomaly mode, the stack of the code that recorded the node (`mode::forward_trace`).
    pub(crate) trace: Option<Box<str>>,
}

/// An object kept with a node or a leaf on behalf of the bindings.
pub type Foreign = Arc<dyn std::any::Any + Send + Sync>;

/// Adds `obj` to `held`, dropping the entries nothing else holds any more (their hook or
/// backward is gone), so that hooks added and removed every step do not pile up.
pub(crate) fn hold_foreign(held: &mut Vec<Foreign>, obj: Foreign) {
    held.retain(|k| Arc::strong_count(k) > 1);
    held.push(obj);
}

impl Node {
    fn new(
        (name, provenance, differentiable): (&'static str, Provenance, bool),
        edges: Vec<Edge>,
        backward: BackwardFn,
        scatter_into: Option<ScatterInto>,
    ) -> Arc<Node> {
        Arc::new(Node {
            name,
            provenance,
            differentiable,
            edges,
            backward: Mutex::new(Some(backward)),
            reusable: std::sync::atomic::AtomicBool::new(false),
            scatter_into,
            pre_hooks: Mutex::new(Vec::new()),
            post_hooks: Mutex::new(Vec::new()),
            metadata: OnceLock::new(),
            retained: Mutex::new(Vec::new()),
            foreign: Mutex::new(Vec::new()),
            trace: super::mode::forward_trace().map(String::into_boxed_str),
        })
    }

    /// Keeps `obj` for the life of the node (a Python callable its backward or a hook calls),
    /// where `Tensor::visit_foreign` can show it to a cycle collector.
    pub fn hold(&self, obj: Foreign) {
        hold_foreign(&mut lock(&self.foreign), obj);
    }

    /// Drops what only this node still holds (the callables of a backward that was freed).
    pub(crate) fn release_foreign(&self) {
        lock(&self.foreign).retain(|k| Arc::strong_count(k) > 1);
    }

    /// Calls `f` with what this node holds (`hold`, its metadata), when `node` is its only
    /// handle: then nothing but the caller's object can reach them. Skips a locked list
    /// rather than wait (a collector must not block).
    pub fn visit_foreign_if_unshared(
        node: &Arc<Node>,
        f: &mut dyn FnMut(&(dyn std::any::Any + Send + Sync)),
    ) {
        if Arc::strong_count(node) != 1 {
            return;
        }
        if let Ok(held) = node.foreign.try_lock() {
            held.iter().for_each(|h| f(&**h));
        }
        if let Some(m) = node.metadata.get() {
            f(&**m);
        }
    }

    /// Registers `hook` on the gradient this node receives, before its backward runs
    /// (`grad_fn.register_prehook`); returns the id that removes it.
    pub fn register_prehook(&self, hook: Hook) -> u64 {
        let id = next_hook_id();
        self.add_pre_hook(id, hook);
        id
    }

    /// Registers `hook` to run after this node's backward (`grad_fn.register_hook`).
    pub fn register_hook(&self, hook: NodeHook) -> u64 {
        let id = next_hook_id();
        lock(&self.post_hooks).push((id, hook));
        id
    }

    /// Removes the pre- or post-hook registered under `id`.
    pub fn remove_hook(&self, id: u64) {
        self.remove_pre_hook(id);
        lock(&self.post_hooks).retain(|(i, _)| *i != id);
    }

    /// The node's metadata slot (filled once, by whoever asks first).
    pub fn metadata(&self) -> &OnceLock<Box<dyn std::any::Any + Send + Sync>> {
        &self.metadata
    }

    pub(crate) fn add_pre_hook(&self, id: u64, hook: Hook) {
        lock(&self.pre_hooks).push((id, hook));
    }

    pub(crate) fn remove_pre_hook(&self, id: u64) {
        lock(&self.pre_hooks).retain(|(i, _)| *i != id);
    }

    pub(crate) fn retain_for(&self, t: &Tensor) {
        let mut retained = lock(&self.retained);
        let want = Arc::as_ptr(&t.0);
        // A second `retain_grad()` changes nothing (a second entry would add the gradient twice).
        if !retained.iter().any(|w| w.as_ptr() == want) {
            retained.push(Arc::downgrade(&t.0));
        }
    }

    /// Undoes `retain_for(t)` (the tensor's history moved to another node).
    pub(crate) fn release_for(&self, t: &Tensor) {
        let gone = Arc::as_ptr(&t.0);
        lock(&self.retained).retain(|w| w.as_ptr() != gone);
    }

    /// Whether `retain_for(t)` was called for this very tensor (not another view of it).
    pub(crate) fn retains(&self, t: &Tensor) -> bool {
        let want = Arc::as_ptr(&t.0);
        lock(&self.retained).iter().any(|w| w.as_ptr() == want)
    }

    /// Whether nothing but this node's own backward reads the gradient it receives (no hook,
    /// no retained `.grad`): an op fusing this node's backward into its own may then bypass it.
    pub(crate) fn unobserved(&self) -> bool {
        lock(&self.pre_hooks).is_empty() && lock(&self.retained).is_empty()
    }

    /// The nodes this node sends gradients to (for graph inspection).
    /// This node's edges (to the nodes and leaves of its inputs), for inspecting the graph.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    pub fn next_functions(&self) -> Vec<Option<Arc<Node>>> {
        self.edges
            .iter()
            .map(|e| match e {
                Edge::Node(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A fresh id for a registered hook (so its handle can remove it).
pub(crate) fn next_hook_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Records `out` as produced by an op over `inputs` when grad mode is on and any input requires a
/// gradient. Returns `out` (now carrying a `grad_fn`) either way.
pub fn record<F>(out: Tensor, name: &'static str, inputs: &[&Tensor], backward: F) -> Tensor
where
    F: Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
        return out;
    }
    let edges = inputs.iter().map(|t| edge_of(t)).collect();
    new_node(
        out,
        (name, Provenance::Opaque, false),
        edges,
        Box::new(backward),
    )
}

/// `record` for an op whose backward is itself differentiable (see `Node::differentiable`).
pub fn record_differentiable<F>(
    out: Tensor,
    name: &'static str,
    inputs: &[&Tensor],
    backward: F,
) -> Tensor
where
    F: Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    record_differentiable_as(out, name, Provenance::Opaque, inputs, backward)
}

/// `out`, its node (if it has one) marked `reusable`: for an op whose backward captures
/// shapes, no tensor (views, `expand`, sums), so a backward without `retain_graph` keeps it.
pub(crate) fn reusable(out: Tensor) -> Tensor {
    if let Some(node) = &out.meta().grad_fn {
        node.reusable
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    out
}

/// `record` for a view of `input` whose backward scatters the gradient into zeros shaped like
/// the input; `scatter_into` does the same as an in-place add into an existing accumulator
/// (see `Node::scatter_into`, used only when the pass builds no graph). The backward must be
/// differentiable (`record_differentiable`).
pub(crate) fn record_view<F, S>(
    out: Tensor,
    name: &'static str,
    input: &Tensor,
    backward: F,
    scatter_into: S,
) -> Tensor
where
    F: Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    S: Fn(&Tensor, &Tensor) -> Result<()> + Send + Sync + 'static,
{
    if !is_grad_enabled() || !input.requires_grad() {
        return out;
    }
    // (Its backward captures shapes and layouts only: the node is reusable.)
    let out = new_node_with(
        out,
        (name, Provenance::Opaque, true),
        vec![edge_of(input)],
        Box::new(backward),
        Some(Box::new(scatter_into)),
    );
    reusable(out)
}

/// `record_differentiable`, telling later ops how the output was made (see `Provenance`).
pub(crate) fn record_differentiable_as<F>(
    out: Tensor,
    name: &'static str,
    provenance: Provenance,
    inputs: &[&Tensor],
    backward: F,
) -> Tensor
where
    F: Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
        return out;
    }
    let edges = inputs.iter().map(|t| edge_of(t)).collect();
    new_node(out, (name, provenance, true), edges, Box::new(backward))
}

/// `record_differentiable` with the edges given (an op that may route its gradient past one
/// of its inputs' nodes holds an edge to that node's input too). Records nothing when no edge
/// leads anywhere.
pub(crate) fn record_edges<F>(
    out: Tensor,
    name: &'static str,
    provenance: Provenance,
    edges: Vec<Edge>,
    backward: F,
) -> Tensor
where
    F: Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    new_node(out, (name, provenance, true), edges, Box::new(backward))
}

fn new_node(
    out: Tensor,
    (name, provenance, differentiable): (&'static str, Provenance, bool),
    edges: Vec<Edge>,
    backward: BackwardFn,
) -> Tensor {
    new_node_with(
        out,
        (name, provenance, differentiable),
        edges,
        backward,
        None,
    )
}

fn new_node_with(
    out: Tensor,
    parts: (&'static str, Provenance, bool),
    edges: Vec<Edge>,
    backward: BackwardFn,
    scatter_into: Option<ScatterInto>,
) -> Tensor {
    if !is_grad_enabled() || edges.iter().all(|e| matches!(e, Edge::None)) {
        return out;
    }
    let node = Node::new(parts, edges, backward, scatter_into);
    {
        let version = out.version();
        let mut m = out.meta();
        m.requires_grad = true;
        m.grad_fn = Some(node);
        m.history_version = version;
    }
    out
}

pub(crate) fn edge_of(t: &Tensor) -> Edge {
    // A view written through its base since it was taken gets a history over the base's
    // current one there (PyTorch's AsStridedBackward0).
    t.sync_view_history();
    let version = t.version();
    let m = t.meta();
    if !m.requires_grad {
        return Edge::None;
    }
    let Some(n) = &m.grad_fn else {
        return Edge::Leaf(t.clone());
    };
    if t.is_view() && t.view_base().is_none() && m.history_version != version {
        return Edge::Node(stale_view_node(t.shape()));
    }
    Edge::Node(n.clone())
}

/// Storage positions of a layout's elements, in row-major order, as an int64 index.
fn positions(layout: &crate::layout::Layout, device: crate::Device) -> Result<Tensor> {
    let pos: Vec<i64> = layout.offsets().map(|o| o as i64).collect();
    Tensor::from_vec(pos, &[layout.numel()])?.to_device(device)
}

/// The history of a view whose base was modified in place after the view was taken: the
/// view's gradient lands on the storage positions it covers, and the base's gradient reads
/// its own positions back (an as-strided backward through index ops, so it records under
/// `create_graph`). Its one edge is the base's current history.
pub(crate) fn regenerated_view_node(view: &Tensor, base: &Tensor) -> Arc<Node> {
    let (view_layout, base_layout) = (view.layout().clone(), base.layout().clone());
    let len = base.storage().len();
    let edges = vec![edge_of(base)];
    let backward = Box::new(move |g: &Tensor| {
        let flat = Tensor::full_on(&[len], 0.0, g.dtype(), g.device())?;
        let at = vec![Some(positions(&view_layout, g.device())?)];
        let g = g.reshape(&[-1])?;
        let flat = if is_grad_enabled() {
            flat.index_put(&at, &g, true)?
        } else {
            flat.index_put_raw(&at, &g, true)?;
            flat
        };
        let base_shape: Vec<isize> = base_layout.shape.iter().map(|&d| d as isize).collect();
        let gb = flat
            .index_select(0, &positions(&base_layout, g.device())?)?
            .reshape(&base_shape)?;
        Ok(vec![Some(gb)])
    });
    let parts = ("AsStridedBackward", Provenance::Opaque, true);
    Node::new(parts, edges, backward, None)
}

/// A node that fails the backward pass: the view it stands for was modified in place through
/// its base (or another view of it) after it was taken, so its recorded history no longer
/// describes its values and any gradient through it would be silently wrong. (PyTorch
/// regenerates such a view's history; here the user takes the view again.)
fn stale_view_node(shape: &[usize]) -> Arc<Node> {
    let shape = shape.to_vec();
    let backward = Box::new(move |_g: &Tensor| {
        bail!(
            Autograd,
            "a view (shape {shape:?}) was used after its base or another view of the same \
                 tensor was modified in place, so its gradient would be wrong; take the view \
                 again after the in-place operation"
        )
    });
    let parts = ("StaleViewBackward", Provenance::Opaque, true);
    Node::new(parts, Vec::new(), backward, None)
}

/// A tensor saved for backward, with the storage version at save time so that a later in-place
/// modification is reported instead of silently producing a wrong gradient. It also keeps
/// where the tensor came from (its leaf or its node, never the tensor's own mutable history),
/// so that a differentiable backward can take part in a graph (`get_graph`).
pub struct Saved {
    kept: Kept,
    version: u64,
    origin: Origin,
}

/// How a saved tensor is kept.
enum Kept {
    Tensor(Tensor),
    /// Packed by the saved-tensor hooks in force when it was saved; unpacked on first use.
    Packed(Box<PackedTensor>),
}

struct PackedTensor {
    hooks: Arc<dyn SavedTensorHooks>,
    packed: Packed,
    /// The saved tensor's storage, not kept alive: when `unpack` returns a tensor over the
    /// same storage (hooks that keep the tensor itself), its version is checked as usual.
    storage: Weak<Storage>,
    shape: Vec<usize>,
    dtype: crate::DType,
    unpacked: OnceLock<Tensor>,
}

enum Origin {
    /// An input: the edge it had when saved.
    Input(Edge),
    /// A reshaped or cast copy of an input (the kernels' layout of it).
    Like(History),
    /// The op's own output: its history is the node running the backward.
    Output,
}

thread_local! {
    /// The nodes whose backward is running on this thread, the innermost last.
    static RUNNING: std::cell::RefCell<Vec<Arc<Node>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks `node` as running its backward on this thread until the guard drops.
pub(crate) struct RunningNode;

impl RunningNode {
    pub(crate) fn enter(node: &Arc<Node>) -> RunningNode {
        RUNNING.with(|r| r.borrow_mut().push(node.clone()));
        RunningNode
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        RUNNING.with(|r| r.borrow_mut().pop());
    }
}

impl Saved {
    /// Saves an input of the op.
    pub fn new(t: &Tensor) -> Result<Saved> {
        Saved::keep(t.detach(), Origin::Input(edge_of(t)))
    }

    /// Saves `data`, a reshaped or cast form of the input `of` (the layout a kernel reads),
    /// with `of`'s history: `get_graph` re-attaches it through a recorded reshape and cast.
    pub fn new_as(data: &Tensor, of: &Tensor) -> Result<Saved> {
        Saved::keep(data.detach(), Origin::Like(History::of(of)))
    }

    /// Saves the op's output (made before `record` gives it a history).
    pub fn output(t: &Tensor) -> Result<Saved> {
        Saved::keep(t.detach(), Origin::Output)
    }

    /// Keeps `t` (detached), packed by the saved-tensor hooks in force on this thread if any.
    /// With grad mode off no node is recorded, so nothing is packed (PyTorch calls no hook).
    fn keep(t: Tensor, origin: Origin) -> Result<Saved> {
        let version = t.version();
        let hooks = if super::is_grad_enabled() {
            saved_hooks::current()
        } else {
            None
        };
        let kept = match hooks {
            None => Kept::Tensor(t),
            Some(hooks) => Kept::Packed(Box::new(PackedTensor {
                packed: hooks.pack(&t)?,
                hooks,
                storage: Arc::downgrade(t.storage()),
                shape: t.shape().to_vec(),
                dtype: t.dtype(),
                unpacked: OnceLock::new(),
            })),
        };
        Ok(Saved {
            kept,
            version,
            origin,
        })
    }

    pub fn get(&self) -> Result<&Tensor> {
        let (t, checked) = match &self.kept {
            Kept::Tensor(t) => (t, true),
            Kept::Packed(p) => {
                let t = match p.unpacked.get() {
                    Some(t) => t,
                    None => {
                        let t = p.hooks.unpack(&p.packed)?;
                        if t.shape() != p.shape.as_slice() || t.dtype() != p.dtype {
                            bail!(
                                Autograd,
                                "a saved-tensor unpack hook returned a {} tensor of shape {:?} \
                                 for one saved as {} of shape {:?}",
                                t.dtype(),
                                t.shape(),
                                p.dtype,
                                p.shape
                            );
                        }
                        p.unpacked.get_or_init(|| t)
                    }
                };
                let same = p
                    .storage
                    .upgrade()
                    .is_some_and(|s| Arc::ptr_eq(&s, t.storage()));
                (t, same)
            }
        };
        if checked && t.version() != self.version {
            bail!(
                Autograd,
                "one of the tensors needed for gradient computation has been modified by an \
                 in-place operation (shape {:?}); clone it before modifying it",
                t.shape()
            );
        }
        Ok(t)
    }

    /// The saved tensor with its history when a backward runs in grad mode
    /// (`create_graph=True`), so that ops on it record; else `get`'s detached tensor.
    pub fn get_graph(&self) -> Result<Tensor> {
        let t = self.get()?;
        if !is_grad_enabled() {
            return Ok(t.clone());
        }
        let node = match &self.origin {
            Origin::Input(Edge::None) => return Ok(t.clone()),
            Origin::Input(Edge::Leaf(leaf)) => return Ok(leaf.clone()),
            Origin::Input(Edge::Node(n)) => n.clone(),
            Origin::Like(h) => return Ok(h.attach(t)),
            Origin::Output => match RUNNING.with(|r| r.borrow().last().cloned()) {
                Some(n) => n,
                None => return Ok(t.clone()),
            },
        };
        let out = t.detach();
        {
            let mut m = out.meta();
            m.requires_grad = true;
            m.grad_fn = Some(node);
            m.history_version = self.version;
        }
        Ok(out)
    }
}

/// Where a tensor's gradient goes (its node or leaf, shape and dtype), without its data. A
/// fused op that keeps only a derived form of an input (cross-entropy keeps the softmax) or a
/// reshaped copy attaches those values to the input's history when a backward builds a graph.
pub struct History {
    edge: Edge,
    shape: Vec<usize>,
    dtype: crate::DType,
}

impl History {
    pub fn of(t: &Tensor) -> History {
        History {
            edge: edge_of(t),
            shape: t.shape().to_vec(),
            dtype: t.dtype(),
        }
    }

    /// `data` (same element count) as a tensor whose gradient, reshaped and cast back, flows
    /// into this history; `data` itself outside grad mode or when nothing is upstream.
    pub fn attach(&self, data: &Tensor) -> Tensor {
        if !is_grad_enabled() || matches!(self.edge, Edge::None) {
            return data.detach();
        }
        let (shape, dtype) = (self.shape.clone(), self.dtype);
        let back = move |g: &Tensor| {
            let s: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
            Ok(vec![Some(g.reshape(&s)?.to_dtype(dtype)?)])
        };
        let how = ("SavedAsBackward", Provenance::Opaque, true);
        new_node(data.detach(), how, vec![self.edge.clone()], Box::new(back))
    }
}
