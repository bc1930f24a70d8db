"""The suite's metrics and detectors as *scorers*: each has a key (its identity), is built and set up on first use,
and turns an :class:`~bench.types.EvalBatch` into per-sample values, output features and reference features.

A scorer that cannot set up, or raises on a batch, gives error values for those samples under its own key only:
the other scorers' numbers of the same samples are kept, and the next run retries just the failed scorer.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from ..errors import CAUGHT, describe
from ..keys import ScorerSpec
from ..types import EvalBatch, RunContext
from .reference import prepare_reference


@dataclass
class BatchScores:
    """What scoring one batch produced, ready for :meth:`bench.store.RunStore.write_scores`."""

    rows: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)  # sid, key, vals, err
    features: list[tuple[str, str, str, np.ndarray]] = field(default_factory=list)  # key, sid, name, vector
    refs: list[tuple[str, str, str, np.ndarray]] = field(default_factory=list)  # key, sid, name, vector

    def write(self, store: Any, gen_key: str, input_key: str) -> None:
        store.write_scores(gen_key, self.rows, self.features,
                           [(input_key, k, sid, name, a) for k, sid, name, a in self.refs])


class Scorers:
    """Metrics and detectors by scorer key; networks load on first use (a fully scored suite loads none)."""

    def __init__(self, specs: Iterable[ScorerSpec], ctx: RunContext):
        self.specs = {s.key: s for s in specs}
        self.ctx = ctx
        self._instances: dict[str, Any] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def keys(self) -> list[str]:
        return list(self.specs)

    def instance(self, key: str) -> Any:
        """The set-up plug-in of ``key``; raises RuntimeError with the set-up error when it could not load."""
        with self._lock:
            if key in self._errors:
                raise RuntimeError(self._errors[key])
            if key not in self._instances:
                spec = self.specs[key]
                try:
                    inst = spec.spec.create()
                    inst.setup(self.ctx)
                    if callable(getattr(inst, "needs_reference", None)) and inst.needs_reference():
                        prepare_reference(inst, self.ctx)
                except CAUGHT as e:
                    self._errors[key] = f"{spec.spec.path} ({spec.label}): setup failed: {describe(e)}"
                    raise RuntimeError(self._errors[key]) from None
                self._instances[key] = inst
            return self._instances[key]

    def load(self) -> None:
        """Set up every scorer now (one that cannot is recorded, as on first use): before a backend loads, so
        what the networks hold is part of the harness's memory the runner subtracts, not of the model's figure."""
        for key in self.specs:
            try:
                self.instance(key)
            except RuntimeError:
                pass

    def loaded(self) -> dict[str, Any]:
        """{label: instance} of the scorers set up so far (for provenance)."""
        return {self.specs[k].label: v for k, v in self._instances.items()}

    def setup_errors(self) -> dict[str, str]:
        return {self.specs[k].label: v for k, v in self._errors.items()}

    def score(self, batch: EvalBatch, keys: Iterable[str]) -> BatchScores:
        """Every scorer of ``keys`` on ``batch``. A scorer that fails on the batch is asked again sample by sample,
        so one sample it cannot score is that sample's error row, not the whole batch's (a scorer that could not be
        set up fails every sample at once)."""
        out = BatchScores()
        for key in keys:
            try:
                self._score(out, key, batch)
            except CAUGHT as e:
                if batch.size == 1 or key in self._errors:
                    msg = str(e) if isinstance(e, RuntimeError) and key in self._errors else describe(e)
                    out.rows.extend((sid, key, {}, f"scoring failed: {msg}") for sid in batch.sample_ids)
                    continue
                for i, sid in enumerate(batch.sample_ids):
                    try:
                        self._score(out, key, batch.one(i))
                    except CAUGHT as e1:
                        out.rows.append((sid, key, {}, f"scoring failed: {describe(e1)}"))
        return out

    def _score(self, out: BatchScores, key: str, batch: EvalBatch) -> None:
        """Add scorer ``key``'s values (and feature vectors) of every sample of ``batch`` to ``out``; nothing is
        added when it raises."""
        import torch

        spec, ids = self.specs[key], batch.sample_ids
        inst = self.instance(key)
        with torch.inference_mode():
            res = inst.compute(batch) if spec.kind == "metric" else _detector_values(inst, batch)
        shared = inst.reference_features() if spec.kind == "metric" else set()
        vals: list[dict[str, Any]] = [{} for _ in ids]
        feats, refs = [], []
        for name, arr in res.items():
            arr = np.asarray(arr.detach().cpu() if torch.is_tensor(arr) else arr)
            _check_shape(name, arr, len(ids))
            if arr.ndim == 1:
                for i in range(len(ids)):
                    vals[i][name] = float(arr[i])
            else:
                dest = refs if name in shared else feats
                dest.extend((key, ids[i], name, np.ascontiguousarray(arr[i])) for i in range(len(ids)))
        out.rows.extend((sid, key, v, None) for sid, v in zip(ids, vals))
        out.features.extend(feats)
        out.refs.extend(refs)


def _check_shape(name: str, arr: np.ndarray, n: int) -> None:
    """A returned value is [B] (one number per sample) or [B, D] (a feature vector per sample): a single number, or
    another count than the batch's, is the plug-in's mistake, said as such (not an IndexError, nor cut to size)."""
    if arr.ndim in (1, 2) and arr.shape[0] == n:
        return
    raise ValueError(f"'{name}' has shape {tuple(arr.shape)}: expected [{n}] (a value per sample of the batch) or "
                     f"[{n}, D] (a feature vector per sample)")


def _detector_values(det: Any, batch: EvalBatch) -> dict[str, Any]:
    """What a detector stores: its scores only when it has a flags rule (flags are set from them, with the
    thresholds in force, whenever the run is read: :mod:`bench.detectors.flagging`), else whatever ``detect``
    returns (a plug-in without a rule keeps the flags it set)."""
    if callable(getattr(det, "scores", None)) and callable(getattr(det, "flags", None)):
        return det.scores(batch)
    return det.detect(batch)
