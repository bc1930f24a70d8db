"""The sampling plan of a blind pairwise study: which sample, which two backends, which on the left.

Trials balance backend pairs and samples: with P pairs of the studied backends, S samples and L = lcm(P, S), trial k
(before shuffling) shows pair ``k mod P`` on sample ``(k + k div L) mod S``. Within each block of L trials the
(pair, sample) combinations are distinct (Chinese remainder theorem), and the shift by the block number moves the
next block onto combinations not used yet, so the first P·S trials are every combination once; any fewer trials use
each pair, and each sample, a number of times that differs by at most one. Attention checks pair a studied backend
with the untouched ``identity`` baseline (the hole left blank: the answer is known) on a random sample. Trial order
and sides are drawn from ``bench.seeding.rng_for("study", seed, ...)``: the same run, options and seed give the same
plan."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from itertools import combinations
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

    @property
    def study_id(self) -> str:
        """A short hash of the plan (the page keeps its state under it)."""
        doc = json.dumps(self.to_dict(with_id=False), sort_keys=True)
        return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:12]

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
                   check_backend=d.get("check_backend"))


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
    samples = studied_samples(frame, ds, mk, chosen + ([checker] if checker else []))
    if not samples and checker:  # identity failed somewhere: study what the ranked backends share, no checks
        checker = None
        samples = studied_samples(frame, ds, mk, chosen)
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
        n_checks = max(2, math.ceil(CHECK_SHARE * n)) if checker else 0
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
    if n_checks > len(order) * len(chosen):
        raise BenchError(f"--checks {n_checks}: only {len(order) * len(chosen)} different checks exist")
    for c in rng.choice(len(order) * len(chosen), size=n_checks, replace=False) if n_checks else []:
        raw.append(("check", order[int(c) // len(chosen)], chosen[int(c) % len(chosen)], checker))
    trials = []
    for i, j in enumerate(rng.permutation(len(raw))):
        kind, sid, a, b = raw[j]
        if rng.random() < 0.5:
            a, b = b, a
        trials.append(Trial(i, kind, sid, a, b))
    return Plan(run_id=str(rd.manifest.get("run_id", rd.run_dir.name if rd.run_dir else "")),
                config_hash=str(rd.manifest.get("config_hash") or ""), dataset=ds, mask=mk, seed=int(seed),
                backends=chosen, trials=trials, check_backend=checker)
