"""Suite files: the schema of a suite (:mod:`.suite`) and of its ``report:`` section (:mod:`.report`).

``from bench.config import load_suite, parse_suite`` is the public entry. Both modules sit on the floor just above
the plug-ins (they read the registries) and below everything that runs or reports a suite.
"""
from .report import validate_report_section
from .suite import (DEVICE_RE, MAX_NAME, PLUGIN_KINDS, TOP_LEVEL, PluginSpec, Suite, canonical_json, hash_obj,
                    load_suite, load_yaml, parse_suite)

__all__ = ["DEVICE_RE", "MAX_NAME", "PLUGIN_KINDS", "TOP_LEVEL", "PluginSpec", "Suite", "canonical_json", "hash_obj",
           "load_suite", "load_yaml", "parse_suite", "validate_report_section"]
