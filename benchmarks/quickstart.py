"""The quickstart as a user runs it: `bench run configs/quickstart.yaml` in a fresh process, then again (resume).

Times both (wall clock, start-up included) into a temporary output folder, and keeps one leaderboard of the run
(samples × box, the columns the README shows) for the README.

    python benchmarks/quickstart.py
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, bench_run, save  # noqa: E402

sys.path.insert(0, str(ROOT))
COLUMNS = ["psnr_in", "psnr_out", "ssim_in", "ssim_out", "blur_rate", "noop_rate", "replacement_rate", "failure_ok",
           "latency_p50", "n", "n_errors"]


def main() -> None:
    import yaml

    p = Printer()
    out = Path(tempfile.mkdtemp(prefix="inpaint-bench-quickstart-"))
    try:
        suite = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
        suite["output_dir"] = str(out)
        path = out / "quickstart.yaml"
        path.write_text(yaml.safe_dump(suite, sort_keys=False))
        times = []
        for _ in range(2):
            times.append(bench_run(path))
        from bench.report.aggregate import summarize
        from bench.report.leaderboard import leaderboard_tables
        from bench.report.table import Table, render_markdown

        df = summarize(out / "quickstart")
        sub = df[(df["dataset"] == "samples") & (df["mask"] == "box")].copy()
        sub.attrs = df.attrs
        table = [t for t in leaderboard_tables(sub, keys=[c for c in COLUMNS if c in sub.columns])][0]
        md = render_markdown(Table(**{**table.__dict__, "warnings": [], "title": ""}), heading="")
        md = "\n".join(line for line in md.splitlines() if line.startswith("|")) + "\n"
        p(f"quickstart: first run {times[0]:.1f} s, second run (resume) {times[1]:.1f} s (wall, start-up included)")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"wrote {save('quickstart', {'wall_s': times[0], 'resume_s': times[1], 'markdown': md}, p.lines)}")


if __name__ == "__main__":
    main()
