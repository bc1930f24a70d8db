"""`bench compare`: exit codes and summaries for better, worse, within tolerance, missing cells, baselines."""
from __future__ import annotations

import json

import pytest

from bench.cli.report import main
from bench.report.compare import compare_sources, parse_tolerances
from tests.store_helpers import SCORER
from tests.test_report_data import make_run

ONE = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=12)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    return {
        "base": make_run(root / "base", **ONE),
        "same": make_run(root / "same", **ONE, run_id="same"),
        "worse": make_run(root / "worse", **ONE, shift={"opencv-telea": 0.02}, run_id="worse"),
        "slightly": make_run(root / "slightly", **ONE, shift={"opencv-telea": 0.003}, run_id="slightly"),
        "better": make_run(root / "better", **ONE, shift={"opencv-telea": -0.03}, run_id="better"),
        "slow": make_run(root / "slow", **ONE, latency_scale={"opencv-telea": 1.3}, run_id="slow"),
        "errors": make_run(root / "errors", **ONE, errors={"opencv-telea": 2}, run_id="errors"),
        "two": make_run(root / "two", backends=("opencv-telea", "opencv-ns"), datasets=("samples",),
                        masks=("box",), n=12, run_id="two"),
    }


def _compare(capsys, *args):
    code = main(["compare", *map(str, args)])
    return code, capsys.readouterr().out


def test_identical_passes(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["same"], "--tol", "lpips_in=+0.005")
    assert code == 0
    assert "✅" in out and "no regression" in out and "0 worse" in out


def test_worse_beyond_tolerance_fails(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["worse"], "--tol", "lpips_in=+0.005")
    assert code == 1
    assert "❌" in out and "### ❌ Regressions" in out
    reg = out.split("### ❌ Regressions")[1].split("###")[0].split("<details>")[0]
    assert "`lpips_in` ↓" in reg and "+0.020" in reg and "≤ 0.005" in reg
    assert "[+0.020, +0.020]" in reg  # paired interval of the difference (constant shift)
    # psnr_in has no rule: the default statistical gate catches it (every sample 0.4 dB worse)
    psnr = [line for line in reg.splitlines() if "`psnr_in`" in line]
    assert psnr and "(Holm)" in psnr[0] and "d = ∞" in psnr[0] and "n = 12" in psnr[0]
    code, out = _compare(capsys, runs["base"], runs["worse"], "--tol", "lpips_in=+0.005", "--alpha", "0")
    reg = out.split("### ❌ Regressions")[1].split("<details>")[0]
    assert code == 1 and "`psnr_in`" not in reg and "not gated: statistical gate off" in out


def test_worse_within_tolerance_passes(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["slightly"], "--tol", "lpips_in=+0.005", "--tol", "psnr_in=-0.1")
    assert code == 0
    assert "within" in out and "`lpips_in`" in out.split("<details>")[1]


def test_better_passes_and_is_listed(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["better"], "--tol", "lpips_in=+0.005", "--tol", "psnr_in=-0.1")
    assert code == 0
    better = out.split("### Better")[1]
    assert "`lpips_in` ↓" in better and "−0.030" in better and "`psnr_in` ↑" in better


def test_relative_tolerance_on_latency(runs, capsys):
    assert _compare(capsys, runs["base"], runs["slow"], "--tol", "latency_p50=+50%")[0] == 0
    code, out = _compare(capsys, runs["base"], runs["slow"], "--tol", "latency_p50=+10%")
    assert code == 1 and "`latency_p50`" in out and "(+10%)" in out


def test_strict_gates_unruled_keys(runs, capsys):
    assert _compare(capsys, runs["base"], runs["worse"], "--alpha", "0")[0] == 0  # no rule, no test: not gated
    assert _compare(capsys, runs["base"], runs["worse"], "--strict")[0] == 1
    assert _compare(capsys, runs["base"], runs["worse"], "--tol", "*=+50%")[0] == 0


def test_new_errors_always_regress(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["errors"])
    assert code == 1 and "`error_rate`" in out


def test_missing_cells(runs, capsys):
    code, out = _compare(capsys, runs["two"], runs["base"])
    assert code == 1
    assert "missing in NEW: **opencv-ns × samples × box**" in out and "fails the gate" in out
    code, out = _compare(capsys, runs["two"], runs["base"], "--allow-missing")
    assert code == 0 and "allowed by --allow-missing" in out
    code, out = _compare(capsys, runs["two"], runs["base"], "--allow-missing", "opencv-ns")  # by backend name
    assert code == 0 and "allowed by --allow-missing" in out
    assert _compare(capsys, runs["two"], runs["base"], "--allow-missing", "mean-fill")[0] == 1
    code, out = _compare(capsys, runs["base"], runs["two"])  # a new cell is informational
    assert code == 0 and "➕ opencv-ns × samples × box" in out


