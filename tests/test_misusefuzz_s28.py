"""Session 28 misuse fuzz: a new user's mistakes with losses, optimizers, data loading and metrics
get a typed exception (the built-in PyTorch raises, via ``democratising.errors``) and lose
nothing: after the error the parameters, gradients and optimizer state are what they were, and
the objects still work. Expected values come from PyTorch 2.x, run side by side when the tests
were written."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import metrics, nn, optim
from democratising.data import DataLoader, TensorDataset
from democratising.errors import (
    ArgumentTypeError,
    DemocratisingError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)

# ---- helpers -------------------------------------------------------------------------------------


def _np(t: dm.Tensor) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def _snapshot(opt: optim.Optimizer, params: list[dm.Tensor]) -> dict[str, Any]:
    """Everything "loses nothing" compares: values, gradients and the optimizer's state dict
    (tensors as arrays)."""
    sd = opt.state_dict()
    state = {
        i: {k: _np(v) if isinstance(v, dm.Tensor) else v for k, v in s.items()}
        for i, s in sd["state"].items()
    }
    return {
        "params": [_np(p) for p in params],
        "grads": [None if p.grad is None else _np(p.grad) for p in params],
        "state": state,
        "groups": copy.deepcopy(sd["param_groups"]),
    }


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert len(a["params"]) == len(b["params"])
    for x, y in zip(a["params"], b["params"]):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a["grads"], b["grads"]):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        for k, v in a["state"][i].items():
            w = b["state"][i][k]
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, w)
            else:
                assert v == w, (i, k)
    assert a["groups"] == b["groups"]


def _no_panic(e: BaseException) -> None:
    """The error came from Python's side of the boundary, not a Rust panic."""
    assert "Panic" not in type(e).__name__
    assert "panicked at" not in str(e)


# ---- losses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "exc"),
    [
        ([0, 3, 1, 1], IndexError),  # == C (PyTorch: IndexError "Target 3 is out of bounds.")
        ([0, -1, 1, 1], IndexError),  # negative, not the ignore_index
        ([0, 2, 1, 1], None),
    ],
)
@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss, nn.NLLLoss])
def test_class_index_losses_refuse_bad_labels_and_leave_the_graph_usable(loss, labels, exc):
    dm.manual_seed(0)
    model = nn.Linear(5, 3)
    x = dm.randn(4, 5)
    before = [_np(p) for p in model.parameters()]
    target = dm.tensor(labels)
    if exc is None:
        loss()(model(x), target).backward()
        return
    with pytest.raises(exc) as e:
        loss()(model(x), target)
    assert isinstance(e.value, IndexOutOfRangeError)
    _no_panic(e.value)
    assert all(p.grad is None for p in model.parameters())
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, _np(p))
    # the same module and model still train on good labels
    loss()(model(x), dm.tensor([0, 2, 1, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("make", "exc"),
    [
        # class-index targets of a float dtype (PyTorch: RuntimeError "expected ... Long")
        (lambda: F.nll_loss(dm.randn(4, 3), dm.tensor([0.0, 1.0, 2.0, 1.0])), DTypeError),
        # class probabilities of the wrong width
        (lambda: F.cross_entropy(dm.randn(4, 3), dm.full((4, 2), 0.5)), ShapeError),
        # per-class weight of the wrong length
        (
            lambda: F.cross_entropy(dm.randn(4, 3), dm.tensor([0, 1, 2, 1]), weight=dm.ones(2)),
            ShapeError,
        ),
        # batch sizes that differ (PyTorch: ValueError)
        (lambda: F.cross_entropy(dm.randn(4, 3), dm.tensor([0, 1, 2])), ShapeError),
        # integer logits (PyTorch: NotImplementedError for 'Long'; a TypeError here)
        (
            lambda: F.cross_entropy(dm.ones(4, 3, dtype=dm.int64), dm.tensor([0, 1, 2, 1])),
            TypeError,
        ),
        # unknown reduction (PyTorch: ValueError)
        (lambda: F.mse_loss(dm.randn(3), dm.randn(3), reduction="bogus"), ValueError),
        (lambda: nn.CTCLoss(reduction="bogus"), ValueError),
        # shapes that do not broadcast
        (lambda: F.l1_loss(dm.randn(4, 3), dm.randn(4, 2)), ShapeError),
    ],
)
def test_loss_misuse_raises_typed_errors(make, exc):
    with pytest.raises(exc) as e:
        make()
    assert isinstance(e.value, DemocratisingError)
    _no_panic(e.value)


def test_zero_size_batches_give_pytorchs_values():
    # PyTorch: mean over no samples is nan, a sum is 0; neither raises.
    empty_x, empty_y = dm.randn(0, 3), dm.tensor([], dtype=dm.int64)
    assert np.isnan(F.cross_entropy(empty_x, empty_y).item())
    assert F.cross_entropy(empty_x, empty_y, reduction="sum").item() == 0.0
    assert tuple(F.nll_loss(empty_x, empty_y, reduction="none").shape) == (0,)


def test_triplet_distance_function_returning_a_number_is_a_type_error():
    x = dm.randn(4, 3)
    loss = nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: 1.0)
    with pytest.raises(TypeError, match="distance_function <lambda> must return a Tensor"):
        loss(x, x, x)
    good = nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: (a - b).abs().sum(1))
    assert good(x, x, x).item() == pytest.approx(1.0)  # margin 1, zero distances


