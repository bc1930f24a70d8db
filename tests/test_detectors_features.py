"""The feature variant of ``replacement``: plumbing with tiny random DINOv2 / CLIP models built from configs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.errors import WeightsError
from bench.types import RunContext
from tests.test_detectors import batch, box_mask, photo, smooth

transformers = pytest.importorskip("transformers")


def tiny(kind: str):
    torch.manual_seed(0)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=8,
                  image_size=64)
    if kind == "dinov2":
        return transformers.Dinov2Model(transformers.Dinov2Config(**common))
    return transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**common))


@pytest.mark.parametrize("kind", ["dinov2", "clip"])
def test_loads_a_local_folder_and_scores(tmp_path, kind):
    from bench.detectors.features import FeatureReplacementDetector

    folder = tmp_path / "weights" / f"tiny-{kind}"
    tiny(kind).save_pretrained(folder)
    det = FeatureReplacementDetector(model=f"tiny-{kind}", image_size=64, threshold=0.05)
    det.setup(RunContext(device=torch.device("cpu"), weights_dir=tmp_path / "weights"))
    assert det.family == kind and det.source == str(folder)
    b = batch(smooth(), box_mask(), photo())
    out = det.detect(b)
    assert out["replacement_features_score"].shape == (1,)
    assert np.isfinite(out["replacement_features_score"]).all()
    assert out["replacement_features_flag"][0] in (0.0, 1.0)
    assert out["replacement_features_flag"][0] == float(out["replacement_features_score"][0] > 0.05)
    prov = det.provenance()
    assert prov["family"] == kind and prov["weights"] == str(folder) and prov["input_side"] == 64


def test_identical_fill_scores_lower_than_foreign_patch():
    """With any fixed network, the foreign patch moves the hole's mean feature further than the true content."""
    from bench.detectors.features import FeatureReplacementDetector

    det = FeatureReplacementDetector(image_size=64)
    det.use_model(tiny("dinov2"))
    s_true = det.detect(batch(smooth(), box_mask()))["replacement_features_score"][0]
    s_foreign = det.detect(batch(smooth(), box_mask(), photo()))["replacement_features_score"][0]
    assert s_foreign > s_true
    assert math.isnan(det.detect(batch(smooth(), box_mask()))["replacement_features_flag"][0])  # no threshold


def test_missing_weights_name_the_folder(tmp_path, monkeypatch):
    from bench.detectors.features import FeatureReplacementDetector

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    det = FeatureReplacementDetector(model="dinov2-small")
    with pytest.raises(WeightsError, match="dinov2-small"):
        det.setup(RunContext(device=torch.device("cpu"), weights_dir=tmp_path))


def test_random_weights_suite_runs_without_files(tmp_path, monkeypatch):
    from bench.detectors.features import FeatureReplacementDetector

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    det = FeatureReplacementDetector(model="dinov2-small", image_size=56)
    det.setup(RunContext(device=torch.device("cpu"), weights="random", weights_dir=tmp_path))
    prov = det.provenance()
    assert prov["weights"] == "random" and prov["comparable"] is False and "random" in prov["noncomparable_reason"]
    assert np.isfinite(det.detect(batch(smooth(), box_mask(), photo()))["replacement_features_score"]).all()


def test_a_run_with_random_feature_weights_is_marked_non_comparable(tmp_path, monkeypatch):
    """Through the runner: a ``weights: random`` suite with ``replacement-features`` and no network metric scores
    every sample, and its manifest says the run is not comparable, naming the detector."""
    import json

    from bench.config import parse_suite
    from bench.runner import Runner

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    suite = parse_suite({
        "name": "rf", "output_dir": str(tmp_path), "device": "cpu", "resolution": 64, "batch_size": 2,
        "weights": "random", "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 2}],
        "masks": ["box"], "metrics": ["psnr"],
        "detectors": [{"type": "replacement-features", "model": "dinov2-small", "image_size": 56}]})
    Runner(suite).run()
    man = json.loads((tmp_path / "rf" / "manifest.json").read_text())
    assert man["detectors"]["replacement-features"]["weights"] == "random"
    assert man["comparable"] is False
    assert any("replacement-features" in r and "random" in r for r in man["noncomparable_reasons"])


def test_offline_without_its_weights_a_run_stops_before_any_output_or_leaves_it_out_when_optional(tmp_path,
                                                                                                 monkeypatch,
                                                                                                 capsys):
    """The detector loads from a local folder or the Hugging Face cache, not through bench.weights: its missing
    model was found only when scoring began, after every output had been generated, and each sample became an error
    row (its psnr lost too). It is now asked before any work, like the metrics' weights files."""
    import yaml

    from bench.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    spec = {"name": "rf", "output_dir": str(tmp_path / "out"), "device": "cpu", "resolution": 32,
            "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"],
            "metrics": ["psnr"], "detectors": [{"type": "replacement-features", "model": "dinov2-small"}]}
    p = tmp_path / "rf.yaml"
    p.write_text(yaml.safe_dump(spec))
    assert main(["validate", str(p)]) == 2
    assert "dinov2-small" in capsys.readouterr().err
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 2
    assert "replacement-features" in capsys.readouterr().err and not (tmp_path / "out" / "rf" / "generations").exists()
    spec["detectors"][0]["optional"] = True
    p.write_text(yaml.safe_dump(spec))
    assert main(["validate", str(p)]) == 0
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    assert "left out replacement-features" in capsys.readouterr().out
    from bench.report.aggregate import load_run, summarize

    df = summarize(load_run(tmp_path / "out" / "rf"), ci=False)
    assert df["n"].tolist() == [2] and df["psnr_in"].notna().all()
