"""The self-contained HTML report: structure, embedded images and plots, and a render in headless Chromium."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from bench.report.html import pareto_front, write_html
from tests.cdp import chromium
from tests.test_report_data import make_run

SCREENSHOT_DIR = Path(os.environ.get("BENCH_SCREENSHOT_DIR", "")) if os.environ.get("BENCH_SCREENSHOT_DIR") else None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("html") / "run", n=5, errors={"mean-fill": 1}, save_outputs=True,
                   comparable=False, reasons=["shards ran on <different> devices"])
    # one missing output image: the report must show a placeholder, not fail
    next((run / "generations").glob("opencv-ns--samples--box/s001.png")).unlink()
    path = write_html(run, run / "report.html", ci=False)
    return run, path, path.read_text()


def test_html_is_self_contained(report):
    run, path, text = report
    assert not re.search(r"""(src|href)=["']https?://""", text)  # nothing fetched at view time
    assert "<link" not in text and "@import" not in text
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert imgs and all(s.startswith("data:image/") for s in imgs)
    for name in ("pareto.png", "by_area.png", "failures.png"):
        assert (run / "plots" / name).stat().st_size > 1000


def test_html_content(report):
    run, path, text = report
    assert 'id="leaderboard"' in text
    lb = text.split('id="leaderboard"')[1].split("</table>")[0]
    assert lb.count("<tr>") == 1 + 3 * 2 * 2  # header + one row per cell
    assert "NOT COMPARABLE" in text and "&lt;different&gt;" in text  # banner, escaped
    assert "no image" in text  # the deleted output
    # grid: 4 cells of (dataset × mask), each with input, mask, ground truth and 3 backend columns
    assert text.count('class="grid"') == 4
    assert 'class="badge bad">blur<' in text  # detector flag on a tile
    assert 'class="badge bad">error<' in text  # mean-fill's failed sample
    assert "Worst cases per backend" in text and "mean-fill exploded" in text


def test_pareto_front():
    pts = [(10.0, 0.2), (1.0, 0.4), (5.0, 0.3), (20.0, 0.25), (3.0, 0.5)]
    assert pareto_front(pts, higher_is_better=False) == [1, 2, 0]  # lower-is-better quality (e.g. LPIPS)
    assert pareto_front(pts, higher_is_better=True) == [1, 4]


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_html_renders_in_chromium(report, tmp_path):
    run, path, _ = report
    exe = chromium()
    url = path.resolve().as_uri() + "#sort=lpips_in"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([exe, *flags, "--virtual-time-budget=3000", "--dump-dom", url], capture_output=True,
                         text=True, timeout=120).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    total = int(re.search(r'data-images-total="(\d+)"', body).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', body).group(1))
    assert total > 20 and loaded == total  # every embedded image decoded
    # the leaderboard is there and the script sorted it by lpips_in (lower is better: ascending)
    assert 'data-sorted="lpips_in:asc"' in dom
    table = dom.split('id="leaderboard"')[1].split("</table>")[0]
    header, body = table.split("</thead>")
    idx = [m.group(1) for m in re.finditer(r'data-key="([^"]+)"', header)].index("lpips_in")
    lpips = []
    for r in body.split("<tr>")[1:]:
        tds = re.findall(r"<td([^>]*)>", r)
        lpips.append(float(re.search(r'data-v="([^"]*)"', tds[idx]).group(1)))
    assert lpips == sorted(lpips) and len(lpips) == 12
    shot = (SCREENSHOT_DIR or tmp_path) / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, *flags, "--window-size=1400,2400", f"--screenshot={shot}", url], capture_output=True,
                   timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_the_sample_sections_use_a_per_sample_metric_with_finite_values():
    """FID has no per-sample value and psnr_out is ∞ for fills that keep the outside: neither can caption a tile,
    rank the worst cases or draw a curve (a removal run without ground truth has only those)."""
    import pandas as pd

    from bench.report.html import choose_metric

    df = pd.DataFrame({"backend": ["a", "b"], "psnr_out": [float("inf")] * 2, "fid": [3.0, 4.0],
                       "ssim_out": [0.99, 0.98], "psnr_in": [20.0, 21.0]})
    df.attrs.update(metric_keys=["psnr_out", "ssim_out", "psnr_in"], setlevel_keys=["fid"])
    assert choose_metric(df, None) == "psnr_in"
    assert choose_metric(df, "ssim_out") == "ssim_out" and choose_metric(df, "psnr_out") == "psnr_out"
    assert choose_metric(df, "fid") == "psnr_in"  # asked for, but it has no per-sample value
    removal = df.drop(columns=["psnr_in"])
    removal.attrs.update(metric_keys=["psnr_out", "ssim_out"], setlevel_keys=["fid"])
    assert choose_metric(removal, None) == "ssim_out"
    only_inf = df[["backend", "psnr_out", "fid"]].copy()
    only_inf.attrs.update(metric_keys=["psnr_out"], setlevel_keys=["fid"])
    assert choose_metric(only_inf, None) is None


