"""`bench report` / `bench export` entry points, paper tables from the `report:` section, and its validator."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import ConfigError
from bench.cli.report import main
from bench.config.report import validate_report_section
from bench.report.paper import paper_tables
from bench.report.table import cell_text, render_latex
from bench.store.sqlite import RunStore
from tests.test_report_data import make_run

SECTION = {
    "tables": [
        {"name": "mat_style", "caption": "Small & large masks: PSNR / LPIPS", "rows": "backend",
         "columns": ["psnr_in", {"key": "lpips_in", "label": "LPIPS", "fmt": ".4f"}], "split": "mask",
         "split_labels": {"lama-medium": "Irregular", "box": "Box"}, "filter": {"dataset": "samples"}},
        {"name": "synthetic_20_30", "caption": "Synthetic, 20–30 % masks", "rows": ["backend"],
         "columns": ["lpips_in", "fid"], "filter": {"dataset": "synthetic", "area_bin": "20-30%"},
         "order": ["mean-fill", "opencv-telea"]},
    ]
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = make_run(tmp_path_factory.mktemp("cli") / "run", n=16, errors={"opencv-ns": 1})
    m = json.loads((d / "manifest.json").read_text())
    m["report"] = SECTION
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_report_all_formats(run, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["report", str(run), "--format", "term,md,tex,csv,parquet,json", "--out", str(out), "--no-ci"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "opencv-telea" in printed and "wrote" in printed
    for name in ("leaderboard.md", "summary.csv", "summary.parquet", "baseline.json", "tables/mat_style.tex",
                 "tables/synthetic_20_30.tex"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 12 and {"backend", "dataset", "mask", "psnr_in", "n_errors", "latency_p50"} <= set(rows[0])
    assert pd.read_parquet(out / "summary.parquet").shape[0] == 12
    tex = (out / "tables" / "mat_style.tex").read_text()
    assert r"\begin{table}" in tex and r"\multicolumn{2}{c}{Irregular}" in tex and r"Small \& large" in tex
    assert tex.index("Irregular") < tex.index("{Box}")  # split_labels give the group order


@pytest.mark.parametrize("module, fmt", [("matplotlib", "html"), ("pyarrow", "parquet")])
def test_a_format_whose_extra_is_not_installed_says_which_extra(run, tmp_path, module, fmt):
    """The core install (`pip install -e .`) ended `--format html` / `parquet` in a ModuleNotFoundError traceback.
    A fresh process where the package cannot be imported (set before anything loads it), as on that install."""
    import subprocess
    import sys
    from pathlib import Path

    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from bench.cli import main\n"
            f"sys.exit(main(['report', {str(run)!r}, '--format', {fmt!r}, '--out', {str(tmp_path / 'o')!r}, "
            f"'--no-ci']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 2, r.stderr[-2000:]
    assert "pip install 'inpaint-bench[report]'" in r.stderr and "Traceback" not in r.stderr


def test_report_unknown_format_is_usage_error(run, capsys):
    assert main(["report", str(run), "--format", "pdf"]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_report_by_area(run, tmp_path, capsys):
    out = tmp_path / "area"
    assert main(["report", str(run), "--by", "area_bin", "--format", "md,csv", "--out", str(out), "--no-ci"]) == 0
    md = (out / "leaderboard_by_area.md").read_text()
    assert "## dataset synthetic × mask box × area 20-30%" in md
    rows = list(csv.DictReader((out / "summary_by_area.csv").open()))
    assert {r["area_bin"] for r in rows} <= {f"{b * 10}-{b * 10 + 10}%" for b in range(10)}


@pytest.mark.parametrize("by", ["cell", "area_bin"])
def test_every_file_a_report_writes_is_named_in_the_docs(run, tmp_path, capsys, by):
    """`--by area_bin` wrote leaderboard_by_area.md, summary_by_area.csv, baseline_by_area.json, ..., names no page
    gave: a reader looking for the per-bin tables found only leaderboard.md's names."""
    out = tmp_path / by
    assert main(["report", str(run), "--by", by, "--format", "md,csv,parquet,json,tex", "--out", str(out),
                 "--no-ci"]) == 0
    docs = (Path(__file__).resolve().parents[1] / "docs" / "reports.md").read_text(encoding="utf-8")
    written = sorted(p.name for p in out.iterdir() if p.is_file())
    assert written and (out / "tables").is_dir()
    assert [n for n in written if f"`{n}`" not in docs] == []


