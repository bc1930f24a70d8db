"""Scoring a pairwise study: the raters' ``judgements*.csv`` checked against the run, merged, and turned into a
ranking with intervals.

The CSV (what the page exports; one row per answered trial)::

    rater_id,run_id,config_hash,study_id,trial,dataset,mask,sample_id,backend_left,backend_right,choice,seconds,position

``choice`` is ``left``, ``right``, ``tie`` or ``both_bad``. Required columns: ``rater_id``, ``config_hash``,
``sample_id``, ``backend_left``, ``backend_right``, ``choice``; the others may be absent (``dataset`` / ``mask``
then default to the run's only ones). A row naming a sample or backend the run does not have, another run's config
hash, the same backend on both sides, an unknown choice, or a trial the same rater already answered (same sample
and the same two backends, in either order, in any of the files) is an error naming the file and the line. So is a
study id that is not of a page built from this run folder (:func:`check_against_page`; a page of an earlier version of
the suite in this folder is named as such); an answer whose output file
changed since its page was built is left out and counted.

Trials with the ``identity`` baseline (a backend named so, or of that type) on one side are attention checks: passed
when the other side is chosen (a tie or "both bad" is a miss).
They never enter the ranking. ``min_attention`` drops raters who passed fewer than that share of their checks.

Models (see docs/studies.md): Bradley–Terry with ties (and "both bad") as half a win for each side, one virtual
tie per compared pair as a prior (:data:`bench.stats.DEFAULT_PRIOR`), strengths θ on the natural-log scale
centred at 0; 95 % percentile bootstrap intervals over samples (every trial of a resampled sample comes along);
preference against a baseline = wins / (wins + losses) with a Wilson interval (ties and both-bad counted beside
it, not in it); inter-rater agreement = Fleiss' κ over the trials every kept rater answered (a category per
rating: first backend preferred, second preferred, tie, both bad), with a bootstrap interval over those trials.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import BenchError
from ..fsio import csv_delimiter, find_written_id, read_csv_text
from ..seeding import rng_for
from ..store.manifest import config_hashes
from .. import sinks, stats
from .plan import CHECK_BACKEND, check_backends

COLUMNS = ("rater_id", "run_id", "config_hash", "study_id", "trial", "dataset", "mask", "sample_id",
           "backend_left", "backend_right", "choice", "seconds", "position")
REQUIRED = ("rater_id", "config_hash", "sample_id", "backend_left", "backend_right", "choice")
CHOICES = ("left", "right", "tie", "both_bad")
N_BOOT = 1000
ALPHA = 0.05


# ------------------------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------------------------
def _run_index(rd) -> tuple[dict[tuple[str, str], dict[str, set[str]]], set[str]]:
    """{(dataset, mask): {backend: sample ids it finished}} and every backend name of the run."""
    f = rd.frame()
    ok = f[f["error"].isna()] if "error" in f else f
    idx: dict[tuple[str, str], dict[str, set[str]]] = {}
    for (d, m, b), g in ok.groupby(["dataset", "mask", "backend"]):
        idx.setdefault((str(d), str(m)), {})[str(b)] = set(g["sample_id"].astype(str))
    return idx, set(f["backend"].astype(str))


def _position(v: str | None, where: str) -> float:
    """The 1-based place at which the rater saw the trial (the page shuffles the order per rater; order and fatigue
    effects are read from it), NaN when the file has none."""
    if not v:
        return math.nan
    try:
        p = int(v)
    except ValueError:
        raise BenchError(f"{where}: position {v!r} is not a whole number") from None
    if p < 1:
        raise BenchError(f"{where}: position {v!r}: the first trial a rater saw is 1")
    return float(p)


def _other_config(where: str, r: dict[str, str], run_hash: str, rd) -> str:
    """The error of a row whose ``config_hash`` is not the run's: answers to a page built from this run folder
    for an earlier version of its suite (``plan.json`` records that page) say so, and how to score them; others
    are of another run."""
    from .plan import page_plans

    head = f"{where}: config_hash {r['config_hash'][:16]!r} is not this run's ({run_hash[:16]})"
    sid = r.get("study_id") or ""
    if sid and rd.run_dir is not None and r.get("dataset") and r.get("mask"):
        for plan in page_plans(rd.run_dir, r["dataset"], r["mask"]):
            if plan.study_id == sid and plan.config_hash == r["config_hash"]:
                return (f"{head}: these are answers to study {sid}, a page built from this run folder for an "
                        f"earlier version of its suite (config {r['config_hash'][:12]}), which has changed since; "
                        f"answers are scored against the version of the suite they were given for: run that "
                        f"version again in this folder (its stored results are reused) and score them, or build the "
                        f"page again and collect new answers")
    return f"{head}: these judgements are of another run"


def read_judgements(paths: Sequence[str | Path], run: Any) -> pd.DataFrame:
    """Every row of every file, checked against ``run``; one row per judgement with the columns ``file``, ``line``,
    ``rater``, ``dataset``, ``mask``, ``sample_id``, ``left``, ``right``, ``choice``, ``seconds``, ``check``."""
    from ..store.run import load_run

    rd = load_run(run)
    idx, all_backends = _run_index(rd)
    untouched = check_backends(rd)
    run_hash = str(rd.manifest.get("config_hash") or "")
    run_id = str(rd.manifest.get("run_id") or "")
    if not paths:
        raise BenchError("no judgements file given")
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, str] = {}
    given: dict[Path, Path] = {}
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise BenchError(f"{p}: judgements file not found")
        if p.resolve() in given:  # (a glob and a name of the same file): every row would be its own duplicate
            raise BenchError(f"{p}: judgements file given twice (as {given[p.resolve()]} too); give each file once")
        given[p.resolve()] = p
        text = read_csv_text(p, "judgements file")
        with io.StringIO(text, newline="") as f:
            reader = csv.DictReader(f, delimiter=csv_delimiter(text))  # (a spreadsheet saves ; or tabs)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in cols]
            if missing:
                raise BenchError(f"{p}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
            n_rows = 0
            for line, raw in enumerate(reader, start=2):
                n_rows += 1
                exact = {(k or "").strip(): sinks.csv_unguard(v or "") for k, v in raw.items() if k is not None}
                r = {(k or "").strip(): sinks.csv_unguard((v or "").strip()) for k, v in raw.items() if k is not None}
                where = f"{p}:{line}"
                rater = r["rater_id"]
                if not rater:
                    raise BenchError(f"{where}: empty rater_id")
                if r["config_hash"] not in config_hashes(rd.manifest):  # (or the earlier rule's, of a study made before)
                    raise BenchError(_other_config(where, r, run_hash, rd))
                if r.get("run_id") and run_id and r["run_id"] != run_id:
                    raise BenchError(f"{where}: run_id {r['run_id']!r} is not this run's ({run_id!r})")
                choice = r["choice"].lower().replace(" ", "_").replace("-", "_")
                if choice not in CHOICES:
                    raise BenchError(f"{where}: choice {r['choice']!r} is not one of {', '.join(CHOICES)}")
                ds, mk = r.get("dataset") or "", r.get("mask") or ""
                if not ds or not mk:
                    keys = sorted(idx)
                    if len(keys) != 1:
                        raise BenchError(f"{where}: no dataset / mask column and the run has several "
                                         f"({', '.join(f'{d} × {m}' for d, m in keys)})")
                    ds, mk = keys[0]
                if (ds, mk) not in idx:
                    raise BenchError(f"{where}: dataset × mask {ds} × {mk} is not in this run")
                left, right = r["backend_left"], r["backend_right"]
                known = set().union(*idx[(ds, mk)].values()) if idx[(ds, mk)] else set()
                # the sample id as written (it may begin or end with a space: a folder dataset's file name), else
                # stripped (a hand edit's padding): the labels' rule, one function
                sid = find_written_id(exact["sample_id"], known) or r["sample_id"]
                for side, b in (("backend_left", left), ("backend_right", right)):
                    if b not in all_backends:
                        raise BenchError(f"{where}: {side} {b!r} is not a backend of this run (it has "
                                         f"{', '.join(sorted(all_backends))})")
                    if b not in idx[(ds, mk)]:
                        raise BenchError(f"{where}: {side} {b!r} has no records on {ds} × {mk}")
                if left == right:
                    raise BenchError(f"{where}: the same backend {left!r} on both sides")
                for b in (left, right):
                    if sid not in idx[(ds, mk)][b]:
                        what = "is not a sample of" if sid not in known else f"has no output of {b} in"
                        raise BenchError(f"{where}: sample_id {exact['sample_id']!r} {what} this run's {ds} × {mk}")
                secs = math.nan
                if r.get("seconds"):
                    try:
                        secs = float(r["seconds"])
                    except ValueError:
                        raise BenchError(f"{where}: seconds {r['seconds']!r} is not a number") from None
                    if not (math.isfinite(secs) and secs >= 0):
                        raise BenchError(f"{where}: seconds {r['seconds']!r} is not a duration (a finite number "
                                         f">= 0)")
                key = (rater, ds, mk, sid, *sorted((left, right)))
                if key in seen:
                    raise BenchError(f"{where}: rater {rater!r} already judged sample {sid!r} with {left} and "
                                     f"{right} at {seen[key]} (a duplicated trial)")
                seen[key] = where
                rows.append({"file": str(p), "line": line, "rater": rater, "rater_written": exact["rater_id"],
                             "dataset": ds, "mask": mk,
                             "sample_id": sid, "left": left, "right": right, "choice": choice, "seconds": secs,
                             "check": left in untouched or right in untouched,
                             "study_id": r.get("study_id") or "", "trial": r.get("trial") or "",
                             "position": _position(r.get("position"), where)})
            if n_rows == 0:
                raise BenchError(f"{p}: no judgements (only a header)")
    df = pd.DataFrame(rows)
    studies = sorted(set(zip(df["dataset"], df["mask"])))
    if len(studies) > 1:
        raise BenchError(f"the files mix {len(studies)} dataset × mask studies "
                         f"({', '.join(f'{d} × {m}' for d, m in studies)}): score each separately")
    both = df[df["left"].isin(untouched) & df["right"].isin(untouched)]
    if len(both):
        raise BenchError(f"{both['file'].iloc[0]}:{both['line'].iloc[0]}: an identity backend on both sides")
    df.attrs["check_backends"] = sorted(untouched)
    return df


# ------------------------------------------------------------------------------------------------------------------
# scoring
# ------------------------------------------------------------------------------------------------------------------
#: a rater who gave one answer to at least this many trials (checks included) is named (``one_answer``)
ONE_ANSWER_MIN = 10


def attention(df: pd.DataFrame) -> pd.DataFrame:
    """Per rater: attention checks, how many passed (the non-``identity`` side chosen), their share, the number of
    comparisons and median seconds per trial, and ``one_answer``: the choice, when the rater gave that one answer to
    every one of at least :data:`ONE_ANSWER_MIN` trials (a key held down, a rater clicking through; each rater's
    page puts the backends on its own random sides, so "always left" is no preference), else ``""``."""
    out = []
    untouched = set(df.attrs.get("check_backends") or [CHECK_BACKEND])
    for rater, g in df.groupby("rater", sort=True):
        chk = g[g["check"]]
        good = np.where(chk["left"].isin(untouched), "right", "left")
        passed = int((chk["choice"].to_numpy() == good).sum())
        out.append({"rater": rater, "checks": int(len(chk)), "passed": passed,
                    "pass_rate": passed / len(chk) if len(chk) else math.nan,
                    "comparisons": int((~g["check"]).sum()),
                    "median_seconds": float(np.nanmedian(g["seconds"])) if g["seconds"].notna().any() else math.nan,
                    "one_answer": (str(g["choice"].iloc[0]) if len(g) >= ONE_ANSWER_MIN and g["choice"].nunique() == 1
                                   else "")})
    return pd.DataFrame(out)


def outcomes(df: pd.DataFrame) -> pd.DataFrame:
    """The comparisons (checks left out) in a canonical order: ``a`` < ``b`` by name, ``y`` = 1 when a was
    preferred, 0 when b was, 0.5 for a tie or both bad; ``cat`` = a / b / tie / both_bad (for κ)."""
    c = df[~df["check"]].copy()
    swap = c["left"] > c["right"]
    c["a"] = np.where(swap, c["right"], c["left"])
    c["b"] = np.where(swap, c["left"], c["right"])
    pick_left, pick_right = c["choice"] == "left", c["choice"] == "right"
    a_won = (pick_left & ~swap) | (pick_right & swap)
    b_won = (pick_right & ~swap) | (pick_left & swap)
    c["y"] = np.where(a_won, 1.0, np.where(b_won, 0.0, 0.5))
    c["cat"] = np.where(a_won, "a", np.where(b_won, "b", c["choice"]))
    return c


def wins_matrix(c: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    pos = {n: i for i, n in enumerate(names)}
    w = np.zeros((len(names), len(names)))
    ia, ib = c["a"].map(pos).to_numpy(), c["b"].map(pos).to_numpy()
    y = c["y"].to_numpy(dtype=float)
    np.add.at(w, (ia, ib), y)
    np.add.at(w, (ib, ia), 1.0 - y)
    return w


def lacks_a_backend(wins: np.ndarray) -> bool:
    """Whether a resample's ``wins`` matrix has a backend with no comparison: its θ is undefined and the others
    would be centred on fewer backends (another scale, another ranking), so the resample fails rather than mixing
    into an interval (the ranking's, and τ's in :mod:`bench.study.agreement`)."""
    w = np.asarray(wins)
    return bool(((w.sum(axis=0) + w.sum(axis=1)) == 0).any())


def bt_with_intervals(c: pd.DataFrame, names: Sequence[str], n_boot: int = N_BOOT, alpha: float = ALPHA,
                      seed: int = 0, prior: float = stats.DEFAULT_PRIOR) -> dict[str, Any]:
    """θ per backend and its percentile bootstrap interval over samples (resampled with replacement, each with all
    its comparisons)."""
    theta = stats.bradley_terry(wins_matrix(c, names), prior=prior)
    sids = sorted(c["sample_id"].unique())
    per = np.stack([wins_matrix(c[c["sample_id"] == s], names) for s in sids]) if sids else np.zeros((0,))
    rng = rng_for("study-bt", seed)
    reps = np.full((n_boot, len(names)), np.nan)
    failed = 0
    for i in range(n_boot):
        w = per[rng.integers(0, len(sids), len(sids))].sum(axis=0)
        if lacks_a_backend(w):
            failed += 1
            continue
        try:
            reps[i] = stats.bradley_terry(w, prior=prior, init=theta)
        except stats.NotConnected:
            failed += 1
    lo, hi = stats.percentile_interval(reps, alpha)
    return {"theta": theta, "lo": lo, "hi": hi, "replicates": reps, "failed": failed, "n_samples": len(sids),
            "n_boot": n_boot}


def preference(c: pd.DataFrame, baseline: str, names: Sequence[str], alpha: float = ALPHA) -> list[dict[str, Any]]:
    """Each backend against ``baseline``: wins, losses, ties, both bad, and wins / (wins + losses) with its Wilson
    interval."""
    out = []
    for b in names:
        if b == baseline:
            continue
        g = c[((c["a"] == b) & (c["b"] == baseline)) | ((c["b"] == b) & (c["a"] == baseline))]
        won = ((g["a"] == b) & (g["cat"] == "a")) | ((g["b"] == b) & (g["cat"] == "b"))
        lost = ((g["a"] == b) & (g["cat"] == "b")) | ((g["b"] == b) & (g["cat"] == "a"))
        w, l = int(won.sum()), int(lost.sum())
        lo, hi = stats.wilson_interval(w, w + l, alpha)
        out.append({"backend": b, "baseline": baseline, "wins": w, "losses": l,
                    "ties": int((g["cat"] == "tie").sum()), "both_bad": int((g["cat"] == "both_bad").sum()),
                    "n": int(len(g)), "rate": w / (w + l) if w + l else math.nan, "lo": lo, "hi": hi})
    return out


KAPPA_CATEGORIES = ("a", "b", "tie", "both_bad")


def rater_agreement(c: pd.DataFrame, n_boot: int = N_BOOT, alpha: float = ALPHA, seed: int = 0) -> dict[str, Any]:
    """Fleiss' κ over the comparisons every rater answered (with a percentile bootstrap interval over them), the
    raw share of agreeing rater pairs, and Krippendorff's α (nominal) over the comparisons at least two raters
    answered (``alpha``, ``alpha_lo``, ``alpha_hi``, ``alpha_items``): unlike κ it keeps the items a partial rater
    skipped (one rater who answered 4 of 27 trials shrank κ to 3 items); NaN with fewer than two raters."""
    raters = sorted(c["rater"].unique())
    res: dict[str, Any] = {"raters": len(raters), "items": 0, "kappa": math.nan, "lo": math.nan, "hi": math.nan,
                           "observed": math.nan, "alpha_items": 0, "alpha": math.nan, "alpha_lo": math.nan,
                           "alpha_hi": math.nan}
    if len(raters) < 2:
        return res
    item = c[["sample_id", "a", "b"]].astype(str).agg("\x00".join, axis=1)
    counts = pd.crosstab(item, c["cat"]).reindex(columns=list(KAPPA_CATEGORIES), fill_value=0).to_numpy(dtype=float)
    per_item = counts.sum(axis=1)
    pairable = counts[per_item >= 2]
    res["alpha_items"] = int(pairable.shape[0])
    if pairable.shape[0]:
        res["alpha"], res["alpha_lo"], res["alpha_hi"] = _with_interval(
            stats.krippendorff_alpha_nominal, pairable, n_boot, alpha, rng_for("study-alpha", seed))
    n = len(raters)
    shared = counts[per_item == n]
    if shared.shape[0] == 0:
        return res
    res["items"] = int(shared.shape[0])
    res["observed"] = float((((shared * shared).sum(axis=1) - n) / (n * (n - 1))).mean())
    res["kappa"], res["lo"], res["hi"] = _with_interval(stats.fleiss_kappa, shared, n_boot, alpha,
                                                        rng_for("study-kappa", seed))
    return res


def _with_interval(fn: Any, counts: np.ndarray, n_boot: int, alpha: float,
                   rng: np.random.Generator) -> tuple[float, float, float]:
    """``fn(counts)`` and its percentile bootstrap interval over the items (rows)."""
    reps = np.array([fn(counts[rng.integers(0, len(counts), len(counts))]) for _ in range(n_boot)])
    lo, hi = stats.percentile_interval(reps, alpha)
    return fn(counts), float(lo), float(hi)


@dataclass
class StudyScore:
    """Everything ``bench study score`` reports (``to_dict`` is what ``study.json`` holds)."""

    run_id: str
    config_hash: str
    dataset: str
    mask: str
    files: list[str]
    judgements: pd.DataFrame
    raters: pd.DataFrame  # attention per rater, with a ``kept`` column
    min_attention: float | None
    backends: list[str]  # ranked, best first
    bt: dict[str, Any]
    wins: np.ndarray  # in ``backends`` order
    baseline: str
    preference: list[dict[str, Any]]
    agreement: dict[str, Any]
    metrics: list[dict[str, Any]] | None = None  # filled by bench.study.agreement
    #: the study ids the judgements name, and the page's plan they were checked against (None: no plan.json)
    study_ids: list[str] = field(default_factory=list)
    page_study_id: str | None = None
    #: the judgements left out because the output file they showed changed since their page was built (where, which)
    changed_outputs: list[str] = field(default_factory=list)
    #: rater ids as written that differ only in case or spaces at their ends (:func:`similar_raters`)
    similar_raters: list[dict[str, Any]] = field(default_factory=list)
    #: the rank of each of ``backends`` (:func:`bench.stats.tied_ranks`: tied backends share one; empty: 1, 2, 3, ...)
    ranks: list[int] = field(default_factory=list)
    #: the backends tied with a default baseline for the lowest rank (it is the first of them by name)
    baseline_tied_with: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def num(x: Any) -> Any:
            if isinstance(x, (np.floating, float)):
                return None if math.isnan(float(x)) else float(x)
            if isinstance(x, np.integer):
                return int(x)
            if isinstance(x, dict):
                return {k: num(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [num(v) for v in x]
            if isinstance(x, (np.bool_, bool)):
                return bool(x)
            return x

        comp = outcomes(self.judgements[self.judgements["rater"].isin(self.kept)])
        ranks = list(self.ranks) or list(range(1, len(self.backends) + 1))
        rates = stats.win_rates(self.wins)
        return num({
            "format": "inpaint-bench-study", "version": 1, "run_id": self.run_id, "config_hash": self.config_hash,
            "dataset": self.dataset, "mask": self.mask, "files": self.files,
            "model": {"ranking": "Bradley-Terry, ties and both-bad as half a win each",
                      "tie_tolerance": stats.BT_TOL,
                      "prior": stats.DEFAULT_PRIOR, "interval": f"{1 - ALPHA:.0%} percentile bootstrap over "
                      f"samples ({self.bt.get('n_boot', N_BOOT)} resamples)", "preference_interval": "Wilson",
                      "agreement": "Fleiss' kappa over comparisons every kept rater answered"},
            "min_attention": self.min_attention,
            "raters": self.raters.to_dict("records"),
            "n_comparisons": int(len(comp)), "n_samples": self.bt["n_samples"],
            "bootstrap_failed": self.bt["failed"], "n_boot": self.bt.get("n_boot", N_BOOT),
            "backends": [{"backend": b, "rank": ranks[i], "tied": ranks.count(ranks[i]) > 1,
                          "human_bt": self.bt["theta"][i], "human_bt_lo": self.bt["lo"][i],
                          "human_bt_hi": self.bt["hi"][i], "n": int(((comp["a"] == b) | (comp["b"] == b)).sum())}
                         for i, b in enumerate(self.backends)],
            "win_rate": {a: {b: rates[i, j] for j, b in enumerate(self.backends) if i != j}
                         for i, a in enumerate(self.backends)},
            "wins": {a: {b: self.wins[i, j] for j, b in enumerate(self.backends) if i != j}
                     for i, a in enumerate(self.backends)},
            "baseline": self.baseline, "baseline_tied_with": list(self.baseline_tied_with),
            "preference": self.preference, "agreement": self.agreement,
            "metrics": self.metrics, "study_ids": list(self.study_ids), "page_study_id": self.page_study_id,
            "judgements_of_changed_outputs": len(self.changed_outputs),
            "similar_raters": self.similar_raters,
        })

    @property
    def kept(self) -> list[str]:
        return [r["rater"] for r in self.raters.to_dict("records") if r["kept"]]


def similar_raters(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rater ids, as written in the files, that differ only in case or in the spaces at their ends ("Ann", "ann "):
    perhaps one person's two exports, which the duplicated-trial check cannot catch, as they count as different
    raters. Never merged (two people may share a name but for its case): named, per group, with ``written`` (the
    ids as written), ``raters`` (the raters they are counted as: the ids without the spaces at their ends) and
    ``shared_trials`` (the sample and backend pairs more than one of those raters judged)."""
    if df.empty or "rater_written" not in df:
        return []
    groups: dict[str, set[str]] = {}
    for w in df["rater_written"].unique():
        groups.setdefault(str(w).strip().casefold(), set()).add(str(w))
    out = []
    for _, written in sorted(groups.items()):
        if len(written) < 2:
            continue
        sub = df[df["rater_written"].isin(written)]
        pair = [f"{min(a, b)}\x00{max(a, b)}" for a, b in zip(sub["left"], sub["right"])]
        per_trial = sub.assign(_pair=pair).groupby(["dataset", "mask", "sample_id", "_pair"])["rater"].nunique()
        out.append({"written": sorted(written), "raters": sorted(set(sub["rater"])),
                    "shared_trials": int((per_trial > 1).sum())})
    return out


