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


def test_content_fingerprint_reads_content_not_names_and_sees_a_change_in_a_large_file(tmp_path):
    import os

    import numpy as np

    from bench.weights import FINGERPRINT_BLOCK, FINGERPRINT_BLOCKS, content_fingerprint

    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, FINGERPRINT_BLOCKS * FINGERPRINT_BLOCK * 3 + 17, dtype=np.uint8).tobytes()
    small = rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()
    (tmp_path / "a.safetensors").write_bytes(big)
    (tmp_path / "b.bin").write_bytes(small)
    fp = content_fingerprint([tmp_path / "a.safetensors", tmp_path / "b.bin"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.bin").write_bytes(small)
    (tmp_path / "other" / "y.bin").write_bytes(big)
    os.utime(tmp_path / "other" / "y.bin", (1, 1))
    assert content_fingerprint([tmp_path / "other" / "y.bin", tmp_path / "other" / "x.bin"]) == fp
    changed = bytearray(big)
    changed[-1] ^= 1  # one bit of the last block (the first and the last are always read)
    (tmp_path / "a.safetensors").write_bytes(bytes(changed))
    assert content_fingerprint([tmp_path / "a.safetensors", tmp_path / "b.bin"]) != fp
    (tmp_path / "b.bin").write_bytes(small[:-1] + bytes([small[-1] ^ 1]))  # a small file is read whole
    assert content_fingerprint([tmp_path / "b.bin"]) != content_fingerprint([tmp_path / "other" / "x.bin"])
    assert content_fingerprint([]) is None


def test_content_fingerprint_takes_a_hub_cache_blobs_name_as_its_digest(tmp_path):
    import hashlib

    from bench.weights import content_fingerprint

    data = b"weights" * 100
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / sha).write_bytes(data)
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "model.safetensors").symlink_to(tmp_path / "blobs" / sha)
    (tmp_path / "blobs" / sha).write_bytes(b"not read")  # the name is trusted: the cache names blobs by content
    assert content_fingerprint([tmp_path / "snapshots" / "model.safetensors"]) == \
        hashlib.sha256(sha.encode()).hexdigest()
