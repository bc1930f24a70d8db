"""Suite files: load, validate, resolve; the canonical JSON and its hash.

A suite is a YAML mapping. Plug-in lists (``backends``, ``datasets``, ``masks``, ``metrics``, ``detectors``) hold
either a name (``- psnr``) or a mapping ``{type: NAME, name: LABEL, **params}``; params are checked against the
plug-in's constructor. Every error is a :class:`~bench.errors.ConfigError` whose message starts with the key path.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, ConfigErrors, ErrorList, quote, suggest
from ..registry import REGISTRIES

PLUGIN_KINDS = ("backends", "datasets", "masks", "metrics", "detectors")

#: top-level keys: (type, default, doc)
TOP_LEVEL: dict[str, tuple[Any, Any, str]] = {
    "name": (str, None, "suite name; default run id (default: the file's stem)"),
    "description": (str, "", "free text"),
    "seed": (int, 0, "suite seed: masks, backend generators and sampling derive from it"),
    "device": (str, "auto", "auto | cpu | cuda | cuda:N"),
    "dtype": (str, "float32", "float32 | float16 | bfloat16: the dtype backends run in"),
    "batch_size": (int, 4, "samples per backend call"),
    "resolution": ((int, type(None)), 256, "side of generated datasets (samples, synthetic); null = native"),
    "limit": ((int, type(None)), None, "at most this many samples per dataset"),
    "output_dir": (str, "results", "where run folders go"),
    "paste_back": (bool, False, "paste the input back outside the hole (outside-mask metrics still see the raw output)"),
    "save_inputs": (bool, False, "also store each sample's input, mask and ground truth (inputs/<input key>/) for "
                                 "the HTML report's image grids; outputs are always stored (generations/)"),
    "warmup": ((int, type(None)), None, "untimed warm-up batches per new shape (default: 1 on CUDA, 0 on CPU; 1 for a backend that compiles)"),
    "oom_retry": (bool, True, "on CUDA out-of-memory, retry the batch split in halves"),
    "timeout_s": ((int, float, type(None)), None, "per-batch time limit for a backend call; a backend that "
                                                 "exceeds it is marked hung and its remaining samples fail"),
    "workers": ((int, type(None)), None, "background threads that decode samples and make masks ahead of the "
                                         "model (0 = inline; default: 2 on CUDA, 0 on CPU, where threads beside "
                                         "the model distort its timing)"),
    "overlap": (bool, False, "CUDA only: score batch i (metrics, detectors, commit) in a background thread, on its "
                             "own CUDA stream, while the model runs batch i+1: more throughput, but latency and peak "
                             "memory then include interference from the scoring (on CPU scoring stays inline)"),
    "weights": (str, "pretrained", "pretrained | random (random-weight metric networks: non-comparable results)"),
    "weights_dir": ((str, type(None)), None, "directory of offline weights (else $INPAINT_BENCH_WEIGHTS, then caches)"),
    "cache_dir": ((str, type(None)), None, "reference-statistics cache (default ~/.cache/inpaint-bench)"),
    "backends": (list, None, "models to run (required)"),
    "datasets": (list, None, "data to run on (required)"),
    "masks": (list, None, "mask strategies (required)"),
    "metrics": (list, ["psnr", "ssim"], "metrics to compute"),
    "detectors": (list, [], "failure detectors"),
    "report": ((dict, type(None)), None, "paper-table definitions (see docs/reports.md)"),
}
REQUIRED = ("backends", "datasets", "masks")
DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
DTYPES = ("float32", "float16", "bfloat16")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")
MAX_NAME = 128  # suite names, labels and run ids become folder names


#: a suite file larger than this is refused before parsing (suites are a few KB; a data file given by mistake is not)
MAX_SUITE_BYTES = 1 << 20
#: the largest ``resolution:`` accepted: a side beyond any inpainting model's (each sample would be an out-of-memory
#: error row, after the suite had validated)
MAX_RESOLUTION = 16384

#: at most this many values once YAML aliases are expanded (a "billion laughs" suite of 600 bytes expands to 10^8)
MAX_SUITE_NODES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one) and unhashable keys, and
    supports merge keys (``<<: *anchor``: keys given explicitly override merged ones, as YAML 1.1 says)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        mark = key_node.start_mark
        try:
            dup = key in seen
        except TypeError:
            raise ConfigError("", f"line {mark.line + 1}: a key must be a plain value (a name), not "
                                  f"{type(key).__name__} {quote(key)}") from None
        if dup:
            raise ConfigError("", f"line {mark.line + 1}: duplicate key {quote(key)}")
        seen[key] = True
    try:
        return loader.construct_mapping(node, deep=deep)
    except yaml.constructor.ConstructorError as e:
        where = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        raise ConfigError("", f"{where}{e.problem}") from None


def _check_size(obj: Any, path: Path | str) -> None:
    """Refuse a document that, aliases expanded, holds more than :data:`MAX_SUITE_NODES` values (checked without
    expanding: a walk that stops at the limit)."""
    budget = MAX_SUITE_NODES
    stack = [obj]
    while stack:
        budget -= 1
        if budget < 0:
            raise ConfigError("", f"{path}: the suite expands to more than {MAX_SUITE_NODES:,} values (YAML aliases "
                                  f"repeated inside each other?); a suite lists a few dozen plug-ins")
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# `1e-3` is a float, as in YAML 1.2, JSON and Python: YAML 1.1 (PyYAML) wants a dot ('1.0e-3') and reads it as text
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
                                       list("-+0123456789"))


@dataclass
class PluginSpec:
    kind: str  # "backends", ...
    type: str
    label: str
    params: dict[str, Any]
    path: str  # key path in the suite, e.g. "backends[1]"
    instance: Any = field(default=None, repr=False, compare=False)  # built while validating
    #: metrics / detectors: left out of a run (with one line saying so) when their weights are not available,
    #: instead of failing every sample; not part of any identity
    optional: bool = False
    #: backends: the labels of the datasets it runs on (``datasets:`` in its entry; None = every dataset): outputs
    #: made elsewhere exist for their own source only; not part of the backend's identity (cell keys stay)
    only: tuple[str, ...] | None = None
    #: backends: samples per call for this backend (``batch_size:`` in its entry; None = the suite's): a model that
    #: needs smaller batches (memory, or a program whose output depends on what shares its batch) next to others;
    #: part of the config hash (what a timing means), not of cell keys (a sample's output never depends on it)
    batch_size: int | None = None

    def canonical(self) -> dict[str, Any]:
        """Type + params, less the params written equal to the plug-in's declared default
        (:meth:`~bench.registry.Registry.without_defaults`): what the keys and the config hash see, so spelling a
        default out (``{type: box, count: 1}``) changes no identity, and a spec written without it keeps its key."""
        return {"type": self.type, **REGISTRIES[self.kind].without_defaults(self.type, self.params)}

    def key(self) -> str:
        """A stable, short identity of type + params (for seeds and cell keys)."""
        return f"{self.type}:{hash_obj(self.canonical())[:10]}"

    def create(self) -> Any:
        return REGISTRIES[self.kind].create({"type": self.type, **self.params}, self.path)


@dataclass
class Suite:
    name: str
    settings: dict[str, Any]
    plugins: dict[str, list[PluginSpec]]
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        settings = self.__dict__.get("settings", {})
        if key in settings:
            return settings[key]
        raise AttributeError(key)

    @property
    def backends(self) -> list[PluginSpec]:
        return self.plugins["backends"]

    @property
    def datasets(self) -> list[PluginSpec]:
        return self.plugins["datasets"]

    @property
    def masks(self) -> list[PluginSpec]:
        return self.plugins["masks"]

    @property
    def metrics(self) -> list[PluginSpec]:
        return self.plugins["metrics"]

    @property
    def detectors(self) -> list[PluginSpec]:
        return self.plugins["detectors"]

    def path(self, key: str) -> Path | None:
        """The path setting ``key`` (``output_dir``, ``weights_dir``, ``cache_dir``) as the file system sees it
        (:func:`expand_path`); None when it is not set. The suite keeps what was written (``~``, ``$SCRATCH``)."""
        value = self.settings.get(key)
        return expand_path(value, key) if value is not None else None

    def resolved(self) -> dict[str, Any]:
        """The suite with every default filled in: what ``suite.resolved.yaml`` holds."""
        out = {"name": self.name, **{k: v for k, v in self.settings.items()}}
        for kind, specs in self.plugins.items():
            out[kind] = [{"type": s.type, "name": s.label, **({"optional": True} if s.optional else {}),
                          **({"datasets": list(s.only)} if s.only is not None else {}),
                          **({"batch_size": s.batch_size} if s.batch_size is not None else {}), **s.params}
                         for s in specs]
        return out

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of what can change a score, a generated output or what a timing means:
        every setting but :data:`UNHASHED_SETTINGS`, each plug-in's type, label, ``datasets:``, a backend's own
        ``batch_size:`` and params less
        those at their declared default (:meth:`PluginSpec.canonical`; ``optional:`` changes no number)."""
        r = {k: v for k, v in self.settings.items() if k not in UNHASHED_SETTINGS}
        for kind, specs in self.plugins.items():
            r[kind] = [{"name": s.label, **({"datasets": list(s.only)} if s.only is not None else {}),
                        **({"batch_size": s.batch_size} if s.batch_size is not None else {}),
                        **s.canonical()} for s in specs]
        return hash_obj(r)

    def config_hash_v1(self) -> str:
        """The config hash as runs written before :meth:`config_hash` left out the settings that change no number
        (and a param spelled out at its default) computed it: what their manifests, studies and baselines carry.
        Kept only to recognise them (``config_hash_v1`` in a manifest; :func:`bench.store.manifest.config_hashes`)."""
        r = self.resolved()
        for k in ("name", "description", "output_dir", "report"):
            r.pop(k, None)
        return hash_obj(r)


