"""``bench study RUN --out study.html`` (the page) and ``bench study score RUN judgements*.csv`` (the scores)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import BenchError

USAGE = """bench study RUN --out study.html [--pairs N] [--backends A,B,...] [--seed S] [--checks N]
                   [--dataset D] [--mask M] [--image-size PX]
       bench study score RUN judgements*.csv [--out DIR] [--min-attention F] [--baseline B]"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = ("Blind pairwise user studies of a run: write the study page, or score the raters' CSVs "
                          "(Bradley-Terry ranking, preference against a baseline, inter-rater agreement, and how "
                          "well each metric agrees with people). See docs/studies.md.")
    parser.add_argument("args", nargs="+", metavar="RUN | score RUN CSV...")
    parser.add_argument("--out", default=None,
                        help="page: the HTML file (default RUN/study/<dataset>__<mask>/study.html); score: the "
                             "folder (default RUN/study/<dataset>__<mask>/, which `bench report` reads)")
    parser.add_argument("--pairs", type=int, default=None, help="comparisons on the page (default: every backend "
                        "pair × sample, at most 120)")
    parser.add_argument("--backends", default=None, help="comma-separated backends to compare (default: all but "
                        "identity)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trial order and sides (recorded)")
    parser.add_argument("--checks", type=int, default=None, help="attention checks against identity (default: 10 %% "
                        "of the comparisons, at least 2, when the run has identity)")
    parser.add_argument("--dataset", default=None, help="the dataset to study (when the run has several)")
    parser.add_argument("--mask", default=None, help="the mask strategy to study (when the run has several)")
    parser.add_argument("--image-size", type=int, default=None, metavar="PX",
                        help="page: shrink images to at most PX on their long side (default: as stored; a page "
                             "embeds every output once, so large outputs make a large page)")
    parser.add_argument("--min-attention", type=float, default=None, metavar="F",
                        help="score: drop raters who passed less than this share of their attention checks")
    parser.add_argument("--baseline", default=None, help="score: the backend preference rates are against "
                        "(default: the lowest ranked)")
    parser.add_argument("--n-boot", type=int, default=1000, help="score: bootstrap resamples (default 1000)")


def run(args: argparse.Namespace) -> int:
    rest = list(args.args)
    if rest[0] == "score" and not (len(rest) == 1 and Path("score").is_dir()):
        if len(rest) < 3:
            raise BenchError(f"usage: {USAGE.splitlines()[-1].strip()}")
        return score(rest[1], rest[2:], args)
    if len(rest) != 1:
        raise BenchError(f"bench study: expected one run folder, got {' '.join(rest)} (to score: bench study score "
                         f"RUN judgements*.csv)")
    return page(rest[0], args)


def page(run: str, args: argparse.Namespace) -> int:
    from ..study.page import write_page
    from ..study.plan import CHECK_BACKEND, make_plan, study_dir

    for opt in ("min_attention", "baseline"):  # score's options given to the page command: say so
        if getattr(args, opt) is not None:
            raise BenchError(f"--{opt.replace('_', '-')} belongs to `bench study score`")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
    plan = make_plan(run, pairs=args.pairs, backends=backends, seed=args.seed, dataset=args.dataset,
                     mask=args.mask, checks=args.checks)
    out = Path(args.out) if args.out else study_dir(run, plan.dataset, plan.mask) / "study.html"
    if args.image_size is not None and args.image_size < 16:
        raise BenchError("--image-size: at least 16 pixels")
    write_page(plan, run, out, args.image_size)  # records the plan in RUN/study/<dataset>__<mask>/plan.json
    n_checks = sum(t.kind == "check" for t in plan.trials)
    size_mib = out.stat().st_size / 2 ** 20  # one self-contained file, images embedded: what raters download
    print(f"wrote {out} ({size_mib:.1f} MiB, images embedded; --image-size makes it smaller): study "
          f"{plan.study_id}, {len(plan.trials) - n_checks} blind comparisons of "
          f"{', '.join(plan.backends)} on {plan.dataset} × {plan.mask} and {n_checks} attention check(s) "
          f"(seed {plan.seed}). Send it to the raters; score their files with "
          f"`bench study score {run} judgements*.csv`.")
    if plan.check_backend is None:
        print(f"note: no attention checks: the run has no {CHECK_BACKEND!r} backend on {plan.dataset} × {plan.mask} "
              f"(add `- identity` to the suite's backends)")
    return 0


def score(run: str, files: list[str], args: argparse.Namespace) -> int:
    import glob

    from ..study.agreement import metric_agreement
    from ..report.study import _ci, interval_notes, rater_notes, sentence, tie_notes, write_outputs
    from ..study.plan import study_dir
    from ..study.score import score_study

    paths: list[str] = []
    for f in files:  # a quoted glob (Windows shells do not expand them)
        hits = sorted(glob.glob(f)) if any(c in f for c in "*?[") else [f]
        if not hits:
            raise BenchError(f"{f}: no judgements file matches")
        paths += hits
    st = score_study(run, paths, min_attention=args.min_attention, baseline=args.baseline, n_boot=args.n_boot)
    st.metrics = metric_agreement(st, run, n_boot=args.n_boot)
    doc = st.to_dict()
    out = Path(args.out) if args.out else study_dir(run, doc["dataset"], doc["mask"])
    written = write_outputs(doc, out)
    dropped = [r["rater"] for r in doc["raters"] if not r["kept"]]
    print(f"{doc['n_comparisons']} comparisons from {len(doc['raters']) - len(dropped)} rater(s)"
          + (f" (dropped below --min-attention: {', '.join(dropped)})" if dropped else ""))
    for b in doc["backends"]:
        ci = _ci(b["human_bt"], b["human_bt_lo"], b["human_bt_hi"], "+.2f")
        print(f"  {b['rank']}. {b['backend']:<24} human_bt {ci}" + ("  (tied)" if b.get("tied") else ""))
    for s in sentence(doc):
        print(s)
    for n in tie_notes(doc) + interval_notes(doc) + rater_notes(doc):
        print(f"note: {n}")
    for r in doc["raters"]:
        if r.get("one_answer"):
            print(f"note: rater {r['rater']} gave one answer ({r['one_answer']}) to all {r['comparisons'] + r['checks']} "
                  f"trials, no preference on a page that puts the backends on random sides; drop them with "
                  f"--min-attention (passed {r['passed']}/{r['checks']} attention checks) or check their page")
    other = [i for i in doc.get("study_ids") or [] if doc.get("page_study_id") and i != doc["page_study_id"]]
    if other:
        print(f"note: judgements of study {', '.join(other)}, not of the page made last for {doc['dataset']} × "
              f"{doc['mask']} (study {doc['page_study_id']}): answers to an earlier page (bench study run again?). "
              f"Scored all the same: their samples and backends are this run's; study.json records both ids")
    if st.changed_outputs:
        print(f"note: {len(st.changed_outputs)} judgement(s) left out: the output file they showed changed since "
              f"their page was built (its SHA-256 is not the one the page recorded; e.g. {st.changed_outputs[0]}); "
              f"study.json counts them (judgements_of_changed_outputs)")
    ag = doc["agreement"]
    if ag.get("kappa") is not None:
        print(f"Fleiss' kappa {_ci(ag['kappa'], ag['lo'], ag['hi'])} over {ag['items']} shared comparisons")
    if ag.get("alpha") is not None:
        print(f"Krippendorff's alpha {_ci(ag['alpha'], ag['alpha_lo'], ag['alpha_hi'])} over {ag['alpha_items']} "
              f"comparisons at least two raters answered")
    for p in written:
        print(f"wrote {p}")
    return 0
