"""Feature extraction shared by FID/KID/IDS and LPIPS: clean-fid's preprocessing, hole crops, networks, caches.

clean-fid compatibility (cleanfid 0.1.35, ``fid.py`` / ``resize.py`` / ``utils.py``). For a folder of 8-bit PNGs
clean-fid does, per image: uint8 HWC -> ``fn_resize`` by mode -> float tensor in [0, 255] -> the extractor. We do
the same on tensors:

* ``quantize``: ``round(clip(x, 0, 1) * 255)``, what writing the image as an 8-bit PNG does
  (:func:`bench.pixels.quantize`);
* ``clean``: PIL bicubic resize to 299x299 of each channel as a 32-bit float image (mode ``F``), clipped to
  [0, 255] (exactly PIL, on the CPU);
* ``legacy_pytorch``: ``F.interpolate(bilinear, align_corners=False)`` to 299x299, clipped;
* ``legacy_tensorflow``: no resize outside the network (``uint8 -> ToTensor() * 255``); the network resizes.

Extractors map a float batch in [0, 255] to [N, 2048] features, the same contract as clean-fid's
``custom_feat_extractor``: pass one of ours to clean-fid and both compute the same numbers (tests do).
"""
from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, WeightsError

MODES = ("clean", "legacy_tensorflow", "legacy_pytorch")
INCEPTION_SIZE = 299

# ---------------------------------------------------------------------------------------------------------------
# preprocessing


def _pil_bicubic(x255: torch.Tensor, size: int) -> torch.Tensor:
    from PIL import Image

    a = x255.detach().to("cpu", torch.float32).numpy()
    out = np.empty((a.shape[0], a.shape[1], size, size), dtype=np.float32)
    for i in range(a.shape[0]):
        for c in range(a.shape[1]):
            img = Image.fromarray(np.ascontiguousarray(a[i, c]), mode="F")
            out[i, c] = np.asarray(img.resize((size, size), resample=Image.BICUBIC))
    return torch.from_numpy(out.clip(0, 255))


