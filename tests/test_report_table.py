"""The neutral Table and its renderers, from a fixed table: highlighting by direction, escaping, formats."""
from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest

from bench.report.table import (Col, Table, format_number, latex_escape, render_csv, render_json, render_latex,
                                render_markdown, render_terminal, to_rich, write_parquet)

NAN = math.nan


def fixed_table(warnings=()) -> Table:
    cols = [
        Col("backend", is_label=True),
        Col("psnr_in", higher_is_better=True, fmt=".2f", interval=True),
        Col("lpips_in", higher_is_better=False, fmt=".3f", interval=True),
        Col("n", fmt="d"),
    ]
    rows = [
        {"backend": "A & B_1", "psnr_in": 30.0, "psnr_in_lo": 29.0, "psnr_in_hi": 31.0, "lpips_in": 0.100,
         "lpips_in_lo": 0.09, "lpips_in_hi": 0.11, "n": 10},
        {"backend": "C%", "psnr_in": 28.0, "psnr_in_lo": 27.5, "psnr_in_hi": 28.5, "lpips_in": 0.120, "n": 10},
        {"backend": "D$", "psnr_in": 25.0, "lpips_in": 0.050, "lpips_in_lo": 0.04, "lpips_in_hi": 0.06, "n": 12},
        {"backend": "E~^\\", "psnr_in": NAN, "lpips_in": math.inf, "n": 3},
    ]
    return Table(columns=cols, rows=rows, name="fixed", caption="Places2, 40–50 % masks: PSNR & LPIPS",
                 label="tab:fixed", warnings=list(warnings))


def test_ranks_respect_direction():
    r = fixed_table().ranks()
    # psnr (higher better): A best, C second; NaN never ranked
    assert r[(0, "psnr_in")] == 1 and r[(1, "psnr_in")] == 2 and (2, "psnr_in") not in r
    assert (3, "psnr_in") not in r
    # lpips (lower better): D best, A second, +inf worst and unmarked
    assert r[(2, "lpips_in")] == 1 and r[(0, "lpips_in")] == 2
    assert (1, "lpips_in") not in r and (3, "lpips_in") not in r
    # columns without a direction are never marked
    assert not any(k == "n" for _, k in r)


def test_ranks_ties_and_two_values():
    t = Table([Col("b", is_label=True), Col("x", higher_is_better=True)],
              [{"b": "a", "x": 1.0}, {"b": "b", "x": 1.0}, {"b": "c", "x": 0.5}])
    r = t.ranks()
    assert r[(0, "x")] == 1 and r[(1, "x")] == 1 and (2, "x") not in r  # two distinct values: no "second"
    t1 = Table([Col("x", higher_is_better=False)], [{"x": 1.0}])
    assert t1.ranks() == {}


def test_a_partly_infinite_mean_ranks_after_a_wholly_infinite_one():
    """psnr_out ∞ (9 of 12): a backend that redrew the outside on 3 samples was bold beside one that kept it on
    all; it does not hide behind the ∞."""
    cols = [Col("b", is_label=True), Col("psnr_out", higher_is_better=True, fmt=".2f")]
    rows = [{"b": "partly", "psnr_out": math.inf, "psnr_out_n_inf": 9, "psnr_out_n_values": 12},
            {"b": "kept", "psnr_out": math.inf},
            {"b": "redrawn", "psnr_out": 41.2},
            {"b": "mostly", "psnr_out": math.inf, "psnr_out_n_inf": 11, "psnr_out_n_values": 12}]
    r = Table(cols, rows).ranks()
    assert r == {(1, "psnr_out"): 1, (3, "psnr_out"): 2}
    md = render_markdown(Table(cols, rows))
    assert md.count("**") == 2  # one bold cell: the wholly infinite one


