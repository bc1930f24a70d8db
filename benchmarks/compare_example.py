"""The `bench compare` summaries docs/reports.md shows, from synthetic runs of the test suite's run builder
(``tests/test_report_data.py::make_run``: no model runs, 40 samples of one cell, seeded).

* ``compare_example``: NEW is 0.02 LPIPS worse on every sample and 50 % slower, with ``--tol latency_p50=+10%``;
* ``compare_example_less``: NEW did less: an interrupted run (30 of the 40 samples), without ``ssim`` and the
  ``blur`` detector, whose backend stopped keeping the outside of the hole exactly on 6 samples.

    python benchmarks/compare_example.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Printer, save  # noqa: E402

sys.path.insert(0, str(ROOT))


def main() -> None:
    from bench.report.compare import compare_sources, parse_tolerances
    from tests.test_report_data import make_run

    one = dict(backends=("opencv-telea",), datasets=("samples",), masks=("box",), n=40)
    nan = float("nan")
    with tempfile.TemporaryDirectory(prefix="inpaint-bench-compare-") as tmp:
        root = Path(tmp)
        base = make_run(root / "main", **one, run_id="main")
        worse = make_run(root / "pr-123", **one, run_id="pr-123", shift={"opencv-telea": 0.02},
                         latency_scale={"opencv-telea": 1.5})
        less = make_run(root / "pr-124", **one, run_id="pr-124", sample_ids=[f"s{i:03d}" for i in range(30)],
                        values=lambda b, d, s: {"ssim_in": nan, "blur_score": nan, "blur_flag": nan,
                                                **({"psnr_out": 31.5} if int(s[1:]) < 6 else {})})
        for name, new, rules in (("compare_example", worse, ["latency_p50=+10%"]), ("compare_example_less", less, [])):
            p = Printer()
            res = compare_sources(base, new, rules=parse_tolerances(rules))
            md = res.markdown()
            cmd = f"bench compare main {new.name}" + "".join(f" --tol {r}" for r in rules)
            p(f"$ {cmd}   # exit {1 if res.failed else 0}")
            print(md)
            print(f"wrote {save(name, {'command': cmd, 'exit': int(res.failed), 'terminal': md}, p.lines)}")


if __name__ == "__main__":
    main()
