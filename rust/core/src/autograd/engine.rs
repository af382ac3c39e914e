//! The backward pass: topological walk over the recorded graph, summing gradients per node and
//! delivering them to leaves (`backward`) or to the caller (`grad`).

use super::mode::GradModeGuard;
use super::node::{edge_of, lock, Edge, Node, RunningNode, ScatterInto};
use crate::{bail, Result, Tensor};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// `tensor.backward(gradient, retain_graph, create_graph)`: accumulates gradients into the
/// leaves' `.grad`. With `create_graph` the gradients carry their own graph (higher-order
/// derivatives), as far as every node on the way has a differentiable backward.
pub fn backward(
    root: &Tensor,
    gradient: Option<Tensor>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<()> {
    let how = How {
        retain: retain_graph,
        create_graph,
    };
    run(std::slice::from_ref(root), vec![gradient], how, None).map(|_| ())
}

/// How a pass treats the graph it walks.
#[derive(Clone, Copy)]
struct How {
    /// Keep each node's backward (and saved tensors) for another pass.
    retain: bool,
    /// Run the backwards in grad mode, so that the gradients are recorded too.
    create_graph: bool,
}

/// `autograd.grad(outputs, inputs)`: returns the gradients of `outputs` with respect to `inputs`
/// without touching any `.grad`. Inputs that the outputs do not depend on get `None`.
pub fn grad(
    outputs: &[Tensor],
    grad_outputs: Vec<Option<Tensor>>,
    inputs: &[Tensor],
    retain_graph: bool,
    create_graph: bool,
) -> Result<Vec<Option<Tensor>>> {
    for t in inputs {
        if !t.requires_grad() {
            bail!(
                Autograd,
                "one of the differentiated tensors does not require grad"
            );
        }
    }
    let how = How {
        retain: retain_graph,
        create_graph,
    };
    run(outputs, grad_outputs, how, Some(inputs))
}

fn node_key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

/// A leaf's first gradient as its own `.grad`: the tensor itself when nothing else refers to it
/// or its memory, else a copy, so that accumulating into `.grad` in place later never writes
/// into another leaf's gradient (the same tensor reaches both inputs of an addition).
fn owned(g: Tensor) -> Result<Tensor> {
    if sole_handle(&g) {
        Ok(g)
    } else {
        g.deep_clone()
    }
}

/// PyTorch's layout contract for a first `.grad`: the leaf's own strides where it is dense
/// (row-major for a contiguous parameter, channels-last for a channels-last one), row-major
/// otherwise. A gradient computed in another order (the backward of ops on `p.t()` keeps the
/// transpose's strides) is copied, so that `p.grad.view(-1)` works as in PyTorch. (Under
/// `create_graph` a permuted leaf's gradient is made row-major: the copy must stay recorded.)
fn in_leaf_layout(t: &Tensor, g: Tensor, create_graph: bool) -> Result<Tensor> {
    if g.shape() != t.shape() {
        return Ok(g);
    }
    match t.layout().dense_permutation() {
        Some(order) if g.layout().dense_permutation().as_ref() == Some(&order) => Ok(g),
        Some(order) if !create_graph => {
            crate::ops::memory_order::run_in_memory_order(&[&g], &order, |v| v[0].contiguous())
        }
        _ => g.contiguous(),
    }
}

/// Adds `g` into `t.grad` as PyTorch's AccumulateGrad does: in place (a `.grad` the user holds
/// or set, a view into a flat buffer say, keeps receiving the gradients), out of place when
/// the backward builds a graph.
fn add_into_grad(t: &Tensor, mut g: Tensor, create_graph: bool) -> Result<()> {
    if g.dtype() != t.dtype() {
        g = g.to_dtype(t.dtype())?;
    }
    let prev = t.meta().grad.take();
    let grad = match prev {
        None if create_graph => in_leaf_layout(t, g, true)?,
        None => owned(in_leaf_layout(t, g, false)?)?,
        Some(p) if create_graph => p.add(&g)?,
        Some(p) => {
            let summed = p.add_(&g, 1.0);
            if let Err(e) = summed {
                t.meta().grad = Some(p);
                return Err(e);
            }
            p
        }
    };
    t.meta().grad = Some(grad);
    Ok(())
}

/// `backward(inputs=...)`'s last step for one leaf: its captured gradient `g` (hooks already
/// run) added into `.grad` as the engine's own accumulation, then its post-accumulate hooks.
pub fn accumulate_leaf_grad(t: &Tensor, g: Tensor, create_graph: bool) -> Result<()> {
    add_into_grad(t, g, create_graph)?;
    let post: Vec<_> = t.meta().post_hooks.iter().map(|(_, h)| h.clone()).collect();
    for h in post {
        h(t)?;
    }
    Ok(())
}

/// Anomaly mode's check: a node whose gradient for an input holds NaN fails the backward,
/// naming the node (PyTorch's message).
fn check_nan(name: &str, trace: Option<&str>, grads: &[Option<Tensor>]) -> Result<()> {
    for (i, g) in grads.iter().enumerate() {
        let Some(g) = g else { continue };
        if g.dtype().is_float() && g.ne(g)?.any()? {
            let shown = if name.ends_with("Backward") {
                format!("{name}0")
            } else {
                name.to_string()
            };
            let origin = trace.map_or(String::new(), |t| {
                format!("\nTraceback of forward call that caused the error:\n{t}")
            });
            bail!(
                Autograd,
                "Function '{shown}' returned nan values in its {i}th output.{origin}"
            );
        }
    }
    Ok(())
}

/// Anomaly mode's context for any error a node's backward raises (an input changed in place
/// after the forward, a custom backward that failed): the node and the Python stack of the
/// forward call that recorded it, as PyTorch's `detect_anomaly` shows beside the error.
fn with_forward_trace(e: crate::Error, node: &Node) -> crate::Error {
    match node.trace.as_deref() {
        Some(t) => e.with_note(&format!(
            "\nError detected in {}. Traceback of forward call that caused the error:\n{t}",
            node.name
        )),
        None => e,
    }
}

/// Whether nothing else refers to `t` or its memory.
fn sole_handle(t: &Tensor) -> bool {
    Arc::strong_count(&t.0) == 1 && Arc::strong_count(t.storage()) == 1
}

/// Whether a gradient sum is held by the engine alone and carries no graph, so adding into it
/// in place is invisible to anyone else.
fn engine_owned(t: &Tensor) -> bool {
    sole_handle(t) && !t.requires_grad()
}

/// `prev + g`: in place into `prev` when the engine alone holds it (see `engine_owned`), which
/// saves a fresh buffer per extra contribution (a residual stream's gradient has two per
/// block); out of place otherwise, and always when the sum would carry a graph.
fn sum_grads(prev: Tensor, g: &Tensor) -> Result<Tensor> {
    let in_place = !g.requires_grad()
        && g.dtype() == prev.dtype()
        && g.shape() == prev.shape()
        && prev.is_contiguous()
        && engine_owned(&prev);
    if in_place {
        prev.add_(g, 1.0)?;
        Ok(prev)
    } else {
        prev.add(g)
    }
}

fn add_into(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => sum_grads(prev, &g)?,
    });
    Ok(())
}

