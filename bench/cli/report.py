"""``bench report``, ``bench export`` and ``bench compare``: argument parsing and output files over the report
room (:mod:`bench.report`) and the runner's exports. Each ``run_*`` returns an exit code (0 ok, 1 regression for
``compare``, 2 usage / missing input)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .. import sinks
from ..errors import BenchError
from ..fsio import atomic_writer, confined_dir, write_text_atomic
from ..stats import ALPHA

FORMATS = ("term", "md", "tex", "html", "csv", "parquet", "json")


def _console():
    from rich.console import Console

    return Console()


def _err(msg: str) -> None:
    sys.stderr.write(f"error: {msg}\n")
    sys.stderr.flush()


def _split_formats(values: Sequence[str] | None, default: Sequence[str]) -> list[str]:
    if not values:
        return list(default)
    out: list[str] = []
    for v in values:
        for f in str(v).split(","):
            f = f.strip().lower()
            if not f:
                continue
            f = {"markdown": "md", "latex": "tex", "terminal": "term", "pq": "parquet"}.get(f, f)
            if f not in FORMATS:
                raise BenchError(f"--format: unknown format {f!r}; choose from {', '.join(FORMATS)}")
            if f not in out:
                out.append(f)
    return out


# ------------------------------------------------------------------------------------------------------------------
# bench report
# ------------------------------------------------------------------------------------------------------------------
def configure_report(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("run", nargs="+", metavar="RUN",
                        help="run folder(s); several are merged (shards or pieces of one suite)")
    parser.add_argument("--format", "-f", action="append", metavar="FMT",
                        help=f"comma-separated: {','.join(FORMATS)} (default term,md)")
    parser.add_argument("--by", choices=["cell", "area_bin", "dilate_k"], default="cell",
                        help="cell: one row per backend × dataset × mask; area_bin: also per LaMa mask-area bin; "
                             "dilate_k: the dilation sweeps (dilate of one base mask at several k), per k")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the (first) run folder)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="two backends of RUN: paired bootstrap test on the samples both scored "
                             "(compare_A_vs_B.md); or two run folders / baseline files (compare.md)")
    parser.add_argument("--metric", default=None,
                        help="HTML: metric for worst cases and plots (default lpips_in, else psnr_in)")
    parser.add_argument("--no-ci", action="store_true", help="skip bootstrap intervals (faster)")
    parser.add_argument("--columns", metavar="KEYS",
                        help="terminal columns: 'all', or comma-separated keys (default: the suite's report: columns:, "
                             "else the headline set: in-hole quality, preservation, FID, verdict shares, latency, n; "
                             "leaderboard.md has every metric, rate and share; summary.csv every column)")
    return parser


def run_report(args: argparse.Namespace) -> int:
    try:
        return _run_report(args)
    except BenchError as e:
        _err(str(e))
        return 2


def _run_report(args: argparse.Namespace) -> int:
    from ..report import paper
    from ..report.aggregate import check_keys, load_run, summarize
    from ..report.leaderboard import (latex_default_tables, leaderboard_markdown, leaderboard_tables, print_terminal,
                              suite_columns)
    from ..report.table import render_csv, render_latex, write_parquet

    formats = _split_formats(args.format, ("term", "md"))
    rd = load_run(args.run if len(args.run) > 1 else args.run[0])
    if args.compare and not all(Path(x).exists() for x in args.compare):
        from ..report.paired import check_backends

        check_backends(rd, *args.compare)
    out = Path(args.out) if args.out else (rd.run_dir or Path("."))
    out.mkdir(parents=True, exist_ok=True)  # files inside are written atomically, never through a link
    ci = not getattr(args, "no_ci", False)
    by = ["backend", "dataset", "mask"] + (["area_bin"] if args.by == "area_bin" else [])
    suffix = {"area_bin": "_by_area", "dilate_k": "_by_dilation"}.get(args.by, "")
    if args.by == "dilate_k":
        from ..report.aggregate import summarize_by_dilation

        df = summarize_by_dilation(rd, ci=ci)
        if df.empty:
            raise BenchError("--by dilate_k: this run has no dilation sweep (masks `dilate` of one base strategy at "
                             "two or more k, e.g. {type: dilate, k: 15, base: {type: given}})")
        split = ["dataset", "dilate_base"]
        rows = ("backend", "dilate_k")
        tables = leaderboard_tables(df, split=split, rows=rows)
    else:
        df = summarize(rd, by=by, ci=ci)
        split = ["dataset", "mask"] + (["area_bin"] if args.by == "area_bin" else [])
        rows = ("backend",)
        tables = leaderboard_tables(df, split=split)
    console = _console()
    written: list[Path] = []

    # every column key asked for is checked against the run before anything is printed or written
    cols = getattr(args, "columns", None)
    cols = (cols if cols == "all" else [c.strip() for c in cols.split(",") if c.strip()]) if cols else None
    if "term" in formats and isinstance(cols, list):
        from ..errors import suggest

        for k in cols:
            if k not in df.columns:
                close = suggest(k, [str(c) for c in df.columns])
                raise BenchError(f"--columns: this run has no column {k!r}"
                                 + (f"; did you mean {close!r}?" if close else " (`--columns all` lists them)"))
    if "term" in formats and not cols and isinstance(suite_columns(rd.manifest), list):
        check_keys(rd, df, suite_columns(rd.manifest), "report.columns")
    section = rd.manifest.get("report") or {}
    ptables = paper.paper_tables(rd, section, ci=ci) if "tex" in formats and section.get("tables") else []

    if "term" in formats:
        if not df.attrs.get("comparable", True):
            console.print(f"[bold red]NOT COMPARABLE:[/] "
                          f"{sinks.term('; '.join(df.attrs.get('noncomparable_reasons') or []))}")
        print_terminal(df, console, split=split, rows=rows, columns=cols or suite_columns(rd.manifest))
    if "md" in formats:
        p = out / f"leaderboard{suffix}.md"
        write_text_atomic(p, leaderboard_markdown(df, tables, rd.manifest))
        written.append(p)
    from ..report.leaderboard import provenance_parts

    flat = paper.flat_table(df, name=f"summary{suffix}")
    flat.provenance = " · ".join(provenance_parts(rd.manifest))
    if "csv" in formats:
        p = out / f"summary{suffix}.csv"
        write_text_atomic(p, render_csv(flat))
        written.append(p)
    if "parquet" in formats:
        written.append(write_parquet(flat, out / f"summary{suffix}.parquet"))
    if "json" in formats:
        from ..report.compare import baseline_from_summary, input_digests, write_baseline

        p = out / f"baseline{suffix}.json"
        frame = rd.frame()
        write_baseline(baseline_from_summary(df if args.by == "cell" else summarize(rd, ci=ci), rd.manifest,
                                             frame, input_digests(rd, frame)), p)
        written.append(p)
    if "tex" in formats:
        if not ptables:  # no report: section: per dataset × mask, quality, then failure rates and cost
            ptables = latex_default_tables(df, split=split,
                                           rows=("backend", "dilate_k") if args.by == "dilate_k" else ("backend",))
        tex_dir = confined_dir(out, "tables")
        prov = "% inpaint-bench: " + "; ".join([f"run {rd.manifest.get('run_id', '?')}",
                                               *provenance_parts(rd.manifest)]).replace("\n", " ") + "\n"
        for t in ptables:
            p = tex_dir / f"{paper.safe_name(t.name)}.tex"
            write_text_atomic(p, prov + render_latex(t))
            written.append(p)
    if "html" in formats:
        from ..report.html import write_html

        written.append(write_html(rd, out / "report.html", metric=args.metric, ci=ci))
    if args.compare and not all(Path(x).exists() for x in args.compare):
        from ..report.paired import compare_backends, to_markdown

        a, b = args.compare
        md = to_markdown(compare_backends(rd, a, b), a, b)
        if "term" in formats and console.is_terminal:
            from rich.markdown import Markdown

            console.print(Markdown(md))
        elif "term" in formats:  # piped or captured (a CI log): the tables whole, as the leaderboard's are
            sys.stdout.write(md + "\n")
        p = out / f"compare_{paper.safe_name(a)}_vs_{paper.safe_name(b)}.md"
        write_text_atomic(p, md)
        written.append(p)
    elif args.compare:
        from ..report.compare import compare_sources

        res = compare_sources(args.compare[0], args.compare[1])
        p = out / "compare.md"
        write_text_atomic(p, res.markdown())
        written.append(p)
    for p in written:
        console.print(f"wrote {sinks.term(p)}", highlight=False, soft_wrap=True)
    return 0


# ------------------------------------------------------------------------------------------------------------------
# bench export
# ------------------------------------------------------------------------------------------------------------------
def configure_export(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("run", nargs="+", metavar="RUN",
                        help="run folder(s); several are merged (--per-sample); --inputs also takes a suite file")
    parser.add_argument("--per-sample", metavar="FILE",
                        help="write one row per (cell, sample) to FILE (.csv, or .parquet)")
    parser.add_argument("--outputs", metavar="DIR",
                        help="copy the stored outputs to DIR/<backend>/<dataset>/<mask>/<sample>.png (+ inputs.json)")
    parser.add_argument("--inputs", metavar="DIR",
                        help="write the masked inputs a backend is given and their masks, DIR/<dataset>/<mask>/"
                             "images/<sample>.png and masks/<sample>.png (+ inputs.json), to run a model elsewhere")
    parser.add_argument("--mask-hole-value", type=int, choices=(255, 0), default=255, metavar="{255,0}",
                        help="the hole's value in the --inputs mask files: 255 (white = hole, the default) or 0 "
                             "(black = hole, as MAT's and CoModGAN's scripts read masks)")
    return parser


def run_export(args: argparse.Namespace) -> int:
    escape = sinks.term

    try:
        if not (args.per_sample or args.outputs or args.inputs):
            raise BenchError("export: say what to export: --per-sample FILE, --outputs DIR and/or --inputs DIR")
        if args.mask_hole_value != 255 and not args.inputs:
            raise BenchError("export: --mask-hole-value says how the masks of --inputs are written; give --inputs DIR")
        if (args.outputs or args.inputs) and len(args.run) > 1:
            raise BenchError("export --outputs / --inputs: give one run folder")
        console = _console()
        if args.per_sample:
            from ..report.aggregate import per_sample

            df = per_sample(args.run if len(args.run) > 1 else args.run[0])
            path = Path(args.per_sample)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".parquet":
                from ..errors import require_extra

                require_extra("pyarrow", "report", "a .parquet export")
                with atomic_writer(path, suffix=path.suffix) as f:  # (never half a file for a pipeline to read)
                    df.to_parquet(f, index=False)
            else:
                import pandas as pd

                for c in df.columns:
                    if not pd.api.types.is_numeric_dtype(df[c]):
                        df[c] = df[c].astype(object).map(sinks.csv_cell)
                with atomic_writer(path, suffix=path.suffix) as f:
                    df.to_csv(f, index=False)
            console.print(f"wrote {len(df)} rows to {escape(str(path))}", highlight=False, soft_wrap=True)
        if args.outputs:
            from ..runner.export import export_outputs

            counts = export_outputs(args.run[0], args.outputs)
            console.print(f"wrote {sum(counts.values())} outputs to {escape(args.outputs)} ("
                          + ", ".join(f"{escape(k)}: {v}" for k, v in counts.items()) + ")",
                          highlight=False, soft_wrap=True)
        if args.inputs:
            from ..runner.export import export_inputs

            counts = export_inputs(args.run[0], args.inputs, mask_hole_value=args.mask_hole_value)
            n_err = counts.pop("errors", 0)
            console.print(f"wrote {sum(counts.values())} masked inputs to {escape(args.inputs)} ("
                          + ", ".join(f"{escape(k)}: {v}" for k, v in counts.items()) + ")"
                          + (f"; {n_err} sample(s) could not be read (listed in inputs.json)" if n_err else ""),
                          highlight=False, soft_wrap=True)
        return 0
    except BenchError as e:
        _err(str(e))
        return 2


# ------------------------------------------------------------------------------------------------------------------
# bench compare
# ------------------------------------------------------------------------------------------------------------------
def configure_compare(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("base", metavar="BASE", help="baseline: run folder or baseline JSON (bench report --format json)")
    parser.add_argument("new", metavar="NEW", help="candidate: run folder or baseline JSON")
    parser.add_argument("--tol", action="append", default=[], metavar="KEY=TOL",
                        help="allowed worsening per key: absolute (lpips_in=+0.005) or relative (fid=+2%%); "
                             "'*=...' sets a default for every key")
    parser.add_argument("--tol-file", metavar="YAML", help="YAML mapping key -> tolerance (or under 'tolerances:')")
    parser.add_argument("--strict", action="store_true",
                        help="gate every key without a rule at tolerance 0 (default: keys with a rule, error_rate, "
                             "and the statistical test of per-sample keys; see --alpha)")
    parser.add_argument("--alpha", type=float, default=ALPHA,
                        help="family-wise level of the default gate: per-sample metrics and detector rates without "
                             "a rule fail when NEW is worse on the shared samples (paired bootstrap, Holm-corrected "
                             f"p < alpha); the paired intervals shown are at 1 - alpha; 0 turns the test off (default "
                             f"{ALPHA})")
    parser.add_argument("--allow-missing", action="append", nargs="?", const="*", metavar="KEY",
                        help="NEW may lack KEY (repeatable; wildcards as in blur_*): its value, its samples and "
                             "its infinite values (psnr_out ∞ -> finite); a backend or cell name: that cell; alone "
                             "(after BASE NEW): NEW may lack any cell or key")
    parser.add_argument("--min-coverage", type=float, default=1.0, metavar="F",
                        help="share of the samples BASE scored that NEW must have scored in each cell "
                             "(default 1: every one; an interrupted or --limit run fails)")
    parser.add_argument("--allow-changed", action="append", default=[], metavar="LABEL",
                        help="metric or detector LABEL (wildcards; '*' for all) may have other parameters or "
                             "thresholds in NEW than in BASE (default: the gate fails, its numbers measure "
                             "something else)")
    parser.add_argument("--allow-noncomparable", action="store_true",
                        help="NEW may be marked non-comparable (random weights, a forced merge) where BASE is not "
                             "(default: the gate fails)")
    parser.add_argument("--out", metavar="FILE", help="also write the Markdown summary to FILE")
    return parser


def run_compare(args: argparse.Namespace) -> int:
    from ..report.compare import compare_sources, parse_tolerances

    try:
        rules = parse_tolerances(args.tol, args.tol_file)
        res = compare_sources(args.base, args.new, rules=rules, strict=args.strict,
                              allow_missing=args.allow_missing or False, alpha=args.alpha,
                              min_coverage=args.min_coverage, allow_changed=args.allow_changed,
                              allow_noncomparable=args.allow_noncomparable)
    except BenchError as e:
        _err(str(e))
        return 2
    md = res.markdown()
    sys.stdout.write(md)
    sys.stdout.flush()
    if args.out:
        write_text_atomic(Path(args.out), md)
    return 1 if res.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m bench.cli.report report RUN``)."""
    ap = argparse.ArgumentParser(prog="bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    configure_report(sub.add_parser("report", help="leaderboards in several formats")).set_defaults(func=run_report)
    configure_export(sub.add_parser("export", help="per-sample records")).set_defaults(func=run_export)
    configure_compare(sub.add_parser("compare", help="regression gate")).set_defaults(func=run_compare)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
