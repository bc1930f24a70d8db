"""The example outputs in docs/reports.md, made by the current code from synthetic runs (not measurements).

    python benchmarks/report_examples.py

Builds runs with the test suite's run builder (``tests/test_report_data.py::make_run``: seeded, so the same code
gives the same text), renders the terminal table, ``leaderboard.md`` and a paper table from a ``report:`` section (the ``bench compare``
examples come from ``benchmarks/compare_example.py``), and writes them to ``benchmarks/results/report_examples.json``; ``benchmarks/figures.py``
puts them into docs/reports.md (``<!-- figures:report_example_term -->`` ...), and ``tests/test_docs.py`` checks
that the current code still prints exactly the committed text (so the examples show today's format).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER = {"tables": [{"name": "mat_style", "caption": "Small & large masks: PSNR / LPIPS", "rows": "backend",
                     "columns": ["psnr_in", {"key": "lpips_in", "label": "LPIPS", "fmt": ".4f"}], "split": "mask",
                     "split_labels": {"lama-medium": "Irregular", "box": "Box"}}]}


def _cli(argv: list[str]) -> str:
    from bench.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(argv)
    return buf.getvalue()


def examples() -> dict[str, str]:
    """Every example, as the current code prints it (paths replaced by their folder names)."""
    from tests.test_report_data import make_run

    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        three = ("opencv-telea", "opencv-ns", "mean-fill")
        run = make_run(t / "quickstart", backends=three, datasets=("samples",), masks=("box",), n=8)
        term = _cli(["report", str(run), "--format", "term", "--out", str(t / "rep")])
        out["term"] = "\n".join(ln.rstrip() for ln in term.splitlines() if not ln.startswith("wrote ")) + "\n"
        _cli(["report", str(run), "--format", "md", "--out", str(t / "rep")])
        md = (t / "rep" / "leaderboard.md").read_text()
        out["md"] = md[md.index("## dataset"):]  # the table (the header paragraph is the same for every run)
        paper = make_run(t / "paper", backends=three, datasets=("samples",), masks=("lama-medium", "box"), n=16)
        m = json.loads((paper / "manifest.json").read_text())
        m["report"] = PAPER
        (paper / "manifest.json").write_text(json.dumps(m))
        _cli(["report", str(paper), "--format", "tex", "--out", str(t / "tex")])
        out["tex"] = (t / "tex" / "tables" / "mat_style.tex").read_text()
    return out


def main() -> int:
    from benchmarks._common import save

    ex = examples()
    lines = [ln for text in ex.values() for ln in text.splitlines()]
    print(save("report_examples", {"examples": ex}, lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
