"""Run-folder locks and atomic text writes: the pieces that keep two processes (or a crash) from damaging a run."""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import BenchError


#: what every "in use" refusal ends with: a dead holder's lock is already gone, and the file must stay
NOTHING_TO_DELETE = ("The lock is let go when its process ends, however it ends (kill -9, the OOM killer): there is "
                     "no stale lock to delete, and deleting .lock would let a second writer in beside a live one")


def holder_text() -> str:
    """What an exclusive holder writes into the lock file, for the refusals of others: its pid, its machine (a pid
    means nothing on another node of a shared file system) and when it started, in UTC."""
    import os
    import socket

    return f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"


def _elsewhere(holder: str) -> str:
    """`` (another machine: look there)`` when the lock file names another machine than this one."""
    import socket

    parts = holder.split()
    host = parts[parts.index("on") + 1] if "on" in parts[:-1] else None
    return " (another machine: look for the process there)" if host and host != socket.gethostname() else ""


class RunLock:
    """A lock on a store folder: a second process pointed at the same folder refuses to start, never corrupts.

    A plain run takes the run folder exclusively. A shard takes the run folder *shared* (so shards run side by
    side, but ``--fresh`` or ``bench merge`` of the whole run waits for none of them and refuses instead) and its
    own shard folder exclusively. The lock file is opened without following symbolic links.
    Set ``INPAINT_BENCH_NO_LOCK=1`` on file systems without ``flock`` (some NFS / Lustre mounts), and make sure
    yourself that no two processes share a folder.
    """

    def __init__(self, folder: Path, shared: bool = False):
        import errno
        import fcntl
        import os

        self.fd: int | None = None
        if os.environ.get("INPAINT_BENCH_NO_LOCK") == "1":
            return
        path = folder / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise BenchError(f"the run folder {folder} cannot be written ({e.strerror}): reports and exports read "
                                 f"it as it is; to run or score it, copy the folder somewhere writable") from None
            raise BenchError(f"cannot open the lock file {path}: {e.strerror} (a symbolic link there is refused)") \
                from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                # who holds it: only an exclusive holder writes the file, so when the holders share it (shards;
                # the file may still name an earlier, finished run) it is the shards of the run, named with theirs
                held_shared = not shared and _try_lock(path, fcntl.LOCK_SH)
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                if held_shared:
                    running = [f"shards/{d.name}" + (f" ({h})" if h else "") for d, h in _running_shards(folder)]
                    raise BenchError(f"run folder {folder} is in use by shards of this run"
                                     f"{': ' + ', '.join(running) if running else ''}; wait for them to finish "
                                     f"(then `bench merge`), or use another --run-id. {NOTHING_TO_DELETE}") from None
                raise BenchError(f"run folder {folder} is in use by {holder}{_elsewhere(holder)}; wait for it, use "
                                 f"another --run-id, or split the work with --shard i/n (each shard has its own "
                                 f"store). {NOTHING_TO_DELETE}") from None
            os.close(fd)
            raise BenchError(f"the file system of {folder} cannot lock files ({e.strerror}); set "
                             f"INPAINT_BENCH_NO_LOCK=1 to run without the lock, and make sure no two processes "
                             f"use the same run folder") from None
        self.fd = fd
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_text().encode(), 0)

    def release(self) -> None:
        import fcntl
        import os

        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _try_lock(path: Path, op: int) -> bool:
    """Whether ``path`` could be locked with ``op`` now (a probe: the lock is let go at once; never follows a link,
    never creates the file)."""
    import fcntl
    import os

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # (closing lets go of a lock taken)
    return True


def _running_shards(folder: Path) -> list[tuple[Path, str]]:
    """(shard folder, what its lock file says: ``pid N since T``) of the shards of a run folder running now (their
    own lock is held exclusively)."""
    import fcntl
    import os

    shards = folder / "shards"
    if shards.is_symlink() or not shards.is_dir():
        return []
    out = []
    for d in sorted(shards.iterdir()):
        lock = d / ".lock"
        if d.is_symlink() or lock.is_symlink() or not lock.is_file() or _try_lock(lock, fcntl.LOCK_SH):
            continue
        try:
            with open(lock, "rb") as f:
                out.append((d, f.read(200).decode(errors="replace").strip()))
        except OSError:
            out.append((d, ""))
    return out
