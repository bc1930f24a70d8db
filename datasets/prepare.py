"""Lay out a downloaded dataset in the ``folder`` layout (images/, masks/, gt/) without copying pixels.

Two commands (links by default; ``--copy`` copies the files instead):

  LaMa's evaluation folders (``x.png`` beside ``x_mask000.png``, ``x_mask001.png``; searched recursively), one
  sample per mask, id = the mask's stem (``x_mask000``):

    python datasets/prepare.py lama  SRC_DIR  DST_DIR

  Any paired dataset (object photo, mask, clean background) kept in separate folders. Each ``--*-key`` is a regular
  expression whose first group extracts the shared sample key from a file name (default: the whole stem):

    python datasets/prepare.py pairs DST_DIR --images DIR --masks DIR [--gt DIR] \\
        [--image-key REGEX] [--mask-key REGEX] [--gt-key REGEX]

  Published model outputs with their inputs and masks, rebuilt from bare git copies of the repositories at pinned
  commits (datasets/real_corpus.py; the labels are datasets/real_corpus/corpus.csv):

    python datasets/prepare.py real-corpus --mirror-dir DIR --out OUT

Files whose key does not match stay out and are listed; samples missing a mask (or gt, when ``--gt`` is given)
are reported and skipped, so the resulting folder loads without pairing errors. Exit status 1 if nothing paired.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif")


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def _place(src: Path, dst: Path, copy: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if copy:
        shutil.copy2(src, dst)
    else:
        os.symlink(src.resolve(), dst)


def prepare_lama(src: Path, dst: Path, copy: bool = False) -> dict[str, int]:
    """LaMa layout -> folder layout. Returns counts."""
    files = _images_in(src, recursive=True)
    by_path = {p.with_suffix(""): p for p in files if "_mask" not in p.stem}
    n = missing = 0
    seen: set[str] = set()
    for m in files:
        if "_mask" not in m.stem:
            continue
        base = m.with_name(m.stem.rsplit("_mask", 1)[0])
        img = by_path.get(base)
        if img is None:
            print(f"skip {m}: no image {base}.<ext>", file=sys.stderr)
            missing += 1
            continue
        rel = m.relative_to(src).with_suffix("")
        sid = "__".join(rel.parts)  # unique across sub-folders, no path separators in ids
        if sid in seen:
            print(f"skip {m}: duplicate sample id {sid}", file=sys.stderr)
            continue
        seen.add(sid)
        _place(img, dst / "images" / f"{sid}{img.suffix.lower()}", copy)
        _place(m, dst / "masks" / f"{sid}{m.suffix.lower()}", copy)
        n += 1
    _describe(dst, "reconstruction", "LaMa evaluation layout (x.png + x_mask*.png): masks over original photos")
    return {"samples": n, "masks_without_image": missing}


def _describe(dst: Path, task: str, source: str) -> None:
    """``dataset.json``: tells the ``folder`` dataset what the masks are (``task``), so no suite has to."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "dataset.json").write_text(json.dumps({"task": task, "source": source}, indent=1) + "\n")


def _keyed(folder: Path, pattern: str | None, what: str) -> dict[str, Path]:
    rx = re.compile(pattern) if pattern else None
    out: dict[str, Path] = {}
    for p in _images_in(folder):
        if rx is None:
            key = p.stem
        else:
            m = rx.search(p.name)
            if not m:
                print(f"skip {p}: {what} name does not match {pattern!r}", file=sys.stderr)
                continue
            key = m.group(1) if m.groups() else m.group(0)
        if key in out:
            print(f"skip {p}: {what} key {key!r} already taken by {out[key]}", file=sys.stderr)
            continue
        out[key] = p
    return out


def prepare_pairs(dst: Path, images: Path, masks: Path, gt: Path | None = None, image_key: str | None = None,
                  mask_key: str | None = None, gt_key: str | None = None, copy: bool = False,
                  task: str | None = None) -> dict[str, int]:
    """Separate folders -> folder layout, pairing by an extracted key. Returns counts. ``task``: reconstruction or
    removal (default: removal with ``gt``; without it, say which)."""
    task = task or ("removal" if gt is not None else None)
    if task not in ("reconstruction", "removal"):
        raise SystemExit("pairs: say --task reconstruction (masks over original photos) or --task removal (masks "
                         "over objects; give --gt for clean backgrounds)")
    imgs = _keyed(images, image_key, "image")
    msks = _keyed(masks, mask_key, "mask")
    gts = _keyed(gt, gt_key, "gt") if gt is not None else {}
    n = skipped = 0
    for key, img in sorted(imgs.items()):
        if key not in msks or (gt is not None and key not in gts):
            lacking = "mask" if key not in msks else "gt"
            print(f"skip {img}: no {lacking} with key {key!r}", file=sys.stderr)
            skipped += 1
            continue
        _place(img, dst / "images" / f"{key}{img.suffix.lower()}", copy)
        _place(msks[key], dst / "masks" / f"{key}{msks[key].suffix.lower()}", copy)
        if gt is not None:
            _place(gts[key], dst / "gt" / f"{key}{gts[key].suffix.lower()}", copy)
        n += 1
    _describe(dst, task, f"pairs: images {images}, masks {masks}" + (f", gt {gt}" if gt else ""))
    return {"samples": n, "skipped": skipped, "unpaired_masks": len(set(msks) - set(imgs))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("lama", help="LaMa evaluation folder (x.png + x_maskNNN.png)")
    a.add_argument("src", type=Path)
    a.add_argument("dst", type=Path)
    a.add_argument("--copy", action="store_true")
    b = sub.add_parser("pairs", help="separate images/masks/gt folders paired by a key")
    b.add_argument("dst", type=Path)
    b.add_argument("--images", type=Path, required=True)
    b.add_argument("--masks", type=Path, required=True)
    b.add_argument("--gt", type=Path)
    b.add_argument("--image-key")
    b.add_argument("--mask-key")
    b.add_argument("--gt-key")
    b.add_argument("--copy", action="store_true")
    b.add_argument("--task", choices=["reconstruction", "removal"],
                   help="what the masks are (default: removal with --gt, else required)")
    c = sub.add_parser("real-corpus", help="published model outputs from their repositories (real_corpus.py)")
    c.add_argument("--mirror-dir", type=Path, required=True, help="bare git copies: DIR/<owner>+<name>[/repo]")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--sheets", type=Path, help="also write contact sheets (the labelling aid) into this folder")
    args = ap.parse_args(argv)
    if args.cmd == "real-corpus":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from real_corpus import build, contact_sheets

        counts = build(args.mirror_dir, args.out)
        if args.sheets:
            counts["sheets"] = len(contact_sheets(args.out, args.sheets))
        print(" ".join(f"{k}={v}" for k, v in counts.items()))
        return 0 if counts["outputs"] else 1
    if args.cmd == "lama":
        counts = prepare_lama(args.src, args.dst, args.copy)
    else:
        counts = prepare_pairs(args.dst, args.images, args.masks, args.gt, args.image_key, args.mask_key,
                               args.gt_key, args.copy, args.task)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0 if counts["samples"] else 1


if __name__ == "__main__":
    sys.exit(main())
