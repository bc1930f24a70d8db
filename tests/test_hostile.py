"""Hostile and careless input (issue 14), through the CLI: no traceback, no silent wrong number, nothing written
outside the run folder.

Classes: escaping at every sink (terminal, LaTeX, HTML, Markdown, CSV, file names); confinement (symlinks planted
in a run folder); bounded parsing (alias bombs, size, merge keys, unhashable keys); identity checks before mixing
(a changed suite, foreign stores and manifests, merges); the backend output contract (scribbling, 0..255, NaN);
masks read honestly ({0, 1}, empty, full); CLI values; file names that are not UTF-8.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.cli import main


def write_suite(tmp_path: Path, name: str = "s", **kw) -> Path:
    d = {"name": name, "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2,
         "backends": ["identity"], "datasets": [{"type": "test-noise", "n": 3}], "masks": ["box"],
         "metrics": ["psnr"]}
    d.update(kw)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False, allow_unicode=True))
    return p


def records(run_dir: Path) -> list[dict]:
    from bench.report.aggregate import load_run

    return load_run(run_dir).records()


# ----------------------------------------------------------------------------------------------------------------
# escaping at every sink
# ----------------------------------------------------------------------------------------------------------------
def test_hostile_ids_labels_and_messages_pass_every_sink(tmp_path, plugins, capsys):
    from tests.plugins import HOSTILE_IDS

    evil_caption = "}\\input{/etc/passwd}% [/x] <script>alert(1)</script> =HYPERLINK(\"x\")"
    p = write_suite(tmp_path, backends=["identity", "test-markup-error"], save_inputs=True,
                    datasets=[{"type": "test-hostile-ids", "n": 1}],
                    report={"tables": [{"name": "main", "caption": evil_caption, "label": "tab:}\\input{x}%",
                                        "columns": ["psnr_in"]}]})
    assert main(["run", str(p), "--no-progress"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    run_dir = tmp_path / "results" / "s"
    recs = {(r["backend"], r["sample_id"]): r for r in records(run_dir)}
    assert all(recs[("identity", s)]["error"] is None for s in HOSTILE_IDS)
    assert all("cannot open [/opt/w.ckpt]" in recs[("test-markup-error", s)]["error"] for s in HOSTILE_IDS)

    assert main(["report", str(run_dir), "--format", "term,md,tex,html,csv"]) == 0
    term = capsys.readouterr().out
    assert "Traceback" not in term
    tex = (run_dir / "tables" / "main.tex").read_text()
    assert "\\input{" not in tex and "\\label{tab:--input-x--}" in tex
    html = (run_dir / "report.html").read_text()
    assert "<script>alert" not in html
    import re

    # every identity output shown has its image (one file-name rule for writer and reader), ids escaped
    tiles = re.findall(r'<figure class="tile out"[^>]* title="identity · ([^"]*)">(.*?)</figure>', html)
    attrs = re.findall(r'<figure class="tile out"([^>]*)>', html)
    assert attrs and all("<" not in a and "data-sample=" in a for a in attrs)  # ids escaped in the data attributes
    assert len(tiles) >= 4 and all("<img " in body and "noimg" not in body for _, body in tiles)
    import html as html_mod

    assert {html_mod.unescape(t) for t, _ in tiles} <= set(HOSTILE_IDS)
    summary = list(csv.reader((run_dir / "summary.csv").open()))
    assert all(not cell.startswith(("=", "+", "@")) for row in summary for cell in row)
    assert main(["export", str(run_dir), "--per-sample", str(tmp_path / "ps.csv")]) == 0
    rows = list(csv.reader((tmp_path / "ps.csv").open()))
    ids = [r[rows[0].index("sample_id")] for r in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in ids and not any(c.startswith("=") for r in rows for c in r)
    md = (run_dir / "leaderboard.md").read_text()
    assert "<script>" not in md


def test_markup_in_paths_and_messages_never_crashes_the_terminal(tmp_path, plugins, capsys):
    out_dir = tmp_path / "out[/x]" / "[bold]"
    p = write_suite(tmp_path, output_dir=str(out_dir), backends=["test-markup-error", "identity"])
    assert main(["run", str(p)]) == 0  # progress bars and leaderboard on
    text = capsys.readouterr().out
    assert "[/x]" in text and "identity" in text
    assert len(records(out_dir / "s")) == 6


# ----------------------------------------------------------------------------------------------------------------
# confinement
# ----------------------------------------------------------------------------------------------------------------
def test_links_planted_in_a_run_folder_are_never_written_through(tmp_path, plugins, capsys):
    p = write_suite(tmp_path, save_inputs=True)
    assert main(["run", str(p), "--no-progress"]) == 0
    run_dir = tmp_path / "results" / "s"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    # plant links where the run writes: generations/, inputs/, the leaderboard, the store
    import shutil

    shutil.rmtree(run_dir / "generations")
    (run_dir / "generations").symlink_to(victim)
    (run_dir / "leaderboard.md").unlink()
    (run_dir / "leaderboard.md").symlink_to(victim / "keep.txt")
    assert main(["run", str(write_suite(tmp_path, metrics=["psnr", "ssim"])), "--no-progress"]) == 2
    assert "generations is a symbolic link inside the run folder" in capsys.readouterr().err
    assert (victim / "keep.txt").read_text() == "precious" and sorted(os.listdir(victim)) == ["keep.txt"]
    (run_dir / "generations").unlink()
    assert main(["run", str(p), "--no-progress"]) == 2  # the leaderboard link is refused the same way
    assert "leaderboard.md is a symbolic link" in capsys.readouterr().err
    (run_dir / "generations").symlink_to(victim)
    # --fresh removes the links, never their targets
    assert main(["run", str(p), "--fresh", "--no-progress"]) == 0
    assert (victim / "keep.txt").read_text() == "precious" and sorted(os.listdir(victim)) == ["keep.txt"]
    assert not (run_dir / "generations").is_symlink() and not (run_dir / "leaderboard.md").is_symlink()
    # a store that is a link is refused
    (run_dir / "records.sqlite").rename(tmp_path / "real.sqlite")
    (run_dir / "records.sqlite").symlink_to(tmp_path / "real.sqlite")
    assert main(["run", str(p), "--no-progress"]) == 2
    assert "symbolic link" in capsys.readouterr().err


def test_exports_refuse_links_and_stay_in_their_folder(tmp_path, plugins, capsys):
    p = write_suite(tmp_path)
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    dest = tmp_path / "exp"
    dest.mkdir()
    (dest / "identity").symlink_to(tmp_path)
    assert main(["export", str(tmp_path / "results" / "s"), "--outputs", str(dest)]) == 2
    assert "symbolic link" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# bounded parsing
# ----------------------------------------------------------------------------------------------------------------
BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
backends: [identity]
datasets: [samples]
masks: [{type: box, min_size: *g}]
"""