def test_failure_plot_shows_only_the_rates_that_are_not_zero():
    import pandas as pd

    from bench.report.html import failure_keys

    by_b = pd.DataFrame({"backend": ["a", "b"], "error_rate": [0.0, 0.0], "blur_rate": [0.0, 0.25],
                         "replacement_rate": [0.0, 0.0], "noop_rate": [float("nan"), 0.5]})
    # in the order given, error first; a NaN rate (the detector did not judge) is no failure; a detector without a
    # column (not in this run's frame) is skipped
    assert failure_keys(by_b, ["noop", "blur", "replacement", "resized"]) == ["noop_rate", "blur_rate"]
    by_b["error_rate"] = [0.5, 0.0]
    assert failure_keys(by_b, ["blur"]) == ["error_rate", "blur_rate"]
    assert failure_keys(by_b.assign(error_rate=0.0, blur_rate=0.0, noop_rate=0.0), ["blur", "noop"]) == []


def test_badges_are_red_for_the_flags_that_decide_the_verdict_and_grey_for_the_rest():
    from bench.detectors import verdict
    from bench.report.html import _flags, badge_classes

    dets = ["blur", "blur_grain", "replacement", "replacement_free", "incomplete_remnant", "outside_drift"]
    rec = {f"{d}_flag": 1.0 for d in dets} | {"blur_grain_flag": float("nan")}
    raw = dict(_flags(rec, badge_classes(dets, paste_back=False)))
    pasted = dict(_flags(rec, badge_classes(dets, paste_back=True)))
    assert "blur_grain" not in raw  # NaN: not judged, no badge
    assert raw == {"blur": "bad", "replacement": "bad", "replacement_free": "part", "incomplete_remnant": "part",
                   "outside_drift": "bad"}
    assert pasted["outside_drift"] == "part" and pasted["blur"] == "bad"  # pasted back: the frame does not vote
    # red exactly where the verdict reads the flag: a sample raising only grey flags is judged ok
    only_parts = {"replacement_free_flag": 1.0, "incomplete_remnant_flag": 1.0, "outside_drift_flag": 1.0,
                  "blur_flag": 0.0, "replacement_flag": 0.0, "incomplete_flag": 0.0}
    import pandas as pd

    assert verdict.verdicts(pd.DataFrame([only_parts]), paste_back=True).iloc[0] == "ok"
    assert all(c == "part" for _, c in _flags(only_parts, badge_classes(dets, paste_back=True)))


def test_only_tiles_that_show_an_output_can_be_labelled(report):
    """A grey tile (an output file missing since the run, a sample that failed) was an output tile the labelling mode
    stepped onto: a key pressed there exported a label of an output nobody saw (with no ``output_sha256``, so
    ``bench calibrate --labels`` could not tell it apart). Every output tile now shows the stored image."""
    run, path, text = report
    tiles = re.findall(r'<figure class="tile out"(.*?)</figure>', text, re.S)
    assert len(tiles) > 20
    assert all("<img " in t and 'data-output="' in t for t in tiles)
    assert not [t for t in tiles if 'class="noimg"' in t]
    # the missing output and the failed samples are still shown, as grey tiles that are no labelling target
    grey = re.findall(r'<figure class="tile"[^>]*>(?:(?!</figure>).)*class="noimg"', text, re.S)
    assert any('data-sample="s001"' in g or "s001" in g for g in grey)
    assert 'class="badge bad">error<' in text


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_a_grid_wider_than_the_window_scrolls_in_its_own_box(report, tmp_path):
    """A run with many backends: each dataset × mask grid (one column per backend) ran off the page's right edge,
    so the page itself scrolled sideways, away from the headings, notes and every other section, and the outputs
    past the edge were out of sight beside them. Each grid now scrolls in its own box, as the leaderboard does."""
    from tests.cdp import Browser

    run, path, _ = report
    b = Browser(chromium(), tmp_path / "profile")
    try:
        b.send("Emulation.setDeviceMetricsOverride", width=700, height=1200, deviceScaleFactor=1, mobile=False)
        b.goto(path.resolve().as_uri())
        assert b.js("document.documentElement.scrollWidth") <= 700  # the page does not scroll sideways
        grids = b.js("Array.prototype.map.call(document.querySelectorAll('.grid'), function(g){"
                     "var p=g.parentElement; return [p.scrollWidth > p.clientWidth, getComputedStyle(p).overflowX,"
                     "p.scrollWidth];})")
        assert len(grids) == 4, grids
        assert all(wide > 700 and over and style in ("auto", "scroll") for over, style, wide in grids), grids
    finally:
        b.close()


