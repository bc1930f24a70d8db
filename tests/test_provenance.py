"""Provenance of the code that ran: the git revision is inpaint-bench's own, never that of a repository the
package merely sits in (an installed copy inside a project's ignored virtual environment)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.runner.provenance import git_revision

SOURCE = Path(__file__).resolve().parents[1] / "bench" / "runner" / "provenance.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def _repo(root: Path, files: dict[str, str]) -> str:
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return _git(root, "rev-parse", "HEAD")


def _install(site: Path) -> Path:
    """A copy of the provenance module where an install puts it (``<site>/bench/runner/provenance.py``)."""
    dest = site / "bench" / "runner" / "provenance.py"
    dest.parent.mkdir(parents=True)
    shutil.copy(SOURCE, dest)
    return site


def test_a_checkout_records_its_revision_and_whether_it_is_dirty(tmp_path):
    root = tmp_path / "inpaint-bench"
    head = _repo(root, {"bench/runner/provenance.py": SOURCE.read_text()})
    assert git_revision(root) == {"revision": head, "dirty": False}
    (root / "bench" / "runner" / "provenance.py").write_text("# edited\n")
    assert git_revision(root) == {"revision": head, "dirty": True}


def test_an_install_inside_another_repository_records_no_revision(tmp_path):
    """A project repository holding an ignored virtual environment with inpaint-bench installed in it: git answers
    for the project, whose revision says nothing about the harness's code."""
    project = tmp_path / "project"
    _repo(project, {".gitignore": ".venv/\n", "train.py": "print('hi')\n"})
    site = _install(project / ".venv" / "lib" / "site-packages")
    assert git_revision(site) == {"revision": None}
    from bench.report.leaderboard import provenance_parts

    assert "git none (not a git checkout)" in provenance_parts({"git": git_revision(site)})


def test_the_markdown_leaderboard_carries_the_runs_provenance(tmp_path, plugins):
    """leaderboard.md (what a pull request or a README quotes) says where its numbers come from, as the LaTeX
    tables and the HTML report do: config hash, seed, dtype, device, git revision, package versions."""
    import json

    from bench.cli import main
    from bench.config import parse_suite
    from bench.report.leaderboard import render_run
    from bench.runner import Runner

    suite = parse_suite({"output_dir": str(tmp_path / "results"), "backends": ["opencv-telea"],
                         "datasets": [{"type": "test-noise", "n": 2, "size": 32}], "masks": ["lama-thin"],
                         "metrics": ["psnr"], "device": "cpu", "seed": 7})
    run_dir = Runner(suite, progress=False).run()
    render_run(run_dir, formats=("md",))  # as `bench run` ends
    man = json.loads((run_dir / "manifest.json").read_text())
    assert main(["report", str(run_dir), "--format", "md", "--out", str(tmp_path / "rep"), "--no-ci"]) == 0
    for md in (run_dir / "leaderboard.md", tmp_path / "rep" / "leaderboard.md"):
        text = md.read_text().replace("\\_", "_")  # (Markdown escapes)
        assert f"config_hash {man['config_hash']}" in text and "seed 7" in text and "dtype float32" in text
        assert f"torch {man['packages']['torch']}" in text and "device device=cpu" in text
        if man["git"].get("revision"):
            assert man["git"]["revision"] in text


def test_the_packages_that_compute_the_summaries_and_the_calibration_photos_are_recorded():
    """pandas computes every leaderboard aggregate (means, quantiles, groupings) and PyWavelets ships two of the
    calibration photographs (bench.calibration.photos); neither version was recorded."""
    import pandas

    from bench.runner.provenance import package_versions

    v = package_versions()
    assert v["pandas"] == pandas.__version__ and v["PyWavelets"]  # (pywt.__version__ lags its distribution's)


def test_a_cpu_run_records_the_cpu_model_so_two_cpu_machines_are_two_devices(tmp_path):
    """A CPU latency is a figure of the CPU it ran on: the device name was "cpu" on every machine (and "cpu" the
    architecture, x86_64), so a run resumed on another CPU model mixed the two machines' latencies without the
    "Mixed sessions" note, and `bench compare` saw the same device."""
    import platform

    import torch

    from bench.runner.provenance import cpu_name, device_info
    from bench.store.run import session_differences

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fake CPU 9000 @ 3.0GHz\nflags\t: a b\n")
    assert cpu_name(info) == "Fake CPU 9000 @ 3.0GHz"
    assert cpu_name(tmp_path / "none") in (platform.processor() or platform.machine(), cpu_name())
    d = device_info(torch.device("cpu"))
    assert d["name"] == d["cpu"] == cpu_name() and d["cpu_count"] >= 1
    if Path("/proc/cpuinfo").is_file() and "model name" in Path("/proc/cpuinfo").read_text(errors="replace"):
        assert d["name"] not in ("cpu", platform.machine())
    sessions = [{"device_name": "Fake CPU 9000"}, {"device_name": "Other CPU 1"}]
    assert session_differences({"sessions": sessions}) == ["device Fake CPU 9000 and Other CPU 1"]


def test_a_run_resumed_with_other_torch_threads_says_so(tmp_path):
    """A CPU model's latency scales with torch's threads (OMP_NUM_THREADS, a machine with more cores): a run resumed
    with 8 threads after 2 mixed two speeds in one latency column without the "Mixed sessions" note."""
    import torch

    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store.manifest import read_manifest
    from bench.store.run import session_differences

    cpu = {"device_name": "Fake CPU 9000"}
    assert session_differences({"sessions": [{**cpu, "torch_threads": 2}, {**cpu, "torch_threads": 8}]}) == \
        ["torch threads 2 and 8"]
    assert session_differences({"sessions": [{**cpu, "torch_threads": 2}, {**cpu, "torch_threads": 2}]}) == []
    suite = parse_suite({"output_dir": str(tmp_path), "device": "cpu", "resolution": 16, "backends": ["identity"],
                         "datasets": [{"type": "synthetic", "n": 1}], "masks": [{"type": "box"}], "metrics": []})
    run_dir = Runner(suite, progress=False).run()
    (session,) = read_manifest(run_dir)["sessions"]
    assert session["torch_threads"] == torch.get_num_threads()
