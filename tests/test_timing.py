"""The runner's clocks read against PyTorch's semantics, on CPU, with torch.cuda / torch.mps replaced by fakes that
record the order of calls (no GPU here)."""
from __future__ import annotations

import pytest
import torch

from bench.runner import timing


class FakeCuda:
    """What ``timed`` asks of torch.cuda, as a log: which stream each event is recorded on, what synchronises when.
    The current device is cuda:0, as in a process that never called ``torch.cuda.set_device``."""

    def __init__(self, current_device: int = 0):
        self.log: list[tuple] = []
        self.current = current_device
        cuda = self

        class Event:
            def __init__(self, enable_timing: bool = False):
                assert enable_timing
                self.stream = None

            def record(self, stream=None):
                # torch.cuda.Event.record: "Uses torch.cuda.current_stream() if no stream is specified", and
                # current_stream() is the *current device's*
                self.stream = stream if stream is not None else cuda.current_stream(None)
                cuda.log.append(("record", self.stream))

            def elapsed_time(self, other):
                cuda.log.append(("elapsed",))
                assert self.stream == other.stream, "both events on one stream"
                return 5.0

        self.Event = Event

    def current_stream(self, device=None):
        index = self.current if device is None or getattr(device, "index", None) is None else device.index
        return FakeStream(self, index)

    def synchronize(self, device=None):
        self.log.append(("synchronize", None if device is None else str(device)))


class FakeStream:
    def __init__(self, cuda: FakeCuda, index: int):
        self.cuda, self.index = cuda, index

    def __eq__(self, other):
        return isinstance(other, FakeStream) and other.index == self.index

    def __repr__(self):
        return f"stream(cuda:{self.index})"

    def synchronize(self):
        self.cuda.log.append(("stream.synchronize", self.index))


@pytest.fixture
def fake_cuda(monkeypatch):
    fake = FakeCuda(current_device=0)
    monkeypatch.setattr(torch.cuda, "Event", fake.Event)
    monkeypatch.setattr(torch.cuda, "current_stream", fake.current_stream)
    monkeypatch.setattr(torch.cuda, "synchronize", fake.synchronize)
    return fake


@pytest.mark.parametrize("stream_only", [False, True])
def test_cuda_events_are_recorded_on_the_suites_device_not_the_current_one(fake_cuda, stream_only):
    """``device: cuda:1`` without ``set_device``: events on cuda:0's stream time an idle GPU (their elapsed time is
    the host's enqueue time, not the model's); they must be on cuda:1's stream, between synchronisations of cuda:1."""
    dev = torch.device("cuda:1")
    with timing.timed(dev, stream_only=stream_only) as t:
        fake_cuda.log.append(("model",))
    log = fake_cuda.log
    records = [e for e in log if e[0] == "record"]
    assert [r[1] for r in records] == [FakeStream(fake_cuda, 1)] * 2, log
    sync = ("stream.synchronize", 1) if stream_only else ("synchronize", "cuda:1")
    # synchronise, start, the model, end, synchronise, then read the events
    assert log == [sync, records[0], ("model",), records[1], sync, ("elapsed",)], log
    assert t.ms == 5.0 and t.method == "cuda_events" and t.wall_ms >= 0


def test_mps_waits_for_its_queued_kernels_before_reading_the_clock(monkeypatch):
    """MPS runs kernels asynchronously like CUDA: perf_counter alone stops the clock when the work is queued."""
    log: list[str] = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: log.append("synchronize"))
    with timing.timed(torch.device("mps")) as t:
        log.append("model")
    assert log == ["synchronize", "model", "synchronize"]
    assert t.ms == t.wall_ms >= 0 and "synchronised" in t.method
    assert timing.method(torch.device("mps")) == t.method
    assert timing.method(torch.device("cpu")) == "perf_counter"


def test_a_region_that_raises_leaves_no_timing(fake_cuda):
    """A backend that fails mid-batch: nothing measured is kept (the runner writes error rows, no latency)."""
    t = None
    with pytest.raises(RuntimeError):
        with timing.timed(torch.device("cuda:0")) as t:
            raise RuntimeError("boom")
    assert t is not None and t.ms != t.ms and t.wall_ms != t.wall_ms  # NaN
    with pytest.raises(RuntimeError):
        with timing.timed(torch.device("cpu")) as t:
            raise RuntimeError("boom")
    assert t.ms != t.ms


