"""The suite's ``report:`` section: paper tables. Schema, defaults and the validator the config loader calls.

```yaml
report:
  tables:
    - name: places2_40_50            # required; file name of tables/<name>.tex (letters, digits, _ . -)
      caption: "Places2, 40-50 % masks: FID / LPIPS per backend"
      label: tab:places2_40_50       # default tab:<name>
      rows: backend                  # one key or a list: backend, dataset, mask, area_bin (default backend)
      columns: [fid, lpips_in]       # metric / summary keys, or {key: lpips_in, label: "LPIPS", fmt: ".4f"}
      split: mask                    # optional column groups (MAT-style): dataset, mask or area_bin, or a list:
                                     # [dataset, mask] gives LaMa's / MAT's shape (a group per dataset x mask)
      split_labels: {lama-thin: Small masks, lama-thick: Large masks}   # optional group titles (and order);
                                     # with a list, keys join the values with "/": "places2/lama-thick"
      filter:                        # optional: keep only these records
        dataset: places2             # a value or a list (also backend, mask)
        area_bin: "40-50%"           # bin index 0..9, label "40-50%", or a list
        hole_fraction: [0.4, 0.5]    # [lo, hi) range
      order: [lama, mat, opencv-telea]   # optional row order (values of the first rows key)
      intervals: true                # ± bootstrap half-widths (default true)
      highlight: true                # best bold, second underlined (default true)
      notes: ["FID on 2k images"]    # optional lines under the table
```
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError, ErrorList, suggest

GROUP_KEYS = ("backend", "dataset", "mask", "area_bin")
SPLIT_KEYS = ("dataset", "mask", "area_bin")
FILTER_KEYS = ("backend", "dataset", "mask", "area_bin", "hole_fraction")
TABLE_KEYS = ("name", "caption", "label", "rows", "columns", "split", "split_labels", "filter", "order",
              "intervals", "highlight", "notes")
SECTION_KEYS = ("tables", "columns")
COLUMN_KEYS = ("key", "label", "fmt")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _unknown(path: str, key: Any, allowed: tuple[str, ...]) -> ConfigError:
    close = suggest(str(key), allowed)
    hint = f"; did you mean {close!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return ConfigError(f"{path}.{key}", f"unknown key{hint}")


def _str(obj: Any, path: str) -> str:
    if not isinstance(obj, str) or not obj:
        raise ConfigError(path, f"expected a non-empty string, got {obj!r}")
    return obj


def _str_list(obj: Any, path: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [obj] if isinstance(obj, str) else obj
    if not isinstance(items, list) or not items:
        raise ConfigError(path, f"expected a string or a non-empty list of strings, got {obj!r}")
    out = []
    for i, it in enumerate(items):
        p = f"{path}[{i}]" if not isinstance(obj, str) else path
        if not isinstance(it, str) or not it:
            raise ConfigError(p, f"expected a string, got {it!r}")
        if allowed is not None and it not in allowed:
            close = suggest(it, allowed)
            raise ConfigError(p, f"unknown key {it!r}" + (f"; did you mean {close!r}?" if close
                                                            else f"; choose from {', '.join(allowed)}"))
        out.append(it)
    return out


def _bool(obj: Any, path: str) -> bool:
    if not isinstance(obj, bool):
        raise ConfigError(path, f"expected true or false, got {obj!r}")
    return obj


def _columns(obj: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(obj, str):
        obj = [obj]
    if not isinstance(obj, list) or not obj:
        raise ConfigError(path, "expected a non-empty list of metric keys (e.g. [fid, lpips_in])")
    out = []
    for i, c in enumerate(obj):
        p = f"{path}[{i}]"
        if isinstance(c, str) and c:
            out.append({"key": c, "label": None, "fmt": None})
        elif isinstance(c, dict):
            for k in c:
                if k not in COLUMN_KEYS:
                    raise _unknown(p, k, COLUMN_KEYS)
            if "key" not in c:
                raise ConfigError(f"{p}.key", "missing required key (the metric key, e.g. lpips_in)")
            key = _str(c["key"], f"{p}.key")
            label = _str(c["label"], f"{p}.label") if c.get("label") is not None else None
            fmt = c.get("fmt")
            if fmt is not None:
                fmt = _str(fmt, f"{p}.fmt")
                try:
                    format(1.5, fmt) if not fmt.endswith("d") else format(1, fmt)
                except ValueError:
                    raise ConfigError(f"{p}.fmt", f"invalid format spec {fmt!r} (e.g. '.3f')") from None
            out.append({"key": key, "label": label, "fmt": fmt})
        else:
            raise ConfigError(p, f"expected a metric key or a mapping with 'key', got {c!r}")
    return out


def _filter(obj: Any, path: str) -> dict[str, Any]:
    from ..bins import parse_area_bin

    if not isinstance(obj, dict):
        raise ConfigError(path, f"expected a mapping (e.g. {{dataset: places2, area_bin: '40-50%'}}), got {obj!r}")
    out: dict[str, Any] = {}
    for k, v in obj.items():
        p = f"{path}.{k}"
        if k not in FILTER_KEYS:
            raise _unknown(path, k, FILTER_KEYS)
        if k in ("backend", "dataset", "mask"):
            out[k] = _str_list(v, p)
        elif k == "area_bin":
            vals = v if isinstance(v, list) else [v]
            if not vals:
                raise ConfigError(p, "expected a bin (0..9 or '40-50%') or a list of bins")
            bins = []
            for i, b in enumerate(vals):
                try:
                    if isinstance(b, bool):
                        raise ValueError
                    bins.append(parse_area_bin(b))
                except (ValueError, TypeError):
                    raise ConfigError(p if not isinstance(v, list) else f"{p}[{i}]",
                                      f"expected a bin index 0..9 or a label like '40-50%', got {b!r}") from None
            out[k] = bins
        elif k == "hole_fraction":
            ok = (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                              for x in v))
            if not ok or not (0 <= v[0] < v[1] <= 1):
                raise ConfigError(p, f"expected [lo, hi] with 0 <= lo < hi <= 1, got {v!r}")
            out[k] = [float(v[0]), float(v[1])]
    return out


def validate_table(obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ConfigError(path, f"expected a mapping with name and columns, got {obj!r}")
    for k in obj:
        if k not in TABLE_KEYS:
            raise _unknown(path, k, TABLE_KEYS)
    for req in ("name", "columns"):
        if req not in obj:
            raise ConfigError(f"{path}.{req}", "missing required key")
    name = _str(obj["name"], f"{path}.name")
    if not NAME_RE.match(name):
        raise ConfigError(f"{path}.name", f"use letters, digits and _ . - (it names the file), got {name!r}")
    t: dict[str, Any] = {"name": name}
    t["caption"] = _str(obj["caption"], f"{path}.caption") if obj.get("caption") not in (None, "") else ""
    t["label"] = _str(obj["label"], f"{path}.label") if obj.get("label") is not None else f"tab:{name}"
    t["rows"] = _str_list(obj.get("rows", "backend"), f"{path}.rows", GROUP_KEYS)
    t["columns"] = _columns(obj["columns"], f"{path}.columns")
    split = obj.get("split")
    if split is not None:
        split = _str_list(split, f"{path}.split", SPLIT_KEYS)
        if len(set(split)) != len(split):
            raise ConfigError(f"{path}.split", f"a key is given twice: {split}")
        both = [k for k in split if k in t["rows"]]
        if both:
            raise ConfigError(f"{path}.split", f"{both[0]!r} is already a rows key; a key is rows or split, not both")
    t["split"] = split
    sl = obj.get("split_labels")
    if sl not in (None, {}):
        if split is None:
            raise ConfigError(f"{path}.split_labels", "needs split")
        if not isinstance(sl, dict) or not all(isinstance(v, str) for v in sl.values()):
            raise ConfigError(f"{path}.split_labels", "expected a mapping value -> title")
        sl = {str(k): v for k, v in sl.items()}
    t["split_labels"] = sl or {}
    t["filter"] = _filter(obj["filter"], f"{path}.filter") if obj.get("filter") not in (None, {}) else {}
    t["order"] = _str_list(obj["order"], f"{path}.order") if obj.get("order") not in (None, []) else []
    t["intervals"] = _bool(obj.get("intervals", True), f"{path}.intervals")
    t["highlight"] = _bool(obj.get("highlight", True), f"{path}.highlight")
    t["notes"] = _str_list(obj["notes"], f"{path}.notes") if obj.get("notes") not in (None, []) else []
    return t


def validate_report_section(obj: Any, path: str = "report") -> dict[str, Any]:
    """Check a ``report:`` section and return it normalised (defaults filled in); raise ``ConfigError`` with the
    key path (``report.tables[0].columns[1].fmt: ...``), every table's first problem at once (``ConfigErrors``)."""
    if obj is None:
        return {"tables": []}
    if not isinstance(obj, dict):
        raise ConfigError(path, f"expected a mapping with 'tables', got {type(obj).__name__}")
    errors = ErrorList()
    for k in obj:
        if k not in SECTION_KEYS:
            errors.add(_unknown(path, k, SECTION_KEYS))
    tables = obj.get("tables", [])
    if not isinstance(tables, list):
        errors.add(ConfigError(f"{path}.tables", "expected a list of tables"))
        tables = []
    built: dict[int, dict[str, Any]] = {}
    for i, t in enumerate(tables):
        with errors.check():
            built[i] = validate_table(t, f"{path}.tables[{i}]")
    seen: set[str] = set()
    for i, t in built.items():
        if t["name"] in seen:
            errors.add(ConfigError(f"{path}.tables[{i}].name", f"duplicate table name {t['name']!r}"))
        seen.add(t["name"])
    section: dict[str, Any] = {"tables": list(built.values())}
    if obj.get("columns") is not None:  # the terminal leaderboard's columns: keys, or "all"
        cols = obj["columns"]
        with errors.check():
            section["columns"] = "all" if cols == "all" else _str_list(cols, f"{path}.columns")
    errors.raise_if_any()
    return section