def test_a_skewed_interval_is_printed_as_its_bounds():
    """A Bradley-Terry strength 1.13 [0.76, 1.79] was printed "1.13 ± 0.52" (read: [0.61, 1.65]) in Markdown and
    LaTeX; a near-symmetric bootstrap interval of a mean keeps the ± half-width."""
    cols = [Col("b", is_label=True), Col("human_bt", higher_is_better=True, fmt=".2f", interval=True),
            Col("psnr_in", higher_is_better=True, fmt=".2f", interval=True)]
    rows = [{"b": "telea", "human_bt": 1.13, "human_bt_lo": 0.76, "human_bt_hi": 1.79,
             "psnr_in": 20.0, "psnr_in_lo": 19.02, "psnr_in_hi": 21.0}]
    md = render_markdown(Table(cols, rows))
    assert "1.13 [0.76, 1.79]" in md and "± 0.52" not in md and "20.00 ± 0.99" in md
    tex = render_latex(Table(cols, rows))
    assert r"{\scriptsize[0.76, 1.79]}" in tex and r"{\scriptsize$\pm$0.99}" in tex


def test_a_row_with_no_successful_sample_is_never_ranked():
    # the backend whose every sample errored has 0 % blur verdicts: true, and no reason to call it the best
    cols = [Col("b", is_label=True), Col("failure_blur", higher_is_better=False, fmt=".3f"),
            Col("failure_ok", higher_is_better=True, fmt=".3f"), Col("n", fmt="d")]
    rows = [{"b": "works", "failure_blur": 0.2, "failure_ok": 0.8, "n": 5},
            {"b": "all errors", "failure_blur": 0.0, "failure_ok": 0.0, "n": 0},
            {"b": "works too", "failure_blur": 0.4, "failure_ok": 0.6, "n": 5}]
    r = Table(cols, rows).ranks()
    assert r == {(0, "failure_blur"): 1, (0, "failure_ok"): 1}  # two ranked rows: best only
    md = render_markdown(Table(cols, rows))
    assert "**0.000**" not in md and "**0.200**" in md
    # without an n column (a paper table of means) every row is ranked as before
    r2 = Table(cols[:3], [{k: v for k, v in x.items() if k != "n"} for x in rows]).ranks()
    assert r2[(1, "failure_blur")] == 1 and r2[(0, "failure_blur")] == 2


def test_leaderboard_rows_of_several_dilation_k_are_ranked_per_k():
    """``bench report --by dilate_k`` (rows backend × k) marked only the k = 0 rows: the best of each column over
    every k. Marks compare the backends of one k; LaTeX draws no rule between rows of one backend."""
    import pandas as pd

    from bench.report.leaderboard import leaderboard_tables

    psnr = {("a", 0): 30.0, ("b", 0): 28.0, ("c", 0): 26.0, ("a", 15): 20.0, ("b", 15): 22.0, ("c", 15): 18.0}
    df = pd.DataFrame([{"backend": b, "dataset": "d", "dilate_base": "given", "dilate_k": k, "psnr_in": v, "n": 4}
                       for (b, k), v in psnr.items()]).sort_values(["backend", "dilate_k"]).reset_index(drop=True)
    df.attrs.update(metric_keys=["psnr_in"], columns={"psnr_in": {"higher_is_better": True, "fmt": ".2f"}})
    t, = leaderboard_tables(df, split=["dataset", "dilate_base"], rows=("backend", "dilate_k"))
    assert t.rank_within == ("dilate_k",)
    ranks = t.ranks()
    marked = {(r["dilate_k"], ranks[(i, "psnr_in")]): r["backend"] for i, r in enumerate(t.rows)
              if (i, "psnr_in") in ranks}
    for k in (0, 15):  # the best and second of each k, from the values
        order = sorted((b for b, kk in psnr if kk == k), key=lambda b: -psnr[(b, k)])
        assert marked[(k, 1)] == order[0] and marked[(k, 2)] == order[1]
    assert len(marked) == 4
    body = render_latex(t).split(r"\midrule", 1)[1]
    assert r"\midrule" not in body  # the k groups interleave (backend-major rows): no rule between them
    by_k = Table(**{**t.__dict__, "rows": sorted(t.rows, key=lambda r: r["dilate_k"])})
    assert render_latex(by_k).split(r"\midrule", 1)[1].count(r"\midrule") == 1  # k-major: one rule between k


