"""Render the figures in README.md and docs/*.md from the committed benchmark results (``benchmarks/results``).

Every speed or quality figure in the documentation lives in a block

    <!-- figures:NAME -->
    ... (generated: do not edit by hand)
    <!-- /figures:NAME -->

filled from ``benchmarks/results/NAME.json`` (written by the benchmark that measured it, with the machine, the
versions, the date and the command). ``<!-- figures:performance -->`` is the README's summary table. Usage::

    python benchmarks/figures.py           # rewrite the blocks
    python benchmarks/figures.py --check   # exit 1 if a block differs from the results (run by the tests)
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import provenance  # noqa: E402  (one wording of a result's context, printed and rendered)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- figures:(?P<name>[A-Za-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S)


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"{path}: missing; run the benchmark that writes it")
    return json.loads(path.read_text())


def output_block(name: str) -> str:
    doc = load(name)
    head = f"From {provenance(doc)} (`benchmarks/results/{name}.json`):\n\n"
    if doc["results"].get("terminal"):  # what a command printed (the quickstart's first table)
        return head + "```text\n" + doc["results"]["terminal"].rstrip("\n") + "\n```\n"
    if doc["results"].get("markdown"):  # a table the benchmark rendered (a leaderboard)
        return head + doc["results"]["markdown"].rstrip("\n") + "\n"
    return head + "```text\n" + "\n".join(doc.get("output", [])) + "\n```\n"


def _scale(d: dict) -> str:
    r = d["results"]
    sizes = sorted(r["sizes"], key=int)
    lo, hi = sizes[0], sizes[-1]
    ips = lambda n: int(n) / r["sizes"][n]["run_s"]  # noqa: E731
    return (f"N = {lo}: {ips(lo):.0f} img/s, N = {hi}: {ips(hi):.0f} img/s; peak RSS ratio **{r['rss_ratio']:.2f}**; "
            f"resume of the finished N = {hi} run: `bench run` process **{r['resume_cli_s']:.2f} s** (in-process "
            f"{r['resume_inprocess_s']:.2f} s)")


def _rescore(d: dict) -> str:
    st = d["results"]["steps"]
    b = d["results"]["bytes_per_cell_sample"]
    return (f"original run {st[0]['wall_s']:.1f} s; adding lpips {st[1]['wall_s']:.1f} s, adding fid "
            f"{st[2]['wall_s']:.1f} s, **0 backend loads**; per (cell, sample): PNG {b['png_bytes'] / 1024:.0f} KiB, "
            f"features {b['features_bytes'] / 1024:.0f} KiB; references once per dataset × mask")


def _overhead(d: dict) -> str:
    return "; ".join(f"{'overlap' if r['overlap'] else 'plain'}: run {r['wall_s']:.1f} s / model {r['model_s']:.1f} s "
                     f"= **{r['ratio']:.2f}**" for r in d["results"]["runs"])


def _cpu_timing(d: dict) -> str:
    r = d["results"]
    a = r["alone_per_image_ms"]
    w0, w2 = r["workers_None"], r["workers_2"]
    return (f"tiny SD alone {a:.0f} ms/img; through the runner (CPU defaults) median {w0['median_ms']:.0f} ms "
            f"(**{w0['median_ms'] / a:.2f}×**); with loader threads (`workers: 2`) {w2['median_ms']:.0f} ms "
            f"({w2['median_ms'] / a:.2f}×)")


def _metrics(d: dict) -> str:
    r = d["results"]
    return (f"{r['cells']} cell(s): inpaint-bench {r['ours_s']:.1f} s vs peers {r['peers_s']:.1f} s, ratio "
            f"**{r['ratio']:.2f}**")


def _detectors(d: dict) -> str:
    r = d["results"]
    return f"all weight-free detectors together **{r['together_img_s']:.0f} img/s** at {r['size']} px"


#: README summary rows: results file -> (what, how its result reads)
PERFORMANCE: list[tuple[str, str, Callable[[dict], str]]] = [
    ("quickstart", "quickstart (5 backends × 2 datasets × 2 masks × 8 images, 256 px, psnr/ssim + 3 detectors)",
     lambda d: f"{d['results']['wall_s']:.1f} s wall (fresh), resume {d['results']['resume_s']:.1f} s"),
    ("scale", "scale: identity backend, psnr+ssim+8 detectors, 64 px", _scale),
    ("rescore", "add a metric to a finished run (tiny SD 20 steps + Telea, 48 outputs, 128 px)", _rescore),
    ("overhead_cpu", "harness wall / model time, tiny SD 20 steps, psnr/ssim/lpips/fid + 5 detectors, CPU", _overhead),
    ("cpu_timing", "CPU latency honesty (tiny SD 20 steps, 64 px, 3 cells)", _cpu_timing),
    ("metrics_throughput_1cells", "metrics vs the peers run one after another (64 images, 256 px: psnr/ssim/lpips "
     "in+out, FID, KID, FID on crops; same random-weight networks both sides)", _metrics),
    ("metrics_throughput_2cells", "the same, two cells (reference features from the cache)", _metrics),
    ("detectors_throughput", "weight-free detectors, 256 px", _detectors),
]


def performance_block() -> str:
    rows = ["| what | command | result | measured |", "|---|---|---|---|"]
    for name, what, fmt in PERFORMANCE:
        if not (RESULTS / f"{name}.json").is_file():
            continue
        d = load(name)
        m = d.get("machine", {})
        where = m.get("gpu") or f"{m.get('cpus')} CPUs"
        if m.get("load_average_start") is not None:  # a busy machine's wall times are not the program's
            where += f" (load {m['load_average_start']:g})"
        rows.append(f"| {what} | `{d['command']}` | {fmt(d)} | {d['date'][:10]}, {where}, git {d['versions'].get('git')} |")
    return "\n".join(rows) + "\n"


def calibration_block() -> str:
    """The shipped thresholds and how they measured on the fresh seed (``bench/data/thresholds.json`` is the
    committed output of ``bench calibrate``)."""
    doc = json.loads((ROOT / "bench" / "data" / "thresholds.json").read_text())
    cal = doc["calibration"]
    cc = cal.get("classical_cap")
    cap = (f"; as many crops again with {', '.join(cc['kinds'])} fills of {' and '.join(cc['holes'])} holes, each "
           f"flagged as replacement at most {cc['max_rate']} of the time" if cc else "")
    seeds = cal.get("seeds", [cal["seed"]])
    fitted = (f"seed {seeds[0]} ({cal['cases']} cases: " if len(seeds) == 1 else
              f"seeds {seeds[0]}–{seeds[-1]} pooled ({cal['cases']} cases; per seed: ")
    rows = [f"From `{doc['command']}` ({doc['created']}; thresholds v{doc['version']}, sha256 {doc['sha256'][:12]}, "
            f"`bench/data/thresholds.json`): fitted on {fitted}{cal['n']} synthetic scenes, "
            f"{cal.get('photos', 0)} dev-photo crops and {cal.get('gray_photos', 0)} in gray{cap}), measured "
            f"with the detectors' own flags on fresh "
            f"seed {cal['check_seed']} ({cal['fresh_cases']} cases):", "",
            "| detector | pos | neg | precision | recall | AUROC | threshold |", "|---|---|---|---|---|---|---|"]
    det = doc["detectors"]
    names = {"blur (mosaic)": ("blur", "mosaic_threshold"), "blur (reference)": ("blur", "ref_threshold"),
             "replacement": ("replacement", "ref_threshold"),  # every labelled case has ground truth
             "replacement (reference-free)": ("replacement", "threshold")}
    for row, r in cal["fresh"].items():
        d, key = names.get(row, (row, "threshold"))
        e = det.get(d, {})
        t = e.get(key)
        op = "<" if e.get("direction") == "below" and key == "threshold" else ">"
        f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        rows.append(f"| {row} | {r['n_pos']} | {r['n_neg']} | {f(r.get('precision'))} | {f(r.get('recall'))} | "
                    f"{f(r.get('auroc'))} | {'' if t is None else f'{op} {t:g}'} |")
    return "\n".join(rows) + "\n"


def photo_docs() -> list[dict[str, Any]]:
    """The ``detectors_photos`` results files of the documented configuration (256 px, 40 crops per split), one per
    seed, by seed: a run at another size or crop count (``detectors_photos_seed5_128px``) is not one of the docs'
    figures, and is left out."""
    from detectors_photos import DEFAULT_N, DEFAULT_SIZE  # (beside this script: the configuration it documents)

    docs = [json.loads(p.read_text()) for p in RESULTS.glob("detectors_photos*.json")]
    docs = [d for d in docs if d["results"].get("size") == DEFAULT_SIZE and d["results"].get("n") == DEFAULT_N]
    return sorted(docs, key=lambda d: d["results"]["seed"])


def photo_seeds_block() -> str:
    """``detectors_photos`` on every seed that has a results file: precision / recall per split and detector (one
    row per seed and split), and the classical backends' highest replacement rate per seed."""
    rows = ["| seed | split | blur P / R | replacement P / R | reference-free P / R |", "|---|---|---|---|---|"]
    dates, classical = [], []
    for doc in photo_docs():
        r = doc["results"]
        dates.append(f"seed {r['seed']}: {doc.get('date')}, git {doc.get('versions', {}).get('git')}, thresholds "
                     f"v{r['thresholds_version']}")
        cl = r.get("classical") or {}
        if cl:
            classical.append(f"seed {r['seed']} {max(v['replacement_rate'] for v in cl.values()):.3f} / "
                             f"{max(v['replacement_free_rate'] for v in cl.values()):.3f}")
        for split, sr in r["splits"].items():
            d = sr["detectors"]
            cell = lambda k: f"{d[k]['precision']:.3f} / {d[k]['recall']:.3f}"  # noqa: E731
            rows.append(f"| {r['seed']} | {split}{' (fit)' if split == 'dev' else ''} | {cell('blur')} | "
                        f"{cell('replacement')} | {cell('replacement (reference-free)')} |")
    head = ("From `python benchmarks/detectors_photos.py --seed N` (" + "; ".join(dates)
            + "; `benchmarks/results/detectors_photos*.json`):\n\n")
    tail = ("\nThe classical backends' highest replacement rate on box and LaMa holes (every split; with the truth / "
            "reference-free): " + "; ".join(classical) + ".\n") if classical else ""
    return head + "\n".join(rows) + "\n" + tail


