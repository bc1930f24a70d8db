"""The real-output corpus: published inpainting outputs, with their inputs and masks, from public repositories.

``python datasets/prepare.py real-corpus --mirror-dir DIR --out OUT`` rebuilds it from bare git copies of the
repositories (``DIR/<owner>+<name>/repo``, what the ``fetch`` tool or ``git clone --bare`` gives), reading every
file at the commit pinned in :data:`SOURCES`. It writes

    OUT/<source>/images/<id>.png   the input (the photo with the object; a masked input where that is all there is)
    OUT/<source>/masks/<id>.png    the hole, white = hole (shipped, or recovered: see ``mask_recovery``)
    OUT/<source>/dataset.json      task: removal
    OUT/<source>-reconstruction/   the same for a source's reconstruction sets (free-form holes over the original
                                   photo: the input *is* the ground truth; ``task: reconstruction``)
    OUT/outputs/<model>/<dataset>/<id>.png  each system's output (the ``outputs`` backend, pattern
                                            ``{dataset}/{sample}.png``, the dataset being one of the folders above)
    OUT/corpus.csv                 one row per output: provenance, licence, mask recovery, and the label by eye

The labels and the split come from ``datasets/real_corpus/corpus.csv`` (committed; no image is, see
datasets/README.md). A source and a model are wholly in one split (:data:`SPLIT`).
"""
from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

HERE = Path(__file__).resolve().parent
LABELS_CSV = HERE / "real_corpus" / "corpus.csv"
COLUMNS = ("output_id", "sample_id", "source", "repo", "commit", "path", "input_path", "licence", "model",
           "mask_recovery", "label", "split", "notes")
LABELS = ("ok", "replacement", "blur", "incomplete", "other", "ambiguous")


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    licence: str  # the repository's LICENSE; the photographs inside carry their own terms (not shipped)


SOURCES: dict[str, Source] = {
    "migan": Source("Picsart-AI-Research/MI-GAN", "ca4df2ebd1d2c657896a0fac33c7daff6f5d94e6", "MIT"),
    "cmgan": Source("htzheng/CM-GAN-Inpainting", "371104de7a8898dad80091524648571e88cc6cc7", "Apache-2.0"),
    "ia-remove": Source("geekyutao/Inpaint-Anything", "3879750d7bc8af303c46333cd8c58a4866e8bcbe", "Apache-2.0"),
    "ia-fill": Source("geekyutao/Inpaint-Anything", "3879750d7bc8af303c46333cd8c58a4866e8bcbe", "Apache-2.0"),
    "deepfill": Source("JiahuiYu/generative_inpainting", "3a5324373ba52c68c79587ca183bc10b9e57b783", "CC-BY-NC-4.0"),
    "iopaint": Source("Sanster/IOPaint", "205286a414795f4da3bdbdfc8c71d1fc20f2c340", "Apache-2.0"),
    "hdpainter": Source("Picsart-AI-Research/HD-Painter", "d452186b59dccb755267fce51203daf459197e2c", "MIT"),
    "crfill": Source("zengxianyu/crfill", "c0dfdd47fdacd086bd69d60f33f992f7b5bae20f", "CC-BY-NC-4.0"),
    "omnieraser": Source("PRIS-CV/Omnieraser", "7b4e8988b9f2bf56186080de3cfca896e0be0f69", "none stated"),
    "brushedit": Source("TencentARC/BrushEdit", "3d4a5480e9208f1aed576f5136b95a876316b7a6",
                        "Tencent BrushEdit licence (Apache-2.0 terms; not in the EU)"),
    "remove-anything": Source("Zeqiang-Lai/Remove-Anything", "254c217e85e1093a0a036361950cb76b5bea8527",
                              "none stated"),
    "sd-fox": Source("poorya96/Object-Removal-Using-OpenCV---Stable-Diffusion",
                     "f6472312f6318c0003e62bf66f34d78b6b5e1a22", "MIT"),
    "objectclear": Source("zjx0101/ObjectClear", "7e2add929dde0d8447f332ef58139b1ccda37b38", "none stated"),
    "kolors": Source("Kwai-Kolors/Kolors", "0fafa56a76b7acf1e147b153d1e7b8fd65f9055b",
                     "Apache-2.0 (code; the model has its own licence)"),
    "comfyui": Source("comfyanonymous/ComfyUI_examples", "f9431bb000ce792094ff345446e22cac1ea6cef3",
                      "0BSD-style (LICENSE)"),
    "simple-lama": Source("enesmsahin/simple-lama-inpainting", "0790c455160991a6a1417723a68d3d48e3c859e5",
                          "Apache-2.0"),
    "paris-lama": Source("Jessseee/semantic-object-removal", "4566c8a1de44eeb5c0ce2d790709ded954bdde60", "MIT"),
}
#: split by source: LaMa is in cmgan, ia-remove and iopaint, so those are all on one side (dev); Inpaint-Anything's
#: two sources are one repository, so both are on it too
#: swapped once (issue 25 item 2): the first dev (MI-GAN, DeepFill, HD-Painter) held 6 subtle smears, too few to
#: design on; see docs/detectors.md, "Real outputs"
#: ``fresh``: a source added (2026-12-06) after the detectors of that day were frozen, labelled by eye before any
#: detector ran on it, and scored once: the check on a system the detectors were never shaped on
#: ``fresh-diffusion``: four repositories of mostly diffusion removals added the next stop (2026-12-06, stop 34),
#: found for being what the detectors are least tried on (a FLUX.1 eraser regenerating the whole picture, BrushNet on
#: SD 1.5, SD inpainting, an LDM; with LaMa, MAT and FcF on the same photograph), labelled by two labellers before
#: any detector ran on them and scored once with the detectors of that stop. New repositories and photographs;
#: two of its models had outputs from other repositories in dev (LaMa, Stable Diffusion inpainting)
#: ``fresh-figure``: five diffusion erasers side by side in ObjectClear's teaser figure (PowerPaint, Attentive
#: Eraser, DesignEdit, RORem, ObjectClear; two inputs), cut from the figure, added and labelled after
#: fresh-diffusion was scored, scored once
#: ``fresh-insertions``: four repositories found after fresh-figure was scored (stop 35): prompted objects painted
#: into a hole by Kolors, SDXL, SD 2 inpainting, Anything-V3, FLUX.1 Fill and Stable Cascade, and two LaMa
#: removals (an illustration, a street photograph); labelled by two labellers before any detector ran, scored once
SPLIT: dict[str, str] = {"cmgan": "dev", "ia-remove": "dev", "ia-fill": "dev", "iopaint": "dev",
                         "migan": "test", "deepfill": "test", "hdpainter": "test", "crfill": "fresh",
                         "omnieraser": "fresh-diffusion", "brushedit": "fresh-diffusion",
                         "remove-anything": "fresh-diffusion", "sd-fox": "fresh-diffusion",
                         "objectclear": "fresh-figure", "kolors": "fresh-insertions",
                         "comfyui": "fresh-insertions", "simple-lama": "fresh-insertions",
                         "paris-lama": "fresh-insertions"}
