"""One self-contained HTML report: no network at view time (images and plots are base64-embedded, the little
JavaScript for sorting is inline).

Sections: a non-comparable banner when needed; the sortable leaderboard (click a header; ``#sort=key`` or
``#sort=key:asc`` in the URL sorts on load); plots (quality vs latency with the Pareto front, a metric by mask-area
bin, failure rates per backend; also saved as PNG beside the HTML); per dataset × mask an image grid (input, mask
overlay, ground truth, each backend's output, with detector flags and the chosen metric on each tile); the worst
cases per backend by the chosen metric; each backend's samples grouped by their one verdict
(:mod:`bench.detectors.verdict`); errors per cell. A labelling mode (**Label outputs**, or ``#label`` in the URL)
labels output tiles by keyboard or click and exports ``labels.csv`` for ``bench calibrate --labels``
(:mod:`bench.report.labelling`).

Images come from the run folder (:mod:`bench.store.files`): every output is ``generations/<cell>/<sample>.png``;
inputs, masks and ground truth are ``inputs/<input key>/<sample>_input.png`` / ``_mask.png`` / ``_gt.png`` when the
suite has ``save_inputs: true``; without it they are rebuilt from the suite and shown only when they match the
digests the run stored (:mod:`bench.report.rebuild`). A missing image is a grey tile saying why.
"""
from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import sinks
from ..fsio import confined_dir, write_bytes_atomic, write_text_atomic
from ..store.files import input_path, output_path
from ..detectors import verdict
from . import labelling
from ..bins import AREA_LABELS
from .aggregate import RunData, detector_names, load_run, summarize
from .columns import ColumnCatalog
from .leaderboard import error_lines, images_note, leaderboard_keys, provenance_parts, run_notes
from .table import (SMALL_N, SMALL_N_NOTE, Table, cell_text, format_number, interval_text, partial_inf, small_n,
                    table_from_summary)

THUMB = 160
N_GRID_SAMPLES = 4
N_WORST = 4
N_VERDICT = 24  # outputs shown per backend and verdict (the labelling mode labels what is shown)
PREFERRED_METRICS = ("lpips_in", "psnr_in", "ssim_in")


def _esc(s: Any) -> str:
    return sinks.html(s)


def choose_metric(df: pd.DataFrame, metric: str | None) -> str | None:
    """The per-sample metric the plots, the sample captions and the worst-case ranking use: ``metric`` when it is a
    per-sample metric of the run; else the first of :data:`PREFERRED_METRICS`, else the first per-sample metric,
    with a finite value somewhere (``psnr_out`` is ∞ for every fill that keeps the pixels outside the hole); None
    when there is none. A set-level metric (FID, KID) has no per-sample value to draw or rank, so it is never
    chosen: a removal run without ground truth and with ``fid`` falls back to a per-sample metric."""
    per_sample = [k for k in df.attrs.get("metric_keys", []) if k in df.columns]
    if metric and metric in per_sample:
        return metric
    finite = [k for k in per_sample if np.isfinite(pd.to_numeric(df[k], errors="coerce").to_numpy(float)).any()]
    for k in PREFERRED_METRICS:
        if k in finite:
            return k
    return finite[0] if finite else None


# ------------------------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------------------------
def _open(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except Exception:
        return None


def _small(im, size: int = THUMB):
    """``im`` shrunk in place to the tile's size, as :func:`_thumb_b64` shrinks it (so the tile is the same picture):
    the report keeps no full-size image (a run of large outputs would hold them all in memory)."""
    if im is not None:
        im.thumbnail((size, size))
    return im


def _thumb_b64(im, size: int = THUMB) -> str:
    im = im.convert("RGB")
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _overlay(img, mask):
    """Input with the hole tinted red and outlined."""
    from PIL import Image

    img = img.convert("RGB")
    m = np.asarray(mask.convert("L").resize(img.size, Image.NEAREST)) > 127
    a = np.asarray(img).astype(np.float32)
    a[m] = 0.45 * a[m] + 0.55 * np.array([255.0, 40.0, 40.0])
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))


