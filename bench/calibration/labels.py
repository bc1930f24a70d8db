"""Thresholds from human labels of a run's real outputs: ``bench calibrate --labels labels.csv RUN``.

The labels come from the HTML report's labelling mode (:mod:`bench.report.labelling`): one of good, blur,
replacement, incomplete, other per output. The detectors' scores are already stored with the run (nothing is
recomputed), so fitting is a matter of choosing, per detector, the threshold that best separates that detector's
label from ``good``:

* positives: outputs labelled with the detector's failure (``blur``, ``replacement``, ``incomplete``); negatives:
  outputs labelled ``good``. Outputs labelled otherwise (another failure, ``other``) do not take part for that
  detector: a replacement that is also blurry says nothing about where the blur threshold belongs.
* the labelled outputs are split once, by a hash of (seed, cell, sample), into a part the thresholds are fitted on
  and a held-out part (``--test-fraction``, default 0.3) they are measured on: precision, recall and AUROC with
  95 % bootstrap intervals (1000 resamples), per threshold (``results``: ``score > threshold`` alone, the fitting
  diagnostic) and, **the figures to quote**, per flag rule the written file produces (``rules``, from
  :mod:`bench.calibration.rule`: ``blur_flag`` also fires on the mosaic score, ``replacement_flag`` uses the
  reference score where there is ground truth), computed with the detectors' own ``flags``.
* a detector needs at least :data:`MIN_PER_CLASS` positives and negatives in each part; otherwise it keeps its
  current threshold and the report says why.
* a fitted threshold the labels give no evidence for (:func:`no_evidence`: the held-out AUROC's interval not above
  0.5, held-out flags no better than chance, or the base file's value as good on these labels) is not written: the
  base file's value stays, and ``results`` says why (``kept_base``) with the value not written (``not_written``).
  The same check, the one function, judges the parts of a flag rule (below: on the rule's own held-out figures)
  and each learned evidence rule (:func:`fit_evidence`: a verdict whose rules it refuses gets none, or keeps the
  base file's).
* thresholds that are parts of a flag rule and cannot be fitted on their own score are fitted together, on that
  rule, after the main thresholds (:func:`fit_rule_parts`): ``blur``'s ``grain_threshold`` and ``fade_threshold``
  (the parts that give most of its flags on real outputs) and ``replacement``'s ``real_threshold`` (the head's
  veto).

The result is a thresholds file in the shipped format (every other detector's entry copied from ``--base``,
default the shipped file), versioned like the shipped one (the version goes up when the thresholds change), with a
``calibration`` section recording the labels file's SHA-256, the run, the split and the figures. A suite selects it
per detector: ``detectors: [{type: blur, thresholds: my_thresholds.json}]``; the run's manifest records the file,
its version and hash.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BenchError

#: (detector, label, score column, threshold name); a threshold other than the main one is reported as
#: "detector (name)". Replacement's reference threshold is fitted on the outputs that have ground truth.
FITTED = (("blur", "blur", "blur_score", "threshold"),
          ("replacement", "replacement", "replacement_score", "threshold"),
          ("replacement", "replacement", "replacement_ref_score", "ref_threshold"),
          ("incomplete", "incomplete", "incomplete_score", "threshold"))
MIN_PER_CLASS = 2


def _in_test(seed: int, cell: str, sid: str, fraction: float) -> bool:
    h = hashlib.sha256(f"{seed}\x00{cell}\x00{sid}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64 < fraction


def fit_thresholds(detectors: dict[str, dict[str, Any]], frame, parts: list[tuple[str, int, bool]],
                   seed: int = 0, rule_parts: bool = True, guard: bool = True) -> dict[str, Any]:
    """The detectors' thresholds fitted on labelled rows of ``frame`` (``parts``: (label, row, held out) per
    labelled output; labels ``good``, ``blur``, ``replacement``, ...): each :data:`FITTED` threshold on its own
    score, then (``rule_parts``) the parts of the flag rules with their rule (:func:`fit_rule_parts`); ``detectors``
    (a thresholds file's ``detectors`` section) is updated in place. With ``guard`` (the default), a fitted
    threshold the labels give no evidence for (:func:`no_evidence`) is not written: the file's own value stays, and
    its result says why (``kept_base``, with the value not written, ``not_written``). Returns the figures per
    threshold (``results``)."""
    from ..stats import auroc, best_threshold, bootstrap_intervals, pr, threshold_flags, written_threshold

    results: dict[str, Any] = {}
    for det, label, score_key, name in FITTED:
        key = det if name == "threshold" else f"{det} ({name})"
        if score_key not in frame:
            why = (f"no output of the run has a {score_key} (it needs ground truth there)" if f"{det}_score" in frame
                   else f"the run has no {score_key} (the {det} detector did not run)")
            results[key] = {"skipped": why}
            continue
        rows = [(lab == label, float(frame[score_key].iloc[i]), held) for lab, i, held in parts
                if lab in (label, "good")]
        rows = [r for r in rows if not math.isnan(r[1])]  # not judged (too small; no ground truth for a reference)
        y = np.array([r[0] for r in rows], bool)
        s = np.array([r[1] for r in rows], float)
        test = np.array([r[2] for r in rows], bool)
        counts = {part: (int((y & sel).sum()), int((~y & sel).sum())) for part, sel in (("fit", ~test),
                                                                                      ("test", test))}
        short = [f"{part}: {p} {label} / {n} good" for part, (p, n) in counts.items()
                 if p < MIN_PER_CLASS or n < MIN_PER_CLASS]
        if short:
            results[key] = {"skipped": f"too few labels (need {MIN_PER_CLASS} {label} and {MIN_PER_CLASS} good in "
                                       f"each part; have {'; '.join(short)})", "counts": counts}
            continue
        fit = ~test
        t = best_threshold(y[fit], s[fit], detectors.get(det, {}).get("direction", "above"))
        if math.isnan(t):
            results[key] = {"skipped": "no finite scores among the labelled outputs", "counts": counts}
            continue
        t = written_threshold(t, s, "above")  # (the figures below are of the value written)
        flags = (np.nan_to_num(s, nan=-np.inf) > t).astype(float)
        res: dict[str, Any] = {"threshold": t, "counts": counts, "rule": f"{score_key} > threshold alone"}
        for part, sel in (("fit", fit), ("test", test)):
            p, r, _ = pr(y[sel], flags[sel])
            res[part] = {"precision": round(p, 4), "recall": round(r, 4), "auroc": round(auroc(y[sel], s[sel]), 4)}
        res["test"].update(bootstrap_intervals(y[test], flags[test], s[test], digits=4, seed=seed))
        own = detectors.get(det, {}).get(name)
        has_own = own is not None and math.isfinite(float(own))
        why = no_evidence(y, s, flags, test, res["test"], threshold_flags(s, float(own), "above") if has_own else None,
                          _exact(own) if has_own else "") if guard else None
        if why:  # the file keeps its own value (none: the detector's entry is left as it was)
            res.update({"kept_base": why, "threshold": own, "not_written": t})
        else:
            detectors.setdefault(det, {"direction": "above"})[name] = t
        results[key] = res
    if rule_parts:
        for det, key in (("blur", "blur (grain_threshold, fade_threshold)"),
                         ("replacement", "replacement (real_threshold)")):
            results[key] = fit_rule_parts(detectors, frame, parts, det, seed=seed, guard=guard)
    return results


def no_evidence(y: np.ndarray, score: np.ndarray, flags: np.ndarray, test: np.ndarray, held_out: dict[str, Any],
                own_flags: np.ndarray | None = None, own: str = "") -> str | None:
    """Why a value fitted on the labels ``y`` must not be written, or None: the one check of every fit from labels
    (a detector's threshold, :func:`fit_thresholds`; the parts of a flag rule, :func:`fit_rule_parts`; a learned
    evidence rule, :func:`fit_evidence`). ``score``: the score it flags on, larger = more suspect (a rule's score
    for a rule); ``flags``: its 0/1 flags; ``test``: the held-out labels; ``held_out``: its figures there
    (``auroc``, ``auroc_ci``, ``precision``, ``recall``); ``own_flags``: the flags the file's own value ``own``
    (in words) gives on the same outputs, None where the file has none. It is not written when the labels give no
    evidence that it beats chance or the file's own value on the same labels:

    * the score does not rank the held-out failures above the held-out good outputs better than chance: the 95 %
      bootstrap interval of its held-out AUROC (``held_out["auroc_ci"]``) does not lie above 0.5;
    * its flags on the held-out labels are no better than chance: Youden's J (recall minus the share of good
      outputs flagged) is not above 0;
    * the file's own value separates the held-out labels better, or all the labels (fitted and held out) as
      well: nothing here shows the fitted one better."""
    from ..stats import balanced

    ci = held_out.get("auroc_ci")
    if not ci or not ci[0] > 0.5:
        lo_hi = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        return (f"the score does not rank the held-out labels better than chance (AUROC {held_out['auroc']:.3f}"
                f"{lo_hi}: its 95 % interval does not lie above 0.5)")
    j = balanced(y[test], flags[test])
    if not j > 0:
        return (f"its flags on the held-out labels are no better than chance (Youden's J {j:.3f}: recall "
                f"{held_out['recall']:.3f}, precision {held_out['precision']:.3f})")
    if own_flags is None:
        return None
    j_own, j_all, j_own_all = balanced(y[test], own_flags[test]), balanced(y, flags), balanced(y, own_flags)
    if j_own > j or j_own_all >= j_all:
        return (f"the file's own {own} separates these labels as well or better (Youden's J held out {j_own:.3f} "
                f"against the fitted one's {j:.3f}; on all labels {j_own_all:.3f} against {j_all:.3f})")
    return None


def fit_from_labels(labels_path: str | Path, run: Any, test_fraction: float = 0.3, seed: int = 0,
                    base: str | Path | None = None) -> dict[str, Any]:
    """A thresholds document fitted on the labelled outputs of ``run`` (see the module doc)."""
    from ..detectors.thresholds import FORMAT, load_thresholds
    from ..store.run import load_run
    from ..report.labelling import find_output, output_digest, read_labels

    if not 0.0 < test_fraction < 1.0:
        raise BenchError(f"--test-fraction {test_fraction}: expected a fraction between 0 and 1")
    base_doc = load_thresholds(base)  # (a base file not there: said first, never an empty base)
    labels = read_labels(labels_path)
    rd = load_run(run)
    frame = rd.frame()
    run_id = str(rd.manifest.get("run_id", ""))
    ids = [(str(c), str(s)) for c, s in zip(frame["cell_key"], frame["sample_id"])]
    index = {k: i for i, k in enumerate(ids)}
    # each label found under the run's own ids (a hand edit's padding stripped where only that finds the output)
    found = [(replace(lab, cell=ids[i][0], sample_id=ids[i][1]), i)
             for lab, i in ((lab, find_output(index, lab)) for lab in labels) if i is not None]
    # a label is of the output file it was made on: the same cell and sample of a run of the same suite whose outputs
    # were made again is another output (its label says nothing of it)
    other = [lab for lab, _ in found if lab.output_sha256
             and output_digest(rd.run_dir, lab.cell, lab.sample_id) not in (None, lab.output_sha256)]
    if other:
        found = [(lab, i) for lab, i in found if lab not in other]
        if not found:
            raise BenchError(f"{labels_path}: its {len(other)} labelled outputs of {run} are other files than the "
                             f"run's (the output files' SHA-256 differ): the labels were made on another run's outputs")
    if not found:
        others = sorted({lab.run_id for lab in labels if lab.run_id})
        raise BenchError(f"{labels_path}: none of its {len(labels)} labelled outputs is in {run} (run {run_id}); "
                         f"the labels were made on run(s) {', '.join(others) or '?'}")
    detectors = {k: dict(v) for k, v in base_doc.get("detectors", {}).items()}
    parts = [(lab.label, i, _in_test(seed, lab.cell, lab.sample_id, test_fraction)) for lab, i in found]
    results = fit_thresholds(detectors, frame, parts, seed)
    # learned evidence from networks with random weights (`weights: random`, suite-wide) would put noise in the verdict
    # (random weights, not any reason a run is not comparable: shards merged from two devices have real networks)
    reasons = [str(r) for r in rd.manifest.get("noncomparable_reasons") or []]
    random_reasons = [r for r in reasons if "random" in r]
    random_why = ("the run's learned metrics use random weights (" + "; ".join(random_reasons or ["weights: random"])
                  + "): learned evidence needs the real networks"
                  if rd.manifest.get("weights") == "random" or random_reasons else None)
    evidence, ev_results = fit_evidence(frame, parts, seed, skip=random_why, base=base_doc.get("evidence"))
    evidence, ev_base = keep_base_evidence(base_doc.get("evidence"), evidence, ev_results)
    from .rule import measure_rules

    rules = measure_rules(detectors, frame, parts, seed=seed, min_per_class=MIN_PER_CLASS)
    labels_sha = hashlib.sha256(Path(labels_path).read_bytes()).hexdigest()
    return {
        "format": FORMAT,
        "detectors": detectors,
        **({"evidence": evidence} if evidence else {}),
        "calibration": {
            "source": "human labels", "labels_file": str(labels_path), "labels_sha256": labels_sha,
            "labels": len(labels), "labels_in_run": len(found), "labels_of_other_outputs": len(other),
            "run_id": run_id,
            "run_config_hash": rd.manifest.get("config_hash"), "test_fraction": test_fraction, "seed": seed,
            "base": str(base) if base else "bench/data/thresholds.json", "base_version": base_doc.get("version"),
            "base_sha256": base_doc.get("sha256"),
            "results": results, "rules": rules, "evidence": ev_results,
            **({"evidence_base": ev_base} if ev_base else {}),
        },
    }


#: how many values of each part's threshold the joint fit tries (evenly spaced quantiles of the midpoints between the
#: labelled outputs' scores), besides the file's own value and "off"
PART_CANDIDATES = 24


def _blur_parts(scores: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The scores blur's grain and fade thresholds are compared with (the fade counts where the grain deficit is above
    its floor)."""
    from ..detectors.blur import FADE_GRAIN_FLOOR, BlurDetector

    grain = BlurDetector.grain_deficit(scores, shape)
    return {"grain_threshold": grain,
            "fade_threshold": np.where(grain > FADE_GRAIN_FLOOR, BlurDetector.fade(scores, shape), np.nan)}


