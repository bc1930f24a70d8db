"""Crash safety (issue 7, item 3): SIGKILL a `bench run` at random moments, rerun until complete, compare.

A run of two backends (a sleeping ``python`` backend and ``biharmonic`` at 96 px) with psnr, ssim and a slow
test metric that stores a feature vector is killed with SIGKILL, seeded, eight times in a row on the same run
folder: at the k-th backend call, metric computation, *inside* the store's write transaction (the child stops there
until it is killed, so where the kill lands does not depend on timing) and at uniformly random times (where the
slow phases make kills land in all of them). Each kill's process is the next rerun's predecessor; after the last
kill a fresh interpreter finishes the run. After every kill the store must pass ``PRAGMA integrity_check``, hold no
duplicate and no partial batch (every committed record has its feature vector), lose nothing committed before, and
agree row for row with an uninterrupted run; at the end it must equal the uninterrupted run exactly.

Runs are forked from a pre-imported interpreter (tests.plugins_torture.zygote): each child runs exactly
``bench.cli.main(["run", ...])``, and a SIGKILL on it is a SIGKILL on a `bench run` process, but it saves the 3-4 s of
CPU an interpreter start costs here. The final run uses a fresh interpreter.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.plugins_torture import read_phases

ROOT = Path(__file__).resolve().parents[1]
N = 12  # samples per cell: two cells, batch size 2 -> 12 batches
MARKER = {"backend": "backend-start", "metric": "metric-start", "commit": "commit-in-txn"}
# what a run imports lazily, imported once in the fork server
PRELOAD = ("bench.backends.classical", "bench.backends.python_backend", "skimage.restoration", "bench.datasets.synthetic",
           "bench.masks.basic", "bench.metrics.pixel", "rich.progress", "bench.runner.merge")
DROP = {"latency_ms", "wall_ms", "batch_size", "created"}


class Zygote:
    """Client of tests.plugins_torture.zygote (a fork server with torch and bench imported)."""

    def __init__(self, env: dict[str, str]):
        code = f"import tests.plugins_torture as t; t.zygote({PRELOAD!r})"
        self.proc = subprocess.Popen([sys.executable, "-c", code],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)

    def _ask(self, cmd: dict) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fork server died"
        return json.loads(line)

    def run(self, argv: list[str], log: Path, env: dict[str, str]) -> int:
        return self._ask({"op": "run", "argv": argv, "env": env, "log": str(log)})["pid"]

    def warm(self, argv: list[str]) -> int:
        return self._ask({"op": "warm", "argv": argv})["rc"]

    def wait(self, pid: int) -> int:
        """The child's exit code, or -signal."""
        status = self._ask({"op": "wait", "pid": pid})["status"]
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def zygote():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    z = Zygote(env)
    yield z
    z.close()


def write_suite(tmp: Path, z: Zygote | None = None) -> Path:
    suite = {
        "name": "crash",
        "output_dir": str(tmp / "results"),
        "seed": 3,
        "resolution": 96,
        "batch_size": 2,
        "workers": 1,
        "device": "cpu",
        "backends": [
            {"type": "python", "name": "sleepy", "target": "tests.plugins_torture:SleepyBackend",
             "kwargs": {"seconds": 0.12}},
            "biharmonic",
        ],
        "datasets": [{"type": "synthetic", "n": N}],
        "masks": [{"type": "box", "min_size": 0.2, "max_size": 0.4}],
        "metrics": ["psnr", "ssim", {"type": "torture-slow", "seconds": 0.1, "dim": 512}],
    }
    p = tmp / "crash.yaml"
    p.write_text(yaml.safe_dump(suite, sort_keys=False))
    if z is not None:
        assert z.warm(["validate", str(p)]) == 0
    return p