class ImageStore:
    """Finds (and caches, at the tile's size) a run's stored images; every method returns None when a file is
    missing."""

    def __init__(self, run_dirs: Sequence[Path], cells: pd.DataFrame | None = None, rebuild: Any = None):
        self.dirs = [Path(d) for d in run_dirs if d is not None]
        self.rebuild = rebuild  # a RebuiltInputs: inputs the run did not save, checked against its digests
        self._where: dict[Any, tuple[str, str]] = {}
        self._cache: dict[Path, Any] = {}
        self._digests: dict[tuple[str, str], str | None] = {}
        self._input_keys: dict[Any, str] = {}
        if cells is not None and not cells.empty and "input_key" in cells:
            for _, c in cells.iterrows():
                self._input_keys[c["cell_key"]] = c["input_key"]
                self._input_keys[(c["dataset"], c["mask"])] = c["input_key"]
        if cells is not None and not cells.empty:
            for _, c in cells.iterrows():
                self._where[c["cell_key"]] = self._where[(c["dataset"], c["mask"])] = (c["dataset"], c["mask"])

    def _find(self, where: Any) -> Any:
        """The first of the run folders' files ``where(run_dir)`` names (:mod:`bench.store.files`' rule)."""
        for d in self.dirs:
            p = where(d)
            if p in self._cache:
                return self._cache[p]
            if p.is_file() and not p.is_symlink():
                self._cache[p] = _small(_open(p))
                return self._cache[p]
        return None

    def output(self, cell_key: str, sid: str):
        return self._find(lambda d: output_path(d, cell_key, sid))

    def with_digest(self, rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` with the ``output_sha256`` the labelling export records of the output its tile shows
        (:func:`bench.report.labelling.output_digest`; None when the file is not there)."""
        from .labelling import output_digest

        key = (str(rec["cell_key"]), str(rec["sample_id"]))
        if key not in self._digests:
            self._digests[key] = next((g for g in (output_digest(d, *key) for d in self.dirs) if g), None)
        return {**rec, "output_sha256": self._digests[key]}

    def _input(self, key: Any, sid: str, kind: str):
        ik = self._input_keys.get(key)
        found = self._find(lambda d: input_path(d, ik, sid, kind)) if ik else None
        if found is None and self.rebuild is not None and key in self._where:
            images, _ = self.rebuild.get(*self._where[key], sid)
            found = images.get(kind) if images else None
        return found

    def missing(self, dataset: str, mask: str, sid: str) -> str:
        """Why the input of (dataset, mask, sid) is not shown (what its grey tile says)."""
        if self.rebuild is None:
            return "no image"
        return self.rebuild.get(dataset, mask, sid)[1] or "no image"

    def mask(self, cell_keys: Sequence[str], sid: str):
        for ck in cell_keys:
            m = self._input(ck, sid, "mask")
            if m is not None:
                return m
        return None

    def input(self, dataset: str, mask: str, sid: str):
        return self._input((dataset, mask), sid, "input")

    def gt(self, dataset: str, mask: str, sid: str):
        return self._input((dataset, mask), sid, "gt")

    def any(self) -> bool:
        return any((d / "generations").is_dir() for d in self.dirs)


def _tile(im, caption: str, badges: Sequence[tuple[str, str]] = (), title: str = "",
          rec: dict[str, Any] | None = None, missing: str = "no image") -> str:
    """A thumbnail. With ``rec`` (a per-sample record) and an image it is an *output* tile: it carries the cell,
    sample and verdict as data attributes, which the labelling mode reads (:mod:`bench.report.labelling`). A grey
    tile (no output file, a failed sample) is never one: a label is of an output the labeller saw."""
    b = "".join(f'<span class="badge {cls}">{_esc(t)}</span>' for t, cls in badges)
    if im is None:
        body = f'<div class="noimg">{_esc(missing)}</div>'
    else:
        body = f'<img src="{_thumb_b64(im)}" alt="{_esc(caption)}">'
    cls, attrs, lab = "tile", "", ""
    if rec and im is not None:
        cls = "tile out"
        attrs = "".join(f' data-{k}="{_esc(rec.get(f))}"' for k, f in (
            ("cell", "cell_key"), ("sample", "sample_id"), ("backend", "backend"), ("dataset", "dataset"),
            ("mask", "mask"), ("verdict", verdict.COLUMN), ("output", "output_sha256")) if rec.get(f) is not None)
        lab = '<span class="lab"></span>'
    return (f'<figure class="{cls}"{attrs} title="{_esc(title or caption)}">{body}<div class="badges">{b}</div>'
            f'{lab}<figcaption>{_esc(caption)}</figcaption></figure>')


def _err(rec: dict[str, Any]) -> str | None:
    e = rec.get("error")
    return e if isinstance(e, str) and e else None


def badge_classes(dets: Sequence[str], paste_back: bool) -> list[tuple[str, str]]:
    """(detector flag name, badge class) for the tiles: ``bad`` (red) for the flags that decide the verdict,
    ``part`` (grey) for the parts and views of a rule and, pasted back, the raw output's frame flags."""
    voting = verdict.voting_flags(paste_back)
    return [(d, "bad" if f"{d}_flag" in voting else "part") for d in dets]


def _flags(rec: dict[str, Any], dets: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    if _err(rec):
        out.append(("error", "bad"))
    for d, cls in dets:
        v = rec.get(f"{d}_flag")
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and float(v) > 0.5:
            out.append((d, cls))
    return out


# ------------------------------------------------------------------------------------------------------------------
# plots
# ------------------------------------------------------------------------------------------------------------------
def _fig_to_png(fig, path: Path | None) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        write_bytes_atomic(path, data)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the non-dominated points for (latency: lower better, quality: by direction), by latency."""
    idx = [i for i, (x, y) in enumerate(points) if np.isfinite(x) and not np.isnan(y)]
    idx.sort(key=lambda i: (points[i][0], -points[i][1] if higher_is_better else points[i][1]))
    front, best = [], None
    for i in idx:
        y = points[i][1]
        if best is None or (y > best if higher_is_better else y < best):
            front.append(i)
            best = y
    return front


def at_edges(values: Sequence[float]) -> tuple[list[float], list[str]]:
    """Where one plot axis draws ``values`` (every point on it): a finite value where it is; a mean that is +∞ / −∞
    (the leaderboard's "∞ (k of n)": psnr_out of a backend that keeps the outside exactly) at the axis's top /
    bottom edge, 8 % of the finite values' range past them, marked ``∞`` / ``−∞``; NaN (no value) stays NaN,
    unmarked (not drawn). The one rule of every plot of the report (Pareto, by area, by dilation)."""
    v = [float(x) for x in values]
    finite = [x for x in v if np.isfinite(x)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = 0.08 * ((hi - lo) or abs(hi) or 1.0)
    drawn = [hi + pad if x == math.inf else lo - pad if x == -math.inf else x for x in v]
    return drawn, ["∞" if x == math.inf else "−∞" if x == -math.inf else "" for x in v]


def edge_caption(title: str, metric: str, edge: Sequence[str], missing: Sequence[str] = ()) -> str:
    """A plot's caption naming what it draws at an edge (:func:`at_edges`) and what it cannot draw."""
    return title + (f"; a mean of {metric} that is infinite, drawn at the edge: {', '.join(edge)}" if edge else "") + (
        "; not drawn: " + ", ".join(missing) if missing else "")


def _edge_lines(ax, lines: Sequence[tuple[str, Sequence[float], Sequence[float], Sequence[str]]]) -> list[str]:
    """One line per ``(label, x, y, x names)`` on ``ax``, every point by :func:`at_edges` over the whole axis, an
    edge point marked ▲ / ▼; returns ``"label (∞) at x name"`` of each edge point, for the caption."""
    drawn, marks = at_edges([y for _, _, ys, _ in lines for y in ys])
    edge, i = [], 0
    for label, xs, ys, names in lines:
        d, m = drawn[i:i + len(ys)], marks[i:i + len(ys)]
        i += len(ys)
        (line,) = ax.plot(list(xs), d, marker="o", label=label)
        for x, y, mark, name in zip(xs, d, m, names):
            if mark:
                ax.scatter([x], [y], s=60, marker="^" if mark == "∞" else "v", color=line.get_color(), zorder=4,
                           clip_on=False)
                edge.append(f"{label} ({mark}) at {name}")
    return edge


def pareto_points(by_b: pd.DataFrame, metric: str) -> tuple[list[tuple[str, float, float, str]], list[tuple[str, str]]]:
    """Where the quality-vs-latency plot draws each backend (one row of ``by_b`` each): ``[(backend, latency, y,
    mark)]``, where a mean of ``metric`` that is ±∞ (the leaderboard's "∞ (k of n)") is drawn at the plot's top or
    bottom edge and marked ``∞`` / ``−∞`` (:func:`at_edges`); and ``[(backend, why)]`` for those it cannot draw (no
    latency: outputs read from disk are never timed; no value of the metric)."""
    rows = [(str(b), float(x), float(y)) for b, x, y in zip(by_b["backend"], by_b["latency_p50"], by_b[metric])]
    timed = [r for r in rows if np.isfinite(r[1])]
    ys, marks = at_edges([y for _, _, y in timed])
    drawn = [(b, x, y, mark) for (b, x, v), y, mark in zip(timed, ys, marks) if not np.isnan(v)]
    missing = [(b, "no latency" if not np.isfinite(x) else f"no {metric}") for b, x, y in rows
               if not np.isfinite(x) or np.isnan(y)]
    return drawn, missing


def make_plots(rd: RunData, metric: str | None, out_dir: Path | None) -> list[tuple[str, str]]:
    """[(title, data URI)] for the three plots; PNGs written to ``out_dir`` when given."""
    from ..errors import require_extra

    matplotlib = require_extra("matplotlib", "report", "the HTML report's plots")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plots = []
    by_b = summarize(rd, by=("backend",), ci=False, setlevel=False)
    if by_b.empty:
        return plots
    cat = ColumnCatalog(rd.manifest.get("columns"))
    if out_dir is not None:
        out_dir = confined_dir(out_dir.parent, out_dir.name)

    # quality vs latency (Pareto)
    if metric and metric in by_b.columns and by_b["latency_p50"].notna().any():
        hib = cat(metric).higher_is_better
        drawn, missing = pareto_points(by_b, metric)
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, x, y, mark in drawn:
            ax.scatter([x], [y], s=40, color="#1f77b4", zorder=3,
                       marker="o" if not mark else "^" if mark == "∞" else "v", clip_on=False)
            ax.annotate(f"{name} ({mark})" if mark else name, (x, y), textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
        true_y = by_b.set_index("backend")[metric].astype(float)
        front = pareto_front([(x, float(true_y[name])) for name, x, _, _ in drawn],
                             bool(hib) if hib is not None else True)  # on the values: an ∞ mean dominates
        if len(front) > 1:
            ax.plot([drawn[i][1] for i in front], [drawn[i][2] for i in front], "--", color="#d62728", zorder=2,
                    label="Pareto front")
            ax.legend(fontsize=8)
        if drawn and all(x > 0 for _, x, _, _ in drawn):
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("latency p50 per image (ms, log) ← better")
        ax.set_ylabel(f"{metric} " + ("↑ better" if hib else "↓ better" if hib is False else ""))
        ax.set_title(f"Quality vs latency: {metric}")
        ax.grid(alpha=0.3)
        title = edge_caption("Quality vs latency (Pareto)", metric,
                             [f"{name} ({mark})" for name, _, _, mark in drawn if mark],
                             [f"{name} ({why})" for name, why in missing])
        plots.append((title, _fig_to_png(fig, out_dir / "pareto.png" if out_dir else None)))

    # metric by mask-area bin
    if metric:
        by_area = summarize(rd, by=("backend", "area_bin"), ci=False, setlevel=False)
        if metric in by_area.columns and by_area[metric].notna().any():
            fig, ax = plt.subplots(figsize=(6, 4))
            edge = _edge_lines(ax, [(str(b), [AREA_LABELS.index(a) for a in g["area_bin"]], g[metric].astype(float),
                                     [str(a) for a in g["area_bin"]])
                                    for b, g in by_area.groupby("backend", sort=False)])
            ax.set_xticks(range(10))
            ax.set_xticklabels(AREA_LABELS, rotation=45, fontsize=7)
            ax.set_xlabel("hole area (LaMa bins)")
            hib = cat(metric).higher_is_better
            ax.set_ylabel(f"{metric} " + ("↑" if hib else "↓" if hib is False else ""))
            ax.set_title(f"{metric} by mask area")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            plots.append((edge_caption("Metric by mask-area bin", metric, edge),
                          _fig_to_png(fig, out_dir / "by_area.png" if out_dir else None)))

    # dilation robustness: each metric and failure rate against k, per backend
    plots += _dilation_plots(rd, metric, cat, out_dir)

    # failure rates per backend: only what happened (a legend of eighteen flags at 0 hides the two that are not)
    dets = list(by_b.attrs.get("detectors", []))
    keys = failure_keys(by_b, dets)
    n_b = len(by_b)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    width = 0.8 / max(1, len(keys))
    tab20 = plt.get_cmap("tab20").colors  # ten hues dark, then the same light: neighbouring bars differ in hue
    colours = tab20[0::2] + tab20[1::2]
    for j, k in enumerate(keys):
        ax.bar(np.arange(n_b) + j * width - 0.4 + width / 2, by_b[k].astype(float).fillna(0.0).to_numpy(), width,
               label=k.replace("_rate", ""), color=colours[j % len(colours)])
    ax.set_xticks(np.arange(n_b))
    ax.set_xticklabels(by_b["backend"], rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    if not keys:
        ax.text(0.5, 0.5, "no errors" + (" and no detector flags" if dets else " (no detectors in this run)"),
                ha="center", va="center", transform=ax.transAxes, color="#1e8449")
    ax.set_ylabel("fraction of samples ↓")
    ax.set_title("Failure rates per backend (errors and detector flags)")
    if keys:  # beside the axes, where it covers no bar
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    plots.append(("Failure rates per backend", _fig_to_png(fig, out_dir / "failures.png" if out_dir else None)))
    return plots


def failure_keys(by_b, detectors: list[str]) -> list[str]:
    """The failure-rate columns of ``by_b`` (one row per backend) that the failure plot shows: ``error_rate``, then
    each detector flag's ``<flag>_rate`` in the order given, each only where some backend's rate is above 0."""
    keys = ["error_rate"] + [f"{d}_rate" for d in detectors]
    return [k for k in keys if k in by_b and (by_b[k].astype(float).fillna(0.0) > 0).any()]


def _dilation_plots(rd: RunData, metric: str | None, cat: ColumnCatalog, out_dir: Path | None,
                    limit: int = 4) -> list[tuple[str, str]]:
    """One figure per dataset × base mask of a dilation sweep, a line per backend against the dilation k: the
    metric (when the run has it per sample) and a failure rate (when a detector ran), side by side."""
    import matplotlib.pyplot as plt

    from .aggregate import summarize_by_dilation

    sweep = summarize_by_dilation(rd, ci=False, setlevel=False)
    if sweep.empty:
        return []
    rates = [f"{d}_rate" for d in sweep.attrs.get("detectors", [])]
    rate = next((r for r in ("replacement_rate", "blur_rate") if r in rates), rates[0] if rates else None)
    panels = [k for k in (metric, rate) if k and k in sweep.columns]
    if not panels:
        return []
    out = []
    for n, ((ds, base), g) in enumerate(sweep.groupby(["dataset", "dilate_base"], sort=False)):
        if n >= limit:
            break
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
        axes = axes[0]
        edge = []
        for ax, key in zip(axes, panels):
            edge += _edge_lines(ax, [(str(b), list(gb["dilate_k"]), gb[key].astype(float),
                                      [f"k = {k}" for k in gb["dilate_k"]])
                                     for b, gb in g.groupby("backend", sort=False)])  # (a rate is never ∞)
            if key == rate:
                ax.set_ylabel(f"{rate} ↓")
                ax.set_ylim(0, 1)
            else:
                hib = cat(key).higher_is_better
                ax.set_ylabel(f"{key} " + ("↑" if hib else "↓" if hib is False else ""))
            ax.set_xlabel("dilation k (px)")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"Dilation robustness: {ds} × {base}")
        name = f"dilation_{re.sub(r'[^A-Za-z0-9_.-]', '_', str(ds))}_{re.sub(r'[^A-Za-z0-9_.-]', '_', str(base))}.png"
        out.append((edge_caption(f"Dilation robustness: {ds} × {base}", str(metric), edge),
                    _fig_to_png(fig, out_dir / name if out_dir else None)))
    return out


# ------------------------------------------------------------------------------------------------------------------
# HTML pieces
# ------------------------------------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#666;font-size:13px}
.banner{background:#fde8e8;border:2px solid #c0392b;color:#8e1b10;padding:10px 14px;margin:12px 0;font-weight:600}
table.lb{border-collapse:collapse;font-size:13px;margin:8px 0}
table.lb th,table.lb td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
table.lb th{cursor:pointer;background:#f6f6f6;position:sticky;top:0;user-select:none}
table.lb th.sorted-asc::after{content:" ▲"} table.lb th.sorted-desc::after{content:" ▼"}
table.lb td.lbl,table.lb th.lbl{text-align:left}
td.best{font-weight:700;color:#0a6b2d} td.second{text-decoration:underline}
td.err{color:#c0392b;font-weight:700}
.ci{color:#888;font-size:11px}
.scroll{overflow-x:auto;max-width:100%}
.plots{display:flex;flex-wrap:wrap;gap:16px} .plots figure{margin:0}
.plots img{max-width:560px;border:1px solid #eee}
.grid{display:grid;gap:6px;margin-bottom:8px}
.tile{margin:0;position:relative;font-size:11px;text-align:center}
.tile img,.tile .noimg{width:160px;height:160px;object-fit:contain;background:#f3f3f3;display:block}
.tile .noimg{display:flex;align-items:center;justify-content:center;text-align:center;padding:6px;box-sizing:border-box;color:#999;font-size:12px}
.badges{position:absolute;top:3px;left:3px}
.badge{display:inline-block;padding:1px 5px;margin-right:2px;border-radius:3px;font-size:10px;font-weight:700}
.badge.bad{background:#c0392b;color:#fff} .badge.ok{background:#1e8449;color:#fff}
.badge.part{background:#7f8c8d;color:#fff}
.colhead{font-size:12px;font-weight:700;text-align:center;align-self:end}
.rowhead{font-size:11px;color:#555;writing-mode:vertical-rl;transform:rotate(180deg);text-align:center}
.worst{display:flex;flex-wrap:wrap;gap:6px}
.errors li{font-family:monospace;font-size:12px}
"""

JS = r"""
(function(){
  function key(td){var v=td.getAttribute('data-v'); if(v===null) return td.textContent.trim();
    if(v==='') return NaN; return parseFloat(v);}
  function sortBy(table, col, dir){
    var tb=table.tBodies[0], rows=Array.prototype.slice.call(tb.rows);
    rows.sort(function(a,b){var x=key(a.cells[col]), y=key(b.cells[col]);
      var xs=typeof x==='string', ys=typeof y==='string';
      if(xs||ys){return dir*String(x).localeCompare(String(y));}
      var xn=isNaN(x), yn=isNaN(y); if(xn&&yn) return 0; if(xn) return 1; if(yn) return -1;
      return dir*(x<y?-1:x>y?1:0);});
    rows.forEach(function(r){tb.appendChild(r);});
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th){th.classList.remove('sorted-asc','sorted-desc');});
    table.tHead.rows[0].cells[col].classList.add(dir>0?'sorted-asc':'sorted-desc');
    table.setAttribute('data-sorted', table.tHead.rows[0].cells[col].getAttribute('data-key')+':'+(dir>0?'asc':'desc'));
  }
  document.querySelectorAll('table.lb').forEach(function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
      th.addEventListener('click',function(){
        var cur=th.classList.contains('sorted-asc')?1:th.classList.contains('sorted-desc')?-1:0;
        var dir=cur===0?(th.getAttribute('data-hib')==='1'?-1:1):-cur; sortBy(table,i,dir);});
    });
  });
  var m=/sort=([^&:]+)(?::(asc|desc))?/.exec(location.hash||'');
  if(m){var t=document.getElementById('leaderboard');
    if(t){Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
      if(th.getAttribute('data-key')===m[1]){var d=m[2]?(m[2]==='asc'?1:-1):(th.getAttribute('data-hib')==='1'?-1:1); sortBy(t,i,d);}});}}
  function imgs(){var all=document.images, ok=0; for(var i=0;i<all.length;i++){
      if(all[i].complete&&all[i].naturalWidth>0) ok++;}
    document.body.setAttribute('data-images-total', all.length);
    document.body.setAttribute('data-images-loaded', ok);}
  if(document.readyState==='complete') imgs(); else window.addEventListener('load', imgs);
  imgs();
})();
"""


def _num_attr(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "1e308" if x > 0 else "-1e308"
    return repr(x)


def leaderboard_html(table: Table, table_id: str = "leaderboard") -> str:
    ranks = table.ranks()
    head = []
    for c in table.columns:
        hib = "1" if c.higher_is_better else "0" if c.higher_is_better is False else ""
        cls = ' class="lbl"' if c.is_label else ""
        head.append(f'<th{cls} data-key="{_esc(c.key)}" data-hib="{hib}" title="{_esc(c.doc)}">'
                    f'{_esc((c.title + " " + c.arrow).strip())}</th>')
    body = []
    for i, r in enumerate(table.rows):
        tds = []
        for c in table.columns:
            if c.is_label:
                tds.append(f'<td class="lbl">{_esc(cell_text(r, c))}</td>')
                continue
            cls = {1: "best", 2: "second"}.get(ranks.get((i, c.key)), "")
            if c.key == "n_errors" and (r.get(c.key) or 0) > 0:
                cls = "err"
            txt = _esc(format_number(r.get(c.key), c.fmt))
            if partial_inf(r, c):  # ∞ (k of n): a mean made infinite by some of its values
                txt += " ({} of {})".format(*partial_inf(r, c))
            iv = interval_text(r, c)  # the rule of every format: ± half-width, [lo, hi] when skewed
            if iv is not None:
                txt += f' <span class="ci">{"± " + _esc(iv[1]) if iv[0] == "±" else "[" + _esc(iv[1]) + "]"}</span>'
            if small_n(r, c):
                txt += f' <span class="ci" title="{_esc(SMALL_N_NOTE)}">{SMALL_N} n={int(r.get(c.key + "_n") or 0)}</span>'
            tds.append(f'<td class="{cls}" data-v="{_num_attr(r.get(c.key))}">{txt}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f'<table class="lb" id="{table_id}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _grid_section(rd: RunData, frame: pd.DataFrame, images: ImageStore, metric: str | None,
                  dets: list[tuple[str, str]], n_samples: int) -> str:
    cells = rd.cells()
    if cells.empty:
        return ""
    parts = []
    cat = ColumnCatalog(rd.manifest.get("columns"))
    fmt = cat(metric).fmt if metric else ".3f"
    for (ds, mk), cg in cells.groupby(["dataset", "mask"], sort=False):
        backends = list(cg["backend"])
        ckeys = dict(zip(cg["backend"], cg["cell_key"]))
        sub = frame[(frame["dataset"] == ds) & (frame["mask"] == mk)] if not frame.empty else frame
        sids = sorted(sub["sample_id"].unique())[:n_samples] if not sub.empty else []
        if not sids:
            continue
        inputs = {sid: images.input(ds, mk, sid) for sid in sids}
        gts = {sid: images.gt(ds, mk, sid) for sid in sids}
        # stored inputs but no ground truth (removal data without clean backgrounds): no column of empty tiles
        show_gt = any(g is not None for g in gts.values()) or not any(i is not None for i in inputs.values())
        heads = ["input", "mask"] + (["ground truth"] if show_gt else [])
        ncols = len(heads) + len(backends)
        rows = [f'<div class="colhead">{h}</div>' for h in heads]
        rows += [f'<div class="colhead">{_esc(b)}</div>' for b in backends]
        for sid in sids:
            inp = inputs[sid]
            m = images.mask(list(ckeys.values()), sid)
            why = images.missing(ds, mk, sid) if inp is None else "no image"
            rows.append(_tile(inp, f"{sid}", missing=why))
            rows.append(_tile(_overlay(inp, m) if inp is not None and m is not None else m, "mask overlay",
                              missing=why))
            if show_gt:
                rows.append(_tile(gts[sid], "ground truth", missing=why if inp is None else "no ground truth"))
            for b in backends:
                rec = sub[(sub["backend"] == b) & (sub["sample_id"] == sid)]
                rec = rec.iloc[0].to_dict() if len(rec) else {}
                val = rec.get(metric) if metric else None
                cap = f"{metric} {format_number(val, fmt)}" if metric and val is not None else b
                if _err(rec):
                    cap = "error"
                rows.append(_tile(images.output(ckeys[b], sid), cap, _flags(rec, dets),
                                  title=f"{b} · {sid}" + (f" · {_err(rec)}" if _err(rec) else ""),
                                  rec=images.with_digest({**rec, "cell_key": ckeys[b], "sample_id": sid, "backend": b,
                                                          "dataset": ds, "mask": mk})))
        # in its own scrolling box: a grid of many backends is wider than the page, which must not scroll sideways
        parts.append(f'<h3>{_esc(ds)} × {_esc(mk)}</h3><div class="scroll"><div class="grid" '
                     f'style="grid-template-columns:repeat({ncols},160px)">{"".join(rows)}</div></div>')
    return "".join(parts)


def _worst_section(rd: RunData, frame: pd.DataFrame, images: ImageStore, metric: str | None,
                   dets: list[tuple[str, str]], n: int) -> str:
    if not metric or frame.empty or metric not in frame:
        return "<p>No per-sample metric to rank by.</p>"
    cat = ColumnCatalog(rd.manifest.get("columns"))
    info = cat(metric)
    ok = frame[frame["error"].isna()].copy()
    ok[metric] = pd.to_numeric(ok[metric], errors="coerce")
    ok = ok[ok[metric].notna()]
    parts = [f"<p>Ranked by <code>{_esc(metric)}</code> "
             f"({'lowest' if info.higher_is_better is not False else 'highest'} first).</p>"]
    for b, g in ok.groupby("backend", sort=False):
        g = g.sort_values(metric, ascending=info.higher_is_better is not False).head(n)
        tiles = []
        for rec in g.to_dict("records"):
            out = images.output(rec["cell_key"], rec["sample_id"])
            inp = images.input(rec["dataset"], rec["mask"], rec["sample_id"])
            m = images.mask([rec["cell_key"]], rec["sample_id"])
            cap = f"{rec['dataset']}/{rec['mask']}/{rec['sample_id']}: {format_number(rec[metric], info.fmt)}"
            tiles.append(_tile(_overlay(inp, m) if inp is not None and m is not None else inp, "input + hole",
                               missing=images.missing(rec["dataset"], rec["mask"], rec["sample_id"])
                               if inp is None else "no image"))
            tiles.append(_tile(out, cap, _flags(rec, dets), rec=images.with_digest(rec)))
        parts.append(f'<h3>{_esc(b)}</h3><div class="worst">{"".join(tiles)}</div>')
    return "".join(parts)


def _verdict_section(frame: pd.DataFrame, images: ImageStore, dets: list[tuple[str, str]], n: int) -> str:
    """Per backend, its samples grouped by their one verdict (in the verdict order), with each group's share."""
    if frame.empty or verdict.COLUMN not in frame:
        return "<p>No samples.</p>"
    if not verdict.present(frame):
        return ("<p>No failure detector ran in this run, so no sample has a verdict. <code>bench score RUN "
                "--detectors replacement,blur,noop,outside_drift</code> judges the stored outputs without running a "
                "model.</p>")
    parts = ["<p class='meta'>Each sample has one verdict: the first raised of " +
             " &gt; ".join(verdict.VERDICTS) + f". Up to {n} outputs per verdict.</p>"]
    for b, g in frame.groupby("backend", sort=False):
        total = len(g)
        groups = []
        for v in verdict.VERDICTS:
            gv = g[g[verdict.COLUMN] == v]
            if gv.empty:
                continue
            tiles = []
            for rec in gv.head(n).to_dict("records"):
                out = images.output(rec["cell_key"], rec["sample_id"]) if not _err(rec) else None
                cap = f"{rec['dataset']}/{rec['mask']}/{rec['sample_id']}"
                tiles.append(_tile(out, cap, _flags(rec, dets), title=_err(rec) or cap,
                                   rec=images.with_digest(rec) if out is not None else rec))
            groups.append(f'<h4 class="verdict" data-verdict="{_esc(v)}">{_esc(v)}: {len(gv)} of {total} '
                          f'({len(gv) / total:.0%})</h4><div class="worst">{"".join(tiles)}</div>')
        parts.append(f'<h3>{_esc(b)}</h3>{"".join(groups)}')
    return "".join(parts)


def _errors_section(df: pd.DataFrame) -> str:
    lines = error_lines(df)  # the terminal's and leaderboard.md's lines, every cell, messages whole
    if not lines:
        return "<p>No errors.</p>"
    return f'<ul class="errors">{"".join(f"<li>{_esc(x)}</li>" for x in lines)}</ul>'


def render_html(run: Any, metric: str | None = None, plots_dir: Path | None = None, ci: bool = True,
                n_samples: int = N_GRID_SAMPLES, n_worst: int = N_WORST, n_verdict: int = N_VERDICT,
                report_path: Path | None = None) -> str:
    rd = load_run(run)
    df = summarize(rd, ci=ci)
    frame = rd.frame()
    if "error" not in frame:
        frame = frame.assign(error=None)
    dets = badge_classes(detector_names(frame), bool(rd.paste_back))
    metric = choose_metric(df, metric)
    from .rebuild import RebuiltInputs

    images = ImageStore(rd.run_dirs, rd.cells(), rebuild=RebuiltInputs(rd))
    m = rd.manifest
    title = f"inpaint-bench report: {m.get('run_id', rd.run_dir.name if rd.run_dir else '')}"
    meta = provenance_parts(m)
    run_id = str(m.get("run_id", rd.run_dir.name if rd.run_dir else ""))
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>",
           f"<style>{CSS}{labelling.CSS}</style></head><body data-run-id=\"{_esc(run_id)}\">",
           labelling.toolbar_html(), f"<h1>{_esc(title)}</h1>",
           f'<div class="meta">{_esc(" · ".join(meta))}</div>']
    if not df.attrs.get("comparable", True):
        reasons = df.attrs.get("noncomparable_reasons") or ["the run is marked non-comparable"]
        out.append(f'<div class="banner" id="noncomparable">⚠ NOT COMPARABLE: {_esc("; ".join(reasons))}</div>')
    keys = leaderboard_keys(df, extra=("latency_p50", "images_per_s", "peak_mem_mb", "load_time_s", "n",
                                       "n_errors"))
    lb = table_from_summary(df, keys, label_keys=("backend", "dataset", "mask"))  # marks per dataset × mask
    out.append("<h2>Leaderboard</h2><p class='meta'>Click a header to sort. Means over successful samples with "
               "95 % bootstrap intervals (detector rates: Wilson intervals); best per dataset × mask in bold green, second underlined. Latency in ms "
               "per image, memory in MiB.</p>")
    out.append(f'<div class="scroll">{leaderboard_html(lb)}</div>')
    out += [f"<p class='meta'>{_esc(n)}</p>" for n in lb.notes + [images_note(df)]]
    note = run_notes(df)
    if note:
        out.append(f"<p class='meta' id='notes'>{_esc(note)}</p>")
    plots = make_plots(rd, metric, plots_dir)
    if plots:
        out.append("<h2>Plots</h2><div class='plots'>")
        out += [f'<figure><img class="plot" src="{uri}" alt="{_esc(t)}"><figcaption>{_esc(t)}</figcaption></figure>'
                for t, uri in plots]
        out.append("</div>")
    from .study import report_section  # the run's user study: page link, ranking, metric agreement

    out.append(report_section(rd.run_dir, report_path))
    out.append("<h2>Samples</h2>")
    if images.any():
        out.append("<p class='meta'>Red badges: the flags that decide the output's verdict (and errors); grey: "
                   "the other flags (parts and views of a rule; with paste-back, the raw output's frame). Caption: "
                   + (f"{_esc(metric)} of the sample.</p>" if metric else "the sample id.</p>"))
        out.append(_grid_section(rd, frame, images, metric, dets, n_samples) or "<p>No samples.</p>")
    else:
        out.append("<p>No stored outputs in this run folder.</p>")
    out.append("<h2>Worst cases per backend</h2>")
    out.append(_worst_section(rd, frame, images, metric, dets, n_worst))
    out.append("<h2 id='verdicts'>Samples by verdict</h2>")
    out.append(_verdict_section(frame, images, dets, n_verdict))
    out.append("<h2>Errors</h2>")
    out.append(_errors_section(df))
    out.append(f"<script>{JS}</script><script>{labelling.script()}</script></body></html>")
    return "\n".join(out)


def write_html(run: Any, path: str | Path, metric: str | None = None, ci: bool = True) -> Path:
    """Write the report to ``path``; the plots also go to ``<path's folder>/plots/*.png``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, render_html(run, metric=metric, plots_dir=path.parent / "plots", ci=ci,
                                                   report_path=path))
