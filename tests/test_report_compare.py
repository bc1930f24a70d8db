"""`bench compare`: exit codes and summaries for better, worse, within tolerance, missing cells, baselines."""
from __future__ import annotations

import json

import pytest

from bench.report.cli import main
from bench.report.compare import compare_sources, parse_tolerances
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
    code, out = _compare(capsys, runs["base"], runs["same"], "--tol", "lpips_in=abc")
    assert code == 2
    assert "expected a number" in capsys.readouterr().err or code == 2
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
