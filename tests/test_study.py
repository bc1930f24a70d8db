"""Pairwise user studies (bench.study): the plan, the statistics against independent computations (closed forms,
choix, statsmodels, scipy, a textbook example), simulated raters, attention checks, bad CSVs, metric agreement,
and the loop through the CLI and the report on a real three-backend run."""
from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench import stats
from bench.study.page import write_page
from bench.study.plan import make_plan
from bench.study.score import COLUMNS, bt_with_intervals, outcomes, rater_agreement, read_judgements, score_study

BACKENDS = ("opencv-telea", "biharmonic", "mean-fill")


def write_suite(tmp: Path, n: int = 8) -> Path:
    p = tmp / "suite.yaml"
    p.write_text(f"""name: study-run
seed: 0
device: cpu
batch_size: 4
resolution: 64
save_inputs: true
output_dir: {tmp / 'results'}
backends:
  - {{type: opencv-telea, radius: 3}}
  - biharmonic
  - mean-fill
  - identity
datasets:
  - {{type: synthetic, n: {n}}}
masks:
  - {{type: box, min_size: 0.2, max_size: 0.4}}
metrics: [psnr, ssim]
detectors: [blur, noop]
""")
    return p


def make_study_run(tmp: Path, n: int = 8) -> Path:
    """A real run: three classical backends and ``identity`` on 8 generated scenes at 64 px (≈ 7 s on CPU)."""
    from bench.cli import main

    assert main(["run", str(write_suite(tmp, n)), "--no-progress", "--no-report"]) == 0
    return tmp / "results" / "study-run"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_study_run(tmp_path_factory.mktemp("study"))


def simulate(plan, theta: dict[str, float], rater: str, seed: int, tie: float = 0.0, random_clicker: bool = False,
             truth=None, accuracy: float = 1.0) -> list[dict]:
    """CSV rows of a simulated rater. Default: Bradley–Terry with strengths ``theta`` (identity far below), a tie
    with probability ``tie``. ``truth(trial) -> choice``: answer it with probability ``accuracy``, else a uniformly
    random choice. ``random_clicker``: every answer uniformly random."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in plan.trials:
        if random_clicker:
            c = str(rng.choice(["left", "right", "tie", "both_bad"]))
        elif truth is not None:
            c = truth(t) if rng.random() < accuracy else str(rng.choice(["left", "right", "tie", "both_bad"]))
        elif rng.random() < tie:
            c = "tie"
        else:
            th = {**theta, "identity": -20.0}
            p = 1.0 / (1.0 + math.exp(th[t.right] - th[t.left]))
            c = "left" if rng.random() < p else "right"
        rows.append({"rater_id": rater, "run_id": plan.run_id, "config_hash": plan.config_hash,
                     "study_id": plan.study_id, "trial": t.index, "dataset": plan.dataset, "mask": plan.mask,
                     "sample_id": t.sample_id, "backend_left": t.left, "backend_right": t.right, "choice": c,
                     "seconds": f"{rng.uniform(0.5, 4):.2f}"})
    return rows


def page_plan(run: Path, out: Path, **kw):
    """``make_plan(run, **kw)`` with its page built as ``bench study`` does (:func:`write_page` records the plan in
    the run folder, and ``bench study score`` takes answers to the pages recorded there): simulated answers carry
    the study id a rater's export of that page would."""
    plan = make_plan(run, **kw)
    write_page(plan, run, out / "study.html")
    return plan


