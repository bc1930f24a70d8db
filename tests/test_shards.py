"""Shards, merge, torchrun (gloo, 2 processes) and the run-folder lock."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.cli import main
from bench.config import parse_suite
from bench.errors import BenchError
from bench.runner import Runner
from bench.runner.locks import RunLock
from bench.runner.merge import merge_runs
from bench.store import RunStore
from tests.store_helpers import add_cell, write_records

ROOT = Path(__file__).resolve().parents[1]


def suite_dict(tmp_path, **kw):
    d = {
        "output_dir": str(tmp_path / "results"),
        "backends": ["opencv-telea", "mean-fill"],
        "datasets": [{"type": "synthetic", "n": 5}],
        "masks": ["box", "lama-thin"],
        "metrics": ["psnr", "ssim"],
        "resolution": 48,
        "batch_size": 2,
        "device": "cpu",
    }
    d.update(kw)
    return d


def comparable(run_dir):
    with RunStore(Path(run_dir) / "records.sqlite") as s:
        recs = s.records()
    drop = {"latency_ms", "wall_ms", "batch_size"}
    return sorted((tuple(sorted((k, v) for k, v in r.items() if k not in drop)) for r in recs))


def test_shards_merge_to_the_single_process_result(tmp_path):
    suite = parse_suite(suite_dict(tmp_path))
    single = Runner(suite, run_id="single", progress=False).run()
    for i in range(3):
        Runner(suite, run_id="sharded", progress=False, shard=(i, 3)).run()
    sizes = []
    for i in range(3):
        with RunStore(tmp_path / "results" / "sharded" / "shards" / f"{i}-of-3" / "records.sqlite") as s:
            sizes.append(len(s.records()))
    assert sum(sizes) == 20 and max(sizes) - min(sizes) <= 1  # a deterministic, balanced split
    dest, counts = merge_runs([tmp_path / "results" / "sharded"])
    assert counts["records"] == 20
    assert comparable(dest) == comparable(single)
    # merging again adds nothing
    _, again = merge_runs([tmp_path / "results" / "sharded"])
    assert again["records"] == 0 and comparable(dest) == comparable(single)


def test_a_merge_of_some_shards_says_it_is_incomplete(tmp_path, capsys):
    """Shard 0 of 2 merged alone showed 8 of 12 samples and nothing else: no word in the reports, and a baseline
    from it lowered the bar of every later comparison. Now the manifest, every report, bench merge's exit status
    and bench compare say so; merging the other shard later completes it."""
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite_dict(tmp_path, name="sh")))
    run = tmp_path / "results" / "sh"
    assert main(["run", str(p), "--shard", "0/2", "--no-progress", "--no-report"]) == 0
    assert main(["merge", str(run), "--no-report"]) == 3
    assert "incomplete: shard 1/2 not merged yet" in capsys.readouterr().out
    man = json.loads((run / "manifest.json").read_text())
    assert man["shards_missing"] == ["1/2"] and man["shards_merged"] == {"2": [0]}
    assert main(["report", str(run), "--format", "md,json", "--out", str(tmp_path / "rep")]) == 0
    assert "Incomplete: shard 1/2 not merged" in (tmp_path / "rep" / "leaderboard.md").read_text()
    assert json.loads((tmp_path / "rep" / "baseline.json").read_text())["shards_missing"] == ["1/2"]
    whole = tmp_path / "whole.yaml"
    whole.write_text(yaml.safe_dump(suite_dict(tmp_path, name="whole")))
    assert main(["run", str(whole), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    for base in (run, tmp_path / "rep" / "baseline.json"):
        assert main(["compare", str(base), str(tmp_path / "results" / "whole")]) == 1
        assert "BASE is incomplete" in capsys.readouterr().out
    import shutil

    rescored = tmp_path / "results" / "rescored"
    shutil.copytree(run, rescored)
    assert main(["score", str(rescored), "--add-detectors", "blur", "--no-progress", "--no-report"]) == 3
    assert "shard 1/2 of this run was never merged" in capsys.readouterr().out  # a rescored partial merge
    assert json.loads((rescored / "manifest.json").read_text())["shards_missing"] == ["1/2"]
    assert main(["compare", str(rescored), str(tmp_path / "results" / "whole")]) == 1
    assert "BASE is incomplete" in capsys.readouterr().out
    assert main(["run", str(p), "--shard", "1/2", "--no-progress", "--no-report"]) == 0
    assert main(["merge", str(run), "--no-report"]) == 0
    man = json.loads((run / "manifest.json").read_text())
    assert "shards_missing" not in man and man["shards_merged"] == {"2": [0, 1]}
    assert comparable(run) == comparable(tmp_path / "results" / "whole")
    assert main(["compare", str(run), str(tmp_path / "results" / "whole")]) == 0


def test_merge_prefers_successful_rows(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, err in ((a, "boom"), (b, None)):
        with RunStore(d / "records.sqlite") as s:
            add_cell(s, "c", "be", "ds", "m", {})
            write_records(s, "c", [{"sample_id": "x", "values": {"psnr_in": 20.0}, "error": err},
                                {"sample_id": "y", "values": {"psnr_in": 30.0}, "error": None}])
    with pytest.raises(BenchError, match="has no manifest.json"):
        merge_runs([a, b])  # stores of unknown suites are not mixed silently
    merge_runs([a, b], force=True)
    assert "merged with --force" in " ".join(json.loads((a / "manifest.json").read_text())["noncomparable_reasons"])
    with RunStore(a / "records.sqlite") as s:
        recs = {r["sample_id"]: r for r in s.records()}
    assert recs["x"]["error"] is None and recs["y"]["psnr_in"] == 30.0 and len(recs) == 2


def test_second_process_on_the_same_folder_refuses(tmp_path):
    lock = RunLock(tmp_path)
    try:
        with pytest.raises(BenchError, match="is in use by pid"):
            RunLock(tmp_path)
        # another process, through the CLI, gets the same clear refusal
        p = tmp_path / "s.yaml"
        p.write_text(yaml.safe_dump(suite_dict(tmp_path, output_dir=str(tmp_path.parent))))
        r = subprocess.run([sys.executable, "-m", "bench", "run", str(p), "--run-id", tmp_path.name, "--no-progress"],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 2 and "is in use by pid" in r.stderr
    finally:
        lock.release()
    RunLock(tmp_path).release()  # free again once released


def test_a_refused_shard_creates_no_shard_folder(tmp_path, capsys):
    """A shard refused by the run folder's lock created its empty shards/i-of-n/ first, although it refuses
    before it touches anything."""
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite_dict(tmp_path)))
    run = tmp_path / "results" / "held"
    run.mkdir(parents=True)
    lock = RunLock(run)  # a plain run, or a merge, holds the run folder
    try:
        assert main(["run", str(p), "--run-id", "held", "--shard", "1/2", "--no-progress", "--no-report"]) == 2
        assert "is in use by pid" in capsys.readouterr().err
        assert not (run / "shards").exists()
    finally:
        lock.release()


def test_shard_argument_errors(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite_dict(tmp_path)))
    assert main(["run", str(p), "--shard", "3/3"]) == 2
    assert "expected 0 <= i < n" in capsys.readouterr().err
    assert main(["run", str(p), "--shard", "x"]) == 2


@pytest.mark.slow
def test_torchrun_two_ranks_with_gloo(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite_dict(tmp_path, backends=["mean-fill"], masks=["box"])))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "bench", "run", str(p), "--run-id", "ddp", "--no-progress"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = tmp_path / "results" / "ddp"
    assert (run_dir / "shards" / "0-of-2" / "records.sqlite").exists()
    assert (run_dir / "shards" / "1-of-2" / "records.sqlite").exists()
    suite = parse_suite(suite_dict(tmp_path, backends=["mean-fill"], masks=["box"]))
    single = Runner(suite, run_id="single", progress=False).run()
    assert comparable(run_dir) == comparable(single)


def test_a_forced_merge_stays_non_comparable_and_keeps_its_cells_when_rescored(tmp_path):
    """A merge of two different suites with --force is marked non-comparable and reports both suites' cells;
    `bench score` on the merged folder rebuilt the manifest from one suite: comparable again, the other cells gone."""
    a = Runner(parse_suite(suite_dict(tmp_path, masks=["box"])), run_id="a", progress=False).run()
    b = Runner(parse_suite(suite_dict(tmp_path, masks=["lama-thin"])), run_id="b", progress=False).run()
    dest, _ = merge_runs([a, b], into=tmp_path / "results" / "ab", force=True)
    before = json.loads((dest / "manifest.json").read_text())
    assert before["comparable"] is False and len(before["cells"]) == 4
    assert main(["score", str(dest), "--add-detectors", "blur", "--no-progress", "--no-report"]) == 0
    after = json.loads((dest / "manifest.json").read_text())
    assert after["comparable"] is False and after["merge_forced"] == before["merge_forced"]
    assert any(r.startswith("merged with --force") for r in after["noncomparable_reasons"])
    assert sorted(c["cell_key"] for c in after["cells"]) == sorted(c["cell_key"] for c in before["cells"])
    from bench.report.aggregate import load_run, summarize

    assert set(summarize(load_run(dest), ci=False)["mask"]) == {"box", "lama-thin"}


class SetupFailsOnRankOne:
    """A model whose weights only rank 0's node has: setting it up fails on rank 1."""

    def __init__(self):
        from bench.backends.base import Geometry

        self.geometry = Geometry()

    def setup(self, ctx):
        if os.environ.get("RANK") == "1":
            raise RuntimeError("no weights on this node")

    def inpaint(self, image, mask, generator):
        return image.clone()


