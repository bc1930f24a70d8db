"""Escaping at the boundary, once: one function per place text leaves the program.

Labels, sample ids, captions, file paths and error messages come from suites, file systems and research code, so
any of them may hold ``[/x]``, ``}\\input{...}%``, ``<script>``, ``=HYPERLINK(...)`` or ``../``. Every writer
passes such text through the function of its sink, and nothing else:

=============  =====================  ==========================================================================
sink           function               what it guards against
=============  =====================  ==========================================================================
terminal       :func:`term`           rich markup (``[bold]``, ``[/...]``): text shows as written, never crashes
LaTeX text     :func:`latex`          every special character (``\\ { } $ & # ^ _ ~ % < > |``) as text
LaTeX key      :func:`latex_label`    ``\\label{...}``: only letters, digits and ``:._-`` survive
HTML           :func:`html`           ``< > & " '`` as entities (text and attribute values)
Markdown       :func:`markdown`       table pipes, emphasis, raw HTML (``<``, ``>``), line breaks
CSV cell       :func:`csv_cell`       formula injection: a text cell starting with ``= + - @`` (or tab, CR:
                                      :data:`FORMULA_START`) gets a leading ``'`` (numbers are left alone);
                                      :func:`csv_unguard` takes it off again
file name      :func:`filename`       a sample id as a file-name stem that cannot leave its folder
                                      (:func:`bench.fsio.sample_filename`)
=============  =====================  ==========================================================================
"""
from __future__ import annotations

import html as _html
import re
from typing import Any

_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "|": r"\textbar{}", "∞": r"$\infty$", "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
    "×": r"$\times$", "†": r"$^\dagger$", "–": "--", "—": "---", "≥": r"$\geq$", "≤": r"$\leq$", "\n": " ", "\r": " ",
}
_LABEL = re.compile(r"[^A-Za-z0-9:._-]")
#: the first characters of a CSV text cell that a spreadsheet runs as a formula (tab and carriage return: what
#: some strip before looking): every CSV writer puts a ``'`` before a value starting with one (or with quotes and
#: one, so that :func:`csv_unguard` gives back exactly what was written), every reader takes it off with
#: :func:`csv_unguard`; the pages' exports (JavaScript) use :func:`formula_js_regex`, made from it
FORMULA_START = "=+-@\t\r"
_GUARDED = re.compile("'*[" + re.escape(FORMULA_START) + "]")  # (quotes before: see csv_unguard)


def term(text: Any) -> str:
    """Text for rich's console (markup characters escaped)."""
    from rich.markup import escape

    return escape(str(text))


def latex(text: Any) -> str:
    """Text for LaTeX text mode: every special character escaped."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def latex_label(text: Any) -> str:
    """A ``\\label`` / ``\\ref`` key: characters other than letters, digits and ``:._-`` become ``-``."""
    return _LABEL.sub("-", str(text)) or "table"


def html(text: Any) -> str:
    """Text for HTML, in element content and in quoted attribute values. A carriage return is written as a character
    reference: HTML reads a raw one as a line feed (``\r\n`` as one ``\n``), so an attribute holding an id (a sample
    id from a file name) would come back changed."""
    return _html.escape(str(text), quote=True).replace("\r", "&#13;")


def markdown(text: Any) -> str:
    """Text for a GitHub Markdown table cell or heading."""
    s = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
    s = s.replace("<", "&lt;").replace(">", "&gt;")  # no raw HTML from user text
    return s.replace("\r", " ").replace("\n", " ")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula; numbers and non-strings are returned unchanged."""
    if isinstance(value, str) and _GUARDED.match(value):
        try:
            float(value)
            return value  # "-3.5" is a number, not a formula
        except ValueError:
            return "'" + value
    return value


def csv_unguard(value: str) -> str:
    """A CSV cell as it was before :func:`csv_cell` (or a page's export) guarded it: ``'=1+1`` is ``=1+1``,
    ``'-bob`` is ``-bob``, ``''=x`` is ``'=x`` (the guard of ``'=x``); a ``'`` before anything else is the value's
    own (``'bob``)."""
    return value[1:] if value[:1] == "'" and _GUARDED.match(value[1:]) else value


def formula_js_regex() -> str:
    """A JavaScript regular expression literal true of a value :func:`csv_cell` guards (numbers aside): the
    study page's and the labelling page's exports put ``'`` before such a value, and their import takes it off."""
    esc = {"\t": "\\t", "\r": "\\r", "-": "\\-", "\\": "\\\\", "]": "\\]", "^": "\\^", "/": "\\/"}
    return "/^'*[" + "".join(esc.get(c, c) for c in FORMULA_START) + "]/"
