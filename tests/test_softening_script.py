"""benchmarks/detectors_softening.py's cases and tiles: the softening is only inside the hole, and the shuffled
tiles are named by a key that says which case and sigma each one is."""
from __future__ import annotations

import csv

import numpy as np

from tests.scripts import load


def _module():
    return load("benchmarks/detectors_softening.py")


def test_softened_fills_differ_from_the_truth_inside_the_hole_only_and_the_key_names_every_tile(tmp_path):
    ds = _module()
    cs = ds.cases(2, 0, 96)
    assert len(cs) == 2 * len(ds.SIGMAS) and {c.meta["sigma"] for c in cs} == set(ds.SIGMAS)
    for c in cs:
        outside = ~c.mask
        assert np.array_equal(c.output[outside], np.round(np.clip(c.input[outside], 0, 1) * 255) / 255)
        detail = np.abs(np.diff(c.output, axis=1)).mean(-1)[c.mask[:, 1:] & c.mask[:, :-1]].mean()
        c.meta["detail"] = detail
    for case in (0, 1):  # the fill is the truth at sigma 0, and loses detail as sigma grows
        mine = sorted((c for c in cs if c.meta["case"] == case), key=lambda c: c.meta["sigma"])
        truth = mine[0]
        assert np.allclose(truth.output[truth.mask], truth.gt[truth.mask], atol=0.5 / 255)
        d = [c.meta["detail"] for c in mine]
        assert all(a > b for a, b in zip(d, d[1:]))
    n = ds.sheets(cs, tmp_path, 0)
    rows = list(csv.DictReader(open(tmp_path / "key.csv")))
    assert n == len(rows) == len(cs) and len(list(tmp_path.glob("tile*.png"))) == n
    assert sorted((int(r["case"]), float(r["sigma"])) for r in rows) == sorted(
        (c.meta["case"], c.meta["sigma"]) for c in cs)
