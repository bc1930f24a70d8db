"""Learned evidence in the failure verdict (issue 25 item 4): rules fitted from labels on learned columns
(``rcs``, ``remove``, ``cfd``, ``replacement_features_score``) vote for their verdict when the run has the column;
without it the weight-free detectors decide, and the report says which judged."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from bench.detectors import verdict
from bench.detectors.flagging import apply_evidence
from bench.store.run import load_run
from tests.test_report_data import half_labelled, make_run


def test_a_rule_flags_on_its_side_of_the_threshold_and_any_rule_of_a_verdict_flags():
    f = pd.DataFrame({"rcs": [0.1, 0.6, np.nan, 0.3, 0.9], "cfd": [0.0, 0.0, 0.0, 0.0, 0.7],
                      "error": [None] * 5})
    rules = [{"column": "rcs", "direction": "below", "threshold": 0.42, "verdict": "replacement"},
             {"column": "cfd", "direction": "above", "threshold": 0.5, "verdict": "replacement"},
             {"column": "remove", "direction": "below", "threshold": 0.5, "verdict": "blur"}]
    rep = apply_evidence(f, rules)
    got = f["evidence_replacement_flag"].to_numpy()
    np.testing.assert_array_equal(got[[0, 1, 3, 4]], [1.0, 0.0, 1.0, 1.0])  # rcs < 0.42, or cfd > 0.5
    assert got[2] == 0.0  # rcs NaN (not judged) and cfd 0: not flagged
    assert rep["evidence:rcs"]["applied"] and rep["evidence:cfd"]["applied"]
    assert not rep["evidence:remove"]["applied"] and "no remove values" in rep["evidence:remove"]["why"]
    assert "evidence_blur_flag" not in f  # a rule whose column is absent sets nothing
    assert verdict.verdicts(f).tolist() == ["replacement", "ok", "ok", "replacement", "replacement"]


def _values(backend, dataset, sid):
    k = int(sid[1:])
    return {"rcs": (0.15 + 0.01 * (k % 7)) if k % 10 >= 5 else (0.7 + 0.01 * (k % 5))}


def _labels(run, path):
    return half_labelled(load_run(run).frame(), "replacement", path)


def _select(run, tfile):
    """What a suite that selects the fitted file records: its detectors read that thresholds file."""
    m = json.loads((run / "manifest.json").read_text())
    m["suite"] = {"detectors": [{"type": "noop", "name": "noop", "thresholds": str(tfile)}]}
    (run / "manifest.json").write_text(json.dumps(m))


def test_calibrate_fits_a_rule_on_a_learned_column_and_reading_the_run_applies_it(tmp_path):
    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import run_notes

    run = make_run(tmp_path / "run", n=20, values=_values)
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    (rule,) = doc["evidence"]
    assert rule["column"] == "rcs" and rule["direction"] == "below" and rule["verdict"] == "replacement"
    assert 0.21 <= rule["threshold"] <= 0.7  # between the classes' values
    res = doc["calibration"]["evidence"]["replacement: rcs"]
    assert res["written"] and res["test"]["precision"] == 1.0 and res["test"]["recall"] == 1.0
    tfile = tmp_path / "mine.json"
    written = C.write(doc, tfile, "test")
    assert written["evidence"] == doc["evidence"]
    _select(run, tfile)
    rd = load_run(run)
    f = rd.frame()
    repl = f["sample_id"].map(lambda s: int(s[1:]) % 10 >= 5)
    ev = f["evidence_replacement_flag"]
    assert (ev[repl] == 1).all() and (ev[~repl] == 0).all()
    assert (f.loc[repl, "failure"] == "replacement").all()
    assert rd.thresholds["evidence:rcs"]["applied"] and rd.thresholds["evidence:rcs"]["version"] == written["version"]
    note = run_notes(summarize(run))
    assert "learned evidence fitted from labels: rcs < " in note and "→ replacement" in note


def test_without_the_learned_column_the_weight_free_detectors_decide_and_the_report_says_so(tmp_path):
    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import run_notes

    fitted = make_run(tmp_path / "fitted", n=20, values=_values)
    tfile = tmp_path / "mine.json"
    C.write(fit_from_labels(_labels(fitted, tmp_path / "labels.csv"), fitted), tfile, "test")
    plain = make_run(tmp_path / "plain", n=20)  # the same suite on a machine without the network's weights
    before = load_run(plain).frame()["failure"].tolist()
    _select(plain, tfile)
    rd = load_run(plain)
    f = rd.frame()
    assert "evidence_replacement_flag" not in f and f["failure"].tolist() == before
    assert not rd.thresholds["evidence:rcs"]["applied"]
    note = run_notes(summarize(plain))
    assert "not applied" in note and "rcs < " in note


def test_a_column_that_does_not_separate_the_labels_is_not_written(tmp_path):
    from bench.calibration.labels import MIN_EVIDENCE_J, fit_from_labels

    # the same rcs for every output whatever its label: no threshold separates them (Youden's J is 0)
    run = make_run(tmp_path / "run", n=20, values=lambda b, d, sid: {"rcs": 0.5})
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    res = doc["calibration"]["evidence"]["replacement: rcs"]
    assert res["fit_j"] < MIN_EVIDENCE_J and not res.get("written") and "evidence" not in doc


def test_the_markdown_leaderboard_names_the_thresholds_its_flags_were_set_with(tmp_path):
    from bench.detectors import thresholds as th
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import thresholds_note

    run = make_run(tmp_path / "run", n=6, values=lambda b, d, sid: {"blur_mosaic_score": 0.0, "blur_ref_score": 0.0,
                                                                     "noop_score": 0.1})
    m = json.loads((run / "manifest.json").read_text())
    m["suite"] = {"detectors": [{"type": "blur", "name": "blur"}, {"type": "noop", "name": "noop", "threshold": 0.3}]}
    (run / "manifest.json").write_text(json.dumps(m))
    note = thresholds_note(summarize(run))
    shipped = th.load_thresholds()
    assert f"bench/data/thresholds.json v{shipped['version']} ({shipped['sha256'][:12]}): blur" in note
    assert "thresholds given in the suite: noop" in note


def test_the_note_says_when_a_flag_rule_failed_and_a_run_without_truth_gets_blur_flags(tmp_path):
    """A detector whose flag rule cannot be built (its thresholds file is gone) is named in the note, not left out
    in silence; and blur's rule reads a run that stored no reference or mosaic score (a removal run without truth:
    the store keeps no all-NaN column), which it once could not."""
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import leaderboard_markdown, run_notes, thresholds_note

    run = make_run(tmp_path / "run", n=6, values=lambda b, d, sid: {"noop_score": 0.1})
    m = json.loads((run / "manifest.json").read_text())
    m["suite"] = {"detectors": [{"type": "blur", "name": "blur"},
                                {"type": "noop", "name": "noop", "thresholds": str(tmp_path / "gone.json")}]}
    (run / "manifest.json").write_text(json.dumps(m))
    df = summarize(run)
    note = run_notes(df)  # (the terminal, HTML and Markdown reports all print these)
    assert "Flags NOT set from the stored scores for: noop (" in note and "gone.json" in note
    assert leaderboard_markdown(df).count("Flags NOT set") == 1
    assert "blur" in thresholds_note(df) and "error" not in df.attrs["thresholds"]["blur"]


def test_a_yaml_suite_selecting_a_file_with_evidence_gets_it_in_its_verdicts(tmp_path):
    """Through the suite file, as a user runs it: `rcs` on random tiny DINOv2 weights, the detectors reading a
    thresholds file whose evidence rule is on `rcs`; the flags follow the stored `rcs` values, and the same suite
    without `rcs` (its weights missing) is judged by the weight-free detectors alone."""
    import yaml

    from bench.cli import main
    from bench.detectors import thresholds as th
    from bench.metrics.removal_nets import TINY

    def run(name, metrics):
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump({
            "name": name, "output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 64, "seed": 1,
            "weights": "random", "backends": ["opencv-telea", "mean-fill"],
            "datasets": [{"type": "synthetic", "n": 3}], "masks": ["given"], "metrics": metrics,
            "detectors": [{"type": "noop", "thresholds": str(tfile)}, {"type": "black", "thresholds": str(tfile)}]}))
        assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
        return load_run(tmp_path / "res" / name)

    tfile = tmp_path / "mine.json"
    doc = json.loads(th.default_path().read_text())
    doc["evidence"] = [{"column": "rcs", "direction": "below", "threshold": 0.0, "verdict": "replacement",
                        "weights": "random"}]  # (a rule for random networks: applied on this random-weight run)
    tfile.write_text(json.dumps(doc))
    th.clear_cache()
    first = run("with-rcs", ["psnr", {"type": "rcs", "config": {"dinov2": TINY["dinov2"]}}]).frame()
    t = float(np.median(first["rcs"]))  # a threshold between the stored values: some flagged, some not
    doc["evidence"][0]["threshold"] = t
    tfile.write_text(json.dumps(doc))
    th.clear_cache()
    rd = load_run(tmp_path / "res" / "with-rcs")  # read again: the new rule, nothing scored again
    f = rd.frame()
    want = (f["rcs"] < t).astype(float)
    assert f["evidence_replacement_flag"].tolist() == want.tolist() and 0 < want.sum() < len(f)
    assert (f.loc[want == 1, "failure"] == "replacement").all()
    assert rd.thresholds["evidence:rcs"]["applied"] and rd.thresholds["evidence:rcs"]["file"] == str(tfile)
    plain = run("without-rcs", ["psnr"])
    g = plain.frame()
    assert "evidence_replacement_flag" not in g and not plain.thresholds["evidence:rcs"]["applied"]
    assert "replacement" not in set(g["failure"])


def test_no_evidence_is_fitted_on_random_weight_networks(tmp_path):
    """A run whose learned metrics used random weights (`weights: random`: the manifest says not comparable) gives
    no evidence rule, however well its columns happen to split the labels: each is reported skipped, saying why."""
    from bench.calibration.labels import fit_from_labels

    run = make_run(tmp_path / "run", n=20, values=_values)
    m = json.loads((run / "manifest.json").read_text())
    m["comparable"] = False
    m["noncomparable_reasons"] = ["metric rcs: rcs on random-weight facebook/dinov2-giant (weights: random)"]
    (run / "manifest.json").write_text(json.dumps(m))
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    assert "evidence" not in doc
    res = doc["calibration"]["evidence"]["replacement: rcs"]
    assert "random weights" in res["skipped"] and "random-weight facebook/dinov2-giant" in res["skipped"]


def test_a_run_with_random_weights_gets_no_learned_evidence(tmp_path):
    """A rule fitted on real networks' values, read on a `weights: random` run whose column is noise, decided
    verdicts (mean-fill 0 -> 0.375 replacements in the audit); it is not applied there and the report says why."""
    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels

    run = make_run(tmp_path / "run", n=20, values=_values)
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    tfile = tmp_path / "mine.json"
    C.write(doc, tfile, "test")
    _select(run, tfile)
    assert (load_run(run).frame()["evidence_replacement_flag"] == 1).any()
    m = json.loads((run / "manifest.json").read_text())
    m["weights"] = "random"
    (run / "manifest.json").write_text(json.dumps(m))
    rd = load_run(run)
    f = rd.frame()
    assert "evidence_replacement_flag" not in f and not (f["failure"] == "replacement").any()
    assert not rd.thresholds["evidence:rcs"]["applied"] and "random weights" in rd.thresholds["evidence:rcs"]["why"]


def test_the_report_gives_each_rule_not_applied_its_own_reason(tmp_path):
    """The run has the rule's column, but random weights: the note (terminal, Markdown, HTML) says that, not that the
    column is missing (it said "the run has no values of their column" for every rule not applied)."""
    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import leaderboard_markdown, run_notes

    run = make_run(tmp_path / "run", n=20, values=_values)
    tfile = tmp_path / "mine.json"
    C.write(fit_from_labels(_labels(run, tmp_path / "labels.csv"), run), tfile, "test")
    _select(run, tfile)
    m = json.loads((run / "manifest.json").read_text())
    m["weights"] = "random"
    (run / "manifest.json").write_text(json.dumps(m))
    df = summarize(run)
    note = run_notes(df)
    assert "rcs < " in note and "random weights" in note and "no values" not in note
    assert "random weights" in leaderboard_markdown(df)


def test_a_run_not_comparable_for_another_reason_than_random_weights_gets_its_evidence_fitted(tmp_path):
    """Shards merged from two devices are not comparable (timings), but their networks are the real ones: the
    evidence is fitted (it was skipped as "random weights" whenever the manifest said not comparable)."""
    from bench.calibration.labels import fit_from_labels

    run = make_run(tmp_path / "run", n=20, values=_values)
    m = json.loads((run / "manifest.json").read_text())
    m.update(comparable=False, weights="pretrained",
             noncomparable_reasons=["merged runs were measured on different devices (timings not comparable)"])
    (run / "manifest.json").write_text(json.dumps(m))
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    assert [r["column"] for r in doc["evidence"]] == ["rcs"]
    assert "skipped" not in doc["calibration"]["evidence"]["replacement: rcs"]


def test_a_rule_that_is_not_valid_is_reported_not_applied_naming_the_key():
    """A hand-edited or foreign rule (a column that is not learned, the side of the threshold that flags the good
    outputs, a threshold missing or not a number) sets no flag and says why; it was applied (or crashed every read
    of the run), and two rules on one column were reported as one."""
    f = pd.DataFrame({"rcs": [0.1, 0.9], "psnr_in": [10.0, 30.0], "error": [None, None]})
    rules = [{"column": "psnr_in", "direction": "below", "threshold": 20, "verdict": "blur"},
             {"column": "rcs", "direction": "above", "threshold": 0.5, "verdict": "replacement"},
             {"column": "rcs", "direction": "below", "verdict": "replacement"},
             {"column": "rcs", "direction": "below", "threshold": None, "verdict": "blur"},
             {"column": "rcs", "direction": "below", "threshold": float("nan"), "verdict": "blur"}]
    rep = apply_evidence(f, rules)
    assert "evidence_replacement_flag" not in f and "evidence_blur_flag" not in f
    assert len(rep) == len(rules) and not any(r["applied"] for r in rep.values())
    whys = [r["why"] for r in rep.values()]
    assert "column 'psnr_in'" in whys[0] and "direction 'above'" in whys[1]
    assert all("threshold" in w and "not a finite number" in w for w in whys[2:])
    assert verdict.verdicts(f).tolist() == ["ok", "ok"]


def test_one_column_with_a_rule_per_verdict_reports_both():
    f = pd.DataFrame({"rcs": [0.1, 0.5, 0.9], "error": [None] * 3})
    rep = apply_evidence(f, [{"column": "rcs", "direction": "below", "threshold": 0.3, "verdict": "replacement"},
                             {"column": "rcs", "direction": "below", "threshold": 0.7, "verdict": "blur"}])
    assert sorted(r["verdict"] for r in rep.values()) == ["blur", "replacement"]
    assert all(r["applied"] for r in rep.values())
    assert verdict.verdicts(f).tolist() == ["replacement", "blur", "ok"]


def test_the_written_threshold_flags_what_was_fitted_and_measured(tmp_path):
    """rcs close to 1 (cosine similarities of real features): the classes differ in the fifth decimal. The written
    threshold was the fitted one rounded to 4 decimals, which moved it past every replacement: the file flagged none
    of them while the report quoted precision and recall 1. The file now flags what its figures were measured with."""
    from bench.calibration.labels import fit_from_labels

    def close(b, d, sid):
        k = int(sid[1:])
        return {"rcs": (0.98230 + 0.000001 * (k % 7)) if k % 10 >= 5 else (0.98236 + 0.000001 * (k % 5))}

    run = make_run(tmp_path / "run", n=20, values=close)
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    (rule,) = doc["evidence"]
    f = load_run(run).frame()
    want = f["sample_id"].map(lambda s: int(s[1:]) % 10 >= 5).to_numpy()
    assert ((f["rcs"].to_numpy() < rule["threshold"]) == want).all()  # what the file flags: the labels
    assert doc["calibration"]["evidence"]["replacement: rcs"]["test"]["recall"] == 1.0


def test_a_detector_threshold_fitted_from_labels_flags_what_its_figures_say(tmp_path):
    """The same for a detector's own threshold: replacement scores that differ in the fifth decimal."""
    from bench.calibration.labels import fit_from_labels

    def close(b, d, sid):
        k = int(sid[1:])
        return {"replacement_score": (0.01230 + 0.000001 * (k % 7)) if k % 10 < 5 else (0.01236 + 0.000001 * (k % 5))}

    run = make_run(tmp_path / "run", n=20, values=close)
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    t = doc["detectors"]["replacement"]["threshold"]
    f = load_run(run).frame()
    want = f["sample_id"].map(lambda s: int(s[1:]) % 10 >= 5).to_numpy()
    assert ((f["replacement_score"].to_numpy() > t) == want).all()
    assert doc["calibration"]["results"]["replacement"]["test"]["recall"] == 1.0


