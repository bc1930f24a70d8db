"""Opening a run: one folder, a ``records.sqlite``, a store, or several of them merged (shards, resumed pieces).

:func:`load_run` gives a :class:`RunData`: the store restricted to the cells and scorers of the suite that was run
last (rows of an earlier version of a suite, kept for reuse, are never read), the manifest (merged when several
runs are given), and :meth:`RunData.frame`, the per-sample records with flags set from the stored scores by the
thresholds in force and one verdict per sample. Every reader (reports, exports, the CI gate, calibration from
labels) opens runs here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..detectors import verdict
from ..detectors.flagging import apply_evidence, evidence_rules, set_flags
from ..errors import BenchError
from .manifest import merge_manifests, read_manifest
from .sqlite import RECORD_FIELDS, RunStore, merge_stores


@dataclass
class RunData:
    """Everything the report reads from one run (or several merged)."""

    store: RunStore
    manifest: dict[str, Any]
    run_dirs: list[Path] = field(default_factory=list)
    _frame: pd.DataFrame | None = None
    _records: list[dict[str, Any]] = field(default_factory=list)  # what the frame was made from
    #: per detector, the thresholds its flags were set with when :meth:`frame` was read
    thresholds: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path | None:
        return self.run_dirs[0] if self.run_dirs else None

    def frame(self) -> pd.DataFrame:
        """Per-sample records: stored metric values and detector scores, detector flags set from the scores with
        the thresholds in force now (:mod:`bench.detectors.flagging`; what was applied is in :attr:`thresholds`),
        and each sample's one ``failure`` verdict (:mod:`bench.detectors.verdict`)."""
        if self._frame is None:
            self._records = self.store.records()
            wanted = self.manifest.get("sample_ids")
            if isinstance(wanted, dict) and wanted:  # a limited run: only the samples its limit kept
                keep = {d: set(map(str, v)) for d, v in wanted.items() if isinstance(v, list)}
                self._records = [r for r in self._records
                                 if r.get("dataset") not in keep or str(r.get("sample_id")) in keep[r["dataset"]]]
            f = pd.DataFrame(self._records)
            if f.empty:
                f = pd.DataFrame(columns=list(RECORD_FIELDS))
            if "error" not in f:
                f["error"] = None
            specs = self._suite.get("detectors") or []
            self.thresholds = set_flags(f, specs)
            if specs:  # learned evidence only where detectors judge at all
                self.thresholds.update(apply_evidence(f, evidence_rules(specs),
                                                      random_weights=self.manifest.get("weights") == "random"))
            f[verdict.COLUMN] = verdict.verdicts(f, paste_back=self.paste_back)
            self._frame = f
        return self._frame

    def records(self) -> list[dict[str, Any]]:
        """The store's per-sample records (absent values left out), with the flags :meth:`frame` sets."""
        f = self.frame()  # one read of the store: the frame is made from these records, row for row
        recs = [dict(r) for r in self._records]
        flags = [c for c in f.columns if isinstance(c, str) and c.endswith("_flag")]
        for r, vals in zip(recs, f[flags].to_numpy(dtype=float)):
            for c, v in zip(flags, vals):
                if v == v:  # not NaN
                    r[c] = float(v)
        return recs

    def cells(self) -> pd.DataFrame:
        c = self.store.cells()
        return pd.DataFrame(c) if c else pd.DataFrame(columns=["cell_key", "backend", "dataset", "mask", "spec"])

    def sessions(self) -> pd.DataFrame:
        s = self.store.sessions()
        cols = ["cell_key", "session", "device", "load_time_s", "peak_mem_allocated", "peak_mem_reserved",
                "peak_rss", "n_computed"]
        return pd.DataFrame(s) if s else pd.DataFrame(columns=cols)

    @property
    def _suite(self) -> dict[str, Any]:
        """The resolved suite the manifest records (empty when it records none)."""
        suite = self.manifest.get("suite")
        return suite if isinstance(suite, dict) else {}

    @property
    def paste_back(self) -> bool:
        """Whether the run scored the composite (input outside the hole): then the verdict ignores what only the raw
        output shows (:data:`bench.detectors.verdict.RAW_ONLY`)."""
        return bool(self.manifest.get("paste_back", self._suite.get("paste_back", False)))

    @property
    def comparable(self) -> bool:
        return bool(self.manifest.get("comparable", True))

    @property
    def noncomparable_reasons(self) -> list[str]:
        return [str(r) for r in (self.manifest.get("noncomparable_reasons") or [])]

    @property
    def session_differences(self) -> list[str]:
        """What differed between the sessions that made this run (:func:`session_differences`)."""
        return session_differences(self.manifest)


