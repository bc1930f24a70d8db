"""One place that resolves every metric network's weights file.

Search order for a file ``NAME`` (first hit wins):

1. the suite's ``weights_dir`` (``RunContext.weights_dir``);
2. the directory in the environment variable ``INPAINT_BENCH_WEIGHTS``;
3. torch hub's cache, ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/hub/checkpoints``): where torchvision and
   pytorch-fid put their downloads;
4. for files a library ships inside its own package (the LPIPS linear heads), that package's folder;
5. ``/tmp``, where clean-fid downloads ``inception-2015-12-05.pt``.

A known file that is nowhere is **downloaded on first use** into the torch hub cache (where torchvision and
pytorch-fid put theirs), like the ``lpips``, torchvision and clean-fid users expect: streamed to a temporary file in
that folder, its length and SHA-256 checked (the full digest when we know it, else the torch-hub prefix its name
carries), then renamed into place; a corrupted or truncated download is deleted and is an error naming both hashes
(or the lengths). ``inception-2015-12-05.pt`` has no published checksum: its SHA-256 is recorded when it is first
downloaded (``<cache>/inpaint-bench-hashes.json``) and checked on every later use, and it is in every result's
provenance either way.

* ``INPAINT_BENCH_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) never touches the network: a missing file is the error
  naming the file, its origin and where to put it (``bench weights fetch`` on a machine with internet, then copy).
* ``INPAINT_BENCH_MIRROR=URL`` replaces the origin's scheme and host with ``URL`` (the path is kept), for clusters
  with an internal mirror.
* ``bench weights list | fetch [--to DIR] | verify`` prepares an offline cluster (:func:`main`).

What is checked, per file (``WeightFile.check``, shown by ``bench weights list``): ``SHA-256`` (the full digest
is known: the LPIPS heads), ``hash prefix (torch hub)`` (the SHA-256 must start with the 8 hex digits in the file's
name, torch hub's convention: AlexNet, VGG-16, pytorch-fid's Inception), ``recorded on first download``
(``inception-2015-12-05.pt``: trusted the first time, checked against that record afterwards).

A file in the download cache whose hash is wrong is deleted when :func:`resolve` meets it (and fetched again when
online); a wrong file in a folder you named is an error, never deleted. ``bench weights fetch`` tries every file and
reports each failure (exit 1 if any); a mismatching file it finds is moved aside to ``NAME.mismatch-<sha8>``. Metrics call :func:`resolve` in ``setup()``, before any image is
processed. Every resolved file's SHA-256 goes into the metric's provenance (:func:`describe`).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .fsio import atomic_writer, copy_atomic, file_sha256, remember_sha256

ENV_VAR = "INPAINT_BENCH_WEIGHTS"
OFFLINE_VARS = ("INPAINT_BENCH_OFFLINE", "HF_HUB_OFFLINE")
MIRROR_VAR = "INPAINT_BENCH_MIRROR"
TOFU_FILE = "inpaint-bench-hashes.json"  # first-download hashes of files without a published checksum
#: a download's temporary file not written to for this long (seconds) was left by a killed process: removed
STALE_PART_S = 600.0


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

    @property
    def check(self) -> str:
        """What its hash is checked against, in the words ``bench weights list`` and the README use."""
        if self.sha256:
            return CHECK_SHA256
        if self.sha256_prefix:
            return CHECK_PREFIX
        return CHECK_TOFU


#: The three kinds of check (README, docs/metrics.md and `bench weights list` use these words).
CHECK_SHA256 = "SHA-256"
CHECK_PREFIX = "hash prefix (torch hub)"
CHECK_TOFU = "recorded on first download"


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
        # the reference-free removal metrics (bench/metrics/removal_nets.py): Hugging Face files at the hub's main
        # revision, no published checksum (their SHA-256 is recorded at the first download and checked after)
        *(WeightFile(f"{net}.{f}", f"https://huggingface.co/facebook/{net}/resolve/main/{f}", f"{what} ({f})")
          for net, what, files in (
              ("sam-vit-huge", "SAM ViT-H (facebook/sam-vit-huge, the transformers port of segment_anything's "
                               "sam_vit_h_4b8939.pth) for remove and cfd", ("config.json", "model.safetensors")),
              ("dinov2-giant", "DINOv2 ViT-g/14 (facebook/dinov2-giant) for cfd and rcs",
               ("config.json", "pytorch_model.bin")))
          for f in files),
    )
}

#: extra places a file may already be, after the search directories (clean-fid downloads its Inception to /tmp)
FALLBACK_DIRS: dict[str, list[Path]] = {"inception-2015-12-05.pt": [Path("/tmp")]}

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


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


def candidates(name: str, weights_dir: str | Path | None = None) -> list[Path]:
    spec = KNOWN.get(name)
    out = [d / name for d in search_dirs(weights_dir)]
    if spec is not None:
        pkg = _package_file(spec)
        if pkg is not None:
            out.append(pkg)
    out.extend(d / name for d in FALLBACK_DIRS.get(name, []))
    return out


def resolve(name: str, weights_dir: str | Path | None = None, *, check: bool = True,
            download: bool = True) -> Path:
    """Path of the weights file ``name`` (see the module doc for the search order); hash-checked; a known file
    that is nowhere is downloaded into the torch hub cache unless offline (or ``download=False``).

    Raises :class:`WeightsError` when it is missing (naming the file, its URL and where to put it) or corrupt.
    """
    spec = KNOWN.get(name)
    cands = candidates(name, weights_dir)
    for c in cands:
        if c.is_file():
            if not check:
                return c
            try:
                verify(c, name)
                return c
            except WeightsError:
                if c.parent != hub_dir() or c.name != name or offline() or not download or spec is None:
                    raise
                c.unlink(missing_ok=True)  # our own download cache: a damaged file goes, and is fetched again
                break
    if spec is not None and download and not offline():
        return fetch(name)
    origin = f" Download it from {spec.url}" if spec else ""
    what = f" ({spec.what})" if spec else ""
    how = (" (offline: INPAINT_BENCH_OFFLINE / HF_HUB_OFFLINE is set; `bench weights fetch` on a machine with internet "
           "downloads every file)") if offline() else ""
    raise WeightsError(
        f"weights file '{name}'{what} not found{how}.{origin} and put it in {where_to_put(weights_dir)}. "
        f"Searched: {', '.join(str(c) for c in cands)}. "
        f"To try a suite without it, set `weights: random` (results are then marked non-comparable)."
    )


def source_url(spec: WeightFile) -> str:
    """The file's URL, with the scheme and host replaced by ``$INPAINT_BENCH_MIRROR`` when set."""
    mirror = os.environ.get(MIRROR_VAR, "").strip()
    if not mirror:
        return spec.url
    from urllib.parse import urlsplit

    parts = urlsplit(spec.url)
    return mirror.rstrip("/") + parts.path


