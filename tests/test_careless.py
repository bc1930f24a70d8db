"""The suite file and the command line as a hurried researcher uses them: each mistake is caught before any work,
by `bench validate` as by `bench run`, with the key it is about; and what is natural to write works as written."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.cli import main
from tests.test_hostile import write_suite as hostile_suite


def write_suite(tmp_path: Path, name: str = "s", **kw) -> Path:
    """tests/test_hostile.py's small suite, with two samples."""
    return hostile_suite(tmp_path, name, **{"datasets": [{"type": "test-noise", "n": 2}], **kw})


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



def test_environment_variables_in_path_settings_are_expanded_and_an_unset_one_is_named(tmp_path, plugins,
                                                                                     monkeypatch, capsys):
    """`output_dir: $SCRATCH/results` made a folder literally named `$SCRATCH` in the current directory. Path
    settings now expand `$VAR` and `${VAR}`; one that is not set is an error naming the key, before anything runs;
    an empty one is refused (it quietly meant the current directory)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.delenv("NO_SUCH_VAR_XYZ", raising=False)
    p = write_suite(tmp_path, output_dir="$SCRATCH/results", cache_dir="${SCRATCH}/cache")
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    assert (tmp_path / "scratch" / "results" / "s" / "records.sqlite").is_file() and not list(work.iterdir())
    p = write_suite(tmp_path, "u", output_dir="$NO_SUCH_VAR_XYZ/results")
    assert main(["validate", str(p)]) == 2
    assert "output_dir: the environment variable NO_SUCH_VAR_XYZ" in capsys.readouterr().err
    assert main(["run", str(p), "--no-progress"]) == 2 and not list(work.iterdir())
    p = write_suite(tmp_path, "e", output_dir="")
    assert main(["run", str(p), "--no-progress"]) == 2 and "output_dir: empty" in capsys.readouterr().err


def test_a_missing_outputs_root_or_program_is_caught_before_any_work(tmp_path, plugins, capsys):
    """The outputs backend's folder and the command backend's program are what a model's weights are to the
    others: `bench validate` names a missing one, and `bench run` stops before any work (exit 2), instead of running
    the other backends and then failing every sample of this one (exit 3, or 0 with an error row per sample)."""
    script = tmp_path / "fill.sh"
    script.write_text("#!/bin/sh\n")
    cases = {"outputs root 'nowhere' is not a folder": {"type": "outputs", "root": "nowhere"},
             "program 'no-such-program-xyz' not found in PATH":
                 {"type": "command", "command": "no-such-program-xyz {input_dir} {output_dir}"},
             "program './fill.sh' is not executable":
                 {"type": "command", "command": "./fill.sh {input_dir} {output_dir}", "cwd": str(tmp_path)},
             "program 'bin/fill' not found (relative to cwd":
                 {"type": "command", "command": "bin/fill {input_dir} {output_dir}", "cwd": str(tmp_path)},
             "cwd 'no/such/folder' is not a folder":
                 {"type": "command", "command": "sh {input_dir} {output_dir}", "cwd": "no/such/folder"}}
    for i, (msg, backend) in enumerate(cases.items()):
        p = write_suite(tmp_path, f"s{i}", backends=["test-spy", backend])
        assert main(["validate", str(p)]) == 2
        assert msg in capsys.readouterr().err
        assert main(["run", str(p), "--no-progress", "--no-report"]) == 2
        assert msg in capsys.readouterr().err and not plugins.CALLS
        assert not list((tmp_path / "results").rglob("*.png"))
    script.chmod(0o755)
    p = write_suite(tmp_path, "ok", backends=[{"type": "command", "command": "./fill.sh {input_dir} {output_dir}",
                                               "cwd": str(tmp_path)}])
    assert main(["validate", str(p)]) == 0


def test_a_number_in_exponent_notation_is_a_number(tmp_path, plugins):
    """`threshold: 1e-3` is a float, as in YAML 1.2, JSON and Python (PyYAML's YAML 1.1 rules read it as the text
    '1e-3' and the suite was refused with 'expected float, got str'); `batch_size: 1e3` is then a float, not an int."""
    from bench.config import load_suite
    from bench.errors import ConfigError

    p = tmp_path / "e.yaml"
    p.write_text("backends: [identity]\ndatasets: [{type: test-noise, n: 2}]\n"
                 "masks: [{type: box, min_size: 2e-1, max_size: +3.5E-1}]\n"
                 "detectors: [{type: noop, tol: 1e-3}]\n")
    s = load_suite(p)
    assert s.masks[0].params == {"min_size": 0.2, "max_size": 0.35} and s.detectors[0].params == {"tol": 0.001}
    p.write_text(p.read_text() + "batch_size: 1e3\n")
    with pytest.raises(ConfigError, match=r"batch_size: expected int, got float 1000\.0"):
        load_suite(p)


def test_nan_is_no_plug_in_parameter(plugins):
    """`.nan` compares false with everything: `threshold: .nan` was accepted and the detector never flagged. A NaN
    anywhere in a plug-in's parameters is an error naming its key."""
    from bench.config import parse_suite
    from bench.errors import ConfigError

    base = {"backends": ["identity"], "datasets": [{"type": "test-noise", "n": 2}], "masks": ["box"]}
    for extra, where in (({"detectors": [{"type": "blur", "threshold": float("nan")}]}, r"detectors\[0\]\.threshold"),
                         ({"detectors": ["blur", {"type": "noop", "tol": float("nan")}]}, r"detectors\[1\]\.tol"),
                         ({"metrics": [{"type": "fid", "reference": {"type": "test-noise", "n": float("nan")}}]},
                          r"metrics\[0\]\.reference"),
                         ({"datasets": [{"type": "folder", "root": ".", "value_range": [0, float("nan")]}]},
                          r"datasets\[0\]\.value_range")):
        with pytest.raises(ConfigError, match=where + r".*NaN"):
            parse_suite({**base, **extra})
    parse_suite({**base, "detectors": [{"type": "blur", "threshold": float("inf")}]})  # never flags: allowed


