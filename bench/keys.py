"""The identities of a suite's work (shared/DESIGN.md, "generate once, score many"): cells and their generation
and input keys, metrics and detectors and their scorer keys. Pure functions of the suite: no store, no torch.

* **generation key** of a cell: everything that decides the output pixels: backend spec and the backend's
  implementation ``version`` (from 2 on), dataset spec, mask strategy, seed, resolution, dtype, the blank value, the
  pixel format (8-bit) and the geometry adapter's version.
  Metrics, detectors, thresholds, paste-back (a scoring view), batch size and device are *not* in it.
* **input key** of a cell: dataset spec, mask strategy, seed, resolution: what decides the masked input and the
  ground truth. Every backend of one dataset × mask shares it (reference features, exported inputs).
* **scorer key** of a metric or detector: its spec with defaults resolved by the plug-in, its implementation
  version, the weights mode and the scoring view (paste-back). A detector's thresholds are not in it: stored
  scores do not depend on them, flags are set from the thresholds when a run is read (:mod:`bench.store.run`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import PluginSpec, Suite, hash_obj
from .detectors.flagging import is_threshold_param
from .pixels import BLANK_VALUE, PIXELS

#: bump when the geometry adapter (bench/backends/geometry.py) changes what reaches a backend or comes back
ADAPTER_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """One backend × dataset × mask of a suite: a generation."""

    key: str  # generation key
    input_key: str
    backend: PluginSpec
    dataset: PluginSpec
    mask: PluginSpec

    @property
    def label(self) -> str:
        return f"{self.backend.label}/{self.dataset.label}/{self.mask.label}"

    def spec(self) -> dict[str, Any]:
        return {"backend": self.backend.canonical(), "dataset": self.dataset.canonical(),
                "mask": self.mask.canonical()}


@dataclass(frozen=True)
class ScorerSpec:
    """One metric or detector of a suite, with its scorer key."""

    key: str
    label: str
    kind: str  # "metric" | "detector"
    spec: PluginSpec
    identity: dict[str, Any] = field(default_factory=dict, compare=False)


def input_key(suite: Suite, dataset: PluginSpec, mask: PluginSpec) -> str:
    ident = {"dataset": dataset.canonical(), "mask": mask.canonical(), "seed": suite.seed,
             "resolution": suite.resolution, "pixels": PIXELS}
    return f"{dataset.label}.{mask.label}.{hash_obj(ident)[:10]}"


def generation_key(suite: Suite, backend: PluginSpec, dataset: PluginSpec, mask: PluginSpec) -> str:
    ident = {"backend": backend.canonical(), "dataset": dataset.canonical(), "mask": mask.canonical(),
             "seed": suite.seed, "resolution": suite.resolution, "dtype": suite.dtype, "blank": BLANK_VALUE,
             "pixels": PIXELS, "adapter": ADAPTER_VERSION}
    version = _backend_version(backend)
    if version != 1:  # (version 1 is every backend's first: its keys stay those of runs made before versions)
        ident["backend_version"] = version
    return f"{backend.label}.{dataset.label}.{mask.label}.{hash_obj(ident)[:10]}"


def expand_cells(suite: Suite) -> list[Cell]:
    """Every backend × dataset × mask, backend first (the order generations run in and shards split); a backend
    with ``datasets:`` only on those."""
    return [Cell(generation_key(suite, b, d, m), input_key(suite, d, m), b, d, m)
            for b in suite.backends for d in suite.datasets for m in suite.masks
            if getattr(b, "only", None) is None or d.label in b.only]


def _instance(spec: PluginSpec) -> Any:
    return spec.instance if spec.instance is not None else spec.create()


def _backend_version(spec: PluginSpec) -> int:
    """The backend's implementation ``version`` (:attr:`bench.backends.base.Backend.version`); 1 for a backend that
    cannot be built here (its setup says why, as a run's error rows)."""
    from .errors import CAUGHT

    try:
        return int(getattr(_instance(spec), "version", 1))
    except CAUGHT:
        return 1


def scorer_identity(instance: Any) -> dict[str, Any]:
    """What besides the spec changes a scorer's numbers: ``identity()`` of the plug-in (implementation version,
    thresholds), else its class's ``version`` attribute."""
    ident = getattr(instance, "identity", None)
    if callable(ident):
        return dict(ident())
    return {"version": getattr(instance, "version", 1)}


def scorer_specs(suite: Suite) -> list[ScorerSpec]:
    out = []
    view = {"paste_back": suite.paste_back, "weights": suite.weights, "pixels": PIXELS, "blank": BLANK_VALUE}
    for kind, specs in (("metric", suite.metrics), ("detector", suite.detectors)):
        for s in specs:
            spec = s.canonical()
            if kind == "detector":  # thresholds change flags, not scores: they are applied when a run is read
                spec = {k: v for k, v in spec.items() if not is_threshold_param(k)}
            ident = {"kind": kind, "spec": spec, "impl": scorer_identity(_instance(s)), **view}
            out.append(ScorerSpec(f"{s.label}.{hash_obj(ident)[:10]}", s.label, kind, s, ident))
    return out
