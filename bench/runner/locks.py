"""Run-folder locks and atomic text writes: the pieces that keep two processes (or a crash) from damaging a run."""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import BenchError


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
            raise BenchError(f"cannot open the lock file {path}: {e.strerror} (a symbolic link there is refused)") \
                from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                what = "shards of this run" if not shared and not holder.startswith("pid") else holder
                raise BenchError(f"run folder {folder} is in use by {what}; wait for it, use another --run-id, or "
                                 f"split the work with --shard i/n (each shard has its own store)") from None
            os.close(fd)
            raise BenchError(f"the file system of {folder} cannot lock files ({e.strerror}); set "
                             f"INPAINT_BENCH_NO_LOCK=1 to run without the lock, and make sure no two processes "
                             f"use the same run folder") from None
        self.fd = fd
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)

    def release(self) -> None:
        import fcntl
        import os

        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
