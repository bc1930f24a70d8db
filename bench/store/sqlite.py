"""The run's SQLite store: generations (what a model made) and scorings (what the metrics and detectors said).

Two stages, two identities (shared/DESIGN.md, "generate once, score many"):

* ``generations``: one row per *cell* (backend × dataset × mask × seed × resolution × dtype × ...; its key is the
  generation key), and ``outputs``: one row per (generation, sample): hole fraction, LaMa area bin, latency,
  raw / model size, the error if the model failed. The output itself is a lossless 8-bit PNG beside the store
  (:mod:`bench.store.files`), written before its row is committed.
* ``scorers``: one row per metric or detector identity (spec, implementation version, thresholds, view), and
  ``scores``: one row per (generation, sample, scorer) with that scorer's values (or its error). Adding a metric
  adds rows here only; no model runs again.
* ``features``: per-sample feature vectors a scorer keeps for set-level metrics (FID/KID/IDS), keyed by
  (generation, scorer, sample, name); ``ref_features``: the features of the ground truth / reference side, which
  depend on the sample's input only, keyed by the generation's *input key* (dataset × mask × seed × resolution),
  so every backend of that dataset × mask shares one copy.
* ``gen_sessions``: per generation and session, load time and peak memory.

Reading: :meth:`RunStore.select` restricts every query to the cells and scorers of one suite (what
``manifest.json`` lists), so rows of an earlier version of a suite, kept in the same folder, never mix into a
report. :meth:`RunStore.records` joins a generation row with the selected scorers' values: one flat dict per
(cell, sample), ``cell_key`` being the generation key.

Every batch is committed in one transaction, so a crash loses at most the batch in flight; finished rows are never
recomputed. Error rows are kept (with their message) and retried by the next run.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..errors import BenchError

SCHEMA_VERSION = 2
#: how many replaced rows' ``created`` times a generation row keeps (``info["supersedes"]``, newest last)
LINEAGE_MAX = 16

SCHEMA = """
CREATE TABLE IF NOT EXISTS store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS generations (
    gen_key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    dataset TEXT NOT NULL,
    mask TEXT NOT NULL,
    input_key TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs (
    gen_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    hole_fraction REAL,
    area_bin INTEGER,
    latency_ms REAL,
    wall_ms REAL,
    batch_size INTEGER,
    info TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (gen_key, sample_id)
);
CREATE TABLE IF NOT EXISTS scorers (
    scorer_key TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    gen_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    scorer_key TEXT NOT NULL,
    vals TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (gen_key, sample_id, scorer_key)
);
CREATE TABLE IF NOT EXISTS features (
    gen_key TEXT NOT NULL,
    scorer_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (gen_key, scorer_key, sample_id, name)
);
CREATE TABLE IF NOT EXISTS ref_features (
    input_key TEXT NOT NULL,
    scorer_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (input_key, scorer_key, sample_id, name)
);
CREATE INDEX IF NOT EXISTS features_by_sample ON features (gen_key, sample_id);
CREATE TABLE IF NOT EXISTS gen_sessions (
    gen_key TEXT NOT NULL,
    session TEXT NOT NULL,
    device TEXT,
    load_time_s REAL,
    peak_mem_allocated INTEGER,
    peak_mem_reserved INTEGER,
    peak_rss INTEGER,
    n_computed INTEGER,
    info TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (gen_key, session)
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


def _in(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"


#: Fields of a per-sample record that are not metric values, detector scores or flags.
RECORD_FIELDS = (
    "cell_key", "backend", "dataset", "mask", "sample_id", "hole_fraction", "area_bin", "latency_ms",
    "batch_size", "error",
)


class RunStore:
    """One ``records.sqlite``. Safe to share between the runner's thread and its scoring thread (a lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            if self.path.is_symlink():
                raise BenchError(f"{self.path} is a symbolic link; a run's store is never opened through a link "
                                 f"(move the real file into the run folder, or start over with --fresh)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # a run folder that cannot be written (a read-only mount, an archive): SQLite cannot open a WAL store there
        # for reading either (it wants its shared-memory file beside it), so such a store is opened as an immutable
        # file; reports and exports read it, and a write names the store
        self.read_only = (str(path) != ":memory:" and self.path.is_file()
                          and not os.access(self.path.parent, os.W_OK))
        if self.read_only:
            self.conn = sqlite3.connect(_read_uri(self.path), uri=True, timeout=60, check_same_thread=False)
        else:
            self.conn = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        self.lock = threading.RLock()
        self._held = False  # inside held(): writes join one transaction
        self._cells: list[str] | None = None  # selection (None = everything)
        self._scorers: list[str] | None = None
        try:
            if self.read_only:
                if "store_info" not in {r[0] for r in self.conn.execute(
                        "SELECT name FROM sqlite_master WHERE type='table'")}:
                    raise sqlite3.DatabaseError("no inpaint-bench tables")
                return
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "store_info" not in tables and not ("records" in tables and "outputs" not in tables):
                self.conn.close()
                raise BenchError(f"{self.path} is an SQLite file of another program (tables: "
                                 f"{', '.join(sorted(tables)[:5])}); inpaint-bench will not write into it. Move it "
                                 f"away, or use another --run-id")
            if "records" in tables and "outputs" not in tables:
                self.conn.close()
                raise BenchError(f"{self.path} was written by an earlier inpaint-bench (one table of cell rows, before "
                                 f"generations and scorings were separate); start this run folder over with "
                                 f"`bench run SUITE --fresh`, or give a new --run-id")
            self.conn.executescript(SCHEMA)
            self.conn.execute("INSERT OR IGNORE INTO store_info VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.conn.commit()
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise BenchError(f"{self.path} is not a usable inpaint-bench store ({e}); move it away, or start over "
                             f"with `bench run SUITE --fresh`") from None

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction; SQLite's own failure (a full disk, a file system gone read-only) becomes a
        :class:`BenchError` naming the store: the run stops with a message, and what was committed before stays.
        Inside :meth:`held` the writes join its one transaction instead of committing each."""
        try:
            if self._held:
                with self.lock:
                    yield
                return
            with self.lock, self.conn:
                yield
        except sqlite3.OperationalError as e:
            if self.read_only:
                raise BenchError(f"{self.path}: the run folder cannot be written (read-only); reports and exports "
                                 f"read it, but to run or score it copy the folder somewhere writable") from None
            raise BenchError(f"{self.path}: cannot write the run's store ({e}); stopped. Rows committed before are "
                             f"kept: make room and run the same command again") from None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Every write inside is one transaction: committed when the block ends, rolled back when it raises (a run
        that stops before any work, for a missing backend checkpoint say, leaves an existing store's rows exactly as
        they were). The block holds the store's lock: no other thread writes meanwhile."""
        with self.lock:
            self._held = True
            try:
                yield
            except BaseException:
                self._held = False
                self.conn.rollback()
                raise
            self._held = False
            with self._writing():  # (commits what the block wrote, a failure named as any write's)
                pass

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- selection -----------------------------------------------------------------------------------
    def select(self, cells: Sequence[str] | None = None, scorers: Sequence[str] | None = None) -> "RunStore":
        """Restrict reads to these generation keys and scorer keys (None = no restriction); returns self."""
        self._cells = list(dict.fromkeys(cells)) if cells is not None else None
        self._scorers = list(dict.fromkeys(scorers)) if scorers is not None else None
        return self

    def _cell_filter(self, col: str = "gen_key") -> tuple[str, list[str]]:
        if self._cells is None:
            return "1", []
        return f"{col} IN {_in(len(self._cells))}", list(self._cells)

    def _scorer_filter(self, col: str = "scorer_key") -> tuple[str, list[str]]:
        if self._scorers is None:
            return "1", []
        return f"{col} IN {_in(len(self._scorers))}", list(self._scorers)

    # -- generations ---------------------------------------------------------------------------------
    def add_generation(self, gen_key: str, backend: str, dataset: str, mask: str, input_key: str,
                       spec: dict[str, Any]) -> None:
        with self._writing():
            self.conn.execute("INSERT OR IGNORE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (gen_key, backend, dataset, mask, input_key, json.dumps(spec, sort_keys=True,
                                                                                      default=str), time.time()))

    def cells(self) -> list[dict[str, Any]]:
        """The (selected) generations: cell_key (= generation key), backend, dataset, mask, input_key, spec."""
        where, args = self._cell_filter()
        cur = self.conn.execute(f"SELECT gen_key, backend, dataset, mask, input_key, spec FROM generations "
                                f"WHERE {where} ORDER BY created, gen_key", args)
        return [dict(cell_key=r[0], backend=r[1], dataset=r[2], mask=r[3], input_key=r[4], spec=json.loads(r[5]))
                for r in cur]

    def generated_ids(self, gen_key: str) -> set[str]:
        """Samples of the generation with a stored output (no error): never generated again."""
        with self.lock:
            cur = self.conn.execute("SELECT sample_id FROM outputs WHERE gen_key = ? AND error IS NULL", (gen_key,))
            return {r[0] for r in cur}

    def write_outputs(self, gen_key: str, rows: Iterable[dict[str, Any]]) -> None:
        """Commit generation rows in one transaction. Each row: sample_id, hole_fraction, area_bin, latency_ms,
        wall_ms, batch_size, info (dict: raw/model/input size, external...), error (str | None).

        A new successful output replaces the sample's earlier scores (they belonged to another output).

        A row that replaces one this store held records the replaced rows' ``created`` times in its info
        (``supersedes``, at most :data:`LINEAGE_MAX`): :func:`merge_stores` then knows it is the later generation
        without comparing the clocks of the machines that wrote the two rows."""
        rows = list(rows)
        now = time.time()
        fresh = [(gen_key, r["sample_id"]) for r in rows if r.get("error") is None]
        with self._writing():
            infos = []
            for r in rows:
                info = dict(r.get("info") or {})
                old = self.conn.execute("SELECT created, info FROM outputs WHERE gen_key = ? AND sample_id = ?",
                                        (gen_key, r["sample_id"])).fetchone()
                if old is not None and old[0] != now:
                    try:
                        before = list(json.loads(old[1] or "{}").get("supersedes") or [])
                    except (ValueError, AttributeError):
                        before = []
                    info["supersedes"] = [*before, old[0]][-LINEAGE_MAX:]
                infos.append(info)
            if fresh:
                self.conn.executemany("DELETE FROM scores WHERE gen_key = ? AND sample_id = ?", fresh)
                self.conn.executemany("DELETE FROM features WHERE gen_key = ? AND sample_id = ?", fresh)
            self.conn.executemany(
                "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(gen_key, r["sample_id"], r.get("hole_fraction"), r.get("area_bin"), r.get("latency_ms"),
                  r.get("wall_ms"), r.get("batch_size"), json.dumps(info, default=_json_default),
                  r.get("error"), now) for r, info in zip(rows, infos)])

    def output_info(self, gen_key: str, sample_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """{sample id: generation row} of the successful outputs of a generation."""
        cur = self.conn.execute("SELECT sample_id, hole_fraction, area_bin, latency_ms, wall_ms, batch_size, info "
                                "FROM outputs WHERE gen_key = ? AND error IS NULL", (gen_key,))
        want = set(sample_ids) if sample_ids is not None else None
        out = {}
        for r in cur:
            if want is not None and r[0] not in want:
                continue
            out[r[0]] = dict(sample_id=r[0], hole_fraction=r[1], area_bin=r[2], latency_ms=r[3], wall_ms=r[4],
                             batch_size=r[5], info=json.loads(r[6] or "{}"))
        return out

    def mark_output_missing(self, gen_key: str, sample_id: str, message: str) -> None:
        """Turn a generation row into an error row (its PNG is gone, or it was made from inputs that changed): the
        next run generates it again."""
        with self._writing():
            self.conn.execute("UPDATE outputs SET error = ? WHERE gen_key = ? AND sample_id = ?",
                              (message, gen_key, sample_id))

    def record_session(self, gen_key: str, session: str, **info: Any) -> None:
        cols = ("device", "load_time_s", "peak_mem_allocated", "peak_mem_reserved", "peak_rss", "n_computed")
        extra = {k: v for k, v in info.items() if k not in cols}
        with self._writing():
            self.conn.execute(
                "INSERT OR REPLACE INTO gen_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (gen_key, session, *(info.get(c) for c in cols), json.dumps(extra, default=_json_default),
                 time.time()),
            )

    def sessions(self) -> list[dict[str, Any]]:
        where, args = self._cell_filter()
        cur = self.conn.execute(f"SELECT * FROM gen_sessions WHERE {where} ORDER BY created", args)
        names = [d[0] for d in cur.description]
        out = []
        for r in cur:
            d = dict(zip(names, r))
            d["cell_key"] = d.pop("gen_key")
            d.update(json.loads(d.pop("info") or "{}"))
            out.append(d)
        return out

    # -- scorings ------------------------------------------------------------------------------------
    def add_scorer(self, scorer_key: str, label: str, kind: str, spec: dict[str, Any]) -> None:
        with self._writing():
            self.conn.execute("INSERT OR IGNORE INTO scorers VALUES (?, ?, ?, ?, ?)",
                              (scorer_key, label, kind, json.dumps(spec, sort_keys=True, default=str), time.time()))

    def scored(self, gen_key: str, scorer_keys: Sequence[str]) -> dict[str, set[str]]:
        """{scorer key: sample ids it scored without error} for one generation."""
        out: dict[str, set[str]] = {k: set() for k in scorer_keys}
        if not scorer_keys:
            return out
        with self.lock:
            cur = self.conn.execute(f"SELECT scorer_key, sample_id FROM scores WHERE gen_key = ? AND error IS NULL "
                                    f"AND scorer_key IN {_in(len(scorer_keys))}", (gen_key, *scorer_keys))
            for k, sid in cur:
                out[k].add(sid)
        return out

    def write_scores(self, gen_key: str, rows: Iterable[tuple[str, str, dict[str, Any], str | None]],
                     features: Iterable[tuple[str, str, str, np.ndarray]] = (),
                     ref_features: Iterable[tuple[str, str, str, str, np.ndarray]] = ()) -> None:
        """Commit scores of one batch in one transaction.

        ``rows``: (sample id, scorer key, values, error); ``features``: (scorer key, sample id, name, 1-D array)
        of the outputs; ``ref_features``: (input key, scorer key, sample id, name, 1-D array) of the reference
        side (kept when already there: they depend on the input only)."""
        now = time.time()
        with self._writing():
            self.conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                                  [(gen_key, sid, k, dumps(v), err, now) for sid, k, v, err in rows])
            self.conn.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?)",
                [(gen_key, k, sid, name, str(np.asarray(a).dtype), np.ascontiguousarray(a).tobytes())
                 for k, sid, name, a in features])
            self.conn.executemany(
                "INSERT OR IGNORE INTO ref_features VALUES (?, ?, ?, ?, ?, ?)",
                [(ik, k, sid, name, str(np.asarray(a).dtype), np.ascontiguousarray(a).tobytes())
                 for ik, k, sid, name, a in ref_features])

    def drop_scores(self, scorer_keys: Sequence[str], gen_keys: Sequence[str] | None = None) -> None:
        """Forget stored scores (and their features) so they are computed again (``bench score --recompute``)."""
        if not scorer_keys:
            return
        cond = f"scorer_key IN {_in(len(scorer_keys))}"
        args: list[str] = list(scorer_keys)
        if gen_keys is not None:
            cond += f" AND gen_key IN {_in(len(gen_keys))}"
            args += list(gen_keys)
        with self._writing():
            self.conn.execute(f"DELETE FROM scores WHERE {cond}", args)
            self.conn.execute(f"DELETE FROM features WHERE {cond}", args)

    # -- reading -------------------------------------------------------------------------------------
    def records(self, cell_key: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per (selected cell, sample): labels, hole fraction, area bin, latency, batch size, the
        selected scorers' values merged, and ``error`` (the generation's, else the first scorer error)."""
        where, args = self._cell_filter("o.gen_key")
        if cell_key is not None:
            where += " AND o.gen_key = ?"
            args = [*args, cell_key]
        q = ("SELECT o.gen_key, g.backend, g.dataset, g.mask, o.sample_id, o.hole_fraction, o.area_bin, "
             "o.latency_ms, o.wall_ms, o.batch_size, o.error FROM outputs o JOIN generations g USING (gen_key) "
             f"WHERE {where} ORDER BY g.created, o.gen_key, o.sample_id")
        out: list[dict[str, Any]] = []
        index: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.conn.execute(q, args):
            d = dict(cell_key=r[0], backend=r[1], dataset=r[2], mask=r[3], sample_id=r[4], hole_fraction=r[5],
                     area_bin=r[6], latency_ms=r[7], wall_ms=r[8], batch_size=r[9], error=r[10])
            out.append(d)
            index[(r[0], r[4])] = d
        if not out:
            return out
        swhere, sargs = self._scorer_filter("s.scorer_key")
        cwhere, cargs = self._cell_filter("s.gen_key")
        if cell_key is not None:
            cwhere += " AND s.gen_key = ?"
            cargs = [*cargs, cell_key]
        q = (f"SELECT s.gen_key, s.sample_id, s.vals, s.error, c.label FROM scores s JOIN scorers c USING "
             f"(scorer_key) WHERE {swhere} AND {cwhere} ORDER BY c.kind DESC, c.label")
        for gk, sid, vals, err, label in self.conn.execute(q, [*sargs, *cargs]):
            d = index.get((gk, sid))
            if d is None:
                continue
            d.update(json.loads(vals))
            if err is not None and d["error"] is None:
                d["error"] = f"{label}: {err}"
        return out

    def frame(self):
        """All (selected) records as a pandas DataFrame (one column per metric / detector key; absent = NaN)."""
        import pandas as pd

        return pd.DataFrame(self.records())

    def input_key(self, gen_key: str) -> str | None:
        """The input key (dataset, mask and their settings) a generation's cell reads its inputs under: its saved
        input, mask and ground truth PNGs lie under it (``bench.store.files.input_path``)."""
        r = self.conn.execute("SELECT input_key FROM generations WHERE gen_key = ?", (gen_key,)).fetchone()
        return r[0] if r else None

    def features(self, cell_key: str, name: str) -> tuple[list[str], np.ndarray]:
        """Feature vectors ``name`` of a cell's successful samples, ordered by sample id: the outputs' own
        (``features``) or, for reference-side names, the shared ones of the cell's input key (``ref_features``)."""
        swhere, sargs = self._scorer_filter("f.scorer_key")
        cur = self.conn.execute(
            "SELECT f.sample_id, f.dtype, f.data FROM features f JOIN outputs o "
            "ON f.gen_key = o.gen_key AND f.sample_id = o.sample_id "
            f"WHERE f.gen_key = ? AND f.name = ? AND o.error IS NULL AND {swhere} ORDER BY f.sample_id",
            (cell_key, name, *sargs))
        rows = cur.fetchall()
        if not rows:
            ik = self.input_key(cell_key)
            rows = self.conn.execute(
                "SELECT f.sample_id, f.dtype, f.data FROM ref_features f JOIN outputs o "
                "ON o.gen_key = ? AND f.sample_id = o.sample_id "
                f"WHERE f.input_key = ? AND f.name = ? AND o.error IS NULL AND {swhere} ORDER BY f.sample_id",
                (cell_key, ik, name, *sargs)).fetchall()
        ids, vecs = [], []
        seen = set()
        for sid, dt, blob in rows:
            if sid in seen:  # two selected scorers with one feature name: the first wins (config forbids it)
                continue
            seen.add(sid)
            ids.append(sid)
            vecs.append(np.frombuffer(blob, dtype=np.dtype(dt)))
        return ids, (np.stack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))

    def feature_names(self, cell_key: str | None = None) -> list[str]:
        swhere, sargs = self._scorer_filter()
        if cell_key is None:
            cwhere, cargs = self._cell_filter()
            names = {r[0] for r in self.conn.execute(
                f"SELECT DISTINCT name FROM features WHERE {cwhere} AND {swhere}", (*cargs, *sargs))}
            names |= {r[0] for r in self.conn.execute(
                f"SELECT DISTINCT name FROM ref_features WHERE {swhere}", sargs)}
            return sorted(names)
        names = {r[0] for r in self.conn.execute(
            f"SELECT DISTINCT name FROM features WHERE gen_key = ? AND {swhere}", (cell_key, *sargs))}
        ik = self.input_key(cell_key)
        if ik is not None:
            names |= {r[0] for r in self.conn.execute(
                f"SELECT DISTINCT name FROM ref_features WHERE input_key = ? AND {swhere}", (ik, *sargs))}
        return sorted(names)

    def byte_counts(self) -> dict[str, int]:
        """Bytes of payload per table (feature blobs and JSON values): for docs/scale.md's storage figures."""
        out = {}
        for table, expr in (("outputs", "length(info) + length(sample_id) + 48"),
                            ("scores", "length(vals) + length(sample_id) + length(scorer_key)"),
                            ("features", "length(data)"), ("ref_features", "length(data)")):
            out[table] = int(self.conn.execute(f"SELECT COALESCE(SUM({expr}), 0) FROM {table}").fetchone()[0])
        return out

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _read_uri(path: Path) -> str:
    """The URI that opens the store at ``path`` for reading only (percent-encoded: a folder name may hold ``?`` or
    ``#``): as an immutable file where its folder cannot be written (SQLite cannot open a WAL store there
    otherwise: it wants its shared-memory file beside it), else read-only."""
    return path.resolve().as_uri() + ("?mode=ro" if os.access(path.parent, os.W_OK) else "?immutable=1")