def write_csv(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------------------------------
# the plan
# ------------------------------------------------------------------------------------------------------------------
def test_plan_balances_pairs_and_samples(run):
    plan = make_plan(run, seed=3)
    pairs = [t for t in plan.trials if t.kind == "pair"]
    checks = [t for t in plan.trials if t.kind == "check"]
    assert sorted(plan.backends) == sorted(BACKENDS) and plan.check_backend == "identity"
    # default: every (pair, sample) combination exactly once
    combos = Counter((t.sample_id, frozenset((t.left, t.right))) for t in pairs)
    assert len(combos) == 3 * 8 and set(combos.values()) == {1}
    # attention checks: 10 % of the comparisons, at least 2; identity against a studied backend, never repeated
    assert len(checks) == max(2, math.ceil(0.1 * len(pairs)))
    assert all("identity" in (t.left, t.right) and {t.left, t.right} - {"identity"} <= set(BACKENDS) for t in checks)
    assert len({(t.sample_id, t.left, t.right) for t in checks}) == len(checks)
    assert [t.index for t in plan.trials] == list(range(len(plan.trials)))
    # fewer trials: pair counts and sample uses differ by at most one
    small = make_plan(run, pairs=10, seed=3, checks=0)
    pc = Counter(frozenset((t.left, t.right)) for t in small.trials)
    sc = Counter(t.sample_id for t in small.trials)
    assert sum(pc.values()) == 10 and max(pc.values()) - min(pc.values()) <= 1 and len(pc) == 3
    assert max(sc.values()) - min(sc.values()) <= 1 and len(sc) == 8
    # sides: randomised, recorded by the seed
    lefts = Counter(t.left for t in pairs)
    assert all(lefts[b] > 0 for b in BACKENDS)
    assert make_plan(run, seed=3).to_dict() == plan.to_dict()
    assert make_plan(run, seed=4).study_id != plan.study_id
    two = make_plan(run, backends=["mean-fill", "biharmonic"], checks=0)
    assert {frozenset((t.left, t.right)) for t in two.trials} == {frozenset(("mean-fill", "biharmonic"))}


def test_a_plan_recorded_before_its_digests_keeps_its_study_id(run):
    """A page built before plans recorded the run folder's session and the outputs' digests exported its answers
    under the id of the plan without them: the id it had is the one its recorded plan still gives."""
    import hashlib

    from bench.study.plan import Plan

    plan = make_plan(run, seed=3)
    assert plan.run_session and plan.output_sha256
    old = {k: v for k, v in plan.to_dict(with_id=False).items() if k not in ("run_session", "output_sha256")}
    was = hashlib.sha256(json.dumps(old, sort_keys=True).encode("utf-8")).hexdigest()[:12]  # how ids were made
    assert Plan.from_dict(old).study_id == was != plan.study_id


def test_plan_errors(run):
    with pytest.raises(BenchError, match="'identity' is the attention-check baseline"):
        make_plan(run, backends=["identity", "mean-fill"])
    with pytest.raises(BenchError, match="--backends: nope not in this run's synthetic × box"):
        make_plan(run, backends=["nope", "mean-fill"])
    with pytest.raises(BenchError, match="only 24 different trials exist"):
        make_plan(run, pairs=25)
    with pytest.raises(BenchError, match="at least two backends"):
        make_plan(run, backends=["mean-fill"])
    with pytest.raises(BenchError, match="--dataset 'coco': not in this run"):
        make_plan(run, dataset="coco")


def test_plan_without_identity_has_no_checks(tmp_path):
    """A run with several datasets and masks and no ``identity``: one dataset × mask must be named, and the page
    gets no attention checks (asking for some is an error)."""
    from tests.test_report_data import make_run

    other = make_run(tmp_path / "run", n=5)
    with pytest.raises(BenchError, match="several datasets .*choose one with --dataset"):
        make_plan(other)
    with pytest.raises(BenchError, match="several masks .*choose one with --mask"):
        make_plan(other, dataset="synthetic")
    plan = make_plan(other, dataset="synthetic", mask="box")
    assert plan.check_backend is None and all(t.kind == "pair" for t in plan.trials) and len(plan.trials) == 15
    with pytest.raises(BenchError, match="no 'identity' backend on synthetic × box"):
        make_plan(other, dataset="synthetic", mask="box", checks=2)


# ------------------------------------------------------------------------------------------------------------------
# statistics against independent computations
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("w,l,t", [(6, 2, 0), (9, 3, 4), (1, 7, 2)])
def test_bt_two_items_closed_form(w, l, t):
    """Two items: the likelihood is p^W (1-p)^L with W = w + t/2, L = l + t/2, so p = W / (W + L) and the strength
    ratio is W / L; the prior adds `prior` to both."""
    wins = np.array([[0, w + t / 2], [l + t / 2, 0]], dtype=float)
    th = stats.bradley_terry(wins, prior=0.0)
    assert th[0] - th[1] == pytest.approx(math.log((w + t / 2) / (l + t / 2)), abs=1e-8)
    assert th.sum() == pytest.approx(0.0, abs=1e-12)
    th = stats.bradley_terry(wins, prior=0.5)
    assert th[0] - th[1] == pytest.approx(math.log((w + t / 2 + 0.5) / (l + t / 2 + 0.5)), abs=1e-8)


def _random_wins(k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    true = rng.normal(0, 1, k)
    w = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            n = int(rng.integers(5, 30))
            p = 1 / (1 + math.exp(true[j] - true[i]))
            wi = rng.binomial(n, p)
            ties = int(rng.integers(0, 4))
            w[i, j], w[j, i] = wi + ties / 2, n - wi + ties / 2
    return w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bt_against_choix_and_direct_likelihood(seed):
    """Several items: the same maximum-likelihood strengths as choix's ILSR (a different algorithm: the stationary
    distribution of a Markov chain, Maystre & Grossglauser 2015) and as scipy maximising the likelihood directly.
    choix takes (winner, loser) tuples: wins are doubled so that half wins (ties) are whole tuples."""
    choix = pytest.importorskip("choix")
    from scipy.optimize import minimize

    w = _random_wins(6, seed)
    th = stats.bradley_terry(w, prior=0.0)
    data = [(i, j) for i in range(6) for j in range(6) for _ in range(int(round(2 * w[i, j])))]
    ref = choix.ilsr_pairwise(6, data, alpha=0.0, max_iter=10_000, tol=1e-12)
    np.testing.assert_allclose(th, ref - ref.mean(), atol=1e-6)

    def nll(x: np.ndarray) -> float:
        d = x[:, None] - x[None, :]
        return float((w * np.logaddexp(0, -d)).sum())

    opt = minimize(nll, np.zeros(6), method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(th, opt.x - opt.x.mean(), atol=1e-5)
    # the prior is one virtual tie per compared pair: two more choix tuples, one each way
    th_p = stats.bradley_terry(w, prior=0.5)
    data_p = data + [(i, j) for i in range(6) for j in range(6) if i != j]
    ref_p = choix.ilsr_pairwise(6, data_p, alpha=0.0, max_iter=10_000, tol=1e-12)
    np.testing.assert_allclose(th_p, ref_p - ref_p.mean(), atol=1e-6)


def test_bt_degenerate_inputs():
    w = np.array([[0, 3, 0], [0, 0, 2], [0, 0, 0.0]])  # 0 beat everyone: no finite maximum without a prior
    with pytest.raises(stats.NotConnected, match="won \\(or lost\\) every comparison"):
        stats.bradley_terry(w, prior=0.0)
    th = stats.bradley_terry(w, prior=0.5)
    assert np.all(np.isfinite(th)) and th[0] > th[1] > th[2]
    w4 = np.zeros((4, 4))
    w4[0, 1] = w4[1, 0] = 2
    w4[2, 3] = w4[3, 2] = 1
    with pytest.raises(stats.NotConnected, match="2 groups"):
        stats.bradley_terry(w4)
    w3 = np.array([[0, 2, 0], [1, 0, 0], [0, 0, 0.0]])  # item 2 never compared: NaN, the rest fitted
    th = stats.bradley_terry(w3, prior=0.0)
    assert math.isnan(th[2]) and th[0] - th[1] == pytest.approx(math.log(2))


def test_wilson_against_statsmodels():
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(0, 10), (3, 10), (78, 100), (15, 15), (1, 2)]:
        lo, hi = stats.wilson_interval(k, n)
        rlo, rhi = proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (lo, hi) == pytest.approx((rlo, rhi), abs=1e-9)
    assert all(math.isnan(x) for x in stats.wilson_interval(0, 0))


# Fleiss (1971)-style worked example (Wikipedia, "Fleiss' kappa"): 10 subjects, 14 raters, 5 categories; κ = 0.210
FLEISS_EXAMPLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                  [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_kappa_against_textbook_and_statsmodels():
    assert stats.fleiss_kappa(np.array(FLEISS_EXAMPLE)) == pytest.approx(0.210, abs=5e-4)
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(0)
    for n_raters in (2, 3, 7):
        ratings = rng.integers(0, 4, size=(40, n_raters))
        ratings[:20, 1:] = ratings[:20, :1]  # some agreement
        table, _ = inter_rater.aggregate_raters(ratings, n_cat=4)
        assert stats.fleiss_kappa(table) == pytest.approx(inter_rater.fleiss_kappa(table, method="fleiss"), abs=1e-12)
    with pytest.raises(ValueError, match="same number"):
        stats.fleiss_kappa(np.array([[1, 1], [2, 1]]))


def test_cohen_kappa_against_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    labels = np.array(["ok", "blur", "replacement", "other"])
    for n in (5, 40, 200):
        a = labels[rng.integers(0, 4, n)]
        b = np.where(rng.random(n) < 0.6, a, labels[rng.integers(0, 4, n)])  # some agreement
        assert stats.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert stats.cohen_kappa(["ok", "blur"], ["ok", "blur"]) == 1.0
    assert math.isnan(stats.cohen_kappa(["ok"] * 3, ["ok"] * 3))  # chance agreement 1
    with pytest.raises(ValueError):
        stats.cohen_kappa(["ok"], ["ok", "blur"])


def test_kendall_tau_b_against_scipy():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = rng.integers(0, 4, 7).astype(float), rng.normal(size=7)
        y[2] = y[3]
        assert stats.kendall_tau_b(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
    assert math.isnan(stats.kendall_tau_b([1, 1, 1], [1, 2, 3]))


# ------------------------------------------------------------------------------------------------------------------
# simulated raters with known preferences
# ------------------------------------------------------------------------------------------------------------------
def _sim_frame(theta: np.ndarray, n_samples: int, raters: int, seed: int, truth_of=None, accuracy: float = 1.0):
    """Judgement rows (as read_judgements makes them) for every backend pair on every sample."""
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(len(theta))]
    rows = []
    for s in range(n_samples):
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                left, right = (names[i], names[j]) if rng.random() < 0.5 else (names[j], names[i])
                for r in range(raters):
                    if truth_of is not None:
                        c = truth_of(s, left, right) if rng.random() < accuracy else \
                            str(rng.choice(["left", "right", "tie"]))
                    else:
                        ti, tj = theta[names.index(left)], theta[names.index(right)]
                        c = "left" if rng.random() < 1 / (1 + math.exp(tj - ti)) else "right"
                    rows.append({"file": "sim", "line": len(rows) + 2, "rater": f"r{r}", "dataset": "d", "mask": "m",
                                 "sample_id": f"s{s:03d}", "left": left, "right": right, "choice": c,
                                 "seconds": 1.0, "check": False})
    return pd.DataFrame(rows), names


def test_simulated_raters_recover_the_true_strengths():
    theta = np.array([1.2, 0.4, 0.0, -0.5, -1.1])
    df, names = _sim_frame(theta, n_samples=150, raters=2, seed=0)
    c = outcomes(df)
    bt = bt_with_intervals(c, names, n_boot=300, seed=0)
    assert list(np.argsort(-bt["theta"])) == [0, 1, 2, 3, 4]  # the true order
    truth = theta - theta.mean()
    inside = (bt["lo"] <= truth) & (truth <= bt["hi"])
    assert inside.sum() >= 4, (bt["lo"], bt["hi"], truth)  # 95 % intervals: at most one of five may miss
    assert np.all(bt["hi"] - bt["lo"] < 0.6)


def test_simulated_raters_give_the_intended_agreement():
    """Each item has a true answer (the better backend of that sample); a rater gives it with probability q and
    otherwise a uniform choice among K = 3 (left, right, tie). Then P(a rater says c) = q·[c = truth] + (1-q)/K, so
    for two raters P_o = (q + (1-q)/K)^2 + (K-1)((1-q)/K)^2 and, with truths split evenly between the two sides of
    the canonical order, p_a = p_b = (1 - (1-q)/K)/2, p_tie = (1-q)/K: κ = (P_o - P_e) / (1 - P_e)."""
    q, K = 0.7, 3
    rng = np.random.default_rng(5)
    better = {s: rng.permutation(["m0", "m1"]) for s in range(2000)}

    def truth(s, left, right):
        return "left" if left == better[s][0] else "right"

    df, names = _sim_frame(np.zeros(2), n_samples=2000, raters=2, seed=1, truth_of=truth, accuracy=q)
    res = rater_agreement(outcomes(df), n_boot=200, seed=0)
    po = (q + (1 - q) / K) ** 2 + (K - 1) * ((1 - q) / K) ** 2
    pe = 2 * ((1 - (1 - q) / K) / 2) ** 2 + ((1 - q) / K) ** 2
    intended = (po - pe) / (1 - pe)
    assert res["items"] == 2000 and res["raters"] == 2
    assert res["lo"] <= intended <= res["hi"], (res, intended)
    assert res["observed"] == pytest.approx(po, abs=0.03)


# ------------------------------------------------------------------------------------------------------------------
# a real run: scoring, attention checks, bad CSVs, metric agreement
# ------------------------------------------------------------------------------------------------------------------
THETA = {"opencv-telea": 1.0, "biharmonic": 0.3, "mean-fill": -1.3}


def test_score_counts_match_a_hand_count(run, tmp_path):
    plan = page_plan(run, tmp_path)
    a = write_csv(tmp_path / "judgements_a.csv", simulate(plan, THETA, "a", 1, tie=0.15))
    b = write_csv(tmp_path / "judgements_b.csv", simulate(plan, THETA, "b", 2, tie=0.15))
    st = score_study(run, [a, b], n_boot=200)
    rows = [r for p in (a, b) for r in csv.DictReader(open(p)) if "identity" not in (r["backend_left"],
                                                                                    r["backend_right"])]
    # the wins matrix, by hand: the chosen side wins one, a tie gives each half
    names = st.backends
    hand = np.zeros((3, 3))
    for r in rows:
        i, j = names.index(r["backend_left"]), names.index(r["backend_right"])
        if r["choice"] == "left":
            hand[i, j] += 1
        elif r["choice"] == "right":
            hand[j, i] += 1
        else:
            hand[i, j] += 0.5
            hand[j, i] += 0.5
    np.testing.assert_allclose(st.wins, hand)
    np.testing.assert_allclose(st.bt["theta"], stats.bradley_terry(hand))
    assert np.all(st.bt["lo"] <= st.bt["theta"]) and np.all(st.bt["theta"] <= st.bt["hi"])
    # preference against the baseline (the lowest ranked by default), by hand, and its Wilson interval
    base = st.baseline
    assert base == names[-1]
    for p in st.preference:
        mine = [r for r in rows if {r["backend_left"], r["backend_right"]} == {p["backend"], base}]
        w = sum((r["choice"] == "left" and r["backend_left"] == p["backend"])
                or (r["choice"] == "right" and r["backend_right"] == p["backend"]) for r in mine)
        t = sum(r["choice"] == "tie" for r in mine)
        assert (p["wins"], p["losses"], p["ties"], p["n"]) == (w, len(mine) - w - t, t, len(mine))
        assert (p["lo"], p["hi"]) == pytest.approx(stats.wilson_interval(w, len(mine) - t))
    doc = st.to_dict()
    assert doc["win_rate"][names[0]][names[1]] == pytest.approx(hand[0, 1] / (hand[0, 1] + hand[1, 0]))
    assert json.loads(json.dumps(doc))["backends"][0]["backend"] == names[0]


def test_attention_checks_catch_a_random_clicker(run, tmp_path):
    plan = page_plan(run, tmp_path, checks=16, seed=1)
    files = [write_csv(tmp_path / "judgements_good1.csv", simulate(plan, THETA, "good1", 1)),
             write_csv(tmp_path / "judgements_good2.csv", simulate(plan, THETA, "good2", 2)),
             write_csv(tmp_path / "judgements_random.csv", simulate(plan, THETA, "random", 3, random_clicker=True))]
    st = score_study(run, files, n_boot=100)
    att = st.raters.set_index("rater")
    assert (att.loc["good1", "checks"], att.loc["good1", "passed"]) == (16, 16)
    # by hand: the random clicker passes a check when it picked the side that is not identity
    rows = [r for r in csv.DictReader(open(files[2])) if "identity" in (r["backend_left"], r["backend_right"])]
    passed = sum(r["choice"] == ("right" if r["backend_left"] == "identity" else "left") for r in rows)
    assert att.loc["random", "passed"] == passed and passed <= 8  # ~1/4 of 16 by chance
    assert set(st.kept) == {"good1", "good2", "random"}  # no bar: everyone counts
    st = score_study(run, files, min_attention=0.8, n_boot=100)
    assert set(st.kept) == {"good1", "good2"}
    assert int(outcomes(st.judgements[st.judgements["rater"].isin(st.kept)]).shape[0]) == 2 * 24
    with pytest.raises(BenchError, match="every rater is below it"):
        score_study(run, files[2:], min_attention=0.9, n_boot=10)


def test_bad_csvs_name_the_file_and_row(run, tmp_path):
    plan = make_plan(run)
    good = simulate(plan, THETA, "a", 1)

    def bad(name: str, edit, columns=COLUMNS):
        rows = [dict(r) for r in good]
        edit(rows)
        return write_csv(tmp_path / f"{name}.csv", rows, columns)

    cases = [
        ("sample", lambda rows: rows[2].update(sample_id="syn-9999"),
         r"sample\.csv:4: sample_id 'syn-9999' is not a sample of this run's synthetic × box"),
        ("backend", lambda rows: rows[0].update(backend_left="lama"),
         r"backend\.csv:2: backend_left 'lama' is not a backend of this run"),
        ("hash", lambda rows: rows[5].update(config_hash="0" * 64),
         r"hash\.csv:7: config_hash '0000000000000000' is not this run's .*another run"),
        ("choice", lambda rows: rows[1].update(choice="maybe"),
         r"choice\.csv:3: choice 'maybe' is not one of left, right, tie, both_bad"),
        ("same", lambda rows: rows[3].update(backend_right=rows[3]["backend_left"]),
         r"same\.csv:5: the same backend .* on both sides"),
        ("dup", lambda rows: rows.append({**rows[0], "backend_left": rows[0]["backend_right"],
                                          "backend_right": rows[0]["backend_left"]}),
         rf"dup\.csv:{len(good) + 2}: rater 'a' already judged sample .* at .*dup\.csv:2 \(a duplicated trial\)"),
        ("secs", lambda rows: rows[0].update(seconds="fast"), r"secs\.csv:2: seconds 'fast' is not a number"),
        ("inf", lambda rows: rows[0].update(seconds="inf"), r"inf\.csv:2: seconds 'inf' is not a duration"),
        ("nan", lambda rows: rows[0].update(seconds="nan"), r"nan\.csv:2: seconds 'nan' is not a duration"),
        ("pos", lambda rows: rows[0].update(position="0"), r"pos\.csv:2: position '0': the first trial"),
        ("runid", lambda rows: rows[0].update(run_id="other-run"), r"runid\.csv:2: run_id 'other-run' is not"),
    ]
    for name, edit, msg in cases:
        with pytest.raises(BenchError, match=msg):
            read_judgements([bad(name, edit)], run)
    with pytest.raises(BenchError, match=r"missing\.csv: missing column\(s\) choice"):
        read_judgements([bad("missing", lambda rows: None, [c for c in COLUMNS if c != "choice"])], run)
    header = write_csv(tmp_path / "empty.csv", [])
    with pytest.raises(BenchError, match="empty.csv: no judgements"):
        read_judgements([header], run)
    # the same rater's trial in two files
    one = write_csv(tmp_path / "one.csv", good[:5])
    two = write_csv(tmp_path / "two.csv", good[4:6])
    with pytest.raises(BenchError, match=r"two\.csv:2: .* at .*one\.csv:6 \(a duplicated trial\)"):
        read_judgements([one, two], run)
    # another rater may judge the same trial
    other = write_csv(tmp_path / "other.csv", [{**r, "rater_id": "b"} for r in good[:5]])
    assert len(read_judgements([one, other], run)) == 10


def test_metric_agreement_against_a_hand_computation(run, tmp_path):
    """Raters who prefer the higher psnr_in of the two outputs: psnr_in agrees on every decided pair it can order
    (accuracy 1, τ 1); every key's accuracy and τ equal a plain loop over the comparisons and scipy's kendalltau."""
    from scipy.stats import kendalltau

    from bench.report.aggregate import load_run
    from bench.study.agreement import metric_agreement

    rd = load_run(run)
    f = rd.frame()
    val = {(b, s): v for b, s, v in zip(f["backend"], f["sample_id"], f["psnr_in"])}
    plan = page_plan(run, tmp_path)

    def truth(t):
        return "left" if val[(t.left, t.sample_id)] >= val[(t.right, t.sample_id)] else "right"

    files = [write_csv(tmp_path / f"judgements_{r}.csv", simulate(plan, THETA, r, i, truth=truth, accuracy=acc))
             for i, (r, acc) in enumerate((("p", 1.0), ("q", 0.6)))]
    st = score_study(run, files, n_boot=200)
    rows = {r["key"]: r for r in metric_agreement(st, run, n_boot=200)}
    assert rows["psnr_in"]["accuracy"] > 0.7
    comp = outcomes(st.judgements)
    for key, hib in (("psnr_in", True), ("ssim_in", True), ("blur_score", False)):
        kv = {(b, s): v for b, s, v in zip(f["backend"], f["sample_id"], f[key])}
        agree = used = 0
        for r in comp.itertuples():
            if r.y == 0.5:
                continue
            d = kv[(r.a, r.sample_id)] - kv[(r.b, r.sample_id)]
            if not np.isfinite(d) or d == 0:
                continue
            used += 1
            agree += ((d > 0) == hib) == (r.y == 1.0)
        assert rows[key]["n"] == used and rows[key]["accuracy"] == pytest.approx(agree / used)
        assert rows[key]["lo"] <= rows[key]["accuracy"] <= rows[key]["hi"]
        sids = set(comp["sample_id"])
        means = [np.nanmean([kv[(b, s)] for s in sids]) * (1 if hib else -1) for b in st.backends]  # NaN: absent
        assert rows[key]["tau"] == pytest.approx(kendalltau(means, st.bt["theta"]).statistic)
    assert rows["blur_score"]["kind"] == "detector" and rows["blur_score"]["higher_is_better"] is False
    assert rows["psnr_out"]["n"] == 0  # ∞ against ∞ (no backend touches the outside): never ordered
    assert math.isnan(rows["psnr_out"]["accuracy"])


# ------------------------------------------------------------------------------------------------------------------
# the loop through the CLI and the report
# ------------------------------------------------------------------------------------------------------------------
def test_cli_loop_page_score_report(run, tmp_path, capsys):
    from bench.cli import main

    page = tmp_path / "study.html"
    assert main(["study", str(run), "--out", str(page), "--seed", "7"]) == 0
    mib = page.stat().st_size / 2 ** 20
    assert f"wrote {page} ({mib:.1f} MiB, images embedded" in capsys.readouterr().out  # what raters download
    doc = json.loads((run / "study" / "synthetic__box" / "plan.json").read_text())
    assert doc["page"] == str(page.resolve()) and doc["plan"]["seed"] == 7
    html = page.read_text()
    from bench.study.plan import Plan

    plan = Plan.from_dict(doc["plan"])
    assert plan.study_id in html and "opencv-telea" not in html.split('id="study-data"')[0]  # names hidden
    for i, r in enumerate(("ann", "bob")):
        write_csv(tmp_path / f"judgements_{r}.csv", simulate(plan, THETA, r, i, tie=0.1))
    capsys.readouterr()
    assert main(["study", "score", str(run), str(tmp_path / "judgements_*.csv"), "--n-boot", "200",
                 "--baseline", "mean-fill"]) == 0
    out = capsys.readouterr().out
    assert "Raters preferred opencv-telea over mean-fill in" in out and "Fleiss' kappa" in out
    sdoc = json.loads((run / "study" / "synthetic__box" / "study.json").read_text())
    assert sdoc["baseline"] == "mean-fill" and len(sdoc["raters"]) == 2 and sdoc["agreement"]["items"] == 24
    tex = (run / "study" / "synthetic__box" / "user_study.tex").read_text()
    assert r"\begin{tabular}" in tex and "opencv-telea" in tex and "Preferred over mean-fill" in tex
    assert "Kendall" in (run / "study" / "synthetic__box" / "agreement.tex").read_text()
    if shutil.which("pdflatex"):  # both tables compile and fit an article's text width
        doc = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n\\begin{document}\n"
               + tex + (run / "study" / "synthetic__box" / "agreement.tex").read_text() + "\\end{document}\n")
        (tmp_path / "doc.tex").write_text(doc)
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:]
        assert "Overfull" not in (tmp_path / "doc.log").read_text(errors="replace")
    # the report: a human_bt column with the study's numbers; the HTML links the page and shows the agreement
    assert main(["report", str(run), "-f", "md,html", "--no-ci"]) == 0
    md = (run / "leaderboard.md").read_text()
    assert "human\\_bt" in md
    best = sdoc["backends"][0]
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {best['backend']} "))
    assert f"{best['human_bt']:.2f}" in line
    from bench.report.aggregate import summarize

    df = summarize(run, ci=False).set_index("backend")
    assert df.loc[best["backend"], "human_bt"] == pytest.approx(best["human_bt"])
    assert df.loc[best["backend"], "human_bt_lo"] == pytest.approx(best["human_bt_lo"])
    assert math.isnan(df.loc["identity", "human_bt"])
    capsys.readouterr()
    assert main(["report", str(run), "-f", "term", "--no-ci"]) == 0  # a headline column of the terminal too
    term = capsys.readouterr().out
    assert "human_bt" in term and f"{best['human_bt']:.2f}" in term
    rep = (run / "report.html").read_text()
    assert "id='study-page'" in rep and "id='metric-agreement'" in rep
    href = rep.split("id='study-page' href='")[1].split("'")[0]
    assert (run / href).resolve() == page.resolve()
    # a study of another configuration is not attached
    sdoc["config_hash"] = "other"
    (run / "study" / "synthetic__box" / "study.json").write_text(json.dumps(sdoc))
    assert "human_bt" not in summarize(run, ci=False).columns
    # usage errors
    assert main(["study", "score", str(run)]) == 2
    assert main(["study", str(run), "--min-attention", "0.5"]) == 2


def test_page_image_size(run, tmp_path):
    """``--image-size`` shrinks every embedded image to the cap on its long side (the run's outputs are 64 px)."""
    import base64
    import io
    import re

    from PIL import Image

    from bench.cli import main

    out = tmp_path / "small.html"
    assert main(["study", str(run), "--out", str(out), "--image-size", "32", "--pairs", "6"]) == 0
    sizes = {Image.open(io.BytesIO(base64.b64decode(m))).size
             for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", out.read_text())}
    assert sizes == {(32, 32)}
    full = tmp_path / "full.html"
    assert main(["study", str(run), "--out", str(full), "--pairs", "6"]) == 0
    assert {Image.open(io.BytesIO(base64.b64decode(m))).size
            for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", full.read_text())} == {(64, 64)}


def test_page_inputs_made_again_when_not_stored(run, tmp_path):
    """A run made without ``save_inputs``: the page makes the masked inputs again from the suite (the report's
    ``RebuiltInputs``, checked against the run's digests) and shows exactly what the stored inputs give; the input is what the backend saw: the hole at the
    blank value, its border yellow, the rest the input's pixels."""
    import shutil

    from PIL import Image

    from bench.study.page import page_data

    copy = tmp_path / "study-run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("study"))
    plan = make_plan(run, pairs=6, checks=0)
    stored = page_data(plan, run)
    shutil.rmtree(copy / "inputs")
    again = page_data(plan, copy)
    keys = [k for k in stored["images"] if k.startswith("in/")]
    assert keys and all(stored["images"][k] == again["images"][k] for k in keys)
    # the masked input against the stored input and mask, by hand
    import base64
    import io

    sid = keys[0][3:]
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(stored["images"][keys[0]].split(",", 1)[1]))))
    ik = next(iter((run / "inputs").iterdir()))
    inp = np.asarray(Image.open(ik / f"{sid}_input.png").convert("RGB"))
    hole = np.asarray(Image.open(ik / f"{sid}_mask.png")) > 127
    assert np.array_equal(shown[~hole], inp[~hole])
    pad = np.pad(hole, 1, constant_values=True)  # the image's edge is not the hole's border
    inside = hole & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    assert (shown[hole & inside] == 128).all() and (shown[hole & ~inside] == (255, 220, 0)).all()