#: settings that change no score, no generated output and no timing's meaning: left out of the config hash (where
#: files go and what is kept beside the records; where weights and caches are read from: a weights file's content
#: is fingerprinted per output, docs/backends.md; the report's layout; the suite's name and description)
UNHASHED_SETTINGS = ("description", "output_dir", "report", "save_inputs", "weights_dir", "cache_dir")


#: the suite's settings that are paths (:meth:`Suite.path`)
PATH_SETTINGS = ("output_dir", "weights_dir", "cache_dir")


def expand_path(value: Any, key: str) -> Path:
    """A path written in a suite, as the file system sees it: ``~`` is the home folder and ``$VAR`` / ``${VAR}`` an
    environment variable; a variable that is not set is a :class:`ConfigError` naming ``key`` (a folder literally
    named ``$SCRATCH`` is never what was meant)."""
    import os

    s = os.path.expandvars(os.path.expanduser(str(value)))
    left = re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", s)
    if left:
        raise ConfigError(key, f"the environment variable {left.group(1)} in {str(value)!r} is not set")
    return Path(s)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def hash_obj(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join("null" if x is type(None) else x.__name__ for x in t)
    return t.__name__


def _check_type(value: Any, t: Any) -> bool:
    ts = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in ts:
        return False
    return isinstance(value, ts)


def _parse_plugins(kind: str, items: Any, instantiate: bool, errors: ErrorList) -> list[PluginSpec]:
    """The ``kind`` entries; each entry's error goes to ``errors`` (all of them, not the first)."""
    if not isinstance(items, list):
        errors.add(ConfigError(kind, f"expected a list, got {type(items).__name__}"))
        return []
    specs: list[PluginSpec] = []
    labels: dict[str, str] = {}
    for i, item in enumerate(items):
        with errors.check():
            specs.append(_parse_plugin(kind, i, item, labels, instantiate))
    return specs


def _yaml_bool(value: Any) -> str:
    """A hint for a name YAML turned into a boolean (unquoted ``off``, ``no``, ``on``, ``yes``, ``true``, ``false``)
    or a number (``5``, ``2024``)."""
    if isinstance(value, bool):
        return "; YAML reads an unquoted yes/no/on/off/true/false as a boolean: quote the name"
    if isinstance(value, (int, float)):
        return "; YAML reads an unquoted number as a number: quote the name"
    return ""


def _parse_plugin(kind: str, i: int, item: Any, labels: dict[str, str], instantiate: bool) -> PluginSpec:
    registry = REGISTRIES[kind]
    path = f"{kind}[{i}]"
    if isinstance(item, str):
        item = {"type": item}
    if not isinstance(item, dict):
        raise ConfigError(path, f"expected a name or a mapping with 'type', got {type(item).__name__}")
    if "type" not in item:
        raise ConfigError(path, "missing key 'type'")
    if not isinstance(item["type"], str):
        raise ConfigError(f"{path}.type", f"expected str, got {type(item['type']).__name__}")
    registry.get(item["type"], f"{path}.type")  # unknown name -> did you mean
    label = item.get("name", item["type"])
    if not isinstance(label, str) or not LABEL_RE.match(label) or len(label) > MAX_NAME:
        raise ConfigError(f"{path}.name", f"labels use at most {MAX_NAME} letters, digits and _.+=- (ASCII) "
                                          f"(got {str(label)[:80]!r}){_yaml_bool(label)}")
    if label in labels:  # listed with the entry's own errors, if any (every error in one pass)
        taken = ConfigError(f"{path}.name", f"'{label}' is already used by {labels[label]}; give each a distinct "
                                            f"'name:'")
        try:
            _plugin_spec(kind, path, item, label, instantiate)
        except ConfigError as e:
            raise ConfigErrors([taken, *(e.errors if isinstance(e, ConfigErrors) else [e])]) from None
        raise taken
    labels[label] = path
    return _plugin_spec(kind, path, item, label, instantiate)


def _plugin_spec(kind: str, path: str, item: dict, label: str, instantiate: bool) -> PluginSpec:
    """The entry at ``path`` once its type and label are known: its options checked, its plug-in built."""
    optional = item.get("optional", False)
    if "optional" in item and kind not in ("metrics", "detectors"):
        raise ConfigError(f"{path}.optional", "only metrics and detectors can be optional")
    if not isinstance(optional, bool):
        raise ConfigError(f"{path}.optional", f"expected true or false, got {quote(optional)}")
    only = item.get("datasets")
    if "datasets" in item:
        if kind != "backends":
            raise ConfigError(f"{path}.datasets", "only a backend can be limited to some datasets")
        if not (isinstance(only, list) and only and all(isinstance(x, str) for x in only)):
            raise ConfigError(f"{path}.datasets", f"expected a list of dataset names (their 'name:' or type), got "
                                                  f"{quote(only)}")
        only = tuple(only)
    batch_size = None
    if kind == "backends" and "batch_size" in item:  # (a metric's or detector's batch_size is its own param)
        batch_size = item["batch_size"]
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"{path}.batch_size", f"expected a whole number >= 1 (samples per call for this "
                                                    f"backend; the suite's batch_size otherwise), got "
                                                    f"{quote(batch_size)}")
    skip = ("type", "name", "optional", "datasets") + (("batch_size",) if kind == "backends" else ())
    params = {k: v for k, v in item.items() if k not in skip}
    spec = PluginSpec(kind=kind, type=item["type"], label=label, params=params, path=path, optional=optional,
                      only=only, batch_size=batch_size)
    if instantiate:
        if batch_size is not None:
            _check_own_batch_size(spec)
        # validates params (unknown key / type / missing) and cheap constructor checks
        spec.instance = spec.create()
    return spec


