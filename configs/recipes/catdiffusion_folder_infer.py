"""Folder adapter for CATdiffusion (Nnn-s/CATdiffusion, ECCV 2024).

Read against the repository at commit 1cadce5 (its newest; the first version of this adapter was written against
b30ccbf: of what it uses, only an assertion that ``stage`` is 1 or 2 came in between) and run end to end on CPU
with a tiny model built from ``models/mldm_v15.yaml`` shrunk, with random weights. Never run with the released
checkpoint.

CATdiffusion has no image-folder inference entry point: ``dataset_infer.py --ckpt --output_dir --config`` runs
``OpenimagesBoxDataset`` (box masks drawn from a list file at a fixed path of the authors' machine). This script
reuses the repository's own pieces instead: its ``OpenimagesDataset`` test branch (segmentation masks, white =
hole: image and mask resized to 512 x 512 with PIL's default filter, CLIP crops at 224, a 16 x 16 mask grid),
``create_model`` / ``load_state_dict``, and the model's ``test_step`` (DDIM, 50 steps, eta 0, guidance 7.5), which
writes ``<root>/image/<mask file stem>.png`` at 512 x 512. This script copies them to ``--output_dir/<stem>.png``.

What it does that ``dataset_infer.py`` does not, and why:

* sets ``model.stage = 2`` and ``model.fusion_model.stage = 2``. Nothing in the repository sets ``stage``, which
  ``MaskLDM.get_input`` and ``VisionFusionTransformer.forward`` read: without it ``test_step`` stops at once with
  ``AttributeError: 'MaskLDM' object has no attribute 'stage'`` (``dataset_infer.py`` as well). Stage 2 is the
  released model's (the last training stage), and only its branch pools the 16 x 16 grid to the 64 tokens the
  UNet is given in training (``mldm/mldm.py``: ``torch.zeros((batch_size, 8*8, 1024))``).
* gives the repository each mask under a name of its own, ``m000000.png``, ``m000001.png``, ...: ``test_step``
  names an output by its mask file's stem (only ``.png`` or ``.jpg`` is understood) and skips a batch whose
  ``<root>/image/<batch index>.png`` exists, so masks named ``1.png``, ``2.png``, ... would lose an image.
* batch size 1 without ``drop_last`` (``test_step`` assumes full batches; upstream drops the last partial one).
* ``--clip_version``: the config leaves both CLIP encoders at their default, a path on the authors' machine
  opened with ``local_files_only``; give ``openai/clip-vit-large-patch14`` (or a local copy) to override it.

Run it from the CATdiffusion folder, in its conda environment (pytorch-lightning 1.5.0, ``Trainer(gpus=...)``;
``ldm/models/autoencoder.py`` also imports ``taming``, which ``environment.yaml`` does not list), on a GPU: its
DDIM sampler (``mldm/ddim.py``) puts every buffer on CUDA.

    python /path/to/inpaint-bench/configs/recipes/catdiffusion_folder_infer.py --ckpt CKPT \
        --config ./models/mldm_v15.yaml --clip_version openai/clip-vit-large-patch14 \
        --image_dir IN --mask_dir MASKS --output_dir OUT --prompt "background"

CATdiffusion is a text-guided object *insertion* model; for removal benchmarks the prompt describes the
background (``--prompt``), which is a use outside what it was trained for: say so when you report it.
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

IMAGE_EXTS = (".png", ".jpg", ".jpeg")


def pair_folders(image_dir, mask_dir):
    """``[(stem, image, mask)]`` sorted by stem: each image ``<stem>.<ext>`` with the mask ``<stem>.png`` (or
    another image extension). A missing mask, or two images or masks of one stem, is an error that names them."""
    def by_stem(folder, what):
        found = {}
        for p in sorted(Path(folder).iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_EXTS:
                if p.stem in found:
                    raise SystemExit(f"two {what} files of one stem: {found[p.stem]} and {p}")
                found[p.stem] = p
        return found

    images, masks = by_stem(image_dir, "image"), by_stem(mask_dir, "mask")
    missing = [str(Path(mask_dir) / f"{s}.png") for s in images if s not in masks]
    if missing:
        raise SystemExit(f"no mask for {len(missing)} image(s): {', '.join(missing[:5])}")
    return [(s, images[s], masks[s]) for s in sorted(images)]


def stage_masks(pairs, root):
    """Copies each mask to ``<root>/masks/m{k:06d}.png`` (8-bit grayscale, as the dataset reads it) and returns
    those stems, the names ``test_step`` gives the outputs."""
    from PIL import Image

    folder = Path(root) / "masks"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for k, (_, _, mask) in enumerate(pairs):
        name = f"m{k:06d}"
        with Image.open(mask) as im:
            im.convert("L").save(folder / f"{name}.png")
        names.append(name)
    return names


def dataset_items(pairs, names, root, prompt):
    """The items ``OpenimagesDataset`` reads in its test branch (``box``, ``box_id``, ``image_id`` are read and
    not used there)."""
    return [{"image": str(image), "mask_image": str(Path(root) / "masks" / f"{name}.png"), "label": prompt,
             "box": [0.0, 0.0, 1.0, 1.0], "box_id": name, "image_id": stem}
            for (stem, image, _), name in zip(pairs, names)]


def collect_outputs(pairs, names, root, output_dir):
    """Copies ``<root>/image/<name>.png`` to ``<output_dir>/<stem>.png``; returns the stems with no output."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    missing = []
    for (stem, _, _), name in zip(pairs, names):
        src = Path(root) / "image" / f"{name}.png"
        if src.exists():
            shutil.copy(src, out / f"{stem}.png")
        else:
            missing.append(stem)
    return missing


