"""The scoring stage: stored generation -> scores in the store. Reads the dataset (inputs, masks, ground truth) and
the stored outputs; never a backend.

Two entry points share one path (:meth:`ScoringStage.score_batch`):

* right after a batch is generated, on its in-memory 8-bit outputs (the runner calls it inline, or on a background
  thread with ``overlap``);
* later, for generated samples whose scores are missing (a metric added to the suite, a threshold changed, a
  scoring that failed, ``bench score``): :meth:`ScoringStage.score_stored` reads each output's PNG back.

Batches are formed the same way in both (the suite's ``batch_size``, in sample order, breaking where the image
size changes), so a full rescoring sees the same batches as the first one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import CAUGHT, BenchError, DataError, describe
from ..inputs import Item, Prefetcher, prepare_item
from ..keys import Cell
from ..pixels import output_digest, quantize
from ..store.files import input_path, output_path, read_png_u8, write_png
from .batch import eval_batch
from .scorers import Scorers


class OutputChanged(DataError):
    """A stored output whose pixels are not the ones generated (the file was replaced since)."""


class ScoringStage:
    def __init__(self, store: Any, run_dir: Path, scorers: Scorers, prefetcher: Prefetcher, *, batch_size: int,
                 seed: int, paste_back: bool, device: Any, save_inputs: bool = False):
        self.store = store
        self.run_dir = Path(run_dir)
        self.scorers = scorers
        self.prefetcher = prefetcher
        self.batch_size = batch_size
        self.seed = seed
        self.paste_back = paste_back
        self.device = device
        self.save_inputs = save_inputs
        self.input_error: str | None = None  # the first failure to store inputs (reported by the runner)

    # -- one batch ---------------------------------------------------------------------------------------------
    def score_batch(self, cell: Cell, items: Sequence[Item], outputs_u8: Sequence[Any],
                    infos: Sequence[dict[str, Any]], keys: Sequence[str]) -> int:
        """Score a batch with ``keys`` and commit it (one transaction); returns the samples scored without error.
        With ``save_inputs`` the batch's inputs are written too, scored or not (a suite without scorers, or whose
        scores are all stored, still gets its ``inputs/``)."""
        if self.save_inputs and items:
            try:
                self.write_inputs(cell, items)
            except (OSError, BenchError) as e:  # only the HTML grids lose their inputs: keep scoring
                self.input_error = self.input_error or f"save_inputs: {describe(e)}"
        if not items or not keys:
            return len(items)
        try:
            batch = eval_batch(items, outputs_u8, infos, self.paste_back, self.device)
            result = self.scorers.score(batch, keys)
        except CAUGHT as e:
            msg = f"scoring failed: {describe(e)}"
            self.store.write_scores(cell.key, [(it.sample_id, k, {}, msg) for it in items for k in keys])
            return 0
        result.write(self.store, cell.key, cell.input_key)
        bad = {sid for sid, _, _, err in result.rows if err is not None}
        return sum(1 for it in items if it.sample_id not in bad)

    def write_inputs(self, cell: Cell, items: Sequence[Item]) -> None:
        """The image, mask and ground truth (when there is one) of each sample, for HTML grids."""
        for it in items:
            p = input_path(self.run_dir, cell.input_key, it.sample_id, "input", create=True)
            if p.exists():
                continue
            write_png(input_path(self.run_dir, cell.input_key, it.sample_id, "mask"), it.mask)
            if it.gt is not None:
                write_png(input_path(self.run_dir, cell.input_key, it.sample_id, "gt"), quantize(it.gt))
            write_png(p, quantize(it.image))

    # -- stored outputs ----------------------------------------------------------------------------------------
    def score_stored(self, cell: Cell, ds: Any, strategy: Any, pending: dict[str, list[str]],
                     advance: Callable[[int], None] | None = None) -> int:
        """Score generated samples of ``cell`` whose scorers in ``pending`` (sample id -> scorer keys) are missing.

        A sample whose PNG is gone, or whose pixels differ from the ones its generation row records (a file replaced
        since: its stored scores are of another image), becomes a generation error row (generated again by the next
        run)."""
        infos = self.store.output_info(cell.key, pending)
        groups: dict[tuple[str, ...], list[str]] = {}
        for sid, keys in pending.items():
            if sid in infos:
                groups.setdefault(tuple(keys), []).append(sid)

        def load(sid: str) -> tuple[Item, Any]:
            item = prepare_item(ds, strategy, cell.dataset.label, self.seed, sid)
            path = output_path(self.run_dir, cell.key, sid)
            u8 = read_png_u8(path)
            made = infos[sid]["info"].get("output_sha256")  # (rows from before digests were recorded: none)
            if made and output_digest(u8) != made:
                raise OutputChanged(f"{path}: its pixels changed since it was generated (the file was replaced)")
            return item, u8

        n_ok = 0
        for keys, sids in groups.items():
            buf: list[tuple[Item, Any]] = []
            for sid, got, exc in self.prefetcher.iterate(load, sids):
                if exc is not None:
                    self._failed(cell, sid, keys, exc)
                    if advance:
                        advance(1)
                    continue
                item, u8 = got
                if tuple(u8.shape[-2:]) != tuple(item.image.shape[-2:]):
                    self._failed(cell, sid, keys, DataError(
                        f"{output_path(self.run_dir, cell.key, sid)}: stored output is {tuple(u8.shape[-2:])}, the "
                        f"input is {tuple(item.image.shape[-2:])} (the dataset changed since it was generated?)"))
                    if advance:
                        advance(1)
                    continue
                if buf and (item.image.shape != buf[0][0].image.shape or len(buf) >= self.batch_size):
                    n_ok += self._flush(cell, buf, infos, keys, advance)
                    buf = []
                buf.append((item, u8))
            if buf:
                n_ok += self._flush(cell, buf, infos, keys, advance)
        return n_ok

    def _flush(self, cell: Cell, buf, infos, keys, advance) -> int:
        n = self.score_batch(cell, [b[0] for b in buf], [b[1] for b in buf],
                             [infos[b[0].sample_id]["info"] for b in buf], keys)
        if advance:
            advance(len(buf))
        return n

    def _failed(self, cell: Cell, sid: str, keys: Sequence[str], exc: BaseException) -> None:
        msg = f"sample {sid}: {describe(exc)}"
        if isinstance(exc, DataError) and str(output_path(self.run_dir, cell.key, sid)) in str(exc):
            # the output is gone, damaged or replaced: generate it again next time
            what = "changed" if isinstance(exc, OutputChanged) else "unreadable"
            self.store.mark_output_missing(cell.key, sid, f"stored output {what}, generated again by the next "
                                                          f"run: {exc}")
            return
        self.store.write_scores(cell.key, [(sid, k, {}, msg) for k in keys])