fn initial_grad(root: &Tensor, g: Option<Tensor>) -> Result<Tensor> {
    match g {
        Some(g) => {
            if g.shape() != root.shape() {
                bail!(
                    Shape,
                    "gradient has shape {:?} but the output has shape {:?}",
                    g.shape(),
                    root.shape()
                );
            }
            if g.dtype() != root.dtype() {
                return g.to_dtype(root.dtype());
            }
            Ok(g)
        }
        None => {
            if root.numel() != 1 {
                bail!(
                    Autograd,
                    "grad can be implicitly created only for scalar outputs (output has shape {:?}); \
                     pass a gradient",
                    root.shape()
                );
            }
            Tensor::full_on(root.shape(), 1.0, root.dtype(), root.device())
        }
    }
}

/// A callback queued during a backward pass, run once after the pass has delivered every
/// gradient (PyTorch's `queue_callback`; DDP finishes its gradient buckets this way).
pub type EndCallback = Box<dyn FnOnce() -> Result<()> + Send>;

thread_local! {
    /// One queue per backward pass in progress on this thread (a hook may start a nested one).
    static END_CALLBACKS: RefCell<Vec<Vec<EndCallback>>> = const { RefCell::new(Vec::new()) };
}

/// Queues `f` to run when the backward pass in progress on this thread ends (after the last
/// gradient is accumulated and every hook has run). Outside a backward pass it fails.
pub fn queue_callback(f: EndCallback) -> Result<()> {
    END_CALLBACKS.with(|q| match q.borrow_mut().last_mut() {
        Some(pass) => {
            pass.push(f);
            Ok(())
        }
        None => Err(crate::Error::Autograd(
            "queue_callback can only be called during the backward pass (from a hook)".into(),
        )),
    })
}

