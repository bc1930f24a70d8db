"""A scored study as text: ``study.md`` (everything), ``user_study.tex`` (the paper's table), the metric-agreement
table in Markdown / LaTeX / HTML, and the HTML section the run's report shows (:func:`report_section`).

``bench study score`` writes them into ``RUN/study/`` beside ``study.json``; ``bench report`` then picks the study
up here too: :func:`add_human_bt` adds the ``human_bt`` column to its leaderboards and :func:`report_section` the HTML
section. The report reads a study only through this module (the study room, :mod:`bench.study`, sits above the
report and writes what is read here).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .. import sinks
from ..store.manifest import config_hashes

STUDY_DIR = "study"
STUDY_JSON = "study.json"
PLAN_JSON = "plan.json"


def _f(x: Any, fmt: str = ".2f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return format(x, fmt)


def _tf(x: Any, fmt: str = ".2f") -> str:
    """A number for LaTeX text: a minus sign, not a hyphen."""
    t = _f(x, fmt)
    return "$-$" + t[1:] if t.startswith("-") else ("--" if t == "–" else t)


def _ci(v: Any, lo: Any, hi: Any, fmt: str = ".2f") -> str:
    return f"{_f(v, fmt)} [{_f(lo, fmt)}, {_f(hi, fmt)}]"


def _pct(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f}%"


def sentence(doc: dict[str, Any]) -> list[str]:
    """The paper's sentences: "raters preferred X over B in 78 % of decided comparisons (95 % CI ...)"."""
    out = []
    for p in doc.get("preference") or []:
        if p["wins"] + p["losses"] == 0:
            continue
        out.append(f"Raters preferred {p['backend']} over {p['baseline']} in {_pct(p['rate'])} of "
                   f"{p['wins'] + p['losses']} decided comparisons (95 % Wilson interval "
                   f"{_pct(p['lo'])}–{_pct(p['hi'])}; {p['ties']} ties and {p['both_bad']} both-bad not counted).")
    return out


def agreement_markdown(rows: list[dict[str, Any]]) -> str:
    m = sinks.markdown
    lines = ["| key | kind | direction | pairwise accuracy [95 % CI] | comparisons | metric ties "
             "| Kendall τ [95 % CI] |", "|---|---|---|---|---:|---:|---|"]
    for r in rows:
        d = {True: "↑", False: "↓", None: "none declared"}[r["higher_is_better"]]
        lines.append(f"| {m(r['key'])} | {r['kind']} | {d} | {_ci(r['accuracy'], r.get('lo'), r.get('hi'), '.3f')} | "
                     f"{r['n']} | {r['metric_ties']} | {_ci(r.get('tau'), r.get('tau_lo'), r.get('tau_hi'))} |")
    return "\n".join(lines) + "\n"


def agreement_latex(rows: list[dict[str, Any]], caption: str = "", label: str = "tab:metric_agreement") -> str:
    lt = sinks.latex
    body = []
    for r in rows:
        if r["higher_is_better"] is None:
            continue
        d = r"$\uparrow$" if r["higher_is_better"] else r"$\downarrow$"
        body.append(f"{lt(r['key'])} {d} & {_tf(r['accuracy'], '.3f')} {{\\scriptsize[{_tf(r['lo'], '.3f')}, "
                    f"{_tf(r['hi'], '.3f')}]}} & {r['n']} & {_tf(r['tau'])} {{\\scriptsize[{_tf(r['tau_lo'])}, "
                    f"{_tf(r['tau_hi'])}]}} \\\\")
    cap = caption or ("Agreement of each metric with human pairwise judgements: the share of decided comparisons "
                      "it orders as the raters did (0.5 is chance), and Kendall's $\\tau$ between its backend "
                      "ranking and the Bradley--Terry ranking; 95\\,\\% bootstrap intervals over samples.")
    return "\n".join([r"\begin{table}[t]", r"\centering", r"\begin{tabular}{lrrr}", r"\toprule",
                      r"Metric & Pairwise accuracy & $n$ & Kendall's $\tau$ \\", r"\midrule", *body,
                      r"\bottomrule", r"\end{tabular}", f"\\caption{{{cap}}}", f"\\label{{{sinks.latex_label(label)}}}",
                      r"\end{table}", ""])


