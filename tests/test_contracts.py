"""Contracts every plug-in inherits (issue 26), as diffusers' PipelineTesterMixin and torchmetrics' MetricTester:
a metric or detector writes exactly the columns it declares, no two scorers write the same key, and every
built-in classical backend honours the output contract. A new built-in plug-in must be listed here."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.columns import KINDS, Column
from bench.registry import BACKENDS, DETECTORS, METRICS
from bench.types import EvalBatch, RunContext

#: how each built-in metric is built cheaply and offline (random-weight networks where it has one)
def _tiny(*nets: str) -> dict:
    from bench.metrics.removal_nets import TINY

    return {"config": {n: TINY[n] for n in nets}}


METRIC_SPECS = {"psnr": {}, "ssim": {}, "lpips": {}, "fid": {"mode": "legacy_pytorch"},
                "remove": {"crop": True, **_tiny("sam")}, "rcs": _tiny("dinov2"),
                "cfd": {"points_per_side": 4, "points_per_batch": 16, **_tiny("sam", "dinov2")}}
DETECTOR_NAMES = {"blur", "replacement", "replacement-features", "incomplete", "resized", "outside_drift", "black",
                  "nan", "noop"}
#: detectors that need a network are checked by their declarations only
NETWORK_DETECTORS = {"replacement-features"}
CLASSICAL = ("opencv-telea", "opencv-ns", "biharmonic", "mean-fill", "identity")


def _batch(n: int = 2, size: int = 64, seed: int = 0) -> EvalBatch:
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size, dtype=torch.bool)
    mask[:, :, 16:40, 20:44] = True
    out = torch.where(mask, torch.rand(n, 3, size, size, generator=g), img)
    return EvalBatch(sample_ids=[f"s{i}" for i in range(n)], output=out, raw=out, input=img,
                     blanked=torch.where(mask, torch.full_like(img, 128 / 255), img), mask=mask, gt=img.clone(),
                     has_gt=torch.ones(n, dtype=torch.bool), raw_sizes=[(size, size)] * n,
                     model_sizes=[(size, size)] * n, input_sizes=[(size, size)] * n, nonfinite=torch.zeros(n))


def _ctx(tmp_path) -> RunContext:
    return RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path, run_dir=tmp_path)


def builtin(reg) -> set[str]:
    """The registry's entries that ship in the package (not test or third-party plug-ins)."""
    out = set()
    for n in reg.names():
        entry = reg._entries.get(n)
        where = entry if isinstance(entry, str) else getattr(entry, "__module__", "")
        if str(where).startswith("bench."):
            out.add(n)
    return out


def test_every_builtin_plugin_is_covered():
    assert builtin(METRICS) == set(METRIC_SPECS), "add the new metric to METRIC_SPECS"
    assert builtin(DETECTORS) == DETECTOR_NAMES, "add the new detector to DETECTOR_NAMES"
    assert set(CLASSICAL) <= builtin(BACKENDS)


@pytest.mark.parametrize("name", sorted(METRIC_SPECS))
def test_a_metric_writes_the_per_sample_columns_it_declares(name, tmp_path):
    m = METRICS.create({"type": name, **METRIC_SPECS[name]}, f"metrics[{name}]")
    declared = {k: Column.from_any(c) for k, c in m.columns.items()}
    assert all(c.kind in KINDS for c in declared.values())
    m.setup(_ctx(tmp_path))
    res = m.compute(_batch())
    per_sample = {k for k, v in res.items() if np.asarray(v).ndim == 1}
    features = {k for k, v in res.items() if np.asarray(v).ndim == 2}
    assert per_sample <= set(declared), f"{name} writes undeclared keys {sorted(per_sample - set(declared))}"
    assert all(declared[k].kind == "metric" for k in per_sample)
    assert per_sample or features, f"{name} wrote nothing"
    for k in per_sample:
        assert len(res[k]) == 2


@pytest.mark.parametrize("name", sorted(DETECTOR_NAMES - NETWORK_DETECTORS))
def test_a_detector_writes_the_scores_and_flags_it_declares(name):
    d = DETECTORS.create({"type": name}, f"detectors[{name}]")
    declared = {k: Column.from_any(c) for k, c in d.columns.items()}
    scores = d.scores(_batch())
    flags = d.flags(scores)
    assert set(scores) | set(flags) == set(declared)
    assert {k for k, c in declared.items() if c.kind == "score"} == set(scores)
    assert {k for k, c in declared.items() if c.kind == "flag"} == set(flags)
    assert all(np.asarray(v).shape == (2,) for v in {**scores, **flags}.values())


def test_no_two_scorers_write_the_same_key():
    """DatasetEvaluators' assert: every built-in metric's and detector's declared keys are disjoint."""
    owner: dict[str, str] = {}
    clashes = []
    for kind, reg, names in (("metric", METRICS, sorted(builtin(METRICS))),
                             ("detector", DETECTORS, sorted(builtin(DETECTORS)))):
        for n in names:
            inst = reg.create({"type": n, **(METRIC_SPECS.get(n, {}) if kind == "metric" else {})}, n)
            for key in inst.columns:
                if key in owner:
                    clashes.append(f"{key}: {owner[key]} and {n}")
                owner[key] = n
    assert not clashes, clashes


@pytest.mark.parametrize("name", CLASSICAL)
def test_a_classical_backend_honours_the_output_contract(name):
    """Shape and dtype of the input, finite values in [0, 1], the same output for a batch as for its samples one
    at a time, and pixels outside the hole kept (a classical fill never redraws the frame)."""
    b = BACKENDS.create({"type": name}, f"backends[{name}]")
    b.setup(RunContext(device=torch.device("cpu")))
    batch = _batch(n=3, size=48, seed=1)
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    out = b.inpaint(batch.blanked, batch.mask, gens)
    assert out.shape == batch.blanked.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    one = torch.cat([b.inpaint(batch.blanked[i:i + 1], batch.mask[i:i + 1], gens[i:i + 1]) for i in range(3)])
    assert torch.allclose(out, one, atol=1e-6)
    keep = ~batch.mask.expand_as(out)
    assert torch.allclose(out[keep], batch.blanked[keep], atol=1e-6)
