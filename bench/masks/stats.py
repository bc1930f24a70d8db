"""Hole-fraction statistics of mask strategies: ``python -m bench.masks.stats [--n N] [--size PX ...] [names]``.

Prints, per strategy and size, the mean and p10/p50/p90 hole fraction, the share of masks in LaMa's area bins
and the time per mask. Uses a blank image (masks never depend on pixels, only on the sample id and size).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ..registry import MASKS
from ..types import Sample
from ..bins import N_AREA_BINS, area_bin_label, mask_stats


def describe(spec: dict, size: int, n: int, seed: int = 0) -> dict:
    strat = MASKS.create(dict(spec), "mask")
    img = torch.zeros(3, size, size)
    t = time.perf_counter()
    st = [mask_stats(strat.make(Sample(f"s{i}", img), seed, "stats")) for i in range(n)]
    ms = (time.perf_counter() - t) / n * 1000
    fr = np.array([s["hole_fraction"] for s in st])
    bins = np.bincount([s["area_bin"] for s in st], minlength=N_AREA_BINS) / n
    return {"mean": float(fr.mean()), "p10": float(np.percentile(fr, 10)), "p50": float(np.median(fr)),
            "p90": float(np.percentile(fr, 90)), "bins": bins.tolist(), "ms": ms}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.masks.stats", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["lama-thin", "lama-medium", "lama-thick", "box"])
    ap.add_argument("--size", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print("| strategy | px | mean | p10 / p50 / p90 | " + " / ".join(area_bin_label(b) for b in range(5))
          + " (%) | ms/mask |")
    print("|---|---|---|---|---|---|")
    for name in a.names:
        for size in a.size:
            d = describe({"type": name}, size, a.n, a.seed)
            print(f"| {name} | {size} | {d['mean']:.3f} | {d['p10']:.3f} / {d['p50']:.3f} / {d['p90']:.3f} | "
                  + " / ".join(f"{100 * b:.0f}" for b in d["bins"][:5]) + f" | {d['ms']:.1f} |")


if __name__ == "__main__":
    main()
