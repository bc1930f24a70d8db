"""The run's SQLite store: one row per (cell, sample); features in a side table.

A batch is committed in one transaction, so a crash loses at most the batch in flight; finished rows are never
recomputed. Error rows are kept (with their message) and retried by the next run of the same suite.
"""
from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import BenchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    cell_key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    dataset TEXT NOT NULL,
    mask TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    cell_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    hole_fraction REAL,
    area_bin INTEGER,
    latency_ms REAL,
    batch_size INTEGER,
    vals TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (cell_key, sample_id)
);
CREATE TABLE IF NOT EXISTS features (
    cell_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (cell_key, sample_id, name)
);
CREATE TABLE IF NOT EXISTS cell_sessions (
    cell_key TEXT NOT NULL,
    session TEXT NOT NULL,
    device TEXT,
    load_time_s REAL,
    peak_mem_allocated INTEGER,
    peak_mem_reserved INTEGER,
    peak_rss INTEGER,
    n_computed INTEGER,
    info TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (cell_key, session)
);
"""


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def dumps(values: dict[str, Any]) -> str:
    """JSON with NaN dropped (absent) and +/-inf kept (``Infinity``: a perfect paste-back's PSNR)."""
    clean = {k: v for k, v in values.items() if not (isinstance(v, float) and math.isnan(v))}
    return json.dumps(clean, default=_json_default, sort_keys=True)


class RunStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one connection, used from the runner's thread and (with ``overlap``) its scoring thread: writes are
        # serialised by a lock
        self.conn = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self.lock = threading.RLock()
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
            self.conn.commit()
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise BenchError(f"{self.path} is not a usable inpaint-bench store ({e}); move it away, or start over "
                             f"with `bench run SUITE --fresh`") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cells ---------------------------------------------------------------------------------------
    def add_cell(self, cell_key: str, backend: str, dataset: str, mask: str, spec: dict[str, Any]) -> None:
        with self.lock, self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO cells VALUES (?, ?, ?, ?, ?, ?)",
                (cell_key, backend, dataset, mask, json.dumps(spec, sort_keys=True), time.time()),
            )

    def cells(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT cell_key, backend, dataset, mask, spec FROM cells ORDER BY created, cell_key")
        return [dict(cell_key=r[0], backend=r[1], dataset=r[2], mask=r[3], spec=json.loads(r[4])) for r in cur]

    def record_session(self, cell_key: str, session: str, **info: Any) -> None:
        cols = ("device", "load_time_s", "peak_mem_allocated", "peak_mem_reserved", "peak_rss", "n_computed")
        extra = {k: v for k, v in info.items() if k not in cols}
        with self.lock, self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO cell_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cell_key, session, *(info.get(c) for c in cols), json.dumps(extra, default=_json_default),
                 time.time()),
            )

    def sessions(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM cell_sessions ORDER BY created")
        names = [d[0] for d in cur.description]
        out = []
        for r in cur:
            d = dict(zip(names, r))
            d.update(json.loads(d.pop("info") or "{}"))
            out.append(d)
        return out

    # -- records -------------------------------------------------------------------------------------
    def done_ids(self, cell_key: str) -> set[str]:
        """Samples of the cell that finished without error (never recomputed)."""
        with self.lock:
            cur = self.conn.execute("SELECT sample_id FROM records WHERE cell_key = ? AND error IS NULL",
                                    (cell_key,))
            return {r[0] for r in cur}

    def write_batch(
        self,
        cell_key: str,
        rows: Iterable[dict[str, Any]],
        features: Iterable[tuple[str, str, np.ndarray]] = (),
    ) -> None:
        """Commit a batch's rows (and their feature vectors) in one transaction.

        Each row: sample_id, hole_fraction, area_bin, latency_ms, batch_size, values (dict), error (str|None).
        ``features``: (sample_id, name, 1-D array).
        """
        now = time.time()
        with self.lock, self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (cell_key, r["sample_id"], r.get("hole_fraction"), r.get("area_bin"), r.get("latency_ms"),
                     r.get("batch_size"), dumps(r.get("values", {})), r.get("error"), now)
                    for r in rows
                ],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)",
                [
                    (cell_key, sid, name, str(np.asarray(a).dtype), np.ascontiguousarray(a).tobytes())
                    for sid, name, a in features
                ],
            )

    def records(self, cell_key: str | None = None) -> list[dict[str, Any]]:
        q = ("SELECT r.cell_key, c.backend, c.dataset, c.mask, r.sample_id, r.hole_fraction, r.area_bin, "
             "r.latency_ms, r.batch_size, r.vals, r.error FROM records r JOIN cells c USING (cell_key)")
        args: tuple = ()
        if cell_key is not None:
            q += " WHERE r.cell_key = ?"
            args = (cell_key,)
        q += " ORDER BY c.created, r.cell_key, r.sample_id"
        out = []
        for r in self.conn.execute(q, args):
            d = dict(cell_key=r[0], backend=r[1], dataset=r[2], mask=r[3], sample_id=r[4], hole_fraction=r[5],
                     area_bin=r[6], latency_ms=r[7], batch_size=r[8], error=r[10])
            d.update(json.loads(r[9]))
            out.append(d)
        return out

    def frame(self):
        """All records as a pandas DataFrame (one column per metric / detector key; absent = NaN)."""
        import pandas as pd

        return pd.DataFrame(self.records())

    def features(self, cell_key: str, name: str) -> tuple[list[str], np.ndarray]:
        """The stored feature vectors ``name`` of a cell's successful samples, ordered by sample id."""
        cur = self.conn.execute(
            "SELECT f.sample_id, f.dtype, f.data FROM features f JOIN records r "
            "ON f.cell_key = r.cell_key AND f.sample_id = r.sample_id "
            "WHERE f.cell_key = ? AND f.name = ? AND r.error IS NULL ORDER BY f.sample_id",
            (cell_key, name),
        )
        ids, vecs = [], []
        for sid, dt, blob in cur:
            ids.append(sid)
            vecs.append(np.frombuffer(blob, dtype=np.dtype(dt)))
        return ids, (np.stack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))

    def feature_names(self, cell_key: str | None = None) -> list[str]:
        if cell_key is None:
            cur = self.conn.execute("SELECT DISTINCT name FROM features ORDER BY name")
        else:
            cur = self.conn.execute("SELECT DISTINCT name FROM features WHERE cell_key = ? ORDER BY name", (cell_key,))
        return [r[0] for r in cur]

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def merge_stores(dest: "str | Path | RunStore", sources: Iterable[str | Path]) -> dict[str, int]:
    """Merge the records of several stores (shards, or runs of the same suite) into ``dest``.

    ``dest`` is a path (opened and closed here) or an open :class:`RunStore` (e.g. ``RunStore(":memory:")`` for a
    read-only union). For a (cell, sample) in several stores a successful row wins over an error row; between two
    successful rows the one already there (the first store given) wins. Features of successful rows, cells and
    session rows are copied. Only the columns both stores have are copied (stores of other versions still merge).
    Returns counts of merged rows.
    """
    out = dest if isinstance(dest, RunStore) else RunStore(dest)
    counts = {"records": 0, "sources": 0}
    c = out.conn
    try:
        for src in sources:
            src = Path(src)
            if isinstance(dest, (str, Path)) and src.resolve() == Path(dest).resolve():
                continue
            if not src.exists():
                raise BenchError(f"merge: no store at {src}")
            c.execute("ATTACH DATABASE ? AS src", (str(src),))
            try:
                try:
                    c.execute("SELECT 1 FROM src.records LIMIT 1").fetchall()
                except sqlite3.DatabaseError as e:
                    raise BenchError(f"merge: {src} is not a usable inpaint-bench store ({e})") from None

                def cols(table: str, prefix: str = "") -> str:
                    mine = [r[1] for r in c.execute(f"PRAGMA main.table_info({table})")]
                    theirs = {r[1] for r in c.execute(f"PRAGMA src.table_info({table})")}
                    return ", ".join(prefix + x for x in mine if x in theirs)

                with c:
                    c.execute(f"INSERT OR IGNORE INTO cells ({cols('cells')}) SELECT {cols('cells')} FROM src.cells")
                    before = c.total_changes
                    # successful source rows replace missing or failed rows; failed source rows only fill gaps
                    c.execute(
                        f"INSERT OR REPLACE INTO records ({cols('records')}) SELECT {cols('records', 's.')} "
                        "FROM src.records s LEFT JOIN records d ON d.cell_key = s.cell_key AND d.sample_id = s.sample_id "
                        "WHERE d.cell_key IS NULL OR (d.error IS NOT NULL AND s.error IS NULL)")
                    counts["records"] += c.total_changes - before
                    c.execute(
                        f"INSERT OR IGNORE INTO features ({cols('features')}) SELECT {cols('features', 'f.')} "
                        "FROM src.features f JOIN src.records r "
                        "ON f.cell_key = r.cell_key AND f.sample_id = r.sample_id WHERE r.error IS NULL")
                    c.execute(f"INSERT OR REPLACE INTO cell_sessions ({cols('cell_sessions')}) "
                              f"SELECT {cols('cell_sessions')} FROM src.cell_sessions")
            except sqlite3.OperationalError as e:
                raise BenchError(f"merge: {src}: cannot merge ({e})") from None
            finally:
                c.execute("DETACH DATABASE src")
            counts["sources"] += 1
    finally:
        if not isinstance(dest, RunStore):
            out.close()
    return counts
