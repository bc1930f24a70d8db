"""A run's ``manifest.json`` (its provenance: suite, config hash, versions, device, cells, scorers, columns...):
read in one place, and merged in one place, for the merged view of several runs (``bench report A B``) and for
``bench merge`` (shards of one suite into one run folder).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import BenchError


def read_manifest(run_dir: Path) -> "dict | None":
    """A run folder's ``manifest.json`` as a dict; None when there is none; a :class:`~bench.errors.BenchError`
    naming the file when it is not a file, not JSON, or not a JSON object."""
    mp = Path(run_dir) / "manifest.json"
    if not mp.exists():
        return None
    if not mp.is_file():
        raise BenchError(f"{mp}: not a file")
    try:
        m = json.loads(mp.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise BenchError(f"{mp}: invalid JSON ({str(e)[:200]})") from None
    if not isinstance(m, dict):
        raise BenchError(f"{mp}: not a run manifest (expected a JSON object, got {type(m).__name__})")
    return m


def config_hashes(manifest: dict[str, Any]) -> set[str]:
    """Every config hash a manifest (or a study, a baseline, a merged part) answers to: its ``config_hash`` and,
    when written since the hash left out settings that change no number, the same suite's hash by the earlier rule
    (``config_hash_v1``, :meth:`bench.config.Suite.config_hash_v1`), which is what the runs, studies and shards made
    before carry; a manifest written before (no ``config_hash_v1``) also answers to its recorded suite's hash by
    the current rule, so it is one suite with a run of today that differs only in what changes no number. Two
    records are of one suite when their sets meet (:func:`suites`)."""
    out = {str(manifest[k]) for k in ("config_hash", "config_hash_v1") if manifest.get(k)}
    if out and not manifest.get("config_hash_v1") and isinstance(manifest.get("suite"), dict):
        now = _current_hash(manifest["suite"])
        if now:
            out.add(now)
    return out


_CURRENT: dict[str, "str | None"] = {}  # the recorded suite's canonical JSON -> its config hash by today's rule


def _current_hash(resolved: dict[str, Any]) -> "str | None":
    """The config hash by today's rule of a suite recorded in a manifest (``suite``: its resolved form, which
    :func:`bench.config.parse_suite` reads back without building a plug-in); None when it no longer parses here
    (a plug-in not installed): the recorded hash alone stands then."""
    from ..config import canonical_json, parse_suite
    from ..errors import CAUGHT

    key = canonical_json(resolved)
    if key not in _CURRENT:
        try:
            _CURRENT[key] = parse_suite(dict(resolved), instantiate=False).config_hash()
        except CAUGHT:
            _CURRENT[key] = None
    return _CURRENT[key]


def suites(manifests: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``manifests`` (those with a config hash) grouped by suite: two are of one suite when their
    :func:`config_hashes` meet, directly or through a third (a shard written before the hash rule changed and one
    written after, of the same suite, are one suite); in first-seen order."""
    groups: list[tuple[set[str], list[dict[str, Any]]]] = []
    for m in manifests:
        hs = config_hashes(m)
        if not hs:
            continue
        meet = [g for g in groups if g[0] & hs]
        merged = (set(hs), [])
        for g in meet:
            merged[0].update(g[0])
            merged[1].extend(g[1])
        merged[1].append(m)
        first = groups.index(meet[0]) if meet else len(groups)
        groups = [g for g in groups if g not in meet]
        groups.insert(min(first, len(groups)), merged)
    return [ms for _, ms in groups]


def _union(items: list[Any], new: list[Any]) -> None:
    items.extend(x for x in new if x not in items)


def _device_kind(device: Any) -> str:
    """What makes timings comparable: the device model and software, not which index of it (shards of one
    torchrun job on cuda:0 and cuda:1 of one machine are comparable)."""
    if isinstance(device, dict):
        device = {k: v for k, v in device.items() if k != "device"}
    return json.dumps(device, sort_keys=True, default=str)


