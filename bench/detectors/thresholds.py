"""The versioned thresholds file that ships in the package (``bench/data/thresholds.json``).

Layout::

    {"format": 1, "version": 3, "sha256": "...", "created": "...", "command": "bench calibrate ...",
     "detectors": {"blur": {"threshold": 1.1, "direction": "above", ...}, ...},
     "calibration": {...precision/recall/AUROC on the calibration and a fresh seed...}}

``version`` is bumped by ``bench calibrate --out`` whenever the thresholds change; ``sha256`` hashes the
``detectors`` section (canonical JSON), so a result's provenance pins the exact numbers it was flagged with.
"""
from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import columns as col
from ..columns import Column
from ..errors import BenchError
from .base import Detector

FORMAT = 1


def default_path() -> Path:
    return Path(str(resources.files("bench").joinpath("data/thresholds.json")))


class ThresholdsFileError(BenchError, ValueError):
    """A thresholds file that cannot be used (missing, not JSON, not a thresholds file): a message naming it."""


def section_sha(detectors: dict[str, Any]) -> str:
    blob = json.dumps(detectors, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def content_sha(doc: dict[str, Any]) -> str:
    """The SHA-256 a thresholds file's ``sha256`` records: of what decides flags, its ``detectors`` section, and its
    learned-evidence rules when it has any."""
    evidence = doc.get("evidence")
    return section_sha(doc["detectors"] if not evidence else {"detectors": doc["detectors"], "evidence": evidence})


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ThresholdsFileError(f"thresholds file '{p}' not found (write one with bench calibrate --labels "
                                  f"labels.csv RUN --out FILE; the shipped one is {default_path()})")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ThresholdsFileError(f"thresholds file '{p}' cannot be read as JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ThresholdsFileError(f"{p}: unsupported thresholds format {got!r} (expected {FORMAT})")
    if not isinstance(data.get("detectors"), dict) or "version" not in data:
        raise ThresholdsFileError(f"{p}: a thresholds file needs 'version' and 'detectors'")
    try:
        now = content_sha(data)
    except (TypeError, ValueError) as e:
        raise ThresholdsFileError(f"{p}: its thresholds cannot be hashed ({e})") from None
    if data.get("sha256") != now:  # edited by hand since bench calibrate wrote it: the version no longer pins it
        data = {**data, "sha256": now, "edited": True}
    return data


def load_thresholds(path: str | Path | None = None) -> dict[str, Any]:
    """The parsed thresholds file (cached; default: the shipped one). A file that is not there, not JSON or not a
    thresholds file is a :class:`ThresholdsFileError` naming it. ``sha256`` is the hash of its content as read
    (:func:`content_sha`), with ``edited: true`` when that is not the hash the file records (changed by hand after
    ``bench calibrate`` wrote it: its version number no longer pins its numbers)."""
    return _load(str(Path(path).expanduser() if path else default_path()))


def clear_cache() -> None:
    _load.cache_clear()


class CalibratedDetector(Detector):
    """A detector whose flag compares a score with a threshold read from the thresholds file.

    Subclasses set ``key`` (record key prefix and thresholds-file entry) and ``direction`` ("above": flag when
    score > threshold; "below": flag when score < threshold) and call :meth:`_thresholds` in ``__init__``.
    """

    key: str = "?"
    direction: str = "above"
    #: extra named thresholds this detector reads from its entry besides "threshold"
    extra_thresholds: tuple[str, ...] = ()
    #: extra score / flag columns besides ``{key}_score`` and ``{key}_flag``
    extra_scores: tuple[str, ...] = ()
    extra_flags: tuple[str, ...] = ()

    @property
    def columns(self) -> dict[str, Column]:  # type: ignore[override]
        """``{key}_score``, ``{key}_flag`` and the extras: what :meth:`scores` and :meth:`flags` write."""
        out = {f"{self.key}_score": col.score(f"{self.key} detector score")}
        out.update({k: col.score() for k in self.extra_scores})
        out[f"{self.key}_flag"] = col.flag(f"{self.key} detector flag (thresholds applied when the run is read)")
        out.update({k: col.flag() for k in self.extra_flags})
        return out

    def _thresholds(self, thresholds_file: str | None = None, **overrides: float | None) -> None:
        """Read this detector's entry from ``thresholds_file`` (the suite's ``thresholds:``; default: the shipped
        file; ``"none"``: no file, only the explicit ``overrides``)."""
        if thresholds_file == "none":
            data: dict[str, Any] = {"version": None, "sha256": None, "detectors": {}}
        else:
            data = load_thresholds(thresholds_file)  # (not there, not JSON, not a thresholds file: an error)
        entry = dict(data.get("detectors", {}).get(self.key, {}))
        self.thresholds_version = data.get("version")
        self.thresholds_sha = data.get("sha256")
        self.thresholds_edited = bool(data.get("edited"))
        self.thresholds_file = str(thresholds_file) if thresholds_file else "bench/data/thresholds.json"
        self.overridden = sorted(k for k, v in overrides.items() if v is not None)
        self.t: dict[str, float | None] = {}
        for name in ("threshold", *self.extra_thresholds):
            v = overrides.get(name)
            self.t[name] = float(v) if v is not None else (None if entry.get(name) is None else float(entry[name]))

    @property
    def threshold(self) -> float | None:
        return self.t["threshold"]

    def scores(self, batch) -> dict[str, np.ndarray]:
        """Per-sample scores (``{key}_score`` and any extra score columns); no thresholds involved."""
        raise NotImplementedError

    def margins(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each flag's rule, written once, as margins (:func:`~bench.detectors._util.margin`): above 0 exactly where
        the flag is 1, NaN exactly where it is NaN (not judged). A detector whose flag combines several scores
        overrides this, never :meth:`flags`: the flags are the margins' signs, and the calibration's rule score
        (:func:`bench.calibration.rule.rule_score`) is the flag's margin itself."""
        return {f"{self.key}_flag": self._margin(scores[f"{self.key}_score"])}

    def describe(self) -> str:
        """The flag rule of :meth:`margins` in words, with this detector's thresholds (``bench calibrate --labels``
        prints and stores it beside the rule's figures). A detector that overrides :meth:`margins` overrides this."""
        op = ">" if self.direction == "above" else "<"
        t = self.t.get("threshold")
        return (f"{self.key}_flag = {self.key}_score {op} {t:g}" if t is not None
                else f"{self.key}_flag: no threshold")

    def flags(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Flags from scores (``bench calibrate`` re-flags stored scores with candidate thresholds this way): the signs
        of :meth:`margins`."""
        from ._util import past

        return {k: past(m) for k, m in self.margins(scores).items()}

    def detect(self, batch) -> dict[str, np.ndarray]:
        s = self.scores(batch)
        return {**s, **self.flags(s)}

    def _margin(self, scores: np.ndarray, name: str = "threshold", direction: str | None = None) -> np.ndarray:
        from ._util import margin

        return margin(scores, self.t.get(name), direction or self.direction)

    # identity(): the base class's. Thresholds are not part of it: stored scores do not depend on them, and flags
    # are set from the scores with the thresholds in force whenever a run is read (bench.detectors.flagging).

    def provenance(self) -> dict[str, Any]:
        return {
            "thresholds": dict(self.t),
            "direction": self.direction,
            "thresholds_version": self.thresholds_version,
            "thresholds_sha256": self.thresholds_sha,
            "thresholds_file": self.thresholds_file,
            "thresholds_edited": self.thresholds_edited,
            "overridden": self.overridden,
        }
