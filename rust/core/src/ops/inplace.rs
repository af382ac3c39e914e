//! In-place ops. Without autograd they write straight into the tensor's memory. When autograd is
//! involved, the op is computed out of place (recording its node) and the result is written back,
//! with the tensor "rebased" onto the new node, as PyTorch does.

use crate::autograd::{
    edge_of, is_grad_enabled, record_differentiable, record_edges, Node, Provenance, Saved,
};
use crate::layout::Layout;
use crate::ops::binary::BinaryOp;
use crate::ops::copy::{cast_raw, fill_raw, write_into};
use crate::ops::unary::{unary_backward, unary_raw, UnaryOp};
use crate::ops::unary_graph::unary_backward_graph;
use crate::{bail, DType, Result, Tensor};
use std::sync::Arc;

fn can_cast(from: DType, to: DType) -> bool {
    from.category() <= to.category()
}

impl Tensor {
    /// Refuses to write into an expanded view (stride 0 over a dim longer than 1): several of
    /// its elements share one memory location, so a write races with itself and gives
    /// order-dependent values. Refuses too to write into an inference tensor outside inference
    /// mode, as PyTorch does (what it was computed from may have had no version counter).
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_not_inference()?;
        let l = self.layout();
        // (An empty tensor has no element to share: NumPy gives empty arrays zero strides.)
        if !l.shape.contains(&0)
            && l.shape
                .iter()
                .zip(&l.strides)
                .any(|(&n, &s)| n > 1 && s == 0)
        {
            bail!(
                Value,
                "unsupported operation: more than one element of the written-to tensor (shape \
                 {:?}, strides {:?}) refers to a single memory location, as in an expand()ed \
                 view; clone() the tensor before the in-place operation",
                l.shape,
                l.strides
            );
        }
        Ok(())
    }

    /// Refuses to write into an inference tensor outside inference mode.
    pub(crate) fn check_not_inference(&self) -> Result<()> {
        if self.is_inference() && !crate::autograd::is_inference_mode() {
            bail!(
                Autograd,
                "Inplace update to inference tensor outside InferenceMode is not allowed: \
                 clone() it first (shape {:?})",
                self.shape()
            );
        }
        Ok(())
    }

    fn check_inplace_allowed(&self, result_requires_grad: bool) -> Result<()> {
        self.check_writable()?;
        if !is_grad_enabled() {
            return Ok(());
        }
        if self.requires_grad() && self.is_leaf() {
            bail!(
                Autograd,
                "a leaf tensor that requires grad is being used in an in-place operation; wrap it in \
                 `with dm.no_grad():` (shape {:?})",
                self.shape()
            );
        }
        self.check_no_grad_view()?;
        if (result_requires_grad || self.requires_grad())
            && self.is_view()
            && self.rebasable_view().is_none()
        {
            bail!(
                Autograd,
                "in-place modification of this view of a tensor that requires grad is not \
                 supported (its base has gaps, it was detached, or elements overlap); \
                 modify the base tensor or clone() the view first (shape {:?})",
                self.shape()
            );
        }
        Ok(())
    }

    /// With grad mode on, refuses a write into a view that does not require grad of a base that
    /// does: one made under `no_grad`. The write would change the base behind autograd's back
    /// (its graph never sees it), so PyTorch refuses it.
    fn check_no_grad_view(&self) -> Result<()> {
        if is_grad_enabled()
            && !self.requires_grad()
            && self.view_base().is_some_and(Tensor::requires_grad)
        {
            bail!(
                Autograd,
                "A view was created in no_grad mode and is being modified inplace with grad mode \
                 enabled. This view is the output of a function that returns a view of a tensor \
                 that requires grad; modify it inside `with dm.no_grad():` as well, or clone() \
                 it first (shape {:?})",
                self.shape()
            );
        }
        Ok(())
    }

    /// For a view whose in-place modification can be expressed on its base: the base, the
    /// order of the base's dims from outermost to innermost in memory (the identity for a
    /// contiguous base; a transposed or channels-last base is a permutation of a contiguous
    /// one), and this view's layout relative to the base's storage in that order. Any view
    /// without overlapping elements inside a base with no gaps qualifies.
    fn rebasable_view(&self) -> Option<Rebase> {
        let base = self.view_base()?.clone();
        let bl = base.layout().clone();
        let l = self.layout();
        let identity = (0..bl.ndim()).collect();
        if l.shape.contains(&0) {
            // An empty view covers nothing: writing it leaves any base as it is.
            let rel = Layout {
                shape: l.shape.clone(),
                strides: l.strides.clone(),
                offset: 0,
            };
            return Some(Rebase {
                base,
                order: identity,
                rel,
            });
        }
        let order = if bl.is_contiguous() {
            identity
        } else {
            bl.dense_permutation()?
        };
        let overlapping = l
            .shape
            .iter()
            .zip(&l.strides)
            .any(|(&n, &s)| n > 1 && s == 0);
        if overlapping || l.offset < bl.offset {
            return None;
        }
        let rel = Layout {
            shape: l.shape.clone(),
            strides: l.strides.clone(),
            offset: l.offset - bl.offset,
        };
        let (_, end) = rel.span();
        (end <= base.numel()).then_some(Rebase { base, order, rel })
    }

    /// `result` as it is written into this tensor: its shape (broadcast) and dtype. Of the
    /// same shape it is kept as it is, so its own node becomes this tensor's `grad_fn` (`y += 1`
    /// shows AddBackward0, as PyTorch's), not an alias node of an `expand`.
    fn written_form(&self, result: &Tensor) -> Result<Tensor> {
        let r = if result.shape() == self.shape() {
            result.clone()
        } else {
            result.expand(self.shape())?
        };
        r.to_dtype(self.dtype())
    }

    /// In-place write into a view under autograd (PyTorch's "CopySlices"): the base gets the new
    /// history `base[view] = result`, and the view becomes a view of that new base.
    fn assign_view_(&self, result: &Tensor) -> Result<()> {
        let Some(Rebase { base, order, rel }) = self.rebasable_view() else {
            bail!(
                Autograd,
                "internal: in-place write into a view without a usable base (shape {:?})",
                self.shape()
            );
        };
        let r = self.written_form(result)?;
        // The write is replayed on the base seen in memory order (contiguous), where the view's
        // own strides address it, and the result is permuted back to the base's dims.
        let (to_memory, to_base) = permutations(&order);
        let region = rel.clone();
        let new_base = base
            .permute(&to_memory)?
            .view_assign(&move |b: &Tensor| Ok(b.with_layout(region.clone())), &r)?;
        base.assign_(&new_base.permute(&to_base)?)?;
        // Re-derive this view from the rebased base.
        let (bshape, bdtype) = (base.shape().to_vec(), base.dtype());
        let memory_shape: Vec<usize> = order.iter().map(|&d| bshape[d]).collect();
        let hook = record_differentiable(self.detach(), "AsStridedBackward", &[&base], move |g| {
            let z = Tensor::full_on(&memory_shape, 0.0, bdtype, g.device())?;
            let z = if is_grad_enabled() {
                // `create_graph=True`: the same placement, recorded (a set-item).
                let region = rel.clone();
                let place = move |b: &Tensor| Ok(b.with_layout(region.clone()));
                z.view_assign(&place, g)?
            } else {
                write_into(&z.with_layout(rel.clone()), g)?;
                z
            };
            Ok(vec![Some(z.permute(&to_base)?)])
        });
        self.set_history(hook.requires_grad(), hook.grad_fn());
        Ok(())
    }

    /// Makes `grad_fn` this tensor's history as of its current version (after an in-place
    /// write, so the saved-tensor checks see the write as part of it).
    fn set_history(&self, requires_grad: bool, grad_fn: Option<Arc<Node>>) {
        let old = self.grad_fn();
        let version = self.version();
        {
            let mut m = self.meta();
            m.requires_grad = requires_grad;
            m.grad_fn = grad_fn;
            m.history_version = version;
        }
        self.keep_retained(old);
    }

    /// Gives this tensor the history of `other`, another handle to its memory that an op
    /// which wrote it in place returned (a custom Function's `mark_dirty`): the caller's own
    /// object becomes the op's output, as in PyTorch. Not for views (their base's history
    /// would have to change too: write through `copy_` instead).
    pub fn rebase_history(&self, other: &Tensor) -> Result<()> {
        if !Arc::ptr_eq(self.storage(), other.storage()) || self.is_view() {
            bail!(
                Value,
                "rebase_history: the tensors must be the same (non-view) memory"
            );
        }
        self.set_history(other.requires_grad(), other.grad_fn());
        Ok(())
    }

    /// After an in-place op gave this tensor a new node: a `retain_grad()` made on the old
    /// one moves to it, so `.grad` is the gradient of the tensor's current value (PyTorch's).
    pub(crate) fn keep_retained(&self, old: Option<Arc<Node>>) {
        let (Some(old), Some(new)) = (old, self.grad_fn()) else {
            return;
        };
        if !Arc::ptr_eq(&old, &new) && old.retains(self) {
            old.release_for(self);
            new.retain_for(self);
        }
    }

    /// Writes `result` (broadcast to this shape) into this tensor, rebasing autograd onto it.
    pub fn assign_(&self, result: &Tensor) -> Result<()> {
        if !can_cast(result.dtype(), self.dtype()) {
            bail!(
                DType,
                "result type {} can't be cast to the desired output type {}",
                result.dtype(),
                self.dtype()
            );
        }
        let tracked = is_grad_enabled() && result.requires_grad();
        self.check_inplace_allowed(tracked)?;
        if is_grad_enabled() && (tracked || self.requires_grad()) && self.is_view() {
            return self.assign_view_(result);
        }
        if !tracked {
            write_into(self, result)?;
            if is_grad_enabled() && self.requires_grad() {
                // The old history no longer describes this tensor's value: cut it.
                let mut m = self.meta();
                m.grad_fn = None;
                m.requires_grad = false;
            }
            return Ok(());
        }
        let r = self.written_form(result)?;
        write_into(self, &r.detach())?;
        // Read before locking: `r` may be this very tensor (`t.copy_(t)`).
        let grad_fn = r.grad_fn();
        self.set_history(true, grad_fn);
        Ok(())
    }

    /// `self op= other` straight into this tensor's memory when nothing is recorded and the
    /// operands allow it (see `Backend::binary_inplace`): no temporary and no write-back, as
    /// an optimizer's `p.add_(g, alpha=-lr)` expects. Whether it ran.
    fn binary_inplace(&self, other: &Tensor, op: BinaryOp, alpha: f64) -> Result<bool> {
        let recorded = is_grad_enabled() && (self.requires_grad() || other.requires_grad());
        let dt = self.dtype();
        // A number (0-d) takes the float tensor's dtype, as type promotion would.
        let number;
        let other = if !recorded
            && other.ndim() == 0
            && other.dtype() != dt
            && other.device() == self.device()
            && matches!(dt, DType::F32 | DType::F64)
        {
            number = other.to_dtype(dt)?;
            &number
        } else {
            other
        };
        // The backend takes the layouts it can write in place (rows of a view included).
        let fits = !recorded
            && matches!(dt, DType::F32 | DType::F64 | DType::BF16)
            && other.dtype() == dt
            && other.device() == self.device()
            && ((other.ndim() == 0 && other.numel() == 1) || other.shape() == self.shape());
        // (`x += x` and other views of one buffer take the out-of-place path.)
        if !fits || Arc::ptr_eq(self.storage(), other.storage()) {
            return Ok(false);
        }
        self.check_writable()?;
        self.check_no_grad_view()?;
        crate::backend::of(self).binary_inplace(self, other, op, alpha)
    }

    pub fn add_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        if self.binary_inplace(other, BinaryOp::Add, alpha)? {
            return Ok(());
        }
        self.assign_(&self.add_scaled(other, alpha)?)
    }
    pub fn sub_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        // (before the fast path, which would turn a bool number into the tensor's float)
        crate::ops::binary::refuse_bool_sub(self, other)?;
        if self.binary_inplace(other, BinaryOp::Add, -alpha)? {
            return Ok(());
        }
        self.assign_(&self.add_scaled(other, -alpha)?)
    }
    /// The value of `self` to compute an in-place op from. When the op is recorded, its backward
    /// may save that input, which the write-back is about to overwrite: like PyTorch's
    /// `original_self`, it then works on a (differentiable) copy.
    fn original_self(&self, other: Option<&Tensor>) -> Result<Tensor> {
        let tracked =
            is_grad_enabled() && (self.requires_grad() || other.is_some_and(|o| o.requires_grad()));
        if tracked {
            self.check_inplace_allowed(true)?;
            self.deep_clone()
        } else {
            Ok(self.clone())
        }
    }

    pub fn mul_(&self, other: &Tensor) -> Result<()> {
        if self.binary_inplace(other, BinaryOp::Mul, 1.0)? {
            return Ok(());
        }
        self.assign_(&self.original_self(Some(other))?.mul(other)?)
    }
    pub fn div_(&self, other: &Tensor) -> Result<()> {
        if self.binary_inplace(other, BinaryOp::Div, 1.0)? {
            return Ok(());
        }
        self.assign_(&self.original_self(Some(other))?.div(other)?)
    }
    /// In-place ReLU, written straight into this tensor.
    pub fn relu_(&self) -> Result<()> {
        self.sign_preserving_(UnaryOp::Relu)
    }
    /// In-place leaky ReLU. Under autograd the slope must not be negative: the backward reads
    /// the input's sign from the output, which a negative slope flips (PyTorch refuses it too).
    pub fn leaky_relu_(&self, slope: f64) -> Result<()> {
        if slope < 0.0 && is_grad_enabled() && self.requires_grad() {
            bail!(
                Value,
                "in-place leaky_relu backward is not supported with a negative slope \
                 ({slope}); use the out-of-place leaky_relu"
            );
        }
        self.sign_preserving_(UnaryOp::LeakyRelu { slope })
    }

    /// An activation whose output has its input's sign (ReLU, leaky ReLU with a slope >= 0),
    /// in place. Its derivative at `x` equals its derivative at `f(x)`, so when recorded the
    /// backward reads the output left in this tensor's memory, as PyTorch's `relu_` saves its
    /// result: no copy of the input is kept (`original_self` would clone it).
    fn sign_preserving_(&self, op: UnaryOp) -> Result<()> {
        let tracked = is_grad_enabled() && self.requires_grad() && self.dtype().is_float();
        if !tracked {
            self.check_inplace_allowed(false)?;
            return write_into(self, &unary_raw(self, op)?);
        }
        self.check_inplace_allowed(true)?;
        if self.is_view() {
            // The base's history must be rebased too (`assign_view_`).
            return self.assign_(&self.deep_clone()?.apply_unary(op)?);
        }
        let (edge, old) = (edge_of(self), self.grad_fn());
        write_into(self, &unary_raw(self, op)?)?;
        let out = Saved::output(self)?;
        // `record_edges` gives this tensor (it shares the meta) the new history.
        record_edges(
            self.clone(),
            op.name(),
            Provenance::Opaque,
            vec![edge],
            move |g| {
                if is_grad_enabled() {
                    let y = out.get_graph()?;
                    return Ok(vec![Some(unary_backward_graph(op, &y, g)?)]);
                }
                Ok(vec![Some(unary_backward(op, out.get()?, g)?)])
            },
        );
        self.keep_retained(old);
        Ok(())
    }
    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> Result<()> {
        self.assign_(&self.original_self(None)?.clamp(min, max)?)
    }
    /// `clamp_` to tensor bounds (broadcast against `self`, promoted as PyTorch's `maximum` and
    /// `minimum`; a result `self`'s dtype cannot hold is refused, as in every in-place op).
    pub fn clamp_tensors_(&self, min: Option<&Tensor>, max: Option<&Tensor>) -> Result<()> {
        let tracked = [min, max].into_iter().flatten().find(|b| b.requires_grad());
        let mut out = self.original_self(tracked)?;
        if let Some(lo) = min {
            out = out.maximum(lo)?;
        }
        if let Some(hi) = max {
            out = out.minimum(hi)?;
        }
        self.assign_(&out)
    }
    /// Copies `src` (broadcast, cast, and moved across devices as in PyTorch) into this tensor.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        let moved;
        let src = if src.device() == self.device() {
            src
        } else {
            moved = src.to_device(self.device())?;
            &moved
        };
        crate::layout::broadcast_shapes(src.shape(), self.shape()).and_then(|s| {
            if s != self.shape() {
                bail!(
                    Shape,
                    "copy_: source of shape {:?} cannot be broadcast to {:?}",
                    src.shape(),
                    self.shape()
                );
            }
            Ok(())
        })?;
        // (An integer or bool tensor takes the values only: it cannot carry a gradient.)
        let recorded = is_grad_enabled() && (src.requires_grad() || self.requires_grad());
        if recorded && self.dtype().is_float() {
            // A node of its own (PyTorch's CopyBackwards): the gradient goes to `src`, summed
            // over the broadcast dims, and none to the old values. Assigning `src` itself would
            // give `self` the history of `src`, or none at all when `src` is a leaf.
            let (src_shape, src_dt) = (src.shape().to_vec(), src.dtype());
            let copied = cast_raw(&src.expand(self.shape())?, self.dtype())?;
            let copied = crate::autograd::record_differentiable(
                copied,
                "CopyBackwards",
                &[self, src],
                move |g| {
                    let to_src = g.sum_to_shape(&src_shape)?.to_dtype(src_dt)?;
                    Ok(vec![Some(g.zeros_like()?), Some(to_src)])
                },
            );
            return self.assign_(&copied);
        }
        self.check_inplace_allowed(false)?;
        write_into(self, src)?;
        if is_grad_enabled() && self.requires_grad() {
            let mut m = self.meta();
            m.grad_fn = None;
            m.requires_grad = false;
        }
        Ok(())
    }

    pub fn fill_(&self, value: f64) -> Result<()> {
        self.fill_as_(value, "FillBackward")
    }

    /// `fill_`, its node (when recorded) named `node` (PyTorch tells `zero_` from `fill_`).
    fn fill_as_(&self, value: f64, node: &'static str) -> Result<()> {
        let recorded = is_grad_enabled() && self.requires_grad();
        if !recorded && !self.expanded_dims().is_empty() {
            // One constant into an expanded view: allowed, each location written once.
            self.check_not_inference()?;
            self.check_no_grad_view()?;
            return self.fill_shared_(value);
        }
        self.check_inplace_allowed(false)?;
        if is_grad_enabled() && self.requires_grad() {
            // The constant, recorded as a function of the old values with a zero derivative
            // (PyTorch's FillBackward); `self * 0 + value` kept NaN and inf (NaN * 0 = NaN).
            let filled = Tensor::full_on(self.shape(), value, self.dtype(), self.device())?;
            let dtype = self.dtype();
            let filled = crate::autograd::record_differentiable(filled, node, &[self], move |g| {
                Ok(vec![Some(g.zeros_like()?.to_dtype(dtype)?)])
            });
            return self.assign_(&filled);
        }
        fill_raw(self, value)
    }

    pub fn zero_(&self) -> Result<()> {
        self.fill_as_(0.0, "ZeroBackward")
    }

    /// Out-of-place "set a view": returns a copy of `self` whose region selected by `make_view`
    /// holds `value`, differentiable with respect to both (backs `t[key] = value`).
    pub fn view_assign(
        &self,
        make_view: &dyn Fn(&Tensor) -> Result<Tensor>,
        value: &Tensor,
    ) -> Result<Tensor> {
        let out = cast_raw(self, self.dtype())?;
        let v = make_view(&out)?.detach();
        let vl = v.layout().clone();
        write_into(&v, value)?;
        let vshape = value.shape().to_vec();
        let vdt = value.dtype();
        let out_shape = out.shape().to_vec();
        Ok(crate::autograd::record_differentiable(
            out,
            "SetItemBackward",
            &[self, value],
            move |g| {
                if crate::autograd::is_grad_enabled() {
                    // `create_graph=True`: the same split in recorded ops (a constant mask for
                    // `self`, a gather of the region for `value`).
                    let (gs, gv) = set_item_backward_recorded(g, &vl, &out_shape)?;
                    let gv = gv.sum_to_shape(&vshape)?.to_dtype(vdt)?;
                    return Ok(vec![Some(gs), Some(gv)]);
                }
                let gc = cast_raw(g, g.dtype())?;
                let region = gc.with_layout(vl.clone());
                let gv = cast_raw(&region, g.dtype())?;
                fill_raw(&region, 0.0)?;
                let gv = gv.sum_to_shape(&vshape)?.to_dtype(vdt)?;
                Ok(vec![Some(gc), Some(gv)])
            },
        ))
    }
}

