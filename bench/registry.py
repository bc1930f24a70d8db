"""One generic registry for every plug-in kind (backends, datasets, masks, metrics, detectors).

Entries are registered three ways:
  * ``@REG.register("name")`` on a class defined in an imported module;
  * ``REG.lazy("name", "package.module:Attr")``: imported only when first used, so ``bench ls`` stays fast and
    heavy dependencies (diffusers, transformers) load only when a suite asks for them;
  * Python entry points in the group ``inpaint_bench.<kind>`` (e.g. ``inpaint_bench.backends``) declared by
    third-party packages: ``my-model = "my_pkg.module:MyBackend"``.

Unknown names raise a :class:`~bench.errors.ConfigError` with a "did you mean" suggestion.
"""
from __future__ import annotations

import importlib
import inspect
import json
import math
import types
import typing
from typing import Any, Callable, Generic, TypeVar

from .errors import CAUGHT, ConfigError, describe, quote, suggest

T = TypeVar("T")

_RESERVED = ("type", "name")


def _first_line(doc: str | None) -> str:
    """The docstring's first paragraph as one line (a summary that runs over two lines is not cut)."""
    if not doc:
        return ""
    para = inspect.cleandoc(doc).split("\n\n")[0]
    return " ".join(ln.strip() for ln in para.splitlines())


