"""The runner: blanking, resume, error isolation, determinism, paste-back, CLI end to end."""
import json
import math

import numpy as np
import pytest
import torch
import yaml

from bench.cli import main
from bench.config import parse_suite
from bench.io import read_image, read_mask
from bench.runner import Runner
from bench.store import RunStore


def make_suite(tmp_path, **kw):
    data = {
        "output_dir": str(tmp_path / "results"),
        "backends": ["test-spy"],
        "datasets": [{"type": "test-noise", "n": 6}],
        "masks": [{"type": "box", "min_size": 0.3, "max_size": 0.5}],
        "metrics": ["psnr", "ssim"],
        "batch_size": 2,
        "device": "cpu",
    }
    data.update(kw)
    return parse_suite(data)


def run(suite, **kw):
    return Runner(suite, progress=False, **kw).run()


def rows(run_dir):
    with RunStore(run_dir / "records.sqlite") as s:
        return s.records()


def tables(run_dir):
    """{table: its rows, sorted} of a run's store, every table (definitions included), read without writing."""
    import sqlite3

    conn = sqlite3.connect(run_dir / "records.sqlite")
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        conn.close()


def test_backend_never_sees_the_hole(tmp_path, plugins):
    suite = make_suite(tmp_path)
    run_dir = run(suite)
    assert plugins.SEEN and sum(b for _, b in plugins.CALLS) == 6
    recs = rows(run_dir)
    assert len(recs) == 6 and all(r["error"] is None for r in recs)
    # the spy returns what it was given: inside the hole that is the constant blank (128/255, on the 8-bit grid)
    for img in plugins.SEEN:
        assert (img == 128 / 255).any()
        assert torch.equal(torch.round(img * 255) / 255, img)  # inputs are 8-bit images
    # identity-like output: outside untouched -> psnr_out infinite, inside scored against the original
    assert all(math.isinf(r["psnr_out"]) for r in recs)
    assert all(np.isfinite(r["psnr_in"]) and r["psnr_in"] < 40 for r in recs)
    man = json.loads((run_dir / "manifest.json").read_text())
    assert man["config_hash"] == suite.config_hash() and man["seed"] == 0
    assert man["packages"]["torch"] and man["device"]["device"] == "cpu"


def _comparable(recs):
    drop = {"latency_ms", "wall_ms"}
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in recs), key=lambda r: r["sample_id"])


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, plugins):
    suite = make_suite(tmp_path, datasets=[{"type": "test-noise", "n": 7}])
    plugins.INTERRUPT_AFTER.append(2)
    with pytest.raises(KeyboardInterrupt):
        run(suite, run_id="resumed")
    part = rows(tmp_path / "results" / "resumed")
    assert len(part) == 4  # two committed batches survive
    plugins.INTERRUPT_AFTER.clear()
    plugins.CALLS.clear()
    run_dir = run(suite, run_id="resumed")
    assert sum(b for _, b in plugins.CALLS) == 3  # only the missing samples were computed
    plugins.CALLS.clear()
    run(suite, run_id="resumed")
    assert plugins.CALLS == []  # a finished run recomputes nothing
    full = run(suite, run_id="straight")
    assert _comparable(rows(run_dir)) == _comparable(rows(full))
    with RunStore(run_dir / "records.sqlite") as s:
        assert s.integrity_ok()
        n = s.conn.execute("SELECT COUNT(*), COUNT(DISTINCT sample_id) FROM outputs").fetchone()
    assert n == (7, 7)


def test_bad_backends_are_isolated_to_their_cells(tmp_path, plugins):
    suite = make_suite(tmp_path, backends=["identity", "test-raises", "test-nan", "test-resize",
                                           "test-setup-fails", {"type": "opencv-telea", "name": "telea"}])
    run_dir = run(suite)
    recs = rows(run_dir)
    by = {}
    for r in recs:
        by.setdefault(r["backend"], []).append(r)
    assert all(len(v) == 6 for v in by.values()) and len(by) == 6
    assert all(r["error"] is None for b in ("identity", "telea", "test-resize") for r in by[b])
    assert all("backends[1] (test-raises): RuntimeError: model exploded" in r["error"] for r in by["test-raises"])
    nan_err = [r for r in by["test-nan"] if r["error"]]
    assert len(nan_err) == 3 and all("NaN" in r["error"] for r in nan_err)  # first sample of each batch of 2
    assert all("setup failed" in r["error"] and "model.ckpt" in r["error"] for r in by["test-setup-fails"])
    man = json.loads((run_dir / "manifest.json").read_text())
    assert "error" in man["backends"]["test-setup-fails"]
    # the error rows are retried by the next run; the good rows are not recomputed
    plugins.CALLS.clear()
    run(suite)
    assert plugins.CALLS == []


