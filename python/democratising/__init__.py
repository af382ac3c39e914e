"""democratising: a deep-learning training library with a Rust engine and a PyTorch-style API.

>>> import democratising as dm
>>> x = dm.randn(4, 3, requires_grad=True)
>>> (x * x).sum().backward()
"""

from __future__ import annotations

from . import _launcher  # noqa: F401 - first: under mpiexec, an error on one rank ends the job

# isort: split
from . import _threads  # noqa: F401 - before anything starts the engine's thread pool

# isort: split
from . import _core
from ._config import engine_version as _engine_version
from ._config import show_config
from ._core import (
    Device,
    Tensor,
    arange,
    bool,
    cat,
    empty,
    eye,
    float16,
    float32,
    float64,
    full,
    int8,
    int16,
    int32,
    int64,
    linspace,
    manual_seed,
    ones,
    stack,
    uint8,
    zeros,
)
from ._core import bfloat16 as bfloat16
from ._core import dtype as dtype
from ._core import from_numpy as from_numpy
from ._core import get_default_device as get_default_device
from ._core import get_num_threads as get_num_threads
from ._core import set_default_device as set_default_device
from ._core import set_num_threads as set_num_threads
from ._functional_ops import *  # noqa: F403 - the torch-style free functions (dm.exp, dm.matmul, ...)
from ._grad_mode import enable_grad, no_grad, set_grad_enabled
from ._grad_mode import is_grad_enabled as is_grad_enabled
from ._random import rand, randint, randn, randperm
from ._tensor import (
    bernoulli,
    empty_like,
    from_dlpack,
    frombuffer,
    full_like,
    ones_like,
    rand_like,
    randint_like,
    randn_like,
    tensor,
    zeros_like,
)
from ._tensor_extra import (  # noqa: F401 - PyTorch free functions written over engine ops
    addmm,
    allclose,
    argsort,
    bmm,
    broadcast_shapes,
    broadcast_tensors,
    broadcast_to,
    cumsum,
    diag,
    diff,
    equal,
    flip,
    fliplr,
    flipud,
    frac,
    isclose,
    isfinite,
    isinf,
    isnan,
    kthvalue,
    lerp,
    log10,
    logspace,
    masked_select,
    meshgrid,
    mv,
    norm,
    outer,
    prod,
    repeat_interleave,
    roll,
    sort,
    tile,
    topk,
    trace,
    tril,
    triu,
    where,
)
from ._tensor_more import (  # noqa: F401 - more of them (addcmul, index_add, median, ...)
    addcdiv,
    addcmul,
    arctan2,
    asarray,
    atan2,
    bucketize,
    cdist,
    clamp_max,
    clamp_min,
    cosh,
    count_nonzero,
    cummax,
    cummin,
    cumprod,
    dist,
    empty_strided,
    fmod,
    index_add,
    index_copy,
    index_fill,
    logaddexp,
    logcumsumexp,
    median,
    moveaxis,
    movedim,
    nan_to_num,
    nanmean,
    nansum,
    ravel,
    scatter,
    searchsorted,
    sgn,
    sinh,
    std_mean,
    take_along_dim,
    tensor_split,
    unflatten,
    var_mean,
)
from .errors import (
    AutogradError,
    CheckpointError,
    DemocratisingError,
    DeviceError,
    DistributedError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    OutOfMemoryError,
    ShapeError,
    StateDictError,
)

#: One source of truth: the workspace Cargo.toml version, compiled into the extension.
__version__ = _engine_version()
from . import version  # noqa: F401 - PyTorch's torch.version (reads __version__)

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16


def _dtype_from_name(name: str) -> dtype:
    """Used to unpickle dtypes."""
    return getattr(_core, name)


def get_default_dtype() -> dtype:
    """The dtype of floating-point tensors made without one (float32 unless changed)."""
    return _core._default_dtype()


def set_default_dtype(d: dtype) -> None:
    """Makes ``d`` (a floating-point dtype) the dtype of factories (``zeros``, ``randn``,
    ``arange`` over floats...), of tensors from Python floats, of new layers' parameters and
    of float results of integer inputs, as ``torch.set_default_dtype``; anything else raises
    ``DTypeError``."""
    _core._set_default_dtype(d)


def _register_helpers() -> None:
    """Hands the extension the Python helpers it calls (tensors from Python data, the repr,
    pickling, named results, the exception classes), so it never imports the package."""
    from . import _format, _pytorch_compat, _tensor, _tensor_extra, _tensor_more
    from . import errors as _errors

    _core._register_helpers(
        {
            "as_operand": _tensor._as_operand,
            "bitwise": _tensor_more._bitwise,
            "dtype_from_name": _dtype_from_name,
            "errors": _errors,
            "format_tensor": _format.format_tensor,
            "max_result": _tensor.MaxResult,
            "reduce_tensor": _tensor_extra._reduce,
            "size": _pytorch_compat.Size,
            "tensor": _tensor.tensor,
            "zero_d_bool_key": _tensor_more._zero_d_bool_key,
        }
    )


_register_helpers()

