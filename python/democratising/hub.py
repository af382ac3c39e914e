"""``democratising.hub``: ``torch.hub``'s downloads and model entry points.

* ``download_url_to_file(url, dst, hash_prefix)``: a download (any URL ``urllib`` opens,
  ``file://`` too) written beside ``dst`` and moved into place once complete, its SHA-256
  checked against ``hash_prefix``.
* ``load_state_dict_from_url(url)``: the file cached under ``get_dir()/checkpoints`` (downloaded
  once), read with ``dm.load`` (so a ``dm.save`` or safetensors file; a ``torch.save`` pickle is
  refused by ``dm.load`` with how to convert it). ``check_hash`` checks the hash prefix in the
  file name (``name-<sha256 prefix>.ext``), as PyTorch's.
* ``load(repo_or_dir, model, *args, source=...)``, ``list``, ``help``: the entry points of a
  ``hubconf.py``, from a local directory or a GitHub repository (``owner/name[:ref]``,
  downloaded as a zip into ``get_dir()``); GitHub code runs only from trusted repositories,
  as PyTorch's ``trust_repo`` rules.

The hub directory is ``$DEMOCRATISING_HOME/hub`` (default ``~/.cache/democratising/hub``)
unless ``set_dir`` chose another: PyTorch's own cache holds pickles, which this package does
not read.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import types
import urllib.parse
import urllib.request
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any, Callable, Optional, Union

from .errors import InvalidValueError

__all__ = [
    "download_url_to_file",
    "get_dir",
    "help",
    "list",
    "load",
    "load_state_dict_from_url",
    "set_dir",
]

ENV_HOME = "DEMOCRATISING_HOME"
MODULE_HUBCONF = "hubconf.py"
VAR_DEPENDENCY = "dependencies"
#: A file name's hash prefix: ``resnet18-5c106cde.pth`` -> ``5c106cde``.
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
#: Where a GitHub repository's archive is downloaded from (``owner``, ``name``, ``ref``).
GITHUB_ARCHIVE = "https://github.com/{owner}/{name}/zipball/{ref}"
READ_DATA_CHUNK = 128 * 1024

_HUB_DIR: builtins.list[Optional[str]] = [None]


def get_dir() -> str:
    """The hub's cache directory: ``set_dir``'s, else ``$DEMOCRATISING_HOME/hub``, else
    ``$XDG_CACHE_HOME/democratising/hub`` (``~/.cache/democratising/hub``)."""
    if _HUB_DIR[0] is not None:
        return _HUB_DIR[0]
    home = os.environ.get(ENV_HOME)
    if not home:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
        home = os.path.join(cache, "democratising")
    return os.path.join(os.path.expanduser(home), "hub")


def set_dir(d: Union[str, os.PathLike[str]]) -> None:
    """Makes ``d`` (``~`` expanded) the hub's cache directory."""
    _HUB_DIR[0] = os.path.expanduser(os.fspath(d))


# ---- downloads -------------------------------------------------------------------------------


def download_url_to_file(
    url: str, dst: str, hash_prefix: Optional[str] = None, progress: bool = True
) -> None:
    """Downloads ``url`` to ``dst``: written to a temporary file in ``dst``'s directory and
    moved into place when complete, so ``dst`` never holds half a file. With
    ``hash_prefix``, the SHA-256 hex digest must start with it (else ``RuntimeError``, as
    PyTorch's, and nothing is left behind). ``progress`` shows a bar (tqdm) on stderr."""
    req = urllib.request.Request(url, headers={"User-Agent": "democratising.hub"})
    dst = os.path.expanduser(dst)
    dst_dir = os.path.dirname(os.path.abspath(dst))
    tmp = os.path.join(dst_dir, f".{os.path.basename(dst)}.{uuid.uuid4().hex}.partial")
    digest = hashlib.sha256() if hash_prefix is not None else None
    try:
        with urllib.request.urlopen(req) as response, open(tmp, "wb") as f:
            length = response.headers.get("Content-Length") if response.headers else None
            bar = _progress_bar(int(length) if length else None, progress)
            try:
                while chunk := response.read(READ_DATA_CHUNK):
                    f.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if digest is not None and hash_prefix is not None:
            got = digest.hexdigest()
            if not got.startswith(hash_prefix):
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{got}")')
        shutil.move(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _progress_bar(total: Optional[int], show: bool) -> Any:
    if not show:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)