def test_the_manifest_records_the_evidence_rules_and_the_labels_they_were_fitted_on(tmp_path):
    """A suite whose detectors read a file `bench calibrate --labels` wrote: its manifest names each rule (column,
    direction, threshold, verdict), the file's version and hash, the labels' SHA-256 and how many were used."""
    import yaml

    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels
    from bench.cli import main
    from bench.detectors import thresholds as th

    fitted = make_run(tmp_path / "fitted", n=20, values=_values)
    labels = _labels(fitted, tmp_path / "labels.csv")
    tfile = tmp_path / "mine.json"
    written = C.write(fit_from_labels(labels, fitted), tfile, "test")
    th.clear_cache()
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({
        "name": "s", "output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 32, "seed": 1,
        "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 2}], "masks": ["given"],
        "metrics": ["psnr"], "detectors": [{"type": "noop", "thresholds": str(tfile)}]}))
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    (ev,) = json.loads((tmp_path / "res" / "s" / "manifest.json").read_text())["evidence"]
    (rule,) = written["evidence"]
    assert {k: ev[k] for k in rule} == rule
    assert ev["file"] == str(tfile) and ev["version"] == written["version"] and ev["sha256"] == written["sha256"]
    import hashlib

    assert ev["labels_sha256"] == hashlib.sha256(labels.read_bytes()).hexdigest()
    assert ev["labels"] == len(load_run(fitted).frame())


