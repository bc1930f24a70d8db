"""Combine shard stores (``--shard i/n``, torchrun ranks) or several run folders into one run folder.

Stores are merged by :func:`bench.store.merge_stores` (the later generation of an output wins, with its scores);
the outputs' PNGs of run folders other than the destination are copied beside the destination's (shards write
theirs straight into the run folder). Every source must have a ``manifest.json`` of the same suite (config hash)
unless ``force``; the merged manifest says which sources were merged and, when forced, that they differed.

A run folder's manifest written by an earlier merge is not a source: it records its sources (``merged_parts``),
and the merge is redone from them, each counted once, with the ones read again now replaced by what they hold now
(so a shard run again with a changed suite is merged without a stale "different suites", and counts do not grow
with every merge). What it recorded of a source that cannot be read again (the run folder's own run from before
the merge, a folder copied without its shards) is kept, unless the sources read now ran another suite: then it is
an earlier version of the suite (its rows stay stored, not reported, as for a plain run of a changed suite).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import BenchError
from ..store import RunStore, merge_stores
from ..store.files import input_path, output_path
from ..store.manifest import config_hashes, is_merged, manifest_part, merge_manifests, read_manifest, suites
from ..fsio import copy_atomic, move_into_place, write_bytes_atomic, write_text_atomic
from .locks import RunLock


#: the name a destination's new store is merged into, renamed to ``records.sqlite`` once the merge is complete
MERGING = ".records.sqlite.merging"


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
    """Copy generations/ (and inputs/) PNGs that ``dest_run`` lacks; never through a symbolic link, each file
    atomically (a file there is whole, so the next merge may skip it)."""
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
                # (a name with a leading dot is a temporary file of a write that was killed: never an output)
                if f.name.startswith(".") or f.is_symlink() or not f.is_file() or (out / f.name).exists():
                    continue
                out.mkdir(parents=True, exist_ok=True)
                if (out / f.name).is_symlink():
                    continue
                copy_atomic(f, out / f.name)  # (a merge killed mid-copy leaves no half file to skip next time)
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


def _copy_taken(taken: list[tuple[Path, str, str]], run_of: dict[Path, Path], dest_run: Path, store: Path) -> int:
    """Replace the destination's PNGs (output; input, mask and ground truth when saved) of outputs whose row the
    merge took from another run folder's store over the destination's (a later generation): the files must be the
    ones the row describes. Shards share the run folder's files: nothing to copy for them. ``store``: the
    destination's store being merged into."""
    n = 0
    if not taken:
        return n
    with RunStore(store) as st:
        input_keys = {g: st.input_key(g) for g in {g for _, g, _ in taken}}
    for db, gen_key, sid in taken:
        src_run = run_of.get(db.parent.resolve())
        if src_run is None or src_run.resolve() == dest_run.resolve():
            continue
        ik = input_keys.get(gen_key)
        for kind in ("output", "input", "mask", "gt"):
            if kind != "output" and not ik:
                continue
            f = output_path(src_run, gen_key, sid) if kind == "output" else input_path(src_run, ik, sid, kind)
            if f.is_symlink() or not f.is_file():
                continue
            target = (output_path(dest_run, gen_key, sid, create=True) if kind == "output"
                      else input_path(dest_run, ik, sid, kind, create=True))
            data = f.read_bytes()
            if target.is_symlink() or (target.is_file() and target.read_bytes() == data):
                continue
            write_bytes_atomic(target, data)
            n += 1
    return n


def _label(d: Path, dest: Path) -> str:
    """Where a source store lies, as a merged manifest records it: relative to the destination when inside it
    (``.``, ``shards/0-of-2``), else its absolute path."""
    try:
        return d.resolve().relative_to(dest.resolve()).as_posix()
    except ValueError:
        return str(d.resolve())


def _sessions(m: dict[str, Any]) -> set[str]:
    return {str(s["session"]) for s in m.get("sessions") or [] if isinstance(s, dict) and s.get("session")}


