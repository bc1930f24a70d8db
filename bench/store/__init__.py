"""The run directory and its SQLite records."""
from .sqlite import RunStore, merge_stores

__all__ = ["RunStore", "merge_stores"]
