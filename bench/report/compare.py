"""``bench compare BASE NEW``: the CI regression gate.

BASE and NEW are run folders or baseline JSON files (``bench report RUN --format json``). Cells are matched by
their labels (backend, dataset, mask). For every key with a direction, the change is classified:

* **better**: moved in the good direction;
* **worse, beyond tolerance**: a regression; the gate fails (exit 1);
* **worse, within tolerance**: reported, passes;
* **worse, not gated**: the key has no rule (and no ``*`` default, no ``--strict``): reported, passes.

Tolerances are allowed worsening in each key's bad direction: absolute (``lpips_in=+0.005``) or relative to the
base value (``fid=+2%``); the sign is optional and only documents the direction. ``error_rate`` is always gated
(default tolerance 0: a cell that starts failing samples is a regression). Cells of BASE missing from NEW fail the
gate unless ``allow_missing``. Where both sides are run folders, per-sample metrics also get a paired bootstrap
interval of the difference over the samples both runs scored.
"""
from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import BenchError
from .aggregate import RunData, _stats_impl, load_run, summarize
from .columns import ColumnCatalog, ColumnInfo
from .table import _jsonable, _unjson, format_number

BASELINE_FORMAT = "inpaint-bench-baseline"
BASELINE_VERSION = 1
CELL_LABELS = ("backend", "dataset", "mask")
# Summary keys that are never compared (counts, context, or duplicates of another key).
SKIP_KEYS = {"n", "n_errors", "hole_fraction", "peak_mem_reserved_mb", "peak_rss_mb", "first_error"}
ALWAYS_GATED = {"error_rate": 0.0}


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


