"""Calibration end to end, the versioned thresholds file, and the shipped thresholds on a fresh seed."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from bench.detectors import WEIGHT_FREE
from bench.errors import BenchError
from bench import stats as st
from bench.calibration import calibrate as cal
from bench.calibration import measure
from bench.detectors.thresholds import load_thresholds, section_sha
from bench.registry import DETECTORS


def test_auroc_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.3
    s = rng.normal(size=200) + y
    s[:20] = np.round(s[:20])  # ties
    assert st.auroc(y, s) == pytest.approx(sk.roc_auc_score(y, s))
    assert st.auroc(y, -s, "below") == pytest.approx(sk.roc_auc_score(y, s))


def test_best_threshold_lies_between_separable_classes():
    y = np.array([0, 0, 0, 1, 1], bool)
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    t = st.best_threshold(y, s)
    assert 0.3 < t < 0.7 and t == pytest.approx(0.5)
    assert 0.3 < st.best_threshold(y, -s + 1, "below") < 0.7


def test_labelled_set_is_deterministic_and_covers_every_detector():
    a, b = cal.build_cases(3, 4, 96), cal.build_cases(3, 4, 96)
    assert [c.kind for c in a] == [c.kind for c in b]
    assert all(np.array_equal(x.output, y.output) for x, y in zip(a, b))
    kinds = {c.kind for c in a}
    assert {"good_gt", "good_classical", "blur_gauss", "mosaic", "repl_patch", "incomplete", "noop"} <= kinds
    labelled = {d for c in a for d, v in c.labels.items() if v == 1}
    assert {"blur", "replacement", "incomplete", "noop"} <= labelled


def test_cases_scored_without_their_truth_take_the_reference_free_paths():
    """``score_cases(..., truth=False)`` scores the cases as an object-removal set photographed once: no reference
    score anywhere, and ``incomplete`` judges removal cases against the surroundings' interpolation (the object
    left in place still found)."""
    from bench.calibration.cases import build_cases, to_batch

    cases = [c for c in build_cases(4, 6, 96) if c.setting == "removal"]
    b = to_batch(cases, truth=False)
    assert not b.has_gt.any() and not b.gt.any()
    with_t, without = measure.score_cases(cases), measure.score_cases(cases, truth=False)
    assert np.isfinite(with_t["replacement_ref_score"]).any()
    assert np.isnan(without["replacement_ref_score"]).all() and np.isnan(without["blur_grain_ref_score"]).all()
    kept = np.array([c.kind == "incomplete" for c in cases])
    assert kept.any() and (without["incomplete_score"][kept] > 0.15).all()
    assert np.array_equal(with_t["blur_score"], without["blur_score"], equal_nan=True)  # reference-free already


def test_calibration_end_to_end_and_versioned_file(tmp_path, capsys):
    doc = cal.calibrate(seed=11, n=6, size=128)
    for name in WEIGHT_FREE:
        assert doc["detectors"][name]["threshold"] is not None, name
    assert doc["detectors"]["outside_drift"]["direction"] == "below"
    assert doc["detectors"]["blur"]["mosaic_threshold"] is not None
    assert doc["calibration"]["fresh"]["noop"]["recall"] == 1.0
    out = tmp_path / "thr.json"
    v1 = cal.write(doc, out, "test")
    assert v1["version"] == 1 and v1["sha256"] == section_sha(doc["detectors"])
    assert cal.write(doc, out)["version"] == 1  # same thresholds: same version
    doc["detectors"]["black"]["threshold"] = 0.3
    assert cal.write(doc, out)["version"] == 2  # changed: bumped
    # a detector reading that file reports its version and the threshold it used
    det = DETECTORS.get("black")(thresholds=str(out))
    assert det.threshold == 0.3
    prov = det.provenance()
    assert prov["thresholds_version"] == 2 and prov["thresholds_sha256"] == json.loads(out.read_text())["sha256"]


def test_calibration_pools_consecutive_seeds():
    """``seeds=2``: the thresholds are those chosen on the union of both seeds' labelled sets (not either alone),
    and the check seed may not be one of them."""
    doc = cal.calibrate(seed=11, n=3, size=96, photos=0, seeds=2)
    assert doc["calibration"]["seeds"] == [11, 12] and doc["calibration"]["check_seed"] == 1011
    sets = [cal.labelled_set(s, 3, 96, 0)[0] for s in (11, 12)]
    assert doc["calibration"]["cases"] == sum(map(len, sets))
    pooled = measure.score_cases(sets[0] + sets[1])
    assert doc["detectors"] == measure.choose_thresholds(pooled)
    alone = [measure.choose_thresholds(measure.score_cases(c)) for c in sets]
    assert doc["detectors"] != alone[0] or doc["detectors"] != alone[1]
    with pytest.raises(BenchError, match="--check-seed 12"):
        cal.calibrate(seed=11, n=3, size=96, photos=0, seeds=2, check_seed=12)


def test_reproduce_reruns_the_files_own_calibration_and_names_what_differs(tmp_path, capsys):
    """``bench calibrate --reproduce FILE`` runs the calibration FILE records and compares the thresholds: a file
    written by that calibration is reproduced (thresholds fitted elsewhere, carried, stay out of it); a threshold
    edited by hand is named, exit 1; a file without a calibration section is refused with its command."""
    from bench.cli import calibrate as cal_cli
    from bench.errors import BenchError

    p = argparse.ArgumentParser()
    cal_cli.configure(p)
    out = tmp_path / "t.json"
    assert cal_cli.run(p.parse_args(["--seed", "2", "--n", "3", "--size", "96", "--photos", "0",
                                     "--out", str(out)])) == 0
    doc = json.loads(out.read_text())
    doc["detectors"]["blur"]["grain_threshold"] = 0.6  # carried: a calibration does not choose it
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cal_cli.run(p.parse_args(["--reproduce", str(out)])) == 0
    assert "reproduced" in capsys.readouterr().out
    doc["detectors"]["noop"]["threshold"] = round(doc["detectors"]["noop"]["threshold"] + 0.1, 4)
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(doc))
    assert cal_cli.run(p.parse_args(["--reproduce", str(stale), "--json"])) == 1
    res = json.loads(capsys.readouterr().out)
    assert not res["reproduced"] and [d[:2] for d in res["differences"]] == [["noop", "threshold"]]
    assert res["sha256"][0] != res["sha256"][1]
    assert cal_cli.run(p.parse_args(["--reproduce", str(stale)])) == 1
    assert "noop.threshold: file" in capsys.readouterr().out
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"format": 1, "version": 1, "detectors": {}, "command": "bench calibrate --labels x",
                                  "calibration": {"labels": "x"}}))
    with pytest.raises(BenchError, match="bench calibrate --labels x"):
        cal_cli.reproduce(str(labels))


def test_cli_run_prints_table_and_writes(tmp_path, capsys):
    from bench.cli import calibrate as cal_cli

    p = argparse.ArgumentParser()
    cal_cli.configure(p)
    out = tmp_path / "t.json"
    assert cal_cli.run(p.parse_args(["--seed", "2", "--n", "4", "--size", "96", "--out", str(out)])) == 0
    text = capsys.readouterr().out
    assert "precision" in text and "AUROC" in text and "replacement" in text
    assert json.loads(out.read_text())["version"] == 1
    assert "--seeds" not in json.loads(out.read_text())["command"]
    assert cal_cli.run(p.parse_args(["--evaluate", "--thresholds", str(out), "--seed", "3", "--n", "3", "--size", "96",
                                 "--json"])) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["version"] == 1 and "blur" in res["results"]
    assert cal_cli.run(p.parse_args(["--evaluate", "--heldout", "--thresholds", str(out), "--n", "2", "--size", "96",
                                 "--json"])) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert res["replacement"]["n_pos"] > 0 and res["incomplete"]["n_pos"] == 0  # photos: no removal cases
    # recalibrating over a file that has thresholds fitted on real outputs keeps them (and says so)
    doc = json.loads(out.read_text())
    doc["detectors"]["blur"]["grain_threshold"] = 0.6
    doc["detectors"]["replacement"].update(real_threshold=1.5, plain_threshold=0.5)
    out.write_text(json.dumps(doc))
    assert cal_cli.run(p.parse_args(["--seed", "2", "--n", "4", "--size", "96", "--out", str(out)])) == 0
    again = json.loads(out.read_text())
    assert again["detectors"]["blur"]["grain_threshold"] == 0.6
    assert again["detectors"]["replacement"]["real_threshold"] == 1.5
    assert again["detectors"]["replacement"]["threshold"] == doc["detectors"]["replacement"]["threshold"]
    assert again["calibration"]["carried"]["thresholds"] == {"blur": ["grain_threshold"],
                                                             "replacement": ["real_threshold", "plain_threshold"]}
    assert "kept from the file replaced" in capsys.readouterr().err


def test_shipped_thresholds_file_is_versioned_and_complete():
    data = load_thresholds()
    assert data["version"] >= 1
    assert data["sha256"] == section_sha(data["detectors"])
    for name in WEIGHT_FREE:
        assert data["detectors"][name]["threshold"] is not None, name
        prov = DETECTORS.get(name)().provenance()
        assert prov["thresholds_version"] == data["version"]
        assert prov["thresholds"]["threshold"] == data["detectors"][name]["threshold"]


def test_shipped_thresholds_hold_on_a_fresh_seed():
    """The shipped thresholds on a seed never used for calibration (small n: a smoke check of the targets)."""
    res = cal.evaluate_file(None, seed=20261125, n=10, size=256)
    for row in ("blur", "replacement", "incomplete", "noop", "resized", "black", "nan"):
        r = res[row]
        assert r["n_pos"] > 0 and r["n_neg"] > 0, row
        assert r["precision"] >= 0.85 and r["recall"] >= 0.85, (row, r)
        assert r["auroc"] >= 0.9, (row, r)


def test_photo_splits_are_disjoint_and_dev_gray_is_the_dev_photographs_in_gray():
    from bench.calibration import photos

    assert not set(photos.DEV_PHOTOS) & set(photos.TEST_PHOTOS)
    assert not (set(photos.DEV_PHOTOS) | set(photos.TEST_PHOTOS)) & set(photos.FRESH_PHOTOS)
    earlier = set(photos.DEV_PHOTOS) | set(photos.TEST_PHOTOS) | set(photos.FRESH_PHOTOS)
    assert not earlier & set(photos.FRESH2_PHOTOS)
    for name in photos.FRESH2_PHOTOS:  # PyWavelets' and Mahotas' images load, in gray, with content
        a = photos.load_photo(name, gray=True)
        assert a.ndim == 3 and min(a.shape[:2]) >= 256 and np.array_equal(a[..., 0], a[..., 2]), name
        assert 0 <= a.min() and a.max() <= 1 and a.std() > 0.02, name
    assert photos.SPLITS["dev-gray"] == photos.DEV_PHOTOS
    gray = photos.build_photo_cases("dev-gray", 0, 2, 96)
    colour = photos.build_photo_cases("dev", 0, 2, 96)
    assert gray and all(np.array_equal(c.gt[..., 0], c.gt[..., 1]) and np.array_equal(c.gt[..., 1], c.gt[..., 2])
                        for c in gray)
    assert not np.array_equal(gray[0].gt[..., 0], colour[0].gt[..., 0])  # other crops, not the colour ones grayed
    again = photos.build_photo_cases("dev-gray", 0, 2, 96)
    assert all(np.array_equal(a.output, b.output) and a.kind == b.kind for a, b in zip(gray, again))
    # the luma of the colour photograph, in all three channels
    rgb, g = photos.load_photo("coffee"), photos.load_photo("coffee", gray=True)
    assert np.allclose(g[..., 0], rgb @ np.float32([0.299, 0.587, 0.114]), atol=1e-6)


def test_a_photo_split_whose_package_is_missing_is_a_clear_error(monkeypatch, capsys):
    """Without PyWavelets, ``bench calibrate --evaluate --split fresh2`` says which photograph needs which package
    and how to install it, as an error message and exit status 2, not a traceback."""
    import sys

    from bench.calibration import photos
    from bench.cli import main
    from bench.errors import DataError

    monkeypatch.setitem(sys.modules, "pywt", None)
    expected = r"'ascent' comes from the PyWavelets package \(`import pywt`\).*inpaint-bench\[test\]"
    with pytest.raises(DataError, match=expected):
        photos.load_photo.__wrapped__("ascent")
    photos.load_photo.cache_clear()
    try:
        assert main(["calibrate", "--evaluate", "--split", "fresh2", "--n", "1"]) == 2
    finally:
        photos.load_photo.cache_clear()  # (the real photographs again for the tests after this one)
    err = capsys.readouterr().err
    assert "error: photograph 'ascent'" in err and "pip install 'inpaint-bench[test]'" in err
    assert "Traceback" not in err


def test_calibration_set_has_dev_photographs_in_colour_and_half_as_many_in_gray(monkeypatch):
    from bench.calibration import photos

    calls = []
    monkeypatch.setattr(photos, "build_photo_cases", lambda split, seed, n, size: calls.append((split, n)) or [])
    monkeypatch.setattr(photos, "classical_cases",
                        lambda split, seed, n, size, kinds: calls.append(("classical", split, n, kinds)) or [])
    monkeypatch.setattr(cal, "build_cases", lambda seed, n, size: [])
    cal.labelled_set(0, 4, 96, 10)
    assert calls == [("dev", 10), ("classical", "dev", 10, measure.CLASSICAL), ("dev-gray", 5),
                     ("classical", "dev-gray", 5, measure.CLASSICAL)]


def test_classical_cases_are_smooth_fills_of_box_and_lama_holes_never_replacement():
    from bench.calibration import photos

    cases = photos.classical_cases("dev-gray", 0, 2, 96, ("telea", "flat"))
    assert [(c.kind, c.strategy) for c in cases] == [(k, h) for _ in range(2) for h in ("box", "lama")
                                                     for k in ("telea", "flat")]
    assert all(c.labels == {"replacement": 0} for c in cases)
    for c in cases:  # the fill is only inside the hole, and the split's gray photographs stay gray
        assert np.array_equal(c.output[~c.mask], c.gt[~c.mask]) and not np.array_equal(c.output, c.gt)
        assert np.array_equal(c.output[..., 0], c.output[..., 2])
    again = photos.classical_cases("dev-gray", 0, 2, 96, ("telea", "flat"))
    assert all(np.array_equal(a.output, b.output) for a, b in zip(cases, again))
    colour = photos.classical_cases("dev-gray", 0, 1, 96, ("telea",), gray=False)
    assert not np.array_equal(colour[0].gt[..., 0], colour[0].gt[..., 2])


def test_a_capped_threshold_keeps_each_capped_kind_under_its_rate():
    # positives at 0.6-0.9; negatives of kind "a" at 0.05-0.5 (the F1 optimum, 0.35, flags 2 of 10 of them)
    y = np.array([1] * 10 + [0] * 10 + [0] * 10, bool)
    s = np.concatenate([np.linspace(0.3, 0.9, 10), np.linspace(0.05, 0.5, 10), np.full(10, 0.01)])
    kinds = np.array(["pos"] * 10 + ["a"] * 10 + ["b"] * 10)
    free = st.best_threshold(y, s, criterion="f1")
    assert (s[kinds == "a"] > free).mean() > 0.1
    capped = st.best_threshold(y, s, criterion="f1", capped=[kinds == "a", kinds == "b"], max_rate=0.1)
    assert (s[kinds == "a"] > capped).mean() <= 0.1 and capped > free
    # the cap holds for each group, not for their pool: 1 of 20 pooled is under 0.1, 1 of 10 in "a" is not
    one = st.best_threshold(y, s, criterion="f1", capped=[kinds == "a"], max_rate=0.05)
    assert (s[kinds == "a"] > one).mean() == 0.0
    # nothing satisfies the cap: the strictest threshold
    assert st.best_threshold(y, s, criterion="f1", capped=[y], max_rate=0.0) >= s.max()


def test_breakeven_threshold_is_where_precision_and_recall_are_highest_together():
    """20 positives (17 at 0.6-0.9, two at 0.3 and 0.35, one at 0) and 20 negatives (three at 0.4-0.5, the rest
    at 0.01-0.05). Between 0.5 and 0.6 every negative is cleared and three positives are lost (P 1.0, R 0.85,
    F1 0.919: F1's choice); between 0.05 and 0.3 two more positives are found for three false alarms (P 0.864,
    R 0.95, F1 0.905). The break-even criterion (the smaller of precision and recall) takes the second: 0.864
    against 0.85."""
    y = np.array([1] * 20 + [0] * 20, bool)
    s = np.concatenate([np.linspace(0.6, 0.9, 17), [0.3, 0.35, 0.0], [0.4, 0.45, 0.5], np.linspace(0.01, 0.05, 17)])
    t = st.best_threshold(y, s, criterion="breakeven")
    assert 0.05 < t < 0.3
    assert 0.5 < st.best_threshold(y, s, criterion="f1") < 0.6
    p, r, _ = st.pr(y, s > t)
    assert (round(p, 3), r) == (0.864, 0.95)
    assert min(p, r) == max(min(st.pr(y, s > u)[:2]) for u in np.linspace(0, 1, 201))
    with pytest.raises(ValueError, match="breakeven"):
        st.best_threshold(y, s, criterion="accuracy")
    assert all(sp.criterion == "breakeven" for sp in measure.SPECS if sp.detector == "replacement")


def test_calibration_caps_replacement_on_classical_fills(monkeypatch):
    """The shipped procedure: replacement's thresholds keep every classical fill of the dev photographs under
    CLASSICAL_CAP."""
    specs = [sp for sp in measure.SPECS if sp.detector == "replacement"]
    assert len(specs) == 2 and all(sp.cap_kinds == measure.CLASSICAL and sp.max_rate == measure.CLASSICAL_CAP
                                   for sp in specs)
    rng = np.random.default_rng(0)
    n = 40
    kinds = np.array(["foreign"] * n + ["good"] * n + ["ns"] * n)
    ns = np.zeros(n)
    ns[:3] = 0.5  # 3 of 40 classical fills score like a middling replacement
    score = np.concatenate([rng.uniform(0.2, 1.0, n), np.zeros(n), ns])
    scores = {"kind": kinds, "label:replacement": np.concatenate([np.ones(n), np.zeros(2 * n)]),
              "replacement_score": score, "replacement_ref_score": score}
    uncapped = st.best_threshold(scores["label:replacement"] == 1, score, criterion="f1")
    assert (score[kinds == "ns"] > uncapped).mean() > measure.CLASSICAL_CAP  # F1 alone would flag too many
    chosen: dict = {}
    for sp in specs:
        measure._choose(sp, scores, chosen)
    for key in ("threshold", "ref_threshold"):
        assert (score[kinds == "ns"] > chosen["replacement"][key]).mean() <= measure.CLASSICAL_CAP