def _check_own_batch_size(spec: PluginSpec) -> None:
    """A backend's ``batch_size:`` is its samples per call, never passed to the plug-in: one whose ``__init__``
    declares a ``batch_size`` parameter (a third-party backend) would silently run with its default instead."""
    import inspect

    try:
        params = inspect.signature(REGISTRIES["backends"].get(spec.type, spec.path).__init__).parameters
    except (TypeError, ValueError):  # no signature to read: nothing declared
        return
    if "batch_size" in params:
        raise ConfigError(f"{spec.path}.batch_size", f"a backend's batch_size is the samples per call, which the "
                                                     f"suite keeps; '{spec.type}' has a parameter batch_size that it "
                                                     f"would never receive: rename that parameter in the plug-in")


def _check_combinations(plugins: dict[str, list[PluginSpec]], out: ErrorList) -> None:
    """Cross-plug-in checks: a strategy that uses the dataset's own masks needs datasets that have them, and
    metrics that score against ground truth need ground truth for those masks. Every failing pair goes to
    ``out``."""
    reported: set[tuple[str, str]] = set()
    for m in plugins["masks"]:
        if not getattr(m.instance, "uses_dataset_mask", False):
            continue
        for d in plugins["datasets"]:
            if getattr(d.instance, "provides_masks", None) is False:
                out.add(ConfigError(m.path, f"'{m.label}' uses the dataset's own masks, but {d.path} ({d.label}) "
                                            f"has none; use a generated strategy (box, lama-*) or a dataset with "
                                            f"masks"))
                continue
            if getattr(d.instance, "gt_for_masks", None) is False:
                for met in plugins["metrics"]:
                    needs = getattr(met.instance, "needs_ground_truth", None)
                    if callable(needs) and needs() and (met.path, d.path) not in reported:
                        reported.add((met.path, d.path))
                        out.add(ConfigError(met.path, f"'{met.label}' scores against ground truth, but {d.path} "
                                                      f"({d.label}) is a removal dataset without it (no ground "
                                                      f"truth for its masks, used by {m.path} ({m.label})); score "
                                                      f"only preservation with regions: [out], add ground truth "
                                                      f"(gt/ or gt_column), or say task: reconstruction if its "
                                                      f"images are originals"))


