"""Learned evidence on REAL model outputs: do the reference-free removal metrics repair the failure verdict where
the weight-free detectors fail (issue 25, item 4)? The measurement waits for weights: run it where they are.

    python benchmarks/detectors_real_learned.py --corpus DIR [--metrics remove,remove_crop,rcs,cfd]
        [--weights-dir W] [--device cuda] [--max-side 512]
    python benchmarks/detectors_real_learned.py --corpus DIR --tiny-random [--limit 6]   # plumbing only

1. Every labelled output of the corpus (``datasets/prepare.py real-corpus``) is scored exactly as
   ``detectors_real.py`` scores it (same loading, downscaling, paste-back, weight-free detectors and verdict), and
   each learned metric asked for adds its per-sample columns on the same pasted-back output: ``remove`` and
   ``remove_crop`` (ReMOVE on SAM ViT-H), ``rcs`` (PROVE's RC-S on DINOv2), ``cfd`` (OmniPaint's CFD: DINOv2 and
   SAM's automatic masks; the slowest by far).
2. On the **dev split only**, ``bench calibrate --labels``'s own fit (:func:`bench.calibration.labels.fit_evidence`:
   per verdict, the learned column whose threshold separates that label from ``ok`` best, Youden's J at least
   ``MIN_EVIDENCE_J``) chooses the evidence rules. Nothing else is fitted.
3. The rules are applied as a run applies them (:func:`bench.detectors.flagging.apply_evidence`, then
   :func:`bench.detectors.verdict.verdicts`), and every split, and all but dev pooled, is summarised as
   ``detectors_real.py`` summarises it, once without and once with the evidence, beside each learned column's AUROC
   against ``ok`` (read in its failure direction: a low ``remove`` or ``rcs``, a high ``cfd``).

Weights: resolved as a suite's are (``--weights-dir`` or ``$INPAINT_BENCH_WEIGHTS``, then the Hugging Face cache;
``bench weights list`` names them; offline without them the first metric fails at once, naming the file). Written to
``benchmarks/results/detectors_real_learned.json`` only with pretrained weights. ``--tiny-random`` runs the same code
on the tiny random networks the tests use, on the CPU, and keeps nothing: its figures mean nothing.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the columns asked for by name -> (metric type, its parameters)
LEARNED = {"remove": ("remove", {}), "remove_crop": ("remove", {"crop": True}), "rcs": ("rcs", {}),
           "cfd": ("cfd", {})}


class AsDetector:
    """A metric as ``detectors_real.score``'s extra detectors are called (``detect(batch)`` -> columns)."""

    def __init__(self, metric) -> None:
        self.metric = metric

    def detect(self, batch) -> dict:
        return self.metric.compute(batch)


def learned_metrics(names: list[str], device: str = "cpu", weights_dir: str | None = None,
                    tiny_random: bool = False) -> dict:
    """The metrics of ``names`` (keys of :data:`LEARNED`), set up for a run's context: pretrained weights found as a
    suite finds them, or (``tiny_random``) the tests' tiny random networks."""
    import torch

    from bench.metrics import removal_nets as N
    from bench.registry import METRICS
    from bench.types import RunContext

    bad = [n for n in names if n not in LEARNED]
    if bad:
        raise SystemExit(f"--metrics: unknown column {bad[0]!r}; choose from {', '.join(LEARNED)}")
    ctx = RunContext(device=torch.device(device), weights="random" if tiny_random else "pretrained",
                     weights_dir=Path(weights_dir) if weights_dir else None)
    out = {}
    for name in names:
        kind, params = LEARNED[name]
        if tiny_random:
            params = params | {"config": {n: N.TINY[n] for n in METRICS.get(kind).NETS}}
        m = METRICS.get(kind)(**params)
        m.setup(ctx)
        out[name] = AsDetector(m)
    return out


def suspicion(recs: list[dict], col: str) -> list[dict]:
    """``recs`` with ``col`` turned so that larger means more suspect (its evidence direction)."""
    from bench.detectors.flagging import EVIDENCE_COLUMNS

    sign = -1.0 if EVIDENCE_COLUMNS.get(col) == "below" else 1.0
    return [r | {col: sign * float(r.get(col, np.nan))} for r in recs]


