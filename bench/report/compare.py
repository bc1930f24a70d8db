"""``bench compare BASE NEW``: the CI regression gate.

BASE and NEW are run folders or baseline JSON files (``bench report RUN --format json``). Cells are matched by
their labels (backend, dataset, mask). For every key with a direction, the change is classified:

* **better**: moved in the good direction;
* **worse, beyond tolerance** / **worse, significant**: a regression; the gate fails (exit 1);
* **worse, within tolerance** / **worse, not significant**: reported, passes;
* **worse, not gated**: no rule and no test applies (set-level keys such as FID, latency, memory): reported, passes.

**The default gate is statistical.** A headline key (a per-sample quality metric: ``psnr_in``, ``lpips_in``,
``ssim_full``...; or a failure-detector rate: ``replacement_rate``...) with no tolerance rule is tested on the
samples both runs scored: a paired bootstrap of the per-sample differences (NEW - BASE; 2000 resamples, seeded)
gives the effect's interval at level 1 - alpha (95 % by default; the Markdown names it) and a two-sided p-value from the bootstrap standard error against Student's t
(n - 1 degrees of freedom; its resolution does not depend on the number of resamples, and it agrees with the paired
t-test), per cell and pooled over each backend's cells. A test with no difference on any sample cannot reject and
is left out (Tarone); the p-values of the other tests in one comparison are Holm-corrected, so the chance of any
false alarm when nothing changed is at most ``alpha`` (default ``bench.stats.ALPHA``). NEW worse with a corrected p < alpha is a regression. Per-sample values come from a run folder or
from a baseline JSON (which stores them for headline keys). ``--alpha 0`` turns the test off.

Tolerances override the test for their key: absolute (``lpips_in=+0.005``) or relative to the base value
(``fid=+2%``); the sign is optional and only documents the direction. A ``*`` rule or ``--strict`` (tolerance 0)
covers every key. ``error_rate`` is always gated (default tolerance 0: a cell that starts failing samples is a
regression). Cells of BASE missing from NEW fail the gate unless ``allow_missing``.

**NEW must do at least what BASE did** (exit 1 otherwise, naming what is missing): carry every metric and detector
key BASE has a value for in a shared cell, score every sample BASE scored there (``min_coverage``: the share it
must score, default 1), and keep every infinite value BASE had on a shared sample (``psnr_out`` ∞ -> 30 dB on some
samples: the outside of the hole no longer kept exactly; a mean with one ∞ is ∞, so this is counted per sample).
``--allow-missing KEY`` (fnmatch patterns; a backend name or cell name for cells) relaxes it key by key.
**Better and worse come from the paired shared samples**: where both sides have per-sample values, the change and
its label are those of the samples both scored; "better" needs the test (Holm) or, under a tolerance, a paired
interval on the good side. Means over different sample sets decide nothing.

**NEW must measure what BASE measured**: a metric or detector with other parameters or applied thresholds
(``--allow-changed LABEL``), a key declared in the other direction (BASE's is used) or a NEW run marked
non-comparable where BASE is not (``--allow-noncomparable``) fails the gate too.
"""
from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .. import stats
from ..errors import BenchError, suggest
from .aggregate import RunData, load_run, summarize
from ..columns import Column
from ..store.manifest import config_hashes
from .columns import ColumnCatalog
from .study import COLUMN as STUDY_COLUMN
from .table import _jsonable, _unjson, format_number, incomplete_text

BASELINE_FORMAT = "inpaint-bench-baseline"
BASELINE_VERSION = 3  # 2: per-sample values of headline keys, device / packages / git; 3: input digests, scorers
CELL_LABELS = ("backend", "dataset", "mask")
# Summary keys that are never compared (counts, context, or duplicates of another key).
SKIP_KEYS = {"n", "n_errors", "hole_fraction", "peak_mem_reserved_mb", "peak_rss_mb", "first_error"}
ALWAYS_GATED = {"error_rate": 0.0}
#: Keys that are never tested statistically, only by explicit rules: they depend on the machine, not the model.
COST_PREFIXES = ("latency", "wall", "images_per_s", "peak_", "load_time")
N_BOOT = stats.N_BOOT_PAIRED
MIN_PAIRS = stats.MIN_PAIRS  # (the family rule is stats.can_reject, shared with bench report --compare)
#: summary columns that describe another key (its interval, its count of infinite values): never compared
AUX_SUFFIXES = ("_lo", "_hi", "_n_inf", "_n_values", "_small_n", "_n")


# ------------------------------------------------------------------------------------------------------------------
# tolerances
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    key: str
    value: float
    relative: bool

    def allowed(self, base: float) -> float:
        if self.relative:
            return abs(base) * self.value / 100.0 if math.isfinite(base) else 0.0
        return self.value

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.relative else f"{self.value:g}"

    def show(self, higher_is_better: bool | None) -> str:
        """The allowed worsening with its direction: ``+0.005`` for lower-is-better keys, ``-0.1`` for higher."""
        sign = "-" if higher_is_better else "+"
        return sign + str(self)


def parse_rule(key: str, text: Any, where: str = "--tol") -> Rule:
    s = str(text).strip()
    rel = s.endswith("%")
    num = s[:-1].strip() if rel else s
    try:
        v = abs(float(num))
    except ValueError:
        raise BenchError(f"{where} {key}={text}: expected a number like +0.005 or a percentage like +2%") from None
    if not math.isfinite(v):
        raise BenchError(f"{where} {key}={text}: tolerance must be finite")
    return Rule(key, v, rel)


