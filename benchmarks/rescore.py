"""Generate once, score many (issue 10): what adding a metric to a finished run costs, and what a run stores.

1. A run of a tiny random SD-inpainting pipeline (20 steps) and OpenCV Telea on ``synthetic`` scenes with psnr,
   ssim and the blur / noop detectors: the original run.
2. The same suite with ``lpips`` added, run again: the time to add one metric (no backend is loaded; the manifest's
   counts are checked).
3. The same with ``fid`` added (per-sample Inception features of outputs and references).

Each step is a ``bench run`` subprocess (start-up included). Metric networks use random weights (``weights:
random``: offline here; the timings are the networks' all the same). Then the bytes stored per (cell, sample):
the output PNG, the store's rows, the outputs' own feature vectors, and the reference features, which are stored
once per dataset × mask sample (not per backend).

Usage::

    python benchmarks/rescore.py            # 24 samples at 128 px
    python benchmarks/rescore.py --n 64 --resolution 256
"""
from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Printer, bench_run, save  # noqa: E402


def suite(out: Path, n: int, res: int, metrics: list, detectors: list) -> dict:
    return {
        "name": "rescore", "output_dir": str(out), "device": "cpu", "resolution": res, "batch_size": 4, "seed": 0,
        "weights": "random", "cache_dir": str(out / "cache"),
        "backends": [{"type": "python", "name": "tiny-sd", "target": "tests.tiny_models:tiny_backend",
                      "kwargs": {"kind": "sd", "steps": 20}},
                     {"type": "opencv-telea", "name": "telea"}],
        "datasets": [{"type": "synthetic", "n": n}], "masks": ["box"],
        "metrics": metrics, "detectors": detectors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    import yaml

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="inpaint-bench-rescore-"))
    p = Printer()
    p(f"rescore benchmark: tiny SD (20 steps) + Telea, synthetic n={args.n} at {args.resolution} px, box masks, CPU")
    steps = [("original run (psnr, ssim, blur, noop)", ["psnr", "ssim"]),
             ("add lpips", ["psnr", "ssim", "lpips"]),
             ("add fid (Inception features)", ["psnr", "ssim", "lpips", "fid"])]
    results: dict = {"n": args.n, "resolution": args.resolution, "steps": []}
    try:
        for label, metrics in steps:
            path = out / "suite.yaml"
            path.write_text(yaml.safe_dump(suite(out, args.n, args.resolution, metrics, ["blur", "noop"])))
            wall = bench_run(path, "--no-report")
            man = json.loads((out / "rescore" / "manifest.json").read_text())
            c = man["counts"]
            results["steps"].append({"step": label, "wall_s": wall, **c})
            p(f"  {label:<40} {wall:7.1f} s   backend loads {c['backend_loads']}, samples generated "
              f"{c['generated']}, scored {c['scored']}")
        run_dir = out / "rescore"
        con = sqlite3.connect(str(run_dir / "records.sqlite"))
        n_rows = con.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
        n_inputs = con.execute("SELECT COUNT(DISTINCT sample_id) FROM ref_features").fetchone()[0]
        feat = con.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM features").fetchone()[0]
        ref = con.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM ref_features").fetchone()[0]
        vals = con.execute("SELECT COALESCE(SUM(LENGTH(vals)), 0) FROM scores").fetchone()[0]
        con.close()
        con = None
        db = sum(f.stat().st_size for f in run_dir.glob("records.sqlite*"))
        pngs = [f.stat().st_size for f in (run_dir / "generations").rglob("*.png")]
        per = {"png_bytes": sum(pngs) / len(pngs), "store_bytes": db / n_rows, "features_bytes": feat / n_rows,
               "score_values_bytes": vals / n_rows,
               "reference_features_bytes_per_input_sample": ref / max(1, n_inputs),
               "cells": n_rows // args.n}
        results["bytes_per_cell_sample"] = per
        first = results["steps"][0]["wall_s"]
        p("")
        p(f"adding lpips took {results['steps'][1]['wall_s']:.1f} s, adding fid "
          f"{results['steps'][2]['wall_s']:.1f} s, vs {first:.1f} s for the original run "
          f"({results['steps'][1]['wall_s'] / first:.2f}x and {results['steps'][2]['wall_s'] / first:.2f}x)")
        p(f"bytes per (cell, sample) at {args.resolution} px: output PNG {per['png_bytes'] / 1024:.1f} KiB; "
          f"records.sqlite {per['store_bytes'] / 1024:.1f} KiB in all, of which the outputs' own features "
          f"{per['features_bytes'] / 1024:.1f} KiB (2 x 2048 float32: full image and hole crop) and score values "
          f"{per['score_values_bytes']:.0f} B; reference features {per['reference_features_bytes_per_input_sample'] / 1024:.1f} "
          f"KiB per dataset x mask sample, stored once for all {per['cells']} backends")
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(f"wrote {save('rescore', results, p.lines)}")


if __name__ == "__main__":
    main()
