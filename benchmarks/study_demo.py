"""The user-study loop on a real three-backend run, as docs/studies.md shows it: `bench run` (Telea, biharmonic,
mean fill and the untouched `identity` on 12 generated scenes, 128 px), `bench study` (the page), two
**simulated** raters, `bench study score`, `bench report`.

The raters are simulated (no person judged these outputs): each answers a comparison by the Bradley–Terry model with
strengths Telea 1.0, biharmonic 0.5, mean fill −1.0 (identity far below, so attention checks pass), calling a tie
10 % of the time. The figures show what the commands print and write, and how long they take on this machine;
they say nothing about which metric agrees with real people.

    python benchmarks/study_demo.py
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, bench_run, repo_env, save  # noqa: E402

sys.path.insert(0, str(ROOT))
THETA = {"opencv-telea": 1.0, "biharmonic": 0.5, "mean-fill": -1.0, "identity": -20.0}
SUITE = """name: study-demo
seed: 0
device: cpu
batch_size: 4
resolution: 128
save_inputs: true
output_dir: {out}
backends:
  - {{type: opencv-telea, radius: 3}}
  - biharmonic
  - mean-fill
  - identity
datasets:
  - {{type: synthetic, n: 12}}
masks:
  - {{type: box, min_size: 0.2, max_size: 0.4}}
metrics: [psnr, ssim]
detectors: [blur, noop]
"""


def bench(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env=repo_env(), capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0, r.stdout


def simulate(plan: dict, rater: str, seed: int, path: Path) -> None:
    from bench.study.score import COLUMNS

    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for position, t in enumerate(plan["trials"], start=1):  # (answered in the plan's order)
            if rng.random() < 0.1:
                c = "tie"
            else:
                p = 1 / (1 + math.exp(THETA[t["right"]] - THETA[t["left"]]))
                c = "left" if rng.random() < p else "right"
            w.writerow([rater, plan["run_id"], plan["config_hash"], plan["study_id"], t["index"], plan["dataset"],
                        plan["mask"], t["sample_id"], t["left"], t["right"], c, f"{rng.uniform(1, 6):.2f}",
                        position])


def main() -> None:
    p = Printer()
    out = Path(tempfile.mkdtemp(prefix="inpaint-bench-study-"))
    try:
        suite = out / "study.yaml"
        suite.write_text(SUITE.format(out=out))
        t_run = bench_run(suite, "--no-report")
        run = out / "study-demo"
        t_page, _ = bench("study", str(run), "--out", str(out / "study.html"))
        sdir = next(d for d in (run / "study").iterdir() if d.is_dir())  # study/<dataset>__<mask>/
        plan = json.loads((sdir / "plan.json").read_text())["plan"]
        n_checks = sum(t["kind"] == "check" for t in plan["trials"])
        for i, r in enumerate(("rater1", "rater2")):
            simulate(plan, r, i + 1, out / f"judgements_{r}.csv")
        t_score, printed = bench("study", "score", str(run), str(out / "judgements_rater1.csv"),
                                 str(out / "judgements_rater2.csv"))
        t_report, _ = bench("report", str(run), "-f", "md,html,tex", "--no-ci")
        doc = json.loads((sdir / "study.json").read_text())
        md = (sdir / "study.md").read_text()
        keep = md.split("## Ranking", 1)[1]
        keep = "#### Ranking" + keep.replace("\n## ", "\n#### ")
        page_kib = (out / "study.html").stat().st_size / 1024
        p(f"bench run: {t_run:.1f} s; bench study: {t_page:.1f} s, page {page_kib:.0f} KiB "
          f"({len(plan['trials']) - n_checks} comparisons + {n_checks} attention checks); bench study score "
          f"(1000 bootstrap resamples): {t_score:.1f} s; bench report md,html,tex: {t_report:.1f} s")
        for line in printed.splitlines():
            if not line.startswith("wrote "):
                p(line)
        tex = (sdir / "user_study.tex").read_text()
        lb = (run / "leaderboard.md").read_text()
        assert "human\\_bt" in lb and "id='metric-agreement'" in (run / "report.html").read_text()
        results = {"run_s": t_run, "page_s": t_page, "score_s": t_score, "report_s": t_report, "page_kib": page_kib,
                   "trials": len(plan["trials"]), "checks": n_checks, "theta_simulated": THETA,
                   "study": {k: doc[k] for k in ("backends", "preference", "agreement", "metrics")},
                   "markdown": ("_Simulated raters (see `benchmarks/study_demo.py`): these numbers show the output, "
                                "not how any metric agrees with people._\n\nCost: " + p.lines[0] + ".\n\n" + keep + "\n#### user_study.tex\n\n"
                                "```latex\n" + tex + "```\n")}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"wrote {save('study_demo', results, p.lines)}")


if __name__ == "__main__":
    main()
