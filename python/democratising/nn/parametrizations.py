"""``democratising.nn.utils.parametrizations``: PyTorch's ready-made parametrizations,
``orthogonal``, ``weight_norm`` and ``spectral_norm``, registered through
``nn.utils.parametrize``. The matrix exponential, Householder products and LAPACK-style QR
that ``orthogonal`` needs are composed here from existing ops."""

from __future__ import annotations

import math
from typing import Any, Optional, TypeVar

import numpy as np

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import IndexOutOfRangeError, InvalidValueError
from . import functional as F
from . import parametrize
from .module import Module

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]

T = TypeVar("T", bound=Module)


def norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of ``v`` over every dimension but ``dim``, keeping ``v``'s rank (PyTorch's
    ``torch.norm_except_dim(v, 2, dim)``); ``dim == -1`` is the norm of the whole tensor, a
    0-d tensor, as in PyTorch; other negative dims count from the end (-2 is ``v.dim() - 2``)."""
    if dim == -1:
        return (v * v).sum().sqrt()
    if -v.dim() <= dim < 0:
        dim += v.dim()
    if dim < 0 or dim >= max(v.dim(), 1):
        raise IndexOutOfRangeError(
            f"Dimension out of range (expected to be in range of [{-max(v.dim(), 1)}, "
            f"{max(v.dim(), 1) - 1}], but got {dim})"
        )
    dims = [d for d in range(v.dim()) if d != dim]
    if not dims:
        return v.abs()
    return (v * v).sum(dim=dims, keepdim=True).sqrt()


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    """PyTorch's ``torch._weight_norm``: ``v`` scaled to norm ``g`` along ``dim``."""
    return v * (g / norm_except_dim(v, dim))


class _WeightNorm(Module):
    """The weight-norm parametrization: ``weight = g * v / ||v||`` over all dims but ``dim``;
    the originals are ``g`` (``original0``) and ``v`` (``original1``)."""

    def __init__(self, dim: Optional[int] = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:  # type: ignore[override]
        """``weight_v`` scaled to norm ``weight_g``."""
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        """``(g, v)`` giving back ``weight``: its norm and itself."""
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module: T, name: str = "weight", dim: int = 0) -> T:
    """Weight normalization (PyTorch's ``parametrizations.weight_norm``): ``module.<name>``
    becomes ``g * v / ||v||``, with ``g`` stored as ``parametrizations.<name>.original0`` and
    ``v`` as ``original1``; the norm is over every dimension but ``dim`` (``None``: the whole
    tensor). Returns ``module``."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    _load_old_weight_norm_keys(module, name)
    return module


def _load_old_weight_norm_keys(module: Module, name: str) -> None:
    """Lets ``load_state_dict`` take the keys of the hook-based ``nn.utils.weight_norm``
    (``<name>_g``, ``<name>_v``), renamed to ``parametrizations.<name>.original0`` / ``1``, as
    PyTorch's compatibility hook does; installed on the module's own parametrized class."""
    cls = module.__class__
    previous = cls._complete_state_dict

    def complete(self: Module, state_dict: dict[str, Any], prefix: str) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)
        previous(self, state_dict, prefix)

    cls._complete_state_dict = complete  # type: ignore[method-assign]


def _weight_matrix(weight: Tensor, dim: int) -> Tensor:
    """The weight as a matrix with dimension ``dim`` as its rows: what both spectral norms (this
    parametrization and the hook in ``nn.utils``) take the largest singular value of."""
    if dim != 0:
        weight = weight.permute(dim, *(d for d in range(weight.dim()) if d != dim))
    return weight.flatten(1) if weight.dim() > 1 else weight.reshape(weight.shape[0], -1)


def _random_unit_vectors(weight_mat: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Both spectral norms' starting ``u`` (one entry per row of ``weight_mat``) and ``v`` (per
    column): standard normal draws, normalized."""
    (h, w), dt, dev = weight_mat.shape, weight_mat.dtype, weight_mat.device
    u = _core.empty(h, dtype=dt, device=dev).normal_(0, 1)
    v = _core.empty(w, dtype=dt, device=dev).normal_(0, 1)
    return F.normalize(u, dim=0, eps=eps), F.normalize(v, dim=0, eps=eps)


def _spectral_norm_dim(module: Module, dim: Optional[int]) -> int:
    """Both ``spectral_norm``s' default ``dim``: 1 for transposed convolutions (their weight's
    output channels), else 0."""
    from .conv_transpose import _ConvTransposeNd

    if dim is not None:
        return dim
    return 1 if isinstance(module, _ConvTransposeNd) else 0