def test_nll_loss_ignore_index_past_the_classes_is_ignored():
    # PyTorch ignores target 3 == ignore_index == C; cross_entropy here already does.
    logp = F.log_softmax(dm.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), 1)
    want = -logp[0, 1].item()
    got = F.nll_loss(logp, dm.tensor([1, 3]), ignore_index=3)
    assert got.item() == pytest.approx(want, rel=1e-6)


# ---- optimizers: constructor mistakes ------------------------------------------------------------


def _params() -> list[dm.Tensor]:
    return [nn.Parameter(dm.ones(3, 2)), nn.Parameter(dm.zeros(2))]


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda ps: optim.SGD(ps, lr="0.1"), TypeError, r"lr must be a number, got str"),
        (lambda ps: optim.Adam(ps, lr=None), TypeError, r"lr must be a number"),
        (lambda ps: optim.Adam(ps, eps="1e-8"), TypeError, r"eps must be a number"),
        (lambda ps: optim.Adam(ps, betas=0.9), TypeError, r"betas must be a pair"),
        (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), ValueError, r"index 0: 1.0"),
        (lambda ps: optim.AdamW(ps, weight_decay=-1), ValueError, r"weight_decay value: -1"),
        (lambda ps: optim.SGD(ps, lr=-0.1), ValueError, r"Invalid learning rate: -0.1"),
        (lambda ps: optim.SGD([ps[0] * 2], lr=0.1), ValueError, r"non-leaf"),
        (lambda ps: optim.SGD([{"params": [ps[0]]}, {"params": ps}]), ValueError, "more than one"),
        (lambda ps: optim.SGD([], lr=0.1), ValueError, r"empty parameter list"),
    ],
)
def test_optimizer_constructor_misuse(make, exc, match):
    ps = _params()
    with pytest.raises(exc, match=match) as e:
        make(ps)
    assert isinstance(e.value, DemocratisingError)
    # the parameters are untouched and still optimizable
    np.testing.assert_array_equal(_np(ps[0]), np.ones((3, 2)))
    opt = optim.Adam(ps, betas=dm.tensor([0.9, 0.99]))  # a 2-element tensor is still a pair
    for p in ps:
        p.grad = dm.ones_like(p)
    opt.step()
    np.testing.assert_allclose(_np(ps[0]), np.full((3, 2), 1 - 1e-3), rtol=1e-5)


def test_a_generator_of_parameters_consumed_twice():
    model = nn.Linear(3, 2)
    gen = model.parameters()
    optim.SGD(gen, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):  # PyTorch's words
        optim.SGD(gen, lr=0.1)


def test_add_param_group_with_an_overlapping_parameter_changes_nothing():
    a, b = _params()
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    before = copy.deepcopy(opt.state_dict()["param_groups"])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [b, a]})
    assert opt.state_dict()["param_groups"] == before
    opt.add_param_group({"params": [b]})
    assert len(opt.param_groups) == 2


