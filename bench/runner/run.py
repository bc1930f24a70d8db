"""``bench run``: resolve a suite, plan against the store, generate what is missing, score what is missing.

The data walk is one-way: dataset -> mask -> backend -> stored generation -> scoring -> store -> report.

1. **Prepare** the run folder (locks, ``--fresh``), build datasets and masks, list sample ids, expand cells.
2. **Plan** (:mod:`bench.runner.plan`): the samples each cell still has to generate and, for samples already
   generated, the scorers still missing. Nothing heavy has been loaded yet.
3. **Generate** (:mod:`bench.runner.generate`), backend by backend (each loaded once, only when it has work):
   outputs become PNGs and generation rows; each batch is scored at once (inline, or on a background thread with
   ``overlap``).
4. **Score stored outputs** (:mod:`bench.scoring.stage`): generated samples whose scorers are missing.
5. **Manifest**: provenance of everything that ran, and the cells and scorers the report shows.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

from .. import fsio, sinks
from ..config import MAX_NAME, Suite
from ..columns import Column
from ..errors import CAUGHT, BenchError, ConfigError, describe
from ..store import RunStore
from ..store.manifest import config_hashes
from ..types import RunContext
from . import timing
from .generate import GenSettings, Generation
from .guard import Guard
from ..fsio import write_text_atomic
from .locks import RunLock
from ..pixels import BLANK_VALUE
from ..inputs import Prefetcher, prepare_item, read_ahead
from ..keys import expand_cells, scorer_specs
from .plan import CellPlan, assign_work, dataset_ids, plan
from .provenance import device_info, git_revision, package_versions, resolve_device

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")
#: a shard store's folder under shards/: i-of-n
RE_SHARD = re.compile(r"^(\d+)-of-(\d+)$")
#: what a run reads and writes in its folder (``RUN_ENTRIES``) and its store folder (``STORE_ENTRIES``): none of
#: them may be a symbolic link; ``--fresh`` removes them (links, never their targets)
RUN_ENTRIES = ("generations", "inputs", "shards", "outputs")
STORE_ENTRIES = ("records.sqlite", "records.sqlite-wal", "records.sqlite-shm", "manifest.json",
                 "suite.resolved.yaml", "leaderboard.md", "heartbeat", "done.json")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class Runner:
    def __init__(self, suite: Suite, *, run_id: str | None = None, limit: int | None = None,
                 device: str | None = None, fresh: bool = False, console: Any = None, progress: bool = True,
                 shard: tuple[int, int] | None = None, score_only: bool = False, recompute: bool = False):
        self.suite = suite
        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            raise ConfigError("shard", f"expected i/n with 0 <= i < n, got {shard[0]}/{shard[1]}")
        self.shard = shard if shard and shard[1] > 1 else None
        self.run_id = run_id or suite.name
        if not RUN_ID_RE.match(self.run_id) or ".." in self.run_id or len(self.run_id) > MAX_NAME:
            raise ConfigError("run-id", f"{self.run_id[:80]!r} must be a plain folder name of at most {MAX_NAME} "
                                        f"letters, digits and _.+=- (ASCII)")
        self.limit = limit if limit is not None else suite.limit
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise ConfigError("limit", f"must be a positive number of samples, got {self.limit!r}")
        self.device = resolve_device(device or suite.device)
        self.dtype = DTYPES[suite.dtype]
        self.run_dir = suite.path("output_dir") / self.run_id
        #: where this process's store lives: the run folder, or its shard folder (merged by ``bench merge``)
        self.store_dir = self.run_dir / "shards" / f"{self.shard[0]}-of-{self.shard[1]}" if self.shard else self.run_dir
        self.fresh = fresh
        self.score_only = score_only  # ``bench score``: never load a backend
        self.recompute = recompute  # ``bench score --recompute``: drop the suite's stored scores first
        self.console = console
        self.show_progress = progress
        self.session = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        warm = suite.warmup
        self.warmup = warm if warm is not None else (1 if self.device.type == "cuda" else 0)
        cuda = self.device.type == "cuda"
        self.workers = suite.workers if suite.workers is not None else (2 if cuda else 0)
        self.overlap = bool(suite.overlap and cuda)  # on CPU a scoring thread would share the model's cores
        self.ctx = RunContext(
            device=self.device, dtype=self.dtype, seed=suite.seed, weights=suite.weights,
            weights_dir=suite.path("weights_dir"), cache_dir=suite.path("cache_dir"), run_dir=self.run_dir,
            extra={"resolution": suite.resolution},
        )
        self.manifest: dict[str, Any] = {}
        self.counts = {"generated": 0, "scored": 0, "backend_loads": 0}
        #: {dataset label: why} of datasets that could not be listed, {backend label: why} of backends that could
        #: not be set up: their cells ran nothing (``bench run`` then exits 3: the run finished but is incomplete)
        self.dataset_errors: dict[str, str] = {}
        self.backend_errors: dict[str, str] = {}
        self._fingerprints: dict[tuple, str | None] = {}  # weights files (path, size, mtime) -> content fingerprint
        self._after_merge = False  # this session is in a folder bench merge wrote (_merge_markers)
        self._locks: list[RunLock] = []
        self._stopped_before_work = False  # a backend's weights missing: the run stopped before any work
        self._listed: dict[str, list[str]] = {}  # {dataset label: every sample id it lists, --limit or not}

    # -- set-up ----------------------------------------------------------------------------------------
    def _log(self, msg: str) -> None:
        if self.console is not None:
            self.console.print(sinks.term(msg), soft_wrap=True)  # a log keeps each message on one line

    def _prepare_dir(self) -> RunStore:
        from ..fsio import confined_dir

        self.run_dir.mkdir(parents=True, exist_ok=True)  # the run folder itself may be a link you made
        self._locks = [RunLock(self.run_dir, shared=self.shard is not None)]  # run() releases them on failure
        if self.shard:  # (its folder only once the run folder's lock is had: a refused shard leaves no trace)
            confined_dir(self.run_dir, "shards", self.store_dir.name)
            self._locks.append(RunLock(self.store_dir))
        if self.fresh:
            for name in STORE_ENTRIES:
                p = self.store_dir / name
                if p.is_symlink() or p.is_file():
                    p.unlink()  # a link is removed, never its target
            if not self.shard:
                for sub in RUN_ENTRIES:
                    p = self.run_dir / sub
                    if p.is_symlink():
                        p.unlink()
                    else:
                        shutil.rmtree(p, ignore_errors=True)
        links = [p for p in (*(self.run_dir / n for n in RUN_ENTRIES), *(self.store_dir / n for n in STORE_ENTRIES))
                 if p.is_symlink()]
        if links:
            raise BenchError(f"{links[0]} is a symbolic link inside the run folder; inpaint-bench never reads or writes "
                             f"through links there. Remove it, or start over with --fresh (which removes links, never "
                             f"their targets)")
        return RunStore(self.store_dir / "records.sqlite")

    def _folders_to_make(self) -> list[Path]:
        """The folders of the store's path that are not there yet (the store folder first, then up): what
        :meth:`_prepare_dir` will make, and :meth:`_remove_made` takes away again when the run stops before any
        work."""
        out, p = [], self.store_dir
        while not (p.exists() or p.is_symlink()) and p != p.parent:
            out.append(p)
            p = p.parent
        return out

    def _remove_made(self, made: list[Path]) -> None:
        """Take away the folders this run made (``made``: :meth:`_folders_to_make`, read before it made them) after
        it stopped before any work: the store folder with what the run wrote in it (records.sqlite,
        suite.resolved.yaml, the lock, held exclusively), then each folder above it that is empty (another run may
        have put something there since: it stays). A folder that was there before is never touched: a resumed
        run's is left as it was. Called with the locks still held."""
        if not made or made[0] != self.store_dir:
            return
        shutil.rmtree(self.store_dir, ignore_errors=True)
        for p in made[1:]:
            try:
                p.rmdir()  # only when empty
            except OSError:
                break

    def _old_manifest(self) -> dict[str, Any]:
        from ..store.manifest import read_manifest

        if (self.store_dir / "manifest.json").is_symlink():  # never read through a planted link
            return {}
        try:
            return read_manifest(self.store_dir) or {}
        except BenchError:  # unreadable: start a fresh one
            return {}

    def _write_manifest(self) -> None:
        write_text_atomic(self.store_dir / "manifest.json", json.dumps(self.manifest, indent=2, default=str))

    # -- main ------------------------------------------------------------------------------------------
    def run(self) -> Path:
        suite = self.suite
        self.left_out = self._check_weights()  # (a required network missing stops here, before any work)
        made = self._folders_to_make()
        if self.fresh and not self.score_only:
            # --fresh discards every stored output, so every backend will generate: its weights are checked before
            # anything is discarded (a run stopped for a missing checkpoint had already deleted the earlier results)
            self._check_weights_of(list(self.suite.backends))
        try:
            store = self._prepare_dir()
        except BaseException:
            for lock in reversed(self._locks):
                lock.release()
            raise
        # (the scoring stage reads by the suite's batch; each backend's generation reads ahead by its own)
        prefetcher = Prefetcher(self.workers, read_ahead(suite.batch_size, self.workers))
        overlap = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-score") if self.overlap else None
        if suite.overlap and not self.overlap:
            self._log("overlap: ignored on CPU (a scoring thread would share the model's cores and distort its "
                      "timing); scoring runs inline")
        try:
            old = self._old_manifest()
            cells = expand_cells(suite)
            scorers = [s for s in scorer_specs(suite) if s.label not in self.left_out]
            datasets, ids, self.dataset_errors = {}, {}, {}
            for s in suite.datasets:  # a dataset that cannot be listed fails its cells, not the run
                try:
                    ds = s.create()
                    ds.bind(resolution=suite.resolution, seed=suite.seed)
                    ids[s.label] = dataset_ids(s.label, ds, self.limit)
                    if (clash := fsio.case_collision_error(self.store_dir, ids[s.label])) is not None:
                        raise ConfigError(f"datasets ({s.label})", clash)
                    datasets[s.label] = ds
                    self._listed[s.label] = list(ds.ids())  # (past --limit too: what an `outputs` hint must know)
                except CAUGHT as e:
                    ids[s.label] = []
                    self.dataset_errors[s.label] = f"{s.path} ({s.label}): cannot list its samples: {describe(e)}"
                    self._log(f"error: {self.dataset_errors[s.label]}; its cells are skipped")
            masks = {s.label: s.create() for s in suite.masks}
            work = assign_work(cells, ids, self.shard)
            # (one transaction up to the weights check: a run stopped there leaves an existing store's rows exactly
            # as they were, no generation or scorer definition of its own added, no score dropped, no row marked)
            with store.held():
                for c in cells:
                    store.add_generation(c.key, c.backend.label, c.dataset.label, c.mask.label, c.input_key, c.spec())
                for s in scorers:
                    store.add_scorer(s.key, s.label, s.kind, s.identity)
                if self.recompute:
                    store.drop_scores([s.key for s in scorers], [c.key for c in cells])
                plans = plan(store, cells, scorers, work)
                dprov = {k: _prov(d) for k, d in datasets.items()}  # (a folder's fingerprint stats every file: once)
                mprov = {k: _prov(m) for k, m in masks.items()}  # (an annotation file is hashed: once)
                # (before the manifest records the listings: a change is marked in the store, so an interrupted run
                # or a `bench score` cannot leave outputs of the old inputs looking current)
                self._recheck_changed_inputs(store, plans, datasets, masks, {"datasets": dprov, "masks": mprov}, old)
                if not self.score_only:
                    self._reread_changed_outputs(store, plans)
                    self._recheck_changed_weights(store, plans)
                    if not self.fresh:  # (--fresh checked every backend's before it discarded anything)
                        self._check_backend_weights(plans)
            self._note_other_suites(old)
            self._note_unmerged_shards(store)

            from ..scoring import Scorers, ScoringStage

            scoring = Scorers(scorers, self.ctx)
            stage = ScoringStage(store, self.run_dir, scoring, prefetcher, batch_size=suite.batch_size,
                                 seed=suite.seed, paste_back=suite.paste_back, device=self.device,
                                 save_inputs=suite.save_inputs)
            # (written once the run is going to do its work: a run stopped above leaves a resumed folder's as it was)
            write_text_atomic(self.store_dir / "suite.resolved.yaml",
                              yaml.safe_dump(self.suite.resolved(), sort_keys=False))
            self.manifest = self._base_manifest(old, cells, scorers, dprov, mprov, ids)
            self._write_manifest()

            # generate, backend by backend (each loaded once, and only when it has work)
            if not self.score_only:
                for bspec in suite.backends:
                    bplans = [p for p in plans if p.cell.backend is bspec]
                    if any(p.generate for p in bplans):
                        # a model's own prints (research code prints progress, shapes, warnings) go to stderr: the
                        # run's stdout is the harness's (its progress, its leaderboard), fit for a log or a pipe
                        with contextlib.redirect_stdout(sys.stderr):
                            self._run_backend(store, bspec, bplans, datasets, masks, stage, prefetcher, overlap)
                    else:
                        n = sum(len(p.wanted) for p in bplans)
                        if n:  # (a shard may hold no sample of a backend's cells)
                            self._log(f"{bspec.label}: all {n} samples already generated")
            elif any(p.generate for p in plans):
                n = sum(len(p.generate) for p in plans)
                self._log(f"{n} samples have no stored output; `bench score` scores stored outputs only (run "
                          f"`bench run` to generate them)")
            # score stored outputs whose scores are missing
            for p in plans:
                if p.score:
                    self._score_stored(p, stage, datasets, masks)
            self.manifest.update(self._scorer_manifest(old, scorers, scoring))
            if stage.input_error:
                self._log(stage.input_error)
        finally:
            failing = sys.exc_info()[0] is not None  # (read here: inside the except below it is that OSError)
            if overlap is not None:
                overlap.shutdown(wait=True)
            prefetcher.close()
            if self.manifest:
                self.manifest["finished"] = time.time()
                self.manifest["counts"] = dict(self.counts)
                try:
                    self._write_manifest()
                except OSError:
                    if not failing:  # (else the run's own error, a full disk say, is the one to tell)
                        raise
            store.close()
            if failing and self._stopped_before_work:  # "nothing was run": nor is a folder it made left behind
                self._remove_made(made)
            for lock in reversed(self._locks):
                lock.release()
        return self.run_dir

    def _check_weights(self) -> dict[str, str]:
        """{label: why} of the suite's ``optional: true`` metrics and detectors whose weights are not here (and
        cannot be downloaded): they are left out of this run, with one line saying so and how to add them. A metric
        or detector that is *not* optional and whose weights are missing stops the run here, before any work: a
        :class:`WeightsError` naming each file, what it is for and how to supply it (a run that went on would
        generate every output, hours of a diffusion model, only to fail each sample's scoring)."""
        from .. import weights as W

        out: dict[str, str] = {}
        required: dict[str, str] = {}  # label -> the full message of its first missing file
        no_package: dict[str, str] = {}  # optional scorers left out for want of a package (not of weights)
        for spec, kind, f, why in scorer_weights_missing(self.suite, self.ctx, download=True):
            if not spec.optional:
                required[f"{spec.path} ({spec.label})"] = str(why)
            elif kind == "package":
                no_package[spec.label] = str(why)
            else:
                out[spec.label] = getattr(why, "brief", None) or (
                    f"{f} missing" if f is not None and "not found" in str(why) else str(why)[:200])
        if required:
            them = "it" if len(required) == 1 else "them"
            raise missing_weights_error(required, f"Or mark {them} `optional: true` in the suite to run without "
                                                  f"{them} (left out with one line)")
        for label, why in no_package.items():
            self._log(f"left out {label}: {why}")
        if out:
            offline = " (offline)" if W.offline() else ""
            why = "; ".join(dict.fromkeys(out.values()))  # two scorers on one network: its file named once
            self._log(f"left out {', '.join(out)}: weights not here{offline}: {why}. "
                      f"`bench weights fetch` adds them (on a machine with internet, or with {W.MIRROR_VAR}); "
                      f"then run again")
        return {**no_package, **out}

    def _backends_with_stored(self, plans: list[CellPlan]):
        """(spec, a backend built from it: nothing loaded, its cells' plans) of each backend of the suite that has
        stored outputs, for the checks whether they are still what the backend would make; a backend that cannot
        be built is left to its setup to report."""
        for bspec in self.suite.backends:
            bplans = [p for p in plans if p.cell.backend is bspec and p.stored]
            if not bplans:
                continue
            try:
                backend = bspec.create()
            except CAUGHT:
                continue
            yield bspec, backend, bplans

    def _reread_changed_outputs(self, store: RunStore, plans: list[CellPlan]) -> None:
        """Outputs made elsewhere (``outputs`` backends) whose file changed since it was read are read again (their
        old scores go with the old output), with one line per backend: a replaced file is never scored from the
        stored copy."""
        for bspec, backend, bplans in self._backends_with_stored(plans):
            if not getattr(backend, "reads_outputs", False):
                continue
            n = 0
            for p in bplans:
                done = p.stored
                infos = store.output_info(p.cell.key, done)
                stale = {sid for sid in done if backend.changed(p.cell.dataset.label, p.cell.mask.label, sid,
                                                                infos.get(sid, {}).get("info", {}).get("source"))}
                n += len(stale)
                p.regenerate(stale)
            if n:
                self._log(f"{bspec.label}: {n} output file(s) changed since they were read; reading them again")

    def _recheck_changed_inputs(self, store: RunStore, plans: list[CellPlan], datasets, masks,
                                prov: dict[str, dict[str, Any]], old: dict[str, Any]) -> None:
        """When a dataset's files or a mask strategy's file changed since the last session (a content fingerprint
        in its provenance, :data:`CONTENT_KEYS`, differs), every stored output made from it is checked against the
        masked input and mask it was made from (the SHA-256 in its generation row): a sample whose input changed is
        generated again (its old scores go), with one line per dataset or mask. Work only when a fingerprint
        changed; untouched datasets are not read. ``prov``: ``{"datasets": {label: provenance}, "masks": ...}``.

        The manifest records the new fingerprints as soon as the run starts, so the next session would not look
        again: each such output's row becomes an error row at once (as a lost PNG's does), and a run interrupted
        before it made them again, or ``bench score`` (which generates nothing), leaves them to be generated, never
        scored against inputs they were not made from."""
        from ..pixels import blanked_digests

        changed = [(f"{label}: its files", "dataset", label) for label in datasets
                   if content_changed(old.get("datasets"), prov["datasets"], label)]
        changed += [(f"mask {label}: its file", "mask", label) for label in masks
                    if content_changed(old.get("masks"), prov["masks"], label)]
        checked: set[str] = set()  # cells already checked (a dataset and a mask of one cell both changed)
        for what, kind, label in changed:
            n_checked = n_stale = 0
            for p in plans:
                ds = datasets.get(p.cell.dataset.label)
                if getattr(p.cell, kind).label != label or p.cell.key in checked or ds is None:
                    continue
                checked.add(p.cell.key)
                done = p.stored
                infos = store.output_info(p.cell.key, done)
                stale = set()
                for sid in done:
                    info = infos.get(sid, {}).get("info", {})
                    if not info.get("input_sha256"):
                        continue
                    n_checked += 1
                    try:
                        it = prepare_item(ds, masks[p.cell.mask.label], p.cell.dataset.label, self.suite.seed, sid)
                        d = blanked_digests(it.image, it.mask)
                    except CAUGHT:
                        stale.add(sid)  # gone or broken now: generating it again says why
                        continue
                    if (d["input_sha256"], d["mask_sha256"]) != (info["input_sha256"], info.get("mask_sha256")):
                        stale.add(sid)
                for sid in sorted(stale):
                    store.mark_output_missing(p.cell.key, sid, "made from an input or mask that has changed since; "
                                                               "generated again by the next run")
                n_stale += len(stale)
                p.regenerate(stale)
            then = "`bench run` generates them again" if self.score_only else "generating them again"
            self._log(f"{what} changed since the last session; {n_checked} stored output(s) checked "
                      f"against their inputs, {n_stale} made from inputs that changed: {then}")

    def _weights_fingerprint(self, backend: Any) -> str | None:
        """The content fingerprint of a backend's weights files (:func:`bench.weights.content_fingerprint`), None
        when it names none or they cannot be read (a missing model is :meth:`_check_backend_weights`'s to say)."""
        from ..weights import content_fingerprint

        try:
            files = [Path(f) for f in backend.weights_files(self.ctx)]
            key = tuple((str(f.resolve()), (st := f.stat()).st_size, st.st_mtime_ns) for f in files)
            if key not in self._fingerprints:  # (asked before setup and after it: the files are read once)
                self._fingerprints[key] = content_fingerprint(files)
            return self._fingerprints[key]
        except CAUGHT:
            return None

    def _recheck_changed_weights(self, store: RunStore, plans: list[CellPlan]) -> None:
        """Stored outputs of a backend whose weights files' content changed since they were made (another
        checkpoint copied behind the same ``model:`` path, another snapshot of a hub id) are generated again (their
        old scores go), with one line per backend. Outputs whose generation row has no fingerprint (a backend that
        names no weights files, or a run from before fingerprints) are kept."""
        for bspec, backend, bplans in self._backends_with_stored(plans):
            if getattr(backend, "reads_outputs", False) or (now := self._weights_fingerprint(backend)) is None:
                continue
            n, before = 0, set()
            for p in bplans:
                infos = store.output_info(p.cell.key, p.stored)
                made = {sid: infos.get(sid, {}).get("info", {}).get("weights_fingerprint") for sid in p.stored}
                stale = {sid for sid, fp in made.items() if fp and fp != now}
                before |= {made[sid] for sid in stale}
                n += len(stale)
                p.regenerate(stale)
            if n:
                self._log(f"{bspec.label}: its weights files changed since {n} stored output(s) were made "
                          f"(fingerprint {', '.join(sorted(f[:12] for f in before))} -> {now[:12]}); generating "
                          f"them again")

    def _check_backend_weights(self, plans: list[CellPlan]) -> None:
        """Stop the run before any work when a backend that has samples to generate lacks its weights
        (:meth:`bench.backends.base.Backend.check_weights`: nothing is loaded): a :class:`WeightsError` naming every
        such backend, its file and how to supply it. A run whose outputs are all stored needs no model weights."""
        self._check_weights_of([b for b in self.suite.backends if any(p.generate for p in plans if p.cell.backend is b)])

    def _check_weights_of(self, busy: list) -> None:
        """:meth:`_check_backend_weights` of the backends ``busy`` (those that will generate)."""
        # (any other failure is the backend's setup's to report, for its own cells)
        missing = {k: msg for k, (weights, msg) in backend_weights(busy, self.ctx).items() if weights}
        if missing:
            one = len(missing) == 1
            self._stopped_before_work = True
            raise missing_weights_error(missing, f"Supply {'it' if one else 'them'}, or take "
                                                 f"{'that backend' if one else 'those backends'} out of the suite "
                                                 f"to run the others")

    def _note_other_suites(self, old: dict[str, Any]) -> None:
        h = old.get("config_hash")
        # (a run started before the config hash left out settings that change no number carries the earlier rule's)
        if h and not config_hashes(old) & {self.suite.config_hash(), self.suite.config_hash_v1()}:
            self._log(f"note: {self.run_dir} also holds results of an earlier version of this suite (config "
                      f"{str(h)[:12]}); they stay stored (reused where they match) but only the current suite's "
                      f"cells and scorers are reported; `--fresh` discards them, `--run-id` starts a new folder")

    def _note_unmerged_shards(self, store: RunStore) -> None:
        """A plain run in a folder with shard stores whose outputs its own store lacks (never merged, or run again
        since) would generate those samples again: one line saying so before it does (``bench merge`` first keeps
        that work)."""
        from ..store import stored_outputs

        if self.shard or not (self.run_dir / "shards").is_dir():
            return
        have: dict[str, set[str]] = {}
        waiting = []
        for d in sorted((self.run_dir / "shards").iterdir()):
            if not RE_SHARD.match(d.name):
                continue
            rows = stored_outputs(d / "records.sqlite")
            for key in rows.keys() - have.keys():
                have[key] = store.generated_ids(key)
            if any(not sids <= have[key] for key, sids in rows.items()):
                waiting.append(d.name)
        if waiting:
            self._log(f"note: {self.run_dir} has shard stores never merged ({', '.join(waiting)}): this run does "
                      f"not read them and generates what is missing from its own store; to keep their work, stop it "
                      f"and run `bench merge {self.run_dir}` first")

    # -- one backend -----------------------------------------------------------------------------------
    def _run_backend(self, store, bspec, bplans: list[CellPlan], datasets, masks, stage, prefetcher, overlap) -> None:
        stage.scorers.load()  # the metric networks first: their memory is the harness's, measured next
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
        baseline = timing.current_memory(self.device)  # the harness's own GPU memory (metric networks)
        t0 = time.perf_counter()
        try:
            backend = bspec.create()
            backend.setup(self.ctx)
            if self.device.type == "cuda":  # weights copied to the GPU asynchronously are load time, not warm-up
                torch.cuda.synchronize(self.device)
        except CAUGHT as e:  # a backend that cannot load fails its cells, not the run
            msg = f"{bspec.path} ({bspec.label}): setup failed: {describe(e)}"
            self._log(msg)
            self.backend_errors[bspec.label] = msg
            for p in bplans:
                store.write_outputs(p.cell.key, [{"sample_id": sid, "error": msg} for sid in p.generate])
            self.manifest["backends"][bspec.label] = {"error": msg}
            self._write_manifest()
            return
        load_s = time.perf_counter() - t0
        self.counts["backend_loads"] += 1
        external = bool(getattr(backend, "reads_outputs", False))
        if external and callable(bind := getattr(backend, "bind_samples", None)):  # (whose file is whose)
            for label, listed in self._listed.items():
                bind(label, listed)
        fingerprint = None if external else self._weights_fingerprint(backend)  # (after setup: a download is here)
        warmup = self.warmup
        if self.suite.warmup is None and getattr(backend, "warmup_needed", False):
            warmup = max(warmup, 1)  # (torch.compile, lazy loading: a shape's first call is not the model's time)
        self.manifest["backends"][bspec.label] = {"type": bspec.type, "params": bspec.params,
                                                  "load_time_s": None if external else load_s,
                                                  "warmup_batches": warmup, **_prov(backend),
                                                  **({"weights_fingerprint": fingerprint} if fingerprint else {})}
        self._write_manifest()
        pending: list[Future] = []

        def wait_scoring() -> None:
            while pending:
                pending.pop(0).result()

        keys = stage.scorers.keys

        def score(cell, items, u8, infos) -> None:
            if overlap is None:
                self.counts["scored"] += stage.score_batch(cell, items, u8, infos, keys)
                return
            wait_scoring()  # depth 1: bounds the memory held by batches in flight
            pending.append(overlap.submit(self._on_score_stream, stage, cell, items, u8, infos, keys))

        batch_size = bspec.batch_size or self.suite.batch_size  # (its own batch_size:, else the suite's)
        settings = GenSettings(batch_size=batch_size, seed=self.suite.seed, warmup=warmup,
                               oom_retry=self.suite.oom_retry, device=self.device, overlap=overlap is not None,
                               mem_baseline=baseline, weights=fingerprint)
        gen = Generation(backend, store, self.run_dir, prefetcher, Guard(self.suite.timeout_s), settings, score,
                         wait_scoring, log=self._log)
        try:
            for p in bplans:
                if not p.generate:
                    continue
                c = p.cell
                ds, strategy = datasets[c.dataset.label], masks[c.mask.label]

                def prepare(sid, ds=ds, strategy=strategy, label=c.dataset.label):
                    return prepare_item(ds, strategy, label, self.suite.seed, sid)

                with self._progress(c.label, len(p.generate)) as advance:
                    try:
                        n = gen.run_cell(c, p.generate, prepare, advance)
                    finally:
                        wait_scoring()
                self.counts["generated"] += n
                scope = "none" if external else getattr(backend, "memory_scope", "process")
                if scope == "process":
                    mem = gen.peak.summary()
                elif scope == "subprocess":
                    mem = {"peak_rss": None, "peak_mem_allocated": None, "peak_mem_reserved": None,
                           **backend.memory_peak()}
                else:  # nothing ran here: no memory figure at all
                    mem = {"peak_rss": None, "memory_source": "none (stored outputs)"}
                store.record_session(c.key, self.session, device=str(self.device),
                                     load_time_s=None if external else load_s, n_computed=n, **mem)
        finally:
            try:
                backend.teardown()
            except CAUGHT as e:  # its outputs are stored: say so, and go on to the next backend
                self._log(f"{bspec.path} ({bspec.label}): teardown failed: {describe(e)}")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _on_score_stream(self, stage, cell, items, u8, infos, keys) -> None:
        """overlap: score on this thread, on its own CUDA stream (inputs made on the model's stream are free to
        reuse only after it synchronises)."""
        if self.device.type != "cuda":
            self.counts["scored"] += stage.score_batch(cell, items, u8, infos, keys)
            return
        stream = getattr(self, "_score_stream", None)
        if stream is None:
            stream = self._score_stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(stream):
            self.counts["scored"] += stage.score_batch(cell, items, u8, infos, keys)
            stream.synchronize()

    def _score_stored(self, p: CellPlan, stage, datasets, masks) -> None:
        c = p.cell
        with self._progress(f"scoring {c.label}", len(p.score)) as advance:
            self.counts["scored"] += stage.score_stored(c, datasets[c.dataset.label], masks[c.mask.label], p.score,
                                                        advance)

    def _progress(self, label: str, total: int):
        return _Progress(self.console if self.show_progress else None, label, total)

    # -- manifest --------------------------------------------------------------------------------------
    def _base_manifest(self, old: dict[str, Any], cells, scorers, dprov: dict[str, Any], mprov: dict[str, Any],
                       sample_ids: dict[str, list[str]] | None = None) -> dict[str, Any]:
        git, packages, device = git_revision(), package_versions(), device_info(self.device)
        # what each session ran with (a resumed run's outputs may come from several): reports say when they differ
        sessions = old.get("sessions", []) + [{"session": self.session, "started": time.time(),
                                               "device": str(self.device), "command": "score" if self.score_only
                                               else "run", "git": git, "packages": packages,
                                               "device_name": device.get("name") or device.get("cpu"),
                                               "torch_threads": device.get("torch_threads")}]
        old_b = old.get("backends") or {}
        carried = self._merge_markers(old, cells)
        self._after_merge = bool(carried)  # (_scorer_manifest keeps the merge's reasons then)
        return {
            "run_id": self.run_id,
            "suite_name": self.suite.name,
            "suite_file": str(self.suite.source) if self.suite.source else None,
            "config_hash": self.suite.config_hash(),
            "config_hash_v1": self.suite.config_hash_v1(),  # what runs, studies and shards made before carry
            "suite": self.suite.resolved(),
            "created": old.get("created", time.time()),
            "git": git,  # (this session's; every session's are in "sessions")
            "packages": packages,
            "device": device,
            "dtype": self.suite.dtype,
            "seed": self.suite.seed,
            "blank_value": BLANK_VALUE,
            "pixels": "8-bit: inputs, ground truth and outputs are quantized to uint8 (round half to even)",
            "paste_back": self.suite.paste_back,
            "warmup_batches": self.warmup,
            "overlap": self.overlap,
            "workers": self.workers,
            "timing": timing.method(self.device),
            "limit": self.limit,
            "shard": list(self.shard) if self.shard else None,
            "weights": self.suite.weights,
            # an earlier session's record of a backend stands while it describes the backend as the suite has it
            # now (a backend loaded in this session replaces its record)
            "backends": {b.label: old_b[b.label] for b in self.suite.backends
                         if isinstance(old_b.get(b.label), dict) and old_b[b.label].get("type", b.type) == b.type
                         and _same_params(b, old_b[b.label].get("params", b.params))},
            # the samples listed now per dataset: reports show these, not rows an earlier session stored with a
            # larger limit or of files since removed from the dataset (a dataset that cannot be listed: its rows
            # stay shown, beside its error)
            "sample_ids": {k: list(v) for k, v in (sample_ids or {}).items() if k not in self.dataset_errors},
            "cells": [{"cell_key": c.key, "input_key": c.input_key, "backend": c.backend.label,
                       "dataset": c.dataset.label, "mask": c.mask.label} for c in cells]
                     + carried.pop("cells", []),
            "scorers": [{"scorer_key": s.key, "label": s.label, "kind": s.kind} for s in scorers],
            "datasets": dprov,
            "masks": mprov,
            "left_out": dict(self.left_out),
            "dataset_errors": dict(self.dataset_errors),
            "report": self.suite.report,
            "sessions": sessions,
            "written_by": "score" if self.score_only else "run",  # (not "merge": bench.store.manifest.is_merged)
            **carried,
        }

    def _merge_markers(self, old: dict[str, Any], cells) -> dict[str, Any]:
        """What ``bench merge`` recorded that a later session in the merged folder must keep: where the rows came
        from (``merged_from``), a forced merge (``merge_forced``, and the cells of the other suites it brought,
        ``cells``) and, for ``bench score`` (which generates nothing), the shards that were not merged
        (``shards_merged``, ``shards_missing``): a rescore of a partial merge is still partial. A plain ``bench
        run`` generates what the missing shards would have, so their record goes."""
        if self.shard or not any(old.get(k) for k in ("merged_from", "shards_merged", "merge_forced")):
            return {}
        out = {k: old[k] for k in ("merged_from", "merge_forced") if old.get(k)}
        if self.score_only:
            out.update({k: old[k] for k in ("shards_merged", "shards_missing") if old.get(k)})
        if old.get("merge_forced"):
            mine = {c.key for c in cells}
            out["cells"] = [c for c in old.get("cells") or [] if isinstance(c, dict) and c.get("cell_key") not in mine]
        return out

    def _scorer_manifest(self, old: dict[str, Any], scorers, scoring) -> dict[str, Any]:
        """Provenance of every metric and detector (set up now, or as recorded when it was), the report's column
        directions, and comparability."""
        loaded = scoring.loaded()
        old_by_key = {s.get("scorer_key"): s.get("label") for s in old.get("scorers") or []}
        prov: dict[str, dict[str, Any]] = {"metric": {}, "detector": {}}
        columns: dict[str, Any] = {}
        for s in scorers:
            section = "metrics" if s.kind == "metric" else "detectors"
            if s.label in loaded:
                p = _prov(loaded[s.label])
            elif old_by_key.get(s.key) == s.label and s.label in (old.get(section) or {}):
                p = old[section][s.label]
                if s.kind == "detector":  # thresholds are not in its key: what it flags with now, not then
                    p = {**p, **_prov(s.spec.instance or s.spec.create())}
            else:  # scored in an earlier session whose manifest is gone: set it up for its provenance
                try:
                    p = _prov(scoring.instance(s.key))
                except RuntimeError as e:
                    p = {"provenance_error": str(e)}
            prov[s.kind][s.label] = {**p, "scorer_key": s.key}
            for key, col in (getattr(s.spec.instance or s.spec.create(), "columns", None) or {}).items():
                columns[key] = Column.from_any(col).to_dict()
        reasons = [f"{kind} {name}: {p.get('noncomparable_reason', 'random weights')}"
                   for kind, provs in prov.items() for name, p in provs.items() if p.get("comparable") is False]
        if self._after_merge:  # what the merge found (other suites, devices) still holds
            reasons += [r for r in old.get("noncomparable_reasons") or [] if str(r).startswith("merged")]
        from ..detectors.flagging import evidence_rules

        # the learned-evidence rules of the thresholds files the detectors read (applied, or not, when the run is
        # read: the report says which)
        specs = self.suite.resolved().get("detectors") or []
        return {"metrics": prov["metric"], "detectors": prov["detector"], "columns": columns,
                "evidence": evidence_rules(specs) if specs else [],
                "comparable": not reasons, "noncomparable_reasons": reasons,
                "scorer_errors": scoring.setup_errors()}