#: the splits in the order results report them (the design split, the check, then the fresh ones as they came)
SPLITS = ("dev", "test", "fresh", "fresh-diffusion", "fresh-figure", "fresh-insertions")
CMGAN_PANELS = ("ProFill", "LaMa", "CoModGAN", "CM-GAN")  # after the masked input, left to right (README figure)


# ------------------------------------------------------------------------------------------------------------
# extraction (pure functions on arrays: tested on generated stand-ins)
# ------------------------------------------------------------------------------------------------------------
def magenta_mask(img: np.ndarray, tol: int = 70, close: int = 2) -> np.ndarray:
    """The hole of a masked input painted magenta (255, 0, 255), as CM-GAN's figures show it: pixels within
    ``tol`` of magenta on every channel (JPEG moves them), holes inside filled and a ``close``-pixel closing to
    catch the ringing at the edge. ``img`` uint8 [H, W, 3]; returns bool [H, W]."""
    a = img.astype(np.int16)
    hit = (a[..., 0] >= 255 - tol) & (a[..., 1] <= tol) & (a[..., 2] >= 255 - tol)
    if close:
        hit = ndimage.binary_dilation(hit, iterations=close)
    return ndimage.binary_fill_holes(hit)


def split_panels(img: np.ndarray, n: int, bg_level: int = 245) -> list[np.ndarray]:
    """Cut a side-by-side figure into ``n`` panels. Columns that are blank (near white, or transparent in an RGBA
    figure) over the whole height are gaps; without gaps the width is cut into ``n`` equal parts."""
    h, w = img.shape[:2]
    blank = (img[..., :3].min(axis=2) >= bg_level).all(axis=0)
    if img.shape[2] == 4:
        blank |= (img[..., 3] == 0).all(axis=0)
    runs: list[tuple[int, int]] = []  # content column runs
    x = 0
    while x < w:
        if blank[x]:
            x += 1
            continue
        x0 = x
        while x < w and not blank[x]:
            x += 1
        runs.append((x0, x))
    if len(runs) == n:
        return [img[:, a:b, :3] for a, b in runs]
    if w % n:
        raise ValueError(f"figure of width {w} has {len(runs)} content runs and cannot be cut into {n} equal panels")
    step = w // n
    return [img[:, i * step:(i + 1) * step, :3] for i in range(n)]


def overlay_mask(with_overlay: np.ndarray, original: np.ndarray, color: tuple[int, int, int] = (30, 144, 255),
                 alpha: float = 0.6, tol: int = 30, min_area: float = 0.002) -> np.ndarray:
    """The hole drawn as a translucent overlay of ``color`` at ``alpha`` on the photo (Inpaint-Anything's
    ``with_mask.png``, drawn by its ``utils.show_mask``): pixels within ``tol`` of ``(1 - alpha) * photo + alpha *
    color`` on every channel and further than ``tol`` from the photo, opened by one pixel (JPEG speckle), holes
    filled (the click marker drawn inside) and components smaller than ``min_area`` of the frame dropped."""
    ov = with_overlay[..., :3].astype(np.float32)
    org = original[..., :3].astype(np.float32)
    blend = (1 - alpha) * org + alpha * np.asarray(color, np.float32)
    hit = (np.abs(ov - blend).max(axis=2) <= tol) & (np.abs(ov - org).max(axis=2) > tol)
    hit = ndimage.binary_fill_holes(ndimage.binary_opening(hit))
    lab, n = ndimage.label(hit)
    if n:
        sizes = ndimage.sum(hit, lab, index=np.arange(1, n + 1))
        keep = np.flatnonzero(sizes >= min_area * hit.size) + 1
        hit = np.isin(lab, keep)
    return hit


def tint_mask(tinted: np.ndarray, result: np.ndarray, thr: int = 40, open_: int = 2) -> np.ndarray:
    """The hole drawn as a red tint on the input (HD-Painter's figures), given the result beside it: where the
    tinted input is redder (R - max(G, B)) than the result by more than ``thr``, opened and with holes filled."""
    def redness(a: np.ndarray) -> np.ndarray:
        a = a[..., :3].astype(np.int16)
        return a[..., 0] - np.maximum(a[..., 1], a[..., 2])

    hit = (redness(tinted) - redness(result)) > thr
    if open_:
        hit = ndimage.binary_opening(hit, iterations=open_)
    return ndimage.binary_fill_holes(hit)


#: OmniEraser's project page draws the hole as an exact half-and-half blend of the photo with this colour
OMNI_TINT = (179, 0, 0)