def test_load_state_dict_of_a_path_is_a_type_error_and_changes_nothing():
    ps = _params()
    opt = optim.Adam(ps)
    for p in ps:
        p.grad = dm.ones_like(p)
    opt.step()
    before = _snapshot(opt, ps)
    with pytest.raises(TypeError, match=r"got str \(load the file first\)") as e:
        opt.load_state_dict("checkpoint.pt")
    assert isinstance(e.value, ValueError)  # as every other bad state dict here
    _assert_same(before, _snapshot(opt, ps))


@pytest.mark.parametrize(
    ("mutate", "exc"),
    [
        (lambda sd: sd["param_groups"].append(copy.deepcopy(sd["param_groups"][0])), ValueError),
        (
            lambda sd: sd["param_groups"][0].update(params=sd["param_groups"][0]["params"][:1]),
            ValueError,
        ),
        (lambda sd: sd["state"][1].update(exp_avg=dm.ones(5)), ValueError),
        (lambda sd: sd["state"][1].pop("exp_avg_sq"), KeyError),
    ],
    ids=["group_count", "group_size", "state_shape", "state_key"],
)
def test_bad_optimizer_state_dict_raises_and_changes_nothing(mutate, exc):
    ps = _params()
    opt = optim.Adam(ps)
    src = optim.Adam(_params())
    for o, qs in ((opt, ps), (src, src.param_groups[0]["params"])):
        for p in qs:
            p.grad = dm.ones_like(p)
        o.step()
    sd = src.state_dict()
    mutate(sd)
    before = _snapshot(opt, ps)
    with pytest.raises(exc) as e:
        opt.load_state_dict(sd)
    assert isinstance(e.value, DemocratisingError)
    _assert_same(before, _snapshot(opt, ps))
    opt.step()  # still works


# ---- optimizers: a step the engine refuses -------------------------------------------------------


def _stepped(name: str, **kw: Any) -> tuple[optim.Optimizer, dm.Tensor]:
    p = nn.Parameter(dm.linspace(-1.0, 1.0, 6).reshape(3, 2))
    opt = getattr(optim, name)([p], **kw)
    p.grad = dm.full((3, 2), 0.5)
    opt.step()
    p.grad = dm.full((3, 2), 0.25)
    return opt, p


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("Adam", {}),
        ("AdamW", {}),
        ("RMSprop", {"momentum": 0.9, "centered": True}),
        ("Adagrad", {"lr_decay": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("NAdam", {}),
        ("RAdam", {}),
        ("Adamax", {}),
        ("ASGD", {}),
        ("Adadelta", {}),
        ("Rprop", {}),
    ],
)
def test_a_refused_step_leaves_the_optimizer_as_it_was(name, kw):
    """``model.double()`` after the first step: the float32 moments no longer fit the
    parameter, so the step is refused; the step counts (and NAdam's ``mu_product``, ASGD's
    ``eta``/``mu``) must not have advanced, or every later bias correction is off by one."""
    opt, p = _stepped(name, **kw)
    twin, q = _stepped(name, **kw)
    before = _snapshot(opt, [p])
    p.data = p.data.double()
    p.grad = dm.full((3, 2), 0.25, dtype=dm.float64)
    with pytest.raises(RuntimeError) as e:  # PyTorch's Adam: RuntimeError (dtype mismatch)
        opt.step()
    assert isinstance(e.value, DemocratisingError)
    _no_panic(e.value)
    p.data = p.data.float()
    p.grad = dm.full((3, 2), 0.25)
    _assert_same(before, _snapshot(opt, [p]))
    # ...and the next step is the one an optimizer that never saw the error takes
    opt.step()
    twin.step()
    np.testing.assert_allclose(_np(p), _np(q), rtol=1e-6, atol=1e-7)
    _assert_same(_snapshot(twin, [q]), _snapshot(opt, [p]))


@pytest.mark.parametrize(
    ("name", "kw"),
    [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {}), ("AdamW", {}), ("RMSprop", {})],
)
def test_a_refused_first_step_creates_no_state(name, kw):
    """An integer tensor given to an optimizer (PyTorch fails on it too): the first step is
    refused, and no half-made state (an SGD momentum buffer that a later step would take for
    an initialised one, a step count of 1) is left behind."""
    p = dm.arange(3)
    p.grad = dm.ones(3, dtype=dm.int64)
    opt = getattr(optim, name)([p], **kw)
    with pytest.raises(TypeError) as e:
        opt.step()
    assert isinstance(e.value, DTypeError)
    assert p not in opt.state
    assert opt.state_dict()["state"] == {}
    assert p.tolist() == [0, 1, 2]


