"""Coverage of the 95 % intervals of a mean: the plain percentile bootstrap against the expanded percentile
bootstrap that ``bench.stats.bootstrap_ci`` uses (Hesterberg 2015), and how often the paired interval and the
paired test's p-value agree, by sample size, on synthetic data of known mean (normal; exponential and log-normal,
skewed like per-image LPIPS; Bernoulli, like a flag).

    python benchmarks/ci_coverage.py                 # 1000 replicates per cell (a few minutes on 2 cores)
    python benchmarks/ci_coverage.py --reps 200
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

SIZES = (5, 8, 12, 20, 50, 100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args(argv)

    from _common import Printer, save

    from bench.stats import _boot_means, _order_stat_interval, expanded_alpha, paired_bootstrap

    print = Printer()  # noqa: A001 - every line is also saved with the results
    rng = np.random.default_rng(2026)
    dists = {
        "normal": (lambda k: rng.normal(0.0, 1.0, k), 0.0),
        "exponential": (lambda k: rng.exponential(1.0, k), 1.0),
        "lognormal": (lambda k: rng.lognormal(0.0, 1.0, k), math.exp(0.5)),
        "bernoulli_0.3": (lambda k: (rng.random(k) < 0.3).astype(float), 0.3),
    }
    results: dict = {"reps": args.reps, "n_boot": args.n_boot, "alpha": 0.05, "coverage": {}, "paired_agreement": {}}
    print(f"95 % intervals of a mean: share of {args.reps} replicates that cover the true mean "
          f"({args.n_boot} resamples each); plain percentile / expanded percentile (bench.stats.bootstrap_ci)")
    print(f"{'n':>4} {'level':>7}  " + "  ".join(f"{d:>22}" for d in dists))
    for n in SIZES:
        level = expanded_alpha(n, 0.05)
        row = {}
        for name, (draw, mu) in dists.items():
            plain = expanded = 0
            for r in range(args.reps):
                v = draw(n)
                if np.all(v == v[0]):  # no spread: the interval is the value (bootstrap_ci returns it)
                    plain += v[0] == mu
                    expanded += v[0] == mu
                    continue
                boots = _boot_means(v, args.n_boot, np.random.default_rng(r))
                lo, hi = _order_stat_interval(boots, 0.05)
                plain += lo <= mu <= hi
                lo, hi = _order_stat_interval(boots, level)
                expanded += lo <= mu <= hi
            row[name] = {"plain": round(plain / args.reps, 3), "expanded": round(expanded / args.reps, 3)}
        results["coverage"][str(n)] = {"level": round(level, 4), **row}
        print(f"{n:>4} {level:>7.4f}  " + "  ".join(f"{row[d]['plain']:>10.3f} / {row[d]['expanded']:<9.3f}"
                                                 for d in dists))
    print("")
    print("paired test, differences ~ normal(0.5, 1): share of replicates whose interval excludes 0 exactly when "
          "p < 0.05 (bench.stats.paired_bootstrap)")
    for n in SIZES:
        agree = 0
        for r in range(args.reps):
            d = rng.normal(0.5, 1.0, n)
            res = paired_bootstrap(d, np.zeros(n), n_boot=args.n_boot, seed=r)
            agree += (res["lo"] > 0 or res["hi"] < 0) == (res["p_value"] < 0.05)
        results["paired_agreement"][str(n)] = round(agree / args.reps, 3)
        print(f"{n:>4}  {agree / args.reps:.3f}")
    path = save("ci_coverage", results, print.lines)
    print(f"saved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