def test_format_number():
    assert format_number(math.inf) == "∞" and format_number(-math.inf) == "-∞"
    assert format_number(NAN) == "–" and format_number(None) == "–"
    assert format_number(3.14159, ".2f") == "3.14" and format_number(7.0, "d") == "7"


def test_latex_escape_every_special():
    s = latex_escape("a&b%c$d#e_f{g}h~i^j\\k<l>m|n")
    assert s == (r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
                 r"\textless{}l\textgreater{}m\textbar{}n")
    assert latex_escape("40–50 % ±∞") == r"40--50 \% $\pm$$\infty$"


def test_latex_table_bold_underline_intervals_and_escaping():
    tex = render_latex(fixed_table())
    assert tex.startswith("\\begin{table}[t]") and tex.rstrip().endswith("\\end{table}")
    for token in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lrrr}", "\\label{tab:fixed}"):
        assert token in tex
    assert r"\caption{Places2, 40--50 \% masks: PSNR \& LPIPS}" in tex
    rows = {ln.split(" & ")[0]: ln for ln in tex.splitlines() if ln.endswith(r"\\") and " & " in ln}
    a, c, d, e = rows[r"A \& B\_1"], rows[r"C\%"], rows[r"D\$"], rows[r"E\textasciitilde{}\textasciicircum{}\textbackslash{}"]
    assert r"\textbf{30.00}\,{\scriptsize$\pm$1.00}" in a and r"\underline{0.100}\,{\scriptsize$\pm$0.010}" in a
    assert r"\underline{28.00}\,{\scriptsize$\pm$0.50}" in c and r"\textbf{" not in c
    assert r"\textbf{0.050}" in d and r"\underline" not in d
    assert "--" in e and r"$\infty$" in e and r"\textbf" not in e
    # compile-ready: every row has exactly ncols-1 unescaped alignment tabs, braces balance
    for ln in rows.values():
        assert len(re.findall(r"(?<!\\)&", ln)) == 3
    body = re.sub(r"\\[{}]", "", tex)
    assert body.count("{") == body.count("}")
    assert "$" not in re.sub(r"\$[^$]*\$", "", tex.replace(r"\$", ""))  # math shifts balanced


def test_latex_column_groups():
    t = Table([Col("b", is_label=True), Col("s/x", "x", True, group="Small masks"),
               Col("s/y", "y", False, group="Small masks"), Col("l/x", "x", True, group="Large masks")],
              [{"b": "m1", "s/x": 1, "s/y": 2, "l/x": 3}, {"b": "m2", "s/x": 2, "s/y": 1, "l/x": 1}])
    tex = render_latex(t)
    assert r" & \multicolumn{2}{c}{Small masks} & \multicolumn{1}{c}{Large masks} \\" in tex
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-4}" in tex


def test_markdown():
    md = render_markdown(fixed_table())
    lines = md.splitlines()
    head = next(ln for ln in lines if ln.startswith("| backend"))
    assert "psnr\\_in ↑" in head and "lpips\\_in ↓" in head
    a = next(ln for ln in lines if ln.startswith("| A & B\\_1"))
    assert "**30.00 ± 1.00**" in a and "<ins>0.100 ± 0.010</ins>" in a
    d = next(ln for ln in lines if ln.startswith("| D$"))
    assert "**0.050 ± 0.010**" in d
    e = next(ln for ln in lines if ln.startswith("| E"))
    assert "| – |" in e and "∞" in e
    assert "NOT COMPARABLE" not in md
    assert "NOT COMPARABLE" in render_markdown(fixed_table(["different seeds"]))


def test_terminal_styles_and_warning():
    rt = to_rich(fixed_table())
    psnr = list(rt.columns[1].cells)
    lpips = list(rt.columns[2].cells)
    assert psnr[0].startswith("[bold") and "30.00" in psnr[0]
    assert psnr[1].startswith("[underline]")
    assert lpips[2].startswith("[bold") and lpips[0].startswith("[underline]")
    from rich.console import Console

    con = Console(record=True, width=200)
    render_terminal(fixed_table(["seed differs"]), console=con)
    out = con.export_text()
    assert "NOT COMPARABLE" in out and "seed differs" in out and "A & B_1" in out and "∞" in out


