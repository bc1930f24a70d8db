"""Honest CPU timings (issue 10, item 6): per-batch latency of a fixed CPU workload through the runner.

A tiny random SD-inpainting pipeline at 20 steps (64 px; batch 4; 3 cells of 10, 7 and 5 samples, so every cell
ends with a smaller batch) is timed

* alone: the backend called directly, in this process, before any run (the reference);
* through the runner with its CPU defaults (samples load on the runner's thread; nothing runs beside the clock);
* through the runner with ``workers: 2`` (loader threads, what the default used to be).

and a micro-benchmark shows the mechanism: a loop of small matrix products on the main thread, timed with no
other thread, with two idle threads that earlier ran a torch op (each got an OpenMP team), and after they exited.

Usage::

    python benchmarks/cpu_timing.py
"""
from __future__ import annotations

import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, save  # noqa: E402

sys.path.insert(0, str(ROOT))


def matmul_loop_ms() -> float:
    import torch

    a = torch.full((256, 256), 0.01)
    t0 = time.perf_counter()
    for _ in range(120):
        a = torch.tanh(a @ a)
    return (time.perf_counter() - t0) * 1e3


def micro(p: Printer) -> dict:
    import torch

    def load(_):
        x = torch.rand(1, 3, 512, 512)
        return torch.nn.functional.interpolate(x, size=(300, 300), mode="bilinear").sum().item()

    alone = statistics.median(matmul_loop_ms() for _ in range(5))
    ex = ThreadPoolExecutor(2)
    list(ex.map(load, range(8)))
    time.sleep(0.2)
    idle = statistics.median(matmul_loop_ms() for _ in range(5))
    ex.shutdown()
    time.sleep(0.2)
    after = statistics.median(matmul_loop_ms() for _ in range(5))
    p(f"micro: 120 small matrix products on the main thread: alone {alone:.1f} ms; with 2 idle threads that ran "
      f"a torch resize {idle:.1f} ms ({idle / alone:.2f}x); after they exited {after:.1f} ms")
    return {"alone_ms": alone, "idle_threads_ms": idle, "after_exit_ms": after}


def through_runner(out: Path, workers: int | None) -> list[dict]:
    from bench.config import parse_suite
    from bench.runner import Runner

    d = {"name": f"w{workers}", "output_dir": str(out), "device": "cpu", "resolution": 64, "batch_size": 4,
         "backends": [{"type": "python", "name": "tiny-sd", "target": "tests.tiny_models:tiny_backend",
                       "kwargs": {"kind": "sd", "steps": 20}}],
         "datasets": [{"type": "synthetic", "n": 10}, {"type": "synthetic", "n": 7, "name": "s7", "seed": 1},
                      {"type": "synthetic", "n": 5, "name": "s5", "seed": 2}],
         "masks": ["box"], "metrics": ["psnr", "ssim"], "detectors": ["blur"]}
    if workers is not None:
        d["workers"] = workers
    run_dir = Runner(parse_suite(d), progress=False, fresh=True).run()
    con = sqlite3.connect(str(run_dir / "records.sqlite"))
    rows = con.execute("SELECT gen_key, latency_ms, batch_size, created FROM outputs ORDER BY created").fetchall()
    con.close()
    batches = []
    for gk, lat, bs, created in rows:
        if not batches or batches[-1]["created"] != created:
            batches.append({"cell": gk.split(".")[1], "per_image_ms": lat, "batch_size": bs, "created": created})
    return batches


def main() -> None:
    import torch

    from tests.tiny_models import tiny_backend

    p = Printer()
    p(f"CPU timing: torch {torch.__version__}, {torch.get_num_threads()} threads")
    res = {"micro": micro(p)}
    be = tiny_backend("sd", steps=20)
    from bench.types import RunContext

    be.setup(RunContext(device=torch.device("cpu")))
    x = torch.rand(4, 3, 64, 64)
    m = torch.zeros(4, 1, 64, 64, dtype=torch.bool)
    m[..., 16:40, 16:40] = True
    gens = [torch.Generator().manual_seed(i) for i in range(4)]
    be.inpaint(x, m, gens)
    alone = []
    for _ in range(5):
        t0 = time.perf_counter()
        be.inpaint(x, m, gens)
        alone.append((time.perf_counter() - t0) * 1e3 / 4)
    res["alone_per_image_ms"] = statistics.median(alone)
    p(f"tiny SD alone: {res['alone_per_image_ms']:.1f} ms per image (batch 4, median of 5)")
    out = Path(tempfile.mkdtemp(prefix="inpaint-bench-cputiming-"))
    try:
        for label, workers in (("runner, CPU defaults (workers 0)", None), ("runner, workers: 2", 2)):
            b = through_runner(out, workers)
            per = [x["per_image_ms"] for x in b]
            med = statistics.median(per)
            last = [x["per_image_ms"] for x in b if x["batch_size"] < 4]
            res[f"workers_{workers}"] = {"batches": b, "median_ms": med, "max_ms": max(per)}
            p(f"{label}: per-image latency per batch median {med:.1f} ms (x{med / res['alone_per_image_ms']:.2f} "
              f"of alone), min {min(per):.1f}, max {max(per):.1f}; last (smaller) batches "
              + ", ".join(f"{v:.1f}" for v in last) + " ms")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"wrote {save('cpu_timing', res, p.lines)}")


if __name__ == "__main__":
    main()