def blend_mask(tinted: np.ndarray, result: np.ndarray, colour: tuple[int, int, int] = OMNI_TINT, thr: int = 25,
               red_thr: int = 40, slack: float = 1.5, speck: float = 5e-4, grow: int = 2) -> np.ndarray:
    """The hole drawn as ``(photo + colour) / 2`` on the photo (OmniEraser's ``static/images/input``), given the
    result beside it: pixels where un-blending (``2 * tinted - colour``) gives a valid colour (within ``slack`` of
    [0, 255] on every channel: the blend was rounded to 8 bits, so a white pixel un-blends to 256), the tinted input
    differs from the result by more than ``thr`` on some channel and is redder (R - max(G, B)) than the result by
    more than ``red_thr`` (the shadows the model also removes outside the hole are darker, not redder); opened 2 px,
    closed 2 px, holes smaller than ``speck`` of the frame filled (a mask's own gaps, between a giraffe's legs,
    stay), then grown by ``grow`` px over the tint's soft edge."""
    t = tinted[..., :3].astype(np.float32)
    res = result[..., :3].astype(np.float32)
    un = 2 * t - np.asarray(colour, np.float32)
    valid = ((un >= -slack) & (un <= 255 + slack)).all(axis=2)

    def redness(a: np.ndarray) -> np.ndarray:
        return a[..., 0] - np.maximum(a[..., 1], a[..., 2])

    hit = valid & (np.abs(t - res).max(axis=2) > thr) & (redness(t) - redness(res) > red_thr)
    hit = ndimage.binary_closing(ndimage.binary_opening(hit, iterations=2), iterations=2)
    gaps, n = ndimage.label(~hit)
    if n:
        sizes = ndimage.sum(~hit, gaps, index=np.arange(1, n + 1))
        hit |= np.isin(gaps, np.flatnonzero(sizes < speck * hit.size) + 1)
    # the tint's edge is drawn soft: a rim of part-tinted pixels, too pale for the tests above, would stay in the
    # photo (and so in a pasted-back output) as a red outline: the hole is grown over it
    return ndimage.binary_dilation(hit, iterations=grow) if grow else hit


def unblend(tinted: np.ndarray, m: np.ndarray, colour: tuple[int, int, int] = OMNI_TINT) -> np.ndarray:
    """The photo under a :func:`blend_mask` tint: ``2 * tinted - colour`` on the hole (one bit lost), as is
    elsewhere."""
    t = tinted[..., :3].astype(np.float32)
    un = np.clip(2 * t - np.asarray(colour, np.float32), 0, 255)
    return np.where(m[..., None], un, t).round().astype(np.uint8)


def outline_mask(shown: np.ndarray, green: int = 60, grow: int = 2) -> np.ndarray:
    """The hole drawn as a green outline over a green tint (ObjectClear's figure): the outline's pixels (G - max(R,
    B) > ``green`` and G > 140), closed 2 px, its inside filled, the largest region kept, grown ``grow`` px over
    the line's soft edge."""
    a = shown[..., :3].astype(np.int16)
    line = ((a[..., 1] - np.maximum(a[..., 0], a[..., 2])) > green) & (a[..., 1] > 140)
    hit = ndimage.binary_fill_holes(ndimage.binary_closing(line, iterations=2))
    lab, n = ndimage.label(hit)
    if not n:
        return hit
    hit = lab == 1 + int(np.argmax(ndimage.sum(hit, lab, index=np.arange(1, n + 1))))
    return ndimage.binary_dilation(hit, iterations=grow) if grow else hit


def true_runs(v: np.ndarray, least: int = 50) -> list[tuple[int, int]]:
    """The runs (start, stop) of True in ``v`` at least ``least`` long."""
    d = np.diff(np.concatenate([[0], v.astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)) if b - a >= least]


def grid_panels(fig: np.ndarray, white: int = 235) -> list[list[tuple[int, int, int, int]]]:
    """The panels of a figure on a white page: bands of rows that are not all white, and in each band the runs of
    columns that are not (``(top, bottom, left, right)`` per panel, rows of panels top to bottom)."""
    blank = fig[..., :3].min(axis=2) > white
    out = []
    for r0, r1 in true_runs(blank.mean(axis=1) < 0.9):
        out.append([(r0, r1, c0, c1) for c0, c1 in true_runs(blank[r0:r1].mean(axis=0) < 0.9)])
    return out


def register(ref: np.ndarray, fig: np.ndarray, top: int, left: int, keep: np.ndarray, reach: int = 6
             ) -> tuple[int, int]:
    """The shift (dy, dx), within ``reach`` px, at which ``fig``'s window of ``ref``'s size at (top, left) best
    matches ``ref``: the correlation of their gradient energies (luma, σ 1.5) over ``keep`` (away from the hole:
    each panel of a figure is scaled on its own, a pixel or two apart)."""
    import cv2

    def energy(x: np.ndarray) -> np.ndarray:
        y = cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(x[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32),
                             (0, 0), 1.5)
        return (cv2.Sobel(y, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(y, cv2.CV_32F, 0, 1) ** 2)[keep]

    keep = keep.copy()
    keep[:reach + 2], keep[-reach - 2:], keep[:, :reach + 2], keep[:, -reach - 2:] = False, False, False, False
    # (a window shifted off its panel shows the white page at its edges: never compared)
    g, (h, w) = energy(ref), ref.shape[:2]
    best = (-2.0, 0, 0)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            y0, x0 = top + dy, left + dx
            if y0 < 0 or x0 < 0 or y0 + h > fig.shape[0] or x0 + w > fig.shape[1]:
                continue
            c = float(np.corrcoef(g, energy(fig[y0:y0 + h, x0:x0 + w]))[0, 1])
            if c > best[0]:
                best = (c, dy, dx)
    return best[1], best[2]


def binary_mask(img: np.ndarray) -> np.ndarray:
    """A shipped mask (white = hole; an RGBA mask's colour channels), as bool [H, W]."""
    a = img if img.ndim == 2 else img[..., :3].max(axis=2)
    return a > 127


# ------------------------------------------------------------------------------------------------------------
# reading the repositories
# ------------------------------------------------------------------------------------------------------------
class Repo:
    """Files of a bare git copy at one commit."""

    def __init__(self, mirror_dir: Path, source: Source):
        base = Path(mirror_dir) / source.repo.replace("/", "+")
        self.git_dir = base / "repo" if (base / "repo").is_dir() else base
        if not self.git_dir.is_dir():
            raise SystemExit(f"real-corpus: no copy of {source.repo} at {base} (fetch it, or git clone --bare "
                             f"https://github.com/{source.repo} {base}/repo)")
        self.commit = source.commit
        self.repo = source.repo
        self._ls: dict[str, list[str]] = {}

    def ls(self, prefix: str) -> list[str]:
        """Files under ``prefix`` at the pinned commit (asked of git once per prefix: the readers look up each
        output's input in the same folder)."""
        if prefix not in self._ls:
            self._ls[prefix] = self._ls_tree(prefix)
        return list(self._ls[prefix])

    def _ls_tree(self, prefix: str) -> list[str]:
        r = subprocess.run(["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "--name-only", self.commit,
                            prefix], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"real-corpus: {self.repo} at {self.commit}: {r.stderr.strip()} (fetch a newer copy)")
        return sorted(r.stdout.split())

    def image(self, path: str) -> np.ndarray:
        r = subprocess.run(["git", "--git-dir", str(self.git_dir), "show", f"{self.commit}:{path}"],
                           capture_output=True)
        if r.returncode:
            raise SystemExit(f"real-corpus: {self.repo}@{self.commit[:7]}: cannot read {path}: "
                             f"{r.stderr.decode(errors='replace').strip()}")
        im = Image.open(io.BytesIO(r.stdout))
        return np.asarray(im.convert("RGBA") if im.mode in ("RGBA", "LA", "P") else im.convert("RGB"))


@dataclass
class Item:
    """One output with its input and mask, before it is written."""

    source: str
    sample_id: str
    model: str
    image: np.ndarray  # uint8 [H, W, 3]
    mask: np.ndarray  # bool [H, W]
    output: np.ndarray  # uint8 [H, W, 3]
    path: str  # the output's path in the repository
    input_path: str
    mask_recovery: str
    notes: str = ""
    #: "removal" (a hole over an object, or over what only a masked input shows) or "reconstruction" (a free-form
    #: hole over the original photo, which is then the ground truth: scored as a user's reconstruction set would be)
    task: str = "removal"


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a[..., :3])