def with_clip_version(config, version, root):
    """A copy of the model config with both CLIP encoders loaded from ``version``; the config itself if None."""
    if not version:
        return config
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(config)
    for key in ("cond_stage_config", "cond_stage_config2"):
        node = cfg.model.params[key]
        if node.get("params") is None:
            node.params = {}
        node.params.version = version
    path = os.path.join(root, "config.yaml")
    OmegaConf.save(cfg, path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--config", default="./models/mldm_v15.yaml")
    ap.add_argument("--clip_version", default=None,
                    help="where both CLIP encoders load from (the config's default is a path on the authors' machine)")
    ap.add_argument("--image_dir", required=True)
    ap.add_argument("--mask_dir", required=True)
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--prompt", default="background")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--scale", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    pairs = pair_folders(args.image_dir, args.mask_dir)
    sys.path.insert(0, os.getcwd())  # the CATdiffusion checkout
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from dataset import OpenimagesDataset
    from mldm.model import create_model, load_state_dict

    pl.seed_everything(args.seed)
    root = tempfile.mkdtemp(prefix="catdiffusion-")
    try:
        for sub in ("image", "text"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        names = stage_masks(pairs, root)
        ds = OpenimagesDataset.__new__(OpenimagesDataset)  # skip its __init__, which reads a fixed list file
        ds.mode, ds.data, ds.data2 = "test", dataset_items(pairs, names, root, args.prompt), []

        model = create_model(with_clip_version(args.config, args.clip_version, root)).cpu()
        model.load_state_dict(load_state_dict(args.ckpt, location="cpu"))
        model.stage = 2  # nothing in the repository sets it (see the module docstring)
        model.fusion_model.stage = 2
        model.eta, model.scale, model.ddim_steps = 0.0, args.scale, args.steps
        model.batch_size = 1  # test_step assumes full batches; the upstream loader drops the last partial one
        model.root_dir = root
        if not torch.cuda.is_available():
            print("catdiffusion_folder_infer: no CUDA device; CATdiffusion's mldm/ddim.py needs one",
                  file=sys.stderr)
        trainer = pl.Trainer(gpus=1 if torch.cuda.is_available() else 0)
        trainer.test(model, DataLoader(ds, batch_size=1, shuffle=False, num_workers=0))
        missing = collect_outputs(pairs, names, root, args.output_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if missing:
        raise SystemExit(f"CATdiffusion wrote no output for {len(missing)} image(s): {', '.join(missing[:5])}")


if __name__ == "__main__":
    main()
