"""The run directory and its SQLite records."""
from .sqlite import RunStore, merge_stores, stored_outputs

__all__ = ["RunStore", "merge_stores", "stored_outputs"]