def items_migan(r: Repo) -> list[Item]:
    out = []
    for p in r.ls("examples/"):
        parts = p.split("/")
        if len(parts) != 5 or parts[2] != "results" or parts[3] != "migan":
            continue
        setname, stem = parts[1], Path(parts[4]).stem
        imgs = [q for q in r.ls(f"examples/{setname}/images/") if Path(q).stem == stem]
        mask_p = f"examples/{setname}/masks/{stem}.png"
        if not imgs:
            continue
        # MI-GAN's README: object masks are run with --invert-mask (white = the object, the hole); its free-form
        # masks without it (white = known, black = hole: the model keeps real * mask)
        obj = "object" in setname
        m = binary_mask(r.image(mask_p))
        if not obj:
            m = ~m
        out.append(Item("migan", f"migan__{setname}__{stem}", "MI-GAN", _rgb(r.image(imgs[0])), m,
                        _rgb(r.image(p)), p, imgs[0],
                        f"shipped ({mask_p}, " + ("white = hole)" if obj else "black = hole: white is kept)"),
                        "object hole" if obj else "free-form hole", "removal" if obj else "reconstruction"))
    return out


def items_cmgan(r: Repo) -> list[Item]:
    out = []
    for p in r.ls("figures/"):
        name = Path(p).name
        if not (name[0].isdigit() or name.startswith("Places365_val")):
            continue
        fig = r.image(p)
        panels = split_panels(fig, 1 + len(CMGAN_PANELS))
        masked = panels[0]
        m = magenta_mask(masked)
        sid = f"cmgan__{Path(p).stem}"
        for model, panel in zip(CMGAN_PANELS, panels[1:]):
            out.append(Item("cmgan", sid, model, masked, m, panel, f"{p}#panel{CMGAN_PANELS.index(model) + 1}",
                            f"{p}#panel0", "magenta of the masked input (panel 0), closed 2 px, holes filled",
                            "input is the masked input: the photo under the hole is not published"))
    return out


def items_ia(r: Repo, kind: str) -> list[Item]:
    folder = f"example/{kind}-anything"
    out_name = "inpainted_with_mask.png" if kind == "remove" else "filled_with_mask.png"
    model = "LaMa (Inpaint-Anything)" if kind == "remove" else "Stable Diffusion inpainting (Inpaint-Anything)"
    src = "ia-remove" if kind == "remove" else "ia-fill"
    out = []
    files = r.ls(folder + "/")
    for p in files:
        if p.count("/") != 2 or Path(p).suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        stem = Path(p).stem
        res, ov = f"{folder}/{stem}/{out_name}", f"{folder}/{stem}/with_mask.png"
        if res not in files or ov not in files:
            continue
        img = _rgb(r.image(p))
        ov_img, res_img = _fit(_rgb(r.image(ov)), img), _fit(_rgb(r.image(res)), img)
        m = overlay_mask(ov_img, img)
        note = "" if kind == "remove" else "text-prompted fill: a new object"
        if res_img is not None and r.image(res).shape[:2] != img.shape[:2]:
            note = (note + "; " if note else "") + f"output {r.image(res).shape[1]}x{r.image(res).shape[0]} resized"
        out.append(Item(src, f"{src}__{stem}", model, img, m, res_img, res, p,
                        f"blue overlay of {ov} (utils.show_mask colour, alpha 0.6) against the photo, opened 1 px, "
                        f"holes filled, specks < 0.2 % dropped (the SAM mask as dilated by the script)", note))
    return out


def _fit(a: np.ndarray, like: np.ndarray, resample: int = Image.BILINEAR) -> np.ndarray:
    """``a`` at ``like``'s height and width (unchanged when it has them), resampled with ``resample`` (bilinear by
    default: Inpaint-Anything's matplotlib saves are sometimes a pixel short)."""
    if a.shape[:2] == like.shape[:2]:
        return a
    return np.asarray(Image.fromarray(a).resize((like.shape[1], like.shape[0]), resample))


def items_deepfill(r: Repo) -> list[Item]:
    out = []
    for p in r.ls("examples/places2/"):
        if not p.endswith("_output.png"):
            continue
        case = Path(p).name[: -len("_output.png")]
        base = f"examples/places2/{case}"
        out.append(Item("deepfill", f"deepfill__{case}", "DeepFill v2", _rgb(r.image(f"{base}_raw.png")),
                        binary_mask(r.image(f"{base}_mask.png")), _rgb(r.image(p)), p, f"{base}_raw.png",
                        f"shipped ({base}_mask.png)", "input = the _raw photo (the object: fence, text, person)"))
    return out


