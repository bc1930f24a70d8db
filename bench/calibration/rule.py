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
the **rule score** (:func:`rule_score`): each part's margin over its own threshold, ``(s - t) / |t|`` (``s - t``
when ``t`` is 0; sign-reversed for ``direction: below``), combined as the flag combines them (the larger margin for
blur, the reference margin where there is one for replacement, a veto's smaller margin where the veto is measured).
The rule score is above 0 exactly where the flag is 1 and NaN exactly where the flag is (a sample the rule does not
judge), and orders samples within each part as its score does, so its AUROC is the AUROC of the rule, not of one
part.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

#: detector -> the flag its thresholds produce, and what that flag is, in words
FLAGS = {"blur": "blur_flag", "replacement": "replacement_flag", "incomplete": "incomplete_flag"}


def describe(det: str, entry: Mapping[str, Any]) -> str:
    """The rule in words, with the file's thresholds: ``blur_flag = blur_score > 0.3 or blur_mosaic_score > 2``."""
    op = ">" if entry.get("direction", "above") == "above" else "<"
    t = entry.get("threshold")
    real = entry.get("real_threshold")
    if det == "blur":
        ref = entry.get("ref_threshold")
        return (f"blur_flag = blur_score {op} {t:g}"
                + (f" (and blur_ref_score > {ref:g} with truth)" if ref is not None else "")
                + f" or blur_mosaic_score > {entry.get('mosaic_threshold'):g}"
                + (f" or blur_grain(_ref)_score > {entry['grain_threshold']:g}"
                   if entry.get("grain_threshold") is not None else "")
                + (f" or (blur_fade_score > {entry['fade_threshold']:g} and blur_grain(_ref)_score > 0"
                   f" and, with truth, blur_fade_ref_score > {entry['fade_threshold']:g})"
                   if entry.get("fade_threshold") is not None else "")
                + (f" or blur_real_score > {real:g}" if real is not None else "")
                if t is not None and entry.get("mosaic_threshold") is not None else "blur_flag: no threshold")
    if det == "replacement":
        return (f"replacement_flag = replacement_ref_score {op} {entry.get('ref_threshold')} where there is ground "
                f"truth, else replacement_score {op} {t}"
                + (f" and (replacement_real_score > {real}"
                   + (f" or replacement_score > {entry['plain_threshold']})" if entry.get("plain_threshold") is not None
                      else ")") if real is not None else ""))
    if det == "incomplete":
        from ..detectors.incomplete import DETAIL_MIN

        return (f"incomplete_flag = incomplete_score {op} {t} and (where finite) incomplete_detail_score > "
                f"{DETAIL_MIN:g}" if t is not None else "incomplete_flag: no threshold")
    return f"{det}_flag = {det}_score {op} {t}"


def _margin(s: np.ndarray, t: float | None, direction: str) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if t is None:
        return np.full(s.shape, np.nan)
    d = s - t if direction == "above" else t - s
    return d / abs(t) if t != 0 else d


def _veto(margin: np.ndarray, veto_margin: np.ndarray) -> np.ndarray:
    """A part's margin with a veto's (:func:`bench.detectors._util.veto`): the smaller of the two where the veto is
    measured, the part's own where it is NaN."""
    return np.where(np.isnan(veto_margin), margin, np.minimum(margin, veto_margin))


def rule_score(det: str, entry: Mapping[str, Any], scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """One score per sample whose sign is the flag the thresholds ``entry`` give (NaN where not judged)."""
    from ..registry import DETECTORS

    direction = getattr(DETECTORS.get(det), "direction", "above")  # the detector's, as its own flags use
    real_t = entry.get("real_threshold")
    if det == "blur":
        from ..detectors._util import score_column
        from ..detectors.blur import FADE_GRAIN_FLOOR, BlurDetector

        shape = np.shape(scores["blur_score"])
        column = lambda k: score_column(scores, k, shape)  # noqa: E731  (a score the run lacks: NaN)
        main = _margin(scores["blur_score"], entry.get("threshold"), direction)
        mosaic = _margin(column("blur_mosaic_score"), entry.get("mosaic_threshold"), "above")
        if entry.get("ref_threshold") is not None:  # with truth, the fill also has less detail than the truth
            main = _veto(main, _margin(column("blur_ref_score"), entry["ref_threshold"], "above"))
        grain = BlurDetector.grain_deficit(scores, shape)  # what the flag reads
        # the fade and a grain deficit above the floor, as the flag reads them; with truth, it also fades more
        # than the truth does
        fade = np.minimum(_margin(BlurDetector.fade(scores, shape), entry.get("fade_threshold"), "above"),
                          _margin(grain, FADE_GRAIN_FLOOR, "above"))
        fade = _veto(fade, _margin(column("blur_fade_ref_score"), entry.get("fade_threshold"), "above"))
        out = np.fmax.reduce([main, mosaic, _margin(column("blur_real_score"), real_t, "above"),
                              _margin(grain, entry.get("grain_threshold"), "above"), fade])
        # judged where the main or the mosaic score is (and both their thresholds are set), as the flag
        judged = ~(np.isnan(np.asarray(scores["blur_score"], dtype=np.float64)) & np.isnan(column("blur_mosaic_score")))
        if entry.get("threshold") is None or entry.get("mosaic_threshold") is None:
            judged[:] = False
        return np.where(judged, out, np.nan)
    if det == "replacement":
        free = _margin(scores["replacement_score"], entry.get("threshold"), direction)
        real = scores.get("replacement_real_score")
        if real_t is not None and real is not None:
            # both must hold (the smaller margin), unless the novelty is plain (the larger of the head's margin and
            # the plain one); a NaN head score leaves the novelty alone, whatever the plain threshold
            rm = _margin(real, real_t, "above")
            if entry.get("plain_threshold") is not None:  # (np.maximum: a NaN head stays NaN)
                rm = np.maximum(rm, _margin(scores["replacement_score"], entry["plain_threshold"], direction))
            free = _veto(free, rm)
        ref_s = scores.get("replacement_ref_score")
        if ref_s is None:
            return free
        ref_s = np.asarray(ref_s, dtype=np.float64)
        return np.where(np.isnan(ref_s), free, _margin(ref_s, entry.get("ref_threshold"), direction))
    out = _margin(scores[f"{det}_score"], entry.get("threshold"), direction)
    if det == "incomplete" and scores.get("incomplete_detail_score") is not None:  # both shares (NaN detail: one)
        from ..detectors.incomplete import DETAIL_MIN

        out = _veto(out, _margin(scores["incomplete_detail_score"], DETAIL_MIN, "above"))
    return out


def rule_flags(det: str, detectors_doc: Mapping[str, Mapping[str, Any]],
               scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """The flags the detector itself gives (its own ``flags``) with the thresholds of ``detectors_doc``."""
    from .measure import make_detectors

    return make_detectors(dict(detectors_doc), names=[det])[det].flags(dict(scores))[FLAGS[det]]


def needed_scores(det: str) -> tuple[str, ...]:
    return {"blur": ("blur_score", "blur_mosaic_score", "blur_ref_score", "blur_real_score", "blur_grain_score",
                     "blur_grain_ref_score", "blur_fade_score", "blur_fade_ref_score"),
            "replacement": ("replacement_score", "replacement_ref_score", "replacement_real_score"),
            "incomplete": ("incomplete_score", "incomplete_detail_score")}.get(det, (f"{det}_score",))


def measure_rules(detectors_doc: Mapping[str, Mapping[str, Any]], frame: Any, rows: list[tuple[str, int, bool]],
                  *, seed: int = 0, min_per_class: int = 2) -> dict[str, Any]:
    """Held-out (and fitted-part) figures of each flag rule the thresholds ``detectors_doc`` produce.

    ``frame``: the run's records (a DataFrame with the score columns); ``rows``: labelled outputs as (label, row
    index in ``frame``, in the held-out part). For detector D, the positives are outputs labelled D, the negatives
    those labelled good; outputs the rule does not judge (NaN flag) are left out and counted.
    """
    from ..stats import bootstrap_intervals

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
        flags = rule_flags(det, detectors_doc, scores) if len(idx) else np.zeros(0)
        score = rule_score(det, entry, scores) if len(idx) else np.zeros(0)
        judged = ~np.isnan(flags)
        res: dict[str, Any] = {"rule": describe(det, entry), "not_judged": int((~judged).sum())}
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