def stored_outputs(path: str | Path) -> dict[str, set[str]]:
    """{cell key: sample ids with a stored output (no error)} of the store at ``path``, read only (another
    process's store, or one a check must not change: no WAL checkpoint, no schema upgrade); {} when it is not there
    or cannot be read. :meth:`RunStore.generated_ids` asks an open store the same, per cell."""
    p = Path(path)
    if not p.is_file():
        return {}
    out: dict[str, set[str]] = {}
    try:
        con = sqlite3.connect(_read_uri(p), uri=True)
        try:
            for key, sid in con.execute("SELECT gen_key, sample_id FROM outputs WHERE error IS NULL"):
                out.setdefault(key, set()).add(sid)
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    return out


def _follow_lineage(c: sqlite3.Connection) -> None:
    """Where two rows of one kind (both successful, or both errors) meet and one replaced the other in some store
    (its ``info["supersedes"]`` holds the other's ``created``: :meth:`RunStore.write_outputs`), the replacing row
    wins, whatever the two ``created`` times say: they come from the clocks of the machines that wrote them (a shard
    run again on a node whose clock is behind made an output "earlier" than the one it replaced)."""
    pairs = c.execute(
        "SELECT p.gen_key, p.sample_id, p.how, s.created, s.info, d.created, d.info FROM temp.merge_pick p "
        "JOIN src.outputs s ON s.gen_key = p.gen_key AND s.sample_id = p.sample_id "
        "JOIN outputs d ON d.gen_key = p.gen_key AND d.sample_id = p.sample_id "
        "WHERE p.how IN ('take', 'keep') AND (s.error IS NULL) = (d.error IS NULL) AND s.created != d.created "
        "AND (s.info LIKE '%supersedes%' OR d.info LIKE '%supersedes%')").fetchall()

    def replaced(info: str | None) -> list:
        try:
            return list(json.loads(info or "{}").get("supersedes") or [])
        except (ValueError, AttributeError, TypeError):
            return []

    for gen_key, sid, how, s_created, s_info, d_created, d_info in pairs:
        now = "take" if d_created in replaced(s_info) else "keep" if s_created in replaced(d_info) else how
        if now != how:
            c.execute("UPDATE temp.merge_pick SET how = ? WHERE gen_key = ? AND sample_id = ?", (now, gen_key, sid))