def _replacement_parts(scores: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The head's logit, where the head is asked (novelty above 0, no ground truth)."""
    from ..detectors._util import score_column

    real = score_column(scores, "replacement_real_score", shape)
    ref = score_column(scores, "replacement_ref_score", shape)
    return {"real_threshold": np.where(np.isnan(ref), real, np.nan)}


#: per detector: (its label, the score columns the parts need, the parts' scores, where "off" (None) ranks: an OR
#: part that is off flags nothing (the strictest), a veto that is off vetoes nothing (the most lenient))
RULE_PARTS = {"blur": ("blur", ("blur_score", "blur_grain_score", "blur_fade_score"), _blur_parts, math.inf),
              "replacement": ("replacement", ("replacement_score", "replacement_real_score"), _replacement_parts,
                              -math.inf)}


def fit_rule_parts(detectors: dict[str, dict[str, Any]], frame, parts: list[tuple[str, int, bool]],
                   det: str, seed: int = 0, guard: bool = True) -> dict[str, Any]:
    """Thresholds of a detector's flag rule that cannot be fitted on their own score, fitted together with it
    (:data:`RULE_PARTS`): ``blur``'s ``grain_threshold`` and ``fade_threshold`` (on real outputs most ``blur`` flags
    come from them, the grain deficit and the fade where that deficit is positive, OR-ed with the main and mosaic
    rules) and ``replacement``'s ``real_threshold`` (the head's veto on novelty).

    The values are chosen on the fitting part, among the file's own, "off" (None) and up to
    :data:`PART_CANDIDATES` values each from the labelled outputs' scores, where the detector's own flag (its other
    thresholds as already fitted or kept) separates the label from ``good`` best (Youden's J). Ties keep the file's
    own values, else take the stricter (fewer flags). With ``guard`` (the default), values other than the file's
    own that the labels give no evidence for (:func:`no_evidence`, on the flag rule's held-out figures) are not
    written: the file's own stay, and the result says why (``kept_base``, with the values not written,
    ``not_written``). ``detectors[det]`` is updated in place; returns what was chosen (or why not)."""
    from ..detectors.flagging import detector_scores
    from ..stats import balanced, bootstrap_intervals
    from .rule import FLAGS, measure, rule_flags, rule_score

    label, needed, part_scores, off_rank = RULE_PARTS[det]
    entry = detectors.get(det)
    if not entry or entry.get("threshold") is None:
        return {"skipped": f"the thresholds file has no {det} threshold to fit the parts with"}
    if any(k not in frame for k in needed):
        return {"skipped": f"the run has no {' / '.join(needed)} ({det} not run, or scored before them)"}
    sel = [(lab == label, i, held) for lab, i, held in parts if lab in (label, "good")]
    idx = np.array([i for _, i, _ in sel], dtype=int)
    y = np.array([v for v, _, _ in sel], dtype=bool)
    test = np.array([t for _, _, t in sel], dtype=bool)
    scores = {k: v[idx] for k, v in detector_scores(frame, det).items()}
    values = part_scores(scores, (len(idx),))
    names = tuple(values)
    base = tuple(entry.get(n) for n in names)
    judged = ~np.isnan(rule_flags(det, detectors, scores)) if len(idx) else np.zeros(0, bool)
    fit = ~test & judged
    counts = {part: (int((y & m).sum()), int((~y & m).sum())) for part, m in (("fit", fit), ("test", test & judged))}
    if min(v for pair in counts.values() for v in pair) < MIN_PER_CLASS:
        return {"skipped": f"too few labels judged by {det} (need {MIN_PER_CLASS} {label} and {MIN_PER_CLASS} good "
                           f"in each part)", "counts": counts}

    def candidates(v: np.ndarray, own: float | None) -> list[float | None]:
        fin = np.unique(v[fit & np.isfinite(v)])
        mids = (fin[:-1] + fin[1:]) / 2 if fin.size > 1 else fin
        if mids.size > PART_CANDIDATES:
            mids = np.quantile(mids, np.linspace(0, 1, PART_CANDIDATES))
        return [*sorted({round(float(m), 4) for m in mids} | ({own} if own is not None else set())), None]

    grid = [()]
    for n in names:
        grid = [(*g, v) for g in grid for v in candidates(values[n], entry.get(n))]
    # (the file's own values are among the candidates: its value, or "off" where it has none)
    j = {vals: balanced(y[fit], rule_flags(det, {**detectors, det: {**entry, **dict(zip(names, vals))}},
                                           scores)[fit]) for vals in grid}
    # J, then the file's own values, then the stricter
    best = max(grid, key=lambda vals: (j[vals], vals == base, *(off_rank if v is None else v for v in vals)))
    out: dict[str, Any] = {"fitted": dict(zip(names, best)), "kept": best == base, "counts": counts,
                           "fit_j": round(j[best], 4), "file": dict(zip(names, base)), "file_fit_j": round(j[base], 4),
                           "rule": f"{FLAGS[det]} with these (its other thresholds as above)"}
    if guard and best != base:  # the rule's own figures, held out, with the fitted values and with the file's
        fitted_entry = {**entry, **dict(zip(names, best))}
        flags = rule_flags(det, {**detectors, det: fitted_entry}, scores)
        score = rule_score(det, fitted_entry, scores)
        own_flags = rule_flags(det, {**detectors, det: {**entry, **dict(zip(names, base))}}, scores)
        m = ~np.isnan(flags)  # (the outputs the rule judges)
        held = test[m]
        out["test"] = {**measure(y[m][held], flags[m][held], score[m][held]),
                       **bootstrap_intervals(y[m][held], flags[m][held], score[m][held], digits=4, seed=seed)}
        own = ", ".join(f"{n} {'off' if v is None else _exact(v)}" for n, v in zip(names, base))
        why = no_evidence(y[m], score[m], flags[m], held, out["test"], np.nan_to_num(own_flags[m], nan=0.0), own)
        if why:  # the file keeps its own values
            out.update({"fitted": dict(zip(names, base)), "kept": True, "kept_base": why,
                        "not_written": dict(zip(names, best))})
            best = base
    entry.update(zip(names, best))
    return out


#: a learned column becomes an evidence rule only when, on the fitting part, its best threshold separates the labels
#: at least this well (Youden's J): a column that does not help on the labels is not written
MIN_EVIDENCE_J = 0.2


def fit_evidence(frame, parts: list[tuple[str, int, bool]], seed: int = 0, skip: str | None = None,
                 guard: bool = True, base: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Learned evidence (:mod:`bench.detectors.flagging`): per verdict (replacement, blur), the learned column of
    ``frame`` (``replacement_features_score``, ``remove``, ``rcs``, ``cfd``) whose threshold, fitted on the fitting
    part, separates that label from ``good`` best (Youden's J, at least :data:`MIN_EVIDENCE_J`); measured on the
    held-out part like the detectors. With ``guard`` (the default), a column whose rule the labels give no evidence
    for (:func:`no_evidence`: against chance, and against ``base``'s rule of the verdict on the same column, the
    base file's ``evidence``) is not written, and its result says why (``kept_base``, with ``not_written``).
    ``parts``: (label, row of ``frame``, held out) per labelled output. ``skip``: why no column may be used (random
    weights): each present column is reported skipped with it. Returns (rules to write, results per verdict and
    column)."""
    from ..detectors.flagging import EVIDENCE_COLUMNS, EVIDENCE_VERDICTS
    from ..stats import balanced, best_threshold, bootstrap_intervals, threshold_flags, written_threshold
    from .rule import measure

    rules: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    for verdict in EVIDENCE_VERDICTS:
        best: tuple[float, dict[str, Any]] | None = None
        for col, direction in EVIDENCE_COLUMNS.items():
            if col not in frame:
                continue
            if skip:
                out[f"{verdict}: {col}"] = {"skipped": skip}
                continue
            rows = [(label == verdict, float(pd_num(frame[col].iloc[i])), held)
                    for label, i, held in parts if label in (verdict, "good")]
            rows = [r for r in rows if not math.isnan(r[1])]
            y = np.array([r[0] for r in rows], bool)
            sc = np.array([r[1] for r in rows], float)
            test = np.array([r[2] for r in rows], bool)
            fit = ~test
            counts = {"fit": (int((y & fit).sum()), int((~y & fit).sum())),
                      "test": (int((y & test).sum()), int((~y & test).sum()))}
            key = f"{verdict}: {col}"
            if min(v for pair in counts.values() for v in pair) < MIN_PER_CLASS:
                out[key] = {"skipped": f"too few labels with a {col} value (need {MIN_PER_CLASS} {verdict} and "
                                       f"{MIN_PER_CLASS} good in each part)", "counts": counts}
                continue
            t = best_threshold(y[fit], sc[fit], direction)
            if math.isnan(t):
                out[key] = {"skipped": "no finite values", "counts": counts}
                continue
            t = written_threshold(t, sc, direction)  # what the file holds flags what is measured here
            flags = threshold_flags(sc, t, direction)
            j = balanced(y[fit], flags[fit])
            res: dict[str, Any] = {"threshold": t, "direction": direction, "fit_j": round(j, 4),
                                   "counts": counts}
            s_dir = sc if direction == "above" else -sc  # larger = more suspect, as AUROC reads it
            res["test"] = {**measure(y[test], flags[test], s_dir[test]),
                           **bootstrap_intervals(y[test], flags[test], s_dir[test], digits=4, seed=seed)}
            out[key] = res
            if j >= MIN_EVIDENCE_J and guard:
                own = next((r for r in (base if isinstance(base, list) else []) if isinstance(r, dict)
                            and r.get("verdict") == verdict and r.get("column") == col
                            and r.get("direction") == direction and isinstance(r.get("threshold"), (int, float))
                            and math.isfinite(r["threshold"])), None)
                why = no_evidence(y, s_dir, flags, test, res["test"],
                                  None if own is None else threshold_flags(sc, float(own["threshold"]), direction),
                                  "" if own is None else f"rule {col} {'>' if direction == 'above' else '<'} "
                                                         f"{_exact(own['threshold'])}")
                if why:
                    res.update({"kept_base": why, "not_written": True})
                    continue
            if j >= MIN_EVIDENCE_J and (best is None or j > best[0]):
                best = (j, {"column": col, "direction": direction, "threshold": res["threshold"],
                            "verdict": verdict})
        if best is not None:
            rules.append(best[1])
            out[f"{verdict}: {best[1]['column']}"]["written"] = True
    return rules, out


def keep_base_evidence(base: Any, fitted: list[dict[str, Any]],
                       results: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The evidence rules to write: those fitted, and the base file's rule of a verdict these labels could not
    judge (every learned column skipped for it: the run lacks them, random weights, too few labels), kept as a
    detector keeps its threshold. A base rule of a verdict they did judge, and found no column for or another, is
    replaced; one whose fitted rules the labels give no evidence for (a column's result ``kept_base``, and none
    written) keeps the base's rule, as a detector keeps its threshold. Returns (rules, ``{"kept": [...],
    "kept_without_evidence": [...], "replaced": [...]}`` of the base's rules; empty when it has none)."""
    base_rules = [r for r in (base if isinstance(base, list) else []) if isinstance(r, dict)]
    judged = {k.split(": ", 1)[0] for k, r in results.items() if isinstance(r, dict) and "fit_j" in r}
    written = {f.get("verdict") for f in fitted}
    unproven = {k.split(": ", 1)[0] for k, r in results.items() if isinstance(r, dict) and "kept_base" in r} - written
    same = lambda r: any(all(r.get(k) == f.get(k) for k in ("column", "direction", "threshold", "verdict"))  # noqa
                         for f in fitted)
    kept = [r for r in base_rules if r.get("verdict") not in judged and not same(r)]
    no_ev = [r for r in base_rules if r.get("verdict") in unproven and not same(r)]
    replaced = [r for r in base_rules if r.get("verdict") in judged and r.get("verdict") not in unproven
                and r not in fitted]
    info = {k: v for k, v in (("kept", kept), ("kept_without_evidence", no_ev), ("replaced", replaced)) if v}
    return fitted + kept + no_ev, info


def pd_num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _exact(v: Any) -> str:
    """A threshold as the file holds it, every digit (``:g`` kept 6 significant digits: a threshold written with
    more, as :func:`bench.stats.written_threshold` writes one between similarities close to 1, was printed as
    another value that flags other outputs than the figures beside it say)."""
    return repr(float(v))


def print_report(doc: dict[str, Any]) -> None:
    """What ``bench calibrate --labels`` prints: the held-out figures of each flag rule the file writes (the ones
    to quote), then each fitted threshold's own (``score > threshold`` alone, the fitting diagnostic)."""
    cal = doc["calibration"]
    other = int(cal.get("labels_of_other_outputs") or 0)
    absent = cal["labels"] - cal["labels_in_run"] - other
    why = "".join([f"; {other} left out (an output file made again since it was labelled)" if other else "",
                   f"; {absent} not in the run" if absent > 0 else ""])
    print(f"{cal['labels_in_run']} of {cal['labels']} labelled outputs found in run {cal['run_id']}{why}; "
          f"{int(round(cal['test_fraction'] * 100))} % held out (seed {cal['seed']})")
    fmt = lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731

    def figures(t: dict[str, Any]) -> str:
        ci = lambda k: "" if not t.get(f"{k}_ci") else f" [{fmt(t[k + '_ci'][0])}, {fmt(t[k + '_ci'][1])}]"  # noqa
        return (f"precision {fmt(t['precision'])}{ci('precision')}  recall {fmt(t['recall'])}{ci('recall')}  "
                f"AUROC {fmt(t['auroc'])}{ci('auroc')}")

    print("flags this thresholds file gives, on the held-out labels:")
    for flag, r in cal.get("rules", {}).items():
        if "test" not in r:
            print(f"  {flag:17s} not measured: {r.get('skipped', '?')}")
            continue
        tp, tn = r["counts"]["test"]
        print(f"  {flag:17s} {figures(r['test'])}  (held out {tp}+{tn}; {r['rule']})")
        if (r["test"].get("auroc") or 1.0) < 0.5:
            print(f"  {'':17s} warning: its score ranks the held-out labels worse than chance (AUROC "
                  f"{fmt(r['test']['auroc'])}): too few labels, labels that disagree with it, or a detector that "
                  f"does not see this failure; check before selecting the file")
    ev = cal.get("evidence") or {}
    if ev:
        print("learned evidence (rules on learned columns; they vote for their verdict when the run has the column):")
        skipped: dict[str, list[str]] = {}  # one reason (random weights) is said once, with every column it skips
        for key, r in ev.items():
            if "skipped" in r:
                skipped.setdefault(r["skipped"], []).append(key)
        for why, keys in skipped.items():
            if len(keys) == 1:
                print(f"  {keys[0]:26s} not fitted: {why}")
            else:
                print(f"  not fitted ({'; '.join(keys)}): {why}")
        for key, r in ev.items():
            if "skipped" in r:
                continue
            side = ">" if r["direction"] == "above" else "<"
            tp, tn = r["counts"]["test"]
            print(f"  {key:26s} {side} {_exact(r['threshold'])}{'  (written)' if r.get('written') else ''}  held out "
                  f"{tp}+{tn}: {figures(r['test'])}")
            if "kept_base" in r:  # fitted well enough on the fitting part; its held-out figures give no evidence
                print(f"  {'':26s} not written: {r['kept_base']}")
    side = {"above": ">", "below": "<"}
    for what, why in (("kept", "kept from the base file: these labels could not judge its verdict"),
                      ("kept_without_evidence", "kept from the base file: these labels give no evidence for the "
                                                "rule fitted in its place"),
                      ("replaced", "of the base file, replaced: these labels judged its verdict")):
        for r in (cal.get("evidence_base") or {}).get(what, []):
            print(f"  {r.get('verdict')}: {r.get('column')} {side.get(r.get('direction'), '?')} {r.get('threshold')} "
                  f" {why}")
    print("each fitted threshold alone (score > threshold; fitting detail):")
    for det, r in cal["results"].items():
        if "fitted" in r:  # parts fitted with the rule they belong to (fit_rule_parts)
            (fp, fn), (tp, tn) = r["counts"]["fit"], r["counts"]["test"]
            got = ", ".join(f"{k} {v}" for k, v in r["fitted"].items())
            was = "kept" if r["kept"] else "was " + ", ".join(f"{v}" for v in r["file"].values())
            if "kept_base" in r:  # fitted, and not written: the rule's held-out figures give no evidence for it
                fitted = ", ".join(f"{k} {v}" for k, v in r["not_written"].items())
                print(f"  {det}: kept {got} (None: off); the fitted {fitted} is not written: {r['kept_base']} "
                      f"(fitted on {fp}+{fn}, held out {tp}+{tn}, {r['rule'].split(' ')[0]} "
                      f"with them: {figures(r['test'])})")
                continue
            print(f"  {det}: {got} ({was}; None: off)  Youden's J on the fitting part {r['fit_j']} (with the "
                  f"file's {r['file_fit_j']}); fitted on {fp}+{fn}, held out {tp}+{tn}: see its flag above")
            continue
        if "skipped" in r:
            print(f"  {det:26s} kept its threshold: {r['skipped']}")
            continue
        if "kept_base" in r:  # fitted, and not written: its own figures give no evidence for it
            (fp, fn), (tp, tn) = r["counts"]["fit"], r["counts"]["test"]
            own = "its threshold" if r["threshold"] is None else f"its threshold {_exact(r['threshold'])}"
            print(f"  {det:26s} kept {own}; the fitted > {_exact(r['not_written'])} is not written: {r['kept_base']} "
                  f"(fitted on {fp}+{fn}, held out {tp}+{tn}: {figures(r['test'])})")
            continue
        (fp, fn), (tp, tn) = r["counts"]["fit"], r["counts"]["test"]
        print(f"  {det:26s} > {_exact(r['threshold'])}  fitted on {fp}+{fn}, held out {tp}+{tn}: {figures(r['test'])}")
