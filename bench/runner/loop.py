"""The loop over cells and samples: the only place that knows about timing and the store.

For every backend (loaded once), dataset and mask strategy (a *cell*), the runner
  1. skips samples the store already holds (resume: finished rows are never recomputed),
  2. loads samples, makes masks (a pure function of suite seed, dataset, strategy and sample id),
  3. blanks the hole (the backend never sees the answer) and calls the backend through the geometry adapter,
     timed (CUDA events after warm-up on GPU, perf_counter on CPU),
  4. scores the batch (metrics, detectors) and commits one row per sample in one transaction.
Any exception inside a batch becomes error rows for those samples (retried by the next run); the run goes on.
"""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
import traceback
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..config import MAX_NAME, PluginSpec, Suite, hash_obj
from ..errors import BenchError, ConfigError
from ..masks.base import mask_stats
from ..seeding import derive_seed
from ..store import RunStore
from ..types import EvalBatch, RunContext, Sample
from . import timing
from .provenance import device_info, git_revision, package_versions, resolve_device

BLANK_VALUE = 0.5  # the constant the hole is set to before a backend sees the image
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


#: what a batch, an item or a backend's set-up may raise without ending the run. SystemExit included: research code
#: calls sys.exit (argparse on the wrong argv, exit(1)); KeyboardInterrupt is not caught (the user's stop).
CAUGHT = (Exception, SystemExit)


