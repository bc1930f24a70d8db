"""Any Python class (or factory) implementing the backend protocol, named ``"package.module:Class"``.

The target is imported and instantiated with ``kwargs`` when the suite is built (so ``bench validate`` catches a
wrong name, and a class's annotated ``__init__`` checks the kwargs' names and types as for any plug-in), which is
why its ``__init__`` should stay light: load weights in ``setup``. The target needs an
``inpaint(image, mask, generator)`` method; ``setup``, ``teardown``, ``provenance``, ``geometry`` and
``deterministic`` are optional and forwarded when present.
"""
from __future__ import annotations

import importlib
from typing import Any

import torch

from ..registry import check_params
from ..types import RunContext
from .base import Backend, Geometry


def import_target(target: str) -> Any:
    mod_name, sep, attr = target.partition(":")
    if not sep or not mod_name or not attr:
        raise ValueError(f"target must look like 'package.module:Class', got {target!r}")
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"cannot import module '{mod_name}' of target {target!r}: {e}") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module '{mod_name}' has no attribute '{attr}' (target {target!r})")
        obj = getattr(obj, part)
    return obj


class PythonBackend(Backend):
    """Any importable "module:Class" implementing the backend protocol, built with kwargs."""

    def __init__(self, target: str, kwargs: dict | None = None):
        factory = import_target(target)
        if not callable(factory):
            raise ValueError(f"target {target!r} is not a class or factory")
        if isinstance(factory, type):  # its annotated __init__ checks the kwargs as the registry checks a plug-in's
            check_params(factory, dict(kwargs or {}), "kwargs")
        try:
            inner = factory(**(kwargs or {}))
        except TypeError as e:
            raise ValueError(f"target {target!r} rejected kwargs {sorted((kwargs or {}))}: {e}") from e
        if not callable(getattr(inner, "inpaint", None)):
            raise ValueError(f"target {target!r} built a {type(inner).__name__} without an inpaint() method")
        geometry = getattr(inner, "geometry", Geometry())
        if not isinstance(geometry, Geometry):
            raise ValueError(f"target {target!r}: geometry must be a bench.backends.base.Geometry")
        self.target = target
        self.kwargs = dict(kwargs or {})
        self.inner = inner
        self.deterministic = bool(getattr(inner, "deterministic", True))

    @property
    def geometry(self) -> Geometry:  # type: ignore[override]
        return getattr(self.inner, "geometry", Geometry())

    def setup(self, ctx: RunContext) -> None:
        if callable(getattr(self.inner, "setup", None)):
            self.inner.setup(ctx)

    def check_weights(self, ctx: RunContext) -> None:
        """The class's own ``check_weights(ctx)`` when it has one: asked before the run starts, so its missing
        checkpoint stops the run at once (it was found only at the backend's turn, after the others had run)."""
        if callable(getattr(self.inner, "check_weights", None)):
            self.inner.check_weights(ctx)

    def weights_files(self, ctx: RunContext) -> list[Any]:
        """The class's own ``weights_files(ctx)`` when it has one (the checkpoint files it loads), so outputs made
        with other weights under the same path are generated again."""
        if callable(getattr(self.inner, "weights_files", None)):
            return list(self.inner.weights_files(ctx))
        return []

    @property
    def warmup_needed(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.inner, "warmup_needed", False))

    @property
    def version(self) -> int:  # type: ignore[override]
        """The class's own ``version`` (:attr:`bench.backends.base.Backend.version`), 1 when it has none."""
        return int(getattr(self.inner, "version", 1))

    @property
    def memory_scope(self) -> str:  # type: ignore[override]
        return str(getattr(self.inner, "memory_scope", "process"))

    def reset_memory_peak(self) -> None:
        if callable(getattr(self.inner, "reset_memory_peak", None)):
            self.inner.reset_memory_peak()

    def memory_peak(self) -> dict[str, Any]:
        if callable(getattr(self.inner, "memory_peak", None)):
            return dict(self.inner.memory_peak() or {})
        return super().memory_peak()

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> Any:
        return self.inner.inpaint(image, mask, generator)

    def teardown(self) -> None:
        if callable(getattr(self.inner, "teardown", None)):
            self.inner.teardown()

    def provenance(self) -> dict[str, Any]:
        prov = {"target": self.target, "kwargs": self.kwargs}
        if callable(getattr(self.inner, "provenance", None)):
            prov.update(self.inner.provenance() or {})
        return prov