def test_a_dataset_without_samples_is_a_problem_not_an_empty_leaderboard(tmp_path, plugins, capsys):
    """A folder whose images/ holds no image files (another extension, a wrong root), `n: 0`, `names: []`: validate
    said OK and the run exited 0 with an empty table. Now validate names the dataset (exit 2) and the run skips its
    cells and says so (exit 3), as for a dataset that cannot be listed."""
    (tmp_path / "photos" / "images").mkdir(parents=True)
    (tmp_path / "photos" / "images" / "a.heic").write_bytes(b"\0")
    for i, ds in enumerate(({"type": "folder", "root": str(tmp_path / "photos"), "task": "reconstruction"},
                            {"type": "synthetic", "n": 0}, {"type": "samples", "names": []})):
        p = write_suite(tmp_path, f"e{i}", datasets=[{"type": "test-noise", "n": 2}, ds])
        assert main(["validate", str(p)]) == 2
        err = capsys.readouterr().err
        assert "datasets[1]" in err and "no samples" in err
        assert main(["run", str(p), "--no-progress", "--no-report"]) == 3
        assert "no samples" in capsys.readouterr().out


def test_a_plug_in_without_parameters_names_the_unknown_key(plugins):
    """`{type: identity, radius: 3}` (a parameter copied from the Telea entry above it) said 'IdentityBackend()
    takes no arguments': the Python class, not the key."""
    from bench.config import parse_suite
    from bench.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_suite({"backends": [{"type": "mean-fill", "radius": 3}], "datasets": ["test-noise"], "masks": ["box"]})
    assert str(e.value) == "backends[0].radius: unknown key for 'mean-fill'; 'mean-fill' takes no parameters"


def test_a_name_that_cannot_be_a_folder_says_why(tmp_path):
    """Names become folder names: ASCII only. A number YAML read as a number, and a file name with a space that
    became the suite's name without any `name:`, each say what to do."""
    from bench.config import load_suite, parse_suite
    from bench.errors import ConfigError

    base = {"backends": ["identity"], "datasets": ["synthetic"], "masks": ["box"]}
    with pytest.raises(ConfigError, match=r"backends\[0\]\.name: .*(ASCII).*got '5'.*as a number: quote"):
        parse_suite({**base, "backends": [{"type": "identity", "name": 5}]})
    p = tmp_path / "exp 1.yaml"
    p.write_text(yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=r"name: .*got 'exp 1'.*it is the file's name: give the suite a name:"):
        load_suite(p)
    p.write_text(yaml.safe_dump({**base, "name": "exp-1"}))
    assert load_suite(p).name == "exp-1"


