"""The ``bench`` command line: run | merge | validate | ls | report | export | compare | calibrate."""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any, Callable

from .errors import BenchError

# Subcommands that live in other rooms: name -> ("module", "configure function", "run function", help)
EXTERNAL = {
    "report": ("bench.report.cli", "configure_report", "run_report", "render a run's leaderboards"),
    "export": ("bench.report.cli", "configure_export", "run_export", "export per-sample records (CSV)"),
    "compare": ("bench.report.cli", "configure_compare", "run_compare",
                "compare two runs (CI regression gate: exit 1 on regression)"),
    "calibrate": ("bench.calibration.calibrate", "configure", "run",
                  "calibrate failure-detector thresholds (labelled synthetic/photo set, or --labels of a run)"),
    "study": ("bench.study.cli", "configure", "run",
              "blind pairwise user study of a run: the page, or `study score RUN judgements*.csv`"),
    "weights": ("bench.weights", "configure", "run",
                "list, fetch (for offline clusters) and verify the metric networks' weights files"),
}


BUILTIN = ("run", "score", "merge", "validate", "ls")


def escape(text: object) -> str:
    """Text safe to print through rich (``[...]`` in a path or message is not markup)."""
    from .sinks import term

    return term(text)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


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
    from .config import load_suite
    from .runner import Runner
    from .runner.dist import Heartbeat, clear_done, distributed, mark_done, shard_dir, wait_for_shards
    from .runner.merge import merge_runs

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
                      f"{escape(str(runner.run_dir))} (device {runner.device}{what}, {len(suite.backends)}×"
                      f"{len(suite.datasets)}×{len(suite.masks)} cells)")
    if dist_info is not None:
        here = shard_dir(runner.run_dir, *shard)
        clear_done(here)
        try:
            with Heartbeat(here):
                run_dir = runner.run()
        except BaseException as e:
            mark_done(here, False, f"{type(e).__name__}: {e}")
            raise
        mark_done(here, True)
        if not lead:
            return 0
        missing = wait_for_shards(run_dir, shard[1], args.dist_timeout, started,
                                  log=lambda m: console.print(escape(m)))
        merge_runs([run_dir])
        if missing:
            raise BenchError(f"rank(s) {', '.join(map(str, missing))} did not finish; merged what the others "
                             f"stored. Run the same command again to compute the rest")
    else:
        run_dir = runner.run()
        if shard is not None:
            console.print(f"shard {shard[0]}/{shard[1]} done: its store is {escape(str(runner.store_dir))}; when "
                          f"every shard is done, run `bench merge {escape(str(run_dir))}`")
            return 0
    if not args.no_report:
        _render(run_dir, console)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a run's stored outputs again: only what is missing, or everything with ``--recompute``."""
    from pathlib import Path

    from .config import load_yaml, parse_suite
    from .runner import Runner
    from .store.manifest import read_manifest

    run_dir = Path(args.run)
    resolved = run_dir / "suite.resolved.yaml"
    if not resolved.is_file():
        if (run_dir / "shards").is_dir():
            raise BenchError(f"{run_dir}: merge its shards first (`bench merge {run_dir}`)")
        raise BenchError(f"{run_dir}: not a run folder (no suite.resolved.yaml)")
    data = load_yaml(resolved)
    if not isinstance(data, dict):
        raise BenchError(f"{resolved}: not a suite")
    for key, value in (("metrics", args.metrics), ("detectors", args.detectors)):
        if value is not None:
            data[key] = _plugin_list(value, f"--{key}")
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
    return 0


def _plugin_list(text: str, what: str) -> list:
    """``psnr,ssim`` or YAML flow (``[psnr, {type: lpips, net: vgg}]``); an empty string clears the list."""
    import yaml

    text = text.strip()
    if text.startswith("["):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise BenchError(f"{what}: not a YAML list ({e})") from None
        if not isinstance(value, list):
            raise BenchError(f"{what}: expected a list")
        return value
    return [x.strip() for x in text.split(",") if x.strip()]


def _render(run_dir, console) -> None:
    try:
        from .report.cli import render_run
    except ImportError:
        console.print(f"results in {escape(run_dir)} (reporting is not installed)")
    else:
        render_run(run_dir, console=console)


