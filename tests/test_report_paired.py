"""bench report RUN --compare A B: paired bootstrap between two backends on the same samples."""
import numpy as np
import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.report.aggregate import load_run
from bench.report.columns import ColumnCatalog
from bench.report.paired import compare_backends
from bench.store import RunStore
from tests.store_helpers import add_cell, write_records


def make_run(tmp_path, delta=0.3, n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(25.0, 4.0, n)  # per-image difficulty varies a lot: unpaired intervals would overlap
    run = tmp_path / "run"
    with RunStore(run / "records.sqlite") as s:
        for backend, shift in (("a", 0.0), ("b", delta)):
            key = f"{backend}.ds.m.x"
            add_cell(s, key, backend, "ds", "m", {})
            write_records(s, key, [{"sample_id": f"s{i:03d}", "values": {
                "psnr_in": float(base[i] + shift + rng.normal(0, 0.05)),
                "lpips_in": float(0.3 - shift / 10 + rng.normal(0, 0.002))}, "error": None} for i in range(n)])
    return run


def test_consistent_small_difference_is_resolved(tmp_path):
    run = make_run(tmp_path, delta=0.3)
    df = compare_backends(load_run(run), "a", "b").set_index("metric")
    assert df.loc["psnr_in", "lo"] < 0.3 < df.loc["psnr_in", "hi"] and df.loc["psnr_in", "lo"] > 0
    assert df.loc["psnr_in", "better"] == "b" and df.loc["lpips_in", "better"] == "b"  # lower lpips is better
    assert df.loc["psnr_in", "p_value"] < 0.01 and df.loc["psnr_in", "n"] == 40


def test_no_difference_names_no_winner(tmp_path):
    df = compare_backends(load_run(make_run(tmp_path, delta=0.0)), "a", "b").set_index("metric")
    assert df.loc["psnr_in", "lo"] <= 0 <= df.loc["psnr_in", "hi"] and df.loc["psnr_in", "better"] == "—"


def test_cli_and_unknown_backend(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["report", str(run), "--compare", "a", "b", "--format", "md"]) == 0
    text = (run / "compare_a_vs_b.md").read_text()
    assert "| psnr_in | 40 |" in text and "b − a" in text
    assert text.startswith("# Paired comparison: a vs b")  # as the file is named
    with pytest.raises(BenchError, match="no backend 'c'"):
        compare_backends(load_run(run), "a", "c")
    assert main(["report", str(run), "--compare", "a", "c", "--format", "md"]) == 2
    # said before anything is printed or written (the leaderboard came first, then the error)
    (run / "leaderboard.md").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["report", str(run), "--compare", "a", "c"]) == 2
    out, err = capsys.readouterr()
    assert "no backend 'c'" in err and out == "" and not (run / "leaderboard.md").exists()


def _two_backends(tmp_path, values) -> "Path":
    """A run of backends a and b on one dataset × mask, ten samples, ``values(backend, i)`` the i-th sample's."""
    run = tmp_path / "run"
    with RunStore(run / "records.sqlite") as s:
        for backend in ("a", "b"):
            key = f"{backend}.ds.m.x"
            add_cell(s, key, backend, "ds", "m", {})
            write_records(s, key, [{"sample_id": f"s{i:03d}", "values": values(backend, i), "error": None}
                                   for i in range(10)])
    return run


def test_infinite_on_one_side_is_counted_and_names_the_better(tmp_path):
    """psnr_out ∞ (outside kept exactly) for a, finite for b on 4 samples: not averaged into the difference (it
    would make it -∞ and the p-value undefined), counted, and it makes a the better on psnr_out."""
    run = _two_backends(tmp_path, lambda backend, i: {
        "psnr_out": 31.0 if backend == "b" and i < 4 else float("inf")})
    df = compare_backends(load_run(run), "a", "b").set_index("metric")
    assert df.loc["psnr_out", "inf_a"] == 4 and df.loc["psnr_out", "inf_b"] == 0 and df.loc["psnr_out", "n"] == 0
    assert df.loc["psnr_out", "better"] == "a"
    assert main(["report", str(run), "--compare", "a", "b", "--format", "md"]) == 0
    assert "psnr_out: infinite for a only on 4 samples" in (run / "compare_a_vs_b.md").read_text()


