"""Prototype real-output cues (bench/detectors/real_cues.py) on the real corpus: designed and thresholded on the
dev split only, then measured once on test.

    python benchmarks/detectors_real_cues.py --corpus /tmp/real-corpus

Candidates, each threshold chosen on dev (Youden's J) and then frozen:

* ``blur (detail deficit)``: ``real_cues_blur_score`` above its dev threshold;
* ``replacement (detail excess)``: ``real_cues_replacement_score`` above its dev threshold;
* ``replacement (shipped score, dev threshold)``: the shipped reference-free ``replacement_score`` with a threshold
  chosen on dev instead of the constructed cases;
* ``replacement (both)``: the last two together (both must agree).

The proposal's "fill verdict" (the one of benchmarks/detectors_real.py, without ``outside_drift`` and
``incomplete``) uses ``replacement (both)`` and ``blur (detail deficit)`` in place of the shipped flags. Also the
cost: images/s at 256 px on CPU of the real cues alone and of the weight-free detectors with them. Nothing here
changes the shipped thresholds or detectors. Output: ``benchmarks/results/detectors_real_cues.json``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def youden(y: np.ndarray, s: np.ndarray) -> float:
    """The threshold (flag: score above it) with the largest recall + specificity - 1 (the first of ties)."""
    best, t_best = -2.0, float("nan")
    for t in np.unique(s[~np.isnan(s)]):
        f = s > t
        j = (f & y).sum() / max(1, y.sum()) + (~f & ~y).sum() / max(1, (~y).sum()) - 1
        if j > best:
            best, t_best = j, float(t)
    return t_best


def throughput(size: int = 256, n: int = 64, repeat: int = 5) -> dict:
    """Images/s of the weight-free detectors and of the real cues on the same batches, each batch timed for both
    back to back (``repeat`` times, the fastest kept), so that a shared machine's load drifts into both alike;
    ``added_share`` is the real cues' time over the weight-free detectors' time."""
    from _common import case_batches

    from bench.detectors import WEIGHT_FREE
    from bench.detectors.real_cues import RealCuesDetector
    from bench.registry import DETECTORS

    batches = case_batches(n, size, 16)
    dets = [DETECTORS.get(name)() for name in WEIGHT_FREE]
    cues = RealCuesDetector()
    for b in batches[:1]:  # warm-up
        for d in dets + [cues]:
            d.detect(b)
    t_wf = t_rc = 0.0
    for b in batches:
        best_wf = best_rc = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for d in dets:
                d.detect(b)
            t1 = time.perf_counter()
            cues.detect(b)
            t2 = time.perf_counter()
            best_wf, best_rc = min(best_wf, t1 - t0), min(best_rc, t2 - t1)
        t_wf += best_wf
        t_rc += best_rc
    return {"size": size, "n": n, "repeat": repeat, "weight_free_img_s": round(n / t_wf, 1),
            "real_cues_img_s": round(n / t_rc, 1), "added_share": round(t_rc / t_wf, 3),
            "load_average": round(__import__("os").getloadavg()[0], 2)}


def main() -> int:
    from detectors_real import corpus_parser

    ap = corpus_parser(__doc__)
    ap.add_argument("--dev-only", action="store_true", help="score and print dev only (no look at test, nothing saved)")
    args = ap.parse_args()
    import pandas as pd
    from _common import Printer, save
    from detectors_real import _boot, load_rows, right, score

    from bench.stats import auroc
    from bench.detectors.real_cues import RealCuesDetector
    from bench.detectors.verdict import verdicts

    print = Printer()  # noqa: A001
    rows = [r for r in load_rows(args.corpus) if r["split"] == "dev" or not args.dev_only]
    recs = pd.DataFrame(score(args.corpus, rows, args.max_side, extra={"real_cues": RealCuesDetector()}))
    lab = recs["label"].to_numpy()
    dev = recs["split"].to_numpy() == "dev"
    deficit = recs["real_cues_blur_score"].to_numpy(float)
    excess = recs["real_cues_replacement_score"].to_numpy(float)
    shipped = recs["replacement_score"].to_numpy(float)
    bsel = np.isin(lab, ["blur", "ok"])
    th = {"blur_deficit": youden(lab[dev & bsel] == "blur", deficit[dev & bsel]),
          "replacement_excess": youden(lab[dev] == "replacement", excess[dev]),
          "replacement_shipped_refit": youden(lab[dev] == "replacement", shipped[dev])}
    print("thresholds chosen on dev: " + ", ".join(f"{k} {v:.4f}" for k, v in th.items()))
    flags = {"blur (shipped)": recs["blur_flag"].fillna(0).to_numpy() > 0.5,
             "blur (detail deficit)": deficit > th["blur_deficit"],
             "replacement (shipped)": recs["replacement_flag"].fillna(0).to_numpy() > 0.5,
             "replacement (detail excess)": excess > th["replacement_excess"],
             "replacement (shipped score, dev threshold)": shipped > th["replacement_shipped_refit"]}
    flags["replacement (both)"] = flags["replacement (detail excess)"] & flags[
        "replacement (shipped score, dev threshold)"]
    res: dict = {"thresholds": th, "splits": {}}
    for split in ("dev",) if args.dev_only else ("dev", "test"):
        k = recs["split"].to_numpy() == split
        out: dict = {"auroc": {
            "blur vs ok, shipped blur_score": auroc(lab[k & bsel] == "blur",
                                                    recs["blur_score"].to_numpy(float)[k & bsel]),
            "blur vs ok, detail deficit": auroc(lab[k & bsel] == "blur", deficit[k & bsel]),
            "replacement vs rest, shipped replacement_score": auroc(lab[k] == "replacement", shipped[k]),
            "replacement vs rest, detail excess": auroc(lab[k] == "replacement", excess[k])}, "flags": {}}
        out["auroc"] = {a: round(v, 3) for a, v in out["auroc"].items()}
        print(f"{split}{' (thresholds chosen here)' if split == 'dev' else ' (one look, thresholds frozen)'}: "
              + ", ".join(f"AUROC {a} {v:.3f}" for a, v in out["auroc"].items()))
        for name, f in flags.items():
            y = lab[k] == name.split(" ")[0]
            d = out["flags"][name] = _boot(y, f[k])
            p = "-" if d["precision"] is None else f"{d['precision']:.2f}"
            print(f"  {name:44s} precision {p} {d['precision_ci']}  recall {d['recall']:.2f} {d['recall_ci']}  "
                  f"({d['tp']}/{d['pos']}, {d['flagged']} flagged)")
        fr = recs[k].drop(columns=[c for c in recs if c.startswith(("outside_drift", "incomplete"))]).copy()
        fr["replacement_flag"] = flags["replacement (both)"][k].astype(float)
        fr["blur_flag"] = flags["blur (detail deficit)"][k].astype(float)
        fr = fr.drop(columns=["blur_mosaic_flag"], errors="ignore")
        v = verdicts(fr).to_numpy()
        ok = np.asarray([right(a, b) for a, b in zip(lab[k], v)])
        rng = np.random.default_rng(1)
        boots = [ok[rng.integers(0, len(ok), len(ok))].mean() for _ in range(2000)]
        out["fill_verdict_accuracy"] = round(float(ok.mean()), 3)
        out["fill_verdict_accuracy_ci"] = [round(float(np.quantile(boots, q)), 3) for q in (0.025, 0.975)]
        print(f"  fill verdict with the proposal: {out['fill_verdict_accuracy']:.2f} {out['fill_verdict_accuracy_ci']}")
        res["splits"][split] = out
    if args.dev_only:
        return 0
    res["throughput"] = throughput()
    t = res["throughput"]
    print(f"cost at {t['size']} px, CPU, {t['n']} constructed cases, each batch timed for both back to back (load "
          f"average {t['load_average']}): weight-free detectors {t['weight_free_img_s']} img/s, real cues "
          f"{t['real_cues_img_s']} img/s: the real cues add {100 * t['added_share']:.0f} % to the weight-free "
          f"detectors' time")
    path = save("detectors_real_cues", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