def _gather(srcs: list[Path], problems: list[str]) -> dict[str, Any]:
    """The manifests that take part in the merge, folder by folder (module docstring): ``parts`` [(store folder,
    manifest)], ``base`` (the manifest whose suite and provenance the result keeps: a source read now, never an
    earlier merge's unless nothing else is there), ``also_merged`` (manifests of shards a later run in the folder
    took over), ``earlier_merges`` (earlier merges' shard lists; both count for ``shards_merged`` only) and
    ``earlier`` (sources of an earlier version of the suite, left out)."""
    all_dirs = {d.resolve() for s in srcs for d in _store_dirs(s)}
    out: dict[str, Any] = {"parts": [], "base": None, "base_dir": None, "also_merged": [], "earlier_merges": [],
                          "earlier": []}
    for s in srcs:
        fresh: list[tuple[Path, dict[str, Any]]] = []
        previous = None  # the folder's manifest when an earlier merge wrote it
        for d in _store_dirs(s):
            m = _read_manifest(d)
            if m is None:
                problems.append(f"{d} has no manifest.json (its suite is unknown)")
            elif d.resolve() == s.resolve() and is_merged(m):
                previous = m
            else:
                fresh.append((d, m))
        carried: list[tuple[Path, dict[str, Any]]] = []
        for part in (previous or {}).get("merged_parts") or []:
            if not isinstance(part, dict) or not part.get("source"):
                continue
            where = Path(str(part["source"]))
            where = where if where.is_absolute() else s / where
            if where.resolve() == s.resolve() or where.resolve() not in all_dirs:  # not read again now
                carried.append((where, part))
        # the folder's own run (read now, or recorded by the earlier merge): a later session in the folder (bench
        # score on a merged run) took over the sessions of what was merged into it, and with them the shards it holds
        own = next((m for d, m in fresh + carried if d.resolve() == s.resolve()), None)
        if own is not None and _sessions(own):
            covered = [(d, m) for d, m in fresh + carried
                       if m is not own and _sessions(m) and _sessions(m) <= _sessions(own)]
            out["also_merged"] += [m for _, m in covered]
            fresh = [x for x in fresh if x not in covered]
            carried = [x for x in carried if x not in covered]
        if fresh:
            now = set().union(*(config_hashes(m) for _, m in fresh))
            out["earlier"] += [str(d) for d, m in carried if not config_hashes(m) & now]
            carried = [(d, m) for d, m in carried if config_hashes(m) & now]
        elif previous is not None and not previous.get("merged_parts"):  # it recorded no sources: as it is
            fresh = [(s, previous)]
        if previous is not None:
            out["earlier_merges"].append({"shards_merged": previous.get("shards_merged") or {},
                                          "config_hash": previous.get("config_hash"),
                                          "config_hash_v1": previous.get("config_hash_v1")})
        if out["base"] is None and (fresh or carried):
            out["base"], out["base_dir"] = (fresh[0][1], fresh[0][0]) if fresh else (previous, s)
        out["parts"] += fresh + carried
    return out


def merge_runs(sources: list[str | Path], into: str | Path | None = None,
               force: bool = False) -> tuple[Path, dict[str, Any]]:
    """Merge the stores found in ``sources`` (run folders, with or without ``shards/``) into ``into``.

    ``into`` defaults to the first source; a destination that holds a store already (an earlier merge into it)
    is merged as a first source too, so what it holds stays described. Its manifest is the first source's (read
    now: never an earlier merge's), with the sessions, backends and cells of all of them and their counts summed (module docstring). A
    source without a manifest, or of another suite (config hash), is refused unless ``force``."""
    srcs = [Path(s) for s in sources]
    for s in srcs:
        if not s.is_dir():
            raise BenchError(f"merge: {s} is not a run folder")
    dest = Path(into) if into else srcs[0]
    if dest.is_symlink():
        raise BenchError(f"merge: {dest} is a symbolic link; give a real folder")
    if _store_dirs(dest) and all(dest.resolve() != s.resolve() for s in srcs):
        srcs.insert(0, dest)  # what DEST holds already (an earlier merge into it) is merged with the rest
    dest.mkdir(parents=True, exist_ok=True)
    lock = RunLock(dest)  # exclusive, before any manifest is read: refuses while a run or a shard of it is writing
    try:
        counts = _merge_locked(srcs, dest, force)
    finally:
        lock.release()
    return dest, counts


