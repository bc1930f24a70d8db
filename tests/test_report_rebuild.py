"""The HTML report shows inputs, masks and ground truth of a run that did not save them (issue 27, the quickstart's
case): rebuilt from its suite by the runner's code and checked against the digests the run stored; a sample that
does not match (its file changed since) is a tile saying so, never a wrong picture."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.config import parse_suite
from bench.report.aggregate import load_run
from bench.report.html import _thumb_b64, render_html
from bench.report.rebuild import RebuiltInputs
from bench.runner import Runner
from bench.fsio import sample_filename


def _data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "images" / f"im{i}.png")
    return root


def _run(tmp: Path, data: Path, save_inputs: bool) -> Path:
    suite = parse_suite({
        "output_dir": str(tmp / ("saved" if save_inputs else "plain")), "backends": ["opencv-telea"],
        "datasets": [{"type": "folder", "root": str(data)}, {"type": "synthetic", "n": 2}],
        "masks": [{"type": "box", "min_size": 0.3, "max_size": 0.5}], "metrics": ["psnr"], "detectors": [],
        "resolution": 48, "device": "cpu", "save_inputs": save_inputs})
    return Runner(suite, progress=False).run()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rebuild")
    data = _data(tmp / "data")
    return data, _run(tmp, data, save_inputs=False), _run(tmp, data, save_inputs=True)


def _grid_tiles(html: str) -> dict[tuple[str, str], list[str]]:
    """(dataset × mask heading, sample id) -> the figure HTML of its input, mask and ground-truth tiles."""
    out = {}
    samples = html.split("<h2>Samples</h2>", 1)[1].split("<h2>", 1)[0]
    for chunk in samples.split("<h3>")[1:]:
        head, body = chunk.split("</h3>", 1)
        figs = re.findall(r"<figure .*?</figure>", body, re.S)
        for i, f in enumerate(figs):
            m = re.search(r"<figcaption>([^<]*)</figcaption>", f)
            if m and i + 2 < len(figs) and "mask overlay" in figs[i + 1]:
                out[(head, m.group(1))] = figs[i:i + 3]
    return out


def _src(fig: str) -> str | None:
    m = re.search(r'<img src="([^"]+)"', fig)
    return m.group(1) if m else None


def test_rebuilt_inputs_equal_what_the_runner_saves(runs):
    _, plain, saved = runs
    assert not (plain / "inputs").exists()  # the quickstart's case: nothing saved
    rb = RebuiltInputs(load_run(plain))
    cells = load_run(saved).cells()
    n = 0
    for _, c in cells.iterrows():
        folder = saved / "inputs" / c["input_key"]
        for p in sorted(folder.glob("*_input.png")):
            sid = p.name[: -len("_input.png")]
            images, why = rb.get(c["dataset"], c["mask"], sid)
            assert why is None, why
            for kind in ("input", "mask", "gt"):
                f = folder / f"{sample_filename(sid)}_{kind}.png"
                assert np.array_equal(np.asarray(images[kind]), np.asarray(Image.open(f))), (sid, kind)
            n += 1
    assert n == 5


def test_the_report_of_a_run_without_saved_inputs_shows_them(runs):
    _, plain, saved = runs
    html = render_html(plain, ci=False)
    tiles = _grid_tiles(html)
    assert len(tiles) == 5 and 'class="noimg"' not in "".join(sum(tiles.values(), []))
    # each input tile is the thumbnail of the file the runner saves with save_inputs: the same pixels
    cells = {(r["dataset"], r["mask"]): r["input_key"] for _, r in load_run(saved).cells().iterrows()}
    for (head, sid), (inp, _, gt) in tiles.items():
        ds, mk = head.split(" × ")
        folder = saved / "inputs" / cells[(ds, mk)]
        assert _src(inp) == _thumb_b64(Image.open(folder / f"{sid}_input.png"))
        assert _src(gt) == _thumb_b64(Image.open(folder / f"{sid}_gt.png"))


def test_a_changed_input_is_a_tile_saying_so_never_a_wrong_picture(runs, tmp_path):
    data, plain, _ = runs
    original = (data / "images" / "im1.png").read_bytes()
    try:
        a = np.asarray(Image.open(data / "images" / "im1.png")).copy()
        a[0, 0] ^= 0xFF  # one pixel differs from what the run was given
        Image.fromarray(a).save(data / "images" / "im1.png")
        tiles = _grid_tiles(render_html(plain, ci=False))
        head = next(h for h, _ in tiles if h.startswith("folder"))
        bad = tiles[(head, "im1")]
        assert all(_src(f) is None for f in bad)  # input, mask and ground truth: none shown
        assert "does not match the run&#x27;s digest" in bad[0] or "does not match the run's digest" in bad[0]
        assert all(_src(f) is not None for f in tiles[(head, "im0")])  # the others still are
    finally:
        (data / "images" / "im1.png").write_bytes(original)


def test_a_dataset_that_cannot_be_read_here_says_so(runs, tmp_path):
    data, plain, _ = runs
    moved = data.with_name("data-moved")
    data.rename(moved)
    try:
        tiles = _grid_tiles(render_html(plain, ci=False))
        folder = [v for (h, _), v in tiles.items() if h.startswith("folder")]
        assert folder and all(_src(f[0]) is None and "rebuilding it failed" in f[0] for f in folder)
        assert all(_src(v[0]) is not None for (h, _), v in tiles.items() if h.startswith("synthetic"))
    finally:
        moved.rename(data)


def test_a_relative_dataset_root_is_found_from_another_folder(tmp_path, monkeypatch):
    """A suite with ``root: data`` run from its own folder (the usual way): `bench report RUN --format html` from
    any other folder rebuilt the inputs from 'data' there ("folder 'data' does not exist"), and every input, mask
    and ground-truth tile was grey. The rebuild now reads the dataset where the run read it (the absolute root the
    manifest records); the digests still decide what is shown."""
    _data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    suite = parse_suite({
        "output_dir": "results", "backends": ["opencv-telea"], "datasets": [{"type": "folder", "root": "data"}],
        "masks": [{"type": "box", "min_size": 0.3, "max_size": 0.5}], "metrics": ["psnr"], "detectors": [],
        "resolution": 48, "device": "cpu", "save_inputs": False})
    run = Runner(suite, progress=False).run().resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    tiles = _grid_tiles(render_html(run, ci=False))
    assert len(tiles) == 3 and all(_src(f) is not None for v in tiles.values() for f in v)
    # a folder named like the suite's root where the report is made is not what the run read: its files do not match
    _data(elsewhere / "data")
    for p in (elsewhere / "data" / "images").glob("*.png"):
        Image.fromarray(255 - np.asarray(Image.open(p))).save(p)
    tiles = _grid_tiles(render_html(run, ci=False))
    assert all(_src(f) is not None for v in tiles.values() for f in v)
