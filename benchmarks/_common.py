"""What every benchmark records beside its numbers: the machine, the versions, the date and the command.

Each benchmark prints its figures and writes them, with this context, to ``benchmarks/results/<name>.json``
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
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
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


def save(name: str, results: dict[str, Any], lines: list[str]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (results, printed lines, machine, versions, date, command)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    script_s = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    doc = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M"),
           "command": "python " + " ".join([script_s] + sys.argv[1:]),
           "machine": {**machine(), "load_average_end": round(os.getloadavg()[0], 2)}, "versions": versions(),
           "results": results, "output": lines}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
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
