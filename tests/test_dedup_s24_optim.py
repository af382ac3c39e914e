"""``optim._common.hyperparameters(init, locals(), order)``: the one call that reads an
optimizer's group defaults from its signature and puts them in PyTorch's ``defaults`` order
(the orders below are torch 2.x's, checked against it once; Adadelta, NAdam, RAdam, Rprop and
Adam are pinned in test_optim_parity_torch_s20.py)."""

from __future__ import annotations

from typing import Any, Optional

import pytest

import democratising as dm
from democratising import optim
from democratising.optim._common import hyperparameters

ORDERS = {
    "RMSprop": "lr momentum alpha eps centered weight_decay capturable foreach maximize "
    "differentiable",
    "Adagrad": "lr lr_decay eps weight_decay initial_accumulator_value foreach maximize "
    "differentiable fused",
    "AdamW": "lr betas eps weight_decay amsgrad maximize foreach capturable differentiable fused "
    "decoupled_weight_decay",
}


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_group_keys_in_torchs_order(name: str) -> None:
    opt = getattr(optim, name)([dm.zeros(3, requires_grad=True)])
    assert list(opt.defaults) == ORDERS[name].split()
    assert [k for k in opt.param_groups[0] if k != "params"] == ORDERS[name].split()


def _init(
    self: Any, params: Any, lr: float = 0.1, eps: float = 1e-8, foo: Optional[int] = None
) -> None:
    return None


def test_hyperparameters_signature_order_or_given_order() -> None:
    scope = {"self": None, "params": [], "lr": 0.5, "eps": 1e-3, "foo": 7, "other": "x"}
    assert list(hyperparameters(_init, scope).items()) == [("lr", 0.5), ("eps", 1e-3), ("foo", 7)]
    got = hyperparameters(_init, scope, "foo lr eps")
    assert list(got.items()) == [("foo", 7), ("lr", 0.5), ("eps", 1e-3)]


@pytest.mark.parametrize("order", ["lr eps", "lr eps foo bar"])
def test_hyperparameters_order_must_name_every_one(order: str) -> None:
    scope = {"lr": 0.5, "eps": 1e-3, "foo": 7}
    with pytest.raises(AssertionError, match="must name every hyperparameter"):
        hyperparameters(_init, scope, order)


def test_cuda_amp_grad_scaler_refuses_unknown_keywords() -> None:
    # torch.cuda.amp.GradScaler's signature has no **kwargs: a misspelt keyword is a TypeError,
    # not silently dropped (it was swallowed here before).
    with pytest.raises(TypeError, match="growth_intervall"):
        dm.cuda.amp.GradScaler(growth_intervall=3)
