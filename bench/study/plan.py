"""The sampling plan of a blind pairwise study: which sample, which two backends, which on the left.

Trials balance backend pairs and samples: with P pairs of the studied backends, S samples and L = lcm(P, S), trial k
(before shuffling) shows pair ``k mod P`` on sample ``(k + k div L) mod S``. Within each block of L trials the
(pair, sample) combinations are distinct (Chinese remainder theorem), and the shift by the block number moves the
next block onto combinations not used yet, so the first P·S trials are every combination once; any fewer trials use
each pair, and each sample, a number of times that differs by at most one. Attention checks pair a studied backend
with the untouched ``identity`` baseline (the hole left blank: the answer is known) on a random sample it finished
(one it failed on is compared all the same). Trial order and sides are drawn from ``bench.seeding.rng_for("study",
seed, ...)``: the same run, options and seed give the same plan (each rater's page then swaps the sides of a random
half of the trials: :mod:`bench.study.page`).

The plan also records what ties it to this run folder: the digest of every output file it shows
(:func:`bench.report.labelling.output_digest`, as the labelling export records them), so answers are never scored
against an output made again since, and the folder's first session id, so the study id of a run of the same suite
in another folder differs (:mod:`bench.study.score` checks both). Every page built is recorded in the study folder's
``plan.json`` (:func:`record_page`): the study ids a run folder accepts answers of."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

from ..errors import BenchError
from ..seeding import rng_for

#: the untouched baseline whose pairs are attention checks
CHECK_BACKEND = "identity"
#: the trials of a page when ``--pairs`` is not given: every (pair, sample) combination, at most this many
DEFAULT_MAX_PAIRS = 120
#: attention checks per pair trial when ``--checks`` is not given (at least 2 when the run has ``identity``)
CHECK_SHARE = 0.1


@dataclass(frozen=True)
class Trial:
    index: int
    kind: str  # "pair" (a comparison to rank) or "check" (an attention check against identity)
    sample_id: str
    left: str
    right: str


@dataclass
class Plan:
    run_id: str
    config_hash: str
    dataset: str
    mask: str
    seed: int
    backends: list[str]
    trials: list[Trial] = field(default_factory=list)
    check_backend: str | None = CHECK_BACKEND
    #: the run folder's first session (its manifest's ``sessions[0]``: a start time and a random suffix), so that the
    #: same plan on a run of the same suite in another folder has another study id
    run_session: str = ""
    #: {backend: {sample id: output_sha256 of the output file the page shows}} (:func:`output_digests`)
    output_sha256: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def study_id(self) -> str:
        """A short hash of the plan, the run folder's session and the shown outputs' digests included (the page
        keeps its state under it)."""
        d = self.to_dict(with_id=False)
        for k in ("run_session", "output_sha256"):  # a plan recorded before these were: its id stands
            if not d[k]:
                del d[k]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode("utf-8")).hexdigest()[:12]

    def to_dict(self, with_id: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if with_id:
            d["study_id"] = self.study_id
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Plan":
        trials = [Trial(**t) for t in d.get("trials", [])]
        return cls(run_id=d["run_id"], config_hash=d["config_hash"], dataset=d["dataset"], mask=d["mask"],
                   seed=int(d["seed"]), backends=list(d["backends"]), trials=trials,
                   check_backend=d.get("check_backend"), run_session=str(d.get("run_session") or ""),
                   output_sha256=dict(d.get("output_sha256") or {}))


def study_dir(run_dir: Any, dataset: str, mask: str) -> Path:
    """``RUN/study/<dataset>__<mask>/``: one folder per study, so a second study (another dataset or mask) never
    replaces the first."""
    from ..fsio import confined_dir
    from ..report.study import STUDY_DIR, study_folder

    return confined_dir(Path(run_dir), STUDY_DIR, study_folder(dataset, mask))


def page_plans(run_dir: Any, dataset: str, mask: str) -> list[Plan]:
    """The plans of the pages built for ``dataset`` × ``mask`` in this run folder (its ``plan.json``), the last one
    first; empty when none was built. A ``plan.json`` that is there but cannot be read (cut short, edited by hand)
    is a :class:`BenchError` naming it: read as "no page was built", its answers were called another run folder's,
    and the next page built overwrote it, losing the plans of every page built before."""
    from ..report.study import PLAN_JSON, STUDY_DIR, read_plan_doc, study_folder

    folder = Path(run_dir) / STUDY_DIR / study_folder(dataset, mask)
    doc = read_plan_doc(folder)
    if doc is None and not (folder / PLAN_JSON).exists():
        return []
    try:
        if doc is None:
            raise ValueError("not a JSON object")
        return [Plan.from_dict(d) for d in [doc["plan"], *doc.get("earlier", [])]]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BenchError(f"{folder / PLAN_JSON}: cannot be read ({type(e).__name__}: {e}); it records the plans of "
                         f"the study pages built for {dataset} × {mask}, which answers are checked against. Restore it "
                         f"from a backup, or move it aside to start afresh "
                         f"(answers to the pages it recorded can then no longer be scored)") from None


def record_page(plan: Plan, run_dir: Any, page: Path) -> Path:
    """Record ``plan`` as the page last built for its dataset × mask (``plan.json``, which the HTML report links),
    keeping the plans of the pages built before it: answers to any of them are this run folder's."""
    from ..fsio import write_text_atomic
    from ..report.study import PLAN_JSON

    earlier = [p.to_dict() for p in page_plans(run_dir, plan.dataset, plan.mask) if p.study_id != plan.study_id]
    doc = {"page": str(Path(page).resolve()), "plan": plan.to_dict(), "earlier": earlier}
    return write_text_atomic(study_dir(run_dir, plan.dataset, plan.mask) / PLAN_JSON, json.dumps(doc, indent=1))