def _check_record_keys(plugins: dict[str, list[PluginSpec]], out: ErrorList) -> None:
    """No two metrics or detectors write the same record key (``record_keys()``, else ``columns``): each sample's
    record holds one value per key, so one entry's numbers would stand under the other's name, and direction, in
    every report (two ``lpips`` nets, a plug-in metric that also writes ``psnr_in``)."""
    owner: dict[str, PluginSpec] = {}
    for spec in plugins["metrics"] + plugins["detectors"]:
        if spec.instance is None:
            continue
        clash = []
        record_keys = getattr(spec.instance, "record_keys", None)
        for key in record_keys() if callable(record_keys) else getattr(spec.instance, "columns", None) or {}:
            first = owner.setdefault(key, spec)
            if first is not spec:
                clash.append((key, first))
        if clash:
            first = clash[0][1]
            out.add(ConfigError(spec.path, f"'{spec.label}' writes {', '.join(k for k, _ in clash)}, as {first.path} "
                                           f"({first.label}) does: "
                                           f"a record holds one value per key, so one entry's numbers would be "
                                           f"reported as the other's; keep one of them (in another suite or run "
                                           f"folder for other settings)"))


def parse_suite(data: Any, source: Path | None = None, instantiate: bool = True) -> Suite:
    """Validate and build a suite. Every error is collected: one is raised as itself, several together as
    :class:`~bench.errors.ConfigErrors` (each with its key path and suggestion)."""
    if not isinstance(data, dict):
        if data is None:
            raise ConfigError("", "the suite file is empty (or only comments): it needs at least backends:, "
                                  "datasets: and masks: (configs/quickstart.yaml is an example)")
        raise ConfigError("", f"a suite must be a mapping of keys, got {type(data).__name__}")
    errors = ErrorList()
    if "save_outputs" in data:
        errors.add(ConfigError("save_outputs", "outputs are always stored now (generations/<cell>/<sample>.png); "
                                               "remove this key; `save_inputs: true` also keeps each sample's "
                                               "input, mask and ground truth for the HTML report's image grids"))
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}  # anchors only
    for key in data:
        if key not in TOP_LEVEL and key != "save_outputs":
            close = suggest(str(key), list(TOP_LEVEL))
            hint = f"; did you mean '{close}'?" if close else f"; valid keys: {', '.join(TOP_LEVEL)}"
            errors.add(ConfigError(str(key), f"unknown key{hint}"))
    for key in REQUIRED:
        if key not in data or data[key] in (None, []):
            errors.add(ConfigError(key, "required: list at least one entry"))
    settings: dict[str, Any] = {}
    for key, (t, default, _doc) in TOP_LEVEL.items():
        if key in PLUGIN_KINDS or key == "name":
            continue
        value = data.get(key, copy.deepcopy(default))
        if not _check_type(value, t):
            errors.add(ConfigError(key, f"expected {_type_name(t)}, got {type(value).__name__} {quote(value)}"))
            value = copy.deepcopy(default)
        settings[key] = value
    with errors.check():
        _check_settings(settings)
    for key in PATH_SETTINGS:
        if settings.get(key) == "":
            errors.add(ConfigError(key, "empty: give a folder (`.` for the current one)"))
        elif isinstance(settings.get(key), str):
            try:
                expand_path(settings[key], key)
            except ConfigError as e:
                errors.add(e)
    name = data.get("name")
    from_file = name is None or name == ""
    name = (source.stem if source else "suite") if from_file else name
    if not isinstance(name, str) or not LABEL_RE.match(name) or len(name) > MAX_NAME:
        errors.add(ConfigError("name", f"use letters, digits and _.+=- (ASCII), at most {MAX_NAME} characters "
                                       f"(got {str(name)[:80]!r}){_yaml_bool(name)}" + (
                                           "; without name: it is the file's name: give the suite a name: or "
                                           "rename the file" if from_file else "")))
    plugins = {}
    for kind in PLUGIN_KINDS:
        items = data.get(kind, TOP_LEVEL[kind][1])
        if items is None and kind not in REQUIRED and kind in data:  # `metrics:` with nothing under it
            default = ", ".join(TOP_LEVEL[kind][1]) or "none"
            errors.add(ConfigError(kind, f"empty (null): list them, write [] for none, or leave the key out for the "
                                         f"default ({default})"))
        plugins[kind] = _parse_plugins(kind, [] if items is None else items, instantiate, errors)
    dataset_labels = [d.label for d in plugins["datasets"]]
    listed = data.get("datasets")
    all_datasets = isinstance(listed, list) and len(dataset_labels) == len(listed)  # (else: a broken entry's name?)
    for b in plugins["backends"] if all_datasets else []:
        for x in b.only or ():
            if x not in dataset_labels:
                close = suggest(x, dataset_labels)
                errors.add(ConfigError(f"{b.path}.datasets", f"no dataset '{x}' in this suite" + (
                    f"; did you mean '{close}'?" if close else f" (datasets: {', '.join(dataset_labels)})")))
    if instantiate:  # the pairs of entries that were built (a broken entry's own error is already listed)
        _check_combinations(plugins, errors)
        _check_record_keys(plugins, errors)
    errors.raise_if_any()
    return Suite(name=name, settings=settings, plugins=plugins, source=source, raw=data)


