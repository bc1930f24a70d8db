"""``bench calibrate``: measure the failure detectors on labelled cases and choose thresholds (the procedure:
:mod:`bench.calibration.calibrate`), or fit them on human labels of a run's outputs (``--labels``:
:mod:`bench.calibration.labels`).
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any, Sequence

from ..calibration import calibrate as C
from ..detectors.thresholds import load_thresholds


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
    parser.add_argument("--reproduce", metavar="FILE", default=None,
                        help="choose nothing, write nothing: run the calibration FILE records (its seeds, n, photos, "
                             "size, check seed; its carried real-output thresholds kept) and compare the thresholds "
                             "it chooses with FILE's; exit 1 naming each one that differs")
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
    from ..calibration.labels import fit_from_labels

    if not args.run:
        raise BenchError("--labels needs the run folder the labels were made on: bench calibrate --labels "
                         "labels.csv RUN [--out thresholds.json]")
    doc = fit_from_labels(args.labels, args.run, test_fraction=args.test_fraction, seed=args.seed, base=args.base)
    if args.out:
        cmd = (f"bench calibrate --labels {args.labels} {args.run} --test-fraction {args.test_fraction} "
               f"--seed {args.seed}" + (f" --base {args.base}" if args.base else "") + f" --out {args.out}")
        doc = C.write(doc, args.out, cmd)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    from ..calibration.labels import print_report

    print_report(doc)
    if args.out:
        from ..detectors.thresholds import load_thresholds

        base_doc = load_thresholds(args.base)
        base = base_doc.get("detectors", {})
        moved = [d for d, v in doc["detectors"].items() if v != base.get(d)]
        use = ", ".join(f"{{type: {d}, thresholds: {args.out}}}" for d in moved)
        evidence = ("; its learned evidence differs from its base file's: it applies to a run any of whose "
                    "detectors reads the file" if (doc.get("evidence") or []) != (base_doc.get("evidence") or [])
                    else "")
        print(f"wrote {args.out} (version {doc['version']}, sha256 {doc['sha256'][:12]}); "
              + (f"select it for the detectors it changed with detectors: [{use}]" if moved else
                 "it changes no threshold of its base file (too few labels of each kind, labels it already "
                 "separates as well, or a fitted threshold they give no evidence for: 'kept' above)")
              + evidence)
    else:
        print("nothing written: --out FILE writes the thresholds file")
    return 0


def reproduce(path: str, progress: Any = None) -> dict[str, Any]:
    """Run the calibration the thresholds file at ``path`` records and compare: ``{"reproduced": bool, "sha256":
    (of the file's detectors section, of the one chosen now), "differences": [(detector, key, file's value,
    now)]}``. The thresholds a calibration does not
    choose (:data:`bench.calibration.calibrate.CARRIED`) are kept from the file, as ``--out`` keeps them."""
    from pathlib import Path

    from ..errors import BenchError
    from ..detectors.thresholds import section_sha

    p = Path(path).expanduser()
    if not p.is_file():
        raise BenchError(f"--reproduce {path}: no such file")
    data = json.loads(p.read_text())
    cal = data.get("calibration") or {}
    missing = [k for k in ("seed", "n", "size") if k not in cal]
    if missing or "detectors" not in data:
        raise BenchError(f"--reproduce {path}: not a file `bench calibrate --out` wrote (its calibration section "
                         f"lacks {', '.join(missing) or 'detectors'}; a --labels file is reproduced by its command: "
                         f"{data.get('command', '?')})")
    seeds = cal.get("seeds") or [cal["seed"]]
    doc = C.calibrate(int(cal["seed"]), int(cal["n"]), int(cal["size"]), cal.get("check_seed"), progress=progress,
                      photos=int(cal.get("photos", 0)), seeds=len(seeds))
    doc = C.carry_over(doc, p)
    have, now = data["detectors"], doc["detectors"]
    diffs = []
    for det in sorted(set(have) | set(now)):
        a, b = have.get(det) or {}, now.get(det) or {}
        diffs += [(det, key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    return {"reproduced": not diffs, "sha256": (section_sha(have), section_sha(now)), "differences": diffs,
            "command": data.get("command"), "version": data.get("version")}


def run(args: argparse.Namespace) -> int:
    import sys

    if args.labels:
        return _run_labels(args)
    if args.reproduce:
        res = reproduce(args.reproduce, progress=(lambda m: print(m, file=sys.stderr)) if not args.json else None)
        if args.json:
            print(json.dumps(res, indent=2))
        elif res["reproduced"]:
            print(f"{args.reproduce}: reproduced (v{res['version']}, sha256 {res['sha256'][1][:12]})")
        else:
            print(f"{args.reproduce}: NOT reproduced by its calibration (v{res['version']}, sha256 "
                  f"{str(res['sha256'][0])[:12]}; now {res['sha256'][1][:12]}):")
            for det, key, was, now in res["differences"]:
                print(f"  {det}.{key}: file {was}, now {now}")
        return 0 if res["reproduced"] else 1
    if args.evaluate:
        data = load_thresholds(args.thresholds)
        res = C._clean(C.evaluate_file(args.thresholds, args.seed, args.n, args.size, heldout=args.heldout,
                                   split=args.split))
        if args.json:
            print(json.dumps({"version": data.get("version"), "results": res}, indent=2))
        else:
            what = (f"{args.split} photographs" if args.split else
                    "held-out photographs" if args.heldout else "labelled set")
            _table(f"thresholds v{data.get('version')} on the {what}, seed {args.seed} (n {args.n}, {args.size} px)",
                   res, data["detectors"])
        return 0
    doc = C.calibrate(args.seed, args.n, args.size, args.check_seed,
                    progress=(lambda m: print(m, file=sys.stderr)) if not args.json else None, photos=args.photos,
                    seeds=args.seeds)
    cal = doc["calibration"]
    if args.out:
        cmd = (f"bench calibrate --seed {args.seed}" + (f" --seeds {args.seeds}" if args.seeds != 1 else "")
               + f" --n {args.n} --photos {args.photos} --size {args.size}"
               + (f" --check-seed {args.check_seed}" if args.check_seed is not None else "") + f" --out {args.out}")
        doc = C.write(C.carry_over(doc, args.out), args.out, cmd)
        if doc["calibration"].get("carried"):
            print(f"kept from the file replaced: {doc['calibration']['carried']['thresholds']} (not chosen by a "
                  "calibration: benchmarks/detectors_real_fit.py fits them)", file=sys.stderr)
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


if __name__ == "__main__":  # python -m bench.cli.calibrate
    raise SystemExit(main())