def _describe(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"the backend called sys.exit({e.code!r})"
    return traceback.format_exception_only(type(e), e)[-1].strip()


class BackendTimeout(BenchError):
    """A backend call ran past the suite's ``timeout_s``."""


@dataclass
class Cell:
    key: str
    backend: PluginSpec
    dataset: PluginSpec
    mask: PluginSpec

    @property
    def label(self) -> str:
        return f"{self.backend.label}/{self.dataset.label}/{self.mask.label}"


@dataclass
class Item:
    """One prepared sample of a cell: what the backend gets and what the metrics compare against."""

    sample_id: str
    image: torch.Tensor  # [3,H,W] original
    mask: torch.Tensor  # [1,H,W] bool
    gt: torch.Tensor | None
    stats: dict[str, Any]  # hole_fraction, area_bin


def cell_key(suite: Suite, backend: PluginSpec, dataset: PluginSpec, mask: PluginSpec) -> str:
    """Identity of a cell's results: everything that changes its rows (model, data, masks, scoring)."""
    ident = {
        "backend": backend.canonical(), "dataset": dataset.canonical(), "mask": mask.canonical(),
        "seed": suite.seed, "resolution": suite.resolution, "paste_back": suite.paste_back, "blank": BLANK_VALUE,
        "dtype": suite.dtype, "weights": suite.weights,
        "metrics": [m.canonical() for m in suite.metrics], "detectors": [d.canonical() for d in suite.detectors],
    }
    return f"{backend.label}.{dataset.label}.{mask.label}.{hash_obj(ident)[:10]}"


def expand_cells(suite: Suite) -> list[Cell]:
    return [Cell(cell_key(suite, b, d, m), b, d, m) for b in suite.backends for d in suite.datasets for m in suite.masks]


def _safe_name(s: str) -> str:
    """A file name for a sample id that cannot escape its folder; ids that needed changes get a hash suffix."""
    safe = re.sub(r"[^A-Za-z0-9_.+=-]", "_", s).lstrip(".")[:120]
    return safe if safe == s else f"{safe}-{hash_obj(s)[:8]}"


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


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a fresh temporary file in the same folder and rename: never follows a link planted at ``path``."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

class Runner:
    def __init__(self, suite: Suite, *, run_id: str | None = None, limit: int | None = None,
                 device: str | None = None, fresh: bool = False, console: Any = None, progress: bool = True,
                 shard: tuple[int, int] | None = None):
        self.suite = suite
        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            raise ConfigError("shard", f"expected i/n with 0 <= i < n, got {shard[0]}/{shard[1]}")
        self.shard = shard if shard and shard[1] > 1 else None
        self.run_id = run_id or suite.name
        if not RUN_ID_RE.match(self.run_id) or ".." in self.run_id or len(self.run_id) > MAX_NAME:
            raise ConfigError("run-id", f"{self.run_id[:80]!r} must be a plain folder name of at most {MAX_NAME} "
                                        f"letters, digits and _.+=-")
        self.limit = limit if limit is not None else suite.limit
        self.device = resolve_device(device or suite.device)
        self.dtype = DTYPES[suite.dtype]
        self.run_dir = Path(suite.output_dir) / self.run_id
        #: where this process's store lives: the run folder, or its shard folder (merged by ``bench merge``)
        self.store_dir = self.run_dir / "shards" / f"{self.shard[0]}-of-{self.shard[1]}" if self.shard else self.run_dir
        self.fresh = fresh
        self.console = console
        self.show_progress = progress
        self.session = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        warm = suite.warmup
        self.warmup = warm if warm is not None else (1 if self.device.type == "cuda" else 0)
        self.ctx = RunContext(
            device=self.device, dtype=self.dtype, seed=suite.seed, weights=suite.weights,
            weights_dir=Path(suite.weights_dir) if suite.weights_dir else None,
            cache_dir=Path(suite.cache_dir) if suite.cache_dir else None, run_dir=self.run_dir,
            extra={"resolution": suite.resolution},
        )
        self.manifest: dict[str, Any] = {}
        self._hung: str | None = None  # set when a backend call ran past timeout_s
        self._mem_baseline: tuple[int, int] = (0, 0)
        self._scorer: ThreadPoolExecutor | None = None  # overlap mode: one scoring thread
        self._pending = None
        self._score_stream = None
        if suite.overlap:
            self._scorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-score")
            if self.device.type == "cuda":
                self._score_stream = torch.cuda.Stream(self.device)
        self._peak = timing.PeakTracker(self.device, (0, 0))

    # -- set-up ----------------------------------------------------------------------------------------
    def _log(self, msg: str) -> None:
        if self.console is not None:
            self.console.print(msg)

    def _prepare_dir(self) -> RunStore:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._locks = [RunLock(self.run_dir, shared=self.shard is not None)]  # run() releases them on failure
        if self.shard:
            self._locks.append(RunLock(self.store_dir))
        if self.fresh:
            for name in ("records.sqlite", "records.sqlite-wal", "records.sqlite-shm"):
                (self.store_dir / name).unlink(missing_ok=True)
            if not self.shard:
                shutil.rmtree(self.run_dir / "outputs", ignore_errors=True)
                shutil.rmtree(self.run_dir / "shards", ignore_errors=True)
        write_text_atomic(self.store_dir / "suite.resolved.yaml", yaml.safe_dump(self.suite.resolved(), sort_keys=False))
        return RunStore(self.store_dir / "records.sqlite")

    def _write_manifest(self) -> None:
        write_text_atomic(self.store_dir / "manifest.json", json.dumps(self.manifest, indent=2, default=str))

    def _base_manifest(self, cells: list[Cell], metrics: dict, detectors: dict) -> dict[str, Any]:
        old: dict[str, Any] = {}
        path = self.store_dir / "manifest.json"
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = {}
        columns: dict[str, Any] = {}
        for m in metrics.values():
            for key, col in getattr(m, "columns", {}).items():
                columns[key] = {"higher_is_better": col.higher_is_better, "fmt": col.fmt, "interval": col.interval}
        metric_prov = {name: _prov(m) for name, m in metrics.items()}
        det_prov = {name: _prov(d) for name, d in detectors.items()}
        reasons = [f"{kind} {name}: {p.get('noncomparable_reason', 'random weights')}"
                   for kind, provs in (("metric", metric_prov), ("detector", det_prov))
                   for name, p in provs.items() if p.get("comparable") is False]
        sessions = old.get("sessions", []) + [{"session": self.session, "started": time.time(),
                                               "device": str(self.device)}]
        return {
            "run_id": self.run_id,
            "suite_name": self.suite.name,
            "suite_file": str(self.suite.source) if self.suite.source else None,
            "config_hash": self.suite.config_hash(),
            "suite": self.suite.resolved(),
            "created": old.get("created", time.time()),
            "git": git_revision(),
            "packages": package_versions(),
            "device": device_info(self.device),
            "dtype": self.suite.dtype,
            "seed": self.suite.seed,
            "blank_value": BLANK_VALUE,
            "paste_back": self.suite.paste_back,
            "warmup_batches": self.warmup,
            "overlap": self.suite.overlap,
            "timing": "cuda_events" if self.device.type == "cuda" else "perf_counter",
            "limit": self.limit,
            "shard": list(self.shard) if self.shard else None,
            "weights": self.suite.weights,
            "metrics": metric_prov,
            "detectors": det_prov,
            "backends": old.get("backends", {}),
            "columns": columns,
            "comparable": not reasons,
            "noncomparable_reasons": reasons,
            "cells": [{"cell_key": c.key, "backend": c.backend.label, "dataset": c.dataset.label,
                       "mask": c.mask.label} for c in cells],
            "report": self.suite.report,
            "sessions": sessions,
        }

    # -- main ------------------------------------------------------------------------------------------
    def run(self) -> Path:
        suite = self.suite
        try:
            store = self._prepare_dir()
        except BaseException:
            for lock in reversed(getattr(self, "_locks", [])):
                lock.release()
            raise
        try:
            cells = expand_cells(suite)
            metrics = {s.label: s.create() for s in suite.metrics}
            detectors = {s.label: s.create() for s in suite.detectors}
            for m in list(metrics.values()) + list(detectors.values()):
                m.setup(self.ctx)
            datasets = {}
            for s in suite.datasets:
                ds = s.create()
                ds.bind(resolution=suite.resolution, seed=suite.seed)
                datasets[s.label] = ds
            masks = {s.label: s.create() for s in suite.masks}
            self.manifest = self._base_manifest(cells, metrics, detectors)
            self.manifest["datasets"] = {k: _prov(d) for k, d in datasets.items()}
            self._write_manifest()
            for c in cells:
                store.add_cell(c.key, c.backend.label, c.dataset.label, c.mask.label,
                               {"backend": c.backend.canonical(), "dataset": c.dataset.canonical(),
                                "mask": c.mask.canonical()})
            work = self._work(cells, datasets)
            for bspec in suite.backends:
                bcells = [c for c in cells if c.backend is bspec]
                todo = {}
                for c in bcells:
                    done = store.done_ids(c.key)
                    todo[c.key] = [i for i in work[c.key] if i not in done]
                if not any(todo.values()):
                    self._log(f"[dim]{bspec.label}: all {sum(len(work[c.key]) for c in bcells)} "
                              f"samples already done (resumed)[/dim]")
                    continue
                self._run_backend(store, bspec, bcells, todo, datasets, masks, metrics, detectors)
        finally:
            if self.manifest:
                self.manifest["finished"] = time.time()
                self._write_manifest()
            if self._scorer is not None:
                self._scorer.shutdown(wait=True)
            store.close()
            for lock in reversed(self._locks):
                lock.release()
        return self.run_dir

    def _work(self, cells: list[Cell], datasets: dict) -> dict[str, list[str]]:
        """Sample ids per cell; with ``--shard i/n`` every n-th (cell, sample) work item starting at i."""
        ids = {}
        for label, ds in datasets.items():
            all_ids = list(ds.ids())
            if len(set(all_ids)) != len(all_ids):
                raise ConfigError(f"datasets ({label})", "sample ids are not unique")
            ids[label] = all_ids[: self.limit] if self.limit else all_ids
        work: dict[str, list[str]] = {}
        j = 0
        for c in cells:
            mine = []
            for sid in ids[c.dataset.label]:
                if self.shard is None or j % self.shard[1] == self.shard[0]:
                    mine.append(sid)
                j += 1
            work[c.key] = mine
        return work

    def _run_backend(self, store, bspec, bcells, todo, datasets, masks, metrics, detectors) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
        self._mem_baseline = timing.current_memory(self.device)  # the harness's own GPU memory (metric networks)
        t0 = time.perf_counter()
        try:
            backend = bspec.create()
            backend.setup(self.ctx)
        except CAUGHT as e:  # a backend that cannot load fails its cells, not the run
            msg = f"{bspec.path} ({bspec.label}): setup failed: {_describe(e)}"
            self._log(f"[red]{msg}[/red]")
            for c in bcells:
                store.write_batch(c.key, [{"sample_id": sid, "values": {}, "error": msg} for sid in todo[c.key]])
            self.manifest["backends"][bspec.label] = {"error": msg}
            self._write_manifest()
            return
        load_s = time.perf_counter() - t0
        self.manifest["backends"][bspec.label] = {"type": bspec.type, "params": bspec.params,
                                                  "load_time_s": load_s, **_prov(backend)}
        self._write_manifest()
        shapes_warm: set[tuple] = set()
        self._hung = None
        try:
            for c in bcells:
                if todo[c.key]:
                    self._run_cell(store, c, backend, todo[c.key], datasets[c.dataset.label],
                                   masks[c.mask.label], metrics, detectors, load_s, shapes_warm)
        finally:
            try:
                backend.teardown()
            except Exception:  # noqa: BLE001
                pass
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # -- one cell --------------------------------------------------------------------------------------
    def _prepare(self, cell: Cell, ds, strategy, sid: str) -> Item:
        sample: Sample = ds.load(sid)
        m = strategy.make(sample, self.suite.seed, cell.dataset.label)
        gt = sample.gt if strategy.uses_dataset_mask else sample.image
        return Item(sid, sample.image.float(), torch.from_numpy(np.ascontiguousarray(m))[None], gt, mask_stats(m))

    def _prefetched(self, cell: Cell, ds, strategy, sample_ids: list[str]):
        """Yield (sample id, Item or None, exception or None) in order; ``workers`` threads prepare items ahead."""
        workers = self.suite.workers
        if workers <= 0:
            for sid in sample_ids:
                try:
                    item = self._prepare(cell, ds, strategy, sid)
                except CAUGHT as e:
                    yield sid, None, e
                else:
                    yield sid, item, None
            return
        depth = max(2 * self.suite.batch_size, 2 * workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-load") as ex:
            pending: deque = deque()
            it = iter(sample_ids)
            for sid in islice(it, depth):
                pending.append((sid, ex.submit(self._prepare, cell, ds, strategy, sid)))
            while pending:
                sid, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, ex.submit(self._prepare, cell, ds, strategy, nxt)))
                try:
                    item = fut.result()
                except CAUGHT as e:
                    yield sid, None, e
                else:
                    yield sid, item, None

    def _run_cell(self, store, cell: Cell, backend, sample_ids, ds, strategy, metrics, detectors, load_s,
                  shapes_warm) -> None:
        bs = self.suite.batch_size
        self._peak = timing.PeakTracker(self.device, self._mem_baseline, stream_only=self._scorer is not None)
        self._pending = None
        n_done = 0
        progress = _make_progress(self.console) if self.show_progress else None
        task = progress.add_task(cell.label, total=len(sample_ids)) if progress else None
        if progress:
            progress.start()
        try:
            buf: list[Item] = []
            for sid, item, exc in self._prefetched(cell, ds, strategy, sample_ids):
                if exc is not None:  # one bad item never kills the run
                    store.write_batch(cell.key, [{"sample_id": sid, "values": {},
                                                  "error": f"sample {sid}: {type(exc).__name__}: {exc}"}])
                    if progress:
                        progress.advance(task)
                    continue
                if buf and (item.image.shape != buf[0].image.shape or len(buf) >= bs):
                    n_done += self._run_batch(store, cell, backend, buf, metrics, detectors, shapes_warm)
                    if progress:
                        progress.advance(task, len(buf))
                    buf = []
                buf.append(item)
            if buf:
                n_done += self._run_batch(store, cell, backend, buf, metrics, detectors, shapes_warm)
                if progress:
                    progress.advance(task, len(buf))
        finally:
            if self._pending is not None:  # the last batch's scoring (overlap mode)
                n_done += self._pending.result()
                self._pending = None
            if progress:
                progress.stop()
            mem = self._peak.summary()
            store.record_session(cell.key, self.session, device=str(self.device), load_time_s=load_s,
                                 n_computed=n_done, **mem)

    def _call_backend(self, backend, blanked, mask, gens):
        """The backend call (through the geometry adapter), under the suite's per-batch time limit if any."""
        from ..backends.geometry import run_backend

        def call():
            with torch.inference_mode():
                return run_backend(backend, blanked, mask, gens)

        limit = self.suite.timeout_s
        if limit is None:
            return call()
        if self._hung is not None:
            raise BackendTimeout(f"skipped: the backend hung on an earlier batch ({self._hung})")
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = call()
            except BaseException as e:  # noqa: BLE001 - handed to the runner's thread
                box["error"] = e

        # A daemon thread: Python cannot stop a running thread, so a hung call is abandoned; being a daemon it
        # does not keep the process alive at exit (a ThreadPoolExecutor's worker would).
        th = threading.Thread(target=target, name="bench-backend", daemon=True)
        th.start()
        th.join(limit)
        if th.is_alive():
            self._hung = f"no result after {limit:g} s"
            raise BackendTimeout(f"timed out: {self._hung}")
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _run_batch(self, store, cell: Cell, backend, items: list[Item], metrics, detectors, shapes_warm) -> int:
        """Run, score and commit one batch; returns the number of samples scored without error.

        Whatever goes wrong in here (the backend raising or calling ``sys.exit``, memory running out while the batch
        is assembled, a metric failing) becomes error rows for this batch's samples; the run goes on.
        """
        B = len(items)
        dev = self.device
        base_rows = [{"sample_id": it.sample_id, **it.stats, "batch_size": B} for it in items]

        def fail(msg: str, name_sample: bool = False) -> int:
            store.write_batch(cell.key, [{**r, "values": {}, "error": f"sample {r['sample_id']}: {msg}"
                                          if name_sample else msg} for r in base_rows])
            return 0

        who = f"{cell.backend.path} ({cell.backend.label})"
        try:
            image = torch.stack([it.image for it in items]).to(dev)
            mask = torch.stack([it.mask for it in items]).to(dev)
            blanked = torch.where(mask, torch.full_like(image, BLANK_VALUE), image)
            gens = [torch.Generator().manual_seed(derive_seed(self.suite.seed, "backend", cell.dataset.label,
                                                              cell.mask.key(), it.sample_id)) for it in items]
        except CAUGHT as e:
            return fail(f"preparing its batch of {B} failed: {_describe(e)}", name_sample=True)
        try:
            shape = tuple(image.shape)
            if shape not in shapes_warm:
                for _ in range(self.warmup):
                    wg = [torch.Generator().manual_seed(g.initial_seed()) for g in gens]
                    self._call_backend(backend, blanked, mask, wg)
                shapes_warm.add(shape)
            self._peak.before_call()
            with timing.timed(dev, stream_only=self._scorer is not None) as t:
                res = self._call_backend(backend, blanked, mask, gens)
            self._peak.after_call()
        except CAUGHT as e:
            if timing.is_oom(e) and self.suite.oom_retry and B > 1 and dev.type == "cuda":
                del image, mask, blanked
                torch.cuda.empty_cache()
                half = B // 2
                return (self._run_batch(store, cell, backend, items[:half], metrics, detectors, shapes_warm)
                        + self._run_batch(store, cell, backend, items[half:], metrics, detectors, shapes_warm))
            if timing.is_oom(e):
                return fail(f"{who}: CUDA out of memory at batch size {B}: {e}")
            return fail(f"{who}: {_describe(e)}")

        def score() -> int:
            return self._score_batch(store, cell, items, base_rows, image, mask, blanked, res, t, metrics,
                                     detectors, fail, who)

        if self._scorer is None:
            return score()
        # overlap: wait for the previous batch's scoring (depth 1 bounds memory), then hand this one over
        prev, self._pending = self._pending, self._scorer.submit(self._score_on_stream, score)
        return prev.result() if prev is not None else 0

    def _score_on_stream(self, score) -> int:
        if self.device.type != "cuda":
            return score()
        with torch.cuda.stream(self._score_stream):
            n = score()
            self._score_stream.synchronize()  # inputs made on the model's stream are free to reuse only after this
            return n

    def _score_batch(self, store, cell: Cell, items: list[Item], base_rows, image, mask, blanked, res, t, metrics,
                     detectors, fail, who) -> int:
        """Metrics and detectors of one batch, then its commit (one transaction)."""
        B = len(items)
        dev = self.device
        values: list[dict[str, Any]] = [{} for _ in items]
        feats: list[tuple[str, str, np.ndarray]] = []
        try:
            raw = res.output.to(dev).float()
            nonfinite = (~torch.isfinite(raw)).flatten(1).float().mean(dim=1)
            finite = nonfinite == 0
            raw = torch.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)
            output = torch.where(mask, raw, image) if self.suite.paste_back else raw
            has_gt = torch.tensor([it.gt is not None for it in items], device=dev)
            gt = torch.stack([it.gt.float() if it.gt is not None else torch.zeros_like(it.image)
                              for it in items]).to(dev)
            batch = EvalBatch(
                sample_ids=[it.sample_id for it in items], output=output, raw=raw, input=image, blanked=blanked,
                mask=mask, gt=gt, has_gt=has_gt, raw_sizes=list(res.raw_sizes), model_sizes=list(res.model_sizes),
                input_sizes=[tuple(it.image.shape[-2:]) for it in items], nonfinite=nonfinite,
            )
            with torch.inference_mode():
                for name, m in list(metrics.items()) + list(detectors.items()):
                    out = m.compute(batch) if name in metrics else m.detect(batch)
                    for key, arr in out.items():
                        arr = np.asarray(arr.detach().cpu() if torch.is_tensor(arr) else arr)
                        if arr.ndim == 1:
                            for i in range(B):
                                values[i][key] = float(arr[i])
                        else:
                            feats.extend((items[i].sample_id, key, arr[i]) for i in range(B))
        except CAUGHT as e:
            return fail(f"scoring failed: {_describe(e)}")
        per_image_ms = t.ms / B
        rows = []
        for i, r in enumerate(base_rows):
            err = None if bool(finite[i]) else f"{who}: output has NaN/inf values"
            rows.append({**r, "latency_ms": per_image_ms, "values": {**values[i], "wall_ms": t.wall_ms / B},
                         "error": err})
        if self.suite.save_outputs:
            self._save_outputs(cell, items, output, mask)
        ok_ids = {it.sample_id for i, it in enumerate(items) if bool(finite[i])}
        store.write_batch(cell.key, rows, [f for f in feats if f[0] in ok_ids])
        return int(finite.sum())

    def _save_outputs(self, cell: Cell, items: list[Item], output: torch.Tensor, mask: torch.Tensor) -> None:
        from ..io import save_png

        out_dir = self.run_dir / "outputs" / cell.key
        in_dir = self.run_dir / "outputs" / "_inputs" / cell.dataset.label / cell.mask.label
        out_dir.mkdir(parents=True, exist_ok=True)
        in_dir.mkdir(parents=True, exist_ok=True)
        for i, it in enumerate(items):
            name = _safe_name(it.sample_id)
            save_png(out_dir / f"{name}.png", output[i].cpu())
            save_png(out_dir / f"{name}_mask.png", mask[i].cpu())
            if not (in_dir / f"{name}_input.png").exists():
                save_png(in_dir / f"{name}_input.png", it.image)
                if it.gt is not None:
                    save_png(in_dir / f"{name}_gt.png", it.gt)


def _prov(obj: Any) -> dict[str, Any]:
    try:
        return dict(obj.provenance())
    except Exception as e:  # noqa: BLE001
        return {"provenance_error": str(e)}


def _make_progress(console: Any):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)


def run_suite(suite: Suite, **kwargs: Any) -> Path:
    return Runner(suite, **kwargs).run()