from . import (  # noqa: E402, F401
    amp,
    autograd,
    checkpoint,
    cpu,
    cuda,
    data,
    datasets,
    nn,
    optim,
    random,
    testing,
    train,
    utils,
)

#: ``dm.autocast(...)``, as ``torch.autocast``; the mode queries as ``torch``'s.
autocast = amp.autocast
is_autocast_enabled = amp.is_autocast_enabled
get_autocast_dtype = amp.get_autocast_dtype
is_anomaly_enabled = autograd.is_anomaly_enabled
is_anomaly_check_nan_enabled = autograd.is_anomaly_check_nan_enabled

__all__ = [
    "AutogradError",
    "CheckpointError",
    "DTypeError",
    "DemocratisingError",
    "Device",
    "DeviceError",
    "DistributedError",
    "IndexOutOfRangeError",
    "InvalidValueError",
    "OutOfMemoryError",
    "ShapeError",
    "StateDictError",
    "Tensor",
    "arange",
    "autocast",
    "autograd",
    "bernoulli",
    "bfloat16",
    "bool",
    "cat",
    "diagonal_scatter",
    "double",
    "dtype",
    "empty",
    "empty_like",
    "enable_grad",
    "eye",
    "float",
    "float16",
    "float32",
    "float64",
    "from_dlpack",
    "from_numpy",
    "frombuffer",
    "full",
    "full_like",
    "get_autocast_dtype",
    "get_default_device",
    "get_rng_state",
    "half",
    "index_put",
    "initial_seed",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_autocast_enabled",
    "is_grad_enabled",
    "linspace",
    "logspace",
    "long",
    "manual_seed",
    "masked_scatter",
    "no_grad",
    "normal",
    "ones",
    "ones_like",
    "poisson",
    "put",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "scatter_reduce",
    "seed",
    "select_scatter",
    "set_default_device",
    "set_grad_enabled",
    "set_rng_state",
    "short",
    "show_config",
    "slice_scatter",
    "stack",
    "tensor",
    "testing",
    "uint8",
    "where",
    "zeros",
    "zeros_like",
]

# ---- PyTorch's namespace (issue 18): `import democratising as torch` runs PyTorch programs ----
# _pytorch_compat installs Tensor.type, Tensor.multinomial, Tensor.is_xpu, ... on import.
from . import (  # noqa: E402, F401
    _pytorch_compat,
    _torchrun_env,
    accelerator,
    backends,
    distributions,
    serialization,
)
from ._einsum import einsum, tensordot  # noqa: E402, F401
from ._format import set_printoptions  # noqa: E402
from ._grad_mode import inference_mode, is_inference_mode_enabled  # noqa: E402, F401
from ._index_functions import (  # noqa: E402 - scatter ops (after _tensor_extra, which they extend)
    diagonal_scatter,
    index_put,
    masked_scatter,
    put,
    scatter_reduce,
    select_scatter,
    slice_scatter,
)
from ._pytorch_compat import (  # noqa: E402, F401
    Generator,
    Size,
    are_deterministic_algorithms_enabled,
    as_tensor,
    compile,
    default_generator,
    finfo,
    get_float32_matmul_precision,
    iinfo,
    is_floating_point,
    is_tensor,
    multinomial,
    set_float32_matmul_precision,
    unique,
    use_deterministic_algorithms,
)
from ._random_more import (  # noqa: E402, F811 - manual_seed: the engine's, remembering its seed
    initial_seed,
    manual_seed,
    normal,
    poisson,
    seed,
)
from .serialization import load, save  # noqa: E402, F401

# isort: split
from . import linalg  # noqa: E402, F401
from .linalg._aliases import ALIASES as _LINALG_ALIASES  # noqa: E402
from .linalg._aliases import install as _install_linalg  # noqa: E402

# dm.det, dm.inverse, dm.cholesky, ... and Tensor.det(), Tensor.inverse(), ... (torch's spellings)
globals().update(_LINALG_ALIASES)
_install_linalg(Tensor)

# isort: split
# PyTorch's math, shape and statistics functions (dm.hypot, dm.kron, dm.quantile, ...).
from . import _math_functions, _shape_functions, _stats_functions  # noqa: E402
from ._math_functions import *  # noqa: E402, F403
from ._shape_functions import *  # noqa: E402, F403
from ._stats_functions import *  # noqa: E402, F403

__all__ += [*_math_functions.__all__, *_shape_functions.__all__, *_stats_functions.__all__]

# isort: split
# PyTorch's memory formats (dm.channels_last, ...), for memory_format= arguments.
from . import _memory_format  # noqa: E402
from ._memory_format import *  # noqa: E402, F403

__all__ += _memory_format.__all__

# isort: split
# torch.special, and its functions torch also has at the top level.
from . import special  # noqa: E402
from .special import i0, polygamma  # noqa: E402
from .special import multigammaln as mvlgamma  # noqa: E402

__all__ += ["i0", "mvlgamma", "polygamma", "special"]

# isort: split
# The remaining Tensor methods PyTorch programs call (installed after every other module's,
# whose methods their in-place forms call), and the top-level in-place functions.
from . import _tensor_methods_torch  # noqa: E402

