"""Several processes on one run (``torchrun``, ``accelerate launch``): each rank is a shard, rank 0 merges.

No collective (NCCL/gloo barrier) is involved, so a rank that dies cannot leave the others waiting for days:
every rank touches ``shards/<i>-of-<n>/heartbeat`` every :data:`BEAT_S` seconds while it works and writes
``done.json`` when it finishes; rank 0, once its own share is done, waits for every other rank's ``done.json`` as
long as it sees that rank's heartbeat change at least every ``timeout_s`` (on its own monotonic clock: no two
machines' clocks are compared; a rank that has not started yet gets ``timeout_s`` from rank 0's start). Then it merges what is there and names the ranks it gave up on; rerunning the same command
computes exactly what they left missing.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

BEAT_S = 10.0


def distributed() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when launched by torchrun / accelerate with more than one process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        rank = int(os.environ.get("RANK", "0"))
        return rank, world, int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return None


def shard_dir(run_dir: Path, i: int, n: int) -> Path:
    return Path(run_dir) / "shards" / f"{i}-of-{n}"


class Heartbeat:
    """Touch ``<folder>/heartbeat`` every ``interval`` seconds on a daemon thread while the block runs."""

    def __init__(self, folder: Path, interval: float = BEAT_S):
        self.path = Path(folder) / "heartbeat"
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        from ..fsio import write_text_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, f"{os.getpid()} {time.time():.0f}\n")

    def __enter__(self) -> "Heartbeat":
        self._beat()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self._beat()
                except OSError:
                    pass

        self._thread = threading.Thread(target=loop, name="bench-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def mark_done(folder: Path, ok: bool, message: str = "", incomplete: list[str] | None = None) -> None:
    """A rank's end: ``ok`` (it finished), and what of its share could not run (``incomplete``: "backend X", a
    dataset), which the lead rank's exit status reports (a rank that exits non-zero makes torchrun stop the others)."""
    from ..fsio import write_text_atomic

    Path(folder).mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(folder) / "done.json", json.dumps({"ok": ok, "message": message, "time": time.time(),
                                                              "incomplete": list(incomplete or [])}))


def shards_incomplete(run_dir: Path, n: int) -> list[str]:
    """What the ranks of a torchrun launch recorded as not run (:func:`mark_done`), each named once."""
    out: list[str] = []
    for i in range(n):
        try:
            out += list(json.loads((shard_dir(run_dir, i, n) / "done.json").read_text()).get("incomplete") or [])
        except (OSError, ValueError, AttributeError, TypeError):
            continue
    return list(dict.fromkeys(map(str, out)))


def clear_done(folder: Path) -> None:
    (Path(folder) / "done.json").unlink(missing_ok=True)


def _beat_token(path: Path) -> tuple[int, int, int] | None:
    """What identifies one beat of a heartbeat file (inode, modification time, size; each beat is a new file
    renamed over the last), or None when there is none. Only compared for change, never read as a time."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def wait_for_shards(run_dir: Path, n: int, timeout_s: float, started: float,
                    log: Callable[[str], None] = lambda m: None, poll_s: float = 2.0) -> list[int]:
    """Wait until every shard 0..n-1 has ``done.json`` or has been silent for ``timeout_s``; returns the shards
    given up on (silent or failed).

    Silence is measured on this machine's monotonic clock, from the last time this process *saw* a rank's heartbeat
    change, never by comparing the file's modification time with this machine's wall clock: that time is set by
    another machine's clock (the rank's, or the file server's), and a skew larger than ``timeout_s`` gave up on a
    live rank at once (its clock behind) or waited for a dead one as long as the skew (its clock ahead). A
    heartbeat already there when the wait starts counts as seen then, so a rank that died earlier costs up to
    ``timeout_s`` of waiting; a rank with no heartbeat yet has ``timeout_s`` from ``started`` (this machine's
    ``time.time()`` when the command started: one clock)."""
    waiting = set(range(n))
    failed: list[int] = []
    announced = False
    t0 = time.monotonic()
    no_beat_since = t0 - max(0.0, time.time() - started)  # (``started`` on this machine's monotonic clock)
    seen: dict[int, tuple[tuple[int, int, int] | None, float]] = {}  # rank -> (last beat seen, when: monotonic)
    while waiting:
        for i in sorted(waiting):
            d = shard_dir(run_dir, i, n)
            done = d / "done.json"
            if done.exists():
                try:
                    ok = json.loads(done.read_text()).get("ok", False)
                except (OSError, ValueError):
                    ok = False
                waiting.discard(i)
                if not ok:
                    failed.append(i)
                continue
            now = time.monotonic()
            token = _beat_token(d / "heartbeat")
            if i not in seen:
                seen[i] = (token, no_beat_since if token is None else now)
            elif token != seen[i][0]:
                seen[i] = (token, now)
            if now - seen[i][1] > timeout_s:
                log(f"rank {i}: no sign of life for {timeout_s:g} s; giving up on it")
                waiting.discard(i)
                failed.append(i)
        if waiting:
            if not announced:
                log(f"waiting for rank(s) {', '.join(map(str, sorted(waiting)))} to finish "
                    f"(gives up on a rank silent for {timeout_s:g} s)")
                announced = True
            time.sleep(poll_s)
    return sorted(failed)
