"""The generation loop of one cell: prepared samples -> one guarded, timed backend call per batch -> 8-bit PNGs and
generation rows, then the batch is handed to the scoring stage.

Read top to bottom, one batch is:
  1. stack the items; blank the hole (the backend never sees the answer); one seeded generator per sample (its seed
     recorded in the sample's row); the backend gets copies (what it writes into them changes nothing the runner
     scores);
  2. warm-up calls for a shape not seen yet (untimed; default 1 on CUDA, 0 on CPU);
  3. on CPU, wait until no sample is being loaded, so the clock times the model alone;
  4. the timed call through the geometry adapter, under the time limit (CUDA out of memory: split in halves);
  5. check each sample's output (finite, values in [0, 1] within :data:`bench.pixels.RANGE_TOL`), quantize to 8 bits;
  6. write each good output's PNG, then commit the batch's generation rows (one transaction);
  7. hand the good samples to ``score(cell, items, outputs_u8, infos)``.
Samples that fail any step get an error row naming the backend and the reason; the run goes on. A full disk
(:data:`bench.fsio.NO_ROOM`) stops it instead: every further output would be lost too.

The ``outputs`` backend (outputs made elsewhere) skips 2-4: its files are read, checked and stored the same way,
with no latency and no memory figure (absent, never zero).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..backends import geometry  # (imported here, not on the first call: an import is no model's time)
from ..errors import CAUGHT, BenchError, describe
from ..fsio import NO_ROOM
from ..seeding import derive_seed
from ..pixels import RANGE_TOL, blank, blanked_digests, lost_colour, output_digest, quantize
from ..store.files import output_path, write_png
from . import timing
from .guard import Guard
from ..inputs import Item, Prefetcher, read_ahead
from ..keys import Cell


ScoreFn = Callable[[Cell, list[Item], list[torch.Tensor], list[dict[str, Any]]], Any]


@dataclass
class GenSettings:
    batch_size: int
    seed: int
    warmup: int
    oom_retry: bool
    device: torch.device
    overlap: bool = False  # scoring runs on another CUDA stream: time and measure only the model's stream
    mem_baseline: tuple[int, int] = (0, 0)  # GPU memory the harness held before the backend loaded
    weights: str | None = None  # the content fingerprint of the backend's weights files (None: none known)


def colourless_error(who: str, image: torch.Tensor, out_u8: torch.Tensor) -> str | None:
    """The error for a grey output of a colour input (a pipeline that read or saved the image as greyscale: every
    score of it would be about the lost colour, and a grey fill of a colour scene can even pass as a clean removal
    when pasted back), else None. ``image``: the input [3, H, W] in [0, 1]; ``out_u8``: the stored output."""
    if not lost_colour(out_u8, image):
        return None
    return (f"{who}: the output has no colour (every pixel grey) while the input is in colour: a pipeline that "
            f"read or saved the image as greyscale (an 8-bit 'L' file?); give the model's colour output")


class Generation:
    """Generates the missing samples of one backend's cells (the backend is already set up)."""

    def __init__(self, backend: Any, store: Any, run_dir: Path, prefetcher: Prefetcher, guard: Guard,
                 settings: GenSettings, score: ScoreFn, wait_scoring: Callable[[], None] | None = None,
                 log: Callable[[str], None] | None = None):
        self.backend = backend
        self.store = store
        self.run_dir = Path(run_dir)
        self.prefetcher = prefetcher
        self.guard = guard
        self.s = settings
        self.score = score
        self.wait_scoring = wait_scoring or (lambda: None)
        self.log = log or (lambda msg: None)
        self.said_loaded = False  # (the note on modules imported inside a timed call: once per backend)
        self.external = bool(getattr(backend, "reads_outputs", False))
        self.shapes_warm: set[tuple] = set()
        self.peak = timing.PeakTracker(settings.device, settings.mem_baseline, stream_only=settings.overlap)

    # -- a cell ------------------------------------------------------------------------------------------------
    def run_cell(self, cell: Cell, sample_ids: list[str], prepare: Callable[[str], Item],
                 advance: Callable[[int], None] | None = None) -> int:
        """Generate ``sample_ids`` of ``cell``; returns how many succeeded. ``self.peak`` then holds the cell's
        own peak memory (reset here)."""
        advance = advance or (lambda n: None)
        self.peak = timing.PeakTracker(self.s.device, self.s.mem_baseline, stream_only=self.s.overlap)
        reset = getattr(self.backend, "reset_memory_peak", None)
        if reset is not None:
            reset()
        n_ok = 0
        buf: list[Item] = []
        # (read ahead by this backend's batch, which may be larger than the suite's: a full next batch is loading
        # while the model works on this one)
        depth = read_ahead(self.s.batch_size, self.prefetcher.workers)
        for sid, item, exc in self.prefetcher.iterate(prepare, sample_ids, depth=depth):
            if exc is not None:  # one bad item never kills the run
                self._rows(cell, [{"sample_id": sid, "error": f"sample {sid}: {describe(exc)}"}])
                advance(1)
                continue
            if buf and (item.image.shape != buf[0].image.shape or len(buf) >= self.s.batch_size):
                n_ok += self._batch(cell, buf)
                advance(len(buf))
                buf = []
            buf.append(item)
        if buf:
            n_ok += self._batch(cell, buf)
            advance(len(buf))
        return n_ok

    # -- a batch -----------------------------------------------------------------------------------------------
    def _batch(self, cell: Cell, items: list[Item]) -> int:
        who = f"{cell.backend.path} ({cell.backend.label})"
        if self.external:
            return self._read_external(cell, items, who)
        dev = self.s.device
        B = len(items)
        try:
            image = torch.stack([it.image for it in items]).to(dev)
            mask = torch.stack([it.mask for it in items]).to(dev)
            blanked = blank(image, mask)
            seeds = [derive_seed(self.s.seed, "backend", cell.dataset.label, cell.mask.key(), it.sample_id)
                     for it in items]
        except CAUGHT as e:
            return self._fail(cell, items, f"preparing its batch of {B} failed: {describe(e)}", name_sample=True)
        try:
            shape = tuple(image.shape)
            if shape not in self.shapes_warm:
                for _ in range(self.s.warmup):
                    self._call(blanked, mask, seeds, items)
                self.shapes_warm.add(shape)
            if dev.type == "cpu":  # the clock below times the model alone: no loading, no scoring beside it
                self.prefetcher.quiesce()
                self.wait_scoring()
            modules = set(sys.modules)
            self.peak.before_call()
            with timing.timed(dev, stream_only=self.s.overlap) as t:
                res = self._call(blanked, mask, seeds, items)
            self.peak.after_call()
            loaded = sorted(set(sys.modules) - modules)  # load time inside the clock: said, never hidden
        except CAUGHT as e:
            if timing.is_oom(e) and self.s.oom_retry and B > 1 and dev.type == "cuda":
                del image, mask, blanked
                torch.cuda.empty_cache()
                return self._batch(cell, items[: B // 2]) + self._batch(cell, items[B // 2:])
            if timing.is_oom(e):
                return self._fail(cell, items, f"{who}: CUDA out of memory at batch size {B}: {e}")
            return self._fail(cell, items, f"{who}: {describe(e)}")
        timing_row = {"latency_ms": t.ms / B, "wall_ms": t.wall_ms / B, "batch_size": B}
        infos = [{"raw_size": list(res.raw_sizes[i]), "model_size": list(res.model_sizes[i]),
                  "input_size": list(items[i].image.shape[-2:]), **blanked_digests(items[i].image, items[i].mask),
                  "seed": seeds[i], **({"weights_fingerprint": self.s.weights} if self.s.weights else {}),
                  **({"modules_loaded_in_timed_call": len(loaded)} if loaded else {})}
                 for i in range(B)]
        if loaded and not self.said_loaded:
            self.said_loaded = True
            names = ", ".join(loaded[:4]) + (", ..." if len(loaded) > 4 else "")
            self.log(f"note: {len(loaded)} module(s) were imported during a timed call of {who} ({names}): that "
                     f"batch's latency includes loading them (its rows say so: info.modules_loaded_in_timed_call); "
                     f"import them in the backend's setup, or set warmup: 1")
        out_u8 = quantize(res.output).cpu()
        errors = [self._check(who, res.value_range[i] if res.value_range else None)
                  or colourless_error(who, items[i].image, out_u8[i]) for i in range(B)]
        return self._commit(cell, items, out_u8, infos, errors, timing_row)

    def _call(self, blanked: torch.Tensor, mask: torch.Tensor, seeds: list[int], items: list[Item]):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        # copies the backend may scribble on: a warm-up that writes into its input cannot change the timed call's
        image, hole = blanked.clone(), mask.clone()
        ids = [it.sample_id for it in items]  # for the messages of a backend that takes them

        def call():
            with torch.inference_mode():
                return geometry.run_backend(self.backend, image, hole, gens, ids)

        return self.guard.call(call)

    @staticmethod
    def _check(who: str, value_range: tuple[float, float] | None) -> str | None:
        if value_range is None:
            return None
        lo, hi = value_range
        if math.isnan(lo) or math.isnan(hi):
            return f"{who}: output has NaN/inf values"
        if lo < -RANGE_TOL or hi > 1 + RANGE_TOL:
            hint = " (a 0..255 image? divide by 255)" if hi > 2 else (" (a -1..1 image? map it with (x + 1) / 2)"
                                                                     if lo < -0.5 else "")
            return f"{who}: output values span [{lo:.4g}, {hi:.4g}], expected [0, 1]{hint}"
        return None

    def _read_external(self, cell: Cell, items: list[Item], who: str) -> int:
        try:
            outs = self.backend.read_outputs(cell.dataset.label, cell.mask.label, items)
        except CAUGHT as e:
            return self._fail(cell, items, f"{who}: {describe(e)}")
        u8, infos, errors = [], [], []
        for it, o in zip(items, outs):
            size = list(it.image.shape[-2:])
            raw = size if isinstance(o, BaseException) else list(o.shape[-2:])
            # a file of another size is recorded (the `resized` detector reads raw_size) and resized back, as the
            # geometry adapter does for a live backend
            infos.append({"raw_size": raw, "model_size": size, "input_size": size, "external": True,
                          **blanked_digests(it.image, it.mask)})
            if not isinstance(o, BaseException):
                try:  # the file read, so a later run notices when it is replaced (OutputsBackend.changed)
                    infos[-1]["source"] = self.backend.source(cell.dataset.label, cell.mask.label, it.sample_id)
                except OSError as e:
                    o = e
            if isinstance(o, BaseException):
                errors.append(f"{who}: {describe(o)}")
                u8.append(torch.zeros(3, *size, dtype=torch.uint8))
            else:
                u8.append(quantize(geometry.resize_image(o[None], tuple(size))[0]))  # (quantize clamps to [0, 1])
                errors.append(colourless_error(who, it.image, u8[-1]))
        return self._commit(cell, items, torch.stack(u8), infos, errors,
                            {"latency_ms": None, "wall_ms": None, "batch_size": len(items)})

    def _commit(self, cell: Cell, items: list[Item], out_u8: torch.Tensor, infos: list[dict], errors: list,
                timing_row: dict[str, Any]) -> int:
        ok: list[int] = []
        for i, it in enumerate(items):
            if errors[i] is None:
                try:
                    write_png(output_path(self.run_dir, cell.key, it.sample_id, create=True), out_u8[i])
                except (OSError, BenchError) as e:
                    if isinstance(e, OSError) and e.errno in NO_ROOM:  # not this sample's fault: every next one
                        raise BenchError(f"cannot store outputs in {self.run_dir}: {e.strerror} (sample "
                                         f"{it.sample_id} of {cell.label}); "
                                         f"stopped, since every further output would be lost. What is stored is "
                                         f"kept: make room and run the same command again") from None
                    errors[i] = f"cannot store the output: {describe(e)}"
                    continue
                infos[i]["output_sha256"] = output_digest(out_u8[i])  # (scoring it later checks the file)
                ok.append(i)
        self._rows(cell, [{"sample_id": it.sample_id, **it.stats, **timing_row, "info": infos[i],
                           "error": errors[i]} for i, it in enumerate(items)])
        if ok:
            self.score(cell, [items[i] for i in ok], [out_u8[i] for i in ok], [infos[i] for i in ok])
        return len(ok)

    def _rows(self, cell: Cell, rows: Sequence[dict[str, Any]]) -> None:
        self.store.write_outputs(cell.key, rows)

    def _fail(self, cell: Cell, items: list[Item], msg: str, name_sample: bool = False) -> int:
        self._rows(cell, [{"sample_id": it.sample_id, **it.stats, "batch_size": len(items),
                           "error": f"sample {it.sample_id}: {msg}" if name_sample else msg} for it in items])
        return 0
