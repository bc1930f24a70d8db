"""bench.weights: search order, hash checks, the missing-file message, and metrics failing in setup()."""
from __future__ import annotations

import hashlib

import pytest
import torch

from bench import weights as W
from bench.errors import WeightsError
from bench.metrics.fid import InceptionFeatures
from bench.metrics.lpips_metric import LPIPS
from bench.types import RunContext


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No real caches: torch hub points into tmp, the env var is unset, /tmp's clean-fid file is not consulted."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(W.ENV_VAR, raising=False)
    import torch.hub

    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(W, "FALLBACK_DIRS", {})


def _put(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_missing_file_message_names_file_origin_and_places(tmp_path):
    with pytest.raises(WeightsError) as e:
        W.resolve("alexnet-owt-7be5be79.pth", tmp_path / "wdir")
    msg = str(e.value)
    assert "alexnet-owt-7be5be79.pth" in msg
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in msg
    assert str(tmp_path / "wdir") in msg and W.ENV_VAR in msg and "weights: random" in msg


def test_search_order_and_hash_prefix(tmp_path, monkeypatch):
    spec = W.KNOWN["alexnet-owt-7be5be79.pth"]
    good = b"pretend weights"
    digest = hashlib.sha256(good).hexdigest()
    monkeypatch.setitem(W.KNOWN, spec.name, W.WeightFile(spec.name, spec.url, spec.what, sha256_prefix=digest[:8]))
    env_dir = tmp_path / "env"
    suite_dir = tmp_path / "suite"
    _put(env_dir / spec.name, good)
    monkeypatch.setenv(W.ENV_VAR, str(env_dir))
    assert W.resolve(spec.name) == env_dir / spec.name
    _put(suite_dir / spec.name, good)
    assert W.resolve(spec.name, suite_dir) == suite_dir / spec.name  # the suite's directory comes first
    _put(suite_dir / spec.name, b"corrupt")
    with pytest.raises(WeightsError) as e:
        W.resolve(spec.name, suite_dir)
    assert "does not start with" in str(e.value) and spec.url in str(e.value)


def test_full_hash_checked_and_shipped_heads_found():
    p = W.resolve("lpips-v0.1-alex.pth")  # ships inside the lpips package
    assert p.name == "alex.pth" and W.file_sha256(p) == W.KNOWN["lpips-v0.1-alex.pth"].sha256


def test_full_hash_mismatch(tmp_path):
    _put(tmp_path / "lpips-v0.1-vgg.pth", b"not the heads")
    with pytest.raises(WeightsError, match="does not match"):
        W.resolve("lpips-v0.1-vgg.pth", tmp_path)


def test_metrics_fail_in_setup_before_any_work(tmp_path):
    ctx = RunContext(device=torch.device("cpu"), weights="pretrained", weights_dir=tmp_path / "w",
                     cache_dir=tmp_path / "c")
    with pytest.raises(WeightsError, match="alexnet-owt-7be5be79.pth"):
        LPIPS().setup(ctx)
    with pytest.raises(WeightsError, match="vgg16-397923af.pth"):
        LPIPS(net="vgg").setup(ctx)
    with pytest.raises(WeightsError, match="pt_inception-2015-12-05-6726825d.pth"):
        InceptionFeatures(mode="legacy_pytorch").setup(ctx)
    with pytest.raises(WeightsError, match="inception-2015-12-05.pt"):
        InceptionFeatures(mode="clean").setup(ctx)