def test_a_renamed_identity_is_the_attention_check(tmp_path):
    """``{type: identity, name: blank}``: the checks pair with ``blank``, it is not ranked, and scoring counts a
    check passed when the other side is chosen."""
    from bench.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""name: renamed
seed: 0
device: cpu
resolution: 32
output_dir: {tmp_path / 'results'}
backends: [mean-fill, {{type: opencv-telea, radius: 3}}, {{type: identity, name: blank}}]
datasets: [{{type: synthetic, n: 3}}]
masks: [{{type: box, min_size: 0.2, max_size: 0.4}}]
metrics: [psnr]
detectors: []
""")
    assert main(["run", str(suite), "--no-progress", "--no-report"]) == 0
    run = tmp_path / "results" / "renamed"
    plan = page_plan(run, tmp_path, checks=3)
    assert plan.check_backend == "blank" and sorted(plan.backends) == ["mean-fill", "opencv-telea"]
    checks = [t for t in plan.trials if t.kind == "check"]
    assert len(checks) == 3 and all("blank" in (t.left, t.right) for t in checks)
    with pytest.raises(BenchError, match="'blank' is the attention-check baseline"):
        make_plan(run, backends=["blank", "mean-fill"])
    rows = simulate(plan, {"mean-fill": 0.0, "opencv-telea": 1.0, "blank": -20.0}, "a", 0)
    first = next(r for r in rows if "blank" in (r["backend_left"], r["backend_right"]))
    first["choice"] = "left" if first["backend_left"] == "blank" else "right"  # one failed check
    st = score_study(run, [write_csv(tmp_path / "j.csv", rows)], n_boot=20)
    att = st.raters.set_index("rater")
    assert (att.loc["a", "checks"], att.loc["a", "passed"]) == (3, 2)
    assert "blank" not in st.backends


def test_a_study_column_stays_out_of_the_tables_it_does_not_concern():
    """``human_bt`` belongs to the one dataset × mask studied: the other tables (Markdown, LaTeX) do not get a
    column of dashes; a metric column with no value stays (it says the metric could not be computed there)."""
    import pandas as pd

    from bench.report.leaderboard import latex_default_tables, leaderboard_tables

    df = pd.DataFrame({"backend": ["a", "b", "a", "b"], "dataset": ["d1", "d1", "d2", "d2"],
                       "mask": ["box"] * 4, "psnr_in": [20.0, 21.0, float("nan"), float("nan")],
                       "human_bt": [0.5, -0.5, float("nan"), float("nan")], "n": [4, 4, 4, 4]})
    df.attrs.update(metric_keys=["psnr_in"], setlevel_keys=["human_bt"], detectors=[], verdict_keys=[])
    by_title = {t.title: [c.key for c in t.columns] for t in leaderboard_tables(df)}
    assert "human_bt" in by_title["dataset d1 × mask box"]
    assert "human_bt" not in by_title["dataset d2 × mask box"] and "psnr_in" in by_title["dataset d2 × mask box"]
    tex = {t.name: [c.key for c in t.columns] for t in latex_default_tables(df)}
    assert "human_bt" in tex["leaderboard_d1_box_quality"] and "human_bt" not in tex["leaderboard_d2_box_quality"]


def test_the_page_s_spreadsheet_guard_is_undone_when_scoring(run, tmp_path):
    """The page's export writes a value starting with = + - @ as ' + value (so a spreadsheet does not run it); the
    scorer read "'-bob" as another rater and "'+wide" as an unknown sample, refusing the page's own file."""
    from bench.study.score import read_judgements

    plan = make_plan(run)
    rows = simulate(plan, THETA, "-bob", 1)
    guarded = [{**r, "rater_id": "'" + r["rater_id"]} for r in rows]
    plain = read_judgements([write_csv(tmp_path / "plain.csv", rows)], run)
    got = read_judgements([write_csv(tmp_path / "guarded.csv", guarded)], run)
    assert set(got["rater"]) == {"-bob"}
    assert got.drop(columns=["file"]).equals(plain.drop(columns=["file"]))
    kept = [{**r, "rater_id": "'bob"} for r in rows]  # a quote before anything else is the rater's own
    assert set(read_judgements([write_csv(tmp_path / "kept.csv", kept)], run)["rater"]) == {"'bob"}