def missing_package(instance: Any) -> str | None:
    """Why a metric or detector cannot be set up for want of an optional package (its ``packages()``): the package
    and the extra that installs it; None when all are importable."""
    import importlib.util

    for module, extra in (getattr(instance, "packages", lambda: [])() or []):
        if importlib.util.find_spec(module) is None:
            return f"the `{module}` package is not installed (pip install 'inpaint-bench[{extra}]')"
    return None


def scorer_weight_files(suite: Suite) -> list[tuple[Any, list[str]]]:
    """(spec, the weights files it needs for the suite's weights mode) of every metric and detector."""
    out = []
    for spec in [*suite.metrics, *suite.detectors]:
        inst = spec.instance if spec.instance is not None else spec.create()
        out.append((spec, list(getattr(inst, "weights_files", lambda w: [])(suite.weights))))
    return out


def scorer_weights_missing(suite: Suite, ctx: RunContext, download: bool) -> list[tuple[Any, str, str | None, Any]]:
    """What keeps each metric and detector of the suite from being set up, at most one thing each: (spec, kind,
    file, why) with kind ``"package"`` (an optional package is not installed; ``why`` names it and its extra),
    ``"file"`` (the weights file ``file`` that the suite's weights mode needs is not here; ``why`` is the
    :class:`WeightsError`) or ``"check"`` (the scorer's own ``check_weights``, for weights it finds its own way,
    raised ``why``). ``download``: a missing file is fetched first, as a run does; False only looks (``bench
    validate``). The run and ``bench validate`` both ask this, and each says it its own way."""
    from .. import weights as W
    from ..errors import WeightsError

    out: list[tuple[Any, str, str | None, Any]] = []
    look = {} if download else {"check": False, "download": False}
    for spec, files in scorer_weight_files(suite):
        inst = spec.instance if spec.instance is not None else spec.create()
        if (why := missing_package(inst)) is not None:
            out.append((spec, "package", None, why))
            continue
        kind, f = "file", None
        try:
            for f in files:
                W.resolve(f, suite.path("weights_dir"), **look)
            kind, f = "check", None
            if callable(check := getattr(inst, "check_weights", None)):
                check(ctx)
        except WeightsError as e:
            out.append((spec, kind, f, e))
    return out