def test_bad_item_gets_an_error_row_and_the_run_goes_on(tmp_path, plugins):
    suite = make_suite(tmp_path, datasets=[{"type": "test-with-broken", "n": 4}])
    recs = {r["sample_id"]: r for r in rows(run(suite))}
    assert len(recs) == 5
    assert "sample broken: OSError: cannot read broken.png" == recs["broken"]["error"]
    assert all(r["error"] is None for sid, r in recs.items() if sid != "broken")


def test_each_output_records_the_seed_of_its_generator(tmp_path, plugins):
    """The seed a sample's generator was given is in its generation row, so an output can be made again outside
    the harness (``torch.Generator().manual_seed(seed)``) without knowing how the harness derives it."""
    from bench.inputs import prepare_item
    from bench.pixels import quantize
    from bench.store.files import output_path, read_png_u8

    suite = make_suite(tmp_path, backends=["test-noisy"], datasets=[{"type": "test-noise", "n": 3, "size": 32}])
    run_dir = run(suite)
    cell = json.loads((run_dir / "manifest.json").read_text())["cells"][0]["cell_key"]
    with RunStore(run_dir / "records.sqlite") as s:
        infos = s.output_info(cell)
    assert len(infos) == 3 and len({r["info"]["seed"] for r in infos.values()}) == 3
    ds, strategy = suite.datasets[0].create(), suite.masks[0].create()
    ds.bind(resolution=suite.resolution, seed=suite.seed)
    for sid, r in infos.items():
        hole = prepare_item(ds, strategy, suite.datasets[0].label, suite.seed, sid).mask.expand(3, -1, -1)
        out = read_png_u8(output_path(run_dir, cell, sid))
        noise = quantize(torch.rand(out.shape, generator=torch.Generator().manual_seed(r["info"]["seed"])))
        assert hole.any() and torch.equal(out[hole], noise[hole])


def test_masks_and_generators_are_deterministic_across_backends_and_runs(tmp_path, plugins):
    suite = make_suite(tmp_path, backends=["test-noisy", {"type": "identity", "name": "id"}],
                       masks=["lama-medium"], datasets=[{"type": "test-noise", "n": 4, "size": 64}])
    a = rows(run(suite, run_id="a"))
    b = rows(run(suite, run_id="b"))
    fr = {(r["backend"], r["sample_id"]): r["hole_fraction"] for r in a}
    assert all(fr[("test-noisy", s)] == fr[("id", s)] for s in ["n000", "n001", "n002", "n003"])
    assert len(set(fr.values())) > 1  # different samples get different masks
    assert _comparable(a) == _comparable(b)  # the noisy backend's generators are seeded per sample


def test_no_ground_truth_is_a_validation_error_unless_only_preservation_is_scored(tmp_path, plugins):
    from bench.errors import ConfigError

    ds = [{"type": "test-noise", "n": 2, "with_masks": True, "with_gt": False}]
    with pytest.raises(ConfigError, match=r"metrics\[0\]: 'psnr' scores against ground truth.*regions: \[out\]"):
        make_suite(tmp_path, datasets=ds, masks=["given"])
    suite = make_suite(tmp_path, datasets=ds, masks=["given"],
                       metrics=[{"type": "psnr", "regions": ["out"]}, {"type": "ssim", "regions": ["out"]}])
    recs = rows(run(suite))
    assert all("psnr_in" not in r and "ssim_in" not in r and "psnr_full" not in r and "psnr_out" in r for r in recs)
    suite = make_suite(tmp_path, datasets=[{"type": "test-noise", "n": 2, "with_masks": True}], masks=["given"],
                       backends=["mean-fill"])
    recs = rows(run(suite, run_id="gt"))
    assert all(np.isfinite(r["psnr_in"]) for r in recs)


def test_paste_back_raw_outputs_and_saved_inputs(tmp_path, plugins):
    suite = make_suite(tmp_path, backends=["test-resize"], paste_back=True, save_inputs=True,
                       datasets=[{"type": "test-noise", "n": 2, "size": 64}])
    run_dir = run(suite)
    recs = rows(run_dir)
    # outside-mask metrics see the raw output (the resize damaged it) even though outputs are pasted back
    assert all(np.isfinite(r["psnr_out"]) for r in recs)
    cell = recs[0]["cell_key"]
    man = json.loads((run_dir / "manifest.json").read_text())
    ik = man["cells"][0]["input_key"]
    raw = read_image(run_dir / "generations" / cell / "n000.png")  # the stored output is the raw one
    mask = read_mask(run_dir / "inputs" / ik / "n000_mask.png")
    inp = read_image(run_dir / "inputs" / ik / "n000_input.png")
    assert not torch.allclose(raw[:, ~mask[0]], inp[:, ~mask[0]], atol=1 / 255)
    # paste-back is a scoring view: in-hole metrics see the composite, which equals the raw output in the hole
    comp = torch.where(mask, raw, inp)
    from bench.metrics.pixel import masked_psnr
    with RunStore(run_dir / "records.sqlite") as s:
        gt = inp  # reconstruction: the image is the ground truth
        assert masked_psnr(comp[None], gt[None], mask[None]).item() == pytest.approx(
            [r for r in s.records() if r["sample_id"] == "n000"][0]["psnr_in"], rel=1e-9)