def load_state_dict_from_url(
    url: str,
    model_dir: Optional[str] = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: Optional[str] = None,
    weights_only: bool = False,
) -> dict[str, Any]:
    """The object saved at ``url`` (usually a state dict), downloaded once into
    ``model_dir`` (default ``get_dir()/checkpoints``) under ``file_name`` or the URL's file
    name, and read with ``dm.load(..., map_location=...)``. ``check_hash``: the download's
    SHA-256 must start with the hex digits after the name's last ``-`` (``name-1a2b3c.ext``)."""
    from .serialization import load as _load

    del weights_only  # dm.load's format holds only data
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or os.path.basename(urllib.parse.urlparse(url).path)
    if not filename:
        raise InvalidValueError(f"load_state_dict_from_url: no file name in {url!r}")
    cached = os.path.join(model_dir, filename)
    if not os.path.exists(cached):
        hash_prefix = None
        if check_hash:
            match = HASH_REGEX.search(filename)
            hash_prefix = match.group(1) if match else None
        if progress:
            sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
        download_url_to_file(url, cached, hash_prefix, progress=progress)
    return _load(cached, map_location=map_location)  # type: ignore[no-any-return]


# ---- hubconf entry points --------------------------------------------------------------------


@contextlib.contextmanager
def _on_sys_path(path: str) -> Iterator[None]:
    sys.path.insert(0, path)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(path)


def _import_hubconf(repo_dir: str) -> types.ModuleType:
    path = os.path.join(repo_dir, MODULE_HUBCONF)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {MODULE_HUBCONF} in {repo_dir}")
    name = f"hubconf_{uuid.uuid4().hex}"  # a fresh module: two repositories never collide
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with _on_sys_path(repo_dir):
        spec.loader.exec_module(module)
    return module


def _entry(hubconf: types.ModuleType, model: str) -> Callable[..., Any]:
    if not isinstance(model, str):
        raise InvalidValueError("Invalid input: model should be a string of function name")
    deps = getattr(hubconf, VAR_DEPENDENCY, None) or []
    missing = [pkg for pkg in deps if importlib.util.find_spec(pkg) is None]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    func = getattr(hubconf, model, None)
    if func is None or not callable(func):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return func  # type: ignore[no-any-return]


def _parse_repo(github: str) -> tuple[str, str, Optional[str]]:
    repo, _, ref = github.partition(":")
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise InvalidValueError(
            f'Invalid input: repo_or_dir should be "repo_owner/repo_name[:ref]", got {github!r}'
        )
    return owner, name, ref or None


def _trusted_list() -> str:
    return os.path.join(get_dir(), "trusted_list")


def _check_trust(owner: str, name: str, trust_repo: Any) -> None:
    """PyTorch's rules: ``True`` trusts (and records) the repository; ``None`` warns when it
    is not recorded; ``False``/``"check"`` ask on the terminal unless it is recorded (always
    for ``False``), and refuse without a "y"."""
    key = f"{owner}_{name}"
    listed = set()
    if os.path.exists(_trusted_list()):
        with open(_trusted_list(), encoding="utf-8") as f:
            listed = {line.strip() for line in f if line.strip()}
    trusted = key in listed or owner in ("pytorch", "facebookresearch")
    if trust_repo is None:
        if not trusted:
            warnings.warn(
                f"The repository {owner}/{name} is not in the trusted list "
                f"({_trusted_list()}); pass trust_repo=True to trust it, or trust_repo="
                "'check' to be asked",
                UserWarning,
                stacklevel=4,
            )
        return
    if trust_repo is False or (trust_repo == "check" and not trusted):
        try:
            answer = input(
                f"The repository {owner}/{name} does not belong to the list of trusted "
                "repositories. Do you trust this repository and wish to add it to the "
                "trusted list of repositories (y/N)?"
            )
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise InvalidValueError(f"Untrusted repository: {owner}/{name}")
    if key not in listed:
        os.makedirs(get_dir(), exist_ok=True)
        with open(_trusted_list(), "a", encoding="utf-8") as f:
            f.write(key + "\n")