def items_iopaint(r: Repo) -> list[Item]:
    t = "lama_cleaner/tests"
    img, m = _rgb(r.image(f"{t}/image.png")), binary_mask(r.image(f"{t}/mask.png"))
    out = []
    for model, key in (("LaMa (IOPaint)", "lama"), ("LDM 1-step (IOPaint)", "ldm")):
        for strat in ("original", "resize", "crop"):
            p = f"{t}/{key}_{strat}_result.png"
            out.append(Item("iopaint", "iopaint__image", model, img, m, _rgb(r.image(p)), p, f"{t}/image.png",
                            f"shipped ({t}/mask.png)", f"hd_strategy {strat}"))
    return out


def items_hdpainter(r: Repo) -> list[Item]:
    out = []
    res = "__assets__/github/results"
    for p in r.ls(f"{res}/masked/"):
        q = p.replace("/masked/", "/results/")
        tinted, result = _rgb(r.image(p)), _rgb(r.image(q))
        out.append(Item("hdpainter", f"hdpainter__r{Path(p).stem}", "HD-Painter", tinted, tint_mask(tinted, result),
                        result, q, p, "red tint of the masked input against the result (> 40), opened 2 px, "
                        "holes filled", "prompted insertion; input is the tinted input"))
    for p in r.ls("__assets__/demo/examples/sbs/"):
        try:
            fig = r.image(p)
        except SystemExit:
            continue  # a file the copy lacks (large files may be absent)
        tinted, result = split_panels(fig, 2)
        if tinted.shape != result.shape:
            continue
        out.append(Item("hdpainter", f"hdpainter__{Path(p).stem}", "HD-Painter", tinted, tint_mask(tinted, result),
                        result, p + "#panel1", p + "#panel0", "red tint of the left panel against the right (> 40), "
                        "opened 2 px, holes filled", "prompted insertion; input is the tinted input"))
    return out


def items_crfill(r: Repo) -> list[Item]:
    """CR-Fill's shipped examples: ``obj_rmv`` (object removal on large photographs: the input holds the object)
    and ``places`` (256 px Places365 photographs with a box or free-form hole: the photo is the truth). Masks
    white = hole; a file the copy lacks (``threedogs``: stored out of git) is skipped."""
    out = []
    for setname, task in (("obj_rmv", "removal"), ("places", "reconstruction")):
        for p in r.ls(f"examples/{setname}/results/"):
            stem = Path(p).stem
            imgs = [q for q in r.ls(f"examples/{setname}/images/") if Path(q).stem == stem]
            mask_p = f"examples/{setname}/masks/{stem}.png"
            if not imgs:
                continue
            try:
                img, m, res = _rgb(r.image(imgs[0])), binary_mask(r.image(mask_p)), _rgb(r.image(p))
            except SystemExit:
                continue
            out.append(Item("crfill", f"crfill__{setname}__{stem}", "CR-Fill", img, m, res, p, imgs[0],
                            f"shipped ({mask_p}, white = hole)",
                            "object removal" if task == "removal" else "box or free-form hole over the photo", task))
    return out


def items_omnieraser(r: Repo) -> list[Item]:
    """OmniEraser's project-page pairs (``static/images/input``: the photo with the hole tinted, ``output``: the
    result, regenerated everywhere). Where ``example/`` ships the photo and its mask they are used; elsewhere the
    mask is recovered from the tint (:func:`blend_mask`) and the photo un-blended (:func:`unblend`)."""
    out = []
    for p in r.ls("static/images/output/"):
        stem = Path(p).stem
        tinted_p = f"static/images/input/{stem}.png"
        try:
            tinted, result = _rgb(r.image(tinted_p)), _rgb(r.image(p))
        except SystemExit:
            continue
        if tinted.shape != result.shape:
            continue
        shipped = f"example/image/{stem}.png" in r.ls("example/image/")
        if shipped:
            img, m = _rgb(r.image(f"example/image/{stem}.png")), binary_mask(r.image(f"example/mask/{stem}.png"))
            rec, input_path = f"shipped (example/mask/{stem}.png, > 127)", f"example/image/{stem}.png"
        else:
            core = blend_mask(tinted, result, grow=0)
            m = ndimage.binary_dilation(core, iterations=2)  # (blend_mask's grow: the soft edge)
            img, input_path = unblend(tinted, core), tinted_p  # (the soft edge is not a half blend: left as is)
            rec = ("half blend with (179, 0, 0) on the tinted input, redder than the result by > 40 (blend_mask): "
                   "opened 2, closed 2, specks filled, grown 2 px; the photo un-blended there")
        out.append(Item("omnieraser", f"omnieraser__{stem[:8]}", "OmniEraser (FLUX.1 LoRA)", img, m, result, p,
                        input_path, rec, "output regenerated everywhere; the model also removes shadows outside "
                        "the mask (pasted back, they return)"))
    return out


#: BrushEdit's removal cases (``assets/<case>/``: the other cases add or replace objects), with the photo's name
BRUSHEDIT_REMOVALS = {"angel_christmas": "angel_christmas", "anime_flower": "anime_flower",
                      "hedgehog_rm_fg": "hedgehog", "pigeon_rm": "pigeon", "spider_man_rm": "spider_man"}


def items_brushedit(r: Repo) -> list[Item]:
    """BrushEdit's removal examples: the photo, ``mask_<id>.png`` (white = hole) and ``image_edit_<id>_<n>.png``
    (BrushNet on SD 1.5). A photo a few pixels larger than its mask and result (``pigeon``) is resized to theirs."""
    out = []
    for case, photo in BRUSHEDIT_REMOVALS.items():
        files = r.ls(f"assets/{case}/")
        masks = [q for q in files if Path(q).name.startswith("mask_")]
        edits = [q for q in files if Path(q).name.startswith("image_edit_")]
        if not masks or not edits:
            continue
        m = binary_mask(r.image(masks[0]))
        img = _rgb(r.image(f"assets/{case}/{photo}.png"))
        note = "removal prompt; AI-generated or illustrated picture"
        if img.shape[:2] != m.shape:
            img = _fit(img, m, Image.LANCZOS)
            note += f"; photo resized to the mask's {m.shape[1]}x{m.shape[0]}"
        out.append(Item("brushedit", f"brushedit__{case}", "BrushEdit (BrushNet, SD 1.5)", img, m,
                        _rgb(r.image(edits[0])), edits[0], f"assets/{case}/{photo}.png",
                        f"shipped ({masks[0]}, > 127)", note))
    return out


