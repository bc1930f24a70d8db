"""Scale benchmark (issue 7): throughput, harness overhead, flat memory and resume time.

Runs the ``identity`` backend with every weight-free metric (psnr, ssim) and every weight-free detector that is
registered (``bench ls detectors``; each is probed offline and skipped if it cannot set up) on the ``synthetic``
dataset at 64 px, for N = 200 and N = 2000 samples, each in a fresh subprocess and a fresh temporary output
folder, and prints:

* images/s (N / the in-process ``Runner.run()`` time, Python start-up excluded),
* harness overhead per image: (run time - backend time) / N, where backend time is the sum of the per-batch
  latencies the runner recorded (``latency_ms`` x rows),
* peak RSS of each subprocess (its VmHWM) and the ratio peak(2000) / peak(200) (target <= 1.2),
* the time to resume the finished N = 2000 run: the wall time of a ``python -m bench run SUITE --no-progress
  --no-report`` subprocess (start-up included; target < 3 s) and, separately, the in-process ``Runner.run()``
  time of the same rerun (start-up excluded).

Usage::

    /work/venv/bin/python benchmarks/scale.py                 # N = 200 and 2000
    /work/venv/bin/python benchmarks/scale.py --sizes 100 400 # quicker
    /work/venv/bin/python benchmarks/scale.py --keep /tmp/scale-runs

The machine's load matters (other processes share the cores): the script prints the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


# --------------------------------------------------------------------------------------------------------------
# child: one run in this (fresh) process
# --------------------------------------------------------------------------------------------------------------
def child(suite_path: str, run_id: str) -> None:
    t_import = time.perf_counter()
    import sqlite3

    from bench.config import load_suite
    from bench.runner import Runner

    suite = load_suite(suite_path)
    import_s = time.perf_counter() - t_import
    t0 = time.perf_counter()
    run_dir = Runner(suite, run_id=run_id, progress=False).run()
    run_s = time.perf_counter() - t0
    con = sqlite3.connect(str(run_dir / "records.sqlite"))
    rows, errors, latency_ms = con.execute(
        "SELECT COUNT(*), SUM(error IS NOT NULL), SUM(COALESCE(latency_ms, 0)) FROM outputs").fetchone()
    con.close()
    print(json.dumps({"run_s": run_s, "import_s": import_s, "rows": rows, "errors": errors or 0,
                      "backend_s": (latency_ms or 0.0) / 1e3,
                      "peak_rss_mb": vm_hwm_mb()}))


def vm_hwm_mb() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that over from the parent across
    fork + exec, so a child of a large process would report the parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


# --------------------------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------------------------
def weight_free_detectors() -> tuple[list[str], dict[str, str]]:
    """Registered detectors that build and set up offline with no weights; and why the others were skipped."""
    import torch

    from bench.registry import DETECTORS
    from bench.types import RunContext

    ctx = RunContext(device=torch.device("cpu"), dtype=torch.float32, seed=0, weights="pretrained",
                     weights_dir=None, cache_dir=None, run_dir=None)
    ok, skipped = [], {}
    for name in DETECTORS.names():
        try:
            det = DETECTORS.create({"type": name}, f"detectors[{name}]")
            det.setup(ctx)
            prov = det.provenance() if hasattr(det, "provenance") else {}
            if isinstance(prov, dict) and (prov.get("weights") not in (None, "none") or prov.get("comparable") is False):
                skipped[name] = f"uses weights ({prov.get('weights')})"
                continue
            ok.append(name)
        except Exception as e:  # noqa: BLE001 - a detector that needs weights or packages is not weight-free
            skipped[name] = f"{type(e).__name__}: {str(e)[:100]}"
    return ok, skipped


def run_child(suite: Path, run_id: str, env: dict) -> tuple[dict, float, float]:
    """Run ``--child`` in a fresh interpreter: (its JSON, wall time, ru_maxrss from wait4 in MB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(suite), run_id],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    sinks: dict[str, bytes] = {}

    def drain(name: str, stream) -> None:
        sinks[name] = stream.read()

    threads = [threading.Thread(target=drain, args=("out", p.stdout)),
               threading.Thread(target=drain, args=("err", p.stderr))]
    for t in threads:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)  # this child's rusage (RUSAGE_CHILDREN would be the max over all children)
    for t in threads:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{suite}: child failed ({p.returncode}):\n{sinks['err'].decode()[-3000:]}")
    return json.loads(sinks["out"].decode().strip().splitlines()[-1]), wall, ru.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--mask", default="box")
    ap.add_argument("--threads", type=int, default=1,
                    help="OMP/MKL threads of each run (default 1: steadier on a small shared machine; 0 = torch default)")
    ap.add_argument("--keep", default=None, help="output folder to keep (default: a temporary one, removed)")
    ap.add_argument("--child", nargs=2, metavar=("SUITE", "RUN_ID"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    import yaml

    from _common import Printer, bench_run, save

    print = Printer()  # noqa: A001 - every line is also saved with the results
    detectors, skipped = weight_free_detectors()
    out_root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="inpaint-bench-scale-"))
    out_root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    if args.threads > 0:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    print(f"inpaint-bench scale benchmark  {time.strftime('%Y-%m-%d %H:%M')}  python {platform.python_version()}  "
          f"{os.cpu_count()} CPU(s)  load average {os.getloadavg()[0]:.2f}")
    print(f"backend identity; metrics psnr, ssim; detectors {', '.join(detectors) or 'none'}")
    for name, why in skipped.items():
        print(f"  (detector {name} skipped: {why})")
    print(f"dataset synthetic at {args.resolution} px; mask {args.mask}; batch size {args.batch_size}; "
          f"device cpu; threads {args.threads or 'torch default'}; output {out_root}")

    results = {}
    suites = {}
    try:
        for n in args.sizes:
            suite = {
                "name": f"scale{n}", "output_dir": str(out_root / f"n{n}"), "device": "cpu",
                "resolution": args.resolution, "batch_size": args.batch_size,
                "backends": ["identity"], "datasets": [{"type": "synthetic", "n": n}], "masks": [args.mask],
                "metrics": ["psnr", "ssim"], "detectors": detectors,
            }
            path = out_root / f"scale{n}.yaml"
            path.write_text(yaml.safe_dump(suite, sort_keys=False))
            suites[n] = path
            data, wall, rss = run_child(path, f"scale{n}", env)  # a fresh subprocess per size
            data["wall_s"], data["ru_maxrss_mb"] = wall, rss  # peak_rss_mb (VmHWM) comes from the child
            results[n] = data
            print(f"  N={n}: done in {wall:.1f} s (run {data['run_s']:.1f} s)", flush=True)

        big = max(args.sizes)
        # resume: the CLI, start-up included
        resume_cli = bench_run(suites[big], "--no-report", env=env)
        # resume: in-process Runner.run() only
        data, _, _ = run_child(suites[big], f"scale{big}", env)
        resume_inproc = data["run_s"]
        assert data["rows"] == big, data
    finally:
        if not args.keep:
            shutil.rmtree(out_root, ignore_errors=True)

    print()
    hdr = f"{'N':>6} {'run s':>8} {'images/s':>9} {'backend ms/img':>15} {'overhead ms/img':>16} {'peak RSS MB':>12} " \
          f"{'errors':>7}"
    print(hdr)
    print("-" * len(hdr))
    for n in args.sizes:
        d = results[n]
        print(f"{n:>6} {d['run_s']:>8.2f} {n / d['run_s']:>9.1f} {d['backend_s'] / n * 1e3:>15.3f} "
              f"{(d['run_s'] - d['backend_s']) / n * 1e3:>16.2f} {d['peak_rss_mb']:>12.0f} {d['errors']:>7}")
    small = min(args.sizes)
    ratio = results[big]["peak_rss_mb"] / results[small]["peak_rss_mb"]
    print()
    print(f"peak RSS ratio N={big} / N={small}: {ratio:.3f}  (target <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")
    print(f"resume of the finished N={big} run: `bench run` subprocess {resume_cli:.2f} s (start-up included; "
          f"target < 3 s: {'met' if resume_cli < 3 else 'NOT met'}); in-process Runner.run() {resume_inproc:.3f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    summary = {str(n): {k: v for k, v in results[n].items()} for n in args.sizes}
    saved = save("scale", {"sizes": summary, "rss_ratio": ratio, "resume_cli_s": resume_cli,
                           "resume_inprocess_s": resume_inproc, "resolution": args.resolution,
                           "threads": args.threads}, print.lines)
    import builtins

    builtins.print(f"wrote {saved}")


if __name__ == "__main__":
    main()