def backend_weights(specs: list[Any], ctx: RunContext) -> dict[str, tuple[bool, str]]:
    """What :meth:`bench.backends.base.Backend.check_weights` says of each backend that has something to say
    (nothing is loaded), in the order given: {"backends[i] (label)": (weights missing?, message)}; a failure other
    than a :class:`WeightsError` is described with its type."""
    from ..errors import WeightsError

    out: dict[str, tuple[bool, str]] = {}
    for spec in specs:
        try:
            spec.create().check_weights(ctx)
        except WeightsError as e:
            out[f"{spec.path} ({spec.label})"] = (True, str(e))
        except CAUGHT as e:
            out[f"{spec.path} ({spec.label})"] = (False, describe(e))
    return out


def missing_weights_error(missing: dict[str, str], remedy: str) -> Any:
    """The one error that stops a run before any work: every item whose weights are missing, each message, then
    ``remedy``."""
    from ..errors import WeightsError

    return WeightsError("weights missing for " + ", ".join(missing) + "; nothing was run.\n"
                        + "\n".join(f"{k}: {v}" for k, v in missing.items()) + "\n" + remedy)


#: without a terminal (a log file, nohup, Slurm) a cell's progress is a plain line at most this often (seconds)
PLAIN_PROGRESS_EVERY_S = 60.0


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Progress:
    """Progress of one cell: a rich bar on a terminal; in a log (output not a terminal) a plain line when the cell
    starts, at most every :data:`PLAIN_PROGRESS_EVERY_S` seconds, and when it ends (a bar would appear only at the
    end of the cell there); a no-op without a console."""

    def __init__(self, console: Any, label: str, total: int):
        self.console, self.label, self.total = console, label, total
        self.bar = None
        self.plain = False
        self.done = 0
        self.t0 = self.last = 0.0

    def __enter__(self):
        if self.console is None or not self.total:
            return lambda n: None
        if not getattr(self.console, "is_terminal", True):
            self.plain, self.t0 = True, time.monotonic()
            self.last = self.t0
            self.console.print(sinks.term(f"{self.label}: 0/{self.total} started"), soft_wrap=True)
            return self._advance_plain
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
                            transient=False)
        task = self.bar.add_task(sinks.term(self.label), total=self.total)
        self.bar.start()
        return lambda n: self.bar.advance(task, n)

    def _advance_plain(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= PLAIN_PROGRESS_EVERY_S and self.done < self.total:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        el = now - self.t0
        eta = f", ETA {_clock(el / self.done * (self.total - self.done))}" if 0 < self.done < self.total else ""
        self.console.print(sinks.term(f"{self.label}: {self.done}/{self.total} ({100 * self.done / self.total:.0f} %),"
                                      f" {_clock(el)} elapsed{eta}"), soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        if self.plain:
            self._line(time.monotonic())


#: provenance keys that fingerprint the content behind a dataset or a mask strategy (a folder's listing, a Hugging
#: Face table, a COCO annotation file): when one differs from the last session's, stored outputs are checked again
CONTENT_KEYS = ("listing_sha256", "fingerprint", "annotations_sha256")


def content_changed(before: Any, now: dict[str, Any], label: str) -> bool:
    """Whether ``label``'s provenance in ``now`` has a content fingerprint that differs from the one recorded in
    ``before`` (an earlier manifest's section; fingerprints either side lacks compare as unchanged)."""
    b = before.get(label) if isinstance(before, dict) else None
    n = now.get(label)
    if not isinstance(b, dict) or not isinstance(n, dict):
        return False
    return any(b.get(k) and n.get(k) and b[k] != n[k] for k in CONTENT_KEYS)


def _prov(obj: Any) -> dict[str, Any]:
    try:
        return dict(obj.provenance())
    except Exception as e:  # noqa: BLE001
        return {"provenance_error": str(e)}


def run_suite(suite: Suite, **kwargs: Any) -> Path:
    return Runner(suite, **kwargs).run()


def _same_params(spec: Any, params: Any) -> bool:
    """Whether ``params`` (a backend's as an earlier session recorded them) are ``spec``'s, defaults spelled out or
    not (the rule of the keys, :meth:`bench.registry.Registry.without_defaults`)."""
    from ..registry import BACKENDS

    if not isinstance(params, dict):
        return False
    return BACKENDS.without_defaults(spec.type, params) == BACKENDS.without_defaults(spec.type, spec.params)
