"""A researcher's own plug-ins, written as the docs say (docs/DEVELOPING.md "Interfaces", docs/backends.md "The
protocol"), and the mistakes such plug-ins make: each gives an error naming the plug-in and the key."""
import numpy as np
import pytest

from bench.backends.base import Backend
from bench.config import parse_suite
from bench.errors import ConfigError
from bench.metrics.base import Column, Metric
from bench.registry import BACKENDS, METRICS

BASE = {
    "backends": ["identity"],
    "datasets": [{"type": "test-noise", "n": 2}],
    "masks": [{"type": "box"}],
    "metrics": ["psnr"],
}


def err(data) -> str:
    with pytest.raises(ConfigError) as e:
        parse_suite(data)
    return str(e.value)


@pytest.fixture
def add(monkeypatch, plugins):
    """Register a plug-in for one test (as an entry point would: by name, beside the built-ins)."""

    def _add(registry, name, cls):
        registry.names()  # (built-ins and entry points first)
        monkeypatch.setitem(registry._entries, name, cls)
        return cls

    return _add


class FailingInit(Backend):
    """A backend whose constructor raises what research code raises."""

    def __init__(self, path: str = "x"):
        raise RuntimeError(f"no GPU driver for {path}")


class FailingInitMetric(Metric):
    """A metric whose constructor fails on a missing file."""

    columns = {"fim": Column(True)}

    def __init__(self):
        raise FileNotFoundError("table.csv")


def test_a_plugin_raising_in_its_constructor_is_a_config_error_naming_it(add):
    add(BACKENDS, "failing-init", FailingInit)
    add(METRICS, "failing-init-metric", FailingInitMetric)
    msg = err({**BASE, "backends": ["identity", {"type": "failing-init", "path": "/m"}]})
    assert msg == "backends[1]: failing-init: could not be built: RuntimeError: no GPU driver for /m"
    msg = err({**BASE, "backends": [{"type": "python", "target": "tests.test_plugin_authoring:FailingInit"}]})
    assert msg.startswith("backends[0]: python: could not be built: RuntimeError: no GPU driver")
    msg = err({**BASE, "metrics": ["psnr", "failing-init-metric"]})
    assert msg == "metrics[1]: failing-init-metric: could not be built: FileNotFoundError: table.csv"


def test_an_entry_point_named_like_a_builtin_is_an_error_not_silently_shadowed(monkeypatch, tmp_path):
    from importlib import metadata

    from bench.registry import Registry

    (tmp_path / "clash_mod_for_test.py").write_text("class PSNR:\n    '''My PSNR.'''\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [metadata.EntryPoint(name="psnr", value="clash_mod_for_test:PSNR", group="inpaint_bench.metrics"),
           metadata.EntryPoint(name="mine", value="clash_mod_for_test:PSNR", group="inpaint_bench.metrics")]
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group=None, **kw: eps if group == "inpaint_bench.metrics" else real(group=group, **kw))
    reg = Registry("metrics")
    reg.lazy("psnr", "bench.metrics.pixel:PSNR")  # (as bench/metrics/__init__.py declares it)
    assert reg.get("mine").__doc__ == "My PSNR."
    with pytest.raises(ConfigError, match=r"metrics\[0\].type: two metrics are named 'psnr': "
                                          r"bench.metrics.pixel:PSNR and clash_mod_for_test:PSNR"):
        reg.get("psnr", "metrics[0].type")
    assert reg.doc("psnr").startswith("(unavailable: two metrics are named 'psnr'")


class Annotated:
    """A plain class for `type: python`, annotated as docs/backends.md "The protocol" shows."""

    def __init__(self, checkpoint: str, steps: int = 8):
        self.steps = steps

    def inpaint(self, image, mask, generator):
        return image.clone()


