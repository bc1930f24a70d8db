"""Leave one repository out: the real-output heads fitted on every other source of the corpus, judged on the one left
out, against the shipped heads (fitted on dev only) and against no head at all.

    python benchmarks/detectors_real_loso.py --corpus /tmp/real-corpus [--max-side 512]

Why. The shipped heads and their thresholds (``replacement``'s ``real_threshold`` and ``plain_threshold``;
``blur``'s head, off by default since its leave-one-input-out break-even on dev fell short) were fitted on the
dev split alone (``detectors_real_fit.py``), and dev is 100 of 117 outputs of CM-GAN's comparison figures. Every cue
designed there has done worse off dev. This script asks whether a head fitted on *more kinds* of systems does
better on a system it has not seen: for each repository of the corpus (a fold; Inpaint-Anything's two sources are
one), the procedure of ``detectors_real_fit.fit_real`` (same features, same regulariser, the same break-even and
constructed-case cap, the same ``plain_threshold`` rule) runs on the labelled outputs of every *other* repository,
and the fitted rules flag the held-out one. Nothing else changes: every score, the weight-free thresholds and the
verdict's order are the shipped ones.

Three rules are compared per held-out repository and pooled:

* ``shipped``: the committed heads and thresholds (what ``detectors_real.py`` reports). On dev sources this is
  in-sample; elsewhere it is out-of-sample too, so **off dev** is where the two fits compare like for like.
* ``loso``: ``replacement``'s head and thresholds fitted without the held-out repository. ``blur``'s head is fitted
  too and its threshold printed (would a pooled fit give it ground?), but, as shipped, it takes no part in the flag
  (``real_head: false``).
* ``no head``: ``replacement`` flags on novelty alone (``real_threshold`` and ``plain_threshold`` unset); ``blur``
  as shipped (its head flags nothing).

Then the same question for the **weight-free thresholds**, which are chosen on constructed cases, not on the corpus
(``replacement``'s novelty ``threshold``, ``blur``'s ``grain_threshold`` and ``fade_threshold``): per held-out
repository, the triple of :data:`GRID` with the most right verdicts on the other repositories (no head; pooled over
their outputs, or each repository's accuracy averaged, so that CM-GAN's 100 figure outputs weigh as one source), and
the held-out verdicts with it; against the shipped triple, and the best one triple of the grid reaches in hindsight
(over all outputs, and over those outside dev): how far any re-thresholding of these scores could go.

A model shared by several repositories (LaMa is in five) is not held out with them: a repository, not a model, is
the unit, as in the corpus's split. Printed and written to ``benchmarks/results/detectors_real_loso.json``:
per fold, the fitted thresholds, the held-out labels, ``blur`` and ``replacement`` precision/recall counts and the
verdict accuracy under each rule; pooled over all folds and over the folds outside dev; the threshold triples chosen
and their right verdicts. Nothing is written to the shipped files.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

RULES = ("shipped", "loso", "no head")


def flag_frame(frame, shipped: dict, heads: dict | None = None, real: dict | None = None,
               plain: float | None = None, over: dict | None = None):
    """``frame`` (the corpus records, scored with the head features) with its ``replacement_*`` and ``blur_*`` flags
    and its verdicts set again: with ``heads`` (None: no head), their thresholds ``real`` ({detector:
    real_threshold or None}), replacement's ``plain`` threshold, and ``over`` ({detector: {threshold name: value}});
    every other threshold is ``shipped``'s. A new frame; ``frame`` is left as it was."""
    import detectors_real as dr
    from bench.detectors import real_head as rh

    frame = frame.copy()
    doc = {d: dict(shipped[d]) for d in ("blur", "replacement", "incomplete")}
    for det, score in (("replacement", "replacement_score"), ("blur", "blur_score")):
        s = frame[score].to_numpy(float)
        head = (heads or {}).get(det)
        if head is None:
            logit = np.full(len(frame), np.nan)
        else:
            x = np.column_stack([frame[f"feat_{n}" if n in rh.FEATURES else n].to_numpy(float)
                                 for n in head["features"]])
            logit = ((x - np.asarray(head["mean"])) / np.asarray(head["scale"])) @ np.asarray(head["coef"])
            logit = logit + head["intercept"]
            # where the detector computes its head: replacement where novelty is positive, blur where judged
            logit = np.where((s > 0) if det == "replacement" else ~np.isnan(s), logit, np.nan)
        frame[f"{det}_real_score"] = logit
        doc[det]["real_threshold"] = (real or {}).get(det)
        if det == "replacement":
            doc[det]["plain_threshold"] = plain
        doc[det].update((over or {}).get(det, {}))
    return dr.rejudge(frame, doc)


