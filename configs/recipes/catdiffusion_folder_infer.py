"""Folder adapter for CATdiffusion (Nnn-s/CATdiffusion, ECCV 2024) -- UNVERIFIED: written against the repository
at commit b30ccbf from its source, never run (no GPU, no checkpoint on the machine that wrote it).

CATdiffusion has no image-folder inference entry point: ``dataset_infer.py --ckpt --output_dir --config`` runs
``OpenimagesBoxDataset`` over a hard-coded OpenImages list. This script reuses the repository's own pieces instead:
its ``OpenimagesDataset`` test branch (segmentation masks: image and mask resized to 512, CLIP crops at 224, a
16x16 mask grid), ``create_model`` / ``load_state_dict``, and the model's ``test_step`` (DDIM, 50 steps, eta 0,
guidance 7.5), which writes ``<root>/image/<mask stem>.png`` at 512 x 512. Outputs are copied to
``--output_dir/<stem>.png``.

Run it from the CATdiffusion folder, in its conda environment (old pytorch-lightning ``Trainer(gpus=...)``):

    python /path/to/inpaint-bench/configs/recipes/catdiffusion_folder_infer.py --ckpt CKPT \
        --config ./models/mldm_v15.yaml --image_dir IN --mask_dir MASKS --output_dir OUT --prompt "background"

CATdiffusion is a text-guided object *insertion* model; for removal benchmarks the prompt describes the
background (``--prompt``), which is a use outside what it was trained for: say so when you report it.
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the CATdiffusion checkout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--config", default="./models/mldm_v15.yaml")
    ap.add_argument("--image_dir", required=True)
    ap.add_argument("--mask_dir", required=True)
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--prompt", default="background")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--scale", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from dataset import OpenimagesDataset
    from mldm.model import create_model, load_state_dict

    pl.seed_everything(args.seed)
    images = sorted(p for p in Path(args.image_dir).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    items = [{"image": str(p), "mask_image": str(Path(args.mask_dir) / f"{p.stem}.png"), "label": args.prompt,
              "box": [0, 0, 1, 1], "box_id": p.stem, "image_id": p.stem} for p in images]
    ds = OpenimagesDataset.__new__(OpenimagesDataset)  # skip its __init__, which reads a fixed list file
    ds.mode, ds.data, ds.data2 = "test", items, []

    root = tempfile.mkdtemp(prefix="catdiffusion-")
    for sub in ("image", "text"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    model = create_model(args.config).cpu()
    model.load_state_dict(load_state_dict(args.ckpt, location="cpu"))
    model.eta, model.scale, model.ddim_steps = 0.0, args.scale, args.steps
    model.batch_size = 1  # test_step assumes full batches; the upstream loader drops the last partial one
    model.root_dir = root
    trainer = pl.Trainer(gpus=1 if torch.cuda.is_available() else 0)
    trainer.test(model, DataLoader(ds, batch_size=1, shuffle=False, num_workers=0))

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for p in images:
        src = Path(root) / "image" / f"{p.stem}.png"
        if src.exists():
            shutil.copy(src, out / f"{p.stem}.png")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