def _merge_locked(srcs: list[Path], dest: Path, force: bool):
    """merge_runs' work under the destination's lock: check the sources, merge their stores, copy their PNGs,
    write the merged manifest."""
    store_dirs = [d for s in srcs for d in _store_dirs(s)]
    if not store_dirs:
        raise BenchError(f"merge: no records.sqlite found in {', '.join(map(str, srcs))}")
    for d in store_dirs:
        RunStore(d / "records.sqlite").close()  # a damaged store, or another tool's, is a clear error first
    problems: list[str] = []
    got = _gather(srcs, problems)
    where = {id(m): str(d) for d, m in got["parts"]}
    # one suite: the parts' config hashes meet (a shard written before the hash rule changed carries the old one)
    by_hash = {str(g[0].get("config_hash")): [where[id(m)] for m in g]
               for g in suites([m for _, m in got["parts"]])}
    nohash = [str(d) for d, m in got["parts"] if not config_hashes(m)]
    if nohash:
        by_hash["None"] = nohash
    got["hashes"] = set().union(*(config_hashes(m) for _, m in got["parts"]))
    if len(by_hash) > 1:
        problems.append("the sources ran different suites (" + "; ".join(
            f"config hash {h[:12]}: {', '.join(ds[:3])}{f' and {len(ds) - 3} more' if len(ds) > 3 else ''}"
            for h, ds in sorted(by_hash.items())) + ")")
    if problems and not force:
        raise BenchError("merge: " + "; ".join(problems) + "; merge only shards of one suite, or pass --force to "
                                                           "merge anyway (the merged manifest records it)")
    taken: list[tuple[Path, str, str]] = []
    # a destination without a store gets one only when the merge is complete: it is built under a temporary name
    # and renamed after the manifest is written, so a merge killed half way leaves no store without a manifest
    # (which the same command, run again, would refuse as "its suite is unknown")
    final = dest / "records.sqlite"
    store = final if final.exists() else dest / MERGING
    if store != final:
        for suffix in ("", "-wal", "-shm", "-journal"):  # an earlier merge's, killed before it finished
            (dest / (MERGING + suffix)).unlink(missing_ok=True)
    counts: dict[str, Any] = merge_stores(store, [d / "records.sqlite" for d in store_dirs], taken=taken)
    counts["files"] = sum(_copy_outputs(s, dest) for s in srcs)
    run_of = {d.resolve(): s for s in srcs for d in _store_dirs(s)}
    counts["files"] += _copy_taken(taken, run_of, dest, store)
    parts: list[tuple[Path, dict[str, Any]]] = got["parts"]
    counts["earlier_suite"] = got["earlier"]
    if parts or problems:
        manifests = [m for _, m in parts]
        hashes = got["hashes"]
        merged, missing = shards_merged(manifests + got["also_merged"] + [  # (before the shard key is dropped)
            m for m in got["earlier_merges"] if config_hashes(m) & hashes])
        man = dict(merge_manifests(manifests, [d for d, _ in parts], base=got["base"]) if manifests
                   else {"run_id": dest.name})
        man["run_id"] = got["base"].get("run_id", dest.name) if got["base"] else dest.name
        man["written_by"] = "merge"
        for key in ("shard", "shards_merged", "shards_missing", "merge_forced", "merged_parts"):
            man.pop(key, None)
        if manifests:
            man["merged_parts"] = [manifest_part(m, _label(d, dest)) for d, m in parts]
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
        src_yaml = (got["base_dir"] or store_dirs[0]) / "suite.resolved.yaml"
        if src_yaml.is_file() and src_yaml.resolve() != (dest / "suite.resolved.yaml").resolve():
            write_text_atomic(dest / "suite.resolved.yaml", src_yaml.read_text())
    if store != final:  # (merge_stores closed it: its write-ahead log is folded in, nothing beside it to move)
        move_into_place(store, final)
    return counts
