"""Fills that are not the truth but are not failures either: how often the shipped detectors flag them.

The labelled photo cases' correct fill is the truth itself; a real model's correct fill is a version of it.
Two look-alikes are made from the truth of each dev crop's correct-fill case (:func:`bench.calibration.photos
.build_photo_cases`, colour and dev-gray), pasted into the hole:

* ``warp A``: the truth resampled through a smooth random displacement of at most A px (the same grass, wall or
  sky with every pixel elsewhere; bilinear resampling also softens it a little);
* ``L +/-D``: the truth's lightness shifted by D CIE L units, away from mid-gray (a drifted fill: a VAE round trip
  pasted back drifts a few units; a patch 12 or more units off is a visible seam).

Rates of ``replacement_flag`` (with the truth), ``replacement_free_flag`` and ``blur_flag`` per variant, the
unchanged truth first. Dev photographs only (no look at test or fresh).

    python benchmarks/detectors_lookalikes.py [--n 40] [--seeds 2] [--size 256]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = ("truth", "warp 2", "warp 4", "warp 8", "L 4", "L 8", "L 12", "L 16")


def variant(name: str, img: np.ndarray, hole: np.ndarray, rng) -> np.ndarray:
    from bench.calibration.cases import _paste, _q8
    from bench.calibration.photos import lightness_shifted, warped

    if name == "truth":
        return img
    kind, v = name.split()
    if kind == "warp":
        fill = warped(img, float(v), rng)
    else:  # away from mid-gray, so the shift is not clipped away
        fill = lightness_shifted(img, float(v) * (1 if img[hole].mean() < 0.5 else -1))
    return _paste(img, _q8(fill), hole)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="dev crops per seed (and as many in gray)")
    ap.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    from _common import Printer, save

    from bench.calibration.measure import apply, score_cases
    from bench.calibration.cases import Case
    from bench.calibration.photos import build_photo_cases
    from bench.detectors.thresholds import load_thresholds
    from bench.seeding import rng_for

    print = Printer()  # noqa: A001
    th = load_thresholds()
    print(f"look-alike fills of dev crops (seeds 0-{args.seeds - 1}, {args.n} crops each in colour and in gray, "
          f"{args.size} px), thresholds v{th['version']} ({th['sha256'][:12]}): flag rates")
    res: dict = {"thresholds_version": th["version"], "n": args.n, "seeds": args.seeds, "size": args.size,
                 "variants": {}}
    goods = [c for split in ("dev", "dev-gray") for s in range(args.seeds)
             for c in build_photo_cases(split, s, args.n, args.size, kinds=("good",))]
    for name in VARIANTS:
        cases = []
        for j, c in enumerate(goods):
            out = variant(name, c.gt, c.mask, rng_for("lookalikes", name, j))
            cases.append(Case(name, "reconstruction", c.strategy, c.input, c.gt, c.mask, out, out, {},
                              c.raw_size, c.model_size, c.meta))
        sc = apply(score_cases(cases), th["detectors"])
        r = {"n": len(cases), **{k: round(float(np.nanmean(sc[f"{k}_flag"])), 3)
                                 for k in ("replacement", "replacement_free", "blur")}}
        res["variants"][name] = r
        print(f"  {name:8s} n {r['n']:3d}  replacement {r['replacement']:.3f}  reference-free "
              f"{r['replacement_free']:.3f}  blur {r['blur']:.3f}")
    path = save("detectors_lookalikes", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