def test_a_wide_table_in_a_narrow_terminal_is_printed_in_column_parts_that_fit():
    """Twenty value columns in an 80-column terminal: consecutive parts, each under 80 characters, each with the
    row labels, together every column once, in order, and every value whole; piped (not a terminal) the one table
    is printed at the width it needs."""
    from rich.console import Console

    from bench.report.table import split_columns, table_width

    cols = [Col("backend", is_label=True)] + [Col(f"metric_{j:02d}", higher_is_better=j % 2 == 0, fmt=".4f")
                                              for j in range(20)]
    rows = [{"backend": name, **{f"metric_{j:02d}": 1000 * (k + 1) + j / 7 for j in range(20)}}
            for k, name in enumerate(["lama", "mat", "sd-inpaint"])]
    t = Table(columns=cols, rows=rows, title="dataset places × mask thick", warnings=["seed differs"])
    assert table_width(t) > 80
    parts = split_columns(t, 80)
    assert len(parts) > 1 and all(table_width(p) <= 80 for p in parts)
    assert [c.key for p in parts for c in p.columns if not c.is_label] == [c.key for c in cols[1:]]
    assert all(p.columns[0].key == "backend" for p in parts)
    assert parts[0].warnings == ["seed differs"] and all(not p.warnings for p in parts[1:])
    con = Console(record=True, width=80, force_terminal=True)
    render_terminal(t, console=con)
    out = con.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80
    assert out.count("sd-inpaint") == len(parts) and out.count("NOT COMPARABLE") == 1
    for r in rows:
        for j in range(20):
            assert f"{r[f'metric_{j:02d}']:.4f}" in out
    assert "(columns 1–" in out and "of 20)" in out
    piped = Console(record=True, width=80, force_terminal=False)
    render_terminal(t, console=piped)
    text = piped.export_text()
    assert "columns 1–" not in text and max(len(line) for line in text.splitlines()) == table_width(t)


def test_csv_raw_values():
    rows = list(csv.DictReader(io.StringIO(render_csv(fixed_table(["x"])))))
    assert rows[0]["backend"] == "A & B_1" and float(rows[0]["psnr_in_lo"]) == 29.0
    assert rows[3]["psnr_in"] == "" and rows[3]["lpips_in"] == "inf"
    assert all(r["comparable"] == "false" and r["noncomparable_reasons"] == "x" for r in rows)


def test_parquet_roundtrip(tmp_path):
    import pyarrow.parquet as pq

    p = write_parquet(fixed_table(), tmp_path / "t.parquet")
    t = pq.read_table(p)
    df = t.to_pandas()
    assert list(df.backend) == ["A & B_1", "C%", "D$", "E~^\\"]
    assert df.lpips_in.iloc[3] == math.inf and math.isnan(df.psnr_in.iloc[3])
    meta = json.loads(t.schema.metadata[b"inpaint_bench"])
    assert meta["columns"][2]["higher_is_better"] is False


def test_json_roundtrip():
    t = fixed_table(["w"])
    doc = json.loads(render_json(t))
    assert doc["rows"][3]["lpips_in"] == "inf" and doc["rows"][3]["psnr_in"] is None
    t2 = Table.from_dict(doc)
    assert t2.rows[3]["lpips_in"] == math.inf and t2.warnings == ["w"]
    assert t2.ranks() == t.ranks()


def test_ranks_compare_displayed_values():
    t = Table([Col("x", higher_is_better=True, fmt=".4f")], [{"x": 0.99881}, {"x": 0.99879}, {"x": 0.5}])
    r = t.ranks()
    assert r[(0, "x")] == 1 and r[(1, "x")] == 1  # both print as 0.9988: tied
    assert (2, "x") not in r


