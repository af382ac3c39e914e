"""Engine behaviours settled in session 26, with PyTorch 2.15's values as constants: shapes as
``dm.Size``, views regenerated after their base changed in place (also to second order), and
the dtype refusals PyTorch makes."""

from __future__ import annotations

import copy
import pickle

import pytest

import democratising as dm


def test_shape_and_size_are_size_tuples() -> None:
    x = dm.ones(2, 3)
    for s in (x.shape, x.size()):
        assert isinstance(s, dm.Size) and isinstance(s, tuple)
        assert s == (2, 3) and s.numel() == 6
        assert repr(s) == "democratising.Size([2, 3])"
        assert pickle.loads(pickle.dumps(s)) == s and isinstance(copy.deepcopy(s), dm.Size)
    assert x.size(1) == 3 and type(x.size(1)) is int
    assert tuple(x.stride()) == (3, 1) and not isinstance(x.stride(), dm.Size)
    assert dm.zeros(x.shape).shape == (2, 3) and dm.tensor(1.0).shape == ()


def test_view_regenerated_after_base_in_place_to_second_order() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], dtype=dm.float64, requires_grad=True)
    y = x * 1
    z = y[1:]
    y.mul_(x)  # z now reads x**2 at positions 1, 2
    (g,) = dm.autograd.grad((z**3).sum(), x, create_graph=True)
    (g2,) = dm.autograd.grad(g.sum(), x)
    assert g.tolist() == [0.0, 192.0, 1458.0]  # 6 x**5
    assert g2.tolist() == [0.0, 480.0, 2430.0]  # 30 x**4


def test_view_regenerated_after_a_detached_write() -> None:
    """A write through a detached alias bumps the shared version; the regenerated view reads
    its base's unchanged history, as PyTorch's ([0, 1, 1])."""
    x = dm.ones(3, requires_grad=True)
    y = x * 1
    z = y[1:]
    y.detach().mul_(2)
    z.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("call", "err"),
    [
        (lambda: dm.ones(1, 4).squeeze(0, 0), "multiple times"),
        (lambda: dm.tensor(1.0).flatten(0, 1), "out of range"),
        (lambda: dm.tensor(1.0).transpose(1, 0), "out of range"),
        (lambda: dm.ones(2).masked_fill(dm.tensor([True, False]), dm.ones(1)), "0-dimensional"),
    ],
)
def test_shape_argument_checks(call: object, err: str) -> None:
    with pytest.raises(RuntimeError, match=err):
        call()  # type: ignore[operator]


def test_squeeze_takes_dims_as_varargs() -> None:
    assert dm.zeros(1, 3, 1).squeeze(0, 2).shape == (3,)
    assert dm.zeros(1, 3, 1).squeeze(dim=(0, 2)).shape == (3,)
    with pytest.raises(TypeError):
        dm.zeros(1, 3, 1).squeeze(0, dim=2)


def test_polygamma_at_poles() -> None:
    x = dm.tensor([0.0, -1.0], dtype=dm.float64)
    assert x.polygamma(1).tolist() == [float("inf")] * 2
    assert x.polygamma(2).tolist() == [float("-inf")] * 2
    assert dm.special.polygamma(2, x).tolist() == [float("-inf")] * 2


def test_node_hooks_carry_python_exceptions_and_check_their_results() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = x * x

    def boom(gi: tuple[object, ...], go: tuple[object, ...]) -> None:
        raise KeyError("from the hook")

    with y.grad_fn.register_hook(boom), pytest.raises(KeyError, match="from the hook"):
        y.sum().backward(retain_graph=True)
    # (the handle's block removed it) a wrong count of gradients is a typed error
    with (
        y.grad_fn.register_prehook(lambda go: (go[0], go[0])),
        pytest.raises(dm.AutogradError, match="expected 1"),
    ):
        y.sum().backward(retain_graph=True)
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    assert isinstance(y.grad_fn, dm.autograd.graph.Node)
    assert y.grad_fn.metadata is y.grad_fn.metadata
