"""Timing and memory: the only place that knows how to measure (CUDA events on GPU, perf_counter on CPU)."""
from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class Timing:
    ms: float = float("nan")  # device time of the timed region (CUDA events) or wall time (CPU)
    wall_ms: float = float("nan")  # synchronised wall clock around the same region
    method: str = "perf_counter"


def _sync(device: torch.device, stream_only: bool) -> None:
    if stream_only:  # overlap mode: do not wait for the scoring stream's work
        torch.cuda.current_stream(device).synchronize()
    else:
        torch.cuda.synchronize(device)


def method(device: torch.device) -> str:
    """How :func:`timed` times a region on ``device`` (the manifest's ``timing``)."""
    if device.type == "cuda":
        return "cuda_events"
    if device.type == "mps":
        return "perf_counter, mps synchronised"
    return "perf_counter"


@contextmanager
def timed(device: torch.device, stream_only: bool = False) -> Iterator[Timing]:
    """Time a region. On CUDA: events recorded on ``device``'s current stream (not the current device's: with
    ``cuda:1`` they would time an idle ``cuda:0``), then synchronise (the whole device, or only that stream when
    scoring overlaps on another stream); on MPS (asynchronous too): perf_counter with ``torch.mps.synchronize``
    before and after; on CPU: perf_counter."""
    t = Timing(method=method(device))
    if device.type == "cuda":
        _sync(device, stream_only)
        stream = torch.cuda.current_stream(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        w0 = time.perf_counter()
        start.record(stream)
        yield t
        end.record(stream)
        _sync(device, stream_only)
        t.wall_ms = (time.perf_counter() - w0) * 1e3
        t.ms = start.elapsed_time(end)
    elif device.type == "mps":  # kernels are queued: the clock stops only once they have run
        torch.mps.synchronize()
        w0 = time.perf_counter()
        yield t
        torch.mps.synchronize()
        t.wall_ms = t.ms = (time.perf_counter() - w0) * 1e3
    else:
        w0 = time.perf_counter()
        yield t
        t.wall_ms = t.ms = (time.perf_counter() - w0) * 1e3


def _vm_hwm() -> int | None:
    """This process's own resident high-water mark (Linux ``VmHWM``), or None where /proc is unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the resident high-water mark (Linux: writing 5 to /proc/self/clear_refs), so a cell's figure is its
    own. False where that is not possible: the process's peak so far is then not the cell's, and is not reported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _vm_hwm() is not None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since the last :func:`reset_peak_rss`.

    Linux's ``VmHWM`` is preferred: ``getrusage``'s ``ru_maxrss`` is inherited from the launching process across
    fork+exec (a run started by a 2 GiB notebook would report 2 GiB) and can never be reset.
    """
    hwm = _vm_hwm()
    if hwm is not None:
        return hwm
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if sys.platform == "darwin" else r * 1024)


def reset_peak_memory(device: torch.device, stream_only: bool = False) -> None:
    if device.type == "cuda":
        _sync(device, stream_only)
        torch.cuda.reset_peak_memory_stats(device)


def current_memory(device: torch.device) -> tuple[int, int]:
    """(allocated, reserved) bytes on a CUDA device now; (0, 0) elsewhere."""
    if device.type != "cuda":
        return 0, 0
    return int(torch.cuda.memory_allocated(device)), int(torch.cuda.memory_reserved(device))


def peak_since_reset(device: torch.device) -> tuple[int, int]:
    """(max allocated, max reserved) bytes since the last :func:`reset_peak_memory`; (0, 0) off CUDA."""
    if device.type != "cuda":
        return 0, 0
    return int(torch.cuda.max_memory_allocated(device)), int(torch.cuda.max_memory_reserved(device))


class PeakTracker:
    """Peak GPU memory of the backend calls of one cell, net of what the harness held before the backend loaded.

    The peak is reset before and read after every backend call, so metric networks running between calls never
    count; what the harness itself holds (metric weights, cached reference data) is measured before the backend's
    ``setup`` and subtracted, so the figure is the model's (weights, activations, its inputs).
    """

    def __init__(self, device: torch.device, baseline: tuple[int, int], stream_only: bool = False):
        self.device = device
        self.stream_only = stream_only
        self.baseline = baseline
        self.alloc = 0
        self.reserved = 0
        self.calls = 0  # backend calls that finished: with none, nothing was measured (not a peak of 0)
        self.rss_reset = reset_peak_rss()

    def before_call(self) -> None:
        reset_peak_memory(self.device, self.stream_only)

    def after_call(self) -> None:
        a, r = peak_since_reset(self.device)
        self.alloc, self.reserved = max(self.alloc, a), max(self.reserved, r)
        self.calls += 1

    def summary(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {"peak_rss": peak_rss_bytes() if self.rss_reset else None,
                                      "peak_mem_allocated": None, "peak_mem_reserved": None}
        if self.device.type == "cuda" and self.calls:  # (every call failed: absent, shown "—", never 0)
            out["peak_mem_allocated"] = max(0, self.alloc - self.baseline[0])
            out["peak_mem_reserved"] = max(0, self.reserved - self.baseline[1])
            out["harness_mem_allocated"] = self.baseline[0]
        return out


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()