def test_an_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path, capsys):
    """Expanded, BOMB is about 10^9 nodes (minutes and gigabytes); refused, it takes milliseconds. The bound is
    generous (in-process, so no interpreter start-up under a loaded machine's scheduling makes it flaky) and still
    orders of magnitude below an expansion."""
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    t0 = time.perf_counter()
    assert main(["validate", str(p)]) == 2
    assert time.perf_counter() - t0 < 10.0
    err = capsys.readouterr().err
    assert "expands to more than" in err and len(err) < 500


def test_huge_values_are_quoted_short_and_big_files_refused(tmp_path, capsys):
    p = write_suite(tmp_path, masks=[{"type": "box", "min_size": ["x" * 10_000] * 50}])
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "masks[0].min_size" in err and len(err) < 400
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20))
    assert main(["validate", str(big)]) == 2 and "is not a suite file" in capsys.readouterr().err


def test_merge_keys_work_and_unhashable_keys_are_config_errors(tmp_path, capsys, plugins):
    p = tmp_path / "m.yaml"
    p.write_text("x-box: &box {type: box, min_size: 0.2, max_size: 0.3}\n"
                 "backends: [identity]\ndatasets: [{type: test-noise, n: 2}]\n"
                 "masks:\n  - <<: *box\n    max_size: 0.4\n")
    assert main(["validate", str(p)]) == 0
    from bench.config import load_suite

    spec = load_suite(p).masks[0]
    assert spec.params == {"min_size": 0.2, "max_size": 0.4}  # the explicit key wins over the merged one
    p.write_text("backends: [identity]\ndatasets: [samples]\nmasks: [box]\n? [1, 2]\n: x\n")
    assert main(["validate", str(p)]) == 2
    assert "line 4: a key must be a plain value" in capsys.readouterr().err
    p.write_text("backends: [identity]\ndatasets: [samples]\nmasks: [box]\nseed: 1\nseed: 2\n")
    assert main(["validate", str(p)]) == 2 and "duplicate key 'seed'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# identity checks before mixing
