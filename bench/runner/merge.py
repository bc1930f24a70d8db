"""Combine shard stores (``--shard i/n``, torchrun ranks) or several run folders into one run folder.

Stores are merged by :func:`bench.store.merge_stores`; the outputs' PNGs of run folders other than the destination
are copied beside the destination's (shards write theirs straight into the run folder). Every source must have a
``manifest.json`` of the same suite (config hash) unless ``force``; the merged manifest says which sources were
merged and, when forced, that they differed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import BenchError
from ..store import RunStore, merge_stores
from ..store.manifest import merge_manifests, read_manifest
from ..fsio import write_text_atomic
from .locks import RunLock


def _store_dirs(folder: Path) -> list[Path]:
    """A run folder's own store (if any) and its shards' stores."""
    out = []
    if (folder / "records.sqlite").exists():
        out.append(folder)
    shards = folder / "shards"
    if shards.is_dir() and not shards.is_symlink():
        out.extend(sorted(p for p in shards.iterdir() if (p / "records.sqlite").exists() and not p.is_symlink()))
    return out


def _read_manifest(d: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(d)
    except BenchError as e:
        raise BenchError(f"merge: {e}") from None


def _copy_outputs(src_run: Path, dest_run: Path) -> int:
    """Copy generations/ (and inputs/) PNGs that ``dest_run`` lacks; never through a symbolic link."""
    n = 0
    for sub in ("generations", "inputs"):
        root = src_run / sub
        if not root.is_dir() or root.is_symlink() or src_run.resolve() == dest_run.resolve():
            continue
        for cell in root.iterdir():
            if cell.is_symlink() or not cell.is_dir():
                continue
            out = dest_run / sub / cell.name
            for f in cell.iterdir():
                if f.is_symlink() or not f.is_file() or (out / f.name).exists():
                    continue
                out.mkdir(parents=True, exist_ok=True)
                if (out / f.name).is_symlink():
                    continue
                shutil.copyfile(f, out / f.name)
                n += 1
    return n


def shards_merged(manifests: list[dict[str, Any]]) -> tuple[dict[str, list[int]], list[str]]:
    """({"N": [i, ...]}: the shards of each split merged so far, this merge's and earlier merges' ones; ["i/N", ...]:
    the shards of those splits not merged yet). A merge of some shards only is a run without their samples: said in
    the manifest, every report and ``bench merge``'s exit status, so it is not taken for a whole run (a baseline
    from it would lower the bar of every later comparison)."""
    have: dict[int, set[int]] = {}
    for m in manifests:
        sh = m.get("shard")
        if isinstance(sh, (list, tuple)) and len(sh) == 2:
            have.setdefault(int(sh[1]), set()).add(int(sh[0]))
        for n, ids in (m.get("shards_merged") or {}).items():
            have.setdefault(int(n), set()).update(int(i) for i in ids)
    merged = {str(n): sorted(ids) for n, ids in sorted(have.items())}
    missing = [f"{i}/{n}" for n, ids in sorted(have.items()) for i in range(n) if i not in ids]
    return merged, missing


def merge_runs(sources: list[str | Path], into: str | Path | None = None,
               force: bool = False) -> tuple[Path, dict[str, int]]:
    """Merge the stores found in ``sources`` (run folders, with or without ``shards/``) into ``into``.

    ``into`` defaults to the first source. Its manifest is the first source's, with the sessions, backends and
    cells of all of them. A source without a manifest, or of another suite (config hash), is refused unless
    ``force``."""
    srcs = [Path(s) for s in sources]
    for s in srcs:
        if not s.is_dir():
            raise BenchError(f"merge: {s} is not a run folder")
    dest = Path(into) if into else srcs[0]
    if dest.is_symlink():
        raise BenchError(f"merge: {dest} is a symbolic link; give a real folder")
    dest.mkdir(parents=True, exist_ok=True)
    store_dirs = [d for s in srcs for d in _store_dirs(s)]
    if not store_dirs:
        raise BenchError(f"merge: no records.sqlite found in {', '.join(map(str, srcs))}")
    for d in store_dirs:
        RunStore(d / "records.sqlite").close()  # a damaged store, or another tool's, is a clear error first
    manifests: list[dict[str, Any]] = []
    problems: list[str] = []
    for d in store_dirs:
        m = _read_manifest(d)
        if m is None:
            problems.append(f"{d} has no manifest.json (its suite is unknown)")
            continue
        manifests.append(m)
    hashes = sorted({str(m.get("config_hash")) for m in manifests})
    if len(hashes) > 1:
        problems.append(f"the sources ran different suites (config hashes {', '.join(h[:12] for h in hashes)})")
    if problems and not force:
        raise BenchError("merge: " + "; ".join(problems) + "; merge only shards of one suite, or pass --force to "
                                                           "merge anyway (the merged manifest records it)")
    lock = RunLock(dest)  # exclusive: refuses while a run or any shard of it is writing
    try:
        counts = merge_stores(dest / "records.sqlite", [d / "records.sqlite" for d in store_dirs])
        counts["files"] = sum(_copy_outputs(s, dest) for s in srcs)
    finally:
        lock.release()
    if manifests or problems:
        merged, missing = shards_merged(manifests)  # (before the shard key is dropped: man may be a source's)
        man = merge_manifests(manifests, store_dirs) if manifests else {"run_id": dest.name}
        man["run_id"] = manifests[0].get("run_id", dest.name) if manifests else dest.name
        man.pop("shard", None)
        man.pop("shards_merged", None)
        man.pop("shards_missing", None)
        if merged:
            man["shards_merged"] = merged
        if missing:
            man["shards_missing"] = missing
        counts["shards_missing"] = missing
        if problems:
            man["merge_forced"] = problems
            man["comparable"] = False
            man["noncomparable_reasons"] = list(man.get("noncomparable_reasons") or []) + [
                "merged with --force: " + "; ".join(problems)]
        write_text_atomic(dest / "manifest.json", json.dumps(man, indent=2, default=str))
        src_yaml = store_dirs[0] / "suite.resolved.yaml"
        if src_yaml.exists() and src_yaml.resolve() != (dest / "suite.resolved.yaml").resolve():
            write_text_atomic(dest / "suite.resolved.yaml", src_yaml.read_text())
    return dest, counts