def test_baseline_json_roundtrip(runs, tmp_path, capsys):
    out_dir = tmp_path / "rep"
    assert main(["report", str(runs["base"]), "--format", "json", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    baseline = out_dir / "baseline.json"
    doc = json.loads(baseline.read_text())
    assert doc["format"] == "inpaint-bench-baseline" and doc["cells"][0]["values"]["psnr_out"] == "inf"
    code, out = _compare(capsys, baseline, runs["same"], "--tol", "lpips_in=+0.005")
    assert code == 0, out
    code, out = _compare(capsys, baseline, runs["worse"], "--tol", "lpips_in=+0.005")
    assert code == 1 and "`lpips_in`" in out


def test_tolerance_file_and_errors(runs, tmp_path, capsys):
    f = tmp_path / "tol.yaml"
    f.write_text("tolerances:\n  lpips_in: +0.005\n  fid: +2%\n")
    rules = parse_tolerances([], f)
    assert rules["lpips_in"].value == 0.005 and rules["fid"].relative and rules["fid"].value == 2
    assert _compare(capsys, runs["base"], runs["worse"], "--tol-file", f)[0] == 1
    code = main(["compare", str(runs["base"]), str(runs["same"]), "--tol", "lpips_in=abc"])
    assert code == 2 and "expected a number" in capsys.readouterr().err
    code, _ = _compare(capsys, runs["base"], tmp_path / "nope")
    assert code == 2


def test_unknown_tolerance_key_is_reported(runs):
    res = compare_sources(runs["base"], runs["same"], rules=parse_tolerances(["lpip_in=+0.01"]))
    assert "did you mean `lpips_in`" in res.markdown()


def test_noncomparable_is_stated(runs, tmp_path):
    nc = make_run(tmp_path / "nc", **ONE, comparable=False, reasons=["ran on a different GPU"], config_hash="other")
    md = compare_sources(runs["base"], nc).markdown()
    assert "NOT COMPARABLE (new)" in md and "ran on a different GPU" in md and "Different suite configurations" in md


# ------------------------------------------------------------------------------------------------------------------
# the default gate: a paired test on the shared samples
# ------------------------------------------------------------------------------------------------------------------
def test_a_clearly_worse_model_fails_with_no_tolerance(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["worse"])
    assert code == 1, out
    assert "Default gate" in out and "Holm" in out and "family-wise α = 0.05" in out
    reg = out.split("### ❌ Regressions")[1].split("###")[0]
    assert "`lpips_in` ↓" in reg and "`psnr_in` ↑" in reg and "[+0.020, +0.020]" in reg
    assert "`latency_p50`" not in reg  # cost keys are never tested
    code, out = _compare(capsys, runs["base"], runs["same"])
    assert code == 0 and "✅" in out
    code, out = _compare(capsys, runs["base"], runs["better"])
    assert code == 0


def test_noise_alone_does_not_fail_but_a_real_shift_does(tmp_path, capsys):
    """Two runs of the same model with independent noise (different seeds) pass; a shift fails. Under the null the
    gate fails at most alpha of the time by design (checked on simulated comparisons in the next test), so any
    one pair of seeds is one draw: seeds 1 and 2 happen to be a false alarm (blur_rate p = 0.01), 3 and 4 not."""
    a = make_run(tmp_path / "a", **{**ONE, "n": 40}, seed=3)
    b = make_run(tmp_path / "b", **{**ONE, "n": 40}, seed=4, run_id="b")
    code, out = _compare(capsys, a, b, "--tol", "error_rate=0")
    assert code == 0, out
    c = make_run(tmp_path / "c", **{**ONE, "n": 40}, seed=4, shift={"opencv-telea": 0.05}, run_id="c")
    code, out = _compare(capsys, a, c)
    assert code == 1 and "`lpips_in`" in out.split("### ❌ Regressions")[1]


def test_paired_test_matches_the_paired_t_test_and_holds_its_level():
    import numpy as np
    from scipy import stats

    from bench.report.compare import holm, paired_test

    rng = np.random.default_rng(0)
    base = rng.normal(0.3, 0.05, 300)
    new = base + rng.normal(0.004, 0.03, 300)
    t = paired_test(base, new)
    ref = stats.ttest_rel(new, base)
    assert abs(t.p_value - ref.pvalue) < 0.02 and t.mean_diff == pytest.approx(float(np.mean(new - base)))
    assert t.lo < t.mean_diff < t.hi
    assert t.effect_size == pytest.approx(np.mean(new - base) / np.std(new - base, ddof=1))
    # family-wise error under the null: 10 tests per comparison, 300 comparisons
    alarms = 0
    for _ in range(300):
        tests = [paired_test(x := rng.normal(0, 1, 30), x + rng.normal(0, 1, 30), n_boot=400) for _ in range(10)]
        alarms += bool(holm(tests, 0.05))
    assert alarms / 300 < 0.09  # nominal 0.05; the bootstrap is slightly liberal at n = 30
    # power: half a standard deviation over 60 samples is found
    x = rng.normal(0, 1, 60)
    assert holm([paired_test(x, x + 0.5 + rng.normal(0, 1, 60))], 0.05) == {0}


def test_baseline_carries_device_versions_and_samples_and_gates_by_default(runs, tmp_path, capsys):
    out_dir = tmp_path / "rep"
    assert main(["report", str(runs["base"]), "--format", "json", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    doc = json.loads((out_dir / "baseline.json").read_text())
    assert doc["device"] == {"type": "cpu"} and doc["config_hash"] == "abc123" and "packages" in doc
    samples = doc["cells"][0]["samples"]
    assert len(samples["sample_id"]) == 12 and len(samples["lpips_in"]) == 12 and "latency_ms" not in samples
    code, out = _compare(capsys, out_dir / "baseline.json", runs["worse"])
    assert code == 1 and "(Holm)" in out
    assert _compare(capsys, out_dir / "baseline.json", runs["same"])[0] == 0
    for cell in doc["cells"]:  # a baseline from before per-sample values: reported, not gated, says why
        cell.pop("samples")
    (tmp_path / "old.json").write_text(json.dumps(doc))
    code, out = _compare(capsys, tmp_path / "old.json", runs["worse"])
    assert code == 0 and "no per-sample values on both sides" in out


# ------------------------------------------------------------------------------------------------------------------
# the gate cannot be passed by doing less (issue 27): missing keys, missing samples, unpaired labels, lost ∞
# ------------------------------------------------------------------------------------------------------------------
NAN = float("nan")


def _status(res, key):
    return {c.key: c for c in res.changes}[key].status


def test_dropped_metrics_and_detectors_fail_naming_them(runs, tmp_path, capsys):
    """NEW ran `metrics: [psnr]` and no detectors (BASE had ssim, lpips and blur): the keys it dropped fail."""
    few = make_run(tmp_path / "few", **ONE, run_id="few",
                   values=lambda b, d, s: {"ssim_in": NAN, "lpips_in": NAN, "blur_score": NAN, "blur_flag": NAN})
    code, out = _compare(capsys, runs["base"], few)
    assert code == 1, out
    assert "missing key" in out.split("\n")[0]
    keys_part = out.split("### ❌ Keys missing in NEW")[1].split("###")[0]
    for k in ("`ssim_in`", "`lpips_in`", "`blur_rate`"):
        assert k in keys_part
    assert "`psnr_in`" not in keys_part and "`latency_p50`" not in keys_part
    # relaxed key by key, and the relaxation is recorded in the summary
    code, out = _compare(capsys, runs["base"], few, "--allow-missing", "ssim_in", "--allow-missing", "lpips_in")
    assert code == 1 and "`blur_rate`" in out.split("### ❌ Keys missing in NEW")[1]
    code, out = _compare(capsys, runs["base"], few, "--allow-missing", "ssim_in", "--allow-missing", "lpips_in",
                         "--allow-missing", "blur_rate")
    assert code == 0, out
    assert "--allow-missing ssim_in, lpips_in, blur_rate" in out and "allowed by --allow-missing" in out


def test_new_run_on_fewer_samples_fails_on_coverage(runs, tmp_path, capsys):
    """`--limit 2` (or an interrupted run): NEW scored 2 of BASE's 12 samples; the old gate passed it ("not gated:
    only 2 shared samples")."""
    ids = [f"s{i:03d}" for i in range(12)]
    limited = make_run(tmp_path / "lim", **ONE, run_id="lim", sample_ids=ids[:2], shift={"opencv-telea": 0.3})
    code, out = _compare(capsys, runs["base"], limited)
    assert code == 1, out
    cov = out.split("### ❌ Coverage")[1].split("###")[0]
    assert "NEW scored 2 of the 12 samples BASE scored" in cov and "s002" in cov
    code, out = _compare(capsys, runs["base"], limited, "--min-coverage", "0.1")
    assert "--min-coverage 0.1" in out and "### ❌ Coverage" not in out
    # relaxed coverage does not make the unpaired means decide anything: psnr_in fell 6 dB on the 2 shared samples
    # and that is not gated by the test (2 < 3 pairs), nor called better/worse from means over other samples
    res = compare_sources(runs["base"], limited, min_coverage=0.1)
    assert _status(res, "psnr_in") == "ungated" and "2 shared samples" in {c.key: c for c in res.changes}["psnr_in"].note
    # an interrupted NEW (half its samples) fails the same way; --min-coverage 0.5 lets it through
    half = make_run(tmp_path / "half", **ONE, run_id="half", sample_ids=ids[:6])
    assert _compare(capsys, runs["base"], half)[0] == 1
    assert _compare(capsys, runs["base"], half, "--min-coverage", "0.5")[0] == 0
    # a key NEW left empty on some of BASE's samples is listed per key, by its summary name
    holes = make_run(tmp_path / "holes", **ONE, run_id="holes",
                     values=lambda b, d, s: {"blur_flag": NAN, "blur_score": NAN} if int(s[1:]) < 3 else {})
    code, out = _compare(capsys, runs["base"], holes)
    assert code == 1 and "`blur_rate`: NEW scored 9 of the 12 samples BASE scored" in out, out
    assert _compare(capsys, runs["base"], holes, "--allow-missing", "blur_*")[0] == 0
    with pytest.raises(Exception, match="min-coverage"):
        compare_sources(runs["base"], half, min_coverage=1.5)


def test_better_and_worse_come_from_paired_samples_only(runs, tmp_path, capsys):
    """The same model on a subset of the samples: every per-sample value is identical, so nothing is better or
    worse, although every mean differs (the old gate called keys better from means over different samples)."""
    ids = [f"s{i:03d}" for i in range(12)]
    easy = make_run(tmp_path / "easy", **ONE, run_id="easy", sample_ids=ids[:6])
    res = compare_sources(runs["base"], easy, min_coverage=0.5)
    for c in res.changes:
        if c.key in ("psnr_in", "ssim_in", "lpips_in", "blur_rate"):
            assert c.status == "same", (c.key, c.status, c.base, c.new)
    # full coverage, independent noise (another seed): a key whose mean improved is not "better" unless the
    # paired test says so (Holm over the comparison's tests)
    noisy = make_run(tmp_path / "noisy", **{**ONE, "n": 12}, seed=5, run_id="noisy")
    res = compare_sources(runs["base"], noisy)
    import numpy as np
    for c in res.changes:
        if c.test is not None and c.status == "better":
            assert c.test.p_adjusted < 0.05 and not (c.test.lo <= 0 <= c.test.hi)
        if c.test is not None and not (c.test.lo <= 0 <= c.test.hi):
            continue
        if c.test is not None:
            assert c.status in ("insignificant", "same"), (c.key, c.status)
    improved = [c for c in res.changes if c.test is not None and c.test.lo <= 0 <= c.test.hi
                and (np.sign(c.new - c.base) == (1 if c.higher_is_better else -1))]
    assert improved, "the fixture should have a key whose mean improved by noise"


def test_lost_infinity_is_gated_and_counted(runs, tmp_path, capsys):
    """psnr_out ∞ (outside kept exactly) -> 30 dB: on every sample, and on some samples only (where the mean
    stays ∞ and the leaderboard used to show ∞ as if nothing happened)."""
    every = make_run(tmp_path / "every", **ONE, run_id="every", values=lambda b, d, s: {"psnr_out": 30.0})
    code, out = _compare(capsys, runs["base"], every)
    assert code == 1, out
    reg = out.split("### ❌ Regressions")[1].split("###")[0]
    line = [x for x in reg.splitlines() if "`psnr_out`" in x][0]
    assert "∞ → finite on 12 of 12 samples" in line and "outside the hole no longer kept exactly" in line
    some = make_run(tmp_path / "some", **ONE, run_id="some",
                    values=lambda b, d, s: {"psnr_out": 30.0} if int(s[1:]) < 4 else {})
    code, out = _compare(capsys, runs["base"], some)
    assert code == 1 and "∞ → finite on 4 of 12 samples" in out, out
    assert "∞ (8 of 12)" in out  # NEW's mean is ∞, but only 8 of its 12 values are
    # the way back (a backend that starts keeping the outside) is better, not a failure
    code, out = _compare(capsys, some, runs["base"])
    assert code == 0 and "`psnr_out`" in out.split("### Better")[1]


def test_leaderboard_shows_partial_infinity(tmp_path, capsys):
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import leaderboard_tables
    from bench.report.table import render_markdown

    some = make_run(tmp_path / "some", **ONE, run_id="some",
                    values=lambda b, d, s: {"psnr_out": 30.0} if int(s[1:]) < 4 else {})
    df = summarize(some)
    md = render_markdown(leaderboard_tables(df)[0])
    assert "∞ (8 of 12)" in md
    from bench.report.paper import flat_table
    from bench.report.table import render_csv

    rows = list(__import__("csv").DictReader(render_csv(flat_table(df)).splitlines()))
    assert (rows[0]["psnr_out"], rows[0]["psnr_out_n_inf"], rows[0]["psnr_out_n_values"]) == ("inf", "8", "12")
    assert "psnr_out_n_inf_lo" not in rows[0]
    from bench.report.html import write_html

    html = write_html(some, tmp_path / "r.html").read_text()
    assert "∞ (8 of 12)" in html
    full = summarize(make_run(tmp_path / "full", **ONE))  # every value ∞: plain ∞
    md = render_markdown(leaderboard_tables(full)[0])
    assert "| ∞ |" in md.replace("**", "") and " of 12)" not in md


def test_compare_and_report_compare_give_the_same_p_values(tmp_path, capsys):
    """One paired test: `bench compare RUN_A RUN_B` (the same backend name in two runs) and `bench report RUN
    --compare a b` (two backends of one run) on the same per-sample values give the same p-values."""
    import numpy as np

    from bench.report.aggregate import load_run
    from bench.report.paired import compare_backends
    from bench.store import RunStore
    from tests.store_helpers import add_cell, write_records

    rng = np.random.default_rng(11)
    difficulty = rng.normal(25.0, 3.0, 30)
    vals = {"a": difficulty + rng.normal(0, 0.4, 30), "b": difficulty + 0.25 + rng.normal(0, 0.4, 30)}
    lp = {"a": 0.3 + rng.normal(0, 0.02, 30), "b": 0.3 + rng.normal(0, 0.02, 30)}

    def rows(name):
        return [{"sample_id": f"s{i:03d}", "values": {"psnr_in": float(vals[name][i]), "lpips_in": float(lp[name][i])},
                 "error": None} for i in range(30)]

    def write(run, backends):
        with RunStore(run / "records.sqlite") as s:
            for label, name in backends:
                add_cell(s, f"{label}.ds.m", label, "ds", "m", {})
                write_records(s, f"{label}.ds.m", rows(name))
        return run

    both = write(tmp_path / "both", [("a", "a"), ("b", "b")])
    run_a = write(tmp_path / "ra", [("m", "a")])
    run_b = write(tmp_path / "rb", [("m", "b")])
    paired = compare_backends(load_run(both), "a", "b").set_index("metric")
    res = compare_sources(run_a, run_b)
    by_key = {c.key: c for c in res.changes}
    for key in ("psnr_in", "lpips_in"):
        t = by_key[key].test
        assert t is not None and t.n == 30
        assert t.p_value == paired.loc[key, "p_value"]
        assert (t.mean_diff, t.lo, t.hi) == (paired.loc[key, "diff"], paired.loc[key, "lo"], paired.loc[key, "hi"])
    assert paired.loc["psnr_in", "p_value"] < 0.05 < paired.loc["lpips_in", "p_value"]
    # and through the two commands' own outputs
    assert main(["report", str(both), "--compare", "a", "b", "--format", "md"]) == 0
    text = (both / "compare_a_vs_b.md").read_text()
    assert f"| {paired.loc['lpips_in', 'p_value']:.3f} |" in text


def test_a_run_on_other_inputs_is_not_paired_with_base(tmp_path, capsys):
    """The same sample ids on other masked images or masks (another seed or resolution) are not the same samples: the
    gate sets them aside and fails on coverage, naming why; a worse backend renamed to BASE's name at another
    resolution passed before. The same through a baseline file."""
    import yaml

    from bench.cli import main as cli

    def suite(name, **kw):
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump({"name": name, "output_dir": str(tmp_path / "res"), "device": "cpu",
                                     "resolution": 64, "seed": 0, "backends": [{"type": "opencv-telea",
                                                                               "name": "model"}],
                                     "datasets": [{"type": "synthetic", "n": 4}], "masks": ["box"],
                                     "metrics": ["psnr"], **kw}))
        assert cli(["run", str(p), "--no-progress", "--no-report"]) == 0
        return tmp_path / "res" / name

    base = suite("base")
    same = suite("same")
    seed = suite("seed", seed=1)
    worse = suite("worse", resolution=96, backends=[{"type": "mean-fill", "name": "model"}])
    code, out = _compare(capsys, base, same)
    assert code == 0 and "Other inputs" not in out, out
    for new in (seed, worse):
        code, out = _compare(capsys, base, new)
        assert code == 1, out
        assert "Other inputs:** NEW scored 4 of BASE's samples" in out and "### ❌ Coverage" in out
    assert cli(["report", str(base), "--format", "json", "--no-ci"]) == 0
    code, out = _compare(capsys, base / "baseline.json", worse)
    assert code == 1 and "Other inputs" in out
    doc = json.loads((base / "baseline.json").read_text())
    assert all(len(c["samples"]["inputs"]) == len(c["samples"]["sample_id"]) for c in doc["cells"])
    assert _compare(capsys, base / "baseline.json", same)[0] == 0


def test_rounding_noise_is_no_regression(tmp_path, capsys):
    """Two stores of one run whose scores differ by float64 rounding (~1e-13: another summation order) passed as a
    regression with p = 0 and d = ∞; they are unchanged, and a real shift of the same run still fails."""
    import zlib

    import numpy as np

    def values(noise, shift=0.0):
        def f(b, d, sid):
            base = 20 + (zlib.crc32(sid.encode()) % 1000) / 100 + shift
            return {"psnr_in": base + noise * float(np.random.default_rng(zlib.crc32(sid.encode())).normal())}
        return f

    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=30)
    a = make_run(tmp_path / "a", **one, values=values(0.0))
    b = make_run(tmp_path / "b", **one, values=values(1e-13), run_id="b")
    c = make_run(tmp_path / "c", **one, values=values(0.1, shift=-0.5), run_id="c")
    assert main(["compare", str(a), str(b)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", str(a), str(c)]) == 1


def _psnr_values(telea_shift=0.0, noise=0.0):
    """psnr_in per sample, fixed by (dataset, mask, id); NEW's opencv-telea moved by ``telea_shift`` plus noise."""
    import zlib

    import numpy as np

    def f(b, d, sid):
        key = zlib.crc32(f"{d}/{sid}".encode())
        v = 20 + (key % 1000) / 100
        if b == "opencv-telea" and (telea_shift or noise):
            v += telea_shift + noise * float(np.random.default_rng(key).normal())
        return {"psnr_in": v}
    return f


FOUR = dict(backends=("opencv-telea", "opencv-ns", "mean-fill"), datasets=("samples", "synthetic"),
            masks=("lama-medium", "box"), n=6)


def test_a_backend_worse_in_every_cell_fails_though_no_cell_alone_does(tmp_path, capsys):
    """A -1 dB change with noise (sd 1) on 6 samples per cell is not significant in any cell; over the backend's 4
    cells (24 samples) it is. The unchanged backends and keys (identical values) are left out of the Holm family:
    they cannot reject, and they had made the family hundreds of tests long (a quickstart suite with Telea replaced
    by mean-fill passed)."""
    a = make_run(tmp_path / "a", **FOUR, values=_psnr_values())
    b = make_run(tmp_path / "b", **FOUR, values=_psnr_values(-1.0, 1.0), run_id="b",
                 latency_scale={"opencv-ns": 0.5})
    res = compare_sources(a, b)
    cells = [c for c in res.changes if c.key == "psnr_in" and c.cell[0] == "opencv-telea"]
    per_cell = [c for c in cells if c.cell[1] != "every cell"]
    pooled = [c for c in cells if c.cell[1] == "every cell"]
    assert len(per_cell) == 4 and all(c.status == "insignificant" for c in per_cell)
    assert len(pooled) == 1 and pooled[0].status == "regression" and pooled[0].n_shared == 24
    assert res.n_tests == 5 and res.n_unchanged_tests > 0 and res.failed
    # cost without a tolerance is machine noise: never called better (opencv-ns ran twice as fast here)
    assert not [c for c in res.changes if c.status == "better" and c.key.startswith("latency")]
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "opencv-telea × every cell (pooled, 4 cells)" in out and "Holm over 5 tests" in out
    assert compare_sources(a, make_run(tmp_path / "c", **FOUR, values=_psnr_values(), run_id="c")).failed is False


def _with_scorers(run_dir, psnr_key="psnr.aaa", blur_threshold=0.5):
    m = json.loads((run_dir / "manifest.json").read_text())
    m["scorers"] = [{"label": "psnr", "scorer_key": psnr_key, "kind": "metric"},
                    {"label": "blur", "scorer_key": "blur.bbb", "kind": "detector"}]
    m["metrics"] = {"psnr": {"psnr": {"data_range": 1.0 if psnr_key == "psnr.aaa" else 255.0}}}
    m["detectors"] = {"blur": {"thresholds": {"threshold": blur_threshold}}}
    (run_dir / "manifest.json").write_text(json.dumps(m))
    return run_dir


def test_a_metric_or_threshold_defined_otherwise_fails_the_gate(tmp_path, capsys):
    """psnr with data_range 255 read +48 dB 'better', a blur threshold of 1000 a lower blur_rate; the gate only said
    the config hashes differ. Now it fails naming what differs, by run folder and by baseline.json."""
    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=8)
    base = _with_scorers(make_run(tmp_path / "base", **one))
    same = _with_scorers(make_run(tmp_path / "same", **one, run_id="same"))
    metric = _with_scorers(make_run(tmp_path / "metric", **one, run_id="metric"), psnr_key="psnr.ccc")
    thr = _with_scorers(make_run(tmp_path / "thr", **one, run_id="thr"), blur_threshold=1000.0)
    assert main(["compare", str(base), str(same)]) == 0
    capsys.readouterr()
    assert main(["compare", str(base), str(metric)]) == 1
    out = capsys.readouterr().out
    assert "Defined otherwise" in out and "`psnr`: psnr.data_range: 1.0 → 255.0" in out
    assert main(["compare", str(base), str(thr)]) == 1
    assert "`blur`: thresholds.threshold: 0.5 → 1000.0" in capsys.readouterr().out
    assert main(["compare", str(base), str(thr), "--allow-changed", "blur"]) == 0
    assert main(["report", str(base), "--format", "json", "--out", str(tmp_path / "rep")]) == 0
    assert main(["compare", str(tmp_path / "rep" / "baseline.json"), str(metric)]) == 1
    assert main(["compare", str(tmp_path / "rep" / "baseline.json"), str(same)]) == 0


def test_directions_are_base_s_and_a_flip_fails(tmp_path, capsys):
    """NEW's manifest declaring psnr_in lower-is-better turned its drop into 'better'."""
    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=12)
    base = make_run(tmp_path / "base", **one)
    worse = make_run(tmp_path / "worse", **one, shift={"opencv-telea": 0.05}, run_id="worse")
    m = json.loads((worse / "manifest.json").read_text())
    m["columns"]["psnr_in"]["higher_is_better"] = False
    (worse / "manifest.json").write_text(json.dumps(m))
    res = compare_sources(base, worse)
    assert res.directions == [("psnr_in", True, False)] and res.failed
    assert [c.status for c in res.changes if c.key == "psnr_in"] == ["regression"]
    assert main(["compare", str(base), str(worse)]) == 1
    assert "Directions differ" in capsys.readouterr().out


def test_a_new_run_that_is_not_comparable_fails(tmp_path, capsys):
    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=8)
    base = make_run(tmp_path / "base", **one)
    rnd = make_run(tmp_path / "rnd", **one, comparable=False, reasons=["weights: random"], run_id="rnd")
    assert main(["compare", str(base), str(rnd)]) == 1
    assert "NEW is not comparable and BASE is" in capsys.readouterr().out
    assert main(["compare", str(base), str(rnd), "--allow-noncomparable"]) == 0
    rnd2 = make_run(tmp_path / "rnd2", **one, comparable=False, reasons=["weights: random"], run_id="rnd2")
    assert main(["compare", str(rnd), str(rnd2)]) == 0  # both random (a CI smoke test): compared as usual


def test_a_baseline_with_a_user_study_does_not_fail_a_run_without_one(tmp_path, capsys):
    """human_bt comes from people's judgements, which a CI run cannot make: a baseline written after a study failed
    every later comparison with 'BASE has it, NEW has no value'."""
    one = dict(backends=("opencv-telea", "mean-fill"), datasets=("samples",), masks=("box",), n=8)
    base = make_run(tmp_path / "base", **one)
    assert main(["report", str(base), "--format", "json", "--out", str(tmp_path / "rep")]) == 0
    p = tmp_path / "rep" / "baseline.json"
    doc = json.loads(p.read_text())
    for c in doc["cells"]:
        c["values"]["human_bt"] = 0.5 if c["backend"] == "opencv-telea" else -0.5
    p.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["compare", str(p), str(make_run(tmp_path / "new", **one, run_id="new"))]) == 0
    assert "Keys missing" not in capsys.readouterr().out
    res = compare_sources(p, tmp_path / "new")
    assert "human_bt" not in res.missing_keys


