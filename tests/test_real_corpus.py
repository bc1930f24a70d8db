"""datasets/real_corpus.py: mask recovery, panel splitting and the corpus build on stand-in repositories the test
writes (offline, no fetch), and the committed labels' schema and source split."""
from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.scripts import load

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rc():
    return load("datasets/real_corpus.py", "real_corpus", register=True)


def _jpeg(a: np.ndarray, q: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB"))


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A textured stand-in photograph: smooth colour fields plus grain (no magenta, no pure blue)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([90 + 60 * np.sin(xx / 9.0), 110 + 50 * np.cos(yy / 7.0), 80 + 40 * np.sin((xx + yy) / 11.0)], 2)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _blob(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((yy - h * 0.45) ** 2 / (h * 0.22) ** 2 + (xx - w * 0.5) ** 2 / (w * 0.2) ** 2) < 1
    m[int(h * 0.6):int(h * 0.85), int(w * 0.2):int(w * 0.35)] = True  # a second, rectangular part
    return m


def test_magenta_mask_recovers_a_known_hole_through_jpeg(rc):
    hole = _blob(96, 128)
    masked = _photo(96, 128, 0)
    masked[hole] = (255, 0, 255)
    got = rc.magenta_mask(_jpeg(masked))
    assert got[hole].all()  # every hole pixel is found
    assert not got[~ndimage.binary_dilation(hole, iterations=3)].any()  # and nothing beyond the 2 px closing (+1)
    assert got.sum() <= ndimage.binary_dilation(hole, iterations=2).sum()


def test_split_panels_equal_widths_and_gaps(rc):
    cols = [(255, 0, 255), (10, 20, 30), (40, 50, 60), (70, 80, 90), (100, 110, 120)]
    fig = np.concatenate([np.full((8, 12, 3), c, np.uint8) for c in cols], axis=1)
    panels = rc.split_panels(fig, 5)
    assert [p.shape for p in panels] == [(8, 12, 3)] * 5
    for p, c in zip(panels, cols):
        assert (p == np.asarray(c, np.uint8)).all()
    # two panels separated by a transparent gap of another width (HD-Painter's side-by-side figures)
    left, right = _photo(10, 20, 1), _photo(10, 20, 2)
    gap = np.zeros((10, 7, 4), np.uint8)
    rgba = np.concatenate([np.dstack([left, np.full((10, 20), 255, np.uint8)]), gap,
                           np.dstack([right, np.full((10, 20), 255, np.uint8)])], axis=1)
    a, b = rc.split_panels(rgba, 2)
    assert np.array_equal(a, left) and np.array_equal(b, right)
    with pytest.raises(ValueError, match="width 13"):
        rc.split_panels(np.zeros((4, 13, 3), np.uint8), 5)


def test_overlay_mask_inverts_the_show_mask_blend(rc):
    photo = _photo(80, 100, 3)
    hole = _blob(80, 100)
    color, alpha = np.asarray((30, 144, 255), float), 0.6
    ov = photo.astype(float)
    ov[hole] = (1 - alpha) * ov[hole] + alpha * color  # Inpaint-Anything's utils.show_mask, drawn by imshow
    ov = np.clip(np.round(ov), 0, 255).astype(np.uint8)
    ov[38:42, 48:52] = (0, 200, 0)  # the click marker inside the hole
    got = rc.overlay_mask(ov, photo)
    inter, union = (got & hole).sum(), (got | hole).sum()
    assert inter / union > 0.97
    assert got[38:42, 48:52].all()  # the marker is inside the recovered hole


def test_tint_mask_against_the_result(rc):
    photo = _photo(64, 64, 4)
    hole = _blob(64, 64)
    tinted = photo.astype(float)
    tinted[hole] = 0.5 * tinted[hole] + 0.5 * np.asarray((255, 0, 0), float)
    result = photo.copy()
    result[hole] = (20, 60, 200)  # the inserted object
    got = rc.tint_mask(tinted.astype(np.uint8), result)
    assert (got & hole).sum() / (got | hole).sum() > 0.95


def test_blend_mask_and_unblend_recover_a_half_tint_and_the_photo_under_it(rc):
    """OmniEraser's pages: the hole shown as an 8-bit half blend with (179, 0, 0); the model also brightens a shadow
    outside the hole (not redder: not hole), and a gap in the mask (between two legs) is no hole either."""
    photo = _photo(96, 128, 8)
    photo[70:80, 10:40] = (255, 255, 255)  # white: un-blends to 256 after 8-bit rounding
    hole = _blob(96, 128)
    hole[70:80, 10:40] = True
    gap = np.zeros_like(hole)
    gap[35:50, 58:70] = True
    hole &= ~gap
    tinted = photo.astype(float)
    tinted[hole] = 0.5 * tinted[hole] + 0.5 * np.asarray(rc.OMNI_TINT, float)
    tinted = np.round(tinted).astype(np.uint8)
    result = photo.copy()
    result[hole] = (60, 140, 70)  # the fill
    shadow = np.zeros_like(hole)
    shadow[2:14, 5:60] = True
    photo_dark = photo.copy()
    photo_dark[shadow] = (photo[shadow] * 0.5).astype(np.uint8)  # a shadow in the photo ...
    tinted[shadow] = photo_dark[shadow]
    got = rc.blend_mask(tinted, result)  # ... the result shows the lit ground there
    assert got[hole].all()  # every tinted pixel, and 2 px more (the soft edge of a real tint)
    assert not got[~ndimage.binary_dilation(hole, iterations=3)].any()
    assert not got[shadow].any() and not got[ndimage.binary_erosion(gap, iterations=4)].any()
    assert np.array_equal(got, ndimage.binary_dilation(rc.blend_mask(tinted, result, grow=0), iterations=2))
    back = rc.unblend(tinted, got)
    assert np.abs(back.astype(int) - photo.astype(int))[got & hole].max() <= 1  # one bit lost
    assert np.array_equal(back[~got], tinted[~got])


def test_outline_mask_grid_panels_and_register_on_a_stand_in_figure(rc):
    """A figure on a white page: an input panel with the hole drawn as a green tint and outline, and two output
    panels, one drawn 2 px lower and 1 px to the left of where the grid puts it: the panels are found, the hole
    recovered, and the shift undone."""
    photo = _photo(120, 150, 9)
    photo[..., 1] = (photo[..., 1] * 0.7).astype(np.uint8)  # (no green as saturated as the drawn outline)
    yy, xx = np.mgrid[0:120, 0:150]
    hole = ((yy - 60) / 35.0) ** 2 + ((xx - 70) / 40.0) ** 2 < 1  # one region, as a drawn outline is
    shown = photo.astype(float)
    shown[hole] = 0.6 * shown[hole] + 0.4 * np.asarray((0, 200, 0), float)
    edge = hole & ~ndimage.binary_erosion(hole, iterations=3)
    shown[edge] = (40, 230, 40)
    shown = shown.astype(np.uint8)
    out = photo.copy()
    out[hole] = (120, 110, 100)
    page = np.full((160, 3 * 150 + 4 * 20, 3), 255, np.uint8)
    page[20:140, 20:170] = shown
    page[20:140, 190:340] = out
    page[22:140, 359:510] = np.concatenate([out, out[:, -1:]], 1)[:118]  # drawn 2 px lower, 1 px to the left
    rows = rc.grid_panels(page)
    assert [(t, b, l, r) for t, b, l, r in rows[0]] == [(20, 140, 20, 170), (20, 140, 190, 340), (20, 140, 359, 510)]
    m = rc.outline_mask(shown, grow=0)
    assert (m & hole).sum() / (m | hole).sum() > 0.97
    keep = ~ndimage.binary_dilation(m, iterations=5)
    assert rc.register(shown, page, 20, 190, keep) == (0, 0)
    assert rc.register(shown, page, 20, 360, keep) == (2, -1)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}).stdout.strip()


