"""Images per second of the weight-free failure detectors at 256 px on CPU (together and one by one).

    python benchmarks/detectors_throughput.py [--n 64] [--size 256] [--batch 16] [--threads N] [--repeat 5]
    python benchmarks/detectors_throughput.py --runs 8 --name detectors_throughput_runs   # the spread
    python benchmarks/detectors_throughput.py --size 2048 --n 16 --batch 4 --repeat 2 [--work-side 0]  # large frames

The batch is a realistic mix from the calibration set (good, blurred, pasted, removal fills; several mask
strategies). Timing: ``time.perf_counter`` around ``detect`` only (the images are already in memory), best of
``--repeat`` runs after one warm-up pass; "together" is one pass of all detectors over every batch, as the runner calls them.
``--runs K`` measures "together" K times over (each a best of ``--repeat``) and prints the lowest, median and highest:
how far one figure moves with the machine's load.
"""
from __future__ import annotations

import argparse
import inspect
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="images (default 64)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: library default)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1, help="measure 'together' this many times and print the spread")
    ap.add_argument("--name", default="detectors_throughput", help="results file name (keeps an earlier run's file)")
    ap.add_argument("--work-side", type=int, default=None,
                    help="work_side of blur, replacement and incomplete (default: theirs; 0: the frame's own size)")
    args = ap.parse_args()

    import cv2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    from _common import Printer, case_batches, detector_pass, save

    from bench.detectors import WEIGHT_FREE
    from bench.registry import DETECTORS

    batches = case_batches(args.n, args.size, args.batch)

    def make(name: str):  # (--work-side goes to the detectors that have a working scale)
        cls = DETECTORS.get(name)
        scaled = args.work_side is not None and "work_side" in inspect.signature(cls).parameters
        return cls(work_side=args.work_side or None) if scaled else cls()

    dets = {name: make(name) for name in WEIGHT_FREE}

    def bench(names) -> float:
        return args.n / min(detector_pass(dets, names, batches)[0] for _ in range(args.repeat))

    print = Printer()  # noqa: A001 - every line is also saved with the results
    bench(WEIGHT_FREE)  # warm-up: first-call imports, caches, page faults
    side = "" if args.work_side is None else f", work_side {args.work_side or 'null (own size)'}"
    print(f"detector throughput, {args.n} images at {args.size} px, batch {args.batch}{side}, CPU "
          f"({platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"OpenCV threads {cv2.getNumThreads()})")
    if args.runs > 1:
        runs = [bench(WEIGHT_FREE) for _ in range(args.runs)]
        lo, mid, hi = min(runs), float(statistics.median(runs)), max(runs)
        print(f"  all weight-free together, {args.runs} runs (each best of {args.repeat}): lowest {lo:.1f}, "
              f"median {mid:.1f}, highest {hi:.1f} img/s")
        print("  runs: " + " ".join(f"{r:.1f}" for r in runs))
        path = save(args.name, {"n": args.n, "size": args.size, "batch": args.batch, "repeat": args.repeat,
                                "together_img_s_runs": runs, "lowest": lo, "median": mid, "highest": hi},
                    print.lines)
        sys.stdout.write(f"wrote {path}\n")
        return 0
    together = bench(WEIGHT_FREE)
    print(f"  {'all weight-free together':28s} {together:8.1f} img/s")
    each = {}
    for name in WEIGHT_FREE:
        each[name] = bench([name])
        print(f"  {name:28s} {each[name]:8.1f} img/s")
    path = save(args.name, {"n": args.n, "size": args.size, "batch": args.batch,
                                         "together_img_s": together, "per_detector_img_s": each}, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
