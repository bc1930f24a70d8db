"""What every command module of the CLI shares: a console and escaping for rich."""
from __future__ import annotations


def escape(text: object) -> str:
    """Text safe to print through rich (``[...]`` in a path or message is not markup)."""
    from ..sinks import term

    return term(text)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
