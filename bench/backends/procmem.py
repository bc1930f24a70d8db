"""Run an external program and measure its process tree's own memory (for ``command`` backends).

The harness's figures (its RSS, ``torch.cuda.max_memory_allocated``) say nothing about a model that runs in another
process, so a ``command`` backend measures the program itself, from a background thread that samples the program's
process tree (the program and its descendants, found through ``/proc``) every ``interval`` seconds (50 ms):

* **CPU (RAM)**: the largest sum of the tree's resident set sizes over the samples, and at least the largest
  process's own high-water mark (``VmHWM``, which catches a spike between samples). ``wait4``'s ``ru_maxrss`` is not
  used: a child inherits the harness's high-water mark across fork + exec, so it would report the harness. Linux
  only (elsewhere ``None``).
* **CUDA**: NVML (``nvidia-ml-py``, imported as ``pynvml``): the sum of ``usedGpuMemory`` over the tree's processes
  on every GPU NVML lists, the maximum over samples. Not NVML's device N for the suite's ``cuda:N``: NVML numbers
  the machine's GPUs in PCI order and ignores ``CUDA_VISIBLE_DEVICES`` (with ``CUDA_VISIBLE_DEVICES=2`` the suite's
  ``cuda:0`` is NVML's device 2, and CUDA's default order is fastest first), so looking at one NVML index missed
  the program, or found it on a GPU other than the one it used. The tree's processes are the program's whichever
  GPU they run on. This is what the driver gives those processes (CUDA context and the
  allocator's reserve included), so it reads higher than ``torch.cuda.max_memory_allocated`` inside the program.
  Without ``pynvml``, without permission to see other processes (some containers report no PIDs, or host PIDs), or
  when none of the tree's processes appears, the figure is ``None``: the report shows "—".

A process that lives less than one interval can be missed; a model that loads weights and runs for seconds is not.

**The program dies with the harness** (Linux): it is started with the parent-death signal set to SIGTERM
(``prctl(PR_SET_PDEATHSIG)`` through ``ctypes``, between fork and exec), so a harness killed by SIGKILL (an OOM
killer, a scheduler's pre-emption) does not leave it running on the GPU. The kernel signals the program only, not
what the program started (a wrapper such as ``conda run`` or a shell script must pass it on). The kernel signals when the *thread* that started the program ends, not only the
process: :func:`run_measured` waits for the program in that thread, so in practice the signal comes when the
harness dies. Elsewhere nothing is set: the program outlives a
killed harness, as any child process does.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    peak_rss: int | None  # bytes: the tree's summed RSS, max over samples (Linux), None where unmeasurable
    peak_gpu: int | None  # bytes: NVML, sum over the tree, max over polls; None where unmeasurable
    notes: list[str] = field(default_factory=list)


def process_tree(root: int) -> set[int]:
    """``root`` and its descendants alive now (Linux ``/proc``; elsewhere only ``root``)."""
    proc = Path("/proc")
    children: dict[int, list[int]] = {}
    try:
        entries = list(proc.iterdir())
    except OSError:
        return {root}
    for d in entries:
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        try:
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = {root}, [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _status_kb(pid: int, fields: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name = line.split(":", 1)[0]
                if name in fields:
                    out[name] = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


class TreeSampler:
    """Samples a process tree's RAM (``/proc``) and, when a GPU index is given (not None), its GPU memory on
    every GPU NVML lists (the index is CUDA's, which is not NVML's: see the module's notes) on a background
    thread."""

    def __init__(self, root_pid: int, device_index: int | None, interval: float = 0.05, nvml: Any = None):
        self.root = root_pid
        self.index = device_index
        self.interval = interval
        self.nvml = nvml
        self.peak: int | None = None  # GPU bytes
        self.peak_rss: int | None = None
        self.note = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handles: list[Any] = []
        self._gpu = False

    def start(self) -> "TreeSampler":
        if self.index is not None:
            self._gpu = self._init_nvml()
        self.poll_once()  # (at once, on this thread: a program shorter than the thread's start is still seen)
        self._thread = threading.Thread(target=self._loop, name="inpaint-bench-procmem", daemon=True)
        self._thread.start()
        return self

    def _init_nvml(self) -> bool:
        nvml = self.nvml
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError:
                self.note = "GPU memory of the program not measured: pip install nvidia-ml-py"
                return False
            self.nvml = nvml
        try:
            nvml.nvmlInit()
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(int(nvml.nvmlDeviceGetCount()))]
        except Exception as e:  # noqa: BLE001 - no driver, no permission
            self.note = f"GPU memory of the program not measured: NVML unavailable ({e})"
            return False
        return True

    def poll_once(self) -> None:
        tree = process_tree(self.root)
        if Path("/proc").is_dir():
            rss_sum, hwm_max = 0, 0
            for pid in tree:
                st = _status_kb(pid, ("VmRSS", "VmHWM"))
                rss_sum += st.get("VmRSS", 0)
                hwm_max = max(hwm_max, st.get("VmHWM", 0))
            value = max(rss_sum, hwm_max)
            if value:
                self.peak_rss = value if self.peak_rss is None else max(self.peak_rss, value)
        if not self._gpu:
            return
        used = []
        for handle in self._handles:
            try:
                procs = list(self.nvml.nvmlDeviceGetComputeRunningProcesses(handle))
            except Exception:  # noqa: BLE001 - a GPU that cannot answer (lost, MIG parent): the others still count
                continue
            used += [p.usedGpuMemory for p in procs if p.pid in tree and p.usedGpuMemory is not None]
        if used:
            total = int(sum(used))
            self.peak = total if self.peak is None else max(self.peak, total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)

    def stop(self) -> int | None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._gpu:
            self._gpu = False
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
            if self.peak is None and not self.note:
                self.note = ("GPU memory of the program not measured: NVML listed none of its processes (a "
                             "container that hides PIDs, or the program did not use the GPU)")
        return self.peak


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int | None = None):
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux), or None elsewhere (or when
    libc's ``prctl`` cannot be found). ``parent``: the pid the child must still have as its parent after ``prctl``
    (default: this process); a child whose parent already died before ``prctl`` exits at once (status 1), since
    no signal would come any more."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes, prctl.restype = [ctypes.c_int, ctypes.c_ulong], ctypes.c_int
    parent = os.getpid() if parent is None else parent
    sig = int(signal.SIGTERM)

    def preexec() -> None:
        # runs in the child between fork and exec: no imports, no Python-level locks, only these calls
        prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl (adopted): nobody will signal it
            os._exit(1)

    return preexec


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill a program started by :func:`run_measured` and everything it started (its process group), and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def run_measured(argv: list[str], *, cwd: str | None, env: dict[str, str], timeout: float,
                 gpu_index: int | None = None, nvml: Any = None, interval: float = 0.05) -> Finished:
    """Run ``argv`` in its own session; kill its process group after ``timeout`` seconds, or at once when the wait
    is interrupted (Ctrl-C: the program's session does not get the terminal's SIGINT, so it would otherwise run to
    the end of its batch while the harness waited). Samples the tree's RAM (and its GPU memory through NVML when
    ``gpu_index`` is given) while it runs. On Linux the program gets SIGTERM if this process dies first
    (:func:`die_with_parent`)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent())
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream) -> None:
        chunks[name] = stream.read()
        stream.close()

    poller, readers, timed_out, peak_gpu = None, [], False, None
    try:
        poller = TreeSampler(proc.pid, gpu_index, interval, nvml).start()
        for n, s in (("out", proc.stdout), ("err", proc.stderr)):
            readers.append(threading.Thread(target=drain, args=(n, s), daemon=True))
            readers[-1].start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
    except BaseException:
        # Ctrl-C (or anything else that stops the harness here, from the moment the program exists): the program, in its own session, never saw the terminal's SIGINT, so it would
        # run its whole batch while the harness waited for its pipes to close
        _kill_group(proc)
        raise
    finally:
        if poller is not None:
            peak_gpu = poller.stop()
        for r in readers:
            if r.ident is not None:  # (started)
                r.join()
    notes = [poller.note] if poller.note else []
    return Finished(int(proc.returncode), chunks.get("out", b""), chunks.get("err", b""), timed_out,
                    poller.peak_rss, peak_gpu, notes)