def test_every_guard_the_page_writes_is_taken_off_by_the_one_rule(run, tmp_path):
    """The page's script guarded a value starting with = + - @, tab or carriage return; the scorer took the guard
    off = + - @ only, so "'\tbob" stayed another rater. Page, Python writers and both CSV readers now share one
    rule (bench.sinks.FORMULA_START): the page's script is made from it, the scorer reads with csv_unguard."""
    from bench import sinks
    from bench.study.page import JS
    from bench.study.score import read_judgements

    plan = make_plan(run)
    for i, c in enumerate(sinks.FORMULA_START):
        rows = simulate(plan, THETA, "bob", 1)
        guarded = [{**r, "rater_id": sinks.csv_cell(c + "bob")} for r in rows]
        assert guarded[0]["rater_id"] == "'" + c + "bob"
        got = read_judgements([write_csv(tmp_path / f"guarded{i}.csv", guarded)], run)
        assert set(got["rater"]) == {c + "bob"}, repr(c)
    for v in ("'=x", "''-y", "'z", "=1+1", "-3.5", "'"):  # the guard is undone exactly, whatever the value
        assert sinks.csv_unguard(sinks.csv_cell(v)) == v
    assert "FORMULA=" + sinks.formula_js_regex() + ";" in JS.replace(" ", "")
    assert "\\t" in sinks.formula_js_regex() and "\\r" in sinks.formula_js_regex()


