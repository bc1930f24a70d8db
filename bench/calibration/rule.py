"""The flag rule a thresholds file writes, measured as such (issue 27).

A detector's flag is not always ``score > threshold``:

* ``blur_flag`` = ``blur_score > threshold`` (**and**, with ground truth, ``blur_ref_score > ref_threshold``)
  **or** ``blur_mosaic_score > mosaic_threshold`` (**or** the grain deficit, ``blur_grain_ref_score`` with ground
  truth, else ``blur_grain_score``, ``> grain_threshold``, **or** the fade, ``blur_fade_score > fade_threshold``
  where that grain deficit is also above 0 and, with ground truth, ``blur_fade_ref_score > fade_threshold`` too,
  **or** ``blur_real_score > real_threshold``, when the file sets them);
* ``replacement_flag`` = ``replacement_ref_score > ref_threshold`` where the sample has ground truth (a finite
  reference score), else ``replacement_score > threshold`` (**and**, when the file sets ``real_threshold``,
  ``replacement_real_score > real_threshold`` or ``replacement_score > plain_threshold``: the smaller margin of
  the two parts, the second part's being the larger of its two);
* ``incomplete_flag`` = ``incomplete_score > threshold`` **and**, where the input has detail under the hole (a
  finite ``incomplete_detail_score``), ``incomplete_detail_score > DETAIL_MIN`` (the smaller margin of the two);
* the others = ``<name>_score`` against ``threshold`` in the detector's direction.

So the figures quoted for a thresholds file are those of that rule: precision and recall of the flags the detectors
themselves give with the file's thresholds (:func:`rule_flags` builds the detectors and asks them), and the AUROC of
the **rule score** (:func:`rule_score`): the detector's own margin for its flag
(:meth:`~bench.detectors.thresholds.CalibratedDetector.margins`, where each rule is written once): each part's
margin over its own threshold, ``(s - t) / |t|`` (``s - t`` when ``t`` is 0; sign-reversed for ``direction:
below``), combined as the flag combines them (the larger margin for blur, the reference margin where there is one
for replacement, a veto's smaller margin where the veto is measured). The flag is the rule score's sign, so the rule
score is above 0 exactly where the flag is 1 and NaN exactly where the flag is (a sample the rule does not judge),
and it orders samples within each part as its score does: its AUROC is the AUROC of the rule, not of one part.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

#: detector -> the flag its thresholds produce, and what that flag is, in words
FLAGS = {"blur": "blur_flag", "replacement": "replacement_flag", "incomplete": "incomplete_flag"}


def describe(det: str, entry: Mapping[str, Any]) -> str:
    """The rule in words, with the file's thresholds (``blur_flag = blur_score > 0.3 or blur_mosaic_score > 2``): the
    detector's own words for the rule its margins write (:meth:`~bench.detectors.thresholds.CalibratedDetector.describe`)."""
    from .measure import make_detectors

    return make_detectors({det: dict(entry)}, names=[det])[det].describe()


def rule_score(det: str, entry: Mapping[str, Any], scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """One score per sample whose sign is the flag the thresholds ``entry`` give (NaN where not judged): the margin
    the detector's own rule gives its flag."""
    from .measure import make_detectors

    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    return make_detectors({det: dict(entry)}, names=[det])[det].margins(arrays)[f"{det}_flag"]


def rule_flags(det: str, detectors_doc: Mapping[str, Mapping[str, Any]],
               scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """The flags the detector itself gives (its own ``flags``) with the thresholds of ``detectors_doc``."""
    from .measure import make_detectors

    return make_detectors(dict(detectors_doc), names=[det])[det].flags(dict(scores))[FLAGS[det]]


def needed_scores(det: str) -> tuple[str, ...]:
    """The score columns the detector's flag rule reads: its own (``{det}_score`` and its ``extra_scores``)."""
    from ..registry import DETECTORS

    return (f"{det}_score", *getattr(DETECTORS.get(det), "extra_scores", ()))


def measure_rules(detectors_doc: Mapping[str, Mapping[str, Any]], frame: Any, rows: list[tuple[str, int, bool]],
                  *, seed: int = 0, min_per_class: int = 2) -> dict[str, Any]:
    """Held-out (and fitted-part) figures of each flag rule the thresholds ``detectors_doc`` produce.

    ``frame``: the run's records (a DataFrame with the score columns); ``rows``: labelled outputs as (label, row
    index in ``frame``, in the held-out part). For detector D, the positives are outputs labelled D, the negatives
    those labelled good; outputs the rule does not judge (NaN flag) are left out and counted.
    """
    from ..detectors._util import past
    from ..stats import bootstrap_intervals
    from .measure import make_detectors

    out: dict[str, Any] = {}
    for det, flag_key in FLAGS.items():
        entry = detectors_doc.get(det)
        # optional scores (a head, incomplete v3's detail share): runs scored before them are judged without them
        needed = needed_scores(det)[:{"replacement": 1, "blur": 2, "incomplete": 1}.get(det, 99)]
        if not entry or any(k not in frame for k in needed):
            out[flag_key] = {"skipped": f"the run has no {' / '.join(needed_scores(det))} or the file no {det} entry"}
            continue
        sel = [(lab == det, i, test) for lab, i, test in rows if lab in (det, "good")]
        idx = np.array([i for _, i, _ in sel], dtype=int)
        scores = {k: frame[k].to_numpy(dtype=np.float64)[idx] for k in frame.columns if str(k).endswith("_score")}
        for k in (*needed_scores(det), "blur_ref_score"):  # a score the run lacks judges nothing
            scores.setdefault(k, np.full(len(idx), np.nan))
        y = np.array([v for v, _, _ in sel], dtype=bool)
        test = np.array([t for _, _, t in sel], dtype=bool)
        rule = make_detectors({det: dict(entry)}, names=[det])[det]
        score = rule.margins(scores)[flag_key] if len(idx) else np.zeros(0)  # (rule_score)
        flags = past(score)  # (rule_flags: the flags are the margins' signs)
        judged = ~np.isnan(flags)
        res: dict[str, Any] = {"rule": rule.describe(), "not_judged": int((~judged).sum())}
        counts = {part: (int((y & m & judged).sum()), int((~y & m & judged).sum()))
                  for part, m in (("fit", ~test), ("test", test))}
        res["counts"] = counts
        if min(counts["test"]) < min_per_class:
            res["skipped"] = (f"too few labels to measure it held out (need {min_per_class} {det} and "
                              f"{min_per_class} good; have {counts['test'][0]} and {counts['test'][1]})")
            out[flag_key] = res
            continue
        for part, m in (("fit", ~test & judged), ("test", test & judged)):
            if min(counts[part]) > 0:
                res[part] = measure(y[m], flags[m], score[m])
        m = test & judged
        res["test"].update(bootstrap_intervals(y[m], flags[m], score[m], digits=4, seed=seed))
        out[flag_key] = res
    return out


def measure(y: np.ndarray, flags: np.ndarray, score: np.ndarray, *, digits: int = 4) -> dict[str, float]:
    """Precision and recall of ``flags``, AUROC of the rule ``score``, against labels ``y``."""
    from ..stats import auroc, pr

    p, r, _ = pr(y, flags)
    return {"precision": round(p, digits), "recall": round(r, digits), "auroc": round(auroc(y, score), digits)}