def _stand_in(root: Path, files: dict[str, np.ndarray]) -> str:
    work = root / "work"
    for rel, a in files.items():
        p = work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(p)
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "stand-in")
    _git(root, "clone", "-q", "--bare", str(work), str(root / "repo"))
    return _git(work, "rev-parse", "HEAD")


def test_build_on_stand_in_repositories(rc, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    # CM-GAN: one figure, magenta-masked input then four fills side by side
    hole = _blob(32, 32)
    masked = _photo(32, 32, 5)
    masked[hole] = (255, 0, 255)
    fills = [_photo(32, 32, 10 + k) for k in range(4)]
    fig = np.concatenate([masked] + fills, axis=1)
    c1 = _stand_in(mirror / "htzheng+CM-GAN-Inpainting", {"figures/14.png": fig, "figures/framework.png": fig[:, :8]})
    # MI-GAN: images/masks/results/migan
    img, out = _photo(24, 24, 6), _photo(24, 24, 7)
    m = np.zeros((24, 24), np.uint8)
    m[5:15, 6:18] = 255
    c2 = _stand_in(mirror / "Picsart-AI-Research+MI-GAN", {
        "examples/places2_512_object/images/3.png": img, "examples/places2_512_object/masks/3.png": m,
        "examples/places2_512_object/results/migan/3.png": out,
        # a free-form hole over the original photo: a reconstruction set
        "examples/places2_512_freeform/images/4.png": img, "examples/places2_512_freeform/masks/4.png": m,
        "examples/places2_512_freeform/results/migan/4.png": out})
    monkeypatch.setitem(rc.SOURCES, "cmgan", rc.Source("htzheng/CM-GAN-Inpainting", c1, "Apache-2.0"))
    monkeypatch.setitem(rc.SOURCES, "migan", rc.Source("Picsart-AI-Research/MI-GAN", c2, "MIT"))
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=rc.COLUMNS)
        w.writeheader()
        w.writerow(dict.fromkeys(rc.COLUMNS, "") | {"output_id": "cmgan__14__comodgan", "label": "replacement",
                                                    "notes": "a new object"})
    dst = tmp_path / "corpus"
    counts = rc.build(mirror, dst, labels, sources=["migan", "cmgan"])
    assert counts == {"outputs": 6, "inputs": 3, "labelled": 1}
    rows = list(csv.DictReader(open(dst / "corpus.csv")))
    assert list(rows[0]) == list(rc.COLUMNS) + ["output_folder", "dataset", "task"]
    by = {r["output_id"]: r for r in rows}
    assert by["cmgan__14__comodgan"]["label"] == "replacement" and by["cmgan__14__comodgan"]["commit"] == c1
    assert by["migan__places2_512_object__3__mi-gan"]["split"] == "test"
    # the panels land in one outputs folder per model, named by sample id; the figure that is no
    # results figure (framework.png) is left out
    for k, model in enumerate(rc.CMGAN_PANELS):
        r = by[f"cmgan__14__{rc.model_key(model)}"]
        got = np.asarray(Image.open(dst / r["output_folder"] / "cmgan" / "cmgan__14.png"))
        assert np.array_equal(got, fills[k])
    got_mask = np.asarray(Image.open(dst / "cmgan" / "masks" / "cmgan__14.png")) > 127
    assert got_mask[hole].all() and not got_mask[~ndimage.binary_dilation(hole, iterations=3)].any()
    assert np.array_equal(np.asarray(Image.open(dst / "migan" / "masks" / "migan__places2_512_object__3.png")) > 127,
                          m > 127)
    # and the folder dataset reads the result as an object-removal set
    from bench.datasets.folder import FolderDataset

    ds = FolderDataset(str(dst / "cmgan"))
    assert ds.task == "removal" and ds.ids() == ["cmgan__14"]
    assert bool(ds.load("cmgan__14").mask[0].numpy()[hole].all())
    # MI-GAN's free-form set is a reconstruction (the photo is the truth), in its own folder; its object set is not
    free = by["migan__places2_512_freeform__4__mi-gan"]
    assert (free["dataset"], free["task"], free["source"]) == ("migan-reconstruction", "reconstruction", "migan")
    assert FolderDataset(str(dst / "migan-reconstruction")).task == "reconstruction"
    assert FolderDataset(str(dst / "migan")).ids() == ["migan__places2_512_object__3"]
    assert (dst / free["output_folder"] / "migan-reconstruction" / "migan__places2_512_freeform__4.png").is_file()
    # MI-GAN's free-form masks are white = kept (its README: no --invert-mask for them): the hole is the black part
    got_free = np.asarray(Image.open(dst / "migan-reconstruction" / "masks" / "migan__places2_512_freeform__4.png"))
    assert np.array_equal(got_free > 127, m <= 127)
    # the contact sheets: one per dataset folder here, one row per input, input then each output
    sheets = rc.contact_sheets(dst, tmp_path / "sheets", height=40)
    assert len(sheets) == 3
    sizes = sorted(Image.open(p).size for p in sheets)
    assert sizes == [((40 + 4) * 2, 40 + 16), ((40 + 4) * 2, 40 + 16), ((40 + 4) * 5, 40 + 16)]
    cm = np.asarray(Image.open(next(p for p in sheets if Image.open(p).size[0] == 220)))
    for k in range(4):  # the k-th output tile is closest to the k-th panel's fill (outlines drawn over all of them)
        got = cm[16:56, 44 * (k + 1):44 * (k + 1) + 40].astype(float)
        d = [np.abs(got - np.asarray(Image.fromarray(f).resize((40, 40)), float)).mean() for f in fills]
        assert int(np.argmin(d)) == k, d