def _v(x: Any) -> str:
    """A cell's sort value for the report's sortable tables (empty: none)."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else repr(float(x))


def agreement_html(rows: list[dict[str, Any]]) -> str:
    """The agreement table in the report's table style (``lb``: click a header to sort)."""
    e = sinks.html
    heads = ["key", "kind", "direction", "pairwise accuracy [95 % CI]", "comparisons", "metric ties",
             "Kendall τ [95 % CI]"]
    out = ["<table class='lb agreement' id='metric-agreement'><thead><tr>"
           + "".join(f"<th{' class=lbl' if i < 3 else ''}>{h}</th>" for i, h in enumerate(heads))
           + "</tr></thead><tbody>"]
    for r in rows:
        d = {True: "↑", False: "↓", None: "none declared"}[r["higher_is_better"]]
        out.append(f"<tr data-key='{e(r['key'])}'><td class='lbl'>{e(r['key'])}</td><td class='lbl'>{e(r['kind'])}"
                   f"</td><td class='lbl'>{d}</td><td data-v='{_v(r['accuracy'])}'>"
                   f"{_ci(r['accuracy'], r.get('lo'), r.get('hi'), '.3f')}</td><td data-v='{r['n']}'>{r['n']}</td>"
                   f"<td data-v='{r['metric_ties']}'>{r['metric_ties']}</td><td data-v='{_v(r.get('tau'))}'>"
                   f"{_ci(r.get('tau'), r.get('tau_lo'), r.get('tau_hi'))}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _latex_ties(doc: dict[str, Any]) -> str:
    """The caption's sentences on tied backends (equal strengths) and a baseline chosen among them."""
    lt = sinks.latex
    out = "".join(f" Tied (equal strengths): {_and([lt(n) for n in names])}." for names in tied_groups(doc).values())
    if doc.get("baseline_tied_with"):
        out += (f" The baseline {lt(doc['baseline'])} is one of the backends tied for the lowest strength, the first "
                f"of them by name.")
    return out


def user_study_latex(doc: dict[str, Any], label: str = "tab:user_study") -> str:
    """Backend, Bradley–Terry strength with interval, preference over the baseline with its Wilson interval."""
    lt = sinks.latex
    pref = {p["backend"]: p for p in doc.get("preference") or []}
    base = doc["baseline"]
    body = []
    for b in doc["backends"]:
        p = pref.get(b["backend"])
        pct = lambda v: _tf(None if v is None else 100 * v, ".1f")  # noqa: E731
        pr = "--" if p is None or p["rate"] is None else \
            f"{pct(p['rate'])}\\,\\% {{\\scriptsize[{pct(p['lo'])}, {pct(p['hi'])}]}}"
        body.append(f"{lt(b['backend'])}{' (tied)' if b.get('tied') else ''} & {_tf(b['human_bt'])} {{\\scriptsize[{_tf(b['human_bt_lo'])}, "
                    f"{_tf(b['human_bt_hi'])}]}} & {pr} & {b['n']} \\\\")
    kept = [r for r in doc["raters"] if r["kept"]]
    ag = doc.get("agreement") or {}
    kappa = (f" Fleiss' $\\kappa$ = {_tf(ag.get('kappa'))} [{_tf(ag.get('lo'))}, {_tf(ag.get('hi'))}] over "
             f"{ag.get('items')} comparisons every rater answered." if ag.get("kappa") is not None else "")
    if ag.get("alpha") is not None:
        kappa += (f" Krippendorff's $\\alpha$ = {_tf(ag.get('alpha'))} [{_tf(ag.get('alpha_lo'))}, "
                  f"{_tf(ag.get('alpha_hi'))}] over {ag.get('alpha_items')} comparisons at least two raters answered.")
    cap = (f"User study: {len(kept)} raters, {doc['n_comparisons']} blind pairwise comparisons on "
           f"{doc['n_samples']} samples of {lt(doc['dataset'])} $\\times$ {lt(doc['mask'])}. Bradley--Terry "
           f"strength (log scale, mean 0; ties count half a win) and the share of decided comparisons won against "
           f"{lt(base)}; 95\\,\\% intervals (bootstrap over samples; Wilson).{kappa}{_latex_ties(doc)}")
    return "\n".join([r"\begin{table}[t]", r"\centering", r"\begin{tabular}{lrrr}", r"\toprule",
                      f"Method & BT strength $\\uparrow$ & Preferred over {lt(base)} $\\uparrow$ & $n$ \\\\",
                      r"\midrule", *body, r"\bottomrule", r"\end{tabular}", f"\\caption{{{cap}}}",
                      f"\\label{{{sinks.latex_label(label)}}}", r"\end{table}", ""])


def interval_notes(doc: dict[str, Any]) -> list[str]:
    """What the reader of the ranking must know about its intervals: resamples that failed (a backend without a
    comparison, a disconnected design), and intervals of zero width (every resample ranks alike: unanimous raters,
    so resampling samples sees no spread; the interval does not describe the uncertainty, the Wilson interval of
    the preference does)."""
    out = []
    failed, n_boot = doc.get("bootstrap_failed") or 0, doc.get("n_boot")
    if failed:
        out.append(f"{failed}{f' of {n_boot}' if n_boot else ''} bootstrap resamples failed (a backend with no "
                   f"comparison in the resample, or a disconnected design) and are left out of the intervals.")
    flat = [b["backend"] for b in doc.get("backends") or [] if b.get("human_bt_lo") is not None
            and b.get("human_bt_lo") == b.get("human_bt_hi")]
    if flat:
        out.append(f"zero-width interval{'s' if len(flat) != 1 else ''} for {', '.join(flat)}: every resample of "
                   f"the samples gives the same strengths (the raters agree on every sample), so resampling shows no "
                   f"spread; read the preference's Wilson interval, or collect more judgements.")
    return out


def rank_label(b: dict[str, Any]) -> str:
    """A backend's rank as shown: ``2`` or, shared with another backend, ``2 (tied)``."""
    return f"{b['rank']} (tied)" if b.get("tied") else str(b["rank"])


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def tied_groups(doc: dict[str, Any]) -> dict[int, list[str]]:
    """{shared rank: the backends tied at it, in the ranking's order} of a study's ``backends``."""
    groups: dict[int, list[str]] = {}
    for b in doc.get("backends") or []:
        if b.get("tied"):
            groups.setdefault(b["rank"], []).append(b["backend"])
    return groups


def tie_notes(doc: dict[str, Any]) -> list[str]:
    """Backends tied in the ranking (equal Bradley–Terry strengths, within the fit's convergence tolerance: every
    answer a tie, say, or perfectly symmetric wins): one shared rank, listed by name; and, when the default baseline
    is one of those tied for the lowest rank, which it is and why."""
    groups = tied_groups(doc)
    tol = (doc.get("model") or {}).get("tie_tolerance")
    out = [f"{_and(names)} are tied at rank {rank}: their Bradley–Terry strengths are equal"
           + (f" (within the fit's convergence tolerance, {tol:g} in log-strength)" if tol else "")
           + ", so they share the rank and are listed by name." for rank, names in groups.items()]
    others = doc.get("baseline_tied_with") or []
    if others:
        out.append(f"the baseline {doc['baseline']} is one of the backends tied for the lowest rank "
                   f"({_and([doc['baseline'], *others])}): the first of them by name; give --baseline to choose "
                   f"another.")
    return out


def rater_notes(doc: dict[str, Any]) -> list[str]:
    """Rater ids that differ only in case or in the spaces at their ends (``similar_raters`` of ``study.json``):
    said, never merged, by ``bench study score`` and in ``study.md`` alike."""
    out = []
    for g in doc.get("similar_raters") or []:
        raters = g.get("raters") or []
        shared = g.get("shared_trials") or 0
        out.append(f"rater ids {', '.join(repr(w) for w in g['written'])} differ only in case or in spaces at their "
                   f"ends; counted as {len(raters)} rater{'s' if len(raters) != 1 else ''} "
                   f"({', '.join(repr(r) for r in raters)}; spaces at the ends are no part of an id)"
                   + (f", who judged {shared} of the same trials" if len(raters) > 1 else "")
                   + ". One person's two exports? Then give one file (or one id); two people: give them ids that "
                     "differ otherwise.")
    return out


def changed_note(doc: dict[str, Any]) -> list[str]:
    """The line saying how many judgements were left out because their output file changed since the page."""
    n = doc.get("judgements_of_changed_outputs") or 0
    return ["", f"**Note:** {n} judgement(s) left out: the output file they showed changed since their page was "
                f"built (its SHA-256 is not the one the page recorded)."] if n else []


def study_markdown(doc: dict[str, Any]) -> str:
    m = sinks.markdown
    ag = doc.get("agreement") or {}
    lines = [f"# User study: run {m(doc['run_id'])}, {m(doc['dataset'])} × {m(doc['mask'])}", "",
             f"{doc['n_comparisons']} comparisons on {doc['n_samples']} samples from "
             f"{sum(r['kept'] for r in doc['raters'])} rater(s) ({', '.join(m(f) for f in doc['files'])}). "
             f"Model: {doc['model']['ranking']}, one virtual tie per pair as prior; intervals: "
             f"{doc['model']['interval']}.", *changed_note(doc),
             *(x for n in rater_notes(doc) for x in ("", f"**Note:** {n}")), "", "## Ranking (Bradley–Terry)", "",
             "| rank | backend | human_bt [95 % CI] | comparisons |", "|---:|---|---|---:|"]
    for b in doc["backends"]:
        lines.append(f"| {rank_label(b)} | {m(b['backend'])} | {_ci(b['human_bt'], b['human_bt_lo'], b['human_bt_hi'])} "
                     f"| {b['n']} |")
    lines += ["", "human_bt is a log-strength: P(A preferred to B) = 1 / (1 + exp(θ_B − θ_A)); a difference of 1 is "
              "73 %."] + [f"**Note:** {n}" for n in tie_notes(doc) + interval_notes(doc)] + [
              "", "## Win rates (row preferred to column; ties count half)", ""]
    names = [b["backend"] for b in doc["backends"]]
    lines += ["| | " + " | ".join(m(n) for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for a in names:
        lines.append(f"| {m(a)} | " + " | ".join("·" if a == b else _pct(doc["win_rate"][a].get(b)) for b in names)
                     + " |")
    lines += ["", f"## Preference against {m(doc['baseline'])}", "",
              "| backend | wins | losses | ties | both bad | preferred [95 % Wilson] |",
              "|---|---:|---:|---:|---:|---|"]
    for p in doc["preference"]:
        lines.append(f"| {m(p['backend'])} | {p['wins']} | {p['losses']} | {p['ties']} | {p['both_bad']} | "
                     f"{_pct(p['rate'])} [{_pct(p['lo'])}, {_pct(p['hi'])}] |")
    lines += [""] + sentence(doc) + ["", "## Raters", "",
                                     "| rater | attention checks passed | comparisons | median s / trial | kept |",
                                     "|---|---|---:|---:|---|"]
    for r in doc["raters"]:
        lines.append(f"| {m(r['rater'])} | {r['passed']}/{r['checks']} ({_pct(r['pass_rate'])}) | {r['comparisons']} | "
                     f"{_f(r['median_seconds'], '.1f')} | {'yes' if r['kept'] else '**dropped**'} |")
    same = [r for r in doc["raters"] if r.get("one_answer")]
    if same:
        lines += ["", "Gave one answer to every trial (a key held down, clicking through? each rater's page puts the "
                      "backends on its own random sides, so this is no preference): "
                  + ", ".join(f"{m(r['rater'])} ({r['one_answer']}, {r['comparisons'] + r['checks']} trials)"
                              for r in same) + "."]
    if doc.get("min_attention") is not None:
        lines += ["", f"Raters who passed less than {_pct(doc['min_attention'])} of their attention checks are "
                  "dropped."]
    lines += ["", "## Inter-rater agreement", ""]
    if ag.get("kappa") is not None:
        lines.append(f"Fleiss' κ = {_ci(ag['kappa'], ag.get('lo'), ag.get('hi'))} over {ag['items']} comparisons "
                     f"that all {ag['raters']} raters answered (raw agreement {_pct(ag.get('observed'))}); "
                     f"categories: first backend preferred, second preferred, tie, both bad.")
    if ag.get("alpha") is not None:
        lines.append(f"Krippendorff's α (nominal) = {_ci(ag['alpha'], ag.get('alpha_lo'), ag.get('alpha_hi'))} over "
                     f"{ag.get('alpha_items')} comparisons at least two raters answered (κ keeps only those every "
                     f"rater answered: a rater who skipped some shrinks it).")
    if ag.get("kappa") is None and ag.get("alpha") is None:
        lines.append("Not measured: it needs at least two raters answering the same comparisons.")
    if doc.get("metrics"):
        lines += ["", "## Which numbers agree with people on this data", "",
                  "Pairwise accuracy: the share of decided comparisons (no tie, no both-bad) a key orders as the rater "
                  "did, in its declared direction; 0.5 is chance. Kendall τ: its backend ranking (mean over the "
                  "studied samples) against the Bradley–Terry ranking.", "", agreement_markdown(doc["metrics"])]
    return "\n".join(lines) + "\n"


def write_outputs(doc: dict[str, Any], out: Path) -> list[Path]:
    from ..fsio import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    files = [(STUDY_JSON, json.dumps(doc, indent=1, ensure_ascii=False)), ("study.md", study_markdown(doc)),
             ("user_study.tex", user_study_latex(doc))]
    if doc.get("metrics"):
        files += [("agreement.md", agreement_markdown(doc["metrics"])),
                  ("agreement.tex", agreement_latex(doc["metrics"])),
                  ("agreement.html", agreement_html(doc["metrics"]))]
    return [write_text_atomic(out / name, text) for name, text in files]


def report_section(run_dir: Path | None, report_path: Path | None = None) -> str:
    """The HTML report's "User study" section: per study (one per dataset × mask), a link to its page and the
    ranking and agreement tables; empty when the run has no study."""
    parts: list[str] = []
    for folder, doc in studies(run_dir):
        part = _study_section(folder, doc, report_path, first=not parts)
        if part:
            parts.append(part)
    return "\n".join(parts)


def read_plan_doc(folder: Path) -> dict[str, Any] | None:
    """A study folder's ``plan.json`` (written by :func:`bench.study.plan.record_page`: ``page``, the page built
    last; ``plan``, its plan; ``earlier``, the plans of the pages built before it), or None when there is none or it
    cannot be read. The one reader of the file: the study room's plans and this report's link both come from it."""
    try:
        doc = json.loads((folder / PLAN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _study_section(folder: Path, doc: dict[str, Any] | None, report_path: Path | None, first: bool) -> str:
    page = (read_plan_doc(folder) or {}).get("page")
    if doc is None and page is None:
        return ""
    e = sinks.html
    what = f": {e(doc['dataset'])} × {e(doc['mask'])}" if doc else ""
    ids = {k: f" id='{k}'" if first else "" for k in ("user-study", "study-page", "study-ranking")}
    out = [f"<h2{ids['user-study']}>User study{what}</h2>"]
    if page:
        href = page
        if report_path is not None:
            try:
                href = os.path.relpath(page, Path(report_path).resolve().parent)
            except ValueError:
                href = Path(page).as_uri()
        out.append(f"<p class='meta'>Study page: <a{ids['study-page']} href='{e(href)}'>{e(Path(page).name)}</a></p>")
    if doc is None:
        out.append("<p class='meta'>No judgements scored yet (<code>bench study score RUN judgements*.csv</code>).</p>")
        return "\n".join(out)
    out.append(f"<p class='meta'>{doc['n_comparisons']} blind comparisons on {doc['n_samples']} samples of "
               f"{e(doc['dataset'])} × {e(doc['mask'])}, {sum(r['kept'] for r in doc['raters'])} rater(s). "
               "Bradley–Terry strength (ties count half) with 95 % bootstrap intervals over samples.</p>")
    out.append(f"<table class='lb study-ranking'{ids['study-ranking']}><thead><tr><th>rank</th><th class='lbl'>backend"
               f"</th><th>human_bt [95 % CI]</th><th>preferred over {e(doc['baseline'])} [Wilson]</th>"
               "<th>comparisons</th></tr></thead><tbody>")
    pref = {p["backend"]: p for p in doc.get("preference") or []}
    for b in doc["backends"]:
        p = pref.get(b["backend"])
        rate = "–" if p is None else f"{_pct(p['rate'])} [{_pct(p['lo'])}, {_pct(p['hi'])}]"
        out.append(f"<tr><td data-v='{b['rank']}'>{e(rank_label(b))}</td><td class='lbl'>{e(b['backend'])}</td>"
                   f"<td data-v='{_v(b['human_bt'])}'>{_ci(b['human_bt'], b['human_bt_lo'], b['human_bt_hi'])}</td>"
                   f"<td data-v='{_v(None if p is None else p['rate'])}'>{rate}</td><td data-v='{b['n']}'>{b['n']}</td>"
                   "</tr>")
    out.append("</tbody></table>")
    ag = doc.get("agreement") or {}
    if ag.get("kappa") is not None:
        out.append(f"<p class='meta'>Fleiss' κ {_ci(ag['kappa'], ag.get('lo'), ag.get('hi'))} over {ag['items']} "
                   "comparisons every rater answered.</p>")
    if ag.get("alpha") is not None:
        out.append(f"<p class='meta'>Krippendorff's α {_ci(ag['alpha'], ag.get('alpha_lo'), ag.get('alpha_hi'))} "
                   f"over {ag.get('alpha_items')} comparisons at least two raters answered.</p>")
    if doc.get("metrics"):
        out.append("<h3>Which numbers agree with people on this data</h3><p class='meta'>Pairwise accuracy: the "
                   "share of decided comparisons a key orders as the rater did (0.5 is chance); Kendall τ: its "
                   "backend ranking against the human one.</p>")
        out.append(f"<div class='scroll'>{agreement_html(doc['metrics'])}</div>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# attaching a scored study to its run's leaderboards

COLUMN = "human_bt"
INFO = {"higher_is_better": True, "fmt": ".2f", "interval": True,
        "doc": "Bradley-Terry strength from the run's blind pairwise user study (log scale, mean 0; ties count "
               "half; 95 % bootstrap interval over samples): bench study score"}


def study_folder(dataset: str, mask: str) -> str:
    """The sub-folder of ``RUN/study/`` of one dataset × mask's study (labels are plain file names)."""
    return f"{dataset}__{mask}"


def study_dirs(run_dir: Any) -> list[Path]:
    """Every folder of ``RUN/study/`` that may hold a study: one per dataset × mask (``study/<dataset>__<mask>/``),
    and ``study/`` itself (where studies were written before they had their own folders)."""
    if run_dir is None:
        return []
    root = Path(run_dir) / STUDY_DIR
    if not root.is_dir():
        return []
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    return [*subs, root]


def _read_study(p: Path, config_hash: "str | set[str] | None") -> dict[str, Any] | None:
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != "inpaint-bench-study":
        return None
    hashes = {config_hash} if isinstance(config_hash, str) else config_hash
    if hashes is not None and doc.get("config_hash") not in hashes:
        return None
    return doc


def studies(run_dir: Any, config_hash: "str | set[str] | None" = None) -> list[tuple[Path, dict[str, Any] | None]]:
    """(folder, scored study or None) of every study folder of the run, one per dataset × mask: a study folder wins
    over an old ``study/study.json`` of the same dataset × mask; a study of another config hash reads as None (its
    folder may still hold a page plan)."""
    out: list[tuple[Path, dict[str, Any] | None]] = []
    seen: set[tuple[str, str]] = set()
    for d in study_dirs(run_dir):
        doc = _read_study(d / STUDY_JSON, config_hash) if (d / STUDY_JSON).is_file() else None
        if doc is not None:
            key = (str(doc.get("dataset")), str(doc.get("mask")))
            if key in seen:
                continue
            seen.add(key)
        out.append((d, doc))
    return out


def load_studies(run_dir: Any, config_hash: "str | set[str] | None" = None) -> list[dict[str, Any]]:
    """Every scored study of the run (:func:`studies`), those of another config hash left out."""
    return [doc for _, doc in studies(run_dir, config_hash) if doc is not None]


def add_human_bt(rd, df) -> None:
    """Add ``human_bt`` / ``_lo`` / ``_hi`` to the summary ``df`` (in place) when ``rd`` has a scored study and the
    summary has one row per backend × dataset × mask."""
    if df.empty or not {"backend", "dataset", "mask"} <= set(df.columns) or "area_bin" in df.columns:
        return
    docs = load_studies(rd.run_dir, config_hashes(rd.manifest))  # (a study made before the hash rule changed too)
    if not docs:
        return
    vals = {(doc["dataset"], doc["mask"], b["backend"]): b for doc in docs for b in doc["backends"]}
    cells = list(zip(df["backend"], df["dataset"], df["mask"]))
    for suffix, key in (("", "human_bt"), ("_lo", "human_bt_lo"), ("_hi", "human_bt_hi")):
        df[COLUMN + suffix] = [(vals.get((d, m, b)) or {}).get(key) for b, d, m in cells]
        df[COLUMN + suffix] = df[COLUMN + suffix].astype(float)
    df.attrs.setdefault("columns", {})[COLUMN] = dict(INFO)
    df.attrs["setlevel_keys"] = list(df.attrs.get("setlevel_keys", [])) + [COLUMN]