def stored_bytes_block() -> str:
    """docs/stages.md "What is stored": the bytes per (cell, sample) ``benchmarks/rescore.py`` measured."""
    doc = load("rescore")
    b = doc["results"]["bytes_per_cell_sample"]
    kib = lambda n: f"{n / 1024:.0f} KiB"  # noqa: E731
    return (f"From {provenance(doc)} (`benchmarks/results/rescore.json`; CPU, 128 px):\n\n"
            f"- the output PNG ({kib(b['png_bytes'])} at 128 px; it grows with the pixel count and the detail);\n"
            f"- in `records.sqlite`: the generation row and one score row per scorer (values: "
            f"{b['score_values_bytes']:.0f} B for psnr, ssim, lpips and 2 detectors), and with `fid` the outputs' own "
            f"features, 2 × 2048 float32 = **{kib(b['features_bytes'])}** (full image and hole crop);\n"
            f"- the reference features (the ground truth's, {kib(b['reference_features_bytes_per_input_sample'])} per "
            f"sample with crops) are stored **once per dataset × mask sample**, shared by every backend, not once per "
            f"cell.\n")


def detectors_photos_summary_block() -> str:
    """README's one-paragraph summary of ``detectors_photos`` over every committed seed: the held-out splits only
    (test in colour; fresh and fresh2 in gray; dev is where thresholds were fitted)."""
    docs = photo_docs()
    seeds = [d["results"]["seed"] for d in docs]
    versions = sorted({d["results"]["thresholds_version"] for d in docs})

    def span(splits, det, key):
        v = [d["results"]["splits"][s]["detectors"][det][key] for d in docs for s in splits]
        return min(v), max(v)

    pct = lambda lo_hi: f"{100 * lo_hi[0]:.0f}–{100 * lo_hi[1]:.0f} %"  # noqa: E731
    rng = lambda lo_hi: f"{lo_hi[0]:.2f}–{lo_hi[1]:.2f}"  # noqa: E731
    blur_min = min(min(span(s, "blur", "precision")[0], span(s, "blur", "recall")[0])
                   for s in (("test",), ("fresh", "fresh2")))
    classical = max(v["replacement_rate"] for d in docs for v in (d["results"].get("classical") or {}).values())
    return (f"On photographs never used to fit (seeds {seeds[0]}–{seeds[-1]}, "
            f"{docs[0]['results']['n']} crops per split; thresholds v{', v'.join(map(str, versions))}), `blur` reaches "
            f"precision and recall of at least {math.floor(blur_min * 1000) / 1000:.3f} in colour and in gray; `replacement` (judged with the "
            f"ground truth) finds {pct(span(('test',), 'replacement', 'recall'))} of pasted content in colour at "
            f"precision {rng(span(('test',), 'replacement', 'precision'))}, and "
            f"{pct(span(('fresh', 'fresh2'), 'replacement', 'recall'))} in gray at precision "
            f"{rng(span(('fresh', 'fresh2'), 'replacement', 'precision'))} (on the gray images chosen last and "
            f"never used to design: {pct(span(('fresh2',), 'replacement', 'recall'))}); the classical backends (Telea, "
            f"Navier–Stokes, biharmonic, mean fill, the blank) on box and LaMa holes get a replacement rate of at most "
            f"{classical:.3f} (`python benchmarks/detectors_photos.py --seed N`, "
            f"`benchmarks/results/detectors_photos*.json`).\n")