def test_cli_run_end_to_end_and_resume(tmp_path, plugins, capsys):
    suite = {
        "output_dir": str(tmp_path / "res"),
        "backends": ["opencv-telea", "identity"],
        "datasets": [{"type": "test-noise", "n": 3}],
        "masks": ["box"],
        "device": "cpu",
    }
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(suite))
    assert main(["run", str(p), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out
    recs = rows(tmp_path / "res" / "tiny")
    assert len(recs) == 6 and all(r["error"] is None for r in recs)
    telea = [r["psnr_in"] for r in recs if r["backend"] == "opencv-telea"]
    ident = [r["psnr_in"] for r in recs if r["backend"] == "identity"]
    assert np.mean(telea) > np.mean(ident)  # a real fill beats the untouched blank
    assert main(["run", str(p), "--no-progress", "--limit", "2", "--run-id", "lim"]) == 0
    assert len(rows(tmp_path / "res" / "lim")) == 4
    assert main(["run", str(p), "--run-id", "../escape"]) == 2
    assert "must be a plain folder name" in capsys.readouterr().err


def test_hanging_backend_times_out_and_the_run_goes_on(tmp_path, plugins):
    import time

    suite = make_suite(tmp_path, backends=[{"type": "test-hang", "seconds": 3.0}, "identity"], timeout_s=0.5,
                       datasets=[{"type": "test-noise", "n": 6}])
    t0 = time.perf_counter()
    recs = rows(run(suite))
    assert time.perf_counter() - t0 < 3.0  # the hung call is abandoned, not waited for
    hang = sorted((r["sample_id"], r["error"]) for r in recs if r["backend"] == "test-hang")
    assert [e is None for _, e in hang] == [True, True, False, False, False, False]
    assert "timed out" in hang[2][1] and "hung on an earlier batch" in hang[4][1]
    assert all(r["error"] is None for r in recs if r["backend"] == "identity")


def test_backend_writing_to_stdout_does_not_break_the_run(tmp_path, plugins, capsys):
    recs = rows(run(make_suite(tmp_path, backends=["test-chatty"])))
    assert len(recs) == 6 and all(r["error"] is None for r in recs)


def test_a_backends_prints_go_to_stderr_and_the_runs_stdout_stays_the_harnesss(tmp_path, plugins, capsys):
    """Research code prints (progress, shapes): `bench run suite.yaml > log` kept them between the harness's own
    lines. While a backend runs its prints go to stderr; the run's progress and leaderboard stay on stdout."""
    import sys

    data = {"output_dir": str(tmp_path / "res"), "backends": ["test-chatty"], "device": "cpu",
            "datasets": [{"type": "test-noise", "n": 3}], "masks": ["box"], "metrics": ["psnr"], "batch_size": 1}
    p = tmp_path / "chat.yaml"
    p.write_text(yaml.safe_dump(data))
    assert main(["run", str(p), "--no-progress"]) == 0
    got = capsys.readouterr()
    assert "loading something" not in got.out and got.err.count("loading something") == 3
    assert "chat" in got.out and "test-chatty" in got.out  # the harness's header and leaderboard
    assert sys.stdout is not sys.stderr  # the redirect ended with the backend


def test_prefetch_and_inline_loading_give_the_same_rows(tmp_path, plugins):
    a = rows(run(make_suite(tmp_path, workers=0), run_id="inline"))
    b = rows(run(make_suite(tmp_path, workers=3), run_id="threads"))
    assert _comparable(a) == _comparable(b)


def test_overlapped_scoring_gives_the_same_rows_and_loses_nothing(tmp_path, plugins):
    """overlap is a CUDA feature (on CPU the suite setting is ignored: a scoring thread would share the model's
    cores); its thread path is forced here to test it on CPU."""
    kw = dict(backends=["test-spy", "test-nan", {"type": "opencv-telea", "name": "telea"}],
              datasets=[{"type": "test-noise", "n": 7}])
    a = rows(run(make_suite(tmp_path, **kw), run_id="plain"))
    ignored = run(make_suite(tmp_path, overlap=True, **kw), run_id="ignored")
    assert json.loads((ignored / "manifest.json").read_text())["overlap"] is False

    def forced(run_id):
        r = Runner(make_suite(tmp_path, overlap=True, **kw), progress=False, run_id=run_id)
        r.overlap = True
        return r.run()

    b_dir = forced("overlap")
    assert _comparable(a) == _comparable(rows(b_dir))
    assert json.loads((b_dir / "manifest.json").read_text())["overlap"] is True
    with RunStore(b_dir / "records.sqlite") as s:
        assert {x["n_computed"] for x in s.sessions() if x["cell_key"].startswith("telea")} == {7}
    # interrupted in the middle: the batch being scored in the background is still committed
    plugins.CALLS.clear()
    plugins.INTERRUPT_AFTER.append(2)
    with pytest.raises(KeyboardInterrupt):
        forced("overlap-int")
    assert len(rows(tmp_path / "results" / "overlap-int")) == 4


def test_a_backend_without_its_weights_stops_the_run_before_any_work(tmp_path, plugins, capsys):
    """Asked before anything runs (the mission: offline, a run whose weights are missing fails at once): every
    backend with work is checked without loading, all missing files are named in one error (exit 2), nothing is
    generated, not even by the backends whose weights are here."""
    suite = make_suite(tmp_path, backends=[
        "identity", {"type": "lama", "path": str(tmp_path / "nowhere" / "big-lama.pt")},
        {"type": "diffusers", "model": str(tmp_path / "no-sd-folder")}])
    from bench.errors import WeightsError

    with pytest.raises(WeightsError) as e:
        run(suite)
    msg = str(e.value)
    assert "backends[1] (lama)" in msg and "big-lama.pt" in msg and "big-lama.pt from" in msg
    assert "backends[2] (diffusers)" in msg and "no-sd-folder" in msg and "nothing was run" in msg
    run_dir = tmp_path / "results" / suite.name
    assert not list(run_dir.rglob("*.png"))
    if (run_dir / "records.sqlite").exists():
        assert rows(run_dir) == []
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump({"name": "cli", "output_dir": str(tmp_path / "cli"), "device": "cpu",
                                 "backends": [{"type": "lama", "path": str(tmp_path / "nowhere" / "big-lama.pt")}],
                                 "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"], "metrics": ["psnr"]}))
    assert main(["run", str(p), "--no-progress"]) == 2
    assert "big-lama.pt" in capsys.readouterr().err


