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
gives the effect's 95 % interval and a two-sided p-value from the bootstrap standard error against Student's t
(n - 1 degrees of freedom; its resolution does not depend on the number of resamples, and it agrees with the paired
t-test). The p-values of all tests in one
comparison are Holm-corrected, so the chance of any false alarm when nothing changed is at most ``alpha``
(default 0.05). NEW worse with a corrected p < alpha is a regression. Per-sample values come from a run folder or
from a baseline JSON (which stores them for headline keys). ``--alpha 0`` turns the test off.

Tolerances override the test for their key: absolute (``lpips_in=+0.005``) or relative to the base value
(``fid=+2%``); the sign is optional and only documents the direction. A ``*`` rule or ``--strict`` (tolerance 0)
covers every key. ``error_rate`` is always gated (default tolerance 0: a cell that starts failing samples is a
regression). Cells of BASE missing from NEW fail the gate unless ``allow_missing``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import BenchError, suggest
from .aggregate import RunData, load_run, summarize
from .columns import ColumnCatalog, ColumnInfo
from .table import _jsonable, _unjson, format_number

BASELINE_FORMAT = "inpaint-bench-baseline"
BASELINE_VERSION = 2  # 2: per-sample values of headline keys, device / packages / git of the run
CELL_LABELS = ("backend", "dataset", "mask")
# Summary keys that are never compared (counts, context, or duplicates of another key).
SKIP_KEYS = {"n", "n_errors", "hole_fraction", "peak_mem_reserved_mb", "peak_rss_mb", "first_error"}
ALWAYS_GATED = {"error_rate": 0.0}
#: Keys that are never tested statistically, only by explicit rules: they depend on the machine, not the model.
COST_PREFIXES = ("latency", "wall", "images_per_s", "peak_", "load_time")
N_BOOT = 2000
MIN_PAIRS = 3


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
    device: Any = None
    run: RunData | None = None  # per-sample data when the side is a run folder
    samples: dict[tuple[str, str, str], dict[str, dict[str, float]]] | None = None  # baseline: cell -> key -> id
    _frame: Any = None

    def sample_values(self, cell: tuple[str, str, str], key: str) -> dict[str, float] | None:
        """sample id -> value of a per-sample key (``x_rate`` reads ``x_flag``) for the cell's successful
        samples, or None when this side has no per-sample values for it."""
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


def per_sample_column(key: str) -> str:
    """The per-sample column a summary key is the mean of: ``blur_rate`` <- ``blur_flag``, ``psnr_in`` <- itself."""
    return key[: -len("_rate")] + "_flag" if key.endswith("_rate") and key != "error_rate" else key


def is_headline(key: str, per_sample_columns: Iterable[str]) -> bool:
    """Tested by default: a per-sample metric or detector rate (not cost, not counts, not set-level)."""
    return (key not in SKIP_KEYS and key not in ALWAYS_GATED and not key.startswith(COST_PREFIXES)
            and per_sample_column(key) in set(per_sample_columns))


def baseline_from_summary(df, manifest: dict[str, Any] | None = None, frame: Any = None) -> dict[str, Any]:
    """The baseline JSON document of a per-cell ``summarize`` frame; with the run's per-sample ``frame``, the
    per-sample values of its headline keys too (what the default statistical gate pairs against)."""
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
        cells.append(cell)
    return {
        "format": BASELINE_FORMAT, "version": BASELINE_VERSION,
        "run_id": df.attrs.get("run_id") or manifest.get("run_id"),
        "config_hash": df.attrs.get("config_hash") or manifest.get("config_hash"),
        "comparable": bool(df.attrs.get("comparable", True)),
        "noncomparable_reasons": list(df.attrs.get("noncomparable_reasons") or []),
        "device": manifest.get("device"), "dtype": manifest.get("dtype"), "seed": manifest.get("seed"),
        "packages": manifest.get("packages"), "git": manifest.get("git"),
        "columns": df.attrs.get("columns", {}), "cells": cells,
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
    cells = {}
    samples: dict[tuple[str, str, str], dict[str, dict[str, float]]] = {}
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
            for k, vals in smp.items():
                if k != "sample_id" and isinstance(vals, list) and len(vals) == len(ids):
                    per_key[k] = {i: (math.nan if v is None else float(_unjson(v))) for i, v in zip(ids, vals)}
            samples[(c["backend"], c["dataset"], c["mask"])] = per_key
    return Side(name=str(path), cells=cells, columns=doc.get("columns") or {},
                comparable=bool(doc.get("comparable", True)), reasons=list(doc.get("noncomparable_reasons") or []),
                run_id=str(doc.get("run_id") or path.stem), config_hash=doc.get("config_hash"),
                device=doc.get("device"), samples=samples or None)


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
                config_hash=rd.manifest.get("config_hash"), device=rd.manifest.get("device"), run=rd)


