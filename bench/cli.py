"""The ``bench`` command line: run | merge | validate | ls | report | export | compare | calibrate."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, Callable

from .errors import BenchError

# Subcommands that live in other rooms: name -> ("module", "configure function", "run function", help)
EXTERNAL = {
    "report": ("bench.report.cli", "configure_report", "run_report", "render a run's leaderboards"),
    "export": ("bench.report.cli", "configure_export", "run_export", "export per-sample records (CSV)"),
    "compare": ("bench.report.cli", "configure_compare", "run_compare",
                "compare two runs (CI regression gate: exit 1 on regression)"),
    "calibrate": ("bench.detectors.calibrate", "configure", "run",
                  "calibrate failure-detector thresholds on a labelled synthetic set"),
}


BUILTIN = ("run", "merge", "validate", "ls")


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


def _distributed() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when launched by torchrun / accelerate with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    rank = int(os.environ.get("RANK", "0"))
    return rank, world, int(os.environ.get("LOCAL_RANK", str(rank)))


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_suite
    from .runner import Runner
    from .runner.merge import merge_runs

    suite = load_suite(args.suite)
    console = _console()
    shard = _parse_shard(args.shard)
    dist_info = _distributed()
    device = args.device
    if dist_info is not None:
        if shard is not None:
            raise BenchError("--shard cannot be combined with a torchrun launch (each rank is a shard already)")
        import datetime

        import torch
        import torch.distributed as dist

        rank, world, local = dist_info
        use_cuda = torch.cuda.is_available() and (device or suite.device) in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=72))
        shard = (rank, world)
    runner = Runner(suite, run_id=args.run_id, limit=args.limit, device=device, fresh=args.fresh,
                    console=console, progress=not args.no_progress and (dist_info is None or dist_info[0] == 0),
                    shard=shard)
    if dist_info is None or dist_info[0] == 0:
        what = f", shard {shard[0]}/{shard[1]}" if shard else ""
        console.print(f"[bold]inpaint-bench[/bold] suite [cyan]{suite.name}[/cyan] -> {runner.run_dir} "
                      f"(device {runner.device}{what}, {len(suite.backends)}×{len(suite.datasets)}×"
                      f"{len(suite.masks)} cells)")
    try:
        run_dir = runner.run()
    finally:
        if dist_info is not None:
            import torch.distributed as dist

            dist.barrier()  # every rank's store is complete before rank 0 merges
    if dist_info is not None:
        import torch.distributed as dist

        if dist_info[0] == 0:
            merge_runs([run_dir])
        dist.barrier()
        dist.destroy_process_group()
        if dist_info[0] != 0:
            return 0
    elif shard is not None:
        console.print(f"shard {shard[0]}/{shard[1]} done: its store is {runner.store_dir}; when every shard is done, "
                      f"run `bench merge {run_dir}`")
        return 0
    if not args.no_report:
        _render(run_dir, console)
    return 0


def _render(run_dir, console) -> None:
    try:
        from .report.cli import render_run
    except ImportError:
        console.print(f"results in {run_dir} (reporting is not installed)")
    else:
        render_run(run_dir, console=console)


def cmd_merge(args: argparse.Namespace) -> int:
    from .runner.merge import merge_runs

    dest, counts = merge_runs(args.runs, into=args.into)
    console = _console()
    console.print(f"merged {counts['sources']} store(s) into {dest / 'records.sqlite'} ({counts['records']} rows "
                  f"added)")
    if not args.no_report:
        _render(dest, console)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_suite
    from .runner import expand_cells

    suite = load_suite(args.suite)
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
    r.add_argument("--limit", type=int, default=None, help="at most N samples per dataset")
    r.add_argument("--device", default=None, help="override the suite's device (auto/cpu/cuda/cuda:N)")
    r.add_argument("--fresh", action="store_true", help="discard the run folder's records and start over")
    r.add_argument("--run-id", default=None, help="run folder name under output_dir (default: suite name)")
    r.add_argument("--no-report", action="store_true", help="do not print the leaderboard at the end")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--shard", default=None, metavar="I/N",
                   help="run the I-th of N deterministic shares of the (cell, sample) work into its own store "
                        "(Slurm job arrays); combine with `bench merge RUN_DIR`")
    r.set_defaults(func=cmd_run)

    mg = sub.add_parser("merge", help="combine shard stores or several run folders into one")
    mg.add_argument("runs", nargs="+", help="run folders (their shards/ are included)")
    mg.add_argument("--into", default=None, help="destination run folder (default: the first one)")
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
