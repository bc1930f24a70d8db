"""Regenerate datasets/tiny: a few small object-removal samples in the `folder` layout (images/, masks/, gt/).

    /work/venv/bin/python datasets/make_tiny.py            # writes datasets/tiny and datasets/tiny/manifest.json

The scenes come from bench.datasets.synthetic.make_scene (seeded), saved as 8-bit PNG. The manifest lists every
file with its size and SHA-256, the generator version and the seed, so a changed file is noticed (tests check it).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20260101
SIZE = 64
N = 4


def main(out: Path = HERE / "tiny") -> None:
    sys.path.insert(0, str(HERE.parent))
    from bench.datasets.synthetic import GENERATOR_VERSION, make_scene
    from bench.io import save_png
    from bench.seeding import rng_for

    families = ["gradient", "noise", "stripes", "fractal"]  # no photo crops: keeps the files tiny and licence-free
    files = []
    for i in range(N):
        sid = f"tiny-{i:02d}"
        scene = make_scene(rng_for(SEED, "tiny", sid), SIZE, objects=(1, 2), object_size=(0.2, 0.4),
                           textures=[families[i % len(families)]], shadows=0.5)
        for kind, t in (("images", scene.image), ("masks", scene.mask), ("gt", scene.gt)):
            p = save_png(out / kind / f"{sid}.png", t)
            files.append(p)
    manifest = {
        "name": "tiny",
        "description": "Synthetic object-removal scenes (objects composited on textured backgrounds); "
                       "masks: white = object = hole; gt: the clean background.",
        "generator": "bench.datasets.synthetic.make_scene",
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "size": SIZE,
        "count": N,
        "files": {str(p.relative_to(out)): {"bytes": p.stat().st_size,
                                             "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                  for p in sorted(files)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(v["bytes"] for v in manifest["files"].values())
    print(f"wrote {len(files)} files ({total / 1024:.1f} KiB) and manifest.json to {out}")


if __name__ == "__main__":
    main()