def check_against_page(df: pd.DataFrame, rd) -> tuple[str | None, dict[Any, str]]:
    """Check the judgements against the pages built from this run folder for their dataset × mask (the plans
    ``plan.json`` records, :func:`~bench.study.plan.page_plans`); return the study id of the page built last (None
    when none was) and the rows whose shown output changed since their page was built ({row: where, which file}).

    A row that names a study id must be an answer to one of those pages: another id (a page built from another run
    folder, even of the same suite, whose config hash and run id are this run's) is an error naming the file and both
    ids, and so is a trial number that shows another sample or other backends than that page's plan (a file edited or
    merged by hand). Answers to a page built before the last one are scored, and ``study.json`` and the command say
    so. A row whose output file is not the one its page showed (its SHA-256 differs from the digest the plan
    recorded: the output was made again since) is returned: :func:`score_study` leaves it out and counts it. A row
    without a study id (a CSV of another tool) has no page to be checked against."""
    from ..report.study import PLAN_JSON, STUDY_DIR, study_folder
    from ..store.files import output_path
    from .plan import cell_keys, output_digests, page_plans

    if rd.run_dir is None or df.empty:
        return None, {}
    ds, mk = str(df["dataset"].iloc[0]), str(df["mask"].iloc[0])
    plans = {p.study_id: p for p in page_plans(rd.run_dir, ds, mk)}
    trials = {i: {str(t.index): t for t in p.trials} for i, p in plans.items()}
    page_id = next(iter(plans), None)
    named = df[df["study_id"] != ""]
    for r in named.to_dict("records"):
        where = f"{r['file']}:{r['line']}"
        plan = plans.get(r["study_id"])
        if plan is None and not plans:
            raise BenchError(f"{where}: study {r['study_id']!r}, but no page of {ds} × {mk} was built from this run "
                             f"folder ({rd.run_dir}: no {STUDY_DIR}/{study_folder(ds, mk)}/{PLAN_JSON}): these are "
                             f"answers to a page built from another run folder")
        if plan is None:
            earlier = f", or an earlier one of {', '.join(list(plans)[1:])}" if len(plans) > 1 else ""
            raise BenchError(f"{where}: study {r['study_id']!r} is not a page built from this run folder "
                             f"({rd.run_dir}: study {page_id}{earlier}): these are answers to a page built from "
                             f"another run folder (a run of the same suite elsewhere?)")
        t = trials[plan.study_id].get(str(r["trial"]))
        if t is None or t.sample_id != r["sample_id"] or {t.left, t.right} != {r["left"], r["right"]}:
            want = "no such trial" if t is None else f"sample {t.sample_id!r}, {t.left} vs {t.right}"
            raise BenchError(f"{where}: trial {r['trial']!r} of study {plan.study_id} is {want} in the page's plan, "
                             f"not sample {r['sample_id']!r}, {r['left']} vs {r['right']} (a file edited or merged "
                             f"by hand?)")
    pairs = {(b, sid) for sid, left, right in zip(named["sample_id"], named["left"], named["right"])
             for b in (left, right)}
    now = output_digests(rd, ds, mk, pairs)
    cells = cell_keys(rd, ds, mk)
    changed: dict[Any, str] = {}
    for i, r in named.iterrows():
        for b in (r["left"], r["right"]):
            shown = plans[r["study_id"]].output_sha256.get(b, {}).get(r["sample_id"])
            if shown and now.get(b, {}).get(r["sample_id"]) != shown:
                changed[i] = (f"{r['file']}:{r['line']}: sample {r['sample_id']!r}, {b}: "
                              f"{output_path(Path(), cells.get(b, '?'), r['sample_id'])}")
                break
    return page_id, changed