def test_paper_table_filters_and_order(run):
    t_mat, t_bin = paper_tables(run, SECTION, ci=False)
    assert [c.group for c in t_mat.columns[1:]] == ["Irregular", "Irregular", "Box", "Box"]
    assert [r["backend"] for r in t_bin.rows][:2] == ["mean-fill", "opencv-telea"]
    # the 20-30 % filter keeps only those samples: compare against the records
    from bench.store.sqlite import RunStore

    f = RunStore(run / "records.sqlite").frame()
    sel = f[(f.backend == "opencv-telea") & (f.dataset == "synthetic") & (f.area_bin == 2) & f.error.isna()]
    row = next(r for r in t_bin.rows if r["backend"] == "opencv-telea")
    assert row["lpips_in"] == pytest.approx(sel.lpips_in.mean())
    assert math.isnan(row["fid"]) and any("fid" in n for n in t_bin.notes)
    assert t_bin.notes[0] == "Samples: dataset synthetic; area 20-30%"  # the filter is said, caption or not
    assert t_mat.notes[0] == "Samples: dataset samples"


def test_export_per_sample(run, tmp_path, capsys):
    path = tmp_path / "per_sample.csv"
    assert main(["export", str(run), "--per-sample", str(path)]) == 0
    df = pd.read_csv(path)
    assert len(df) == 3 * 2 * 2 * 16
    first = ["cell_key", "backend", "dataset", "mask", "sample_id", "failure", "hole_fraction", "area_bin"]
    assert list(df.columns[:8]) == first
    for col in ("psnr_in", "lpips_in", "blur_score", "blur_flag", "latency_ms", "error"):
        assert col in df.columns
    assert df.error.notna().sum() == 4 and (df[df.error.notna()].backend == "opencv-ns").all()


def test_export_per_sample_marks_a_noncomparable_run_on_every_row(tmp_path, capsys):
    """A random-weight run's per-sample values say so, as summary.csv does: the CSV and the Parquet file both."""
    nc = make_run(tmp_path / "nc", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=3,
                  comparable=False, reasons=["metric lpips: LPIPS with a random alex backbone"])
    path = tmp_path / "nc.csv"
    assert main(["export", str(nc), "--per-sample", str(path)]) == 0
    df = pd.read_csv(path)
    assert (df["comparable"] == False).all()  # noqa: E712
    assert (df["noncomparable_reasons"] == "metric lpips: LPIPS with a random alex backbone").all()
    ok = make_run(tmp_path / "ok", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=3)
    assert main(["export", str(ok), "--per-sample", str(path)]) == 0
    assert (pd.read_csv(path)["comparable"] == True).all()  # noqa: E712


def test_an_interrupted_export_leaves_the_previous_file_whole(run, tmp_path, monkeypatch):
    """A CSV cut off at a line boundary reads as a valid, shorter table: an export killed while writing must leave
    the previous file (or none), never half of the new one."""
    path = tmp_path / "per_sample.csv"
    assert main(["export", str(run), "--per-sample", str(path)]) == 0
    before = path.read_bytes()
    real = pd.DataFrame.to_csv

    def cut_off(self, buf, **kw):  # writes a part, then the process is stopped
        part = real(self, **kw)[:100].encode()
        if isinstance(buf, (str, Path)):
            Path(buf).write_bytes(part)
        else:
            buf.write(part)
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", cut_off)
    with pytest.raises(KeyboardInterrupt):
        main(["export", str(run), "--per-sample", str(path)])
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["per_sample.csv"]


