"""Paper protocols (issue 11): folder tasks, full-image metrics through a run, sample-size honesty in every report
format, the dilation robustness curve, paper-shaped LaTeX that fits the page, and the paper suites."""
from __future__ import annotations

import csv
import json
import os
import math
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def folder(root: Path, n: int = 4, size: int = 48, masks: bool = True, gt: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    if masks:
        (root / "masks").mkdir()
    if gt:
        (root / "gt").mkdir()
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        img = np.stack([(xx * 4 + i * 9) % 256, (yy * 3) % 256, ((xx + yy) * 2) % 256], -1).astype(np.uint8)
        img = np.clip(img.astype(int) + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"im{i}.png"), img)
        if masks:
            m = np.zeros((size, size), np.uint8)
            m[10 + i:26 + i, 8:30] = 255
            cv2.imwrite(str(root / "masks" / f"im{i}.png"), m)
        if gt:
            cv2.imwrite(str(root / "gt" / f"im{i}.png"), img)
    return root


def suite(tmp_path: Path, name: str = "p", **kw) -> Path:
    d = {"name": name, "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2,
         "backends": ["opencv-telea"], "masks": ["given"], "metrics": ["psnr", "ssim"]}
    d.update(kw)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def records(run_dir: Path) -> list[dict]:
    from bench.report.aggregate import load_run

    return load_run(run_dir).records()