/// How an in-place write into a view is replayed on its base (see `rebasable_view`).
struct Rebase {
    base: Tensor,
    order: Vec<usize>,
    rel: Layout,
}

/// For `order` (a base's dims, outermost in memory first): the `permute` dims that lay the base
/// out in memory order, and those that bring such a tensor back to the base's dims.
fn permutations(order: &[usize]) -> (Vec<isize>, Vec<isize>) {
    let mut back = vec![0isize; order.len()];
    for (i, &d) in order.iter().enumerate() {
        back[d] = i as isize;
    }
    (order.iter().map(|&d| d as isize).collect(), back)
}

/// `SetItemBackward`'s split of `g` (shaped `shape`, contiguous positions) as recorded ops: zero
/// over the region `region` covers for the tensor written into, and the region itself for the
/// value written.
fn set_item_backward_recorded(
    g: &Tensor,
    region: &crate::layout::Layout,
    shape: &[usize],
) -> Result<(Tensor, Tensor)> {
    let n = crate::layout::checked_numel(shape)?;
    let at: Vec<usize> = region.offsets().collect();
    let mut keep = vec![1.0f64; n];
    for &i in &at {
        keep[i] = 0.0;
    }
    let keep = Tensor::from_vec(keep, shape)?
        .to_dtype(g.dtype())?
        .to_device(g.device())?;
    let index = Tensor::from_vec(at.iter().map(|&i| i as i64).collect(), &[at.len()])?
        .to_device(g.device())?;
    let region_shape: Vec<isize> = region.shape.iter().map(|&d| d as isize).collect();
    let gv = g
        .reshape(&[-1])?
        .index_select(0, &index)?
        .reshape(&region_shape)?;
    Ok((g.mul(&keep)?, gv))
}