def test_crfill_object_removal_and_places_sets_on_a_stand_in(rc, tmp_path, monkeypatch):
    """CR-Fill's examples: ``obj_rmv`` is an object-removal set, ``places`` a reconstruction set (the photo is the
    truth); masks white = hole; an output whose input the copy cannot read is skipped, not fatal."""
    img, out = _photo(24, 24, 6), _photo(24, 24, 7)
    m = np.zeros((24, 24), np.uint8)
    m[4:12, 5:19] = 255
    files = {"examples/obj_rmv/images/a1.jpg": img, "examples/obj_rmv/masks/a1.png": m,
             "examples/obj_rmv/results/a1.jpg": out,
             "examples/places/images/P_1.png": img, "examples/places/masks/P_1.png": m,
             "examples/places/results/P_1.png": out,
             "examples/obj_rmv/masks/gone.png": m, "examples/obj_rmv/results/gone.png": out}  # no image: skipped
    c = _stand_in(tmp_path / "mirror" / "zengxianyu+crfill", files)
    monkeypatch.setitem(rc.SOURCES, "crfill", rc.Source("zengxianyu/crfill", c, "CC-BY-NC-4.0"))
    dst = tmp_path / "corpus"
    counts = rc.build(tmp_path / "mirror", dst, tmp_path / "none.csv", sources=["crfill"])
    assert counts == {"outputs": 2, "inputs": 2, "labelled": 0}
    by = {r["output_id"]: r for r in csv.DictReader(open(dst / "corpus.csv"))}
    rmv, rec = by["crfill__obj_rmv__a1__cr-fill"], by["crfill__places__P_1__cr-fill"]
    assert (rmv["dataset"], rmv["task"], rmv["split"]) == ("crfill", "removal", "fresh")
    assert (rec["dataset"], rec["task"]) == ("crfill-reconstruction", "reconstruction")
    got = np.asarray(Image.open(dst / "crfill" / "masks" / "crfill__obj_rmv__a1.png")) > 127
    assert np.array_equal(got, m > 127)


