"""Provenance: what every result carries (versions, git revision, device, dtype)."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("inpaint-bench", "torch", "torchvision", "numpy", "pillow", "opencv-python-headless", "scikit-image",
            "scipy", "diffusers", "transformers", "accelerate", "lpips", "clean-fid", "torchmetrics",
            "scikit-learn", "safetensors", "datasets", "pycocotools", "pandas", "PyWavelets")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    out["python"] = platform.python_version()
    return out


#: this file, relative to the source tree's root: git must track it for a revision to be the harness's own
SELF = "bench/runner/provenance.py"


def git_revision(path: Path | None = None) -> dict[str, Any]:
    """Git revision of the inpaint-bench source tree (and whether it has uncommitted changes); None where the code
    is not a git checkout's tracked files (an install inside another project's repository, whose revision git would
    otherwise give)."""
    path = path or Path(__file__).resolve().parents[2]
    try:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "--", SELF], cwd=path, capture_output=True,
                                 text=True, timeout=10)
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
        if tracked.returncode != 0 or rev.returncode != 0:
            return {"revision": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=10)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None}


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model (Linux: ``model name`` of ``/proc/cpuinfo``; macOS: ``machdep.cpu.brand_string``), else the
    architecture (``x86_64``, ``arm64``): what a CPU latency was measured on."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == "model name" and line.split(":", 1)[1].strip():
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            r = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                               timeout=10)
            if r.returncode == 0 and r.stdout.strip():
                return r.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def device_info(device: torch.device) -> dict[str, Any]:
    """The device a run measured on: its name (the GPU's, or the CPU's model on CPU: two CPU machines with the same
    kernel must not read as one device, or a resumed run mixes their latencies unnoticed), the platform, the CPU
    model and torch's threads; on CUDA the memory, capability, CUDA, cuDNN and driver versions."""
    info: dict[str, Any] = {"device": str(device), "platform": platform.platform(), "cpu": cpu_name(),
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, total_memory=props.total_memory, capability=f"{props.major}.{props.minor}",
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            info["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, IndexError):
            info["driver"] = None
    else:
        info["name"] = info["cpu"]
    return info


def resolve_device(spec: str) -> torch.device:
    from ..config import DEVICE_RE
    from ..errors import ConfigError, quote

    if not isinstance(spec, str) or not DEVICE_RE.match(spec):
        raise ConfigError("device", f"expected auto, cpu, cuda or cuda:N, got {quote(spec)}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"'{spec}' was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError("device", f"'{spec}': this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device", "'mps' was asked for but is not available here; use 'auto' or 'cpu'")
    return dev