# ----------------------------------------------------------------------------------------------------------------
def test_a_foreign_sqlite_file_and_a_null_manifest_are_clear_errors(tmp_path, capsys):
    p = write_suite(tmp_path)
    run_dir = tmp_path / "results" / "s"
    run_dir.mkdir(parents=True)
    con = sqlite3.connect(str(run_dir / "records.sqlite"))
    con.execute("CREATE TABLE thumbnails (id INTEGER, blob BLOB)")
    con.commit()
    con.close()
    assert main(["run", str(p), "--no-progress"]) == 2
    assert "SQLite file of another program" in capsys.readouterr().err
    con = sqlite3.connect(str(run_dir / "records.sqlite"))
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["thumbnails"]
    con.close()
    (run_dir / "records.sqlite").unlink()
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    (run_dir / "manifest.json").write_text("null")
    assert main(["report", str(run_dir)]) == 2
    assert "not a run manifest" in capsys.readouterr().err
    assert main(["run", str(p), "--no-progress"]) == 0  # the run writes a proper manifest again


def test_merge_refuses_unknown_or_other_suites_unless_forced(tmp_path, plugins, capsys):
    a = write_suite(tmp_path, name="a")
    b = write_suite(tmp_path, name="b", seed=7)
    assert main(["run", str(a), "--no-progress", "--no-report"]) == 0
    assert main(["run", str(b), "--no-progress", "--no-report"]) == 0
    ra, rb = tmp_path / "results" / "a", tmp_path / "results" / "b"
    assert main(["merge", str(ra), str(rb), "--into", str(tmp_path / "ab"), "--no-report"]) == 2
    assert "ran different suites" in capsys.readouterr().err
    assert main(["merge", str(ra), str(rb), "--into", str(tmp_path / "ab"), "--force", "--no-report"]) == 0
    man = json.loads((tmp_path / "ab" / "manifest.json").read_text())
    assert man["comparable"] is False and man["merge_forced"]


# ----------------------------------------------------------------------------------------------------------------
# the backend output contract
# ----------------------------------------------------------------------------------------------------------------
def test_backend_outputs_are_checked_and_its_scribbles_change_nothing(tmp_path, plugins):
    p = write_suite(tmp_path, backends=["test-scribbler", "test-255", "test-nan"], metrics=["psnr"],
                    detectors=["noop"], warmup=1)
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    by = {}
    for r in records(tmp_path / "results" / "s"):
        by.setdefault(r["backend"], []).append(r)
    # the scribbler wrote 1.0 into its image and cleared its mask: what is scored is its output vs the real
    # mask and ground truth (finite psnr_in, psnr_out infinite: outside the hole it returned the input it was given)
    assert all(r["error"] is None and math.isfinite(r["psnr_in"]) and r["psnr_out"] == math.inf
               for r in by["test-scribbler"])
    assert all("output values span" in r["error"] and "divide by 255" in r["error"] for r in by["test-255"])
    assert sum("NaN/inf" in (r["error"] or "") for r in by["test-nan"]) == 2


# ----------------------------------------------------------------------------------------------------------------
# masks read honestly, CLI values, file names
# ----------------------------------------------------------------------------------------------------------------
def _folder(root: Path, masks: dict[str, np.ndarray]) -> None:
    import cv2

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, m in masks.items():
        img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{name}.png"), img)
        cv2.imwrite(str(root / "masks" / f"{name}.png"), m)


def test_zero_one_masks_are_holes_and_empty_or_full_masks_are_error_rows(tmp_path):
    m01 = np.zeros((32, 32), np.uint8)
    m01[8:16, 8:16] = 1
    _folder(tmp_path / "d", {"zero_one": m01, "empty": np.zeros((32, 32), np.uint8),
                             "full": np.full((32, 32), 255, np.uint8)})
    p = write_suite(tmp_path, datasets=[{"type": "folder", "root": str(tmp_path / "d"), "task": "reconstruction"}],
                    masks=["given"])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = {r["sample_id"]: r for r in records(tmp_path / "results" / "s")}
    assert recs["zero_one"]["error"] is None and recs["zero_one"]["hole_fraction"] == pytest.approx(64 / 1024)
    assert "has no hole" in recs["empty"]["error"] and "masks/empty.png" in recs["empty"]["error"]
    assert "covers the whole image" in recs["full"]["error"]