#: What a merged manifest keeps of each source it was made from (``merged_parts``): all that
#: :func:`merge_manifests` and the shard bookkeeping read, so a later merge redoes the union from the sources
#: (each counted once) and keeps the part of a source it cannot read again (the run folder's own earlier run).
PART_KEYS = ("run_id", "config_hash", "config_hash_v1", "shard", "sessions", "counts", "device", "comparable", "noncomparable_reasons",
             "sample_ids", "cells", "scorers", "columns", "backends")


def manifest_part(manifest: dict[str, Any], source: str) -> dict[str, Any]:
    """A source's entry in ``merged_parts``: ``source`` (where its store lies) and its :data:`PART_KEYS`."""
    return {"source": source, **{k: manifest[k] for k in PART_KEYS if k in manifest}}


def is_merged(manifest: dict[str, Any]) -> bool:
    """Whether a run folder's manifest was written by ``bench merge`` (not by a run in that folder, which keeps
    what a merge recorded, ``shards_missing`` and the like, when it rescores the merged run): its ``written_by``,
    else (a manifest from before that key) whether it holds what only a merge wrote."""
    by = manifest.get("written_by")
    if by is not None:
        return by == "merge"
    return any(k in manifest for k in ("merged_parts", "shards_merged", "merged_from"))


def merge_manifests(manifests: list[dict[str, Any]], sources: list[Path],
                    base: dict[str, Any] | None = None) -> dict[str, Any]:
    """One manifest for several runs or shards (``base``'s, by default the first one's, with the union of the
    others' sessions, backends, cells, scorers and columns). Different suites (config hashes) or devices are
    noncomparable reasons; ``merged_from`` names the sources and ``run_id`` joins theirs (``bench merge`` keeps
    the destination's). Counts are the sum of the given manifests' (``base`` adds none of its own)."""
    manifests = [m for m in manifests if m is not None]
    if len(manifests) == 1 and len(sources) <= 1 and (base is None or base is manifests[0]):
        return manifests[0]
    merged = dict(base if base is not None else manifests[0] if manifests else {})
    reasons: list[Any] = []
    cols: dict[str, Any] = {}
    sessions: list[Any] = []
    cells: list[Any] = []
    scorers: list[Any] = []
    backends: dict[str, Any] = {}
    for m in manifests:
        cols.update(m.get("columns") or {})
        _union(reasons, list(m.get("noncomparable_reasons") or []))
        _union(sessions, list(m.get("sessions") or []))
        _union(cells, list(m.get("cells") or []))
        _union(scorers, list(m.get("scorers") or []))
        for k, v in (m.get("backends") or {}).items():
            backends.setdefault(k, v)
    groups = suites(manifests)
    if len(groups) > 1:
        hashes = {str(g[0]["config_hash"]) for g in groups}
        reasons.append(f"merged runs have different config hashes ({', '.join(sorted(hashes))})")
    devices = {_device_kind(m.get("device")) for m in manifests if m.get("device")}
    if len(devices) > 1:
        reasons.append("merged runs were measured on different devices (timings not comparable)")
    merged.update(columns=cols, sessions=sessions, backends=backends, noncomparable_reasons=reasons,
                  comparable=all(m.get("comparable", True) for m in manifests) and not reasons,
                  merged_from=[str(d) for d in sources],
                  run_id="+".join(str(m.get("run_id", Path(d).name)) for m, d in zip(manifests, sources)))
    counts: dict[str, int] = {}  # the work of every source, not the first one's
    for m in manifests:
        for k, v in (m.get("counts") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                counts[k] = counts.get(k, 0) + int(v)
    if counts:
        merged["counts"] = counts
    else:
        merged.pop("counts", None)
    if all(isinstance(m.get("sample_ids"), dict) for m in manifests):  # limited runs: the samples any of them kept
        ids: dict[str, list[Any]] = {}
        for m in manifests:
            for d, v in m["sample_ids"].items():
                have = ids.setdefault(d, [])
                seen = set(have)
                have.extend(x for x in (v or []) if not (x in seen or seen.add(x)))
        merged["sample_ids"] = ids
    else:
        merged.pop("sample_ids", None)
    if all(m.get("cells") for m in manifests):
        merged["cells"] = cells
    if all(m.get("scorers") for m in manifests):
        merged["scorers"] = scorers
    return merged
