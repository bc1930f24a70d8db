"""benchmarks/detectors_real.py's summaries: the per-split AUROCs and the verdict's right/wrong rule."""
from __future__ import annotations

import math

import pytest

from tests.scripts import load


@pytest.fixture(scope="module")
def dr():
    return load("benchmarks/detectors_real.py")


COLUMNS = ("replacement_score", "replacement_ref_score", "replacement_real_score", "blur_score", "blur_grain",
           "blur_fade_score")


def _rec(label, **scores):
    return {"label": label, **{c: math.nan for c in COLUMNS}, **scores}


def test_aurocs_against_ok_with_nan_low_and_the_reference_score_where_present(dr):
    assert {c for _, c, _ in dr.AUROC_SCORES} == set(COLUMNS)
    recs = [_rec("replacement", replacement_score=0.9, replacement_real_score=2.0, replacement_ref_score=0.5),
            _rec("replacement", replacement_score=0.4, replacement_real_score=math.nan),
            _rec("ok", replacement_score=0.5, replacement_real_score=math.nan, replacement_ref_score=0.1),
            _rec("ok", replacement_score=0.0, replacement_real_score=-1.0),
            _rec("blur", blur_score=1.0, blur_fade_score=math.nan),
            _rec("other", replacement_score=5.0, blur_score=5.0)]  # neither the label nor ok: left out
    a = dr.aurocs(recs)
    # replacement_score: pairs (0.9 > 0.5, 0.9 > 0.0, 0.4 < 0.5, 0.4 > 0.0): 3 of 4
    assert a["replacement_score"] == {"auroc": 0.75, "pos": 2, "ok": 2}
    # the head's NaN (not asked) ranks lowest: 2.0 beats both; NaN ties the ok NaN and loses to -1.0
    assert a["replacement_real_score"]["auroc"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    # the reference score only where it exists: one replacement, one ok
    assert a["replacement_ref_score"] == {"auroc": 1.0, "pos": 1, "ok": 1}
    # blur against the two ok outputs (whose blur scores are NaN): 1.0 ranks above both; the fade's NaN ties them
    assert a["blur_score"]["auroc"] == 1.0 and a["blur_fade_score"]["auroc"] == 0.5
    assert "blur_grain" in a


def test_a_failure_labelled_other_is_right_under_any_failure_verdict(dr):
    assert dr.right("other", "blur") and dr.right("other", "replacement") and not dr.right("other", "ok")
    assert dr.right("blur", "blur") and not dr.right("blur", "replacement")


def test_held_out_pools_every_split_but_dev(dr):
    recs = [{**_rec("replacement", replacement_score=0.9), "split": "dev", "verdict": "ok", "verdict_fill": "ok",
             "blur_flag": 0.0, "replacement_flag": 0.0},
            {**_rec("replacement", replacement_score=0.8), "split": "test", "verdict": "replacement",
             "verdict_fill": "replacement", "blur_flag": 0.0, "replacement_flag": 1.0},
            {**_rec("ok", replacement_score=0.1), "split": "fresh", "verdict": "blur", "verdict_fill": "blur",
             "blur_flag": 1.0, "replacement_flag": 0.0},
            {**_rec("ok", replacement_score=0.0), "split": "test", "verdict": "ok", "verdict_fill": "ok",
             "blur_flag": 0.0, "replacement_flag": 0.0}]
    h = dr.held_out(recs)
    assert h["n"] == 3 and h["splits"] == ["fresh", "test"]
    assert h["verdict_accuracy"] == round(2 / 3, 3)
    assert (h["replacement"]["tp"], h["replacement"]["pos"], h["blur"]["flagged"]) == (1, 1, 1)
    assert h["aurocs"]["replacement_score"]["auroc"] == 1.0
    assert dr.held_out([r for r in recs if r["split"] == "dev"]) is None


@pytest.fixture(scope="module")
def deg():
    return load("benchmarks/detectors_real_degrade.py")


def test_the_lossy_steps_keep_the_size_and_lose_detail(deg):
    """Each step of detectors_real_degrade.py gives an 8-bit frame of the input's size; the resize round trips lose
    fine detail (the mean |x - its 3 x 3 box mean| falls), 1/3 more than 1/2; JPEG changes the frame but little."""
    import numpy as np
    import torch
    from skimage import data

    x = torch.from_numpy(data.astronaut()[:90, :120].copy()).permute(2, 0, 1).float() / 255

    def detail(t):
        a = t.numpy()
        pad = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")
        box = sum(pad[:, i:i + a.shape[1], j:j + a.shape[2]] for i in range(3) for j in range(3)) / 9
        return float(np.abs(a - box).mean())

    out = {k: deg.degrade(x, kind, v) for k, kind, v in (("j", "jpeg", 60), ("h", "resize", 0.5),
                                                         ("t", "resize", 1 / 3))}
    for t in out.values():
        assert t.shape == x.shape and torch.equal(t, torch.round(t * 255) / 255)
    assert detail(out["t"]) < detail(out["h"]) < 0.8 * detail(x)
    assert 0 < float((out["j"] - x).abs().mean()) < 0.05
    with pytest.raises(ValueError):
        deg.degrade(x, "gif", 1)


def test_tally_counts_flags_and_verdicts_per_label(deg):
    recs = [{"label": "ok", "verdict": "blur", "blur_flag": 1.0, "blur_grain_flag": 1.0, "blur_fade_flag": 0.0},
            {"label": "ok", "verdict": "ok", "blur_flag": 0.0, "blur_grain_flag": math.nan, "blur_fade_flag": 0.0},
            {"label": "blur", "verdict": "blur", "blur_flag": 1.0, "blur_grain_flag": 0.0, "blur_fade_flag": 1.0},
            {"label": "replacement", "verdict": "ok", "blur_flag": math.nan}]
    t = deg.tally(recs)
    assert t["n"] == 4 and t["ok"] == {"n": 2, "blur_flag": 1, "grain": 1, "fade": 0, "verdict_ok": 1}
    assert t["blur"] == {"n": 1, "blur_flag": 1, "grain": 0, "fade": 1, "verdict_ok": 0}
    assert t["replacement"]["verdict_ok"] == 1 and t["verdict_accuracy"] == 0.5


@pytest.fixture(scope="module")
def loso():
    load("benchmarks/detectors_real.py")  # (the scripts import each other by module name)
    load("benchmarks/detectors_real_fit.py")
    return load("benchmarks/detectors_real_loso.py")


def _scored(n: int, seed: int, repo: str = "a/b") -> list[dict]:
    """``n`` stand-in corpus records: random head features and scores, labels of every kind, removal rows."""
    import numpy as np

    from bench.detectors import real_head as rh
    from bench.detectors.blur import BlurDetector

    rng = np.random.default_rng(seed)
    labels = ("ok", "replacement", "blur", "other")
    recs = []
    for i in range(n):
        r = {"output_id": f"{repo}-{i}", "sample_id": f"s{i // 2}", "repo": repo, "split": "test",
             "task": "removal", "label": labels[i % 4],
             **{f"feat_{k}": float(rng.normal()) for k in rh.FEATURES},
             "replacement_score": float(max(0.0, rng.normal(0.2, 0.25))), "replacement_ref_score": math.nan,
             "blur_score": float(rng.normal(0.3, 0.3)),
             **{k: float(rng.normal(0.3, 0.4)) for k in BlurDetector.extra_scores if k != "blur_ref_score"},
             "blur_ref_score": math.nan, "incomplete_flag": float(i % 7 == 0)}
        recs.append(r)
    return recs


def test_loso_rules_are_the_detectors_own_flags_and_verdict(loso):
    """apply_rules with a head and thresholds gives what ReplacementDetector.flags gives on that head's logit
    (real_head.logit), and the verdict of those flags; without a head, replacement flags on novelty alone."""
    import copy

    import numpy as np
    import pandas as pd

    from bench.detectors import real_head as rh
    from bench.detectors.replacement import ReplacementDetector
    from bench.detectors.thresholds import load_thresholds
    from bench.detectors.verdict import verdicts

    shipped = load_thresholds()["detectors"]
    recs = _scored(40, 0)
    x = np.asarray([[r[f"feat_{k}"] for k in rh.FEATURES] for r in recs])
    head = rh.fit(np.column_stack([x[:, :5], [r["replacement_score"] for r in recs]]),
                  np.asarray([r["label"] == "replacement" for r in recs]),
                  (*rh.FEATURES[:5], "replacement_score"))
    real_t, plain = 0.3, 0.55
    got = copy.deepcopy(recs)
    loso.apply_rules(got, shipped, {"replacement": head}, {"replacement": real_t}, plain)
    s = np.asarray([r["replacement_score"] for r in recs])
    logit = np.asarray([rh.logit(head, x[i], {"replacement_score": s[i]}) if s[i] > 0 else np.nan
                        for i in range(len(recs))])
    det = ReplacementDetector(thresholds="none", threshold=shipped["replacement"]["threshold"],
                              ref_threshold=shipped["replacement"]["ref_threshold"], real_threshold=real_t,
                              plain_threshold=plain)
    want = det.flags({"replacement_score": s, "replacement_real_score": logit,
                      "replacement_ref_score": np.full(len(s), np.nan)})["replacement_flag"]
    np.testing.assert_allclose([r["replacement_real_score"] for r in got], logit, rtol=1e-9)
    np.testing.assert_array_equal([r["replacement_flag"] for r in got], want)
    assert 0 < np.nansum(want) < np.nansum(s > shipped["replacement"]["threshold"])  # the head vetoed some
    assert [r["verdict"] for r in got] == verdicts(pd.DataFrame(got), paste_back=True).tolist()
    assert "incomplete" in {r["verdict"] for r in got} and "replacement" in {r["verdict"] for r in got}

    bare = copy.deepcopy(recs)
    loso.apply_rules(bare, shipped, None, None, None)
    np.testing.assert_array_equal([r["replacement_flag"] for r in bare],
                                  (s > shipped["replacement"]["threshold"]).astype(float))
    assert all(math.isnan(r["replacement_real_score"]) for r in bare)


def test_loso_never_fits_on_the_repository_it_judges(loso, monkeypatch, tmp_path):
    """Each fold's fit sees every repository but the held-out one; the pooled counts are the folds' sums."""
    import sys

    import numpy as np

    import _common
    import detectors_real as dr
    import detectors_real_fit as fit

    recs = _scored(12, 1, "x/one") + _scored(8, 2, "y/two") + _scored(8, 3, "z/three")
    for r in recs[:12]:
        r["split"] = "dev"
    monkeypatch.setattr(dr, "score", lambda corpus, rows, max_side, extra=None: [dict(r) for r in recs])
    monkeypatch.setattr(dr, "load_rows", lambda corpus: recs)
    for r in recs:
        r["blur_flag"], r["replacement_flag"], r["verdict"], r["verdict_fill"] = 0.0, 0.0, "ok", "ok"
    seen = []
    real_fit = fit.fit_real

    def spy(train, shipped, log=print, where="dev"):
        seen.append({r["repo"] for r in train})
        return real_fit(train, shipped, log=log, where=where)

    monkeypatch.setattr(fit, "fit_real", spy)
    monkeypatch.setattr(fit, "constructed_good_logits", lambda head: np.zeros(1))
    monkeypatch.setattr(loso, "GRID", {"threshold": (0.2,), "grain_threshold": (0.5,), "fade_threshold": (0.5, 1.0)})
    saved = {}
    monkeypatch.setattr(_common, "save", lambda name, res, lines: saved.update(res) or tmp_path / "x.json")
    monkeypatch.setattr(sys, "argv", ["detectors_real_loso.py", "--corpus", str(tmp_path)])
    assert loso.main() == 0
    assert seen == [{"y/two", "z/three"}, {"x/one", "z/three"}, {"x/one", "y/two"}]
    folds = saved["folds"]
    assert [f["repo"] for f in folds] == ["x/one", "y/two", "z/three"]
    for rule in loso.RULES:
        for name, sel in (("all folds", folds), ("folds off dev", folds[1:])):
            p = saved["pooled"][name][rule]
            assert p["n"] == sum(f["rules"][rule]["n"] for f in sel)
            assert p["replacement"]["tp"] == sum(f["rules"][rule]["replacement"]["tp"] for f in sel)
    # the weight-free thresholds: each fold's triple is chosen without it, and the shipped triple is first
    th = saved["thresholds"]
    assert th["triples"] == 3 and set(th["loso pooled"]["chosen"]) == {"x/one", "y/two", "z/three"}
    assert th["hindsight all"]["right"] >= th["constructed"]["all"]  # (the shipped triple is one of them)


def test_threshold_grid_rows_are_the_rules_verdicts_and_choose_takes_the_best_on_training(loso, monkeypatch):
    """Row 0 of the grid is the shipped triple without a head (apply_rules' ``no head``); every row is the verdict
    with its triple; ``choose`` maximises right verdicts on the training outputs only, pooled or per repository,
    and keeps the earlier row on a tie."""
    import copy

    import numpy as np
    import pandas as pd

    import detectors_real as dr
    from bench.detectors.thresholds import load_thresholds

    shipped = load_thresholds()["detectors"]
    monkeypatch.setattr(loso, "GRID", {"threshold": (0.1, 0.3), "grain_threshold": (0.2, 0.9),
                                       "fade_threshold": (0.5,)})
    recs = _scored(24, 4, "x/one") + _scored(8, 5, "y/two")
    triples, right = loso.threshold_grid(pd.DataFrame(recs), shipped)
    assert len(triples) == 5 and triples[0] == (shipped["replacement"]["threshold"],
                                                shipped["blur"]["grain_threshold"], shipped["blur"]["fade_threshold"])
    bare = copy.deepcopy(recs)
    loso.apply_rules(bare, shipped, None, None, None)
    assert right[0].tolist() == [dr.right(r["label"], r["verdict"]) for r in bare]
    fr = loso.flag_frame(pd.DataFrame(recs), shipped, over={"replacement": {"threshold": triples[3][0]},
                                                            "blur": {"grain_threshold": triples[3][1],
                                                                     "fade_threshold": triples[3][2]}})
    assert right[3].tolist() == [dr.right(a, b) for a, b in zip(fr["label"], fr["verdict"])]
    assert len({tuple(r) for r in right}) > 1  # the thresholds move verdicts

    r = np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=bool)
    repos = np.array(["a", "a", "b", "b", "b"])
    assert loso.choose(r, repos, np.ones(5, bool), "pooled") == 1  # 3 right against 2
    assert loso.choose(r, repos, np.ones(5, bool), "per repository") == 0  # a tie (1 + 0, 0 + 1): the earlier row
    assert loso.choose(r, repos, repos == "a", "pooled") == 0  # only the training outputs count