def test_adafactor_refusing_a_reshaped_parameter_changes_nothing():
    """Its factored statistics no longer fit a parameter whose shape changed: the step is
    refused before the weight decay, the statistics or the step count are written."""
    opt, p = _stepped("Adafactor", weight_decay=0.1)
    p.data = dm.ones(5, 2)
    p.grad = dm.ones(5, 2)
    before = _snapshot(opt, [p])
    with pytest.raises(ShapeError):
        opt.step()
    _assert_same(before, _snapshot(opt, [p]))


@pytest.mark.parametrize(
    "name", ["SGD", "Adam", "RMSprop", "Adagrad", "NAdam", "RAdam", "ASGD", "Adadelta", "Muon"]
)
def test_a_string_learning_rate_set_mid_training_changes_nothing(name):
    """``group["lr"] = config["lr"]`` with the value still a string: PyTorch's step fails
    with a TypeError; here too, and the step counts have not moved."""
    opt, p = _stepped(name)
    twin, q = _stepped(name)
    before = _snapshot(opt, [p])
    lr = opt.param_groups[0]["lr"]
    opt.param_groups[0]["lr"] = str(lr)
    with pytest.raises(TypeError):
        opt.step()
    opt.param_groups[0]["lr"] = lr
    _assert_same(before, _snapshot(opt, [p]))
    opt.step()
    twin.step()
    np.testing.assert_allclose(_np(p), _np(q), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adagrad", "NAdam"])
def test_a_refused_step_updates_no_parameter_of_the_group(name):
    a, b = nn.Parameter(dm.ones(3, 2)), nn.Parameter(dm.ones(2))
    opt = getattr(optim, name)([a, b], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    a.grad, b.grad = dm.ones(3, 2), dm.ones(2)
    opt.step()
    b.data = dm.ones(5)  # b's state no longer fits it
    a.grad, b.grad = dm.ones(3, 2), dm.ones(5)
    before = _np(a)
    with pytest.raises(ShapeError):
        opt.step()
    np.testing.assert_array_equal(before, _np(a))


def test_a_state_of_another_dtype_is_a_dtype_error():
    opt, p = _stepped("Adam")
    p.data = p.data.double()
    p.grad = dm.ones(3, 2, dtype=dm.float64)
    with pytest.raises(DTypeError):
        opt.step()


def test_a_parameter_cannot_be_its_own_grad():
    p = nn.Parameter(dm.ones(3))
    with pytest.raises(RuntimeError):
        p.grad = p
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(_np(p), np.ones(3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_rprop_survives_one_non_finite_gradient(bad):
    p = nn.Parameter(dm.zeros(2))
    opt = optim.Rprop([p])
    p.grad = dm.tensor([bad, 1.0])
    opt.step()
    # PyTorch 2.x: step sizes [0.01, 0.01]; the NaN element stays at 0 (inf moves by -0.01)
    np.testing.assert_allclose(_np(opt.state[p]["step_size"]), [0.01, 0.01], rtol=1e-6)
    p.grad = dm.tensor([1.0, 1.0])
    opt.step()
    assert np.all(np.isfinite(_np(p)))


@pytest.mark.parametrize(
    ("grad", "exc"),
    [
        (lambda: dm.ones(2, 3), ShapeError),
        (lambda: dm.ones(3, 2, dtype=dm.float64), DTypeError),
        (lambda: dm.ones(3, 2, dtype=dm.int64), DTypeError),
        (lambda: dm.tensor(1.0), ShapeError),
    ],
)
def test_a_wrong_grad_set_by_hand_is_refused_and_the_step_still_works(grad, exc):
    opt, p = _stepped("Adam")
    before = _snapshot(opt, [p])
    with pytest.raises(exc) as e:
        p.grad = grad()
    assert isinstance(e.value, RuntimeError)  # PyTorch raises RuntimeError for all of these
    _assert_same(before, _snapshot(opt, [p]))
    opt.step()


# ---- data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bs", [0, -1, 1.5, "4", True])
def test_batch_size_mistakes_show_the_value_given(bs):
    with pytest.raises(ValueError, match=rf"batch_size={bs!r}$"):
        DataLoader(TensorDataset(dm.arange(4)), batch_size=bs)


def test_tensor_dataset_of_a_list_or_a_scalar():
    with pytest.raises(AttributeError, match="argument 1 is a list") as e:  # PyTorch's type
        TensorDataset(dm.ones(3), [1, 2, 3])
    assert isinstance(e.value, TypeError)
    with pytest.raises(IndexError, match="argument 0 is 0-d") as e2:  # PyTorch's type
        TensorDataset(dm.tensor(1.0))
    assert isinstance(e2.value, ShapeError)


class _Failing:
    """A dataset whose third sample cannot be read."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> float:
        if i == 2:
            raise self.exc
        return float(i)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("exc", [KeyError("k"), ZeroDivisionError("z"), OSError("disk")])
def test_a_worker_error_surfaces_with_its_own_type_and_the_loader_still_works(exc, workers):
    loader = DataLoader(_Failing(exc), batch_size=2, num_workers=workers)
    with pytest.raises(type(exc)):
        list(loader)
    ok = DataLoader(_Failing(exc), batch_size=2, num_workers=workers, sampler=[0, 1, 3])
    assert [b.tolist() for b in ok] == [[0.0, 1.0], [3.0]]


def test_ragged_samples_name_their_shapes():
    with pytest.raises(ShapeError, match=r"\[1\] at entry 0 and \[2\] at entry 1"):
        list(DataLoader([dm.ones(1), dm.ones(2)], batch_size=2))


# ---- metrics -------------------------------------------------------------------------------------


def _fed(metric: metrics.Metric) -> metrics.Metric:
    metric.update(
        dm.tensor([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0]]), dm.tensor([0, 1, 1])
    )
    return metric


@pytest.mark.parametrize(
    ("make", "preds", "target", "exc"),
    [
        (lambda: metrics.Accuracy(num_classes=3, top_k=2), dm.randn(3, 5), [0, 1, 2], ShapeError),
        (lambda: metrics.Accuracy(num_classes=3), dm.randn(3, 5), [0, 1, 2], ShapeError),
        (lambda: metrics.Accuracy(num_classes=3), dm.randn(4, 3), [0, 1, 2], ShapeError),
        (lambda: metrics.F1Score(num_classes=3), dm.randn(3, 3), [0, 3, 1], InvalidValueError),
        (lambda: metrics.Accuracy(num_classes=3), [[1, 2], [3]], [0, 1], ShapeError),
        (lambda: metrics.ConfusionMatrix(num_classes=3), None, [0, 1], ArgumentTypeError),
    ],
)
def test_metric_misuse_raises_and_keeps_what_was_accumulated(make, preds, target, exc):
    metric = _fed(make())
    before = metric.compute()
    with pytest.raises(exc):
        metric.update(preds, dm.tensor(target))
    after = metric.compute()
    np.testing.assert_array_equal(np.asarray(before), np.asarray(after))


def test_perplexity_shape_error_shows_the_shapes_as_given():
    ppl = metrics.Perplexity()
    with pytest.raises(ShapeError, match=r"logits of shape \(2, 3, 5\) do not fit targets of "):
        ppl.update(dm.randn(2, 3, 5), dm.randint(0, 5, (2, 4)))
    ppl.update(dm.zeros(2, 3, 5), dm.randint(0, 5, (2, 3)))
    assert ppl.compute() == pytest.approx(5.0)  # uniform logits over 5 tokens


@pytest.mark.parametrize("metric", [metrics.Accuracy, metrics.F1Score, metrics.Precision])
def test_a_threshold_outside_0_1_is_refused(metric):
    # torchmetrics: ValueError; a threshold of 2 on probabilities would predict one class only
    with pytest.raises(ValueError, match=r"threshold must be a float in \[0, 1\], got 2"):
        metric(num_classes=2, threshold=2)
    with pytest.raises(TypeError, match=r"got '0\.5'"):
        metric(num_classes=2, threshold="0.5")
    assert metric(num_classes=2, threshold=np.float32(0.25)).threshold == 0.25