def fetch(name: str, dest: str | Path | None = None, *, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download the known file ``name`` into ``dest`` (default: the torch hub cache): a temporary file in that
    folder, length and hash checked, then renamed into place. Returns the path; raises :class:`WeightsError`."""
    spec = KNOWN.get(name)
    if spec is None:
        raise WeightsError(f"'{name}' is not a known weights file; known: {', '.join(KNOWN)}")
    if offline():
        raise WeightsError(f"cannot download {name}: offline (INPAINT_BENCH_OFFLINE / HF_HUB_OFFLINE is set)")
    folder = Path(dest).expanduser() if dest else hub_dir()
    target = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(folder, name)
        with atomic_writer(target, suffix=".part") as f:  # the partial file is removed on any failure
            digest = _download(spec, source_url(spec), f, timeout, progress)
        if not (spec.sha256 or spec.sha256_prefix):
            _tofu_record(name, digest)
    except OSError as e:  # the folder cannot be written: read-only, not a folder, full
        reason = e.strerror or e
        err = WeightsError(f"cannot save {name} in {folder} ({reason}); make that folder writable, point "
                           f"$TORCH_HOME at a writable one, or put the file in {where_to_put(None)} "
                           f"(`bench weights fetch --to DIR` where a folder can be written)")
        err.brief = f"{name} could not be saved in {folder} ({reason})"  # type: ignore[attr-defined]
        raise err from None
    remember_sha256(target, digest)
    return target


def _remove_stale_parts(folder: Path, name: str) -> None:
    """Remove the temporary files of ``name`` that a download killed earlier left in ``folder`` (a file each, as
    large as the part it got); one still being written by another process is recent, and kept."""
    import time

    for part in folder.glob(f".{name}.*.part"):
        try:
            if time.time() - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
        except OSError:
            pass


def _download(spec: WeightFile, url: str, f: Any, timeout: float, progress: bool) -> str:
    """Stream ``url`` into the open file ``f``; its length and hash checked (:func:`_check_digest`). Returns the
    SHA-256; a failed, truncated or mismatching download is a :class:`WeightsError`."""
    import http.client
    import urllib.error
    import urllib.request

    name = spec.name
    h = hashlib.sha256()
    got = 0
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "inpaint-bench"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            total = int(r.headers.get("Content-Length") or 0)
            bar = _progress(name, total) if progress else None
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
                h.update(chunk)
                got += len(chunk)
                if bar:
                    bar(got)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        reason = (f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError)
                  else getattr(e, "reason", None) or e)
        err = WeightsError(f"downloading {name} from {url} failed ({reason}); check the network or set "
                           f"{MIRROR_VAR}, or put the file in {where_to_put(None)}")
        err.brief = f"{name} could not be downloaded ({reason})"  # type: ignore[attr-defined]
        raise err from None
    if total and got != total:
        raise WeightsError(f"downloading {name} from {url}: truncated ({got} of {total} bytes); the partial file "
                           f"was removed, try again")
    f.flush()
    if not total and (why := truncated_file(f.fileno(), got, name)) is not None:
        raise WeightsError(f"downloading {name} from {url}: the file is not whole ({why}; the server announced no "
                           f"length); the partial file was removed, try again")
    digest = h.hexdigest()
    _check_digest(spec, digest, f"download of {name} from {url}")
    return digest


def truncated_file(fd: int, size: int, name: str) -> str | None:
    """Why the open file ``fd`` of ``size`` bytes cannot be whole, by its own format, or None where it looks whole or
    its format says nothing: JSON must parse; a safetensors file must be its header plus the data it indexes; a zip
    archive (PyTorch's format since 1.6, TorchScript) must end with its end-of-directory record. A download whose
    server announced no length is checked so, before a file without a published checksum is trusted (and its hash
    recorded) on first use: a connection closed early must not become the reference every later download fails.
    Other formats (a legacy pickled ``.bin``) are not judged."""
    import json
    import os
    import struct

    head = os.pread(fd, 8, 0)
    if name.endswith(".json"):
        try:
            json.loads(os.pread(fd, size, 0).decode("utf-8"))
        except ValueError as e:
            return f"its JSON does not parse: {e}"
    elif name.endswith(".safetensors"):
        if len(head) < 8:
            return "shorter than a safetensors header"
        n = struct.unpack("<Q", head)[0]
        try:
            header = json.loads(os.pread(fd, n, 8).decode("utf-8")) if n <= size - 8 else None
        except ValueError:
            header = None
        if not isinstance(header, dict):
            return "its safetensors header is cut off or does not parse"
        end = max((int(v["data_offsets"][1]) for k, v in header.items()
                   if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v), default=0)
        if 8 + n + end != size:
            return f"its safetensors header indexes {8 + n + end} bytes, the file has {size}"
    elif head.startswith(b"PK\x03\x04"):
        tail = os.pread(fd, min(size, 65557), max(0, size - 65557))  # the record: 22 bytes and its comment
        if b"PK\x05\x06" not in tail and b"PK\x06\x06" not in tail:
            return "its zip archive has no end-of-directory record"
    return None


def _progress(name: str, total: int):
    import sys

    if not sys.stderr.isatty():
        return None
    def show(n: int) -> None:
        pct = f" {100 * n / total:5.1f} %" if total else ""
        sys.stderr.write(f"\rdownloading {name}: {n / 2**20:7.1f} MiB{pct}")
        if total and n >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def _check_digest(spec: WeightFile, digest: str, what: str) -> None:
    expected = spec.sha256 or _tofu().get(spec.name)
    if expected and digest != expected:
        raise WeightsError(f"{what}: SHA-256 {digest} does not match the expected {expected} ({spec.what}); the "
                           f"file was not used")
    if spec.sha256_prefix and not digest.startswith(spec.sha256_prefix):
        raise WeightsError(f"{what}: SHA-256 {digest} does not start with {spec.sha256_prefix} as its name promises "
                           f"({spec.what}); the file was not used")


def _tofu_path() -> Path:
    return hub_dir() / TOFU_FILE


def _tofu() -> dict[str, str]:
    import json

    try:
        data = json.loads(_tofu_path().read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _tofu_record(name: str, digest: str) -> None:
    """Add ``name``'s digest to the record file: read, changed and replaced under a lock (a ``.lock`` file beside
    it), so two processes that download different files at once both keep theirs."""
    import fcntl
    import json
    import os

    from .fsio import write_text_atomic

    _tofu_path().parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{_tofu_path()}.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = _tofu()
        data[name] = digest
        write_text_atomic(_tofu_path(), json.dumps(data, indent=1, sort_keys=True))
    finally:
        os.close(fd)


def verify(path: str | Path, name: str | None = None) -> str:
    """Check ``path`` against the known hash of ``name`` (full digest, torch-hub prefix, or the hash recorded at
    its first download); returns its SHA-256."""
    p = Path(path)
    spec = KNOWN.get(name or p.name)
    digest = file_sha256(p)
    if spec is None:
        return digest
    try:
        _check_digest(spec, digest, f"weights file {p}")
    except WeightsError as e:
        raise WeightsError(f"{e}; download it again from {spec.url}") from None
    return digest


def describe(path: str | Path) -> dict[str, Any]:
    """Provenance entry for a resolved file: name, path, SHA-256 and origin."""
    p = Path(path)
    spec = KNOWN.get(p.name)
    return {"file": p.name, "path": str(p), "sha256": file_sha256(p), "url": spec.url if spec else None}


def known_files_table() -> list[tuple[str, str, str]]:
    """(file name, URL, what) of every known file, for docs and error messages."""
    return [(f.name, f.url, f.what) for f in KNOWN.values()]


# ------------------------------------------------------------------------------------------------------------------
# helpers of `bench weights list | fetch | verify` (the command itself: bench/cli/weights.py)
# ------------------------------------------------------------------------------------------------------------------
def check_line(spec: WeightFile) -> str:
    """``check: ...`` for `bench weights list`: what the file's hash is checked against, exactly."""
    if spec.sha256:
        return f"{CHECK_SHA256} (full digest {spec.sha256[:16]}...)"
    if spec.sha256_prefix:
        return (f"{CHECK_PREFIX}: its SHA-256 must start with the {len(spec.sha256_prefix)} hex digits "
                f"{spec.sha256_prefix} in its name, as torch hub checks it")
    recorded = _tofu().get(spec.name)
    return (f"{CHECK_TOFU}: no published checksum; "
            + (f"recorded {recorded[:16]}... in {_tofu_path()}" if recorded else "nothing recorded yet"))


def set_aside(path: Path, digest: str) -> Path:
    """Move a file whose hash is wrong to ``NAME.mismatch-<sha8>`` beside it (never deleted); returns the new path."""
    aside = path.with_name(f"{path.name}.mismatch-{digest[:8]}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.mismatch-{digest[:8]}-{n}")
    path.rename(aside)
    return aside


def fetch_checked(n: str, dest: Path, to_given: bool) -> str:
    """Fetch one known file into ``dest`` unless a verified copy is there (a mismatching one is moved aside, never
    deleted): the line `bench weights fetch` prints; raises WeightsError when it fails."""
    have = dest / n
    spec = KNOWN[n]
    pkg = _package_file(spec)
    if not have.is_file() and spec.package and pkg is not None and pkg.is_file():
        if not to_given:
            return f"{n}: ships with the {spec.package} package ({pkg})"
        dest.mkdir(parents=True, exist_ok=True)  # a folder for another machine: the package's copy, not a download
        copy_atomic(pkg, have)
        verify(have, n)
        return f"{n}: copied from the {spec.package} package ({pkg}) to {have} ({spec.check}: verified)"
    note = ""
    if have.is_file():
        try:
            verify(have, n)
            return f"{n}: already in {dest} (verified: {spec.check})"
        except WeightsError:
            aside = set_aside(have, file_sha256(have))
            note = f"; the file there did not match ({spec.check}) and was moved aside to {aside.name}"
    try:
        path = fetch(n, dest)
    except WeightsError as e:
        raise WeightsError(f"{e}{note}") from None
    return f"{n}: {path} (SHA-256 {file_sha256(path)[:16]}..., {spec.check}: verified){note}"


#: a model's weights fingerprint reads this many blocks of each file (evenly spaced, the first and last included)
FINGERPRINT_BLOCKS = 16
FINGERPRINT_BLOCK = 1 << 16


def _blob_digest(p: Path) -> str | None:
    """The SHA-256 a Hugging Face cache already names a weights file by (its snapshot's link points into
    ``blobs/<sha256>``), None elsewhere."""
    try:
        real = p.resolve()
    except OSError:
        return None
    name = real.name
    if real.parent.name == "blobs" and len(name) == 64 and all(c in "0123456789abcdef" for c in name):
        return name
    return None


def content_fingerprint(paths: Any) -> str | None:
    """A fingerprint of the *content* of a model's weights files, cheap enough for every session: per file, the
    SHA-256 its Hugging Face cache blob is named by, else a SHA-256 of its size and
    :data:`FINGERPRINT_BLOCKS` evenly spaced blocks (a whole small file); the files' digests sorted, so neither
    their names, folder, copy time nor modification time matter, while other weights (a fine-tune changes nearly
    every tensor) differ. Not a full hash: a change confined to bytes between the sampled blocks goes unseen.
    None when no file is given (nothing to fingerprint)."""
    digests = []
    for path in paths:
        p = Path(path)
        d = _blob_digest(p)
        if d is None:
            h = hashlib.sha256()
            size = p.stat().st_size
            h.update(str(size).encode())
            with open(p, "rb") as f:
                if size <= FINGERPRINT_BLOCKS * FINGERPRINT_BLOCK:
                    h.update(f.read())
                else:
                    step = (size - FINGERPRINT_BLOCK) / (FINGERPRINT_BLOCKS - 1)
                    for i in range(FINGERPRINT_BLOCKS):
                        f.seek(int(round(i * step)))
                        h.update(f.read(FINGERPRINT_BLOCK))
            d = h.hexdigest()
        digests.append(d)
    if not digests:
        return None
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()