class Registry(Generic[T]):
    def __init__(self, kind: str, home: str | None = None):
        self.kind = kind  # plural, e.g. "backends"
        self.home = home  # package whose import registers the built-in entries (lazily), e.g. "bench.backends"
        self._entries: dict[str, Any] = {}  # name -> class or "module:attr" string
        self._docs: dict[str, str] = {}
        self._clashes: dict[str, list[str]] = {}  # name -> every target claiming it, when they differ
        self._entry_points_loaded = False

    # -- registration ---------------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(obj: type[T]) -> type[T]:
            self._entries[name] = obj
            obj.registry_name = name  # type: ignore[attr-defined]
            return obj

        return deco

    def lazy(self, name: str, target: str, doc: str = "") -> None:
        """Register ``name`` to be imported from ``"module:attr"`` on first use; ``doc`` shows in ``bench ls``."""
        if name not in self._entries:
            self._entries[name] = target
        if doc:
            self._docs[name] = doc

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        if self.home:
            importlib.import_module(self.home)
        from importlib.metadata import entry_points

        for ep in entry_points(group=f"inpaint_bench.{self.kind}"):
            have = self._entries.setdefault(ep.name, ep.value)
            if _target(have) != ep.value:  # another plug-in has the name: which one a suite meant is unknown
                dist = getattr(getattr(ep, "dist", None), "name", None)
                claims = self._clashes.setdefault(ep.name, [_target(have)])
                claims.append(f"{ep.value} (entry point of {dist or 'an installed package'})")

    # -- lookup ---------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def get(self, name: str, path: str = "") -> type[T]:
        self._load_entry_points()
        if name not in self._entries:
            singular = self.kind[:-1] if self.kind.endswith("s") else self.kind
            close = suggest(str(name), list(self._entries))
            hint = f"; did you mean '{close}'?" if close else f"; known: {', '.join(self.names())}"
            raise ConfigError(path, f"unknown {singular} '{name}'{hint}")
        if name in self._clashes:
            raise ConfigError(path, f"two {self.kind} are named '{name}': {' and '.join(self._clashes[name])}; "
                                    f"rename the entry point in its package's metadata (group inpaint_bench."
                                    f"{self.kind})")
        entry = self._entries[name]
        if isinstance(entry, str):
            mod_name, _, attr = entry.partition(":")
            try:
                entry = getattr(importlib.import_module(mod_name), attr)
            except ImportError as e:
                raise ConfigError(path, f"{self.kind[:-1]} '{name}' needs a package that is not installed: {e}") from e
            entry.registry_name = name
            self._entries[name] = entry
        return entry

    def doc(self, name: str) -> str:
        if name in self._docs:
            return self._docs[name]
        try:
            return _first_line(self.get(name).__doc__)
        except ConfigError as e:
            return f"(unavailable: {e.message})"

    def describe(self, name: str) -> str:
        """``name``'s whole docstring and its YAML parameters (``key: type = default``), for ``bench ls KIND NAME``."""
        cls = self.get(name, name)
        lines = [f"{name}: {inspect.cleandoc(cls.__doc__ or self._docs.get(name, '(no description)'))}", "",
                 "parameters:"]
        params = _param_specs(cls)
        for key, p in params.items():
            if p.kind is p.VAR_KEYWORD:
                lines.append(f"  **{key}: any further keys are passed on")
                continue
            ann = p.annotation if p.annotation is not inspect.Parameter.empty else _inferred(p)
            ann = "any" if ann is inspect.Parameter.empty else ann
            ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
            default = "(required)" if p.default is inspect.Parameter.empty else f"= {p.default!r}"
            lines.append(f"  {key}: {ann} {default}")
        if not params:
            lines.append("  (none)")
        return "\n".join(lines)

    def without_defaults(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` less those equal to ``name``'s declared default (:func:`is_default`): what identifies the
        entry, so that ``{type: box}`` and ``{type: box, count: 1}`` are one spec. A param that takes another
        plug-in's spec (the class's ``nested_specs``: ``dilate``'s ``base``, ``fid``'s ``reference``) is that spec
        by the same rule (:func:`without_nested_defaults`), so ``base: {type: box, count: 1}`` is ``base: {type:
        box}``. A name that cannot be looked up here keeps every param."""
        try:
            cls = self.get(name)
        except ConfigError:
            return dict(params)
        specs = _param_specs(cls)
        nested = getattr(cls, "nested_specs", None) or {}
        out: dict[str, Any] = {}
        for k, v in params.items():
            if k in nested:
                v = without_nested_defaults(nested[k], v, f"{name}.{k}")
            if not (k in specs and specs[k].kind is not specs[k].VAR_KEYWORD and is_default(v, specs[k].default)):
                out[k] = v
        return out

    # -- construction from a suite spec ---------------------------------------------------------------
    def create(self, spec: dict[str, Any], path: str) -> T:
        """Instantiate from ``{"type": name, **params}``; params are checked against the constructor."""
        if not isinstance(spec, dict):
            raise ConfigError(path, f"expected a mapping with a 'type' key, got {type(spec).__name__}")
        if "type" not in spec:
            raise ConfigError(path, "missing key 'type'")
        cls = self.get(spec["type"], f"{path}.type")
        params = {k: v for k, v in spec.items() if k not in _RESERVED}
        params = check_params(cls, params, path)
        try:
            return cls(**params)
        except ConfigError as e:
            # a plug-in that builds nested plug-ins (dilate's ``base``) reports paths relative to itself
            if e.path and not e.path.startswith(path):
                raise ConfigError(f"{path}.{e.path}", e.message) from None
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError(path, f"{spec['type']}: {e}") from e
        except CAUGHT as e:  # a plug-in's own __init__ failed (research code raises anything): name it, no traceback
            raise ConfigError(path, f"{spec['type']}: could not be built: {describe(e)}") from e


def _target(entry: Any) -> str:
    """An entry as ``"module:attr"`` (a lazy entry is one already; a registered class gives its own)."""
    return entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"


def _param_specs(cls: type) -> dict[str, inspect.Parameter]:
    if cls.__init__ is object.__init__:  # (its signature is ``*args, **kwargs``, yet it takes nothing)
        return {}
    sig = inspect.signature(cls.__init__)
    return {n: p for n, p in list(sig.parameters.items())[1:] if p.kind not in (p.VAR_POSITIONAL,)}


def is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` written in a suite is the declared ``default``: the same type and the same JSON (``True``
    is not ``1``, ``[1]`` is not ``[1.0]``), or an int equal to a float default (``1`` for ``1.0``: a float
    parameter takes either). A required parameter has no default."""
    if default is inspect.Parameter.empty:
        return False
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value) == default
    if type(value) is not type(default):
        return False
    try:
        return json.dumps(value, sort_keys=True) == json.dumps(default, sort_keys=True)
    except (TypeError, ValueError):
        return False


def without_nested_defaults(kind: str, spec: Any, where: str) -> Any:
    """A plug-in spec given as another plug-in's param (``{"type": name, **params}`` of registry ``kind``) less the
    params at their declared default (:meth:`Registry.without_defaults`, nested specs inside it too); the other
    keys (``type``, ``name``) stay. A spec written as a bare name (``base: box``) or not a mapping with a ``type``
    name (creating the plug-in reports it) is kept as written. ``where`` (``plugin.param``) names a ``kind`` that
    is no registry's."""
    if kind not in REGISTRIES:
        raise ConfigError(where, f"nested_specs names the plug-in kind '{kind}'; expected one of "
                                 f"{', '.join(sorted(REGISTRIES))}")
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return spec
    kept = {k: v for k, v in spec.items() if k in _RESERVED}
    return {**kept, **REGISTRIES[kind].without_defaults(spec["type"],
                                                        {k: v for k, v in spec.items() if k not in _RESERVED})}


def _inferred(p: inspect.Parameter) -> Any:
    """What an unannotated parameter takes (a third-party plug-in without type hints), from its default's type: a
    bool default takes a bool only, an int one an int, a float one an int or a float, a str one a str; no default
    or a default of another type (None, a list...) takes anything."""
    d = p.default
    for t in (bool, int, float, str):  # (bool first: a bool is an int)
        if isinstance(d, t):
            return t
    return inspect.Parameter.empty


def _type_ok(value: Any, ann: Any) -> bool:
    if ann is inspect.Parameter.empty or ann is Any:
        return True
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(ann))
    if ann is type(None):
        return value is None
    if origin is not None:
        ann = origin
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if ann in (list, tuple, typing.Sequence):
        return isinstance(value, (list, tuple))
    if isinstance(ann, type):
        return isinstance(value, ann)
    return True


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return isinstance(value, (list, tuple)) and any(_has_nan(v) for v in value)


