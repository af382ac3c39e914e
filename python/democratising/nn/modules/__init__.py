"""``democratising.nn.modules``: PyTorch's module paths (``nn.modules.linear.Linear``,
``nn.modules.conv.Conv2d``, ``nn.modules.batchnorm._BatchNorm``, ``nn.modules.utils._pair``...)
for code that imports layers from them. The layers live in a few files here (``nn.layers``,
``nn.conv``...); each of PyTorch's submodule names is a module that holds every public layer,
so any ``from torch.nn.modules.<name> import <Layer>`` of a layer we have resolves."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any, Callable

from ..._module_paths import path_module
from .. import _names_for_modules
from .. import module as _module_file
from ..conv import _AdaptivePoolNd, _AvgPoolNd, _ConvNd, _MaxPoolNd
from ..conv_transpose import _ConvTransposeNd
from ..layers import _DropoutNd
from ..loss import _Loss, _WeightedLoss
from ..module import Module
from ..normalization import _BatchNorm, _NormBase
from ..transformer import _get_clones

#: PyTorch's files under ``torch/nn/modules``.
SUBMODULES = (
    "activation",
    "adaptive",
    "batchnorm",
    "container",
    "conv",
    "distance",
    "dropout",
    "flatten",
    "instancenorm",
    "linear",
    "loss",
    "module",
    "normalization",
    "padding",
    "pixelshuffle",
    "pooling",
    "rnn",
    "sparse",
    "transformer",
    "upsampling",
)


def _ntuple(n: int, name: str = "parse") -> Callable[[Any], tuple[Any, ...]]:
    """PyTorch's ``nn.modules.utils._ntuple``: an int repeated ``n`` times, an iterable kept."""

    def parse(x: Any) -> tuple[Any, ...]:
        if isinstance(x, Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")

#: What ``torch.nn.modules.module`` has beyond the layers: the global module hooks.
_MODULE_FILE_NAMES = (
    "register_module_forward_pre_hook",
    "register_module_forward_hook",
    "register_module_full_backward_pre_hook",
    "register_module_full_backward_hook",
    "register_module_parameter_registration_hook",
    "register_module_buffer_registration_hook",
    "register_module_module_registration_hook",
    "RemovableHandle",
)

#: The private base classes and helpers that user code subclasses or calls (a custom
#: convolution deriving from ``nn.modules.conv._ConvNd``, ``transformer._get_clones``).
_PRIVATE = {
    "_BatchNorm": _BatchNorm,
    "_NormBase": _NormBase,
    "_Loss": _Loss,
    "_WeightedLoss": _WeightedLoss,
    "_ConvNd": _ConvNd,
    "_ConvTransposeNd": _ConvTransposeNd,
    "_MaxPoolNd": _MaxPoolNd,
    "_AvgPoolNd": _AvgPoolNd,
    "_AdaptivePoolNd": _AdaptivePoolNd,
    "_DropoutNd": _DropoutNd,
    "_get_clones": _get_clones,
}


def _install() -> None:
    public = _names_for_modules()
    for sub in SUBMODULES:
        doc = f"PyTorch's ``torch.nn.modules.{sub}`` path."
        globals()[sub] = path_module(f"{__name__}.{sub}", {**public, **_PRIVATE}, doc)
    globals()["module"].__dict__.update(
        {name: getattr(_module_file, name) for name in _MODULE_FILE_NAMES}
    )
    globals()["utils"] = path_module(
        f"{__name__}.utils",
        {
            "_ntuple": _ntuple,
            "_single": _single,
            "_pair": _pair,
            "_triple": _triple,
            "_quadruple": _quadruple,
            "consume_prefix_in_state_dict_if_present": (
                _module_file.consume_prefix_in_state_dict_if_present
            ),
        },
        "``_single``/``_pair``/``_triple``/``_ntuple``.",
    )
    globals().update(public)


_install()

__all__ = ["Module", *SUBMODULES, "utils"]