def test_a_p_value_below_its_holm_threshold_that_holm_did_not_reject_is_not_shown_as_above_it(tmp_path):
    """Holm's step-down stops at the first p above its threshold; a larger p after it is not rejected even when it
    is below its own threshold. The summary said "p = 0.046 ≥ 0.05 (Holm)", an inequality that is false; it now
    gives the Holm-adjusted p, which is what was above α."""
    import zlib

    import numpy as np

    from bench.report.compare import _gate_text

    e = np.random.default_rng(5).normal(size=20)
    e = (e - e.mean()) / e.std(ddof=1)  # differences mu + e: t = mu * sqrt(20), p about that of the t-test

    def values(moved):
        def f(b, d, sid):
            k = int(sid[1:])
            v = 20 + (zlib.crc32(sid.encode()) % 1000) / 100
            return {"psnr_in": v - (0.53 + e[k] if moved else 0.0),
                    "lpips_in": 0.2 + v / 1000 + (0.01 * (0.47 + e[(k + 3) % 20]) if moved else 0.0)}
        return f

    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=20)
    res = compare_sources(make_run(tmp_path / "a", **one, values=values(False)),
                          make_run(tmp_path / "b", **one, values=values(True), run_id="b"))
    ch = {c.key: c for c in res.changes}
    psnr, lpips = ch["psnr_in"], ch["lpips_in"]
    assert psnr.status == lpips.status == "insignificant" and not res.failed
    assert psnr.test.p_value > psnr.test.threshold  # the smaller p did not reject: Holm stops there
    assert lpips.test.p_value < lpips.test.threshold < lpips.test.p_adjusted  # below its own, not rejected
    text = _gate_text(lpips)
    assert "≥ 0.05" not in text.split("Holm-adjusted")[0]
    assert f"Holm-adjusted {lpips.test.p_adjusted:.2g} ≥ 0.05" in text
    assert _gate_text(psnr).startswith(f"p = {psnr.test.p_value:.2g} ≥ {psnr.test.threshold:.2g} (Holm)")


