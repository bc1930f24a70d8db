"""Fake-but-plausible runs for the report tests (no model runs): a store built through RunStore's own API."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from bench.store.sqlite import RunStore
from tests.store_helpers import add_cell, write_records

BACKENDS = {  # name: (psnr_in mean, lpips_in mean, latency ms, blur probability, pastes back)
    "opencv-telea": (24.0, 0.12, 35.0, 0.10, True),
    "opencv-ns": (23.5, 0.13, 31.0, 0.15, True),
    "mean-fill": (18.0, 0.35, 2.0, 0.90, False),
}
COLUMNS = {
    "psnr_in": {"higher_is_better": True, "fmt": ".2f", "interval": True},
    "psnr_out": {"higher_is_better": True, "fmt": ".2f", "interval": True},
    "ssim_in": {"higher_is_better": True, "fmt": ".3f", "interval": True},
    "lpips_in": {"higher_is_better": False, "fmt": ".3f", "interval": True},
}


def cell_key(backend: str, dataset: str, mask: str) -> str:
    return f"{backend}--{dataset}--{mask}"


def half_labelled(frame, failure: str, path: Path) -> Path:
    """A labels file (the HTML report's export) for every output of ``frame``: ``failure`` where the sample number
    ends in 5-9, else good."""
    lines = ["run_id,cell,sample_id,label"]
    for c, sid in zip(frame["cell_key"], frame["sample_id"]):
        lines.append(f"run,{c},{sid},{failure if int(sid[1:]) % 10 >= 5 else 'good'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def make_run(
    run_dir: Path,
    backends=("opencv-telea", "opencv-ns", "mean-fill"),
    datasets=("samples", "synthetic"),
    masks=("lama-medium", "box"),
    n: int = 12,
    seed: int = 0,
    errors: dict[str, int] | None = None,
    shift: dict[str, float] | None = None,
    latency_scale: dict[str, float] | None = None,
    sample_ids=None,
    comparable: bool = True,
    reasons=(),
    run_id: str | None = None,
    config_hash: str = "abc123",
    sessions: bool = True,
    save_outputs: bool = False,
    size: int = 64,
    features: bool = False,
    values=None,
) -> Path:
    """Write ``records.sqlite`` + ``manifest.json`` into ``run_dir``.

    ``errors``: backend -> number of its samples (per cell) that fail. ``shift``: backend -> added to lpips_in
    (and subtracted ×20 from psnr_in). ``latency_scale``: backend -> latency multiplier. ``values``: a function
    (backend, dataset, sample id) -> more per-sample values (detector scores a test needs).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    errors = errors or {}
    shift = shift or {}
    latency_scale = latency_scale or {}
    store = RunStore(run_dir / "records.sqlite")
    ids = list(sample_ids) if sample_ids is not None else [f"s{i:03d}" for i in range(n)]
    for bi, b in enumerate(backends):
        p_in, lp, lat, pblur, paste = BACKENDS[b]
        for d in datasets:
            for m in masks:
                ck = cell_key(b, d, m)
                add_cell(store, ck, b, d, m, {"backend": {"type": b}, "dataset": d, "mask": m})
                rows = []
                for j, sid in enumerate(ids):
                    rng = np.random.default_rng([seed, bi, zlib.crc32(d.encode()) % 1000, zlib.crc32(m.encode()) % 1000,
                                                int(sid[1:] or 0)])  # stable across processes
                    sample_rng = np.random.default_rng([int(sid[1:] or 0), len(m)])  # same per sample: masks
                    hf = float(sample_rng.uniform(0.02, 0.49))
                    row = {"sample_id": sid, "hole_fraction": hf, "area_bin": int(min(9, hf * 10)),
                           "latency_ms": lat * latency_scale.get(b, 1.0) * float(rng.uniform(0.9, 1.1)),
                           "batch_size": 4}
                    if j < errors.get(b, 0):
                        row["error"] = f"BackendError: {b} exploded on {sid}"
                        row["values"] = {}
                    else:
                        dl = shift.get(b, 0.0)
                        blur = float(rng.uniform())
                        row["values"] = {
                            "psnr_in": p_in - 20 * dl + float(rng.normal(0, 1.5)) - 8 * hf,
                            "psnr_out": float("inf") if paste else 45.0 + float(rng.normal(0, 1)),
                            "ssim_in": float(np.clip(0.8 - hf + rng.normal(0, 0.05), 0, 1)),
                            "lpips_in": float(np.clip(lp + dl + 0.3 * hf + rng.normal(0, 0.02), 0, 1)),
                            "blur_score": blur,
                            "blur_flag": float(blur < pblur),
                        }
                        if values is not None:
                            row["values"].update(values(b, d, sid))
                    rows.append(row)
                feats = []
                if features:  # stored per-sample features (what an FID metric writes): outputs drift per backend
                    for r in rows:
                        if not r.get("error"):
                            frng = np.random.default_rng([bi, int(r["sample_id"][1:] or 0)])
                            feats.append((r["sample_id"], "feat_inception_ref", frng.normal(0, 1, 8)))
                            feats.append((r["sample_id"], "feat_inception",
                                          frng.normal(0.5 * bi, 1, 8).astype(np.float32)))
                write_records(store, ck, rows, feats)
                if save_outputs:
                    _save_images(run_dir, ck, b, d, m, rows, size)
                if sessions:
                    store.record_session(ck, "sess1", device="cpu", load_time_s=0.5 + bi, peak_mem_allocated=None,
                                         peak_mem_reserved=None, peak_rss=(300 + 50 * bi) * 1024 * 1024,
                                         n_computed=len(rows))
    store.close()
    manifest = {
        "run_id": run_id or run_dir.name, "config_hash": config_hash, "seed": seed, "device": {"type": "cpu"},
        "columns": COLUMNS, "comparable": comparable, "noncomparable_reasons": list(reasons),
        "metrics": {"psnr": {}, "ssim": {}, "lpips": {"net": "alex"}}, "detectors": {"blur": {"threshold": 0.5}},
        "backends": {b: {} for b in backends},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def _save_images(run_dir: Path, ck: str, backend: str, dataset: str, mask: str, rows, size: int) -> None:
    """What a run stores: generations/<cell>/<sid>.png; with save_inputs inputs/<input key>/<sid>_input/_mask/_gt."""
    from PIL import Image

    out_dir = run_dir / "generations" / ck
    in_dir = run_dir / "inputs" / f"{dataset}.{mask}"
    out_dir.mkdir(parents=True, exist_ok=True)
    in_dir.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for r in rows:
        sid = r["sample_id"]
        k = int(sid[1:] or 0)
        img = np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx + k)], -1)
        hole = np.zeros((size, size), bool)
        a = size // 4 + k % (size // 4)
        hole[size // 4:a + size // 4, size // 4:a + size // 4] = True
        out = img.copy()
        out[hole] = {"mean-fill": img.mean((0, 1)), "opencv-ns": [0.2, 0.6, 0.2]}.get(backend, [0.6, 0.3, 0.2])
        to8 = lambda x: Image.fromarray((np.clip(x, 0, 1) * 255).astype(np.uint8))  # noqa: E731
        if not r.get("error"):
            to8(out).save(out_dir / f"{sid}.png")
        Image.fromarray(hole.astype(np.uint8) * 255).save(in_dir / f"{sid}_mask.png")
        to8(img).save(in_dir / f"{sid}_input.png")
        if dataset != "samples":  # one dataset without ground truth: the report must cope
            to8(img).save(in_dir / f"{sid}_gt.png")
