"""summarize / render_run on fake runs: means, intervals, infinities, errors, partial and merged runs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from bench.report.aggregate import load_run, mean_ci, per_sample, summarize
from bench.report.leaderboard import render_run
from bench.store.sqlite import RunStore
from tests.test_report_data import make_run
from tests.store_helpers import add_cell, write_records


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("r") / "run1", n=10, errors={"mean-fill": 3})


def test_summarize_means_match_records(run):
    df = summarize(run)
    assert len(df) == 3 * 2 * 2
    recs = RunStore(run / "records.sqlite").frame()
    sel = recs[(recs.backend == "opencv-telea") & (recs.dataset == "samples") & (recs["mask"] == "box")]
    row = df[(df.backend == "opencv-telea") & (df.dataset == "samples") & (df["mask"] == "box")].iloc[0]
    assert row.psnr_in == pytest.approx(sel.psnr_in.mean())
    assert row.lpips_in_lo < row.lpips_in < row.lpips_in_hi
    assert row.latency_p50 == pytest.approx(np.median(sel.latency_ms))
    assert row.images_per_s == pytest.approx(1000 / sel.latency_ms.mean())
    assert row.blur_rate == pytest.approx(sel.blur_flag.mean())
    assert row.peak_mem_mb == pytest.approx(300.0)  # CPU run: peak RSS
    assert row.n == 10 and row.n_errors == 0
    # paste-back backends: infinite PSNR outside the hole, reported as inf with a degenerate interval
    assert math.isinf(row.psnr_out) and row.psnr_out > 0


def test_errors_counted_and_excluded(run):
    df = summarize(run)
    mf = df[df.backend == "mean-fill"]
    assert (mf.n == 7).all() and (mf.n_errors == 3).all()
    assert mf.error_rate.iloc[0] == pytest.approx(0.3)
    assert "exploded" in mf.first_error.iloc[0]
    recs = RunStore(run / "records.sqlite").frame()
    ok = recs[(recs.backend == "mean-fill") & recs.error.isna() & (recs.dataset == "samples") & (recs["mask"] == "box")]
    assert mf[(mf.dataset == "samples") & (mf["mask"] == "box")].psnr_in.iloc[0] == pytest.approx(ok.psnr_in.mean())


def test_mean_with_inf_and_mixed():
    assert mean_ci([1.0, math.inf])[0] == math.inf
    m, lo, hi = mean_ci([1.0, math.inf])
    assert math.isnan(lo) and math.isnan(hi)
    assert mean_ci([math.inf, math.inf]) == (math.inf, math.inf, math.inf)
    m, lo, hi = mean_ci(np.arange(100.0))
    assert m == pytest.approx(49.5) and 40 < lo < 49.5 < hi < 60


def test_by_area_bin_labels(run):
    df = summarize(run, by=("backend", "area_bin"), ci=False)
    assert set(df.area_bin) <= {f"{b * 10}-{b * 10 + 10}%" for b in range(10)}
    recs = RunStore(run / "records.sqlite").frame()
    ok = recs[recs.error.isna() & (recs.backend == "opencv-ns") & (recs.area_bin == 2)]
    row = df[(df.backend == "opencv-ns") & (df.area_bin == "20-30%")].iloc[0]
    assert row.n == len(ok) and row.lpips_in == pytest.approx(ok.lpips_in.mean())


def test_partial_run_shows_cells_without_records(tmp_path):
    d = make_run(tmp_path / "p", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=4)
    s = RunStore(d / "records.sqlite")
    add_cell(s, "pending", "opencv-ns", "samples", "box", {})  # started, nothing written yet
    s.close()
    df = summarize(d)
    pend = df[df.backend == "opencv-ns"].iloc[0]
    assert pend.n == 0 and math.isnan(pend.psnr_in)


def test_merged_runs_prefer_success(tmp_path):
    a = make_run(tmp_path / "a", backends=("opencv-telea",), datasets=("samples",), masks=("box",),
                 sample_ids=["s000", "s001", "s002"], errors={"opencv-telea": 1})  # s000 failed here
    b = make_run(tmp_path / "b", backends=("opencv-telea",), datasets=("samples",), masks=("box",),
                 sample_ids=["s000", "s003"])  # ...and succeeded in the other shard
    for order in ([a, b], [b, a]):  # whichever folder comes first, the successful row wins
        df = summarize(order)
        assert df.n.iloc[0] == 4 and df.n_errors.iloc[0] == 0
    assert len(per_sample([a, b])) == 4
    assert load_run([a, b]).comparable


def test_merged_runs_with_different_config_not_comparable(tmp_path):
    a = make_run(tmp_path / "a", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=2)
    b = make_run(tmp_path / "b", backends=("opencv-ns",), datasets=("samples",), masks=("box",), n=2,
                 config_hash="zzz")
    df = summarize([a, b], ci=False)
    assert len(df) == 2
    assert df.attrs["comparable"] is False
    assert any("config hash" in r for r in df.attrs["noncomparable_reasons"])


def test_render_run_terminal_and_markdown(run):
    console = Console(record=True, width=100)
    res = render_run(run, console=console)
    text = console.export_text()
    assert "opencv-telea" in text and "lpips_in" in text and "ms ↓" in text and "p50 latency" in text and "∞" in text
    md = (run / "leaderboard.md").read_text()
    assert md == res["markdown"].read_text()
    assert "## dataset samples × mask box" in md
    # lpips_in (lower is better): telea's is the best of the three backends -> bold
    line = next(ln for ln in md.splitlines() if ln.startswith("| opencv-telea") )
    assert "**" in line
    assert "NOT COMPARABLE" not in md


def test_noncomparable_visible(tmp_path):
    d = make_run(tmp_path / "nc", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=3,
                 comparable=False, reasons=["device changed mid-run"])
    console = Console(record=True, width=120)
    render_run(d, console=console)
    text = console.export_text()
    assert "NOT COMPARABLE" in text and "device changed" in text
    assert "NOT COMPARABLE" in (d / "leaderboard.md").read_text()


def test_missing_run_folder_is_a_clear_error(tmp_path):
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="no such run folder"):
        summarize(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def test_store_input_timing_values_and_absent_metrics(tmp_path):
    s = RunStore(tmp_path / "x" / "records.sqlite")
    add_cell(s, "c", "identity", "samples", "box", {})
    write_records(s, "c", [{"sample_id": f"s{i}", "hole_fraction": 0.1, "area_bin": 1, "latency_ms": 5.0,
                         "batch_size": 1, "values": {"psnr_out": 30.0 + i, "wall_ms": 6.0, "psnr_in": float("nan")}}
                        for i in range(3)])
    df = summarize(s)
    assert "wall_ms" not in df.attrs["metric_keys"]  # a timing the runner stores, not a quality metric
    assert df.psnr_out.iloc[0] == pytest.approx(31.0)
    assert "psnr_in" not in df.columns or math.isnan(df.psnr_in.iloc[0])  # absent (no ground truth), not zero
    assert math.isnan(df.peak_mem_mb.iloc[0])  # no session recorded yet


def test_set_level_metrics_from_stored_features(tmp_path):
    pytest.importorskip("bench.metrics.setlevel")
    d = make_run(tmp_path / "f", backends=("opencv-telea", "mean-fill"), datasets=("samples",), masks=("box",),
                 n=12, features=True)
    df = summarize(d, ci=False)
    assert "fid" in df.attrs["setlevel_keys"] and df.attrs["columns"]["fid"]["higher_is_better"] is False
    fid = dict(zip(df.backend, df.fid))
    assert 0 <= fid["opencv-telea"] < fid["mean-fill"]  # mean-fill's features are shifted further
    # per area bin there is no set-level value (it needs every sample of the cell)
    assert "fid" not in summarize(d, by=("backend", "area_bin"), ci=False).columns


def test_per_sample_export_keeps_a_detectors_extra_scores_with_the_detectors(tmp_path):
    import json

    from bench.report.aggregate import per_sample
    from tests.test_report_data import make_run as make_full_run

    run = make_full_run(tmp_path / "run", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=4,
                        values=lambda b, d, sid: {"incomplete_detail_score": 0.5})
    man = json.loads((run / "manifest.json").read_text())  # as a run declares it: a score, not a metric
    man["columns"]["incomplete_detail_score"] = {"higher_is_better": None, "fmt": ".3f", "kind": "score"}
    (run / "manifest.json").write_text(json.dumps(man))
    cols = list(per_sample(run).columns)
    metrics = [c for c in ("psnr_in", "psnr_out", "ssim_in", "lpips_in") if c in cols]
    assert metrics and max(cols.index(c) for c in metrics) < cols.index("blur_score")  # metrics, then detectors
    assert cols.index("blur_flag") < cols.index("incomplete_detail_score") < cols.index("latency_ms")


def test_merged_manifests_add_up_their_work_and_keep_every_kept_sample():
    """`bench merge` of two shards: the merged manifest counts both shards' work (it showed the first one's), and
    with a sample limit the samples either kept."""
    from pathlib import Path

    from bench.store.manifest import merge_manifests

    a = {"run_id": "r", "config_hash": "h", "counts": {"generated": 20, "scored": 20, "backend_loads": 1},
         "sample_ids": {"ds": ["s0", "s1"]}}
    b = {"run_id": "r", "config_hash": "h", "counts": {"generated": 20, "scored": 19, "backend_loads": 1},
         "sample_ids": {"ds": ["s1", "s2"]}}
    m = merge_manifests([a, b], [Path("s0"), Path("s1")])
    assert m["counts"] == {"generated": 40, "scored": 39, "backend_loads": 2}
    assert m["sample_ids"] == {"ds": ["s0", "s1", "s2"]}
    assert "sample_ids" not in merge_manifests([a, {**b, "sample_ids": None}], [Path("s0"), Path("s1")])


def test_a_detector_rate_has_a_wilson_interval_that_is_never_a_point(tmp_path):
    """A rate of 0 of 8 flagged had the bootstrap interval [0, 0] ("0.000 ± 0.000"): every resample of eight zeros
    is zero, so the "95 %" interval missed any true rate above 0 (coverage about half at the 8 to 12 samples of a
    CI cell). Rates get the Wilson score interval of k flagged of the n judged (NaN flags: not judged)."""
    from scipy.stats import binomtest

    flags = {"s000": 1.0, "s001": math.nan}  # s001: not judged; the other six: not flagged
    run = make_run(tmp_path / "r", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=8,
                   values=lambda b, d, sid: {"blur_flag": flags.get(sid, 0.0), "noop_flag": 0.0})
    row = summarize(run).iloc[0]
    assert row.blur_rate == pytest.approx(1 / 7)
    ref = binomtest(1, 7).proportion_ci(0.95, method="wilson")
    assert (row.blur_rate_lo, row.blur_rate_hi) == pytest.approx((ref.low, ref.high))
    ref = binomtest(0, 8).proportion_ci(0.95, method="wilson")
    assert row.noop_rate == 0.0 and row.noop_rate_lo == pytest.approx(0.0, abs=1e-12)
    assert row.noop_rate_hi == pytest.approx(ref.high) and row.noop_rate_hi > 0.3


def test_one_sample_has_no_interval(tmp_path):
    """A group of one sample (a mask-area bin, a filtered paper table row) printed "20.77 ± 0.00": a 95 % interval
    of zero width from a single value, which has no spread to resample. It has no interval now; a rate keeps its
    Wilson interval (one judged sample leaves it wide)."""
    m, lo, hi = mean_ci([4.0])
    assert m == 4.0 and math.isnan(lo) and math.isnan(hi)
    run = make_run(tmp_path / "r", backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=1)
    row = summarize(run).iloc[0]
    assert row.n == 1 and math.isnan(row.psnr_in_lo) and math.isnan(row.lpips_in_hi)
    assert row.blur_rate_hi - row.blur_rate_lo > 0.7
    out = render_run(run, formats=("md",))["markdown"].read_text()
    assert "± 0.00" not in out and f"{row.psnr_in:.2f} |" in out
