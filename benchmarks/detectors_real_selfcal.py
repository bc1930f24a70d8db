"""Calibrating on your own labels, measured on real outputs: does ``bench calibrate --labels`` help a user whose
system the shipped thresholds misjudge?

    python benchmarks/detectors_real_selfcal.py --corpus /tmp/real-corpus [--max-side 512] [--min-outputs 10]

The README's advice for real outputs is to label some of them and fit the thresholds on those labels. This script
does that for each repository of the labelled corpus with at least ``--min-outputs`` labelled outputs, as a user of
that one system would: its outputs are split in two halves (a hash of the output id), the thresholds are fitted on
one half with the function ``bench calibrate --labels`` uses (:func:`bench.calibration.labels.fit_thresholds`:
every threshold it fits, the parts of the flag rules included; the corpus's ``ok`` is the labelling page's
``good``), and the other half is judged with them; then the halves swap, so every output is judged once by
thresholds that never saw it (also without the rule parts: the main thresholds alone, as ``--labels`` fitted before
they were added). Against the shipped thresholds on the same outputs: right verdicts (the verdict
equals the label; ``other`` is right under any failure), and ``blur`` and ``replacement`` flags (right / labelled /
flagged), per repository and pooled (all, and outside dev). A detector with too few labels of its failure in a
half keeps its shipped thresholds there, as ``--labels`` does.

Printed and written to ``benchmarks/results/detectors_real_selfcal.json``. Nothing is written to the shipped files.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


#: the shipped thresholds; those ``--labels`` fits; the same without the parts of the flag rules (the main thresholds
#: only, as ``--labels`` fitted before the parts were added)
RULES = ("shipped", "self", "self, main only")


def tally(frame, rows: np.ndarray) -> dict:
    """Right verdicts and blur / replacement flag counts over ``rows`` (bool) of ``frame``."""
    import detectors_real as dr

    lab = frame["label"].to_numpy()[rows]
    out = {"n": int(rows.sum()),
           "verdict_right": int(sum(dr.right(a, b) for a, b in zip(lab, frame["verdict"].to_numpy()[rows])))}
    for det in ("blur", "replacement"):
        f = np.nan_to_num(frame[f"{det}_flag"].to_numpy(float)[rows]) > 0.5
        out[det] = {"pos": int((lab == det).sum()), "flagged": int(f.sum()), "tp": int((f & (lab == det)).sum())}
    return out


def add(a: dict, b: dict) -> dict:
    return {k: (add(a[k], b[k]) if isinstance(a[k], dict) else a[k] + b[k]) for k in a}


def fmt(c: dict) -> str:
    pr = lambda d: f"{d['tp']}/{d['pos']} ({d['flagged']} fl.)"  # noqa: E731
    return (f"verdict {c['verdict_right']}/{c['n']} ({c['verdict_right'] / c['n']:.2f})  blur {pr(c['blur'])}  "
            f"replacement {pr(c['replacement'])}")


def main() -> int:
    import copy

    import pandas as pd

    from detectors_real import corpus_parser

    ap = corpus_parser(__doc__)
    ap.add_argument("--min-outputs", type=int, default=10, help="repositories with fewer labelled outputs are left out")
    ap.add_argument("--seed", type=int, default=0, help="the halves' hash seed")
    args = ap.parse_args()
    from _common import Printer, save
    import detectors_real as dr
    from bench.calibration.labels import _in_test, fit_thresholds
    from bench.detectors.thresholds import load_thresholds

    print = Printer()  # noqa: A001 - every line is also saved with the results
    t0 = time.time()
    recs = dr.score(args.corpus, dr.load_rows(args.corpus), args.max_side)
    shipped = load_thresholds()
    dev = {r["repo"] for r in recs if r["split"] == "dev"}
    repos = sorted(r for r in {x["repo"] for x in recs} if sum(x["repo"] == r for x in recs) >= args.min_outputs)
    print(f"calibrating on half of each repository's labels, judged on the other half (then swapped): "
          f"{len(repos)} repositories with at least {args.min_outputs} labelled outputs, thresholds v"
          f"{shipped['version']} against the fitted ones, max side {args.max_side} px")
    res: dict = {"repos": {}}
    for repo in repos:
        frame = pd.DataFrame([r for r in recs if r["repo"] == repo]).reset_index(drop=True)
        labels = frame["label"].replace({"ok": "good"}).to_numpy()
        half = np.array([_in_test(args.seed, repo, oid, 0.5) for oid in frame["output_id"]])
        per = dict.fromkeys(RULES)
        fitted = []
        for fold in (False, True):
            held = half == fold  # judged; the other half is fitted on
            parts = [(lab, i, bool(held[i])) for i, lab in enumerate(labels)]
            frames = {"shipped": frame}
            for rule, with_parts in (("self", True), ("self, main only", False)):
                detectors = copy.deepcopy(shipped["detectors"])
                # (guard=False: the held-out half is the judged half here; the guard would choose on what it judges)
                fit_thresholds(detectors, frame, parts, args.seed, rule_parts=with_parts, guard=False)
                frames[rule] = dr.rejudge(frame, detectors)
                if with_parts:
                    fitted.append([f"{d}.{k}" for d in ("blur", "replacement", "incomplete")
                                   for k, v in detectors[d].items() if v != shipped["detectors"][d].get(k)])
            for rule in RULES:
                c = tally(frames[rule], held)
                per[rule] = c if per[rule] is None else add(per[rule], c)
        res["repos"][repo] = {"splits": sorted(set(frame["split"])), **per,
                              "changed": sorted(set(fitted[0]) | set(fitted[1]))}
        print(f"  {repo} ({', '.join(res['repos'][repo]['splits'])}): thresholds the labels moved: "
              f"{', '.join(res['repos'][repo]['changed']) or 'none'}")
        for rule in RULES:
            print(f"      {rule:15s} {fmt(per[rule])}")
    res["pooled"] = {}
    for name, sel in (("all", repos), ("off dev", [r for r in repos if r not in dev])):
        print(f"pooled, {name} ({len(sel)} repositories):")
        res["pooled"][name] = {}
        for rule in RULES:
            tot = None
            for r in sel:
                tot = res["repos"][r][rule] if tot is None else add(tot, res["repos"][r][rule])
            res["pooled"][name][rule] = tot
            print(f"      {rule:15s} {fmt(tot)}")
    print(f"{time.time() - t0:.0f} s")
    path = save("detectors_real_selfcal", {"thresholds_version": shipped["version"], "max_side": args.max_side,
                                           "min_outputs": args.min_outputs, "seed": args.seed, **res}, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