#: docs/reports.md example blocks: name -> (key in report_examples.json, fence language)
REPORT_EXAMPLES = {"report_example_term": ("term", ""), "report_example_md": ("md", "markdown"),
                   "report_example_tex": ("tex", "latex")}


def report_example_block(name: str) -> str:
    """An example output of the report code (``benchmarks/report_examples.py``: synthetic runs, today's format)."""
    doc = load("report_examples")
    key, lang = REPORT_EXAMPLES[name]
    return (f"Printed by the current code for `{doc['command']}` (synthetic runs from `tests/test_report_data.py`'s "
            f"`make_run`: the format is today's, the numbers are illustrative; `benchmarks/results/report_examples.json`"
            f"):\n\n```{lang}\n" + doc["results"]["examples"][key].rstrip("\n") + "\n```\n")


def real_block(name: str) -> str:
    """The detectors on the real-output corpus (benchmarks/detectors_real.py): one row per split, source and model."""
    doc = load(name)
    r = doc["results"]

    def pr(d: dict) -> str:
        if not d["pos"] and not d["flagged"]:
            return "–"
        p = "–" if d["precision"] is None else f"{d['precision']:.2f}"
        rc = "–" if d["recall"] is None else f"{d['recall']:.2f}"
        ci = lambda k: f" [{d[k][0]:.2f}, {d[k][1]:.2f}]" if d.get(k) else ""  # noqa: E731
        return f"{p}{ci('precision_ci')} / {rc}{ci('recall_ci')} ({d['tp']}/{d['pos']}, {d['flagged']} fl.)"

    def row(what: str, s: dict) -> str:
        labels = ", ".join(f"{k} {v}" for k, v in s["labels"].items())
        return (f"| {what} | {s['n']} ({labels}) | {pr(s['blur'])} | {pr(s['replacement'])} | "
                f"{s['verdict_accuracy']:.2f} | {s['verdict_fill_accuracy']:.2f} "
                f"[{s['verdict_fill_accuracy_ci'][0]:.2f}, {s['verdict_fill_accuracy_ci'][1]:.2f}] |")

    shipped = json.loads((ROOT / "bench" / "data" / "thresholds.json").read_text())
    if shipped.get("sha256") == r["thresholds_sha256"] and "real_corpus" in shipped:
        fitted = ("fitted on constructed cases, their `real_threshold`s and the real-output heads on corpus dev only "
                  "(`benchmarks/detectors_real_fit.py`)")
    elif shipped.get("sha256") == r["thresholds_sha256"] or r["thresholds_version"] <= 15:
        fitted = "fitted on constructed cases only"
    else:
        fitted = "not the shipped file"
    lines = [f"From {provenance(doc)} (`benchmarks/results/{name}.json`; thresholds v{r['thresholds_version']}, "
             f"{fitted}; outputs downscaled to {r['max_side']} px at most):", "",
             "| outputs | n (labels) | `blur` precision / recall | `replacement` precision / recall | verdict acc. "
             "| fill verdict acc. [95 %] |", "|---|---|---|---|---|---|"]
    for split in r["splits"]:  # (in the order detectors_real.py wrote them: real_corpus.SPLITS)
        lines.append(row(f"**{split}**, all", r["splits"][split]))
        for src, s in r["by_source"].items():
            if s["split"] == split:
                lines.append(row(f"{split} · source `{src}`", s))
        for m, s in r["by_model"].items():
            if s["split"] == split:
                lines.append(row(f"{split} · model {m}", s))
    if "held_out" in r:  # (results written before the pooled row was)
        lines.append(row("**all but dev**, pooled (not designed or fitted on)", r["held_out"]))
    from detectors_real import AUROC_SCORES  # (beside this script: the columns in the order it measures them)

    cols = [c for _, c, _ in AUROC_SCORES if any(c in s.get("aurocs", {}) for s in r["splits"].values())]
    if cols:  # (results written before the AUROCs were)
        lines += ["", "How well each score ranks its failure above `ok`, whatever the threshold (AUROC; positives / "
                  "`ok` outputs; `replacement_ref_score` where there is ground truth):", "",
                  "| split | " + " | ".join(f"`{c}`" for c in cols) + " |", "|---|" + "---|" * len(cols)]
        for split, s in [*r["splits"].items(), *([("all but dev", r["held_out"])] if "held_out" in r else [])]:
            a = s.get("aurocs", {})
            cell = lambda c: f"{a[c]['auroc']:.2f} ({a[c]['pos']}/{a[c]['ok']})" if c in a else "–"  # noqa: E731
            lines.append(f"| {split} | " + " | ".join(cell(c) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def real_native_block() -> str:
    """The corpus scored at each output's own size (``detectors_real.py --max-side 8192 --name
    detectors_real_native``) against the committed scoring at 512 px: how many verdicts differ, and each split's
    verdict accuracy both ways."""
    nat, ref = load("detectors_real_native"), load("detectors_real")
    a = {o["output_id"]: o["verdict"] for o in ref["results"]["outputs"]}
    b = {o["output_id"]: o["verdict"] for o in nat["results"]["outputs"]}
    same = sum(a[k] == b.get(k) for k in a)
    splits = ", ".join(f"{sp} {s['verdict_accuracy']:.2f} ({ref['results']['splits'][sp]['verdict_accuracy']:.2f})"
                       for sp, s in nat["results"]["splits"].items())
    return (f"From {provenance(nat)} (`benchmarks/results/detectors_real_native.json`), against "
            f"`benchmarks/results/detectors_real.json` (max side {ref['results']['max_side']} px): scored at each "
            f"output's own size (max side {nat['results']['max_side']} px), **{same} of {len(a)}** verdicts are the "
            f"same as at {ref['results']['max_side']} px; verdict accuracy per split, own size (at "
            f"{ref['results']['max_side']} px): {splits}.\n")


def render(name: str) -> str:
    if name == "detectors_real_native":
        return real_native_block()
    if name in REPORT_EXAMPLES:
        return report_example_block(name)
    if name == "stored_bytes":
        return stored_bytes_block()
    if name == "detectors_photos_summary":
        return detectors_photos_summary_block()
    if name == "detectors_real":
        return real_block(name)
    if name == "performance":
        return performance_block()
    if name == "calibration":
        return calibration_block()
    if name == "detectors_photos_seeds":
        return photo_seeds_block()
    return output_block(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 when a block is out of date")
    args = ap.parse_args()
    stale = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        new = BLOCK.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print("out of date (run `python benchmarks/figures.py`): " + ", ".join(map(str, stale)))
        return 1
    print(("rewrote " if stale else "up to date: ") + (", ".join(map(str, stale)) if stale else "README.md, docs/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
