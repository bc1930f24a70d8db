"""benchmarks/detectors_photos.py's results files and the docs' tables made of them (benchmarks/figures.py): a run
at another size or crop count than the documented 256 px and 40 crops is kept apart from the documented figures."""
from __future__ import annotations

import json
import sys

from tests.scripts import ROOT, load

SPLITS = ("dev", "test", "fresh", "fresh2")
DETS = ("blur", "replacement", "replacement (reference-free)")


def _split(p: float) -> dict:
    return {"cases": 1, "flag_rate_by_kind": {},
            "detectors": {d: {"pos": 1, "neg": 1, "precision": p, "recall": p, "auroc": p, "precision_ci": [p, p],
                              "recall_ci": [p, p]} for d in DETS}}


def test_a_run_at_another_size_or_crop_count_does_not_replace_the_documented_file(tmp_path, monkeypatch):
    dp = load("benchmarks/detectors_photos.py")
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    monkeypatch.setattr(dp, "split_results", lambda split, n, seed, size: _split(0.95))
    monkeypatch.setattr(dp, "classical_rates", lambda n, seed, size: {})
    for args in ([], ["--size", "128"], ["--seed", "5"], ["--seed", "5", "--n", "20"], ["--seed", "5", "--size",
                                                                                           "384", "--n", "16"]):
        monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "detectors_photos.py"), *args])
        assert dp.main() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "detectors_photos.json", "detectors_photos_128px.json", "detectors_photos_seed5.json",
        "detectors_photos_seed5_384px_n16.json", "detectors_photos_seed5_n20.json"]
    seed0 = json.loads((tmp_path / "detectors_photos.json").read_text())["results"]
    assert (seed0["seed"], seed0["size"], seed0["n"]) == (0, 256, 40)  # the documented figure was not overwritten


def test_the_docs_tables_leave_out_photo_runs_of_another_size(tmp_path, monkeypatch):
    fig = load("benchmarks/figures.py")
    monkeypatch.setattr(fig, "RESULTS", tmp_path)

    def write(name: str, seed: int, size: int, n: int, p: float, rate: float) -> None:
        res = {"seed": seed, "size": size, "n": n, "thresholds_version": 22, "thresholds_sha256": "x",
               "splits": {s: _split(p) for s in SPLITS},
               "classical": {"biharmonic": {"n": 1, "replacement_rate": rate, "replacement_free_rate": rate,
                                            "blur_rate": 1.0}}}
        (tmp_path / f"{name}.json").write_text(json.dumps({"date": "d", "versions": {"git": "g"}, "results": res}))

    write("detectors_photos", 0, 256, 40, 0.95, 0.01)
    write("detectors_photos_seed1", 1, 256, 40, 0.93, 0.02)
    write("detectors_photos_seed5_128px", 5, 128, 40, 0.5, 0.3)  # another size: not a figure of the docs
    write("detectors_photos_seed6_n20", 6, 256, 20, 0.5, 0.3)  # another crop count: neither
    table = fig.photo_seeds_block()
    assert [r.split("|")[1].strip() for r in table.splitlines() if r.startswith("| ") and "seed" not in r] == \
        ["0"] * 4 + ["1"] * 4
    assert "0.500" not in table and "0.300" not in table
    summary = fig.detectors_photos_summary_block()
    assert "seeds 0–1, 40 crops per split" in summary
    assert "at least 0.930" in summary and "at most 0.020" in summary