def test_stored_outputs_need_no_model_weights(tmp_path, plugins, monkeypatch):
    """The check asks only backends with samples left to generate: scoring a finished run where the model's
    weights are not (a laptop after a GPU run) works; one more sample to generate is an error again."""
    from bench.backends.base import Backend
    from bench.errors import WeightsError
    from bench.registry import BACKENDS

    @BACKENDS.register("test-weights-come-and-go")
    class Gone(Backend):
        def check_weights(self, ctx):
            if (tmp_path / "gone").exists():
                raise WeightsError("missing /nowhere/gone.ckpt")

        def inpaint(self, image, mask, generator):
            return image

    try:
        suite = make_suite(tmp_path, backends=["test-weights-come-and-go"],
                           datasets=[{"type": "test-noise", "n": 4}])
        run(suite, limit=2)
        (tmp_path / "gone").touch()
        run_dir = run(suite, limit=2)  # nothing to generate: no check
        assert len(rows(run_dir)) == 2 and all(r["error"] is None for r in rows(run_dir))
        with pytest.raises(WeightsError, match="gone.ckpt"):
            run(suite)  # two samples more to generate
        assert len(rows(run_dir)) == 2
    finally:
        BACKENDS._entries.pop("test-weights-come-and-go", None)


def test_progress_in_a_log_is_plain_lines(tmp_path, plugins, monkeypatch):
    """Output that is not a terminal (a log file, Slurm) gets a line when a cell starts, lines while it runs and one
    when it ends, instead of a bar that appears only when the cell has finished."""
    import io

    from rich.console import Console

    from bench.runner import run as run_mod

    monkeypatch.setattr(run_mod, "PLAIN_PROGRESS_EVERY_S", 0.0)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    Runner(make_suite(tmp_path), progress=True, console=console).run()
    lines = buf.getvalue().splitlines()
    cell = [ln for ln in lines if ln.startswith("test-spy") and "/6" in ln]
    assert cell[0].endswith("0/6 started")
    assert any(" 2/6 (33 %)" in ln and "elapsed, ETA" in ln for ln in cell)
    assert any(" 6/6 (100 %)" in ln and "ETA" not in ln for ln in cell)
    assert "\x1b[" not in buf.getvalue()  # no terminal control codes in a log


def test_a_lower_limit_reports_only_the_samples_it_keeps(tmp_path, plugins):
    """A run resumed with a lower `--limit` reports that many samples (rows stored by the earlier, larger run stay
    for reuse but are not reported); raising it again reuses them."""
    from bench.report.aggregate import load_run

    suite = make_suite(tmp_path, datasets=[{"type": "test-noise", "n": 6}])
    run_dir = run(suite, limit=5)
    assert len(load_run(run_dir).frame()) == 5
    run(suite, limit=3)
    f = load_run(run_dir).frame()
    assert len(f) == 3 and len(rows(run_dir)) == 5  # stored: 5; reported: the 3 the limit keeps
    run(suite, limit=5)
    assert len(load_run(run_dir).frame()) == 5
    run(suite)  # no limit: every sample
    assert len(load_run(run_dir).frame()) == 6


