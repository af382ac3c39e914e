"""``torch.autograd.profiler``: the legacy profiler's names over ``democratising.profiler``, so
older scripts and tutorials run as written: ``with profile(use_cuda=...) as prof:`` then
``prof.key_averages().table(...)``, ``record_function`` regions, ``EventList`` and
``FunctionEvent``."""

from __future__ import annotations

from typing import Any, Optional

from .profiler import EventList, FunctionEvent, ProfilerActivity, record_function
from .profiler import profile as _profile
from .profiler import supported_activities as _supported

__all__ = ["EventList", "FunctionEvent", "profile", "record_function"]


class profile(_profile):  # noqa: N801 - PyTorch's name
    """``torch.autograd.profiler.profile``: records from ``__enter__`` to ``__exit__`` (no
    schedule), or nothing at all when ``enabled`` is False, as PyTorch's. ``use_cuda`` (or a
    CUDA ``use_device``) adds the CUDA activity where a device is present; only host time is
    measured, as in ``democratising.profiler``."""

    def __init__(
        self,
        enabled: bool = True,
        *,
        use_cuda: bool = False,
        use_device: Optional[str] = None,
        record_shapes: bool = False,
        with_flops: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_modules: bool = False,
        use_kineto: bool = False,
        use_cpu: bool = True,
        **options: Any,
    ) -> None:
        del use_kineto, options  # PyTorch's tracing back-end choices
        activities = {ProfilerActivity.CPU} if use_cpu else set()
        if use_cuda or str(use_device or "").startswith("cuda"):
            activities.add(ProfilerActivity.CUDA)
        super().__init__(
            activities=(activities & _supported()) or {ProfilerActivity.CPU},
            record_shapes=record_shapes,
            profile_memory=profile_memory,
            with_stack=with_stack,
            with_flops=with_flops,
            with_modules=with_modules,
        )
        self.enabled = enabled

    def __enter__(self) -> profile:
        if self.enabled:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stop()

    @property
    def function_events(self) -> EventList:
        """The recorded events (PyTorch's attribute of the same name)."""
        return self.events()

    def table(self, *args: Any, **kwargs: Any) -> str:
        """``key_averages().table(...)``, as PyTorch's legacy profile offers it directly."""
        return str(self.key_averages().table(*args, **kwargs))