def _check_settings(settings: dict[str, Any]) -> None:
    errors = ErrorList()
    if not DEVICE_RE.match(str(settings["device"])):
        errors.add(ConfigError("device", f"expected auto, cpu, cuda or cuda:N, got {quote(settings['device'])}"))
    if settings["dtype"] not in DTYPES:
        errors.add(ConfigError("dtype", f"expected one of {', '.join(DTYPES)}, got {quote(settings['dtype'])}"))
    if settings["weights"] not in ("pretrained", "random"):
        errors.add(ConfigError("weights", f"expected 'pretrained' or 'random', got {quote(settings['weights'])}"))
    if settings["batch_size"] < 1:
        errors.add(ConfigError("batch_size", f"must be >= 1, got {settings['batch_size']}"))
    for key in ("resolution", "limit"):
        if settings[key] is not None and settings[key] < 1:
            errors.add(ConfigError(key, f"must be >= 1 or null, got {settings[key]}"))
    if settings["resolution"] is not None and settings["resolution"] > MAX_RESOLUTION:
        errors.add(ConfigError("resolution", f"must be at most {MAX_RESOLUTION} (a side in pixels; null keeps each "
                                             f"image's own size), got {settings['resolution']}"))
    t = settings["timeout_s"]
    if t is not None and not (math.isfinite(t) and t > 0):
        errors.add(ConfigError("timeout_s", f"must be a number of seconds > 0, or null for no limit; got {quote(t)}"))
    if settings["workers"] is not None and settings["workers"] < 0:
        errors.add(ConfigError("workers", f"must be >= 0 (0 = load samples inline), got {settings['workers']}"))
    if settings["warmup"] is not None and settings["warmup"] < 0:
        errors.add(ConfigError("warmup", f"must be >= 0 or null, got {settings['warmup']}"))
    if settings["report"] is not None:
        with errors.check():
            settings["report"] = _validate_report(settings["report"])
    errors.raise_if_any()