def test_committed_labels_schema_and_source_split(rc):
    path = REPO / "datasets" / "real_corpus" / "corpus.csv"
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == rc.COLUMNS
        rows = list(reader)
    assert len({r["output_id"] for r in rows}) == len(rows)
    assert {r["label"] for r in rows} <= set(rc.LABELS)
    splits: dict[str, set[str]] = {}
    for r in rows:
        assert r["split"] == rc.SPLIT[r["source"]], r["output_id"]
        assert r["commit"] == rc.SOURCES[r["source"]].commit and r["repo"] == rc.SOURCES[r["source"]].repo
        assert "ReMOVE" not in r["repo"]  # kept for independent checks
        keys = [("source", r["source"]), ("repo", r["repo"])]
        if r["split"] in ("dev", "test"):  # a model is wholly in dev or in test
            keys.append(("model", r["model"].split(" (")[0]))
        for key in keys:
            splits.setdefault(f"{key[0]}={key[1]}", set()).add(r["split"])
    both = [k for k, v in splits.items() if len(v) > 1]
    assert not both, f"on both sides of the split: {both}"
    # the fresh splits hold repositories (and photographs) never seen before, scored once; a model of theirs may
    # have had other outputs in dev or test (LaMa, Stable Diffusion inpainting): the per-model results say which
    assert {r["split"] for r in rows} <= set(rc.SPLITS) == set(rc.SPLIT.values())
    for split in ("dev", "test"):
        have = {r["label"] for r in rows if r["split"] == split}
        assert {"ok", "blur", "replacement"} <= have, (split, have)


