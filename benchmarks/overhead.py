"""Harness overhead (issue 10): a whole run's wall time over the model's own time.

A tiny random SD-inpainting pipeline at 20 steps through the whole run: generation and scoring with psnr, ssim,
lpips and fid (random-weight networks: offline here), and the blur, replacement, noop, black and outside_drift
detectors. Printed: the in-process ``Runner.run()`` wall time (imports and Python start-up excluded; network
loading included), the model's own time (the sum of the timed backend calls, ``latency_ms`` x rows), and their
ratio. On a GPU it runs once plainly and once with ``overlap: true`` (scoring on its own stream while the model
runs); on CPU overlap does not apply (it is ignored there: a scoring thread would share the model's cores).

Usage::

    python benchmarks/overhead.py                   # CPU here: 32 samples at 256 px
    python benchmarks/overhead.py --device cuda --n 128 --resolution 512
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, save  # noqa: E402

sys.path.insert(0, str(ROOT))


def one(out: Path, n: int, res: int, device: str, overlap: bool, batch_size: int) -> dict:
    from bench.config import parse_suite
    from bench.runner import Runner

    suite = parse_suite({
        "name": "overhead", "output_dir": str(out), "device": device, "resolution": res, "batch_size": batch_size,
        "weights": "random", "cache_dir": str(out / "cache"), "overlap": overlap,
        "backends": [{"type": "python", "name": "tiny-sd", "target": "tests.tiny_models:tiny_backend",
                      "kwargs": {"kind": "sd", "steps": 20}}],
        "datasets": [{"type": "synthetic", "n": n}], "masks": ["box"],
        "metrics": ["psnr", "ssim", "lpips", "fid"],
        "detectors": ["blur", "replacement", "noop", "black", "outside_drift"],
    })
    t0 = time.perf_counter()
    run_dir = Runner(suite, progress=False, fresh=True).run()
    wall = time.perf_counter() - t0
    con = sqlite3.connect(str(run_dir / "records.sqlite"))
    model_ms, rows = con.execute("SELECT SUM(latency_ms), COUNT(*) FROM outputs WHERE error IS NULL").fetchone()
    con.close()
    return {"overlap": overlap, "wall_s": wall, "model_s": model_ms / 1e3, "rows": rows,
            "ratio": wall / (model_ms / 1e3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    import torch

    p = Printer()
    dev = args.device
    p(f"overhead: tiny SD (20 steps), synthetic n={args.n} at {args.resolution} px, batch {args.batch_size}, "
      f"{dev}{' (' + torch.cuda.get_device_name(0) + ')' if dev.startswith('cuda') else ''}; psnr, ssim, lpips, "
      f"fid + 5 detectors")
    res = []
    out = Path(tempfile.mkdtemp(prefix="inpaint-bench-overhead-"))
    try:
        for overlap in ([False, True] if dev.startswith("cuda") else [False]):
            r = one(out, args.n, args.resolution, dev, overlap, args.batch_size)
            res.append(r)
            p(f"  overlap {str(overlap):<5}: run {r['wall_s']:.1f} s, model {r['model_s']:.1f} s, "
              f"harness wall / model time {r['ratio']:.2f}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    name = "overhead_gpu" if dev.startswith("cuda") else "overhead_cpu"
    print(f"wrote {save(name, {'n': args.n, 'resolution': args.resolution, 'device': dev, 'runs': res}, p.lines)}")


if __name__ == "__main__":
    main()