def _validate_report(obj: Any) -> Any:
    from .report import validate_report_section

    return validate_report_section(obj, "report")


def parse_yaml(text: str) -> Any:
    """YAML text read as a suite file is (:func:`load_yaml`): duplicate keys refused, ``1e-3`` a number, aliases
    bounded; for YAML given on the command line (``bench score --add-metrics '[...]'``). Raises
    :class:`ConfigError` or ``yaml.YAMLError``."""
    data = yaml.load(text, Loader=_UniqueKeyLoader)
    _check_size(data, "the YAML given")
    return data


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise ConfigError("", f"suite file not found: {path}")
    if not path.is_file():
        raise ConfigError("", f"{path} is not a file (give the suite's YAML file)")
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise ConfigError("", f"{path}: {size:,} bytes is not a suite file (suites are a few KB; the limit is "
                                  f"{MAX_SUITE_BYTES:,})")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("", f"{path}: not UTF-8 text (byte {e.start}); save the suite as UTF-8") from None
    except OSError as e:
        raise ConfigError("", f"{path}: cannot read: {e.strerror or e}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
        _check_size(data, path)
        return data
    except ConfigError as e:
        if str(e.message).startswith(str(path)):
            raise
        raise ConfigError("", f"{path}: {e.message}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        tip = " (YAML does not allow tabs for indentation; use spaces)" if "\t" in line else ""
        raise ConfigError("", f"{path}: malformed YAML: {where}{problem}{tip}") from None


def load_suite(path: str | Path, instantiate: bool = True, overrides: dict[str, Any] | None = None) -> Suite:
    path = Path(path)
    data = load_yaml(path)
    if overrides and isinstance(data, dict):
        data = {**data, **overrides}
    return parse_suite(data, source=path, instantiate=instantiate)