def items_remove_anything(r: Repo) -> list[Item]:
    """Remove-Anything's README example: one photo (``original.jpeg``), its hole drawn as a dark translucent
    overlay (``mask.png``: the hole is the largest region where it differs from the photo by > 30 on some channel,
    opened, holes filled) and the fills of four models."""
    img = _rgb(r.image("assets/original.jpeg"))
    shown = _rgb(r.image("assets/mask.png"))
    hit = np.abs(shown.astype(np.int16) - img.astype(np.int16)).max(axis=2) > 30
    lab, n = ndimage.label(ndimage.binary_opening(hit, iterations=2))
    if not n:
        raise SystemExit("real-corpus: Remove-Anything's assets/mask.png shows no hole")
    # the largest region: the figure's grass differs from the photo in specks too (saved again, re-compressed)
    m = ndimage.binary_fill_holes(lab == 1 + int(np.argmax(ndimage.sum(hit, lab, index=np.arange(1, n + 1)))))
    out = []
    for key, model in (("ldm", "LDM (Remove-Anything)"), ("lama", "LaMa (Remove-Anything)"),
                       ("mat", "MAT (Remove-Anything)"), ("fcf", "FcF (Remove-Anything)")):
        out.append(Item("remove-anything", "remove-anything__corgi", model, img, m, _rgb(r.image(f"assets/{key}.png")),
                        f"assets/{key}.png", "assets/original.jpeg",
                        "assets/mask.png differs from the photo by > 30: largest region, opened 2 px, holes filled",
                        ""))
    return out


def items_sd_fox(r: Repo) -> list[Item]:
    """One Stable Diffusion inpainting removal (``runwayml/stable-diffusion-inpainting``, prompt "background with
    no object"): the photo ``fox.jpg``, its mask ``fox-M.png`` (white = hole), and the 512 x 512 result, brought
    back to the photo's size (bicubic): the script saved the pipeline's square output as it came."""
    img = _rgb(r.image("fox.jpg"))
    m = binary_mask(r.image("fox-M.png"))
    res = _rgb(r.image("Stable_Diffusion_Inpainting/output.jpg"))
    m, res = _fit(m, img, Image.NEAREST), _fit(res, img, Image.BICUBIC)
    return [Item("sd-fox", "sd-fox__fox", "Stable Diffusion inpainting (runwayml)", img, m, res,
                 "Stable_Diffusion_Inpainting/output.jpg", "fox.jpg", "shipped (fox-M.png, > 127)",
                 "512 x 512 output resized back to the photo's 1600 x 1024 (bicubic)")]


#: ObjectClear's teaser: below its first row (ObjectClear alone, captions over the panels), two rows of the input
#: with the hole drawn, then these systems' removals, left to right (the figure's own captions)
OBJECTCLEAR_PANELS = ("PowerPaint", "Attentive Eraser", "DesignEdit", "RORem", "ObjectClear")


def items_objectclear(r: Repo) -> list[Item]:
    """The two comparison rows of ObjectClear's ``assets/teaser.jpg``: each panel cut 4 px inside its edges, the
    outputs registered to the input panel (:func:`register`: the panels were scaled one by one), the hole from the
    drawn outline (:func:`outline_mask`); the input is the panel with the hole drawn (no clean photo is shown)."""
    fig = _rgb(r.image("assets/teaser.jpg"))
    rows = [row for row in grid_panels(fig) if len(row) == 1 + len(OBJECTCLEAR_PANELS)]
    out = []
    for k, row in enumerate(rows[1:3] if len(rows) >= 3 else rows[-2:]):  # (the first such row: ObjectClear's own)
        t, b = row[0][0] + 4, row[0][1] - 4
        w = min(c1 - c0 for _, _, c0, c1 in row) - 8
        shown = fig[t:b, row[0][2] + 4:row[0][2] + 4 + w]
        m = outline_mask(shown)
        keep = ~ndimage.binary_dilation(m, iterations=15)
        for model, (_, _, c0, _) in zip(OBJECTCLEAR_PANELS, row[1:]):
            dy, dx = register(shown, fig, t, c0 + 4, keep)
            res = fig[t + dy:t + dy + shown.shape[0], c0 + 4 + dx:c0 + 4 + dx + w]
            out.append(Item("objectclear", f"objectclear__row{k + 2}", model, shown, m, np.ascontiguousarray(res),
                            f"assets/teaser.jpg#row{k + 2}-{model}", f"assets/teaser.jpg#row{k + 2}-input",
                            "green outline of the input panel, filled, grown 2 px; output panels registered to it",
                            f"cut from a figure (JPEG); shifted ({dy}, {dx}) px to match the input panel; "
                            "input is the panel with the hole drawn"))
    return out


#: Kolors' inpainting comparison (``inpainting/asset/``): each input ``N.png``, the input with the hole painted
#: green ``N_masked.png``, Kolors' fill ``N_kolors.png`` and SDXL inpainting's ``N_sdxl.png`` (prompts in
#: ``inpainting/README.md``: a new object or garment in the hole)
KOLORS_MODELS = (("kolors", "Kolors inpainting"), ("sdxl", "SDXL inpainting (Kolors' comparison)"))


def green_mask(masked: np.ndarray, lo: int = 30, hi: int = 225) -> np.ndarray:
    """The hole of an input shown with the hole painted (nearly opaque) pure green: R and B under ``lo``, G over
    ``hi``."""
    a = masked[..., :3].astype(np.int16)
    return (a[..., 0] < lo) & (a[..., 1] > hi) & (a[..., 2] < lo)