# ----------------------------------------------------------------------------------------------------------------
# folder tasks
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("one_thread")
def test_a_reconstruction_folder_gives_inside_and_full_image_metrics(tmp_path):
    root = folder(tmp_path / "recon")
    p = suite(tmp_path, datasets=[{"type": "folder", "root": str(root), "task": "reconstruction"}],
              weights="random", metrics=["psnr", {"type": "ssim", "full": "both"}, {"type": "lpips", "crop": False}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = records(tmp_path / "results" / "p")
    assert len(recs) == 4
    for r in recs:
        assert r["error"] is None
        assert r["psnr_out"] == math.inf  # Telea leaves the outside untouched
        for k in ("psnr_in", "psnr_full", "ssim_full", "ssim_full_lama", "lpips_full"):
            assert math.isfinite(r[k]), k
        assert r["psnr_full"] > r["psnr_in"]  # the composite is exact outside the hole


def test_a_removal_folder_without_ground_truth_refuses_inside_metrics(tmp_path, capsys):
    root = folder(tmp_path / "rm")
    p = suite(tmp_path, datasets=[{"type": "folder", "root": str(root), "task": "removal"}])
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "metrics[0]: 'psnr' scores against ground truth" in err and "regions: [out]" in err
    p = suite(tmp_path, datasets=[{"type": "folder", "root": str(root), "task": "removal"}],
              metrics=[{"type": "psnr", "regions": ["out"]}])
    assert main(["validate", str(p)]) == 0
    # and a folder with masks/ but no gt/ must say which task it is
    p = suite(tmp_path, datasets=[{"type": "folder", "root": str(root)}])
    assert main(["validate", str(p)]) == 2
    assert "datasets[0].task" in capsys.readouterr().err
    # with gt/ it is removal and scored against gt/
    root2 = folder(tmp_path / "rmgt", gt=True)
    p = suite(tmp_path, name="g", datasets=[{"type": "folder", "root": str(root2)}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    assert all(math.isfinite(r["psnr_in"]) for r in records(tmp_path / "results" / "g"))


def test_prepare_lama_output_loads_as_reconstruction(tmp_path):
    src = tmp_path / "lama_eval"
    src.mkdir()
    img = np.full((32, 32, 3), 120, np.uint8)
    m = np.zeros((32, 32), np.uint8)
    m[4:12, 4:12] = 255
    for i in range(3):
        cv2.imwrite(str(src / f"x{i}.png"), img)
        cv2.imwrite(str(src / f"x{i}_mask000.png"), m)
    r = subprocess.run([sys.executable, str(ROOT / "datasets" / "prepare.py"), "lama", str(src), str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["task"] == "reconstruction"
    p = suite(tmp_path, datasets=[{"type": "folder", "root": str(tmp_path / "out")}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = records(tmp_path / "results" / "p")
    assert len(recs) == 3 and all(math.isfinite(r["psnr_in"]) for r in recs)


# ----------------------------------------------------------------------------------------------------------------
# sample-size honesty
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("one_thread")
def test_small_n_set_level_metrics_are_marked_in_every_format(tmp_path, capsys):
    p = suite(tmp_path, datasets=[{"type": "synthetic", "n": 6}], masks=["box"], resolution=48, weights="random",
              cache_dir=str(tmp_path / "cache"), metrics=["psnr", {"type": "fid", "crop": False}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    run_dir = tmp_path / "results" / "p"
    assert main(["report", str(run_dir), "--format", "term,md,tex,html,csv,json"]) == 0
    term = capsys.readouterr().out
    assert "†" in term and "(n = 6 per backend)" in term and "small n" in term  # the terminal gives n in the title
    assert "† n=6" in (run_dir / "leaderboard.md").read_text()
    tex = "".join(p.read_text() for p in (run_dir / "tables").glob("*.tex"))
    assert r"$^\dagger$" in tex and "not comparable with papers" in tex
    html = (run_dir / "report.html").read_text()
    assert "† n=6" in html and "not comparable with papers" in html
    rows = list(csv.DictReader((run_dir / "summary.csv").open()))
    assert rows[0]["fid_small_n"] == "True" and rows[0]["fid_n"] in ("6", "6.0") and rows[0]["p_ids_small_n"] == "True"
    base = json.loads((run_dir / "baseline.json").read_text())
    assert "fid_small_n" in json.dumps(base)


# ----------------------------------------------------------------------------------------------------------------
# the dilation robustness curve
# ----------------------------------------------------------------------------------------------------------------
def test_dilation_sweep_by_k_in_reports_and_html(tmp_path, capsys):
    p = suite(tmp_path, backends=["opencv-telea", "mean-fill"], datasets=[{"type": "synthetic", "n": 4}],
              resolution=64, detectors=["replacement", "blur"],
              masks=["given", {"type": "dilate", "k": 3, "base": {"type": "given"}, "name": "d3"},
                     {"type": "dilate", "k": 9, "base": {"type": "given"}, "name": "d9"}, "box"])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    run_dir = tmp_path / "results" / "p"
    from bench.report.aggregate import summarize_by_dilation

    df = summarize_by_dilation(run_dir)
    assert sorted(set(df["dilate_k"])) == [0, 3, 9] and set(df["dilate_base"]) == {"given"}
    assert "box" not in set(df["mask"])  # not part of a sweep
    tel = df[df["backend"] == "opencv-telea"].sort_values("dilate_k")
    assert list(tel["hole_fraction"]) == sorted(tel["hole_fraction"])  # a bigger k, a bigger hole
    assert main(["report", str(run_dir), "--by", "dilate_k", "--format", "term,md,tex"]) == 0
    out = capsys.readouterr().out
    assert "dilate_k" in out and (run_dir / "leaderboard_by_dilation.md").is_file()
    assert main(["report", str(run_dir), "--format", "html"]) == 0
    assert "Dilation robustness: synthetic × given" in (run_dir / "report.html").read_text()
    # the same sweep scored without detectors draws the metric panel only (no empty failure-rate axes)
    from PIL import Image

    from bench.report.aggregate import load_run
    from bench.report.columns import ColumnCatalog
    from bench.report.html import _dilation_plots

    with_rates = Image.open(run_dir / "plots" / "dilation_synthetic_given.png").size
    assert main(["score", str(run_dir), "--detectors", "[]", "--no-report", "--no-progress"]) == 0
    (tmp_path / "plots").mkdir()
    rd = load_run(run_dir)
    _dilation_plots(rd, "psnr_in", ColumnCatalog(rd.manifest.get("columns")), tmp_path / "plots")
    alone = Image.open(tmp_path / "plots" / "dilation_synthetic_given.png").size
    assert alone[0] < 0.7 * with_rates[0] and alone[1] == with_rates[1]
    # a run without a sweep says so
    p2 = suite(tmp_path, name="nosweep", datasets=[{"type": "synthetic", "n": 2}], masks=["box"], resolution=32)
    assert main(["run", str(p2), "--no-progress", "--no-report"]) == 0
    assert main(["report", str(tmp_path / "results" / "nosweep"), "--by", "dilate_k"]) == 2


# ----------------------------------------------------------------------------------------------------------------
# LaTeX: paper layout and page width
# ----------------------------------------------------------------------------------------------------------------
PREAMBLE = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
            "\\begin{document}\n")


def _compile(tmp_path: Path, body: str) -> str:
    (tmp_path / "doc.tex").write_text(PREAMBLE + body + "\n\\end{document}\n", encoding="utf-8")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    return (tmp_path / "doc.log").read_text(errors="replace")


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (Debian: apt-get install texlive-latex-recommended)")
def test_default_and_paper_tables_fit_the_page(tmp_path):
    p = suite(tmp_path, backends=["opencv-telea", "opencv-ns", "mean-fill", "identity"],
              datasets=[{"type": "synthetic", "n": 4}, {"type": "synthetic", "n": 4, "name": "other", "seed": 3}],
              masks=["box", "lama-thin"], resolution=48, metrics=["psnr", {"type": "ssim", "full": "both"}],
              detectors=["blur", "replacement", "noop", "black", "outside_drift", "nan"],
              report={"tables": [{"name": "paper", "caption": "LaMa-style: methods x (dataset x mask) x metrics",
                                  "rows": "backend", "split": ["dataset", "mask"],
                                  "columns": ["psnr_full", {"key": "ssim_full_lama", "label": "SSIM"}],
                                  "split_labels": {"synthetic/box": "Synthetic, boxes",
                                                   "synthetic/lama-thin": "Synthetic, thin"}}]})
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    run_dir = tmp_path / "results" / "p"
    assert main(["report", str(run_dir), "--format", "tex"]) == 0
    paper = (run_dir / "tables" / "paper.tex").read_text()
    # the paper shape: one column group per dataset x mask (labelled, in the given order first), metrics under each
    assert paper.index("Synthetic, boxes") < paper.index("Synthetic, thin") < paper.index(r"other $\times$ box")
    assert paper.count(r"\cmidrule") == 4 and "SSIM" in paper
    # every default table (no report: section) fits too: compile them all and look for overfull boxes
    shutil.copy(run_dir / "suite.resolved.yaml", tmp_path / "keep.yaml")
    man = json.loads((run_dir / "manifest.json").read_text())
    man["report"] = None
    (run_dir / "manifest.json").write_text(json.dumps(man))
    assert main(["report", str(run_dir), "--format", "tex", "--out", str(tmp_path / "default")]) == 0
    tables = sorted((tmp_path / "default" / "tables").glob("*.tex"))
    assert len(tables) >= 8 and all(t.read_text().count("&") // t.read_text().count("\\\\") <= 8 for t in tables)
    body = "".join(t.read_text() for t in tables) + "\n\\clearpage\n" + paper
    log = _compile(tmp_path, body)
    assert "Overfull \\hbox" not in log, [ln for ln in log.splitlines() if "Overfull" in ln][:5]


# ----------------------------------------------------------------------------------------------------------------
# the paper suites
# ----------------------------------------------------------------------------------------------------------------
PAPER_SUITES = sorted((ROOT / "configs" / "papers").glob("*.yaml"))


def _stand_in(root: Path, layout: str) -> None:
    """A tiny folder with the layout a paper suite expects, so `bench validate` can run once its data is there."""
    if layout == "reconstruction":
        folder(root, n=2)
        (root / "dataset.json").write_text(json.dumps({"task": "reconstruction"}))
    elif layout == "removal":
        folder(root, n=2, gt=True)
    else:
        folder(root, n=2, masks=False)


#: COCO 2017's 80 instance categories (instances_val2017.json), so a suite's category names are checked for real
COCO_CATEGORIES = tuple(
    "person, bicycle, car, motorcycle, airplane, bus, train, truck, boat, traffic light, fire hydrant, stop sign, "
    "parking meter, bench, bird, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe, backpack, umbrella, "
    "handbag, tie, suitcase, frisbee, skis, snowboard, sports ball, kite, baseball bat, baseball glove, skateboard, "
    "surfboard, tennis racket, bottle, wine glass, cup, fork, knife, spoon, bowl, banana, apple, sandwich, orange, "
    "broccoli, carrot, hot dog, pizza, donut, cake, chair, couch, potted plant, bed, dining table, toilet, tv, "
    "laptop, mouse, remote, keyboard, cell phone, microwave, oven, toaster, sink, refrigerator, book, clock, vase, "
    "scissors, teddy bear, hair drier, toothbrush".split(", "))


def write_coco_stand_in(entry: dict, ann: Path, images: Path | None) -> None:
    """A tiny COCO-format file at ``ann`` with COCO's 80 categories: an image with one square instance of each,
    covering the middle of the entry's [min_area, max_area] (so a dataset or an object-mask pool has it), and one
    image without any; and the image folder, when given."""
    frac = (float(entry.get("min_area", 0.05)) + float(entry.get("max_area", 0.3))) / 2
    side = round(100 * frac ** 0.5)
    anns = [{"id": i, "image_id": 1, "category_id": i, "iscrowd": 0, "area": float(side * side),
             "segmentation": [[0, 0, side, 0, side, side, 0, side]]} for i in range(1, len(COCO_CATEGORIES) + 1)]
    ann.parent.mkdir(parents=True, exist_ok=True)
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "height": 100, "width": 100},
                   {"id": 2, "file_name": "b.jpg", "height": 100, "width": 100}],
        "annotations": anns, "categories": [{"id": i, "name": n} for i, n in enumerate(COCO_CATEGORIES, 1)]}))


def _coco_stand_in(entry: dict, root: Path) -> None:
    """:func:`write_coco_stand_in` under ``root``, in place of the entry's paths."""
    write_coco_stand_in(entry, root / "instances.json", root / "images")
    entry["annotations"], entry["images"] = str(root / "instances.json"), str(root / "images")


def test_paper_suites_validate_once_their_data_is_in_place(tmp_path, monkeypatch):
    assert len(PAPER_SUITES) >= 5
    from bench import weights as W

    stand_weights = tmp_path / "metric-weights"  # every known weights file, as a stand-in (validate only looks)
    stand_weights.mkdir()
    for name in W.KNOWN:
        (stand_weights / name).write_bytes(b"stand-in")
    monkeypatch.setenv("INPAINT_BENCH_WEIGHTS", str(stand_weights))
    for path in PAPER_SUITES:
        text = path.read_text()
        data = yaml.safe_load(text)
        assert "Reproduces:" in text and "Data:" in text and "Expect:" in text, path.name
        roots = []
        for i, d in enumerate(data["datasets"]):
            if d.get("type") == "folder":
                stand = tmp_path / path.stem / f"d{i}"
                _stand_in(stand, d.get("task") or ("removal" if "removal" in path.stem else "reconstruction"))
                roots.append((i, stand))
        for i, stand in roots:
            data["datasets"][i]["root"] = str(stand)
        for i, d in enumerate(data["datasets"]):
            if d.get("type") == "coco":
                _coco_stand_in(d, tmp_path / path.stem / f"coco{i}")
        for j, m in enumerate(data.get("metrics", [])):
            if isinstance(m, dict) and isinstance(m.get("reference"), dict) and m["reference"].get("type") == "coco":
                _coco_stand_in(m["reference"], tmp_path / path.stem / f"ref_coco{j}")
                continue
            if isinstance(m, dict) and isinstance(m.get("reference"), dict):  # a named reference set: a folder
                ref = tmp_path / path.stem / "ref"
                if not ref.exists():
                    folder(ref, n=2, masks=False)
                m["reference"]["root"] = str(ref)
        for b in data["backends"]:  # and their weights (validate asks every backend, loading nothing)
            if isinstance(b, dict) and b.get("type") == "lama":
                b["path"] = str(tmp_path / "weights" / "big-lama.pt")
                (tmp_path / "weights").mkdir(exist_ok=True)
                (tmp_path / "weights" / "big-lama.pt").write_bytes(b"stand-in")
            elif isinstance(b, dict) and b.get("type") == "command":  # its program, as a stand-in on PATH
                bin_ = tmp_path / "bin"
                bin_.mkdir(exist_ok=True)
                prog = bin_ / str(b["command"]).split()[0]
                prog.write_text("#!/bin/sh\n")
                prog.chmod(0o755)
                monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}")
            elif isinstance(b, dict) and b.get("type") in ("diffusers", "powerpaint"):
                folder_ = tmp_path / "weights" / str(b.get("name", b["type"]))
                folder_.mkdir(parents=True, exist_ok=True)
                (folder_ / "model_index.json").write_text("{}")
                b["model"] = str(folder_)
        data["output_dir"] = str(tmp_path / "results")
        p = tmp_path / path.name
        p.write_text(yaml.safe_dump(data))
        assert main(["validate", str(p)]) == 0, path.name
        data["backends"] = [dict(b, path=str(tmp_path / "nowhere.pt")) if isinstance(b, dict) and
                            b.get("type") == "lama" else b for b in data["backends"]]
        if any(isinstance(b, dict) and b.get("type") == "lama" for b in data["backends"]):
            p.write_text(yaml.safe_dump(data))
            assert main(["validate", str(p)]) == 2, path.name  # a missing checkpoint is a validate error