def test_a_python_targets_kwargs_are_checked_against_its_annotations(plugins):
    target = "tests.test_plugin_authoring:Annotated"
    ok = parse_suite({**BASE, "backends": [{"type": "python", "target": target, "kwargs": {"checkpoint": "m.pt"}}]})
    assert ok.backends[0].create().inner.steps == 8
    msg = err({**BASE, "backends": [{"type": "python", "target": target,
                                     "kwargs": {"checkpoint": "m.pt", "steps": "8"}}]})
    assert msg == "backends[0].kwargs.steps: expected int, got str '8'"
    msg = err({**BASE, "backends": [{"type": "python", "target": target, "kwargs": {"checkpont": "m.pt"}}]})
    assert msg.startswith("backends[0].kwargs.checkpont: unknown key for 'Annotated'; did you mean 'checkpoint'?")
    msg = err({**BASE, "backends": [{"type": "python", "target": target}]})
    assert msg == "backends[0].kwargs.checkpoint: missing required key for 'Annotated'"


def _batch(n=2, s=8):
    import torch

    from bench.types import EvalBatch

    img = torch.rand(n, 3, s, s, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(n, 1, s, s, dtype=torch.bool)
    mask[..., 2:5, 2:5] = True
    return EvalBatch([f"s{i}" for i in range(n)], img, img, img, img, mask, img, torch.ones(n, dtype=torch.bool),
                     [(s, s)] * n, [(s, s)] * n)


class OneNumber(Metric):
    """Returns one Python float for the whole batch."""

    columns = {"one": Column(True)}

    def compute(self, batch):
        return {"one": 0.5}


class OneTooMany(Metric):
    """Returns a value more than the batch has samples."""

    columns = {"extra": Column(True)}

    def compute(self, batch):
        return {"extra": np.arange(batch.size + 1, dtype=float)}


class Fine(Metric):
    """Returns a tensor [B]: fine."""

    columns = {"fine": Column(True)}

    def compute(self, batch):
        import torch

        return {"fine": torch.full((batch.size,), 2.0)}


def test_a_metric_returning_the_wrong_shape_is_an_error_naming_the_key_and_only_its_scores_fail(add):
    import torch

    from bench.keys import scorer_specs
    from bench.scoring import Scorers
    from bench.types import RunContext

    for name, cls in (("one-number", OneNumber), ("one-too-many", OneTooMany), ("fine", Fine)):
        add(METRICS, name, cls)
    suite = parse_suite({**BASE, "metrics": ["one-number", "one-too-many", "fine"]})
    scorers = Scorers(scorer_specs(suite), RunContext(device=torch.device("cpu")))
    rows = scorers.score(_batch(), scorers.keys).rows
    errors = {key.split(".")[0]: err for sid, key, vals, err in rows if sid == "s0"}
    # (the batch fails, then each sample is scored alone: the message is that of a batch of one)
    assert errors["one-number"] == ("scoring failed: ValueError: 'one' has shape (): expected [1] (a value per "
                                    "sample of the batch) or [1, D] (a feature vector per sample)")
    assert errors["one-too-many"].startswith("scoring failed: ValueError: 'extra' has shape (2,): expected [1]")
    assert errors["fine"] is None
    assert [vals for sid, key, vals, err in rows if key.startswith("fine.")] == [{"fine": 2.0}] * 2


class WritesPsnrIn(Metric):
    """A plug-in that also writes psnr_in (the other way round)."""

    columns = {"psnr_in": Column(False)}


def test_two_entries_writing_the_same_record_key_are_a_config_error(add):
    add(METRICS, "my-psnr", WritesPsnrIn)
    msg = err({**BASE, "metrics": ["psnr", "my-psnr"]})
    assert msg.startswith("metrics[1]: 'my-psnr' writes psnr_in, as metrics[0] (psnr) does")
    msg = err({**BASE, "metrics": ["psnr", {"type": "ssim", "name": "a"}, {"type": "ssim", "name": "b", "k1": 0.02}]})
    assert msg.startswith("metrics[2]: 'b' writes ssim_in, ssim_out, ssim_full, as metrics[1] (a) does")
    parse_suite({**BASE, "metrics": ["psnr", "ssim"], "detectors": ["blur", "noop"]})
    # the keys an entry writes as configured (regions:, crop:), not every key its class could write
    parse_suite({**BASE, "metrics": [{"type": "psnr", "regions": ["in"]},
                                     {"type": "psnr", "name": "p2", "regions": ["out"]},
                                     {"type": "ssim", "regions": ["in"]},
                                     {"type": "ssim", "name": "s2", "full": "lama", "regions": ["full"]}]})
    msg = err({**BASE, "metrics": [{"type": "lpips", "crop": False}, {"type": "lpips", "name": "l2", "regions": ["in"]}]})
    assert msg.startswith("metrics[1]: 'l2' writes lpips_in, as metrics[0] (lpips) does")


def test_the_docs_say_a_plugin_detectors_flag_does_not_decide_the_verdict():
    """A plug-in flag shows as its rate; the verdict (the headline `ok` share) reads only the built-in flags, and the
    pages a plug-in author reads say so (they said `ok` meant "no detector that ran flagged it")."""
    from pathlib import Path

    import pandas as pd

    from bench.detectors.verdict import verdicts

    frame = pd.DataFrame({"error": [None, None], "noop_flag": [0.0, 0.0], "bright_flag": [1.0, 0.0]})
    assert list(verdicts(frame)) == ["ok", "ok"]
    root = Path(__file__).resolve().parents[1]
    text = " ".join((root / "docs" / "detectors.md").read_text().split())
    assert "no detector that ran flagged it" not in text
    assert "A plug-in detector's flag takes no part" in text
    assert "a sample only it flags stays `ok`" in " ".join((root / "docs" / "DEVELOPING.md").read_text().split())


def test_a_dataset_giving_8bit_or_channels_last_pixels_is_a_data_error_naming_it(tmp_path):
    import torch

    from bench.errors import DataError
    from bench.inputs import prepare_item
    from bench.masks.basic import BoxMask
    from bench.types import Sample

    img = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))

    class Mine:
        def __init__(self, image):
            self.image = image

        def load(self, sid):
            return Sample(sid, self.image)

    box = BoxMask()
    assert prepare_item(Mine(img), box, "mine", 0, "a").image.shape == (3, 16, 16)
    for bad, msg in ((img * 255, r"its image has values in \[.*\]; expected \[0, 1\]"),
                     ((img * 255).to(torch.uint8), "its image is a Tensor of torch.uint8"),
                     (img.permute(1, 2, 0), r"its image has shape \(16, 16, 3\); expected \[3, H, W\]")):
        with pytest.raises(DataError, match="dataset 'mine', sample 'a': " + msg):
            prepare_item(Mine(bad), box, "mine", 0, "a")


