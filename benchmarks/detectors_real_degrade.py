"""The weight-free detectors on the real corpus when the whole output went through a lossy pipeline step.

Many systems hand back a frame softer than the photograph they were given: a latent-diffusion model's VAE round
trip, a model that works at its own size (PowerPaint's 960 x 640 for a 2250 x 1500 photo, PixelHacker's 512 px)
mapped back to the input's, an output saved as JPEG. Pasted back (``paste_back: true``), such a fill sits in the
input's own, sharper pixels, and a detector that compares the fill's detail with the ring around it calls it a
smear although the model rendered the fill as sharply as anything else. A person looking at the output file sees
no smear. Since ``blur`` v5 the ring is read from the raw output wherever that still shows the input's picture
(``context: raw``, :meth:`bench.detectors.blur.BlurDetector.context_image`).

    python benchmarks/detectors_real_degrade.py --corpus /tmp/real-corpus [--max-side 512]

Every labelled output of the corpus (``datasets/prepare.py real-corpus``) is scored as ``detectors_real.py``
scores it, once as published and once after each step in :data:`STEPS` applied to the whole output at its own
size (the input and the mask untouched), with ``blur``'s ring read from the raw output (``raw``, the default) and
from the pasted output (``output``, blur v4). Printed per step and reading: on outputs labelled ``ok``, ``blur`` and
``replacement``, how many ``blur`` flags (and of them grain and fade flags); the ``ok`` outputs' verdicts that
stay ``ok``; verdict accuracy over all outputs. Removal rows (no truth) and reconstruction rows (the input is the
truth: ``blur`` also reads the truth's grain there, which a softened fill honestly lacks) apart, since only the
first can be helped by the raw context. Nothing is fitted. Output: ``benchmarks/results/detectors_real_degrade.json``.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the pipeline steps (name, kind, parameter): JPEG at a quality, a resize by a factor and back (area down, bicubic
#: up, as PIL's defaults for a model's input and a harness's output)
STEPS = (("as published", None, None), ("JPEG quality 60", "jpeg", 60), ("resize 1/2 and back", "resize", 0.5),
         ("resize 1/3 and back", "resize", 1 / 3))
READINGS = ("raw", "output")


def degrade(t, kind: str, value: float):
    """One output ([3, H, W] in [0, 1]) through a lossy step, as an 8-bit image; same size."""
    import numpy as np
    import torch
    from PIL import Image

    im = Image.fromarray((t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    if kind == "jpeg":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(value))
        im = Image.open(buf).convert("RGB")
    elif kind == "resize":
        w, h = im.size
        small = im.resize((max(8, round(w * value)), max(8, round(h * value))), Image.BOX)
        im = small.resize((w, h), Image.BICUBIC)
    else:
        raise ValueError(f"unknown step {kind!r}")
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255


def tally(recs: list[dict]) -> dict:
    """Per label: outputs, blur flags (grain, fade), ok verdicts; verdict accuracy (``detectors_real.right``)."""
    from detectors_real import right

    out: dict = {"n": len(recs)}
    for lab in ("ok", "blur", "replacement"):
        sub = [r for r in recs if r["label"] == lab]
        flags = lambda c: sum(1 for r in sub if r.get(c) == 1.0)  # noqa: E731
        out[lab] = {"n": len(sub), "blur_flag": flags("blur_flag"), "grain": flags("blur_grain_flag"),
                    "fade": flags("blur_fade_flag"), "verdict_ok": sum(1 for r in sub if r["verdict"] == "ok")}
    out["verdict_accuracy"] = round(sum(right(r["label"], r["verdict"]) for r in recs) / max(1, len(recs)), 3)
    return out


def main() -> int:
    from detectors_real import corpus_args, load_rows, score

    args = corpus_args(__doc__)
    from _common import Printer, save

    from bench.detectors.blur import RAW_CORR, BlurDetector

    print = Printer()  # noqa: A001
    rows = load_rows(args.corpus)
    print(f"blur v{BlurDetector.version} on {len(rows)} labelled real outputs, max side {args.max_side} px; the ring "
          f"read from the raw output where its luma correlates with the input's outside the hole >= {RAW_CORR:g} "
          f"(raw) or always from the pasted output (output)")
    res: dict = {"raw_corr": RAW_CORR, "steps": {}}
    for name, kind, value in STEPS:
        for reading in READINGS:
            t0 = time.perf_counter()
            tf = None if kind is None else (lambda t, k=kind, v=value: degrade(t, k, v))
            recs = score(args.corpus, rows, args.max_side, params={"blur": {"context": reading}}, raw_transform=tf)
            got = {task: tally([r for r in recs if (r.get("task") or "removal") == task])
                   for task in ("removal", "reconstruction")}
            res["steps"].setdefault(name, {})[reading] = got
            for task, g in got.items():
                cells = "  ".join(f"{lab} {g[lab]['n']:3d}: blur {g[lab]['blur_flag']:3d} (grain {g[lab]['grain']:3d}, "
                                  f"fade {g[lab]['fade']:2d}), ok verdict {g[lab]['verdict_ok']:3d}"
                                  for lab in ("ok", "blur", "replacement"))
                print(f"  {name:20s} {reading:6s} {task:14s} {cells}  verdict acc {g['verdict_accuracy']:.3f}")
            sys.stderr.write(f"  ({name}, {reading}: {time.perf_counter() - t0:.0f} s)\n")
    path = save("detectors_real_degrade", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
