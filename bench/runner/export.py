"""Exports that let a model run anywhere and be scored here on identical inputs.

* :func:`export_inputs` (``bench export RUN_OR_SUITE --inputs DIR``): for every dataset × mask of the suite, the
  exact image a backend is given (8-bit, the hole blanked to 128) as ``DIR/<dataset>/<mask>/images/<sample>.png``
  and its mask (hole = 255, or 0 with ``--mask-hole-value 0`` for scripts that read black as the hole, as MAT's and
  CoModGAN's do) under the same name in ``.../masks/`` (the pairing by file name most inpainting repositories' batch
  scripts take), plus ``DIR/inputs.json`` with the SHA-256 of both per sample (of the harness's mask, whichever way
  its file is written).
* :func:`export_outputs` (``bench export RUN --outputs DIR``): the run's stored outputs as
  ``DIR/<backend>/<dataset>/<mask>/<sample>.png``, with ``DIR/<backend>/inputs.json``.

Both layouts are what the ``outputs`` backend reads (``{type: outputs, root: DIR/<backend>}``), and its
``inputs.json`` check refuses outputs made for other inputs. ``<sample>`` follows
:func:`bench.fsio.sample_filename`. Nothing is written through a symbolic link.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..errors import BenchError
from ..fsio import confined_dir, copy_atomic

INPUTS_FORMAT = 1


def _dest(path: str | Path) -> Path:
    d = Path(path)
    if d.is_symlink():
        raise BenchError(f"export: {d} is a symbolic link; give a real folder")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _write_json(path: Path, obj: Any) -> None:
    from ..fsio import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True))


def export_outputs(run_dir: str | Path, dest: str | Path) -> dict[str, int]:
    """Copy a run's stored outputs (the cells its manifest lists) into ``dest``; returns counts per backend."""
    from ..store.run import load_run
    from ..fsio import case_collision_error, sample_filename
    from ..store.files import output_path

    rd = load_run(run_dir)
    if rd.run_dir is None:
        raise BenchError(f"export: {run_dir} is not a run folder")
    out = _dest(dest)
    counts: dict[str, int] = {}
    manifests: dict[str, dict[str, Any]] = {}
    for c in rd.store.cells():
        infos = rd.store.output_info(c["cell_key"])
        folder = confined_dir(out, c["backend"], c["dataset"], c["mask"])
        section = manifests.setdefault(c["backend"], {}).setdefault(c["dataset"], {}).setdefault(c["mask"], {})
        if (clash := case_collision_error(folder, sorted(infos))) is not None:
            raise BenchError(f"export --outputs: {c['backend']}/{c['dataset']}/{c['mask']}: {clash}")
        for sid, row in sorted(infos.items()):
            src = output_path(rd.run_dir, c["cell_key"], sid)
            if not src.is_file():
                continue
            copy_atomic(src, folder / f"{sample_filename(sid)}.png")
            section[sid] = {k: row["info"][k] for k in ("input_sha256", "mask_sha256") if k in row["info"]}
            counts[c["backend"]] = counts.get(c["backend"], 0) + 1
    for backend, inputs in manifests.items():
        _write_json(out / backend / "inputs.json", {
            "format": INPUTS_FORMAT, "what": "outputs exported by `bench export --outputs`",
            "run_id": rd.manifest.get("run_id"), "config_hash": rd.manifest.get("config_hash"),
            "seed": rd.manifest.get("seed"), "inputs": inputs})
    return counts