def test_latex_states_noncomparable():
    tex = render_latex(fixed_table(["seed 1 vs seed 2 & 50% data"]))
    assert r"\textbf{Not comparable:} seed 1 vs seed 2 \& 50\% data" in tex
    assert tex.startswith("% NOT COMPARABLE: seed 1 vs seed 2 & 50% data")


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None,
                    reason="pdflatex not installed (Debian: apt-get install texlive-latex-recommended)")
def test_latex_compiles(tmp_path):
    import subprocess

    nasty = "a & b % $ # _ { } ~ ^ \\ < > | – ± ∞ ↑ ↓ ×"
    t = fixed_table([nasty])
    t.caption = "Every special: " + nasty
    t.label = "tab:x_1"
    g = Table([Col("b", is_label=True), Col("s/x", "x_1", True, group="Small & 10%"), Col("l/x", "x", True,
                                                                                           group="Large_#")],
              [{"b": "m_1", "s/x": 1, "l/x": 2}, {"b": "m#2{}", "s/x": 2, "l/x": 1}], rank_within=())
    doc = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n\\begin{document}\n"
           + render_latex(t) + render_latex(g) + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_a_set_level_metric_no_row_could_compute_is_left_out_of_the_leaderboard():
    import pandas as pd

    from bench.report.leaderboard import leaderboard_keys

    nan = float("nan")
    df = pd.DataFrame({"backend": ["a", "b"], "psnr_out": [30.0, nan], "fid": [3.0, nan], "p_ids": [nan, nan],
                       "n": [5, 5]})
    df.attrs.update(metric_keys=["psnr_out"], setlevel_keys=["fid", "p_ids"])
    assert leaderboard_keys(df, extra=("n",)) == ["psnr_out", "fid", "n"]  # p_ids: nothing to show anywhere


# ------------------------------------------------------------------------------------------------------------------
# the terminal's first screen: a headline set that fits 100 columns (issue 27)
# ------------------------------------------------------------------------------------------------------------------
def _quickstart_like(tmp_path):
    """The quickstart's shape with every headline family present: three backends, two datasets × two masks, LPIPS,
    FID features (small n), the blur / noop / replacement detectors and two sub-flags, one of which (like the
    quickstart's ``blur_ref``) flags every sample of every backend."""
    import zlib

    from tests.test_report_data import make_run

    def values(b, d, s):
        k = zlib.crc32(f"{b}{d}{s}".encode()) % 100 / 100
        return {"psnr_full": 25.0 + k, "ssim_out": 0.99, "noop_score": k, "noop_flag": float(b == "mean-fill" and k < .3),
                "replacement_score": k, "replacement_flag": float(k > 0.8), "blur_ref_score": 1.0, "blur_ref_flag": 1.0,
                "blur_mosaic_score": 0.0, "blur_mosaic_flag": 0.0}

    return make_run(tmp_path / "qs", n=8, features=True, values=values)


def _render(df, width=100, **kw):
    import io

    from rich.console import Console

    from bench.report.leaderboard import print_terminal

    buf = io.StringIO()
    print_terminal(df, Console(file=buf, width=width, force_terminal=False), **kw)
    return buf.getvalue()


def test_terminal_headline_fits_100_columns(tmp_path):
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import headline_keys, leaderboard_tables
    from bench.report.table import table_width

    df = summarize(_quickstart_like(tmp_path), ci=False)
    assert "fid" in df and "blur_ref_rate" in df and (df["blur_ref_rate"] == 1).all()
    # everything (what Markdown shows) needs far more than 100 columns: a piped console prints it at its width
    assert max(table_width(t) for t in leaderboard_tables(df)) > 150
    out = _render(df)
    lines = out.splitlines()
    assert max(len(x.rstrip()) for x in lines) <= 100, out
    head = next(x for x in lines if "backend " in x)
    for label in ("lpips_in ↓", "psnr_out ↑", "fid ↓", "ok ↑", "blur ↓", "replaced ↓", "noop ↓", "ms ↓"):
        assert label in head, (label, head)
    for left_out in ("psnr_in", "ssim", "blur_rate", "blur_ref", "mosaic", "peak_mem", "failure_"):
        assert left_out not in head
    assert "(n = 8 per backend)" in out and "† small n" in out and out.count("† small n") == 1
    assert "blur_ref_rate flags every sample of every backend" in out
    assert headline_keys(df)[:3] == ["lpips_in", "psnr_out", "fid"]
    # a dataset without ground truth has no in-hole value: its tables leave the column of dashes out
    df.loc[df["dataset"] == "synthetic", "lpips_in"] = float("nan")
    heads = [x for x in _render(df).splitlines() if x.startswith("┃ backend ")]
    assert sum("lpips_in" in h for h in heads) == 2 and len(heads) == 4
    # n and errors come back as columns when the rows differ
    df.loc[0, "n_errors"] = 2
    head = next(x for x in _render(df).splitlines() if "backend " in x)
    assert " n " in head and "errors" in head