def test_two_studies_on_one_run_are_both_kept_and_reported(tmp_path, capsys):
    """One study per dataset × mask is the documented way; the second one (another mask) replaced the first's
    study.json, page plan and tables, and the leaderboard lost the first's human_bt."""
    from bench.cli import main
    from bench.study.plan import Plan

    p = write_suite(tmp_path, n=6)
    p.write_text(p.read_text().replace("  - {type: box, min_size: 0.2, max_size: 0.4}\n",
                                       "  - {type: box, min_size: 0.2, max_size: 0.4}\n"
                                       "  - {type: box, name: bigbox, min_size: 0.4, max_size: 0.6}\n"))
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    run = tmp_path / "results" / "study-run"
    for i, mask in enumerate(("box", "bigbox")):
        assert main(["study", str(run), "--mask", mask, "--seed", str(i)]) == 0
        doc = json.loads((run / "study" / f"synthetic__{mask}" / "plan.json").read_text())
        plan = Plan.from_dict(doc["plan"])
        theta = THETA if mask == "box" else {**THETA, "mean-fill": 3.0}  # the second study ranks otherwise
        f = write_csv(tmp_path / f"j_{mask}.csv", simulate(plan, theta, "ann", i) + simulate(plan, theta, "bob", 9))
        assert main(["study", "score", str(run), str(f), "--n-boot", "100"]) == 0
    docs = {m: json.loads((run / "study" / f"synthetic__{m}" / "study.json").read_text()) for m in ("box", "bigbox")}
    assert docs["box"]["mask"] == "box" and docs["bigbox"]["mask"] == "bigbox"
    capsys.readouterr()
    assert main(["report", str(run), "--format", "csv,html", "--out", str(tmp_path / "rep")]) == 0
    import pandas as pd

    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    for mask, doc in docs.items():
        want = {b["backend"]: b["human_bt"] for b in doc["backends"]}
        got = summary[summary["mask"] == mask].set_index("backend")["human_bt"].dropna().to_dict()
        assert got == pytest.approx(want)
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "User study: synthetic × box" in html and "User study: synthetic × bigbox" in html


def test_bootstrap_intervals_say_when_they_cannot_be_read(run, tmp_path):
    """A resample without any comparison of a backend gave it NaN and centred the others on two backends (another
    scale) while bootstrap_failed said 0; unanimous raters gave zero-width intervals without a word."""
    from bench.report.study import interval_notes, study_markdown

    plan = page_plan(run, tmp_path)
    order = ["opencv-telea", "biharmonic", "mean-fill"]

    def unanimous(t):
        if "identity" in (t.left, t.right):
            return "left" if t.right == "identity" else "right"
        return "left" if order.index(t.left) < order.index(t.right) else "right"

    rows = simulate(plan, THETA, "ann", 1, truth=unanimous) + simulate(plan, THETA, "bob", 2, truth=unanimous)
    st = score_study(run, [write_csv(tmp_path / "u.csv", rows)], n_boot=200)
    doc = st.to_dict()
    assert all(b["human_bt_lo"] == b["human_bt_hi"] for b in doc["backends"])
    notes = interval_notes(doc)
    assert any("zero-width intervals for" in n for n in notes) and "zero-width" in study_markdown(doc)
    # one comparison per sample: many resamples miss a backend; they fail and stay out of the interval
    sparse = pd.DataFrame({"sample_id": ["s1", "s2", "s3"], "a": ["x", "y", "x"], "b": ["y", "z", "z"],
                           "y": [1.0, 1.0, 0.0]})
    r = bt_with_intervals(sparse, ["x", "y", "z"], n_boot=400, seed=0)
    nan_rows = np.isnan(r["replicates"])
    assert r["failed"] > 0 and nan_rows.all(axis=1).sum() == r["failed"]
    assert not (nan_rows.any(axis=1) & ~nan_rows.all(axis=1)).any()  # no replicate on fewer backends


def test_judgements_are_checked_against_the_page_s_plan(tmp_path, capsys):
    """study_id and trial were never read: a row whose trial number shows another sample than the page's plan was
    scored, and study.json did not say which page the answers were of."""
    from bench.cli import main
    from bench.study.plan import Plan

    run = make_study_run(tmp_path, n=6)
    assert main(["study", str(run), "--seed", "1"]) == 0
    plan = Plan.from_dict(json.loads((run / "study" / "synthetic__box" / "plan.json").read_text())["plan"])
    rows = simulate(plan, THETA, "ann", 1)
    good = write_csv(tmp_path / "good.csv", rows)
    bad_rows = [dict(r) for r in rows]
    other = next(r for r in bad_rows[1:] if r["sample_id"] != bad_rows[0]["sample_id"])
    bad_rows[0]["trial"] = other["trial"]  # a trial number that shows another sample in the plan
    bad = write_csv(tmp_path / "bad.csv", bad_rows)
    capsys.readouterr()
    assert main(["study", "score", str(run), str(bad), "--n-boot", "50"]) == 2
    assert "in the page's plan" in capsys.readouterr().err
    assert main(["study", "score", str(run), str(good), "--n-boot", "50"]) == 0
    doc = json.loads((run / "study" / "synthetic__box" / "study.json").read_text())
    assert doc["study_ids"] == [plan.study_id] == [doc["page_study_id"]]
    assert main(["study", str(run), "--seed", "2"]) == 0  # a new page after the answers came in
    capsys.readouterr()
    assert main(["study", "score", str(run), str(good), "--n-boot", "50"]) == 0
    assert f"judgements of study {plan.study_id}, not of the page made last" in capsys.readouterr().out


