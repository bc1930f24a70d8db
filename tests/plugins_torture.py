"""Test-only plug-ins and instrumentation for the crash and torture suites (tests/test_crash.py, test_torture.py).

Importing this module registers:

* metric ``torture-slow``: sleeps ``seconds`` (so a kill can land while metrics run), returns ``slow_mean_in`` (the
  output's mean inside the hole) and a per-sample feature vector ``slow_feat`` (so the features table is part of
  every commit);
* backend ``torture-leak``: keeps ``mb`` MiB per call alive forever (a leaking model);
* backend ``torture-exit``: calls ``sys.exit`` in ``setup`` or ``inpaint``;
* backend ``torture-stdout``: writes to the process's stdout and stderr at the file-descriptor level (bypassing
  ``sys.stdout``, like C extensions and subprocesses of research repos do);
* dataset ``torture-evil-ids``: sample ids that are hostile file names (``../../x``, absolute paths, ...).

``SleepyBackend`` is a plain class for the ``python`` backend (``target: tests.plugins_torture:SleepyBackend``).

Phase markers: when ``$TORTURE_PHASE_LOG`` names a file (and ``$TORTURE_FREEZE`` to stop in one, see :func:`phase`), the slow metric and the instrumented backend calls and
store (:func:`instrument_store`) append ``<pid> <phase>`` lines to it, so a test can kill a process while it is inside a given phase and,
after the kill, tell where the process was. :func:`instrument_store` makes every ``RunStore.write_outputs`` / ``write_scores`` pause
for ``$TORTURE_COMMIT_DELAY`` seconds *inside* its transaction (after the records are inserted, before the
features and the commit), which is where a kill hurts most.

:func:`zygote` is a fork server for test_crash.py: one interpreter imports torch and bench once, then forks a
child per ``bench run`` (each child runs exactly ``bench.cli.main``), because starting a fresh interpreter costs
3-4 s of CPU on this machine and the crash test needs a dozen runs.
"""
from __future__ import annotations

import json
import os
import sys
import time

import torch

from bench.backends.base import Backend
from bench.datasets.base import Dataset
from bench.metrics.base import Column, Metric
from bench.registry import BACKENDS, DATASETS, METRICS
from bench.seeding import derive_seed
from bench.types import Sample


_SEEN: dict[str, int] = {}


def phase(name: str) -> None:
    """Append ``<pid> <name>`` to ``$TORTURE_PHASE_LOG`` (one ``write`` on an O_APPEND file: atomic per line).

    With ``$TORTURE_FREEZE=<name>:<k>`` the process stops (sleeps) right after logging the k-th ``name``: a test
    can then kill it there, deterministically inside that phase.
    """
    path = os.environ.get("TORTURE_PHASE_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {name}\n".encode())
    finally:
        os.close(fd)
    _SEEN[name] = _SEEN.get(name, 0) + 1
    freeze, _, k = os.environ.get("TORTURE_FREEZE", "").partition(":")
    if freeze == name and _SEEN[name] == int(k or 1):
        time.sleep(120)  # until the test kills it (bounded, should a test fail before that)


def read_phases(path, pid: int | None = None) -> list[str]:
    """The phase names logged (by ``pid`` if given), in order."""
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        p, _, name = line.partition(" ")
        if pid is None or p == str(pid):
            out.append(name)
    return out


# -------------------------------------------------------------------------------------------------------------
# plug-ins
# -------------------------------------------------------------------------------------------------------------
class SleepyBackend:
    """A slow deterministic model (for the ``python`` backend): sleeps, then fills the hole with the image mean.

    While the file ``$TORTURE_HOLD`` exists it waits (at most 60 s) inside the call: a test can keep a run busy
    for as long as it needs.
    """

    def __init__(self, seconds: float = 0.1):
        self.seconds = float(seconds)

    def inpaint(self, image, mask, generator):
        hold = os.environ.get("TORTURE_HOLD")
        t0 = time.monotonic()
        while hold and os.path.exists(hold) and time.monotonic() - t0 < 60:
            time.sleep(0.02)
        time.sleep(self.seconds)
        known = (~mask).float()
        mean = (image * known).sum(dim=(2, 3), keepdim=True) / known.sum(dim=(2, 3), keepdim=True).clamp(min=1)
        return torch.where(mask, mean.expand_as(image), image)


