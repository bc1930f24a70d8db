"""How much the thresholds chosen on the dev photographs depend on the seed: blur's main threshold and
replacement's two (the ones ``bench calibrate`` chooses on real photographs) chosen on each seed alone, on all
seeds pooled, and on every set of all seeds but one, measured on the seed left out (precision and recall of the
detectors' flags; for ``replacement`` also the highest rate at which it flags a classical fill, Telea, Navier-Stokes
or biharmonic, of that seed).

    python benchmarks/calibration_seeds.py [--seeds 5] [--photos 40] [--size 256]

Dev photographs only (the calibration's own split, :func:`bench.calibration.calibrate.labelled_set`): this measures
the procedure, not the detectors' figures (those are ``benchmarks/detectors_photos.py``'s, on the test and fresh
splits). Slow: building the classical fills (biharmonic) takes about 5 minutes a seed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (row label, flag key, (detector, threshold entry)) of the thresholds chosen on the dev photographs
ROWS = (("blur", "blur_flag", ("blur", "threshold")),
        ("replacement", "replacement_flag", ("replacement", "ref_threshold")),
        ("replacement (reference-free)", "replacement_free_flag", ("replacement", "threshold")))


def photo_thresholds(scores: dict[str, np.ndarray]) -> dict[str, dict]:
    """The thresholds ``bench calibrate`` chooses on these photo-case scores (its PHOTO_SPECS), others left out."""
    from bench.calibration.measure import PHOTO_SPECS, SPECS, _choose

    chosen: dict[str, dict] = {}
    for spec in SPECS:
        if (spec.detector, spec.name) in PHOTO_SPECS:
            _choose(spec, scores, chosen)
    return chosen


def measure(scores: dict[str, np.ndarray], chosen: dict[str, dict]) -> dict[str, dict]:
    from bench.calibration.measure import CLASSICAL, apply
    from bench.stats import pr
    from bench.detectors.thresholds import load_thresholds

    full = {d: dict(e) for d, e in load_thresholds()["detectors"].items()}  # the rest: any fixed values
    for d, e in chosen.items():
        full[d].update(e)
    sc = apply(scores, full)
    kinds = sc["kind"]
    classical = np.isin(kinds, CLASSICAL)
    out = {}
    for row, flag, _ in ROWS:
        lab = sc[f"label:{row.split(' ')[0]}"]
        sel = ~np.isnan(lab) & ~classical
        if row == "blur":  # as the calibration: mosaics are the grid test's, not the main threshold's
            sel &= ~((kinds == "mosaic") & (lab == 1))
        p, r, _ = pr(lab[sel] == 1, np.nan_to_num(sc[flag][sel]))
        out[row] = {"precision": round(p, 3), "recall": round(r, 3)}
        if row.startswith("replacement"):
            out[row]["classical_max_rate"] = round(max(float(np.nanmean(sc[flag][kinds == k])) for k in CLASSICAL), 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    ap.add_argument("--photos", type=int, default=40, help="dev crops per seed (and half as many in gray)")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    from _common import Printer, save

    from bench.calibration.calibrate import _merge, labelled_set
    from bench.calibration.measure import CLASSICAL, score_cases
    from bench.stats import pr
    from bench.stats import threshold_flags as _flags
    from bench.detectors.thresholds import load_thresholds

    print = Printer()  # noqa: A001
    th = load_thresholds()
    print(f"thresholds chosen on the dev photographs: per seed, pooled, and leave one seed out ({args.photos} dev "
          f"crops and {args.photos // 2} in gray per seed, with classical fills; {args.size} px; other detectors' "
          f"thresholds from v{th['version']})")
    seeds = list(range(args.seeds))
    scores = {}
    for s in seeds:
        scores[s] = score_cases(labelled_set(s, 0, args.size, args.photos)[1])

    def pooled(ss):
        out = None
        for s in ss:
            out = _merge(scores[s], out)
        return out

    def fmt(ch):
        return "  ".join(f"{row} > {ch[d].get(k)}" for row, _, (d, k) in ROWS)

    res: dict = {"seeds": seeds, "photos": args.photos, "size": args.size, "per_seed": {}, "leave_one_out": {}}
    print("chosen on one seed alone:")
    for s in seeds:
        ch = photo_thresholds(scores[s])
        res["per_seed"][s] = ch
        print(f"  seed {s}: {fmt(ch)}")
    P = pooled(seeds)
    ch = photo_thresholds(P)
    res["pooled"] = ch
    print(f"all {len(seeds)} pooled: {fmt(ch)}")
    # how sharp the pooled choice is: replacement's break-even (the smaller of precision and recall: what chooses
    # ref_threshold) and F1 around it
    lab = P["label:replacement"]
    sel = ~np.isnan(lab)
    y, s_ref = lab[sel] == 1, P["replacement_ref_score"][sel]
    curve = {}
    for t in (0.01, 0.015, 0.02, 0.023, 0.03, 0.04, 0.0456, 0.06, 0.075, 0.0928, 0.12):
        f = _flags(s_ref, t, "above") == 1
        p_, r_, f1 = pr(y, f)
        curve[t] = {"f1": round(f1, 4), "precision": round(p_, 3), "recall": round(r_, 3),
                    "classical_max_rate": round(max(float((P["replacement_ref_score"][P["kind"] == k] > t).mean())
                                                    for k in CLASSICAL), 3)}
    res["pooled_ref_curve"] = curve
    print("pooled, replacement with the truth at other thresholds (over every labelled case, classical fills "
          "included: precision / recall, F1):")
    for part in (list(curve.items())[:6], list(curve.items())[6:]):
        print("  " + "  ".join(f"{t:g}: {v['precision']:.3f} / {v['recall']:.3f}, F1 {v['f1']:.3f}" for t, v in part))
    print("pooled without one seed, measured on it:")
    for s in seeds:
        ch = photo_thresholds(pooled([o for o in seeds if o != s]))
        m = measure(scores[s], ch)
        res["leave_one_out"][s] = {"chosen": ch, "held_out": m}
        print(f"  without seed {s}: {fmt(ch)}")
        print("    on seed {}: ".format(s) + "; ".join(
            f"{row} P {v['precision']:.3f} R {v['recall']:.3f}"
            + (f" classical max {v['classical_max_rate']:.3f}" if "classical_max_rate" in v else "")
            for row, v in m.items()))
    path = save("calibration_seeds", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