def _type_name(ann: Any) -> str:
    s = getattr(ann, "__name__", None) if typing.get_origin(ann) is None else None
    return s or str(ann).replace("typing.", "")


def check_params(cls: type, params: dict[str, Any], path: str) -> dict[str, Any]:
    """Check params against ``cls.__init__``: unknown keys (with suggestion), wrong types, missing ones."""
    specs = _param_specs(cls)
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in specs.values())
    named = {n: p for n, p in specs.items() if p.kind != p.VAR_KEYWORD}
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    name = vars(cls).get("registry_name") or cls.__name__  # (not a base class's placeholder "?")
    for key, value in params.items():
        if key not in named:
            if takes_kwargs:
                continue
            close = suggest(key, list(named))
            hint = f"; did you mean '{close}'?" if close else (
                f"; valid keys: {', '.join(sorted(named))}" if named else f"; '{name}' takes no parameters")
            raise ConfigError(f"{path}.{key}", f"unknown key for '{name}'{hint}")
        ann = hints.get(key, named[key].annotation)
        inferred = ann is inspect.Parameter.empty
        if inferred:
            ann = _inferred(named[key])
        if not _type_ok(value, ann):
            why = f" (unannotated: the type of its default {named[key].default!r} in '{name}')" if inferred else ""
            raise ConfigError(f"{path}.{key}",
                              f"expected {_type_name(ann)}, got {type(value).__name__} {quote(value)}{why}")
        if _has_nan(value):  # compares false with everything: a threshold of NaN never flags
            raise ConfigError(f"{path}.{key}", f"NaN (not a number) is not allowed here, got {quote(value)}")
    for key, p in named.items():
        if p.default is inspect.Parameter.empty and key not in params:
            raise ConfigError(f"{path}.{key}", f"missing required key for '{name}'")
    return params


BACKENDS: Registry = Registry("backends", "bench.backends")
DATASETS: Registry = Registry("datasets", "bench.datasets")
MASKS: Registry = Registry("masks", "bench.masks")
METRICS: Registry = Registry("metrics", "bench.metrics")
DETECTORS: Registry = Registry("detectors", "bench.detectors")

REGISTRIES = {r.kind: r for r in (BACKENDS, DATASETS, MASKS, METRICS, DETECTORS)}
