"""Flags from stored scores, with the thresholds in force when a run is read.

Scoring stores each detector's per-sample *scores* only (:meth:`CalibratedDetector.scores`); the thresholds are
not part of a detector's scorer key. Whoever reads a run (report, export, CI gate, calibration) gets its flags from
:func:`set_flags`: every detector of the suite is built from its spec (thresholds file, explicit thresholds) and
its own :meth:`~CalibratedDetector.flags` rule turns the stored scores into flags. So ``bench calibrate`` followed
by ``bench report`` changes flags and verdicts without scoring anything again, and a newer shipped thresholds file
applies to old runs as soon as they are read.

A detector plug-in without a ``flags`` rule (a plain :class:`~bench.detectors.base.Detector`) keeps the flags it
stored when it scored.

**Learned evidence** (:func:`apply_evidence`): a thresholds file may carry an ``evidence`` list, rules fitted from
human labels by ``bench calibrate --labels`` on learned per-sample columns (``replacement_features_score``, the
removal metrics ``remove``, ``rcs``, ``cfd``): ``{"column": "rcs", "direction": "below", "threshold": 0.42,
"verdict": "replacement"}``. When a run has that column (its network's weights were there), the rule sets
``evidence_<verdict>_flag``, which votes for that verdict (:mod:`bench.detectors.verdict`); when it has not, the
weight-free detectors decide alone, and what was (not) applied is reported.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import CAUGHT, describe


def is_threshold_param(name: str) -> bool:
    """Whether a detector parameter sets a threshold (``thresholds`` file, ``threshold``, ``*_threshold``): such
    parameters change flags, never scores, so they stay out of the scorer key."""
    return name in ("thresholds", "threshold") or name.endswith("_threshold")


def flag_rule(spec: dict[str, Any], path: str = "detectors") -> Any | None:
    """The detector of a resolved suite spec (``{"type": ..., "name": ..., **params}``) when it has a flags rule
    (construction reads its thresholds; no network is loaded), else None."""
    from ..registry import DETECTORS

    det = DETECTORS.create(spec, path)
    return det if callable(getattr(det, "flags", None)) and hasattr(det, "key") else None


def detector_scores(frame: pd.DataFrame, key: str) -> dict[str, np.ndarray]:
    """The stored score columns of the detector ``key`` (``{key}_score``, ``{key}_*_score``) as float arrays, a value
    that is not a number as NaN: what its ``flags`` rule reads."""
    prefix = f"{key}_"
    return {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
            for c in frame.columns if isinstance(c, str) and c.startswith(prefix) and c.endswith("_score")}


def set_flags(frame: pd.DataFrame, specs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Replace the flag columns of ``frame`` (in place) by those the thresholds in force give from its stored
    scores; returns ``{detector label: its thresholds provenance}`` (or ``{"error": ...}`` when its rule could not
    be built or applied: then its stored flags, if any, stay)."""
    applied: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or "type" not in spec:
            continue
        label = str(spec.get("name") or spec["type"])
        try:
            det = flag_rule(spec, f"detectors[{i}]")
            if det is None:
                continue
            scores = detector_scores(frame, det.key)
            if f"{det.key}_score" not in scores:
                continue  # never scored (or no rows): nothing to flag
            for key, arr in det.flags(scores).items():
                frame[key] = np.asarray(arr, dtype=np.float64)
            applied[label] = det.provenance()
        except CAUGHT as e:
            applied[label] = {"error": describe(e)}
    return applied


#: the learned columns a rule may read, and on which side of its threshold a sample is flagged
EVIDENCE_COLUMNS: dict[str, str] = {"replacement_features_score": "above", "remove": "below", "remove_crop": "below",
                                    "rcs": "below", "cfd": "above"}
EVIDENCE_VERDICTS = ("replacement", "blur")


def rule_problem(rule: dict[str, Any]) -> str | None:
    """What makes a learned-evidence rule unusable (naming the key), None when nothing: its ``column`` is one of
    :data:`EVIDENCE_COLUMNS`, its ``direction`` the side of the threshold that means failure for that column (a
    rule on the other side would flag the good outputs), its ``verdict`` one of :data:`EVIDENCE_VERDICTS`, its
    ``threshold`` a finite number."""
    import math

    col = rule.get("column")
    if col not in EVIDENCE_COLUMNS:
        return f"column {col!r} is not a learned column ({', '.join(EVIDENCE_COLUMNS)})"
    if rule.get("verdict") not in EVIDENCE_VERDICTS:
        return f"verdict {rule.get('verdict')!r} is not one of {', '.join(EVIDENCE_VERDICTS)}"
    if rule.get("direction") != EVIDENCE_COLUMNS[col]:
        return f"direction {rule.get('direction')!r}: {col} means failure {EVIDENCE_COLUMNS[col]} its threshold"
    t = rule.get("threshold")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        return f"threshold {t!r} is not a finite number"
    return None