# ------------------------------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Change:
    cell: tuple[str, str, str]
    key: str
    base: float
    new: float
    delta: float
    worse_by: float  # > 0: moved in the bad direction
    status: str  # better | same | within | regression | ungated | insignificant
    rule: Rule | None
    allowed: float | None
    base_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    diff_ci: tuple[float, float] | None = None  # paired bootstrap of new - base over the shared samples
    fmt: str = ".3f"
    higher_is_better: bool = True
    test: "PairedTest | None" = None  # the default statistical gate's test, where it applied
    note: str = ""  # why a key was not gated


@dataclass
class PairedTest:
    """Paired bootstrap of NEW - BASE over the samples both scored."""

    n: int
    mean_diff: float
    lo: float
    hi: float
    p_value: float  # two-sided, from the bootstrap standard error
    effect_size: float  # mean difference / sd of the differences (Cohen's d_z); +-inf when all differences agree
    p_adjusted: float = math.nan  # Holm-corrected over the comparison's tests
    threshold: float = math.nan  # what p_value was compared against in Holm's step-down


@dataclass
class CompareResult:
    base: Side
    new: Side
    changes: list[Change]
    missing: list[tuple[str, str, str]]  # in BASE, not in NEW
    added: list[tuple[str, str, str]]  # in NEW, not in BASE
    rules: dict[str, Rule]
    strict: bool
    allow_missing: bool
    unknown_rules: list[str] = field(default_factory=list)
    alpha: float = 0.05
    n_tests: int = 0

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.status == "regression"]

    @property
    def failed(self) -> bool:
        return bool(self.regressions) or (bool(self.missing) and not self.allow_missing)

    def markdown(self) -> str:
        return render_compare_markdown(self)


