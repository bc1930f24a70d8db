"""One backend call under the suite's time limit: a hung backend fails its remaining samples instead of the run.
Knows nothing of the store."""
from __future__ import annotations

import threading
from typing import Any, Callable

from ..errors import BenchError


class BackendTimeout(BenchError):
    """A backend call ran past the suite's ``timeout_s``."""


class Guard:
    """Runs backend calls with ``timeout_s`` (None = no limit). A call that does not return in time is abandoned on
    its daemon thread (Python cannot stop a thread; being a daemon it does not keep the process alive at exit) and
    every later call of the same backend fails at once: its state is unknown."""

    def __init__(self, timeout_s: float | None):
        self.timeout_s = timeout_s
        self.hung: str | None = None

    def reset(self) -> None:
        """A new backend: forget the previous one's hang."""
        self.hung = None

    def call(self, fn: Callable[[], Any]) -> Any:
        limit = self.timeout_s
        if limit is None:
            return fn()
        if self.hung is not None:
            raise BackendTimeout(f"skipped: the backend hung on an earlier batch ({self.hung})")
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the runner's thread
                box["error"] = e

        th = threading.Thread(target=target, name="bench-backend", daemon=True)
        th.start()
        th.join(limit)
        if th.is_alive():
            self.hung = f"no result after {limit:g} s"
            raise BackendTimeout(f"timed out: {self.hung}")
        if "error" in box:
            raise box["error"]
        return box["result"]
