"""Suite validation: each kind of error names the key path and the fix."""
import pytest
import yaml

from bench.cli import main
from bench.config import load_suite, parse_suite
from bench.errors import ConfigError

BASE = {
    "backends": ["identity", {"type": "opencv-telea", "radius": 3}],
    "datasets": [{"type": "test-noise", "n": 2}],
    "masks": [{"type": "box"}],
    "metrics": ["psnr"],
}


def suite(**kw):
    return {**BASE, **kw}


def err(data) -> str:
    with pytest.raises(ConfigError) as e:
        parse_suite(data)
    return str(e.value)


def test_valid_suite_and_defaults(plugins):
    s = parse_suite(suite())
    assert [b.label for b in s.backends] == ["identity", "opencv-telea"]
    assert s.batch_size == 4 and s.device == "auto" and s.paste_back is False
    assert s.backends[1].params == {"radius": 3}
    assert len(s.config_hash()) == 64


def test_config_hash_changes_with_params_not_output_dir(plugins):
    a = parse_suite(suite())
    b = parse_suite(suite(output_dir="elsewhere"))
    c = parse_suite(suite(backends=["identity", {"type": "opencv-telea", "radius": 5}]))
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_unknown_backend_suggests(plugins):
    msg = err(suite(backends=["identity", {"type": "telae"}]))
    assert msg == "backends[1].type: unknown backend 'telae'; did you mean 'opencv-telea'?"


def test_unknown_top_level_key_suggests(plugins):
    assert err(suite(batchsize=2)).startswith("batchsize: unknown key; did you mean 'batch_size'?")


def test_unknown_plugin_param_suggests(plugins):
    msg = err(suite(backends=[{"type": "opencv-telea", "raduis": 3}]))
    assert msg.startswith("backends[0].raduis: unknown key for 'opencv-telea'; did you mean 'radius'?")


def test_wrong_types(plugins):
    assert err(suite(batch_size="four")) == "batch_size: expected int, got str 'four'"
    assert err(suite(paste_back="yes")).startswith("paste_back: expected bool")
    assert err(suite(backends=[{"type": "opencv-telea", "radius": "3"}])).startswith(
        "backends[0].radius: expected int, got str '3'")
    assert err(suite(backends="identity")) == "backends: expected a list, got str"
    assert err(suite(device="gpu")).startswith("device: expected auto, cpu, cuda or cuda:N")


def test_missing_required_and_duplicate_labels(plugins):
    assert err({k: v for k, v in BASE.items() if k != "masks"}) == "masks: required: list at least one entry"
    msg = err(suite(backends=["identity", "identity"]))
    assert msg.startswith("backends[1].name: 'identity' is already used by backends[0]")
    parse_suite(suite(backends=["identity", {"type": "identity", "name": "identity2"}]))


def test_an_entry_whose_name_is_taken_has_its_own_errors_listed_too(plugins, tmp_path):
    """The name clash was raised before the entry's options were read: a folder dataset with a missing root or a
    mistyped key under a taken name showed only the clash, and its own errors only on the next `bench validate`."""
    from bench.errors import ConfigErrors

    data = suite(datasets=[{"type": "synthetic", "n": 2},
                           {"type": "synthetic", "n": 2, "nn": 3},
                           {"type": "folder", "root": str(tmp_path / "nowhere")},
                           {"type": "folder", "rot": "x"}])
    with pytest.raises(ConfigErrors) as e:
        parse_suite(data)
    assert [x.path for x in e.value.errors] == ["datasets[1].name", "datasets[1].nn", "datasets[2].root",
                                                "datasets[3].name", "datasets[3].rot"]
    assert "'synthetic' is already used by datasets[0]" in str(e.value) and "did you mean 'root'" in str(e.value)


def test_missing_type_and_bad_entry(plugins):
    assert err(suite(masks=[{"min_size": 0.1}])) == "masks[0]: missing key 'type'"
    assert err(suite(masks=[3])).startswith("masks[0]: expected a name or a mapping")


def test_missing_suite_file(tmp_path):
    with pytest.raises(ConfigError, match="suite file not found: .*nope.yaml"):
        load_suite(tmp_path / "nope.yaml")


