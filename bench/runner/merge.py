"""Combine shard stores (``--shard i/n``, torchrun ranks) or several run folders into one run folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import BenchError
from ..store import merge_stores


def _store_dirs(folder: Path) -> list[Path]:
    """A run folder's own store (if any) and its shards' stores."""
    out = []
    if (folder / "records.sqlite").exists():
        out.append(folder)
    shards = folder / "shards"
    if shards.is_dir():
        out.extend(sorted(p for p in shards.iterdir() if (p / "records.sqlite").exists()))
    return out


def merge_runs(sources: list[str | Path], into: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Merge the stores found in ``sources`` (run folders, with or without ``shards/``) into ``into``.

    ``into`` defaults to the first source. Its manifest is the first source's, with the sessions of all of them;
    a config-hash mismatch between sources is an error (they would not be the same experiment).
    """
    srcs = [Path(s) for s in sources]
    for s in srcs:
        if not s.is_dir():
            raise BenchError(f"merge: {s} is not a run folder")
    dest = Path(into) if into else srcs[0]
    dest.mkdir(parents=True, exist_ok=True)
    store_dirs = [d for s in srcs for d in _store_dirs(s)]
    if not store_dirs:
        raise BenchError(f"merge: no records.sqlite found in {', '.join(map(str, srcs))}")
    manifests: list[dict[str, Any]] = []
    for d in store_dirs:
        mp = d / "manifest.json"
        if mp.exists():
            manifests.append(json.loads(mp.read_text()))
    hashes = {m.get("config_hash") for m in manifests}
    if len(hashes) > 1:
        raise BenchError("merge: the sources ran different suites (config hashes "
                         f"{', '.join(sorted(h[:12] for h in hashes if h))}); merge only shards of one suite")
    from .loop import RunLock, write_text_atomic

    lock = RunLock(dest)  # exclusive: refuses while a run or any shard of it is writing
    try:
        counts = merge_stores(dest / "records.sqlite", [d / "records.sqlite" for d in store_dirs])
    finally:
        lock.release()
    if manifests:
        man = dict(manifests[0])
        man.pop("shard", None)
        sessions, backends = [], {}
        for m in manifests:
            sessions.extend(s for s in m.get("sessions", []) if s not in sessions)
            for k, v in m.get("backends", {}).items():
                backends.setdefault(k, v)
        man["sessions"], man["backends"] = sessions, backends
        man["merged_from"] = [str(d) for d in store_dirs]
        write_text_atomic(dest / "manifest.json", json.dumps(man, indent=2, default=str))
        src_yaml = store_dirs[0] / "suite.resolved.yaml"
        if src_yaml.exists() and src_yaml.resolve() != (dest / "suite.resolved.yaml").resolve():
            shutil.copyfile(src_yaml, dest / "suite.resolved.yaml")
    return dest, counts
