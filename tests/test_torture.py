"""Bad-input torture suite (issue 7, items 5 and 6): every bad input gets correct handling or a clear per-item
error, the run finishes, and nothing computed is lost; nothing is written outside the run folder; no pickle loads,
no shell.

Most cases run in-process through the ``folder`` dataset; the ones about the process itself (memory limits, a
backend that never returns, what a run writes to the file system) run ``bench run`` in a subprocess.
"""
from __future__ import annotations

import ast
import io
import json
import math
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from bench.cli import main
from bench.config import parse_suite
from bench.runner import Runner
from bench.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
H, W = 40, 48


def pattern(h: int = H, w: int = W) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 5) % 256, (y * 6) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


ODD_NAMES = ["my photo", "ünïcødé 名前", "a..b", "-dash", "semi;colon", "$(touch PWNED)", "quote'\"", "tab\tname",
             "UPPER"]
HIDDEN = [".hidden", "..dots"]  # dot files are ignored by the folder dataset (like .DS_Store)


def make_images(root: Path) -> dict[str, np.ndarray]:
    """images/ with broken, unusual and oddly named files; returns the expected RGB (uint8 scale) of good ones."""
    d = root / "images"
    d.mkdir(parents=True)
    rgb = pattern()
    expect = {}
    (d / "good.png").write_bytes(png_bytes(rgb))
    expect["good"] = rgb.astype(np.float64)
    b = bytearray(png_bytes(rgb))
    b[len(b) // 2] ^= 0xFF
    (d / "corrupt.png").write_bytes(bytes(b))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    (d / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (d / "zero.png").write_bytes(b"")
    (d / "notimage.png").write_text("hello, I am text with a .png name")
    import cv2

    a16 = rgb.astype(np.uint16) * 257 + 3  # values no 8-bit image can hold
    cv2.imwrite(str(d / "deep16.png"), a16[:, :, ::-1])
    expect["deep16"] = a16 / 257.0
    Image.fromarray(rgb[:, :, 1]).save(d / "gray.png")
    expect["gray"] = np.repeat(rgb[:, :, 1:2], 3, axis=2).astype(np.float64)
    Image.fromarray(np.dstack([rgb, np.full((H, W), 7, np.uint8)])).save(d / "rgba.png")
    expect["rgba"] = rgb.astype(np.float64)  # alpha dropped, stored colour kept
    pal = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.save(d / "palette.png")
    expect["palette"] = np.asarray(pal.convert("RGB")).astype(np.float64)
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(d / "exif6.png", exif=exif)
    expect["exif6"] = np.rot90(rgb, -1).astype(np.float64)
    for n in ODD_NAMES + HIDDEN:
        (d / (n + (".PNG" if n == "UPPER" else ".png"))).write_bytes(png_bytes(rgb))
        if n not in HIDDEN:
            expect[n] = rgb.astype(np.float64)
    return expect


def make_pairs(root: Path) -> None:
    """images/ + masks/ with masks that are not binary, the wrong size, empty, full; an EXIF-rotated pair."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rgb = pattern()

    def pair(name, mask, img=rgb, exif=None):
        Image.fromarray(img).save(root / "images" / f"{name}.png", **({"exif": exif} if exif else {}))
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")

    m = np.zeros((H, W), np.uint8)
    m[10:20, 10:30] = 255
    pair("binary", m)
    pair("grey", np.tile(np.linspace(0, 255, W).round().astype(np.uint8), (H, 1)))  # anti-aliased ramp
    pair("wrongsize", np.zeros((20, 20), np.uint8))
    pair("empty", np.zeros((H, W), np.uint8))
    pair("full", np.full((H, W), 255, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 8
    rot = np.zeros((W, H), np.uint8)  # the mask drawn on the image as displayed (rotated: W x H)
    rot[5:15, 5:35] = 255
    pair("exif8", rot, exif=exif)


def rows(run_dir: Path) -> list[dict]:
    from bench.store.run import load_run

    return load_run(run_dir).records()  # flags set from the stored scores, as every reader sees them


def created(run_dir: Path) -> dict:
    con = sqlite3.connect(str(run_dir / "records.sqlite"))
    try:
        return {(c, s): t for c, s, t in con.execute("SELECT gen_key, sample_id, created FROM outputs")}
    finally:
        con.close()


# ------------------------------------------------------------------------------------------------------------
# images and masks through the folder dataset and the runner
# ------------------------------------------------------------------------------------------------------------
def test_bad_and_unusual_images_each_get_correct_handling_or_a_clear_error(tmp_path):
    expect = make_images(tmp_path / "imgs")
    suite = parse_suite({
        "name": "imgs", "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 3, "workers": 2,
        "save_inputs": True, "backends": ["identity", "opencv-telea"],
        "datasets": [{"type": "folder", "root": str(tmp_path / "imgs"), "name": "imgs"}],
        "masks": [{"type": "box", "min_size": 0.2, "max_size": 0.4}], "metrics": ["psnr", "ssim"],
    })
    run_dir = Runner(suite, progress=False).run()
    recs = rows(run_dir)
    by = {(r["backend"], r["sample_id"]): r for r in recs}
    ids = {r["sample_id"] for r in recs}
    bad = {"corrupt": ("corrupt.png", "corrupt PNG"), "truncated": ("truncated.jpg", "truncated"),
           "zero": ("zero.png", "empty file (0 bytes)"), "notimage": ("notimage.png", "not a readable image")}
    assert ids == set(expect) | set(bad)  # hidden files are not samples; every other file is one
    assert len(recs) == 2 * len(ids)  # one row per (cell, sample): nothing silently dropped
    for (backend, sid), r in by.items():
        if sid in bad:
            fname, why = bad[sid]
            assert r["error"].startswith(f"sample {sid}: DataError: ") and fname in r["error"] and why in r["error"], r
        else:
            assert r["error"] is None, r
            assert math.isfinite(r["psnr_in"]) and 0 < r["ssim_in"] <= 1 and 0 < r["hole_fraction"] < 0.2
    # opencv fills beat the blank on every readable image (the pixels decoded are real content)
    assert all(by[("opencv-telea", s)]["psnr_in"] > by[("identity", s)]["psnr_in"] for s in expect)

    # the values decoded are right: 16-bit precision kept, grey -> 3 equal channels, alpha dropped, palette
    # expanded, EXIF orientation applied
    from bench.datasets.folder import FolderDataset

    ds = FolderDataset(str(tmp_path / "imgs"))
    for sid, want in expect.items():
        got = ds.load(sid).image.permute(1, 2, 0).double().numpy() * 255.0
        assert got.shape == want.shape, sid
        assert np.abs(got - want).max() < (0.01 if sid == "deep16" else 1e-3), sid

    # stored outputs: one file per sample and cell, inside the run folder, unique names even for odd ids
    files = [p for sub in ("generations", "inputs") for p in (run_dir / sub).rglob("*") if p.is_file()]
    assert files and all(p.resolve().is_relative_to(run_dir.resolve()) for p in files)
    for cell in {r["cell_key"] for r in recs}:
        outs = list((run_dir / "generations" / cell).iterdir())
        assert len(outs) == len(expect) == len({p.name for p in outs})
        assert not any(p.name.startswith(".") for p in outs)

    # a rerun recomputes nothing that succeeded; the bad items are retried (and fail the same way)
    before = created(run_dir)
    time.sleep(0.01)
    Runner(suite, progress=False).run()
    after = created(run_dir)
    assert set(after) == set(before)
    for key, t in after.items():
        assert (t == before[key]) == (key[1] not in bad), key
    assert not list(tmp_path.rglob("PWNED"))


def test_masks_not_binary_wrong_size_empty_full_and_rotated(tmp_path):
    make_pairs(tmp_path / "pairs")
    suite = parse_suite({
        "name": "pairs", "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2,
        "backends": ["identity", "opencv-telea"],
        "datasets": [{"type": "folder", "root": str(tmp_path / "pairs"), "name": "pairs", "task": "reconstruction"}],
        "masks": ["given"], "metrics": ["psnr", "ssim"],
        "detectors": ["blur", "noop", "replacement", "outside_drift", "black", "nan", "incomplete", "resized"],
    })
    recs = rows(Runner(suite, progress=False).run())
    assert len(recs) == 12
    by = {(r["backend"], r["sample_id"]): r for r in recs}
    for b in ("identity", "opencv-telea"):
        r = by[(b, "wrongsize")]
        assert "masks/wrongsize.png: mask is 20x20" in r["error"] and "images/wrongsize.png is 40x48" in r["error"]
        assert by[(b, "binary")]["hole_fraction"] == pytest.approx(200 / (H * W))
        # an anti-aliased ramp is thresholded at half range: values >= 128 are holes (the right half)
        assert by[(b, "grey")]["hole_fraction"] == pytest.approx(0.5)
        # an empty hole would score as a perfect sample, a full one has nothing to inpaint from: error rows that
        # name the mask file (issue 14), never silent numbers
        e = by[(b, "empty")]
        assert "masks/empty.png has no hole" in e["error"] and "psnr_in" not in e
        f = by[(b, "full")]
        assert "masks/full.png covers the whole image" in f["error"] and "psnr_out" not in f
        # the EXIF-rotated image is displayed as W x H and its mask drawn that way pairs with it
        r8 = by[(b, "exif8")]
        assert r8["error"] is None and r8["hole_fraction"] == pytest.approx(300 / (H * W))
        assert all(by[(b, s)]["error"] is None for s in ("binary", "grey", "exif8"))
    assert by[("identity", "binary")]["noop_flag"] == 1 and by[("opencv-telea", "binary")]["noop_flag"] == 0


def test_a_large_photo_runs(tmp_path):
    """A 3.8-megapixel photo (2400 x 1600) runs end to end. (8000 x 8000 needs ~770 MB per float copy and the runner
    makes several: that case runs under a memory limit in a subprocess, below.)"""
    import cv2

    d = tmp_path / "big" / "images"
    d.mkdir(parents=True)
    y, x = np.mgrid[0:1600, 0:2400]
    a = np.stack([(x // 12) % 256, (y // 8) % 256, ((x + y) // 16) % 256], -1).astype(np.uint8)
    cv2.imwrite(str(d / "photo.png"), a, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    suite = parse_suite({"name": "big", "output_dir": str(tmp_path / "results"), "device": "cpu",
                         "backends": ["mean-fill"], "datasets": [{"type": "folder", "root": str(d.parent)}],
                         "masks": [{"type": "box", "min_size": 0.1, "max_size": 0.2}], "metrics": ["psnr"]})
    (r,) = rows(Runner(suite, progress=False).run())
    assert r["error"] is None and math.isfinite(r["psnr_in"]) and r["psnr_out"] == math.inf


CHILD = textwrap.dedent("""
    import resource, sys
    import bench.cli
    bench.cli.build_parser("run")
    import bench.cli.report, bench.runner  # everything the run imports, before the limit applies
    import bench.report.leaderboard, cv2  # the PNG writer's OpenCV (loaded lazily since the CLI no longer imports
                                          # the report at start-up): a library, not the image, must not hit the limit
    from bench.registry import BACKENDS, DATASETS, MASKS, METRICS
    for reg, name in ((BACKENDS, "identity"), (DATASETS, "folder"), (MASKS, "box"), (METRICS, "psnr"),
                      (METRICS, "ssim")):
        reg.get(name)
    vmdata = [int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmData")][0]
    budget = int(float(sys.argv[1]) * 2**30)
    resource.setrlimit(resource.RLIMIT_DATA, (vmdata + budget, resource.RLIM_INFINITY))
    sys.exit(bench.cli.main(sys.argv[2:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("budget_gib", [
    0.15,  # the decoder itself cannot get the memory: a DataError from bench.io naming the file and its size
    2.0,
])
def test_8000px_image_under_a_memory_limit_fails_alone_and_the_run_goes_on(tmp_path, budget_gib):
    """8000 x 8000 is 192 MB as 8-bit and 768 MB per float32 copy. The run gets ``budget_gib`` of heap beyond
    start-up (RLIMIT_DATA: malloc and anonymous mmaps, not the mapped libraries). With 0.15 GiB decoding fails;
    with 2 GiB decoding succeeds and a later copy cannot be allocated. Either way that must become this item's
    error row, and the small image after it must still be computed."""
    import cv2

    d = tmp_path / "data" / "images"
    d.mkdir(parents=True)
    s = 8000
    big = np.empty((s, s, 3), np.uint8)
    big[..., 0] = (np.arange(s) // 32).astype(np.uint8)[None, :]
    big[..., 1] = (np.arange(s) // 32).astype(np.uint8)[:, None]
    big[..., 2] = 128
    cv2.imwrite(str(d / "b_big.png"), big, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    del big
    small = pattern(64, 64)
    for n in ("a_small", "c_small"):
        Image.fromarray(small).save(d / f"{n}.png")
    suite = tmp_path / "big.yaml"
    suite.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 1, "backends": ["identity"],
        "datasets": [{"type": "folder", "root": str(d.parent)}], "masks": ["box"], "metrics": ["psnr", "ssim"]}))
    r = subprocess.run([sys.executable, "-c", CHILD, str(budget_gib), "run", str(suite), "--no-progress",
                        "--no-report"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    by = {x["sample_id"]: x for x in rows(tmp_path / "results" / "big")}
    assert by["a_small"]["error"] is None and by["c_small"]["error"] is None
    err = by["b_big"]["error"]
    assert err and re.search(r"memory|allocate", err, re.I) and "b_big" in err
    if budget_gib < 1:
        assert "b_big.png: not enough memory to decode this image (8000 x 8000 pixels, 768 MB" in err


# ------------------------------------------------------------------------------------------------------------
# suite files and run ids
# ------------------------------------------------------------------------------------------------------------
BASE = "backends: [identity]\ndatasets: [{type: synthetic, n: 2}]\nmasks: [box]\ndevice: cpu\nresolution: 32\n"


@pytest.mark.parametrize("text, expected", [
    (BASE + "seed: 1\nseed: 2\n", "line 7: duplicate key 'seed'"),
    ("backends: [{type: opencv-telea, radius: 3, radius: 5}]\ndatasets: [synthetic]\nmasks: [box]\n",
     "line 1: duplicate key 'radius'"),
    ("backends:\n\t- identity\ndatasets: [synthetic]\nmasks: [box]\n", "does not allow tabs"),
    (BASE + "batch_size: '4'\n", "batch_size: expected int, got str '4'"),
    (BASE + "seed: 1.5\n", "seed: expected int"),
    (BASE + "paste_back: maybe\n", "paste_back: expected bool"),
    (BASE.replace("backends: [identity]", "backends: identity"), "backends: expected a list"),
    (BASE.replace("[identity]", "[{type: opencv-telea, radius: '3'}]"), "backends[0].radius"),
    (BASE.replace("masks: [box]", "masks: [{type: box, min_size: big}]"), "masks[0].min_size"),
    (BASE + "name: ../../escape\n", "name: use letters, digits"),
    (BASE + "name: /abs\n", "name: use letters, digits"),
    (BASE.replace("[identity]", "[{type: identity, name: ../up}]"), "backends[0].name"),
    # YAML 1.1 reads an unquoted off/no/yes as a boolean: said, not replaced by the file's name in silence
    (BASE + "name: off\n", "got 'False'); YAML reads an unquoted yes/no/on/off/true/false as a boolean"),
    (BASE.replace("[identity]", "[{type: identity, name: no}]"), "backends[0].name: labels use"),
    ("- just\n- a list\n", "a suite must be a mapping"),
    ("", "the suite file is empty"),
    (BASE + "bacth_size: 4\n", "did you mean 'batch_size'"),
])
def test_bad_suite_files_give_a_clear_error(tmp_path, capsys, text, expected):
    p = tmp_path / "suite.yaml"
    p.write_text(text)
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and "Traceback" not in err
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 2
    assert not (tmp_path / "results").exists()  # nothing ran, nothing written


@pytest.mark.parametrize("run_id", ["../escape", "..", ".", "/tmp/abs", "a/b", "a\\b", "..%2f", "~", "ü", " x"])
def test_run_ids_that_would_escape_the_output_folder_are_refused(tmp_path, capsys, run_id):
    p = tmp_path / "suite.yaml"
    p.write_text(BASE + f"output_dir: {tmp_path / 'out'}\n")
    before = sorted(str(q) for q in tmp_path.parent.iterdir())
    assert main(["run", str(p), "--run-id", run_id, "--no-progress", "--no-report"]) == 2
    assert "must be a plain folder name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and sorted(str(q) for q in tmp_path.parent.iterdir()) == before


def test_suite_name_with_dots_is_refused_before_anything_is_written(tmp_path, capsys):
    p = tmp_path / "suite.yaml"
    p.write_text(BASE + f"output_dir: {tmp_path / 'out'}\nname: a..b\n")
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 2
    assert "run-id" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_overlong_run_id_is_a_clear_error(tmp_path, capsys):
    p = tmp_path / "suite.yaml"
    p.write_text(BASE + f"output_dir: {tmp_path / 'out'}\n")
    assert main(["run", str(p), "--run-id", "a" * 300, "--no-progress", "--no-report"]) == 2
    assert "run-id" in capsys.readouterr().err


@pytest.mark.parametrize("setting", [
    "timeout_s: 0",
    "timeout_s: -5",
    "timeout_s: .nan",
    "workers: -2",
    "warmup: -1",
    "batch_size: 0",
    "limit: 0",
])
def test_out_of_range_settings_are_config_errors(tmp_path, capsys, setting):
    p = tmp_path / "suite.yaml"
    p.write_text(BASE + setting + "\n")
    assert main(["validate", str(p)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {setting.split(':')[0]}")


@pytest.mark.parametrize("kind", ["latin1", "directory"])
def test_unreadable_suite_file_is_a_clear_error(tmp_path, capsys, kind):
    p = tmp_path / "suite.yaml"
    if kind == "latin1":
        p.write_bytes(BASE.encode() + b"description: caf\xe9\n")
    else:
        p.mkdir()
    assert main(["validate", str(p)]) == 2
    assert str(p) in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------
# misbehaving backends
# ------------------------------------------------------------------------------------------------------------
def test_backend_writing_to_stdout_and_stderr_file_descriptors(tmp_path, capfd):
    import tests.plugins_torture  # noqa: F401 - registers torture-stdout

    suite = parse_suite({"output_dir": str(tmp_path / "res"), "device": "cpu", "batch_size": 2,
                         "backends": ["torture-stdout", "identity"], "datasets": [{"type": "synthetic", "n": 4}],
                         "masks": ["box"], "resolution": 32})
    recs = rows(Runner(suite, progress=False).run())
    out, err = capfd.readouterr()
    assert out.count("fd-1 chatter") == 2 and err.count("fd-2 warning") == 2  # file descriptors: not redirected
    assert "print() chatter" in err and "print() chatter" not in out  # Python's prints go to stderr
    assert len(recs) == 8 and all(r["error"] is None for r in recs)
    a = {r["sample_id"]: r["psnr_in"] for r in recs if r["backend"] == "torture-stdout"}
    assert a == {r["sample_id"]: r["psnr_in"] for r in recs if r["backend"] == "identity"}


def _vm(field: str) -> int:
    """A /proc/self/status memory field in bytes (VmRSS, VmHWM...)."""
    return [int(x.split()[1]) << 10 for x in open("/proc/self/status") if x.startswith(field + ":")][0]


def test_leaking_backend_finishes_and_its_memory_shows_in_the_sessions(tmp_path):
    """The harness cannot stop a leak, but the run must finish and the cell's peak RSS must show it."""
    import tests.plugins_torture as pt

    suite = parse_suite({"output_dir": str(tmp_path / "res"), "device": "cpu", "batch_size": 2,
                         "backends": [{"type": "torture-leak", "mb": 40}], "datasets": [{"type": "synthetic", "n": 6}],
                         "masks": ["box"], "resolution": 32})
    import ctypes
    import gc

    gc.collect()  # memory earlier tests freed must not be counted in the baseline and vanish during the run
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    rss_before = _vm("VmRSS")
    try:
        run_dir = Runner(suite, progress=False).run()
        recs = rows(run_dir)
        assert len(recs) == 6 and all(r["error"] is None for r in recs)
        assert len(pt.LEAKED) == 3
        with RunStore(run_dir / "records.sqlite") as s:
            (sess,) = s.sessions()
        # the 120 MiB kept are resident at the end of the cell, so the recorded peak is at least that much above the
        # RSS before the run (bytes, not KiB)
        assert sess["peak_rss"] >= rss_before + (110 << 20) and sess["n_computed"] == 6
    finally:
        pt.LEAKED.clear()


def test_backend_calling_sys_exit_fails_its_cells_not_the_run(tmp_path):
    import tests.plugins_torture  # noqa: F401 - registers torture-exit

    suite = parse_suite({"output_dir": str(tmp_path / "res"), "device": "cpu", "batch_size": 2, "resolution": 32,
                         "backends": [{"type": "torture-exit", "name": "exit-setup", "where": "setup"},
                                      {"type": "torture-exit", "name": "exit-call"}, "identity"],
                         "datasets": [{"type": "synthetic", "n": 3}], "masks": ["box"], "metrics": ["psnr"]})
    try:
        run_dir = Runner(suite, progress=False).run()
    except SystemExit as e:
        pytest.fail(f"the run ended with SystemExit({e.code!r})")
    by = {}
    for r in rows(run_dir):
        by.setdefault(r["backend"], []).append(r)
    assert len(by["identity"]) == 3 and all(r["error"] is None for r in by["identity"])
    assert len(by["exit-setup"]) == 3 and all("unrecognized arguments" in r["error"] for r in by["exit-setup"])
    assert len(by["exit-call"]) == 3 and all("exit" in r["error"].lower() for r in by["exit-call"])


def test_a_backend_failing_in_teardown_keeps_its_outputs_and_the_next_backend_runs(tmp_path):
    """sys.exit (or any error) in a backend's teardown, after its outputs are stored, must neither end the run (the
    backends after it never ran) nor pass unsaid: one line names the backend."""
    import io

    from rich.console import Console

    import tests.plugins_torture  # noqa: F401 - registers torture-exit

    suite = parse_suite({"output_dir": str(tmp_path / "res"), "device": "cpu", "batch_size": 2, "resolution": 32,
                         "backends": [{"type": "torture-exit", "name": "exit-teardown", "where": "teardown"},
                                      "identity"],
                         "datasets": [{"type": "synthetic", "n": 3}], "masks": ["box"], "metrics": ["psnr"]})
    buf = io.StringIO()
    try:
        run_dir = Runner(suite, progress=False, console=Console(file=buf, width=200)).run()
    except SystemExit as e:
        pytest.fail(f"the run ended with SystemExit({e.code!r})")
    assert sorted((r["backend"], r["error"]) for r in rows(run_dir)) == [("exit-teardown", None)] * 3 + [
        ("identity", None)] * 3
    assert ("backends[0] (exit-teardown): teardown failed: the backend called sys.exit('cleanup: cannot release the "
            "device')") in buf.getvalue()


@pytest.mark.slow
def test_recorded_peak_rss_is_the_runs_own(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 32,
                                 "backends": ["identity"], "datasets": [{"type": "synthetic", "n": 2}],
                                 "masks": ["box"], "metrics": ["psnr"]}))
    ballast = bytearray(2 << 30)  # this process: +2 GiB resident while it starts the run
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    r = subprocess.run([sys.executable, "-m", "bench", "run", str(p), "--no-progress", "--no-report"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    del ballast
    assert r.returncode == 0, r.stderr[-2000:]
    with RunStore(tmp_path / "res" / "s" / "records.sqlite") as s:
        (sess,) = s.sessions()
    assert sess["peak_rss"] < 1.5 * 2**30  # a 2-image run at 32 px needs well under 1.5 GiB (about 0.7 here)


@pytest.mark.slow
def test_bench_run_exits_after_a_backend_hangs_forever(tmp_path):
    p = tmp_path / "hang.yaml"
    p.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "res"), "device": "cpu", "batch_size": 1, "timeout_s": 0.5,
        "backends": [{"type": "test-hang", "seconds": 3600}, "identity"],
        "datasets": [{"type": "test-noise", "n": 3}], "masks": ["box"], "metrics": ["psnr"]}))
    code = "import sys, tests.plugins; from bench.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(p), "--no-progress", "--no-report"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    man = tmp_path / "res" / "hang" / "manifest.json"
    try:
        t0 = time.monotonic()
        while not (man.exists() and json.loads(man.read_text()).get("finished")):
            assert proc.poll() is None and time.monotonic() - t0 < 120, proc.stderr.read()[-2000:]
            time.sleep(0.1)
        # the work is done and recorded...
        recs = {(r["backend"], r["sample_id"]): r for r in rows(tmp_path / "res" / "hang")}
        assert len(recs) == 6 and "timed out" in recs[("test-hang", "n001")]["error"]
        assert all(recs[("identity", f"n00{i}")]["error"] is None for i in range(3))
        # ...so the process must end promptly
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------------------
# security: nothing outside the run folder, no shell, no pickle
# ------------------------------------------------------------------------------------------------------------
COPY_TOOL = textwrap.dedent("""
    import shutil, sys
    from pathlib import Path
    src, dst, *rest = sys.argv[1:]
    if rest != ["; touch PWNED_A", "$(touch PWNED_B)", "`touch PWNED_C`", "| touch PWNED_D", "*"]:
        print("unexpected arguments:", rest, file=sys.stderr)
        sys.exit(3)
    for p in Path(src).iterdir():
        shutil.copy(p, Path(dst) / p.name)
""")


def tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns) if p.is_file() else (-1, 0)
    return out


@pytest.mark.slow
def test_a_hostile_run_writes_nothing_outside_its_run_folder(tmp_path):
    """One `bench run` subprocess with HOME, TMPDIR, XDG_CACHE_HOME and its working directory inside a sandbox:
    odd file names, hostile sample ids (../../x, absolute paths) with save_inputs, the command backend with shell
    metacharacters in its arguments, a backend that writes to the raw file descriptors, a leaking backend, and the
    report. Every file that appears or changes must be inside the run folder; the command sees its arguments
    verbatim; its temporary folders are removed."""
    box = tmp_path / "sandbox"
    for d in ("home", "tmp", "cache", "cwd", "tools"):
        (box / d).mkdir(parents=True)
    make_images(box / "data")
    for bad in ("corrupt.png", "truncated.jpg", "zero.png", "notimage.png"):
        (box / "data" / "images" / bad).unlink()
    (box / "tools" / "copy.py").write_text(COPY_TOOL)
    command = (f"{sys.executable} {box / 'tools' / 'copy.py'} {{input_dir}} {{output_dir}} '; touch PWNED_A' "
               f"'$(touch PWNED_B)' '`touch PWNED_C`' '| touch PWNED_D' '*'")
    suite = box / "hostile.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "hostile", "output_dir": str(box / "results"), "device": "cpu", "batch_size": 4,
        "save_inputs": True, "resolution": 32,
        "backends": ["identity", {"type": "command", "name": "cmd", "command": command, "timeout": 120},
                     "torture-stdout", {"type": "torture-leak", "mb": 40}],
        "datasets": [{"type": "folder", "root": str(box / "data"), "name": "odd"},
                     {"type": "torture-evil-ids", "name": "evil"}],
        "masks": ["box"], "metrics": ["psnr"]}, allow_unicode=True))
    before = tree(tmp_path)
    env = {**os.environ, "HOME": str(box / "home"), "TMPDIR": str(box / "tmp"), "XDG_CACHE_HOME": str(box / "cache"),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # through sh (which forks python rather than exec'ing it), so the run's ru_maxrss does not start at this
    # process's RSS (see test_recorded_peak_rss_is_the_runs_own)
    cmd = f"{shlex.quote(sys.executable)} -c 'import tests.plugins_torture as t; t.cli()' run {shlex.quote(str(suite))}"
    r = subprocess.run(["/bin/sh", "-c", cmd + " --no-progress; exit $?"], cwd=box / "cwd", env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = (box / "results" / "hostile").resolve()
    after = tree(tmp_path)
    changed = [p for p, v in after.items() if before.get(p) != v]
    outside = [p for p in changed if not Path(p).resolve().is_relative_to(run_dir)
               and Path(p).resolve() != run_dir and not run_dir.is_relative_to(Path(p).resolve())]
    assert outside == []
    assert not [p for p in after if Path(p).name.startswith("PWNED")]
    assert not any((box / "tmp").iterdir())  # the command backend's temporary folders are gone

    from tests.plugins_torture import EVIL_IDS

    recs = rows(run_dir)
    n_ids = len(EVIL_IDS) + len(ODD_NAMES) + 6  # good, deep16, gray, rgba, palette, exif6
    assert len(recs) == 4 * n_ids and all(r["error"] is None for r in recs), [r["error"] for r in recs if r["error"]]
    for cell in {r["cell_key"] for r in recs if r["dataset"] == "evil"}:
        outs = list((run_dir / "generations" / cell).iterdir())
        assert len({p.name for p in outs}) == len(EVIL_IDS)
    n_batches = round(sum(1 / r["batch_size"] for r in recs if r["backend"] == "torture-stdout"))
    assert r.stdout.count("fd-1 chatter") == n_batches == r.stderr.count("fd-2 warning") and n_batches >= 8
    assert "print() chatter" in r.stderr and "hostile" in r.stdout  # (prints go to stderr) the leaderboard printed
    with RunStore(run_dir / "records.sqlite") as s:
        peak = {}
        for x in s.sessions():
            peak[x["cell_key"].split(".")[0]] = max(peak.get(x["cell_key"].split(".")[0], 0), x["peak_rss"])
    # 40 MiB kept per call; ru_maxrss only grows once current RSS passes the earlier peak, hence only half of it
    others = max(v for k, v in peak.items() if k != "torture-leak")
    assert peak["torture-leak"] - others >= 0.5 * n_batches * (40 << 20), peak


def test_symlinks_planted_in_the_run_folder_are_not_followed(tmp_path):
    run_dir = tmp_path / "results" / "demo"
    run_dir.mkdir(parents=True)
    victims = {}
    for name in (".lock", "suite.resolved.yaml", "manifest.json.tmp"):
        v = tmp_path / f"victim{name.replace('.', '_')}"
        v.write_text("precious")
        (run_dir / name).symlink_to(v)
        victims[name] = v
    suite = parse_suite({"name": "demo", "output_dir": str(tmp_path / "results"), "device": "cpu", "resolution": 32,
                         "backends": ["identity"], "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"]})
    try:
        Runner(suite, progress=False).run()
    except Exception as e:  # noqa: BLE001 - refusing to run in such a folder is a correct answer too
        assert "symlink" in str(e) or "symbolic link" in str(e)
    assert {n: v.read_text() for n, v in victims.items()} == {n: "precious" for n in victims}


def _calls(tree_: ast.AST):
    for node in ast.walk(tree_):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def _sources():
    return sorted((ROOT / "bench").rglob("*.py"))


def test_every_torch_load_passes_weights_only_true():
    bad = []
    for path in _sources():
        for node, owner, name in _calls(ast.parse(path.read_text())):
            if owner == "torch" and name == "load":
                kw = {k.arg: k.value for k in node.keywords}
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []


def test_no_shell_and_no_pickle_anywhere_in_bench():
    bad = []
    for path in _sources():
        for node, owner, name in _calls(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            kw = {k.arg: k.value for k in node.keywords}
            if "shell" in kw and not (isinstance(kw["shell"], ast.Constant) and kw["shell"].value is False):
                bad.append(f"{where} shell=")
            if (owner, name) in {("os", "system"), ("os", "popen"), ("pickle", "load"), ("pickle", "loads"),
                                 ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}:
                bad.append(f"{where} {owner}.{name}")
            if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant)
                                             and kw["allow_pickle"].value is False):
                bad.append(f"{where} allow_pickle")
            if owner == "subprocess" and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                bad.append(f"{where} command as a string")
    assert bad == []
    # and the command backend builds its argv with shlex.split, never by joining strings for a shell
    src = (ROOT / "bench" / "backends" / "command.py").read_text()
    assert "shlex.split(command)" in src and "run_measured(argv" in src
    assert "Popen(argv, cwd=cwd" in (ROOT / "bench" / "backends" / "procmem.py").read_text()


def test_a_metric_that_cannot_score_one_sample_fails_that_sample_alone(tmp_path):
    """A metric that raised on one sample gave every sample of the batch an error row (with batch_size 4, three
    good samples lost their value, and a run again retried them all). The batch is now scored again sample by
    sample: the one it cannot score is its error row, the others have the values they have in a batch without it."""
    import tests.plugins_torture  # noqa: F401 - registers torture-picky

    def suite(bad, out):
        return parse_suite({"output_dir": str(tmp_path / out), "device": "cpu", "batch_size": 4, "resolution": 32,
                            "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 3}], "masks": ["box"],
                            "metrics": ["psnr", {"type": "torture-picky", "bad": bad}]})

    got = {r["sample_id"]: r for r in rows(Runner(suite("syn-0001", "a"), progress=False).run())}
    clean = {r["sample_id"]: r for r in rows(Runner(suite("none", "b"), progress=False).run())}
    assert "torture-picky: scoring failed: ValueError: cannot score syn-0001" in got["syn-0001"]["error"]
    for sid in ("syn-0000", "syn-0002"):
        assert got[sid]["picky_in"] == pytest.approx(clean[sid]["picky_in"], rel=1e-6) and got[sid]["error"] is None
    assert all(got[s]["psnr_in"] == clean[s]["psnr_in"] for s in clean)  # the other metric unharmed