def test_malformed_yaml_duplicate_keys_and_tabs(tmp_path, plugins):
    p = tmp_path / "dup.yaml"
    p.write_text("seed: 1\nseed: 2\nbackends: [identity]\ndatasets: [test-noise]\nmasks: [box]\n")
    with pytest.raises(ConfigError, match="line 2: duplicate key 'seed'"):
        load_suite(p)
    p = tmp_path / "tabs.yaml"
    p.write_text("backends:\n\t- identity\n")
    with pytest.raises(ConfigError, match=r"malformed YAML: line 2.*tabs"):
        load_suite(p)
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="a suite must be a mapping"):
        load_suite(p)


def test_cli_validate_reports_errors(tmp_path, capsys, plugins):
    p = tmp_path / "s.yaml"
    p.write_text("backends: [telae]\ndatasets: [test-noise]\nmasks: [box]\n")
    assert main(["validate", str(p)]) == 2
    assert "backends[0].type: unknown backend 'telae'; did you mean 'opencv-telea'?" in capsys.readouterr().err
    p.write_text("backends: [identity, opencv-ns]\ndatasets: [test-noise]\nmasks: [box, lama-thin]\n")
    assert main(["validate", str(p)]) == 0
    assert "= 4 cells" in capsys.readouterr().out


def test_quickstart_validates():
    s = load_suite("configs/quickstart.yaml")
    assert len(s.backends) * len(s.datasets) * len(s.masks) == 20


def test_nested_plugin_errors_carry_the_full_key_path(plugins):
    msg = err(suite(masks=[{"type": "dilate", "k": 3, "base": {"type": "lama-thik"}}]))
    assert msg == "masks[0].base.type: unknown mask 'lama-thik'; did you mean 'lama-thick'?"


def test_given_masks_need_a_dataset_with_masks():
    msg = err({"backends": ["identity"], "datasets": ["synthetic", "samples"], "masks": ["box", "given"]})
    assert msg.startswith("masks[1]: 'given' uses the dataset's own masks, but datasets[1] (samples) has none")
    msg = err({"backends": ["identity"], "datasets": ["samples"],
               "masks": [{"type": "dilate", "k": 3, "base": {"type": "given"}}]})
    assert msg.startswith("masks[0]: 'dilate' uses the dataset's own masks")
    parse_suite({"backends": ["identity"], "datasets": ["synthetic"], "masks": ["given"]})


def test_ls_names_a_plugins_parameters_and_whole_summary(capsys):
    assert main(["ls", "backends", "lama"]) == 0
    out = capsys.readouterr().out
    assert "parameters:" in out and "path: str | None = None" in out and "output_scale: float = 1.0" in out
    assert main(["ls", "metrics"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("lpips "))
    assert line.rstrip().endswith("whole frame).")  # the summary's first paragraph, not its first line
    assert main(["ls", "masks", "box"]) == 0 and "(required)" not in capsys.readouterr().out
    assert main(["ls", "backends", "lamma"]) == 2 and "did you mean 'lama'" in capsys.readouterr().err


def test_an_empty_suite_file_says_so(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="the suite file is empty"):
        load_suite(p)


def test_a_backend_limited_to_some_datasets(tmp_path, capsys, plugins):
    """Outputs made elsewhere exist for their own source only: `datasets:` in a backend's entry limits its cells
    (no 'not found' rows for the other sources); the backend's identity, hence its cell keys, does not change."""
    from bench.keys import expand_cells

    base = {"backends": ["identity", {"type": "opencv-telea", "datasets": ["b"]}],
            "datasets": [{"type": "test-noise", "name": "a"}, {"type": "test-noise", "name": "b", "n": 3}],
            "masks": ["box"]}
    suite = parse_suite(base)
    cells = [(c.backend.label, c.dataset.label) for c in expand_cells(suite)]
    assert cells == [("identity", "a"), ("identity", "b"), ("opencv-telea", "b")]
    plain = parse_suite({**base, "backends": ["identity", "opencv-telea"]})
    keys = {(c.backend.label, c.dataset.label): c.key for c in expand_cells(plain)}
    assert all(keys[(c.backend.label, c.dataset.label)] == c.key for c in expand_cells(suite))
    assert suite.resolved()["backends"][1]["datasets"] == ["b"]
    with pytest.raises(ConfigError, match=r"backends\[1\]\.datasets: no dataset 'bb' in this suite; did you mean 'b'"):
        parse_suite({**base, "backends": ["identity", {"type": "opencv-telea", "datasets": ["bb"]}]})
    with pytest.raises(ConfigError, match=r"metrics\[0\]\.datasets: only a backend"):
        parse_suite({**base, "metrics": [{"type": "psnr", "datasets": ["a"]}]})
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(base))
    assert main(["validate", str(p)]) == 0 and "= 3 cells" in capsys.readouterr().out


