"""Files the project writes get the mode a plain ``open`` gives (0666 less the umask), not mkstemp's 0600: a study
page or an exported folder is read by raters and other users."""
from __future__ import annotations

import stat
import subprocess
import sys

import pytest


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    code = ("import os, sys; os.umask(int(sys.argv[1], 8)); from pathlib import Path; "
            "from bench.fsio import write_text_atomic, copy_atomic; "
            "p = Path(sys.argv[2]); write_text_atomic(p / 'a.txt', 'x'); copy_atomic(p / 'a.txt', p / 'b.png')")
    subprocess.run([sys.executable, "-c", code, oct(umask), str(tmp_path)], check=True)
    for name in ("a.txt", "b.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.png"]  # no temporary file left


def test_a_failed_write_leaves_nothing(tmp_path):
    from bench.fsio import atomic_writer

    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(tmp_path / "keep.txt") as f:
            f.write(b"half")
            raise RuntimeError("crash")
    assert (tmp_path / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