def test_a_rule_applied_where_its_column_has_values_only_says_so(tmp_path):
    """A backend whose rcs is missing (its shard ran where the weights were not) is judged by the weight-free
    detectors alone while the others have the evidence: the report said evidence took part, for every backend."""
    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import run_notes

    run = make_run(tmp_path / "run", n=20, values=_values)
    tfile = tmp_path / "mine.json"
    C.write(fit_from_labels(_labels(run, tmp_path / "labels.csv"), run), tfile, "test")
    part = make_run(tmp_path / "part", n=20,
                    values=lambda b, d, sid: _values(b, d, sid) if b != "mean-fill" else {"rcs": math.nan})
    _select(part, tfile)
    rd = load_run(part)
    f = rd.frame()
    rep = rd.thresholds["evidence:rcs"]
    has = f["backend"] != "mean-fill"
    assert rep["applied"] and rep["samples"] == int(has.sum()) and rep["of"] == len(f)
    assert rep["without"] == ["mean-fill"]
    note = run_notes(summarize(part))
    assert f"{int(has.sum())} of {len(f)} samples" in note and "all of mean-fill" in note


def test_refitting_on_a_run_without_the_learned_column_keeps_the_base_files_evidence(tmp_path):
    """`--base mine.json` on labels of a run without rcs (its weights missing): the detectors keep the thresholds
    these labels cannot fit, and the evidence rule is kept the same way; it was dropped without a word, the
    command saying the file changed no threshold of its base."""
    from bench.calibration import calibrate as C
    from bench.calibration.labels import fit_from_labels

    run = make_run(tmp_path / "run", n=20, values=_values)
    tfile = tmp_path / "mine.json"
    first = C.write(fit_from_labels(_labels(run, tmp_path / "labels.csv"), run), tfile, "test")
    plain = make_run(tmp_path / "plain", n=20)
    doc = fit_from_labels(_labels(plain, tmp_path / "plain.csv"), plain, base=tfile)
    assert doc["evidence"] == first["evidence"]
    assert doc["calibration"]["evidence_base"]["kept"] == first["evidence"]
    # labels that judge the verdict (rcs there) and find no column that separates them: the base rule goes
    flat = make_run(tmp_path / "flat", n=20, values=lambda b, d, sid: {"rcs": 0.5})
    doc = fit_from_labels(_labels(flat, tmp_path / "flat.csv"), flat, base=tfile)
    assert "evidence" not in doc and doc["calibration"]["evidence_base"]["replaced"] == first["evidence"]