def test_answers_to_an_output_made_again_since_the_page_are_left_out_and_counted(run, tmp_path, capsys):
    """The page's plan did not record which output files it showed (the labelling export records their digests):
    answers were scored against whatever the run folder held when scoring, an output made again since included."""
    from PIL import Image

    from bench.cli import main
    from bench.report.labelling import output_digest
    from bench.store.files import output_path
    from bench.study.plan import Plan

    copy = tmp_path / "study-run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("study"))
    assert main(["study", str(copy), "--seed", "5"]) == 0
    plan = Plan.from_dict(json.loads((copy / "study" / "synthetic__box" / "plan.json").read_text())["plan"])
    cells = pd.DataFrame(json.loads((copy / "manifest.json").read_text())["cells"])
    cell_of = dict(zip(cells["backend"], cells["cell_key"]))
    shown = {(b, t.sample_id) for t in plan.trials for b in (t.left, t.right)}
    assert {(b, s): plan.output_sha256[b][s] for b, s in shown} == \
        {(b, s): output_digest(copy, cell_of[b], s) for b, s in shown}  # the labelling export's digests
    files = [write_csv(tmp_path / f"judgements_{r}.csv", simulate(plan, THETA, r, i)) for i, r in enumerate("ab")]
    assert main(["study", "score", str(copy), *map(str, files), "--n-boot", "50"]) == 0
    study_json = copy / "study" / "synthetic__box" / "study.json"
    assert json.loads(study_json.read_text())["judgements_of_changed_outputs"] == 0
    # biharmonic's output of one sample is made again (other pixels) after the page was built
    sid = next(t.sample_id for t in plan.trials if t.kind == "pair" and "biharmonic" in (t.left, t.right))
    png = output_path(copy, cell_of["biharmonic"], sid)
    Image.fromarray(255 - np.asarray(Image.open(png).convert("RGB"))).save(png)
    rows = [r for f in files for r in csv.DictReader(open(f))]
    hit = [r for r in rows if r["sample_id"] == sid and "biharmonic" in (r["backend_left"], r["backend_right"])]
    pairs = [r for r in rows if "identity" not in (r["backend_left"], r["backend_right"])]
    capsys.readouterr()
    assert main(["study", "score", str(copy), *map(str, files), "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(study_json.read_text())
    assert doc["judgements_of_changed_outputs"] == len(hit) > 0
    assert doc["n_comparisons"] == len(pairs) - sum(r in pairs for r in hit)
    assert f"note: {len(hit)} judgement(s) left out: the output file they showed changed since their page" in out
    assert f"sample {sid!r}, biharmonic: generations/{cell_of['biharmonic']}/{sid}.png" in out
    assert f"{len(hit)} judgement(s) left out" in (copy / "study" / "synthetic__box" / "study.md").read_text()
    # answers to changed outputs only: nothing is left to score
    only = write_csv(tmp_path / "only.csv", [{k: r[k] for k in COLUMNS} for r in hit])
    assert main(["study", "score", str(copy), str(only), "--n-boot", "50"]) == 2
    assert f"every judgement ({len(hit)}) is of an output file that changed" in capsys.readouterr().err


def test_answers_to_a_page_of_another_run_folder_are_refused(run, tmp_path, capsys):
    """A run of the same suite in another folder has this run's config hash and run id, and (its backends being
    deterministic) the same plan: its page had this run's study id, and answers to it were scored here."""
    from bench.cli import main
    from bench.study.plan import Plan

    other = make_study_run(tmp_path)
    plans = {}
    for r in (run, other):
        assert main(["study", str(r), "--seed", "3"]) == 0
        plans[r] = Plan.from_dict(json.loads((r / "study" / "synthetic__box" / "plan.json").read_text())["plan"])
    here, there = plans[run], plans[other]
    assert (here.run_id, here.config_hash) == (there.run_id, there.config_hash)
    assert [(t.sample_id, t.left, t.right) for t in here.trials] == [(t.sample_id, t.left, t.right)
                                                                     for t in there.trials]
    assert here.study_id != there.study_id
    assert here.output_sha256 == there.output_sha256  # the same outputs: the run folder's session tells them apart
    theirs = write_csv(tmp_path / "judgements_ann.csv", simulate(there, THETA, "ann", 1))
    capsys.readouterr()
    assert main(["study", "score", str(run), str(theirs), "--n-boot", "50"]) == 2
    err = capsys.readouterr().err
    assert f"judgements_ann.csv:2: study '{there.study_id}' is not a page built from this run folder" in err
    assert f"study {here.study_id}" in err
    assert main(["study", "score", str(other), str(theirs), "--n-boot", "50"]) == 0  # its own folder takes them
    # a folder of the same run that built no page takes answers to no page
    bare = tmp_path / "bare"
    shutil.copytree(other, bare, ignore=shutil.ignore_patterns("study"))
    capsys.readouterr()
    assert main(["study", "score", str(bare), str(theirs), "--n-boot", "50"]) == 2
    assert f"study '{there.study_id}', but no page of synthetic × box was built" in capsys.readouterr().err
    # rows naming no study (a CSV of another tool) have no page to be checked against
    plain = write_csv(tmp_path / "plain.csv", simulate(there, THETA, "ann", 1),
                      [c for c in COLUMNS if c not in ("study_id", "trial")])
    assert main(["study", "score", str(bare), str(plain), "--n-boot", "50"]) == 0


def test_krippendorff_alpha_against_the_krippendorff_package():
    import krippendorff

    rng = np.random.default_rng(11)
    for t in range(20):
        raters, units, cats = int(rng.integers(2, 6)), int(rng.integers(3, 40)), int(rng.integers(2, 5))
        data = rng.integers(0, cats, (raters, units)).astype(float)
        data[rng.random(data.shape) < 0.35] = np.nan  # raters who skipped trials
        counts = np.stack([np.bincount(data[~np.isnan(data[:, u]), u].astype(int), minlength=cats)
                           for u in range(units)])
        if (counts.sum(axis=1) >= 2).sum() == 0 or len(np.unique(data[~np.isnan(data)])) < 2:
            continue
        want = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        got = stats.krippendorff_alpha_nominal(counts)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_a_partial_rater_does_not_shrink_alpha_to_the_shared_items(run, tmp_path):
    """Fleiss' κ keeps the comparisons every rater answered: a rater who answered a few trials shrank it to those;
    Krippendorff's α keeps every comparison at least two raters answered."""
    plan = page_plan(run, tmp_path)
    rows = (simulate(plan, THETA, "ann", 1) + simulate(plan, THETA, "bob", 2)
            + simulate(plan, THETA, "cy", 3)[:4])
    st = score_study(run, [write_csv(tmp_path / "p.csv", rows)], n_boot=100)
    ag = st.agreement
    assert ag["items"] <= 4 < ag["alpha_items"] and ag["lo"] <= ag["kappa"] <= ag["hi"]
    assert ag["alpha_lo"] <= ag["alpha"] <= ag["alpha_hi"]


def test_judgements_of_a_page_built_before_the_hash_rule_changed_are_the_runs(run, tmp_path):
    """A page built before the config hash left out the settings that change no number carries the earlier rule's
    hash; the run, resumed since, carries today's ``config_hash`` and that one as ``config_hash_v1``: its judgements
    are this run's (they were refused as 'of another run'). A hash that is neither still is refused."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    plan = make_plan(copy)
    write_page(plan, copy, tmp_path / "study.html")  # (before the run is resumed)
    mp = copy / "manifest.json"
    man = json.loads(mp.read_text())
    man["config_hash_v1"], man["config_hash"] = man["config_hash"], "f" * 64  # as a run resumed today writes it
    mp.write_text(json.dumps(man))
    rows = simulate(plan, THETA, "a", 1)
    assert {r["config_hash"] for r in rows} == {man["config_hash_v1"]}
    st = score_study(copy, [write_csv(tmp_path / "j.csv", rows)], n_boot=20)
    assert st.config_hash == "f" * 64 and len(st.judgements) == len(rows)
    for r in rows:
        r["config_hash"] = "0" * 64
    with pytest.raises(BenchError, match="is not this run's"):
        score_study(copy, [write_csv(tmp_path / "k.csv", rows)], n_boot=20)


def test_answers_to_a_page_of_an_earlier_version_of_the_suite_say_so(tmp_path, capsys):
    """A page built from this run folder, then the suite grew (more samples: another config hash): its answers were
    refused as "of another run". They are this folder's; the error says so, and scoring them after running that
    version of the suite again (its stored results reused) works."""
    from bench.cli import main

    run = make_study_run(tmp_path, n=6)
    plan = page_plan(run, tmp_path, pairs=6)
    answers = write_csv(tmp_path / "judgements_ann.csv", simulate(plan, THETA, "ann", 1))
    make_study_run(tmp_path, n=8)  # the same folder, two samples more
    capsys.readouterr()
    assert main(["study", "score", str(run), str(answers), "--n-boot", "50"]) == 2
    err = capsys.readouterr().err
    assert "judgements_ann.csv:2: config_hash" in err
    assert f"answers to study {plan.study_id}, a page built from this run folder for an earlier version" in err
    assert "another run" not in err
    make_study_run(tmp_path, n=6)  # the version the page was built from, again
    assert main(["study", "score", str(run), str(answers), "--n-boot", "50"]) == 0


def test_a_file_given_twice_is_named_as_such(run, tmp_path):
    """A file given twice (``judgements_*.csv judgements_ann.csv``) was refused as a duplicated trial of its own line
    ("already judged ... at judgements_ann.csv:2", from judgements_ann.csv:2)."""
    plan = page_plan(run, tmp_path)
    ann = write_csv(tmp_path / "judgements_ann.csv", simulate(plan, THETA, "ann", 1))
    with pytest.raises(BenchError, match=r"judgements_ann\.csv: judgements file given twice"):
        read_judgements([ann, tmp_path / "." / "judgements_ann.csv"], run)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_judgements_saved_by_a_spreadsheet_with_semicolons_or_tabs_are_read(run, tmp_path, sep):
    """A judgements file opened and saved again in a spreadsheet of a locale whose decimal mark is a comma comes
    back separated by semicolons (or tabs, from a tab-separated export): it was refused as missing every column.
    It reads as the comma file does (the labels file's rule, bench.fsio.csv_delimiter)."""
    plan = page_plan(run, tmp_path)
    rows = simulate(plan, THETA, "ann", 1)
    comma = read_judgements([write_csv(tmp_path / "a.csv", rows)], run)
    other = tmp_path / "b.csv"
    with open(other, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS), extrasaction="ignore", delimiter=sep)
        w.writeheader()
        w.writerows(rows)
    got = read_judgements([other], run)
    cols = [c for c in comma.columns if c != "file"]
    assert len(got) == len(rows) and got[cols].equals(comma[cols])


def test_a_rater_who_gave_one_answer_to_everything_is_named(run, tmp_path, capsys):
    """A rater pressing "left" on every trial (a key held down) was kept without a word unless --min-attention was
    set: the command and study.md now name them, with how many trials and checks; a real rater is not named."""
    from bench.cli import main

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    plan = page_plan(copy, tmp_path)
    ann = simulate(plan, THETA, "ann", 1)
    stuck = [{**r, "rater_id": "bob", "choice": "left"} for r in simulate(plan, THETA, "bob", 2)]
    assert len(stuck) >= 10
    write_csv(tmp_path / "judgements_ann.csv", ann)
    write_csv(tmp_path / "judgements_bob.csv", stuck)
    capsys.readouterr()
    assert main(["study", "score", str(copy), str(tmp_path / "judgements_*.csv"), "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    assert f"note: rater bob gave one answer (left) to all {len(stuck)} trials" in out and "rater ann" not in out
    md = (copy / "study" / "synthetic__box" / "study.md").read_text()
    assert f"bob (left, {len(stuck)} trials)" in md and "ann (" not in md


def test_an_unreadable_plan_json_is_named_and_never_overwritten(run, tmp_path):
    """plan.json cut short (a full disk, an editor): it read as "no page was built", so answers to its pages were
    called another run folder's, and the next page built overwrote it, losing the plans of every earlier page. Now
    scoring and building a page both stop with an error naming the file, which is left as it was."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    plan = page_plan(copy, tmp_path)
    ann = write_csv(tmp_path / "judgements_ann.csv", simulate(plan, THETA, "ann", 1))
    pj = copy / "study" / "synthetic__box" / "plan.json"
    broken = pj.read_text()[:200]
    pj.write_text(broken)
    with pytest.raises(BenchError, match=r"plan\.json: cannot be read .*move it aside"):
        score_study(copy, [ann], n_boot=20)
    with pytest.raises(BenchError, match=r"plan\.json: cannot be read"):
        page_plan(copy, tmp_path / "again")
    assert pj.read_text() == broken  # kept for a person to repair
    pj.unlink()  # moved aside: a fresh start, and the old answers are another folder's again
    with pytest.raises(BenchError, match="no page of"):
        score_study(copy, [ann], n_boot=20)


def test_tau_resamples_without_a_backend_fail_as_the_ranking_s_do(run, tmp_path):
    """Sample s1 has one comparison (A against B, judged against psnr_in's order), s2 every pair judged by five
    raters as psnr_in orders them: τ of psnr_in is 1 on the data and on every resample holding s2. A resample of s1
    alone (a quarter of them) has no comparison of C: its ranking of A and B alone gave τ = −1, pulling the
    interval's low end to −1; such a resample fails, as the ranking's bootstrap (:func:`bt_with_intervals`) does."""
    from bench.report.aggregate import load_run
    from bench.study.agreement import metric_agreement

    f = load_run(run).frame()
    f = f[f["backend"].isin(BACKENDS)]
    order = {s: tuple(g.sort_values("psnr_in", ascending=False)["backend"]) for s, g in f.groupby("sample_id")
             if g["psnr_in"].nunique() == 3}
    same = [s for s in order if order[s] == Counter(order.values()).most_common(1)[0][0]]
    assert len(same) >= 2
    s1, s2 = same[:2]
    best, mid, worst = order[s1]
    base = {"run_id": "", "config_hash": load_run(run).manifest["config_hash"], "dataset": "synthetic", "mask": "box"}
    rows = [{**base, "rater_id": "r0", "sample_id": s1, "backend_left": best, "backend_right": mid, "choice": "right"}]
    for r in range(5):
        for a, b in ((best, mid), (best, worst), (mid, worst)):
            rows.append({**base, "rater_id": f"r{r}", "sample_id": s2, "backend_left": a, "backend_right": b,
                         "choice": "left"})
    cols = [c for c in COLUMNS if c not in ("study_id", "trial", "seconds", "position")]
    st = score_study(run, [write_csv(tmp_path / "judgements.csv", rows, cols)], n_boot=400)
    assert st.backends == [best, mid, worst] and st.bt["failed"] > 0  # the ranking's resamples of s1 alone failed
    row = {r["key"]: r for r in metric_agreement(st, run, n_boot=400)}["psnr_in"]
    assert row["tau"] == pytest.approx(1.0)
    assert row["tau_lo"] == pytest.approx(1.0) and row["tau_hi"] == pytest.approx(1.0)


def test_a_sample_the_baseline_failed_is_compared_not_checked(run):
    """identity failing on a sample dropped that sample from the whole study, its comparisons included: only the
    attention checks need identity's output."""
    from bench.report.aggregate import load_run

    rd = load_run(run)
    frame = rd.frame

    def failed_identity(*a, **k):
        f = frame(*a, **k).copy()
        f["error"] = f["error"].astype(object) if "error" in f else None
        f.loc[(f["backend"] == "identity") & (f["sample_id"] == lost), "error"] = "identity failed"
        return f

    lost = sorted(frame()["sample_id"].unique())[0]
    rd.frame = failed_identity
    plan = make_plan(rd)
    pairs = [t for t in plan.trials if t.kind == "pair"]
    checks = [t for t in plan.trials if t.kind == "check"]
    assert len(pairs) == 3 * 8 and lost in {t.sample_id for t in pairs}  # every (pair, sample): the sample stays
    assert checks and lost not in {t.sample_id for t in checks}  # never checked against an output that failed
    # every sample but one failed: checks on that one only, as many as it has (the default asks for more)
    rd.frame = lambda *a, **k: (lambda f: f.assign(error=np.where(
        (f["backend"] == "identity") & (f["sample_id"] != lost), "identity failed", None)))(frame(*a, **k))
    plan = make_plan(rd)
    checks = [t for t in plan.trials if t.kind == "check"]
    assert {t.sample_id for t in checks} == {lost} and len(checks) == 3
    assert len([t for t in plan.trials if t.kind == "pair"]) == 3 * 8


def test_a_sample_id_with_spaces_at_its_ends_is_scored_as_written(tmp_path):
    """A folder dataset's file name may begin or end with a space, and so its sample id. `bench study score`
    stripped every value, so " 1" became "1" (another sample, or none: "not a sample of this run"), while the
    labels reader read ids exactly and stripped them only where the exact one was not there. Both readers now
    follow one rule (bench.fsio.find_written_id): the id as written, else stripped (a hand edit's padding)."""
    from tests.test_report_data import make_run

    ids = ["1", " 1", "x2 ", "x3"]
    run = make_run(tmp_path / "r", backends=("opencv-telea", "mean-fill"), datasets=("samples",), masks=("box",),
                   sample_ids=ids)
    manifest = json.loads((run / "manifest.json").read_text())
    base = {"rater_id": "ann", "run_id": manifest.get("run_id", ""), "config_hash": manifest["config_hash"],
            "dataset": "samples", "mask": "box", "backend_left": "opencv-telea", "backend_right": "mean-fill",
            "choice": "left"}
    written = [" 1", "1", "x2 ", " x3 "]  # exact, exact, exact, padded by hand (only the stripped one exists)
    rows = [{**base, "sample_id": w, "trial": i} for i, w in enumerate(written)]
    df = read_judgements([write_csv(tmp_path / "j.csv", rows)], run)
    assert list(df["sample_id"]) == [" 1", "1", "x2 ", "x3"]
    with pytest.raises(BenchError, match=r"j2\.csv:2: sample_id ' x4' is not a sample of"):
        read_judgements([write_csv(tmp_path / "j2.csv", [{**base, "sample_id": " x4"}])], run)


def test_rater_ids_differing_only_in_case_or_end_spaces_are_named_not_merged(run, tmp_path, capsys):
    """"Ann" and "ann " were two raters and nothing said so: one person's two exports (a re-export, a typed id)
    passed as two raters agreeing perfectly, which the duplicated-trial check cannot catch. They stay two raters
    (two people may share a name but for its case), and `bench study score` and study.md name them, with the trials
    both judged."""
    from bench.cli import main

    plan = page_plan(run, tmp_path, seed=11)
    write_csv(tmp_path / "a1.csv", simulate(plan, THETA, "Ann", 0))
    write_csv(tmp_path / "a2.csv", simulate(plan, THETA, "ann ", 0))  # the same answers, another id
    write_csv(tmp_path / "b.csv", simulate(plan, THETA, "bob", 1))
    trials = {(t.sample_id, *sorted((t.left, t.right))) for t in plan.trials}
    capsys.readouterr()
    assert main(["study", "score", str(run), str(tmp_path / "a1.csv"), str(tmp_path / "a2.csv"),
                 str(tmp_path / "b.csv"), "--n-boot", "50", "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    note = next(ln for ln in out.splitlines() if "differ only in case" in ln)
    assert "'Ann', 'ann '" in note and "counted as 2 raters ('Ann', 'ann'" in note
    assert f"judged {len(trials)} of the same trials" in note and "bob" not in note
    doc = json.loads((tmp_path / "s" / "study.json").read_text())
    assert sorted(r["rater"] for r in doc["raters"]) == ["Ann", "ann", "bob"]  # not merged
    assert doc["similar_raters"] == [{"written": ["Ann", "ann "], "raters": ["Ann", "ann"],
                                      "shared_trials": len(trials)}]
    assert "**Note:** rater ids 'Ann', 'ann ' differ only in case" in (tmp_path / "s" / "study.md").read_text()
    capsys.readouterr()
    assert main(["study", "score", str(run), str(tmp_path / "a1.csv"), str(tmp_path / "b.csv"), "--n-boot", "50",
                 "--out", str(tmp_path / "s2")]) == 0
    assert "differ only in case" not in capsys.readouterr().out


def test_equal_strengths_share_one_rank_and_only_unequal_ones_differ():
    """Bradley–Terry strengths the fit does not tell apart (within its convergence tolerance) share one rank; the
    next rank skips (1, 2, 2); strengths further apart than the tolerance are ranked apart."""
    # A beats B and C alike; B and C split their games: B and C are the same strength
    w = np.array([[0.0, 5.0, 5.0], [1.0, 0.0, 2.0], [1.0, 2.0, 0.0]])
    theta = stats.bradley_terry(w)
    assert list(stats.tied_ranks(theta)) == [1, 2, 2]
    assert list(stats.tied_ranks(np.array([0.0, 0.0, 0.0]))) == [1, 1, 1]
    assert list(stats.tied_ranks(np.array([0.0, 10 * stats.BT_TOL, -0.5]))) == [2, 1, 3]
    assert list(stats.tied_ranks(np.array([0.3, 0.3 + stats.BT_TOL / 2, -0.3]))) == [1, 1, 3]


def test_backends_of_equal_strength_are_tied_and_the_default_baseline_is_chosen_by_rule(run, tmp_path, capsys):
    """Every comparison answered "tie" or "both bad" makes the strengths exactly equal: the backends were ranked
    1, 2, 3 in alphabetical order and the default baseline (the last of them) was an accident of the names. They
    share rank 1, said "tied" in the command, study.md and the LaTeX table; the default baseline is the first by
    name of those tied for the lowest rank, and the command says so."""
    from bench.cli import main

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    plan = page_plan(copy, tmp_path)
    for i, r in enumerate(("ann", "bob")):
        rows = simulate(plan, THETA, r, i)  # (the attention checks answered as THETA would)
        for row, t in zip(rows, plan.trials):
            if t.kind == "pair":
                row["choice"] = ("tie", "both_bad")[t.index % 2]
        write_csv(tmp_path / f"judgements_{r}.csv", rows)
    capsys.readouterr()
    assert main(["study", "score", str(copy), str(tmp_path / "judgements_*.csv"), "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    folder = copy / "study" / "synthetic__box"
    doc = json.loads((folder / "study.json").read_text())
    names = sorted(BACKENDS)
    assert [b["backend"] for b in doc["backends"]] == names
    assert [b["rank"] for b in doc["backends"]] == [1, 1, 1] and all(b["tied"] for b in doc["backends"])
    assert doc["baseline"] == names[0] and doc["baseline_tied_with"] == names[1:]
    for b in names:
        assert f"1. {b:<24}" in out and f"1. {b:<24} human_bt +0.00 " in out
    assert out.count("(tied)") == 3
    assert f"note: {names[0]}, {names[1]} and {names[2]} are tied at rank 1" in out
    assert f"note: the baseline {names[0]} is one of the backends tied for the lowest rank" in out
    md = (folder / "study.md").read_text()
    assert all(f"| 1 (tied) | {b} |" in md for b in names) and "are tied at rank 1" in md
    tex = (folder / "user_study.tex").read_text()
    assert all(f"{b} (tied) &" in tex for b in names) and f"Tied (equal strengths): {names[0]}, {names[1]} and {names[2]}." in tex
    # the same answers in another order: the same baseline; a baseline given is the one used, without the note
    for r in ("ann", "bob"):
        p = tmp_path / f"judgements_{r}.csv"
        rows = list(csv.DictReader(open(p)))
        write_csv(p, rows[::-1])
    capsys.readouterr()
    assert main(["study", "score", str(copy), str(tmp_path / "judgements_*.csv"), "--n-boot", "50",
                 "--baseline", names[2]]) == 0
    out = capsys.readouterr().out
    doc = json.loads((folder / "study.json").read_text())
    assert doc["baseline"] == names[2] and doc["baseline_tied_with"] == [] and "note: the baseline" not in out
    assert main(["study", "score", str(copy), str(tmp_path / "judgements_*.csv"), "--n-boot", "50"]) == 0
    assert json.loads((folder / "study.json").read_text())["baseline"] == names[0]


def test_backends_of_distinct_strengths_are_not_called_tied(run, tmp_path, capsys):
    from bench.cli import main

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    plan = page_plan(copy, tmp_path)
    for i, r in enumerate(("ann", "bob")):
        write_csv(tmp_path / f"judgements_{r}.csv", simulate(plan, THETA, r, i))
    capsys.readouterr()
    assert main(["study", "score", str(copy), str(tmp_path / "judgements_*.csv"), "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    doc = json.loads((copy / "study" / "synthetic__box" / "study.json").read_text())
    assert [b["rank"] for b in doc["backends"]] == [1, 2, 3] and not any(b["tied"] for b in doc["backends"])
    assert doc["baseline"] == doc["backends"][-1]["backend"] and doc["baseline_tied_with"] == []
    assert "tied" not in out and "tied" not in (copy / "study" / "synthetic__box" / "study.md").read_text()


def test_judgements_without_one_decided_comparison_are_scored(run, tmp_path):
    """Every comparison answered "tie" or "both bad": the metric agreement indexed the scores with the decided
    comparisons' positions, an empty float array then, and `bench study score` stopped with an IndexError. It has
    no comparison to agree with: accuracy NaN over 0 comparisons, every one of the metric's comparisons a tie."""
    from bench.study.agreement import metric_agreement

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    plan = page_plan(copy, tmp_path)
    rows = simulate(plan, THETA, "ann", 0)
    for row, t in zip(rows, plan.trials):
        if t.kind == "pair":
            row["choice"] = "tie"
    st = score_study(copy, [write_csv(tmp_path / "judgements_ann.csv", rows)], n_boot=20)
    got = [r for r in metric_agreement(st, copy, n_boot=20) if r["higher_is_better"] is not None]
    assert got and all(r["n"] == 0 and math.isnan(r["accuracy"]) for r in got), got
