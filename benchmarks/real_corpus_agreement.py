"""How far two people agree on the real-output corpus's labels, and what the detectors' figures are against each.

    python benchmarks/real_corpus_agreement.py

Reads the committed labels (``datasets/real_corpus/corpus.csv``: the first labeller) and a second labeller's
(``datasets/real_corpus/labels_second.csv``: ``output_id,label``; made blind to the first, on the same contact
sheets, ``prepare.py real-corpus --sheets DIR``), and the per-output verdicts and flags of the latest
``benchmarks/results/detectors_real.json`` (nothing is scored here). Printed and written to
``benchmarks/results/real_corpus_agreement.json``:

* per split and over all: outputs both labelled, raw agreement, Cohen's κ on every label (``ambiguous``
  included: it is a judgement too) and on the outputs neither called ``ambiguous``; the confusion of the two;
* against each labeller, on the outputs both labelled and neither called ``ambiguous``: the verdict accuracy
  (``other``: any failure verdict counts) and the precision / recall of ``blur`` and ``replacement``.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detectors_real import right  # noqa: E402  (the verdict is right as detectors_real counts it)

SECOND = ROOT / "datasets" / "real_corpus" / "labels_second.csv"
REAL = ROOT / "benchmarks" / "results" / "detectors_real.json"


def read_second(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise SystemExit(f"{path}: no second labeller's file (columns output_id,label)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"output_id", "label"} <= set(rows[0]):
        raise SystemExit(f"{path}: expected the columns output_id,label")
    return {r["output_id"]: r["label"].strip() for r in rows if r["label"].strip()}


def pr(labels: list[str], flags: list[float], what: str) -> dict:
    y = np.asarray([lab == what for lab in labels])
    f = np.asarray([fl == 1.0 for fl in flags])
    tp = int((y & f).sum())
    return {"pos": int(y.sum()), "flagged": int(f.sum()), "tp": tp,
            "precision": round(tp / f.sum(), 3) if f.sum() else None,
            "recall": round(tp / y.sum(), 3) if y.sum() else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--second", type=Path, default=SECOND)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "datasets"))
    from _common import Printer, save
    from real_corpus import LABELS, SPLITS, read_labels

    from bench.stats import cohen_kappa

    print = Printer()  # noqa: A001
    first = read_labels()
    second = read_second(args.second)
    bad = sorted({v for v in second.values() if v not in LABELS})
    if bad:
        raise SystemExit(f"{args.second}: labels {bad} not in {LABELS}")
    unknown = sorted(set(second) - set(first))
    if unknown:
        raise SystemExit(f"{args.second}: output ids not in the corpus: {unknown[:5]}")
    real = {r["output_id"]: r for r in json.loads(REAL.read_text())["results"]["outputs"]}
    res: dict = {"n_first": sum(1 for r in first.values() if r["label"]), "n_second": len(second), "splits": {}}
    print(f"labels: first {res['n_first']} outputs, second {res['n_second']} (blind to the first, same contact "
          f"sheets); detectors: {REAL.relative_to(ROOT)}")
    for split in (*SPLITS, "all"):
        ids = [k for k, r in first.items() if r["label"] and k in second and (split == "all" or r["split"] == split)]
        if not ids:
            continue
        a, b = [first[k]["label"] for k in ids], [second[k] for k in ids]
        clear = [i for i, k in enumerate(ids) if a[i] != "ambiguous" and b[i] != "ambiguous"]
        s = {"n": len(ids), "agreement": round(float(np.mean([x == y for x, y in zip(a, b)])), 3),
             "kappa": round(cohen_kappa(a, b), 3),
             "n_clear": len(clear), "kappa_clear": round(cohen_kappa([a[i] for i in clear], [b[i] for i in clear]), 3),
             "confusion": {f"{x}->{y}": int(sum(1 for p, q in zip(a, b) if (p, q) == (x, y)))
                           for x in sorted(set(a)) for y in sorted(set(b)) if (x, y) in set(zip(a, b))}}
        print(f"{split}: {s['n']} outputs both labelled: agreement {s['agreement']:.2f}, Cohen's kappa "
              f"{s['kappa']:.2f}; without 'ambiguous' ({s['n_clear']}): kappa {s['kappa_clear']:.2f}")
        print(f"    first->second {s['confusion']}")
        scored = [ids[i] for i in clear if ids[i] in real]
        for who, lab in (("first", first), ("second", second)):
            labels = [lab[k]["label"] if who == "first" else lab[k] for k in scored]
            ver = [real[k]["verdict"] for k in scored]
            s[f"against_{who}"] = {
                "n": len(scored),
                "verdict_accuracy": round(float(np.mean([right(x, v) for x, v in zip(labels, ver)])), 3)
                if scored else None,
                "blur": pr(labels, [real[k]["blur_flag"] for k in scored], "blur"),
                "replacement": pr(labels, [real[k]["replacement_flag"] for k in scored], "replacement")}
            g = s[f"against_{who}"]
            print(f"    detectors against the {who} labeller ({g['n']} outputs): verdict accuracy "
                  f"{g['verdict_accuracy']}, blur P {g['blur']['precision']} R {g['blur']['recall']} "
                  f"({g['blur']['tp']}/{g['blur']['pos']}), replacement P {g['replacement']['precision']} "
                  f"R {g['replacement']['recall']} ({g['replacement']['tp']}/{g['replacement']['pos']})")
        res["splits"][split] = s
    path = save("real_corpus_agreement", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