@METRICS.register("torture-slow")
class SlowMetric(Metric):
    """Test: a slow metric (sleeps) with a per-sample value and a feature vector."""

    columns = {"slow_mean_in": Column(higher_is_better=True, fmt=".4f")}

    def __init__(self, seconds: float = 0.1, dim: int = 256):
        self.seconds, self.dim = float(seconds), int(dim)

    def compute(self, batch):
        phase("metric-start")
        time.sleep(self.seconds)
        m = batch.mask.float()
        inside = (batch.output * m).sum(dim=(1, 2, 3)) / (3 * m.sum(dim=(1, 2, 3))).clamp(min=1)
        flat = batch.output.flatten(1)
        idx = torch.linspace(0, flat.shape[1] - 1, self.dim).long()
        feat = flat[:, idx].double().numpy()
        phase("metric-end")
        return {"slow_mean_in": inside.double().numpy(), "slow_feat": feat}


LEAKED: list[bytearray] = []


@BACKENDS.register("torture-leak")
class LeakyBackend(Backend):
    """Test: keeps ``mb`` MiB alive per call (never freed), returns its input."""

    def __init__(self, mb: int = 40):
        self.mb = int(mb)

    def inpaint(self, image, mask, generator):
        block = bytearray(self.mb << 20)
        block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page: resident, not just reserved
        LEAKED.append(block)
        return image.clone()


@BACKENDS.register("torture-stdout")
class FdStdoutBackend(Backend):
    """Test: writes to file descriptors 1 and 2 directly (as C code or a child process would)."""

    def inpaint(self, image, mask, generator):
        os.write(1, b"[model] fd-1 chatter: step 1/50\n")
        os.write(2, b"[model] fd-2 warning: deprecated\n")
        print("[model] print() chatter", flush=True)
        return image.clone()


@BACKENDS.register("torture-exit")
class ExitingBackend(Backend):
    """Test: calls sys.exit() in setup, inpaint or teardown, as research code does (argparse on the wrong argv,
    ``exit(1)``)."""

    def __init__(self, where: str = "inpaint"):
        self.where = where

    def setup(self, ctx):
        if self.where == "setup":
            sys.exit("usage: model.py [-h] --ckpt CKPT: error: unrecognized arguments: run suite.yaml")

    def inpaint(self, image, mask, generator):
        if self.where == "teardown":
            return image.clone()
        sys.exit(1)

    def teardown(self):
        if self.where == "teardown":
            sys.exit("cleanup: cannot release the device")


EVIL_IDS = ["../../escape", "/tmp/absolute-evil", "a/b/c", "..", ".", ".hidden", "~", "con", "x" * 300,
            "s p a c e", "ünïcødé-名前", "back\\slash", "nul\x01byte"]


@DATASETS.register("torture-evil-ids")
class EvilIdsDataset(Dataset):
    """Test: sample ids that are hostile file names; small smooth images."""

    def __init__(self, size: int = 32):
        self.size = size

    def ids(self) -> list[str]:
        return list(EVIL_IDS)

    def load(self, sample_id: str) -> Sample:
        g = torch.Generator().manual_seed(derive_seed(self.seed, sample_id))
        s = self.size
        img = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(s, s), mode="bilinear",
                                              align_corners=False)[0]
        return Sample(sample_id, img)


# -------------------------------------------------------------------------------------------------------------
# instrumentation and process helpers
# -------------------------------------------------------------------------------------------------------------
class _SlowConn:
    """A sqlite3 connection that pauses after each ``executemany`` (inside the open transaction)."""

    def __init__(self, conn, delay: float):
        self._conn, self._delay = conn, delay

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __enter__(self):
        return self._conn.__enter__()

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)

    def executemany(self, sql, seq):
        cur = self._conn.executemany(sql, seq)
        if sql.lstrip().upper().startswith(("INSERT OR REPLACE INTO OUTPUTS", "INSERT OR REPLACE INTO SCORES")):
            phase("commit-in-txn")
            time.sleep(self._delay)
        return cur


