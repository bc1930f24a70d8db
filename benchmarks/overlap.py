"""Overlapped scoring: the same suite with ``overlap: false`` and ``overlap: true``; prints both wall times, the
per-image latency the runner recorded, and checks that every metric value is the same.

    python benchmarks/overlap.py                       # configs/gpu_smoke.yaml (CUDA when present)
    python benchmarks/overlap.py SUITE.yaml --limit 64
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="?", default=str(ROOT / "configs" / "gpu_smoke.yaml"))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)

    from _common import Printer, save

    from bench.config import load_suite
    from bench.runner import Runner
    from bench.store import RunStore

    print = Printer()  # noqa: A001 - every line is also saved with the results

    out = Path(tempfile.mkdtemp(prefix="overlap-"))
    results = {}
    for overlap in (False, True):
        suite = load_suite(args.suite)
        suite.settings = {**copy.deepcopy(suite.settings), "overlap": overlap, "output_dir": str(out)}
        t0 = time.perf_counter()
        run_dir = Runner(suite, run_id=f"overlap-{overlap}", limit=args.limit, progress=False).run()
        wall = time.perf_counter() - t0
        with RunStore(run_dir / "records.sqlite") as s:
            recs = s.records()
        results[overlap] = (wall, recs)
        lat = statistics.median(r["latency_ms"] for r in recs if r["latency_ms"] is not None)
        print(f"overlap={str(overlap):<5}  wall {wall:7.2f} s  {len(recs)} rows  median latency {lat:8.2f} ms/img  "
              f"errors {sum(1 for r in recs if r['error'])}")
    skip = {"latency_ms", "wall_ms", "cell_key"}

    def key(r):
        return (r["backend"], r["dataset"], r["mask"], r["sample_id"])

    a = {key(r): r for r in results[False][1]}
    b = {key(r): r for r in results[True][1]}
    diffs = 0
    for k, ra in a.items():
        rb = b.get(k, {})
        for f, v in ra.items():
            if f in skip:
                continue
            w = rb.get(f)
            same = (v == w) or (isinstance(v, float) and isinstance(w, float) and
                                (math.isclose(v, w, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(v) and math.isnan(w))))
            diffs += not same
    print(f"speed-up {results[False][0] / results[True][0]:.2f}x; rows equal: {diffs == 0 and a.keys() == b.keys()} "
          f"({diffs} differing values)")
    import torch

    if torch.cuda.is_available():  # overlap applies on CUDA only
        sys.stdout.write(f"wrote {save('overlap_gpu', {'wall_plain_s': results[False][0], 'wall_overlap_s': results[True][0], 'differing_values': diffs}, print.lines)}\n")
    return 0 if diffs == 0 and a.keys() == b.keys() else 1


if __name__ == "__main__":
    sys.exit(main())
