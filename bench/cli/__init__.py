"""The ``bench`` command line: the wiring only. Each command group is a module of this package: ``run`` (run,
score, merge), ``suite`` (validate, ls), ``report`` (report, export, compare), ``calibrate``, ``study``,
``weights``; the rooms below do the work, the CLI never computes."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Callable

from ..errors import BenchError

# One module of this package per command group, as lm-eval's _cli/: name -> ("module", "configure function",
# "run function", help). Only the chosen command's module is imported (a resumed run is mostly imports).
EXTERNAL = {
    "report": ("bench.cli.report", "configure_report", "run_report", "render a run's leaderboards"),
    "export": ("bench.cli.report", "configure_export", "run_export", "export per-sample records (CSV)"),
    "compare": ("bench.cli.report", "configure_compare", "run_compare",
                "compare two runs (CI regression gate: exit 1 on regression)"),
    "calibrate": ("bench.cli.calibrate", "configure", "run",
                  "calibrate failure-detector thresholds (labelled synthetic/photo set, or --labels of a run)"),
    "study": ("bench.cli.study", "configure", "run",
              "blind pairwise user study of a run: the page, or `study score RUN judgements*.csv`"),
    "weights": ("bench.cli.weights", "configure", "run",
                "list, fetch (for offline clusters) and verify the metric networks' weights files"),
}


BUILTIN = ("run", "score", "merge", "validate", "ls")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` given, only that subcommand's module is imported."""
    from .run import cmd_merge, cmd_run, cmd_score
    from .suite import cmd_ls, cmd_validate
    from .. import __version__

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
    sc.add_argument("--add-metrics", default=None, metavar="LIST",
                    help="add these to the run's metrics (the others stay in the reports)")
    sc.add_argument("--add-detectors", default=None, metavar="LIST", help="add these to the run's detectors")
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
    v.add_argument("--run-id", default=None, help="the run folder whose stored outputs a run would reuse "
                                                  "(default: the suite's name)")
    v.set_defaults(func=cmd_validate)

    ls = sub.add_parser("ls", help="list the registered backends, datasets, masks, metrics, detectors")
    ls.add_argument("kind", nargs="?", choices=["backends", "datasets", "masks", "metrics", "detectors"])
    ls.add_argument("name", nargs="?", help="one plug-in: its description and YAML parameters")
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
        import errno

        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        hint = ("; reports can be written elsewhere with --out DIR" if command == "report" and e.errno in (
            errno.EROFS, errno.EACCES, errno.EPERM) else "")
        print(f"error: {e.strerror or e}{where}{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished samples are saved; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