def test_headline_per_kind_of_run_and_the_way_to_every_column(tmp_path, capsys):
    import pandas as pd

    from bench.report.aggregate import summarize
    from bench.cli.report import main
    from bench.report.leaderboard import headline_keys, latex_default_tables

    nan = float("nan")
    removal = pd.DataFrame({"backend": ["a", "b"], "dataset": "d", "mask": "m", "psnr_in": [nan, nan],
                            "psnr_out": [30.0, 31.0], "failure_ok": [1.0, 1.0], "latency_p50": [3.0, 4.0],
                            "n": [5, 5], "n_errors": [0, 0]})
    removal.attrs.update(verdict_keys=["failure_ok"])
    assert headline_keys(removal) == ["psnr_out", "failure_ok", "latency_p50", "n", "n_errors"]  # no ground truth
    run = _quickstart_like(tmp_path)
    df = summarize(run, ci=False)
    assert all("blur_ref_rate" not in [c.key for c in t.columns] for t in latex_default_tables(df))
    assert main(["report", str(run), "--format", "term", "--columns", "all", "--no-ci"]) == 0
    out = capsys.readouterr().out
    assert "blur_ref_rate" in out and "ssim_out" in out and "psnr_in" in out
    assert main(["report", str(run), "--format", "term", "--columns", "psnr_in,n", "--no-ci"]) == 0
    head = next(x for x in capsys.readouterr().out.splitlines() if "backend " in x)
    assert "psnr_in" in head and "lpips" not in head and "ok" not in head
    assert main(["report", str(run), "--format", "term", "--columns", "psnr_inn"]) == 2
    assert "did you mean 'psnr_in'" in capsys.readouterr().err
    # the suite's report: columns: picks the terminal's columns; Markdown keeps every column
    man = json.loads((run / "manifest.json").read_text())
    man["report"] = {"tables": [], "columns": ["ssim_in", "n"]}
    (run / "manifest.json").write_text(json.dumps(man))
    assert main(["report", str(run), "--format", "term,md", "--no-ci"]) == 0
    head = next(x for x in capsys.readouterr().out.splitlines() if "backend " in x)
    assert "ssim_in" in head and "lpips" not in head
    md = (run / "leaderboard.md").read_text()
    assert all(k in md for k in ("blur\\_ref\\_rate", "lpips\\_in", "peak\\_mem\\_mb", "ssim\\_out"))


def test_report_section_columns_is_validated():
    from bench.errors import ConfigError
    from bench.config.report import validate_report_section

    assert validate_report_section({"columns": "all"})["columns"] == "all"
    assert validate_report_section({"columns": ["lpips_in", "fid"]})["columns"] == ["lpips_in", "fid"]
    assert "columns" not in validate_report_section({"tables": []})
    with pytest.raises(ConfigError, match=r"report.columns\[1\]"):
        validate_report_section({"columns": ["lpips_in", 3]})
    with pytest.raises(ConfigError, match="did you mean 'columns'"):
        validate_report_section({"colums": ["lpips_in"]})


