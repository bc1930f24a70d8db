"""The one-way house (issue 26): every import of the package goes down a floor or stays in its room, by the table
docs/DEVELOPING.md states; no import circle; each shared concept has one definition."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "bench"


def layers() -> dict[str, int]:
    """Room -> floor, from the ```layers block of docs/DEVELOPING.md."""
    text = (ROOT / "docs" / "DEVELOPING.md").read_text()
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    assert m, "docs/DEVELOPING.md has no ```layers block"
    out = {}
    for line in m.group(1).splitlines():
        if line.strip():
            floor, *rooms = line.split()
            for r in rooms:
                out[r] = int(floor)
    return out


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(mod: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported module of the package, line) for every import in ``path``, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "bench"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "bench":
                continue
            for a in node.names:  # `from .. import weights` imports the module bench.weights
                sub = f"{target}.{a.name}"
                out.append((sub if sub in known else target, node.lineno))
    return out


def room(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "bench"


def test_every_room_is_on_a_floor():
    floors = layers()
    rooms = {room(m) for m in modules()} - {"bench"}
    missing = sorted(r.removesuffix(".py") for r in rooms if r not in floors)
    assert not missing, f"rooms missing from docs/DEVELOPING.md's layers table: {missing}"


def test_imports_go_down_a_floor_or_stay_in_their_room():
    floors = layers()
    mods = modules()
    bad = []
    for mod, path in sorted(mods.items()):
        src = room(mod)
        if src == "bench":  # the package's own __init__ (version only)
            continue
        for target, line in imports(mod, path, set(mods)):
            dst = room(target)
            if dst == src or dst == "bench" and target == "bench":
                if dst == "bench" and src not in ("cli", "__main__"):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports the package root")
                continue
            if floors[dst] >= floors[src]:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({src}, floor {floors[src]}) imports {target} "
                           f"({dst}, floor {floors[dst]})")
    assert not bad, "imports that do not go down:\n" + "\n".join(bad)


def test_the_checker_sees_a_back_arrow(tmp_path):
    """The walk resolves relative, nested and `from .. import x` imports (else the rule above could not fail)."""
    src = "def f():\n    from ..report import html\n    from .. import weights\n    import bench.cli\n"
    p = tmp_path / "x.py"
    p.write_text(src)
    known = {"bench.report", "bench.report.html", "bench.weights", "bench.cli"}
    got = [t for t, _ in imports("bench.store.x", p, known)]
    assert got == ["bench.report.html", "bench.weights", "bench.cli"]


@pytest.mark.parametrize("pattern, owner", [
    (r"^BLANK_VALUE\s*=", "bench/pixels.py"),
    (r"^def (quantize|dequantize|blanked_u8|blanked_digests)\(", "bench/pixels.py"),
    (r"^def (area_bin|area_bin_label|parse_area_bin|mask_stats|hole_fraction)\(", "bench/bins.py"),
    (r"^def (write_bytes_atomic|write_text_atomic|confined_dir|file_sha256|sample_filename)\(", "bench/fsio.py"),
    (r"^def (bootstrap_ci|paired_bootstrap|auroc|best_threshold)\(", "bench/stats.py"),
    (r"^def (load_run|read_manifest)\(", None),
    (r"^def suggest\(", "bench/errors.py"),
])
def test_one_definition_per_concept(pattern, owner):
    hits = {}
    rx = re.compile(pattern, re.M)
    for p in PKG.rglob("*.py"):
        for m in rx.finditer(p.read_text(encoding="utf-8")):
            hits.setdefault(m.group(0), []).append(str(p.relative_to(ROOT)))
    assert hits, pattern
    for name, where in hits.items():
        assert len(where) == 1, f"{name} defined in {where}"
        if owner:
            assert where == [owner], f"{name} defined in {where}, expected {owner}"


def test_nothing_else_writes_files_non_atomically_by_rename_or_uses_difflib():
    """Atomic writes go through bench.fsio, close-name suggestions through bench.errors.suggest."""
    bad = []
    for p in PKG.rglob("*.py"):
        rel = str(p.relative_to(ROOT))
        text = p.read_text(encoding="utf-8")
        if rel != "bench/fsio.py" and ("os.replace(" in text or "mkstemp(" in text):
            bad.append(f"{rel}: its own atomic write")
        if rel != "bench/errors.py" and "difflib" in text:
            bad.append(f"{rel}: its own difflib suggestion")
    assert not bad, bad