def test_compare_and_report_compare_decide_alike_beside_unchanged_keys(tmp_path):
    """One family rule (bench.stats.can_reject) for both commands: psnr_in borderline better for b (raw p about 0.02)
    beside four keys equal on every sample. `bench compare` left those out of its Holm family and called it
    better; `bench report --compare` counted them (p times 5) and named no backend. Both now call b better; with
    the four keys differing by noise instead, both count them and neither does."""
    import numpy as np

    from bench.report.aggregate import load_run
    from bench.report.paired import compare_backends
    from bench.store import RunStore
    from tests.store_helpers import add_cell, write_records

    n = 20
    rng = np.random.default_rng(3)
    z = rng.normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    base = 20.0 + rng.uniform(0, 5, n)
    others = ("lpips_in", "ssim_in", "psnr_out", "ssim_out")
    shared = {k: rng.uniform(0.2, 0.8, n) for k in others}
    jitter = {k: rng.normal(0, 0.05, n) for k in others}

    def values(name, noise):
        v = {"psnr_in": base + (0.55 + z if name == "b" else 0.0)}
        return v | {k: shared[k] + (noise * jitter[k] if name == "b" else 0.0) for k in others}

    def write(run, backends, noise):
        with RunStore(run / "records.sqlite") as s:
            for label, name in backends:
                add_cell(s, f"{label}.ds.m", label, "ds", "m", {})
                vals = values(name, noise)
                write_records(s, f"{label}.ds.m", [{"sample_id": f"s{i:03d}", "error": None,
                                                   "values": {k: float(v[i]) for k, v in vals.items()}}
                                                  for i in range(n)])
        return run

    for noise, expect in ((0.0, "b"), (1.0, "—")):
        d = tmp_path / str(noise)
        both = write(d / "both", [("a", "a"), ("b", "b")], noise)
        paired = compare_backends(load_run(both), "a", "b").set_index("metric")
        res = compare_sources(write(d / "ra", [("m", "a")], noise), write(d / "rb", [("m", "b")], noise))
        gate = {c.key: c for c in res.changes}["psnr_in"]
        assert paired.loc["psnr_in", "better"] == expect
        assert gate.status == {"b": "better", "—": "insignificant"}[expect]
        assert gate.test.p_adjusted == pytest.approx(paired.loc["psnr_in", "p_holm"])
        assert res.n_tests == (1 if noise == 0 else 5) and res.n_unchanged_tests == (4 if noise == 0 else 0)