def test_the_readme_quickstart_table_fits_100_columns():
    """README shows the quickstart's first table as `bench run` printed it (benchmarks/quickstart.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    table = json.loads((root / "benchmarks" / "results" / "quickstart.json").read_text())["results"]["terminal"]
    assert table.startswith("dataset samples × mask box") and "psnr_in ↑" in table
    assert max(len(x) for x in table.splitlines()) <= 100
    assert table.strip() in (root / "README.md").read_text()


def test_latex_default_tables_leave_out_columns_no_row_has_a_value_in():
    import pandas as pd

    from bench.report.leaderboard import latex_default_tables

    nan = float("nan")
    df = pd.DataFrame({"backend": ["a", "b"], "dataset": "d", "mask": "m", "psnr_out": [30.0, 31.0],
                       "blur_rate": [0.1, 0.4], "blur_real_rate": [nan, nan], "black_rate": [0.0, 0.0],
                       "latency_p50": [nan, nan], "n": [5, 5], "n_errors": [0, 0]})
    df.attrs.update(metric_keys=["psnr_out"], detectors=["blur", "blur_real", "black"])
    tables = latex_default_tables(df)
    keys = {c.key for t in tables for c in t.columns}
    # the head that is off and latency of outputs made elsewhere: dashes in every row, left out; so are a rate that
    # is 0 in every row and n_errors when nothing failed, which the failure table's caption names instead
    assert {"psnr_out", "blur_rate", "n"} <= keys
    assert not keys & {"blur_real_rate", "latency_p50", "black_rate", "n_errors"}
    failures = next(t for t in tables if t.name.endswith("_failures"))
    assert failures.caption.endswith("failure rates and cost (no backend flagged by black; no errors)")
    df.loc[0, "black_rate"], df.loc[1, "n_errors"] = 0.2, 1  # now they have something to say
    keys = {c.key for t in latex_default_tables(df) for c in t.columns}
    assert {"black_rate", "n_errors"} <= keys


@pytest.mark.parametrize("n, widths", [(1, [1]), (7, [7]), (8, [4, 4]), (15, [5, 5, 5])])
def test_latex_default_tables_split_wide_groups_into_tables_of_even_width(n, widths):
    import pandas as pd

    from bench.report.leaderboard import LATEX_MAX_COLUMNS, latex_default_tables

    df = pd.DataFrame({"backend": ["a", "b"], "dataset": "d", "mask": "m", **{f"m{i}": [1.0, 2.0] for i in range(n)}})
    df.attrs.update(metric_keys=[f"m{i}" for i in range(n)])
    tables = [t for t in latex_default_tables(df) if "_quality" in t.name]
    assert [len(t.columns) - 1 for t in tables] == widths and max(widths) <= LATEX_MAX_COLUMNS
    assert [c.key for t in tables for c in t.columns[1:]] == [f"m{i}" for i in range(n)]  # all, in order


def test_errors_are_named_under_the_terminal_tables_and_in_the_markdown(tmp_path, capsys):
    from bench.cli.report import main
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import TERMINAL_ERROR_CELLS, error_lines
    from tests.test_report_data import make_run

    run = make_run(tmp_path / "run", n=6, errors={"mean-fill": 2})
    df = summarize(run, ci=False)
    lines = error_lines(df)
    assert len(lines) == 4  # mean-fill's cells: two datasets × two masks, every one with its first message
    assert lines[0].startswith("mean-fill × ") and "2 error(s); first: BackendError: mean-fill exploded on s000" in (
        lines[0])
    assert main(["report", str(run), "--format", "term,md", "--no-ci"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "error mean-fill × samples × box: 2 error(s); first: BackendError: mean-fill exploded on s000" in out
    md = (run / "leaderboard.md").read_text()
    assert "## Errors" in md and md.count("mean-fill exploded") == 4
    # many cells: the terminal names the first few and says how many more; messages are cut, not wrapped forever
    short = error_lines(df, limit=2, width=30)
    assert len(short) == 3 and short[-1].startswith("… and 2 more cell(s)") and short[0].endswith("…")
    assert TERMINAL_ERROR_CELLS >= 1 and error_lines(df.assign(n_errors=0)) == []
