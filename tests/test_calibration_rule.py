"""`bench calibrate --labels` reports the rule it writes (issue 27): its held-out precision, recall and AUROC are those
of the flags the written thresholds file produces (blur: main OR mosaic; replacement: reference score where there is
ground truth), checked against flags the detectors compute themselves from that file."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.calibration.labels import _in_test
from bench.cli import main
from bench.registry import DETECTORS
from bench.report.aggregate import load_run
from tests.test_report_data import make_run


def _num(sid: str) -> int:
    return int(sid[1:])


def _values(backend, dataset, sid):
    k = _num(sid)
    blur = (k % 10) / 10  # 0.0 .. 0.9: the labeller follows it (>= 0.5 is blurry)
    # a mosaic score above the base file's mosaic_threshold (0.19) on every fourth sample, blurry or not: the
    # written blur_flag fires there too, so its precision is not that of blur_score > threshold
    mosaic = 0.6 if k % 4 == 0 else 0.05
    # replacement: the labeller follows the reference score where there is ground truth (dataset 'samples'); the
    # reference-free score is unrelated noise there, and follows the label on 'synthetic' (no ground truth)
    ref = (k % 7) / 7 if dataset == "samples" else float("nan")
    free = float(np.random.default_rng([k, len(backend)]).uniform()) if dataset == "samples" else (k % 7) / 7
    return {"blur_score": blur, "blur_mosaic_score": mosaic, "blur_ref_score": float("nan"),
            "replacement_score": free, "replacement_ref_score": ref}


def _label(dataset: str, sid: str, det: str) -> str:
    k = _num(sid)
    if det == "blur":
        return "blur" if (k % 10) >= 5 else "good"
    return "replacement" if (k % 7) >= 4 else "good"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rule")
    run = make_run(tmp / "run", n=40, values=_values, backends=("opencv-telea", "mean-fill"))
    frame = load_run(run).frame()
    rows = ["run_id,cell,sample_id,label"]
    truth = {}
    for c, s, d in zip(frame["cell_key"], frame["sample_id"], frame["dataset"]):
        det = "blur" if _num(s) % 2 == 0 else "replacement"  # each output gets one label
        truth[(c, s)] = _label(d, s, det)
        rows.append(f"run,{c},{s},{truth[(c, s)]}")
    labels = tmp / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    out = tmp / "thresholds.json"
    assert main(["calibrate", "--labels", str(labels), str(run), "--out", str(out)]) == 0
    return frame, truth, out, json.loads(out.read_text())


def _held_out(frame, truth, det, seed=0, fraction=0.3):
    keep = [i for i, (c, s) in enumerate(zip(frame["cell_key"], frame["sample_id"]))
            if truth[(c, s)] in (det, "good") and _in_test(seed, c, s, fraction)]
    y = np.array([truth[(frame["cell_key"].iloc[i], frame["sample_id"].iloc[i])] == det for i in keep])
    return keep, y


def _own_flags(det: str, path, frame, keep) -> dict[str, np.ndarray]:
    d = DETECTORS.create({"type": det, "thresholds": str(path)}, "detectors[0]")
    cols = {"blur": ("blur_score", "blur_mosaic_score", "blur_ref_score"),
            "replacement": ("replacement_score", "replacement_ref_score")}[det]
    return d, d.flags({k: frame[k].to_numpy(dtype=np.float64)[keep] if k in frame else np.full(len(keep), np.nan)
                       for k in cols})


def _pr(y, f):
    f = f > 0.5
    return (f & y).sum() / f.sum(), (f & y).sum() / y.sum()


@pytest.mark.parametrize("det,flag", [("blur", "blur_flag"), ("replacement", "replacement_flag")])
def test_held_out_figures_are_those_of_the_written_flag_rule(fitted, det, flag):
    frame, truth, path, doc = fitted
    rule = doc["calibration"]["rules"][flag]
    keep, y = _held_out(frame, truth, det)
    d, flags = _own_flags(det, path, frame, keep)
    f = flags[flag]
    judged = ~np.isnan(f)
    p, r = _pr(y[judged], f[judged])
    assert rule["test"]["precision"] == pytest.approx(p, abs=1e-4)
    assert rule["test"]["recall"] == pytest.approx(r, abs=1e-4)
    assert tuple(rule["counts"]["test"]) == (int(y[judged].sum()), int((~y[judged]).sum()))
    # the per-threshold figure (score > threshold alone) is a different number here: that was the bug
    alone = doc["calibration"]["results"][det]["test"]
    assert (alone["precision"], alone["recall"]) != (rule["test"]["precision"], rule["test"]["recall"])


def test_blur_rule_auroc_is_that_of_the_main_or_mosaic_rule(fitted):
    frame, truth, path, doc = fitted
    keep, y = _held_out(frame, truth, "blur")
    t, tm = doc["detectors"]["blur"]["threshold"], doc["detectors"]["blur"]["mosaic_threshold"]
    s = frame["blur_score"].to_numpy()[keep]
    m = frame["blur_mosaic_score"].to_numpy()[keep]
    # the rule as one score: the larger of the two margins over their thresholds; it is > 0 exactly where the
    # detector flags
    score = np.maximum((s - t) / abs(t), (m - tm) / abs(tm))
    _, flags = _own_flags("blur", path, frame, keep)
    assert np.array_equal(score > 0, flags["blur_flag"] > 0.5)
    got = doc["calibration"]["rules"]["blur_flag"]["test"]["auroc"]
    assert got == pytest.approx(roc_auc_score(y, score), abs=1e-4)
    assert got != pytest.approx(roc_auc_score(y, s), abs=1e-3)  # not blur_score's AUROC alone


def test_replacement_rule_auroc_uses_the_reference_score_where_there_is_ground_truth(fitted):
    frame, truth, path, doc = fitted
    keep, y = _held_out(frame, truth, "replacement")
    e = doc["detectors"]["replacement"]
    free = frame["replacement_score"].to_numpy()[keep]
    ref = frame["replacement_ref_score"].to_numpy()[keep]
    score = np.where(np.isnan(ref), (free - e["threshold"]) / abs(e["threshold"]),
                     (ref - e["ref_threshold"]) / abs(e["ref_threshold"]))
    _, flags = _own_flags("replacement", path, frame, keep)
    assert np.array_equal(score > 0, flags["replacement_flag"] > 0.5)
    assert doc["calibration"]["rules"]["replacement_flag"]["test"]["auroc"] == pytest.approx(
        roc_auc_score(y, score), abs=1e-4)


def test_the_printed_report_leads_with_the_rule(fitted, tmp_path, capsys):
    frame, truth, path, doc = fitted
    rule = doc["calibration"]["rules"]["blur_flag"]
    from bench.calibration.labels import print_report

    print_report(doc)
    out = capsys.readouterr().out
    head, _, detail = out.partition("each fitted threshold alone")
    line = next(ln for ln in head.splitlines() if ln.strip().startswith("blur_flag"))
    assert f"precision {rule['test']['precision']:.3f}" in line and "or blur_mosaic_score >" in line
    assert "blur_flag" not in detail


@pytest.mark.parametrize("det", ["blur", "replacement", "incomplete"])
def test_the_rule_score_is_positive_exactly_where_the_detector_flags_with_every_part_set(det):
    """Every part a thresholds file can set (blur: main, mosaic, grain with and without truth, fade, head; replacement:
    reference where there is truth, else novelty and (head or plain novelty); incomplete: the share and, where
    finite, the detail share): the rule score's sign is the flag."""
    from bench.calibration.rule import rule_score

    rng = np.random.default_rng(7)
    n = 4000
    nan_some = lambda a, p: np.where(rng.random(n) < p, np.nan, a)  # noqa: E731
    if det == "blur":
        entry = {"threshold": 0.47, "mosaic_threshold": 0.19, "ref_threshold": 0.09, "grain_threshold": 0.55,
                 "fade_threshold": 0.84, "real_threshold": 2.0}
        scores = {"blur_score": rng.normal(0.3, 0.4, n), "blur_mosaic_score": rng.uniform(0, 0.4, n),
                  "blur_real_score": nan_some(rng.normal(0, 2, n), 0.3),
                  "blur_grain_score": rng.normal(0.3, 0.4, n),
                  "blur_grain_ref_score": nan_some(rng.normal(0.3, 0.4, n), 0.5),
                  "blur_fade_score": nan_some(rng.normal(0.2, 0.5, n), 0.2)}
        truth = ~np.isnan(scores["blur_grain_ref_score"])  # the samples with ground truth have every *_ref_score
        scores["blur_ref_score"] = np.where(truth, rng.normal(0.1, 0.1, n), np.nan)
        scores["blur_fade_ref_score"] = np.where(truth, scores["blur_fade_score"] - rng.normal(0.2, 0.5, n), np.nan)
    elif det == "incomplete":
        entry = {"threshold": 0.15}
        scores = {"incomplete_score": rng.uniform(0, 1, n),
                  "incomplete_detail_score": nan_some(rng.uniform(0, 1.2, n), 0.3)}
    else:
        entry = {"threshold": 0.14, "ref_threshold": 0.03, "real_threshold": 1.3, "plain_threshold": 0.5}
        scores = {"replacement_score": rng.uniform(0, 1, n), "replacement_real_score": rng.normal(1, 3, n),
                  "replacement_ref_score": nan_some(rng.uniform(0, 0.06, n), 0.5)}
    det_obj = DETECTORS.get(det)(thresholds="none", **entry)  # the entry alone, not the shipped file
    flags = det_obj.flags({k: np.asarray(v, float) for k, v in scores.items()})[f"{det}_flag"]
    s = rule_score(det, entry, scores)
    judged = ~np.isnan(flags)
    assert judged.sum() > n // 2
    assert np.array_equal(s[judged] > 0, flags[judged] > 0.5)
    # each optional part matters: without it, some flags change
    for part in [k for k in entry if k not in ("threshold", "mosaic_threshold", "ref_threshold")]:
        fewer = DETECTORS.get(det)(thresholds="none", **{k: v for k, v in entry.items() if k != part}).flags(
            {k: np.asarray(v, float) for k, v in scores.items()})[f"{det}_flag"]
        assert not np.array_equal(np.nan_to_num(fewer), np.nan_to_num(flags)), part
    if det == "blur":  # blur v7's vetoes with truth matter, and only take flags away
        for col in ("blur_ref_score", "blur_fade_ref_score"):
            without = det_obj.flags({k: np.asarray(v, float) for k, v in scores.items() if k != col})["blur_flag"]
            assert (np.nan_to_num(without) > np.nan_to_num(flags)).any(), col
            assert not (np.nan_to_num(without) < np.nan_to_num(flags)).any(), col
            assert np.array_equal(rule_score(det, entry, {k: v for k, v in scores.items() if k != col})[judged] > 0,
                                  without[judged] > 0.5), col
    if det == "incomplete":  # the detail share matters: the main share alone flags more
        main = (np.asarray(scores["incomplete_score"]) > entry["threshold"]).astype(float)
        assert (main > flags).any() and not (main < flags).any()