def _ci(d: dict[str, Any], key: str) -> tuple[float, float] | None:
    lo, hi = d.get(key + "_lo"), d.get(key + "_hi")
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _pairs(base: Side, new: Side, cell: tuple[str, str, str], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(base values, new values) over the samples both sides scored with finite values; None without data."""
    a, b = base.sample_values(cell, key), new.sample_values(cell, key)
    if a is None or b is None:
        return None
    common = sorted(set(a) & set(b))
    va = np.array([a[i] for i in common], dtype=float)
    vb = np.array([b[i] for i in common], dtype=float)
    ok = np.isfinite(va) & np.isfinite(vb)
    return va[ok], vb[ok]


def paired_test(base_values: np.ndarray, new_values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> PairedTest:
    """Paired bootstrap of mean(new - base): the percentile interval, and a two-sided p-value from the bootstrap
    standard error (bias-corrected by sqrt(n / (n - 1))) against Student's t with n - 1 degrees of freedom, which
    keeps the level at small n where a normal reference is liberal; exact 0 / 1 when every difference is the same."""
    from scipy.stats import t as student_t

    d = np.asarray(new_values, float) - np.asarray(base_values, float)
    n = int(d.size)
    obs = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if n > 1 and float(np.ptp(d)) <= 1e-9 * max(1.0, abs(obs)):  # the same difference everywhere (up to rounding)
        p = 1.0 if obs == 0 else 0.0
        eff = 0.0 if obs == 0 else math.copysign(math.inf, obs)
        return PairedTest(n, obs, obs, obs, p, eff)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = (float(x) for x in np.quantile(means, [0.025, 0.975]))
    se = float(means.std(ddof=1)) * math.sqrt(n / (n - 1))
    p = 1.0 if obs == 0 else (0.0 if se == 0 else float(2.0 * student_t.sf(abs(obs) / se, n - 1)))
    return PairedTest(n, obs, lo, hi, min(1.0, p), obs / sd if sd and math.isfinite(sd) else math.nan)


def holm(tests: list[PairedTest], alpha: float) -> set[int]:
    """Indices of the tests Holm's step-down procedure rejects at family-wise level ``alpha``; fills in
    ``p_adjusted`` and ``threshold``."""
    m = len(tests)
    order = sorted(range(m), key=lambda i: tests[i].p_value)
    rejected: set[int] = set()
    running = 0.0
    stop = False
    for rank, i in enumerate(order):
        t = tests[i]
        t.threshold = alpha / (m - rank)
        running = max(running, min(1.0, (m - rank) * t.p_value))
        t.p_adjusted = running
        if not stop and t.p_value < t.threshold:
            rejected.add(i)
        else:
            stop = True
    return rejected


def compare(base: Side, new: Side, rules: dict[str, Rule] | None = None, strict: bool = False,
            allow_missing: bool = False, alpha: float = 0.05) -> CompareResult:
    """Classify every change (see the module doc). ``alpha``: family-wise level of the default statistical gate
    (0 turns it off)."""
    if not 0.0 <= alpha < 1.0:
        raise BenchError(f"--alpha {alpha}: expected a level in [0, 1) (0 turns the statistical gate off)")
    rules = dict(rules or {})
    catalog = ColumnCatalog({**base.columns, **new.columns})
    default = rules.get("*")
    missing = [c for c in base.cells if c not in new.cells]
    added = [c for c in new.cells if c not in base.cells]
    changes: list[Change] = []
    seen_keys: set[str] = set()
    tested: list[Change] = []
    for cell, b in base.cells.items():
        if cell not in new.cells:
            continue
        n = new.cells[cell]
        keys = [k for k in b if k in n and not k.endswith(("_lo", "_hi")) and k not in SKIP_KEYS]
        for key in keys:
            info: ColumnInfo = catalog(key)
            seen_keys.add(key)
            if info.higher_is_better is None or key.startswith("failure_"):
                continue  # verdict shares: compared through the detector rates they derive from
            try:
                bv, nv = float(b[key]), float(n[key])
            except (TypeError, ValueError):
                continue
            if math.isnan(bv) or math.isnan(nv):
                continue
            delta = 0.0 if bv == nv else nv - bv  # also +inf == +inf
            worse_by = -delta if info.higher_is_better else delta
            rule = rules.get(key) or default
            if rule is None and key in ALWAYS_GATED:
                rule = Rule(key, ALWAYS_GATED[key], False)
            if rule is None and strict:
                rule = Rule(key, 0.0, False)
            allowed = rule.allowed(bv) if rule else None
            eps = 1e-12 * max(1.0, abs(bv) if math.isfinite(bv) else 1.0)
            pairs = _pairs(base, new, cell, key) if not key.startswith(COST_PREFIXES) else None
            test = None
            note = ""
            if pairs is not None and len(pairs[0]) >= 2:
                test = paired_test(*pairs)
            if worse_by < -eps:
                status = "better"
            elif worse_by <= eps and (test is None or test.mean_diff == 0):
                status = "same"
            elif rule is not None:
                status = "regression" if worse_by > allowed + eps else "within"
            elif alpha > 0 and test is not None and test.n >= MIN_PAIRS:
                status = "pending"  # decided after Holm over every test of this comparison
            else:
                status = "ungated"
                if alpha == 0:
                    note = "statistical gate off (--alpha 0)"
                elif key.startswith(COST_PREFIXES):
                    note = "cost: machine-dependent, gate it with a tolerance"
                elif pairs is None:
                    note = ("set-level or no per-sample values on both sides: gate it with a tolerance"
                            if base.sample_values(cell, key) is None or new.sample_values(cell, key) is None
                            else "no per-sample values")
                else:
                    note = f"only {len(pairs[0])} shared samples (the test needs {MIN_PAIRS})"
            diff_ci = (test.lo, test.hi) if test is not None and status != "same" else None
            ch = Change(cell, key, bv, nv, delta, worse_by, status, rule, allowed, _ci(b, key), _ci(n, key),
                        diff_ci, info.fmt, bool(info.higher_is_better), test, note)
            changes.append(ch)
            if status == "pending":
                tested.append(ch)
    rejected = holm([c.test for c in tested], alpha) if tested else set()
    for i, ch in enumerate(tested):
        if ch.worse_by > 0:
            ch.status = "regression" if i in rejected else "insignificant"
        else:  # better in the mean by less than eps, or a per-sample change with the same mean
            ch.status = "same"
    unknown = [k for k in rules if k != "*" and k not in seen_keys]
    return CompareResult(base, new, changes, missing, added, rules, strict, allow_missing, unknown, alpha,
                         len(tested))


def compare_sources(base: Any, new: Any, rules: dict[str, Rule] | None = None, strict: bool = False,
                    allow_missing: bool = False, alpha: float = 0.05) -> CompareResult:
    return compare(load_side(base), load_side(new), rules=rules, strict=strict, allow_missing=allow_missing,
                   alpha=alpha)


# ------------------------------------------------------------------------------------------------------------------
# Markdown (for a pull-request comment)
# ------------------------------------------------------------------------------------------------------------------
def _fmt(v: float, fmt: str) -> str:
    return format_number(v, fmt)


def _with_ci(v: float, ci: tuple[float, float] | None, fmt: str) -> str:
    s = _fmt(v, fmt)
    return s + (f" [{_fmt(ci[0], fmt)}, {_fmt(ci[1], fmt)}]" if ci else "")


def _signed(v: float, fmt: str) -> str:
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "+∞" if v > 0 else "−∞"
    s = _fmt(abs(v), fmt)
    return ("+" if v > 0 else "−" if v < 0 else "±") + s


def _rel(c: Change) -> str:
    if not math.isfinite(c.base) or not math.isfinite(c.new) or c.base == 0:
        return ""
    return f" ({(c.new - c.base) / abs(c.base) * 100:+.1f}%)"


def _cell_name(cell: tuple[str, str, str]) -> str:
    return " × ".join(cell)


def _esc(s: str) -> str:
    return str(s).replace("|", "\\|")


def _gate_text(c: Change) -> str:
    if c.rule:
        return "≤ " + _fmt(c.allowed, c.fmt) + (f" ({c.rule.show(c.higher_is_better)})" if c.rule.relative else "")
    t = c.test
    if t is not None and c.status in ("regression", "insignificant"):
        eff = "∞" if math.isinf(t.effect_size) else f"{abs(t.effect_size):.2f}"
        verdict = "<" if c.status == "regression" else "≥"
        return (f"p = {t.p_value:.2g} {verdict} {t.threshold:.2g} (Holm), d = {eff}, n = {t.n}")
    return "not gated" + (f": {c.note}" if c.note else "")


def _change_table(changes: list[Change], with_allowed: bool) -> list[str]:
    head = "| cell | metric | base | new | Δ | Δ 95% CI (paired) |" + (" gate |" if with_allowed else "")
    sep = "|:---|:---|---:|---:|---:|---:|" + ("---:|" if with_allowed else "")
    lines = [head, sep]
    for c in changes:
        arrow = "↑" if c.higher_is_better else "↓"
        diff = f"[{_signed(c.diff_ci[0], c.fmt)}, {_signed(c.diff_ci[1], c.fmt)}]" if c.diff_ci else "–"
        row = (f"| {_esc(_cell_name(c.cell))} | `{c.key}` {arrow} | {_with_ci(c.base, c.base_ci, c.fmt)} | "
               f"{_with_ci(c.new, c.new_ci, c.fmt)} | {_signed(c.delta, c.fmt)}{_rel(c)} | {diff} |")
        if with_allowed:
            row += f" {_gate_text(c)} |"
        lines.append(row)
    return lines


def render_compare_markdown(res: CompareResult) -> str:
    regs = res.regressions
    better = [c for c in res.changes if c.status == "better"]
    within = [c for c in res.changes if c.status in ("within", "insignificant")]
    ungated = [c for c in res.changes if c.status == "ungated"]
    n_sig = sum(1 for c in regs if c.rule is None)
    n_missing = len(res.missing)
    if res.failed:
        parts = []
        if regs:
            parts.append(f"{len(regs)} regression{'s' if len(regs) != 1 else ''}"
                         + (" (significant or beyond tolerance)" if n_sig else " beyond tolerance"))
        if n_missing and not res.allow_missing:
            parts.append(f"{n_missing} missing cell{'s' if n_missing != 1 else ''}")
        head = "## ❌ inpaint-bench: " + ", ".join(parts)
    else:
        head = "## ✅ inpaint-bench: no regression (none significant, none beyond tolerance)"
    lines = [head, ""]
    lines.append(f"Base `{res.base.run_id or res.base.name}` → new `{res.new.run_id or res.new.name}`: "
                 f"{len(better)} better, {len(regs) + len(within) + len(ungated)} worse "
                 f"({len(regs)} regressions, {len(within)} within tolerance or not significant, "
                 f"{len(ungated)} not gated), "
                 f"{sum(1 for c in res.changes if c.status == 'same')} unchanged.")
    lines.append("")
    for side, label in ((res.base, "base"), (res.new, "new")):
        if not side.comparable:
            reasons = "; ".join(side.reasons) or "marked non-comparable"
            lines += [f"> **⚠ NOT COMPARABLE ({label}):** {_esc(reasons)}", ""]
    if res.base.config_hash and res.new.config_hash and res.base.config_hash != res.new.config_hash:
        lines += [f"> **⚠ Different suite configurations** (config hash {res.base.config_hash} vs "
                  f"{res.new.config_hash}): numbers may differ for reasons other than the change under test.", ""]
    if res.base.device and res.new.device and json.dumps(res.base.device, sort_keys=True) != \
            json.dumps(res.new.device, sort_keys=True):
        lines += ["> **⚠ Different devices**: latency and memory are not comparable.", ""]
    hib = {c.key: c.higher_is_better for c in res.changes}
    cat = ColumnCatalog({**res.base.columns, **res.new.columns})
    rules = ", ".join(f"`{k}` {r.show(hib.get(k, cat(k).higher_is_better if k != '*' else False))}"
                      for k, r in sorted(res.rules.items())) or "none"
    gating = ("every key (strict: tolerance 0 where no rule)" if res.strict else
              "keys with a rule" + (" and every other key (`*`)" if "*" in res.rules else "") + ", plus `error_rate`")
    lines += [f"Tolerances: {rules}. Gated: {gating}.", ""]
    if res.alpha > 0 and not res.strict and "*" not in res.rules:
        lines += [f"Default gate: every per-sample metric and detector rate without a rule is tested on the samples "
                  f"both runs scored (paired bootstrap, {N_BOOT} resamples; Holm over {res.n_tests} "
                  f"test{'s' if res.n_tests != 1 else ''}, family-wise α = {res.alpha:g}). Set-level keys (FID, KID), "
                  f"latency and memory are gated only by a tolerance.", ""]
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
            mark = "⚠" if res.allow_missing else "❌"
            lines.append(f"- {mark} missing in NEW: **{_esc(_cell_name(c))}**" +
                         (" (allowed by --allow-missing)" if res.allow_missing else " (fails the gate)"))
        lines.append("")
    if res.added:
        lines.append("### New cells (not in BASE, not compared)")
        lines.append("")
        lines += [f"- ➕ {_esc(_cell_name(c))}" for c in res.added]
        lines.append("")
    if regs:
        lines += ["### ❌ Regressions", ""] + _change_table(regs, True) + [""]
    if better:
        lines += ["### Better", ""] + _change_table(better, False) + [""]
    if within or ungated:
        lines += ["<details><summary>Worse but within tolerance, not significant or not gated "
                  f"({len(within) + len(ungated)})</summary>", ""]
        lines += _change_table(within + ungated, True) + ["", "</details>", ""]
    return "\n".join(lines)