def test_selfcal_judges_every_output_once_with_thresholds_fitted_on_the_other_half(monkeypatch, tmp_path):
    """detectors_real_selfcal.py: per repository, each half is judged by thresholds fitted on the other (fit_thresholds
    never sees a judged output as a fitting row); every output is judged once; with the shipped thresholds,
    ``detectors_real.rejudge`` gives the records' own verdicts."""
    import sys

    import numpy as np
    import pandas as pd

    sc = load("benchmarks/detectors_real_selfcal.py")  # (puts benchmarks/ on the path, as when it is run)
    import _common
    import detectors_real as dr
    from bench.calibration import labels as L
    from bench.detectors.thresholds import load_thresholds

    recs = _scored(16, 6, "x/one") + _scored(12, 7, "y/two") + _scored(4, 8, "z/small")
    for r in recs:
        r["incomplete_score"] = r["incomplete_detail_score"] = r["incomplete_remnant_score"] = math.nan
    shipped = dr.rejudge(pd.DataFrame(recs), load_thresholds()["detectors"])  # the records' own flags, verdicts
    for r, v, b, p in zip(recs, shipped["verdict"], shipped["blur_flag"], shipped["replacement_flag"]):
        r["verdict"], r["blur_flag"], r["replacement_flag"] = v, b, p
    monkeypatch.setattr(dr, "score", lambda corpus, rows, max_side: [dict(r) for r in recs])
    monkeypatch.setattr(dr, "load_rows", lambda corpus: recs)
    seen = []
    real_fit = L.fit_thresholds

    def spy(detectors, frame, parts, seed=0, rule_parts=True, guard=True):
        seen.append({frame["output_id"][i] for lab, i, held in parts if not held})
        judged = {frame["output_id"][i] for lab, i, held in parts if held}
        assert not seen[-1] & judged
        assert not guard  # (the guard would keep or drop a threshold on the judged half's labels)
        return real_fit(detectors, frame, parts, seed, rule_parts, guard)

    monkeypatch.setattr(L, "fit_thresholds", spy)
    saved = {}
    monkeypatch.setattr(_common, "save", lambda name, res, lines: saved.update(res) or tmp_path / "x.json")
    monkeypatch.setattr(sys, "argv", ["detectors_real_selfcal.py", "--corpus", str(tmp_path), "--min-outputs", "10"])
    assert sc.main() == 0
    assert set(saved["repos"]) == {"x/one", "y/two"}  # z/small: too few outputs
    assert len(seen) == 2 * 2 * 2  # two repositories, two halves, with and without the rule parts
    for rule in sc.RULES:
        assert saved["pooled"]["all"][rule]["n"] == 28
    mine = [r for r in recs if r["repo"] != "z/small"]
    assert saved["pooled"]["all"]["shipped"]["verdict_right"] == sum(dr.right(r["label"], r["verdict"])
                                                                    for r in mine)
    assert np.isfinite(saved["pooled"]["all"]["self"]["verdict_right"])