def export_inputs(source: str | Path, dest: str | Path, limit: int | None = None,
                  advance: Callable[[int], None] | None = None, mask_hole_value: int = 255) -> dict[str, int]:
    """Write the masked inputs and masks of every dataset × mask of a suite (a suite file, or a run folder's
    ``suite.resolved.yaml`` with its ``limit``); returns counts per ``dataset/mask``. ``mask_hole_value`` is the
    hole's value in the mask files (255: white = hole; 0: black = hole, the rest 255)."""
    from ..pixels import check_mask_hole_value, mask_file_u8

    try:
        check_mask_hole_value(mask_hole_value, "export --inputs: the mask's hole value")
    except ValueError as e:
        raise BenchError(str(e)) from None
    from ..config import load_suite
    from ..store.manifest import read_manifest
    from ..errors import CAUGHT, describe
    from ..pixels import blanked_digests, blanked_u8
    from ..fsio import case_collision_error, sample_filename
    from ..store.files import write_png
    from ..inputs import Prefetcher, prepare_item
    from ..keys import expand_cells
    from .plan import dataset_ids

    src = Path(source)
    if src.is_dir():
        resolved = src / "suite.resolved.yaml"
        if not resolved.is_file():
            raise BenchError(f"export: {src} is not a run folder (no suite.resolved.yaml)")
        suite = load_suite(resolved)
        if limit is None:
            try:
                limit = (read_manifest(src) or {}).get("limit")
            except BenchError:
                limit = None
    else:
        suite = load_suite(src)
        limit = limit if limit is not None else suite.limit
    out = _dest(dest)
    datasets = {}
    for s in suite.datasets:
        ds = s.create()
        ds.bind(resolution=suite.resolution, seed=suite.seed)
        datasets[s.label] = ds
    masks = {s.label: s.create() for s in suite.masks}
    seen: set[str] = set()
    counts: dict[str, int] = {}
    inputs: dict[str, dict[str, dict[str, Any]]] = {}
    errors: list[str] = []
    workers = suite.workers if suite.workers is not None else 2  # nothing is timed here
    prefetcher = Prefetcher(workers, max(4, 2 * workers))
    try:
        for c in expand_cells(suite):
            if c.input_key in seen:
                continue
            seen.add(c.input_key)
            ds, strategy, dl, ml = datasets[c.dataset.label], masks[c.mask.label], c.dataset.label, c.mask.label
            images, mask_dir = confined_dir(out, dl, ml, "images"), confined_dir(out, dl, ml, "masks")
            section = inputs.setdefault(dl, {}).setdefault(ml, {})
            ids = dataset_ids(dl, ds, limit)
            if (clash := case_collision_error(images, ids)) is not None:
                raise BenchError(f"export --inputs: datasets ({dl}): {clash}")

            def prepare(sid, ds=ds, strategy=strategy, dl=dl):
                return prepare_item(ds, strategy, dl, suite.seed, sid)

            for sid, item, exc in prefetcher.iterate(prepare, ids):
                if advance:
                    advance(1)
                if exc is not None:
                    errors.append(f"{dl}/{ml}/{sid}: {describe(exc)}")
                    continue
                try:
                    name = sample_filename(sid)
                    write_png(images / f"{name}.png", blanked_u8(item.image, item.mask))
                    write_png(mask_dir / f"{name}.png", mask_file_u8(item.mask.cpu().numpy(), mask_hole_value))
                except CAUGHT as e:
                    errors.append(f"{dl}/{ml}/{sid}: {describe(e)}")
                    continue
                section[sid] = blanked_digests(item.image, item.mask)
                counts[f"{dl}/{ml}"] = counts.get(f"{dl}/{ml}", 0) + 1
    finally:
        prefetcher.close()
    from .provenance import git_revision, package_versions

    _write_json(out / "inputs.json", {
        "format": INPUTS_FORMAT, "what": f"masked inputs (images/, hole = 128) and masks (masks/, hole = "
                                         f"{mask_hole_value}) by `bench export --inputs`",
        "mask_hole_value": mask_hole_value, "config_hash": suite.config_hash(), "seed": suite.seed,
        "resolution": suite.resolution, "limit": limit, "errors": errors, "inputs": inputs,
        # what made them, as a run's manifest records it: the same suite on other package versions (an image
        # library's resize, a mask generator) can make other pixels, which the SHA-256 above would then refuse
        "datasets": {s.label: s.canonical() for s in suite.datasets},
        "masks": {s.label: s.canonical() for s in suite.masks},
        "versions": package_versions(), "git": git_revision()})
    if errors:
        counts["errors"] = len(errors)
    return counts
