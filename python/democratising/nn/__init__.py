"""``democratising.nn``: modules, layers, losses."""

from types import ModuleType

from . import functional, init, utils
from .attention import MultiheadAttention
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    MaxPool1d,
    MaxPool2d,
)
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .layers import (
    ELU,
    GELU,
    GLU,
    ConstantPad2d,
    CosineSimilarity,
    Dense,
    Dropout,
    Dropout2d,
    Flatten,
    Fold,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PairwiseDistance,
    PReLU,
    ReflectionPad2d,
    ReLU,
    ReLU6,
    ReplicationPad2d,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softsign,
    Tanh,
    Unflatten,
    Unfold,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    ZeroPad2d,
)
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .sparse import Embedding
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "ELU",
    "GELU",
    "GLU",
    "GRU",
    "LSTM",
    "RNN",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "ConstantPad2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "CosineEmbeddingLoss",
    "CosineSimilarity",
    "CrossEntropyLoss",
    "Dense",
    "Dropout",
    "Dropout2d",
    "Embedding",
    "Flatten",
    "Fold",
    "GRUCell",
    "GroupNorm",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "HuberLoss",
    "Identity",
    "KLDivLoss",
    "L1Loss",
    "LSTMCell",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "MSELoss",
    "MarginRankingLoss",
    "MaxPool1d",
    "MaxPool2d",
    "Mish",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MultiheadAttention",
    "NLLLoss",
    "PReLU",
    "PairwiseDistance",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "RMSNorm",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
    "ReLU",
    "ReLU6",
    "ReflectionPad2d",
    "ReplicationPad2d",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softsign",
    "Tanh",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TripletMarginLoss",
    "Unflatten",
    "Unfold",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "ZeroPad2d",
    "functional",
    "init",
    "utils",
]


def _names_for_modules() -> dict[str, object]:
    """The public layers, for ``nn.modules``'s PyTorch-path submodules."""
    return {name: globals()[name] for name in __all__ if name[0].isupper()}


from . import modules as modules  # noqa: E402 - after the layers it re-exports
from . import parallel as parallel  # noqa: E402

#: ``torch.nn.DataParallel`` (PyTorch exposes it on ``nn`` too); see ``nn.parallel``.
DataParallel = parallel.DataParallel
#: ``torch.nn.SyncBatchNorm``: the distributed layer's class, through a stand-in.
SyncBatchNorm = parallel.SyncBatchNorm


def _install_utils_rnn() -> None:
    """``nn.utils.rnn`` (PyTorch's path for ``pad_sequence``) as a submodule of ``nn.utils``."""
    import sys

    from . import _rnn_utils

    sys.modules[f"{__name__}.utils.rnn"] = _rnn_utils
    utils.rnn = _rnn_utils  # type: ignore[attr-defined]


_install_utils_rnn()


def _export_layers(*mods: ModuleType, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """Re-exports the layers of modules loaded after ``nn.modules`` (the upper-case names of
    their ``__all__``, less ``skip``): on ``nn``, in its ``__all__`` and under every
    ``nn.modules.<name>`` path, as PyTorch has them. One helper for each later group."""
    layers = {
        name: getattr(mod, name)
        for mod in mods
        for name in mod.__all__
        if name[0].isupper() and name not in skip
    }
    globals().update(layers)
    __all__.extend(sorted(layers))
    for sub in (*modules.SUBMODULES, ""):
        vars(getattr(modules, sub) if sub else modules).update(layers)
    return layers


# isort: split
# More activations, shuffles, dropouts, ``Bilinear`` and 1-d/3-d/circular padding layers.
from . import activations_extra as _activations_extra  # noqa: E402
from . import bilinear as _bilinear  # noqa: E402
from . import dropout_extra as _dropout_extra  # noqa: E402
from . import padding_extra as _padding_extra  # noqa: E402
from . import pixel_shuffle as _pixel_shuffle  # noqa: E402

_export_layers(_activations_extra, _bilinear, _dropout_extra, _padding_extra, _pixel_shuffle)

# isort: split
# More losses (``GaussianNLLLoss``, ``CTCLoss``, the hinge and margin losses...), and the
# adaptive softmax for large vocabularies, and fractional max pooling.
from . import adaptive as _adaptive  # noqa: E402
from . import fractional_pool as _fractional_pool  # noqa: E402
from . import loss_extra as _loss_extra  # noqa: E402

_export_layers(_adaptive, _fractional_pool, _loss_extra)

# isort: split
# Instance and local response norms, unpooling and power-average pooling, ``EmbeddingBag``.
from . import embedding_bag as _embedding_bag  # noqa: E402
from . import instance_norm as _instance_norm  # noqa: E402
from . import local_response_norm as _local_response_norm  # noqa: E402
from . import pooling_extra as _pooling_extra  # noqa: E402

_export_layers(_embedding_bag, _instance_norm, _local_response_norm, _pooling_extra)

# isort: split
# Volumetric (3-D) layers: ``Conv3d``, ``ConvTranspose3d``, the 3-D pools, ``BatchNorm3d``.
from . import volumetric as _volumetric  # noqa: E402

_export_layers(_volumetric)

# isort: split
# Lazy modules (``LazyLinear``, the lazy convolutions and norms), their placeholders, ``Buffer``.
from . import lazy as _lazy  # noqa: E402
from . import parameter as _parameter  # noqa: E402

_lazy_names = _export_layers(_lazy, skip=("LazyModuleMixin",))
for _name in ("Buffer", "UninitializedBuffer", "UninitializedParameter"):
    setattr(_parameter, _name, _lazy_names[_name])  # ``nn.parameter.<name>``, PyTorch's path
