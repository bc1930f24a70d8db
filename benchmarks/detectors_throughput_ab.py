"""The weight-free detectors together, this working tree against another git revision of the whole package, timed in
alternation: a speed change measured with the machine's drift taken out.

    python benchmarks/detectors_throughput_ab.py --against REV [--rounds 15] [--n 64] [--size 256] [--batch 16]

``detectors_throughput.py`` prints one absolute figure, which moves by a third between two runs minutes apart on a
shared machine; ``detectors_ab.py`` swaps one detector module only. This script extracts the whole ``bench``
package at ``REV`` (``git archive``) and starts two worker processes, one importing each tree. Each builds the same
realistic mix (``_common.case_batches``, built by its own tree's code), checks it against the other's (a digest of
every input tensor), and scores it once to warm up. Then, round by round, in alternating order, each times one pass
of all weight-free detectors over every batch (as the runner calls them; each pass downscales afresh). It prints
each tree's images/s (median, best and lowest of the rounds), the median of the per-round time ratios (REV / this
tree: above 1, this tree is faster), in wall-clock time and in the worker's CPU time (``time.process_time``: all its
threads; less moved by other processes on the machine than the wall clock), and whether the two trees give bitwise the same scores and flags on the mix.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(tree: str, n: int, size: int, batch: int) -> int:
    """One tree's side: read commands on stdin ("time", "quit"), answer one JSON line each."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # (this tree's _common: the mix's recipe)
    sys.path.insert(0, tree)  # (the package under test, first on the path)
    import numpy as np
    from _common import case_batches, detector_pass

    import bench
    from bench.detectors import WEIGHT_FREE
    from bench.registry import DETECTORS

    assert Path(bench.__file__).resolve().is_relative_to(Path(tree).resolve()), bench.__file__
    batches = case_batches(n, size, batch)
    dets = {name: DETECTORS.get(name)() for name in WEIGHT_FREE}
    inputs = hashlib.sha256()
    for b in batches:
        for t in (b.output, b.raw, b.input, b.blanked, b.mask, b.gt, b.has_gt):
            inputs.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())

    outputs = hashlib.sha256()
    detector_pass(dets, WEIGHT_FREE, batches, outputs)  # warm-up: imports, caches, page faults; the scores' digest
    print(json.dumps({"inputs": inputs.hexdigest(), "outputs": outputs.hexdigest()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "time":
            wall, cpu = detector_pass(dets, WEIGHT_FREE, batches)
            print(json.dumps({"s": wall, "cpu": cpu}), flush=True)
        else:
            break
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", help="git revision to compare this working tree with")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--n", type=int, default=64, help="images (default 64)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--name", default="detectors_throughput_ab", help="results file name")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # (a tree's root: run as that tree's worker)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.n, args.size, args.batch)
    if not args.against:
        ap.error("--against REV is required")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Printer, save

    rev = subprocess.run(["git", "rev-parse", "--short", args.against], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    print = Printer()  # noqa: A001 - every line is also saved with the results
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "rev.tar"
        subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), rev, "bench"], cwd=ROOT, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(Path(tmp) / "rev", filter="data")
        trees = {"this tree": str(ROOT), rev: str(Path(tmp) / "rev")}
        procs, hello = {}, {}
        for label, tree in trees.items():
            procs[label] = subprocess.Popen(
                [sys.executable, __file__, "--worker", tree, "--n", str(args.n), "--size", str(args.size),
                 "--batch", str(args.batch)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for label, p in procs.items():
            line = p.stdout.readline()
            if not line:
                raise SystemExit(f"the worker for {label} ({trees[label]}) did not start")
            hello[label] = json.loads(line)
        if hello["this tree"]["inputs"] != hello[rev]["inputs"]:
            raise SystemExit("the two trees build different inputs from the same recipe: not comparable")
        same = hello["this tree"]["outputs"] == hello[rev]["outputs"]
        times: dict[str, list[float]] = {label: [] for label in procs}
        cpus: dict[str, list[float]] = {label: [] for label in procs}
        order = list(procs)
        for r in range(args.rounds):
            for label in (order if r % 2 == 0 else order[::-1]):
                procs[label].stdin.write("time\n")
                procs[label].stdin.flush()
                got = json.loads(procs[label].stdout.readline())
                times[label].append(got["s"])
                cpus[label].append(got["cpu"])
        for p in procs.values():
            p.stdin.write("quit\n")
            p.stdin.close()
            p.wait()
    ratios = [a / b for a, b in zip(times[rev], times["this tree"])]
    cpu_ratios = [a / b for a, b in zip(cpus[rev], cpus["this tree"])]
    print(f"weight-free detectors together, {args.n} images at {args.size} px, batch {args.batch}, CPU: this "
          f"tree against {rev} ({args.against}), {args.rounds} rounds in alternation")
    res: dict = {"against": rev, "rounds": args.rounds, "n": args.n, "size": args.size, "batch": args.batch}
    for label in procs:
        ips = sorted(args.n / t for t in times[label])
        med = float(statistics.median(ips))
        cpu_ms = 1e3 * float(statistics.median(cpus[label])) / args.n
        res[label] = {"img_s_median": med, "img_s_best": ips[-1], "img_s_lowest": ips[0], "cpu_ms_per_img": cpu_ms}
        print(f"  {label:12s} median {med:6.1f} img/s   best {ips[-1]:6.1f}   lowest {ips[0]:6.1f}   "
              f"CPU time {cpu_ms:.2f} ms/img (median)")
    res["time_ratio_median"] = float(statistics.median(ratios))
    res["scores_bitwise_equal"] = same
    res["cpu_ratio_median"] = float(statistics.median(cpu_ratios))
    print(f"  time ratio {rev} / this tree, median of the rounds: wall {res['time_ratio_median']:.3f}, CPU "
          f"{res['cpu_ratio_median']:.3f}")
    print(f"  scores and flags on the mix: {'bitwise the same' if same else 'DIFFER'}")
    path = save(args.name, res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