def test_a_backend_that_fails_on_another_rank_makes_the_lead_rank_exit_incomplete(tmp_path):
    """Every rank exits 0 whatever its share ran (torchrun stops the other ranks when one exits non-zero), so the
    lead rank's exit status is the launch's: a backend that could not be set up on rank 1 made it 0."""
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite_dict(tmp_path, masks=["box"], backends=[
        "mean-fill", {"type": "python", "name": "picky", "target": "tests.test_shards:SetupFailsOnRankOne"}])))
    procs = {}
    for rank in (1, 0):
        env = {**os.environ, "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1"}
        procs[rank] = subprocess.Popen([sys.executable, "-m", "bench", "run", str(p), "--run-id", "ranks",
                                        "--no-progress", "--no-report"], cwd=ROOT, env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = {rank: proc.communicate(timeout=300)[0] for rank, proc in procs.items()}
    assert procs[1].returncode == 0, out[1][-2000:]
    assert procs[0].returncode == 3, out[0][-2000:]
    assert "incomplete: backend picky could not run" in out[0]


def test_a_plain_run_over_unmerged_shards_says_it_will_not_read_them(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite_dict(tmp_path, name="sh", masks=["box"])))
    run = tmp_path / "results" / "sh"
    assert main(["run", str(p), "--shard", "1/2", "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["run", str(p), "--limit", "1", "--no-progress", "--no-report"]) == 0
    assert f"{run} has shard stores never merged (1-of-2)" in capsys.readouterr().out.replace("\n", " ")
    assert main(["merge", str(run), "--no-report"]) == 3  # (shard 1/2 and the plain run's store; 0/2 never ran)
    capsys.readouterr()
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0  # (makes 0/2's samples itself)
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0  # (its manifest no longer lists the merge)
    assert "never merged" not in capsys.readouterr().out


def _rows(db):
    """(cell, sample) -> (error, created, info) of the outputs, and (cell, sample, scorer) -> values, and the
    (cell, sample, scorer, name) of the feature vectors, read with plain sqlite3."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        outs = {(g, s): (e, t, json.loads(i)) for g, s, e, t, i in con.execute(
            "SELECT gen_key, sample_id, error, created, info FROM outputs")}
        scores = {(g, s, k): json.loads(v) for g, s, k, v in con.execute(
            "SELECT gen_key, sample_id, scorer_key, vals FROM scores")}
        feats = {r for r in con.execute("SELECT gen_key, sample_id, scorer_key, name FROM features")}
    finally:
        con.close()
    return outs, scores, feats


def test_merge_takes_the_later_generation_and_only_its_scores(tmp_path):
    """The run folder's own store was merged first and a successful row was never replaced, so an output a shard
    made again (input changed, --fresh) lost to the older one: the merged row (input digest, psnr) no longer
    matched the PNG. The later generation wins, with its own scores and features only; the other order gives the
    same result; merging again changes nothing; an error row still gives way to a success, even a newer one."""
    from bench.store import merge_stores

    old, new = tmp_path / "old", tmp_path / "new"
    with RunStore(old / "records.sqlite") as s:
        add_cell(s, "c", "be", "ds", "m")
        s.add_scorer("other.0", "other", "metric", {})
        write_records(s, "c", [{"sample_id": "x", "values": {"psnr_in": 20.0}, "info": {"input_sha256": "a"}},
                               {"sample_id": "y", "values": {"psnr_in": 21.0}},
                               {"sample_id": "z", "error": "boom"}],
                      features=[("x", "feat", np.ones(3, np.float32))])
        s.write_scores("c", [("x", "other.0", {"other": 1.0}, None)])
    with RunStore(new / "records.sqlite") as s:  # made later: x again from another input, z succeeds
        add_cell(s, "c", "be", "ds", "m")
        write_records(s, "c", [{"sample_id": "x", "values": {"psnr_in": 30.0}, "info": {"input_sha256": "b"}},
                               {"sample_id": "z", "values": {"psnr_in": 25.0}}])
    with RunStore(new / "records.sqlite") as s:
        s.write_outputs("c", [{"sample_id": "y", "error": "later failure"}])  # a newer error loses to a success
    results = []
    for order in ((old, new), (new, old)):
        dest = tmp_path / f"m-{order[0].name}"
        merge_stores(dest / "records.sqlite", [d / "records.sqlite" for d in order])
        results.append(_rows(dest / "records.sqlite"))
        again = merge_stores(dest / "records.sqlite", [d / "records.sqlite" for d in order])
        assert again["records"] == again["scores"] == 0 and _rows(dest / "records.sqlite") == results[-1]
    assert results[0] == results[1]
    outs, scores, feats = results[0]
    assert outs[("c", "x")][2] == {"input_sha256": "b"} and outs[("c", "x")][0] is None
    assert scores[("c", "x", "test-values.0")] == {"psnr_in": 30.0}
    assert ("c", "x", "other.0") not in scores  # the older output's scores and features went with it
    assert not any(f[1] == "x" for f in feats)
    assert outs[("c", "y")][0] is None and scores[("c", "y", "test-values.0")] == {"psnr_in": 21.0}
    assert outs[("c", "z")][0] is None and scores[("c", "z", "test-values.0")] == {"psnr_in": 25.0}


def test_merge_takes_the_replacing_row_whatever_the_clocks_say(tmp_path, monkeypatch):
    """A shard's output x was merged into the run folder; its input changed and the shard ran again on another
    node whose clock is 10 minutes behind: its new row's creation time is *earlier* than the merged one's, and the
    merge kept the old row (its digest no longer the PNG's, its scores another output's). The row that replaced the
    other in the shard's store wins, in either order, and merging again changes nothing; rows of no common history
    still go by their times."""
    import time

    from bench.store import merge_stores

    shard, dest = tmp_path / "shard" / "records.sqlite", tmp_path / "run" / "records.sqlite"
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    with RunStore(shard) as s:  # node A
        add_cell(s, "c", "be", "ds", "m")
        write_records(s, "c", [{"sample_id": "x", "values": {"psnr_in": 20.0}, "info": {"input_sha256": "a"}},
                               {"sample_id": "y", "values": {"psnr_in": 21.0}, "info": {"input_sha256": "a"}}])
    clock[0] += 5
    merge_stores(dest, [shard])
    clock[0] += 60 - 600  # node B, a minute later, its clock 10 minutes behind
    with RunStore(shard) as s:
        write_records(s, "c", [{"sample_id": "x", "values": {"psnr_in": 30.0}, "info": {"input_sha256": "b"}}])
    monkeypatch.undo()
    other = tmp_path / "other" / "records.sqlite"  # y made independently, later by its clock: no common history
    with RunStore(other) as s:
        add_cell(s, "c", "be", "ds", "m")
        write_records(s, "c", [{"sample_id": "y", "values": {"psnr_in": 22.0}, "info": {"input_sha256": "c"}}])
    results = []
    for name, order in (("in-place", None), ("fwd", (dest, shard)), ("rev", (shard, dest))):
        target = dest if order is None else tmp_path / name / "records.sqlite"
        srcs = [shard] if order is None else list(order)
        merge_stores(target, srcs + [other])
        again = merge_stores(target, srcs + [other])
        assert again["records"] == 0
        outs, scores, _ = _rows(target)
        results.append((outs[("c", "x")][2]["input_sha256"], scores[("c", "x", "test-values.0")],
                        outs[("c", "y")][2]["input_sha256"]))
    assert results == [("b", {"psnr_in": 30.0}, "c")] * 3, results


def test_merge_after_an_input_changed_equals_a_single_run(tmp_path):
    """End to end: a plain run in the run folder, then an input changes and shards of the same folder make every
    output again; the merge equals an uninterrupted run on the new inputs (rows, scores, digests)."""
    from PIL import Image

    imgs = tmp_path / "data" / "images"
    imgs.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(imgs / f"im{i}.png")
    suite = parse_suite(suite_dict(tmp_path, backends=["mean-fill"], masks=["box"],
                                   datasets=[{"type": "folder", "root": str(imgs.parent)}]))
    Runner(suite, run_id="run", progress=False).run()
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(imgs / "im0.png")
    single = Runner(suite, run_id="single", progress=False).run()
    for i in range(2):
        Runner(suite, run_id="run", progress=False, shard=(i, 2)).run()
    dest, _ = merge_runs([tmp_path / "results" / "run"])
    assert comparable(dest) == comparable(single)
    digests = {k[1]: v[2].get("input_sha256") for k, v in _rows(dest / "records.sqlite")[0].items()}
    assert digests == {k[1]: v[2].get("input_sha256") for k, v in _rows(single / "records.sqlite")[0].items()}
    # two run folders merged elsewhere: the later output's PNG replaces the earlier one's beside its row
    Runner(suite, run_id="old", progress=False).run()
    Image.fromarray(np.asarray(Image.open(imgs / "im0.png"))[::-1].copy()).save(imgs / "im0.png")
    newest = Runner(suite, run_id="newest", progress=False).run()
    both, counts = merge_runs([tmp_path / "results" / "old", newest], into=tmp_path / "results" / "both")
    assert comparable(both) == comparable(newest)
    pngs = sorted(p.relative_to(newest) for p in (newest / "generations").rglob("*.png"))
    assert pngs and all((both / p).read_bytes() == (newest / p).read_bytes() for p in pngs)


def _manifest(run):
    return json.loads((Path(run) / "manifest.json").read_text())


def test_merge_again_after_the_suite_changed_takes_the_shards_suite(tmp_path, capsys):
    """The run folder's manifest from the previous merge took part in the same-suite check (and was the merged
    manifest's base): after shards ran a changed suite, bench merge refused with 'different suites', and --force
    kept the old suite and NOT COMPARABLE for good. Now the merge is redone from the sources and takes the shards'
    current suite; bench score on the merged run then a merge keeps the scored suite; a half-rerun (one shard on
    the old suite) and a plain run of another suite in the folder are still refused, naming the sources."""
    base = suite_dict(tmp_path, backends=["mean-fill"], metrics=["psnr"])
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(base))
    run = tmp_path / "results" / "sh"

    def shards(*ids, run_id="sh"):
        for i in ids:
            assert main(["run", str(p), "--run-id", run_id, "--shard", f"{i}/2", "--no-progress", "--no-report"]) == 0

    shards(0, 1)
    assert main(["merge", str(run), "--no-report"]) == 0
    first = _manifest(run)
    changed = {**base, "batch_size": 3, "detectors": ["noop"]}
    p.write_text(yaml.safe_dump(changed))  # the suite changes (a detector, the batch size); shards run it
    new_hash = parse_suite(changed).config_hash()
    assert new_hash != first["config_hash"]
    shards(0, 1)
    for _ in range(2):
        assert main(["merge", str(run), "--no-report"]) == 0
        man = _manifest(run)
        assert man["config_hash"] == new_hash and man.get("comparable", True) and not man["noncomparable_reasons"]
        assert {s["label"] for s in man["scorers"]} == {"psnr", "noop"} and man["shards_merged"] == {"2": [0, 1]}
        assert man["counts"]["generated"] == 0 and man["counts"]["scored"] == 10  # the shards' last sessions
    assert yaml.safe_load((run / "suite.resolved.yaml").read_text())["batch_size"] == 3
    p.write_text(yaml.safe_dump({**changed, "batch_size": 4}))
    shards(0)
    capsys.readouterr()
    assert main(["merge", str(run), "--no-report"]) == 2  # shard 1 still holds the previous suite: named
    err = capsys.readouterr().err
    assert "different suites" in err and "shards/1-of-2" in err and str(run) + "," not in err
    p.write_text(yaml.safe_dump(changed))
    shards(0)
    assert main(["merge", str(run), "--no-report"]) == 0
    # bench score on the merged run, then merge again: the folder's own later session covers the shards
    assert main(["score", str(run), "--add-metrics", "ssim", "--no-progress", "--no-report"]) == 0
    scored = _manifest(run)
    assert main(["merge", str(run), "--no-report"]) == 0
    man = _manifest(run)
    assert man["config_hash"] == scored["config_hash"] and man["scorers"] == scored["scorers"]
    assert man["shards_merged"] == {"2": [0, 1]}
    # a plain run of another suite in a run folder, then shards of this one: still refused without --force
    other = tmp_path / "o.yaml"
    other.write_text(yaml.safe_dump({**base, "metrics": ["ssim"]}))
    assert main(["run", str(other), "--run-id", "mixed", "--no-progress", "--no-report"]) == 0
    shards(0, 1, run_id="mixed")
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "results" / "mixed"), "--no-report"]) == 2
    assert "different suites" in capsys.readouterr().err


def _plain_run_then_shards_merged(tmp_path):
    """(the suite, its run folder): a plain run of two samples in the folder, then its two shards, merged."""
    suite = parse_suite(suite_dict(tmp_path, backends=["mean-fill"], metrics=["psnr"]))
    Runner(suite, run_id="r", progress=False, limit=2).run()
    for i in range(2):
        Runner(suite, run_id="r", progress=False, shard=(i, 2)).run()
    run = tmp_path / "results" / "r"
    merge_runs([run])
    return suite, run


def test_remerging_counts_every_source_once(tmp_path):
    """bench merge summed the previous merge's counts again (generated 14 -> 24 -> 34 with rows unchanged). The
    merged manifest records its sources; a merge is redone from them, each counted once, keeping what it cannot
    read again (the folder's own plain run from before the merge, a folder merged in earlier)."""
    suite, run = _plain_run_then_shards_merged(tmp_path)
    first = _manifest(run)
    assert first["counts"]["generated"] == 4 + 10 and len(first["sessions"]) == 3
    merge_runs([run])
    again = _manifest(run)
    assert again["counts"] == first["counts"] and len(again["sessions"]) == 3
    Runner(suite, run_id="b", progress=False, limit=3).run()
    merge_runs([run, tmp_path / "results" / "b"])
    assert _manifest(run)["counts"]["generated"] == 14 + 6
    merge_runs([run])
    assert _manifest(run)["counts"]["generated"] == 14 + 6


def test_merge_leaves_out_the_folders_own_run_of_an_earlier_suite(tmp_path):
    """A plain run in the folder before the first merge is kept by later merges of the same suite; once the
    shards run a changed suite it is an earlier version (left out of the manifest, its rows stay stored), not a
    reason to refuse."""
    suite, run = _plain_run_then_shards_merged(tmp_path)
    assert [p["source"] for p in _manifest(run)["merged_parts"]] == [".", "shards/0-of-2", "shards/1-of-2"]
    changed = parse_suite(suite_dict(tmp_path, backends=["mean-fill"], metrics=["psnr", "ssim"]))
    for i in range(2):
        Runner(changed, run_id="r", progress=False, shard=(i, 2)).run()
    _, counts = merge_runs([run])
    man = _manifest(run)
    assert man["config_hash"] == changed.config_hash() and man.get("comparable", True)
    assert counts["earlier_suite"] == [str(run)]
    assert [p["source"] for p in man["merged_parts"]] == ["shards/0-of-2", "shards/1-of-2"]
    with RunStore(run / "records.sqlite") as s:  # (the plain run's cells are the shards' ones: no extra rows)
        assert len(s.records()) == 10


def test_merging_into_a_folder_that_holds_an_earlier_merge_keeps_what_it_holds(tmp_path):
    """`bench merge a --into all` then `bench merge b --into all`: the second merge rebuilt the manifest from b
    alone, so it said shard 0/2 was missing (and counted half the work) while the store held both; the
    destination's own store is now merged as a source. Merging both again into it changes nothing."""
    s = parse_suite(suite_dict(tmp_path, backends=["mean-fill"], masks=["box"],
                               datasets=[{"type": "synthetic", "n": 4}]))
    a = Runner(s, run_id="a", progress=False, shard=(0, 2)).run()
    b = Runner(s, run_id="b", progress=False, shard=(1, 2)).run()
    dest = tmp_path / "results" / "all"
    merge_runs([a], into=dest)
    assert _manifest(dest)["shards_missing"] == ["1/2"]
    _, counts = merge_runs([b], into=dest)
    m = _manifest(dest)
    assert "shards_missing" not in m and counts["shards_missing"] == []
    assert m["counts"]["generated"] == 4 and m["shards_merged"] == {"2": [0, 1]}
    merge_runs([a, b], into=dest)
    assert _manifest(dest)["counts"] == m["counts"]
    # a destination holding a run of another suite is named, not silently mixed in
    other = parse_suite(suite_dict(tmp_path, backends=["mean-fill"], masks=["lama-thin"],
                                   datasets=[{"type": "synthetic", "n": 4}]))
    Runner(other, run_id="other", progress=False).run()
    with pytest.raises(BenchError, match="different suites.*other"):
        merge_runs([a], into=tmp_path / "results" / "other")


def _as_written_before_the_hash_rule_changed(run_dir, suite):
    """The manifest as the code before the config hash left out settings that change no number wrote it: the
    earlier rule's hash (``Suite.config_hash_v1``, that code's ``config_hash``) and no ``config_hash_v1``."""
    mp = Path(run_dir) / "manifest.json"
    m = json.loads(mp.read_text())
    m["config_hash"] = suite.config_hash_v1()
    del m["config_hash_v1"]
    mp.write_text(json.dumps(m))


def test_a_shard_run_before_the_hash_rule_changed_merges_with_a_shard_run_after(tmp_path):
    """Shard 0 ran before the config hash left out ``save_inputs`` (its manifest carries the earlier rule's hash);
    shard 1 runs today with ``save_inputs: true``. They are one suite: the merge takes both and stays comparable,
    as does a merge of the reverse order of writing."""
    d = suite_dict(tmp_path, backends=["mean-fill"], masks=["box"], metrics=["psnr"])
    old = parse_suite(d)
    Runner(old, run_id="sh", progress=False, shard=(0, 2)).run()
    _as_written_before_the_hash_rule_changed(tmp_path / "results" / "sh" / "shards" / "0-of-2", old)
    Runner(parse_suite({**d, "save_inputs": True}), run_id="sh", progress=False, shard=(1, 2)).run()
    dest, counts = merge_runs([tmp_path / "results" / "sh"])
    man = _manifest(dest)
    assert counts["records"] == 5 and man["shards_merged"] == {"2": [0, 1]} and not man.get("shards_missing")
    assert man.get("comparable", True) and not man["noncomparable_reasons"] and not man.get("merge_forced")


def test_a_run_started_before_the_hash_rule_changed_resumes_without_a_note_or_new_work(tmp_path, capsys):
    """A finished run whose manifest carries the earlier rule's hash, run again today (with ``save_inputs`` turned
    on, which no longer changes the hash): nothing generated or scored again, and no note that the folder holds an
    earlier version of the suite."""
    d = suite_dict(tmp_path, backends=["mean-fill"], masks=["box"], metrics=["psnr"])
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert main(["run", str(p), "--run-id", "r", "--no-progress", "--no-report"]) == 0
    run = tmp_path / "results" / "r"
    _as_written_before_the_hash_rule_changed(run, parse_suite(d))
    p.write_text(yaml.safe_dump({**d, "save_inputs": True}))
    capsys.readouterr()
    assert main(["run", str(p), "--run-id", "r", "--no-progress", "--no-report"]) == 0
    out = capsys.readouterr()
    assert "earlier version of this suite" not in out.out + out.err
    man = _manifest(run)
    assert man["counts"]["generated"] == 0 and man["counts"]["scored"] == 0
    assert man["config_hash"] == parse_suite(d).config_hash() and man["config_hash_v1"] != parse_suite(d).config_hash_v1()


KILL_MID_COPY = """
import os, shutil, signal, sys
seen = set()
def half_then_die(fd):
    st = os.fstat(fd)
    if st.st_ino in seen:  # (a copy may take several calls)
        return None
    seen.add(st.st_ino)
    if len(seen) == 2:  # the second file: half of it written, then SIGKILL (a pre-empted merge job)
        return st.st_size // 2
    return None
real_sendfile, real_copyobj = os.sendfile, shutil.copyfileobj
def sendfile(out_fd, in_fd, offset, count):
    n = half_then_die(in_fd)
    if n is not None:
        os.write(out_fd, os.pread(in_fd, n, 0)); os.kill(os.getpid(), signal.SIGKILL)
    return real_sendfile(out_fd, in_fd, offset, count)
def copyfileobj(src, dst, *a, **k):
    n = half_then_die(src.fileno())
    if n is not None:
        dst.write(src.read(n)); dst.flush(); os.kill(os.getpid(), signal.SIGKILL)
    return real_copyobj(src, dst, *a, **k)
os.sendfile, shutil.copyfileobj = sendfile, copyfileobj
from bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("dest_had", ["nothing", "an earlier merge"])
def test_a_merge_killed_while_copying_outputs_is_finished_by_the_same_command(tmp_path, dest_had):
    """`bench merge a b --into all` killed (SIGKILL) half way through copying a PNG left that half file under its
    final name, after the rows were committed: every later merge skipped it (the file "exists"), and a rescore
    found an output that is not the one generated. And into a new destination the store it had written had no
    manifest yet, so the same command run again refused ("has no manifest.json (its suite is unknown)"). Now files
    are copied atomically and a new store is put in place only when the merge is complete: the rerun finishes it,
    equal to a merge never killed."""
    import sqlite3

    from bench.pixels import output_digest
    from bench.store.files import output_path, read_png_u8

    suite = parse_suite({"name": "m", "output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 32,
                         "batch_size": 2, "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 4}],
                         "masks": ["box"], "metrics": ["psnr"]})
    a = Runner(suite, run_id="a", progress=False, limit=2).run()
    b = Runner(suite, run_id="b", progress=False).run()
    ref, _ = merge_runs([a, b], into=tmp_path / "ref")
    dest = tmp_path / "all"
    if dest_had == "an earlier merge":  # then the copies are b's syn-0002 and syn-0003, the kill in the second
        merge_runs([a], into=dest)
    argv = ["merge", str(a), str(b), "--into", str(dest), "--no-report"]
    r = subprocess.run([sys.executable, "-c", KILL_MID_COPY, *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -9, r.stderr[-2000:]
    assert main(argv) == 0  # the same command again

    def rows(d):
        con = sqlite3.connect(f"file:{d / 'records.sqlite'}?mode=ro", uri=True)
        try:
            return sorted(con.execute("SELECT gen_key, sample_id, info, error FROM outputs"))
        finally:
            con.close()

    got = rows(dest)
    assert [r[:2] for r in got] == [r[:2] for r in rows(ref)] and len(got) == 4
    for gen_key, sid, info, err in got:
        assert err is None
        assert output_digest(read_png_u8(output_path(dest, gen_key, sid))) == json.loads(info)["output_sha256"], sid
    man = json.loads((dest / "manifest.json").read_text())
    assert man["written_by"] == "merge" and not man.get("merge_forced")
    assert not [p.name for p in dest.iterdir() if p.name.startswith(".records")]
