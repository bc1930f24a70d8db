"""Human labels → calibration, end to end: the HTML report's labelling mode driven in headless Chromium (clicks and
key presses), its exported labels.csv, ``bench calibrate --labels``, and a suite that selects the fitted file."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bench.errors import BenchError
from bench.report.aggregate import load_run
from bench.report.html import write_html
from bench.report.labelling import read_labels
from tests.cdp import Browser, chromium, wait_for_file
from tests.test_report_data import half_labelled, make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("label") / "run", n=8, save_outputs=True)
    write_html(run, run / "report.html", ci=False)
    return run


def _truth(run) -> dict[tuple[str, str], str]:
    """What a careful labeller would say, made to follow the stored blur score (the test needs a learnable rule):
    outputs with a high score are blurry."""
    f = load_run(run).frame()
    f = f[f["error"].isna()]
    cut = float(np.median(f["blur_score"]))
    return {(c, s): ("blur" if v > cut else "good") for c, s, v in zip(f["cell_key"], f["sample_id"], f["blur_score"])}


def _labelled_copy(run, tmp_path, extra_rows=()):
    """A copy of ``run`` and a labels.csv of :func:`_truth` on it as the page exports it (each label with the
    SHA-256 of its output file), plus ``extra_rows``: (copy, truth, labels path)."""
    import shutil

    from bench.report.labelling import output_digest

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    truth = _truth(copy)
    p = tmp_path / "labels.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run_id", "cell", "sample_id", "label", "output_sha256"])
        for (c, sid), lab in truth.items():
            w.writerow(["run", c, sid, lab, output_digest(copy, c, sid)])
        w.writerows(extra_rows)
    return copy, truth, p


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_label_export_calibrate_select(run, tmp_path):
    truth = _truth(run)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.browser("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        b.goto((run / "report.html").resolve().as_uri())
        assert b.js("document.body.getAttribute('data-labelling')") == "0"
        b.click("#label-toggle")  # the button turns the mode on
        assert b.js("document.body.getAttribute('data-labelling')") == "1"
        tiles = b.js("Array.prototype.map.call(document.querySelectorAll('figure.tile.out'),"
                     "function(t){return [t.getAttribute('data-cell'), t.getAttribute('data-sample')];})")
        assert len(tiles) > 20
        b.click("figure.tile.out:nth-of-type(2)")  # a click selects a tile...
        first = b.js("document.body.getAttribute('data-current')")
        b.press("ArrowLeft")  # ... and the arrows move the selection
        b.press("ArrowRight")
        assert b.js("document.body.getAttribute('data-current')") == first
        start = int(b.js("document.body.getAttribute('data-current-index')"))
        assert f"{tiles[start][0]}/{tiles[start][1]}" == first
        for c, s in tiles[start:] + tiles[:start]:  # label every output tile once around, by key
            assert b.js("document.body.getAttribute('data-current')") == f"{c}/{s}"
            b.press({"blur": "b", "good": "g"}[truth[(c, s)]])
        # a mistake, then its correction: x clears, then the right key
        b.press("ArrowLeft")
        last = b.js("document.body.getAttribute('data-current')")
        b.press("x")
        b.press("ArrowLeft")
        c, s = last.split("/", 1)
        b.press({"blur": "b", "good": "g"}[truth[(c, s)]])
        distinct = {(c, s) for c, s in tiles}
        assert int(b.js("document.getElementById('label-count').getAttribute('data-count')")) == len(distinct)
        b.click("#label-export")
        path = downloads / "labels.csv"
        wait_for_file(path)
        assert path.exists(), "the export downloaded labels.csv"
        # the state is kept in the page across a reload (local storage)
        b.goto("about:blank")
        b.goto((run / "report.html").resolve().as_uri() + "#label")
        assert b.js("document.body.getAttribute('data-labelling')") == "1"  # #label opens the mode
        assert int(b.js("document.getElementById('label-count').getAttribute('data-count')")) == len(distinct)
    finally:
        b.close()

    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(distinct) and {r["run_id"] for r in rows} == {"run"}
    assert all(truth[(r["cell"], r["sample_id"])] == r["label"] for r in rows)
    assert len(read_labels(path)) == len(distinct)
    from bench.report.labelling import output_digest

    assert all(r["output_sha256"] == (output_digest(run, r["cell"], r["sample_id"]) or "") for r in rows)
    assert sum(bool(r["output_sha256"]) for r in rows) > 20

    from bench.cli import main

    out = tmp_path / "my_thresholds.json"
    assert main(["calibrate", "--labels", str(path), str(run), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    cal = doc["calibration"]
    from bench.detectors.thresholds import load_thresholds

    shipped = load_thresholds(None)["version"]  # a file fitted from the shipped one goes on from its version
    assert cal["source"] == "human labels" and cal["labels_in_run"] == len(distinct) and doc["version"] == shipped + 1
    blur = cal["results"]["blur"]
    # the labels follow the score exactly: the fitted part is separated, the held-out part ranked perfectly (the
    # threshold sits mid-gap of the fitted part, so a held-out output near the boundary may fall either side)
    assert blur["fit"]["precision"] == 1.0 and blur["fit"]["recall"] == 1.0 and blur["test"]["auroc"] == 1.0
    assert blur["test"]["precision"] >= 0.8 and blur["test"]["recall"] >= 0.8
    assert blur["test"]["precision_ci"] is not None and blur["counts"]["test"][0] >= 2
    f = load_run(run).frame()
    cut = float(np.median(f.loc[f["error"].isna(), "blur_score"]))
    assert abs(doc["detectors"]["blur"]["threshold"] - cut) < 0.2
    assert "skipped" in cal["results"]["replacement"]  # this run has no replacement scores: kept, and said why
    assert main(["calibrate", "--labels", str(path), str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["version"] == shipped + 1  # same thresholds: same version

    from bench.registry import DETECTORS

    det = DETECTORS.create({"type": "blur", "thresholds": str(out)}, "detectors[0]")
    prov = det.provenance()
    assert prov["thresholds_file"] == str(out) and prov["thresholds_sha256"] == doc["sha256"]
    assert prov["thresholds"]["threshold"] == doc["detectors"]["blur"]["threshold"]


def test_labels_of_other_output_files_are_left_out(run, tmp_path):
    """labels.csv carried run id, cell and sample: a run of the same suite whose outputs were made again took them
    for its own ("32 of 32 labelled outputs found"). Each label now names the output file it was made on."""
    from bench.calibration.labels import fit_from_labels

    copy, truth, p = _labelled_copy(run, tmp_path)
    assert fit_from_labels(p, copy)["calibration"]["labels_of_other_outputs"] == 0
    c, sid = next(iter(truth))
    png = copy / "generations" / c / f"{sid}.png"
    from PIL import Image

    Image.fromarray(255 - np.asarray(Image.open(png))).save(png)  # the output made again: another file
    cal = fit_from_labels(p, copy)["calibration"]
    assert cal["labels_of_other_outputs"] == 1 and cal["labels_in_run"] == len(truth) - 1
    rows = list(csv.reader(p.open()))
    with p.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r[:4] + ["0" * 16] for r in rows[1:]])
    with pytest.raises(BenchError, match="other files than the run's"):
        fit_from_labels(p, copy)


def test_labels_file_errors(run, tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("run_id,cell,sample_id,label\nrun,c,s,smudge\n")
    with pytest.raises(BenchError, match=r"labels.csv:2: label 'smudge' is not one of good, blur"):
        read_labels(p)
    p.write_text("run_id,cell,label\nrun,c,good\n")
    with pytest.raises(BenchError, match="missing column.*sample_id"):
        read_labels(p)
    p.write_text("run_id,cell,sample_id,label\nother,nope,s1,good\n")
    from bench.calibration.labels import fit_from_labels

    with pytest.raises(BenchError, match="none of its 1 labelled outputs is in"):
        fit_from_labels(p, run)
    from bench.errors import ConfigError
    from bench.registry import DETECTORS

    with pytest.raises(ConfigError, match="thresholds file .*not found"):
        DETECTORS.create({"type": "blur", "thresholds": str(tmp_path / "missing.json")}, "detectors[0]")
    with pytest.raises(BenchError, match="thresholds file .*typo.json' not found"):  # was: an empty base, silently
        fit_from_labels(p, run, base=str(tmp_path / "typo.json"))
    p.write_bytes("run_id,cell,sample_id,label\nrun,c,caf\u00e9,good\n".encode("latin-1"))  # a spreadsheet's default
    with pytest.raises(BenchError, match=r"labels.csv:2: the labels file is not UTF-8 text"):
        read_labels(p)
    p.write_bytes("cell,sample_id,label\nc,s1,blur\n".encode("utf-8-sig"))  # Excel's "CSV UTF-8": a byte-order mark
    assert [(lab.cell, lab.sample_id, lab.label) for lab in read_labels(p)] == [("c", "s1", "blur")]
    # a spreadsheet in a locale whose decimal mark is a comma saves with semicolons (and a tab-separated export):
    # "missing column(s) cell, sample_id, label" for a file that has them all
    for sep in (";", "\t"):
        p.write_bytes(sep.join(["run_id", "cell", "sample_id", "label"]).encode("utf-8-sig") + b"\r\n"
                      + sep.join(["run", "c", '"a;b\tc"', "blur"]).encode() + b"\r\n")
        assert [(lab.cell, lab.sample_id, lab.label) for lab in read_labels(p)] == [("c", "a;b\tc", "blur")]


def test_a_missing_or_hand_edited_thresholds_file_is_said(tmp_path, capsys):
    """`calibrate --evaluate --thresholds typo.json` evaluated with no thresholds (every detector 0/0); a file
    changed by hand kept reporting the version and SHA-256 it records, which no longer pinned its numbers."""
    from bench.cli import main
    from bench.detectors.thresholds import content_sha, default_path, load_thresholds
    from bench.registry import DETECTORS

    assert main(["calibrate", "--evaluate", "--thresholds", str(tmp_path / "typo.json"), "--n", "2"]) == 2
    assert "typo.json' not found" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{format: 1")
    with pytest.raises(BenchError, match=r"bad.json' cannot be read as JSON"):
        load_thresholds(tmp_path / "bad.json")
    shipped = json.loads(default_path().read_text())
    assert load_thresholds()["sha256"] == shipped["sha256"] and not load_thresholds().get("edited")
    edited = {**shipped, "detectors": {**shipped["detectors"], "blur": {**shipped["detectors"]["blur"],
                                                                        "grain_threshold": 100.0}}}
    (tmp_path / "hand.json").write_text(json.dumps(edited))
    doc = load_thresholds(tmp_path / "hand.json")
    assert doc["edited"] and doc["sha256"] == content_sha(edited) != shipped["sha256"]
    prov = DETECTORS.create({"type": "blur", "thresholds": str(tmp_path / "hand.json")}, "detectors[0]").provenance()
    assert prov["thresholds_edited"] and prov["thresholds_sha256"] == content_sha(edited)


def test_labels_fit_both_replacement_thresholds(tmp_path):
    """Replacement has two thresholds: the reference-free one (every labelled output) and ``ref_threshold`` (outputs
    with ground truth, whose ``replacement_ref_score`` is finite); each is fitted on its own score, and one with no
    finite scores keeps its threshold and says why."""
    from bench.calibration.labels import fit_from_labels

    def values(backend, dataset, sid):
        v = (int(sid[1:]) % 10) / 10  # 0.0 .. 0.9
        return {"replacement_score": 0.5 * v, "replacement_ref_score": v if dataset == "samples" else float("nan")}

    run = make_run(tmp_path / "run", n=20, values=values)
    f = load_run(run).frame()
    path = tmp_path / "labels.csv"
    lines = ["run_id,cell,sample_id,label"]
    for c, sid in zip(f["cell_key"], f["sample_id"]):
        lines.append(f"run,{c},{sid},{'replacement' if int(sid[1:]) % 10 >= 5 else 'good'}")
    path.write_text("\n".join(lines) + "\n")
    doc = fit_from_labels(path, run)
    res, det = doc["calibration"]["results"], doc["detectors"]["replacement"]
    assert 0.2 <= det["threshold"] <= 0.25 and res["replacement"]["test"]["precision"] == 1.0
    assert 0.4 <= det["ref_threshold"] <= 0.5 and res["replacement (ref_threshold)"]["test"]["recall"] == 1.0
    # only the 'synthetic' outputs (no ground truth: ref score NaN) labelled: the reference threshold is kept
    path.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if "--synthetic--" in ln]) + "\n")
    doc = fit_from_labels(path, run)
    assert "skipped" in doc["calibration"]["results"]["replacement (ref_threshold)"]
    assert "threshold" in doc["calibration"]["results"]["replacement"]


def test_labels_fit_blurs_grain_and_fade_thresholds_with_the_rule_they_belong_to(tmp_path, capsys):
    """On real outputs most blur flags come from the grain deficit and the fade, which ``--labels`` now fits too,
    together, with the flag rule: here the smears' grain deficit (0.30-0.44) is under the shipped
    ``grain_threshold`` (missed), and clean fills with a positive grain deficit and a fade above the shipped
    ``fade_threshold`` are false alarms. The fitted pair separates them on held-out labels; with labels that the
    shipped pair already separates, the shipped pair is kept."""
    from bench.calibration.labels import fit_from_labels, print_report
    from bench.calibration.rule import rule_flags
    from bench.detectors.thresholds import load_thresholds

    def values(backend, dataset, sid):
        k = int(sid[1:])
        smear = k % 10 >= 5
        return {"blur_score": -0.2, "blur_mosaic_score": 0.0,
                "blur_grain_score": 0.30 + 0.02 * (k % 8) if smear else 0.05 + 0.01 * (k % 10),
                "blur_fade_score": 0.2 if smear else 1.0 + 0.1 * (k % 4)}

    run = make_run(tmp_path / "run", n=20, values=values)
    f = load_run(run).frame()
    path = half_labelled(f, "blur", tmp_path / "labels.csv")
    shipped = load_thresholds()["detectors"]["blur"]
    scores = {k: f[k].to_numpy(float) for k in f.columns if str(k).startswith("blur_") and str(k).endswith("_score")}
    y = f["sample_id"].map(lambda s: int(s[1:]) % 10 >= 5).to_numpy()
    before = rule_flags("blur", {"blur": shipped}, scores)
    assert not before[y].any() and before[~y].all()  # the shipped pair: every smear missed, every clean fill flagged

    doc = fit_from_labels(path, run)
    res, det = doc["calibration"]["results"]["blur (grain_threshold, fade_threshold)"], doc["detectors"]["blur"]
    assert 0.15 < det["grain_threshold"] < 0.30 and not res["kept"], res
    assert det["fade_threshold"] is None or det["fade_threshold"] > 1.3, res  # the clean fills' fade: no flag
    assert res["fitted"] == {"grain_threshold": det["grain_threshold"], "fade_threshold": det["fade_threshold"]}
    assert res["fit_j"] == 1.0 and res["file_fit_j"] < 0
    rule = doc["calibration"]["rules"]["blur_flag"]["test"]
    assert rule["precision"] == 1.0 and rule["recall"] == 1.0
    np.testing.assert_array_equal(rule_flags("blur", doc["detectors"], scores), y.astype(float))
    print_report(doc)
    assert "blur (grain_threshold, fade_threshold): grain_threshold " in capsys.readouterr().out

    # labels the shipped pair already separates: it is kept
    def easy(backend, dataset, sid):
        smear = int(sid[1:]) % 10 >= 5
        return {"blur_score": -0.2, "blur_mosaic_score": 0.0, "blur_grain_score": 0.9 if smear else 0.1,
                "blur_fade_score": 0.2}

    run2 = make_run(tmp_path / "run2", n=20, values=easy)
    doc2 = fit_from_labels(path, run2)
    res2 = doc2["calibration"]["results"]["blur (grain_threshold, fade_threshold)"]
    assert res2["kept"] and doc2["detectors"]["blur"]["grain_threshold"] == shipped["grain_threshold"]


def test_labels_fit_replacements_head_veto_with_the_rule(tmp_path):
    """``replacement``'s flag is novelty AND the head (``real_threshold``): objects a system paints whose head logit
    is under the shipped ``real_threshold`` are vetoed, whatever the novelty threshold. ``--labels`` fits the veto
    with the rule: here the novelty threshold alone cannot separate the labels, the fitted veto does (held out)."""
    from bench.calibration.labels import fit_from_labels

    def values(backend, dataset, sid):
        k = int(sid[1:])
        painted = k % 10 >= 5
        # novelty alone is best cut between 0.25 and 0.30 (every object, and two clean fills, above it)
        return {"replacement_score": 0.30 + 0.01 * (k % 5) if painted else (0.15, 0.20, 0.25, 0.36, 0.41)[k % 5],
                "replacement_real_score": 0.5 if painted else -3.0}

    run = make_run(tmp_path / "run", n=20, values=values)
    path = half_labelled(load_run(run).frame(), "replacement", tmp_path / "labels.csv")
    doc = fit_from_labels(path, run)
    res, det = doc["calibration"]["results"]["replacement (real_threshold)"], doc["detectors"]["replacement"]
    assert -3.0 < det["real_threshold"] < 0.5 and not res["kept"], res  # the shipped 1.31 vetoed every object
    assert res["file"]["real_threshold"] > 0.5 and res["fit_j"] > res["file_fit_j"]
    rule = doc["calibration"]["rules"]["replacement_flag"]["test"]
    assert rule["precision"] == 1.0 and rule["recall"] == 1.0


def test_a_rule_worse_than_chance_on_held_out_labels_is_warned_about(capsys):
    from bench.calibration.labels import print_report

    t = {"precision": 0.2, "recall": 0.3, "auroc": 0.125}
    doc = {"calibration": {"labels_in_run": 10, "labels": 10, "run_id": "r", "test_fraction": 0.3, "seed": 0,
                           "rules": {"blur": {"test": t, "counts": {"test": [3, 3]}, "rule": "blur's rule"},
                                     "replacement": {"test": {**t, "auroc": 0.9}, "counts": {"test": [3, 3]},
                                                     "rule": "r"}},
                           "evidence": {}, "results": {}}}
    print_report(doc)
    out = capsys.readouterr().out
    assert out.count("worse than chance") == 1 and "AUROC 0.125" in out


def _count(b, session=None, expect: int | None = None) -> int:
    """The page's label count; with ``expect``, waited for (another tab's change arrives as a storage event)."""
    import time

    deadline = time.monotonic() + 10
    while True:
        n = int(b.js("document.getElementById('label-count').getAttribute('data-count')", session))
        if expect is None or n == expect or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def _rows(csv_text: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["cell"], r["sample_id"]): r for r in csv.DictReader(csv_text.splitlines())}


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_two_tabs_of_the_page_keep_each_others_labels(run, tmp_path):
    """The page wrote its whole label set to local storage on every key: a second tab of the report (opened before
    the first labelled anything) wiped the first tab's labels with its own at its first key, and a reload showed
    only those. Each change now goes into what is stored, and a tab shows the labels another tab makes."""
    url = (run / "report.html").resolve().as_uri() + "#label"
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto(url)
        second = b.open_page(url)  # both tabs open, nothing labelled yet
        b.press("g")
        b.press("b")  # tab 1: tiles 0 and 1
        assert _count(b) == 2
        b.press("ArrowRight", second)
        b.press("ArrowRight", second)
        b.press("r", second)  # tab 2: tile 2
        # each tab sees the other's labels (tab 1's arrive in tab 2 as storage events: waited for, as tab 2's in tab 1)
        assert _count(b, second, expect=3) == 3 and _count(b, expect=3) == 3
        rows = _rows(b.js("window.inpaintBenchLabels.csv()"))
        assert rows == _rows(b.js("window.inpaintBenchLabels.csv()", second))
        assert sorted(r["label"] for r in rows.values()) == ["blur", "good", "replacement"]
        b.press("x", second)  # tab 2 clears tile 3's label (none): nothing else changes
        b.goto("about:blank")
        b.goto(url)
        assert _count(b) == 3
    finally:
        b.close()


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_a_stored_label_is_not_given_to_an_output_made_again(run, tmp_path):
    """Labels were kept in the browser per run id, cell and sample: the report of a run of the same suite (same run
    id) whose outputs were made again showed the old labels on the new outputs and exported them with the new
    files' output_sha256, so `bench calibrate --labels` took them as labels of those files."""
    import shutil

    from PIL import Image

    from bench.report.labelling import output_digest

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto((copy / "report.html").resolve().as_uri() + "#label")
        tiles = b.js("Array.prototype.map.call(document.querySelectorAll('figure.tile.out'),"
                     "function(t){return [t.getAttribute('data-cell'), t.getAttribute('data-sample')];})")
        b.press("b")
        b.press("g")
        assert _count(b) == 2
        (c0, s0), (c1, s1) = tiles[0], tiles[1]
        old = output_digest(copy, c0, s0)
        png = copy / "generations" / c0 / f"{s0}.png"
        Image.fromarray(255 - np.asarray(Image.open(png))).save(png)  # tile 0's output made again
        write_html(copy, copy / "report.html", ci=False)
        b.goto("about:blank")
        b.goto((copy / "report.html").resolve().as_uri() + "#label")
        rows = _rows(b.js("window.inpaintBenchLabels.csv()"))
        assert _count(b) == 1 and not b.js("document.querySelector('figure.tile.out').getAttribute('data-label')")
        # the new output is not labelled; the old label is kept, exported with the digest of the file it was made on
        # (which `bench calibrate --labels` leaves out as a label of another output)
        assert rows[(c0, s0)]["label"] == "blur" and rows[(c0, s0)]["output_sha256"] == old
        assert old != output_digest(copy, c0, s0)
        assert rows[(c1, s1)]["label"] == "good" and rows[(c1, s1)]["output_sha256"] == output_digest(copy, c1, s1)
    finally:
        b.close()