def cmd_merge(args: argparse.Namespace) -> int:
    from .runner.merge import merge_runs

    dest, counts = merge_runs(args.runs, into=args.into, force=args.force)
    console = _console()
    console.print(f"merged {counts['sources']} store(s) into {escape(str(dest / 'records.sqlite'))} "
                  f"({counts['records']} output rows, {counts['scores']} score rows, {counts['files']} files added)")
    if not args.no_report:
        _render(dest, console)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_suite

    suite = load_suite(args.suite)
    from .keys import expand_cells

    cells = expand_cells(suite)
    print(f"{args.suite}: OK — {len(suite.backends)} backend(s) × {len(suite.datasets)} dataset(s) × "
          f"{len(suite.masks)} mask strategy(ies) = {len(cells)} cells; config hash {suite.config_hash()[:12]}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from .registry import REGISTRIES

    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        reg = REGISTRIES[kind]
        print(f"{kind}:")
        for name in reg.names():
            print(f"  {name:<22} {reg.doc(name)}")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` given, only that subcommand's module is imported."""
    from . import __version__

    p = argparse.ArgumentParser(prog="bench", description="inpaint-bench: evaluate inpainting / erasure models.")
    p.add_argument("--version", action="version", version=f"inpaint-bench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="run a suite (resumes: finished samples are never recomputed)")
    r.add_argument("suite", help="suite YAML file")
    r.add_argument("--limit", type=_positive_int, default=None, help="at most N samples per dataset")
    r.add_argument("--device", default=None, help="override the suite's device (auto/cpu/cuda/cuda:N)")
    r.add_argument("--fresh", action="store_true", help="discard the run folder's records and start over")
    r.add_argument("--run-id", default=None, help="run folder name under output_dir (default: suite name)")
    r.add_argument("--no-report", action="store_true", help="do not print the leaderboard at the end")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--shard", default=None, metavar="I/N",
                   help="run the I-th of N deterministic shares of the (cell, sample) work into its own store "
                        "(Slurm job arrays); combine with `bench merge RUN_DIR`")
    r.add_argument("--dist-timeout", type=float, default=600.0, metavar="S",
                   help="torchrun: rank 0 gives up waiting for a rank silent for S seconds (default 600)")
    r.set_defaults(func=cmd_run)

    sc = sub.add_parser("score", help="score a run's stored outputs again (never runs a model)")
    sc.add_argument("run", help="run folder")
    sc.add_argument("--metrics", default=None, metavar="LIST",
                    help="replace the run's metrics: 'psnr,ssim,lpips' or YAML '[psnr, {type: lpips, net: vgg}]'")
    sc.add_argument("--detectors", default=None, metavar="LIST", help="replace the run's detectors (as --metrics)")
    sc.add_argument("--recompute", action="store_true",
                    help="drop the stored scores of these metrics and detectors and compute them again")
    sc.add_argument("--device", default=None, help="device for the metric networks (auto/cpu/cuda/cuda:N)")
    sc.add_argument("--no-report", action="store_true")
    sc.add_argument("--no-progress", action="store_true")
    sc.set_defaults(func=cmd_score)

    mg = sub.add_parser("merge", help="combine shard stores or several run folders into one")
    mg.add_argument("runs", nargs="+", help="run folders (their shards/ are included)")
    mg.add_argument("--into", default=None, help="destination run folder (default: the first one)")
    mg.add_argument("--force", action="store_true",
                    help="merge sources without a manifest or of different suites (recorded as non-comparable)")
    mg.add_argument("--no-report", action="store_true")
    mg.set_defaults(func=cmd_merge)

    v = sub.add_parser("validate", help="check a suite file without running it")
    v.add_argument("suite")
    v.set_defaults(func=cmd_validate)

    ls = sub.add_parser("ls", help="list the registered backends, datasets, masks, metrics, detectors")
    ls.add_argument("kind", nargs="?", choices=["backends", "datasets", "masks", "metrics", "detectors"])
    ls.set_defaults(func=cmd_ls)

    for name, (mod, conf, run, help_) in EXTERNAL.items():
        sp = sub.add_parser(name, help=help_, add_help=command == name)
        if command != name:
            # only the chosen subcommand's module is imported (start-up time: a resumed run is mostly imports)
            sp.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        try:
            module = importlib.import_module(mod)
            getattr(module, conf)(sp)
            sp.set_defaults(func=getattr(module, run))
        except (ImportError, AttributeError) as e:
            sp.set_defaults(func=_unavailable(name, e))
    return p


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _unavailable(name: str, err: Exception) -> Callable[[Any], int]:
    def f(_args: Any) -> int:
        print(f"bench {name}: not available in this installation ({err})", file=sys.stderr)
        return 2

    return f


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in EXTERNAL or command in BUILTIN else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, permissions, names the file system refuses: a message, not a traceback
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished samples are saved; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