@pytest.mark.parametrize("det", ["blur", "replacement", "incomplete", "noop"])
def test_the_rule_score_is_nan_exactly_where_the_flag_is_and_has_its_sign_whatever_is_missing(det):
    """Every score NaN now and then (main scores included: a hole not judged; a head not asked; no truth), every
    optional threshold left out in turn, a column absent: the rule score is NaN exactly where the detector's own
    flag is and positive exactly where it is 1. (Before this test: a replacement flagged by its novelty, whose head
    score was NaN, got a negative rule score where a plain threshold was set; a blur or incomplete sample the flag
    does not judge got a finite one.)"""
    from bench.calibration.rule import needed_scores, rule_score

    full = {"blur": {"threshold": 0.47, "mosaic_threshold": 0.19, "ref_threshold": 0.09, "grain_threshold": 0.55,
                        "fade_threshold": 0.84, "real_threshold": 2.0},
               "replacement": {"threshold": 0.14, "ref_threshold": 0.03, "real_threshold": 1.3,
                               "plain_threshold": 0.5},
               "incomplete": {"threshold": 0.15}, "noop": {"threshold": 0.5}}[det]
    rng = np.random.default_rng(11)
    n = 3000
    checked = 0
    for drop in [None, *full]:
        entry = {k: v for k, v in full.items() if k != drop}
        for absent in [None, *needed_scores(det)[1:]]:
            scores = {}
            for k in needed_scores(det):
                v = rng.normal(entry.get("threshold", 0.5), 1.0, n) * rng.choice([0.05, 0.5, 3.0], n)
                scores[k] = np.where(rng.random(n) < 0.3, np.nan, v)
            if det == "replacement":  # the head is asked where the novelty is above 0
                scores["replacement_score"] = np.abs(scores["replacement_score"])
            if absent is not None:
                scores.pop(absent)
            flags = DETECTORS.get(det)(thresholds="none", **entry).flags(
                {k: np.asarray(v, float) for k, v in scores.items()})[f"{det}_flag"]
            s = rule_score(det, entry, scores)
            assert np.array_equal(np.isnan(s), np.isnan(flags)), (drop, absent)
            judged = ~np.isnan(flags)
            assert np.array_equal(s[judged] > 0, flags[judged] > 0.5), (drop, absent)
            checked += int(judged.sum())
    assert checked > 1000