class _SpectralNorm(Module):
    """The spectral-norm parametrization: the weight divided by its largest singular value,
    estimated by power iteration on the buffers ``_u`` and ``_v`` (one step per forward in
    training, as PyTorch's)."""

    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexOutOfRangeError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise InvalidValueError(
                "Expected n_power_iterations to be positive, but got "
                f"n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight)
                u, v = _random_unit_vectors(weight_mat, self.eps)
                self.register_buffer("_u", u)
                self.register_buffer("_v", v)
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """The weight as a matrix with dimension ``dim`` as its rows."""
        return _weight_matrix(weight, self.dim)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        """Updates ``_u`` and ``_v`` in place by ``n_power_iterations`` power-iteration steps."""
        with no_grad():
            wm = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(wm.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(wm.T.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:  # type: ignore[override]
        """``weight / sigma``, ``sigma = u . (W v)`` (a 1-d weight is just normalized)."""
        if weight.dim() == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.clone()
        v = self._v.clone()
        sigma = u @ weight_mat.mv(v)
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        """The weight itself: assigning a weight stores it unnormalized, as PyTorch does."""
        return value


def spectral_norm(
    module: T,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: Optional[int] = None,
) -> T:
    """Spectral normalization (PyTorch's ``parametrizations.spectral_norm``):
    ``module.<name>`` becomes the tensor divided by its spectral norm, estimated by power
    iteration (buffers ``parametrizations.<name>.0._u`` / ``._v``, updated in training).
    ``dim`` defaults to 1 for transposed convolutions, else 0. Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise InvalidValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    dim = _spectral_norm_dim(module, dim)
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module


# ---- orthogonal ----------------------------------------------------------------------------

_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _eye_like(a: Tensor, n: int) -> Tensor:
    return _core.eye(n, dtype=a.dtype, device=a.device)


def _matrix_exp(a: Tensor) -> Tensor:
    """``exp(a)`` of a (batch of) square matrices, differentiably: scaling and squaring around
    a degree-18 Taylor polynomial (Horner form) of ``a / 2**s`` with ``||a / 2**s||_1 <= 1/2``."""
    n = a.shape[-1]
    with no_grad():
        norm = float(a.detach().abs().sum(dim=-2).amax()) if a.numel() else 0.0
    s = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0 else 0
    x = a / (2.0**s) if s else a
    eye = _eye_like(a, n)
    p = eye + x / 18.0
    for k in range(17, 0, -1):
        p = eye + (x @ p) / float(k)
    for _ in range(s):
        p = p @ p
    return p


def _householder_product(a: Tensor, tau: Tensor) -> Tensor:
    """PyTorch's ``linalg.householder_product``: the first ``k`` columns of ``H_1 ... H_k``,
    ``H_i = I - tau_i v_i v_i^T`` with ``v_i`` column ``i`` of ``a`` below the diagonal and 1
    on it (``a`` is ``(..., n, k)``), composed differentiably."""
    n, k = a.shape[-2], a.shape[-1]
    v = a.tril(-1) + _core.eye(n, k, dtype=a.dtype, device=a.device)
    q = _eye_like(a, n).expand(*a.shape[:-2], n, n)
    for i in range(k):
        vi = v[..., :, i : i + 1]
        q = q - (q @ vi) @ (vi.mT * tau[..., i : i + 1].unsqueeze(-1))
    return q[..., :, :k]


def _geqrf(a: Tensor) -> tuple[Tensor, Tensor]:
    """LAPACK's ``geqrf`` (PyTorch's ``torch.geqrf``), not differentiable: ``R`` on and above
    the diagonal and the Householder vectors below it, with their ``tau``."""
    arr = np.array(a.detach().cpu(), dtype=np.float64)
    n, k = arr.shape[-2], arr.shape[-1]
    flat = arr.reshape(-1, n, k)
    taus = np.zeros((flat.shape[0], min(n, k)))
    for b in range(flat.shape[0]):
        m = flat[b]
        for j in range(min(n, k)):
            alpha, x = m[j, j], m[j + 1 :, j]
            xnorm = float(np.linalg.norm(x))
            if xnorm == 0.0:
                continue  # tau = 0: H = I
            beta = -math.copysign(math.hypot(alpha, xnorm), alpha)
            taus[b, j] = (beta - alpha) / beta
            v = x / (alpha - beta)
            w = m[j, j + 1 :] + v @ m[j + 1 :, j + 1 :]  # apply H = I - tau [1; v][1; v]^T
            m[j, j + 1 :] -= taus[b, j] * w
            m[j + 1 :, j + 1 :] -= taus[b, j] * np.outer(v, w)
            m[j, j], m[j + 1 :, j] = beta, v
    out = _core.from_numpy(flat.reshape(arr.shape)).to(device=a.device, dtype=a.dtype)
    tau = _core.from_numpy(taus.reshape(*arr.shape[:-2], min(n, k)))
    return out, tau.to(device=a.device, dtype=a.dtype)


_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


def _is_orthogonal(q: Tensor) -> bool:
    """Whether ``q``'s columns are orthonormal to PyTorch's tolerance ``10 n eps``."""
    n, k = q.shape[-2], q.shape[-1]
    eps = 10.0 * n * _EPS.get(q.dtype.name, _EPS["float32"])
    return float((q.mT @ q - _eye_like(q, k)).abs().amax()) <= eps


def _make_orthogonal(a: Tensor) -> Tensor:
    """The ``Q`` of ``a = QR`` (``a`` tall) with ``R``'s diagonal non-negative."""
    x, tau = _geqrf(a)
    q = _householder_product(x, tau)
    return q * x.diagonal(dim1=-2, dim2=-1).sign().unsqueeze(-2)


class _Orthogonal(Module):
    """The orthogonal parametrization (PyTorch's ``_Orthogonal``): a matrix with orthonormal
    columns (or rows, when wide) through ``orthogonal_map`` of the stored original; with
    ``use_trivialization`` the map is composed with the buffer ``base``, set by assignment."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True):
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """The orthogonal matrix of ``x``'s shape that the map gives."""
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:
                pad = _core.zeros(n, n - k, dtype=x.dtype, device=x.device)
                x = _core.cat([x, pad.expand(*x.shape[:-2], n, n - k)], dim=-1)
            a = x - x.mT
            if self.orthogonal_map == "matrix_exp":
                q = _matrix_exp(a)
            else:
                eye = _eye_like(a, n)
                q = _linalg_solve(eye - 0.5 * a, eye + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(-1)
            tau = 2.0 / (1.0 + (a * a).sum(dim=-2))
            q = _householder_product(a, tau)
            q = q * x.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        base = self._buffers.get("base")
        if base is not None:
            q = base @ q
        if transposed:
            q = q.mT
        return q

    def right_inverse(self, q: Tensor) -> Tensor:
        """The original giving ``q``: with the trivialization, ``q`` (made orthogonal, and
        completed to a square matrix) becomes ``base`` and the original ``-I``; without it,
        the Householder form of ``q``'s QR factorization (the other maps cannot be
        inverted, and raise ``NotImplementedError``, which registration skips)."""
        with no_grad():
            if tuple(q.shape) != self.shape:
                raise InvalidValueError(
                    f"Expected a matrix or batch of matrices of shape {self.shape}. "
                    f"Got a tensor of shape {tuple(q.shape)}."
                )
            q_init = q
            n, k = q.shape[-2], q.shape[-1]
            transpose = n < k
            if transpose:
                q = q.mT
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map in ("matrix_exp", "cayley"):
                    raise NotImplementedError(
                        "It is not possible to assign to the matrix exponential or the Cayley "
                        "parametrizations when use_trivialization=False."
                    )
                a, tau = _geqrf(q)
                sign = a.diagonal(dim1=-2, dim2=-1).sign()
                sign = _core.where(tau == 0.0, -sign, sign)
                eye = _core.eye(a.shape[-2], a.shape[-1], dtype=a.dtype, device=a.device)
                a = a * (1 - eye) + eye * sign.unsqueeze(-2)
                return a.mT if transpose else a
            if n == k:
                q = _make_orthogonal(q) if not _is_orthogonal(q) else q.clone()
            else:
                extra = _core.randn(*q.shape[:-2], n, n - k, dtype=q.dtype, device=q.device)
                q = _make_orthogonal(_core.cat([q, extra], dim=-1))
            self.base = q
            neg_id = -_core.eye(
                q_init.shape[-2], q_init.shape[-1], dtype=q_init.dtype, device=q_init.device
            )
            return neg_id.expand(q_init.shape).clone()


def orthogonal(
    module: T,
    name: str = "weight",
    orthogonal_map: Optional[str] = None,
    *,
    use_trivialization: bool = True,
) -> T:
    """Makes ``module.<name>`` (a matrix or batch of matrices) orthogonal — orthonormal
    columns, or rows when it is wide — through ``orthogonal_map``: ``"matrix_exp"`` (default
    for square matrices), ``"cayley"`` or ``"householder"`` (default otherwise), as PyTorch's
    ``parametrizations.orthogonal``. With ``use_trivialization`` (default) the current weight,
    made orthogonal, is kept in ``parametrizations.<name>.0.base`` and the original starts at
    ``-I``. Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise InvalidValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise InvalidValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.dim()} dimensions."
        )
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise InvalidValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


def _linalg_solve(a: Tensor, b: Tensor) -> Tensor:
    """``dm.linalg.solve`` (imported on use: ``nn`` loads before ``linalg``)."""
    from ..linalg import solve

    return solve(a, b)  # type: ignore[no-any-return]
