"""benchmarks/detectors_real_learned.py: evidence rules fitted on the design split only, applied as a run applies
them, and the learned metrics it builds (tiny random networks; offline without weights it stops at once)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.scripts import load


@pytest.fixture(scope="module")
def dl():
    return load("benchmarks/detectors_real_learned.py")


def _rec(i, split, label, rcs, replacement_flag=0.0):
    return {"output_id": f"o{i}", "split": split, "label": label, "source": "s", "model": "m", "rcs": rcs,
            "blur_flag": 0.0, "replacement_flag": replacement_flag, "verdict": "ok", "verdict_fill": "ok"}


def test_rule_is_fitted_on_dev_alone_and_changes_the_verdicts_it_should(dl):
    rng = np.random.default_rng(0)
    recs = []
    # dev: replacements have a low RC-S, correct fills a high one; a held-out split the same way, except one
    # correct fill whose RC-S is low (the rule must flag it: the threshold is dev's, not fitted on the held-out part)
    for i in range(8):
        recs.append(_rec(i, "dev", "replacement", 0.2 + 0.05 * rng.random()))
        recs.append(_rec(10 + i, "dev", "ok", 0.8 + 0.05 * rng.random()))
    held = [_rec(20, "test", "replacement", 0.21), _rec(21, "test", "replacement", 0.3, replacement_flag=1.0),
            _rec(22, "test", "ok", 0.9), _rec(23, "test", "ok", 0.1), _rec(24, "test", "blur", 0.95)]
    recs += held
    rules, fit, applied, after = dl.fit_and_apply(recs)
    assert [(r["column"], r["direction"], r["verdict"]) for r in rules] == [("rcs", "below", "replacement")]
    assert 0.25 <= rules[0]["threshold"] < 0.8  # between dev's classes
    assert fit["replacement: rcs"]["fit_j"] == 1.0 and fit["replacement: rcs"]["written"]
    assert fit["replacement: rcs"]["counts"] == {"fit": (8, 8), "test": (2, 2)}
    assert "skipped" in fit["blur: rcs"]  # too few blur labels: no rule for blur
    assert applied["evidence:rcs"]["applied"]
    by = {r["output_id"]: r for r in after}
    assert by["o20"]["verdict"] == "replacement" and by["o21"]["verdict"] == "replacement"
    assert by["o23"]["verdict"] == "replacement"  # a correct fill with a low score is flagged: a false alarm
    assert by["o22"]["verdict"] == "ok" and by["o24"]["verdict"] == "ok"
    # the P/R figures read the detector's flag or the evidence's
    assert by["o20"]["replacement_flag"] == 1.0 and by["o22"]["replacement_flag"] == 0.0
    assert all(r["verdict"] == "ok" for r in recs)  # the input records are left as they were


def test_without_the_column_nothing_is_fitted_and_the_verdicts_stay(dl):
    recs = [_rec(i, "dev" if i < 10 else "test", "replacement" if i % 2 else "ok", math.nan) for i in range(14)]
    rules, fit, applied, after = dl.fit_and_apply(recs)
    assert rules == [] and applied == {}
    assert [r["verdict"] for r in after] == ["ok"] * 14


def test_suspicion_turns_low_is_bad_columns(dl):
    recs = [{"rcs": 0.2, "cfd": 0.3}]
    assert dl.suspicion(recs, "rcs")[0]["rcs"] == -0.2 and dl.suspicion(recs, "cfd")[0]["cfd"] == 0.3
    assert recs[0]["rcs"] == 0.2


def test_learned_metrics_on_tiny_random_networks_score_a_batch(dl):
    from bench.types import EvalBatch

    mets = dl.learned_metrics(["remove", "remove_crop", "rcs"], tiny_random=True)
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 64, 64, generator=g)
    mask = torch.zeros(1, 1, 64, 64, dtype=torch.bool)
    mask[..., 20:44, 16:40] = True
    b = EvalBatch(sample_ids=["a"], output=img, raw=img, input=img, blanked=img, mask=mask, gt=torch.zeros_like(img),
                  has_gt=torch.zeros(1, dtype=torch.bool), raw_sizes=[(64, 64)], model_sizes=[(64, 64)],
                  input_sizes=[(64, 64)], nonfinite=torch.zeros(1))
    got = {k: v for d in mets.values() for k, v in d.detect(b).items()}
    assert {"remove", "remove_crop", "rcs"} <= set(got)
    assert all(np.isfinite(got[k]).all() for k in ("remove", "remove_crop", "rcs"))
    with pytest.raises(SystemExit, match="unknown column 'lpips'"):
        dl.learned_metrics(["lpips"], tiny_random=True)


def test_pretrained_weights_missing_offline_stop_at_once_naming_the_file(dl, tmp_path, monkeypatch):
    from bench.errors import BenchError

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(BenchError) as e:
        dl.learned_metrics(["rcs"], weights_dir=str(tmp_path / "none"))
    assert "dinov2-giant.config.json" in str(e.value) and "offline" in str(e.value)
