"""What every benchmark records beside its numbers: the machine, the versions, the date and the command.

Each benchmark prints its figures and writes them, with this context, to ``benchmarks/results/<name>.json``, then
prints that context (:func:`provenance`)
(committed: the README and docs quote those files, and ``python benchmarks/figures.py`` renders the README's
performance table from them).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "load_average_start": round(os.getloadavg()[0], 2)}
    if str(ROOT) not in sys.path:  # (scripts put the repository on the path after importing this module)
        sys.path.insert(0, str(ROOT))
    from bench.runner.provenance import cpu_name

    info["cpu"] = cpu_name()  # (the runner's manifests name the CPU the same way)
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info["gpu"] = p.name
            info["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {}
    for p in ("inpaint-bench", "torch", "torchvision", "numpy", "diffusers", "transformers", "lpips", "clean-fid",
              "torchmetrics", "scikit-image", "opencv-python-headless"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        # results and the documents they are rendered into do not make the code "dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results", ":!README.md", ":!docs"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        out["git"] = rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        out["git"] = None
    return out


def provenance(doc: dict[str, Any]) -> str:
    """One line naming a result's command, date, machine and versions (printed by :func:`save`, and rendered above
    every figure in the documentation by ``benchmarks/figures.py``)."""
    m, v = doc.get("machine", {}), doc.get("versions", {})
    where = m.get("gpu") or f"{m.get('cpus')} CPU cores" + (f" ({m['cpu']})" if m.get("cpu") else "")
    return (f"`{doc.get('command')}`, {doc.get('date')}: {where}, torch {v.get('torch')}, Python {m.get('python')}, "
            f"git {v.get('git')}, load average {m.get('load_average_start')} → {m.get('load_average_end')}")


def save(name: str, results: dict[str, Any], lines: list[str]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (results, printed lines, machine, versions, date, command) and print
    where, with the command, date, machine and versions (:func:`provenance`), so a figure copied from the terminal
    says what measured it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    script_s = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    doc = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": "python " + " ".join([script_s] + sys.argv[1:]),
           "machine": {**machine(), "load_average_end": round(os.getloadavg()[0], 2)}, "versions": versions(),
           "results": results, "output": lines}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {provenance(doc)}", flush=True)
    return path


class Printer:
    """print() that also keeps the lines for :func:`save`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, *parts: Any, **_: Any) -> None:
        line = " ".join(str(p) for p in parts)
        self.lines.append(line)
        print(line, flush=True)


def gpu_device(cpu_plumbing: bool, script: str):
    """The CUDA device a GPU script measures on, the CPU with ``--cpu-plumbing`` (the same code, to check the
    script), or None after saying that CUDA is missing (the script then exits 2)."""
    import torch

    if cpu_plumbing:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        print(f"{script}: CUDA is not available; run this on a GPU machine (or pass --cpu-plumbing)", file=sys.stderr)
        return None
    return torch.device("cuda")


def bench_run(path: str | Path, *flags: str, env: dict[str, str] | None = None) -> float:
    """Seconds of ``bench run PATH --no-progress FLAGS`` in a subprocess from the repository root, start-up included
    (``env``: the subprocess's environment, default this one's), the repository first on PYTHONPATH (a GPU machine
    runs the checkout, not an install); a failed run ends the script with the tail of its stderr."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "bench", "run", str(path), "--no-progress", *flags], cwd=ROOT,
                       env=repo_env(env), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench run {path} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def repo_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with the repository first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def case_batches(n: int, size: int, batch: int) -> list:
    """The detector benchmarks' realistic mix: ``n`` labelled cases of the calibration set (good, blurred, pasted
    and removal fills; several mask strategies) at ``size`` px, as :class:`~bench.types.EvalBatch` es of ``batch``."""
    from bench.calibration.cases import build_cases, to_batch

    cases: list = []
    seed = 0
    while len(cases) < n:
        cases += build_cases(seed + 777, 4, size)
        seed += 1
    cases = cases[:n]
    return [to_batch(cases[i:i + batch]) for i in range(0, n, batch)]


def detector_pass(dets: dict, names, batches: list, digest=None) -> tuple[float, float]:
    """One pass of the detectors ``names`` (of ``dets``) over every batch, as the runner calls them, each pass
    downscaling afresh as a run's new batches do: (wall-clock s, CPU s of the process) around ``detect`` only.
    ``digest`` (a ``hashlib`` object): takes every column ``detect`` returns, in order."""
    import numpy as np
    import torch

    from bench.detectors._util import forget_working

    for b in batches:
        forget_working(b)
    c0, t0 = time.process_time(), time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            for name in names:
                out = dets[name].detect(b)
                if digest is not None:
                    for key in sorted(out):
                        digest.update(key.encode() + np.asarray(out[key], dtype=np.float64).tobytes())
    return time.perf_counter() - t0, time.process_time() - c0
