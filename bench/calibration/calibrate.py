"""``bench calibrate``: measure the detectors on labelled cases, choose thresholds, write them.

The labelled set is synthetic scenes (:mod:`bench.calibration.cases`) plus crops of the dev photographs, in colour
and (half as many) in gray (:mod:`bench.calibration.photos`), a pure function of ``(seed, n, photos, size)``.
Thresholds are chosen on the sets of ``--seeds`` consecutive seeds from ``--seed``, pooled (maximum balanced
accuracy, Youden's J, except replacement's two thresholds: maximum F1 among the thresholds that flag each classical
fill (Telea, Navier-Stokes, biharmonic) of the dev photographs at most ``CLASSICAL_CAP`` = 0.025 of the time, half
the 0.05 a leaderboard can tolerate; on a plateau of equal value, its middle; blur's main threshold and
replacement's two on the dev photographs, whose labels come from the truth) and then checked on a *fresh* seed
(``--check-seed``, default ``seed + 1000``) with the detectors' own flags. ``--labels`` fits on human labels of a
run's outputs instead (:mod:`bench.calibration.labels`).

    bench calibrate --seed 0 --seeds 5 --n 60 --photos 40 --out bench/data/thresholds.json
    bench calibrate --evaluate --split test --n 40      # the shipped thresholds on the test photographs
    bench calibrate --evaluate --heldout --n 60         # ... on scikit-image's grayscale photographs
    bench calibrate --labels labels.csv results/my-run --out my_thresholds.json

Python: :func:`calibrate`; the measurement (:func:`~bench.calibration.measure.score_cases`, ...) is in
:mod:`bench.calibration.measure`, the statistics in :mod:`bench.stats`.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..detectors.thresholds import FORMAT, load_thresholds, section_sha
from .cases import Case, build_cases, build_heldout_cases
from .measure import CLASSICAL, CLASSICAL_CAP, apply, choose_thresholds, evaluate, score_cases


# ------------------------------------------------------------------------------------------------------------
# the whole procedure
# ------------------------------------------------------------------------------------------------------------
def labelled_set(seed: int, n: int, size: int, photos: int) -> tuple[list[Case], list[Case]]:
    """The calibration set: ``n`` synthetic scenes (:func:`~bench.calibration.cases.build_cases`), ``photos``
    crops of the *dev* photographs and ``photos // 2`` crops of the same photographs in gray (``dev-gray``:
    :func:`~bench.calibration.photos.build_photo_cases`), and as many crops again (colour and gray) with Telea,
    Navier-Stokes and biharmonic fills of box and LaMa holes (:func:`~bench.calibration.photos.classical_cases`:
    replacement's cap on false alarms); never the test or fresh split."""
    from .photos import build_photo_cases, classical_cases

    real = []
    for split, k in (("dev", photos), ("dev-gray", photos // 2)):
        if k:
            real += build_photo_cases(split, seed, k, size) + classical_cases(split, seed, k, size, CLASSICAL)
    return build_cases(seed, n, size), real


def _merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    if not b:
        return a
    return {k: np.concatenate([a[k], b[k]]) for k in a if k in b}


def calibrate(seed: int = 0, n: int = 60, size: int = 256, check_seed: int | None = None,
              progress=None, photos: int = 40, seeds: int = 1) -> dict[str, Any]:
    """Choose thresholds on the labelled sets of ``seeds`` consecutive seeds from ``seed``, pooled; measure them on
    ``check_seed`` (fresh). Returns a thresholds document.

    Pooling matters where a threshold is set by few cases: on one seed's dev photographs, replacement's
    ``ref_threshold`` came out anywhere from 0.0125 to 0.0456 over seeds 0-4 (each seed's F1 plateau ends at its
    own highest classical fill), and five seeds pooled give 0.023, the same within 0.0005 whichever four of them
    are pooled (``docs/detectors.md``)."""
    from ..errors import BenchError
    from .photos import CLASSICAL_HOLES

    if seeds < 1:
        raise BenchError(f"--seeds: at least 1, got {seeds}")
    check_seed = seed + 1000 if check_seed is None else check_seed
    fit_seeds = list(range(seed, seed + seeds))
    if check_seed in fit_seeds:
        raise BenchError(f"--check-seed {check_seed} is one of the seeds fitted on ({fit_seeds[0]}-{fit_seeds[-1]}): "
                         f"choose one outside them (default: --seed + 1000)")
    say = progress or (lambda msg: None)
    scores = photo_scores = None
    n_cases = 0
    for s in fit_seeds:
        say(f"building the labelled set (seed {s}, n {n} synthetic scenes, {photos} dev photo crops and "
            f"{photos // 2} in gray, {size} px)")
        synth, real = labelled_set(s, n, size, photos)
        n_cases += len(synth) + len(real)
        say(f"scoring {len(synth) + len(real)} cases")
        scores = _merge(score_cases(synth), scores)
        if real:
            photo_scores = _merge(score_cases(real), photo_scores)
    assert scores is not None
    chosen = choose_thresholds(scores, photo_scores)
    fit = evaluate(apply(_merge(scores, photo_scores), chosen))
    say(f"checking on a fresh seed ({check_seed})")
    fsynth, freal = labelled_set(check_seed, n, size, photos)
    fresh_cases = fsynth + freal
    fresh = evaluate(apply(_merge(score_cases(fsynth), score_cases(freal) if freal else None), chosen))
    return {
        "format": FORMAT,
        "detectors": chosen,
        "calibration": {
            "seed": seed, "seeds": fit_seeds, "check_seed": check_seed, "n": n, "photos": photos,
            "gray_photos": photos // 2, "size": size,
            "classical_cap": {"kinds": list(CLASSICAL), "holes": list(CLASSICAL_HOLES), "max_rate": CLASSICAL_CAP},
            "cases": n_cases, "fresh_cases": len(fresh_cases),
            "fit": _clean(fit), "fresh": _clean(fresh),
        },
    }


def evaluate_file(path: str | Path | None, seed: int, n: int, size: int,
                  heldout: bool = False, split: str | None = None) -> dict[str, dict[str, Any]]:
    """The thresholds of a file (default: the shipped one) on the labelled set of ``seed``, on the grayscale
    held-out photographs (:func:`~bench.calibration.cases.build_heldout_cases`), or on a split of the real-photo
    cases (``split``: ``dev``, ``dev-gray``, ``test``, ``fresh`` or ``fresh2``, :mod:`bench.calibration.photos`)."""
    data = load_thresholds(path)
    if split:
        from .photos import build_photo_cases

        cases = build_photo_cases(split, seed, n, size)
    else:
        cases = build_heldout_cases(seed, n, size) if heldout else build_cases(seed, n, size)
    return evaluate(apply(score_cases(cases), data["detectors"]))


def _clean(res: dict) -> dict:
    def c(v):
        if isinstance(v, float):
            return None if math.isnan(v) else round(v, 4)
        return v

    return {row: {k: c(v) for k, v in r.items()} for row, r in res.items()}


def write(doc: dict[str, Any], out: str | Path, command: str = "") -> dict[str, Any]:
    """Write a thresholds document; ``version`` = previous + 1 when the thresholds changed, else unchanged."""
    out = Path(out)
    sha = section_sha(doc["detectors"])
    prev = json.loads(out.read_text()) if out.exists() else {}
    version = int(prev.get("version", 0))
    if prev.get("sha256") != sha:
        version += 1
    full = {"format": FORMAT, "version": version, "sha256": sha,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command, **{k: v for k, v in doc.items() if k != "format"}}
    if prev.get("sha256") == sha and "created" in prev:
        full["created"] = prev["created"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    from ..detectors.thresholds import clear_cache

    clear_cache()
    return full


# ------------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Measure the failure detectors on a labelled set (synthetic scenes and dev photographs; "
                          "or, with --labels, human labels of a run's outputs): choose thresholds, check them on "
                          "cases they were not chosen on, print precision/recall/AUROC, optionally write them.")
    parser.add_argument("--seed", type=int, default=0, help="seed of the labelled set (default 0)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="pool the labelled sets of this many consecutive seeds from --seed to choose thresholds "
                             "(default 1; the shipped file: 5)")
    parser.add_argument("--n", type=int, default=60, help="scenes per set (about 12 cases each; default 60)")
    parser.add_argument("--size", type=int, default=256, help="image side in px (default 256)")
    parser.add_argument("--check-seed", type=int, default=None, help="fresh seed for the check (default seed+1000)")
    parser.add_argument("--out", type=str, default=None,
                        help="write the thresholds file here (the shipped one: bench/data/thresholds.json)")
    parser.add_argument("--evaluate", action="store_true",
                        help="choose nothing: measure the thresholds of --thresholds (default: the shipped file) "
                             "on --seed")
    parser.add_argument("--thresholds", type=str, default=None, help="thresholds file for --evaluate")
    parser.add_argument("--heldout", action="store_true",
                        help="with --evaluate: use scikit-image's grayscale photographs (camera, brick, grass, ...), "
                             "never seen by the calibration, instead of the synthetic/samples set")
    parser.add_argument("--photos", type=int, default=40,
                        help="crops of the dev photographs added to the calibration set, and half as many of them in gray "
                             "(default 40; 0: none)")
    parser.add_argument("--split", choices=("dev", "dev-gray", "test", "fresh", "fresh2"), default=None,
                        help="with --evaluate: real-photo cases of this split (bench.calibration.photos; the test "
                             "split's photographs are never used to fit or design anything)")
    parser.add_argument("--labels", metavar="CSV", default=None,
                        help="fit thresholds on human labels of RUN's outputs (labels.csv from the HTML report's "
                             "labelling mode) instead of the synthetic set; measured on a held-out part")
    parser.add_argument("run", nargs="?", default=None, metavar="RUN",
                        help="with --labels: the run folder the labels were made on")
    parser.add_argument("--test-fraction", type=float, default=0.3,
                        help="with --labels: share of the labelled outputs held out to measure (default 0.3)")
    parser.add_argument("--base", default=None, metavar="FILE",
                        help="with --labels: thresholds file the other detectors' entries come from (default: the "
                             "shipped one)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _table(title: str, res: dict[str, dict[str, Any]], chosen: dict | None) -> None:
    def fmt(v, f=".3f"):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, f)

    def thr(row):
        if not chosen:
            return ""
        det, _, sub = row.partition(" (")
        e = chosen.get(det, {})
        key = {"mosaic)": "mosaic_threshold", "reference)": "ref_threshold"}.get(sub, "threshold")
        if row == "replacement":  # every labelled case has ground truth: the flag is the reference one
            key = "ref_threshold"
        v = e.get(key)
        return "" if v is None else f"{'<' if e.get('direction') == 'below' and key == 'threshold' else '>'} {v:g}"

    header = ("detector", "pos", "neg", "precision", "recall", "AUROC", "threshold")
    rows = [(row, str(r["n_pos"]), str(r["n_neg"]), fmt(r.get("precision")), fmt(r.get("recall")),
             fmt(r.get("auroc")), thr(row)) for row, r in res.items()]
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        for h in header:
            t.add_column(h, justify="left" if h == "detector" else "right")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
    except ImportError:  # pragma: no cover - rich is a dependency; plain text as a fallback
        print(title)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def _run_labels(args: argparse.Namespace) -> int:
    from ..errors import BenchError
    from .labels import fit_from_labels

    if not args.run:
        raise BenchError("--labels needs the run folder the labels were made on: bench calibrate --labels "
                         "labels.csv RUN [--out thresholds.json]")
    doc = fit_from_labels(args.labels, args.run, test_fraction=args.test_fraction, seed=args.seed, base=args.base)
    if args.out:
        cmd = (f"bench calibrate --labels {args.labels} {args.run} --test-fraction {args.test_fraction} "
               f"--seed {args.seed}" + (f" --base {args.base}" if args.base else "") + f" --out {args.out}")
        doc = write(doc, args.out, cmd)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    from .labels import print_report

    print_report(doc)
    if args.out:
        print(f"wrote {args.out} (version {doc['version']}, sha256 {doc['sha256'][:12]}); select it with "
              f"detectors: [{{type: blur, thresholds: {args.out}}}]")
    else:
        print("nothing written: --out FILE writes the thresholds file")
    return 0


def run(args: argparse.Namespace) -> int:
    import sys

    if args.labels:
        return _run_labels(args)
    if args.evaluate:
        data = load_thresholds(args.thresholds)
        res = _clean(evaluate_file(args.thresholds, args.seed, args.n, args.size, heldout=args.heldout,
                                   split=args.split))
        if args.json:
            print(json.dumps({"version": data.get("version"), "results": res}, indent=2))
        else:
            what = (f"{args.split} photographs" if args.split else
                    "held-out photographs" if args.heldout else "labelled set")
            _table(f"thresholds v{data.get('version')} on the {what}, seed {args.seed} (n {args.n}, {args.size} px)",
                   res, data["detectors"])
        return 0
    doc = calibrate(args.seed, args.n, args.size, args.check_seed,
                    progress=(lambda m: print(m, file=sys.stderr)) if not args.json else None, photos=args.photos,
                    seeds=args.seeds)
    cal = doc["calibration"]
    if args.out:
        cmd = (f"bench calibrate --seed {args.seed}" + (f" --seeds {args.seeds}" if args.seeds != 1 else "")
               + f" --n {args.n} --photos {args.photos} --size {args.size}"
               + (f" --check-seed {args.check_seed}" if args.check_seed is not None else "") + f" --out {args.out}")
        doc = write(doc, args.out, cmd)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    fitted = f"seed {cal['seed']}" if len(cal["seeds"]) == 1 else f"seeds {cal['seeds'][0]}-{cal['seeds'][-1]}"
    _table(f"fit: {fitted} ({cal['cases']} cases)", cal["fit"], doc["detectors"])
    _table(f"fresh seed {cal['check_seed']} ({cal['fresh_cases']} cases): the numbers to quote", cal["fresh"],
           doc["detectors"])
    if args.out:
        print(f"wrote {args.out} (version {doc['version']}, sha256 {doc['sha256'][:12]})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench calibrate")
    configure(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":  # python -m bench.calibration.calibrate
    raise SystemExit(main())