def test_the_manifest_describes_the_suite_as_it_is_now(tmp_path, plugins):
    """Resuming with another detector threshold (not part of its key: nothing is scored again) records the threshold
    it flags with now; switching a backend's parameter back records the parameters of the cells reported."""
    suite = make_suite(tmp_path, backends=[{"type": "opencv-telea", "radius": 3}],
                       detectors=[{"type": "blur", "threshold": 0.1}])
    run_dir = run(suite)
    man = lambda: json.loads((run_dir / "manifest.json").read_text())  # noqa: E731
    assert man()["detectors"]["blur"]["thresholds"]["threshold"] == 0.1
    run(make_suite(tmp_path, backends=[{"type": "opencv-telea", "radius": 3}],
                   detectors=[{"type": "blur", "threshold": 0.3}]))
    assert man()["detectors"]["blur"]["thresholds"]["threshold"] == 0.3
    run(make_suite(tmp_path, backends=[{"type": "opencv-telea", "radius": 5}]))
    assert man()["backends"]["opencv-telea"]["params"] == {"radius": 5}
    run(make_suite(tmp_path, backends=[{"type": "opencv-telea", "radius": 3}]))  # stored: not loaded again
    assert man()["backends"].get("opencv-telea", {}).get("params", {"radius": 3}) == {"radius": 3}


def test_an_input_replaced_under_its_name_is_generated_again(tmp_path, capsys):
    """A folder dataset whose image was overwritten: the run notices the listing changed, checks each stored
    output against the masked input it was made from, and generates again only the one whose input changed; its
    numbers then equal a fresh run's."""
    import shutil

    from PIL import Image

    from bench.report.aggregate import load_run

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(root / "images" / f"im{i}.png")
    kw = dict(backends=["opencv-telea"], datasets=[{"type": "folder", "root": str(root), "task": "reconstruction"}],
              masks=[{"type": "box", "min_size": 0.3, "max_size": 0.5}], metrics=["psnr"])
    suite = make_suite(tmp_path, **kw)
    run_dir = run(suite)
    before = {r["sample_id"]: r["psnr_in"] for r in rows(run_dir)}
    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(root / "images" / "im1.png")  # a flat image now
    from rich.console import Console
    import io

    buf = io.StringIO()
    Runner(suite, progress=False, console=Console(file=buf, width=200)).run()
    assert "4 stored output(s) checked against their inputs, 1 made from inputs that changed" in buf.getvalue()
    after = {r["sample_id"]: r["psnr_in"] for r in rows(run_dir)}
    assert after["im1"] != before["im1"] and all(after[k] == before[k] for k in before if k != "im1")
    fresh = make_suite(tmp_path / "fresh", **kw)
    assert {r["sample_id"]: r["psnr_in"] for r in rows(run(fresh))} == after
    buf = io.StringIO()
    Runner(suite, progress=False, console=Console(file=buf, width=200)).run()  # nothing changed: nothing read
    assert "checked against" not in buf.getvalue()
    shutil.rmtree(tmp_path / "fresh")


def test_a_mask_file_replaced_under_its_name_is_generated_again(tmp_path, plugins):
    """An ``object`` strategy's annotation file overwritten with other outlines: the manifest records each mask
    strategy's provenance (the file's SHA-256), so the next run sees the change, checks the stored outputs against
    the masks they were made for and generates them again; its numbers then equal a fresh run's (before, outputs
    made for the old holes were scored against the new ones)."""
    pytest.importorskip("pycocotools")
    import io

    from rich.console import Console

    ann = tmp_path / "instances.json"

    def outline(polygon):
        ann.write_text(json.dumps({
            "images": [{"id": 1, "file_name": "a.jpg", "height": 100, "width": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1600.0,
                             "segmentation": [polygon]}],
            "categories": [{"id": 1, "name": "thing"}]}))

    outline([10, 10, 50, 10, 50, 50, 10, 50])
    kw = dict(backends=["mean-fill"], datasets=[{"type": "test-noise", "n": 4, "size": 64}],
              masks=[{"type": "object", "annotations": str(ann), "min_area": 0.01, "max_area": 0.5}],
              metrics=["psnr"])
    suite = make_suite(tmp_path, **kw)
    run_dir = run(suite)
    man = json.loads((run_dir / "manifest.json").read_text())
    assert len(man["masks"]["object"]["annotations_sha256"]) == 64
    outline([10, 10, 50, 10, 30, 50])  # a triangle now
    buf = io.StringIO()
    Runner(suite, progress=False, console=Console(file=buf, width=200)).run()
    assert "4 stored output(s) checked against their inputs, 4 made from inputs that changed" in buf.getvalue()
    fresh = run(make_suite(tmp_path / "fresh", **kw))
    drop = ("created", "latency_ms", "wall_ms")
    key = lambda r: {k: v for k, v in r.items() if k not in drop}  # noqa: E731
    assert sorted(map(key, rows(run_dir)), key=str) == sorted(map(key, rows(fresh)), key=str)