def test_the_first_timed_batch_imports_nothing(tmp_path):
    """The clock times the model: a module imported inside the timed region (the geometry adapter was imported on
    the first call, about 20 ms here) is load time, and it went into the first batch's latency (the identity
    backend's first images read tens of times slower than the rest). Fresh interpreter: nothing imported before."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = textwrap.dedent(f"""
        import sys
        from contextlib import contextmanager
        from bench.config import parse_suite
        from bench.runner import Runner, timing

        real, imported = timing.timed, []

        @contextmanager
        def watched(*a, **k):
            before = set(sys.modules)
            with real(*a, **k) as t:
                yield t
            imported.extend(sorted(set(sys.modules) - before))

        timing.timed = watched
        suite = parse_suite({{"output_dir": {str(tmp_path)!r}, "device": "cpu", "resolution": 32,
                              "backends": ["identity"], "datasets": [{{"type": "synthetic", "n": 3}}],
                              "masks": [{{"type": "box"}}], "metrics": [], "batch_size": 2}})
        Runner(suite, progress=False).run()
        print("IMPORTED", imported)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0, r.stderr[-2000:]
    line = [x for x in r.stdout.splitlines() if x.startswith("IMPORTED")][-1]
    assert line == "IMPORTED []", line


def test_a_cuda_cell_whose_every_call_failed_has_no_memory_figure(monkeypatch):
    """A model that ran out of memory on every batch measured nothing: its peak is absent ("—"), not 0 MiB (the
    smallest, so the best, figure of the table); one finished call gives its own peak, net of the harness's."""
    peaks = {"alloc": 0, "reserved": 0}
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: peaks.update(alloc=0, reserved=0))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: peaks["alloc"])
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: peaks["reserved"])
    monkeypatch.setattr(timing, "reset_peak_rss", lambda: False)
    dev = torch.device("cuda:0")
    tracker = timing.PeakTracker(dev, baseline=(100, 200))
    tracker.before_call()
    peaks.update(alloc=5000, reserved=6000)  # the call that then raised (out of memory): after_call never comes
    s = tracker.summary()
    assert s["peak_mem_allocated"] is None and s["peak_mem_reserved"] is None, s
    tracker.before_call()
    peaks.update(alloc=900, reserved=1200)
    tracker.after_call()
    s = tracker.summary()
    assert s["peak_mem_allocated"] == 800 and s["peak_mem_reserved"] == 1000, s


class LazyImporter:
    """A plug-in that imports a module on its first call (load time the clock would count as the model's)."""

    def __init__(self):
        from bench.backends.base import Geometry

        self.geometry = Geometry()

    def setup(self, ctx):
        pass

    def inpaint(self, image, mask, generator):
        import bench_h4_lazy_dep  # noqa: F401  (written by the test into a folder on sys.path)

        return image.clone()

    def teardown(self):
        pass

    def provenance(self):
        return {}


def test_modules_imported_inside_a_timed_call_are_said_not_hidden(tmp_path, monkeypatch):
    """Load time inside the clock (a backend importing on its first call; no warm-up on CPU by default) is
    mixed into that batch's latency: the run says so once, and that batch's rows record it; later batches do not."""
    import sys

    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    (tmp_path / "bench_h4_lazy_dep.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "bench_h4_lazy_dep", raising=False)

    class Console:
        lines: list[str] = []

        def print(self, *parts, **_):
            self.lines.append(" ".join(str(p) for p in parts))

    console = Console()
    suite = parse_suite({"output_dir": str(tmp_path / "results"), "device": "cpu", "resolution": 32, "batch_size": 2,
                         "backends": [{"type": "python", "name": "lazy", "target": "tests.test_timing:LazyImporter"}],
                         "datasets": [{"type": "synthetic", "n": 4}], "masks": [{"type": "box"}], "metrics": []})
    run_dir = Runner(suite, progress=False, console=console).run()
    notes = [line for line in console.lines if "imported during a timed call" in line]
    assert len(notes) == 1 and "bench_h4_lazy_dep" in notes[0], console.lines
    with RunStore(run_dir / "records.sqlite") as s:
        (cell,) = s.cells()
        rows = s.output_info(cell["cell_key"])
    assert len(rows) == 4
    marks = sorted(k for k, v in rows.items() if v["info"].get("modules_loaded_in_timed_call"))
    assert marks == ["syn-0000", "syn-0001"], rows
