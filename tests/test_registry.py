import sys

import pytest

from bench.errors import ConfigError
from bench.registry import Registry, check_params


class Thing:
    """A thing.

    More text."""

    def __init__(self, size: int = 3, ratio: float = 0.5, name: str | None = None, items: list | None = None):
        self.size = size


def test_register_get_doc_and_suggestion():
    reg = Registry("things")
    reg.register("thing")(Thing)
    assert reg.get("thing") is Thing and reg.doc("thing") == "A thing."
    with pytest.raises(ConfigError, match="unknown thing 'thng'; did you mean 'thing'\\?"):
        reg.get("thng", "things[0].type")


def test_lazy_entry_imports_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "lazy_mod_for_test.py").write_text("class X:\n    '''Lazy X.'''\n    def __init__(self, k: int = 1):\n        self.k = k\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("things")
    reg.lazy("x", "lazy_mod_for_test:X")
    assert "lazy_mod_for_test" not in sys.modules
    assert "x" in reg.names()
    obj = reg.create({"type": "x", "k": 4}, "things[0]")
    assert obj.k == 4 and "lazy_mod_for_test" in sys.modules


def test_entry_point_plugins(monkeypatch, tmp_path):
    from importlib import metadata

    (tmp_path / "ep_mod_for_test.py").write_text("class P:\n    '''Plug-in P.'''\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint(name="my-plugin", value="ep_mod_for_test:P", group="inpaint_bench.things")
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group=None, **kw: [ep] if group == "inpaint_bench.things" else real(group=group, **kw))
    reg = Registry("things")
    assert "my-plugin" in reg.names()
    assert reg.get("my-plugin").__name__ == "P"


def test_check_params_types():
    assert check_params(Thing, {"size": 2, "ratio": 1, "items": [1]}, "p") == {"size": 2, "ratio": 1, "items": [1]}
    with pytest.raises(ConfigError, match=r"p.size: expected int, got bool True"):
        check_params(Thing, {"size": True}, "p")
    with pytest.raises(ConfigError, match=r"p.ratio: expected float, got str"):
        check_params(Thing, {"ratio": "x"}, "p")
    with pytest.raises(ConfigError, match=r"p.sizes: unknown key for '(Thing|thing)'; did you mean 'size'\?"):
        check_params(Thing, {"sizes": 2}, "p")


def test_is_default_compares_type_and_value():
    """What counts as a default spelled out (then left out of keys): the same type and value; an int for a float
    default; never True for 1, 1 for True, [1] for [1.0], a value for a required parameter."""
    import inspect

    from bench.registry import is_default

    assert is_default(1, 1) and is_default(1, 1.0) and is_default(0.5, 0.5) and is_default(False, False)
    assert is_default([], []) and is_default({"a": [1]}, {"a": [1]}) and is_default(None, None)
    assert not is_default(True, 1) and not is_default(1, True) and not is_default(1.0, 1)
    assert not is_default([1], [1.0]) and not is_default(None, 0) and not is_default("1", 1)
    assert not is_default(True, 1.0) and not is_default(1, inspect.Parameter.empty)


class Bare:
    """A third-party plug-in without type hints."""

    def __init__(self, steps=8, strength=0.5, fast=False, net="alex", base=None, extra=(), required=None):
        pass


def test_unannotated_params_take_their_defaults_type():
    """An unannotated parameter took anything from YAML (``steps: '8'``, ``fast: 'yes'``): its type is now its
    default's (int: int; float: int or float; bool: bool only; str: str; None or no default: anything), refused with
    the error an annotated one gets, naming the plug-in and the key."""
    ok = {"steps": 3, "strength": 1, "fast": True, "net": "vgg", "base": {"a": 1}, "extra": "x", "required": [1]}
    assert check_params(Bare, ok, "p") == ok
    assert check_params(Bare, {"strength": 0.25}, "p") == {"strength": 0.25}
    for key, bad, want in [("steps", "8", "int, got str '8'"), ("steps", True, "int, got bool True"),
                           ("steps", 8.0, "int, got float 8.0"), ("strength", "0.5", "float, got str '0.5'"),
                           ("strength", False, "float, got bool False"), ("fast", 1, "bool, got int 1"),
                           ("fast", "yes", "bool, got str 'yes'"), ("net", 3, "str, got int 3")]:
        with pytest.raises(ConfigError) as e:
            check_params(Bare, {key: bad}, "backends[2]")
        assert e.value.path == f"backends[2].{key}", (key, bad)
        assert str(e.value).startswith(f"backends[2].{key}: expected {want} (unannotated: the type of its default"), \
            str(e.value)
        assert "'Bare'" in str(e.value)


def test_bench_ls_shows_an_unannotated_params_type_from_its_default():
    reg = Registry("things")
    reg.register("bare")(Bare)
    text = reg.describe("bare")
    assert "  steps: int = 8" in text and "  fast: bool = False" in text and "  base: any = None" in text


def test_nested_specs_of_an_unknown_kind_is_named():
    """A plug-in whose ``nested_specs`` names no registry gets an error naming the plug-in, the param and the kind
    (not a bare KeyError while the suite's keys are computed)."""
    class Wrapper:
        nested_specs = {"inner": "mask"}  # (the kind is "masks")

        def __init__(self, inner: dict | None = None):
            self.inner = inner

    reg = Registry("wrappers")
    reg.register("wrap")(Wrapper)
    with pytest.raises(ConfigError, match=r"^wrap\.inner: nested_specs names the plug-in kind 'mask'; expected one "
                                          r"of backends, datasets, detectors, masks, metrics$"):
        reg.without_defaults("wrap", {"inner": {"type": "box"}})
