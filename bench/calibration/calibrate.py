"""The calibration procedure behind ``bench calibrate`` (the command: :mod:`bench.cli.calibrate`): measure the
detectors on labelled cases, choose thresholds, write them.

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

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..detectors.thresholds import FORMAT, content_sha, load_thresholds
from ..fsio import write_text_atomic
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


#: thresholds ``bench calibrate`` does not choose (fitted or chosen by ``benchmarks/detectors_real_fit.py``): a
#: calibration that replaces a file keeps them from it, and says so
CARRIED = ("real_threshold", "plain_threshold", "grain_threshold", "fade_threshold")


def carry_over(doc: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """``doc`` with the :data:`CARRIED` thresholds (and the ``real_corpus`` section) of the file at ``out``, if any,
    named in ``calibration.carried``: recalibrating on constructed cases must not silently drop what was fitted on
    real outputs. The fresh-seed figures are those of the thresholds this calibration chose."""
    out = Path(out)
    if not out.is_file():
        return doc
    prev = json.loads(out.read_text())
    carried: dict[str, list[str]] = {}
    for det, entry in (prev.get("detectors") or {}).items():
        if det not in doc["detectors"]:
            continue
        for k in CARRIED:
            if k in entry and k not in doc["detectors"][det]:
                doc["detectors"][det][k] = entry[k]
                carried.setdefault(det, []).append(k)
    if carried:
        doc.setdefault("calibration", {})["carried"] = {"from": f"{out} v{prev.get('version')}", "thresholds": carried}
        if "real_corpus" in prev:
            doc["real_corpus"] = prev["real_corpus"]
    return doc


def write(doc: dict[str, Any], out: str | Path, command: str = "") -> dict[str, Any]:
    """Write a thresholds document; ``version`` = previous + 1 when the thresholds changed, else unchanged."""
    out = Path(out)
    # the hash pins what decides flags: the detectors' thresholds, and the learned-evidence rules when there are any
    sha = content_sha(doc)
    prev = json.loads(out.read_text()) if out.exists() else {}
    cal = doc.get("calibration") or {}
    if not prev and cal.get("base_version") is not None:  # a new file fitted from a base file: its versions go on
        prev = {"version": cal["base_version"], "sha256": cal.get("base_sha256")}
    version = int(prev.get("version") or 0)
    if prev.get("sha256") != sha:
        version += 1
    full = {"format": FORMAT, "version": version, "sha256": sha,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command, **{k: v for k, v in doc.items() if k != "format"}}
    if prev.get("sha256") == sha and "created" in prev:  # (the base file's date is not this file's)
        full["created"] = prev["created"]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(full, indent=2, sort_keys=False) + "\n")  # (maybe the shipped file: never half)
    from ..detectors.thresholds import clear_cache

    clear_cache()
    return full