def test_failure_rates_and_verdict_shares_are_compared_paired(tmp_path):
    """How two backends fail, on the samples both scored: each flag's rate and each verdict's share, as 0/1 per
    sample through the same paired test; a detector score is no metric here, and a failure neither shows is left out."""
    from tests.test_report_data import make_run as make_full_run

    import json

    run = make_full_run(tmp_path / "run", backends=("opencv-telea", "mean-fill"), datasets=("samples",),
                        masks=("box",), n=40, values=lambda b, d, sid: {"incomplete_detail_score": 0.5})
    man = json.loads((run / "manifest.json").read_text())  # as a run writes it: the score declared a score
    man["columns"]["incomplete_detail_score"] = {"higher_is_better": None, "fmt": ".3f", "kind": "score"}
    (run / "manifest.json").write_text(json.dumps(man))
    rd = load_run(run)
    df = compare_backends(rd, "opencv-telea", "mean-fill").set_index("metric")
    frame = rd.frame()
    rate = {b: float(frame.loc[frame["backend"] == b, "blur_flag"].mean()) for b in ("opencv-telea", "mean-fill")}
    share = {b: float((frame.loc[frame["backend"] == b, "failure"] == "blur").mean()) for b in rate}
    assert rate["mean-fill"] > 0.6 > 0.3 > rate["opencv-telea"]  # the run's own flags (90 % against 10 %)
    assert df.loc["blur_rate", "mean_opencv-telea"] == pytest.approx(rate["opencv-telea"])
    assert df.loc["blur_rate", "diff"] == pytest.approx(rate["mean-fill"] - rate["opencv-telea"])
    assert df.loc["blur_rate", "n"] == 40 and df.loc["blur_rate", "better"] == "opencv-telea"  # fewer smears
    assert df.loc["failure_blur", "diff"] == pytest.approx(share["mean-fill"] - share["opencv-telea"])
    assert df.loc["failure_ok", "better"] == "opencv-telea"  # more clean fills is better
    # detector scores are not metrics: by the kind the run declared, else (older runs) by the detector's name
    assert "incomplete_detail_score" not in df.index and "blur_score" not in df.index
    assert "replacement_rate" not in df.index  # neither backend was flagged: nothing to compare
    order = list(df.index)
    assert max(order.index(k) for k in ("psnr_in", "lpips_in")) < order.index("blur_rate")  # metrics first


def test_piped_comparison_is_printed_whole(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["report", str(run), "--compare", "a", "b", "--format", "term"]) == 0
    out = capsys.readouterr().out  # captured: no terminal, so no wrapping or cut names
    row = next(ln for ln in out.splitlines() if ln.startswith("| psnr_in |"))
    assert row.count("|") == 10 and "[" in row and "]" in row  # one line: the interval not wrapped


def _borderline_run(tmp_path, keys, noise=0.0):
    """psnr_in: B − A = 0.55 + z (z of mean 0, sd 1 exactly, n 20: t ≈ 2.5, raw p ≈ 0.02); every other key: B = A
    plus, with ``noise``, a difference of mean 0 and that sd on each sample."""
    rng = np.random.default_rng(3)
    n = 20
    z = rng.normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    run = tmp_path / "border"
    with RunStore(run / "records.sqlite") as s:
        base = {k: rng.uniform(0.2, 0.8, n) for k in keys}
        jitter = {k: rng.normal(0, noise, n) for k in keys}
        for backend in ("a", "b"):
            key = f"{backend}.ds.m.x"
            add_cell(s, key, backend, "ds", "m", {})
            rows = []
            for i in range(n):
                vals = {k: float(base[k][i] + (jitter[k][i] if backend == "b" else 0.0)) for k in keys}
                vals["psnr_in"] = 20.0 + base[keys[0]][i] + ((0.55 + z[i]) if backend == "b" else 0.0)
                rows.append({"sample_id": f"s{i:03d}", "values": vals, "error": None})
            write_records(s, key, rows)
    return run


MANY = ["psnr_in", "psnr_out", "ssim_in", "ssim_out", "lpips_in", "lpips_out", "psnr_full", "ssim_full", "lpips_full"]


def test_better_needs_holm_over_the_tables_rows(tmp_path):
    """One borderline difference among nine rows: its raw interval excludes 0 (p about 0.02), but with eight other
    rows that differ (by noise) tested beside it that is what chance gives; Holm's adjusted p is above 0.05, so no
    backend is called better. With one metric, the same difference is."""
    df = compare_backends(load_run(_borderline_run(tmp_path / "many", MANY, noise=0.05)), "a", "b")
    df = df.set_index("metric")
    r = df.loc["psnr_in"]
    assert r["lo"] > 0 and r["p_value"] < 0.05 and r["p_holm"] > 0.05 and r["better"] == "—"
    assert df.loc[MANY, "p_value"].idxmin() == "psnr_in"
    assert r["p_holm"] == pytest.approx(min(1.0, r["p_value"] * len(MANY)))  # the smallest p: times the family size
    alone = compare_backends(load_run(_borderline_run(tmp_path / "one", ["psnr_in"])), "a", "b").set_index("metric")
    assert alone.loc["psnr_in", "p_holm"] < 0.05 and alone.loc["psnr_in", "better"] == "b"