def test_a_change_the_paired_test_calls_rounding_is_same_under_strict(tmp_path):
    """`bench compare` called a change "same" within 1e-12 times the base value, beside the paired test's own
    rounding rule (bench.stats.ROUNDING times the values): NEW equal to BASE but for 1e-9 on every sample (another
    summation order in a long pipeline) was "unchanged" to the test (p = 1) and a regression under --strict. One
    rule now: the test's."""
    from bench import stats

    def values(shift):
        def f(b, d, sid):
            return {"psnr_in": 20 + int(sid[1:]) / 10 - shift}
        return f

    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=12)
    a = make_run(tmp_path / "a", **one, values=values(0.0))
    b = make_run(tmp_path / "b", **one, values=values(1e-9), run_id="b")
    res = compare_sources(a, b, strict=True)
    ch = {c.key: c for c in res.changes}["psnr_in"]
    assert ch.test.unchanged and ch.test.p_value == 1.0
    assert 0 < ch.worse_by <= stats.ROUNDING * abs(ch.base)
    assert ch.status == "same", (ch.status, ch.worse_by)
    c = make_run(tmp_path / "c", **one, values=values(1e-6), run_id="c")  # beyond rounding: still gated
    assert {x.key: x for x in compare_sources(a, c, strict=True).changes}["psnr_in"].status == "regression"