def _folder_run(tmp_path, backends=("test-spy",)):
    """A folder dataset of four images run once; returns (suite, run folder, images folder)."""
    from PIL import Image

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(root / "images" / f"im{i}.png")
    suite = make_suite(tmp_path, backends=list(backends), metrics=["psnr"],
                       datasets=[{"type": "folder", "root": str(root), "task": "reconstruction"}])
    return suite, run(suite), root / "images"


def test_an_input_change_is_not_forgotten_when_the_run_that_noticed_it_is_interrupted(tmp_path, plugins):
    """The run that notices a changed input records the new listing in its manifest at once; interrupted before it
    made the output again, the next run must still make it again, not keep the output of the old input."""
    from PIL import Image

    suite, run_dir, images = _folder_run(tmp_path)
    before = {r["sample_id"]: r["psnr_in"] for r in rows(run_dir)}
    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(images / "im1.png")
    plugins.INTERRUPT_AFTER.append(0)
    with pytest.raises(KeyboardInterrupt):
        run(suite)
    plugins.INTERRUPT_AFTER.clear()
    plugins.CALLS.clear()
    run(suite)
    assert sum(b for _, b in plugins.CALLS) == 1  # im1 only
    after = {r["sample_id"]: r for r in rows(run_dir)}
    assert after["im1"]["error"] is None and after["im1"]["psnr_in"] != before["im1"]
    assert all(after[k]["psnr_in"] == before[k] for k in before if k != "im1")


def test_bench_score_never_scores_an_output_against_an_input_that_changed(tmp_path, plugins, capsys):
    """`bench score` generates nothing: an output whose input changed becomes an error row (not scored against the
    new input), and the next `bench run` makes it again."""
    from PIL import Image

    suite, run_dir, images = _folder_run(tmp_path)
    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(images / "im1.png")
    assert main(["score", str(run_dir), "--add-metrics", "ssim", "--no-progress", "--no-report"]) == 0
    assert "1 made from inputs that changed: `bench run` generates them again" in capsys.readouterr().out
    rec = {r["sample_id"]: r for r in rows(run_dir)}
    assert "input or mask that has changed" in rec["im1"]["error"] and "ssim_in" not in rec["im1"]
    assert rec["im0"]["error"] is None and math.isfinite(rec["im0"]["ssim_in"])
    plugins.CALLS.clear()
    run(suite)
    assert sum(b for _, b in plugins.CALLS) == 1
    assert all(r["error"] is None for r in rows(run_dir))


def test_latex_and_html_carry_the_runs_provenance(tmp_path, plugins, capsys):
    """Each LaTeX table starts with a comment naming the run, config hash, git revision, seed and package versions;
    the HTML header lists the package versions; a partial threshold override is named in the thresholds note."""
    from bench.report.aggregate import summarize
    from bench.report.leaderboard import thresholds_note

    suite = make_suite(tmp_path, backends=["opencv-telea"], detectors=[{"type": "blur", "threshold": 0.2}],
                       datasets=[{"type": "test-noise", "n": 4, "size": 128}])
    run_dir = run(suite)
    assert main(["report", str(run_dir), "--format", "tex,html", "--no-ci"]) == 0
    man = json.loads((run_dir / "manifest.json").read_text())
    tex = next((run_dir / "tables").glob("*.tex")).read_text()
    first = tex.splitlines()[0]
    assert first.startswith("% inpaint-bench: run ") and man["config_hash"][:12] in first
    assert f"torch {man['packages']['torch']}" in first and "seed 0" in first
    assert f"torch {man['packages']['torch']}" in (run_dir / "report.html").read_text()
    note = thresholds_note(summarize(run_dir, ci=False))
    assert "blur (threshold given in the suite)" in note and "thresholds.json v" in note


class LazyBackend:
    """Test: the first call of each input shape takes LAZY_S longer (torch.compile, weights loaded on first use)."""

    LAZY_S = 0.4
    warmup_needed = True

    def __init__(self):
        from bench.backends.base import Geometry

        self.geometry = Geometry()
        self.seen: set[tuple] = set()

    def inpaint(self, image, mask, generator):
        import time

        if tuple(image.shape) not in self.seen:
            self.seen.add(tuple(image.shape))
            time.sleep(self.LAZY_S)
        return image.clone()


