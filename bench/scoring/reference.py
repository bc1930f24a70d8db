"""Reference sets: the features of a named reference dataset (e.g. Places2 validation photographs, COCO images
without the removed class) that FID/KID compare outputs with, built here, outside the metric (clean-fid's
``make_custom_stats``): the scoring stage reads the images, the metric's extractor turns them into features
(cached by content, so a second run extracts none), and the matrix is written once into the run folder as
``reference_<sha256>.npy`` for the report's set-level numbers. The metric only receives them (``set_reference``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..fsio import atomic_writer


def prepare_reference(metric: Any, ctx: Any) -> None:
    """Give ``metric`` (set up, with a ``reference_ds``) the full-image features of its reference dataset."""
    from ..metrics.fid import features_sha256

    ds = metric.reference_ds
    ds.bind(resolution=ctx.extra.get("resolution"), seed=ctx.seed)
    ids = list(ds.ids())
    if metric.reference_limit is not None:
        ids = ids[: metric.reference_limit]
    if not ids:
        raise ConfigError("reference", f"the reference dataset '{metric.reference_spec.get('type')}' has no images")
    feats: list[np.ndarray] = []
    step = max(int(metric.batch_size), 1)
    for s in range(0, len(ids), step):
        chunk = ids[s:s + step]
        images = []
        for sid in chunk:
            try:
                images.append(ds.load(sid).image)
            except DataError as e:
                raise DataError(f"reference dataset: {e}") from e
        got, computed = metric.full_image_features(images)
        metric.counts["refset_computed"] += computed
        metric.counts["refset_cached"] += len(chunk) - computed
        feats.append(got)
    arr = np.ascontiguousarray(np.concatenate(feats).astype(np.float32))
    digest = features_sha256(arr)
    info: dict[str, Any] = {
        "spec": metric.reference_spec,
        "dataset": _provenance(ds),
        "limit": metric.reference_limit,
        "resolution": ctx.extra.get("resolution"),
        "images": "each reference sample's image (a folder's images/), quantized like the outputs",
        "count": int(arr.shape[0]),
        "dim": int(arr.shape[1]),
        "features_sha256": digest,
    }
    if ctx.run_dir is not None:
        name = f"reference_{digest[:16]}.npy"
        path = Path(ctx.run_dir) / name
        if not (path.exists() and _npy_ok(path, digest)):
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(path) as f:
                np.save(f, arr)
        info["file"] = name  # relative to the run folder
        info["path"] = str(path.resolve())
    metric.set_reference(arr, info)


def _npy_ok(path: Path, digest: str) -> bool:
    from ..metrics.fid import features_sha256

    try:
        return features_sha256(np.load(path, allow_pickle=False)) == digest
    except Exception:  # noqa: BLE001
        return False


def _provenance(obj: Any) -> dict[str, Any]:
    try:
        return dict(obj.provenance())
    except Exception as e:  # noqa: BLE001
        return {"provenance_error": str(e)}