def test_calibrate_says_when_the_file_it_writes_changes_the_learned_evidence(tmp_path, capsys):
    from bench.cli import main

    run = make_run(tmp_path / "run", n=20, values=_values)
    out = tmp_path / "mine.json"
    assert main(["calibrate", "--labels", str(_labels(run, tmp_path / "labels.csv")), str(run), "--out",
                 str(out)]) == 0
    assert "learned evidence differs from its base file's" in capsys.readouterr().out


def test_the_random_weights_reason_is_printed_once_for_every_column_it_skips(tmp_path, capsys):
    """Random weights skip every learned column of every verdict for one reason: the printout says it once, naming
    the columns (it printed the long reason once per verdict and column)."""
    from bench.calibration.labels import fit_from_labels, print_report

    def three(backend, dataset, sid):
        k = int(sid[1:])
        return {"rcs": 0.1 * (k % 7), "remove": 0.1 * (k % 5), "cfd": 0.1 * (k % 3)}

    run = make_run(tmp_path / "run", n=20, values=three)
    m = json.loads((run / "manifest.json").read_text())
    m["weights"] = "random"
    (run / "manifest.json").write_text(json.dumps(m))
    doc = fit_from_labels(_labels(run, tmp_path / "labels.csv"), run)
    skipped = {k: r["skipped"] for k, r in doc["calibration"]["evidence"].items()}
    assert len(skipped) == 6 and len(set(skipped.values())) == 1  # one reason, six columns x verdicts
    print_report(doc)
    out = capsys.readouterr().out
    (why,) = set(skipped.values())
    assert out.count("learned evidence needs the real networks") == 1 and why in out
    line = next(ln for ln in out.splitlines() if why in ln)
    assert all(k in line for k in skipped)  # the line names every column it skips