def test_a_sample_id_with_spaces_at_its_ends_keeps_its_label(tmp_path):
    """read_labels stripped cell and sample id: a folder dataset's ``images/ chair.png`` (id ' chair') came back as
    'chair', which is no sample of the run, so its label was left out without a word. Ids are read exactly; a
    hand-edited file's padding (a space after a comma) still finds the sample when the exact id is none."""
    from bench.calibration.labels import fit_from_labels

    run = make_run(tmp_path / "run", backends=("opencv-telea",), datasets=("samples",), masks=("box",),
                   sample_ids=[" 0", "s1 ", "s2"])
    cell = str(load_run(run).frame()["cell_key"].iloc[0])
    p = tmp_path / "labels.csv"
    with p.open("w", newline="") as f:
        csv.writer(f).writerows([["run_id", "cell", "sample_id", "label"], ["run", cell, " 0", "blur"],
                                 ["run", cell, "s1 ", "good"], ["run", f" {cell}", " s2", "good"]])
    assert [lab.sample_id for lab in read_labels(p)] == [" 0", "s1 ", " s2"]
    assert fit_from_labels(p, run)["calibration"]["labels_in_run"] == 3


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_keyboard_only_labelling_with_caps_lock_or_shift(run, tmp_path):
    """Keyboard only: Tab to **Label outputs**, Enter, then keys. With caps lock on (or shift held) a key arrives as
    'G', 'B', 'N', which the page ignored without a sign: nothing was labelled and the selection did not move."""
    url = (run / "report.html").resolve().as_uri()
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto(url)
        b.js("document.getElementById('label-toggle').focus()")  # where Tab lands first
        b.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13,
               text="\r")
        b.send("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)
        assert b.js("document.body.getAttribute('data-labelling')") == "1"
        b.press("G")
        b.press("B")
        b.press("N")
        b.press("x")
        labels = sorted(b.js("Object.values(window.inpaintBenchLabels.labels())"))
        assert labels == ["blur", "good"] and int(b.js("document.body.getAttribute('data-current-index')")) == 4
    finally:
        b.close()


def test_calibrate_says_how_many_labels_it_left_out_and_why(run, tmp_path, capsys):
    """`bench calibrate --labels` printed "N of M labelled outputs found in run R": labels of output files made again
    since (left out) and labels of outputs the run does not have were one silent difference."""
    from PIL import Image

    from bench.calibration.labels import fit_from_labels, print_report

    copy, truth, p = _labelled_copy(run, tmp_path, [["run", "no-such-cell", "s000", "good", ""]])
    c, sid = next(iter(truth))
    png = copy / "generations" / c / f"{sid}.png"
    Image.fromarray(255 - np.asarray(Image.open(png))).save(png)
    print_report(fit_from_labels(p, copy))
    out = capsys.readouterr().out
    assert f"{len(truth) - 1} of {len(truth) + 1} labelled outputs found in run run" in out
    assert "1 left out (an output file made again since it was labelled)" in out
    assert "1 not in the run" in out


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_the_export_keeps_labels_of_outputs_this_page_does_not_show(run, tmp_path):
    """The export wrote the labels of the tiles on the page only: after `bench calibrate --labels` and a new report
    (other verdicts, so other outputs in each verdict group) the labels of the outputs no longer shown stayed in the
    browser but were left out of every later labels.csv. Every stored label of the run is exported."""
    from bench.report.html import render_html
    from bench.report.labelling import output_digest

    small = tmp_path / "small.html"
    small.write_text(render_html(run, ci=False, n_samples=1, n_worst=1, n_verdict=1), encoding="utf-8")
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto((run / "report.html").resolve().as_uri() + "#label")
        b.press("ArrowLeft")  # the last tile: a verdict group's
        c, s = b.js("document.body.getAttribute('data-current')").split("/", 1)
        b.press("b")
        b.goto(small.resolve().as_uri() + "#label")
        shown = b.js("Array.prototype.map.call(document.querySelectorAll('figure.tile.out'),"
                     "function(t){return t.getAttribute('data-cell')+'/'+t.getAttribute('data-sample');})")
        assert f"{c}/{s}" not in shown
        b.press("g")
        rows = _rows(b.js("window.inpaintBenchLabels.csv()"))
        assert rows[(c, s)]["label"] == "blur" and rows[(c, s)]["output_sha256"] == output_digest(run, c, s)
        assert len(rows) == 2 and "1 more" in b.js("document.getElementById('label-count').textContent")
        p = tmp_path / "labels.csv"
        p.write_text(b.js("window.inpaintBenchLabels.csv()"), encoding="utf-8")
    finally:
        b.close()
    assert sorted(lab.label for lab in read_labels(p)) == ["blur", "good"]  # what calibrate reads


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_labels_exported_edited_and_imported_again(run, tmp_path):
    """Round trip: labels exported, corrected in a spreadsheet (semicolons, CRLF, a byte-order mark, a label in
    capitals) and imported into the page again (another browser, or after its storage was cleared): the page had no
    way to read a labels.csv, so the corrections could not be carried on with. Every imported label is kept with its
    keys exact (a label of an output this page does not show is exported again as it came); a file of another run,
    or with a label that is none of the five, is refused, naming it, and nothing is imported."""
    import time

    url = (run / "report.html").resolve().as_uri() + "#label"
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto(url)
        for k in "gbrio":
            b.press(k)
        exported = b.js("window.inpaintBenchLabels.csv()")
        rows = list(csv.reader(exported.splitlines()))
        rows[1][3] = "BLUR"  # a correction, typed in capitals
        odd = ["run", 'c"x,1', "a,b\nc;d", "good", "", "", "", "ab" * 8]  # no tile here: kept as it is
        edited = tmp_path / "edited.csv"
        with edited.open("w", encoding="utf-8-sig", newline="") as f:
            csv.writer(f, delimiter=";", lineterminator="\r\n").writerows(rows + [odd])

        b2 = Browser(chromium(), tmp_path / "profile2")  # another browser: nothing stored
        try:
            b2.goto(url)
            assert _count(b2) == 0

            def upload(path):
                b2.js("document.getElementById('label-message').textContent=''")
                doc = b2.send("DOM.getDocument")["root"]["nodeId"]
                node = b2.send("DOM.querySelector", nodeId=doc, selector="#label-import")["nodeId"]
                b2.send("DOM.setFileInputFiles", files=[str(path)], nodeId=node)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    msg = b2.js("document.getElementById('label-message').textContent")
                    if msg:
                        return msg
                    time.sleep(0.05)
                raise AssertionError("no message after the import")

            msg = upload(edited)
            assert "imported 6 labels" in msg, msg
            assert _count(b2) == 5
            again = b2.js("window.inpaintBenchLabels.csv()")
            want = {tuple(r[:4]) + (r[7],) for r in rows[1:] + [odd]}
            want = {(r[0], r[1], r[2], "blur" if r[3] == "BLUR" else r[3], r[4]) for r in want}
            got = {tuple(r[:4]) + (r[7],) for r in list(csv.reader(io_lines(again)))[1:]}
            assert got == want

            other = tmp_path / "other.csv"
            other.write_text(exported.replace("\nrun,", "\nanother-run,"), encoding="utf-8")
            msg = upload(other)
            assert "another-run" in msg and "nothing imported" in msg, msg
            bad = tmp_path / "bad.csv"
            bad.write_text(exported.replace(",good,", ",smudge,"), encoding="utf-8")
            msg = upload(bad)
            assert "bad.csv:2" in msg and "smudge" in msg and "nothing imported" in msg, msg
            assert {tuple(r[:4]) + (r[7],) for r in list(csv.reader(io_lines(
                b2.js("window.inpaintBenchLabels.csv()"))))[1:]} == want
        finally:
            b2.close()
    finally:
        b.close()


def io_lines(text: str):
    import io

    return io.StringIO(text, newline="")


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_a_page_without_outputs_takes_keys_without_a_script_error(tmp_path):
    """A run whose samples all failed (or none ran) has no output tile: a label key there threw a TypeError in the
    page's script (reading the tile before the first), and the page's count and import then ran on a broken state."""
    run = make_run(tmp_path / "run", n=0, save_outputs=True)
    write_html(run, run / "report.html", ci=False)
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto((run / "report.html").resolve().as_uri() + "#label")
        assert b.js("document.querySelectorAll('figure.tile.out').length") == 0
        for k in ("g", "x", "ArrowRight", "ArrowLeft"):
            b.press(k)
        assert _count(b) == 0
        assert not [e for e in b.events if e.get("method") == "Runtime.exceptionThrown"]
    finally:
        b.close()


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_a_sample_id_with_a_carriage_return_keeps_its_label(tmp_path):
    """HTML turns a carriage return in an attribute into a line feed: a sample id with one (a file name on Linux may
    hold it) reached labels.csv changed, and `bench calibrate --labels` found no such output. Attributes now carry it
    as a character reference, which the page reads back exactly."""
    from bench.calibration.labels import fit_from_labels

    run = make_run(tmp_path / "run", backends=("opencv-telea",), datasets=("samples",), masks=("box",),
                   sample_ids=["s1\r", "s2\r\n", "s3"], save_outputs=True)
    from bench.fsio import sample_filename

    for png in (run / "generations").glob("*/*.png"):  # where the runner keeps them (the helper writes raw ids)
        png.rename(png.with_name(sample_filename(png.stem) + ".png"))
    write_html(run, run / "report.html", ci=False)
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto((run / "report.html").resolve().as_uri() + "#label")
        sids = b.js("Array.prototype.map.call(document.querySelectorAll('figure.tile.out'),"
                    "function(t){return t.getAttribute('data-sample');})")
        assert set(sids) == {"s1\r", "s2\r\n", "s3"}
        for _ in sids:
            b.press("g")
        p = tmp_path / "labels.csv"
        p.write_text(b.js("window.inpaintBenchLabels.csv()"), encoding="utf-8", newline="")
    finally:
        b.close()
    assert {lab.sample_id for lab in read_labels(p)} == {"s1\r", "s2\r\n", "s3"}
    assert fit_from_labels(p, run)["calibration"]["labels_in_run"] == 3


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_labels_csv_guards_formulas_and_reads_them_back(tmp_path):
    """The study page's export put ' before a value a spreadsheet runs as a formula; the labelling page's wrote a
    sample id "=1" (or "=HYPERLINK(...)") as it was, into a file the page asks to correct in a spreadsheet. Both now guard by
    one rule (bench.sinks.FORMULA_START), and both readers of labels.csv (bench calibrate --labels, the page's
    import) take the guard off by one rule (bench.sinks.csv_unguard): every id comes back exactly."""
    from bench import sinks
    from bench.fsio import sample_filename

    ids = ["=1", "+2", "- 3", "@4", "\t5", "\r6", "'7", "h"]  # (the helper reads a number after the first character)
    run = make_run(tmp_path / "run", backends=("opencv-telea",), datasets=("samples",), masks=("box",),
                   sample_ids=ids, save_outputs=True)
    for png in (run / "generations").glob("*/*.png"):  # where the runner keeps them (the helper writes raw ids)
        png.rename(png.with_name(sample_filename(png.stem) + ".png"))
    write_html(run, run / "report.html", ci=False)
    url = (run / "report.html").resolve().as_uri() + "#label"
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.goto(url)
        for _ in range(b.js("document.querySelectorAll('figure.tile.out').length")):
            b.press("g")
        exported = b.js("window.inpaintBenchLabels.csv()")
        b2 = Browser(chromium(), tmp_path / "profile2")  # another browser: the file imported back
        try:
            b2.goto(url)
            b2.js(f"window.inpaintBenchLabels.importText({json.dumps(exported)}, 'labels.csv')")
            again = b2.js("window.inpaintBenchLabels.csv()")
        finally:
            b2.close()
    finally:
        b.close()
    written = {r[2] for r in list(csv.reader(io_lines(exported)))[1:]}
    assert written == {("'" + s if s[:1] in sinks.FORMULA_START else s) for s in ids}, written
    p = tmp_path / "labels.csv"
    p.write_text(exported, encoding="utf-8", newline="")
    assert sorted(lab.sample_id for lab in read_labels(p)) == sorted(ids)
    assert again == exported


def _useless_run(tmp_path):
    """A run whose replacement score separates nothing: the good outputs and the painted ones have the same scores
    (0.00 .. 0.04), as in a walk-through that got ``replacement > 0.0094`` with held-out AUROC 0.5."""
    def values(backend, dataset, sid):
        return {"replacement_score": 0.01 * (int(sid[1:]) % 5), "replacement_ref_score": float("nan")}

    run = make_run(tmp_path / "run", n=20, values=values)
    return run, half_labelled(load_run(run).frame(), "replacement", tmp_path / "labels.csv")


def test_a_fitted_threshold_that_separates_nothing_is_not_written(tmp_path, capsys):
    """``replacement_score`` separates nothing on these labels: the file keeps its base threshold for it (a fitted
    value would flag outputs at random), and the command and the file's ``calibration.results`` say why. The
    decision is checked against scikit-learn's AUROC of the same held-out labels, and a plain loop's flags."""
    from sklearn.metrics import roc_auc_score

    from bench.calibration.labels import _in_test
    from bench.cli import main
    from bench.detectors.thresholds import load_thresholds

    run, path = _useless_run(tmp_path)
    out = tmp_path / "t.json"
    assert main(["calibrate", "--labels", str(path), str(run), "--out", str(out)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    doc = json.loads(out.read_text())
    shipped = load_thresholds()["detectors"]["replacement"]["threshold"]
    res = doc["calibration"]["results"]["replacement"]
    assert doc["detectors"]["replacement"]["threshold"] == shipped == res["threshold"]
    assert "better than chance" in res["kept_base"] and res["not_written"] != shipped
    assert f"kept its threshold {shipped:g}; the fitted > {res['not_written']:g} is not written" in said
    assert "it changes no threshold of its base file" in said
    # independently: the held-out labels and scores, scikit-learn's AUROC and a plain loop's flags of the value the
    # fit wanted: no better than chance
    f = load_run(run).frame()
    y, s = [], []
    for c, sid, v in zip(f["cell_key"], f["sample_id"], f["replacement_score"]):
        if _in_test(0, c, sid, 0.3):
            y.append(int(sid[1:]) % 10 >= 5)
            s.append(float(v))
    auc = roc_auc_score(y, s)
    assert abs(auc - res["test"]["auroc"]) < 1e-4 and abs(auc - 0.5) < 0.15
    hit = sum(1 for a, b in zip(y, s) if a and b > res["not_written"]) / sum(y)
    false = sum(1 for a, b in zip(y, s) if not a and b > res["not_written"]) / (len(y) - sum(y))
    assert hit - false < 0.2  # (Youden's J of the value not written: no real separation)


def test_a_fitted_threshold_no_better_than_the_base_one_on_the_labels_is_not_written(tmp_path, capsys):
    """Labels the base file's blur threshold (0.4709) already separates (blurry from 0.5): the fitted 0.45 is no
    better on them, so the file keeps the base value (a move the labels do not ask for) and says so."""
    from bench.calibration.labels import fit_from_labels, print_report
    from bench.detectors.thresholds import load_thresholds

    run = make_run(tmp_path / "run", n=20, values=lambda b, d, sid: {"blur_score": (int(sid[1:]) % 10) / 10})
    doc = fit_from_labels(half_labelled(load_run(run).frame(), "blur", tmp_path / "labels.csv"), run)
    shipped = load_thresholds()["detectors"]["blur"]["threshold"]
    res = doc["calibration"]["results"]["blur"]
    assert doc["detectors"]["blur"]["threshold"] == shipped and res["not_written"] != shipped
    assert "separates these labels as well or better" in res["kept_base"]
    assert res["test"]["auroc"] == 1.0  # (the score separates: it is the base value that is as good)
    print_report(doc)
    assert "is not written: the file's own 0.4709 separates" in " ".join(capsys.readouterr().out.split())


def _chance_labels(frame, failure: str, path, seed: int = 0, fraction: float = 0.3):
    """Labels that follow the sample number's last digit (5-9: ``failure``) on the fitting part, and its tens digit
    on the held-out part (``_in_test``'s split): a score of the last digit separates the fitting part, and by chance
    only, the held-out part not at all. Returns (path, [(held out, label is the failure, row)])."""
    from bench.calibration.labels import _in_test

    lines, rows = ["run_id,cell,sample_id,label"], []
    for i, (c, sid) in enumerate(zip(frame["cell_key"], frame["sample_id"])):
        k, held = int(sid[1:]), _in_test(seed, c, sid, fraction)
        bad = (k // 10 == 1) if held else (k % 10 >= 5)
        rows.append((held, bad, i))
        lines.append(f"run,{c},{sid},{failure if bad else 'good'}")
    path.write_text("\n".join(lines) + "\n")
    return path, rows


@pytest.mark.parametrize("det, part", [("blur", "grain_threshold"), ("replacement", "real_threshold")])
def test_a_rule_part_that_separates_the_fitting_labels_by_chance_only_is_not_written(tmp_path, capsys, det, part):
    """The parts of a flag rule (blur's grain and fade thresholds, replacement's head veto) were chosen on the
    fitting part's Youden's J alone, so a part that separates those labels by chance was written. They now go
    through the check the main thresholds go through (``no_evidence``): the file keeps its base values, and the
    command and ``calibration.results`` say why. Checked against scikit-learn's AUROC of the part's own score on
    the held-out labels and a plain loop's Youden's J of the value not written on each part."""
    from sklearn.metrics import roc_auc_score

    from bench.calibration.labels import fit_from_labels, print_report
    from bench.detectors.thresholds import load_thresholds

    def values(backend, dataset, sid):
        k = int(sid[1:]) % 10
        if det == "blur":  # the main and mosaic scores never flag; the grain deficit is the sample's last digit
            return {"blur_score": -0.2, "blur_mosaic_score": 0.0, "blur_grain_score": 0.30 + 0.02 * k,
                    "blur_fade_score": 0.2}
        # novelty flags every output (the reference-free threshold); the head's logit is the last digit
        return {"replacement_score": 0.5, "replacement_ref_score": float("nan"),
                "replacement_real_score": -3.0 + 0.5 * k}

    run = make_run(tmp_path / "run", n=20, values=values)
    f = load_run(run).frame()
    path, rows = _chance_labels(f, det, tmp_path / "labels.csv")
    doc = fit_from_labels(path, run)
    key = {"blur": "blur (grain_threshold, fade_threshold)", "replacement": "replacement (real_threshold)"}[det]
    res, shipped = doc["calibration"]["results"][key], load_thresholds()["detectors"][det]
    assert doc["detectors"][det][part] == shipped[part] and res["kept"] and res["fitted"][part] == shipped[part]
    t = res["not_written"][part]
    assert t != shipped[part] and "better than chance" in res["kept_base"], res
    # independently: the part's score on each part, scikit-learn's AUROC, a plain loop's J of the value not written
    col = {"blur": "blur_grain_score", "replacement": "replacement_real_score"}[det]
    v = f[col].to_numpy(float)

    def youden(held):
        pos = [v[i] > t for h, bad, i in rows if h == held and bad]
        neg = [v[i] > t for h, bad, i in rows if h == held and not bad]
        return sum(pos) / len(pos) - sum(neg) / len(neg)

    assert youden(False) == 1.0  # it separates the fitting part...
    assert abs(youden(True)) < 0.2  # ... and not the held-out one
    auc = roc_auc_score([bad for h, bad, _ in rows if h], [v[i] for h, _, i in rows if h])
    assert abs(auc - 0.5) < 0.1
    print_report(doc)
    said = " ".join(capsys.readouterr().out.split())
    assert f"is not written: {res['kept_base']}" in said and f"{part} {t}" in said
