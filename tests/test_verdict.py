"""One verdict per sample: precedence, shares that add up to 1, and the verdict in exports and leaderboards."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.report.aggregate import load_run, per_sample, summarize
from bench.detectors.verdict import PRECEDENCE, VERDICTS, verdicts
from tests.test_report_data import make_run

NAN = float("nan")


def test_precedence_keeps_the_first_raised_flag():
    f = pd.DataFrame([
        {"error": None, "blur_flag": 1.0, "replacement_flag": 1.0, "noop_flag": 0.0},  # replacement beats blur
        {"error": None, "blur_flag": 1.0, "replacement_flag": 0.0, "noop_flag": 1.0},  # the blank: noop
        {"error": None, "blur_flag": 1.0, "replacement_flag": NAN, "noop_flag": 0.0},  # NaN = not judged
        {"error": None, "blur_flag": 0.0, "replacement_flag": 0.0, "noop_flag": 0.0},
        {"error": "boom", "blur_flag": NAN, "replacement_flag": NAN, "noop_flag": NAN},
        {"error": None, "blur_flag": 0.0, "replacement_features_flag": 1.0, "resized_flag": 1.0},
        {"error": None, "blur_mosaic_flag": 1.0, "blur_flag": 0.0},  # a sub-flag is no verdict of its own
        # replacement_flag already is the reference flag where truth exists: the reference-free one is no verdict
        {"error": None, "replacement_flag": 0.0, "replacement_free_flag": 1.0, "replacement_ref_flag": 0.0},
        # a fill the block-grid test recognises as a mosaic is blur, even when its block edges look new
        {"error": None, "replacement_flag": 1.0, "blur_flag": 1.0, "blur_mosaic_flag": 1.0},
        # an object left in place also reads as foreign and as smoother than its backdrop: it is incomplete
        {"error": None, "replacement_flag": 1.0, "blur_flag": 1.0, "incomplete_flag": 1.0},
    ])
    assert list(verdicts(f)) == ["replacement", "noop", "blur", "ok", "error", "resized", "ok", "ok", "blur",
                                 "incomplete"]
    assert PRECEDENCE[0] == "error" and VERDICTS[-1] == "ok"
    # every ordered pair: when both flags are raised, the earlier verdict wins
    for i, a in enumerate(PRECEDENCE[1:], 1):
        for b in PRECEDENCE[i + 1:]:
            row = {f"{a}_flag": 1.0, f"{b}_flag": 1.0, "error": None}
            assert verdicts(pd.DataFrame([row]))[0] == a


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("verdict") / "run", n=10, errors={"mean-fill": 2})


def test_each_sample_has_exactly_one_verdict_in_the_export(run, tmp_path):
    from bench.cli.report import main

    out = tmp_path / "samples.csv"
    assert main(["export", str(run), "--per-sample", str(out)]) == 0
    df = pd.read_csv(out)
    assert "failure" in df and df["failure"].notna().all() and set(df["failure"]) <= set(VERDICTS)
    assert (df.loc[df["error"].notna(), "failure"] == "error").all()
    flagged = df[df["error"].isna() & (df["blur_flag"] == 1) & (df.get("replacement_flag", 0) != 1)
                 & (df.get("noop_flag", 0) != 1)]
    assert (flagged["failure"] == "blur").all()
    assert len(per_sample(run)) == len(df)


def test_shares_add_up_to_one_and_reach_the_leaderboard(run, tmp_path):
    df = summarize(run, ci=False)
    keys = df.attrs["verdict_keys"]
    assert "failure_ok" in keys and all(k.startswith("failure_") for k in keys)
    share_cols = [c for c in df.columns if c.startswith("failure_")]
    np.testing.assert_allclose(df[share_cols].sum(axis=1), 1.0)
    mf = df[df["backend"] == "mean-fill"].iloc[0]
    assert math.isclose(mf["failure_error"], 2 / 10)  # errors are a verdict too
    frame = load_run(run).frame()
    cell = frame[frame["cell_key"] == frame["cell_key"].iloc[0]]
    row = df[(df["backend"] == cell["backend"].iloc[0]) & (df["dataset"] == cell["dataset"].iloc[0])
             & (df["mask"] == cell["mask"].iloc[0])].iloc[0]
    for v, share in cell["failure"].value_counts(normalize=True).items():
        assert math.isclose(row[f"failure_{v}"], share)
    from bench.cli.report import main

    assert main(["report", str(run), "--format", "md", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "leaderboard.md").read_text()
    assert "failure\\_ok ↑" in md and "they add up to 1" in md


def test_a_run_without_detectors_shows_no_verdict_shares(tmp_path):
    # Nothing judged the outputs: a share of `ok` would rank the untouched baseline as flawless.
    from tests.test_report_paired import make_run as make_plain_run

    run = make_plain_run(tmp_path)
    df = summarize(run, ci=False)
    assert df.attrs["verdict_keys"] == [] and not [c for c in df.columns if c.startswith("failure_")]
    assert set(load_run(run).frame()["failure"]) == {"ok"}  # the per-sample column is still there
    from bench.report.html import render_html

    page = render_html(run, ci=False)
    assert "No failure detector ran in this run" in page and '<h4 class="verdict"' not in page
    # with one detector, its verdict and `ok` come back
    with_det = make_run(tmp_path / "det", n=4)
    assert "failure_ok" in summarize(with_det, ci=False).attrs["verdict_keys"]
    assert '<h4 class="verdict" data-verdict="ok"' in render_html(with_det, ci=False)


# -- paste_back: the verdict judges the delivered image --------------------------------------------------------------
class _RedrawsEverything:
    """A Telea fill whose raw output also darkens every pixel outside the hole (a VAE round trip, exaggerated)."""

    def __new__(cls, **kw):
        from bench.backends.classical import TeleaBackend

        class Drift(TeleaBackend):
            def inpaint(self, image, mask, generator):
                out = super().inpaint(image, mask, generator)
                return (out * 0.8).where(~mask, out)

        return Drift(**kw)


def test_with_paste_back_outside_drift_and_resized_stay_flags_but_are_no_verdict():
    f = pd.DataFrame([{"error": None, "outside_drift_flag": 1.0, "blur_flag": 0.0},
                      {"error": None, "outside_drift_flag": 1.0, "blur_flag": 1.0},
                      {"error": None, "outside_drift_flag": 1.0, "resized_flag": 1.0, "blur_flag": 0.0}])
    assert list(verdicts(f)) == ["outside_drift", "outside_drift", "resized"]
    assert list(verdicts(f, paste_back=True)) == ["ok", "blur", "ok"]  # the frame's size is the input's again
    from bench.detectors.verdict import present

    only = f[["error", "outside_drift_flag"]]
    assert "outside_drift" in present(only) and "outside_drift" not in present(only, paste_back=True)
    size = f[["error", "resized_flag"]]
    assert "resized" in present(size) and "resized" not in present(size, paste_back=True)


@pytest.mark.parametrize("paste_back", [False, True])
def test_a_run_gives_outside_drift_as_verdict_only_without_paste_back(tmp_path, paste_back):
    import yaml

    from bench.cli import main as cli
    from bench.store.run import load_run

    suite = {"name": "drift", "output_dir": str(tmp_path / "results"), "resolution": 48, "paste_back": paste_back,
             "backends": [{"type": "python", "target": "tests.test_verdict:_RedrawsEverything", "name": "drift"}],
             "datasets": [{"type": "synthetic", "n": 3}], "masks": ["box"],
             "metrics": ["psnr"], "detectors": ["outside_drift", "noop"]}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(suite))
    assert cli(["run", str(p), "--no-progress", "--no-report"]) == 0
    rd = load_run(tmp_path / "results" / "drift")
    f = rd.frame()
    assert rd.paste_back is paste_back
    assert (f["outside_drift_flag"] == 1.0).all()  # the raw output redrew the frame either way
    assert set(f["failure"]) == ({"ok"} if paste_back else {"outside_drift"})
