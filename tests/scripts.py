"""Loading the repository's scripts (benchmarks/*.py, datasets/*.py) as modules in tests: they are not a package;
and running the ``bench`` command in a Python without one package (:func:`bench_without`)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load(rel: str, name: str | None = None, register: bool = False) -> ModuleType:
    """The script at ``ROOT / rel`` as a fresh module (``name``: its module name, default the file's stem with
    ``_under_test``; ``register``: also put it in ``sys.modules`` under that name). The script's folder goes on
    ``sys.path`` first, as when it is run: benchmark scripts import their neighbours (``_common``,
    ``detectors_real``)."""
    path = ROOT / rel
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = name or f"{path.stem}_under_test"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def bench_without(package: str, *args: str) -> subprocess.CompletedProcess:
    """``bench ARGS`` in a subprocess (from the repository root) where ``package`` cannot be imported (as on a
    machine without it installed): its module is blocked and ``importlib.util.find_spec`` does not find it."""
    code = (f"import sys; sys.modules[{package!r}] = None\n"
            "import importlib.util as u; real = u.find_spec\n"
            f"u.find_spec = lambda name, *a, **k: None if name == {package!r} else real(name, *a, **k)\n"
            f"from bench.cli import main; sys.exit(main({list(args)!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