def session_differences(manifest: dict[str, Any]) -> list[str]:
    """How the sessions of a run (resumed, rescored, merged shards) differed in what they ran with: the
    inpaint-bench git revision or uncommitted changes, a package version, the device. One phrase per difference
    (``git revision 1a2b3c4d (uncommitted changes) and 5e6f7a8b``); empty when they agree or sessions recorded
    none of it (runs from before sessions did)."""
    sessions = [s for s in manifest.get("sessions") or [] if isinstance(s, dict)]

    def seen(values: list[str]) -> list[str]:
        return list(dict.fromkeys(v for v in values if v))

    out = []
    gits = seen([(str(g.get("revision") or "?")[:8] + (" (uncommitted changes)" if g.get("dirty") else ""))
                 for s in sessions if isinstance(g := s.get("git"), dict)])
    if len(gits) > 1:
        out.append(f"git revision {' and '.join(gits)}")
    pkgs = [s["packages"] for s in sessions if isinstance(s.get("packages"), dict)]
    for name in sorted({k for p in pkgs for k in p}):
        versions = seen([str(p.get(name)) for p in pkgs if p.get(name)])
        if len(versions) > 1:
            out.append(f"{name} {' and '.join(versions)}")
    devices = seen([str(s.get("device_name") or "") for s in sessions])
    if len(devices) > 1:
        out.append(f"device {' and '.join(devices)}")
    # (a CPU model's latency scales with its threads: OMP_NUM_THREADS or another machine's cores change it)
    threads = seen([str(s["torch_threads"]) for s in sessions if s.get("torch_threads") is not None])
    if len(threads) > 1:
        out.append(f"torch threads {' and '.join(threads)}")
    return out


def _resolve_one(src: Any) -> tuple[Path | None, Path]:
    """(run dir or None, path of records.sqlite) for a folder or a .sqlite path; clear error when missing."""
    p = Path(src)
    if p.is_dir():
        db = p / "records.sqlite"
        if not db.exists():
            raise BenchError(f"{p}: not a run folder (no records.sqlite)")
        return p, db
    if p.suffix in (".sqlite", ".db") and p.exists():
        return p.parent, p
    raise BenchError(f"{p}: no such run folder")


def _read_manifest(run_dir: Path | None) -> dict[str, Any]:
    return (read_manifest(run_dir) if run_dir is not None else None) or {}


def _select(store: RunStore, manifest: dict[str, Any]) -> RunStore:
    """Restrict a store to the cells and scorers the manifest lists (the suite that was run last): rows of an
    earlier version of a suite, kept in the same folder for reuse, are never reported."""
    cells = manifest.get("cells")
    scorers = manifest.get("scorers")
    ck = [c["cell_key"] for c in cells if isinstance(c, dict) and "cell_key" in c] if isinstance(cells, list) else None
    sk = ([s["scorer_key"] for s in scorers if isinstance(s, dict) and "scorer_key" in s]
          if isinstance(scorers, list) else None)
    return store.select(ck or None, sk or None)


def _merge_stores(paths: list[Path]) -> RunStore:
    """An in-memory store holding the union of several stores' rows (:func:`bench.store.merge_stores`'s rules:
    a successful row wins over an error row; between two successful rows, the later generation, with its scores)."""
    mem = RunStore(":memory:")
    merge_stores(mem, paths)
    return mem


def load_run(src: Any) -> RunData:
    """Open a run: a folder, a ``records.sqlite`` path, a :class:`RunStore`, a :class:`RunData`, or a list of
    these (merged: shards or pieces of one suite run in several folders)."""
    if isinstance(src, RunData):
        return src
    if isinstance(src, RunStore):
        run_dir = src.path.parent if str(src.path) != ":memory:" else None
        manifest = _read_manifest(run_dir)
        return RunData(_select(src, manifest), manifest, [run_dir] if run_dir else [])
    if isinstance(src, (list, tuple)):
        items = list(src)
        if not items:
            raise BenchError("no run given")
        if len(items) == 1:
            return load_run(items[0])
        dirs, dbs = [], []
        for it in items:
            if isinstance(it, RunStore):
                d, db = it.path.parent, it.path
            elif isinstance(it, RunData):
                d, db = it.run_dir, it.store.path
            else:
                d, db = _resolve_one(it)
            dirs.append(d)
            dbs.append(db)
        manifests = [_read_manifest(d) for d in dirs]
        manifest = merge_manifests(manifests, dirs)
        return RunData(_select(_merge_stores(dbs), manifest), manifest, dirs)
    run_dir, db = _resolve_one(src)
    manifest = _read_manifest(run_dir)
    return RunData(_select(RunStore(db), manifest), manifest, [run_dir] if run_dir else [])
