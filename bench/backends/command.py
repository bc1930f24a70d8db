"""Run an external program over a folder of images and masks, then read its folder of outputs.

For research repos that cannot share our environment (pinned old diffusers, their own CUDA build...): the program
runs in its own environment (``conda run -n ENV python ...``, a venv's python, a container...).

Per batch:

1. a fresh temporary folder gets ``input/`` and ``mask/`` (and an empty ``output/``). Sample *i* of the batch is
   written as ``input/{i:06d}.png`` (8-bit RGB, the blanked image exactly as the adapter gives it) and
   ``mask/{i:06d}.png`` (8-bit grayscale, hole = 255, kept = 0; ``mask_hole_value: 0`` inverts it).
2. ``command`` is split with ``shlex.split`` (no shell is involved: no globbing, no pipes, no injection), and in
   each argument the placeholders are replaced: ``{input_dir}``, ``{mask_dir}``, ``{output_dir}`` (absolute
   paths), ``{device}`` (``cpu``/``cuda``/``mps``), ``{device_index}`` (``0`` when none), ``{seed}`` (the seed of
   the batch's first per-sample generator) and ``{batch_size}``. It runs with ``cwd`` and ``env`` (added to the
   current environment) and must finish within ``timeout`` seconds, else it and its process group are killed.
   A leading ``~`` in the program path and in ``cwd`` is expanded (there is no shell to do it).
3. for each sample the output ``output/{i:06d}.*`` (png, jpg, jpeg, webp, bmp, tif) is read as RGB. A non-zero exit
   status, a timeout or a missing output raises :class:`~bench.errors.BackendError` with the command, the exit
   status and the tail of its stdout/stderr (the runner records error rows for the batch); a missing or unreadable
   output is named by its sample's dataset id and the file expected (the runner passes the ids; the batch's file
   names are only positions). An output whose size differs from its input is returned as is: the adapter records
   its size in ``raw_sizes`` (the ``resized`` detector reads it) and resizes it back; ``strict_size: true`` makes it
   an error instead.

The program gets SIGTERM when the harness dies (Linux; :func:`bench.backends.procmem.die_with_parent`), so a killed
``bench run`` leaves no program behind (a wrapper that starts the model as its own child must pass SIGTERM on:
docs/backends.md). Ctrl-C kills the program's process group at once (:func:`bench.backends.procmem.run_measured`).

Memory: the program's own, measured by :mod:`bench.backends.procmem`: on CPU the peak RSS of its process tree
(sampled from ``/proc``), on CUDA its tree's GPU memory through NVML (``nvidia-ml-py``); where that cannot be measured the report
shows "—", never the harness's memory.

Timing: the runner times the whole ``inpaint`` call, so a command backend's latency is the **wall time per batch**:
writing the PNGs, starting the process (and its Python, imports and model load, every batch), inference and reading
the outputs. Use a large ``batch_size`` to amortise start-up, and compare its latency only with that in mind.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BackendError, WeightsError, quote
from ..pixels import check_mask_hole_value, mask_file_u8
from ..types import RunContext
from .base import Backend, Geometry
from .procmem import run_measured

def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


PLACEHOLDERS = ("input_dir", "mask_dir", "output_dir", "device", "device_index", "seed", "batch_size")
OUTPUT_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_TAIL = 2000


def _tail(text: str | bytes | None) -> str:
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]


def substitute(args: list[str], values: dict[str, str]) -> list[str]:
    """Replace ``{name}`` placeholders inside each argument (other braces are left alone)."""
    out = []
    for a in args:
        for k, v in values.items():
            a = a.replace("{" + k + "}", v)
        out.append(a)
    return out


class CommandBackend(Backend):
    """An external program over a folder of PNG images and masks (for repos with their own environment)."""

    deterministic = False  # unknown: whatever the program does
    takes_sample_ids = True  # for messages only: a missing output names its sample, not the batch-local file name
    memory_scope = "subprocess"  # the model's memory is the program's: memory_peak() measures it

    def __init__(self, command: str, timeout: float = 3600.0, cwd: str | None = None, env: dict | None = None,
                 mask_hole_value: int = 255, strict_size: bool = False, keep_temp: bool = False,
                 pad_multiple: int | None = None, fixed_size: int | None = None, max_side: int | None = None,
                 crop_margin: int | None = None):
        try:
            args = shlex.split(command)
        except ValueError as e:
            raise ValueError(f"command cannot be split into arguments: {e}") from e
        if not args:
            raise ValueError("command is empty")
        used = set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", command))
        unknown = sorted(used - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} in command; known: "
                             f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
        for need in ("input_dir", "output_dir"):
            if need not in used:
                raise ValueError(f"command must contain {{{need}}} (where the program reads / writes its images)")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        check_mask_hole_value(mask_hole_value, "mask_hole_value")
        if env is not None and not all(isinstance(k, str) for k in env):
            raise ValueError("env must map variable names to values")
        self.command = command
        self.args = [os.path.expanduser(args[0])] + args[1:]  # "~/venvs/x/bin/prog": no shell expands it for us
        self.timeout = float(timeout)
        self.cwd = cwd
        self.env = {k: str(v) for k, v in (env or {}).items()}
        self.mask_hole_value = mask_hole_value
        self.strict_size = strict_size
        self.keep_temp = keep_temp
        self.geometry = Geometry().override(pad_multiple=pad_multiple, fixed_size=fixed_size, max_side=max_side,
                                            crop_margin=crop_margin)
        self.device = torch.device("cpu")
        self.last_stdout = ""
        self.last_stderr = ""
        self.reset_memory_peak()

    def check_weights(self, ctx: RunContext) -> None:
        """The program is this backend's model: one that cannot be found (or a ``cwd`` that is not a folder) stops
        the run before any work and is a `bench validate` problem, instead of an error row for every sample. A bare
        name is looked up in ``PATH`` (``env``'s, else ours), a path with a folder relative to ``cwd``, as the
        program is started."""
        cwd = Path(self.cwd).expanduser() if self.cwd else None
        if cwd is not None and not cwd.is_dir():
            raise WeightsError(f"command: cwd '{self.cwd}' is not a folder")
        prog = self.args[0]
        if os.sep in prog:
            path = (cwd or Path()) / prog
            if not (path.is_file() and os.access(path, os.X_OK)):
                why = "is not executable (chmod +x, or start it with its interpreter)" if path.is_file() else \
                    "not found"
                raise WeightsError(f"command: program '{prog}' {why}" + (f" (relative to cwd '{self.cwd}')"
                                                                         if cwd and not Path(prog).is_absolute()
                                                                         else ""))
        elif shutil.which(prog, path=self.env.get("PATH", os.environ.get("PATH"))) is None:
            raise WeightsError(f"command: program '{prog}' not found in PATH (give its full path, e.g. a venv's "
                               f"bin/python, or `conda run -n ENV ...`)")

    def setup(self, ctx: RunContext) -> None:
        self.device = torch.device(ctx.device)
        if self.cwd and not Path(self.cwd).expanduser().is_dir():
            raise BackendError(f"command: cwd '{self.cwd}' is not a folder")

    # -- I/O -------------------------------------------------------------------------------------------
    def _write_inputs(self, image: torch.Tensor, mask: torch.Tensor, in_dir: Path, mask_dir: Path) -> list[str]:
        from PIL import Image

        stems = []
        imgs = (image.detach().float().clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        holes = mask.detach().cpu()[:, 0].numpy().astype(bool)
        for i in range(imgs.shape[0]):
            stem = f"{i:06d}"
            Image.fromarray(imgs[i], "RGB").save(in_dir / f"{stem}.png")
            m = mask_file_u8(holes[i], self.mask_hole_value)
            Image.fromarray(m, "L").save(mask_dir / f"{stem}.png")
            stems.append(stem)
        return stems

    def _read_outputs(self, out_dir: Path, stems: list[str], size: tuple[int, int],
                      sample_ids: list[str] | None = None) -> list[torch.Tensor]:
        """Read ``output/{stem}.*`` per input. Messages name each file's sample by ``sample_ids`` (the dataset ids,
        in batch order) when given: the stems are positions in this batch, which the user cannot look up."""
        from PIL import Image

        def sample(i: int) -> str:
            return f"sample {quote(sample_ids[i])}" if sample_ids is not None else f"batch item {i}"

        outs, missing, wrong = [], [], []
        for i, stem in enumerate(stems):
            found = [p for p in (out_dir / f"{stem}{ext}" for ext in OUTPUT_EXTS) if p.is_file()]
            if not found:
                missing.append(f"{sample(i)} (expected {out_dir / stem}.png, the output of input/{stem}.png)")
                continue
            try:
                with Image.open(found[0]) as im:
                    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
            except Exception as e:  # noqa: BLE001 - an unreadable file is the program's failure
                raise BackendError(f"command: cannot read the output of {sample(i)}, {found[0]}: {e}") from e
            if arr.shape[:2] != size:
                wrong.append(f"{sample(i)}: {found[0].name} is {arr.shape[0]}x{arr.shape[1]}")
            outs.append(torch.from_numpy(arr).permute(2, 0, 1).contiguous())
        if missing:
            listing = sorted(p.name for p in out_dir.iterdir())[:10]
            raise BackendError(
                f"command: no output for {len(missing)} of {len(stems)} inputs: {'; '.join(missing[:5])}"
                f"{'...' if len(missing) > 5 else ''}; each input/<stem>.png needs output/<stem>.png (or "
                f"{', '.join(e.lstrip('.') for e in OUTPUT_EXTS[1:])}); the output folder holds "
                f"{listing or 'nothing'}. stdout: {_tail(self.last_stdout) or '(empty)'} | stderr: "
                f"{_tail(self.last_stderr) or '(empty)'}")
        if wrong and self.strict_size:
            raise BackendError(f"command: outputs differ from the input size {size[0]}x{size[1]}: {'; '.join(wrong)}")
        return outs

    # -- running ---------------------------------------------------------------------------------------
    def _run(self, argv: list[str]) -> None:
        env = {**os.environ, **self.env}
        cwd = str(Path(self.cwd).expanduser()) if self.cwd else None
        gpu = (self.device.index or 0) if self.device.type == "cuda" else None
        try:
            res = run_measured(argv, cwd=cwd, env=env, timeout=self.timeout, gpu_index=gpu)
        except OSError as e:
            raise BackendError(f"command: cannot start {argv[0]!r}: {e}") from e
        self.last_stdout, self.last_stderr = _tail(res.stdout), _tail(res.stderr)
        self._peak_rss = _max(self._peak_rss, res.peak_rss)
        self._peak_gpu = _max(self._peak_gpu, res.peak_gpu)
        self._memory_notes.update(res.notes)
        if res.timed_out:
            raise BackendError(f"command: timed out after {self.timeout:g} s (killed): {shlex.join(argv)}. "
                               f"stdout: {self.last_stdout or '(empty)'} | stderr: {self.last_stderr or '(empty)'}")
        if res.returncode != 0:
            raise BackendError(f"command: exit status {res.returncode}: {shlex.join(argv)}. stdout: "
                               f"{self.last_stdout or '(empty)'} | stderr: {self.last_stderr or '(empty)'}")

    # -- memory: the program's, not the harness's ------------------------------------------------------
    def reset_memory_peak(self) -> None:
        self._peak_rss = self._peak_gpu = None
        self._memory_notes = set()

    def memory_peak(self) -> dict[str, Any]:
        """The cell's peak over its program runs: RSS of the program's process tree (its summed RSS, at least its
        largest process's ``VmHWM``; CPU cells) or NVML's
        GPU memory of the tree (CUDA cells); None where it could not be measured."""
        out: dict[str, Any] = {"memory_source": "command process tree"}
        if self.device.type == "cuda":
            out.update(peak_mem_allocated=self._peak_gpu, peak_mem_reserved=self._peak_gpu, peak_rss=self._peak_rss)
        else:
            out.update(peak_rss=self._peak_rss)
        if self._memory_notes:
            out["memory_notes"] = sorted(self._memory_notes)
        return out

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator],
                sample_ids: list[str] | None = None) -> list[torch.Tensor]:
        tmp = tempfile.mkdtemp(prefix="inpaint-bench-cmd-")
        root = Path(tmp)
        try:
            in_dir, mask_dir, out_dir = root / "input", root / "mask", root / "output"
            for d in (in_dir, mask_dir, out_dir):
                d.mkdir()
            stems = self._write_inputs(image, mask, in_dir, mask_dir)
            values = {"input_dir": str(in_dir), "mask_dir": str(mask_dir), "output_dir": str(out_dir),
                      "device": self.device.type, "device_index": str(self.device.index or 0),
                      "seed": str(generator[0].initial_seed() if generator else 0),
                      "batch_size": str(image.shape[0])}
            self._run(substitute(self.args, values))
            outs = self._read_outputs(out_dir, stems, (int(image.shape[-2]), int(image.shape[-1])), sample_ids)
            return [o.to(image.device) for o in outs]
        finally:
            if not self.keep_temp:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)

    def provenance(self) -> dict[str, Any]:
        return {"command": self.command, "cwd": self.cwd, "env": self.env, "timeout_s": self.timeout,
                "mask_hole_value": self.mask_hole_value, "timing": "wall time per batch (process start, model "
                "load, inference and file I/O included)"}