def apply_rules(recs: list[dict], shipped: dict, heads: dict | None, real: dict | None, plain: float | None) -> None:
    """:func:`flag_frame` on ``recs``, written back into them (in place)."""
    import pandas as pd

    frame = flag_frame(pd.DataFrame(recs), shipped, heads, real, plain)
    cols = [c for c in frame.columns if c.startswith(("replacement_", "blur_", "verdict"))]
    for r, row in zip(recs, frame[cols].to_dict("records")):
        r.update(row)


#: the weight-free thresholds a fold may choose from (novelty, `replacement`'s ``threshold``; the grain deficit's
#: and the fade's, `blur`'s ``grain_threshold`` and ``fade_threshold``), with the shipped values added
GRID = {"threshold": tuple(np.round(np.arange(0.06, 0.40, 0.02), 2)),
        "grain_threshold": tuple(np.round(np.arange(0.3, 1.25, 0.1), 2)),
        "fade_threshold": tuple(np.round(np.arange(0.4, 1.95, 0.2), 2))}


def threshold_grid(frame, shipped: dict) -> tuple[list[tuple[float, float, float]], np.ndarray]:
    """Every (novelty, grain, fade) threshold triple of :data:`GRID` (the shipped triple first), and for each, whether
    each output's verdict is right ([triples, outputs] bool) with those thresholds, no head, and every other
    threshold shipped."""
    import itertools

    import detectors_real as dr

    first = (shipped["replacement"]["threshold"], shipped["blur"]["grain_threshold"],
             shipped["blur"]["fade_threshold"])
    triples = [first] + [t for t in itertools.product(*GRID.values()) if t != first]
    right = np.zeros((len(triples), len(frame)), dtype=bool)
    for i, (t_r, g, f) in enumerate(triples):
        fr = flag_frame(frame, shipped, over={"replacement": {"threshold": t_r},
                                              "blur": {"grain_threshold": g, "fade_threshold": f}})
        right[i] = [dr.right(a, b) for a, b in zip(fr["label"], fr["verdict"])]
    return triples, right


def choose(right: np.ndarray, repos: np.ndarray, train: np.ndarray, objective: str) -> int:
    """The triple (row of ``right``) with the most right verdicts on the ``train`` outputs: ``pooled`` (every output
    counts once) or ``per repository`` (the mean of each training repository's accuracy: CM-GAN's 100 figure
    outputs count as much as one photograph); ties go to the earlier row (the shipped triple first)."""
    if objective == "pooled":
        return int(np.argmax(right[:, train].sum(1)))
    accs = [right[:, train & (repos == r)].mean(1) for r in np.unique(repos[train])]
    return int(np.argmax(np.mean(accs, axis=0)))


def counts(recs: list[dict]) -> dict:
    """Flag counts (positives, flagged, right) per detector and the verdict's right count."""
    import detectors_real as dr

    lab = np.asarray([r["label"] for r in recs])
    out: dict = {"n": len(recs)}
    for det in ("blur", "replacement"):
        f = np.nan_to_num(np.asarray([r[f"{det}_flag"] for r in recs], dtype=float)) > 0.5
        out[det] = {"pos": int((lab == det).sum()), "flagged": int(f.sum()), "tp": int((f & (lab == det)).sum())}
    out["verdict_right"] = int(sum(dr.right(r["label"], r["verdict"]) for r in recs))
    return out


def pooled(folds: list[dict], rule: str) -> dict:
    tot: dict = {"n": 0, "verdict_right": 0, "blur": {"pos": 0, "flagged": 0, "tp": 0},
                 "replacement": {"pos": 0, "flagged": 0, "tp": 0}}
    for f in folds:
        c = f["rules"][rule]
        tot["n"] += c["n"]
        tot["verdict_right"] += c["verdict_right"]
        for det in ("blur", "replacement"):
            for k in ("pos", "flagged", "tp"):
                tot[det][k] += c[det][k]
    return tot


def fmt(c: dict) -> str:
    def pr(d):
        p = f"{d['tp'] / d['flagged']:.2f}" if d["flagged"] else "-"
        r = f"{d['tp'] / d['pos']:.2f}" if d["pos"] else "-"
        return f"P {p} R {r} ({d['tp']}/{d['pos']}, {d['flagged']} fl.)"

    return (f"blur {pr(c['blur'])}  replacement {pr(c['replacement'])}  verdict {c['verdict_right'] / c['n']:.2f} "
            f"({c['verdict_right']}/{c['n']})")


