"""One verdict per sample: which failure a sample shows, when several detectors flag it.

Detectors flag independently (a blank fill is ``noop``, ``blur`` and perhaps more), so a leaderboard of rates cannot
say what share of a model's outputs are fine, or what went wrong first. The verdict takes the flags in this order
and keeps the first that is raised:

    error > nan > black > noop > resized > outside_drift > incomplete > replacement > blur > unjudged > ok

* ``error``: the sample has no output (the backend, the data or a scorer failed: its error row);
* ``nan``, ``black``: the output is broken, nothing else about it means anything;
* ``noop``: the hole was left as the runner's blank (it is also blurry and perhaps foreign: those say nothing more);
* ``resized``, ``outside_drift``: the pipeline damaged the frame (the fill may still be fine, but the output is not);
  except that with ``paste_back`` (``verdicts(frame, paste_back=True)``, what :class:`bench.store.run.RunData`
  passes from the manifest) neither takes part: both are about the *raw* output's frame, while the delivered image
  is the input's frame, at the input's size, with the input's own pixels outside the hole, so nothing a person sees
  there was damaged, and the verdict judges the fill (the flags stay in the per-sample table and their rates in the
  leaderboards: the model did redraw or resize what it was given; a fill softened by the resize is ``blur``'s to
  judge, against the model's own rendering of its context, since blur v5);
* ``incomplete`` (part of the object is still there: the fill shows the input's own pixels where the object
  stood, with ground truth or without it) before ``replacement`` and ``blur``: a pixel-for-pixel match with the
  object is the most specific evidence a detector has, and an object left in place also reads as foreign to its
  surroundings (a colourful object on grass) or as smoother than them (a plain object on a rug), which says
  nothing more (until thresholds v21 it came last, from when it judged only with ground truth);
* ``replacement`` before ``blur``: a new object is the worse erasure failure, and a pasted object is often also
  less detailed than its context; except that a fill ``blur``'s block-grid test recognises as a mosaic
  (``blur_mosaic_flag``) is ``blur``: its block edges are strong gradients in colours the ring shows only smoothly,
  which ``replacement`` reads as new (and that test already leaves out fills busier than their context, so a pasted
  checkerboard stays a replacement); and so is a fill ``blur`` flags that still shows the removed object's layout
  (``incomplete_remnant_flag``: a quarter or more of the object's coarse contrast left in the fill): a ghost, the
  object smeared in place, whose colours ``replacement`` reads as new when they are the old object's (an object
  kept *as it was*, detail included, is ``incomplete``, which comes first);
* ``unjudged``: none of the flags above is raised, and no detector of the fill that ran (``incomplete``,
  ``replacement``, ``blur`` and the learned flags that vote for them) judged the sample: every one of their flags
  is NaN (a hole a few pixels across, a dot, a line one pixel wide). Such a sample is not known to be fine, so it
  is not ``ok`` (until this verdict it was, and a cell of tiny holes read as flawless). A sample one of them judged
  is ``ok`` when none flags it; a run with no fill detector (only ``noop``, ``black``, ...) never says
  ``unjudged``: its ``ok`` means "not broken", which is all it asked;
* ``ok``: none of the flags above is raised (a plug-in detector's flag does not vote: its rate is reported, but a
  sample only it flags is ``ok``; a run without any detector still gives each sample ``ok`` or ``error``
  in the per-sample export, but its leaderboards show no verdict shares: nothing was judged).

Only the detectors the run used take part (a run without ``blur`` never says ``blur``); the learned
``replacement_features`` flag counts as ``replacement``, and so do learned-evidence flags
(``evidence_replacement_flag``, ``evidence_blur_flag``: rules fitted from labels on learned columns such as
``rcs`` or ``remove``, :mod:`bench.detectors.flagging`) for their verdict. Sub-flags (``blur_mosaic``, ``blur_ref``,
``incomplete_remnant``) do not vote: they explain a flag, they are not one. A flag that is NaN (not judged: a hole
too small for ``blur``) is not raised.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

PRECEDENCE: tuple[str, ...] = ("error", "nan", "black", "noop", "resized", "outside_drift", "incomplete",
                               "replacement", "blur")
#: not a failure: no detector of the fill judged the sample (see the module doc)
UNJUDGED = "unjudged"
VERDICTS: tuple[str, ...] = PRECEDENCE + (UNJUDGED, "ok")
#: flag columns that vote for a verdict (several may vote for the same one)
FLAGS: dict[str, tuple[str, ...]] = {
    "nan": ("nan_flag",), "black": ("black_flag",), "noop": ("noop_flag",), "resized": ("resized_flag",),
    "outside_drift": ("outside_drift_flag",),
    "replacement": ("replacement_flag", "replacement_features_flag", "evidence_replacement_flag"),
    "blur": ("blur_flag", "evidence_blur_flag"), "incomplete": ("incomplete_flag",),
}
COLUMN = "failure"
#: the verdicts about the fill: a sample none of their flags judged (all NaN) is ``unjudged``, not ``ok``
FILL: tuple[str, ...] = ("incomplete", "replacement", "blur")


def share_key(verdict: str) -> str:
    """The summary column of a verdict's share: ``failure_ok``, ``failure_blur``..."""
    return f"{COLUMN}_{verdict}"


