"""Exception types shared by every room. Messages always name the item and the key."""


class BenchError(Exception):
    """Base class for errors the CLI reports as a clean message (no traceback)."""


MAX_MESSAGE = 2000  # characters of an error message: it never grows with the input that caused it


class ConfigError(BenchError):
    """A suite file is malformed; the message starts with the key path (``backends[1].type: ...``)."""

    def __init__(self, path: str, message: str):
        self.path = str(path)[:200]
        message = str(message)
        self.message = message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + " ... (cut)"
        super().__init__(f"{self.path}: {self.message}" if self.path else self.message)


class ConfigErrors(ConfigError):
    """Every error of a suite file at once (``bench validate`` and ``bench run`` list them all in one pass)."""

    MAX_LISTED = 50

    def __init__(self, errors: list[ConfigError]):
        self.errors = list(errors)
        shown = self.errors[: self.MAX_LISTED]
        lines = [f"{len(self.errors)} errors in the suite:"] + [f"  - {e}" for e in shown]
        if len(self.errors) > len(shown):
            lines.append(f"  ... and {len(self.errors) - len(shown)} more")
        self.path = ""
        self.message = "\n".join(lines)
        BenchError.__init__(self, self.message)


class ErrorList:
    """Collects :class:`ConfigError` s instead of stopping at the first; ``raise_if_any`` raises one error as itself
    and several as :class:`ConfigErrors`."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def add(self, e: ConfigError) -> None:
        self.errors.extend(e.errors if isinstance(e, ConfigErrors) else [e])

    def check(self):
        import contextlib

        @contextlib.contextmanager
        def _guard():
            try:
                yield
            except ConfigError as e:
                self.add(e)

        return _guard()

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)


class DataError(BenchError):
    """A dataset item cannot be read or is inconsistent (names the file or sample id)."""


class WeightsError(BenchError):
    """A network's weights are missing or wrong; names the file, where it comes from and where to put it."""


class BackendError(BenchError):
    """A backend failed or returned an invalid output for a batch."""


#: what a batch, an item, a scorer or a backend's set-up may raise without ending the run. SystemExit included:
#: research code calls sys.exit (argparse on the wrong argv, exit(1)); KeyboardInterrupt is not (the user's stop).
CAUGHT = (Exception, SystemExit)


def describe(e: BaseException) -> str:
    """One line for an error row: the exception's type and message (or what a ``sys.exit`` call said)."""
    if isinstance(e, SystemExit):
        return f"the backend called sys.exit({e.code!r})"
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def quote(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (built without expanding big or deeply nested values)."""
    import reprlib

    r = reprlib.Repr()
    r.maxstring = r.maxother = limit
    r.maxlist = r.maxdict = r.maxtuple = r.maxset = 6
    r.maxlevel = 3
    text = r.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suggestions(word: str, candidates, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The ``n`` closest candidates to ``word`` (similarity of the whole name, or of one of its dash/underscore
    separated parts, at least ``cutoff``), best first: the one "did you mean" of the project."""
    import difflib

    scored = []
    w = str(word).lower()
    for i, cand in enumerate(candidates):
        c = str(cand)
        parts = [c] + [p for p in c.replace("_", "-").split("-") if p]
        score = max(difflib.SequenceMatcher(None, w, p.lower()).ratio() for p in parts)
        if score >= cutoff:
            scored.append((-score, i, c))  # ties: the candidate given first
    return [c for _, _, c in sorted(scored)[:n]]


def suggest(word: str, candidates, cutoff: float = 0.6) -> str | None:
    """The closest candidate (see :func:`suggestions`), or None."""
    got = suggestions(word, candidates, 1, cutoff)
    return got[0] if got else None


def require_extra(module: str, extra: str, what: str):
    """``module`` imported, or a :class:`BenchError` saying that ``what`` needs it and which extra installs it
    (``pip install 'inpaint-bench[EXTRA]'``) instead of a bare ModuleNotFoundError traceback."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BenchError(f"{what} needs the `{module.split('.')[0]}` package ({e}); install it with "
                         f"pip install 'inpaint-bench[{extra}]'") from e