def weight_free_thresholds(recs: list[dict], shipped: dict, log=print) -> dict:
    """The weight-free thresholds (novelty, grain deficit, fade) chosen on the other repositories, per held-out
    repository, against the shipped ones (chosen on constructed cases), no head: right verdicts over all folds and
    over the folds outside dev, and the best any one triple of the grid reaches in hindsight."""
    import pandas as pd

    frame = pd.DataFrame(recs)
    triples, right = threshold_grid(frame, shipped)
    repos = frame["repo"].to_numpy()
    off = ~np.isin(repos, [r["repo"] for r in recs if r["split"] == "dev"])
    name = lambda t: "novelty {:.4g}, grain {:.4g}, fade {:.4g}".format(*t)  # noqa: E731
    out: dict = {"grid": {k: list(map(float, v)) for k, v in GRID.items()}, "triples": len(triples)}
    log(f"weight-free thresholds, no head ({len(triples)} triples of novelty, grain deficit and fade thresholds):")
    log(f"      {'constructed':12s} ({name(triples[0])}, shipped) right verdicts: all {right[0].sum()}/{len(recs)}, "
        f"off dev {right[0, off].sum()}/{off.sum()}")
    out["constructed"] = {"triple": list(triples[0]), "all": int(right[0].sum()), "off_dev": int(right[0, off].sum())}
    for objective in ("pooled", "per repository"):
        tot = tot_off = 0
        chosen = {}
        for repo in sorted(set(repos)):
            te = repos == repo
            k = choose(right, repos, ~te, objective)
            chosen[repo] = list(triples[k])
            tot += int(right[k, te].sum())
            tot_off += int(right[k, te & off].sum())
        kinds = sorted({name(t) for t in chosen.values()})
        log(f"      {'loso ' + objective:12s} right verdicts: all {tot}/{len(recs)}, off dev {tot_off}/{off.sum()}; "
            f"chosen: {'; '.join(kinds)}")
        out[f"loso {objective}"] = {"all": tot, "off_dev": tot_off, "chosen": chosen}
    for where, sel in (("all", np.ones(len(recs), bool)), ("off dev", off)):
        k = int(np.argmax(right[:, sel].sum(1)))
        log(f"      hindsight best on {where}: {right[k, sel].sum()}/{sel.sum()} ({name(triples[k])})")
        out[f"hindsight {where}"] = {"triple": list(triples[k]), "right": int(right[k, sel].sum()), "n": int(sel.sum())}
    return out


def main() -> int:
    import copy

    from detectors_real import corpus_parser

    args = corpus_parser(__doc__).parse_args()
    from _common import Printer, save
    import detectors_real as dr
    from detectors_real_fit import _Features, fit_real
    from bench.detectors.thresholds import load_thresholds

    print = Printer()  # noqa: A001 - every line is also saved with the results
    t0 = time.time()
    recs = dr.score(args.corpus, dr.load_rows(args.corpus), args.max_side, extra={"features": _Features()})
    shipped_t = load_thresholds()
    shipped = shipped_t["detectors"]
    repos = sorted({r["repo"] for r in recs})
    print(f"leave one repository out: {len(recs)} labelled real outputs (ambiguous left out), {len(repos)} "
          f"repositories, thresholds v{shipped_t['version']}, max side {args.max_side} px")
    folds = []
    for repo in repos:
        test = [r for r in recs if r["repo"] == repo]
        train = [r for r in recs if r["repo"] != repo]
        heads, real, cv = fit_real(train, shipped, log=lambda *_: None, where="the other repositories")
        plain = cv["replacement_plain"]["plain_threshold"]
        res = {"repo": repo, "splits": sorted({r["split"] for r in test}),
               "labels": {k: sum(r["label"] == k for r in test) for k in sorted({r["label"] for r in test})},
               "fitted": {"replacement_real_threshold": real["replacement"], "replacement_plain_threshold": plain,
                          "blur_real_threshold": real["blur"]},
               "rules": {"shipped": counts(test)}}
        # blur's head takes no part in the shipped rule (``real_head: false`` by default): only replacement's is used
        loso = ({"replacement": heads["replacement"]}, {"replacement": real["replacement"]}, plain)
        for rule, args_ in (("loso", loso), ("no head", (None, None, None))):
            held = copy.deepcopy(test)
            apply_rules(held, shipped, *args_)
            res["rules"][rule] = counts(held)
        folds.append(res)
        f = res["fitted"]
        print(f"  {repo} ({', '.join(res['splits'])}): {res['labels']}; fitted without it: replacement "
              f"real {f['replacement_real_threshold']}, plain {f['replacement_plain_threshold']}; blur real "
              f"{f['blur_real_threshold']}")
        for rule in RULES:
            print(f"      {rule:8s} {fmt(res['rules'][rule])}")
    summary = {}
    for name, sel in (("all folds", folds), ("folds off dev", [f for f in folds if "dev" not in f["splits"]])):
        print(f"pooled, {name} ({sum(f['rules']['shipped']['n'] for f in sel)} outputs):")
        summary[name] = {}
        for rule in RULES:
            summary[name][rule] = pooled(sel, rule)
            print(f"      {rule:8s} {fmt(summary[name][rule])}")
    grid = weight_free_thresholds(recs, shipped, print)
    print(f"{time.time() - t0:.0f} s")
    path = save("detectors_real_loso", {"thresholds_version": shipped_t["version"], "max_side": args.max_side,
                                        "folds": folds, "pooled": summary, "thresholds": grid}, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
