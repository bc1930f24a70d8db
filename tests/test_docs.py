"""The documentation's figures are the committed benchmark outputs (benchmarks/figures.py renders them), and its
suite examples pass validation."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT


def test_figure_blocks_match_the_committed_benchmark_results():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "figures.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------------------------------------------------
# every suite example in README and docs passes `bench validate`
# ------------------------------------------------------------------------------------------------------------------
def _yaml_blocks():
    import re

    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for f in files:
        text = f.read_text(encoding="utf-8")
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            yield f"{f.relative_to(REPO)}:{text[: m.start()].count(chr(10)) + 2}", m.group(1)


def _as_suite(data):
    """A documented block as a whole suite: a list of plug-ins goes under its kind; missing required kinds get the
    smallest valid entry (a dataset with masks where a strategy uses them). Returns None for non-suite YAML."""
    from bench.config import PLUGIN_KINDS, TOP_LEVEL
    from bench.registry import REGISTRIES

    if isinstance(data, list):
        kinds = [k for k in PLUGIN_KINDS
                 if all(isinstance(x, (str, dict)) and (x if isinstance(x, str) else x.get("type")) in
                        REGISTRIES[k].names() for x in data)]
        if not kinds:
            return None
        data = {kinds[0]: data}
    if not isinstance(data, dict) or not set(data) & set(TOP_LEVEL):
        return None
    fill = {"backends": ["identity"], "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"],
            "metrics": ["psnr"]}
    return {**fill, **data}


def _materialize_folders(obj, root):
    """Create the relative folders a documented folder dataset points at (one image), as a user would have."""
    import numpy as np
    from PIL import Image

    if isinstance(obj, dict):
        if obj.get("type") == "folder" and isinstance(obj.get("root"), str) and not obj["root"].startswith("/"):
            kinds = ["images", "masks"] if obj.get("task") else ["images"]  # a folder that states a task has masks
            for kind in kinds:
                (root / obj["root"] / kind).mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / obj["root"] / kind / "x.png")
        if obj.get("type") in ("coco", "object") and isinstance(obj.get("annotations"), str):
            from tests.test_protocols import write_coco_stand_in  # COCO's real names: a typo fails the test

            write_coco_stand_in(obj, root / obj["annotations"], root / obj["images"] if obj.get("images") else None)
        th = obj.get("thresholds")
        if isinstance(th, str) and th.endswith(".json") and not th.startswith("/"):  # a file bench calibrate wrote
            import shutil

            (root / th).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / "bench" / "data" / "thresholds.json", root / th)
        if obj.get("type") == "python" and isinstance(obj.get("target"), str) and ":" in obj["target"]:
            module, cls = obj["target"].split(":")  # the user's own class: a stand-in with a permissive __init__
            path = root / "pysrc" / Path(*module.split("."))
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in [path.parent, *path.parent.parents]:
                if parent == root / "pysrc":
                    break
                (parent / "__init__.py").touch()
            path.with_suffix(".py").write_text(f"class {cls}:\n    def __init__(self, **kw):\n        pass\n\n"
                                               f"    def inpaint(self, image, mask, generator):\n"
                                               f"        return image\n")
        for v in obj.values():
            _materialize_folders(v, root)
    elif isinstance(obj, list):
        for v in obj:
            _materialize_folders(v, root)


def test_every_documented_suite_example_validates(tmp_path, monkeypatch):
    import importlib

    import yaml

    from bench.config import parse_suite
    from bench.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pysrc").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "pysrc"))
    checked, failures = 0, []
    for where, text in _yaml_blocks():
        suite = _as_suite(yaml.safe_load(text))
        if suite is None:
            continue
        _materialize_folders(suite, tmp_path)
        importlib.invalidate_caches()
        try:
            parse_suite(suite)
            checked += 1
        except ConfigError as e:
            failures.append(f"{where}: {e}")
    assert not failures, "\n".join(failures)
    assert checked >= 15  # README's suite reference, its backend examples, and the docs' examples


def test_validate_lists_every_error_in_one_pass(tmp_path):
    from bench.config import load_suite
    from bench.errors import ConfigError, ConfigErrors

    p = tmp_path / "typos.yaml"
    p.write_text("devcie: cpu\nbatch_size: 0\nbackends: [opencv-tela, {type: diffusers, model: x/y, stpes: 3}]\n"
                 "datasets: [samples]\nmasks: [lama-thik]\nmetrics: [psnr, lpip]\n")
    with pytest.raises(ConfigErrors) as e:
        load_suite(p)
    paths = [x.path for x in e.value.errors]
    assert paths == ["devcie", "batch_size", "backends[0].type", "backends[1].stpes", "masks[0].type",
                     "metrics[1].type"]
    msg = str(e.value)
    assert msg.startswith("6 errors in the suite:") and "did you mean 'device'" in msg and "'steps'" in msg
    assert "did you mean 'lama-thick'" in msg and "did you mean 'lpips'" in msg
    p.write_text("backends: [identity]\ndatasets: [samples]\nmasks: [box]\nmetrics: [psnr, lpip]\n")
    with pytest.raises(ConfigError) as e:  # one error is raised as itself
        load_suite(p)
    assert not isinstance(e.value, ConfigErrors) and e.value.path == "metrics[1].type"
    import subprocess
    import sys

    p.write_text("devcie: cpu\nbackends: [opencv-tela]\ndatasets: [samples]\nmasks: [box]\nmetrics: [psnr]\n")
    r = subprocess.run([sys.executable, "-m", "bench", "run", str(p)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and "2 errors in the suite" in r.stderr and "backends[0].type" in r.stderr
    assert not (tmp_path / "results").exists(), "bench run did no work"
