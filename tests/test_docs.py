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
# one figure, one source: no measurement in README or docs/*.md outside a figures block
# ------------------------------------------------------------------------------------------------------------------
import re  # noqa: E402

FIGURE_BLOCK = re.compile(r"<!-- figures:(?P<name>[A-Za-z0-9_]+) -->\n.*?<!-- /figures:(?P=name) -->", re.S)
#: a number with a unit of time, speed, size, share or ratio (what a measurement is written with)
WITH_UNIT = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?:\s?[-–]\s?\d+(?:\.\d+)?)?\s?"
                       r"(?:ms|s|img/s|×|%|MB|GB|KB|MiB|GiB|KiB|min|h)(?![\w])")
_CONF = "a confidence level, not a measurement"
_BINS = "an area-bin label (LaMa's bins of hole fraction)"
_TOL = "a tolerance argument in a usage example"
_SET = "a setting or a definition of the method (chosen, not measured)"
_ARITH = "arithmetic from the definition (not measured)"
_COUNT = "a count of network passes by design"
#: numbers with units that are not measurements, per file, each with its reason; anything else found outside a
#: `<!-- figures:NAME -->` block fails the test (render it from a committed benchmark output, or remove it)
NOT_MEASUREMENTS: dict[str, dict[str, str]] = {
    "README.md": {"95 %": _CONF, "0–10 %": _BINS, "90–100 %": _BINS, "5–30 %": _SET, "2%": _TOL, "10%": _TOL,
                  "6 ×": _COUNT, "4 ×": _COUNT, "2 ×": _COUNT},
    "docs/datasets.md": {"1s": "the digit 1, plural (a {0, 1} mask's ones)"},
    "docs/detectors.md": {"2 %": _SET, "97.5 %": _SET, "2.5 %": _SET, "0.35 ×": _SET, "0.5 ×": _SET, "0.1 %": _SET, "5 %": _SET, "10 %": _SET, "20 %": _SET,
                          "35–90 %": _SET, "30–90 %": _SET, "100 %": _SET, "40–100 %": _SET, "3–30 %": _SET,
                          "95 %": _CONF, "100 img/s": "a target, not a measurement"},
    "docs/masks.md": {"0-10 %": _BINS, "90-100 %": _BINS, "40-50 %": _BINS, "50 %": "LaMa's rule: larger masks "
                      "are drawn again", "6-25 %": _ARITH, "14 %": _ARITH},
    "docs/metrics.md": {"9 ×": "1e-9 × tr S: a test tolerance", "2048 ×": "a matrix shape", "95 %": _CONF,
                        "64 ×": "a grid shape (ReMOVE's embedding grid)", "16 ×": "a grid shape (CFD's token grid)",
                        "90 %": _SET, "5 ×": "a kernel size", "32 ×": "a grid of point prompts (a setting)",
                        "8 ×": "a window shape (RC-S)",
                        "16 %": _SET, "6 ×": _COUNT, "4 ×": _COUNT, "2 ×": _COUNT},
    "docs/reports.md": {"95 %": _CONF, "95%": _CONF, "0-10%": _BINS, "90-100%": _BINS, "40-50 %": _BINS,
                        "40-50%": _BINS, "95-105%": "an invalid bin label in an error example", "2%": _TOL,
                        "10%": _TOL, "1%": _TOL, "50 %": "how the example's synthetic NEW run was built",
                        "75 %": "arithmetic: 30 of 40 samples, in a quoted example message"},
    "docs/reproducing.md": {"5–30 %": _SET, "10 %": _BINS},
    "docs/studies.md": {"10 %": _SET, "73 %": "arithmetic: a strength difference of 1 on the logistic scale",
                        "95 %": _CONF},
    "docs/scale.md": {"10 s": _SET, "768 MB": _ARITH, "8000 ×": "an image size", "2 GiB": "a test's memory limit",
                      "3 s": "a target, not a measurement", "500 KB": "a test input", "2 MB": "a test input",
                      "1 MB": _SET},
}


