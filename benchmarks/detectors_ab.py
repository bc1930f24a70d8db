"""One detector against its own module at another git revision, in the same process, runs alternated: the cost of a
change with the machine's drift taken out (``detectors_throughput.py``'s absolute figures move by up to 2x on a
shared machine; two versions timed minutes apart cannot be compared).

    python benchmarks/detectors_ab.py --against REV [--detector replacement] [--rounds 21] [--n 64] [--size 256]

Only ``bench/detectors/<detector>.py`` is taken from ``REV`` (``git show``); the helpers it imports are the working
tree's. Both versions score the same batches (the calibration set's mix, as ``detectors_throughput.py``), once to
warm up, then ``--rounds`` times each, in alternating order; it prints images/s (median and best of the rounds) and
the median time ratio, and whether the two versions' scores agree on these batches.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def module_at(rev: str, detector: str):
    """``bench.detectors.<detector>`` as it was at ``rev``, loaded under another name inside the package."""
    import bench.detectors  # noqa: F401  (the package its relative imports resolve against)

    src = subprocess.run(["git", "show", f"{rev}:bench/detectors/{detector}.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:  # (only read while the module executes)
        path = Path(tmp) / f"{detector}_at_rev.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location(f"bench.detectors._{detector}_at_rev", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="git revision of the detector's module to compare with")
    ap.add_argument("--detector", default="replacement")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--name", default=None,
                    help="results file name (default detectors_ab_<detector>): keeps an earlier comparison's file")
    args = ap.parse_args()
    from _common import Printer, save

    from bench.calibration.cases import build_cases, to_batch
    from bench.registry import DETECTORS

    print = Printer()  # noqa: A001
    rev = subprocess.run(["git", "rev-parse", "--short", args.against], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    new_cls = DETECTORS.get(args.detector)
    old_mod = module_at(args.against, args.detector)
    old_cls = getattr(old_mod, new_cls.__name__)
    cases = [c for c in build_cases(0, args.n, args.size) if c.kind != "resized"][:args.n]
    batches = [to_batch(cases[i:i + args.batch]) for i in range(0, len(cases), args.batch)]
    dets = {"working tree": new_cls(), rev: old_cls()}
    first = {k: [d.scores(b) for b in batches] for k, d in dets.items()}  # warm-up, and the scores to compare
    # the columns both versions write (a newer version may add score columns)
    same = all(np.array_equal(a[key], b[key], equal_nan=True) for a, b in zip(*first.values()) for key in a
               if key in b)
    times: dict[str, list[float]] = {k: [] for k in dets}
    for r in range(args.rounds):
        for k in (list(dets) if r % 2 == 0 else list(dets)[::-1]):
            t = time.perf_counter()
            for b in batches:
                dets[k].scores(b)
            times[k].append(time.perf_counter() - t)
    n = len(cases)
    print(f"{args.detector}: working tree against {rev}, {n} images at {args.size} px, {args.rounds} rounds "
          f"alternated in one process")
    res: dict = {"detector": args.detector, "against": rev, "n": n, "size": args.size, "rounds": args.rounds,
                 "same_scores": same, "img_s": {}}
    for k, ts in times.items():
        res["img_s"][k] = {"median": round(n / float(np.median(ts)), 1), "best": round(n / min(ts), 1)}
        print(f"  {k:14s} median {n / float(np.median(ts)):7.1f} img/s  best {n / min(ts):7.1f} img/s")
    ratio = float(np.median(times["working tree"]) / np.median(times[rev]))
    res["time_ratio"] = round(ratio, 3)
    print(f"  time, working tree / {rev}: {ratio:.3f} (median of rounds); scores "
          f"{'identical' if same else 'differ'} on these images (columns both write)")
    path = save(args.name or f"detectors_ab_{args.detector}", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
