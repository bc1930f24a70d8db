"""Inpainting backends. Built-in entries are registered lazily: a backend's module (and its heavy dependencies,
e.g. diffusers) is imported only when a suite uses it. See ``docs/backends.md``."""
from ..registry import BACKENDS

# classical and baselines (CPU, no weights)
BACKENDS.lazy("opencv-telea", "bench.backends.classical:TeleaBackend")
BACKENDS.lazy("opencv-ns", "bench.backends.classical:NSBackend")
BACKENDS.lazy("biharmonic", "bench.backends.classical:BiharmonicBackend")
BACKENDS.lazy("mean-fill", "bench.backends.classical:MeanFillBackend")
BACKENDS.lazy("identity", "bench.backends.classical:IdentityBackend")

# models (heavy dependencies imported only when used)
BACKENDS.lazy("diffusers", "bench.backends.diffusers_inpaint:DiffusersBackend")
BACKENDS.lazy("powerpaint", "bench.backends.powerpaint:PowerPaintBackend")
BACKENDS.lazy("lama", "bench.backends.lama:LamaBackend")

# anything else
BACKENDS.lazy("command", "bench.backends.command:CommandBackend")
BACKENDS.lazy("python", "bench.backends.python_backend:PythonBackend")
BACKENDS.lazy("outputs", "bench.backends.outputs:OutputsBackend")
