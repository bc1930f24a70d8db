"""Plan: from a suite to the work still to do, diffed with the store, before any model or network loads.

The three identities it diffs by are defined in :mod:`bench.keys` (shared/DESIGN.md, "generate once, score many"):

* **generation key** of a cell: everything that decides the output pixels: backend spec, dataset spec, mask
  strategy, seed, resolution, dtype, the blank value, the pixel format (8-bit) and the geometry adapter's version.
  Metrics, detectors, thresholds, paste-back (a scoring view), batch size and device are *not* in it.
* **input key** of a cell: dataset spec, mask strategy, seed, resolution: what decides the masked input and the
  ground truth. Every backend of one dataset × mask shares it (reference features, exported inputs).
* **scorer key** of a metric or detector: its spec with defaults resolved by the plug-in, its implementation
  version, its thresholds (file version and SHA-256), the weights mode and the scoring view (paste-back).

The plan is a set difference: samples wanted (the shard's share, up to ``limit``) minus samples generated; then,
for generated samples, scorer keys wanted minus scorer keys stored. A fully stored suite starts no backend and
builds no metric network.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DataError
from ..keys import Cell, ScorerSpec

def assign_work(cells: list[Cell], ids: dict[str, list[str]],
                shard: tuple[int, int] | None = None) -> dict[str, list[str]]:
    """Sample ids per cell (by generation key). With ``shard = (i, n)``: the i-th of n contiguous, nearly equal
    slices of the (cell, sample) list in backend-first order, so each shard loads as few models as it can (one or
    two when there are more shards than backends). A pure function of the suite: shards never overlap."""
    work = [(c.key, sid) for c in cells for sid in ids[c.dataset.label]]
    if shard is not None:
        i, n = shard
        lo, hi = i * len(work) // n, (i + 1) * len(work) // n
        work = work[lo:hi]
    out: dict[str, list[str]] = {c.key: [] for c in cells}
    for key, sid in work:
        out[key].append(sid)
    return out


def dataset_ids(label: str, ds: Any, limit: int | None) -> list[str]:
    from ..errors import quote

    all_ids = list(ds.ids())
    if not all_ids:  # (an empty table and exit 0 would look like a run)
        raise DataError("it has no samples, so nothing would run on it")
    for sid in all_ids:
        if not isinstance(sid, str) or not sid:
            raise ConfigError(f"datasets ({label})", f"sample ids must be non-empty text, got {quote(sid)}")
        try:
            sid.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"datasets ({label})", f"sample id {quote(sid)} is not valid text (a file name in "
                                                     f"another encoding?)") from None
    if len(set(all_ids)) != len(all_ids):
        raise ConfigError(f"datasets ({label})", "sample ids are not unique")
    return all_ids[:limit] if limit is not None else all_ids


@dataclass
class CellPlan:
    """What one cell still needs: samples to generate, and for samples already generated the scorers missing."""

    cell: Cell
    wanted: list[str]
    generate: list[str]
    score: dict[str, list[str]]  # sample id -> scorer keys to compute (generated samples only)

    @property
    def idle(self) -> bool:
        return not self.generate and not self.score

    @property
    def stored(self) -> list[str]:
        """The wanted samples that have a stored output (in ``wanted``'s order)."""
        gen = set(self.generate)
        return [sid for sid in self.wanted if sid not in gen]

    def regenerate(self, ids: set[str]) -> None:
        """Generate ``ids`` again (their stored outputs are stale): they join ``generate``, in ``wanted``'s order,
        and leave ``score`` (a new output replaces its scores)."""
        gen = set(self.generate) | set(ids)
        self.generate = [sid for sid in self.wanted if sid in gen]
        for sid in ids:
            self.score.pop(sid, None)


def plan(store: Any, cells: list[Cell], scorers: list[ScorerSpec], work: dict[str, list[str]]) -> list[CellPlan]:
    keys = [s.key for s in scorers]
    out = []
    for c in cells:
        wanted = work[c.key]
        generated = store.generated_ids(c.key)
        scored = store.scored(c.key, keys)
        gen = [sid for sid in wanted if sid not in generated]
        score: dict[str, list[str]] = {}
        for sid in wanted:
            if sid in generated:
                missing = [k for k in keys if sid not in scored[k]]
                if missing:
                    score[sid] = missing
        out.append(CellPlan(c, wanted, gen, score))
    return out