def _unsourced_numbers() -> list[str]:
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        rel = str(path.relative_to(REPO))
        text = FIGURE_BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text(encoding="utf-8"))
        allowed = NOT_MEASUREMENTS.get(rel, {})
        for i, line in enumerate(text.splitlines(), 1):
            for m in WITH_UNIT.finditer(line):
                if m.group(0) not in allowed:
                    found.append(f"{rel}:{i}: '{m.group(0)}' in: {line.strip()[:100]}")
    return found


def test_no_measurement_in_readme_or_docs_outside_a_figures_block():
    found = _unsourced_numbers()
    assert not found, ("numbers with units outside a <!-- figures:NAME --> block (render them from a committed "
                       "benchmark output with benchmarks/figures.py, or remove them; a setting or definition goes "
                       "into NOT_MEASUREMENTS with its reason):\n" + "\n".join(found))


def test_the_scan_finds_a_measurement_written_by_hand(tmp_path, monkeypatch):
    # the check itself: a hand-written timing in a doc is found, the same inside a figures block is not
    import tests.test_docs as me

    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("fast: 66.6 s against 141.6 s\n<!-- figures:x -->\n12.5 img/s\n"
                                        "<!-- /figures:x -->\n")
    (tmp_path / "docs" / "scale.md").write_text("2.0–2.3× on an H100; every 10 s\n")
    monkeypatch.setattr(me, "REPO", tmp_path)
    assert [f.split(": '")[1].split("'")[0] for f in _unsourced_numbers()] == ["66.6 s", "141.6 s", "2.0–2.3×"]


def test_report_examples_in_the_docs_are_what_the_current_code_prints():
    """docs/reports.md's example outputs come from benchmarks/report_examples.py; the committed text must be what
    today's report code prints (rerun the script and benchmarks/figures.py when the format changes)."""
    import json

    from benchmarks.report_examples import examples

    committed = json.loads((REPO / "benchmarks" / "results" / "report_examples.json").read_text())
    now = examples()
    for key, text in committed["results"]["examples"].items():
        assert now[key] == text, f"{key}: the report code now prints something else; run python " \
                                 f"benchmarks/report_examples.py && python benchmarks/figures.py"


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
    import cv2
    import numpy as np

    (tmp_path / "photos" / "images").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "photos" / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    p.write_text(f"backends: [identity]\ndatasets: [{{type: folder, root: {tmp_path / 'photos'}}}]\n"
                 f"masks: [given]\nmetrics: [psnr, lpip]\n")
    with pytest.raises(ConfigErrors) as e:  # a pairing of entries that were built is judged beside a typo
        load_suite(p)
    assert [x.path for x in e.value.errors] == ["metrics[1].type", "masks[0]"]
    import subprocess
    import sys

    p.write_text("devcie: cpu\nbackends: [opencv-tela]\ndatasets: [samples]\nmasks: [box]\nmetrics: [psnr]\n")
    r = subprocess.run([sys.executable, "-m", "bench", "run", str(p)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and "2 errors in the suite" in r.stderr and "backends[0].type" in r.stderr
    assert not (tmp_path / "results").exists(), "bench run did no work"


# ------------------------------------------------------------------------------------------------------------------
# what the docs name exists: the tests they cite, the files of bench/ and configs/, the dotted names of bench
# ------------------------------------------------------------------------------------------------------------------
def _doc_texts():
    for f in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "datasets" / "README.md"]:
        yield str(f.relative_to(REPO)), f.read_text(encoding="utf-8")


def test_every_test_the_docs_cite_exists():
    missing = []
    for rel, text in _doc_texts():
        for m in re.finditer(r"(?<![\w/.-])tests/(test_\w+\.py)((?:::\w+)*)", text):
            path = REPO / "tests" / m.group(1)
            if not path.is_file():
                missing.append(f"{rel}: {m.group(0)} (no such file)")
                continue
            source = path.read_text(encoding="utf-8")
            for name in m.group(2).split("::")[1:]:
                if not re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b", source, re.M):
                    missing.append(f"{rel}: {m.group(0)} (no {name} in {m.group(1)})")
    assert not missing, "\n".join(missing)


def test_every_bench_file_and_dotted_name_the_docs_name_exists():
    import importlib

    missing = []
    for rel, text in _doc_texts():
        for m in re.finditer(r"(?<![\w/.-])((?:bench|configs)/[\w/.{},-]*)", text):
            path = m.group(1).rstrip(".,-")
            if "{" not in path and not (REPO / path).exists():  # (a {a,b} pattern names another repository's files)
                missing.append(f"{rel}: {path}")
        for m in re.finditer(r"`(bench(?:\.\w+)+)", text):
            parts, obj = m.group(1).split("."), None
            for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                    break
                except ImportError:
                    continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                missing.append(f"{rel}: {m.group(1)}")
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------------------------------------------------------
# the command line and its docs agree: every option of every `bench` command is documented, and every option the
# docs give a command is one it has
# ------------------------------------------------------------------------------------------------------------------
def _cli_options() -> dict[str, set[str]]:
    """{"run": {"--limit", ...}, "weights fetch": {...}, ...}: the long options of every command and sub-command,
    read from the parser `bench` builds (each command group's module configures its own)."""
    import argparse

    from bench.cli import BUILTIN, EXTERNAL, build_parser

    def walk(parser, prefix, out):
        out[prefix] = {o for a in parser._actions for o in a.option_strings
                       if o.startswith("--") and o not in ("--help", "--version")}
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, f"{prefix} {name}".strip(), out)

    out: dict[str, set[str]] = {}
    for command in (*BUILTIN, *EXTERNAL):
        found: dict[str, set[str]] = {}
        walk(build_parser(command), "", found)
        out.update({k: v for k, v in found.items() if k.split(" ")[0] == command})
    return out


