"""The shipped weight-free detectors on REAL model outputs: the labelled corpus of datasets/real_corpus (published
outputs of MI-GAN, DeepFill v2, HD-Painter, ProFill, LaMa, CoModGAN, CM-GAN, Stable Diffusion, LDMs, CR-Fill,
OmniEraser, BrushEdit, MAT and FcF).

    python datasets/prepare.py real-corpus --mirror-dir /work/.mirror --out /tmp/real-corpus
    python benchmarks/detectors_real.py --corpus /tmp/real-corpus [--max-side 512]
    python benchmarks/detectors_real.py --corpus /tmp/real-corpus --max-side 8192 --name detectors_real_native

Each output is scored as a user's ``bench run`` would score it (a ``folder`` dataset per corpus folder, an
``outputs`` backend per model, ``paste_back: true``; ``tests/test_detectors_real_script.py`` checks that every score
and verdict equals what ``bench run`` stores for such a suite): the input and mask are loaded by the ``folder``
dataset, the output is pasted back outside the hole, and every weight-free detector runs with the shipped thresholds
(``bench/data/thresholds.json``); the verdict is :func:`bench.detectors.verdict.verdicts` with ``paste_back``.
Object holes (and holes over what only a masked input shows) are ``task: removal`` without a clean background:
``replacement`` is reference-free and ``incomplete`` compares the fill with the input under the hole. Free-form
holes over the original photo (MI-GAN's Places2 and FFHQ sets) are ``task: reconstruction``: the photo is the
truth, as for any reconstruction set (``incomplete`` does not judge; ``blur`` and ``replacement`` have their
reference scores). Images longer than ``--max-side`` are downscaled first (area; masks nearest), as ``resize``
would not (it centre-crops).

Printed and written to ``benchmarks/results/detectors_real.json`` (``--name``: another file): precision and
recall of ``blur`` and ``replacement`` (95 % bootstrap intervals over outputs), verdict accuracy (the verdict
equals the label; ``other`` counts as right when the verdict is any failure), also for the "fill" verdict without
``outside_drift`` and ``incomplete`` (see ``FRAME_ONLY``), per split, per source and per model. Labels ``ambiguous`` are
left out. Nothing here is fitted: the thresholds are the shipped ones (the real-output heads and their
thresholds were fitted on the dev split by ``detectors_real_fit.py``).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: detectors left out of the "fill" verdict: outside_drift reads the raw output outside the hole (published figures
#: are re-encoded, often JPEG, and some models do not paste back: real, but not a fill failure), incomplete compares
#: the fill with the input under the hole (the photo itself in the free-form reconstruction sets, magenta or a tint
#: where only a masked input is published)
FRAME_ONLY = ("outside_drift", "incomplete")


def load_rows(corpus: Path) -> list[dict]:
    path = corpus / "corpus.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no corpus here; build it with datasets/prepare.py real-corpus")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
    from real_corpus import read_labels  # the committed labels decide, whatever the built folder's copy says

    labels = read_labels()
    with open(path, newline="") as f:
        rows = [r | {"label": labels[r["output_id"]]["label"], "split": labels[r["output_id"]]["split"]}
                for r in csv.DictReader(f) if r["output_id"] in labels]
    rows = [r for r in rows if r["label"] and r["label"] != "ambiguous"]
    if not rows:
        raise SystemExit(f"{path}: no labelled rows")
    return rows


def _shrink(t, max_side: int, mode: str):
    import torch.nn.functional as F

    h, w = t.shape[-2:]
    s = max_side / max(h, w)
    if s >= 1:
        return t
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if mode == "nearest":
        return F.interpolate(t[None].float(), size=size, mode="nearest")[0] > 0.5
    return F.interpolate(t[None], size=size, mode="area")[0]


def score(corpus: Path, rows: list[dict], max_side: int, extra: dict | None = None, params: dict | None = None,
          raw_transform=None) -> list[dict]:
    """Every detector's score and flag, and the verdict, for each labelled output (``extra``: more detectors by
    name, run on the same batches; their columns take no part in the verdict; ``params``: keyword arguments of the
    shipped detectors by name; ``raw_transform``: applied to each output as read, at its own size, before anything
    else: what a pipeline does to the whole frame)."""
    import pandas as pd
    import torch

    from bench.datasets.folder import FolderDataset
    from bench.detectors import WEIGHT_FREE
    from bench.io import read_image
    from bench.registry import DETECTORS
    from bench.types import EvalBatch

    dets = {n: DETECTORS.get(n)(**(params or {}).get(n, {})) for n in WEIGHT_FREE} | dict(extra or {})
    datasets: dict[str, FolderDataset] = {}
    out = []
    for r in rows:
        folder, task = r.get("dataset") or r["source"], r.get("task") or "removal"
        ds = datasets.setdefault(folder, FolderDataset(str(corpus / folder), task=task))
        s = ds.load(r["sample_id"])
        img, mask = _shrink(s.image, max_side, "area"), _shrink(s.mask, max_side, "nearest")
        raw = read_image(corpus / r["output_folder"] / folder / f"{r['sample_id']}.png")
        raw = _shrink(raw if raw_transform is None else raw_transform(raw), max_side, "area")
        q = lambda t: torch.round(t.clamp(0, 1) * 255) / 255  # noqa: E731  (8-bit, as the store keeps them)
        img, raw = q(img), q(raw)
        pasted = torch.where(mask, raw, img)
        recon = task == "reconstruction"  # the input is the truth (the runner's rule for such a dataset)
        hw = tuple(img.shape[-2:])
        b = EvalBatch(sample_ids=[r["output_id"]], output=pasted[None], raw=raw[None], input=img[None],
                      blanked=torch.where(mask, torch.full_like(img, 128 / 255), img)[None], mask=mask[None],
                      gt=(img if recon else torch.zeros_like(img))[None],
                      has_gt=torch.full((1,), recon, dtype=torch.bool), raw_sizes=[hw],
                      model_sizes=[hw], input_sizes=[hw], nonfinite=torch.zeros(1))
        vals: dict = {"hole": float(mask.float().mean())}
        for d in dets.values():
            for k, v in d.detect(b).items():
                vals[k] = float(np.asarray(v, dtype=np.float64)[0])
        out.append({**r, **vals})
    frame = pd.DataFrame(out)
    from bench.detectors.blur import BlurDetector

    frame["blur_grain"] = BlurDetector.grain_deficit(frame, (len(frame),))  # the deficit blur's flag reads
    judge(frame)
    return frame.to_dict("records")


def judge(frame) -> None:
    """Set ``verdict`` (scored as ``paste_back: true``, as :func:`score` scores) and ``verdict_fill`` (without the
    :data:`FRAME_ONLY` detectors) from the flag columns of ``frame``, in place."""
    from bench.detectors.verdict import verdicts

    frame["verdict"] = verdicts(frame, paste_back=True).to_numpy()
    fill = frame.drop(columns=[c for c in frame if c.startswith(FRAME_ONLY)])
    frame["verdict_fill"] = verdicts(fill).to_numpy()


def rejudge(frame, detectors: dict):
    """``frame`` (corpus records) with the flags of ``blur``, ``replacement`` and ``incomplete`` set from its stored
    scores with the thresholds of ``detectors`` (a thresholds file's ``detectors`` section), as a run read back sets
    them (:func:`bench.detectors.flagging.set_flags`), and the verdicts judged again; a new frame."""
    from bench.detectors.flagging import set_flags

    frame = frame.copy()
    specs = [{"type": d, "thresholds": "none", **{k: v for k, v in detectors[d].items() if k.endswith("threshold")}}
             for d in ("blur", "replacement", "incomplete")]
    failed = {k: v["error"] for k, v in set_flags(frame, specs).items() if "error" in v}
    if failed:
        raise RuntimeError(f"flag rules not applied: {failed}")
    judge(frame)
    return frame


def _boot(y: np.ndarray, f: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict:
    from bench.stats import pr

    p, rcl, _ = pr(y, f) if y.any() or f.any() else (float("nan"), float("nan"), 0.0)
    rng = np.random.default_rng(seed)
    ps, rs = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if f[i].any():
            ps.append(pr(y[i], f[i])[0])
        if y[i].any():
            rs.append(pr(y[i], f[i])[1])

    def ci(v):
        return [round(float(np.quantile(v, 0.025)), 3), round(float(np.quantile(v, 0.975)), 3)] if v else None

    return {"pos": int(y.sum()), "flagged": int(f.sum()), "tp": int((y & f).sum()),
            "precision": None if not f.any() else round(p, 3), "precision_ci": ci(ps),
            "recall": None if not y.any() else round(rcl, 3), "recall_ci": ci(rs)}


def right(label: str, verdict: str) -> bool:
    return verdict == label or (label == "other" and verdict not in ("ok", "error"))


def summarise(recs: list[dict]) -> dict:
    lab = np.asarray([r["label"] for r in recs])
    ver = np.asarray([r["verdict"] for r in recs])
    res: dict = {"n": len(recs), "labels": {str(k): int((lab == k).sum()) for k in sorted(set(lab))}}
    for det in ("blur", "replacement"):
        f = np.nan_to_num(np.asarray([r[f"{det}_flag"] for r in recs], dtype=float)) > 0.5
        res[det] = _boot(lab == det, f)
    for key, col in (("verdict", "verdict"), ("verdict_fill", "verdict_fill")):
        ver = np.asarray([r[col] for r in recs])
        ok = np.asarray([right(a, b) for a, b in zip(lab, ver)])
        rng = np.random.default_rng(1)
        boots = [ok[rng.integers(0, len(ok), len(ok))].mean() for _ in range(2000)]
        res[f"{key}_accuracy"] = round(float(ok.mean()), 3)
        res[f"{key}_accuracy_ci"] = [round(float(np.quantile(boots, 0.025)), 3),
                                     round(float(np.quantile(boots, 0.975)), 3)]
        res[f"{key}_confusion"] = {f"{a}->{b}": int(((lab == a) & (ver == b)).sum()) for a in sorted(set(lab))
                                   for b in sorted(set(ver)) if ((lab == a) & (ver == b)).any()}
    return res


#: the per-sample scores whose separation of each failure label from ``ok`` is printed per split (AUROC: how well
#: the score ranks, whatever the threshold): (label, column, only where the score exists)
AUROC_SCORES = (("replacement", "replacement_score", False), ("replacement", "replacement_ref_score", True),
                ("replacement", "replacement_real_score", False), ("blur", "blur_score", False),
                ("blur", "blur_grain", False), ("blur", "blur_fade_score", False))


def aurocs(recs: list[dict], scores: tuple = AUROC_SCORES) -> dict:
    """AUROC of each of ``scores`` (default :data:`AUROC_SCORES`) for its label against ``ok``, by column (NaN ranks
    as least suspicious, except for a score read only where it exists: ``replacement_ref_score``, present with
    ground truth), with the counts."""
    from bench.stats import auroc

    out = {}
    for label, col, present in scores:
        sub = [r for r in recs if r["label"] in (label, "ok") and not (present and np.isnan(r.get(col, np.nan)))]
        y = np.asarray([r["label"] == label for r in sub], dtype=bool)
        if not y.any() or y.all():
            continue
        v = auroc(y, np.asarray([r.get(col, np.nan) for r in sub], dtype=float))
        out[col] = {"auroc": round(v, 3), "pos": int(y.sum()), "ok": int((~y).sum())}
    return out


#: the design split: everything else was never used to design or fit a detector (test was looked at several times,
#: each fresh split once: docs/detectors.md)
DESIGN_SPLIT = "dev"


def held_out(recs: list[dict]) -> dict | None:
    """:func:`summarise` (with :func:`aurocs`) of every output outside :data:`DESIGN_SPLIT`, pooled: the one estimate
    of how the detectors do on systems they were not shaped on (None when there is none)."""
    sub = [r for r in recs if r["split"] != DESIGN_SPLIT]
    if not sub:
        return None
    return summarise(sub) | {"splits": sorted({r["split"] for r in sub}), "aurocs": aurocs(sub)}


def corpus_parser(doc: str) -> argparse.ArgumentParser:
    """The command line of a script that scores the corpus: ``--corpus DIR`` and ``--max-side N`` (``doc``: the
    script's docstring, whose first line describes it); a script adds its own options."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="the folder datasets/prepare.py real-corpus wrote")
    ap.add_argument("--max-side", type=int, default=512, help="downscale longer images to this size first (area)")
    return ap


def corpus_args(doc: str) -> argparse.Namespace:
    """:func:`corpus_parser`'s options, parsed (a script with no options of its own)."""
    return corpus_parser(doc).parse_args()


def main() -> int:
    ap = corpus_parser(__doc__)
    ap.add_argument("--name", default="detectors_real",
                    help="results file name (default detectors_real; another keeps the committed file, e.g. for a "
                         "run at another --max-side)")
    args = ap.parse_args()
    from _common import Printer, save

    from bench.detectors.thresholds import load_thresholds

    print = Printer()  # noqa: A001
    th = load_thresholds()
    rows = load_rows(args.corpus)
    t0 = time.perf_counter()
    recs = score(args.corpus, rows, args.max_side)
    print(f"weight-free detectors on {len(recs)} labelled real outputs (ambiguous left out), thresholds "
          f"v{th['version']} ({th['sha256'][:12]}), max side {args.max_side} px, {time.perf_counter() - t0:.0f} s")
    res: dict = {"thresholds_version": th["version"], "thresholds_sha256": th["sha256"], "max_side": args.max_side,
                 "splits": {}, "by_source": {}, "by_model": {}, "outputs": []}

    def line(name: str, s: dict) -> str:
        def pr(d):
            p = "-" if d["precision"] is None else f"{d['precision']:.2f}"
            r = "-" if d["recall"] is None else f"{d['recall']:.2f}"
            return f"P {p} R {r} ({d['tp']}/{d['pos']}, {d['flagged']} flagged)"

        return (f"  {name:44s} n {s['n']:3d}  blur {pr(s['blur'])}  replacement {pr(s['replacement'])}  "
                f"verdict acc {s['verdict_accuracy']:.2f} {s['verdict_accuracy_ci']}, fill verdict "
                f"{s['verdict_fill_accuracy']:.2f} {s['verdict_fill_accuracy_ci']}")

    from real_corpus import SPLITS  # (on the path since load_rows)

    for split in [sp for sp in SPLITS if any(r["split"] == sp for r in recs)]:
        sub = [r for r in recs if r["split"] == split]
        s = res["splits"][split] = summarise(sub)
        print(f"{split}: labels {s['labels']}")
        print(line("all", s))
        print(f"    blur precision CI {s['blur']['precision_ci']} recall CI {s['blur']['recall_ci']}; replacement "
              f"precision CI {s['replacement']['precision_ci']} recall CI {s['replacement']['recall_ci']}")
        print(f"    label->verdict {s['verdict_confusion']}")
        print(f"    label->fill verdict {s['verdict_fill_confusion']}")
        s["aurocs"] = aurocs(sub)
        if s["aurocs"]:
            print("    AUROC against ok: " + ", ".join(f"{k} {v['auroc']:.2f} ({v['pos']}/{v['ok']})"
                                                    for k, v in s["aurocs"].items()))
        for src in sorted({r["source"] for r in sub}):
            res["by_source"][src] = summarise([r for r in sub if r["source"] == src]) | {"split": split}
            print(line(f"source {src}", res["by_source"][src]))
        for m in sorted({r["model"] for r in sub}):
            res["by_model"][m] = summarise([r for r in sub if r["model"] == m]) | {"split": split}
            print(line(f"model {m}", res["by_model"][m]))
    pooled = held_out(recs)
    if pooled:
        res["held_out"] = pooled
        print(f"all but {DESIGN_SPLIT} (pooled: {', '.join(pooled['splits'])}): labels {pooled['labels']}")
        print(line("all", pooled))
        print(f"    label->verdict {pooled['verdict_confusion']}")
    for r in recs:
        res["outputs"].append({k: (round(r[k], 4) if isinstance(r[k], float) else r[k]) for k in
                               ("output_id", "source", "model", "split", "label", "verdict", "verdict_fill", "hole",
                                "blur_score", "blur_flag", "replacement_score", "replacement_flag", "blur_grain",
                                "blur_fade_score", "replacement_ref_score", "replacement_real_score")})
    path = save(args.name, res, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
