"""``bench weights list | fetch | verify``: the metric networks' weights files (:mod:`bench.weights`)."""
from __future__ import annotations

import sys
from pathlib import Path

from .. import weights as W
from ..errors import WeightsError


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="every known weights file: what it is, where it comes from, where it is found")
    f = sub.add_parser("fetch", help="download (and verify) known weights files, e.g. to copy to an offline cluster")
    f.add_argument("names", nargs="*", help="file names (default: all)")
    f.add_argument("--to", default=None, metavar="DIR", help="destination folder (default: the torch hub cache)")
    v = sub.add_parser("verify", help="check the hash of every known file found (or those in DIR)")
    v.add_argument("--dir", default=None, metavar="DIR", help="a folder of weights (default: the search folders)")


def run(args) -> int:
    if args.action == "list":
        for spec in W.KNOWN.values():
            found = next((c for c in W.candidates(spec.name) if c.is_file()), None)
            print(f"{spec.name}\n  {spec.what}\n  from  {spec.url}\n  check {W.check_line(spec)}\n"
                  f"  found {found or '-- not found'}")
        print(f"search order: {', '.join(str(d) for d in W.search_dirs())}, the package folder (LPIPS heads), /tmp "
              f"(clean-fid); downloads go to {W.hub_dir()}" + (" (offline)" if W.offline() else ""))
        return 0
    if args.action == "fetch":
        names = args.names or list(W.KNOWN)
        unknown = [n for n in names if n not in W.KNOWN]
        if unknown:
            raise WeightsError(f"unknown weights file(s) {', '.join(unknown)}; known: {', '.join(W.KNOWN)}")
        dest = Path(args.to).expanduser() if args.to else W.hub_dir()
        failed: list[str] = []
        for n in names:  # every file is tried: a partial mirror shows the whole list of what is missing
            try:
                print(W.fetch_checked(n, dest, args.to is not None))
            except WeightsError as e:
                failed.append(n)
                print(f"{n}: FAILED: {e}", file=sys.stderr)
        if failed:
            print(f"{len(failed)} of {len(names)} weights files failed: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    bad = 0
    if args.dir:
        folder = Path(args.dir).expanduser()
        if not folder.is_dir():
            raise WeightsError(f"--dir {args.dir}: not a folder")
        files = [(folder / n, n) for n in W.KNOWN]
    else:
        files = [(next((c for c in W.candidates(n) if c.is_file()), None), n) for n in W.KNOWN]
    for path, n in files:
        if path is None or not path.is_file():
            print(f"{n}: not found")
            continue
        try:
            print(f"{n}: ok ({W.verify(path, n)[:16]}..., {W.KNOWN[n].check}) {path}")
        except WeightsError as e:
            bad += 1
            print(f"{n}: BAD: {e}")
    return 1 if bad else 0
