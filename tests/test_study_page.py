"""The study page end to end in headless Chromium: a rater id, every trial answered by key (and by a button and a
click on an image), a correction with Backspace, the state kept across a reload, the CSV export, and that CSV
scored by ``bench study score``."""
from __future__ import annotations

import csv
import json

import pytest

from bench.report.aggregate import load_run
from bench.study.page import write_page
from bench.study.plan import make_plan
from bench.study.score import COLUMNS, score_study
from tests.cdp import Browser, chromium, wait_for_file
from tests.test_study import make_study_run

pytestmark = pytest.mark.skipif(chromium() is None,
                                reason="headless Chromium not installed (Debian: apt-get install -y chromium)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_study_run(tmp_path_factory.mktemp("studypage"))


def test_page_keys_export_score(run, tmp_path):
    plan = make_plan(run, seed=2)
    page = write_page(plan, run, tmp_path / "study.html")
    f = load_run(run).frame()
    psnr = {(b, s): v for b, s, v in zip(f["backend"], f["sample_id"], f["psnr_in"])}

    flip: list[bool] = []  # the rater's sides: trial k shown the other way round from the plan where flip[k]

    def shown(t) -> tuple[str, str]:
        return (t.right, t.left) if flip[t.index] else (t.left, t.right)

    def wanted(t) -> str:
        """The rater's rule, on the sides the rater sees: a check is answered correctly, a pair by the higher
        psnr_in; every 7th trial a tie and every 11th both bad (so every choice occurs)."""
        left, right = shown(t)
        if t.index % 11 == 10:
            return "both_bad"
        if t.index % 7 == 6:
            return "tie"
        if "identity" in (left, right):
            return "left" if right == "identity" else "right"
        return "left" if psnr[(left, t.sample_id)] >= psnr[(right, t.sample_id)] else "right"

    keys = {"left": ["ArrowLeft", "1"], "right": ["ArrowRight", "2"], "tie": ["t", "3"], "both_bad": ["b", "4"]}
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.browser("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        b.goto(page.resolve().as_uri())
        assert b.js("document.body.getAttribute('data-state')") == "intro"
        # the page data holds the plan's trials in order; no backend name is visible text
        data = b.js("JSON.parse(document.getElementById('study-data').textContent).trials.map("
                    "function(t){return [t.trial, t.sample_id, t.left, t.right];})")
        assert data == [[t.index, t.sample_id, t.left, t.right] for t in plan.trials]
        assert not any(n in b.js("document.body.innerText") for n in plan.backends)
        b.click("#start")  # no rater id: refused
        assert b.js("document.body.getAttribute('data-state')") == "intro"
        b.js("document.getElementById('rater').value='ann'")
        b.click("#start")
        assert b.js("document.body.getAttribute('data-state')") == "trial"
        order = b.js("window.inpaintBenchStudy.state().order")
        assert sorted(order) == list(range(len(plan.trials))) and order != sorted(order)  # the rater's own order
        flip[:] = b.js("window.inpaintBenchStudy.state().flip")
        assert len(flip) == len(plan.trials) and 0 < sum(flip) < len(flip)  # the rater's own sides
        images = b.js("JSON.parse(document.getElementById('study-data').textContent).trials.map("
                      "function(t){return [t.li, t.ri];})")
        seen = []
        for i in range(len(plan.trials)):
            t = plan.trials[int(b.js("document.body.getAttribute('data-trial')"))]
            assert t.index == order[i] and int(b.js("document.body.getAttribute('data-position')")) == i
            seen.append(t.index)
            li, ri = images[t.index][::-1] if flip[t.index] else images[t.index]
            assert b.js("document.getElementById('img-left').src") == b.js(f"JSON.parse(document.getElementById("
                                                                         f"'study-data').textContent).images[{li!r}]")
            assert b.js("document.getElementById('img-right').src") == b.js(f"JSON.parse(document.getElementById("
                                                                          f"'study-data').textContent).images[{ri!r}]")
            choice = wanted(t)
            if i == 3:  # a wrong answer first, then Backspace and the right one
                b.press(keys["right" if choice == "left" else "left"][0])
                assert int(b.js("document.body.getAttribute('data-trial')")) == order[i + 1]
                b.press("Backspace")
                assert int(b.js("document.body.getAttribute('data-trial')")) == t.index
            if i == 5 and choice in ("left", "right"):
                b.click(f"#img-{choice}")  # a click on the image picks it
            elif i == 8:
                b.click(f".choices button[data-choice='{choice}']")  # the buttons do the same
            else:
                b.press(keys[choice][i % 2])
            if i == 12:  # a break: reload the page, the same rater carries on where they were
                b.goto("about:blank")
                b.goto(page.resolve().as_uri())
                assert b.js("document.getElementById('rater').value") == "ann"
                b.click("#start")
                assert int(b.js("document.body.getAttribute('data-answered')")) == 13
                assert b.js("window.inpaintBenchStudy.state().order") == order
                assert b.js("window.inpaintBenchStudy.state().flip") == flip
        assert sorted(seen) == list(range(len(plan.trials)))
        assert b.js("document.body.getAttribute('data-state')") == "done"
        assert int(b.js("document.body.getAttribute('data-answered')")) == len(plan.trials)
        assert b.js("document.getElementById('bar').style.width") == "100%"
        b.click("#done .export")
        path = downloads / "judgements_ann.csv"
        wait_for_file(path)
        assert path.exists(), "the export downloaded judgements_ann.csv"
        # another rater in the same browser: a fresh state and another order
        b.goto("about:blank")
        b.goto(page.resolve().as_uri())
        b.js("document.getElementById('rater').value='bob'")
        b.click("#start")
        assert int(b.js("document.body.getAttribute('data-answered')")) == 0
        other = b.js("window.inpaintBenchStudy.state().order")
        assert sorted(other) == sorted(order) and other != order
        assert b.js("window.inpaintBenchStudy.state().flip") != flip  # and other sides
        # answers saved by a page that showed every rater the plan's sides keep those sides (their choices are of them)
        b.js(f"localStorage.setItem('inpaint-bench-study:{plan.study_id}:cy', JSON.stringify({{answers:{{'0':"
             f"{{choice:'left', seconds:1}}}}, pos:1, order:{json.dumps(order)}}}))")
        b.goto("about:blank")
        b.goto(page.resolve().as_uri())
        b.js("document.getElementById('rater').value='cy'")
        b.click("#start")
        assert int(b.js("document.body.getAttribute('data-answered')")) == 1
        assert b.js("window.inpaintBenchStudy.state().flip") == [False] * len(plan.trials)
    finally:
        b.close()

    rows = list(csv.DictReader(path.open()))
    assert list(rows[0].keys()) == list(COLUMNS)
    assert len(rows) == len(plan.trials)
    for r, t in zip(sorted(rows, key=lambda r: int(r["trial"])), plan.trials):
        assert (r["rater_id"], r["run_id"], r["config_hash"], r["study_id"]) == \
            ("ann", plan.run_id, plan.config_hash, plan.study_id)
        assert (r["sample_id"], (r["backend_left"], r["backend_right"])) == (t.sample_id, shown(t))
        assert r["choice"] == wanted(t), t
        assert float(r["seconds"]) >= 0
        assert int(r["position"]) == order.index(t.index) + 1  # where this rater saw it (order effects)
    st = score_study(run, [path], n_boot=100)
    att = st.raters.set_index("rater")
    n_checks = sum(t.kind == "check" for t in plan.trials)
    # checks answered correctly except those the rule turned into a tie or both bad
    spoilt = sum(t.kind == "check" and (t.index % 11 == 10 or t.index % 7 == 6) for t in plan.trials)
    assert (att.loc["ann", "checks"], att.loc["ann", "passed"]) == (n_checks, n_checks - spoilt)
    assert json.loads(json.dumps(st.to_dict()))["n_comparisons"] == len(plan.trials) - n_checks

