"""The ``bench`` command line: run | validate | ls | report | export | compare | calibrate."""
from __future__ import annotations

import argparse
import importlib
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


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_suite
    from .runner import Runner

    suite = load_suite(args.suite)
    console = _console()
    runner = Runner(suite, run_id=args.run_id, limit=args.limit, device=args.device, fresh=args.fresh,
                    console=console, progress=not args.no_progress)
    console.print(f"[bold]inpaint-bench[/bold] suite [cyan]{suite.name}[/cyan] -> {runner.run_dir} "
                  f"(device {runner.device}, {len(suite.backends)}×{len(suite.datasets)}×{len(suite.masks)} cells)")
    run_dir = runner.run()
    if not args.no_report:
        try:
            from .report.cli import render_run
        except ImportError:
            console.print(f"results in {run_dir} (reporting is not installed)")
        else:
            render_run(run_dir, console=console)
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


def build_parser() -> argparse.ArgumentParser:
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
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a suite file without running it")
    v.add_argument("suite")
    v.set_defaults(func=cmd_validate)

    ls = sub.add_parser("ls", help="list the registered backends, datasets, masks, metrics, detectors")
    ls.add_argument("kind", nargs="?", choices=["backends", "datasets", "masks", "metrics", "detectors"])
    ls.set_defaults(func=cmd_ls)

    for name, (mod, conf, run, help_) in EXTERNAL.items():
        sp = sub.add_parser(name, help=help_)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished samples are saved; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