def resize_for_mode(x255: torch.Tensor, mode: str, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """clean-fid's resize for ``mode`` on a float [N, 3, H, W] batch in [0, 255] (already quantized)."""
    if mode == "clean":
        return _pil_bicubic(x255, size).to(x255.device)
    if mode == "legacy_pytorch":
        return F.interpolate(x255.float(), size=(size, size), mode="bilinear", align_corners=False).clamp(0, 255)
    if mode == "legacy_tensorflow":
        # clean-fid: uint8 -> torchvision ToTensor() (divides by 255) -> * 255; reproduce its float rounding
        return (x255.float() / 255.0) * 255.0
    raise ConfigError("mode", f"unknown resize mode '{mode}'; choose one of {', '.join(MODES)}")


def tf_resize_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 ``resize_bilinear(align_corners=False, half_pixel_centers=False)``: source = dest * in / out."""
    n, c, h, w = x.shape

    def axis(n_in: int):
        src = torch.arange(size, dtype=torch.float64, device=x.device) * (n_in / size)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, (src - i0).to(x.dtype)

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    top = x[:, :, y0]
    bot = x[:, :, y1]
    rows = top + (bot - top) * fy.view(1, 1, -1, 1)
    left = rows[..., x0]
    right = rows[..., x1]
    return left + (right - left) * fx.view(1, 1, 1, -1)


# ---------------------------------------------------------------------------------------------------------------
# hole crops


def crop_box(mask2d: torch.Tensor, context: float = 0.1, min_size: int = 32) -> tuple[int, int, int, int] | None:
    """Square crop around the hole: its bounding box, long side grown by ``context`` on each side, at least
    ``min_size`` px, centred on the box and shifted to lie inside the image. A side longer than the image is
    clipped to the image (the crop is then not square; it is resized to a square anyway). ``None``: no hole."""
    h, w = mask2d.shape[-2:]
    m = mask2d.reshape(h, w)
    rows = torch.nonzero(m.any(dim=1)).flatten()
    cols = torch.nonzero(m.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    side = max(y1 - y0, x1 - x0)
    side = max(int(math.ceil(side * (1 + 2 * context))), min_size)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2

    def place(center: float, n: int) -> tuple[int, int]:
        s = min(side, n)
        a = int(round(center - s / 2))
        a = min(max(a, 0), n - s)
        return a, a + s

    ya, yb = place(cy, h)
    xa, xb = place(cx, w)
    return ya, yb, xa, xb


def crop_boxes(mask: torch.Tensor, context: float = 0.1, min_size: int = 32) -> list[tuple[int, int, int, int] | None]:
    return [crop_box(mask[i], context, min_size) for i in range(mask.shape[0])]


def take_crops(x: torch.Tensor, boxes: Sequence[tuple[int, int, int, int] | None], size: int | None = None,
               antialias: bool = True) -> list[torch.Tensor | None]:
    """Crops of each image ([3, h, w]); resized bilinearly to ``size`` x ``size`` when ``size`` is given."""
    out: list[torch.Tensor | None] = []
    for i, b in enumerate(boxes):
        if b is None:
            out.append(None)
            continue
        c = x[i, :, b[0]:b[1], b[2]:b[3]]
        if size is not None and tuple(c.shape[-2:]) != (size, size):
            c = F.interpolate(c[None], size=(size, size), mode="bilinear", align_corners=False,
                              antialias=antialias)[0]
        out.append(c)
    return out


# ---------------------------------------------------------------------------------------------------------------
# content hashes and caches


def content_hash(*parts: Any) -> str:
    """SHA-256 over tensors (their bytes, dtype and shape) and plain values."""
    h = hashlib.sha256()
    for p in parts:
        if torch.is_tensor(p):
            t = p.detach().to("cpu").contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
        elif isinstance(p, np.ndarray):
            h.update(f"A{p.dtype}{p.shape}".encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(repr(p).encode())
        h.update(b"|")
    return h.hexdigest()


class FeatureCache:
    """Feature vectors by content key: in memory, and in ``<dir>/ref_features.sqlite`` when a directory is given.

    Safe for several processes (SQLite with a timeout); a corrupt or unreadable cache only costs recomputation.
    """

    def __init__(self, directory: str | Path | None):
        self.path = Path(directory) / "ref_features.sqlite" if directory else None
        self.mem: dict[str, np.ndarray] = {}
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
            self._conn.execute("CREATE TABLE IF NOT EXISTS feats (key TEXT PRIMARY KEY, dtype TEXT, data BLOB)")
            self._conn.commit()
        return self._conn

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found = {k: self.mem[k] for k in keys if k in self.mem}
        rest = [k for k in keys if k not in found]
        db = self._db()
        if rest and db is not None:
            with self._lock:
                for i in range(0, len(rest), 500):
                    part = rest[i:i + 500]
                    q = f"SELECT key, dtype, data FROM feats WHERE key IN ({','.join('?' * len(part))})"
                    for k, dt, blob in db.execute(q, part):
                        v = np.frombuffer(blob, dtype=np.dtype(dt)).copy()
                        self.mem[k] = v
                        found[k] = v
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self.mem.update(items)
        db = self._db()
        if db is not None and items:
            with self._lock, db:
                db.executemany("INSERT OR REPLACE INTO feats VALUES (?, ?, ?)",
                               [(k, str(v.dtype), np.ascontiguousarray(v).tobytes()) for k, v in items.items()])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LRU:
    """A small in-memory LRU of tensors with a byte budget (per-process reuse of e.g. LPIPS input features)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.data: OrderedDict[str, Any] = OrderedDict()
        self.sizes: dict[str, int] = {}
        self.total = 0

    def get(self, key: str) -> Any:
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        return None

    def put(self, key: str, value: Any, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        if key in self.data:
            self.total -= self.sizes[key]
        self.data[key] = value
        self.sizes[key] = nbytes
        self.total += nbytes
        while self.total > self.max_bytes:
            k, _ = self.data.popitem(last=False)
            self.total -= self.sizes.pop(k)


# ---------------------------------------------------------------------------------------------------------------
# Inception extractors (input: float [N, 3, S, S] in [0, 255]; output: [N, 2048])


class Extractor:
    """A feature extractor with clean-fid's ``custom_feat_extractor`` contract, plus what names it."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str, mode: str, dim: int = 2048,
                 weights: dict[str, Any] | None = None, comparable: bool = True, device: torch.device | None = None):
        self.fn = fn
        self.name = name
        self.mode = mode
        self.dim = dim
        self.weights = weights or {}
        self.comparable = comparable
        self.device = device or torch.device("cpu")
        self.calls = 0  # batches
        self.images = 0  # images passed through

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images += int(x.shape[0])
        with torch.inference_mode():
            return self.fn(x.to(self.device)).float()

    def identity(self) -> str:
        """What changes the features: name, mode and weights hash (part of every cache key)."""
        return f"{self.name}|{self.mode}|{self.weights.get('sha256', self.weights.get('seed', ''))}"


def random_inception(seed: int = 0) -> nn.Module:
    """torchvision Inception-v3 (pool3, 2048-d) with Kaiming-normal convolutions: non-degenerate random features."""
    import torchvision

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    net.fc = nn.Identity()
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.zero_()
    return net.eval()


def build_inception(mode: str, weights: str = "pretrained", weights_dir: str | Path | None = None,
                    device: torch.device | str = "cpu", seed: int = 0) -> Extractor:
    """The Inception feature extractor of clean-fid's ``mode`` (weights resolved by :mod:`bench.weights`)."""
    from .. import weights as W

    if mode not in MODES:
        raise ConfigError("mode", f"unknown resize mode '{mode}'; choose one of {', '.join(MODES)}")
    device = torch.device(device)
    if weights == "random":
        net = random_inception(seed).to(device)
        if device.type == "cpu":
            net = net.to(memory_format=torch.channels_last)

        def fn(x: torch.Tensor) -> torch.Tensor:
            if mode == "legacy_tensorflow":
                x = tf_resize_bilinear(x, INCEPTION_SIZE)
            x = x / 255.0 * 2 - 1 if mode == "legacy_pytorch" else (x - 128.0) / 128.0
            if device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            return net(x)

        return Extractor(fn, "inception_v3-random-kaiming", mode, weights={"seed": int(seed), "random": True},
                         comparable=False, device=device)
    if weights != "pretrained":
        raise ConfigError("weights", f"expected 'pretrained' or 'random', got {weights!r}")
    if mode in ("clean", "legacy_tensorflow"):
        path = W.resolve("inception-2015-12-05.pt", weights_dir)
        try:
            base = torch.jit.load(str(path), map_location=device).eval()
        except Exception as e:  # noqa: BLE001
            raise WeightsError(f"weights file {path}: cannot be loaded as TorchScript ({e}); download it again "
                               f"from {W.KNOWN[path.name].url}") from e
        layers = base.layers

        if mode == "clean":
            def fn(x: torch.Tensor) -> torch.Tensor:
                return layers.forward((x - 128) / 128).reshape(x.shape[0], 2048)
        else:
            def fn(x: torch.Tensor) -> torch.Tensor:
                return base(x, return_features=True).reshape(x.shape[0], 2048)

        return Extractor(fn, "inception-2015-12-05 (torchscript)", mode, weights=W.describe(path), device=device)
    # legacy_pytorch: pytorch-fid's FID Inception, through clean-fid's module, weights from our resolver
    path = W.resolve("pt_inception-2015-12-05-6726825d.pth", weights_dir)
    import cleanfid.inception_pytorch as ip

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    orig = ip.load_state_dict_from_url
    ip.load_state_dict_from_url = lambda *a, **k: state
    try:
        model = ip.InceptionV3(output_blocks=[3], resize_input=False).to(device).eval()
    finally:
        ip.load_state_dict_from_url = orig

    def fn(x: torch.Tensor) -> torch.Tensor:
        return model(x / 255)[0].squeeze(-1).squeeze(-1)

    return Extractor(fn, "pt_inception-2015-12-05 (pytorch-fid)", mode, weights=W.describe(path), device=device)
