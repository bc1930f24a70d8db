"""The CATdiffusion folder adapter (configs/recipes/catdiffusion_folder_infer.py) without the repository.

The adapter runs inside a CATdiffusion checkout. Here it runs inside a stand-in checkout written to a temporary
folder: ``dataset.py``, ``mldm/model.py`` and ``pytorch_lightning`` with the parts the adapter touches, each
transcribing what the original does (Nnn-s/CATdiffusion at commit 1cadce5d95c4a5121bf6a2f759435af052fc2ba1):

* ``dataset.py`` ``OpenimagesDataset.__getitem__``, test branch: reads ``mask_image``, ``label``, ``image``,
  ``box``, ``box_id``, ``image_id``; resizes image and mask to 512 x 512 (PIL's default filter); the SD input is
  ``image * (1 - mask / 255)`` (``mldm/util.py`` ``masking``, ``return_pil=False``) scaled to [-1, 1].
* ``mldm/mldm.py`` ``MaskLDM.get_input`` reads ``self.stage`` (set nowhere in the repository) and
  ``mldm/vision_fusion/mldm_attention.py`` ``VisionFusionTransformer.forward`` asserts ``self.stage in [1, 2]``;
  ``MaskLDM.test_step`` skips a batch when ``<root_dir>/image/<batch_idx * batch_size + i>.png`` or
  ``<root_dir>/image/<mask stem>.png`` exists, and writes ``<root_dir>/image/<mask stem>.png`` (stem by the regex
  ``([^/]+)\\.png$``, else ``([^/]+)\\.jpg$``). The stand-in writes the SD input back as the output, so a test can
  see which image and which mask reached each output.
* pytorch-lightning 1.5 ``Trainer(gpus=...).test(model, loader)``: ``test_step(batch, batch_idx)`` per batch.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ADAPTER = Path(__file__).parents[1] / "configs" / "recipes" / "catdiffusion_folder_infer.py"

DATASET = '''
import numpy as np
from PIL import Image
from torch.utils.data import Dataset


class OpenimagesDataset(Dataset):
    def __init__(self, mode=None):
        raise RuntimeError("reads openimages_validation.txt, which a folder run does not have")

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        assert self.mode == "test"
        item = self.data[idx]
        mask_filename, label, image_filename = item["mask_image"], item["label"], item["image"]
        box, box_id, image_id = item["box"], item["box_id"], item["image_id"]
        image = Image.open(image_filename).convert("RGB").resize((512, 512))
        mask = Image.open(mask_filename).convert("L").resize((512, 512))
        m = np.array(mask)[:, :, None] / 255.0
        masked_image_512 = np.array(image) * (1 - m) / 127.5 - 1.0
        return dict(masked_image_512=masked_image_512, txt=label, mask_filename=mask_filename)
'''

MODEL = '''
import os
import re

import numpy as np
import torch
from PIL import Image


class VisionFusionTransformer(torch.nn.Module):
    def forward(self):
        assert self.stage in [1, 2], "training stages should be in [1,2]"


class MaskLDM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fusion_model = VisionFusionTransformer()

    def get_input(self, batch):
        if self.stage == 1:
            raise AssertionError("stage 1 is the semantic inpainter's training stage")
        self.fusion_model()
        return batch["masked_image_512"]

    def test_step(self, batch, batch_idx):
        cnt = 0
        for i in range(self.batch_size):
            if os.path.exists(self.root_dir + "/image" + f"/{batch_idx * self.batch_size + i}.png"):
                cnt += 1
            mask_filename = batch["mask_filename"][i]
            try:
                mask_name = re.search(r"([^/]+)\\.png$", mask_filename).group(1)
            except AttributeError:
                mask_name = re.search(r"([^/]+)\\.jpg$", mask_filename).group(1)
            if os.path.exists(self.root_dir + "/image" + f"/{mask_name}.png"):
                cnt += 1
        if cnt == self.batch_size:
            return
        x = self.get_input(batch)
        assert (self.eta, self.scale, self.ddim_steps) == (0.0, 7.5, 50)
        out = ((x.numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        for i in range(self.batch_size):
            mask_name = re.search(r"([^/]+)\\.png$", batch["mask_filename"][i]).group(1)
            Image.fromarray(out[i]).save(self.root_dir + "/image" + f"/{mask_name}.png")
            with open(self.root_dir + "/text" + f"/{mask_name}.txt", "w") as fw:
                fw.write(batch["txt"][i])


def create_model(config_path):
    assert os.path.exists(config_path), config_path
    return MaskLDM()


def load_state_dict(ckpt_path, location="cpu"):
    assert os.path.exists(ckpt_path), ckpt_path
    return {}
'''

LIGHTNING = '''
import torch


def seed_everything(seed):
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, gpus=None):
        self.gpus = gpus

    def test(self, model, dataloaders):
        model.eval()
        with torch.no_grad():
            for batch_idx, batch in enumerate(dataloaders):
                model.test_step(batch, batch_idx)
'''


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "CATdiffusion"
    (repo / "mldm").mkdir(parents=True)
    (repo / "models").mkdir()
    (repo / "pytorch_lightning").mkdir()
    (repo / "dataset.py").write_text(textwrap.dedent(DATASET))
    (repo / "mldm" / "__init__.py").write_text("")
    (repo / "mldm" / "model.py").write_text(textwrap.dedent(MODEL))
    (repo / "pytorch_lightning" / "__init__.py").write_text(textwrap.dedent(LIGHTNING))
    (repo / "models" / "mldm_v15.yaml").write_text("model: {}\n")
    (repo / "test.ckpt").write_bytes(b"")
    return repo


# image stem, size (h, w), colour, hole rows and columns as fractions of the image
CASES = [("1", (96, 64), (200, 30, 30), (0.0, 0.5), (0.0, 0.5)),
         ("2", (80, 80), (30, 200, 30), (0.5, 1.0), (0.5, 1.0)),
         ("3", (64, 120), (30, 30, 200), (0.0, 0.5), (0.5, 1.0))]


def _folders(tmp_path: Path, cases=CASES) -> tuple[Path, Path]:
    img_dir, mask_dir = tmp_path / "input", tmp_path / "mask"
    img_dir.mkdir()
    mask_dir.mkdir()
    for stem, (h, w), colour, rows, cols in cases:
        Image.fromarray(np.full((h, w, 3), colour, np.uint8)).save(img_dir / f"{stem}.png")
        m = np.zeros((h, w), np.uint8)
        m[int(rows[0] * h):int(rows[1] * h), int(cols[0] * w):int(cols[1] * w)] = 255
        Image.fromarray(m).save(mask_dir / f"{stem}.png")
    return img_dir, mask_dir


def _run(repo: Path, img_dir: Path, mask_dir: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ADAPTER), "--ckpt", "test.ckpt", "--config", "./models/mldm_v15.yaml",
                           "--image_dir", str(img_dir), "--mask_dir", str(mask_dir), "--output_dir", str(out),
                           "--prompt", "background", "--seed", "0"],
                          cwd=repo, capture_output=True, text=True, timeout=120)


def test_every_image_comes_back_under_its_stem_from_its_own_image_and_mask(tmp_path):
    """Numbered stems (1, 2, 3) are what the upstream skip rule collides with: with masks handed over under
    their own names, the output of image 2 was never written (its batch index 1 found ``1.png``); and without
    ``stage`` set, ``test_step`` stops at once."""
    repo = _checkout(tmp_path)
    img_dir, mask_dir = _folders(tmp_path)
    out = tmp_path / "output"
    proc = _run(repo, img_dir, mask_dir, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["1.png", "2.png", "3.png"]
    for stem, _, colour, rows, cols in CASES:
        got = np.asarray(Image.open(out / f"{stem}.png").convert("RGB"))
        assert got.shape == (512, 512, 3)
        r0, r1, c0, c1 = (int(rows[0] * 512), int(rows[1] * 512), int(cols[0] * 512), int(cols[1] * 512))
        inner = np.zeros((512, 512), bool)  # away from the resized mask's soft edge
        inner[r0 + 8:r1 - 8, c0 + 8:c1 - 8] = True
        outer = np.ones((512, 512), bool)
        outer[max(r0 - 8, 0):r1 + 8, max(c0 - 8, 0):c1 + 8] = False
        assert (got[inner] == 0).all(), f"{stem}: its own mask's hole is white = hole"
        assert (np.abs(got[outer].astype(int) - colour) <= 1).all(), f"{stem}: its own image outside the hole"


def _adapter():
    spec = importlib.util.spec_from_file_location("catdiffusion_folder_infer", ADAPTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_missing_mask_is_named_before_the_model_is_built(tmp_path):
    img_dir, mask_dir = _folders(tmp_path)
    (mask_dir / "2.png").unlink()
    with pytest.raises(SystemExit, match=r"no mask for 1 image\(s\): .*2\.png"):
        _adapter().pair_folders(img_dir, mask_dir)


def test_two_images_of_one_stem_are_refused(tmp_path):
    img_dir, mask_dir = _folders(tmp_path)
    Image.new("RGB", (8, 8)).save(img_dir / "1.jpg")
    with pytest.raises(SystemExit, match=r"two image files of one stem"):
        _adapter().pair_folders(img_dir, mask_dir)