#: verdicts about the raw output's frame (its size, its pixels outside the hole), which a pasted-back output no
#: longer shows
RAW_ONLY: tuple[str, ...] = ("resized", "outside_drift")


def _precedence(paste_back: bool) -> tuple[str, ...]:
    """:data:`PRECEDENCE` without the :data:`RAW_ONLY` verdicts when the scored output is pasted back."""
    return tuple(v for v in PRECEDENCE if not (paste_back and v in RAW_ONLY))


def voting_flags(paste_back: bool = False) -> set[str]:
    """The flag columns that decide a sample's verdict (:data:`FLAGS` of the verdicts in force; with ``paste_back``
    not the :data:`RAW_ONLY` ones). Every other ``*_flag`` column is a part or a view of one of these
    (``blur_grain_flag``, ``replacement_free_flag``, ...) or, pasted back, about a frame the scores no longer show."""
    return {f for v in _precedence(paste_back) for f in FLAGS.get(v, ())}


def verdicts(frame: pd.DataFrame, paste_back: bool = False) -> pd.Series:
    """The verdict of every row of a per-sample frame (see the module doc); ``paste_back``: the scored output is the
    composite (input outside the hole), so :data:`RAW_ONLY` verdicts are not given."""
    n = len(frame)
    out = np.full(n, "ok", dtype=object)
    decided = np.zeros(n, dtype=bool)
    for v in _precedence(paste_back):
        if v == "error":
            hit = frame["error"].notna().to_numpy() if "error" in frame else np.zeros(n, bool)
        else:
            hit = np.zeros(n, dtype=bool)
            for col in FLAGS[v]:
                hit |= _raised(frame, col)
        if v == "replacement":  # a recognised mosaic, and a smear of the removed object, are blur (see above)
            hit &= ~(_raised(frame, "blur_mosaic_flag") | (_raised(frame, "incomplete_remnant_flag")
                                                         & _raised(frame, "blur_flag")))
        new = hit & ~decided
        out[new] = v
        decided |= hit
    fill_cols = [c for v in FILL for c in FLAGS[v] if c in frame]
    if fill_cols:  # judged by a detector of the fill: one of its flags is a number (0 or 1), not NaN
        judged = np.zeros(n, dtype=bool)
        for col in fill_cols:
            judged |= ~np.isnan(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float))
        out[~decided & ~judged] = UNJUDGED
    return pd.Series(out, index=frame.index, name=COLUMN)


def _raised(frame: pd.DataFrame, col: str) -> np.ndarray:
    """Rows where the flag column ``col`` is raised (absent or NaN: not raised)."""
    if col not in frame:
        return np.zeros(len(frame), dtype=bool)
    return np.nan_to_num(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float), nan=0.0) > 0.5


def present(frame: pd.DataFrame, paste_back: bool = False) -> list[str]:
    """The verdicts this frame can give: ``error`` and ``ok``, those whose detectors ran, and ``unjudged`` when a
    detector of the fill ran; none at all when no detector ran (every output would be ``ok`` without having been
    judged: a leaderboard share of 1.0 for the untouched ``identity`` baseline would say nothing true)."""
    ran = [v for v in _precedence(paste_back) if v != "error" and any(c in frame for c in FLAGS[v])]
    if not ran:
        return []
    if any(v in FILL for v in ran):
        ran.append(UNJUDGED)
    return [v for v in VERDICTS if v in ("error", "ok") or v in ran]


def shares(v: pd.Series, possible: Sequence[str]) -> dict[str, float]:
    """Share of each possible verdict among the rows (they add up to 1; NaN for no rows)."""
    n = len(v)
    counts = v.value_counts()
    return {share_key(k): (float(counts.get(k, 0)) / n if n else float("nan")) for k in possible}
