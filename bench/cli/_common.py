"""What every command module of the CLI shares: a console and escaping for rich."""
from __future__ import annotations


def escape(text: object) -> str:
    """Text safe to print through rich (``[...]`` in a path or message is not markup)."""
    from ..sinks import term

    return term(text)


def _console(stderr: bool = False):
    """A console bound to the stream it was made for: while a backend runs, ``sys.stdout`` is redirected to stderr
    (its own prints), and the run's progress and tables still go to stdout."""
    import sys

    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)
