//! The backward pass: topological walk over the recorded graph, summing gradients per node and
//! delivering them to leaves (`backward`) or to the caller (`grad`).

use super::mode::GradModeGuard;
use super::node::{edge_of, lock, Edge, Node};
use crate::{bail, Result, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// `tensor.backward(gradient, retain_graph)`: accumulates gradients into the leaves' `.grad`.
pub fn backward(root: &Tensor, gradient: Option<Tensor>, retain_graph: bool) -> Result<()> {
    run(
        std::slice::from_ref(root),
        vec![gradient],
        retain_graph,
        None,
    )
    .map(|_| ())
}

/// `autograd.grad(outputs, inputs)`: returns the gradients of `outputs` with respect to `inputs`
/// without touching any `.grad`. Inputs that the outputs do not depend on get `None`.
pub fn grad(
    outputs: &[Tensor],
    grad_outputs: Vec<Option<Tensor>>,
    inputs: &[Tensor],
    retain_graph: bool,
) -> Result<Vec<Option<Tensor>>> {
    for t in inputs {
        if !t.requires_grad() {
            bail!(
                Autograd,
                "one of the differentiated tensors does not require grad"
            );
        }
    }
    run(outputs, grad_outputs, retain_graph, Some(inputs))
}

fn node_key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

fn add_into(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => prev.add(&g)?,
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

fn run(
    roots: &[Tensor],
    grad_outputs: Vec<Option<Tensor>>,
    retain_graph: bool,
    capture: Option<&[Tensor]>,
) -> Result<Vec<Option<Tensor>>> {
    let _mode = GradModeGuard::new(false);
    let _amp = crate::amp::AutocastGuard::disabled();
    if grad_outputs.len() != roots.len() {
        bail!(
            Value,
            "got {} gradients for {} outputs",
            grad_outputs.len(),
            roots.len()
        );
    }
    // Where captured gradients go: leaves by tensor identity, non-leaves by their node.
    let captured: Vec<Option<Tensor>> = vec![None; capture.map_or(0, |c| c.len())];
    let mut capture_leaf: HashMap<usize, usize> = HashMap::new();
    let mut capture_node: HashMap<usize, usize> = HashMap::new();
    if let Some(inputs) = capture {
        for (i, t) in inputs.iter().enumerate() {
            match t.grad_fn() {
                Some(n) => capture_node.insert(node_key(&n), i),
                None => capture_leaf.insert(t.id(), i),
            };
        }
    }

    // Seed gradients.
    let mut node_grads: HashMap<usize, Option<Tensor>> = HashMap::new();
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
                if !node_grads.contains_key(&k) {
                    seeds.push(n.clone());
                }
                add_into(node_grads.entry(k).or_default(), g)?;
            }
            Edge::Leaf(t) => leaf_grads.push((t, g)),
            Edge::None => {}
        }
    }

    // Count, for every reachable node, how many edges point at it; and for every leaf how many
    // gradient contributions it will receive.
    let mut deps: HashMap<usize, usize> = HashMap::new();
    let mut leaf_pending: HashMap<usize, usize> = HashMap::new();
    for (t, _) in &leaf_grads {
        *leaf_pending.entry(t.id()).or_default() += 1;
    }
    let mut stack: Vec<Arc<Node>> = seeds.clone();
    let mut seen: HashMap<usize, ()> = seeds.iter().map(|n| (node_key(n), ())).collect();
    while let Some(n) = stack.pop() {
        for e in &n.edges {
            match e {
                Edge::Node(m) => {
                    *deps.entry(node_key(m)).or_default() += 1;
                    if seen.insert(node_key(m), ()).is_none() {
                        stack.push(m.clone());
                    }
                }
                Edge::Leaf(t) => *leaf_pending.entry(t.id()).or_default() += 1,
                Edge::None => {}
            }
        }
    }

    let mut sink = LeafSink {
        capturing: capture.is_some(),
        captured,
        capture_leaf,
        leaf_pending,
        partial: HashMap::new(),
    };
    for (t, g) in leaf_grads {
        sink.deliver(&t, g)?;
    }

    // Kahn's algorithm from the seeds.
    let mut ready: Vec<Arc<Node>> = seeds
        .into_iter()
        .filter(|n| deps.get(&node_key(n)).copied().unwrap_or(0) == 0)
        .collect();
    while let Some(node) = ready.pop() {
        let key = node_key(&node);
        let Some(mut g) = node_grads.remove(&key).flatten() else {
            continue;
        };
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
                let mut m = t.meta();
                let prev = m.grad.take();
                m.grad = Some(match prev {
                    None => g.clone(),
                    Some(p) => p.add(&g)?,
                });
            }
        }
        if let Some(&i) = capture_node.get(&key) {
            add_into(&mut sink.captured[i], g.clone())?;
        }
        let input_grads = {
            let mut slot = lock(&node.backward);
            let Some(f) = slot.as_ref() else {
                bail!(
                    Autograd,
                    "trying to backward through the graph a second time (in {}); its saved tensors \
                     were freed: specify retain_graph=True on the first backward",
                    node.name
                );
            };
            let grads = f(&g)?;
            if !retain_graph {
                *slot = None;
            }
            grads
        };
        if input_grads.len() != node.edges.len() {
            bail!(
                Autograd,
                "internal: {} returned {} gradients for {} inputs",
                node.name,
                input_grads.len(),
                node.edges.len()
            );
        }
        for (e, ig) in node.edges.iter().zip(input_grads) {
            match e {
                Edge::None => {}
                Edge::Leaf(t) => {
                    if let Some(ig) = ig {
                        sink.deliver(t, ig)?;
                    } else {
                        sink.skip(t)?;
                    }
                }
                Edge::Node(m) => {
                    let mk = node_key(m);
                    if let Some(ig) = ig {
                        add_into(node_grads.entry(mk).or_default(), ig)?;
                    } else {
                        node_grads.entry(mk).or_default();
                    }
                    let d = deps.entry(mk).or_insert(1);
                    *d -= 1;
                    if *d == 0 {
                        ready.push(m.clone());
                    }
                }
            }
        }
    }
    sink.finish()?;
    Ok(sink.captured)
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
}

impl LeafSink {
    fn deliver(&mut self, t: &Tensor, g: Tensor) -> Result<()> {
        if self.capturing {
            if let Some(&i) = self.capture_leaf.get(&t.id()) {
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
            Some((_, s)) => s.add(&g)?,
            None => g,
        };
        self.partial.insert(t.id(), (t.clone(), sum));
        self.skip(t)
    }

    /// Runs the leaf's hooks on its summed gradient and adds the result into `.grad`.
    fn flush(&mut self, id: usize) -> Result<()> {
        let Some((t, mut g)) = self.partial.remove(&id) else {
            return Ok(());
        };
        let hooks: Vec<_> = t.meta().hooks.iter().map(|(_, h)| h.clone()).collect();
        for h in hooks {
            if let Some(r) = h(&g)? {
                g = r;
            }
        }
        if g.dtype() != t.dtype() {
            g = g.to_dtype(t.dtype())?;
        }
        let mut m = t.meta();
        let prev = m.grad.take();
        m.grad = Some(match prev {
            None => g,
            Some(p) => p.add(&g)?,
        });
        Ok(())
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
            let post: Vec<_> = t.meta().post_hooks.iter().map(|(_, h)| h.clone()).collect();
            for h in post {
                h(t)?;
            }
        }
        Ok(())
    }
}