@pytest.mark.parametrize("warmup", [None, 0])
def test_a_backend_that_needs_a_warm_up_gets_one_on_cpu_unless_the_suite_says_otherwise(tmp_path, plugins, warmup):
    """A backend whose first call of a shape compiles or loads (`compile: true`; `warmup_needed`) is warmed up on
    CPU too, where the default is no warm-up: its latency is the model's, not the compiler's; a suite's explicit
    `warmup` wins, and the manifest says per backend what was used."""
    from bench.backends.diffusers_inpaint import DiffusersBackend

    assert DiffusersBackend(model="m", compile=True).warmup_needed and not DiffusersBackend(model="m").warmup_needed
    suite = make_suite(tmp_path, backends=[{"type": "python", "name": "lazy", "target": "tests.test_runner:LazyBackend"}],
                       datasets=[{"type": "test-noise", "n": 2}], metrics=["psnr"], warmup=warmup)
    run_dir = run(suite)
    lat = [r["latency_ms"] for r in rows(run_dir)]
    man = json.loads((run_dir / "manifest.json").read_text())
    if warmup is None:
        assert man["backends"]["lazy"]["warmup_batches"] == 1
        assert max(lat) < LazyBackend.LAZY_S * 1e3 / 4, lat
    else:
        assert man["backends"]["lazy"]["warmup_batches"] == 0
        assert min(lat) >= LazyBackend.LAZY_S * 1e3 / 2, lat  # (batch of 2: per image half the batch's time)


def test_a_backend_default_spelled_out_keeps_its_earlier_sessions_record(tmp_path, plugins):
    """`{type: opencv-telea}` then `{type: opencv-telea, radius: 3}` (its default): nothing is generated again (one
    key), and the manifest keeps the first session's record of the backend (its load time, version); it was dropped
    because the params as written differed. Another radius is another backend: its old record goes."""
    first = json.loads((run(make_suite(tmp_path, backends=["opencv-telea"]), run_id="t") / "manifest.json").read_text())
    assert first["backends"]["opencv-telea"]["load_time_s"] is not None
    again = run(make_suite(tmp_path, backends=[{"type": "opencv-telea", "radius": 3}]), run_id="t")
    man = json.loads((again / "manifest.json").read_text())
    assert man["counts"]["generated"] == 0
    assert man["backends"]["opencv-telea"] == first["backends"]["opencv-telea"]
    other = run(make_suite(tmp_path, backends=[{"type": "opencv-telea", "radius": 5}]), run_id="t")
    man = json.loads((other / "manifest.json").read_text())
    assert man["counts"]["generated"] == 6 and man["backends"]["opencv-telea"]["params"] == {"radius": 5}