def _doc_pages():
    return [(rel, text) for rel, text in _doc_texts() if rel != "datasets/README.md"]


def test_every_cli_option_is_in_the_docs():
    texts = [text for _, text in _doc_pages()]
    missing = sorted(f"bench {cmd} {opt}" for cmd, opts in _cli_options().items() for opt in opts
                     if not any(re.search(re.escape(opt) + r"(?![\w-])", t) for t in texts))
    assert not missing, "options in `bench ... --help` that no page of README.md or docs/ mentions: " + \
        ", ".join(missing)


def test_every_option_the_docs_give_a_command_is_one_it_has():
    options = _cli_options()
    wrong = []
    for rel, text in _doc_pages():
        for i, line in enumerate(text.splitlines(), 1):
            # `bench CMD ...` up to the end of the code span, a table cell, a comment or the next shell command
            for m in re.finditer(r"\bbench ((?:weights |study )?[a-z]+)\b([^`|#;]*)", line):
                cmd = m.group(1) if m.group(1) in options else m.group(1).split(" ")[0]
                if cmd not in options:
                    continue  # prose ("bench marks"), not a command
                for opt in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", m.group(2)):
                    if opt not in options[cmd] and not (cmd == "study" and opt in options.get("study score", ())):
                        wrong.append(f"{rel}:{i}: bench {cmd} has no {opt}")
    assert not wrong, "\n".join(wrong)


def test_a_benchmark_prints_its_machine_versions_and_date_beside_its_figures(tmp_path, monkeypatch, capsys):
    """A figure copied from the terminal must say what measured it: ``save`` prints the command, the date (UTC), the
    machine and the versions, in the words the documentation renders above the figure."""
    import json
    import platform

    from tests.scripts import load

    common = load("benchmarks/_common.py")
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    path = common.save("probe", {"x": 1}, ["x 1"])
    out = capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert doc["date"].endswith("UTC") and doc["date"] in out
    assert f"torch {doc['versions']['torch']}" in out and f"Python {platform.python_version()}" in out
    where = doc["machine"].get("gpu") or f"{doc['machine']['cpus']} CPU cores"
    assert where in out and f"git {doc['versions']['git']}" in out
    assert common.provenance(doc) in out