class Unannotated:
    """A plain class for `type: python` without type hints (research code)."""

    def __init__(self, checkpoint, steps=8, guidance=7.5, fp16=False):
        self.steps, self.guidance = steps, guidance

    def inpaint(self, image, mask, generator):
        return image.clone()


def test_a_python_targets_unannotated_kwargs_take_their_defaults_type(plugins):
    """`steps: '8'` (a YAML string) reached an unannotated target as a string; its default's type now decides, with
    the annotated error naming the key and the target."""
    target = "tests.test_plugin_authoring:Unannotated"
    ok = parse_suite({**BASE, "backends": [{"type": "python", "target": target,
                                            "kwargs": {"checkpoint": 3, "steps": 4, "guidance": 5}}]})
    assert ok.backends[0].create().inner.guidance == 5  # an int for a float default; no default: anything
    msg = err({**BASE, "backends": [{"type": "python", "target": target,
                                     "kwargs": {"checkpoint": "m.pt", "steps": "8"}}]})
    assert msg == ("backends[0].kwargs.steps: expected int, got str '8' (unannotated: the type of its default 8 in "
                   "'Unannotated')")
    msg = err({**BASE, "backends": [{"type": "python", "target": target, "kwargs": {"checkpoint": "m", "fp16": 1}}]})
    assert msg.startswith("backends[0].kwargs.fp16: expected bool, got int 1")
