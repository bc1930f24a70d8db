"""Test-only plug-ins: a tiny deterministic dataset and misbehaving backends (registered on import)."""
from __future__ import annotations

import torch

from bench.backends.base import Backend
from bench.datasets.base import Dataset
from bench.registry import BACKENDS, DATASETS
from bench.seeding import derive_seed
from bench.types import Sample


@DATASETS.register("test-noise")
class NoiseDataset(Dataset):
    """Test: n smooth random images (seeded by id); optional own masks and clean gt."""

    def __init__(self, n: int = 6, size: int = 32, with_masks: bool = False, with_gt: bool = True):
        self.n, self.size, self.with_masks, self.with_gt = n, size, with_masks, with_gt
        self.gt_for_masks = with_gt if with_masks else None

    def ids(self) -> list[str]:
        return [f"n{i:03d}" for i in range(self.n)]

    def load(self, sample_id: str) -> Sample:
        if sample_id == "broken":
            raise OSError("cannot read broken.png")
        g = torch.Generator().manual_seed(derive_seed(self.seed, sample_id))
        s = self.size
        img = torch.nn.functional.interpolate(torch.rand(1, 3, s // 4, s // 4, generator=g), size=(s, s),
                                              mode="bilinear", align_corners=False)[0]
        if not self.with_masks:
            return Sample(sample_id, img)
        mask = torch.zeros(1, s, s, dtype=torch.bool)
        mask[:, s // 4: s // 2, s // 4: s // 2] = True
        gt = img.clone() if self.with_gt else None
        obj = torch.where(mask, torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1), img)
        return Sample(sample_id, obj, mask=mask, gt=gt)


@DATASETS.register("test-with-broken")
class BrokenItemDataset(NoiseDataset):
    """Test: like test-noise, with one unreadable item in the middle."""

    def ids(self) -> list[str]:
        ids = super().ids()
        return ids[:2] + ["broken"] + ids[2:]


CALLS: list[tuple[str, int]] = []  # (backend name, batch size) of every inpaint call
SEEN: list[torch.Tensor] = []  # what the spy backend was given
INTERRUPT_AFTER: list[int] = []  # when set, the spy raises KeyboardInterrupt after that many calls in total


@BACKENDS.register("test-spy")
class SpyBackend(Backend):
    """Test: records what it is given; returns the input (like identity)."""

    def inpaint(self, image, mask, generator):
        if INTERRUPT_AFTER and len(CALLS) >= INTERRUPT_AFTER[0]:
            raise KeyboardInterrupt("injected interruption")
        CALLS.append(("test-spy", image.shape[0]))
        SEEN.append(image.clone())
        return image.clone()


@BACKENDS.register("test-raises")
class RaisingBackend(Backend):
    """Test: always raises."""

    def inpaint(self, image, mask, generator):
        raise RuntimeError("model exploded")


@BACKENDS.register("test-nan")
class NaNBackend(Backend):
    """Test: returns NaN in the first sample of every batch."""

    def inpaint(self, image, mask, generator):
        out = image.clone()
        out[0] = float("nan")
        return out


@BACKENDS.register("test-resize")
class ResizingBackend(Backend):
    """Test: returns a half-size output (like PowerPaint's silent resize)."""

    def inpaint(self, image, mask, generator):
        return torch.nn.functional.interpolate(image, scale_factor=0.5, mode="bilinear", align_corners=False)


@BACKENDS.register("test-noisy")
class NoisyBackend(Backend):
    """Test: fills the hole with noise drawn from the per-sample generators."""

    deterministic = False

    def inpaint(self, image, mask, generator):
        noise = torch.stack([torch.rand(image.shape[1:], generator=g) for g in generator]).to(image)
        return torch.where(mask, noise, image)


@BACKENDS.register("test-setup-fails")
class SetupFailsBackend(Backend):
    """Test: its weights are missing."""

    def setup(self, ctx):
        from bench.errors import WeightsError

        raise WeightsError("missing /nowhere/model.ckpt")


@BACKENDS.register("test-hang")
class HangingBackend(Backend):
    """Test: hangs (sleeps) on every call after the first."""

    def __init__(self, seconds: float = 5.0):
        self.seconds = seconds
        self.calls = 0

    def inpaint(self, image, mask, generator):
        import time

        self.calls += 1
        if self.calls > 1:
            time.sleep(self.seconds)
        return image.clone()


@BACKENDS.register("test-chatty")
class ChattyBackend(Backend):
    """Test: prints to stdout on every call (like many research repos)."""

    def inpaint(self, image, mask, generator):
        print("loading something... step 1/50 ... done")
        return image.clone()


@DATASETS.register("test-slow-load")
class SlowLoadDataset(NoiseDataset):
    """Test: like test-noise, but each load burns CPU with torch's parallel ops (``work`` antialiased resizes of
    a 3 x 512 x 512 image), as datasets that resize large photographs do."""

    def __init__(self, n: int = 6, size: int = 32, work: int = 4):
        super().__init__(n=n, size=size)
        self.work = work

    def load(self, sample_id: str) -> Sample:
        a = torch.rand(1, 3, 512, 512)
        for _ in range(self.work):
            torch.nn.functional.interpolate(a, size=(300, 300), mode="bilinear", antialias=True)
        return super().load(sample_id)


@BACKENDS.register("test-fixed-work")
class FixedWorkBackend(Backend):
    """Test: a fixed amount of CPU work per image (``reps`` matrix products), output = input."""

    def __init__(self, reps: int = 10):
        self.reps = reps

    def inpaint(self, image, mask, generator):
        a = torch.full((256, 256), 0.01)
        for _ in range(self.reps * image.shape[0]):
            a = torch.tanh(a @ a)
        return image.clone() + 0 * a[0, 0]


HOSTILE_IDS = ["<b>&amp;", "100%", "a&b", "=cmd|' /C calc'!A0", "[/x]", "}\\input{/etc/passwd}%"]


@DATASETS.register("test-hostile-ids")
class HostileIdsDataset(NoiseDataset):
    """Test: sample ids full of markup, LaTeX, CSV-formula and HTML characters."""

    def ids(self) -> list[str]:
        return list(HOSTILE_IDS)


@BACKENDS.register("test-scribbler")
class ScribblingBackend(Backend):
    """Test: writes into the tensors it was given (image and mask), then returns a plain fill."""

    def inpaint(self, image, mask, generator):
        out = torch.where(mask, torch.full_like(image, 0.3), image)
        image.fill_(1.0)
        mask.fill_(False)
        return out


@BACKENDS.register("test-255")
class Range255Backend(Backend):
    """Test: returns values in 0..255 (a common convention bug)."""

    def inpaint(self, image, mask, generator):
        return image * 255.0


@BACKENDS.register("test-markup-error")
class MarkupErrorBackend(Backend):
    """Test: fails with a message that looks like rich markup."""

    def inpaint(self, image, mask, generator):
        raise OSError("cannot open [/opt/w.ckpt] or [bold]x[/bold]")
