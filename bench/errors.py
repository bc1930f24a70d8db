"""Exception types shared by every room. Messages always name the item and the key."""


class BenchError(Exception):
    """Base class for errors the CLI reports as a clean message (no traceback)."""


class ConfigError(BenchError):
    """A suite file is malformed; the message starts with the key path (``backends[1].type: ...``)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class DataError(BenchError):
    """A dataset item cannot be read or is inconsistent (names the file or sample id)."""


class WeightsError(BenchError):
    """A network's weights are missing or wrong; names the file, where it comes from and where to put it."""


class BackendError(BenchError):
    """A backend failed or returned an invalid output for a batch."""
