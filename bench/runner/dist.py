"""Several processes on one run (``torchrun``, ``accelerate launch``): each rank is a shard, rank 0 merges.

No collective (NCCL/gloo barrier) is involved, so a rank that dies cannot leave the others waiting for days:
every rank touches ``shards/<i>-of-<n>/heartbeat`` every :data:`BEAT_S` seconds while it works and writes
``done.json`` when it finishes; rank 0, once its own share is done, waits for every other rank's ``done.json`` as
long as that rank's heartbeat is younger than ``timeout_s`` (a rank that has not started yet gets ``timeout_s``
from rank 0's start). Then it merges what is there and names the ranks it gave up on; rerunning the same command
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


def wait_for_shards(run_dir: Path, n: int, timeout_s: float, started: float,
                    log: Callable[[str], None] = lambda m: None, poll_s: float = 2.0) -> list[int]:
    """Wait until every shard 0..n-1 has ``done.json`` or has been silent for ``timeout_s``; returns the shards
    given up on (silent or failed)."""
    waiting = set(range(n))
    failed: list[int] = []
    announced = False
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
            beat = d / "heartbeat"
            last = beat.stat().st_mtime if beat.exists() else started
            if time.time() - last > timeout_s:
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