def merge_stores(dest: "str | Path | RunStore", sources: Iterable[str | Path],
                 taken: "list[tuple[Path, str, str]] | None" = None) -> dict[str, int]:
    """Merge several stores (shards, or runs of the same suite) into ``dest``.

    ``dest`` is a path (opened and closed here) or an open :class:`RunStore` (e.g. ``RunStore(":memory:")`` for a
    read-only union). For a (cell, sample) both hold, the output row that wins is, in this order: a successful
    row over an error row; else the row that replaced the other in some store (:func:`_follow_lineage`: no clock
    read); else the one generated later (the row's ``created`` time, the writing machine's clock), so an output a
    shard made again (its input changed, ``--fresh``) replaces the older one whatever order the stores are given in. The same
    row in both (equal ``created``: merged before) is one output: its scores are combined, a successful score
    over an error. Scores and feature vectors follow their output: a winning row brings its own and the loser's
    are dropped, so no score of one output sits next to another. Merging a store again changes nothing.
    Generations, scorers, reference features and sessions are copied. Returns counts of merged output and score
    rows; ``taken`` (when given) collects (source, cell, sample) of every output row taken from a source where
    ``dest`` already had one (its PNG, when the source is another run folder, must replace the destination's).
    """
    out = dest if isinstance(dest, RunStore) else RunStore(dest)
    counts = {"records": 0, "scores": 0, "sources": 0}
    c = out.conn
    # what each source row does: 'take' (it wins: replaces the destination's row, scores and features), 'same'
    # (the destination holds this very row: combine scores) or nothing (the destination's row wins: the source's
    # scores of its other output are left out)
    pick = ("INSERT INTO temp.merge_pick SELECT s.gen_key, s.sample_id, CASE "
            "WHEN d.gen_key IS NULL THEN 'take' "
            "WHEN (s.error IS NULL) != (d.error IS NULL) THEN CASE WHEN s.error IS NULL THEN 'take' ELSE 'keep' END "
            "WHEN s.created > d.created THEN 'take' "
            "WHEN s.created = d.created THEN 'same' ELSE 'keep' END, d.gen_key IS NOT NULL "
            "FROM src.outputs s LEFT JOIN outputs d ON d.gen_key = s.gen_key AND d.sample_id = s.sample_id")
    taken_rows = "(gen_key, sample_id) IN (SELECT gen_key, sample_id FROM temp.merge_pick WHERE how = 'take')"
    try:
        c.execute("CREATE TEMP TABLE IF NOT EXISTS merge_pick (gen_key TEXT NOT NULL, sample_id TEXT NOT NULL, "
                  "how TEXT NOT NULL, had INTEGER NOT NULL, PRIMARY KEY (gen_key, sample_id))")
        for src in sources:
            src = Path(src)
            if isinstance(dest, (str, Path)) and src.resolve() == Path(dest).resolve():
                continue
            if not src.exists():
                raise BenchError(f"merge: no store at {src}")
            RunStore(src).close()  # refuses stores of other tools or older layouts, with a message
            c.execute("ATTACH DATABASE ? AS src", (str(src),))
            try:
                with out.lock, c:
                    for table in ("generations", "scorers"):
                        c.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM src.{table}")
                    c.execute("DELETE FROM temp.merge_pick")
                    c.execute(pick)
                    _follow_lineage(c)
                    c.execute(f"DELETE FROM scores WHERE {taken_rows}")
                    c.execute(f"DELETE FROM features WHERE {taken_rows}")
                    before = c.total_changes
                    c.execute(f"INSERT OR REPLACE INTO outputs SELECT * FROM src.outputs WHERE {taken_rows}")
                    counts["records"] += c.total_changes - before
                    before = c.total_changes
                    c.execute(f"INSERT OR REPLACE INTO scores SELECT * FROM src.scores WHERE {taken_rows}")
                    c.execute("INSERT OR REPLACE INTO scores SELECT s.* FROM src.scores s "
                              "JOIN temp.merge_pick p ON p.gen_key = s.gen_key AND p.sample_id = s.sample_id "
                              "LEFT JOIN scores d ON d.gen_key = s.gen_key AND d.sample_id = s.sample_id "
                              "AND d.scorer_key = s.scorer_key WHERE p.how = 'same' "
                              "AND (d.gen_key IS NULL OR (d.error IS NOT NULL AND s.error IS NULL))")
                    counts["scores"] += c.total_changes - before
                    c.execute(f"INSERT OR REPLACE INTO features SELECT * FROM src.features WHERE {taken_rows}")
                    c.execute("INSERT OR IGNORE INTO features SELECT * FROM src.features WHERE (gen_key, sample_id) "
                              "IN (SELECT gen_key, sample_id FROM temp.merge_pick WHERE how = 'same')")
                    c.execute("INSERT OR IGNORE INTO ref_features SELECT * FROM src.ref_features")
                    c.execute("INSERT OR REPLACE INTO gen_sessions SELECT * FROM src.gen_sessions")
                    if taken is not None:
                        taken.extend((src, g, s) for g, s in c.execute(
                            "SELECT gen_key, sample_id FROM temp.merge_pick WHERE how = 'take' AND had"))
            except sqlite3.DatabaseError as e:
                raise BenchError(f"merge: {src}: cannot merge ({e})") from None
            finally:
                c.execute("DETACH DATABASE src")
            counts["sources"] += 1
    finally:
        c.execute("DROP TABLE IF EXISTS temp.merge_pick")
        if not isinstance(dest, RunStore):
            out.close()
    return counts