def test_a_default_spelled_out_changes_no_key(plugins):
    """A param written equal to its declared default (``count: 1`` of ``box``, ``radius: 3`` of ``opencv-telea``,
    ``n: 6`` of ``test-noise``, ``data_range: 1`` for psnr's float default ``1.0``) is the spec written without it:
    every key is the same."""
    from bench.keys import expand_cells, scorer_specs

    def keys(**kw):
        s = parse_suite({**BASE, **kw})
        return [(c.key, c.input_key) for c in expand_cells(s)], [x.key for x in scorer_specs(s)]

    short = keys(backends=["opencv-telea"], datasets=["test-noise"], masks=[{"type": "box"}], metrics=["psnr"])
    spelled = keys(backends=[{"type": "opencv-telea", "radius": 3}], datasets=[{"type": "test-noise", "n": 6}],
                   masks=[{"type": "box", "count": 1, "center": False, "min_size": 0.25}],
                   metrics=[{"type": "psnr", "data_range": 1, "regions": None}])
    assert spelled == short
    # a value that is not the default is kept: another type (True is not 1), another value, another dataset's own
    # default (lama's reference: null means "by image size"; 256 is a choice)
    assert keys(masks=[{"type": "box", "count": 2}])[0] != keys()[0]
    assert keys(masks=[{"type": "lama-thin", "reference": 256}])[0] != keys(masks=["lama-thin"])[0]


def test_keys_of_a_spec_written_without_defaults_are_those_of_earlier_runs(plugins):
    """The literal keys below were printed by the code before defaults were dropped from keys (commit 23bf3c6):
    the stores of runs made then keep resolving."""
    from bench.keys import expand_cells, scorer_specs

    s = parse_suite({"backends": [{"type": "opencv-telea"}], "datasets": [{"type": "test-noise", "n": 2}],
                     "masks": [{"type": "box"}, {"type": "box", "name": "two", "count": 2}], "metrics": ["psnr"],
                     "detectors": []})
    assert [(c.key, c.input_key) for c in expand_cells(s)] == [
        ("opencv-telea.test-noise.box.96987c56d1", "test-noise.box.14a79a801f"),
        ("opencv-telea.test-noise.two.86768513ba", "test-noise.two.18ccc72902")]
    assert [x.key for x in scorer_specs(s)] == ["psnr.a3258ea479"]


def test_config_hash_leaves_out_what_changes_no_number(plugins):
    """``save_inputs``, ``cache_dir``, ``weights_dir`` (a weights file's content is fingerprinted per output), the
    description, ``optional:`` and a param spelled out at its default change no score, output or timing: the same
    config hash. What can change one (seed, batch size, workers, dtype, a param...) still changes it."""
    a = parse_suite(suite()).config_hash()
    same = [dict(save_inputs=True), dict(cache_dir="/elsewhere/cache"), dict(weights_dir="/elsewhere/weights"),
            dict(description="another text"), dict(metrics=[{"type": "psnr", "optional": True}]),
            dict(backends=["identity", {"type": "opencv-telea", "radius": 3}],
                 masks=[{"type": "box", "count": 1}], metrics=[{"type": "psnr", "data_range": 1}])]
    for kw in same:
        assert parse_suite(suite(**kw)).config_hash() == a, kw
    other = [dict(seed=1), dict(batch_size=2), dict(workers=1), dict(dtype="float16"), dict(paste_back=True),
             dict(limit=3), dict(warmup=1), dict(overlap=True), dict(timeout_s=5), dict(oom_retry=False),
             dict(weights="random"), dict(device="cpu"), dict(resolution=64), dict(masks=[{"type": "box", "count": 2}]),
             dict(metrics=["psnr", "ssim"]), dict(backends=["identity", {"type": "opencv-telea", "datasets": ["test-noise"]}])]
    for kw in other:
        assert parse_suite(suite(**kw)).config_hash() != a, kw


