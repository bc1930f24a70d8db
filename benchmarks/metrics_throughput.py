"""Metric throughput: inpaint-bench vs the reference tools run one after another, on the same numbers.

64 fixed images at 256 px (crops of scikit-image's photographs), a 16 % square hole each, filled by ``--cells``
different fills (OpenCV Telea, Navier-Stokes, a blurred fill: stand-ins for backends; not timed). For every cell both
sides produce psnr_in/out, ssim_in/out, lpips_in/out (masked maps), FID, KID and FID on hole crops against the
ground truth (reconstruction: the original image):

* inpaint-bench: the metric plug-ins on batches of 16 as the runner calls them (features written to a RunStore and
  the set-level numbers read back through ``bench.metrics.setlevel``); reference features come from the cache after
  the first cell.
* peers: torchmetrics PSNR and SSIM (full maps, then the masked mean), the ``lpips`` package (spatial maps, masked
  mean), clean-fid ``compute_fid`` / ``compute_kid`` on PNG folders (outputs, ground truth, and their hole crops)
  with the same feature extractor (``custom_feat_extractor``; ``compute_kid`` takes none, so its
  ``build_feature_extractor`` is pointed at the same one). Writing the PNG folders is not timed.

Both sides use the same networks: with ``--weights random`` (the default, offline) the LPIPS heads of the lpips
package on one random AlexNet and one random Kaiming-initialised Inception, shared by both sides;
``--weights pretrained`` resolves the real files through bench.weights.

    python benchmarks/metrics_throughput.py [--cells 2] [--threads N] [--device cpu]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

N_IMAGES, SIZE, BATCH = 64, 256, 16


def make_images(n: int = N_IMAGES, size: int = SIZE) -> torch.Tensor:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field(),
              data.immunohistochemistry(), data.retina()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        h, w = p.shape[:2]
        s = int(rng.integers(size, min(h, w) + 1))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        t = torch.from_numpy(np.ascontiguousarray(p[y:y + s, x:x + s, :3])).permute(2, 0, 1).float()[None] / 255
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", antialias=True,
                                            align_corners=False)
        if rng.random() < 0.5:
            t = t.flip(-1)
        out.append(t[0].clamp(0, 1))
    return torch.stack(out)


def make_masks(n: int = N_IMAGES, size: int = SIZE, frac: float = 0.16) -> torch.Tensor:
    rng = np.random.default_rng(1)
    side = int(round(size * frac ** 0.5))
    m = torch.zeros(n, 1, size, size, dtype=torch.bool)
    for i in range(n):
        y, x = rng.integers(0, size - side + 1, size=2)
        m[i, :, y:y + side, x:x + side] = True
    return m


def fill(images: torch.Tensor, masks: torch.Tensor, kind: str) -> torch.Tensor:
    import cv2

    out = []
    for img, m in zip(images, masks):
        a = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        mk = m[0].numpy().astype(np.uint8) * 255
        if kind == "blur":
            blurred = cv2.GaussianBlur(a, (0, 0), 12)
            r = np.where(mk[..., None] > 0, blurred, a)
        else:
            r = cv2.inpaint(a, mk, 5, cv2.INPAINT_TELEA if kind == "telea" else cv2.INPAINT_NS)
        out.append(torch.from_numpy(r).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def build_networks(weights: str, device: torch.device, weights_dir: str | None):
    from bench.metrics.features import build_inception
    from bench.metrics.lpips_metric import build_lpips

    lp, lp_prov = build_lpips("alex", weights, weights_dir, seed=0)
    ex = build_inception("clean", weights, weights_dir, device, seed=0)
    return lp.to(device), lp_prov, ex


# ---------------------------------------------------------------------------------------------------------------


def run_ours(cells, images, masks, lp, lp_prov, ex, device, cache_dir: Path, workdir: Path) -> tuple[float, dict]:
    from bench.metrics.fid import InceptionFeatures
    from bench.metrics.lpips_metric import LPIPS
    from bench.metrics.pixel import PSNR, SSIM
    from bench.metrics.setlevel import set_level_metrics
    from bench.store import RunStore
    from bench.types import EvalBatch, RunContext

    ctx = RunContext(device=device, weights="random", cache_dir=cache_dir)
    psnr, ssim = PSNR(), SSIM()
    lpm = LPIPS(crop=False)
    lpm.set_model(lp, lp_prov)
    lpm.setup(ctx)
    fid = InceptionFeatures(mode="clean", crop=True)
    fid.set_extractor(ex)
    fid.setup(ctx)
    parts = {"psnr": 0.0, "ssim": 0.0, "lpips": 0.0, "inception": 0.0, "store+setlevel": 0.0}
    results = {}
    t0 = time.perf_counter()
    with RunStore(workdir / "records.sqlite") as store:
        shared = fid.reference_features()  # the ground truth's features: stored once per dataset x mask
        for name, out in cells.items():
            store.add_generation(name, name, "photos", "box16", "photos.box16", {})
            store.add_scorer("metrics", "metrics", "metric", {})
            for s in range(0, len(images), BATCH):
                sl = slice(s, s + BATCH)
                inp, m, o = images[sl].to(device), masks[sl].to(device), out[sl].to(device)
                b = EvalBatch([f"{i:03d}" for i in range(s, s + len(inp))], o, o, inp, inp, m, inp,
                              torch.ones(len(inp), dtype=torch.bool), [(SIZE, SIZE)] * len(inp),
                              [(SIZE, SIZE)] * len(inp))
                vals: dict[str, np.ndarray] = {}
                feats: dict[str, np.ndarray] = {}
                with torch.inference_mode():
                    for key, metric in (("psnr", psnr), ("ssim", ssim), ("lpips", lpm), ("inception", fid)):
                        t = time.perf_counter()
                        r = metric.compute(b)
                        parts[key] += time.perf_counter() - t
                        for k, v in r.items():
                            (vals if np.ndim(v) == 1 else feats)[k] = v
                t = time.perf_counter()
                store.write_outputs(name, [{"sample_id": sid} for sid in b.sample_ids])
                store.write_scores(
                    name, [(sid, "metrics", {k: float(v[i]) for k, v in vals.items()}, None)
                           for i, sid in enumerate(b.sample_ids)],
                    [("metrics", sid, k, v[i]) for k, v in feats.items() if k not in shared
                     for i, sid in enumerate(b.sample_ids)],
                    [("photos.box16", "metrics", sid, k, v[i]) for k, v in feats.items() if k in shared
                     for i, sid in enumerate(b.sample_ids)])
                parts["store+setlevel"] += time.perf_counter() - t
            t = time.perf_counter()
            recs = store.records(name)
            res = {k: float(np.mean([r[k] for r in recs])) for k in ("psnr_in", "psnr_out", "ssim_in", "ssim_out",
                                                                      "lpips_in", "lpips_out")}
            res.update(set_level_metrics(store, name))
            parts["store+setlevel"] += time.perf_counter() - t
            results[name] = res
    total = time.perf_counter() - t0
    return total, {"parts": parts, "results": results}


def run_peers(cells, images, masks, lp_state, ex, device, workdir: Path) -> tuple[float, dict]:
    import cleanfid.fid as cf
    import lpips
    from PIL import Image
    from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    from bench.metrics.features import crop_boxes
    from bench.pixels import quantize

    ref_lp = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, spatial=True, verbose=False).eval()
    ref_lp.load_state_dict(lp_state)
    ref_lp = ref_lp.to(device)

    def fx(x):
        with torch.no_grad():
            return ex.fn(x.to(device)).float()

    # folders for clean-fid (not timed): outputs, ground truth, and hole crops of both
    boxes = crop_boxes(masks, 0.1, 32)

    def write(folder: Path, imgs: torch.Tensor, crop: bool):
        folder.mkdir(parents=True, exist_ok=True)
        q = quantize(imgs).to(torch.uint8)
        for i in range(len(q)):
            a = q[i]
            if crop:
                y0, y1, x0, x1 = boxes[i]
                a = a[:, y0:y1, x0:x1]
            Image.fromarray(a.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")

    write(workdir / "gt", images, False)
    write(workdir / "gt_crop", images, True)
    for name, out in cells.items():
        write(workdir / name, out, False)
        write(workdir / f"{name}_crop", out, True)

    kw = dict(mode="clean", num_workers=0, batch_size=BATCH, device=device, verbose=False)
    orig = cf.build_feature_extractor
    cf.build_feature_extractor = lambda *a, **k: fx
    parts = {"psnr": 0.0, "ssim": 0.0, "lpips": 0.0, "clean-fid": 0.0}
    results = {}
    t0 = time.perf_counter()
    try:
        for name, out in cells.items():
            acc: dict[str, list] = {k: [] for k in ("psnr_in", "psnr_out", "ssim_in", "ssim_out", "lpips_in",
                                                    "lpips_out")}
            for s in range(0, len(images), BATCH):
                inp, m, o = images[s:s + BATCH].to(device), masks[s:s + BATCH].to(device), out[s:s + BATCH].to(device)
                t = time.perf_counter()
                # torchmetrics PSNR takes no mask: per image on the hole's / the rest's pixels
                for i in range(len(inp)):
                    sel = m[i, 0]
                    acc["psnr_in"].append(float(tm_psnr(o[i][:, sel], inp[i][:, sel], data_range=1.0)))
                    acc["psnr_out"].append(float(tm_psnr(o[i][:, ~sel], inp[i][:, ~sel], data_range=1.0)))
                parts["psnr"] += time.perf_counter() - t
                t = time.perf_counter()
                for key, sel in (("ssim_in", m), ("ssim_out", ~m)):
                    _, full = tm_ssim(o, inp, data_range=1.0, return_full_image=True, reduction="none")
                    mp = full.mean(dim=1, keepdim=True)
                    acc[key].extend(((mp * sel).sum(dim=(1, 2, 3)) / sel.sum(dim=(1, 2, 3))).tolist())
                parts["ssim"] += time.perf_counter() - t
                t = time.perf_counter()
                with torch.no_grad():
                    for key, sel in (("lpips_in", m), ("lpips_out", ~m)):
                        mp = ref_lp(o, inp, normalize=True)
                        acc[key].extend(((mp * sel).sum(dim=(1, 2, 3)) / sel.sum(dim=(1, 2, 3))).tolist())
                parts["lpips"] += time.perf_counter() - t
            res = {k: float(np.mean(v)) for k, v in acc.items()}
            t = time.perf_counter()
            res["fid"] = cf.compute_fid(str(workdir / name), str(workdir / "gt"), custom_feat_extractor=fx, **kw)
            res["kid"] = cf.compute_kid(str(workdir / name), str(workdir / "gt"), **kw)
            res["fid_crop"] = cf.compute_fid(str(workdir / f"{name}_crop"), str(workdir / "gt_crop"),
                                             custom_feat_extractor=fx, **kw)
            parts["clean-fid"] += time.perf_counter() - t
            results[name] = res
    finally:
        cf.build_feature_extractor = orig
    total = time.perf_counter() - t0
    return total, {"parts": parts, "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=2, help="fills (backends) scored on the same samples (1-3)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="random", choices=["random", "pretrained"])
    ap.add_argument("--weights-dir", default=None)
    ap.add_argument("--peers-first", action="store_true", help="time the peers before inpaint-bench")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    import warnings

    warnings.filterwarnings("ignore")
    images = make_images()
    masks = make_masks()
    kinds = ["telea", "ns", "blur"][: max(1, min(3, args.cells))]
    cells = {k: fill(images, masks, k) for k in kinds}
    lp, lp_prov, ex = build_networks(args.weights, device, args.weights_dir)
    # warm-up both sides' networks once (first-call allocations), not timed
    with torch.inference_mode():
        ex.fn(torch.rand(2, 3, 299, 299, device=device) * 255)
        lp(images[:2].to(device), images[:2].to(device), normalize=True)
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        def ours_():
            return run_ours(cells, images, masks, lp, lp_prov, ex, device, td / "cache", td)

        def peers_():
            return run_peers(cells, images, masks, lp.state_dict(), ex, device, td / "peers")

        if args.peers_first:
            t_peer, peer = peers_()
            t_ours, ours = ours_()
        else:
            t_ours, ours = ours_()
            t_peer, peer = peers_()
    from _common import Printer, save

    print = Printer()  # noqa: A001 - every line is also saved with the results
    print(f"metrics throughput: {N_IMAGES} images x {len(cells)} cell(s), {SIZE}px, 16% hole, device {device}, "
          f"threads {torch.get_num_threads()}, weights {args.weights}, "
          f"{'peers' if args.peers_first else 'inpaint-bench'} timed first")
    print(f"  inpaint-bench: {t_ours:8.2f} s   " + ", ".join(f"{k} {v:.2f}" for k, v in ours["parts"].items()))
    print(f"  peers:         {t_peer:8.2f} s   " + ", ".join(f"{k} {v:.2f}" for k, v in peer["parts"].items()))
    print(f"  ratio (inpaint-bench / peers): {t_ours / t_peer:.3f}")
    print("  numbers (ours | peers):")
    for name in cells:
        o, p = ours["results"][name], peer["results"][name]
        print(f"    {name:6s} " + "  ".join(f"{k} {o[k]:.4g}|{p[k]:.4g}" for k in p))
    path = save(f"metrics_throughput_{len(cells)}cells", {
        "cells": len(cells), "ours_s": t_ours, "peers_s": t_peer, "ratio": t_ours / t_peer,
        "summary": {"inpaint-bench s": round(t_ours, 1), "peers s": round(t_peer, 1),
                    "ratio": round(t_ours / t_peer, 2)}}, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