def items_kolors(r: Repo) -> list[Item]:
    """Kolors' and SDXL's prompted fills: the shipped mask where there is one (``N_mask.png``), else the green of
    ``N_masked.png`` (:func:`green_mask`); outputs of another size are resized to the input (the pipelines work at
    their own resolution and aspect)."""
    files = set(r.ls("inpainting/asset/"))
    out = []
    for n in sorted({Path(p).stem.split("_")[0] for p in files if Path(p).stem.isdigit()}):
        base = f"inpainting/asset/{n}"
        img = _rgb(r.image(f"{base}.png"))
        if f"{base}_mask.png" in files:
            m, rec = binary_mask(r.image(f"{base}_mask.png")), f"shipped ({base}_mask.png, > 127)"
        else:
            m, rec = green_mask(r.image(f"{base}_masked.png")), f"the pure green of {base}_masked.png (green_mask)"
        for key, model in KOLORS_MODELS:
            if f"{base}_{key}.png" not in files:
                continue
            try:
                res = _rgb(r.image(f"{base}_{key}.png"))
            except SystemExit:  # (listed, but not in every copy of the repository)
                continue
            note = ("" if res.shape == img.shape else f"output {res.shape[1]}x{res.shape[0]} resized to the input's "
                    f"{img.shape[1]}x{img.shape[0]} (bicubic)")
            res = _fit(res, img, Image.BICUBIC)
            out.append(Item("kolors", f"kolors__{n}", model, img, m, res, f"{base}_{key}.png", f"{base}.png", rec,
                            "; ".join(x for x in ("prompted fill (inpainting/README.md)", note) if x)))
    return out


#: ComfyUI's examples that fill the Yosemite photo's transparent hole: (path, model, what the prompt asks for)
#: (SD 2 is the 512-inpainting-ema checkpoint, there twice with two prompts: each is its own "model" here, one
#: output per model and input)
COMFYUI_OUTPUTS = (("inpaint/inpain_model_cat.png", "SD 2 inpainting (cat prompt)", "a cat"),
                   ("inpaint/inpain_model_woman.png", "SD 2 inpainting (woman prompt)", "a woman"),
                   ("inpaint/inpaint_anythingv3_woman.png", "Anything-V3 (VAEEncodeForInpaint)", "a girl"),
                   ("flux/flux_fill_inpaint_example.png", "FLUX.1 Fill [dev]", "an anime girl"),
                   ("stable_cascade/stable_cascade__inpaint_controlnet.png", "Stable Cascade + inpaint ControlNet",
                    "a glass bottle"))
COMFYUI_INPUT = "inpaint/yosemite_inpaint_example.png"


def items_comfyui(r: Repo) -> list[Item]:
    """ComfyUI's inpainting examples: one photo with its hole erased to transparency (alpha < 255 is the hole,
    grown 6 px as ComfyUI's VAEEncodeForInpaint grows it), filled by five models (each PNG records its workflow:
    the input, the model, the prompt). The outputs drop the photo's last row (1024 x 768 of 1024 x 769): the photo
    is cut to them."""
    rgba = r.image(COMFYUI_INPUT)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise SystemExit(f"real-corpus: {r.repo}: {COMFYUI_INPUT} has no alpha channel")
    out = []
    for path, model, what in COMFYUI_OUTPUTS:
        res = _rgb(r.image(path))
        h, w = res.shape[:2]
        img = _rgb(rgba[:h, :w])
        m = ndimage.binary_dilation(rgba[:h, :w, 3] < 255, iterations=6)
        out.append(Item("comfyui", "comfyui__yosemite", model, img, m, res, path, COMFYUI_INPUT,
                        "alpha < 255 of the input, grown 6 px", f"prompted: {what}; the photo's last row dropped "
                        "as the outputs drop it; RGB under the hole is the photo's own"))
    return out


def items_simple_lama(r: Repo) -> list[Item]:
    """simple-lama-inpainting's test triple: an illustration, its mask (white = hole) and LaMa's result."""
    d = "tests/data"
    return [Item("simple-lama", "simple-lama__rocket", "LaMa (simple-lama-inpainting)", _rgb(r.image(f"{d}/image_1.png")),
                 binary_mask(r.image(f"{d}/mask_1.png")), _rgb(r.image(f"{d}/out_1.png")), f"{d}/out_1.png",
                 f"{d}/image_1.png", f"shipped ({d}/mask_1.png, > 127)", "illustration (generated picture)")]


def difference_mask(a: np.ndarray, b: np.ndarray, thr: int = 30, least: int = 200, grow: int = 4) -> np.ndarray:
    """The hole of a pasted-back removal published without its mask: where the output differs from the input by
    more than ``thr`` on some channel (opened 1 px against JPEG specks, closed 5 px, holes filled), regions of at
    least ``least`` px, grown ``grow`` px. Where the fill happens to equal the photo it is left out, which changes
    nothing in the pasted-back output."""
    hit = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > thr
    m = ndimage.binary_fill_holes(ndimage.binary_closing(ndimage.binary_opening(hit, iterations=1), iterations=5))
    lab, n = ndimage.label(m)
    if n:
        sizes = ndimage.sum(m, lab, index=np.arange(1, n + 1))
        m = np.isin(lab, 1 + np.flatnonzero(sizes >= least))
    return ndimage.binary_dilation(m, iterations=grow) if grow else m


def items_paris_lama(r: Repo) -> list[Item]:
    """semantic-object-removal's example: a Paris street and the same with its cars removed (MaskFormer chose
    them, LaMa filled them); the mask is recovered by difference (:func:`difference_mask`)."""
    img, res = _rgb(r.image("example/paris.jpg")), _rgb(r.image("example/paris-inpainted.jpg"))
    return [Item("paris-lama", "paris-lama__paris", "LaMa (semantic-object-removal)", img, difference_mask(img, res),
                 res, "example/paris-inpainted.jpg", "example/paris.jpg",
                 "difference > 30 on some channel, opened 1, closed 5, filled, regions >= 200 px, grown 4 px",
                 "several holes (parked cars, a motorbike); JPEG")]


READERS = {"migan": items_migan, "cmgan": items_cmgan, "ia-remove": lambda r: items_ia(r, "remove"),
           "ia-fill": lambda r: items_ia(r, "fill"), "deepfill": items_deepfill, "iopaint": items_iopaint,
           "hdpainter": items_hdpainter, "crfill": items_crfill, "omnieraser": items_omnieraser,
           "brushedit": items_brushedit, "remove-anything": items_remove_anything, "sd-fox": items_sd_fox,
           "objectclear": items_objectclear, "kolors": items_kolors, "comfyui": items_comfyui,
           "simple-lama": items_simple_lama, "paris-lama": items_paris_lama}


def collect(mirror_dir: Path, sources: list[str] | None = None) -> list[Item]:
    """Every item of every source (or of ``sources``), in a fixed order."""
    items: list[Item] = []
    for name in sources or list(READERS):
        items += READERS[name](Repo(mirror_dir, SOURCES[name]))
    return items