def cell_keys(rd, dataset: str, mask: str) -> dict[str, str]:
    """{backend: cell key} of the run's cells of ``dataset`` × ``mask`` (its outputs are under
    ``generations/<cell key>/``)."""
    cells = rd.cells()
    here = cells[(cells["dataset"] == dataset) & (cells["mask"] == mask)]
    return {str(r["backend"]): str(r["cell_key"]) for _, r in here.iterrows()}


def output_digests(rd, dataset: str, mask: str, shown: Any) -> dict[str, dict[str, str]]:
    """{backend: {sample id: output_sha256}} of the stored outputs of the (backend, sample id) pairs ``shown``: the
    digest the labelling export records (:meth:`bench.report.html.ImageStore.with_digest`); a missing file is left
    out."""
    from ..report.html import ImageStore

    cell_of = cell_keys(rd, dataset, mask)
    images = ImageStore(rd.run_dirs)
    out: dict[str, dict[str, str]] = {}
    for b, sid in sorted(shown):
        g = images.with_digest({"cell_key": cell_of.get(b, "?"), "sample_id": sid})["output_sha256"]
        if g:
            out.setdefault(b, {})[sid] = g
    return out


def check_backends(rd) -> set[str]:
    """The run's backends that leave the hole untouched: named ``identity``, or of type ``identity`` under another
    name (``{type: identity, name: blank}``)."""
    out = set()
    for _, c in rd.cells().iterrows():
        spec = c.get("spec")
        kind = (spec.get("backend") or {}).get("type") if isinstance(spec, dict) else None
        if c["backend"] == CHECK_BACKEND or kind == CHECK_BACKEND:
            out.add(str(c["backend"]))
    return out


def _one(values: Sequence[str], given: str | None, what: str) -> str:
    if given is not None:
        if given not in values:
            raise BenchError(f"--{what} {given!r}: not in this run (it has {', '.join(values)})")
        return given
    if len(values) != 1:
        raise BenchError(f"the run has several {what}s ({', '.join(values)}): choose one with --{what}")
    return values[0]


def studied_samples(frame, dataset: str, mask: str, backends: Sequence[str]) -> list[str]:
    """Sample ids of ``dataset`` × ``mask`` that every backend in ``backends`` finished without an error."""
    f = frame[(frame["dataset"] == dataset) & (frame["mask"] == mask)]
    if "error" in f:
        f = f[f["error"].isna()]
    per = f.groupby("sample_id")["backend"].agg(lambda s: set(s))
    need = set(backends)
    return sorted(str(sid) for sid, got in per.items() if need <= got)


