"""The learned replacement detector (``replacement-features``: DINOv2 / CLIP patch features) on a GPU, through the
runner, with random weights (issue 12, item 6).

    python benchmarks/features_gpu.py                  # on a CUDA machine: the figures are kept
    python benchmarks/features_gpu.py --cpu-plumbing   # the same code on the CPU: checks the script, keeps nothing

1. ``bench run`` of a suite with two classical backends (OpenCV Telea, mean fill) on ``synthetic`` scenes with box
   masks and the weight-free ``replacement`` detector: generation and the weight-free scores.
2. The same suite with ``replacement-features`` (``dinov2-small``) added, run again: only the new detector is
   scored (no backend loads, no sample is generated again: the manifest's counts are checked). Its wall time,
   start-up included, gives images/s through the runner.
3. In this process, the detector alone: ``detect`` on batches of the suite's batch size, CUDA-synchronised, best of
   ``--repeat``, for a DINOv2-shaped and a CLIP-shaped network.

Every network here is the small random ViT that ``weights: random`` suites get (4 layers, width 384: the figures
are the pipeline's and the device's, not those of DINOv2-small's 12 layers, and the scores mean nothing). Checks:
every sample has a finite ``replacement_features_score``, and the provenance names random weights and the device.
Exits 1 when a check fails, 2 without CUDA (unless ``--cpu-plumbing``).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, bench_run, case_batches, gpu_device, repo_env, save  # noqa: E402

sys.path.insert(0, str(ROOT))


def suite(out: Path, device: str, n: int, res: int, batch: int, features: bool) -> dict:
    dets: list = ["replacement"]
    if features:
        dets.append({"type": "replacement-features", "model": "dinov2-small"})
    return {"name": "features-gpu", "output_dir": str(out), "device": device, "resolution": res,
            "batch_size": batch, "seed": 0, "weights": "random", "cache_dir": str(out / "cache"),
            "backends": ["opencv-telea", "mean-fill"], "datasets": [{"type": "synthetic", "n": n}],
            "masks": ["box"], "metrics": ["psnr"], "detectors": dets}


def detector_alone(family: str, device, n: int, res: int, batch: int, repeat: int) -> float:
    """Images/s of ``detect`` on the calibration set's mix of fills and holes (as ``detectors_throughput.py``),
    synchronised around each pass, best of ``repeat``."""
    import torch

    from bench.detectors.features import FeatureReplacementDetector
    from bench.types import RunContext

    det = FeatureReplacementDetector(model="dinov2-small" if family == "dinov2" else "clip-vit-base-patch16",
                                     batch_size=batch)
    det.setup(RunContext(device=device, weights="random", seed=0))
    batches = case_batches(n, res, batch)

    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for b in batches:
                det.detect(b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    once()  # warm-up: CUDA context, kernels
    return n / min(once() for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="samples per cell")
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", default=None, help="keep the run folder here (default: a temporary one)")
    ap.add_argument("--cpu-plumbing", action="store_true",
                    help="run the same code on the CPU to check the script (no figures are saved)")
    args = ap.parse_args(argv)
    import torch
    import yaml

    device = gpu_device(args.cpu_plumbing, "features_gpu")
    if device is None:
        return 2
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="inpaint-bench-features-gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    p = Printer()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU (plumbing check)"
    p(f"replacement-features (random small ViT) on {name}: Telea + mean fill, synthetic n={args.n} at {args.res} px, "
      f"box masks, batch {args.batch}")
    failures: list[str] = []
    results: dict = {"n": args.n, "res": args.res, "batch": args.batch, "device": str(device)}
    try:
        path = out / "suite.yaml"
        path.write_text(yaml.safe_dump(suite(out, device.type, args.n, args.res, args.batch, False)))
        first = bench_run(path, "--no-report")
        path.write_text(yaml.safe_dump(suite(out, device.type, args.n, args.res, args.batch, True)))
        second = bench_run(path, "--no-report")
        run_dir = out / "features-gpu"
        man = json.loads((run_dir / "manifest.json").read_text())
        c = man["counts"]
        cells = 2
        results["runner"] = {"first_run_s": first, "add_features_s": second, "counts": c,
                             "img_s_through_runner": cells * args.n / second}
        p(f"  bench run, generation + weight-free replacement   {first:7.1f} s")
        p(f"  bench run again, replacement-features added      {second:7.1f} s  ({cells * args.n / second:.1f} img/s "
          f"through the runner, start-up included; backend loads {c['backend_loads']}, generated {c['generated']}, "
          f"scored {c['scored']})")
        if c["backend_loads"] or c["generated"]:
            failures.append(f"the second run loaded a backend or generated samples: {c}")
        csv_path = out / "per_sample.csv"
        subprocess.run([sys.executable, "-m", "bench", "export", str(run_dir), "--per-sample", str(csv_path)],
                       cwd=ROOT, env=repo_env(), check=True, capture_output=True)
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        vals = [float(r.get("replacement_features_score") or "nan") for r in rows]
        finite = sum(math.isfinite(v) for v in vals)
        results["scores_finite"] = finite
        results["rows"] = len(rows)
        p(f"  per-sample rows {len(rows)}, finite replacement_features_score {finite}")
        if len(rows) != cells * args.n or finite != len(rows):
            failures.append(f"expected {cells * args.n} rows with finite scores, got {len(rows)} / {finite}")
        det_prov = man["detectors"].get("replacement-features", {})
        results["provenance"] = {"detector_weights": det_prov.get("weights"), "device": man["device"],
                                 "comparable": man.get("comparable")}
        p(f"  manifest: detector weights {det_prov.get('weights')!r}, device {man['device'].get('device')!r}, "
          f"comparable {man.get('comparable')}")
        if det_prov.get("weights") != "random" or man["device"].get("device") != device.type \
                or man.get("comparable") is not False:
            failures.append("the manifest does not say random weights on this device, non-comparable")
        for family in ("dinov2", "clip"):
            ips = detector_alone(family, device, args.n, args.res, args.batch, args.repeat)
            results[f"{family}_detector_img_s"] = ips
            p(f"  detect alone, {family + '-shaped':14s} random ViT       {ips:7.1f} img/s")
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    for msg in failures:
        p(f"FAILED: {msg}")
    results["failures"] = failures
    if args.cpu_plumbing:
        print("(--cpu-plumbing: nothing saved)")
    else:
        print(f"wrote {save('features_gpu', results, p.lines)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