def _github_dir(github: str, force_reload: bool, trust_repo: Any, verbose: bool) -> str:
    """The repository's files, downloaded (as a zip of ``ref``, default "main" then
    "master") and extracted under ``get_dir()`` once; again with ``force_reload``."""
    owner, name, ref = _parse_repo(github)
    _check_trust(owner, name, trust_repo)
    refs = [ref] if ref else ["main", "master"]
    hub = get_dir()
    os.makedirs(hub, exist_ok=True)
    for i, r in enumerate(refs):
        target = os.path.join(hub, f"{owner}_{name}_{r.replace('/', '_')}")
        if os.path.isdir(target) and not force_reload:
            if verbose:
                sys.stderr.write(f"Using cache found in {target}\n")
            return target
        archive = target + ".zip"
        url = GITHUB_ARCHIVE.format(owner=owner, name=name, ref=r)
        try:
            if verbose:
                sys.stderr.write(f'Downloading: "{url}" to {archive}\n')
            download_url_to_file(url, archive, progress=False)
        except OSError:
            if i + 1 < len(refs):
                continue
            raise
        with tempfile.TemporaryDirectory(dir=hub) as tmp:
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
            os.remove(archive)
            (top,) = os.listdir(tmp)  # GitHub's zipballs hold one top-level folder
            if os.path.isdir(target):
                shutil.rmtree(target)
            shutil.move(os.path.join(tmp, top), target)
        return target
    raise AssertionError("unreachable")


def _repo_dir(
    repo_or_dir: str, source: str, force_reload: bool, trust_repo: Any, verbose: bool
) -> str:
    source = source.lower()
    if source not in ("github", "local"):
        raise InvalidValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "local":
        return os.fspath(repo_or_dir)
    return _github_dir(repo_or_dir, force_reload, trust_repo, verbose)


def load(
    repo_or_dir: str,
    model: str,
    *args: Any,
    source: str = "github",
    trust_repo: Any = "check",
    force_reload: bool = False,
    verbose: bool = True,
    skip_validation: bool = False,
    **kwargs: Any,
) -> Any:
    """Calls the entry point ``model`` of ``repo_or_dir``'s ``hubconf.py`` with ``*args,
    **kwargs`` and returns its result (usually a model): ``source="local"`` reads a
    directory, ``"github"`` a repository ``owner/name[:ref]`` (see ``_check_trust``). The
    repository's directory is on ``sys.path`` while ``hubconf.py`` imports, and its
    ``dependencies`` list must be importable."""
    del skip_validation
    repo_dir = _repo_dir(repo_or_dir, source, force_reload, trust_repo, verbose)
    hubconf = _import_hubconf(repo_dir)
    entry = _entry(hubconf, model)
    with _on_sys_path(repo_dir):
        return entry(*args, **kwargs)


def list(
    github: str,
    force_reload: bool = False,
    skip_validation: bool = False,
    trust_repo: Any = "check",
    verbose: bool = True,
    *,
    source: str = "github",
) -> builtins.list[str]:
    """The names of the entry points (public callables) in the repository's ``hubconf.py``."""
    del skip_validation
    hubconf = _import_hubconf(_repo_dir(github, source, force_reload, trust_repo, verbose))
    return [n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_")]


def help(
    github: str,
    model: str,
    force_reload: bool = False,
    skip_validation: bool = False,
    trust_repo: Any = "check",
    *,
    source: str = "github",
) -> Optional[str]:
    """The docstring of the entry point ``model``."""
    del skip_validation
    hubconf = _import_hubconf(_repo_dir(github, source, force_reload, trust_repo, True))
    return _entry(hubconf, model).__doc__
