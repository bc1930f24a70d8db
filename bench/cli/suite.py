"""``bench validate`` and ``bench ls``: a suite file checked without running it, and the registered plug-ins."""
from __future__ import annotations

import argparse


def cmd_validate(args: argparse.Namespace) -> int:
    from ..config import load_suite

    suite = load_suite(args.suite)
    from ..keys import expand_cells

    cells = expand_cells(suite)
    print(f"{args.suite}: OK — {len(suite.backends)} backend(s) × {len(suite.datasets)} dataset(s) × "
          f"{len(suite.masks)} mask strategy(ies) = {len(cells)} cells; config hash {suite.config_hash()[:12]}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from ..registry import REGISTRIES

    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        reg = REGISTRIES[kind]
        print(f"{kind}:")
        for name in reg.names():
            print(f"  {name:<22} {reg.doc(name)}")
    return 0