def test_fresh_with_a_backend_missing_its_weights_discards_nothing(tmp_path, plugins):
    """`bench run --fresh` of a suite whose new backend's checkpoint is missing deleted the folder's earlier results
    and then stopped ("nothing was run"): every computed output lost to a typo. The weights of every backend are
    checked before --fresh discards anything."""
    from bench.errors import WeightsError

    done = run(make_suite(tmp_path, backends=["identity"]), run_id="kept")
    before = {p.relative_to(done): p.read_bytes() for p in done.rglob("*") if p.is_file() and p.name != ".lock"}
    records = rows(done)
    lama = {"type": "lama", "path": str(tmp_path / "nowhere" / "big-lama.pt")}
    with pytest.raises(WeightsError, match="big-lama.pt"):
        run(make_suite(tmp_path, backends=["identity", lama]), run_id="kept", fresh=True)
    after = {p.relative_to(done): p.read_bytes() for p in done.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before and rows(done) == records and len(records) == 6


def test_a_run_stopped_for_missing_weights_leaves_no_folder_it_made_and_a_resumed_one_as_it_was(tmp_path, plugins):
    """"weights missing ...; nothing was run", and yet results/<name>/ stayed behind (records.sqlite,
    suite.resolved.yaml, .lock) when the run had made it. A folder the run made is taken away again (and the empty
    folders above it it made); a resumed run's folder, there before, keeps every file, its records and its
    suite.resolved.yaml as they were, and its store every row of every table (the stopped run had added its
    generation and scorer definitions)."""
    from pathlib import Path

    from bench.errors import WeightsError

    lama = {"type": "lama", "path": str(tmp_path / "nowhere" / "big-lama.pt")}
    out = tmp_path / "deep" / "results"
    suite = make_suite(tmp_path, backends=["identity", lama], output_dir=str(out))
    with pytest.raises(WeightsError, match="nothing was run"):
        run(suite)
    assert not (tmp_path / "deep").exists()  # the run folder and the folders above it that the run made
    # a resumed run: the folder holds a finished run of identity; adding a backend without weights stops it
    done = run(make_suite(tmp_path, backends=["identity"], output_dir=str(out)), run_id="kept")
    before = {p.relative_to(done): p.read_bytes() for p in done.rglob("*") if p.is_file()}
    records, stored = rows(done), tables(done)
    assert stored["generations"] and stored["scorers"] and stored["outputs"] and stored["scores"]
    with pytest.raises(WeightsError, match="nothing was run"):
        run(suite, run_id="kept")
    # every table of the store as it was: no generation or scorer definition of the stopped run is left in it
    assert tables(done) == stored
    after = {p.relative_to(done): p.read_bytes() for p in done.rglob("*") if p.is_file()}
    assert set(after) - {Path(".lock")} == set(before) - {Path(".lock")}  # (the lock names the last process)
    assert {k: v for k, v in after.items() if not k.name.startswith((".lock", "records.sqlite"))} == \
        {k: v for k, v in before.items() if not k.name.startswith((".lock", "records.sqlite"))}
    assert rows(done) == records and (done / "suite.resolved.yaml").read_bytes() == before[Path("suite.resolved.yaml")]


def test_a_backend_can_have_its_own_batch_size(tmp_path, plugins):
    """`batch_size:` in a backend's entry sets that backend's samples per call (a model that needs smaller batches,
    or a program whose output depends on what shares its batch, next to others at the suite's size); the cell keys,
    hence the outputs, are those without it; the config hash tells the two suites apart (what a timing means)."""
    from bench.keys import expand_cells

    suite = make_suite(tmp_path, batch_size=3,
                       backends=["identity", {"type": "opencv-telea", "batch_size": 1}])
    assert suite.resolved()["backends"][1]["batch_size"] == 1
    plain = make_suite(tmp_path, batch_size=3, backends=["identity", "opencv-telea"])
    assert [c.key for c in expand_cells(suite)] == [c.key for c in expand_cells(plain)]
    assert suite.config_hash() != plain.config_hash()
    recs = rows(run(suite))
    sizes = {b: sorted({r["batch_size"] for r in recs if r["backend"] == b}) for b in ("identity", "opencv-telea")}
    assert sizes == {"identity": [3], "opencv-telea": [1]}
    assert all(r["error"] is None for r in recs) and len(recs) == 12
    for bad in (0, "2", True, 1.5):
        with pytest.raises(Exception, match=r"backends\[1\]\.batch_size: expected a whole number >= 1"):
            make_suite(tmp_path, backends=["identity", {"type": "opencv-telea", "batch_size": bad}])


def test_read_ahead_covers_a_backend_batch_larger_than_the_suites(tmp_path, plugins):
    """A backend's own `batch_size:` (8) above the suite's (1): while the backend works on one batch, the next
    full batch is already loaded (on a GPU the loaders fill it during the model's call), and full batches reach it.
    The read-ahead was sized from the suite's batch only (2 x 1, at least 2 per worker = 4): only 5 of the next 8
    samples were ready, the rest loaded while the model waited."""
    from bench.backends.base import Backend
    from bench.registry import BACKENDS, DATASETS

    loaded: list[str] = []
    seen: list[tuple[int, int]] = []  # (batch size, samples loaded when the call came)

    @DATASETS.register("test-counted")
    class Counted(plugins.NoiseDataset):
        def load(self, sample_id):
            loaded.append(sample_id)
            return super().load(sample_id)

    @BACKENDS.register("test-peek")
    class Peek(Backend):
        def inpaint(self, image, mask, generator):
            seen.append((image.shape[0], len(loaded)))
            return image.clone()

    try:
        suite = make_suite(tmp_path, batch_size=1, workers=2, metrics=["psnr"],
                           datasets=[{"type": "test-counted", "n": 32, "size": 16}],
                           backends=[{"type": "test-peek", "batch_size": 8}])
        recs = rows(run(suite))
    finally:
        BACKENDS._entries.pop("test-peek", None)
        DATASETS._entries.pop("test-counted", None)
    assert len(recs) == 32 and all(r["error"] is None for r in recs)
    assert [b for b, _ in seen] == [8, 8, 8, 8]
    # (on the CPU the runner waits for loads in flight before the clock starts: what was asked for is loaded)
    for k, (_, n) in enumerate(seen):
        assert n >= min(32, 8 * (k + 2)), seen


def test_a_backend_whose_plug_in_has_a_batch_size_parameter_is_refused(tmp_path, plugins):
    """`batch_size:` in a backend's entry is the samples per call; a plug-in backend (an entry point) that declares a
    `batch_size` parameter of its own would silently never receive it (its default ran instead): refused, naming
    the entry's key and the plug-in."""
    from bench.backends.base import Backend
    from bench.registry import BACKENDS

    if "test-own-batch-size" not in BACKENDS:
        @BACKENDS.register("test-own-batch-size")
        class OwnBatch(Backend):
            def __init__(self, batch_size: int = 2):
                self.batch_size = batch_size

            def inpaint(self, image, mask, generator):
                return image

    with pytest.raises(Exception, match=r"backends\[1\]\.batch_size: .*'test-own-batch-size' has a parameter "
                                        r"batch_size"):
        make_suite(tmp_path, backends=["identity", {"type": "test-own-batch-size", "batch_size": 8}])
    make_suite(tmp_path, backends=["identity", "test-own-batch-size"])  # without the key: its default, as before
