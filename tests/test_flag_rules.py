"""Each calibrated detector's flag rule, as its docs state it, sample by sample in plain Python, against the rule the
detector writes once as margins (``CalibratedDetector.margins``; its flags are their signs, the calibration's rule
score the margin itself). Random score tables with NaNs, infinities, ties at the thresholds, every optional
threshold left out in turn and every optional column absent in turn."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.detectors._util import flag, margin, past, veto
from bench.detectors.blur import FADE_GRAIN_FLOOR
from bench.detectors.incomplete import DETAIL_MIN
from bench.registry import DETECTORS

NAN = math.nan


def _num(x) -> float:
    return NAN if x is None else float(x)


def _ok(x: float) -> bool:
    return not math.isnan(x)


def _any(parts: list[float]) -> float:
    """1 if a judged part flags, 0 if every judged part is 0, NaN if no part is judged."""
    judged = [p for p in parts if _ok(p)]
    return NAN if not judged else float(max(judged))


def blur_rule(r: dict, t: dict) -> float:
    """docs: blur_score > threshold (and, with truth, blur_ref_score > ref_threshold) or blur_mosaic_score >
    mosaic_threshold or the grain deficit (the reference one where finite) > grain_threshold or (blur_fade_score >
    fade_threshold and that deficit > the floor, and, with truth, blur_fade_ref_score > fade_threshold) or
    blur_real_score > real_threshold; judged where the main or the mosaic score is, and both their thresholds set."""
    if t.get("threshold") is None or t.get("mosaic_threshold") is None:
        return NAN
    s, mos = _num(r.get("blur_score")), _num(r.get("blur_mosaic_score"))
    if not _ok(s) and not _ok(mos):
        return NAN
    parts = []
    main = float(s > t["threshold"]) if _ok(s) else NAN
    ref = _num(r.get("blur_ref_score"))
    if _ok(main) and t.get("ref_threshold") is not None and _ok(ref):
        main = float(main and ref > t["ref_threshold"])
    parts.append(main)
    parts.append(float(mos > t["mosaic_threshold"]) if _ok(mos) else NAN)
    real = _num(r.get("blur_real_score"))
    if t.get("real_threshold") is not None and _ok(real):
        parts.append(float(real > t["real_threshold"]))
    grain_ref = _num(r.get("blur_grain_ref_score"))
    grain = grain_ref if _ok(grain_ref) else _num(r.get("blur_grain_score"))
    if t.get("grain_threshold") is not None and _ok(grain):
        parts.append(float(grain > t["grain_threshold"]))
    fade, fade_ref = _num(r.get("blur_fade_score")), _num(r.get("blur_fade_ref_score"))
    if t.get("fade_threshold") is not None and _ok(fade) and _ok(grain):
        f = fade > t["fade_threshold"] and grain > FADE_GRAIN_FLOOR
        if _ok(fade_ref):
            f = f and fade_ref > t["fade_threshold"]
        parts.append(float(f))
    return _any(parts)


def replacement_rule(r: dict, t: dict) -> float:
    """docs: replacement_ref_score > ref_threshold where the sample has truth (a finite reference score), else
    replacement_score > threshold and, where a head score is measured and real_threshold set,
    (replacement_real_score > real_threshold or replacement_score > plain_threshold)."""
    ref = _num(r.get("replacement_ref_score"))
    if _ok(ref):
        return NAN if t.get("ref_threshold") is None else float(ref > t["ref_threshold"])
    s = _num(r.get("replacement_score"))
    if not _ok(s) or t.get("threshold") is None:
        return NAN
    f = s > t["threshold"]
    real = _num(r.get("replacement_real_score"))
    if t.get("real_threshold") is not None and _ok(real):
        plain = t.get("plain_threshold")
        f = f and (real > t["real_threshold"] or (plain is not None and s > plain))
    return float(f)


def incomplete_rule(r: dict, t: dict) -> float:
    """docs: incomplete_score > threshold and, where the input has detail under the hole (a finite detail share),
    incomplete_detail_score > DETAIL_MIN."""
    s, detail = _num(r.get("incomplete_score")), _num(r.get("incomplete_detail_score"))
    if not _ok(s) or t.get("threshold") is None:
        return NAN
    return float(s > t["threshold"] and (not _ok(detail) or detail > DETAIL_MIN))


def plain_rule(det: str):
    direction = DETECTORS.get(det).direction

    def rule(r: dict, t: dict) -> float:
        s = _num(r.get(f"{det}_score"))
        if not _ok(s) or t.get("threshold") is None:
            return NAN
        return float(s > t["threshold"] if direction == "above" else s < t["threshold"])
    return rule


FULL = {"blur": ({"threshold": 0.47, "mosaic_threshold": 0.19, "ref_threshold": 0.09, "grain_threshold": 0.55,
                  "fade_threshold": 0.84, "real_threshold": 2.0},
                 ("blur_score", "blur_mosaic_score", "blur_ref_score", "blur_real_score", "blur_grain_score",
                  "blur_grain_ref_score", "blur_fade_score", "blur_fade_ref_score"), blur_rule),
        "replacement": ({"threshold": 0.14, "ref_threshold": 0.03, "real_threshold": 1.3, "plain_threshold": 0.5},
                        ("replacement_score", "replacement_ref_score", "replacement_real_score"), replacement_rule),
        "incomplete": ({"threshold": 0.15}, ("incomplete_score", "incomplete_detail_score"), incomplete_rule),
        "noop": ({"threshold": 0.02}, ("noop_score",), plain_rule("noop")),
        "black": ({"threshold": 0.9}, ("black_score",), plain_rule("black"))}


def _table(rng, names, entry, n):
    out = {}
    for k in names:
        v = rng.normal(entry.get("threshold", 0.0), 1.0, n) * rng.choice([0.05, 0.5, 3.0], n)
        v[rng.random(n) < 0.25] = np.nan
        v[rng.random(n) < 0.02] = np.inf
        v[rng.random(n) < 0.02] = -np.inf
        ties = rng.random(n) < 0.05  # exactly at a threshold the table uses
        v[ties] = rng.choice([x for x in (*entry.values(), DETAIL_MIN, FADE_GRAIN_FLOOR)], int(ties.sum()))
        out[k] = v
    return out


@pytest.mark.parametrize("det", list(FULL))
def test_each_detectors_flag_is_its_documented_rule_sample_by_sample(det):
    full, names, rule = FULL[det]
    cls = DETECTORS.get(det)
    rng = np.random.default_rng([5, len(det)])
    n = 400
    seen = {0.0: 0, 1.0: 0, "nan": 0}
    for drop in itertools.chain([()], itertools.combinations(list(full), 1), itertools.combinations(list(full), 2)):
        entry = {k: v for k, v in full.items() if k not in drop}
        for absent in [None, *names[1:]]:
            scores = _table(rng, names, entry, n)
            if absent is not None:
                scores.pop(absent)
            det_obj = cls(thresholds="none", **entry)
            got = det_obj.flags(scores)[f"{det}_flag"]
            want = np.array([rule({k: v[i] for k, v in scores.items()}, entry) for i in range(n)])
            assert np.array_equal(got, want, equal_nan=True), (drop, absent, np.flatnonzero(
                ~((got == want) | (np.isnan(got) & np.isnan(want))))[:5])
            margins = det_obj.margins(scores)
            assert set(margins) == set(det_obj.flags(scores))  # every flag comes from a margin
            for v in want:
                seen["nan" if math.isnan(v) else v] += 1
    assert min(seen.values()) >= 50, seen  # each outcome happens: the comparison is not vacuous


def test_a_margin_is_positive_exactly_where_the_score_is_past_the_threshold_in_floating_point():
    """Ties, neighbouring floats, subnormals, huge and infinite values and thresholds, zero thresholds: the margin's
    sign is the comparison's, NaN where the score is NaN or no threshold is set; a veto takes flags away only."""
    tiny = np.nextafter(0.0, 1.0)
    ts = [0.0, -0.0, 1.0, -1.0, 0.47, 1e-300, -1e-300, tiny, 3e300, -3e300, 1e16, np.inf, -np.inf]
    ss = []
    for t in ts:
        if math.isfinite(t):
            ss += [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), -t]
    ss = np.array(ss + [0.0, tiny, -tiny, 1.7e308, -1.7e308, np.inf, -np.inf, np.nan], dtype=np.float64)
    for t in ts:
        for direction in ("above", "below"):
            m = margin(ss, t, direction)
            want = (ss > t) if direction == "above" else (ss < t)
            assert np.array_equal(np.isnan(m), np.isnan(ss)), (t, direction)
            ok = ~np.isnan(ss)
            assert np.array_equal(m[ok] > 0, want[ok]), (t, direction, ss[ok][(m[ok] > 0) != want[ok]])
            assert np.array_equal(flag(ss, t, direction), past(m), equal_nan=True)
    assert np.isnan(margin(ss, None)).all()
    # the margin is the score's order within one threshold: (s - t) / |t|
    assert margin(np.array([0.5, 0.75]), 0.25).tolist() == [1.0, 2.0]
    assert margin(np.array([0.5]), -0.25, "below").tolist() == [-3.0]
    # a veto: the smaller margin where it is measured, the part's own where it is NaN
    got = veto(np.array([1.0, 1.0, -1.0, np.nan]), np.array([-2.0, np.nan, 3.0, 1.0]))
    assert np.array_equal(got, np.array([-2.0, 1.0, -1.0, np.nan]), equal_nan=True)