def parse_tolerances(cli: Iterable[str] = (), yaml_file: str | Path | None = None) -> dict[str, Rule]:
    """Rules from a YAML file (``key: tol`` or under ``tolerances:``), then ``--tol KEY=TOL`` (which win)."""
    rules: dict[str, Rule] = {}
    if yaml_file:
        import yaml

        p = Path(yaml_file)
        if not p.exists():
            raise BenchError(f"{p}: tolerance file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise BenchError(f"{p}: invalid YAML ({e})") from None
        if isinstance(data, dict) and isinstance(data.get("tolerances"), dict):
            data = data["tolerances"]
        if not isinstance(data, dict):
            raise BenchError(f"{p}: expected a mapping key -> tolerance (e.g. 'lpips_in: +0.005')")
        for k, v in data.items():
            rules[str(k)] = parse_rule(str(k), v, where=str(p))
    for item in cli or ():
        if "=" not in item:
            raise BenchError(f"--tol {item}: expected KEY=TOL (e.g. lpips_in=+0.005, fid=+2%)")
        k, v = item.split("=", 1)
        k = k.strip()
        if not k:
            raise BenchError(f"--tol {item}: missing key")
        rules[k] = parse_rule(k, v)
    return rules


# ------------------------------------------------------------------------------------------------------------------
# sides: a run folder or a baseline JSON
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Side:
    name: str
    cells: dict[tuple[str, str, str], dict[str, Any]]  # labels -> {key: value, key_lo, key_hi, n, n_errors}
    columns: dict[str, Any]
    comparable: bool = True
    reasons: list[str] = field(default_factory=list)
    run_id: str = ""
    config_hash: str | None = None
    #: every config hash the side answers to (:func:`bench.store.manifest.config_hashes`: with the earlier rule's)
    config_hashes: set[str] = field(default_factory=set)
    device: Any = None
    run: RunData | None = None  # per-sample data when the side is a run folder
    samples: dict[tuple[str, str, str], dict[str, dict[str, float]]] | None = None  # baseline: cell -> key -> id
    sample_lists: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # baseline: cell -> ids
    #: baseline: cell -> sample id -> the digest of its masked input and mask (what the sample *was*)
    input_lists: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    #: cell -> sample ids set aside (scored on other inputs than the other side's): neither listed nor valued
    excluded: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    #: scorer label -> its definition (:func:`scorer_definitions`); None: not recorded (an older baseline)
    scorers: dict[str, dict[str, Any]] | None = None
    shards_missing: list[str] = field(default_factory=list)  # a merge of some shards only (``i/N`` not merged)
    #: the run-wide settings that change numbers besides the cells' specs (:func:`run_settings`), as recorded
    settings: dict[str, Any] = field(default_factory=dict)
    version: int | None = None  # a baseline's schema version (None: a run folder)
    _frame: Any = None
    _memo: dict = field(default_factory=dict)  # (what, cell, key) -> the answer of sample_ids / sample_values
    _inputs: dict | None = None

    def sample_inputs(self, cell: tuple[str, str, str]) -> dict[str, str]:
        """sample id -> digest of the masked input and mask it was scored on (``input_sha256:mask_sha256``, the
        generation row's), for the cell's successful samples; empty when this side does not record them."""
        if self.run is not None:
            if self._inputs is None:
                if self._frame is None:
                    self._frame = self.run.frame()
                self._inputs = input_digests(self.run, self._frame)
            return self._inputs.get(cell, {})
        return self.input_lists.get(cell, {})

    def sample_ids(self, cell: tuple[str, str, str]) -> tuple[set[str], set[str]] | None:
        """(ids of the cell's successful samples, ids of every sample it attempted, errors included), or None when
        this side does not list them (a baseline written before per-sample values); less :attr:`excluded`."""
        got = self._listed_ids(cell)
        ex = self.excluded.get(cell)
        return got if got is None or not ex else (got[0] - ex, got[1] - ex)

    def _listed_ids(self, cell: tuple[str, str, str]) -> tuple[set[str], set[str]] | None:
        if ("ids", cell) not in self._memo:
            self._memo[("ids", cell)] = self._sample_ids(cell)
        return self._memo[("ids", cell)]

    def _sample_ids(self, cell: tuple[str, str, str]) -> tuple[set[str], set[str]] | None:
        if self.run is not None:
            if self._frame is None:
                self._frame = self.run.frame()
            f = self._frame
            sel = f[(f["backend"] == cell[0]) & (f["dataset"] == cell[1]) & (f["mask"] == cell[2])]
            ok = {str(x) for x in sel.loc[sel["error"].isna(), "sample_id"]}
            return ok, {str(x) for x in sel["sample_id"]}
        if self.samples is not None and cell in self.samples and self.sample_lists.get(cell) is not None:
            ids = set(self.sample_lists[cell])
            return ids, ids
        return None

    def sample_values(self, cell: tuple[str, str, str], key: str) -> dict[str, float] | None:
        """sample id -> value of a per-sample key (``x_rate`` reads ``x_flag``) for the cell's successful
        samples, or None when this side has no per-sample values for it."""
        if ("values", cell, key) not in self._memo:
            self._memo[("values", cell, key)] = self._sample_values(cell, key)
        got, ex = self._memo[("values", cell, key)], self.excluded.get(cell)
        return got if got is None or not ex else {k: v for k, v in got.items() if k not in ex}

    def _sample_values(self, cell: tuple[str, str, str], key: str) -> dict[str, float] | None:
        column = per_sample_column(key)
        if self.run is not None:
            if self._frame is None:
                self._frame = self.run.frame()
            f = self._frame
            if column not in f:
                return None
            sel = f[(f["backend"] == cell[0]) & (f["dataset"] == cell[1]) & (f["mask"] == cell[2])
                    & f["error"].isna()]
            return {str(k): float(v) for k, v in zip(sel["sample_id"], sel[column].astype(float))}
        if self.samples is not None and cell in self.samples and column in self.samples[cell]:
            return self.samples[cell][column]
        return None


#: run-wide settings a comparison names when they differ (a seed, a resolution: other inputs or other draws of a
#: stochastic model), beside the config hash that says only *that* the suites differ
RUN_SETTINGS = ("seed", "resolution", "dtype", "paste_back", "weights")


def run_settings(manifest: dict[str, Any] | None) -> dict[str, Any]:
    """:data:`RUN_SETTINGS` of a run's manifest (top level, else its resolved suite's) or of a baseline document
    (which carries them at its top level); a setting recorded nowhere is left out."""
    manifest = manifest or {}
    suite = manifest.get("suite") if isinstance(manifest.get("suite"), dict) else {}
    out = {}
    for k in RUN_SETTINGS:
        v = manifest.get(k, suite.get(k))
        if v is not None:
            out[k] = v
    return out


def settings_differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``seed 0 → 1`` for each run setting both sides record with other values."""
    return [f"{k} {json.dumps(base[k])} → {json.dumps(new[k])}" for k in RUN_SETTINGS
            if k in base and k in new and base[k] != new[k]]


def per_sample_column(key: str) -> str:
    """The per-sample column a summary key is the mean of: ``blur_rate`` <- ``blur_flag``, ``psnr_in`` <- itself."""
    return key[: -len("_rate")] + "_flag" if key.endswith("_rate") and key != "error_rate" else key


def is_headline(key: str, per_sample_columns: Iterable[str]) -> bool:
    """Tested by default: a per-sample metric or detector rate (not cost, not counts, not set-level)."""
    return (key not in SKIP_KEYS and key not in ALWAYS_GATED and not key.startswith(COST_PREFIXES)
            and per_sample_column(key) in set(per_sample_columns))


def input_digests(rd: RunData, frame: Any) -> dict[tuple[str, str, str], dict[str, str]]:
    """(backend, dataset, mask) -> sample id -> ``input_sha256:mask_sha256`` of its successful output's generation
    row (the masked input and mask the model was given), for the cells of ``frame``."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    if frame is None or frame.empty:
        return out
    for key, g in frame.groupby("cell_key", sort=False):
        cell = (str(g["backend"].iloc[0]), str(g["dataset"].iloc[0]), str(g["mask"].iloc[0]))
        into = out.setdefault(cell, {})
        for sid, row in rd.store.output_info(str(key)).items():
            info = row.get("info") or {}
            if info.get("input_sha256") and info.get("mask_sha256"):
                into[str(sid)] = f"{info['input_sha256']}:{info['mask_sha256']}"
    return out


def scorer_definitions(manifest: dict[str, Any] | None,
                       applied: dict[str, Any] | None = None) -> dict[str, dict[str, Any]] | None:
    """label -> what its numbers mean: ``scorer_key`` (the scorer's type and parameters, hashed), ``thresholds``
    (a detector's flag thresholds as applied: they do not change its stored scores, so not its key) and
    ``settings`` (the manifest's provenance of the scorer, for saying what differs). None when the manifest lists
    no scorers. ``applied``: the thresholds the flags were set with when the run was read (:attr:`RunData.thresholds`,
    a summary's ``attrs["thresholds"]``); they replace the manifest's record of the thresholds in force when the run
    was made, which a thresholds file changed since then no longer describes."""
    manifest = manifest or {}
    listed = manifest.get("scorers")
    if not isinstance(listed, list):
        return None
    prov = {**(manifest.get("metrics") or {}), **(manifest.get("detectors") or {})}
    out = {}
    for s in listed:
        if not isinstance(s, dict) or "label" not in s:
            continue
        settings = prov.get(s["label"]) if isinstance(prov.get(s["label"]), dict) else {}
        now = (applied or {}).get(s["label"])
        if isinstance(now, dict) and "thresholds" in now and "error" not in now:
            settings = {**settings, **now}
        out[str(s["label"])] = {"scorer_key": s.get("scorer_key"), "thresholds": settings.get("thresholds"),
                                "settings": settings}
    return out


def _leaves(d: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(d, dict):
        out: dict[str, str] = {}
        for k, v in d.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(d, sort_keys=True, default=str)}


#: provenance leaves that say where a scorer's files or thresholds came from, not what it measures: a weights file's
#: ``path`` (its ``sha256`` is the identity) and a thresholds file's name, version and hash (the ``thresholds``
#: applied are compared themselves; a recalibration of one detector changes every detector's file hash)
WHERE_FROM = frozenset({"path", "url", "scorer_key", "provenance_error", "thresholds_file", "thresholds_version",
                        "thresholds_sha256", "thresholds_edited"})


def _definition(settings: dict[str, Any]) -> dict[str, str]:
    """The provenance leaves of a scorer that define its numbers (less :data:`WHERE_FROM`)."""
    return {k: v for k, v in _leaves(settings or {}).items() if k.rsplit(".", 1)[-1] not in WHERE_FROM}


def changed_definitions(base: dict[str, dict[str, Any]] | None,
                        new: dict[str, dict[str, Any]] | None) -> dict[str, list[str]]:
    """label -> what differs (``data_range: 1.0 → 255.0``), for the scorers both sides have whose parameters or
    applied thresholds differ: their numbers do not measure the same thing. Parameters are read from the scorer
    key (the suite's spec and the implementation's version) and from the recorded provenance, whose values include
    the defaults the suite did not spell out: a default changed in the code (SSIM's ``k1``, LPIPS's ``net``)
    leaves the key as it was. A leaf only one side records (a description added to the provenance) is not a
    difference by itself."""
    if not base or not new:
        return {}
    out = {}
    for label in sorted(base.keys() & new.keys()):
        b, n = base[label], new[label]
        lb, ln = _definition(b.get("settings") or {}), _definition(n.get("settings") or {})
        both = [k for k in sorted(lb.keys() & ln.keys()) if lb[k] != ln[k]]
        if b.get("scorer_key") == n.get("scorer_key") and b.get("thresholds") == n.get("thresholds") and not both:
            continue
        diff = [f"{k}: {lb.get(k, '–')} → {ln.get(k, '–')}" for k in sorted(lb.keys() | ln.keys())
                if lb.get(k) != ln.get(k)]
        out[label] = diff or [f"parameters differ ({b.get('scorer_key')} → {n.get('scorer_key')})"]
    return out


def baseline_from_summary(df, manifest: dict[str, Any] | None = None, frame: Any = None,
                          inputs: dict[tuple[str, str, str], dict[str, str]] | None = None) -> dict[str, Any]:
    """The baseline JSON document of a per-cell ``summarize`` frame; with the run's per-sample ``frame``, the
    per-sample values of its headline keys too (what the default statistical gate pairs against), and with
    ``inputs`` (:func:`input_digests`) each sample's input digest (so a NEW run on other inputs is not paired)."""
    manifest = manifest or {}
    columns = set(frame.columns) if frame is not None else set()
    cells = []
    for rec in df.to_dict("records"):
        values = {k: _jsonable(v) for k, v in rec.items() if k not in CELL_LABELS and k != "first_error"
                  and not k.endswith(("_lo", "_hi"))}
        intervals = {k: [_jsonable(rec.get(k + "_lo")), _jsonable(rec.get(k + "_hi"))]
                     for k in values if k + "_lo" in rec}
        cell: dict[str, Any] = {"backend": rec["backend"], "dataset": rec["dataset"], "mask": rec["mask"],
                                "values": values, "intervals": intervals}
        if frame is not None:
            sel = frame[(frame["backend"] == rec["backend"]) & (frame["dataset"] == rec["dataset"])
                        & (frame["mask"] == rec["mask"]) & frame["error"].isna()]
            keys = sorted({per_sample_column(k) for k in values if is_headline(k, columns)})
            cell["samples"] = {"sample_id": [str(x) for x in sel["sample_id"]],
                               **{k: [_jsonable(float(v)) for v in sel[k]] for k in keys}}
            digests = (inputs or {}).get((rec["backend"], rec["dataset"], rec["mask"]))
            if digests:
                cell["samples"]["inputs"] = [digests.get(str(x)) for x in sel["sample_id"]]
        cells.append(cell)
    return {
        "format": BASELINE_FORMAT, "version": BASELINE_VERSION,
        "run_id": df.attrs.get("run_id") or manifest.get("run_id"),
        "config_hash": df.attrs.get("config_hash") or manifest.get("config_hash"),
        **({"config_hash_v1": manifest["config_hash_v1"]} if manifest.get("config_hash_v1") else {}),
        "comparable": bool(df.attrs.get("comparable", True)),
        "noncomparable_reasons": list(df.attrs.get("noncomparable_reasons") or []),
        "device": manifest.get("device"), **run_settings(manifest), "dtype": manifest.get("dtype"),
        "seed": manifest.get("seed"),
        "packages": manifest.get("packages"), "git": manifest.get("git"),
        "columns": df.attrs.get("columns", {}), "scorers": scorer_definitions(manifest, df.attrs.get("thresholds")),
        "shards_missing": list(manifest.get("shards_missing") or []), "cells": cells,
    }


def write_baseline(doc: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    from ..fsio import write_text_atomic

    write_text_atomic(path, json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n")
    return path


def _side_from_baseline(path: Path) -> Side:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BenchError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
        raise BenchError(f"{path}: not an inpaint-bench baseline (write one with `bench report RUN --format json`)")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= BASELINE_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > BASELINE_VERSION:
            why = (f"'version' {version} is newer than this inpaint-bench reads (1 to {BASELINE_VERSION}): its fields "
                   f"may mean other things")
        else:
            why = ("has no 'version'" if version is None else f"'version' {version!r} is not one") + (
                f" (a baseline is version 1 to {BASELINE_VERSION})")
        raise BenchError(f"{path}: baseline {why}; write it again with this inpaint-bench (`bench report RUN --format "
                         f"json`)")
    cells = {}
    samples: dict[tuple[str, str, str], dict[str, dict[str, float]]] = {}
    lists: dict[tuple[str, str, str], list[str]] = {}
    inputs: dict[tuple[str, str, str], dict[str, str]] = {}
    for c in doc.get("cells", []):
        d: dict[str, Any] = {}
        for k, v in (c.get("values") or {}).items():
            u = _unjson(v)
            d[k] = math.nan if u is None else u
        for k, (lo, hi) in (c.get("intervals") or {}).items():
            d[k + "_lo"] = math.nan if lo is None else _unjson(lo)
            d[k + "_hi"] = math.nan if hi is None else _unjson(hi)
        cells[(c["backend"], c["dataset"], c["mask"])] = d
        smp = c.get("samples")
        if isinstance(smp, dict) and isinstance(smp.get("sample_id"), list):
            ids = [str(x) for x in smp["sample_id"]]
            per_key = {}
            digests = smp.get("inputs")
            if isinstance(digests, list) and len(digests) == len(ids):
                inputs[(c["backend"], c["dataset"], c["mask"])] = {i: str(d) for i, d in zip(ids, digests) if d}
            for k, vals in smp.items():
                if k not in ("sample_id", "inputs") and isinstance(vals, list) and len(vals) == len(ids):
                    per_key[k] = {i: (math.nan if v is None else float(_unjson(v))) for i, v in zip(ids, vals)}
            samples[(c["backend"], c["dataset"], c["mask"])] = per_key
            lists[(c["backend"], c["dataset"], c["mask"])] = ids
    return Side(name=str(path), cells=cells, columns=doc.get("columns") or {},
                comparable=bool(doc.get("comparable", True)), reasons=list(doc.get("noncomparable_reasons") or []),
                run_id=str(doc.get("run_id") or path.stem), config_hash=doc.get("config_hash"),
                config_hashes=config_hashes(doc), device=doc.get("device"), samples=samples or None,
                sample_lists=lists, input_lists=inputs,
                scorers=doc.get("scorers") if isinstance(doc.get("scorers"), dict) else None,
                shards_missing=[str(x) for x in doc.get("shards_missing") or []], settings=run_settings(doc),
                version=version)


def load_side(src: Any) -> Side:
    p = Path(src) if not isinstance(src, (RunData, list, tuple)) else None
    if p is not None and p.is_file() and p.suffix == ".json":
        return _side_from_baseline(p)
    if p is not None and not p.exists():
        raise BenchError(f"{p}: no such run folder or baseline file")
    rd = load_run(src)
    df = summarize(rd, ci=True)
    cells = {}
    for rec in df.to_dict("records"):
        cells[(rec["backend"], rec["dataset"], rec["mask"])] = rec
    return Side(name=str(src), cells=cells, columns=df.attrs.get("columns", {}), comparable=rd.comparable,
                reasons=rd.noncomparable_reasons, run_id=str(df.attrs.get("run_id") or ""),
                config_hash=rd.manifest.get("config_hash"), config_hashes=config_hashes(rd.manifest),
                device=rd.manifest.get("device"), run=rd,
                scorers=scorer_definitions(rd.manifest, rd.thresholds),
                shards_missing=[str(x) for x in rd.manifest.get("shards_missing") or []],
                settings=run_settings(rd.manifest))


# ------------------------------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Change:
    cell: tuple[str, str, str]
    key: str
    base: float
    new: float
    delta: float  # NEW - BASE: the paired mean difference where per-sample values exist, else of the means
    worse_by: float  # > 0: moved in the bad direction
    status: str  # better | same | within | regression | ungated | insignificant
    rule: Rule | None
    allowed: float | None
    base_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    diff_ci: tuple[float, float] | None = None  # paired bootstrap of new - base over the shared samples
    fmt: str = ".3f"
    higher_is_better: bool = True
    test: "PairedTest | None" = None  # the paired test on the shared samples, where per-sample values exist
    note: str = ""  # why a key was not gated, or what made it a regression
    lost_inf: int = 0  # shared samples whose value went from infinite to finite in the bad direction (∞ -> 30 dB)
    gained_inf: int = 0  # ... in the good direction
    n_shared: int = 0  # shared samples with a value on both sides
    base_inf: tuple[int, int] | None = None  # (infinite values, values) when some but not all are infinite
    new_inf: tuple[int, int] | None = None


@dataclass
class PairedTest:
    """Paired bootstrap of NEW - BASE over the samples both scored (:func:`bench.stats.paired_bootstrap`)."""

    n: int
    mean_diff: float
    lo: float
    hi: float
    p_value: float  # two-sided, from the bootstrap standard error
    effect_size: float  # mean difference / sd of the differences (Cohen's d_z); +-inf when all differences agree
    p_adjusted: float = math.nan  # Holm-corrected over the comparison's tests
    threshold: float = math.nan  # what p_value was compared against in Holm's step-down
    alpha: float = math.nan  # the family-wise level of that step-down (what p_adjusted is compared with)
    n_pos_inf: int = 0  # pairs where NEW - BASE is +inf (left out of the test)
    n_neg_inf: int = 0  # pairs where NEW - BASE is -inf
    unchanged: bool = False  # no difference on any finite pair: cannot reject, not in the Holm family

    def can_reject(self) -> bool:
        """Whether this test enters the comparison's Holm family (:func:`bench.stats.can_reject`)."""
        return stats.can_reject(vars(self))


@dataclass
class Coverage:
    """How many of the samples BASE scored in a cell (for one key, or for the cell when ``key`` is None) NEW
    scored or attempted (a NEW error is gated by ``error_rate``, not here)."""

    cell: tuple[str, str, str]
    key: str | None
    n_base: int
    n_covered: int
    missing: list[str]  # sample ids (empty when counted, not listed)
    by_counts: bool = False  # a side without per-sample ids: compared by counts
    allowed: bool = False  # relaxed by --min-coverage or --allow-missing

    @property
    def ratio(self) -> float:
        return self.n_covered / self.n_base if self.n_base else 1.0


@dataclass
class CompareResult:
    base: Side
    new: Side
    changes: list[Change]
    missing: list[tuple[str, str, str]]  # in BASE, not in NEW
    added: list[tuple[str, str, str]]  # in NEW, not in BASE
    rules: dict[str, Rule]
    strict: bool
    allow_missing: bool  # every missing cell and key allowed (bare --allow-missing)
    unknown_rules: list[str] = field(default_factory=list)
    alpha: float = stats.ALPHA
    n_tests: int = 0
    allowed_keys: list[str] = field(default_factory=list)  # --allow-missing KEY (patterns)
    min_coverage: float = 1.0
    missing_keys: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # key -> cells lacking it
    coverage: list[Coverage] = field(default_factory=list)  # cells / keys where NEW scored fewer samples
    #: cell -> ids NEW scored on another masked input or mask than BASE's (not paired: not scored, for coverage)
    other_inputs: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    #: scorer label -> what differs, for scorers whose parameters or applied thresholds differ (not comparable)
    changed_scorers: dict[str, list[str]] = field(default_factory=dict)
    allowed_changes: list[str] = field(default_factory=list)  # --allow-changed LABEL (patterns)
    #: (key, BASE's higher_is_better, NEW's): a key whose direction NEW declares otherwise (BASE's is used)
    directions: list[tuple[str, bool, bool]] = field(default_factory=list)
    allow_noncomparable: bool = False
    n_unchanged_tests: int = 0  # tests that cannot reject (stats.can_reject: no difference on any finite pair)

    @property
    def failing_scorers(self) -> list[str]:
        return [k for k in self.changed_scorers
                if not any(fnmatch.fnmatchcase(k, p) for p in self.allowed_changes)]

    @property
    def base_incomplete(self) -> bool:
        """BASE is a merge of some of its shards only: a baseline with fewer samples lowers the bar of every later
        comparison (NEW's coverage is measured against BASE's samples). A bare --allow-missing accepts it."""
        return bool(self.base.shards_missing) and not self.allow_missing

    @property
    def lost_comparability(self) -> bool:
        """NEW is marked non-comparable (random weights, forced merge, ...) while BASE is not."""
        return self.base.comparable and not self.new.comparable and not self.allow_noncomparable

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.status == "regression"]

    @property
    def failing_keys(self) -> list[str]:
        return [k for k in self.missing_keys if not self.key_allowed(k)]

    @property
    def failing_coverage(self) -> list[Coverage]:
        return [c for c in self.coverage if not c.allowed]

    def key_allowed(self, key: str) -> bool:
        return self.allow_missing or any(fnmatch.fnmatchcase(key, p) for p in self.allowed_keys)

    def cell_allowed(self, cell: tuple[str, str, str]) -> bool:
        """A missing cell is allowed by a bare --allow-missing, or by a pattern matching one of its labels (a
        backend name) or its name ``backend × dataset × mask``."""
        names = [*cell, " × ".join(cell)]
        return self.allow_missing or any(fnmatch.fnmatchcase(n, p) for p in self.allowed_keys for n in names)

    @property
    def failing_cells(self) -> list[tuple[str, str, str]]:
        return [c for c in self.missing if not self.cell_allowed(c)]

    @property
    def failed(self) -> bool:
        return (bool(self.regressions) or bool(self.failing_cells) or bool(self.failing_keys)
                or bool(self.failing_coverage) or bool(self.failing_scorers) or bool(self.directions)
                or self.lost_comparability or self.base_incomplete)

    def markdown(self) -> str:
        return render_compare_markdown(self)


def _ci(d: dict[str, Any], key: str) -> tuple[float, float] | None:
    lo, hi = d.get(key + "_lo"), d.get(key + "_hi")
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _inf_count(d: dict[str, Any], key: str) -> tuple[int, int] | None:
    """(infinite values, values) of a mean that is infinite though not every value is (``summarize`` records
    ``KEY_n_inf`` / ``KEY_n_values`` then)."""
    try:
        k, n = int(d[key + "_n_inf"]), int(d[key + "_n_values"])
    except (KeyError, TypeError, ValueError):
        return None
    return (k, n) if 0 < k < n else None


def _pairs(base: Side, new: Side, cell: tuple[str, str, str], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(base values, new values) over the samples both sides scored (non-finite values kept: the test counts
    them); None when either side has no per-sample values for the key."""
    a, b = base.sample_values(cell, key), new.sample_values(cell, key)
    if a is None or b is None:
        return None
    common = sorted(set(a) & set(b))
    va = np.array([a[i] for i in common], dtype=float)
    vb = np.array([b[i] for i in common], dtype=float)
    ok = ~np.isnan(va) & ~np.isnan(vb)
    return va[ok], vb[ok]


def paired_test(base_values: np.ndarray, new_values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                alpha: float = stats.ALPHA) -> PairedTest:
    """:func:`bench.stats.paired_bootstrap` of NEW - BASE (the test ``bench report --compare`` uses too): the
    percentile interval at level ``1 - alpha``, a two-sided p-value from the bootstrap standard error against
    Student's t (n - 1 degrees of freedom), Cohen's d_z; pairs with an infinite difference are counted, not
    tested."""
    r = stats.paired_bootstrap(new_values, base_values, n_boot=n_boot, alpha=alpha, seed=seed)
    return PairedTest(r["n"], r["mean_diff"], r["lo"], r["hi"], r["p_value"], r["effect_size"],
                      n_pos_inf=r["n_pos_inf"], n_neg_inf=r["n_neg_inf"], unchanged=r["unchanged"])


def holm(tests: list[PairedTest], alpha: float) -> set[int]:
    """Indices of the tests Holm's step-down procedure rejects at family-wise level ``alpha``, over those that can
    reject (:func:`bench.stats.holm_family`, as ``bench report --compare``); fills in ``p_adjusted`` and
    ``threshold``."""
    rejected, adjusted, thresholds = stats.holm_family([vars(t) for t in tests], alpha)
    for t, a, th in zip(tests, adjusted, thresholds):
        t.p_adjusted, t.threshold, t.alpha = a, th, alpha
    return rejected


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


#: keys of people's judgements (a scored user study): a CI run cannot make them, so NEW is never required to have them
HUMAN_KEYS = (STUDY_COLUMN,)


def required_keys(cell: dict[str, Any]) -> list[str]:
    """The metric and detector keys of a BASE cell that NEW must carry too: every key with a value, less counts,
    cost (machine-dependent), intervals, the verdict shares (they follow the detectors), ``error_rate`` and people's
    judgements (:data:`HUMAN_KEYS`: a baseline written after a user study failed every later comparison)."""
    out = []
    for k, v in cell.items():
        if (k in SKIP_KEYS or k in ALWAYS_GATED or k.endswith(AUX_SUFFIXES) or k.startswith(COST_PREFIXES)
                or k.startswith("failure_") or k in CELL_LABELS or k in HUMAN_KEYS):
            continue
        if not math.isnan(_float(v)):
            out.append(k)
    return out


def _coverage(base: Side, new: Side, cell: tuple[str, str, str], keys: Iterable[str]) -> list[Coverage]:
    """The cell's sample coverage, then any key NEW scored on fewer of BASE's samples than the cell's."""
    ib, inew = base.sample_ids(cell), new.sample_ids(cell)
    out: list[Coverage] = []
    if ib is None or inew is None:  # counted: a baseline without per-sample ids
        nb = int(_float(base.cells[cell].get("n")) or 0)
        nn = new.cells[cell]
        attempted = int((_float(nn.get("n")) or 0) + (_float(nn.get("n_errors")) or 0))
        if attempted < nb:
            out.append(Coverage(cell, None, nb, attempted, [], by_counts=True))
        return out
    scored_b, (scored_n, attempted_n) = ib[0], inew
    missing = sorted(scored_b - attempted_n)
    if missing:
        out.append(Coverage(cell, None, len(scored_b), len(scored_b) - len(missing), missing))
    errored_n = attempted_n - scored_n
    for key in keys:
        a, b = base.sample_values(cell, key), new.sample_values(cell, key)
        if a is None or b is None:
            continue
        want = {i for i, v in a.items() if not math.isnan(v)}
        have = {i for i, v in b.items() if not math.isnan(v)} | errored_n
        lost = sorted(want - have - set(missing))
        if lost:
            out.append(Coverage(cell, key, len(want), len(want) - len(lost) - len(set(missing) & want), lost))
    return out


def _inf_meaning(key: str, base_value_inf: bool) -> str:
    """What an infinite value of ``key`` stands for, in words (PSNR: the region is kept exactly)."""
    if not key.startswith("psnr"):
        return ""
    region = {"out": "outside the hole", "in": "the hole", "full": "the image"}.get(key.rsplit("_", 1)[-1], "")
    if not region:
        return ""
    return f"{region} no longer kept exactly" if base_value_inf else f"{region} now kept exactly"


def interval_alpha(alpha: float) -> float:
    """The level of the paired intervals of a comparison at ``--alpha alpha``: the interval is ``1 - alpha``, the
    level the test decides at (an interval excluding 0 about where p < alpha), so under a tolerance "better" reads
    the level asked for too; with the test off (``--alpha 0``) the default :data:`bench.stats.ALPHA`."""
    return alpha if alpha > 0 else stats.ALPHA


def level_text(alpha: float) -> str:
    """``1 - alpha`` as a percentage, for the Markdown (``95%``, ``99%``, ``99.5%``)."""
    return f"{round((1.0 - alpha) * 100, 6):g}%"


def compare(base: Side, new: Side, rules: dict[str, Rule] | None = None, strict: bool = False,
            allow_missing: bool | Iterable[str] = False, alpha: float = stats.ALPHA,
            min_coverage: float = 1.0, allow_changed: Iterable[str] = (),
            allow_noncomparable: bool = False) -> CompareResult:
    """Classify every change (see the module doc). ``alpha``: family-wise level of the default statistical gate
    (0 turns it off). ``allow_missing``: True lets NEW miss any cell or key; a list of keys (fnmatch patterns) lets
    it miss those keys (their presence, their samples, their infinite values). ``min_coverage``: the share of
    BASE's samples NEW must have scored in each shared cell (default 1: all). ``allow_changed``: scorer labels
    (fnmatch patterns) whose parameters or thresholds may differ; ``allow_noncomparable``: NEW may be marked
    non-comparable where BASE is not. Directions are BASE's; a key NEW declares in the other direction fails."""
    if not 0.0 <= alpha < 1.0:
        raise BenchError(f"--alpha {alpha}: expected a level in [0, 1) (0 turns the statistical gate off)")
    if not 0.0 <= min_coverage <= 1.0:
        raise BenchError(f"--min-coverage {min_coverage}: expected a share in [0, 1] (1: NEW scores every sample "
                         f"BASE scored)")
    if isinstance(allow_missing, bool):
        allowed_keys: list[str] = []
        allow_all = allow_missing
    else:
        allowed_keys = [str(k) for k in allow_missing if k != "*"]
        allow_all = any(k == "*" for k in allow_missing)
    scored = [_float(c.get("n")) for c in base.cells.values()]
    if not any(v > 0 for v in scored):  # nothing BASE scored: every NEW would pass, however little it did
        raise BenchError(f"{base.name}: BASE " + (f"scored no sample in its {len(base.cells)} "
                                                  f"cell{'s' if len(base.cells) != 1 else ''} (n = 0: every sample "
                                                  f"failed or none was run)" if base.cells else "has no cells (an "
                                                  "empty run or baseline)")
                         + ": it gates nothing; compare against a run that scored samples")
    ci_alpha = interval_alpha(alpha)
    rules = dict(rules or {})
    catalog = ColumnCatalog({**new.columns, **base.columns})  # BASE's directions: NEW cannot turn worse into better
    directions = []
    for k in sorted(base.columns.keys() & new.columns.keys()):
        hb, hn = (c[k].get("higher_is_better") if isinstance(c[k], dict) else None for c in (base.columns, new.columns))
        if hb is not None and hn is not None and bool(hb) != bool(hn):
            directions.append((k, bool(hb), bool(hn)))
    default = rules.get("*")
    missing = [c for c in base.cells if c not in new.cells]
    added = [c for c in new.cells if c not in base.cells]
    changes: list[Change] = []
    seen_keys: set[str] = set()
    tested: list[Change] = []
    missing_keys: dict[str, list[tuple[str, str, str]]] = {}
    coverage: list[Coverage] = []

    def allowed(key: str) -> bool:
        return allow_all or any(fnmatch.fnmatchcase(key, p) for p in allowed_keys)

    other_inputs: dict[tuple[str, str, str], list[str]] = {}
    pooled: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}  # (backend, key) -> its cells' pairs
    n_unchanged = 0
    for cell, b in base.cells.items():
        if cell not in new.cells:
            continue
        bi, ni = base.sample_inputs(cell), new.sample_inputs(cell)
        other = sorted(sid for sid in bi.keys() & ni.keys() if bi[sid] != ni[sid])
        if other:  # the same ids, other images or masks (seed, resolution, mask settings, data): not pairs
            new.excluded[cell] = set(other)
            other_inputs[cell] = other
        n = new.cells[cell]
        need = required_keys(b)
        for k in need:
            if math.isnan(_float(n.get(k))):
                missing_keys.setdefault(k, []).append(cell)
        cov = _coverage(base, new, cell, [k for k in need if cell not in missing_keys.get(k, ())])
        for c in cov:
            c.allowed = c.ratio >= min_coverage or (c.key is not None and allowed(c.key))
        coverage += cov
        cell_cov = next((c for c in cov if c.key is None), None)
        same_sets = cell_cov is None and (new.sample_ids(cell) is None or base.sample_ids(cell) is None
                                          or new.sample_ids(cell)[0] == base.sample_ids(cell)[0])
        keys = [k for k in b if k in n and not k.endswith(AUX_SUFFIXES) and k not in SKIP_KEYS]
        for key in keys:
            info: Column = catalog(key)
            seen_keys.add(key)
            if info.higher_is_better is None or key.startswith("failure_"):
                continue  # verdict shares: compared through the detector rates they derive from
            bv, nv = _float(b[key]), _float(n[key])
            if math.isnan(bv) or math.isnan(nv):
                continue
            hib = bool(info.higher_is_better)
            rule = rules.get(key)
            if rule is None and key in ALWAYS_GATED:  # its own rule only: a `*` default for metrics (+0.5 dB) let
                rule = Rule(key, ALWAYS_GATED[key], False)  # half the samples start failing
            if rule is None:
                rule = default
            if rule is None and strict:
                rule = Rule(key, 0.0, False)
            allowed_by = rule.allowed(bv) if rule else None
            pairs = _pairs(base, new, cell, key) if not key.startswith(COST_PREFIXES) else None
            test = paired_test(*pairs, alpha=ci_alpha) if pairs is not None else None
            lost = gained = 0
            if test is not None:
                gained, lost = stats.infinite_wins(vars(test), hib)
            paired = test is not None and test.n >= 1
            delta = test.mean_diff if paired else (0.0 if bv == nv else nv - bv)  # also +inf == +inf
            if not paired and (lost or gained):  # only infinite changes: the direction they went
                delta = math.copysign(math.inf, (1.0 if hib else -1.0) * (gained - lost))
            worse_by = -delta if hib else delta
            eps = stats.rounding_tolerance(bv, nv)  # the paired test's rounding rule (stats.ROUNDING)
            note = ""
            significant_good = paired and test.n >= 2 and not math.isnan(test.lo) and (
                (test.lo > 0) if hib else (test.hi < 0))
            if lost and not allowed(key):
                status = "regression"
                meaning = _inf_meaning(key, True)
                note = f"∞ → finite on {lost} of {len(pairs[0])} samples" + (f": {meaning}" if meaning else "")
            elif paired and test.n >= 2:
                if rule is not None:
                    if worse_by > allowed_by + eps:
                        status = "regression"
                    elif gained or significant_good:
                        status = "better"
                    elif abs(worse_by) <= eps and test.p_value == 1.0:
                        status = "same"
                    else:
                        status = "within" if worse_by > eps else "insignificant"
                elif alpha > 0 and test.n >= MIN_PAIRS:
                    pooled.setdefault((cell[0], key), []).append(pairs)
                    if not test.can_reject():  # no difference on any finite pair: not in the family
                        status = "better" if gained else "same"
                        n_unchanged += 1
                    else:
                        status = "pending"  # decided after Holm over every test of this comparison
                elif abs(worse_by) <= eps and test.p_value == 1.0 and not gained:
                    status = "same"
                elif gained or (alpha == 0 and significant_good):
                    status = "better"
                else:
                    status = "ungated" if worse_by > eps else "insignificant"
                    note = ("statistical gate off (--alpha 0)" if alpha == 0
                            else f"only {test.n} shared samples (the test needs {MIN_PAIRS})")
            elif pairs is not None:  # per-sample values, but fewer than two shared finite pairs
                if rule is not None and worse_by > allowed_by + eps:
                    status = "regression"
                elif gained:
                    status = "better"
                elif abs(worse_by) <= eps:
                    status = "same"
                else:
                    status = "ungated"
                    note = f"only {test.n} shared samples with finite values (the test needs {MIN_PAIRS})"
            else:  # no per-sample values on one side: set-level keys (FID), cost, baselines without samples
                if rule is not None and worse_by > allowed_by + eps:
                    status = "regression"
                elif abs(worse_by) <= eps:
                    status = "same"
                elif not same_sets:
                    status = "ungated"
                    note = "means over different sample sets (NEW did not score every sample BASE scored)"
                elif rule is not None:
                    status = "within" if worse_by > eps else "better"
                elif worse_by < -eps and not key.startswith(COST_PREFIXES):
                    status = "better"  # (cost without a rule: machine noise, not called better either)
                else:
                    status = "ungated"
                    if alpha == 0:
                        note = "statistical gate off (--alpha 0)"
                    elif key.startswith(COST_PREFIXES):
                        note = "cost: machine-dependent, gate it with a tolerance"
                    else:
                        note = ("set-level or no per-sample values on both sides: gate it with a tolerance"
                                if base.sample_values(cell, key) is None or new.sample_values(cell, key) is None
                                else "no per-sample values")
            if gained and not note:
                meaning = _inf_meaning(key, False)
                note = f"finite → ∞ on {gained} of {len(pairs[0])} samples" + (f": {meaning}" if meaning else "")
            diff_ci = (test.lo, test.hi) if paired and test.n >= 2 and status != "same" else None
            ch = Change(cell, key, bv, nv, delta, worse_by, status, rule, allowed_by, _ci(b, key), _ci(n, key),
                        diff_ci, info.fmt, hib, test, note, lost, gained,
                        len(pairs[0]) if pairs is not None else 0, _inf_count(b, key), _inf_count(n, key))
            changes.append(ch)
            if status == "pending":
                tested.append(ch)
    for (backend, key), parts in pooled.items():  # a backend's change over every cell it has: n adds up
        if len(parts) < 2:
            continue
        vb, vn = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        test = paired_test(vb, vn, alpha=ci_alpha)
        if not test.can_reject():
            continue
        info = catalog(key)
        hib = bool(info.higher_is_better)
        finite = np.isfinite(vb) & np.isfinite(vn)
        if not finite.any():
            continue
        fb, fn = vb[finite], vn[finite]
        worse_by = -test.mean_diff if hib else test.mean_diff
        ch = Change((backend, POOLED, f"{len(parts)} cells"), key, float(fb.mean()), float(fn.mean()),
                    test.mean_diff, worse_by, "pending", None, None, None, None, (test.lo, test.hi), info.fmt, hib,
                    test, "", 0, 0, len(vb))
        changes.append(ch)
        tested.append(ch)
    rejected = holm([c.test for c in tested], alpha) if tested else set()
    for i, ch in enumerate(tested):
        if i in rejected:
            ch.status = "regression" if ch.worse_by > 0 else "better"
        elif ch.gained_inf:
            ch.status = "better"
        elif ch.test.p_value == 1.0 and abs(ch.worse_by) <= stats.rounding_tolerance(ch.base, ch.new):
            ch.status = "same"
        else:
            ch.status = "insignificant"
    unknown = [k for k in rules if k != "*" and k not in seen_keys]
    return CompareResult(base, new, changes, missing, added, rules, strict, allow_all, unknown, alpha,
                         len(tested), allowed_keys, min_coverage, missing_keys, coverage, other_inputs,
                         changed_definitions(base.scorers, new.scorers), [str(p) for p in allow_changed],
                         directions, allow_noncomparable, n_unchanged)


#: the dataset label of a pooled change: a backend's samples over every shared cell where its key was tested
POOLED = "every cell"


def compare_sources(base: Any, new: Any, rules: dict[str, Rule] | None = None, strict: bool = False,
                    allow_missing: bool | Iterable[str] = False, alpha: float = stats.ALPHA,
                    min_coverage: float = 1.0, allow_changed: Iterable[str] = (),
                    allow_noncomparable: bool = False) -> CompareResult:
    return compare(load_side(base), load_side(new), rules=rules, strict=strict, allow_missing=allow_missing,
                   alpha=alpha, min_coverage=min_coverage, allow_changed=allow_changed,
                   allow_noncomparable=allow_noncomparable)


# ------------------------------------------------------------------------------------------------------------------
# Markdown (for a pull-request comment)
# ------------------------------------------------------------------------------------------------------------------
def _fmt(v: float, fmt: str) -> str:
    return format_number(v, fmt)


def _with_ci(v: float, ci: tuple[float, float] | None, fmt: str, inf: tuple[int, int] | None = None) -> str:
    s = _fmt(v, fmt)
    if inf is not None and math.isinf(v):  # a mean made infinite by some of its values: say how many
        s += f" ({inf[0]} of {inf[1]})"
    return s + (f" [{_fmt(ci[0], fmt)}, {_fmt(ci[1], fmt)}]" if ci else "")


def _signed(v: float, fmt: str) -> str:
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "+∞" if v > 0 else "−∞"
    s = _fmt(abs(v), fmt)
    return ("+" if v > 0 else "−" if v < 0 else "±") + s


def _rel(c: Change) -> str:
    if not math.isfinite(c.base) or not math.isfinite(c.delta) or c.base == 0:
        return ""
    return f" ({c.delta / abs(c.base) * 100:+.1f}%)"


def _cell_name(cell: tuple[str, str, str]) -> str:
    if cell[1] == POOLED:  # a backend's pooled test
        return f"{cell[0]} × {POOLED} (pooled, {cell[2]})"
    return " × ".join(cell)


def _esc(s: str) -> str:
    return str(s).replace("|", "\\|")


def _gate_text(c: Change) -> str:
    if c.lost_inf and c.status == "regression":
        return c.note
    if c.rule:
        return "≤ " + _fmt(c.allowed, c.fmt) + (f" ({c.rule.show(c.higher_is_better)})" if c.rule.relative else "")
    t = c.test
    if t is not None and c.status in ("regression", "insignificant") and not math.isnan(t.threshold):
        eff = "∞" if math.isinf(t.effect_size) else f"{abs(t.effect_size):.2f}"
        if c.status == "insignificant" and t.p_value < t.threshold:  # Holm stopped at a smaller p before this one
            return (f"p = {t.p_value:.2g}, Holm-adjusted {t.p_adjusted:.2g} ≥ {t.alpha:g} (a smaller p of this "
                    f"comparison was not rejected, so Holm stops), d = {eff}, n = {t.n}")
        verdict = "<" if c.status == "regression" else "≥"
        return (f"p = {t.p_value:.2g} {verdict} {t.threshold:.2g} (Holm), d = {eff}, n = {t.n}")
    if c.status == "insignificant":
        return "not significant" + (f": {c.note}" if c.note else "")
    return "not gated" + (f": {c.note}" if c.note else "")


def _change_table(changes: list[Change], with_allowed: bool, level: str) -> list[str]:
    head = f"| cell | metric | base | new | Δ | Δ {level} CI (paired) |" + (" gate |" if with_allowed else "")
    sep = "|:---|:---|---:|---:|---:|---:|" + ("---:|" if with_allowed else "")
    lines = [head, sep]
    for c in changes:
        arrow = "↑" if c.higher_is_better else "↓"
        diff = f"[{_signed(c.diff_ci[0], c.fmt)}, {_signed(c.diff_ci[1], c.fmt)}]" if c.diff_ci else "–"
        row = (f"| {_esc(_cell_name(c.cell))} | `{c.key}` {arrow} | {_with_ci(c.base, c.base_ci, c.fmt, c.base_inf)}"
               f" | {_with_ci(c.new, c.new_ci, c.fmt, c.new_inf)} | {_signed(c.delta, c.fmt)}{_rel(c)} | {diff} |")
        if with_allowed:
            row += f" {_esc(_gate_text(c))} |"
        elif c.note:
            row = row[:-1] + f"{' ' if diff == '–' else '; '}{_esc(c.note)} |"
        lines.append(row)
    return lines


def baseline_lacks(side: Side) -> str:
    """What an older baseline cannot check, in words (empty for a run folder or a current baseline)."""
    if side.version is None or side.version >= BASELINE_VERSION:
        return ""
    parts = [] if side.version >= 2 else [
        "per-sample values (no key without a tolerance is tested, and coverage is counted, not listed)"]
    parts.append("input digests nor scorer definitions (a sample scored on other inputs, a metric or detector "
                 "defined otherwise, is not detected)")
    return ", and no ".join(parts)


def render_compare_markdown(res: CompareResult) -> str:
    regs = res.regressions
    better = [c for c in res.changes if c.status == "better"]
    within = [c for c in res.changes if c.status in ("within", "insignificant")]
    ungated = [c for c in res.changes if c.status == "ungated"]
    n_ungated = sum(1 for c in ungated if c.worse_by > 0)
    n_within = sum(1 for c in within if c.worse_by > 0)
    n_worse = len(regs) + n_ungated + n_within
    n_unlabelled = len(within) + len(ungated) - n_within - n_ungated  # better in the mean, not by the gate's test
    n_sig = sum(1 for c in regs if c.rule is None)
    if res.failed:
        parts = []
        if regs:
            parts.append(f"{len(regs)} regression{'s' if len(regs) != 1 else ''}"
                         + (" (significant or beyond tolerance)" if n_sig else " beyond tolerance"))
        n_missing = len(res.failing_cells)
        if n_missing:
            parts.append(f"{n_missing} missing cell{'s' if n_missing != 1 else ''}")
        if res.failing_keys:
            k = len(res.failing_keys)
            parts.append(f"{k} missing key{'s' if k != 1 else ''}")
        if res.failing_coverage:
            k = len({c.cell for c in res.failing_coverage})
            parts.append(f"{k} cell{'s' if k != 1 else ''} with samples NEW did not score")
        if res.failing_scorers:
            k = len(res.failing_scorers)
            parts.append(f"{k} metric{'' if k == 1 else 's'} or detector{'' if k == 1 else 's'} defined otherwise")
        if res.directions:
            parts.append(f"{len(res.directions)} key{'s' if len(res.directions) != 1 else ''} with another direction")
        if res.lost_comparability:
            parts.append("NEW not comparable")
        if res.base_incomplete:
            parts.append("BASE incomplete")
        head = "## ❌ inpaint-bench: " + ", ".join(parts)
    else:
        head = "## ✅ inpaint-bench: no regression (none significant, none beyond tolerance)"
    lines = [head, ""]
    lines.append(f"Base `{res.base.run_id or res.base.name}` → new `{res.new.run_id or res.new.name}`: "
                 f"{len(better)} better, {n_worse} worse "
                 f"({len(regs)} regression{'s' if len(regs) != 1 else ''}, {n_within} within tolerance or not "
                 f"significant, {n_ungated} not gated), {n_unlabelled} better but not significantly or not "
                 f"comparably, {sum(1 for c in res.changes if c.status == 'same')} unchanged. Better and worse come "
                 f"from the samples both runs scored (paired).")
    lines.append("")
    relaxed = []
    if res.allow_missing:
        relaxed.append("--allow-missing (every cell and key)")
    elif res.allowed_keys:
        relaxed.append("--allow-missing " + ", ".join(res.allowed_keys))
    if res.min_coverage < 1.0:
        relaxed.append(f"--min-coverage {res.min_coverage:g}")
    lines += [f"Relaxed: {'; '.join(relaxed)}." if relaxed else
              "Coverage: NEW must carry every metric and detector key of BASE and score every sample BASE scored.",
              ""]
    for side, label in ((res.base, "base"), (res.new, "new")):
        if not side.comparable:
            reasons = "; ".join(side.reasons) or "marked non-comparable"
            lines += [f"> **⚠ NOT COMPARABLE ({label}):** {_esc(reasons)}", ""]
    for side, label in ((res.base, "BASE"), (res.new, "NEW")):
        if side.shards_missing:
            bad = label == "BASE" and res.base_incomplete
            lines += [f"> **{'❌' if bad else '⚠'} {label} is incomplete:** {incomplete_text(side.shards_missing)}"
                      + (" (a baseline with fewer samples lowers the bar; merge the rest, or accept it with a bare "
                         "`--allow-missing`)" if bad else "") + ".", ""]
    if res.lost_comparability:
        lines += ["> **❌ NEW is not comparable and BASE is** (its reasons above): its numbers are not of the same "
                  "kind, so it fails the gate; `--allow-noncomparable` accepts it.", ""]
    if res.changed_scorers:
        failing = res.failing_scorers
        lines += ["### ❌ Defined otherwise" if failing else "### Defined otherwise (allowed by --allow-changed)", "",
                  "Parameters or applied thresholds of these metrics and detectors differ between BASE and NEW, so "
                  "their keys below do not measure the same thing (a change there is not the model's). "
                  "`--allow-changed LABEL` accepts it; otherwise make the suites agree or refresh the baseline.", ""]
        for label, diff in res.changed_scorers.items():
            more = f"; … {len(diff) - 4} more" if len(diff) > 4 else ""
            lines.append(f"- {'❌' if label in failing else '⚠'} `{_esc(label)}`: "
                         + "; ".join(_esc(d) for d in diff[:4]) + more)
        lines.append("")
    if res.directions:
        lines += ["### ❌ Directions differ", "",
                  "NEW declares these keys in the other direction than BASE (a plug-in changed what is better): "
                  "compared with BASE's, and the gate fails until the baseline is refreshed.", ""]
        lines += [f"- `{_esc(k)}`: BASE {'↑' if hb else '↓'}, NEW {'↑' if hn else '↓'}"
                  for k, hb, hn in res.directions]
        lines.append("")
    for side, label in ((res.base, "BASE"), (res.new, "NEW")):
        lacks = baseline_lacks(side)
        if lacks:
            lines += [f"> **⚠ {label} is an older baseline** (version {side.version}): it has no {lacks}; write it "
                      f"again with `bench report RUN --format json`.", ""]
    differ = settings_differences(res.base.settings, res.new.settings)
    if res.other_inputs:
        n_other = sum(len(v) for v in res.other_inputs.values())
        lines += [f"> **⚠ Other inputs:** NEW scored {n_other} of BASE's samples (in {len(res.other_inputs)} "
                  f"cell{'s' if len(res.other_inputs) != 1 else ''}) on another masked image or mask than BASE's "
                  f"(another seed, resolution, mask setting or data" + (
                      f"; these settings differ: {', '.join(differ)}" if differ else "") + "): they are not paired "
                  f"and count as not scored below.", ""]
    # (one suite: the hashes meet, a run made before the hash rule changed carrying the earlier rule's)
    if res.base.config_hashes and res.new.config_hashes and not res.base.config_hashes & res.new.config_hashes:
        lines += [f"> **⚠ Different suite configurations** (config hash {res.base.config_hash} vs "
                  f"{res.new.config_hash}" + (f"; {', '.join(differ)}" if differ else "") + "): numbers may differ "
                  f"for reasons other than the change under test.", ""]
    if res.base.device and res.new.device and json.dumps(res.base.device, sort_keys=True) != \
            json.dumps(res.new.device, sort_keys=True):
        lines += ["> **⚠ Different devices**: latency and memory are not comparable.", ""]
    hib = {c.key: c.higher_is_better for c in res.changes}
    cat = ColumnCatalog({**res.base.columns, **res.new.columns})
    rules = ", ".join(f"`{k}` {r.show(hib.get(k, cat(k).higher_is_better if k != '*' else False))}"
                      for k, r in sorted(res.rules.items())) or "none"
    gating = ("every key (strict: tolerance 0 where no rule)" if res.strict else
              "keys with a rule" + (" and every other key (`*`)" if "*" in res.rules else "") + ", plus `error_rate`")
    level = level_text(interval_alpha(res.alpha))
    lines += [f"Tolerances: {rules}. Gated: {gating}. Paired intervals of NEW − BASE: {level} (level "
              f"{interval_alpha(res.alpha):g}" + (", the default: the test is off" if res.alpha == 0 else
                                                   ", as `--alpha`") + "; under a tolerance, \"better\" needs "
              f"the interval on the good side).", ""]
    if res.alpha > 0 and not res.strict and "*" not in res.rules:
        skipped = (f"; {res.n_unchanged_tests} with no difference on any sample left out of it, as they cannot "
                   f"reject" if res.n_unchanged_tests else "")
        lines += [f"Default gate: every per-sample metric and detector rate without a rule is tested on the samples "
                  f"both runs scored, per cell and, for a backend with several cells, pooled over them (paired "
                  f"bootstrap, {N_BOOT} resamples; Holm over {res.n_tests} test{'s' if res.n_tests != 1 else ''}"
                  f"{skipped}; family-wise α = {res.alpha:g}). Set-level keys (FID, KID), latency and memory are "
                  f"gated only by a tolerance.", ""]
    elif res.alpha == 0:
        lines += ["Default statistical gate: off (`--alpha 0`).", ""]
    for k in res.unknown_rules:
        known = sorted({c.key for c in res.changes})
        close = suggest(k, known)
        lines.append(f"- ⚠ tolerance for `{k}` matches no compared key" + (f" (did you mean `{close}`?)" if close
                                                                           else ""))
    if res.unknown_rules:
        lines.append("")
    if res.missing:
        lines.append("### Missing cells")
        lines.append("")
        for c in res.missing:
            ok = res.cell_allowed(c)
            lines.append(f"- {'⚠' if ok else '❌'} missing in NEW: **{_esc(_cell_name(c))}**" +
                         (" (allowed by --allow-missing)" if ok else " (fails the gate)"))
        lines.append("")
    if res.missing_keys:
        lines += ["### ❌ Keys missing in NEW" if res.failing_keys else "### Keys missing in NEW", ""]
        n_cells = sum(1 for c in res.base.cells if c in res.new.cells)
        for k, cells in res.missing_keys.items():
            ok = res.key_allowed(k)
            where = (f"in all {n_cells} shared cells" if len(cells) == n_cells and n_cells > 1 else
                     "in " + ", ".join(f"**{_esc(_cell_name(c))}**" for c in cells[:4])
                     + (f" and {len(cells) - 4} more cells" if len(cells) > 4 else ""))
            lines.append(f"- {'⚠' if ok else '❌'} `{k}`: BASE has it, NEW has no value {where}"
                         + (" (allowed by --allow-missing)" if ok else " (fails the gate)"))
        lines.append("")
    if res.coverage:
        lines += ["### ❌ Coverage" if res.failing_coverage else
                  f"### Coverage (allowed{f' by --min-coverage {res.min_coverage:g}' if res.min_coverage < 1 else ''})",
                  ""]
        for c in res.coverage:
            what = f"`{c.key}`: " if c.key else ""
            ids = ""
            if c.missing:
                ids = " (missing: " + ", ".join(_esc(x) for x in c.missing[:6]) + (
                    f", … {len(c.missing)} in all" if len(c.missing) > 6 else "") + ")"
            elif c.by_counts:
                ids = " (counted: a side lists no sample ids)"
            lines.append(f"- {'⚠' if c.allowed else '❌'} **{_esc(_cell_name(c.cell))}**: {what}NEW scored "
                         f"{c.n_covered} of the {c.n_base} samples BASE scored ({c.ratio:.0%}){ids}")
        lines.append("")
    if res.added:
        lines.append("### New cells (not in BASE, not compared)")
        lines.append("")
        lines += [f"- ➕ {_esc(_cell_name(c))}" for c in res.added]
        lines.append("")
    if regs:
        lines += ["### ❌ Regressions", ""] + _change_table(regs, True, level) + [""]
    if better:
        lines += ["### Better", ""] + _change_table(better, False, level) + [""]
    if within or ungated:
        lines += ["<details><summary>Within tolerance, not significant or not gated "
                  f"({len(within) + len(ungated)})</summary>", ""]
        lines += _change_table(within + ungated, True, level) + ["", "</details>", ""]
    return "\n".join(lines)
