"""Why ``replacement`` (with the truth) misses the pasted content it misses on the dev photographs: each miss scored
again with one part of the reference pass taken away (dev only: a diagnosis, not a measurement of accuracy).

    python benchmarks/replacement_misses.py [--split dev] [--seeds 0 1 2 3 4] [--n 40]

For every pasted case (label 1) that the shipped ``ref_threshold`` misses:

* ``free``: the share of the fill new against its part of the ring (before the truth is consulted);
* ``no truth support``: the reference score when what the truth shows in the same sector of the hole excuses
  nothing (the truth's tables emptied);
* ``unscaled hull``: the reference score when the whole ring's hull is not scaled (``REF_HULL_SCALE`` and
  ``REF_GRAINLESS_SCALE`` 1: only the ring's own colours, grown by one cell, count as blends).

A miss is put down to the first ablation that lifts it over the threshold; the rest are new against little or
nothing in the ring (colours matched to it, or blends of its colours).
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@contextmanager
def patched(module, **values):
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="dev")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--n", type=int, default=40, help="photo crops per seed")
    args = ap.parse_args()
    import numpy as np
    import torch

    import bench.detectors.replacement as R
    from bench.calibration.photos import build_photo_cases
    from _common import Printer, save

    det = R.ReplacementDetector()
    thr = det.t["ref_threshold"]
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()  # noqa: E731
    full = R._sector_max_grad

    def no_truth_support(cells, g, sec, pool, ncell, min_count, key_counts=None):  # (only the truth's: unpooled)
        out = full(cells, g, sec, pool, ncell, min_count, key_counts)
        if pool is None:
            out[:] = -1
        return out

    def score(c) -> tuple[float, float]:
        free, ref, _ = det.parts(tensor(c.output), c.mask, tensor(c.gt))
        return free, ref

    print = Printer()  # noqa: A001 - every line is also saved with the results
    print(f"replacement misses on {args.split} (seeds {', '.join(map(str, args.seeds))}, {args.n} crops each), "
          f"ref_threshold {thr} (thresholds v{det.thresholds_version})")
    print(f"  {'seed':>4} {'kind':<8} {'hole':<8} {'photo':<20} {'pasted from':<24} {'free':>6} {'ref':>7} "
          f"{'no truth support':>16} {'unscaled hull':>13}  cause")
    rows, positives = [], 0
    for seed in args.seeds:
        for c in build_photo_cases(args.split, seed, args.n):
            if c.labels.get("replacement") != 1:
                continue
            positives += 1
            free, ref = score(c)
            if ref > thr:
                continue
            with patched(R, _sector_max_grad=no_truth_support):
                _, ref_a = score(c)
            with patched(R, REF_HULL_SCALE=1.0, REF_GRAINLESS_SCALE=1.0):
                _, ref_b = score(c)
            cause = ("the truth's support in its sector" if ref_a > thr else
                     "the ring hull's scaling" if ref_b > thr else "little new against the ring")
            rows.append({"seed": seed, "kind": c.kind, "hole": c.strategy, "photo": c.meta.get("photo"),
                         "other": c.meta.get("other"), "free": free, "ref": ref, "ref_no_truth_support": ref_a,
                         "ref_unscaled_hull": ref_b, "cause": cause})
            print(f"  {seed:>4} {c.kind:<8} {c.strategy:<8} {str(c.meta.get('photo')):<20} "
                  f"{str(c.meta.get('other')):<24} {free:6.3f} {ref:7.4f} {ref_a:16.4f} {ref_b:13.4f}  {cause}")
    causes: dict[str, int] = {}
    for r in rows:
        causes[r["cause"]] = causes.get(r["cause"], 0) + 1
    print(f"missed {len(rows)} of {positives} pasted cases: "
          + "; ".join(f"{k} {v}" for k, v in sorted(causes.items(), key=lambda kv: -kv[1])))
    path = save("replacement_misses", {"split": args.split, "seeds": args.seeds, "n": args.n, "ref_threshold": thr,
                                       "positives": positives, "misses": rows, "causes": causes}, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