def test_one_default_level_for_every_paired_test():
    """The level of the paired test was written three times (bench.report.paired.ALPHA, compare(alpha=0.05), the
    CLI's --alpha default); they agreed, and now read bench.stats.ALPHA, the one constant. Pins that every entry
    point defaults to it."""
    import argparse
    import inspect

    from bench import stats
    from bench.cli.report import configure_compare
    from bench.report import compare as cmp
    from bench.report import paired

    assert stats.ALPHA == 0.05
    for f in (cmp.compare, cmp.compare_sources, stats.paired_bootstrap):
        assert inspect.signature(f).parameters["alpha"].default == stats.ALPHA, f
    assert cmp.CompareResult.__dataclass_fields__["alpha"].default == stats.ALPHA
    args = configure_compare(argparse.ArgumentParser()).parse_args(["a", "b"])
    assert args.alpha == stats.ALPHA
    assert not hasattr(paired, "ALPHA")  # (no second copy to drift)
    assert f"below {stats.ALPHA}" in paired.to_markdown(__import__("pandas").DataFrame(
        columns=["dataset", "mask"]), "a", "b")


def test_the_paired_interval_follows_alpha_and_says_its_level(tmp_path, capsys):
    """`--alpha A` changed only Holm's level: the paired interval shown (and the "interval on the good side" a
    tolerance's "better" reads) stayed at the default level, and the table said 95 % whatever A was. The interval
    is now at 1 - A (the default level with the test off) and the Markdown names it."""
    import numpy as np

    from bench import stats

    e = np.random.default_rng(3).normal(size=20)

    def values(moved):
        def f(b, d, sid):
            return {"psnr_in": 25.0 + (0.3 + e[int(sid[1:])] if moved else 0.0)}
        return f

    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=20)
    a = make_run(tmp_path / "a", **one, values=values(False))
    b = make_run(tmp_path / "b", **one, values=values(True), run_id="b")
    ci = {alpha: {c.key: c.diff_ci for c in compare_sources(a, b, alpha=alpha).changes}["psnr_in"]
          for alpha in (0.2, stats.ALPHA, 0.01)}
    (lo20, hi20), (lo05, hi05), (lo01, hi01) = ci[0.2], ci[stats.ALPHA], ci[0.01]
    assert lo01 < lo05 < lo20 and hi20 < hi05 < hi01  # a lower alpha, a wider interval
    assert {c.key: c.diff_ci for c in compare_sources(a, b, alpha=0).changes}["psnr_in"] == ci[stats.ALPHA]
    for alpha, level in (("0.01", "99%"), ("0.2", "80%"), ("0.05", "95%"), ("0", "95%")):
        out = _compare(capsys, a, b, "--alpha", alpha)[1]
        assert f"Δ {level} CI (paired)" in out and f"Paired intervals of NEW − BASE: {level}" in out, (alpha, out)
        assert "CI (paired)" not in out.replace(f"Δ {level} CI (paired)", "")