def fit_and_apply(recs: list[dict], seed: int = 0) -> tuple[list[dict], dict, dict, list[dict]]:
    """(rules fitted on the design split, the fit's results per verdict and column, how each rule was applied,
    the records with the evidence flags and the verdicts again)."""
    import pandas as pd

    from bench.calibration.labels import fit_evidence
    from bench.detectors.flagging import apply_evidence
    from detectors_real import DESIGN_SPLIT, judge

    frame = pd.DataFrame(recs)
    # the labelling page's word for a correct fill is "good", the corpus's "ok"; held out = not the design split
    parts = [("good" if r["label"] == "ok" else r["label"], i, r["split"] != DESIGN_SPLIT)
             for i, r in enumerate(recs)]
    # (guard=False: the held-out splits are the judged ones here; the guard would choose on what they judge)
    rules, results = fit_evidence(frame, parts, seed, guard=False)
    applied = apply_evidence(frame, rules)
    judge(frame)
    for det in ("blur", "replacement"):  # a detector's flag for the P/R figures: its own or the evidence's
        ev = f"evidence_{det}_flag"
        if ev in frame:
            frame[f"{det}_flag"] = np.fmax(frame[f"{det}_flag"].to_numpy(float), frame[ev].to_numpy(float))
    return rules, results, applied, frame.to_dict("records")


def main() -> int:
    from detectors_real import corpus_parser

    ap = corpus_parser(__doc__)
    ap.add_argument("--metrics", default="remove,remove_crop,rcs,cfd", help="learned columns, comma-separated")
    ap.add_argument("--weights-dir", default=None, help="where local weights live (else $INPAINT_BENCH_WEIGHTS)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tiny-random", action="store_true", help="tiny random networks: plumbing, nothing kept")
    ap.add_argument("--limit", type=int, default=0, help="at most this many outputs per split (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from _common import Printer, save
    from detectors_real import DESIGN_SPLIT, aurocs, load_rows, score, summarise

    def pr(d: dict) -> str:
        p = "-" if d["precision"] is None else f"{d['precision']:.2f}"
        r = "-" if d["recall"] is None else f"{d['recall']:.2f}"
        return f"P {p} R {r}"

    print = Printer()  # noqa: A001
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    rows = load_rows(args.corpus)
    if args.limit:
        rows = [r for sp in dict.fromkeys(r["split"] for r in rows) for r in
                [x for x in rows if x["split"] == sp][: args.limit]]
    t0 = time.perf_counter()
    mets = learned_metrics(names, args.device, args.weights_dir, args.tiny_random)
    recs = score(args.corpus, rows, args.max_side, extra=mets)
    nets = "TINY RANDOM networks: the figures mean nothing" if args.tiny_random else "pretrained weights"
    print(f"learned evidence ({', '.join(names)}; {nets}) on {len(recs)} labelled real outputs, max side {args.max_side} px, device {args.device}, "
          f"{time.perf_counter() - t0:.0f} s")
    rules, fit, applied, after = fit_and_apply(recs, args.seed)
    print(f"rules fitted on {DESIGN_SPLIT}: " + ("; ".join(f"{r['column']} {'<' if r['direction'] == 'below' else '>'}"
                                                      f" {r['threshold']} -> {r['verdict']}" for r in rules)
                                                 or "none reached the minimum separation"))
    for key, f in fit.items():
        what = f.get("skipped") or (f"threshold {f['threshold']} ({f['direction']}), J on {DESIGN_SPLIT} "
                                    f"{f['fit_j']:.2f}, held out P {f['test']['precision']:.2f} R "
                                    f"{f['test']['recall']:.2f} AUROC {f['test']['auroc']:.2f}"
                                    + (" (written)" if f.get("written") else ""))
        print(f"  {key}: {what}")
    res: dict = {"metrics": names, "tiny_random": args.tiny_random, "max_side": args.max_side, "rules": rules,
                 "fit": fit, "applied": applied, "splits": {}}
    from real_corpus import SPLITS  # (on the path since load_rows)

    splits = [sp for sp in SPLITS if any(r["split"] == sp for r in recs)]
    groups = [(sp, lambda r, sp=sp: r["split"] == sp) for sp in splits]
    groups.append((f"all but {DESIGN_SPLIT}", lambda r: r["split"] != DESIGN_SPLIT))
    for name, keep in groups:
        before, now = [r for r in recs if keep(r)], [r for r in after if keep(r)]
        if not before:
            continue
        s0, s1 = summarise(before), summarise(now)
        au = {c: {lab: v for lab in ("replacement", "blur")
                  if (v := aurocs(suspicion(before, c), ((lab, c, True),)).get(c))} for c in names}
        res["splits"][name] = {"without": s0, "with": s1, "aurocs": au}
        print(f"{name}: n {s0['n']}, labels {s0['labels']}")
        for tag, s in (("weight-free", s0), ("with evidence", s1)):
            print(f"  {tag:14s} verdict {s['verdict_accuracy']:.2f} {s['verdict_accuracy_ci']}  replacement "
                  f"{pr(s['replacement'])}  blur {pr(s['blur'])}")
        print("  AUROC against ok: " + (", ".join(f"{c} {lab} {v['auroc']:.2f} ({v['pos']}/{v['ok']})"
                                                 for c, a in au.items() for lab, v in a.items()) or "-"))
    if args.tiny_random:
        sys.stdout.write("tiny random networks: nothing written\n")
        return 0
    path = save("detectors_real_learned", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