def snapshot(db: Path) -> dict:
    """Everything a check needs, read with plain sqlite3 (read-only; never goes through the code under test).

    ``rows``: (cell, sample) -> the generation row; ``scores``: (cell, sample, scorer label) -> values;
    ``feats``: (cell, sample, name) -> feature bytes."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        n, n_distinct = con.execute("SELECT COUNT(*), COUNT(DISTINCT gen_key || '|' || sample_id) FROM outputs"
                                    ).fetchone()
        cur = con.execute("SELECT * FROM outputs")
        names = [d[0] for d in cur.description]
        rows = {}
        for r in cur:
            d = {k: v for k, v in zip(names, r) if k not in DROP}
            d["info"] = json.loads(d["info"])
            rows[(d["gen_key"], d["sample_id"])] = d
        scores = {}
        for gk, sid, label, vals, err in con.execute(
                "SELECT s.gen_key, s.sample_id, c.label, s.vals, s.error FROM scores s JOIN scorers c USING (scorer_key)"):
            scores[(gk, sid, label)] = {"error": err, **json.loads(vals)}
        feats = {(c, s, nm): bytes(b) for c, s, nm, b in con.execute(
            "SELECT gen_key, sample_id, name, data FROM features")}
    finally:
        con.close()
    return {"integrity": integrity, "n": n, "n_distinct": n_distinct, "rows": rows, "scores": scores, "feats": feats}


def kill_in(z: Zygote, argv, log: Path, env, phases: Path, target: str, k: int, rng: random.Random):
    """Start a run and SIGKILL it at the k-th entry into ``target`` (the child freezes there, so the kill lands
    inside that phase whatever the machine's load) or at a random time; returns (pid, exit code, where the process
    was when it died, from its phase log)."""
    if target != "random":
        env = {**env, "TORTURE_FREEZE": f"{MARKER[target]}:{k}"}
    pid = z.run(argv, log, env)
    t0 = time.monotonic()
    when = rng.uniform(0.2, 1.2) if target == "random" else None
    killed = False
    while time.monotonic() - t0 < 60:
        names = read_phases(phases, pid)
        if "child-exit" in names:
            break
        if (when is not None and time.monotonic() - t0 >= when) or \
                (when is None and names.count(MARKER[target]) >= k):
            os.kill(pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.003)
    rc = z.wait(pid)
    names = read_phases(phases, pid)
    last = names[-1] if names else "start-up"
    where = {v: k for k, v in MARKER.items()}.get(last, f"other ({last})")
    return pid, rc, (where if killed else "finished")


def check_partial(snap: dict, ref: dict) -> None:
    assert snap["integrity"] == [("ok",)]
    assert snap["n"] == snap["n_distinct"], "duplicate (cell, sample) rows"
    for key, row in snap["rows"].items():
        assert row["error"] is None, row["error"]
        assert row == ref["rows"][key], f"generation row {key} differs from the uninterrupted run"
    for key, vals in snap["scores"].items():
        assert key[:2] in snap["rows"], f"scores {key} without their generation row"
        assert vals == ref["scores"][key], f"scores {key} differ from the uninterrupted run"
    # one transaction per scored batch: a committed score of the feature metric always has its features, and
    # only committed ones do
    feat_keys = {(c, s) for c, s, _ in snap["feats"]}
    assert feat_keys == {k[:2] for k in snap["scores"] if k[2] == "torture-slow"}, \
        "scores and features were not committed together"
    for key, blob in snap["feats"].items():
        assert blob == ref["feats"][key]


def complete(snap: dict, ref: dict) -> bool:
    return snap["rows"] == ref["rows"] and snap["scores"] == ref["scores"] and snap["feats"] == ref["feats"]


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted_run(tmp_path, zygote):
    suite = write_suite(tmp_path, zygote)
    phases = tmp_path / "phases.log"
    env = {"TORTURE_PHASE_LOG": str(phases), "TORTURE_COMMIT_DELAY": "0.08"}
    base = ["run", str(suite), "--no-progress", "--no-report"]

    pid = zygote.run(base + ["--run-id", "reference"], tmp_path / "reference.log", env)
    assert zygote.wait(pid) == 0, (tmp_path / "reference.log").read_text()
    ref = snapshot(tmp_path / "results" / "reference" / "records.sqlite")
    assert ref["n"] == 2 * N and all(r["error"] is None for r in ref["rows"].values())
    assert len(ref["feats"]) == 2 * N and len(ref["scores"]) == 3 * 2 * N

    rng = random.Random(20261125)
    db = tmp_path / "results" / "killed" / "records.sqlite"
    plan = ["backend", "metric", "commit", "random", "commit", "backend", "random", "metric"]
    landed, done_before = [], set()
    for i, target in enumerate(plan):
        k = rng.randint(1, 2)
        log = tmp_path / f"trial{i}.log"
        _, rc, where = kill_in(zygote, base + ["--run-id", "killed"], log, env, phases, target, k, rng)
        landed.append((target, where))
        if where == "finished":
            assert rc == 0, log.read_text()
            continue
        assert rc == -signal.SIGKILL
        if not db.exists():
            continue  # killed before the store was created
        snap = snapshot(db)
        check_partial(snap, ref)
        assert done_before <= set(snap["rows"]), "a rerun lost rows committed by an earlier run"
        done_before = set(snap["rows"])
    print("kills landed:", landed)  # shown with -s
    # every phase was hit where aimed (the process died inside a backend call / metric / open write transaction)
    for target, where in landed:
        if target != "random":
            assert where == target, landed
    assert sum(w != "finished" for _, w in landed) >= 7, landed
    assert len(done_before) < 2 * N, "the kills left nothing to resume; make the run longer"

    # a fresh interpreter finishes the run, computing only what is missing
    t_final = time.time()
    r = subprocess.run([sys.executable, "-c", "import tests.plugins_torture as t; t.cli()"] + base
                       + ["--run-id", "killed"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    final = snapshot(db)
    check_partial(final, ref)
    assert final["n"] == 2 * N and complete(final, ref)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    recomputed = con.execute("SELECT COUNT(*) FROM outputs WHERE created >= ?", (t_final,)).fetchone()[0]
    con.close()
    assert recomputed == 2 * N - len(done_before)  # only what was missing was generated again
    man = json.loads((db.parent / "manifest.json").read_text())
    assert man.get("finished") and len(man["sessions"]) >= 2


def test_killed_shard_resumes_and_the_merge_equals_a_single_process_run(tmp_path, zygote):
    """Slurm pre-emption: shard 0/2 is killed inside a commit, requeued (same command), shard 1/2 runs; the merged
    run folder equals a single-process run of the same suite."""
    suite = write_suite(tmp_path, zygote)
    phases = tmp_path / "phases.log"
    env = {"TORTURE_PHASE_LOG": str(phases)}
    base = ["run", str(suite), "--no-progress", "--no-report", "--limit", "4"]
    pid = zygote.run(base + ["--run-id", "single"], tmp_path / "single.log", env)
    assert zygote.wait(pid) == 0, (tmp_path / "single.log").read_text()
    ref = snapshot(tmp_path / "results" / "single" / "records.sqlite")
    assert ref["n"] == 8
    shard = base + ["--run-id", "sharded", "--shard"]
    _, rc, where = kill_in(zygote, shard + ["0/2"], tmp_path / "s0.log", env, phases, "commit", 2, random.Random(1))
    assert rc == -signal.SIGKILL and where == "commit"
    s0 = tmp_path / "results" / "sharded" / "shards" / "0-of-2" / "records.sqlite"
    part = snapshot(s0)
    assert part["n"] == 2  # the first batch committed, the second died in its transaction
    check_partial(part, ref)
    for i, arg in enumerate(["0/2", "1/2"]):
        pid = zygote.run(shard + [arg], tmp_path / f"r{i}.log", env)
        assert zygote.wait(pid) == 0, (tmp_path / f"r{i}.log").read_text()
    pid = zygote.run(["merge", str(tmp_path / "results" / "sharded"), "--no-report"], tmp_path / "m.log", env)
    assert zygote.wait(pid) == 0, (tmp_path / "m.log").read_text()
    merged = snapshot(tmp_path / "results" / "sharded" / "records.sqlite")
    check_partial(merged, ref)
    assert complete(merged, ref)


def test_second_process_on_the_same_folder_refuses_and_never_corrupts(tmp_path, zygote):
    suite = write_suite(tmp_path, zygote)
    phases = tmp_path / "phases.log"
    hold = tmp_path / "hold"
    hold.touch()
    env = {"TORTURE_PHASE_LOG": str(phases), "TORTURE_HOLD": str(hold)}
    argv = ["run", str(suite), "--no-progress", "--no-report", "--run-id", "shared", "--limit", "2"]
    a = zygote.run(argv, tmp_path / "a.log", env)
    try:
        t0 = time.monotonic()
        while "backend-start" not in read_phases(phases, a):
            assert time.monotonic() - t0 < 60, (tmp_path / "a.log").read_text()
            time.sleep(0.01)
        # A is inside its first backend call (held there); B asks for the same folder, even with --fresh
        b = zygote.run(argv + ["--fresh"], tmp_path / "b.log", {"TORTURE_PHASE_LOG": str(phases)})
        assert zygote.wait(b) == 2
        msg = (tmp_path / "b.log").read_text()
        assert f"is in use by pid {a}" in msg and "--shard" in msg, msg
        assert "backend-start" not in read_phases(phases, b)  # B computed nothing
        assert "child-exit" not in read_phases(phases, a)  # A is still running
    finally:
        hold.unlink()
    assert zygote.wait(a) == 0, (tmp_path / "a.log").read_text()
    run_dir = tmp_path / "results" / "shared"
    snap = snapshot(run_dir / "records.sqlite")
    assert snap["integrity"] == [("ok",)] and snap["n"] == 4 == snap["n_distinct"]
    assert all(r["error"] is None for r in snap["rows"].values())
    assert len(snap["feats"]) == 4
    # B's --fresh deleted nothing: A's manifest names one session (A's) and its records all survived
    man = json.loads((run_dir / "manifest.json").read_text())
    assert len(man["sessions"]) == 1 and man.get("finished")


def test_a_refusal_by_running_shards_names_them_not_an_earlier_run(tmp_path, zygote):
    """Shards hold the run folder shared and never rewrite its lock file, so a merge refused while a shard ran
    named the pid of the plain run that had finished before ("in use by pid 4018"). It names the running shards."""
    suite = write_suite(tmp_path, zygote)
    phases = tmp_path / "phases.log"
    base = ["run", str(suite), "--no-progress", "--no-report", "--run-id", "held", "--limit", "2"]
    plain = zygote.run(base, tmp_path / "plain.log", {"TORTURE_PHASE_LOG": str(phases)})
    assert zygote.wait(plain) == 0, (tmp_path / "plain.log").read_text()
    run_dir = tmp_path / "results" / "held"
    assert f"pid {plain} " in (run_dir / ".lock").read_text()  # what the finished run left in the file
    hold = tmp_path / "hold"
    hold.touch()
    a = zygote.run(base + ["--shard", "0/2"], tmp_path / "a.log",
                   {"TORTURE_PHASE_LOG": str(phases), "TORTURE_HOLD": str(hold)})
    try:
        t0 = time.monotonic()
        while "backend-start" not in read_phases(phases, a):
            assert time.monotonic() - t0 < 60, (tmp_path / "a.log").read_text()
            time.sleep(0.01)
        for i, argv in enumerate((["merge", str(run_dir), "--no-report"], base + ["--fresh"])):
            b = zygote.run(argv, tmp_path / f"b{i}.log", {"TORTURE_PHASE_LOG": str(phases)})
            assert zygote.wait(b) == 2
            msg = (tmp_path / f"b{i}.log").read_text()
            assert "in use by shards of this run: shards/0-of-2 (pid " + str(a) + " on " in msg, msg
            assert f"pid {plain}" not in msg, msg
    finally:
        hold.unlink()
    assert zygote.wait(a) == 0, (tmp_path / "a.log").read_text()


def test_fresh_run_does_not_delete_the_stores_of_running_shards(tmp_path, zygote):
    suite = write_suite(tmp_path, zygote)
    phases = tmp_path / "phases.log"
    hold = tmp_path / "hold"
    hold.touch()
    base = ["run", str(suite), "--no-progress", "--no-report", "--run-id", "mixed", "--limit", "2"]
    a = zygote.run(base + ["--shard", "0/2"], tmp_path / "a.log",
                   {"TORTURE_PHASE_LOG": str(phases), "TORTURE_HOLD": str(hold)})
    try:
        t0 = time.monotonic()
        while "backend-start" not in read_phases(phases, a):  # A has its store open and is held in a model call
            assert time.monotonic() - t0 < 60, (tmp_path / "a.log").read_text()
            time.sleep(0.01)
        b = zygote.run(base + ["--fresh"], tmp_path / "b.log", {"TORTURE_PHASE_LOG": str(phases)})
        rc_b = zygote.wait(b)
    finally:
        hold.unlink()
    assert zygote.wait(a) == 0, (tmp_path / "a.log").read_text()
    shard_db = tmp_path / "results" / "mixed" / "shards" / "0-of-2" / "records.sqlite"
    # either B refused (the shard is running) or it left the shard's store alone
    assert rc_b == 2 or shard_db.exists()
    assert shard_db.exists() and snapshot(shard_db)["n"] == 2


def test_a_lock_names_its_machine_and_a_kill_minus_9_leaves_nothing_to_delete(tmp_path):
    """A run killed with SIGKILL leaves `.lock` behind but not its lock: the next run takes the folder at once.
    A live holder's refusal names its pid *and machine* (on a shared file system a pid of another node means
    nothing: without the machine one would find no such process here and delete the file, letting a second writer
    in) and says that there is nothing to delete."""
    import signal
    import socket
    import subprocess
    import sys

    from bench.errors import BenchError
    from bench.runner.locks import RunLock

    code = ("import sys, time; from pathlib import Path; from bench.runner.locks import RunLock; "
            "RunLock(Path(sys.argv[1])); print('held', flush=True); time.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(BenchError) as e:
            RunLock(tmp_path)
        msg = str(e.value)
        assert f"in use by pid {child.pid} on {socket.gethostname()} since " in msg and " UTC" in msg, msg
        assert "no stale lock to delete" in msg and "deleting .lock would let a second writer in" in msg, msg
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert f"pid {child.pid} on {socket.gethostname()}" in (tmp_path / ".lock").read_text()  # left behind
    RunLock(tmp_path).release()  # and taken over at once: the kernel let go of the dead process's lock
    (tmp_path / ".lock").write_text(f"pid {child.pid} on another-node-7 since 2026-12-08 01:00:00 UTC")
    with open(tmp_path / ".lock") as f:
        import fcntl

        fcntl.flock(f, fcntl.LOCK_EX)  # held by this process through another open file: refused like any holder
        with pytest.raises(BenchError, match=r"on another-node-7 since .* UTC \(another machine: look for the "
                                             r"process there\)"):
            RunLock(tmp_path)


def test_lock_on_a_file_system_without_flock_says_so(tmp_path, monkeypatch):
    """Lustre mounted without ``-o flock`` (common on Slurm clusters) answers flock() with ENOSYS; some NFS setups
    with ENOLCK. That is not 'another process holds the run folder': say the file system cannot lock (or proceed
    with a warning)."""
    import errno
    import fcntl

    from bench.errors import BenchError
    from bench.runner.locks import RunLock

    def no_flock(fd, op):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    try:
        lock = RunLock(tmp_path)
    except BenchError as e:
        assert "in use by" not in str(e) and "lock" in str(e).lower()
    else:
        lock.release()


def test_a_damaged_store_is_a_clear_error(tmp_path, capsys):
    from bench.cli import main

    run_dir = tmp_path / "results" / "crash"
    run_dir.mkdir(parents=True)
    (run_dir / "records.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "crash", "output_dir": str(tmp_path / "results"), "device": "cpu",
                                     "resolution": 32, "backends": ["identity"],
                                     "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"]}))
    for argv in (["run", str(suite), "--no-progress", "--no-report"], ["merge", str(run_dir), "--no-report"]):
        try:
            rc = main(argv)
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"bench {argv[0]}: {type(e).__name__}: {e}")
        err = capsys.readouterr().err
        assert rc == 2 and "records.sqlite" in err


def _spy_suite(tmp_path, n=12):
    from bench.config import parse_suite

    return parse_suite({"name": "full", "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2,
                        "backends": ["test-spy"], "datasets": [{"type": "test-noise", "n": n}],
                        "masks": [{"type": "box", "min_size": 0.3, "max_size": 0.5}], "metrics": ["psnr"]})


def test_a_full_disk_stops_the_run_instead_of_computing_outputs_it_cannot_keep(tmp_path, plugins, monkeypatch):
    """With a real model (seconds per image) a disk that fills up must not let the run go on computing every
    remaining output only to lose it: the run stops with a message naming the folder, keeps what it stored, and the
    next run (room made) computes only what is missing."""
    import errno

    from bench.errors import BenchError
    from bench.runner import Runner
    from bench.runner import generate

    real, written = generate.write_png, []

    def fills_up(path, u8):
        if len(written) >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        return real(path, u8)

    monkeypatch.setattr(generate, "write_png", fills_up)
    suite = _spy_suite(tmp_path)
    with pytest.raises(BenchError, match="No space left on device.*make room and run the same command again"):
        Runner(suite, progress=False).run()
    assert sum(b for _, b in plugins.CALLS) == 6  # two batches stored, the third could not be: no fourth
    monkeypatch.setattr(generate, "write_png", real)
    plugins.CALLS.clear()
    run_dir = Runner(suite, progress=False).run()
    assert sum(b for _, b in plugins.CALLS) == 8  # the 4 stored outputs were kept
    db = sqlite3.connect(str(run_dir / "records.sqlite"))
    assert db.execute("SELECT COUNT(*), COUNT(error) FROM outputs").fetchone() == (12, 0)
    db.close()


def test_a_store_that_cannot_be_written_is_a_message_not_a_traceback(tmp_path, plugins, capsys):
    """SQLite's own 'database or disk is full' (here: a page limit) ends `bench run` with a message naming the
    store (exit 2); the batches committed before stay."""
    from bench.cli import main
    from bench.store import RunStore

    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "full", "output_dir": str(tmp_path / "results"), "device": "cpu",
                                     "batch_size": 2, "backends": ["test-spy"],
                                     "datasets": [{"type": "test-noise", "n": 40}],
                                     "masks": [{"type": "box", "min_size": 0.3, "max_size": 0.5}],
                                     "metrics": ["psnr"]}))
    real_init = RunStore.__init__

    def small(self, path):
        real_init(self, path)
        self.conn.execute(f"PRAGMA max_page_count = {self.conn.execute('PRAGMA page_count').fetchone()[0] + 2}")

    import unittest.mock as mock

    with mock.patch.object(RunStore, "__init__", small):
        rc = main(["run", str(suite), "--no-progress", "--no-report"])
    err = capsys.readouterr().err
    assert rc == 2 and "records.sqlite: cannot write the run's store (database or disk is full)" in err
    db = sqlite3.connect(str(tmp_path / "results" / "full" / "records.sqlite"))
    assert 0 < db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0] < 40
    db.close()


def _read_only_copy(run_dir: Path, where: Path, monkeypatch) -> Path:
    """``run_dir`` copied onto a read-only tmpfs mounted at ``where`` when this process may mount one (root with
    the capability); else the copy's folder is reported unwritable to the harness (os.access), which is what it
    asks."""
    import shutil

    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                             capture_output=True).returncode == 0
    shutil.copytree(run_dir, where / run_dir.name)
    if mounted and subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True).returncode == 0:
        return where / run_dir.name
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if (
        mode & os.W_OK and Path(p).resolve() == (where / run_dir.name).resolve()) else real(p, mode, *a, **k))
    return where / run_dir.name


def test_a_run_folder_that_cannot_be_written_is_reported_and_exported(tmp_path, capsys, monkeypatch):
    """On a read-only mount (an archived result) `bench report` and `bench export` called a healthy store "not a
    usable inpaint-bench store" and advised starting over with --fresh: SQLite cannot open a WAL store for reading
    where it cannot create its shared-memory file. The store is now opened as an immutable file there; `bench
    score` says the folder cannot be written, not that the store is broken."""
    from bench.cli import main
    from bench.config import parse_suite
    from bench.runner import Runner

    run = Runner(parse_suite({"output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 32,
                              "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 3}],
                              "masks": ["box"], "metrics": ["psnr"]}), run_id="r", progress=False).run()
    ro = _read_only_copy(run, tmp_path / "ro", monkeypatch)
    try:
        assert main(["report", str(ro), "--format", "csv", "--out", str(tmp_path / "rep")]) == 0
        rows = (tmp_path / "rep" / "summary.csv").read_text().splitlines()
        assert len(rows) == 2 and rows[1].startswith("mean-fill,synthetic,box,3,0,")
        assert main(["export", str(ro), "--per-sample", str(tmp_path / "s.csv")]) == 0
        assert len((tmp_path / "s.csv").read_text().splitlines()) == 4
        capsys.readouterr()
        assert main(["score", str(ro), "--add-metrics", "ssim", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "cannot be written" in err and "not a usable" not in err
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "ro")], capture_output=True)


def test_the_final_manifest_write_failing_is_said_unless_the_run_already_failed(tmp_path, plugins, monkeypatch):
    """The last manifest write's OSError was to give way to the run's own error only; it was read inside its own
    `except`, where it is always that OSError, so a run whose final manifest could not be written ended as if
    all were well. Now: alone it is raised; after the run's own error, that error is the one raised."""
    import errno

    from bench.runner import Runner
    from bench.runner import generate

    real = Runner._write_manifest

    def fails_when_finished(self):
        if "finished" in self.manifest:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self)

    monkeypatch.setattr(Runner, "_write_manifest", fails_when_finished)
    with pytest.raises(OSError, match="No space left on device"):
        Runner(_spy_suite(tmp_path), progress=False).run()

    def interrupted(path, u8):  # the run's own failure (Ctrl-C while an output is written)
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "write_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Runner(_spy_suite(tmp_path / "b"), progress=False).run()


def test_stored_outputs_reads_a_store_in_a_folder_named_oddly_or_read_only(tmp_path, monkeypatch):
    """stored_outputs (bench validate's notes, the unmerged-shards note) opened `file:{path}?mode=ro`: a folder
    whose name holds `?` or `#` named another file, and a read-only folder's WAL store could not be opened; both
    read as "no outputs". It now opens them as RunStore does."""
    from bench.store import RunStore, stored_outputs
    from tests.store_helpers import add_cell, write_records

    run = tmp_path / "odd ?#% name"
    with RunStore(run / "records.sqlite") as s:
        add_cell(s, "a.ds.m.x", "a", "ds", "m", {})
        write_records(s, "a.ds.m.x", [{"sample_id": "s0", "values": {}, "error": None}])
    assert stored_outputs(run / "records.sqlite") == {"a.ds.m.x": {"s0"}}
    ro = _read_only_copy(run, tmp_path / "ro", monkeypatch)
    try:
        assert stored_outputs(ro / "records.sqlite") == {"a.ds.m.x": {"s0"}}
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "ro")], capture_output=True)