def test_a_baseline_of_an_unknown_version_is_refused_naming_it(runs, tmp_path, capsys):
    """A baseline written by a newer inpaint-bench (or with its version field gone) was read as if it were this
    one's: its fields may mean other things. It is refused (exit 2) with a message naming the file and the key."""
    out_dir = tmp_path / "rep"
    assert main(["report", str(runs["base"]), "--format", "json", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    doc = json.loads((out_dir / "baseline.json").read_text())
    for name, version in (("newer", doc["version"] + 1), ("none", None), ("text", "3"), ("zero", 0)):
        bad = dict(doc)
        if version is None:
            bad.pop("version")
        else:
            bad["version"] = version
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(bad))
        code = main(["compare", str(p), str(runs["worse"])])
        err = capsys.readouterr().err
        assert code == 2 and str(p) in err and "'version'" in err, (name, err)
    assert "newer than this inpaint-bench reads" in (
        main(["compare", str(tmp_path / "newer.json"), str(runs["same"])]) == 2 and capsys.readouterr().err)


def test_an_empty_base_gates_nothing_and_is_refused(runs, tmp_path, capsys):
    """A BASE with no cells (an empty run, a baseline of one) or whose cells scored no sample passed every NEW,
    however much worse: it is refused (exit 2), saying so."""
    out_dir = tmp_path / "rep"
    assert main(["report", str(runs["base"]), "--format", "json", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    doc = json.loads((out_dir / "baseline.json").read_text())
    (tmp_path / "empty.json").write_text(json.dumps({**doc, "cells": []}))
    code = main(["compare", str(tmp_path / "empty.json"), str(runs["worse"])])
    err = capsys.readouterr().err
    assert code == 2 and "has no cells" in err and "gates nothing" in err, err
    failed = make_run(tmp_path / "failed", **ONE, errors={"opencv-telea": 12}, run_id="failed")
    code = main(["compare", str(failed), str(runs["worse"])])
    err = capsys.readouterr().err
    assert code == 2 and "scored no sample" in err, err
    # a NEW that is empty still fails as before (every cell of BASE missing), not refused
    assert _compare(capsys, runs["base"], failed)[0] == 1


def test_a_default_changed_in_the_code_is_defined_otherwise_though_the_key_is_the_same(tmp_path, capsys):
    """The scorer key hashes the suite's spec less its defaults, and the implementation's version: a PR that changed
    a metric's default (SSIM's k1 0.01 -> 0.5; LPIPS's net) without a version bump kept the key, and the gate passed
    numbers that measure another thing, though each manifest recorded the parameter. Now the recorded parameters
    are compared too; where a file came from (a weights path, a thresholds file's version and hash) is not a
    definition, and a description only one side records is no difference."""
    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=8)

    def manifest(run_dir, k1=0.01, path="/home/a/.cache/alex.pth", version=22, extra=None):
        m = json.loads((run_dir / "manifest.json").read_text())
        m["scorers"] = [{"label": "ssim", "scorer_key": "ssim.f41b227b66", "kind": "metric"},
                        {"label": "noop", "scorer_key": "noop.1234", "kind": "detector"}]
        m["metrics"] = {"ssim": {"ssim": {"k1": k1, "sigma": 1.5, **(extra or {})},
                                 "weights": {"file": "alex.pth", "path": path, "sha256": "abc"},
                                 "scorer_key": "ssim.f41b227b66"}}
        m["detectors"] = {"noop": {"thresholds": {"threshold": 0.01}, "thresholds_version": version,
                                   "thresholds_sha256": f"sha{version}", "scorer_key": "noop.1234"}}
        (run_dir / "manifest.json").write_text(json.dumps(m))
        return run_dir

    base = manifest(make_run(tmp_path / "base", **one))
    k1 = manifest(make_run(tmp_path / "k1", **one, run_id="k1"), k1=0.5)
    code, out = _compare(capsys, base, k1)
    assert code == 1 and "### ❌ Defined otherwise" in out and "`ssim`: ssim.k1: 0.01 → 0.5" in out, out
    assert _compare(capsys, base, k1, "--allow-changed", "ssim")[0] == 0
    assert main(["report", str(base), "--format", "json", "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    assert _compare(capsys, tmp_path / "rep" / "baseline.json", k1)[0] == 1
    # another machine's cache path, another detector's recalibration (the file's version and hash), a description
    # the new code adds: the same definition
    elsewhere = manifest(make_run(tmp_path / "elsewhere", **one, run_id="elsewhere"), path="/ci/cache/alex.pth",
                         version=23, extra={"window": "gaussian"})
    code, out = _compare(capsys, base, elsewhere)
    assert code == 0 and "Defined otherwise" not in out, out


def test_a_star_default_does_not_relax_error_rate(runs, capsys):
    """`--tol '*=+100'` (a default meant for the metrics' units) applied to error_rate too: a NEW whose samples
    started failing passed. error_rate takes only its own rule."""
    res = compare_sources(runs["base"], runs["errors"], rules=parse_tolerances(["*=+100"]))
    err = {c.key: c for c in res.changes}["error_rate"]
    assert err.status == "regression" and err.allowed == 0.0 and res.failed
    res = compare_sources(runs["base"], runs["errors"], rules=parse_tolerances(["*=+100", "error_rate=+0.5"]))
    assert {c.key: c for c in res.changes}["error_rate"].status != "regression" and not res.failed


def test_thresholds_are_compared_as_applied_when_the_run_is_read(tmp_path, capsys):
    """Flags are set from the stored scores with the thresholds in force when a run is read, but the gate compared
    the thresholds the manifest recorded when the run was made. A run made before the thresholds file changed (its
    record 0.9, its flags now set with the shipped file's) failed against a run with the same flags as "defined
    otherwise", and refreshing the baseline kept the stale record; a NEW flagged with other thresholds than its
    record passed as BASE's. Now the applied thresholds are compared, by run folder and by baseline.json."""
    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=24)

    def run(name, recorded, suite_threshold=None):
        r = make_run(tmp_path / name, **one, run_id=name, values=lambda b, d, s: {"noop_score": int(s[1:]) / 24})
        m = json.loads((r / "manifest.json").read_text())
        m["suite"] = {"detectors": [{"type": "noop", **({"threshold": suite_threshold} if suite_threshold else {})}]}
        m["scorers"] = [{"label": "noop", "scorer_key": "noop.1234", "kind": "detector"},
                        {"label": "test-values", "scorer_key": SCORER, "kind": "metric"}]  # (the stored values)
        m["detectors"] = {"noop": {"thresholds": {"threshold": recorded}, "scorer_key": "noop.1234"}}
        (r / "manifest.json").write_text(json.dumps(m))
        return r

    from bench.detectors.thresholds import load_thresholds

    shipped = load_thresholds()["detectors"]["noop"]["threshold"]
    stale = run("stale", 0.9)  # made with an older file: its flags are the shipped file's now
    current = run("current", shipped)
    code, out = _compare(capsys, stale, current)
    assert code == 0, out
    assert main(["report", str(stale), "--format", "json", "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    doc = json.loads((tmp_path / "rep" / "baseline.json").read_text())
    assert doc["scorers"]["noop"]["thresholds"] == {"threshold": shipped}
    assert _compare(capsys, tmp_path / "rep" / "baseline.json", current)[0] == 0
    # flagged with 0.99 (fewer noop flags: "better") while its manifest records the shipped threshold
    hidden = run("hidden", shipped, suite_threshold=0.99)
    code, out = _compare(capsys, tmp_path / "rep" / "baseline.json", hidden)
    assert code == 1 and f"thresholds.threshold: {shipped} → 0.99" in out, out


def test_the_summary_names_the_run_settings_that_differ(runs, tmp_path, capsys):
    """Another seed or resolution was stated only as two config hashes ("numbers may differ"): the summary now names
    the run settings that differ, from run folders and from baseline.json, which carries them."""
    other = make_run(tmp_path / "other", **ONE, seed=1, config_hash="def456", run_id="other")
    m = json.loads((other / "manifest.json").read_text())
    m["suite"] = {"resolution": 128}
    (other / "manifest.json").write_text(json.dumps(m))
    base = make_run(tmp_path / "base", **ONE, run_id="base")
    m = json.loads((base / "manifest.json").read_text())
    m["suite"] = {"resolution": 256}
    (base / "manifest.json").write_text(json.dumps(m))
    line = next(x for x in _compare(capsys, base, other)[1].splitlines() if "Different suite configurations" in x)
    assert "seed 0 → 1" in line and "resolution 256 → 128" in line, line
    assert main(["report", str(base), "--format", "json", "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    doc = json.loads((tmp_path / "rep" / "baseline.json").read_text())
    assert doc["seed"] == 0 and doc["resolution"] == 256
    line = next(x for x in _compare(capsys, tmp_path / "rep" / "baseline.json", other)[1].splitlines()
                if "Different suite configurations" in x)
    assert "seed 0 → 1" in line and "resolution 256 → 128" in line, line


def test_an_older_baseline_says_what_it_cannot_check(runs, tmp_path, capsys):
    """A version-1 baseline passed a clearly worse NEW with "✅ no regression" and, per key, only "no per-sample
    values on both sides"; a version-2 one silently skipped the input and scorer checks. The summary now says that
    BASE is an older baseline and what it cannot check."""
    assert main(["report", str(runs["base"]), "--format", "json", "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    doc = json.loads((tmp_path / "rep" / "baseline.json").read_text())
    v1 = {**doc, "version": 1, "cells": [{k: v for k, v in c.items() if k != "samples"} for c in doc["cells"]]}
    v1.pop("scorers")
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    code, out = _compare(capsys, tmp_path / "v1.json", runs["worse"])
    assert code == 0 and "BASE is an older baseline** (version 1)" in out and "no per-sample values" in out, out
    v2 = {**doc, "version": 2}
    v2.pop("scorers")
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    code, out = _compare(capsys, tmp_path / "v2.json", runs["same"])
    assert "BASE is an older baseline** (version 2)" in out and "scorer definitions" in out, out
    assert "older baseline" not in _compare(capsys, tmp_path / "rep" / "baseline.json", runs["same"])[1]