def test_the_benchmark_scores_a_corpus_folder_exactly_as_bench_run_does(dr, tmp_path):
    """detectors_real.py stands for a user's run (a folder dataset, an outputs backend, paste_back): on the same
    folder and outputs, every detector score and every verdict equals what `bench run` stores."""
    import json

    import cv2
    import numpy as np
    import yaml
    from PIL import Image
    from skimage import data

    from bench.cli import main
    from bench.report.aggregate import load_run

    ds, out = tmp_path / "toy", tmp_path / "outputs" / "m" / "toy"
    for d in (ds / "images", ds / "masks", out):
        d.mkdir(parents=True)
    (ds / "dataset.json").write_text(json.dumps({"task": "removal"}))
    photos = [cv2.resize(p, (160, 120), interpolation=cv2.INTER_AREA)
              for p in (data.astronaut(), data.coffee(), data.chelsea())]
    m = np.zeros((120, 160), np.uint8)
    m[35:85, 50:110] = 255
    rows = []
    for i, im in enumerate(photos):
        fills = {"telea": cv2.inpaint(im, m, 3, cv2.INPAINT_TELEA), "smear": cv2.GaussianBlur(im, (0, 0), 6),
                 "paste": photos[(i + 1) % 3], "kept": im}
        for kind, fill in fills.items():
            sid = f"p{i}_{kind}"
            Image.fromarray(im).save(ds / "images" / f"{sid}.png")
            Image.fromarray(m).save(ds / "masks" / f"{sid}.png")
            Image.fromarray(np.where(m[..., None] > 0, fill, im).astype(np.uint8)).save(out / f"{sid}.png")
            rows.append({"source": "toy", "dataset": "toy", "sample_id": sid, "output_folder": "outputs/m",
                         "output_id": sid, "task": "removal", "label": "ok", "split": "dev"})
    recs = {r["sample_id"]: r for r in dr.score(tmp_path, rows, 512)}
    suite = {"name": "toy", "output_dir": str(tmp_path / "res"), "device": "cpu", "paste_back": True,
             "backends": [{"type": "outputs", "name": "m", "root": str(tmp_path / "outputs" / "m"),
                           "pattern": "{dataset}/{sample}.png"}],
             "datasets": [{"type": "folder", "name": "toy", "root": str(ds)}], "masks": ["given"],
             "metrics": [{"type": "psnr", "regions": ["out"]}],
             "detectors": ["blur", "replacement", "incomplete", "resized", "outside_drift", "black", "nan", "noop"]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "s.yaml"), "--no-progress", "--no-report"]) == 0
    run = load_run(tmp_path / "res" / "toy").frame().set_index("sample_id")
    assert set(run.index) == set(recs)
    scores = [k for k in run.columns if isinstance(k, str) and k.endswith("_score")]
    assert {"blur_score", "replacement_score", "incomplete_score", "noop_score"} <= set(scores)
    for sid, r in recs.items():
        for k in scores:
            assert r[k] == pytest.approx(float(run.loc[sid, k]), rel=1e-6, abs=1e-9, nan_ok=True), (sid, k)
        assert r["verdict"] == run.loc[sid, "failure"], sid
    assert len({r["verdict"] for r in recs.values()}) >= 3  # smears, kept objects, clean fills: not one verdict