/// Opens this pass's callback queue; on drop (an error included) the queue closes.
struct CallbackScope;

impl CallbackScope {
    fn open() -> Self {
        END_CALLBACKS.with(|q| q.borrow_mut().push(Vec::new()));
        CallbackScope
    }

    /// Runs the callbacks queued during the pass, in order (a callback may queue more).
    fn run_all(&self) -> Result<()> {
        loop {
            let next = END_CALLBACKS.with(|q| {
                let mut q = q.borrow_mut();
                let pass = q.last_mut()?;
                (!pass.is_empty()).then(|| pass.remove(0))
            });
            match next {
                Some(f) => f()?,
                None => return Ok(()),
            }
        }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        END_CALLBACKS.with(|q| q.borrow_mut().pop());
    }
}

thread_local! {
    /// How many passes on this thread's stack capture gradients (`grad`).
    static CAPTURING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether a pass in progress on this thread captures gradients for `grad`: it may ask for a
/// non-leaf's gradient, so no op may route its gradient past a node.
pub(crate) fn capturing() -> bool {
    CAPTURING.with(|c| c.get() > 0)
}

/// Counts a capturing pass while it runs (an error included).
struct CaptureScope(bool);

impl CaptureScope {
    fn open(capturing: bool) -> Self {
        if capturing {
            CAPTURING.with(|c| c.set(c.get() + 1));
        }
        CaptureScope(capturing)
    }
}

impl Drop for CaptureScope {
    fn drop(&mut self) {
        if self.0 {
            CAPTURING.with(|c| c.set(c.get() - 1));
        }
    }
}

fn run(
    roots: &[Tensor],
    grad_outputs: Vec<Option<Tensor>>,
    how: How,
    capture: Option<&[Tensor]>,
) -> Result<Vec<Option<Tensor>>> {
    let _mode = GradModeGuard::new(how.create_graph);
    let _amp = crate::amp::AutocastGuard::disabled();
    if grad_outputs.len() != roots.len() {
        bail!(
            Value,
            "got {} gradients for {} outputs",
            grad_outputs.len(),
            roots.len()
        );
    }
    let callbacks = CallbackScope::open();
    let _capture = CaptureScope::open(capture.is_some());
    let mut pass = Pass::new(capture);
    let (seeds, leaf_grads) = pass.seed(roots, grad_outputs)?;
    let leaf_pending = pass.count_dependencies(&seeds, &leaf_grads);
    if capture.is_some() {
        pass.needed = Some(pass.leading_to_captures(&seeds));
    }
    let mut sink = LeafSink {
        capturing: capture.is_some(),
        captured: vec![None; capture.map_or(0, |c| c.len())],
        capture_leaf: std::mem::take(&mut pass.capture_leaf),
        leaf_pending,
        partial: HashMap::new(),
        create_graph: how.create_graph,
    };
    for (t, g) in leaf_grads {
        sink.deliver(&t, g)?;
    }
    pass.walk(seeds, &mut sink, how)?;
    sink.finish()?;
    if let Some(inputs) = capture {
        sink.run_captured_leaf_hooks(inputs)?;
    }
    callbacks.run_all()?;
    Ok(sink.captured)
}

/// The state of one backward pass over the graph: gradients summed per node, and how many
/// edges into each node are still to be walked.
struct Pass {
    node_grads: HashMap<usize, Option<Tensor>>,
    deps: HashMap<usize, usize>,
    /// Where `grad` captures gradients: leaves by tensor identity, non-leaves by their node.
    capture_leaf: HashMap<usize, usize>,
    capture_node: HashMap<usize, usize>,
    /// For `grad`: the nodes with a captured tensor upstream. Only they run their backward
    /// (PyTorch computes only what the inputs need); `None` runs every node.
    needed: Option<HashSet<usize>>,
}

impl Pass {
    fn new(capture: Option<&[Tensor]>) -> Self {
        let mut pass = Pass {
            node_grads: HashMap::new(),
            deps: HashMap::new(),
            capture_leaf: HashMap::new(),
            capture_node: HashMap::new(),
            needed: None,
        };
        for (i, t) in capture.unwrap_or(&[]).iter().enumerate() {
            match t.grad_fn() {
                Some(n) => pass.capture_node.insert(node_key(&n), i),
                None => pass.capture_leaf.insert(t.id(), i),
            };
        }
        pass
    }

    /// The roots' gradients: into their nodes (returned as the seeds), or straight to leaves.
    #[allow(clippy::type_complexity)]
    fn seed(
        &mut self,
        roots: &[Tensor],
        grad_outputs: Vec<Option<Tensor>>,
    ) -> Result<(Vec<Arc<Node>>, Vec<(Tensor, Tensor)>)> {
        let mut seeds: Vec<Arc<Node>> = Vec::new();
        let mut leaf_grads: Vec<(Tensor, Tensor)> = Vec::new();
        for (root, g) in roots.iter().zip(grad_outputs) {
            if !root.requires_grad() {
                bail!(
                    Autograd,
                    "element 0 of tensors does not require grad and does not have a grad_fn"
                );
            }
            let g = initial_grad(root, g)?;
            match edge_of(root) {
                Edge::Node(n) => {
                    let k = node_key(&n);
                    if !self.node_grads.contains_key(&k) {
                        seeds.push(n.clone());
                    }
                    add_into(self.node_grads.entry(k).or_default(), g)?;
                }
                Edge::Leaf(t) => leaf_grads.push((t, g)),
                Edge::None => {}
            }
        }
        Ok((seeds, leaf_grads))
    }

    /// Counts, for every node reachable from the seeds, the edges pointing at it; returns, for
    /// every leaf, how many gradient contributions it will receive.
    fn count_dependencies(
        &mut self,
        seeds: &[Arc<Node>],
        leaf_grads: &[(Tensor, Tensor)],
    ) -> HashMap<usize, usize> {
        let mut leaf_pending: HashMap<usize, usize> = HashMap::new();
        for (t, _) in leaf_grads {
            *leaf_pending.entry(t.id()).or_default() += 1;
        }
        let mut stack: Vec<Arc<Node>> = seeds.to_vec();
        let mut seen: HashSet<usize> = seeds.iter().map(node_key).collect();
        while let Some(n) = stack.pop() {
            for e in &n.edges {
                match e {
                    Edge::Node(m) => {
                        *self.deps.entry(node_key(m)).or_default() += 1;
                        if seen.insert(node_key(m)) {
                            stack.push(m.clone());
                        }
                    }
                    Edge::Leaf(t) => *leaf_pending.entry(t.id()).or_default() += 1,
                    Edge::None => {}
                }
            }
        }
        leaf_pending
    }

    /// The nodes from which a captured leaf or node is reachable, found in post-order (an
    /// explicit stack: graphs of unrolled recurrences are deep).
    fn leading_to_captures(&self, seeds: &[Arc<Node>]) -> HashSet<usize> {
        let mut needed = HashSet::new();
        let mut visited = HashSet::new();
        let mut stack: Vec<(Arc<Node>, bool)> = seeds.iter().map(|n| (n.clone(), false)).collect();
        while let Some((n, children_done)) = stack.pop() {
            if children_done {
                let leads = n.edges.iter().any(|e| match e {
                    Edge::Leaf(t) => self.capture_leaf.contains_key(&t.current_leaf().id()),
                    Edge::Node(m) => {
                        let k = node_key(m);
                        self.capture_node.contains_key(&k) || needed.contains(&k)
                    }
                    Edge::None => false,
                });
                if leads {
                    needed.insert(node_key(&n));
                }
                continue;
            }
            if !visited.insert(node_key(&n)) {
                continue;
            }
            stack.push((n.clone(), true));
            for e in &n.edges {
                if let Edge::Node(m) = e {
                    if !visited.contains(&node_key(m)) {
                        stack.push((m.clone(), false));
                    }
                }
            }
        }
        needed
    }

    /// Kahn's algorithm from the seeds: each node runs once all its consumers have.
    fn walk(&mut self, seeds: Vec<Arc<Node>>, sink: &mut LeafSink, how: How) -> Result<()> {
        let mut ready: Vec<Arc<Node>> = seeds
            .into_iter()
            .filter(|n| self.deps.get(&node_key(n)).copied().unwrap_or(0) == 0)
            .collect();
        while let Some(node) = ready.pop() {
            let runs = self
                .needed
                .as_ref()
                .is_none_or(|n| n.contains(&node_key(&node)));
            let input_grads = match self.node_grads.remove(&node_key(&node)).flatten() {
                Some(g) if runs => self.apply(&node, g, sink, how)?,
                // Nothing captured lies upstream: only its own gradient may be asked for.
                Some(g) => {
                    self.observe(&node, g, sink)?;
                    node.edges.iter().map(|_| None).collect()
                }
                // Every consumer sent "no gradient": the node does not run, but its inputs
                // still count it as walked (another path may yet bring them a gradient).
                None => node.edges.iter().map(|_| None).collect(),
            };
            self.send(&node, input_grads, sink, &mut ready)?;
        }
        Ok(())
    }

    /// Runs one node: its pre-hooks, retained `.grad`s and captures (`observe`), then its
    /// backward.
    fn apply(
        &mut self,
        node: &Arc<Node>,
        g: Tensor,
        sink: &mut LeafSink,
        how: How,
    ) -> Result<Vec<Option<Tensor>>> {
        if how.create_graph && !node.differentiable {
            bail!(
                Autograd,
                "create_graph=True: the backward of {} is not differentiable yet, so higher-order \
                 gradients cannot pass through it (they can through elementwise math, matmul and \
                 linear, convolutions, pooling, recurrent layers, reductions, softmax, \
                 normalisation, dropout, attention, the classification losses, views, indexing \
                 and custom Functions that save only their inputs)",
                node.name
            );
        }
        let g = self.observe(node, g, sink)?;
        let mut slot = lock(&node.backward);
        let Some(f) = slot.as_ref() else {
            bail!(
                Autograd,
                "trying to backward through the graph a second time (in {}); its saved tensors \
                 were freed: specify retain_graph=True on the first backward",
                node.name
            );
        };
        let grads = if let Some((scatter, acc)) = self.scatter_target(node, how) {
            // A view's gradient added in place into its base's accumulator (see
            // `Node::scatter_into`); `send` then adds nothing more for that edge.
            scatter(&acc, &g)?;
            vec![None]
        } else {
            let _running = RunningNode::enter(node);
            f(&g).map_err(|e| with_forward_trace(e, node))?
        };
        let hooks: Vec<_> = lock(&node.post_hooks)
            .iter()
            .map(|(_, h)| h.clone())
            .collect();
        let mut grads = grads;
        if !hooks.is_empty() {
            // A hook sees `None` for the inputs that need no gradient, as PyTorch's.
            for (gr, e) in grads.iter_mut().zip(&node.edges) {
                if matches!(e, Edge::None) {
                    *gr = None;
                }
            }
        }
        for h in hooks {
            if let Some(r) = h(&grads, &g)? {
                if r.len() != grads.len() {
                    bail!(
                        Autograd,
                        "a hook on {} returned {} gradients for {} inputs",
                        node.name,
                        r.len(),
                        grads.len()
                    );
                }
                grads = r;
            }
        }
        if super::mode::anomaly_nan_check() {
            check_nan(node.name, node.trace.as_deref(), &grads)?;
        }
        if !how.retain && !node.reusable.load(std::sync::atomic::Ordering::Relaxed) {
            *slot = None;
            node.release_foreign();
        }
        if grads.len() != node.edges.len() {
            bail!(
                Autograd,
                "internal: {} returned {} gradients for {} inputs",
                node.name,
                grads.len(),
                node.edges.len()
            );
        }
        Ok(grads)
    }

    /// The accumulator a view node may add its gradient into in place: its one input's
    /// gradient so far, when the engine alone holds it and the pass builds no graph.
    fn scatter_target<'n>(&self, node: &'n Node, how: How) -> Option<(&'n ScatterInto, Tensor)> {
        let scatter = node.scatter_into.as_ref().filter(|_| !how.create_graph)?;
        let [Edge::Node(m)] = &node.edges[..] else {
            return None;
        };
        let acc = self.node_grads.get(&node_key(m))?.as_ref()?;
        engine_owned(acc).then(|| (scatter, acc.clone()))
    }

    /// What sees a node's incoming gradient before its backward: its pre-hooks (which may
    /// replace it), retained `.grad`s and `grad`'s captures. Returns the gradient to use.
    fn observe(&mut self, node: &Arc<Node>, mut g: Tensor, sink: &mut LeafSink) -> Result<Tensor> {
        let hooks: Vec<_> = lock(&node.pre_hooks)
            .iter()
            .map(|(_, h)| h.clone())
            .collect();
        for h in hooks {
            if let Some(r) = h(&g)? {
                g = r;
            }
        }
        for w in lock(&node.retained).iter() {
            if let Some(inner) = w.upgrade() {
                let t = Tensor(inner);
                // (The sum is taken with the lock released: `add` asks its operands whether
                // they require grad, and a view's answer reads its base, which may be `t`.)
                let prev = t.meta().grad.take();
                let sum = match prev {
                    None => g.clone(),
                    Some(p) => match p.add(&g) {
                        Ok(s) => s,
                        Err(e) => {
                            t.meta().grad = Some(p);
                            return Err(e);
                        }
                    },
                };
                t.meta().grad = Some(sum);
            }
        }
        if let Some(&i) = self.capture_node.get(&node_key(node)) {
            add_into(&mut sink.captured[i], g.clone())?;
        }
        Ok(g)
    }

    /// Hands a node's input gradients along its edges: to leaves, or summed into the next
    /// nodes (which become ready once their last consumer has run).
    fn send(
        &mut self,
        node: &Arc<Node>,
        input_grads: Vec<Option<Tensor>>,
        sink: &mut LeafSink,
        ready: &mut Vec<Arc<Node>>,
    ) -> Result<()> {
        for (e, ig) in node.edges.iter().zip(input_grads) {
            match e {
                Edge::None => {}
                Edge::Leaf(t) => match ig {
                    Some(ig) => sink.deliver(t, ig)?,
                    None => sink.skip(t)?,
                },
                Edge::Node(m) => {
                    let mk = node_key(m);
                    let slot = self.node_grads.entry(mk).or_default();
                    if let Some(ig) = ig {
                        add_into(slot, ig)?;
                    }
                    let d = self.deps.entry(mk).or_insert(1);
                    *d -= 1;
                    if *d == 0 {
                        ready.push(m.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

/// A leaf's gradient made to fit the leaf that replaced it after the forward (its dtype and
/// device; a new shape cannot take it, as in PyTorch).
fn fit_moved_leaf(t: &Tensor, g: Tensor) -> Result<Tensor> {
    if g.shape() != t.shape() {
        bail!(
            Shape,
            "a gradient of shape {:?} cannot accumulate into a leaf of shape {:?} (its .data \
             was replaced after the forward by data of another shape)",
            g.shape(),
            t.shape()
        );
    }
    let g = if g.dtype() != t.dtype() {
        g.to_dtype(t.dtype())?
    } else {
        g
    };
    if g.device() != t.device() {
        return g.to_device(t.device());
    }
    Ok(g)
}

/// Delivers gradients to leaves: into `.grad` (running hooks), or into the capture slots of `grad`.
/// A leaf used several times gets its contributions summed first: its hooks see, and its
/// `.grad` receives, the whole gradient once, after the last contribution (as in PyTorch).
struct LeafSink {
    capturing: bool,
    captured: Vec<Option<Tensor>>,
    capture_leaf: HashMap<usize, usize>,
    leaf_pending: HashMap<usize, usize>,
    /// Leaf id -> (leaf, sum of the contributions delivered so far).
    partial: HashMap<usize, (Tensor, Tensor)>,
    /// Gradients carry a graph: `.grad` is summed out of place and never copied.
    create_graph: bool,
}

impl LeafSink {
    fn deliver(&mut self, t: &Tensor, g: Tensor) -> Result<()> {
        if self.capturing {
            if let Some(&i) = self.capture_leaf.get(&t.current_leaf().id()) {
                add_into(&mut self.captured[i], g)?;
            }
            return Ok(());
        }
        if g.shape() != t.shape() {
            bail!(
                Autograd,
                "internal: gradient of shape {:?} for a leaf of shape {:?}",
                g.shape(),
                t.shape()
            );
        }
        let g = if g.dtype() != t.dtype() {
            g.to_dtype(t.dtype())?
        } else {
            g
        };
        let sum = match self.partial.remove(&t.id()) {
            Some((_, s)) => sum_grads(s, &g)?,
            None => g,
        };
        self.partial.insert(t.id(), (t.clone(), sum));
        self.skip(t)
    }

    /// `grad`'s leaves: their hooks see (and may replace) the whole captured gradient, as
    /// they would see it on its way into `.grad` (a non-leaf's run as its node's pre-hooks).
    fn run_captured_leaf_hooks(&mut self, inputs: &[Tensor]) -> Result<()> {
        let mut done = HashSet::new();
        for t in inputs {
            let Some(&i) = self.capture_leaf.get(&t.id()) else {
                continue;
            };
            if !done.insert(i) {
                continue; // the same leaf given twice: its hooks run once
            }
            let hooks: Vec<_> = t.meta().hooks.iter().map(|(_, h)| h.clone()).collect();
            if hooks.is_empty() {
                continue;
            }
            let Some(mut g) = self.captured[i].take() else {
                continue;
            };
            for h in hooks {
                if let Some(r) = h(&g)? {
                    g = r;
                }
            }
            self.captured[i] = Some(g);
        }
        Ok(())
    }

    /// Runs the leaf's hooks on its summed gradient and adds the result into `.grad`.
    fn flush(&mut self, id: usize) -> Result<()> {
        let Some((t, mut g)) = self.partial.remove(&id) else {
            return Ok(());
        };
        let t = t.current_leaf();
        g = fit_moved_leaf(&t, g)?;
        let hooks: Vec<_> = t.meta().hooks.iter().map(|(_, h)| h.clone()).collect();
        for h in hooks {
            if let Some(r) = h(&g)? {
                g = r;
            }
        }
        add_into_grad(&t, g, self.create_graph)
    }

    /// Flushes leaves whose count of contributions did not run out (none expected; a safety
    /// net so that no gradient is ever dropped).
    fn finish(&mut self) -> Result<()> {
        let ids: Vec<usize> = self.partial.keys().copied().collect();
        for id in ids {
            self.flush(id)?;
        }
        Ok(())
    }

    /// Counts one contribution as delivered; fires post-accumulate hooks after the last one.
    fn skip(&mut self, t: &Tensor) -> Result<()> {
        if self.capturing {
            return Ok(());
        }
        let left = self.leaf_pending.entry(t.id()).or_insert(1);
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.flush(t.id())?;
            let t = t.current_leaf();
            let post: Vec<_> = t.meta().post_hooks.iter().map(|(_, h)| h.clone()).collect();
            for h in post {
                h(&t)?;
            }
        }
        Ok(())
    }
}
