"""How every reported key reads: direction (higher or lower is better, or neither), number format, interval.

Every column is a :class:`bench.columns.Column`. Resolution order for a key: the run's ``manifest.json``
``columns`` (what its metrics and detectors declared when the run was made), then the report's own derived
columns (latency, memory, rates, counts), then :func:`bench.metrics.all_columns` (the installed metrics), and only
for a key nobody declared (runs made before detectors declared their columns, a third-party plug-in that declares
none) a conservative guess from the name (``psnr*`` higher, ``lpips*``/``fid*`` lower, ``*_flag``, ``*_score``).
A key none of these knows gets no direction: it is shown but never bolded or gated by direction.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ..columns import Column
from ..store.sqlite import RECORD_FIELDS


#: Columns the report derives itself (not produced by a metric).
DERIVED: dict[str, Column] = {
    "n": Column(None, "d", False, "successful samples", kind="derived"),
    "n_errors": Column(None, "d", False, "samples whose latest attempt failed (gate on error_rate)", kind="derived"),
    "error_rate": Column(False, ".3f", False, "n_errors / (n + n_errors)", kind="derived"),
    "latency_p50": Column(False, ".1f", False, "median latency per image, ms", kind="derived"),
    "latency_p90": Column(False, ".1f", False, "90th percentile latency per image, ms", kind="derived"),
    "latency_mean": Column(False, ".1f", False, "mean latency per image, ms", kind="derived"),
    "images_per_s": Column(True, ".2f", False, "1000 / mean latency per image", kind="derived"),
    "peak_mem_mb": Column(False, ".0f", False, "the cell's own peak memory, MiB: on CUDA the memory allocated by "
                              "the model (a command backend's process tree through NVML), on CPU the process's peak "
                              "RSS during the cell (the program's, for a command backend); — where not measurable",
                          kind="derived"),
    "peak_mem_reserved_mb": Column(False, ".0f", False, "peak CUDA memory reserved, MiB", kind="derived"),
    "peak_rss_mb": Column(False, ".0f", False, "peak resident set size of the process, MiB", kind="derived"),
    "load_time_s": Column(False, ".2f", False, "model load time, s (mean over sessions)", kind="derived"),
    "hole_fraction": Column(None, ".3f", False, "mean hole fraction", kind="derived"),
}

_HIGHER = re.compile(r"^(psnr|ssim|ms_ssim|msssim|clip|is_|inception_score|precision|recall|accuracy|auroc|"
                     r"images_per_s|throughput)")
_LOWER = re.compile(r"^(lpips|dists|fid|kid|mse|mae|l1|l2|rmse|latency|peak_mem|peak_rss|load_time|error|"
                    r"n_errors|fid_crop|kid_crop|p_fid|u_ids)")


def guess(key: str) -> Column:
    """A conservative guess from the name; unknown keys get no direction."""
    if key.startswith("failure_"):  # one verdict per sample (bench.detectors.verdict): shares add up to 1
        v = key[len("failure_"):]  # ok: higher is better; a failure: lower; unjudged is neither (the masks decide it)
        return Column(True if v == "ok" else None if v == "unjudged" else False, ".3f", False,
                      "share of samples whose one verdict is " + v, "derived")
    if key.endswith("_rate"):
        return Column(False, ".3f", True, "fraction of samples flagged", "derived")
    if key.endswith("_flag"):
        return Column(False, ".0f", False, kind="flag")
    if key.endswith("_score"):
        return Column(None, ".3f", False, kind="score")
    if _HIGHER.match(key):
        return Column(True, ".2f" if key.startswith("psnr") else ".3f", True)
    if _LOWER.match(key):
        fmt = ".2f" if key.startswith("fid") else ".4f" if key.startswith("kid") else ".3f"
        return Column(False, fmt, not key.startswith(("fid", "kid")))
    return Column(None, ".3f", False)


def installed_columns() -> dict[str, Column]:
    """``bench.metrics.all_columns()`` when the metrics room provides it; empty otherwise."""
    try:
        from bench.metrics import all_columns  # type: ignore[attr-defined]
    except Exception:  # the metrics room has not landed it (or a metric import fails): fall back to guesses
        return {}
    try:
        return {k: Column.from_any(v) for k, v in all_columns().items()}
    except Exception:
        return {}


class ColumnCatalog:
    """Looks up :class:`Column` for any key, in the resolution order of this module's docstring."""

    def __init__(self, manifest_columns: Mapping[str, Any] | None = None, use_installed: bool = True):
        self._manifest = {k: Column.from_any(v) for k, v in (manifest_columns or {}).items()}
        self._use_installed = use_installed
        self._installed: dict[str, Column] | None = None

    def __call__(self, key: str) -> Column:
        if key in self._manifest:
            return self._manifest[key]
        if key in DERIVED:
            return DERIVED[key]
        if key.endswith(("_n_inf", "_n_values")):  # counts beside a mean made infinite by some values
            return Column(None, "d", False, "values that are ∞" if key.endswith("_n_inf") else "values")
        if key.endswith(("_rate", "_flag", "_score", "_lo", "_hi", "_ms")) or key in RECORD_FIELDS or \
                key == "first_error" or key.startswith("failure_"):
            return guess(key)  # detector outputs, timings and record fields: never a metric's column
        if self._use_installed:  # imported only when the manifest does not know a metric key (imports torch)
            if self._installed is None:
                self._installed = installed_columns()
            if key in self._installed:
                return self._installed[key]
        return guess(key)

    def declared(self, key: str) -> bool:
        """Whether the run's manifest declares ``key`` (its metric or detector said how it reads)."""
        return key in self._manifest

    def as_dict(self, keys) -> dict[str, dict[str, Any]]:
        return {k: self(k).to_dict() for k in keys}


# Order in which metric families are listed (others follow alphabetically).
_FAMILY_ORDER = ("psnr", "ssim", "ms_ssim", "lpips", "dists", "clip", "fid", "kid", "p_ids", "u_ids")
_SUFFIX_ORDER = ("in", "out", "crop")


def metric_sort_key(key: str) -> tuple:
    fam = next((i for i, f in enumerate(_FAMILY_ORDER) if key == f or key.startswith(f + "_")), len(_FAMILY_ORDER))
    suffix = key.rsplit("_", 1)[-1] if "_" in key else ""
    suf = _SUFFIX_ORDER.index(suffix) if suffix in _SUFFIX_ORDER else len(_SUFFIX_ORDER)
    return (fam, suf, key)
