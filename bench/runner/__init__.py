"""The loop over cells and samples, timing, memory and resume."""
from .loop import Runner, expand_cells, run_suite

__all__ = ["Runner", "expand_cells", "run_suite"]
