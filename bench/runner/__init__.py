"""The runner: plan, generate (timing, memory, resume, shards) and hand outputs to the scoring stage.

One job per file: ``plan`` (suite -> work still to do), ``locks``, ``prefetch`` (samples ahead of the model),
``guard`` (one backend call under a time limit), ``timing`` (CUDA events, perf_counter, peak memory), ``generate``
(the generation loop of a cell), ``run`` (the orchestration), ``merge`` (shard stores), ``provenance``.
"""
from .plan import expand_cells
from .run import Runner, run_suite

__all__ = ["Runner", "expand_cells", "run_suite"]