def make_plan(run: Any, pairs: int | None = None, backends: Sequence[str] | None = None, seed: int = 0,
              dataset: str | None = None, mask: str | None = None, checks: int | None = None) -> Plan:
    """The plan for ``run`` (a run folder or :class:`~bench.report.aggregate.RunData`); see the module doc."""
    from ..store.run import load_run

    rd = load_run(run)
    frame = rd.frame()
    if frame.empty:
        raise BenchError(f"{rd.run_dir}: the run has no records")
    ds = _one(sorted(frame["dataset"].astype(str).unique()), dataset, "dataset")
    mk = _one(sorted(frame.loc[frame["dataset"] == ds, "mask"].astype(str).unique()), mask, "mask")
    here = frame[(frame["dataset"] == ds) & (frame["mask"] == mk)]
    available = sorted(here["backend"].astype(str).unique())
    untouched = check_backends(rd) & set(available)
    if backends:
        chosen = list(dict.fromkeys(backends))
        bad = [b for b in chosen if b not in available]
        if bad:
            raise BenchError(f"--backends: {', '.join(bad)} not in this run's {ds} × {mk} (it has "
                             f"{', '.join(available)})")
        for b in chosen:
            if b in untouched:
                raise BenchError(f"--backends: {b!r} is the attention-check baseline (an identity backend: its hole "
                                 f"is left blank), not a backend to rank; leave it out")
    else:
        chosen = [b for b in available if b not in untouched]
    if len(chosen) < 2:
        raise BenchError(f"a study needs at least two backends besides {CHECK_BACKEND!r}; {ds} × {mk} has "
                         f"{', '.join(chosen) or 'none'}")
    checker = min(untouched) if untouched else None
    samples = studied_samples(frame, ds, mk, chosen)
    # the checks' samples: those the baseline finished too (a sample it failed on is still compared, never checked)
    checkable = set(studied_samples(frame, ds, mk, chosen + [checker])) if checker else set()
    if not checkable:
        checker = None
    if not samples:
        raise BenchError(f"no sample of {ds} × {mk} was finished by all of {', '.join(chosen)}")
    pair_list = list(combinations(chosen, 2))
    n_all = len(pair_list) * len(samples)
    n = min(n_all, DEFAULT_MAX_PAIRS) if pairs is None else int(pairs)
    if n < 1:
        raise BenchError("--pairs: at least 1 trial")
    if n > n_all:
        raise BenchError(f"--pairs {n}: only {n_all} different trials exist ({len(pair_list)} backend pairs × "
                         f"{len(samples)} samples)")
    if checks is None:
        n_checks = min(max(2, math.ceil(CHECK_SHARE * n)), len(checkable) * len(chosen)) if checker else 0
    else:
        n_checks = int(checks)
        if n_checks < 0:
            raise BenchError("--checks: 0 or more")
        if n_checks and not checker:
            raise BenchError(f"--checks {n_checks}: the run has no {CHECK_BACKEND!r} backend on {ds} × {mk} (add "
                             f"`- identity` to the suite's backends for attention checks)")
    rng = rng_for("study", int(seed), rd.manifest.get("config_hash"), ds, mk, tuple(chosen))
    order = [samples[i] for i in rng.permutation(len(samples))]
    raw: list[tuple[str, str, str, str]] = []
    period = math.lcm(len(pair_list), len(samples))
    for k in range(n):
        a, b = pair_list[k % len(pair_list)]
        raw.append(("pair", order[(k + k // period) % len(samples)], a, b))
    check_order = [sid for sid in order if sid in checkable]
    if n_checks > len(check_order) * len(chosen):
        raise BenchError(f"--checks {n_checks}: only {len(check_order) * len(chosen)} different checks exist")
    for c in rng.choice(len(check_order) * len(chosen), size=n_checks, replace=False) if n_checks else []:
        raw.append(("check", check_order[int(c) // len(chosen)], chosen[int(c) % len(chosen)], checker))
    trials = []
    for i, j in enumerate(rng.permutation(len(raw))):
        kind, sid, a, b = raw[j]
        if rng.random() < 0.5:
            a, b = b, a
        trials.append(Trial(i, kind, sid, a, b))
    first = (rd.manifest.get("sessions") or [{}])[0]
    shown = {(b, t.sample_id) for t in trials for b in (t.left, t.right)}
    return Plan(run_id=str(rd.manifest.get("run_id", rd.run_dir.name if rd.run_dir else "")),
                config_hash=str(rd.manifest.get("config_hash") or ""), dataset=ds, mask=mk, seed=int(seed),
                backends=chosen, trials=trials, check_backend=checker,
                run_session=str(first.get("session") or "") if isinstance(first, dict) else "",
                output_sha256=output_digests(rd, ds, mk, shown))