def test_calibrate_names_the_detectors_whose_thresholds_it_changed(tmp_path, capsys):
    run = make_run(tmp_path / "run", n=40, values=_values, backends=("opencv-telea", "mean-fill"))
    frame = load_run(run).frame()
    labels = tmp_path / "labels.csv"  # blur labels only: replacement has nothing to fit and keeps the file's
    # (blurry from 0.3 on: the base file's 0.4709 misses 0.3 and 0.4, so the fitted threshold is better and moves)
    labels.write_text("run_id,cell,sample_id,label\n" + "".join(
        f"run,{c},{s},{'blur' if _num(s) % 10 >= 3 else 'good'}\n" for c, s in zip(frame["cell_key"],
                                                                                  frame["sample_id"])))
    out = tmp_path / "t.json"
    assert main(["calibrate", "--labels", str(labels), str(run), "--out", str(out)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    from bench.detectors.thresholds import load_thresholds

    doc, shipped = json.loads(out.read_text())["detectors"], load_thresholds()["detectors"]
    assert doc["blur"] != shipped["blur"] and doc["replacement"] == shipped["replacement"]
    assert f"select it for the detectors it changed with detectors: [{{type: blur, thresholds: {out}}}]" in said
    assert "type: replacement" not in said


def test_a_reference_score_no_output_has_is_said_to_need_ground_truth():
    import pandas as pd

    from bench.calibration.labels import fit_thresholds
    from bench.detectors.thresholds import load_thresholds

    frame = pd.DataFrame({"replacement_score": [0.1, 0.5, 0.2, 0.6], "blur_score": [0.0, 0.1, 0.2, 0.3]})
    parts = [("good", 0, False), ("replacement", 1, False), ("good", 2, True), ("replacement", 3, True)]
    res = fit_thresholds({k: dict(v) for k, v in load_thresholds()["detectors"].items()}, frame, parts,
                         rule_parts=False)
    assert res["replacement (ref_threshold)"]["skipped"] == (
        "no output of the run has a replacement_ref_score (it needs ground truth there)")
    assert res["incomplete"]["skipped"] == "the run has no incomplete_score (the incomplete detector did not run)"


def test_calibrate_says_so_when_the_labels_change_no_threshold(tmp_path, capsys):
    run = make_run(tmp_path / "run", n=12, values=_values, backends=("opencv-telea",))
    frame = load_run(run).frame()
    labels = tmp_path / "labels.csv"  # only good outputs: no failure to fit anything on
    labels.write_text("run_id,cell,sample_id,label\n" + "".join(
        f"run,{c},{s},good\n" for c, s in zip(frame["cell_key"], frame["sample_id"])))
    assert main(["calibrate", "--labels", str(labels), str(run), "--out", str(tmp_path / "t.json")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "it changes no threshold of its base file" in said and "select it" not in said


def test_the_printed_threshold_is_the_recorded_one_and_reproduces_the_figures(capsys):
    """Scores that differ past the sixth digit (similarities close to 1): the recorded threshold (written with the
    digits it needs) reproduces the reported precision and recall on the same rows, and the report prints that
    very value (it printed `:g`, six significant digits: 0.99999578 as 0.999996, which flags other outputs)."""
    import re

    import pandas as pd

    from bench.calibration.labels import fit_thresholds, print_report
    from bench.stats import pr

    rng = np.random.default_rng(1)
    n = 60
    y = rng.random(n) < 0.5
    base = 0.999990 + rng.random(n) * 1e-5
    s = np.where(y, base + 2e-6 * rng.random(n), base)
    test = rng.random(n) < 0.3
    parts = [("blur" if y[i] else "good", i, bool(test[i])) for i in range(n)]
    det = {"blur": {"direction": "above", "threshold": 0.5}}
    res = fit_thresholds(det, pd.DataFrame({"blur_score": s}), parts, rule_parts=False, guard=False)
    t = det["blur"]["threshold"]
    assert res["blur"]["threshold"] == t
    for part, sel in (("fit", ~test), ("test", test)):
        p, r, _ = pr(y[sel], (s[sel] > t).astype(float))
        assert (round(p, 4), round(r, 4)) == (res["blur"][part]["precision"], res["blur"][part]["recall"])
    doc = {"calibration": {"labels": n, "labels_in_run": n, "test_fraction": 0.3, "seed": 0, "run_id": "r",
                           "rules": {}, "results": {"blur": res["blur"]}}}
    print_report(doc)
    shown = float(re.search(r"blur\s+> (\S+)\s+fitted on", capsys.readouterr().out).group(1))
    assert shown == t and np.array_equal(s > shown, s > t), (shown, t)
