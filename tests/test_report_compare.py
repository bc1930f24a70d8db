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
    assert "❌" in out and "Regressions beyond tolerance" in out
    reg = out.split("### ❌ Regressions beyond tolerance")[1].split("###")[0].split("<details>")[0]
    assert "`lpips_in` ↓" in reg and "+0.020" in reg and "≤ 0.005" in reg
    assert "[+0.020, +0.020]" in reg  # paired interval of the difference (constant shift)
    # psnr_in also got worse but has no rule: reported, not gated
    assert "`psnr_in`" not in reg and "not gated" in out


def test_worse_within_tolerance_passes(runs, capsys):
    code, out = _compare(capsys, runs["base"], runs["slightly"], "--tol", "lpips_in=+0.005")
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
    assert _compare(capsys, runs["base"], runs["worse"])[0] == 0  # no rule for anything: not gated
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
