"""Hole-fraction statistics and time per mask of the mask strategies (docs/masks.md "Measured hole fractions").

    python benchmarks/masks_stats.py        # n 1000 at 256 px, n 500 at 512 px, as the table in docs/masks.md

Writes ``benchmarks/results/masks_stats.json`` (the table as Markdown, rendered by ``benchmarks/figures.py``). The
fractions are a pure function of (strategy, size, n, seed); the ms per mask is a timing on this machine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Printer, save  # noqa: E402
from bench.bins import area_bin_label  # noqa: E402
from bench.masks.stats import describe  # noqa: E402

STRATEGIES = (("lama-thin", {"type": "lama-thin"}), ("lama-medium", {"type": "lama-medium"}),
              ("lama-thick", {"type": "lama-thick"}), ("box (defaults)", {"type": "box"}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n256", type=int, default=1000)
    ap.add_argument("--n512", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    out = Printer()
    rows = ["| strategy | px | mean | p10 / p50 / p90 | bins " + " / ".join(area_bin_label(b) for b in range(5))
            + " (%) | ms/mask |", "|---|---|---|---|---|---|"]
    results: dict = {"n": {"256": a.n256, "512": a.n512}, "seed": a.seed, "strategies": {}}
    for name, spec in STRATEGIES:
        for size, n in ((256, a.n256), (512, a.n512)):
            if name.startswith("box") and size == 512:
                continue
            d = describe(spec, size, n, a.seed)
            results["strategies"][f"{name}@{size}"] = d
            rows.append(f"| {name} | {size} | {d['mean']:.3f} | {d['p10']:.3f} / {d['p50']:.3f} / {d['p90']:.3f} | "
                        + " / ".join(f"{100 * b:.0f}" for b in d["bins"][:5]) + f" | {d['ms']:.1f} |")
            out(rows[-1])
    results["markdown"] = "\n".join(rows) + "\n"
    print(save("masks_stats", results, out.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