def test_the_report_keeps_no_full_size_image_in_memory(tmp_path):
    """Every image the report read stayed in its cache at full size until the page was written: outputs of 1536 px
    (7 MiB each, up to 4 + 4 + 24 per verdict per backend) took the report of a small run from about 120 MiB to
    650 MiB, and a run of large images past the machine's memory. Only the tile-size image is kept; the tiles are
    the same pictures."""
    import base64
    import io

    from PIL import Image

    from bench.report.aggregate import load_run
    from bench.report.html import THUMB, ImageStore, _thumb_b64

    run = make_run(tmp_path / "run", n=2, save_outputs=True, size=600, datasets=("samples",), masks=("box",))
    rd = load_run(run)
    store = ImageStore(rd.run_dirs, rd.cells())
    cells = rd.cells()
    for ck in cells["cell_key"]:
        for sid in ("s000", "s001"):
            im = store.output(ck, sid)
            full = Image.open(run / "generations" / ck / f"{sid}.png")
            assert _thumb_b64(im) == _thumb_b64(full)  # the tile shows the stored output, as before
            assert max(im.size) <= THUMB
    assert store._cache and all(max(im.size) <= THUMB for im in store._cache.values())
    shown = Image.open(io.BytesIO(base64.b64decode(_thumb_b64(store.output(ck, "s001")).split(",", 1)[1])))
    assert max(shown.size) == THUMB


def _one_infinite_psnr_in_html(tmp_path) -> str:
    """The HTML report (psnr_in, no intervals) of a run where opencv-ns restores one sample's hole exactly: its
    mean psnr_in is +∞."""
    from bench.report.html import render_html

    def values(backend, dataset, sid):
        return {"psnr_in": float("inf")} if backend == "opencv-ns" and sid == "s001" else {}

    run = make_run(tmp_path / "run", n=4, values=values, datasets=("samples",), masks=("box",))
    return render_html(run, metric="psnr_in", ci=False)


def test_the_pareto_plot_shows_every_backend_or_says_which_it_cannot(tmp_path):
    """A backend whose mean is ∞ (psnr_in of fills that restore the hole exactly on some samples: the leaderboard's
    "∞ (5 of 13)") vanished from the quality-vs-latency plot without a word, and the front was drawn without it,
    though it dominates. It is now drawn at the plot's top edge, marked ∞, on the front where it belongs, and the
    caption names it."""
    import base64
    import io

    from PIL import Image

    text = _one_infinite_psnr_in_html(tmp_path)
    cap = re.search(r"<figcaption>(Quality vs latency[^<]*)</figcaption>", text).group(1)
    assert "opencv-ns" in cap and "∞" in cap, cap
    import pandas as pd

    from bench.report.html import pareto_points

    by_b = pd.DataFrame({"backend": ["a", "b", "c", "d"], "latency_p50": [1.0, 2.0, float("nan"), 3.0],
                         "psnr_in": [10.0, float("inf"), 12.0, float("nan")]})
    pts, missing = pareto_points(by_b, "psnr_in")
    assert [(p[0], p[3]) for p in pts] == [("a", ""), ("b", "∞")] and pts[1][2] > 10.0
    assert missing == [("c", "no latency"), ("d", "no psnr_in")]
    uri = re.search(r'<img class="plot" src="([^"]+)" alt="Quality vs latency', text).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size[0] > 100


