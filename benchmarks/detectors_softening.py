"""A correct removal softened inside the hole (what a diffusion VAE round trip does to a fill): does `blur` flag it,
and does a person call it blurry?

    python benchmarks/detectors_softening.py [--n 16] [--seed 0] [--size 256] [--sheets DIR] [--labels CSV]

Each case is a crop of a photograph of the ``test`` split (scikit-learn's, Matplotlib's and the right motorcycle
view: never used to design a detector) with an object pasted in (an object-shaped cut of another photograph of
the split, :func:`bench.calibration.photos.object_mask`, as in :mod:`detectors_ghosts`) and masked with a 3-8 px
margin; the fill is the photograph without the object (a correct removal), Gaussian-softened inside the hole at each
sigma of ``SIGMAS`` (0: untouched). Scored as an object-removal set photographed once (reference-free, the shipped
thresholds, pasted back), as :mod:`detectors_ghosts` scores its cases. Printed per sigma: the share flagged `blur`,
and the share of each verdict.

``--sheets DIR`` writes the labelling aid: every case's output cropped around its hole (the hole's outline drawn
just outside it), in a shuffled order, with ``key.csv`` (which sigma each tile is: not for the labeller).
``--labels CSV`` (``tile,label`` with ``blurry`` or ``sharp``, from a person shown only the sheets) adds, per sigma,
the share a person calls blurry and how often the flag and the person agree.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the softening inside the hole (Gaussian sigma in px at 256 px; 0: the photograph as it is)
SIGMAS = (0.0, 0.6, 0.8, 1.2, 2.0)


def cases(n: int, seed: int, size: int, split: str = "test"):
    import cv2

    from bench.calibration.cases import Case, _q8
    from bench.calibration.photos import SPLITS, crop, load_photo, object_mask

    rng = np.random.default_rng([seed, sum(map(ord, split)), 7])
    photos = SPLITS[split]
    out = []
    for i in range(n):
        a, b = rng.choice(len(photos), 2, replace=False)
        bg = crop(rng, load_photo(photos[a]), size).astype(np.float32)
        other = crop(rng, load_photo(photos[b]), size).astype(np.float32)
        obj = object_mask(rng, size)
        inp = np.where(obj[..., None], other, bg)  # the object to remove: a cut of another photograph
        k = int(rng.integers(3, 9))
        hole = cv2.dilate(obj.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2)) > 0
        for s in SIGMAS:
            fill = bg if s == 0 else cv2.GaussianBlur(bg, (0, 0), s)
            o = _q8(np.where(hole[..., None], fill, inp))
            out.append(Case(f"sigma{s:g}", "removal", "object", inp, bg, hole, o, o, {}, (size, size), (size, size),
                            meta={"case": i, "sigma": s}))
    return out


def sheets(cs, out: Path, seed: int, pad: int = 12, scale: int = 2) -> int:
    """One PNG per case and sigma, cropped around the hole and enlarged, in a shuffled order; ``key.csv``."""
    import cv2
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng([seed, 99]).permutation(len(cs))
    with open(out / "key.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tile", "case", "sigma"])
        for t, j in enumerate(order):
            c = cs[j]
            ys, xs = np.nonzero(c.mask)
            y0, y1 = max(0, ys.min() - pad), min(c.mask.shape[0], ys.max() + pad + 1)
            x0, x1 = max(0, xs.min() - pad), min(c.mask.shape[1], xs.max() + pad + 1)
            img = (np.clip(c.output, 0, 1) * 255).round().astype(np.uint8)
            ring = cv2.dilate(c.mask.astype(np.uint8), np.ones((5, 5), np.uint8)) - cv2.dilate(
                c.mask.astype(np.uint8), np.ones((3, 3), np.uint8))
            img[ring > 0] = (255, 0, 255)  # the outline just outside the hole: the fill itself is untouched
            tile = Image.fromarray(img[y0:y1, x0:x1]).resize(((x1 - x0) * scale, (y1 - y0) * scale), Image.NEAREST)
            tile.save(out / f"tile{t:03d}.png")
            w.writerow([t, c.meta["case"], c.meta["sigma"]])
    return len(cs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="holes (each gets every softening)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--sheets", type=Path, help="write the labelling tiles and key.csv here")
    ap.add_argument("--labels", type=Path, help="tile,label (blurry/sharp) from a person shown only the tiles")
    ap.add_argument("--key", type=Path, help="the key.csv the tiles were written with (default: beside --labels)")
    args = ap.parse_args()
    from _common import Printer, save
    from detectors_ghosts import score

    from bench.detectors.thresholds import load_thresholds

    print = Printer()  # noqa: A001
    th = load_thresholds()
    cs = cases(args.n, args.seed, args.size)
    f = score(cs, False)
    f["sigma"] = [c.meta["sigma"] for c in cs]
    f["case"] = [c.meta["case"] for c in cs]
    print(f"correct removals softened inside the hole, test photographs, {args.n} holes, seed {args.seed}, "
          f"{args.size} px, thresholds v{th['version']} ({th['sha256'][:12]}), reference-free, pasted back")
    human: dict = {}
    if args.labels:
        key = {int(r["tile"]): (int(r["case"]), float(r["sigma"]))
               for r in csv.DictReader(open(args.key or args.labels.parent / "key.csv"))}
        for r in csv.DictReader(open(args.labels)):
            if r["label"] not in ("blurry", "sharp"):
                raise SystemExit(f"{args.labels}: tile {r['tile']}: label {r['label']!r} is not blurry or sharp")
            human[key[int(r["tile"])]] = r["label"] == "blurry"
    res: dict = {"thresholds_version": th["version"], "n": args.n, "seed": args.seed, "size": args.size,
                 "sigmas": {}}
    for s in SIGMAS:
        g = f[f.sigma == s]
        flagged = np.nan_to_num(g["blur_flag"].to_numpy(dtype=float)) > 0.5
        r = {"n": len(g), "blur_flagged": round(float(flagged.mean()), 3),
             "verdicts": {k: int(v) for k, v in sorted(g.verdict.value_counts().items())}}
        line = f"  sigma {s:<4g} blur flagged {r['blur_flagged']:.2f}  verdicts {r['verdicts']}"
        if human:
            h = np.asarray([human.get((int(c), s), np.nan) for c in g["case"]], dtype=float)
            ok = ~np.isnan(h)
            r["labelled"] = int(ok.sum())
            r["person_blurry"] = round(float(h[ok].mean()), 3) if ok.any() else None
            r["flag_agrees"] = round(float((flagged[ok] == (h[ok] > 0.5)).mean()), 3) if ok.any() else None
            line += f"  person: blurry {r['person_blurry']} ({r['labelled']} tiles), flag agrees {r['flag_agrees']}"
        res["sigmas"][f"{s:g}"] = r
        print(line)
    if args.sheets:
        print(f"labelling tiles: {sheets(cs, args.sheets, args.seed)} in {args.sheets}")
    path = save("detectors_softening", res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
