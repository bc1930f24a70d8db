"""The suite file and the command line as a hurried researcher uses them: each mistake is caught before any work,
by `bench validate` as by `bench run`, with the key it is about; and what is natural to write works as written."""
from __future__ import annotations

from pathlib import Path

import yaml

from bench.cli import main


def write_suite(tmp_path: Path, name: str = "s", **kw) -> Path:
    d = {"name": name, "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2,
         "backends": ["identity"], "datasets": [{"type": "test-noise", "n": 2}], "masks": ["box"],
         "metrics": ["psnr"]}
    d.update(kw)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def test_a_home_folder_in_output_dir_and_cache_dir_is_expanded(tmp_path, plugins, monkeypatch):
    """`output_dir: ~/results` means the home folder, as `~` in every plug-in's path does; not a folder named `~`
    in the current directory."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    p = write_suite(tmp_path, output_dir="~/results", cache_dir="~/cache")
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    assert (home / "results" / "s" / "records.sqlite").is_file()
    assert main(["validate", str(p)]) == 0
    assert main(["report", str(home / "results" / "s"), "--format", "md"]) == 0
    assert not (work / "~").exists()