def test_a_learned_rule_that_separates_the_fitting_labels_by_chance_only_is_not_written(tmp_path, capsys):
    """A learned column was written as evidence when its threshold reached Youden's J 0.2 on the fitting part, with
    no held-out check: here rcs separates the fitting labels exactly and the held-out ones by chance only. It now
    goes through the check the detectors' thresholds go through (``no_evidence``): no rule is written, or the base
    file's rule of the verdict is kept, and the command and ``calibration.evidence`` say why. Checked against
    scikit-learn's AUROC of the held-out labels and a plain loop's Youden's J of the rule not written."""
    from sklearn.metrics import roc_auc_score

    from bench.calibration import calibrate as C
    from bench.calibration.labels import MIN_EVIDENCE_J, fit_from_labels, print_report
    from tests.test_labelling import _chance_labels

    # rcs low = replacement: 0.15 .. 0.60 by the sample's last digit (5-9: the high, good side)
    run = make_run(tmp_path / "run", n=20, values=lambda b, d, sid: {"rcs": 0.60 - 0.05 * (int(sid[1:]) % 10)})
    f = load_run(run).frame()
    path, rows = _chance_labels(f, "replacement", tmp_path / "labels.csv")
    doc = fit_from_labels(path, run)
    res = doc["calibration"]["evidence"]["replacement: rcs"]
    assert "evidence" not in doc and not res.get("written") and res["fit_j"] >= MIN_EVIDENCE_J
    assert res["not_written"] and "better than chance" in res["kept_base"], res
    v, t = f["rcs"].to_numpy(float), res["threshold"]

    def youden(held):
        pos = [v[i] < t for h, bad, i in rows if h == held and bad]
        neg = [v[i] < t for h, bad, i in rows if h == held and not bad]
        return sum(pos) / len(pos) - sum(neg) / len(neg)

    assert youden(False) == 1.0 and abs(youden(True)) < 0.2
    auc = roc_auc_score([bad for h, bad, _ in rows if h], [-v[i] for h, _, i in rows if h])  # (low rcs: suspect)
    assert abs(auc - 0.5) < 0.1
    print_report(doc)
    assert f"not written: {res['kept_base']}" in " ".join(capsys.readouterr().out.split())
    # a base file with a rule for the verdict keeps it: these labels give no evidence for the one fitted in its place
    good = make_run(tmp_path / "good", n=20, values=_values)
    tfile = tmp_path / "mine.json"
    first = C.write(fit_from_labels(_labels(good, tmp_path / "good.csv"), good), tfile, "test")
    doc = fit_from_labels(path, run, base=tfile)
    assert doc["evidence"] == first["evidence"]
    assert doc["calibration"]["evidence_base"] == {"kept_without_evidence": first["evidence"]}
    print_report(doc)
    assert "these labels give no evidence for the rule fitted in its place" in capsys.readouterr().out