def score_study(run: Any, paths: Sequence[str | Path], min_attention: float | None = None,
                baseline: str | None = None, n_boot: int = N_BOOT, seed: int = 0) -> StudyScore:
    from ..store.run import load_run

    rd = load_run(run)
    df = read_judgements(paths, rd)
    page_id, changed = check_against_page(df, rd)
    ids = sorted({x for x in df["study_id"] if x})
    if changed:  # answers to an output that is no longer the run's: left out and counted, never scored
        if len(changed) == len(df):
            raise BenchError(f"every judgement ({len(df)}) is of an output file that changed since its page was "
                             f"built (its SHA-256 is not the one the page recorded; e.g. "
                             f"{next(iter(changed.values()))}): build the page again and collect new answers")
        df = df.drop(index=list(changed))
    att = attention(df)
    if min_attention is not None and not 0 <= min_attention <= 1:
        raise BenchError(f"--min-attention {min_attention}: a share between 0 and 1")
    att["kept"] = [not (min_attention is not None and r["checks"] and r["pass_rate"] < min_attention)
                   for r in att.to_dict("records")]
    kept = set(att.loc[att["kept"], "rater"])
    if not kept:
        raise BenchError(f"--min-attention {min_attention}: every rater is below it "
                         f"({', '.join(f'{r}: {p:.0%}' for r, p in zip(att['rater'], att['pass_rate']))})")
    comp = outcomes(df[df["rater"].isin(kept)])
    if comp.empty:
        raise BenchError("no comparisons to rank (only attention checks)")
    names = sorted(set(comp["a"]) | set(comp["b"]))
    try:
        bt = bt_with_intervals(comp, names, n_boot=n_boot, seed=seed)
    except stats.NotConnected as e:
        raise BenchError(f"the judged pairs do not connect every backend: {e}") from None
    # backends whose strengths the fit does not tell apart share one rank, and are listed by name within it
    by_rank = stats.tied_ranks(bt["theta"])
    order = sorted(range(len(names)), key=lambda i: (by_rank[i], names[i]))
    ranked, ranks = [names[i] for i in order], [int(by_rank[i]) for i in order]
    bt = {**bt, "theta": bt["theta"][order], "lo": bt["lo"][order], "hi": bt["hi"][order],
          "replicates": bt["replicates"][:, order]}
    tied_with: list[str] = []
    if baseline is None:  # the lowest ranked; of a tie for it, the first by name (never an accident of order)
        last = [b for b, r in zip(ranked, ranks) if r == ranks[-1]]
        baseline, tied_with = last[0], last[1:]
    elif baseline not in names:
        raise BenchError(f"--baseline {baseline!r}: not among the judged backends ({', '.join(names)})")
    return StudyScore(run_id=str(rd.manifest.get("run_id") or ""),
                      config_hash=str(rd.manifest.get("config_hash") or ""), dataset=str(df["dataset"].iloc[0]),
                      mask=str(df["mask"].iloc[0]), files=[str(p) for p in paths], judgements=df, raters=att,
                      min_attention=min_attention, backends=ranked, bt=bt, wins=wins_matrix(comp, ranked),
                      baseline=baseline, preference=preference(comp, baseline, ranked), ranks=ranks,
                      baseline_tied_with=tied_with,
                      agreement=rater_agreement(comp, n_boot=n_boot, seed=seed),
                      study_ids=ids, page_study_id=page_id,
                      changed_outputs=list(changed.values()), similar_raters=similar_raters(df))