def test_second_labeller_covers_the_corpus_with_valid_labels(rc):
    first = rc.read_labels()
    with open(REPO / "datasets" / "real_corpus" / "labels_second.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == ("output_id", "label")
        second = {r["output_id"]: r["label"] for r in reader}
    assert set(second) == set(first)  # every output, no other
    assert set(second.values()) <= set(rc.LABELS)


def test_a_mask_whose_hole_the_output_keeps_unchanged_is_refused_as_inverted(rc, tmp_path, monkeypatch):
    img = _photo(24, 24, 6)
    m = np.zeros((24, 24), np.uint8)
    m[5:15, 6:18] = 255
    out = _photo(24, 24, 7)
    out[m > 127] = img[m > 127]  # the "hole" kept as it was, everything else redrawn: the mask is the wrong way round
    c = _stand_in(tmp_path / "mirror" / "Picsart-AI-Research+MI-GAN", {
        "examples/places2_512_object/images/3.png": img, "examples/places2_512_object/masks/3.png": m,
        "examples/places2_512_object/results/migan/3.png": out})
    monkeypatch.setitem(rc.SOURCES, "migan", rc.Source("Picsart-AI-Research/MI-GAN", c, "MIT"))
    with pytest.raises(SystemExit, match="looks inverted"):
        rc.build(tmp_path / "mirror", tmp_path / "corpus", tmp_path / "none.csv", sources=["migan"])


def test_green_mask_and_difference_mask_recover_known_holes(rc):
    img, hole = _photo(40, 48, 11), _blob(40, 48)
    shown = img.copy()  # the hole painted 88 % pure green over the photo, as Kolors' *_masked.png shows it
    shown[hole] = np.round(0.88 * np.array([0, 255, 0]) + 0.12 * img[hole]).astype(np.uint8)
    assert np.array_equal(rc.green_mask(shown), hole)
    assert not rc.green_mask(img).any()
    # a pasted-back removal published without its mask, through JPEG: the hole is where the output differs
    out = img.copy()
    out[hole] = np.clip(img[hole].astype(int) + 60, 0, 255).astype(np.uint8)
    got = rc.difference_mask(_jpeg(img, 95), _jpeg(out, 95), least=20, grow=0)
    assert (got == hole).mean() > 0.95 and got[hole].mean() > 0.95  # (closing may bridge the two parts)
    grown = rc.difference_mask(_jpeg(img, 95), _jpeg(out, 95), least=20, grow=2)
    assert grown[hole].all() and grown.sum() > got.sum()
    assert not rc.difference_mask(img, img.copy()).any()  # nothing changed: no hole


def test_insertion_sources_on_stand_ins(rc, tmp_path, monkeypatch):
    """Kolors (shipped or green-recovered masks, outputs of another size resized, a listed output the copy lacks
    skipped), ComfyUI (alpha hole grown 6 px, the photo cut to the outputs' size, one output per model), and the two
    LaMa sources (shipped mask; mask by difference)."""
    mirror = tmp_path / "mirror"
    img, hole = _photo(32, 24, 1), _blob(32, 24)
    shown = img.copy()
    shown[hole] = (0, 255, 0)
    big = np.asarray(Image.fromarray(_photo(32, 24, 2)).resize((28, 36)))  # another size and aspect
    c = _stand_in(mirror / "Kwai-Kolors+Kolors", {
        "inpainting/asset/1.png": img, "inpainting/asset/1_masked.png": shown, "inpainting/asset/1_kolors.png": big,
        "inpainting/asset/1_sdxl.png": _photo(32, 24, 3),
        "inpainting/asset/2.png": img, "inpainting/asset/2_masked.png": shown,
        "inpainting/asset/2_mask.png": (np.roll(hole, 2, axis=1) * 255).astype(np.uint8),
        "inpainting/asset/2_kolors.png": _photo(32, 24, 4)})
    monkeypatch.setitem(rc.SOURCES, "kolors", rc.Source("Kwai-Kolors/Kolors", c, "Apache-2.0"))
    rgba = np.dstack([_photo(17, 20, 5), np.full((17, 20), 255, np.uint8)])
    rgba[5:9, 6:12, 3] = 0
    outs = {p: _photo(16, 20, 6 + k) for k, (p, _, _) in enumerate(rc.COMFYUI_OUTPUTS)}
    c2 = _stand_in(mirror / "comfyanonymous+ComfyUI_examples", {rc.COMFYUI_INPUT: rgba, **outs})
    monkeypatch.setitem(rc.SOURCES, "comfyui", rc.Source("comfyanonymous/ComfyUI_examples", c2, "0BSD"))
    lama_m = np.zeros((24, 24), np.uint8)
    lama_m[6:14, 8:16] = 255
    c3 = _stand_in(mirror / "enesmsahin+simple-lama-inpainting", {
        "tests/data/image_1.png": _photo(24, 24, 12), "tests/data/mask_1.png": lama_m,
        "tests/data/out_1.png": _photo(24, 24, 13)})
    monkeypatch.setitem(rc.SOURCES, "simple-lama", rc.Source("enesmsahin/simple-lama-inpainting", c3, "Apache-2.0"))
    paris = _photo(48, 64, 14)
    removed = paris.copy()
    removed[10:30, 20:44] = np.clip(paris[10:30, 20:44].astype(int) - 70, 0, 255).astype(np.uint8)
    c4 = _stand_in(mirror / "Jessseee+semantic-object-removal", {"example/paris.jpg": paris,
                                                                  "example/paris-inpainted.jpg": removed})
    monkeypatch.setitem(rc.SOURCES, "paris-lama", rc.Source("Jessseee/semantic-object-removal", c4, "MIT"))

    items = rc.collect(mirror, ["kolors", "comfyui", "simple-lama", "paris-lama"])
    by = {rc.output_id(it): it for it in items}
    k1 = by["kolors__1__kolors-inpainting"]
    assert np.array_equal(k1.mask, hole) and k1.output.shape == img.shape and "resized" in k1.notes
    assert "green" in k1.mask_recovery and "resized" not in by["kolors__1__sdxl-inpainting-kolors-comparison"].notes
    k2 = by["kolors__2__kolors-inpainting"]
    assert np.array_equal(k2.mask, np.roll(hole, 2, axis=1)) and k2.mask_recovery.startswith("shipped")
    assert "kolors__2__sdxl-inpainting-kolors-comparison" not in by  # not shipped for that input
    comfy = [it for it in items if it.source == "comfyui"]
    assert len({rc.output_id(it) for it in comfy}) == len(rc.COMFYUI_OUTPUTS) == 5
    want = ndimage.binary_dilation(rgba[:16, :, 3] < 255, iterations=6)
    for it in comfy:
        assert it.image.shape == (16, 20, 3) and np.array_equal(it.mask, want)
        assert np.array_equal(it.image, rgba[:16, :, :3])
    lama = by["simple-lama__rocket__lama-simple-lama-inpainting"]
    assert np.array_equal(lama.mask, lama_m > 127)
    p = by["paris-lama__paris__lama-semantic-object-removal"]
    core = np.zeros(paris.shape[:2], bool)
    core[10:30, 20:44] = True
    assert p.mask[core].all() and not p.mask[~ndimage.binary_dilation(core, iterations=6)].any()
    assert {rc.SPLIT[s] for s in ("kolors", "comfyui", "simple-lama", "paris-lama")} == {"fresh-insertions"}
