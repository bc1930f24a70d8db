"""One place that resolves every metric network's weights file.

Search order for a file ``NAME`` (first hit wins):

1. the suite's ``weights_dir`` (``RunContext.weights_dir``);
2. the directory in the environment variable ``INPAINT_BENCH_WEIGHTS``;
3. torch hub's cache, ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/hub/checkpoints``): where torchvision and
   pytorch-fid put their downloads;
4. for files a library ships inside its own package (the LPIPS linear heads), that package's folder;
5. ``/tmp``, where clean-fid downloads ``inception-2015-12-05.pt``.

Nothing is downloaded here: an offline cluster copies the files into a directory and names it. A missing file raises
:class:`~bench.errors.WeightsError` naming the file, its origin URL and where to put it; a file whose SHA-256 does not
match raises one naming the file, both hashes and its origin. Metrics call :func:`resolve` in ``setup()``, before any
image is processed. Every resolved file's SHA-256 goes into the metric's provenance (:func:`describe`).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError

ENV_VAR = "INPAINT_BENCH_WEIGHTS"


@dataclass(frozen=True)
class WeightFile:
    """A known weights file: its name, origin and expected hash."""

    name: str
    url: str
    what: str
    sha256: str | None = None  # full hex digest when known
    sha256_prefix: str | None = None  # torch hub convention: the hash prefix embedded in the file name
    package: str | None = None  # python package that ships the file (path relative to the package)
    package_path: str | None = None


KNOWN: dict[str, WeightFile] = {
    f.name: f
    for f in (
        WeightFile(
            "inception-2015-12-05.pt",
            "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
            "Inception-v3 FID network (TorchScript port of TF inception-2015-12-05; clean-fid modes clean and "
            "legacy_tensorflow)",
        ),
        WeightFile(
            "pt_inception-2015-12-05-6726825d.pth",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            "Inception-v3 FID network (pytorch-fid port; clean-fid mode legacy_pytorch)",
            sha256_prefix="6726825d",
        ),
        WeightFile(
            "alexnet-owt-7be5be79.pth",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            "AlexNet ImageNet backbone (torchvision) for LPIPS net=alex",
            sha256_prefix="7be5be79",
        ),
        WeightFile(
            "vgg16-397923af.pth",
            "https://download.pytorch.org/models/vgg16-397923af.pth",
            "VGG-16 ImageNet backbone (torchvision) for LPIPS net=vgg",
            sha256_prefix="397923af",
        ),
        WeightFile(
            "lpips-v0.1-alex.pth",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
            "LPIPS v0.1 linear heads for AlexNet (ship with the lpips package)",
            sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            package="lpips", package_path="weights/v0.1/alex.pth",
        ),
        WeightFile(
            "lpips-v0.1-vgg.pth",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
            "LPIPS v0.1 linear heads for VGG-16 (ship with the lpips package)",
            sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            package="lpips", package_path="weights/v0.1/vgg.pth",
        ),
    )
}

#: extra places a file may already be, after the search directories (clean-fid downloads its Inception to /tmp)
FALLBACK_DIRS: dict[str, list[Path]] = {"inception-2015-12-05.pt": [Path("/tmp")]}

_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, so big files hash once


def file_sha256(path: str | Path) -> str:
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def hub_dir() -> Path:
    try:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:  # noqa: BLE001
        return Path(os.path.expanduser("~/.cache/torch/hub/checkpoints"))


def search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """The directories searched, in order (the package folder of shipped files comes after these, /tmp last)."""
    dirs: list[Path] = []
    if weights_dir:
        dirs.append(Path(weights_dir).expanduser())
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(hub_dir())
    return dirs


def _package_file(spec: WeightFile) -> Path | None:
    if not spec.package:
        return None
    try:
        import importlib.util

        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / (spec.package_path or spec.name)


def where_to_put(weights_dir: str | Path | None = None) -> str:
    first = Path(weights_dir).expanduser() if weights_dir else None
    parts = []
    if first:
        parts.append(f"the suite's weights_dir ({first})")
    parts.append(f"a directory named by ${ENV_VAR}" + (f" (now {os.environ[ENV_VAR]})" if os.environ.get(ENV_VAR)
                                                        else ""))
    parts.append(f"the torch hub cache ({hub_dir()})")
    return ", or ".join(parts)


def resolve(name: str, weights_dir: str | Path | None = None, *, check: bool = True) -> Path:
    """Path of the weights file ``name`` (see the module doc for the search order); hash-checked.

    Raises :class:`WeightsError` when it is missing (naming the file, its URL and where to put it) or corrupt.
    """
    spec = KNOWN.get(name)
    candidates = [d / name for d in search_dirs(weights_dir)]
    if spec is not None:
        pkg = _package_file(spec)
        if pkg is not None:
            candidates.append(pkg)
    candidates.extend(d / name for d in FALLBACK_DIRS.get(name, []))
    for c in candidates:
        if c.is_file():
            if check:
                verify(c, name)
            return c
    origin = f" Download it from {spec.url}" if spec else ""
    what = f" ({spec.what})" if spec else ""
    raise WeightsError(
        f"weights file '{name}'{what} not found.{origin} and put it in {where_to_put(weights_dir)}. "
        f"Searched: {', '.join(str(c) for c in candidates)}. "
        f"To try a suite without it, set `weights: random` (results are then marked non-comparable)."
    )


def verify(path: str | Path, name: str | None = None) -> str:
    """Check ``path`` against the known hash of ``name`` (full digest or torch-hub prefix); returns its SHA-256."""
    p = Path(path)
    spec = KNOWN.get(name or p.name)
    digest = file_sha256(p)
    if spec is None:
        return digest
    if spec.sha256 and digest != spec.sha256:
        raise WeightsError(f"weights file {p}: SHA-256 {digest} does not match the expected {spec.sha256} "
                           f"({spec.what}); download it again from {spec.url}")
    if spec.sha256_prefix and not digest.startswith(spec.sha256_prefix):
        raise WeightsError(f"weights file {p}: SHA-256 {digest} does not start with {spec.sha256_prefix} as its "
                           f"name promises ({spec.what}); download it again from {spec.url}")
    return digest


def describe(path: str | Path) -> dict[str, Any]:
    """Provenance entry for a resolved file: name, path, SHA-256 and origin."""
    p = Path(path)
    spec = KNOWN.get(p.name)
    return {"file": p.name, "path": str(p), "sha256": file_sha256(p), "url": spec.url if spec else None}


def known_files_table() -> list[tuple[str, str, str]]:
    """(file name, URL, what) of every known file, for docs and error messages."""
    return [(f.name, f.url, f.what) for f in KNOWN.values()]
