"""The documentation's figures are the committed benchmark outputs (benchmarks/figures.py renders them)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_figure_blocks_match_the_committed_benchmark_results():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "figures.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