def test_unchanged_rows_are_not_in_the_holm_family(tmp_path):
    """The same borderline difference beside eight keys equal on every sample (and a verdict share equal for both):
    those rows cannot reject, so they are left out of the family (as `bench compare` leaves them out) and do not
    dilute it: b is better, as with psnr_in alone. They were counted, and adding unchanged columns took it away."""
    df = compare_backends(load_run(_borderline_run(tmp_path, MANY)), "a", "b").set_index("metric")
    r = df.loc["psnr_in"]
    assert r["p_holm"] == pytest.approx(r["p_value"]) and r["better"] == "b"
    others = df.drop(index="psnr_in")
    assert len(others) >= 8 and (others["diff"] == 0).all() and others["p_holm"].isna().all()
    assert (others["better"] == "—").all()


def test_rows_without_a_direction_are_not_in_the_holm_family(tmp_path):
    """Keys no scorer gave a direction (a plug-in's undeclared score) are shown with their test, but can name no
    better backend, so they are no part of the family that decides one: eight such keys differing by noise beside
    the borderline psnr_in leave it better, as alone (they diluted it to p times nine)."""
    keys = ["psnr_in"] + [f"custom_{i}" for i in range(8)]
    df = compare_backends(load_run(_borderline_run(tmp_path, keys, noise=0.05)), "a", "b").set_index("metric")
    assert ColumnCatalog(None)("custom_0").higher_is_better is None
    r = df.loc["psnr_in"]
    assert r["p_holm"] == pytest.approx(r["p_value"]) and r["better"] == "b"
    others = df.loc[keys[1:]]
    assert others["p_value"].notna().all() and others["p_holm"].isna().all() and (others["better"] == "—").all()


def test_the_two_means_are_over_the_pairs_the_difference_is_over(tmp_path):
    """A flag b's detector did not judge (NaN) on four samples that a flagged: the difference and n are over the
    six pairs judged on both sides, and the two means beside it were over each side's own samples (a 0.4, b 0,
    diff +0 with n = 6: a table that contradicts itself). Both means are now over those same pairs."""
    nan = float("nan")
    run = _two_backends(tmp_path, lambda backend, i: {
        "blur_flag": (1.0 if backend == "a" else nan) if i < 4 else 0.0})
    r = compare_backends(load_run(run), "a", "b").set_index("metric").loc["blur_rate"]
    assert r["n"] == 6 and r["diff"] == 0.0
    assert r["mean_a"] == 0.0 and r["mean_b"] == 0.0


def test_infinities_against_the_test_name_no_backend(tmp_path):
    """psnr_out: b higher by about 1 dB on 16 samples (a clear test), but ∞ for a (outside kept exactly) and finite
    for b on 4 others. `bench compare` of a to b gates that as a regression (∞ lost); the paired table named b the
    better. The evidence points both ways: no backend is named, and the ∞ count says why."""
    from bench.report.compare import compare_sources

    rng = np.random.default_rng(5)
    base = rng.normal(30.0, 3.0, 20)
    gain = 1.0 + rng.normal(0, 0.3, 20)

    def value(backend, i):
        if i < 4:
            return {"psnr_out": float("inf") if backend == "a" else 40.0}
        return {"psnr_out": float(base[i] + (gain[i] if backend == "b" else 0.0))}

    def write(run, backends):
        with RunStore(run / "records.sqlite") as s:
            for label, name in backends:
                add_cell(s, f"{label}.ds.m", label, "ds", "m", {})
                write_records(s, f"{label}.ds.m", [{"sample_id": f"s{i:03d}", "values": value(name, i),
                                                   "error": None} for i in range(20)])
        return run

    r = compare_backends(load_run(write(tmp_path / "both", [("a", "a"), ("b", "b")])), "a", "b")
    r = r.set_index("metric").loc["psnr_out"]
    assert r["n"] == 16 and r["lo"] > 0 and r["p_holm"] < 0.05 and r["inf_a"] == 4 and r["inf_b"] == 0
    assert r["better"] == "—"
    gate = compare_sources(write(tmp_path / "ra", [("m", "a")]), write(tmp_path / "rb", [("m", "b")]))
    assert {c.key: c for c in gate.changes}["psnr_out"].status == "regression"
    # one way only: the ∞ alone still names a (the test of the infinite-only test above), the test alone b
    only_test = compare_backends(load_run(_two_backends(tmp_path / "t", lambda backend, i: {
        "psnr_out": float(base[i] + (gain[i] if backend == "b" else 0.0))})), "a", "b")
    assert only_test.set_index("metric").loc["psnr_out", "better"] == "b"
