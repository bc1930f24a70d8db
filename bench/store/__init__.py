"""The run directory and its SQLite records."""
from .sqlite import RunStore

__all__ = ["RunStore"]