def evidence_flag(verdict: str) -> str:
    """The flag column a learned-evidence rule for ``verdict`` sets."""
    return f"evidence_{verdict}_flag"


def evidence_rules(specs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``evidence`` rules of the thresholds files the suite's detectors read (their ``thresholds:`` files; the
    shipped file when none names one), each with the file's name, version and SHA-256 and, for a file ``bench
    calibrate --labels`` wrote, the labels it was fitted on (``labels_sha256``, ``labels``: how many were found in
    the run, ``labels_run_id``); duplicates once. The run's manifest records them (``evidence``)."""
    from .thresholds import load_thresholds

    files = {str(s["thresholds"]) for s in specs if isinstance(s, dict) and s.get("thresholds")
             and s.get("thresholds") != "none"} or {None}
    out: list[dict[str, Any]] = []
    for f in sorted(files, key=str):
        try:
            doc = load_thresholds(f)
        except (OSError, ValueError):
            continue
        ev = doc.get("evidence") or []
        for rule in ev if isinstance(ev, list) else [ev]:  # (a malformed one is reported by apply_evidence)
            cal = doc.get("calibration") if isinstance(doc.get("calibration"), dict) else {}
            r = {**(rule if isinstance(rule, dict) else {"rule": rule}), "file": f or "bench/data/thresholds.json",
                 "version": doc.get("version"), "sha256": doc.get("sha256"),
                 **{k: cal[c] for k, c in (("labels_sha256", "labels_sha256"), ("labels", "labels_in_run"),
                                           ("labels_run_id", "run_id")) if c in cal}}
            if not any(all(r.get(k) == o.get(k) for k in ("column", "direction", "threshold", "verdict"))
                       for o in out):
                out.append(r)
    return out


def apply_evidence(frame: pd.DataFrame, rules: list[dict[str, Any]],
                   random_weights: bool = False) -> dict[str, Any]:
    """Set ``evidence_<verdict>_flag`` (in place) from each rule whose column the run has (several rules for one
    verdict: any of them flags); returns ``{"evidence:<column>": the rule, applied or why not}``. A rule applies to
    runs of the weights it was made for (its ``weights``, by default ``pretrained``: ``bench calibrate --labels``
    fits on real networks only): a run whose networks have random weights (``weights: random``) gets no rule made
    for real ones, its columns being noise, not the evidence the rule was fitted on (a rule written by hand with
    ``"weights": "random"`` applies there, to test the path)."""
    from ._util import flag

    report: dict[str, Any] = {}
    for rule in rules:
        rule = rule if isinstance(rule, dict) else {"rule": rule}
        col, verdict = str(rule.get("column")), str(rule.get("verdict"))
        name = f"evidence:{col}"
        if name in report:  # two rules on one column (one per verdict, or from two files): each reported
            name = f"evidence:{col}→{verdict}"
            name = name if name not in report else f"{name} #{sum(k.startswith(name) for k in report) + 1}"
        bad = rule_problem(rule)
        if bad:
            report[name] = {**rule, "applied": False, "why": f"not a valid rule ({bad}); {rule.get('file', '?')}"}
            continue
        if random_weights != (rule.get("weights", "pretrained") == "random"):
            run_w, rule_w = ("random", "real (pretrained)") if random_weights else ("real", "random")
            report[name] = {**rule, "applied": False,
                            "why": f"the run's networks have {run_w} weights, the rule was made for {rule_w} ones: "
                                   f"their values are not the evidence it was fitted on; the weight-free detectors "
                                   f"decided"}
            continue
        vals = (pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64) if col in frame
                else np.full(len(frame), np.nan))
        if col not in frame or np.isnan(vals).all():
            report[name] = {**rule, "applied": False,
                            "why": f"the run has no {col} values (its metric or detector did not run here: weights "
                                   f"missing, or not in the suite); the weight-free detectors decided"}
            continue
        f = flag(vals, float(rule["threshold"]), str(rule["direction"]))
        key = evidence_flag(verdict)
        frame[key] = np.fmax(frame[key].to_numpy(dtype=np.float64), f) if key in frame else f
        # where the column is NaN the weight-free detectors decided alone: a backend with no value at all (its
        # shard ran where the weights were missing) is judged otherwise than the others, and the report says so
        # (samples with an output only: an error row has no value of anything)
        out = frame["error"].isna().to_numpy() if "error" in frame else np.ones(len(frame), bool)
        has = ~np.isnan(vals) & out
        lack = ~has & out
        without = (sorted({str(b) for b in frame.loc[lack, "backend"]} - {str(b) for b in frame.loc[has, "backend"]})
                   if "backend" in frame and lack.any() else [])
        report[name] = {**rule, "applied": True, "samples": int(has.sum()), "of": int(out.sum()),
                        **({"without": without} if without else {})}
    return report