def test_a_default_spelled_out_inside_a_nested_spec_changes_no_key(plugins):
    """A plug-in param that is another plug-in's spec (``dilate``'s ``base``, ``fid``'s ``reference``) is that spec
    less its params at their declared default, as at top level, at any depth: every key is the same."""
    from bench.keys import expand_cells, scorer_specs

    def keys(**kw):
        s = parse_suite({**BASE, "backends": ["opencv-telea"], **kw})
        return [(c.key, c.input_key) for c in expand_cells(s)], [x.key for x in scorer_specs(s)], s.config_hash()

    short = keys(masks=[{"type": "dilate", "base": {"type": "box"}},
                        {"type": "dilate", "name": "dd", "base": {"type": "dilate", "k": 2, "base": {"type": "box"}}}],
                 metrics=[{"type": "fid", "reference": {"type": "test-noise", "n": 3}}])
    spelled = keys(masks=[{"type": "dilate", "k": 5, "base": {"type": "box", "count": 1, "center": False}},
                          {"type": "dilate", "name": "dd",
                           "base": {"type": "dilate", "k": 2, "base": {"type": "box", "min_size": 0.25}}}],
                   metrics=[{"type": "fid", "reference": {"type": "test-noise", "n": 3, "size": 32}}])
    assert spelled == short
    # a nested value that is not its default is kept
    assert keys(masks=[{"type": "dilate", "base": {"type": "box", "count": 2}}])[0] != keys(
        masks=[{"type": "dilate", "base": {"type": "box"}}])[0]


def test_keys_of_nested_specs_written_without_defaults_are_those_of_earlier_runs(plugins):
    """The literal keys below were printed by the code before defaults inside nested specs were dropped from keys
    (commit 76d0cb9): the stores of runs made then keep resolving."""
    from bench.keys import expand_cells, scorer_specs

    s = parse_suite({"backends": [{"type": "opencv-telea"}], "datasets": [{"type": "test-noise", "n": 2}],
                     "masks": [{"type": "dilate", "base": "box"},
                               {"type": "dilate", "name": "d2", "k": 3, "base": {"type": "box"}},
                               {"type": "dilate", "name": "d3", "base": {"type": "box", "count": 2}},
                               {"type": "dilate", "name": "d4",
                                "base": {"type": "dilate", "k": 2, "base": {"type": "box", "count": 2}}}],
                     "metrics": ["psnr", {"type": "fid", "reference": {"type": "test-noise", "n": 3}},
                                 {"type": "fid", "name": "fid2", "key": "i2", "reference": {"type": "test-noise"}}],
                     "detectors": []})
    assert [(c.key, c.input_key) for c in expand_cells(s)] == [
        ("opencv-telea.test-noise.dilate.205b53eebe", "test-noise.dilate.2a1ade068b"),
        ("opencv-telea.test-noise.d2.c6c854e6f1", "test-noise.d2.76cf14b9e6"),
        ("opencv-telea.test-noise.d3.541d5181b8", "test-noise.d3.12c2b45198"),
        ("opencv-telea.test-noise.d4.5b4c61807e", "test-noise.d4.7d21d9e7df")]
    assert [x.key for x in scorer_specs(s)] == ["psnr.a3258ea479", "fid.078e2043a2", "fid2.c4f7cec2d6"]
    assert s.config_hash() == "565502d4b6b1f42602760c16f5c4cadb2337df012cea30ffabd2aad3b076f045"
