"""``bench run``, ``bench score`` and ``bench merge``: what makes and scores a run (the runner does the work)."""
from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import BenchError
from ._common import _console, escape


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise BenchError(f"--shard: expected i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise BenchError(f"--shard: expected 0 <= i < n, got {text!r}")
    return i, n


def cmd_run(args: argparse.Namespace) -> int:
    from ..config import load_suite
    from ..runner import Runner
    from ..runner.dist import (Heartbeat, clear_done, distributed, mark_done, shard_dir, shards_incomplete,
                               wait_for_shards)
    from ..runner.merge import merge_runs

    started = time.time()
    suite = load_suite(args.suite)
    console = _console()
    shard = _parse_shard(args.shard)
    dist_info = distributed()
    device = args.device
    if dist_info is not None:
        if shard is not None:
            raise BenchError("--shard cannot be combined with a torchrun launch (each rank is a shard already)")
        rank, world, local = dist_info
        if (device or suite.device) in ("auto", "cuda"):
            import torch

            if torch.cuda.is_available():
                device = f"cuda:{local}"
        shard = (rank, world)
    lead = dist_info is None or dist_info[0] == 0
    runner = Runner(suite, run_id=args.run_id, limit=args.limit, device=device, fresh=args.fresh,
                    console=console, progress=not args.no_progress and lead, shard=shard)
    if lead:
        what = f", shard {shard[0]}/{shard[1]}" if shard else ""
        console.print(f"[bold]inpaint-bench[/bold] suite [cyan]{escape(suite.name)}[/cyan] -> "
                      f"{escape(str(runner.run_dir))} (device {runner.device}{what}, {_cells(suite)} cells)")
    if dist_info is not None:
        here = shard_dir(runner.run_dir, *shard)
        clear_done(here)
        try:
            with Heartbeat(here):
                run_dir = runner.run()
        except BaseException as e:
            mark_done(here, False, f"{type(e).__name__}: {e}")
            raise
        mark_done(here, True, incomplete=could_not_run(runner))
        if not lead:  # (a rank that exits non-zero makes torchrun stop the others: the lead reports for all)
            return 0
        missing = wait_for_shards(run_dir, shard[1], args.dist_timeout, started,
                                  log=lambda m: console.print(escape(m)))
        merge_runs([run_dir])
        others = shards_incomplete(run_dir, shard[1])
        if missing:
            raise BenchError(f"rank(s) {', '.join(map(str, missing))} did not finish; merged what the others "
                             f"stored. Run the same command again to compute the rest")
    else:
        others = []
        run_dir = runner.run()
        if shard is not None:
            console.print(f"shard {shard[0]}/{shard[1]} done: its store is {escape(str(runner.store_dir))}; when "
                          f"every shard is done, run `bench merge {escape(str(run_dir))}`")
            return _incomplete(runner, console)
    if not args.no_report:
        _render(run_dir, console)
    return _incomplete(runner, console, others)


#: ``bench run``'s exit status when it finished but some cells ran nothing (0: every cell ran; error rows of
#: single samples are results and do not change it; 2: stopped before any work; 130: interrupted)
INCOMPLETE = 3


def could_not_run(runner) -> list[str]:
    """What of a runner's work could not run: datasets that could not be listed, backends that could not be set
    up."""
    return [*(f"dataset {k}" for k in runner.dataset_errors), *(f"backend {k}" for k in runner.backend_errors)]


def _incomplete(runner, console, others: list[str] = ()) -> int:
    """0, or :data:`INCOMPLETE` with one line naming what could not run: a dataset that could not be listed, a
    backend that could not be set up, here or (``others``) on another rank of a torchrun launch. The run went on
    without them (its other cells are computed and stored), but a job script or CI step must not take the run for
    whole."""
    what = list(dict.fromkeys([*could_not_run(runner), *others]))
    if not what:
        return 0
    return _say_incomplete(console, f"{escape(', '.join(what))} could not run (the reasons are above and in the "
                                    f"report); the other cells are stored. Fix it and run the same command again: "
                                    f"finished samples are not recomputed")


def _say_incomplete(console, text: str) -> int:
    """The last line of a command that finished without some of its work, and :data:`INCOMPLETE`."""
    console.print(f"[bold red]incomplete:[/bold red] {text} (exit status {INCOMPLETE})", soft_wrap=True)
    return INCOMPLETE


def cmd_score(args: argparse.Namespace) -> int:
    """Score a run's stored outputs again: only what is missing, or everything with ``--recompute``."""
    from pathlib import Path

    from ..config import load_yaml, parse_suite
    from ..runner import Runner
    from ..store.manifest import read_manifest

    run_dir = Path(args.run)
    resolved = run_dir / "suite.resolved.yaml"
    if not resolved.is_file():
        if (run_dir / "shards").is_dir():
            raise BenchError(f"{run_dir}: merge its shards first (`bench merge {run_dir}`)")
        raise BenchError(f"{run_dir}: not a run folder (no suite.resolved.yaml)")
    data = load_yaml(resolved)
    if not isinstance(data, dict):
        raise BenchError(f"{resolved}: not a suite")
    for key in ("metrics", "detectors"):
        replace, add = getattr(args, key), getattr(args, f"add_{key}", None)
        if replace is not None and add is not None:
            raise BenchError(f"--{key} replaces the list and --add-{key} adds to it: give one of them")
        if replace is not None:
            data[key] = _plugin_list(replace, f"--{key}")
        elif add is not None:
            added, have = _plugin_list(add, f"--add-{key}"), {_label(x) for x in data.get(key) or []}
            for name in (_label(x) for x in added):
                if name is not None and name in have:
                    raise BenchError(f"--add-{key}: '{name}' is already one of the run's {key} (to add another "
                                     f"with other parameters, give it a name: '[{{type: ..., name: NAME, ...}}]')")
            data[key] = list(data.get(key) or []) + added
    data["output_dir"] = str(run_dir.parent)
    suite = parse_suite(data, source=resolved)
    try:
        limit = (read_manifest(run_dir) or {}).get("limit")
    except BenchError:
        limit = None
    console = _console()
    runner = Runner(suite, run_id=run_dir.name, limit=limit, device=args.device, console=console,
                    progress=not args.no_progress, score_only=True, recompute=args.recompute)
    runner.run()
    console.print(f"scored {runner.counts['scored']} sample(s) of {escape(str(run_dir))} (no backend was loaded)")
    if not args.no_report:
        _render(run_dir, console)
    missing = runner.manifest.get("shards_missing") or []
    if missing:  # a partial merge rescored is still partial
        return _say_incomplete(console, f"shard{'s' if len(missing) != 1 else ''} {', '.join(missing)} of this "
                                        f"run {'were' if len(missing) != 1 else 'was'} never merged (the reports "
                                        f"say so); run {'them' if len(missing) != 1 else 'it'} and `bench merge` "
                                        f"again")
    return _incomplete(runner, console)


def _label(entry: Any) -> Any:
    """The label a plug-in list entry gets (its name, else its type); None for an entry the suite check refuses."""
    return entry if isinstance(entry, str) else entry.get("name", entry.get("type")) if isinstance(entry, dict) \
        else None


def _plugin_list(text: str, what: str) -> list:
    """``psnr,ssim`` or YAML flow (``[psnr, {type: lpips, net: vgg}]``); an empty string clears the list."""
    import yaml

    from ..config.suite import parse_yaml
    from ..errors import ConfigError

    text = text.strip()
    if text.startswith("["):
        try:
            value = parse_yaml(text)
        except yaml.YAMLError as e:
            raise BenchError(f"{what}: not a YAML list ({e})") from None
        except ConfigError as e:
            raise BenchError(f"{what}: {e.message}") from None
        if not isinstance(value, list):
            raise BenchError(f"{what}: expected a list")
        return value
    return [x.strip() for x in text.split(",") if x.strip()]


def _render(run_dir, console) -> None:
    try:
        from ..report.leaderboard import render_run
    except ImportError:
        console.print(f"results in {escape(run_dir)} (reporting is not installed)")
    else:
        render_run(run_dir, console=console)


def cmd_merge(args: argparse.Namespace) -> int:
    from ..runner.merge import merge_runs

    dest, counts = merge_runs(args.runs, into=args.into, force=args.force)
    console = _console()
    console.print(f"merged {counts['sources']} store(s) into {escape(str(dest / 'records.sqlite'))} "
                  f"({counts['records']} output rows, {counts['scores']} score rows, {counts['files']} files added)")
    earlier = counts.get("earlier_suite") or []
    if earlier:
        console.print(f"note: {escape(', '.join(earlier))} ran an earlier version of this suite; their rows stay "
                      f"stored (reused where they match) but only the current suite's cells and scorers are "
                      f"reported", soft_wrap=True)
    if not args.no_report:
        _render(dest, console)
    missing = counts.get("shards_missing") or []
    if missing:
        from ..report.table import incomplete_text

        return _say_incomplete(console, f"{incomplete_text(missing)} yet (the run folder and its reports say so); "
                                        f"merge again when {'they have' if len(missing) != 1 else 'it has'} run")
    return 0


def _cells(suite) -> str:
    """``5×2×2``, or the count when some backend runs on some datasets only (``datasets:``)."""
    if all(b.only is None for b in suite.backends):
        return f"{len(suite.backends)}×{len(suite.datasets)}×{len(suite.masks)}"
    from ..keys import expand_cells

    return str(len(expand_cells(suite)))