@pytest.mark.parametrize("det", ["blur", "replacement", "incomplete", "noop", "black"])
def test_the_rule_in_words_names_each_part_that_is_set_with_its_threshold_and_no_other(det):
    """``bench calibrate --labels`` prints and stores each rule in words beside its figures
    (``bench.calibration.rule.describe``, the detector's own ``describe``): every threshold the entry sets appears
    with its value, a part whose threshold is left out is not named."""
    from bench.calibration.rule import describe

    full, _, _ = FULL[det]
    entry = {k: v + 0.0123 for k, v in full.items()}  # values no constant of the rule has
    words = describe(det, entry)
    for k, v in entry.items():
        assert f"{v:g}" in words, (k, words)
    part_words = {"mosaic_threshold": "blur_mosaic_score", "ref_threshold": f"{det}_ref_score", "real_threshold":
                  "_real_score", "grain_threshold": "or blur_grain(_ref)_score >", "fade_threshold": "blur_fade_score",
                  "plain_threshold": "or replacement_score"}
    for k in entry:
        if k == "threshold" or k not in part_words or (det, k) in {("blur", "mosaic_threshold"),
                                                                  ("replacement", "ref_threshold")}:
            continue  # (blur judges nothing without its mosaic threshold; replacement names its reference rule)
        fewer = describe(det, {q: v for q, v in entry.items() if q != k})
        assert f"{entry[k]:g}" not in fewer and part_words[k] not in fewer, (k, fewer)
    if det == "incomplete":
        assert f"{DETAIL_MIN:g}" in words
    assert "no threshold" in describe(det, {k: v for k, v in entry.items() if k != "threshold"}) or det == \
        "replacement"
