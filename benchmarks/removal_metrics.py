"""Cost of the reference-free removal metrics (``remove``, ``remove`` with ``crop``, ``cfd``, ``rcs``).

Prints, and writes to ``benchmarks/results/removal_metrics.json``:

* the full-size networks' parameter counts (built on the meta device: no weights, no memory) and input sizes;
* seconds per image of each metric on the tiny random networks the tests use (``removal_nets.TINY``), on
  scikit-image's astronaut at 256 px with an elliptic hole: the harness's own cost around the networks (resizes,
  windows, segment bookkeeping, transformers' mask-generation post-processing);
* with ``--full`` (on a GPU): the same with the full-size architectures on random weights, i.e. the real networks'
  cost (random weights change no shapes).

Usage: ``python benchmarks/removal_metrics.py [--full] [--repeat 3] [--threads 1]``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402


def params(net: str) -> int:
    from bench.metrics import removal_nets as N

    cfg_cls, model_cls = N._classes(N.NETS[net][1])
    with torch.device("meta"):
        model = model_cls(cfg_cls(**N.ARCH[net]))
    return sum(p.numel() for p in model.parameters())


def batch(device: torch.device):
    from PIL import Image, ImageDraw
    from skimage import data

    from bench.types import EvalBatch

    img = np.array(Image.fromarray(data.astronaut()).resize((256, 256), Image.BICUBIC))
    m = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(m).ellipse([80, 60, 170, 180], fill=255)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(device)
    k = torch.from_numpy(np.asarray(m) > 127)[None, None].to(device)
    return EvalBatch(sample_ids=["a"], output=x, raw=x, input=x, blanked=x, mask=k, gt=x,
                     has_gt=torch.zeros(1, dtype=torch.bool), raw_sizes=[(256, 256)], model_sizes=[(256, 256)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="full-size architectures (random weights); needs a GPU")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from bench.metrics import removal_nets as N
    from bench.metrics.cfd import CFD
    from bench.metrics.rcs import RCS
    from bench.metrics.remove import ReMOVE
    from bench.types import RunContext

    device = torch.device("cuda" if args.full and torch.cuda.is_available() else "cpu")
    if args.full and device.type != "cuda":
        raise SystemExit("--full needs a GPU")
    lines, results = [], {"params": {}, "seconds_per_image": {}, "size": "full" if args.full else "tiny",
                          "device": str(device)}
    for net, what in (("sam", "SAM ViT-H image encoder + prompt encoder + mask decoder"),
                      ("dinov2", "DINOv2 ViT-g/14")):
        n = params(net)
        results["params"][net] = n
        lines.append(f"{N.NETS[net][0]}: {n / 1e6:.0f} M parameters ({what})")
    cfg = None if args.full else {"sam": N.TINY["sam"], "dinov2": N.TINY["dinov2"]}
    ctx = RunContext(device=device, weights="random", seed=0)
    tiny = " (tiny random networks: the harness's cost around the networks)" if not args.full else ""
    lines.append(f"seconds per 256 px image on {device}{tiny}, {args.threads} thread(s), best of {args.repeat}:")
    metrics = {
        "remove": ReMOVE(config=cfg and {"sam": cfg["sam"]}),
        "remove_crop": ReMOVE(crop=True, config=cfg and {"sam": cfg["sam"]}),
        "cfd": CFD(config=cfg),
        "rcs": RCS(config=cfg and {"dinov2": cfg["dinov2"]}),
    }
    b = batch(device)
    for name, m in metrics.items():
        m.setup(ctx)
        m.compute(b)  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            m.compute(b)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        results["seconds_per_image"][name] = best
        lines.append(f"  {name:<12} {best:7.3f} s")
    for ln in lines:
        print(ln)
    save("removal_metrics" + ("_full" if args.full else ""), results, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
