"""The runner: plan, generate (timing, memory, resume, shards) and hand outputs to the scoring stage.

One job per file: ``plan`` (suite -> work still to do), ``locks``, ``prefetch`` (samples ahead of the model),
``guard`` (one backend call under a time limit), ``timing`` (CUDA events, perf_counter, peak memory), ``generate``
(the generation loop of a cell), ``run`` (the orchestration), ``dist`` (torchrun ranks), ``merge`` (shard
stores), ``export`` (inputs and outputs for work elsewhere), ``provenance``. Attributes load lazily: importing
``bench.runner.plan`` does not import torch.
"""
from typing import Any

__all__ = ["Runner", "expand_cells", "run_suite"]


def __getattr__(name: str) -> Any:
    if name in ("Runner", "run_suite"):
        from . import run

        return getattr(run, name)
    if name == "expand_cells":
        from ..keys import expand_cells

        return expand_cells
    raise AttributeError(name)