def baseline_from_summary(df, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The baseline JSON document of a per-cell ``summarize`` frame."""
    cells = []
    for rec in df.to_dict("records"):
        values = {k: _jsonable(v) for k, v in rec.items() if k not in CELL_LABELS and k != "first_error"
                  and not k.endswith(("_lo", "_hi"))}
        intervals = {k: [_jsonable(rec.get(k + "_lo")), _jsonable(rec.get(k + "_hi"))]
                     for k in values if k + "_lo" in rec}
        cells.append({"backend": rec["backend"], "dataset": rec["dataset"], "mask": rec["mask"],
                      "values": values, "intervals": intervals})
    return {
        "format": BASELINE_FORMAT, "version": BASELINE_VERSION,
        "run_id": df.attrs.get("run_id"), "config_hash": df.attrs.get("config_hash"),
        "comparable": bool(df.attrs.get("comparable", True)),
        "noncomparable_reasons": list(df.attrs.get("noncomparable_reasons") or []),
        "device": (manifest or {}).get("device"),
        "columns": df.attrs.get("columns", {}), "cells": cells,
    }


def write_baseline(doc: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    from ..store.files import write_text_atomic

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
    for c in doc.get("cells", []):
        d: dict[str, Any] = {}
        for k, v in (c.get("values") or {}).items():
            u = _unjson(v)
            d[k] = math.nan if u is None else u
        for k, (lo, hi) in (c.get("intervals") or {}).items():
            d[k + "_lo"] = math.nan if lo is None else _unjson(lo)
            d[k + "_hi"] = math.nan if hi is None else _unjson(hi)
        cells[(c["backend"], c["dataset"], c["mask"])] = d
    return Side(name=str(path), cells=cells, columns=doc.get("columns") or {},
                comparable=bool(doc.get("comparable", True)), reasons=list(doc.get("noncomparable_reasons") or []),
                run_id=str(doc.get("run_id") or path.stem), config_hash=doc.get("config_hash"),
                device=doc.get("device"))


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
    status: str  # better | same | within | regression | ungated
    rule: Rule | None
    allowed: float | None
    base_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    diff_ci: tuple[float, float] | None = None  # paired bootstrap of new - base (run folders only)
    fmt: str = ".3f"
    higher_is_better: bool = True


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


def _local_paired_bootstrap(a, b, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict[str, float]:
    """Fallback with bench.metrics.stats.paired_bootstrap's convention: the interval of mean(a - b)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return {"mean_diff": float(d.mean()), "lo": float(lo), "hi": float(hi), "p_value": float(min(1.0, p))}


def _paired_ci(base: Side, new: Side, cell: tuple[str, str, str], key: str) -> tuple[float, float] | None:
    """Paired bootstrap interval of (new - base) over samples both runs scored successfully."""
    if base.run is None or new.run is None:
        return None
    out = []
    for side in (base, new):
        f = side.run.frame()
        if key not in f:
            return None
        sel = f[(f["backend"] == cell[0]) & (f["dataset"] == cell[1]) & (f["mask"] == cell[2]) & f["error"].isna()]
        out.append(sel.set_index("sample_id")[key].astype(float))
    a, b = out
    common = a.index.intersection(b.index)
    if len(common) < 2:
        return None
    va, vb = a.loc[common].to_numpy(), b.loc[common].to_numpy()
    ok = np.isfinite(va) & np.isfinite(vb)
    if ok.sum() < 2:
        return None
    fn = _stats_impl("paired_bootstrap", _local_paired_bootstrap)
    try:
        r = fn(vb[ok], va[ok])  # bench.metrics.stats.paired_bootstrap(a, b): mean(a - b)
    except Exception:
        r = _local_paired_bootstrap(va[ok], vb[ok])
    # Whichever sign convention paired_bootstrap uses (b - a or a - b), report the interval of new - base.
    obs = float(np.mean(vb[ok] - va[ok]))
    lo, hi = float(r["lo"]), float(r["hi"])
    md = float(r.get("mean_diff", obs))
    if obs != 0 and md != 0 and math.copysign(1, md) != math.copysign(1, obs):
        lo, hi = -hi, -lo
    return (lo, hi)


def compare(base: Side, new: Side, rules: dict[str, Rule] | None = None, strict: bool = False,
            allow_missing: bool = False) -> CompareResult:
    rules = dict(rules or {})
    catalog = ColumnCatalog({**base.columns, **new.columns})
    default = rules.get("*")
    missing = [c for c in base.cells if c not in new.cells]
    added = [c for c in new.cells if c not in base.cells]
    changes: list[Change] = []
    seen_keys: set[str] = set()
    for cell, b in base.cells.items():
        if cell not in new.cells:
            continue
        n = new.cells[cell]
        keys = [k for k in b if k in n and not k.endswith(("_lo", "_hi")) and k not in SKIP_KEYS]
        for key in keys:
            info: ColumnInfo = catalog(key)
            seen_keys.add(key)
            if info.higher_is_better is None:
                continue
            try:
                bv, nv = float(b[key]), float(n[key])
            except (TypeError, ValueError):
                continue
            if math.isnan(bv) or math.isnan(nv):
                continue
            if bv == nv:  # also +inf == +inf
                delta = 0.0
            else:
                delta = nv - bv
            worse_by = -delta if info.higher_is_better else delta
            rule = rules.get(key) or default
            if rule is None and key in ALWAYS_GATED:
                rule = Rule(key, ALWAYS_GATED[key], False)
            if rule is None and strict:
                rule = Rule(key, 0.0, False)
            allowed = rule.allowed(bv) if rule else None
            eps = 1e-12 * max(1.0, abs(bv) if math.isfinite(bv) else 1.0)
            if worse_by < -eps:
                status = "better"
            elif worse_by <= eps:
                status = "same"
            elif rule is None:
                status = "ungated"
            elif worse_by > allowed + eps:
                status = "regression"
            else:
                status = "within"
            diff_ci = _paired_ci(base, new, cell, key) if status != "same" and info.interval else None
            changes.append(Change(cell, key, bv, nv, delta, worse_by, status, rule, allowed, _ci(b, key),
                                  _ci(n, key), diff_ci, info.fmt, bool(info.higher_is_better)))
    unknown = [k for k in rules if k != "*" and k not in seen_keys]
    return CompareResult(base, new, changes, missing, added, rules, strict, allow_missing, unknown)


def compare_sources(base: Any, new: Any, rules: dict[str, Rule] | None = None, strict: bool = False,
                    allow_missing: bool = False) -> CompareResult:
    return compare(load_side(base), load_side(new), rules=rules, strict=strict, allow_missing=allow_missing)


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


def _change_table(changes: list[Change], with_allowed: bool) -> list[str]:
    head = "| cell | metric | base | new | Δ | Δ 95% CI (paired) |" + (" allowed |" if with_allowed else "")
    sep = "|:---|:---|---:|---:|---:|---:|" + ("---:|" if with_allowed else "")
    lines = [head, sep]
    for c in changes:
        arrow = "↑" if c.higher_is_better else "↓"
        diff = f"[{_signed(c.diff_ci[0], c.fmt)}, {_signed(c.diff_ci[1], c.fmt)}]" if c.diff_ci else "–"
        row = (f"| {_esc(_cell_name(c.cell))} | `{c.key}` {arrow} | {_with_ci(c.base, c.base_ci, c.fmt)} | "
               f"{_with_ci(c.new, c.new_ci, c.fmt)} | {_signed(c.delta, c.fmt)}{_rel(c)} | {diff} |")
        if with_allowed:
            if c.rule:
                allowed = "≤ " + _fmt(c.allowed, c.fmt) + (f" ({c.rule.show(c.higher_is_better)})"
                                                            if c.rule.relative else "")
            else:
                allowed = "not gated"
            row += f" {allowed} |"
        lines.append(row)
    return lines


def render_compare_markdown(res: CompareResult) -> str:
    regs = res.regressions
    better = [c for c in res.changes if c.status == "better"]
    within = [c for c in res.changes if c.status == "within"]
    ungated = [c for c in res.changes if c.status == "ungated"]
    n_missing = len(res.missing)
    if res.failed:
        parts = []
        if regs:
            parts.append(f"{len(regs)} regression{'s' if len(regs) != 1 else ''} beyond tolerance")
        if n_missing and not res.allow_missing:
            parts.append(f"{n_missing} missing cell{'s' if n_missing != 1 else ''}")
        head = "## ❌ inpaint-bench: " + ", ".join(parts)
    else:
        head = "## ✅ inpaint-bench: no regression beyond tolerance"
    lines = [head, ""]
    lines.append(f"Base `{res.base.run_id or res.base.name}` → new `{res.new.run_id or res.new.name}`: "
                 f"{len(better)} better, {len(regs) + len(within) + len(ungated)} worse "
                 f"({len(regs)} beyond tolerance, {len(within)} within, {len(ungated)} not gated), "
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
    for k in res.unknown_rules:
        known = sorted({c.key for c in res.changes})
        close = difflib.get_close_matches(k, known, n=1)
        lines.append(f"- ⚠ tolerance for `{k}` matches no compared key" + (f" (did you mean `{close[0]}`?)" if close
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
        lines += ["### ❌ Regressions beyond tolerance", ""] + _change_table(regs, True) + [""]
    if better:
        lines += ["### Better", ""] + _change_table(better, False) + [""]
    if within or ungated:
        lines += ["<details><summary>Worse but within tolerance or not gated "
                  f"({len(within) + len(ungated)})</summary>", ""]
        lines += _change_table(within + ungated, True) + ["", "</details>", ""]
    return "\n".join(lines)
