"""One meaning per memory column: the cell's own peak, the external program's own memory, "—" where nothing honest
can be measured."""
from __future__ import annotations

import math
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.backends.procmem import TreeSampler, process_tree, run_measured
from bench.metrics.base import Column, Metric
from bench.registry import BACKENDS, METRICS
from bench.types import RunContext

PY = sys.executable
MB = 1 << 20

# copies inputs to outputs after holding ALLOC_MB of touched memory (0: none)
COPY = """
import sys, pathlib, shutil, time
inp, out, alloc = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
block = bytearray(alloc << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(0.4)  # a model holds its memory for a while: the sampler (every 50 ms) sees it
for p in sorted(inp.glob("*.png")):
    shutil.copy(p, out / p.name)
"""

linux_only = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")


@linux_only
def test_command_backend_reports_its_programs_memory_not_the_harness(tmp_path):
    script = tmp_path / "copy.py"
    script.write_text(textwrap.dedent(COPY))
    image = torch.rand(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    mask[..., 4:8, 4:8] = True
    gens = [torch.Generator().manual_seed(0)]
    peaks = {}
    for alloc in (0, 300):
        # through a shell: the model runs in a grandchild, as with `conda run` or a wrapper script
        be = BACKENDS.create({"type": "command", "command":
                              f"sh -c '{PY} {script} \"$0\" \"$1\" {alloc}' {{input_dir}} {{output_dir}}"},
                             "backends[0]")
        be.setup(RunContext(device=torch.device("cpu")))
        be.reset_memory_peak()
        be.inpaint(image, mask, gens)
        peaks[alloc] = be.memory_peak()["peak_rss"]
    assert peaks[300] >= 300 * MB and peaks[300] - peaks[0] >= 290 * MB
    assert peaks[0] < 100 * MB, "a small program reads small, whatever the harness holds"


@linux_only
def test_in_process_cells_do_not_inherit_an_earlier_cells_peak(tmp_path):
    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    suite = parse_suite({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "resolution": 32,
        "backends": [{"type": "python", "name": "hog", "target": "tests.test_memory:HogBackend"}, "identity"],
        "datasets": [{"type": "synthetic", "n": 2}], "masks": [{"type": "box"}], "metrics": ["psnr"],
    })
    run_dir = Runner(suite, progress=False).run()
    with RunStore(run_dir / "records.sqlite") as s:
        sessions = {x["cell_key"].split(".")[0]: x for x in s.sessions()}
    assert sessions["hog"]["peak_rss"] - sessions["identity"]["peak_rss"] >= 300 * MB

    from bench.report.aggregate import load_run, summarize

    df = summarize(load_run(run_dir), ci=False).set_index("backend")
    assert df.loc["hog", "peak_mem_mb"] - df.loc["identity", "peak_mem_mb"] >= 300


#: events in order: "metric-setup" when the heavy metric loads, "baseline" when the runner measures the harness's
#: GPU memory before a backend loads
EVENTS: list[str] = []


@METRICS.register("test-heavy-setup")
class HeavySetupMetric(Metric):
    """Test: its setup touches 300 MiB and frees it (a network loaded through a temporary copy)."""

    columns = {"heavy_zero": Column(higher_is_better=True, fmt=".1f")}

    def setup(self, ctx):
        EVENTS.append("metric-setup")
        block = np.ones(300 * MB // 8)
        block[::512] = 2.0
        del block

    def compute(self, batch):
        return {"heavy_zero": np.zeros(batch.output.shape[0])}


@linux_only
def test_metric_networks_load_before_the_first_backend_so_its_memory_figures_are_its_own(tmp_path, monkeypatch):
    """Metric networks load on first use; a first use during the first backend's first cell put their loading in
    that cell's peak RSS and (on CUDA) their weights in every peak of that backend, which is net only of what the
    harness held *before* it loaded: the first backend of a suite read heavier than the same model second."""
    from bench.config import parse_suite
    from bench.runner import Runner, timing
    from bench.store import RunStore

    EVENTS.clear()
    current = timing.current_memory
    monkeypatch.setattr(timing, "current_memory", lambda dev: (EVENTS.append("baseline"), current(dev))[1])
    suite = parse_suite({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "resolution": 32,
        "backends": [{"type": "identity", "name": "first"}, {"type": "identity", "name": "second"}],
        "datasets": [{"type": "synthetic", "n": 2}], "masks": [{"type": "box"}], "metrics": ["psnr", "test-heavy-setup"],
    })
    run_dir = Runner(suite, progress=False).run()
    assert EVENTS[:2] == ["metric-setup", "baseline"] and EVENTS.count("metric-setup") == 1
    with RunStore(run_dir / "records.sqlite") as s:
        rss = {x["cell_key"].split(".")[0]: x["peak_rss"] for x in s.sessions()}
    assert abs(rss["first"] - rss["second"]) < 100 * MB, rss


class HogBackend:
    """Holds 400 MB (touched) during its call: an in-process model with a large peak."""

    memory_scope = "process"

    def __init__(self):
        from bench.backends.base import Geometry

        self.geometry = Geometry()

    def setup(self, ctx):
        pass

    def inpaint(self, image, mask, generator):
        block = np.ones(400 * MB // 8)
        block[::512] = 2.0
        return image.clone()

    def teardown(self):
        pass

    def provenance(self):
        return {}


class FakeNvml:
    """NVML as the driver answers it: the processes using the GPU, the harness among them."""

    def __init__(self, marker: bytes, count: int = 1, program_on: int = 0):
        self.marker = marker
        self.calls = 0
        self.count = count  # the machine's GPUs, in NVML's (PCI) order
        self.program_on = program_on  # NVML's index of the GPU the program's processes use

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        assert 0 <= i < self.count
        return ("gpu", i)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        from types import SimpleNamespace

        self.calls += 1
        out = [SimpleNamespace(pid=os.getpid(), usedGpuMemory=999 * MB)]  # the harness: must not count
        if handle != ("gpu", self.program_on):
            return out
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if (d / "cmdline").read_bytes() == self.marker:
                        out.append(SimpleNamespace(pid=int(d.name), usedGpuMemory=123 * MB))
                except OSError:
                    pass
        return out


@linux_only
def test_nvml_counts_the_program_tree_and_not_the_harness():
    marker = b"sleep\x000.8\x00"
    fake = FakeNvml(marker)
    argv = [PY, "-c", "import subprocess; subprocess.run(['sleep', '0.8'])"]  # the GPU user is a grandchild
    res = run_measured(argv, cwd=None, env=dict(os.environ), timeout=30, gpu_index=0, nvml=fake, interval=0.05)
    assert res.returncode == 0 and fake.calls >= 3
    assert res.peak_gpu == 123 * MB
    assert os.getpid() in process_tree(os.getppid()) and os.getpid() in process_tree(os.getpid())


@linux_only
def test_nvml_finds_the_program_on_the_gpu_it_uses_whatever_nvml_numbers_it():
    """The suite's cuda:0 under CUDA_VISIBLE_DEVICES=1 is the machine's second GPU: NVML numbers GPUs in PCI order
    and ignores CUDA_VISIBLE_DEVICES, so NVML's device 0 lists nothing of the program (the figure read "not
    measured") while its processes hold memory on NVML's device 1."""
    marker = b"sleep\x000.6\x00"
    fake = FakeNvml(marker, count=2, program_on=1)
    argv = [PY, "-c", "import subprocess; subprocess.run(['sleep', '0.6'])"]
    res = run_measured(argv, cwd=None, env=dict(os.environ), timeout=30, gpu_index=0, nvml=fake, interval=0.05)
    assert res.returncode == 0
    assert res.peak_gpu == 123 * MB, res.notes


def test_without_nvml_the_gpu_figure_is_absent_and_says_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    res = run_measured([PY, "-c", "pass"], cwd=None, env=dict(os.environ), timeout=30, gpu_index=0)
    assert res.returncode == 0 and res.peak_gpu is None
    assert any("nvidia-ml-py" in n for n in res.notes)
    poller = TreeSampler(4_194_301, 0, nvml=FakeNvml(b"no-such-process"))  # a pid nobody has: the harness is not its tree
    poller.start()
    poller.poll_once()
    assert poller.stop() is None and "none of its processes" in poller.note


def test_timeout_kills_the_program_group():
    res = run_measured([PY, "-c", "import time; time.sleep(30)"], cwd=None, env=dict(os.environ), timeout=0.5)
    assert res.timed_out and res.returncode != 0


def test_cells_with_nothing_to_measure_show_a_dash(tmp_path):
    """Stored outputs (nothing ran) and CUDA cells without a device figure are NaN ("—"), never the RSS."""
    import pandas as pd

    from bench.report.aggregate import _mem_stats

    cpu = _mem_stats(pd.DataFrame([{"device": "cpu", "peak_rss": 500 * MB, "peak_mem_allocated": None}]))
    assert cpu["peak_mem_mb"] == 500
    gpu_cmd = _mem_stats(pd.DataFrame([{"device": "cuda:0", "peak_rss": 500 * MB, "peak_mem_allocated": None}]))
    assert math.isnan(gpu_cmd["peak_mem_mb"]), "a CUDA cell never shows the RSS in the memory column"
    gpu = _mem_stats(pd.DataFrame([{"device": "cuda:0", "peak_rss": 500 * MB, "peak_mem_allocated": 0}]))
    assert gpu["peak_mem_mb"] == 0
    stored = _mem_stats(pd.DataFrame([{"device": "cpu", "peak_rss": None, "peak_mem_allocated": None}]))
    assert math.isnan(stored["peak_mem_mb"])
