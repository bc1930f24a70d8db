"""The quickstart as a user runs it: `bench run configs/quickstart.yaml` in a fresh process, then again (resume).

Times both (wall clock, start-up included) into a temporary output folder, in a terminal 100 columns wide, and keeps
for the README the first table the first run prints (samples × box: the terminal's headline columns).

    python benchmarks/quickstart.py
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, bench_run, repo_env, save  # noqa: E402

sys.path.insert(0, str(ROOT))
WIDTH = 100


def first_run(path: Path) -> tuple[float, str]:
    """Seconds and standard output of the first ``bench run PATH --no-progress`` (as ``bench_run``, in a terminal
    ``WIDTH`` columns wide: rich reads COLUMNS)."""
    import subprocess
    import time

    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "bench", "run", str(path), "--no-progress"], cwd=ROOT,
                       env={**repo_env(), "COLUMNS": str(WIDTH)}, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench run {path} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0, r.stdout


def first_table(stdout: str) -> str:
    """The first table ``bench run`` printed: from its title line to its bottom border."""
    lines = [x.rstrip() for x in stdout.splitlines()]
    start = next(i for i, x in enumerate(lines) if x.startswith("dataset ") and " × mask " in x)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("└"))
    return "\n".join(lines[start:end + 1]) + "\n"


def main() -> None:
    import yaml

    p = Printer()
    out = Path(tempfile.mkdtemp(prefix="inpaint-bench-quickstart-"))
    try:
        suite = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
        suite["output_dir"] = str(out)
        path = out / "quickstart.yaml"
        path.write_text(yaml.safe_dump(suite, sort_keys=False))
        wall, stdout = first_run(path)
        terminal = first_table(stdout)
        times = [wall, bench_run(path)]
        p(f"quickstart: first run {times[0]:.1f} s, second run (resume) {times[1]:.1f} s (wall, start-up included)")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    p(terminal)
    results = {"wall_s": times[0], "resume_s": times[1], "terminal": terminal}
    print(f"wrote {save('quickstart', results, p.lines)}")


if __name__ == "__main__":
    main()
