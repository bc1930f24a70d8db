"""The GPU check scripts stay runnable between the rare loans of a GPU: their CPU plumbing mode runs the same code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_features_gpu_plumbing_scores_every_sample_through_the_runner_and_saves_nothing(tmp_path):
    results = ROOT / "benchmarks" / "results" / "features_gpu.json"
    before = results.read_bytes() if results.exists() else None
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "features_gpu.py"), "--cpu-plumbing", "--n", "4",
                        "--res", "64", "--batch", "2", "--repeat", "1", "--keep", str(tmp_path / "run")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "backend loads 0, generated 0, scored 8" in r.stdout
    assert "finite replacement_features_score 8" in r.stdout
    assert "detector weights 'random', device 'cpu', comparable False" in r.stdout
    assert "FAILED" not in r.stdout and "nothing saved" in r.stdout
    assert (results.read_bytes() if results.exists() else None) == before


def test_gpu_check_plumbing_runs_a_tiny_pipeline_through_the_runner():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-plumbing", "--kinds", "sd",
                        "--res", "64", "--n", "2", "--batch", "2", "--steps", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "tiny-sd" in r.stdout and "not judged (CPU)" in r.stdout and "all checks passed" in r.stdout


def test_gpu_session_script_parses():
    r = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_session.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_gpu_session_log_opens_with_the_date_machine_and_versions():
    """The log a GPU session brings back is read later, away from the machine: its header (written before any check
    runs) names the date, the GPU and driver, and the Python and torch versions."""
    text = (ROOT / "benchmarks" / "gpu_session.sh").read_text()
    header = text[text.index("\n{\n"):text.index('| tee "$OUTDIR/gpu_session.log"')]
    assert "date -u" in header and "driver_version" in header and "torch.__version__" in header, header