def model_key(model: str) -> str:
    """A folder name for a model: ``LaMa (IOPaint)`` -> ``lama-iopaint``."""
    return "".join(c if c.isalnum() else "-" for c in model.lower()).strip("-").replace("--", "-").replace("--", "-")


def output_id(it: Item) -> str:
    extra = ""
    if it.source == "iopaint":
        extra = "__" + it.path.rsplit("_", 2)[-2]  # the hd strategy
    return f"{it.sample_id}__{model_key(it.model)}{extra}"


def read_labels(path: Path = LABELS_CSV) -> dict[str, dict[str, str]]:
    """The committed rows by output id (empty when there is no file yet)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    bad = [c for c in COLUMNS if rows and c not in rows[0]]
    if bad:
        raise SystemExit(f"{path}: missing columns {bad}")
    for i, row in enumerate(rows):
        if row["label"] and row["label"] not in LABELS:
            raise SystemExit(f"{path}: row {i + 2} ({row['output_id']}): label {row['label']!r} not in {LABELS}")
    return {row["output_id"]: row for row in rows}


def _save(a: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def build(mirror_dir: Path, out: Path, labels_csv: Path = LABELS_CSV, sources: list[str] | None = None
          ) -> dict[str, int]:
    """Write the corpus (see the module doc; ``sources``: a subset of :data:`SOURCES`); returns counts."""
    import json

    labels = read_labels(labels_csv)
    items = collect(mirror_dir, sources)
    rows, seen_inputs = [], set()
    for it in items:
        if it.mask.shape != it.image.shape[:2] or it.output.shape != it.image.shape:
            raise SystemExit(f"real-corpus: {it.path}: output {it.output.shape} / mask {it.mask.shape} do not match "
                             f"the input {it.image.shape} ({SOURCES[it.source].repo})")
        if not it.mask.any():
            raise SystemExit(f"real-corpus: {it.input_path}: recovered an empty mask ({it.mask_recovery})")
        if it.mask.all() or (it.output == it.image).all(axis=-1)[it.mask].mean() > 0.99:
            # a compositing model keeps the input outside the hole, never inside it: the mask means the opposite
            raise SystemExit(f"real-corpus: {it.path}: the output equals the input on the recovered hole: the mask "
                             f"looks inverted ({it.mask_recovery})")
        dataset = it.source if it.task == "removal" else f"{it.source}-{it.task}"
        d = out / dataset
        if it.sample_id not in seen_inputs:
            _save(it.image, d / "images" / f"{it.sample_id}.png")
            _save(it.mask.astype(np.uint8) * 255, d / "masks" / f"{it.sample_id}.png")
            seen_inputs.add(it.sample_id)
            (d / "dataset.json").write_text(json.dumps({"task": it.task, "source": SOURCES[it.source].repo +
                                                        "@" + SOURCES[it.source].commit}, indent=1) + "\n")
        oid = output_id(it)
        sub = model_key(it.model) + (f"-{oid.rsplit('__', 1)[-1]}" if it.source == "iopaint" else "")
        _save(it.output, out / "outputs" / sub / dataset / f"{it.sample_id}.png")
        known = labels.get(oid, {})
        src = SOURCES[it.source]
        rows.append({"output_id": oid, "sample_id": it.sample_id, "source": it.source, "repo": src.repo,
                     "commit": src.commit, "path": it.path, "input_path": it.input_path, "licence": src.licence,
                     "model": it.model, "mask_recovery": it.mask_recovery, "label": known.get("label", ""),
                     "split": SPLIT[it.source], "notes": known.get("notes", it.notes),
                     "output_folder": f"outputs/{sub}", "dataset": dataset, "task": it.task})
    with open(out / "corpus.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS) + ["output_folder", "dataset", "task"])
        w.writeheader()
        w.writerows(rows)
    return {"outputs": len(rows), "inputs": len(seen_inputs), "labelled": sum(1 for r in rows if r["label"])}


def contact_sheets(corpus: Path, out: Path, height: int = 200, rows_per_sheet: int = 5) -> list[Path]:
    """The labelling aid: PNG sheets of ``rows_per_sheet`` inputs each, one row per input: the input with the hole
    outlined in red, then every system's output with the same outline in green, ``height`` px high, captioned with
    the sample id and the models in order. Rows never mix sources."""
    from PIL import ImageDraw

    with open(corpus / "corpus.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("dataset") or r["source"], r["sample_id"]), []).append(r)

    def tile(a: np.ndarray, m: np.ndarray, colour: tuple[int, int, int]) -> Image.Image:
        a = a.copy()
        a[m & ~ndimage.binary_erosion(m, iterations=2)] = colour
        im = Image.fromarray(a)
        return im.resize((max(1, round(im.width * height / im.height)), height))

    sheets: list[list[tuple[str, list[Image.Image]]]] = [[]]
    last = None
    for (src, sid), rs in groups.items():
        if sheets[-1] and (len(sheets[-1]) >= rows_per_sheet or src != last):
            sheets.append([])
        last = src
        img = np.asarray(Image.open(corpus / src / "images" / f"{sid}.png").convert("RGB"))
        m = np.asarray(Image.open(corpus / src / "masks" / f"{sid}.png").convert("L")) > 127
        tiles = [tile(img, m, (255, 0, 0))]
        for r in rs:
            o = np.asarray(Image.open(corpus / r["output_folder"] / src / f"{sid}.png").convert("RGB"))
            tiles.append(tile(o, m, (0, 255, 0)))
        caption = f"{src}/{sid}: " + " | ".join(f"{i + 1}: {r['model']}" for i, r in enumerate(rs))
        sheets[-1].append((caption, tiles))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, sheet in enumerate(s for s in sheets if s):
        width = max(sum(t.width + 4 for t in tiles) for _, tiles in sheet)
        canvas = Image.new("RGB", (width, len(sheet) * (height + 16)), (40, 40, 40))
        draw = ImageDraw.Draw(canvas)
        y = 0
        for caption, tiles in sheet:
            draw.text((2, y + 2), caption, fill=(255, 255, 0))
            y += 16
            x = 0
            for t in tiles:
                canvas.paste(t, (x, y))
                x += t.width + 4
            y += height
        paths.append(out / f"sheet{k:03d}.png")
        canvas.save(paths[-1])
    return paths
