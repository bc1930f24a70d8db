"""Samples ahead of the model: prepare an :class:`Item` (load, mask, quantize) on background threads, in order.

Honest CPU timings. On CPU, threads that run torch ops beside the model make the model slower even while they
are idle: each such thread gets an OpenMP team of its own, and once the process has more OpenMP threads than cores
the runtime (most likely) stops spin-waiting between parallel regions, so every small parallel op of the model
pays a wake-up (measured here: 2x on a loop of small matrix products; ``benchmarks/cpu_timing.py``). So on CPU the suite default is
``workers: 0`` (samples load on the runner's thread, between batches) and scoring is never overlapped; with
``workers`` set explicitly the runner still calls :meth:`Prefetcher.quiesce` before a timed call, so no loading runs
beside the clock. One pool lives for the whole run, never one per cell. On CUDA the loaders keep working during the
call (the GPU's clock is not theirs).
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from .errors import CAUGHT
from .pixels import RANGE_TOL


@dataclass
class Item:
    """One prepared sample of a cell: what the backend gets and what the metrics compare against.

    ``image`` and ``gt`` are float32 on the 8-bit grid (``u8 / 255``), the way published evaluations read PNGs, so
    an exported input and a stored output reproduce them exactly."""

    sample_id: str
    image: Any  # torch.Tensor [3, H, W]
    mask: Any  # torch.Tensor [1, H, W] bool
    gt: Any  # torch.Tensor [3, H, W] | None
    stats: dict[str, Any]  # hole_fraction, area_bin


def prepare_item(ds: Any, strategy: Any, dataset_label: str, seed: int, sample_id: str) -> Item:
    """Load a sample, make its mask (a pure function of seed, dataset, sample id and strategy), quantize.

    A mask with no hole, or whose hole is the whole image, is a :class:`DataError` (an error row naming it): such
    a sample would be scored as perfect, or scored with nothing to compare outside the hole."""
    import torch

    from .bins import mask_stats
    from .pixels import dequantize, lost_colour, quantize

    from .errors import DataError

    sample = ds.load(sample_id)
    for what, t in (("image", sample.image), ("gt", sample.gt)):
        if t is not None or what == "image":
            _check_pixels(t, what, sample_id, dataset_label)
    m = strategy.make(sample, seed, dataset_label)
    n_hole, n_all = int(m.sum()), int(m.size)
    if n_hole == 0 or n_hole == n_all:
        src = sample.meta.get("mask_path") if strategy.uses_dataset_mask else None
        what = f"mask {src}" if src else f"the mask ({getattr(strategy, 'registry_name', 'mask')})"
        why = sample.meta.get("mask_note") if strategy.uses_dataset_mask else None
        raise DataError((f"{what} has no hole: nothing to inpaint" if n_hole == 0 else
                         f"{what} covers the whole image: nothing is left to inpaint from") + (f" ({why})" if why
                                                                                               else ""))
    gt = sample.gt if strategy.uses_dataset_mask else sample.image
    image = dequantize(quantize(sample.image))
    gt = image if gt is sample.image else (dequantize(quantize(gt)) if gt is not None else None)
    if gt is not None and gt is not image and lost_colour(gt, image):
        where = sample.meta.get("gt_path") or "the ground truth"
        raise DataError(f"{where}: the ground truth has no colour (every pixel grey) while its image is in colour "
                        f"(saved as greyscale?): every score against it would measure the lost colour")
    return Item(sample_id, image, torch.from_numpy(np.ascontiguousarray(m))[None], gt, mask_stats(m))


def _check_pixels(t: Any, what: str, sample_id: str, dataset_label: str) -> None:
    """A sample's ``image`` / ``gt`` is a float tensor [3, H, W] in [0, 1] (``bench.types.Sample``); anything else
    (8-bit values, 0..255 floats, channels last, one channel) is the dataset's mistake, named as such instead of
    being clamped to a white image or blamed on the backend that receives it."""
    import torch

    from .errors import DataError

    where = f"dataset '{dataset_label}', sample '{sample_id}': its {what}"
    if not torch.is_tensor(t) or not t.is_floating_point():
        got = f"a {type(t).__name__} of {t.dtype}" if torch.is_tensor(t) else f"a {type(t).__name__}"
        raise DataError(f"{where} is {got}; expected a float tensor [3, H, W] in [0, 1]")
    if t.ndim != 3 or t.shape[0] != 3:
        raise DataError(f"{where} has shape {tuple(t.shape)}; expected [3, H, W] (RGB, channels first)")
    lo, hi = float(t.min()), float(t.max())
    if not (-RANGE_TOL <= lo and hi <= 1 + RANGE_TOL):
        raise DataError(f"{where} has values in [{lo:g}, {hi:g}]; expected [0, 1] (divide 8-bit values by 255)")


def read_ahead(batch_size: int, workers: int) -> int:
    """How many samples a consumer that takes ``batch_size`` at a time keeps loading or loaded ahead: two batches
    (the next one loads while the current one is worked on), at least two per worker. ``batch_size`` is what that
    consumer asks for (a backend's own ``batch_size:``, else the suite's), not another consumer's."""
    return max(2 * batch_size, 2 * workers)


class Prefetcher:
    """Ordered, bounded read-ahead over sample ids with ``workers`` threads (0 = inline); ``depth``: the read-ahead
    of :meth:`iterate` unless a call gives its own (:func:`read_ahead`)."""

    def __init__(self, workers: int, depth: int):
        self.workers = workers
        self.depth = max(1, depth)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-load") if workers > 0 else None
        self._inflight: set[Future] = set()
        self._lock = threading.Lock()

    def _submit(self, fn: Callable[[str], Any], sid: str) -> Future:
        assert self._pool is not None
        fut = self._pool.submit(fn, sid)
        with self._lock:
            self._inflight.add(fut)
        fut.add_done_callback(self._done)
        return fut

    def _done(self, fut: Future) -> None:
        with self._lock:
            self._inflight.discard(fut)

    def iterate(self, fn: Callable[[str], Any], sample_ids: list[str],
                depth: int | None = None) -> Iterator[tuple[str, Any, BaseException | None]]:
        """Yield ``(sample id, fn(sample id) or None, exception or None)`` in the order of ``sample_ids``, with
        ``depth`` samples (default: the prefetcher's) loading or loaded ahead."""
        depth = self.depth if depth is None else max(1, depth)
        if self._pool is None:
            for sid in sample_ids:
                try:
                    item = fn(sid)
                except CAUGHT as e:
                    yield sid, None, e
                else:
                    yield sid, item, None
            return
        pending: deque = deque()
        it = iter(sample_ids)
        try:
            for sid in it:
                pending.append((sid, self._submit(fn, sid)))
                if len(pending) >= depth:
                    break
            while pending:
                sid, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, self._submit(fn, nxt)))
                try:
                    item = fut.result()
                except CAUGHT as e:
                    yield sid, None, e
                else:
                    yield sid, item, None
        finally:
            for _, fut in pending:  # the consumer stopped early: drop what it will not read
                fut.cancel()

    def quiesce(self) -> None:
        """Wait until no load is running (queued ones wait too: the pool's threads are then idle)."""
        with self._lock:
            running = list(self._inflight)
        if running:
            wait(running)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