_tensor_methods_torch.install(Tensor)
globals().update(_tensor_methods_torch.functions())
__all__ += list(_tensor_methods_torch.functions())

#: ``torch.device``: the same class as ``Device`` (``dm.device("cuda", 1)``, ``"cuda:1"``).
device = Device
# PyTorch's legacy tensor types: ``dm.FloatTensor``, ``dm.LongTensor``, ``dm.cuda.FloatTensor``...
globals().update(_pytorch_compat.LEGACY_TENSOR_TYPES)
for _name, _cls in _pytorch_compat.LEGACY_CUDA_TENSOR_TYPES.items():
    setattr(cuda, _name, _cls)

_torchrun_env.export_torchrun_env()  # RANK/WORLD_SIZE/... under mpirun, as torchrun sets them


def _load_distributed() -> object:
    import importlib

    return importlib.import_module(f"{__name__}.distributed")


# nn.DataParallel / nn.parallel.DistributedDataParallel import the MPI layer on first use.
nn.parallel._loader = _load_distributed


def __getattr__(name: str) -> object:
    """``dm.distributed`` (and ``dm.onnx``, ``dm.jit``, ``dm.compiler``, ``dm.hub``,
    ``dm.multiprocessing``, ``dm.profiler``) on first use, as ``torch.distributed`` is always
    there: imported lazily so that importing the package never loads the MPI layer."""
    if name in ("distributed", "onnx", "compiler", "hub", "jit", "multiprocessing", "profiler"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# isort: split
# torch.func: functional_call, grad, grad_and_value, vmap (also torch.vmap).
from . import func  # noqa: E402
from .func import vmap  # noqa: E402

__all__ += ["func", "set_printoptions", "vmap"]

# isort: split
# torch's top-level functional ops (dm.conv2d, dm.layer_norm, ...), windows, dtype promotion.
from . import _functional_aliases  # noqa: E402
from ._functional_aliases import *  # noqa: E402, F403

# `dm.range` exists (torch.range), but `from democratising import *` must not hide the builtin.
__all__ += [n for n in _functional_aliases.__all__ if n != "range"]

# isort: split
# PyTorch's ``out=`` for the free functions written in Python (``dm.cumsum(x, 0, out=buf)``),
# last: it wraps the names every import above has bound.
from . import _out_param  # noqa: E402

_out_param.install(globals())

# isort: split
# More of PyTorch's namespace: layouts, storages and the Tensor queries that are False here
# (_tensor_compat_more installs Tensor.layout, untyped_storage(), is_nested, ...), typename,
# binomial, fill, control flow (cond, while_loop), inter-op threads, warn_always, the
# autocast state functions, GradScaler, and the randomized low-rank SVD/PCA.
from . import _tensor_compat_more  # noqa: E402
from ._config import is_warn_always_enabled, set_warn_always  # noqa: E402
from ._control_flow import cond, while_loop  # noqa: E402
from ._tensor_compat_more import *  # noqa: E402, F403
from ._threads import get_num_interop_threads, set_num_interop_threads  # noqa: E402
from .amp import GradScaler  # noqa: E402
from .amp.autocast_mode import (  # noqa: E402
    clear_autocast_cache,
    get_autocast_cpu_dtype,
    get_autocast_gpu_dtype,
    is_autocast_cache_enabled,
    is_autocast_cpu_enabled,
    set_autocast_cache_enabled,
    set_autocast_cpu_dtype,
    set_autocast_cpu_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
)
from .linalg._extras import pca_lowrank, svd_lowrank  # noqa: E402
from .random import get_rng_state, set_rng_state  # noqa: E402 - tensors, as PyTorch's

# isort: split
# torch.sparse: sparse COO tensors (dm.sparse_coo_tensor, dense.to_sparse(), dm.spmm).
from . import sparse  # noqa: E402
from .sparse import _coo as _sparse_coo  # noqa: E402
from .sparse import mm as spmm  # noqa: E402
from .sparse import sparse_coo_tensor  # noqa: E402

_sparse_coo.install(Tensor)

# (dm.jit, dm.compiler, dm.multiprocessing, dm.hub, dm.profiler load on first use, through
# ``__getattr__`` above, so ``import democratising`` does not pay for them.)

__all__ += [
    *_tensor_compat_more.__all__,
    "GradScaler",
    "clear_autocast_cache",
    "cond",
    "get_num_interop_threads",
    "is_autocast_cache_enabled",
    "is_warn_always_enabled",
    "pca_lowrank",
    "set_autocast_cache_enabled",
    "set_autocast_dtype",
    "set_autocast_enabled",
    "get_autocast_cpu_dtype",
    "get_autocast_gpu_dtype",
    "is_autocast_cpu_enabled",
    "set_autocast_cpu_dtype",
    "set_autocast_cpu_enabled",
    "set_num_interop_threads",
    "set_warn_always",
    "sparse",
    "sparse_coo_tensor",
    "spmm",
    "svd_lowrank",
    "while_loop",
]
