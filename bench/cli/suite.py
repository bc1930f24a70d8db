"""``bench validate`` and ``bench ls``: a suite file checked without running it, and the registered plug-ins."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_validate(args: argparse.Namespace) -> int:
    """Parse the suite, then what a run would find first, without running or loading a model: every dataset listed
    (a missing column, an unknown split, a folder without masks), every backend's weights
    (:meth:`bench.backends.base.Backend.check_weights`) and every metric's and detector's weights files (looked up,
    never downloaded). Exit 2 when anything would stop a run or skip its cells."""
    from ..config import load_suite
    from ..keys import expand_cells

    suite = load_suite(args.suite)  # (a suite that fails here fails fast: nothing heavy imported yet)
    cells = expand_cells(suite)
    import torch

    from .. import weights as W
    from ..errors import CAUGHT, ConfigError, describe
    from ..runner.plan import dataset_ids
    from ..runner.provenance import resolve_device
    from ..runner.run import backend_weights, scorer_weights_missing
    from ..types import RunContext

    problems: list[str] = []
    notes: list[str] = []
    sizes = []
    ids: dict[str, list[str] | None] = {}
    for spec in suite.datasets:
        try:
            ds = spec.create()
            ds.bind(resolution=suite.resolution, seed=suite.seed)
            ids[spec.label] = dataset_ids(spec.label, ds, suite.limit)
            sizes.append(f"{spec.label} {len(ids[spec.label])}")
        except CAUGHT as e:
            ids[spec.label] = None
            problems.append(f"{spec.path} ({spec.label}): cannot list its samples: {describe(e)}")
    ctx = RunContext(device=torch.device("cpu"), seed=suite.seed, weights=suite.weights,
                     weights_dir=suite.path("weights_dir"),
                     extra={"resolution": suite.resolution})
    run_dir = suite.path("output_dir") / (args.run_id or suite.name)
    done = generated_backends(run_dir, cells, ids)
    label = {f"{b.path} ({b.label})": b.label for b in suite.backends}
    for where, (missing, msg) in backend_weights(suite.backends, ctx).items():
        if missing and label[where] in done:  # a run asks only backends with samples to generate
            b = label[where]
            notes.append(f"{where}: weights not here, but all {done[b]} of its outputs are stored in "
                         f"{run_dir}: a run scores them without loading it")
        else:
            problems.append(f"{where}: {msg}")
    for spec, kind, f, why in scorer_weights_missing(suite, ctx, download=False):
        where = f"{spec.path} ({spec.label})"
        if kind == "package":
            (notes if spec.optional else problems).append(
                f"{where}: {why}" + ("; optional: a run leaves it out" if spec.optional else ""))
        elif kind == "file" and not W.offline():
            notes.append(f"{where}: {f} not here; a run downloads it first"
                         + (" (left out if that fails: optional)" if spec.optional else ""))
        elif spec.optional:
            notes.append(f"{where}: " + (f"{f} not here; offline and optional" if kind == "file"
                                         else "weights not here; optional") + ": a run leaves it out")
        else:
            problems.append(f"{where}: {why}")
    try:
        resolve_device(suite.device)
    except ConfigError as e:  # (validated on a login node for a GPU machine: a note, not a problem)
        notes.append(f"{e}: a run on this machine would stop there")
    for line in notes:
        print(f"note: {line}")
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"{args.suite}: {len(problems)} problem(s) a run would meet (above)", file=sys.stderr)
        return 2
    print(f"{args.suite}: OK — {len(suite.backends)} backend(s) × {len(suite.datasets)} dataset(s) × "
          f"{len(suite.masks)} mask strategy(ies) = {len(cells)} cells; samples per dataset: {', '.join(sizes)}; "
          f"config hash {suite.config_hash()[:12]}")
    return 0


def generated_backends(run_dir: Path, cells: list, ids: dict[str, list[str] | None]) -> dict[str, int]:
    """{backend label: number of outputs} of the backends whose every sample of every cell has a stored output in
    ``run_dir``'s store (read only; none when there is no store or a dataset cannot be listed)."""
    from ..store import stored_outputs

    stored = stored_outputs(run_dir / "records.sqlite")  # ({} without a store: then no backend is complete)
    out: dict[str, int] = {}
    complete: dict[str, bool] = {}
    for c in cells:
        want = ids.get(c.dataset.label)
        ok = want is not None and set(want) <= stored.get(c.key, set())
        complete[c.backend.label] = complete.get(c.backend.label, True) and ok
        out[c.backend.label] = out.get(c.backend.label, 0) + (len(want) if want else 0)
    return {b: n for b, n in out.items() if complete[b]}


def cmd_ls(args: argparse.Namespace) -> int:
    """The registered plug-ins, one line each; ``bench ls KIND NAME``: one plug-in's description and parameters."""
    from ..registry import REGISTRIES

    if getattr(args, "name", None):
        if not args.kind:
            print("bench ls: give the kind before the name (bench ls backends lama)", file=sys.stderr)
            return 2
        print(REGISTRIES[args.kind].describe(args.name))
        return 0
    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        reg = REGISTRIES[kind]
        print(f"{kind}:")
        for name in reg.names():
            print(f"  {name:<22} {reg.doc(name)}")
    if kinds:
        print("`bench ls KIND NAME` shows one plug-in's description and its YAML parameters")
    return 0