def test_export_missing_run(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--per-sample", str(tmp_path / "x.csv")]) == 2
    assert "no such run folder" in capsys.readouterr().err


# -- the report: section validator ------------------------------------------------------------------------------
def test_every_table_of_a_report_section_is_checked_in_one_pass():
    from bench.errors import ConfigErrors

    with pytest.raises(ConfigErrors) as e:
        validate_report_section({"tables": [{"name": "a", "columns": ["psnr_in"], "filter": {"area_bin": "95-105%"}},
                                            {"name": "b", "columns": ["psnr_in"], "rows": "backnd"},
                                            {"name": "a", "columns": ["psnr_in"]}], "colums": ["x"]})
    paths = [x.path for x in e.value.errors]
    assert paths[0] == "report.colums" and any(p.startswith("report.tables[0].filter") for p in paths)
    assert any(p.startswith("report.tables[1].rows") for p in paths) and "report.tables[2].name" not in paths


def test_validator_normalises():
    sec = validate_report_section(SECTION, "report")
    t = sec["tables"][1]
    assert t["filter"]["area_bin"] == [2] and t["label"] == "tab:synthetic_20_30" and t["intervals"] is True
    assert sec["tables"][0]["columns"][1] == {"key": "lpips_in", "label": "LPIPS", "fmt": ".4f"}
    assert validate_report_section(sec, "report") == sec  # idempotent
    assert validate_report_section(None) == {"tables": []}


@pytest.mark.parametrize("obj, path, msg", [
    ({"tabels": []}, "report.tabels", "did you mean 'tables'"),
    ({"tables": [{"name": "a"}]}, "report.tables[0].columns", "missing required key"),
    ({"tables": [{"name": "a b", "columns": ["x"]}]}, "report.tables[0].name", "letters, digits"),
    ({"tables": [{"name": "a", "columns": ["x"], "colour": 1}]}, "report.tables[0].colour", "unknown key"),
    ({"tables": [{"name": "a", "columns": ["x"], "rows": "backnd"}]}, "report.tables[0].rows", "did you mean 'backend'"),
    ({"tables": [{"name": "a", "columns": ["x"], "filter": {"area_bin": "95-105%"}}]},
     "report.tables[0].filter.area_bin", "bin index 0..9"),
    ({"tables": [{"name": "a", "columns": ["x"], "filter": {"hole_fraction": [0.5, 0.4]}}]},
     "report.tables[0].filter.hole_fraction", "0 <= lo < hi <= 1"),
    ({"tables": [{"name": "a", "columns": [{"key": "x", "fmt": "zz"}]}]}, "report.tables[0].columns[0].fmt",
     "invalid format"),
    ({"tables": [{"name": "a", "columns": ["x"], "rows": "mask", "split": "mask"}]}, "report.tables[0].split",
     "rows or split"),
    ({"tables": [{"name": "a", "columns": ["x"]}, {"name": "a", "columns": ["y"]}]}, "report.tables[1].name",
     "duplicate"),
    ({"tables": [{"name": "a", "columns": ["x"], "filter": {"datset": "p"}}]}, "report.tables[0].filter.datset",
     "did you mean 'dataset'"),
])
def test_validator_errors_name_the_key_path(obj, path, msg):
    with pytest.raises(ConfigError) as e:
        validate_report_section(obj, "report")
    assert e.value.path == path and msg in e.value.message


def test_report_with_compare_and_merged_runs(run, tmp_path, capsys):
    other = make_run(tmp_path / "other", n=16, errors={"opencv-ns": 1}, shift={"mean-fill": 0.05})
    out = tmp_path / "cmp"
    code = main(["report", str(run), "--format", "md", "--out", str(out), "--no-ci", "--compare", str(run),
                 str(other)])
    assert code == 0
    cmp_md = (out / "compare.md").read_text()
    assert "mean-fill" in cmp_md and "`lpips_in`" in cmp_md
    # two folders given to `bench report` are merged into one leaderboard
    shard = make_run(tmp_path / "shard", backends=("opencv-telea",), datasets=("samples",), masks=("box",),
                     sample_ids=["s100", "s101"])
    out2 = tmp_path / "merged"
    assert main(["report", str(run), str(shard), "--format", "csv", "--out", str(out2), "--no-ci"]) == 0
    rows = list(csv.DictReader((out2 / "summary.csv").open()))
    telea = next(r for r in rows if (r["backend"], r["dataset"], r["mask"]) == ("opencv-telea", "samples", "box"))
    assert int(float(telea["n"])) == 18


def test_terminal_legend_says_what_ok_means():
    """With one verdict column, ``ok`` is the share whose verdict is ok (a flag that takes no part in the verdict,
    outside_drift pasted back, does not lower it), not 'no detector flagged'."""
    from bench.report.leaderboard import terminal_legend
    from bench.report.table import Col, Table

    t = Table(columns=[Col(key="backend", is_label=True), Col(key="failure_ok"), Col(key="n_errors")],
              rows=[{"backend": "a", "failure_ok": 0.8, "n_errors": 1}], name="x", title="x")
    legend = terminal_legend([t], headline=True)
    assert "whose verdict is ok" in legend and "error rows count against it" in legend
    assert "no detector flagged" not in legend


# -- paper tables: which cells a row holds, what is marked, what is said -----------------------------------------
def _with_report(run_dir, section):
    m = json.loads((run_dir / "manifest.json").read_text())
    m["report"] = section
    (run_dir / "manifest.json").write_text(json.dumps(m))
    return run_dir


def _cell_means(run_dir, key, **where):
    """{backend: mean of ``key`` over the successful records matching ``where``}, from the store."""
    f = RunStore(run_dir / "records.sqlite").frame()
    f = f[f.error.isna()]
    for k, v in where.items():
        f = f[f[k] == v]
    return f.groupby("backend")[key].mean().to_dict()


def test_a_paper_table_row_that_is_one_cell_has_its_set_level_metrics(tmp_path):
    """FID / KID were `--` in every paper table whose rows + split did not name backend, dataset and mask, though
    each row (× column group) was exactly one cell; they are the cell's own, as the per-cell leaderboard has them."""
    from bench.metrics.setlevel import set_level_metrics
    from tests.test_report_data import cell_key

    d = make_run(tmp_path / "f", backends=("opencv-telea", "mean-fill"), datasets=("samples",),
                 masks=("lama-medium", "box"), n=12, features=True)
    store = RunStore(d / "records.sqlite")
    one, split, pooled = paper_tables(d, {"tables": [
        {"name": "one", "columns": ["fid", "kid", "psnr_in"], "filter": {"mask": "box"}},
        {"name": "split", "columns": ["fid"], "split": "mask"},
        {"name": "pooled", "columns": ["fid", "psnr_in"]},
    ]}, ci=False)
    for row in one.rows:
        want = set_level_metrics(store, cell_key(row["backend"], "samples", "box"))
        assert row["fid"] == pytest.approx(want["fid"]) and row["kid"] == pytest.approx(want["kid"])
        assert row["fid_small_n"] and row["fid_n"] == 12  # the † mark and its n come along
    assert not any(n.startswith("not in") for n in one.notes)
    for row in split.rows:
        for m in ("lama-medium", "box"):
            assert row[f"{m}/fid"] == pytest.approx(
                set_level_metrics(store, cell_key(row["backend"], "samples", m))["fid"])
    # a row over two masks pools two cells: no FID, and the note says why
    assert all(math.isnan(r["fid"]) for r in pooled.rows)
    assert [n for n in pooled.notes if "fid" in n] == [
        "not in this table: fid (set-level metrics need every sample of one cell: a row pools several cells)"]
    assert pooled.rows[0]["psnr_in"] == pytest.approx(_cell_means(d, "psnr_in")[pooled.rows[0]["backend"]])


def test_paper_table_marks_compare_backends_within_each_mask(tmp_path):
    """rows: [backend, mask] marked the best of the whole column (two cells of it); the best of each mask is
    marked, as the docs say (per dataset × mask)."""
    d = make_run(tmp_path / "m", datasets=("samples",), masks=("lama-medium", "box"), n=12,
                 shift={"opencv-telea": 0.02})
    t, = paper_tables(d, {"tables": [{"name": "bm", "rows": ["backend", "mask"], "columns": ["psnr_in"]}]},
                      ci=False)
    ranks = t.ranks()
    for m in ("lama-medium", "box"):
        means = _cell_means(d, "psnr_in", mask=m)
        rows = {i: r for i, r in enumerate(t.rows) if r["mask"] == m}
        best = [rows[i]["backend"] for i in rows if ranks.get((i, "psnr_in")) == 1]
        second = [rows[i]["backend"] for i in rows if ranks.get((i, "psnr_in")) == 2]
        assert best == [max(means, key=means.get)]
        assert second == [sorted(means, key=means.get)[-2]]
    tex = render_latex(t)
    assert tex.count(r"\textbf{") == 2 and tex.count(r"\underline{") == 2


def test_a_paper_table_never_marks_a_row_whose_every_sample_failed(tmp_path):
    """A backend whose every sample errored has 0 % blur verdicts; paper tables (whose rows held only the asked
    columns, and under split keyed its count "<group>/n") marked it best."""
    d = make_run(tmp_path / "e", datasets=("samples",), masks=("lama-medium", "box"), n=8, errors={"mean-fill": 8})
    flat, split = paper_tables(d, {"tables": [
        {"name": "flat", "columns": ["failure_blur", "psnr_in"], "filter": {"mask": "box"}},
        {"name": "split", "columns": ["failure_blur"], "split": "mask"},
    ]}, ci=False)
    for t, keys in ((flat, ["failure_blur"]), (split, ["lama-medium/failure_blur", "box/failure_blur"])):
        i = next(i for i, r in enumerate(t.rows) if r["backend"] == "mean-fill")
        assert all(t.rows[i][k] == 0.0 for k in keys)  # what it would be marked for
        assert not any(t.ranks().get((i, k)) for k in keys)
        line = next(x for x in render_latex(t).splitlines() if x.startswith("mean-fill &"))
        assert r"\textbf" not in line and r"\underline" not in line
        assert any(t.ranks().get((j, k)) == 1 for j in range(len(t.rows)) for k in keys)  # the others are marked
    f = RunStore(d / "records.sqlite").frame()
    ok = f[(f["mask"] == "box") & f.error.isna()].groupby("backend").size()
    assert {r["backend"]: r["n"] for r in flat.rows} == {b: ok.get(b, 0) for b in ("mean-fill", "opencv-ns",
                                                                                 "opencv-telea")}


def test_a_paper_table_says_how_many_values_of_an_infinite_mean_are_infinite(tmp_path):
    """``∞ (k of n)``: a backend whose outside is kept on half its samples showed a plain ∞, tied with the one that
    kept it on all."""
    def values(b, d, sid):
        if b == "opencv-ns":  # redraws the outside of the odd samples
            return {"psnr_out": math.inf if int(sid[1:]) % 2 == 0 else 40.0}
        return {}

    d = make_run(tmp_path / "i", datasets=("samples",), masks=("box",), n=8, values=values)
    t, = paper_tables(d, {"tables": [{"name": "out", "columns": ["psnr_out"]}]}, ci=False)
    i = next(i for i, r in enumerate(t.rows) if r["backend"] == "opencv-ns")
    f = RunStore(d / "records.sqlite").frame()
    vals = f[(f.backend == "opencv-ns") & f.error.isna()].psnr_out.astype(float)
    assert (t.rows[i]["psnr_out_n_inf"], t.rows[i]["psnr_out_n_values"]) == (int((vals == math.inf).sum()),
                                                                              len(vals)) == (4, 8)
    assert cell_text(t.rows[i], t.columns[1], intervals=False) == "∞ (4 of 8)"
    ranks = t.ranks()
    telea = next(j for j, r in enumerate(t.rows) if r["backend"] == "opencv-telea")
    assert ranks[(telea, "psnr_out")] == 1 and ranks[(i, "psnr_out")] == 2  # after the wholly kept outside


def test_an_incomplete_merge_is_said_in_latex_csv_and_parquet(tmp_path):
    d = make_run(tmp_path / "s", datasets=("samples",), masks=("box",), n=6)
    _with_report(d, {"tables": [{"name": "t", "columns": ["psnr_in"]}]})
    complete = tmp_path / "complete"
    assert main(["report", str(d), "--format", "csv", "--out", str(complete), "--no-ci"]) == 0
    assert {r["shards_missing"] for r in csv.DictReader((complete / "summary.csv").open())} == {""}
    m = json.loads((d / "manifest.json").read_text())
    m["shards_missing"] = ["1/2"]
    (d / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "out"
    assert main(["report", str(d), "--format", "md,tex,csv,parquet", "--out", str(out), "--no-ci"]) == 0
    tex = (out / "tables" / "t.tex").read_text()
    assert "% Incomplete: shard 1/2 not merged" in tex
    assert r"\caption{\textbf{Incomplete:} shard 1/2 not merged}" in tex
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 3 and {r["shards_missing"] for r in rows} == {"1/2"}
    assert set(pd.read_parquet(out / "summary.parquet")["shards_missing"]) == {"1/2"}
    md = (out / "leaderboard.md").read_text()
    assert md.count("Incomplete: shard 1/2 not merged") == 1  # once, at the top (not again per table)


def test_the_docs_say_which_columns_each_format_holds(run, tmp_path):
    """docs/reports.md said "Markdown, HTML, CSV, Parquet and JSON always have every column"; leaderboard.md and
    report.html hold the leaderboard set. Its format table now names what each holds: checked against the files."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "reports.md").read_text()
    assert "always have every column" not in text
    rows = {m.group(1): re.findall(r"`([a-z0-9_]+)`", m.group(2))
            for m in re.finditer(r"^\| (`leaderboard\.md`|`report\.html`|`summary\.csv`)[^|]*\|(.*)\|$", text, re.M)}
    assert set(rows) == {"`leaderboard.md`", "`report.html`", "`summary.csv`"}
    out = tmp_path / "formats"
    assert main(["report", str(run), "--format", "md,csv,html", "--out", str(out), "--no-ci"]) == 0
    md = (out / "leaderboard.md").read_text().replace("\\_", "_")
    html = (out / "report.html").read_text()
    header = next(csv.reader((out / "summary.csv").open()))
    md_head = next(line for line in md.splitlines() if line.startswith("| backend"))
    for key in rows["`leaderboard.md`"]:
        assert f" {key} " in md_head, key
    html_head = re.search(r'<table class="lb" id="leaderboard"><thead>(.*?)</thead>', html).group(1)
    for key in rows["`report.html`"]:
        assert f'data-key="{key}"' in html_head, key
    csv_only = [k for k in rows["`summary.csv`"] if "<" not in k and k != "first_error"]
    for key in csv_only:
        assert key in header, key
    # and the difference the table states is real: the CSV's extra cost columns are in neither leaderboard
    for key in ("latency_p90", "latency_mean", "peak_rss_mb", "hole_fraction"):
        assert key in csv_only and f" {key} " not in md_head and f'data-key="{key}"' not in html_head


def test_a_mistyped_column_key_of_the_report_section_is_an_error_with_a_suggestion(tmp_path, capsys):
    """psnr_inn in a paper table gave a `--` column said to be a set-level metric; in report: columns it was
    dropped. Both are errors naming the key path and the closest key; a real metric's key the run did not score
    is an empty column with a note that says so."""
    d = make_run(tmp_path / "t", datasets=("samples",), masks=("box",), n=6)
    with pytest.raises(ConfigError) as e:
        paper_tables(d, {"tables": [{"name": "a", "columns": ["psnr_in"]},
                                    {"name": "b", "columns": ["lpips_in", "psnr_inn"]}]}, ci=False)
    assert str(e.value) == "report.tables[1].columns[1]: this run has no column 'psnr_inn'; did you mean 'psnr_in'?"
    t, = paper_tables(d, {"tables": [{"name": "c", "columns": ["psnr_in", "psnr_full", "fid"]}]}, ci=False)
    assert "not in this run: psnr_full (no metric, detector or study of it gave values)" in t.notes
    assert "not in this run: fid (no cell of it has the stored features they are computed from)" in t.notes
    _with_report(d, {"tables": [{"name": "x", "columns": ["psnr_in", "lpips_inn"]}],
                     "columns": ["psnr_in", "blurr_rate"]})
    assert main(["report", str(d), "--format", "tex", "--out", str(tmp_path / "o"), "--no-ci"]) == 2
    assert "report.tables[0].columns[1]: this run has no column 'lpips_inn'; did you mean 'lpips_in'?" in \
        capsys.readouterr().err
    assert main(["report", str(d), "--format", "term", "--out", str(tmp_path / "o"), "--no-ci"]) == 2
    assert "report.columns[1]: this run has no column 'blurr_rate'; did you mean 'blur_rate'?" in \
        capsys.readouterr().err
    # at the end of `bench run` (the run is done): a warning, and the columns it has
    from rich.console import Console

    from bench.report.leaderboard import render_run

    console = Console(record=True, width=200)
    render_run(d, formats=("term",), console=console, ci=False)
    printed = console.export_text()
    assert "report.columns[1]: this run has no column 'blurr_rate'; did you mean 'blur_rate'? (left out)" in printed
    assert "psnr_in" in printed


def test_csv_and_parquet_summaries_carry_the_runs_provenance(tmp_path):
    """summary.csv and summary.parquet carried no provenance (no config hash, seed, git revision, package
    versions), unlike the LaTeX tables and leaderboard.md: a summary passed on alone lost where it came from. Every
    row now has a ``provenance`` column, the line the other formats give."""
    from bench.report.leaderboard import provenance_parts

    d = make_run(tmp_path / "s", datasets=("samples",), masks=("box",), n=4)
    out = tmp_path / "out"
    assert main(["report", str(d), "--format", "csv,parquet", "--out", str(out), "--no-ci"]) == 0
    line = " · ".join(provenance_parts(json.loads((d / "manifest.json").read_text())))
    assert "config" in line or "seed" in line
    assert {r["provenance"] for r in csv.DictReader((out / "summary.csv").open())} == {line}
    assert set(pd.read_parquet(out / "summary.parquet")["provenance"]) == {line}