def test_the_report_finds_each_file_where_the_store_puts_it(tmp_path):
    """The report's image store built an output's and an input's path itself beside bench.store.files'
    output_path / input_path (the two agreed); it now asks them. Pins, for hostile sample ids (ones the file-name
    rule of bench.fsio rewrites, and plain ones), that each tile shows the file written where the store says."""
    import numpy as np
    import pandas as pd

    from bench.report.html import ImageStore
    from bench.store.files import input_path, output_path, write_png
    from tests.plugins_torture import EVIL_IDS

    ids = list(EVIL_IDS) + ["plain", "a b", "A/B", "a_b", "x" * 299 + "y", "ends-with-space "]
    run = tmp_path / "run"
    run.mkdir()
    for i, sid in enumerate(ids):
        write_png(output_path(run, "ck", sid, create=True), np.full((3, 4, 4), i, np.uint8))
        for j, kind in enumerate(("input", "mask", "gt")):
            write_png(input_path(run, "ik", sid, kind, create=True), np.full((3, 4, 4), 100 + 3 * i + j, np.uint8))
    cells = pd.DataFrame({"cell_key": ["ck"], "dataset": ["d"], "mask": ["m"], "input_key": ["ik"]})
    store = ImageStore([run], cells)
    for i, sid in enumerate(ids):
        assert store.output("ck", sid).getpixel((0, 0))[0] == i, sid
        assert store.input("d", "m", sid).getpixel((0, 0))[0] == 100 + 3 * i, sid
        assert store.mask(["ck"], sid).getpixel((0, 0))[0] == 100 + 3 * i + 1, sid
        assert store.gt("d", "m", sid).getpixel((0, 0))[0] == 100 + 3 * i + 2, sid


def test_every_plot_draws_an_infinite_mean_at_its_edge_and_says_so(tmp_path, monkeypatch):
    """The by-area and by-dilation plots dropped a point whose mean is +∞ (psnr_in of a fill that restores the
    hole exactly on a sample) without a word, as the Pareto plot did before it was fixed; every plot now draws it
    at the edge, marked, by one rule (bench.report.html.at_edges), and its caption names it."""
    import numpy as np
    import pandas as pd

    from bench.report import aggregate
    from bench.report.columns import ColumnCatalog
    from bench.report.html import _dilation_plots

    text = _one_infinite_psnr_in_html(tmp_path)
    cap = re.search(r"<figcaption>(Metric by mask-area bin[^<]*)</figcaption>", text).group(1)
    assert "opencv-ns (∞) at " in cap and "psnr_in" in cap, cap

    sweep = pd.DataFrame({"backend": ["a", "a", "b", "b"], "dataset": ["d"] * 4, "dilate_base": ["box"] * 4,
                          "dilate_k": [0, 8, 0, 8], "psnr_in": [20.0, 21.0, 22.0, float("inf")]})
    sweep.attrs["detectors"] = []
    monkeypatch.setattr(aggregate, "summarize_by_dilation", lambda rd, **kw: sweep)
    from bench.report.aggregate import load_run

    rd = load_run(tmp_path / "run")
    [(title, _)] = _dilation_plots(rd, "psnr_in", ColumnCatalog(rd.manifest.get("columns")), None)
    assert "b (∞) at k = 8" in title, title
    from bench.report.html import at_edges

    drawn, marks = at_edges([1.0, float("inf"), 3.0, float("nan"), -float("inf")])
    assert marks == ["", "∞", "", "", "−∞"] and drawn[1] > 3.0 and drawn[4] < 1.0 and np.isnan(drawn[3])


def test_the_html_leaderboard_shows_each_value_and_interval_as_the_markdown_does(tmp_path):
    """The HTML drew every interval as [lo, hi] by its own rule, where the Markdown, LaTeX and terminal show the
    documented ± half-width (and [lo, hi] only for a skewed interval): the same cell read "14.93 ± 1.35" in one
    report and "14.93 [13.53, 16.23]" in the other. Every value cell the two leaderboards share now reads alike."""
    import html as _html

    from bench.cli.report import main

    run = make_run(tmp_path / "run", n=8, datasets=("samples",), masks=("box",), errors={"mean-fill": 1})
    assert main(["report", str(run), "--format", "md,html", "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    md_rows = [[re.sub(r"\*\*|</?ins>", "", c).strip().replace("\\_", "_") for c in line.strip("|").split("|")]
               for line in md.splitlines() if line.startswith("|") and not line.startswith("|:")]
    md_head = [h.rsplit(" ", 1)[0] if h.endswith(("↑", "↓")) else h for h in md_rows[0]]
    text = (tmp_path / "out" / "report.html").read_text()
    lb = text.split('id="leaderboard"')[1].split("</table>")[0]
    rows = [[_html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", lb, re.S)]
    head = [h.rsplit(" ", 1)[0] if h.endswith(("↑", "↓")) else h for h in rows[0]]
    shared = [k for k in md_head if k in head and k != "backend"]
    assert {"psnr_in", "lpips_in", "blur_rate"} <= set(shared)
    checked = 0
    for r in rows[1:]:
        m = next(x for x in md_rows[1:] if x[0] == r[0])
        for k in shared:
            assert r[head.index(k)] == m[md_head.index(k)], (r[0], k, r[head.index(k)], m[md_head.index(k)])
            checked += "±" in r[head.index(k)]
    assert checked >= 6