def test_cli_values_are_validated(tmp_path, capsys):
    p = write_suite(tmp_path)
    for argv, msg in ((["--limit", "-1"], "positive integer"), (["--limit", "0"], "positive integer"),
                      (["--device", "gpu"], "expected auto, cpu, cuda or cuda:N"),
                      (["--shard", "1/0"], "expected"), (["--run-id", "../x"], "plain folder name")):
        with pytest.raises(SystemExit) if "--limit" in argv else _nullcontext():
            rc = main(["run", str(p), "--no-progress"] + argv)
            assert rc == 2
        assert msg in capsys.readouterr().err


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_file_name_that_is_not_utf8_is_a_sample_like_the_others(tmp_path):
    import cv2

    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    img = (np.random.default_rng(1).random((24, 24, 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", img)
    (root / "images" / "good.png").write_bytes(buf.tobytes())
    bad = os.path.join(os.fsencode(root / "images"), b"caf\xe9.png")
    with open(bad, "wb") as f:
        f.write(buf.tobytes())
    p = write_suite(tmp_path, datasets=[{"type": "folder", "root": str(root)}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = {r["sample_id"]: r for r in records(tmp_path / "results" / "s")}
    assert set(recs) == {"good", "caf\\xe9"} and all(r["error"] is None for r in recs.values())
    assert all(math.isfinite(r["psnr_in"]) for r in recs.values())


def test_a_dataset_that_cannot_be_listed_fails_its_cells_not_the_run(tmp_path, plugins, capsys):
    root = tmp_path / "gone"
    (root / "images").mkdir(parents=True)
    p = write_suite(tmp_path, datasets=[{"type": "folder", "root": str(root), "name": "gone"},
                                        {"type": "test-noise", "n": 2}])
    import shutil

    from bench.config import load_suite
    from bench.runner import Runner

    suite = load_suite(p)  # validated while the folder existed
    shutil.rmtree(root)
    run_dir = Runner(suite, progress=False).run()
    recs = records(run_dir)
    assert len(recs) == 2 and all(r["dataset"] == "test-noise" and r["error"] is None for r in recs)
    man = json.loads((run_dir / "manifest.json").read_text())
    assert "gone" in man["dataset_errors"] and "does not exist" in man["dataset_errors"]["gone"]
    assert main(["report", str(run_dir)]) == 0
    assert "Skipped: datasets[0] (gone): cannot list its samples" in capsys.readouterr().out


def test_run_exits_3_when_a_backend_cannot_be_set_up(tmp_path, plugins, capsys):
    """A backend whose setup fails becomes error rows for its cells and the others run; `bench run` then exits 3
    (finished, incomplete) and names it, instead of 0."""
    p = write_suite(tmp_path, backends=["identity", "test-setup-fails"])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 3
    out = capsys.readouterr().out
    assert "incomplete: backend test-setup-fails could not run" in out
    recs = records(tmp_path / "results" / "s")
    assert {r["backend"] for r in recs if r["error"] is None} == {"identity"}
    assert all("setup failed" in r["error"] for r in recs if r["backend"] == "test-setup-fails")
    p = write_suite(tmp_path, backends=["identity"])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0


def test_folder_files_that_read_wrong_say_why(tmp_path, capsys):
    """A greyscale ground truth of a colour image was scored silently (every in-hole score measured the lost
    colour); a mask holding 0/100 and a hole cut away by resize both read 'has no hole' with no reason; a mask
    name in the decomposed Unicode form a macOS copy writes made two samples, each missing its partner."""
    import unicodedata

    from PIL import Image
    from skimage import data

    root = tmp_path / "ds"
    for k in ("images", "masks", "gt"):
        (root / k).mkdir(parents=True)
    photo = data.astronaut()[::4, ::4][:64, :64]  # 64 x 64, in colour
    wide = np.concatenate([photo, photo, photo], axis=1)  # 64 x 192

    def save(stem, img, mask, gt=None, mask_stem=None):
        Image.fromarray(img).save(root / "images" / f"{stem}.png")
        Image.fromarray(mask).save(root / "masks" / f"{mask_stem or stem}.png")
        (gt if gt is not None else Image.fromarray(img)).save(root / "gt" / f"{stem}.png")

    box = np.zeros((64, 64), np.uint8)
    box[20:40, 20:40] = 255
    save("ok", photo, box)
    save("greygt", photo, box, gt=Image.fromarray(photo).convert("L"))
    save("dim", photo, (box > 0).astype(np.uint8) * 100)
    edge = np.zeros((64, 192), np.uint8)
    edge[20:40, 4:30] = 255
    save("edge", wide, edge)
    dots = np.zeros((64, 64), np.uint8)
    dots[1::4, 1::4] = 255  # single pixels on a grid the 4:3 nearest-neighbour step to 48 px skips
    save("dots", photo, dots)
    save(unicodedata.normalize("NFC", "crème"), photo, box, mask_stem=unicodedata.normalize("NFD", "crème"))
    p = write_suite(tmp_path, datasets=[{"type": "folder", "root": str(root), "resize": "suite"}],
                    masks=["given"], resolution=48)
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = {r["sample_id"]: r for r in records(tmp_path / "results" / "s")}
    assert set(recs) == {"ok", "greygt", "dim", "edge", "dots", "crème"}
    assert recs["ok"]["error"] is None and recs["crème"]["error"] is None
    assert "the ground truth has no colour" in recs["greygt"]["error"] and "greygt.png" in recs["greygt"]["error"]
    assert "largest value is 100 of 255" in recs["dim"]["error"]
    assert "lies outside the centre square that resize to 48 px keeps" in recs["edge"]["error"]
    assert "thinner than the resize step" in recs["dots"]["error"] and "lies outside" not in recs["dots"]["error"]


def test_outputs_named_by_the_ids_own_names_and_float_ranges(tmp_path, capsys):
    """A model run over a folder writes `photo (1).png`, `café.png`: the outputs backend looked only for the names
    bench export gives such ids (`photo__1_-8f9259d6.png`) and every such sample was 'not found'. A float TIFF in
    [0, 255] got advice (declare value_range) that the outputs backend could not take."""
    import cv2
    from PIL import Image
    from skimage import data

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    photo = data.astronaut()[::8, ::8][:48, :48]
    hole = np.zeros((48, 48), np.uint8)
    hole[10:30, 12:34] = 255
    ids = ["with space", "x(1)", "café", "IMG_0001"]
    out = tmp_path / "out"
    out.mkdir()
    for i in ids:
        Image.fromarray(photo).save(root / "images" / f"{i}.png")
        Image.fromarray(hole).save(root / "masks" / f"{i}.png")
        Image.fromarray(photo).save(out / f"{i}.png")  # a "model" that returns its input
    (out / "x(1).png").unlink()
    cv2.imwrite(str(out / "x(1).tif"), photo[:, :, ::-1].astype(np.float32))  # float, 0..255
    ds = {"type": "folder", "root": str(root), "task": "reconstruction", "name": "mine"}
    p = write_suite(tmp_path, datasets=[ds], masks=["given"],
                    backends=[{"type": "outputs", "root": str(out), "pattern": "{sample}.png",
                               "check_inputs": False}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = {r["sample_id"]: r for r in records(tmp_path / "results" / "s")}
    assert all(recs[i]["error"] is None for i in ("with space", "café", "IMG_0001"))
    assert "x(1).tif is there" in recs["x(1)"]["error"] and "pattern: '{sample}.tif'" in recs["x(1)"]["error"]
    p = write_suite(tmp_path, name="t", datasets=[ds], masks=["given"],
                    backends=[{"type": "outputs", "root": str(out), "pattern": "{sample}.tif",
                               "check_inputs": False, "value_range": [0, 255]}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = {r["sample_id"]: r for r in records(tmp_path / "results" / "t")}
    assert recs["x(1)"]["error"] is None and math.isinf(recs["x(1)"]["psnr_in"])  # the input, read exactly


def test_a_python_backend_s_own_weights_check_runs_before_any_work(tmp_path, plugins, capsys):
    """The python backend never passed on its class's check_weights: the missing checkpoint was found at its turn,
    after the other backends had run (exit 3), and bench validate said OK."""
    ckpt = tmp_path / "mine.pt"
    p = write_suite(tmp_path, backends=["identity", {"type": "python", "name": "mine",
                                                     "target": "tests.plugins_torture:CheckpointBackend",
                                                     "kwargs": {"path": str(ckpt)}}])
    assert main(["validate", str(p)]) == 2
    assert "mine.pt: checkpoint not found" in capsys.readouterr().err
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 2
    assert "mine.pt: checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "results" / "s" / "records.sqlite").exists() or not records(tmp_path / "results" / "s")
    ckpt.write_bytes(b"weights")
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0


def test_ids_that_differ_only_in_case_are_refused_on_a_file_system_that_folds_case(tmp_path, monkeypatch, capsys):
    """'A' and 'a' are two files on Linux and one on macOS or Windows, where the later output would overwrite the
    earlier: the run checks its own folder's file system and refuses the dataset there (naming both ids)."""
    import cv2
    import yaml

    from bench import fsio
    from bench.cli import main

    assert fsio.case_insensitive(tmp_path) is False and not list(tmp_path.iterdir())  # this one keeps case
    # (ids that need a hash suffix in their file name differ in the suffix: no collision)
    assert fsio.case_collisions(["A", "b", "a", "x y", "X Y", "Ab.c", "aB.C"]) == [("A", "a"), ("Ab.c", "aB.C")]
    (tmp_path / "ds" / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("A", "a", "b"):
        cv2.imwrite(str(tmp_path / "ds" / "images" / f"{name}.png"), rng.integers(0, 255, (32, 32, 3), np.uint8))
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "case", "output_dir": str(tmp_path / "out"), "device": "cpu",
                                     "backends": ["identity"], "datasets": [{"type": "folder", "root": "ds"}],
                                     "masks": ["box"], "metrics": ["psnr"]}))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(suite), "--no-progress", "--no-report", "--run-id", "linux"]) == 0
    assert len(list((tmp_path / "out" / "linux" / "generations").glob("*/*.png"))) == 3
    monkeypatch.setattr(fsio, "case_insensitive", lambda folder: True)
    capsys.readouterr()
    assert main(["run", str(suite), "--no-progress", "--no-report", "--run-id", "folded"]) == 3
    err = capsys.readouterr()
    assert "sample ids 'A' and 'a' differ only in case" in err.out + err.err
    for what in ("--inputs", "--outputs"):  # the exports name files by id too
        src = str(suite) if what == "--inputs" else str(tmp_path / "out" / "linux")
        assert main(["export", src, what, str(tmp_path / f"x{what}")]) == 2
        err = capsys.readouterr()
        assert f"export {what}" in err.err and "'A' and 'a' differ only in case" in err.err


def test_an_output_turned_by_exif_is_an_error_row_not_squashed(tmp_path, capsys):
    """A phone photo stored 40x48 with EXIF orientation 6 is read upright (48x40); a model that read the stored
    pixels writes a 40x48 output, which was resized back to 48x40 (squashed) and scored as a merely resized one."""
    from PIL import Image
    from skimage import data

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    stored = np.ascontiguousarray(data.astronaut()[::8, ::8][:40, :48])
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(root / "images" / "phone.jpg", exif=exif, quality=95)
    Image.fromarray(stored).save(out / "phone.png")  # the stored pixels, not turned
    Image.fromarray(stored[:20, :24]).save(root / "images" / "small.png")
    Image.fromarray(stored[:10, :12]).save(out / "small.png")  # resized (same aspect): scored and flagged as before
    p = write_suite(tmp_path, datasets=[{"type": "folder", "root": str(root)}], detectors=["resized"],
                    backends=[{"type": "outputs", "root": str(out), "pattern": "{sample}.png",
                               "check_inputs": False}])
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    recs = {r["sample_id"]: r for r in records(tmp_path / "results" / "s")}
    err = recs["phone"]["error"]
    assert err and "phone.png: output is 40x48 (HxW), the input 48x40" in err and "EXIF orientation" in err
    assert recs["small"]["error"] is None and recs["small"]["resized_flag"] == 1.0


def test_an_output_path_that_is_a_folder_or_a_dead_link_says_so(tmp_path):
    """A folder named like the output, or a link whose target is gone (a drive not mounted), read 'not found', as
    if nothing were there: the error now says which it is."""
    import os
    from types import SimpleNamespace

    import torch

    from bench.backends.outputs import OutputsBackend

    (tmp_path / "folder.png").mkdir()
    os.symlink(tmp_path / "gone" / "x.png", tmp_path / "dead.png")
    b = OutputsBackend(str(tmp_path), pattern="{sample}.png", check_inputs=False)
    items = [SimpleNamespace(sample_id=s, image=torch.zeros(3, 4, 4), mask=None) for s in ("folder", "dead", "none")]
    got = [str(e) for e in b.read_outputs("ds", "m", items)]
    assert got[0] == f"{tmp_path / 'folder.png'}: is a directory, not an image file"
    assert got[1].startswith(f"{tmp_path / 'dead.png'}: a link to {tmp_path / 'gone' / 'x.png'}, which is not there")
    assert got[2] == f"expected output {tmp_path / 'none.png'}: not found"
