"""Files on disk, written safely: atomic writes, folders that refuse planted links, the one file-name rule for
sample ids, SHA-256 of files.

Every writer of the project goes through here (run folders, exports, reports, reference features, downloaded
weights), so a crash never leaves half a file and nothing is ever written through a symbolic link planted inside a
folder the project manages. Ground floor: imports nothing from the package but :mod:`bench.errors`.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Container, Iterator

from .errors import BenchError


#: errors of writing a file that the next file in the same folder would meet too (a full disk, a quota, a file system
#: remounted read-only): a run stops on them instead of computing outputs it cannot keep
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def confined_dir(root: Path, *parts: str) -> Path:
    """``root/parts...``, each part created when missing; a part that is a symbolic link is refused, so nothing is
    ever written through a link planted inside a run folder (the run folder itself may be a link you made)."""
    d = Path(root)
    for part in parts:
        d = d / part
        if d.is_symlink():
            raise BenchError(f"{d} is a symbolic link; inpaint-bench never writes through links inside a run folder "
                             f"(remove the link, or start over with --fresh, which removes links, not their targets)")
        d.mkdir(exist_ok=True)
    return d


_PLAIN = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]{0,119}$")


def sample_filename(sample_id: str) -> str:
    """A file-name stem for a sample id that cannot leave its folder; ids that needed changes get a hash suffix."""
    s = str(sample_id)
    if _PLAIN.match(s):
        return s
    safe = re.sub(r"[^A-Za-z0-9_.+=-]", "_", s).lstrip(".")[:100] or "_"
    return f"{safe}-{hashlib.sha256(s.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def case_insensitive(folder: Path) -> bool:
    """Whether ``folder``'s file system folds case (macOS and Windows by default): a probe file is created under
    one spelling and looked for under another."""
    fd, name = tempfile.mkstemp(prefix=".CaseProbe-", dir=folder)
    os.close(fd)
    try:
        return os.path.exists(os.path.join(folder, os.path.basename(name).lower()))
    finally:
        os.unlink(name)


def case_collisions(sample_ids: list[str]) -> list[tuple[str, str]]:
    """Pairs of sample ids (first seen, later one) whose file names differ only in case: one file on a file
    system that folds case, where the later output would overwrite the earlier."""
    seen: dict[str, str] = {}
    out = []
    for sid in sample_ids:
        key = sample_filename(sid).casefold()
        if key in seen:
            out.append((seen[key], sid))
        else:
            seen[key] = sid
    return out


def read_csv_text(path: Path, what: str) -> str:
    """The text of a CSV file people edit (labels, judgements): UTF-8, with the byte-order mark spreadsheets write
    taken off (it would glue itself to the first column's name); a file in another encoding is a :class:`BenchError`
    naming the file and the line, not a traceback."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise BenchError(f"{path}:{line}: the {what} is not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r});"
                         f" save it as UTF-8 (a spreadsheet's 'CSV UTF-8')") from None


def csv_delimiter(text: str) -> str:
    """The delimiter of a CSV file people edit: ``,``, unless its header line has none and has ``;`` (what a
    spreadsheet saves in a locale whose decimal mark is a comma) or a tab (a tab-separated export)."""
    head = text.split("\n", 1)[0]
    if "," not in head:
        for d in (";", "\t"):
            if d in head:
                return d
    return ","


def find_written_id(written: str | tuple[str, ...], known: Container) -> str | tuple[str, ...] | None:
    """An id read from a CSV file people edit (a sample id; a (cell, sample id) pair) as it is in ``known``: exactly
    as written, else with the spaces at the ends of each part taken off (a hand edit's padding, a space after a
    comma); None when neither is there. The one rule of every reader of such files (labels, study judgements): an
    id may itself begin or end with a space (a folder dataset's file name ``" cat.png"``), so it is read exactly
    and stripped only where the exact one is not there."""
    if written in known:
        return written
    stripped = written.strip() if isinstance(written, str) else tuple(w.strip() for w in written)
    return stripped if stripped in known else None


def case_collision_error(folder: Path, sample_ids: list[str]) -> str | None:
    """The message for sample ids that would share one file in ``folder`` (its file system folds case and two ids
    differ only in case, :func:`case_collisions`), else None."""
    pairs = case_collisions(sample_ids)
    if not pairs or not case_insensitive(folder):
        return None
    return ("sample ids " + ", ".join(f"{a!r} and {b!r}" for a, b in pairs[:3]) + (" ..." if len(pairs) > 3 else "")
            + f" differ only in case: on this file system ({folder} folds case) their files would be one; rename "
              f"them, or use a folder on a case-sensitive file system")


def _read_umask() -> int:
    """The process's umask, read once at import (by setting it and setting it back: there is no other portable
    way, and doing it per file would race with threads creating files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_writer(path: Path, suffix: str = ".tmp") -> Iterator[IO[bytes]]:
    """A binary file to write ``path``'s new content into: a fresh temporary file in the same folder, renamed over
    ``path`` when the block ends without an error and removed when it raises (never half a file; a link planted at
    ``path`` is replaced, not written through). The file gets the mode a plain ``open`` would give it (0666 less the
    umask: reports and study pages are read by others); ``mkstemp`` alone would leave it 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def move_into_place(made: Path, path: Path) -> Path:
    """Put a file that was made whole under a temporary name in ``path``'s folder (a store merged into, say) at
    ``path`` in one step: readers and a process killed meanwhile see the old file or the new one, never a part."""
    os.replace(made, path)
    return Path(path)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def copy_atomic(src: Path, dst: Path) -> Path:
    """Copy a file's bytes to ``dst`` atomically."""
    with atomic_writer(dst, suffix=Path(dst).suffix) as f, open(src, "rb") as s:
        shutil.copyfileobj(s, f, 1 << 20)
    return Path(dst)


_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, so big files hash once


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), cached per file version (path, size, modification time)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def remember_sha256(path: str | Path, digest: str) -> None:
    """Record a digest computed while writing ``path`` (a download), so :func:`file_sha256` does not read it again."""
    p = Path(path)
    st = p.stat()
    _HASHES[(str(p.resolve()), st.st_size, st.st_mtime_ns)] = digest
