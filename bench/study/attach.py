"""How a scored study attaches to its run: ``bench study score`` writes ``RUN/study/study.json``; the report reads
it back here and adds a ``human_bt`` column (the Bradley–Terry strength, with its interval) to the leaderboard
rows of the studied dataset × mask. A study of another configuration (the run was rerun with a changed suite)
is not attached.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .render import STUDY_DIR, STUDY_JSON

COLUMN = "human_bt"
INFO = {"higher_is_better": True, "fmt": ".2f", "interval": True,
        "doc": "Bradley-Terry strength from the run's blind pairwise user study (log scale, mean 0; ties count "
               "half; 95 % bootstrap interval over samples): bench study score"}


def load_study(run_dir: Any, config_hash: str | None = None) -> dict[str, Any] | None:
    """``RUN/study/study.json`` as a dict, or None (absent, unreadable, or of another config hash)."""
    if run_dir is None:
        return None
    p = Path(run_dir) / STUDY_DIR / STUDY_JSON
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != "inpaint-bench-study":
        return None
    if config_hash is not None and doc.get("config_hash") != config_hash:
        return None
    return doc


def add_human_bt(rd, df) -> None:
    """Add ``human_bt`` / ``_lo`` / ``_hi`` to the summary ``df`` (in place) when ``rd`` has a scored study and the
    summary has one row per backend × dataset × mask."""
    if df.empty or not {"backend", "dataset", "mask"} <= set(df.columns) or "area_bin" in df.columns:
        return
    doc = load_study(rd.run_dir, rd.manifest.get("config_hash"))
    if doc is None:
        return
    here = (df["dataset"] == doc["dataset"]) & (df["mask"] == doc["mask"])
    for suffix, key in (("", "human_bt"), ("_lo", "human_bt_lo"), ("_hi", "human_bt_hi")):
        vals = {b["backend"]: b[key] for b in doc["backends"]}
        df[COLUMN + suffix] = [vals.get(b) if h else None for b, h in zip(df["backend"], here)]
        df[COLUMN + suffix] = df[COLUMN + suffix].astype(float)
    df.attrs.setdefault("columns", {})[COLUMN] = dict(INFO)
    df.attrs["setlevel_keys"] = list(df.attrs.get("setlevel_keys", [])) + [COLUMN]
