"""Inpainting backends. Built-in entries are registered lazily: a backend's module (and its heavy dependencies,
e.g. diffusers) is imported only when a suite uses it. See ``docs/backends.md``."""
from ..registry import BACKENDS

# classical and baselines (CPU, no weights)
BACKENDS.lazy("opencv-telea", "bench.backends.classical:TeleaBackend")
BACKENDS.lazy("opencv-ns", "bench.backends.classical:NSBackend")
BACKENDS.lazy("biharmonic", "bench.backends.classical:BiharmonicBackend")
BACKENDS.lazy("mean-fill", "bench.backends.classical:MeanFillBackend")
BACKENDS.lazy("identity", "bench.backends.classical:IdentityBackend")