def instrument_store() -> None:
    """Phase markers around every backend call (``backend-start``/``-end``) and every store write
    (``RunStore.write_outputs`` and ``write_scores``: ``commit-start``, ``commit-in-txn``, ``commit-end``), and a
    pause of ``$TORTURE_COMMIT_DELAY`` seconds inside the write transaction. Behaviour is otherwise unchanged."""
    import bench.backends.geometry as geometry
    from bench.store.sqlite import RunStore

    if getattr(RunStore.write_outputs, "_torture", False):
        return
    orig_run = geometry.run_backend

    def run_backend(*args, **kwargs):
        phase("backend-start")
        res = orig_run(*args, **kwargs)
        phase("backend-end")
        return res

    geometry.run_backend = run_backend  # the runner looks it up on the module at call time

    def slowed(orig):
        def write(self, gen_key, *args):
            delay = float(os.environ.get("TORTURE_COMMIT_DELAY", "0") or 0)
            real = self.conn
            self.conn = _SlowConn(real, delay)
            try:
                phase("commit-start")
                orig(self, gen_key, *(list(a) for a in args))
                phase("commit-end")
            finally:
                self.conn = real

        write._torture = True  # type: ignore[attr-defined]
        return write

    RunStore.write_outputs = slowed(RunStore.write_outputs)
    RunStore.write_scores = slowed(RunStore.write_scores)


def cli(argv: list[str] | None = None) -> int:
    """``bench`` with these plug-ins registered and the store instrumented: ``python -c 'import
    tests.plugins_torture as t; t.cli()' run SUITE ...``."""
    from bench.cli import main

    instrument_store()
    sys.exit(main(sys.argv[1:] if argv is None else argv))


def zygote(preload: tuple[str, ...] = ()) -> None:
    """Fork server: reads JSON commands on stdin, answers one JSON line each on stdout.

    ``preload``: modules to import once up front (what the runs will import lazily: backends, datasets, ...).

    ``{"op": "run", "argv": [...], "env": {...}, "log": PATH}`` forks a child that runs ``bench.cli.main(argv)``
    with stdout and stderr sent to ``log``; answers ``{"pid": PID}``. ``{"op": "wait", "pid": PID}`` reaps it and
    answers ``{"status": raw wait status}``. ``{"op": "warm", "argv": [...]}`` runs ``main(argv)`` in the server
    itself (e.g. ``validate SUITE``: imports every plug-in the suite names, runs no model) and answers ``{"rc": RC}``.
    ``{"op": "exit"}`` ends the server. Nothing runs torch operations before a fork (their thread pools are not
    fork-safe).
    """
    import contextlib
    import importlib

    from bench.cli import build_parser, main

    for name in preload:
        importlib.import_module(name)
    build_parser()  # imports the sub-command modules
    instrument_store()
    out = sys.stdout
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "exit":
            break
        if cmd["op"] == "warm":
            with contextlib.redirect_stdout(sys.stderr):
                rc = main(cmd["argv"])
            out.write(json.dumps({"rc": rc}) + "\n")
            out.flush()
            continue
        if cmd["op"] == "wait":
            _, status = os.waitpid(cmd["pid"], 0)
            out.write(json.dumps({"status": status}) + "\n")
            out.flush()
            continue
        pid = os.fork()
        if pid == 0:  # the child: a `bench run` process
            rc = 1
            try:
                fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
                os.environ.update(cmd.get("env", {}))
                rc = main(cmd["argv"])
                phase("child-exit")
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
                rc = 1
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(rc)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


class CheckpointBackend(SleepyBackend):
    """A ``python`` backend class with its own ``check_weights``: the checkpoint ``path`` must exist."""

    def __init__(self, path: str, seconds: float = 0.0):
        super().__init__(seconds)
        self.path = path

    def check_weights(self, ctx):
        from bench.errors import WeightsError

        if not os.path.exists(self.path):
            raise WeightsError(f"{self.path}: checkpoint not found (download it into that path)")


@METRICS.register("torture-picky")
class PickyMetric(Metric):
    """Test: the hole's mean, except that a batch holding sample ``bad`` raises (one sample it cannot score)."""

    columns = {"picky_in": Column(higher_is_better=True, fmt=".4f")}

    def __init__(self, bad: str = "n001"):
        self.bad = str(bad)

    def compute(self, batch):
        if self.bad in batch.sample_ids:
            raise ValueError(f"cannot score {self.bad}")
        m = batch.mask.float()
        return {"picky_in": ((batch.output * m).sum(dim=(1, 2, 3)) / (3 * m.sum(dim=(1, 2, 3))).clamp(min=1)).numpy()}