def test_weights_verify_refuses_a_folder_that_is_not_there(tmp_path, capsys):
    """`bench weights verify --dir /mnt/weigths` (a typo) printed 'not found' for every file and exited 0: as if
    there were nothing to check."""
    assert main(["weights", "verify", "--dir", str(tmp_path / "nope")]) == 2
    assert f"--dir {tmp_path / 'nope'}: not a folder" in capsys.readouterr().err
    assert main(["weights", "verify", "--dir", str(tmp_path)]) == 0


def test_score_add_metrics_names_one_that_is_already_there(tmp_path, plugins, capsys):
    """`bench score RUN --add-metrics psnr` on a run that has psnr said 'metrics[1].name: ... already used by
    metrics[0]', index of a list the user never wrote; now the flag and the name."""
    p = write_suite(tmp_path)
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    run = str(tmp_path / "results" / "s")
    assert main(["score", run, "--add-metrics", "ssim,psnr", "--no-report", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--add-metrics: 'psnr' is already one of the run's metrics" in err and "metrics[1]" not in err
    assert main(["score", run, "--add-metrics", "[{type: ssim, name: ssim2, regions: [in]}]", "--no-report",
                 "--no-progress"]) == 0


def test_validate_notes_a_device_this_machine_does_not_have(tmp_path, plugins, capsys):
    """`bench validate` said OK for `device: cuda:3` on a machine without it, and `bench run` then stopped: a note
    now says so (a note, not a problem: a suite may be validated on a login node for a GPU machine)."""
    import torch

    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    p = write_suite(tmp_path, device="cuda:3")
    assert main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    assert "note: device: 'cuda:3'" in out and "a run on this machine would stop there" in out
    assert main(["run", str(p), "--no-progress"]) == 2


def test_an_empty_metrics_key_is_a_question_not_no_metrics(tmp_path, plugins, capsys):
    """`metrics:` with nothing under it (YAML null) ran with no metrics at all, while leaving the key out gives the
    default (psnr, ssim): an error now says which to write; `[]` still means none."""
    p = tmp_path / "n.yaml"
    p.write_text(f"output_dir: {tmp_path / 'r'}\nbackends: [identity]\ndatasets: [{{type: test-noise, n: 2}}]\n"
                 "masks: [box]\nmetrics:\ndetectors:\n")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "metrics: empty (null)" in err and "default (psnr, ssim)" in err and "detectors: empty (null)" in err
    p.write_text(p.read_text().replace("metrics:\n", "metrics: []\n").replace("detectors:\n", ""))
    assert main(["validate", str(p)]) == 0


@pytest.mark.parametrize("detector, key", [({"type": "blur", "work_side": 0}, "work_side"),
                                           ({"type": "replacement", "n_sectors": 0}, "n_sectors"),
                                           ({"type": "noop", "tol": -1}, "tol"),
                                           ({"type": "incomplete", "work_side": 3}, "work_side")])
def test_nonsense_detector_parameters_are_refused_naming_the_key(tmp_path, plugins, capsys, detector, key):
    """`n_sectors: 0`, `tol: -1`, `work_side: 0` were accepted: each would divide by zero, flag every blank fill or
    none, or judge no hole at all, silently. Now an error naming the entry and the parameter's range."""
    p = write_suite(tmp_path, detectors=[detector])
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"detectors[0]: {detector['type']}: {key} must be" in err


def test_yaml_given_on_the_command_line_is_read_as_a_suite_file_is(tmp_path, plugins, capsys):
    """`bench score --add-metrics '[...]'` read its YAML with the plain loader: a duplicate key kept the last value
    silently and `1e-3` was text. It is read as suite files are."""
    p = write_suite(tmp_path)
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    run = str(tmp_path / "results" / "s")
    assert main(["score", run, "--add-metrics", "[{type: ssim, type: psnr}]", "--no-progress", "--no-report"]) == 2
    assert "--add-metrics: line 1: duplicate key 'type'" in capsys.readouterr().err
    assert main(["score", run, "--add-metrics", "[{type: ssim, sigma: 15e-1}]", "--no-progress", "--no-report"]) == 0


def test_a_resolution_no_model_could_run_is_refused(tmp_path, plugins, capsys):
    """`resolution: 1000000` validated, then every sample was an out-of-memory error row."""
    p = write_suite(tmp_path, resolution=1_000_000)
    assert main(["validate", str(p)]) == 2
    assert "resolution: must be at most 16384" in capsys.readouterr().err
    assert main(["validate", str(write_suite(tmp_path, "ok", resolution=4096))]) == 0
