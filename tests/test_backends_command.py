"""The command backend with small Python scripts as the external program; and the python backend."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.backends.geometry import run_backend
from bench.errors import BackendError, ConfigError
from bench.registry import BACKENDS
from bench.types import RunContext

CPU = RunContext(device=torch.device("cpu"))
PY = sys.executable

FILL = """
import sys, pathlib
import numpy as np
from PIL import Image
inp, masks, out = map(pathlib.Path, sys.argv[1:4])
scale = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
for p in sorted(inp.glob("*.png")):
    img = np.asarray(Image.open(p).convert("RGB")).astype(np.float32)
    hole = np.asarray(Image.open(masks / p.name)) > 127
    img[hole] = img[~hole].mean(axis=0)  # mean-fill
    im = Image.fromarray(img.round().astype(np.uint8))
    if scale != 1.0:
        im = im.resize((int(im.width * scale), int(im.height * scale)))
    im.save(out / p.name)
print("done", len(list(out.iterdir())))
"""


def _script(tmp_path, name, body):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def _batch(b=2, h=24, w=32):
    g = torch.Generator().manual_seed(0)
    image = (torch.rand(b, 3, h, w, generator=g) * 255).round() / 255  # exactly representable in 8 bits
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[:, :, 5:15, 8:20] = True
    image = torch.where(mask, torch.full_like(image, 128 / 255), image)
    return image, mask, [torch.Generator().manual_seed(i) for i in range(b)]


def _backend(cmd, **kw):
    be = BACKENDS.create({"type": "command", "command": cmd, **kw}, "backends[0]")
    be.setup(CPU)
    return be


def test_external_program_fills_the_batch(tmp_path):
    s = _script(tmp_path, "fill.py", FILL)
    be = _backend(f"{PY} {s} {{input_dir}} {{mask_dir}} {{output_dir}}", timeout=60)
    image, mask, gens = _batch()
    res = run_backend(be, image, mask, gens)
    assert res.output.shape == image.shape and res.raw_sizes == [(24, 32)] * 2
    hole = mask.expand_as(image)
    assert torch.equal(res.output[~hole], image[~hole]), "8-bit PNG round trip is exact outside the hole"
    for i in range(2):
        known = image[i][:, ~mask[i, 0]]
        expect = (known.mean(dim=1) * 255).round() / 255
        got = res.output[i][:, mask[i, 0]]
        assert torch.allclose(got, expect[:, None].expand_as(got), atol=1 / 255)
    assert be.last_stdout == "done 2"


def test_failing_program_reports_status_and_stderr(tmp_path):
    s = _script(tmp_path, "fail.py", "import sys\nprint('loading model')\nsys.stderr.write('boom: CUDA missing')\n"
                                     "sys.exit(3)\n")
    be = _backend(f"{PY} {s} {{input_dir}} {{output_dir}}")
    image, mask, gens = _batch()
    with pytest.raises(BackendError) as e:
        run_backend(be, image, mask, gens)
    msg = str(e.value)
    assert "exit status 3" in msg and "boom: CUDA missing" in msg and "loading model" in msg and str(s) in msg


def test_hanging_program_is_killed_at_the_timeout(tmp_path):
    s = _script(tmp_path, "hang.py", "import time, sys\nprint('started', flush=True)\ntime.sleep(60)\n")
    be = _backend(f"{PY} {s} {{input_dir}} {{output_dir}}", timeout=1.5)
    image, mask, gens = _batch(b=1)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=r"timed out after 1.5 s") as e:
        run_backend(be, image, mask, gens)
    assert time.perf_counter() - t0 < 15
    assert "started" in str(e.value)


def test_wrong_size_outputs_are_recorded_and_resized(tmp_path):
    s = _script(tmp_path, "fill.py", FILL)
    cmd = f"{PY} {s} {{input_dir}} {{mask_dir}} {{output_dir}} 0.5"
    image, mask, gens = _batch()
    res = run_backend(_backend(cmd), image, mask, gens)
    assert res.raw_sizes == [(12, 16)] * 2 and res.model_sizes == [(24, 32)] * 2
    assert res.output.shape == image.shape and torch.isfinite(res.output).all()
    with pytest.raises(BackendError, match="differ from the input size 24x32"):
        run_backend(_backend(cmd, strict_size=True), image, mask, gens)


def test_missing_outputs_are_reported(tmp_path):
    s = _script(tmp_path, "lazy.py", "import sys, shutil, pathlib\n"
                                     "src = sorted(pathlib.Path(sys.argv[1]).glob('*.png'))[0]\n"
                                     "shutil.copy(src, pathlib.Path(sys.argv[2]) / src.name)\n")
    be = _backend(f"{PY} {s} {{input_dir}} {{output_dir}}")
    image, mask, gens = _batch(b=3)
    with pytest.raises(BackendError, match=r"no output for 2 of 3 inputs: batch item 1 \(expected \S+/output/"
                                           r"000001\.png, the output of input/000001\.png\); batch item 2 "):
        run_backend(be, image, mask, gens)
    # given the dataset ids (as the runner gives them), the message names the samples the user knows
    with pytest.raises(BackendError) as e:
        run_backend(be, image, mask, gens, sample_ids=["cat/a.jpg", "dog/b.jpg", "owl/c.jpg"])
    msg = str(e.value)
    assert "no output for 2 of 3 inputs: sample 'dog/b.jpg' (expected " in msg and "/output/000001.png" in msg
    assert "sample 'owl/c.jpg' (expected " in msg and "/output/000002.png" in msg and "cat/a.jpg" not in msg


def test_no_shell_and_placeholders_per_argument(tmp_path):
    s = _script(tmp_path, "args.py", """
        import sys, shutil, pathlib
        from PIL import Image
        import numpy as np
        inp, out, device, seed, odd = sys.argv[1:6]
        assert odd == '$HOME;echo x>{"k": 1}', odd  # passed literally: no shell, other braces kept
        assert device == "cpu" and seed == "11", (device, seed)
        for p in pathlib.Path(inp).glob("*.png"):
            shutil.copy(p, pathlib.Path(out) / p.name)
        """)
    be = _backend(f"{PY} {s} {{input_dir}} {{output_dir}} {{device}} {{seed}} '$HOME;echo x>{{\"k\": 1}}'")
    image, mask, _ = _batch(b=1)
    out = run_backend(be, image, mask, [torch.Generator().manual_seed(11)]).output
    assert torch.equal(out, image)


def test_mask_convention_can_be_inverted(tmp_path):
    s = _script(tmp_path, "check.py", """
        import sys, shutil, pathlib
        import numpy as np
        from PIL import Image
        inp, masks, out, hole_value = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
        for p in pathlib.Path(inp).glob("*.png"):
            m = np.asarray(Image.open(masks / p.name))
            assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
            assert m[10, 10] == hole_value and m[0, 0] == 255 - hole_value
            shutil.copy(p, pathlib.Path(out) / p.name)
        """)
    image, mask, gens = _batch(b=1)
    for v in (255, 0):
        be = _backend(f"{PY} {s} {{input_dir}} {{mask_dir}} {{output_dir}} {v}", mask_hole_value=v)
        run_backend(be, image, mask, gens[:1])


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \{inptu_dir\}"):
        BACKENDS.create({"type": "command", "command": "prog {inptu_dir} {output_dir}"}, "backends[2]")
    with pytest.raises(ConfigError, match=r"must contain \{output_dir\}"):
        BACKENDS.create({"type": "command", "command": "prog {input_dir}"}, "backends[2]")
    with pytest.raises(ConfigError, match=r"backends\[2\]\.timeout: expected float"):
        BACKENDS.create({"type": "command", "command": "p {input_dir} {output_dir}", "timeout": "1h"}, "backends[2]")
    with pytest.raises(ConfigError, match=r"backends\[2\]\.command: missing required key"):
        BACKENDS.create({"type": "command"}, "backends[2]")
    with pytest.raises(BackendError, match="cannot start"):
        be = _backend("/no/such/program {input_dir} {output_dir}")
        image, mask, gens = _batch(b=1)
        run_backend(be, image, mask, gens)


# -- the program's lifetime ------------------------------------------------------------------------------------
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux only")

# the model: writes its pid (atomically) where the harness says, then runs "forever"
SLEEPER = """
import os, sys, time
pid_file = sys.argv[3]
with open(pid_file + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(pid_file + ".tmp", pid_file)
time.sleep(60)
"""

# the harness: a command backend running SLEEPER on a batch of one, as `bench run` would
HARNESS = """
import sys
import torch
from bench.registry import BACKENDS
from bench.types import RunContext
sleeper, pid_file = sys.argv[1:3]
be = BACKENDS.create({"type": "command", "timeout": 120,
                      "command": f"{sys.executable} {sleeper} {{input_dir}} {{output_dir}} {pid_file}"}, "b")
be.setup(RunContext(device=torch.device("cpu")))
be.inpaint(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8, dtype=torch.bool), [torch.Generator()])
"""


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (one that init has not reaped yet is as dead as a reaped one)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "")
    return state not in ("Z", "X")


@contextlib.contextmanager
def _harness_running(argv: list[str], pid_file: Path, **popen):
    """Start a harness (``argv``) that runs a program writing its pid to ``pid_file``; yield (harness, the
    program's pid) once it started; on the way out kill whatever of both is left."""
    root = str(Path(__file__).parents[1])  # the harness imports this checkout's bench
    parent = subprocess.Popen([PY, *argv], cwd=root, env={**os.environ, "PYTHONPATH": root}, **popen)
    child = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert parent.poll() is None, f"the harness exited ({parent.returncode}) before starting the program"
            assert time.monotonic() < deadline, "the program never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        yield parent, child
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)


def _dies_after_kill(parent: subprocess.Popen, child: int) -> bool:
    """SIGKILL the harness (no handler, no finally: as the OOM killer or a pre-emption); did ``child`` die?"""
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30  # (a loaded machine: SIGTERM and the reaping take a while)
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(child)


@linux_only
def test_the_program_dies_with_a_killed_harness(tmp_path):
    sleeper, harness = _script(tmp_path, "sleeper.py", SLEEPER), _script(tmp_path, "harness.py", HARNESS)
    pid_file = tmp_path / "program.pid"
    with _harness_running([str(harness), str(sleeper), str(pid_file)], pid_file) as (parent, child):
        assert _alive(child)
        assert _dies_after_kill(parent, child), "the program outlived the SIGKILLed harness"


@linux_only
def test_ctrl_c_stops_the_program_at_once(tmp_path):
    """Ctrl-C on `bench run` during a command backend's batch waited for the program to finish the batch (it runs
    in its own session, so the terminal's SIGINT never reached it; the harness then waited for its pipes to
    close), and the batch's outputs were thrown away anyway: with a real model, minutes of a frozen terminal. The
    program (and what it started) is now killed at once and the harness stops."""
    sleeper, harness = _script(tmp_path, "sleeper.py", SLEEPER), _script(tmp_path, "harness.py", HARNESS)
    pid_file = tmp_path / "program.pid"
    with _harness_running([str(harness), str(sleeper), str(pid_file)], pid_file, stderr=subprocess.PIPE,
                          text=True) as (parent, child):
        t0 = time.monotonic()
        parent.send_signal(signal.SIGINT)  # what Ctrl-C sends to the harness's process group
        try:
            _, err = parent.communicate(timeout=20)  # (the program sleeps 60 s)
        except subprocess.TimeoutExpired:
            pytest.fail("Ctrl-C did not stop the harness: it waits for the program's batch")
        assert "KeyboardInterrupt" in err and time.monotonic() - t0 < 20
        assert not _alive(child), "the program outlived the interrupted harness"


@linux_only
def test_a_program_whose_harness_died_before_prctl_exits_at_once():
    from bench.backends.procmem import die_with_parent

    sleep = [PY, "-c", "import time; time.sleep(30)"]
    # the race: the parent died between fork and prctl, so the child's parent is no longer the pid it expects
    t0 = time.monotonic()
    r = subprocess.run(sleep, preexec_fn=die_with_parent(parent=os.getppid()), timeout=20)
    assert r.returncode == 1 and time.monotonic() - t0 < 10
    # its parent alive, the program runs as usual
    ok = subprocess.run([PY, "-c", "print('ran')"], preexec_fn=die_with_parent(), capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "ran\n"


# -- python backend -----------------------------------------------------------------------------------------
def test_python_backend_builds_target_with_kwargs():
    be = BACKENDS.create({"type": "python", "target": "bench.backends.classical:TeleaBackend",
                          "kwargs": {"radius": 5}}, "backends[0]")
    be.setup(CPU)
    assert be.inner.radius == 5 and be.provenance()["target"] == "bench.backends.classical:TeleaBackend"
    image, mask, gens = _batch(b=1)
    out = run_backend(be, image, mask, gens).output
    direct = BACKENDS.create({"type": "opencv-telea", "radius": 5}, "b").inpaint(image, mask, gens)
    assert torch.equal(out, direct)


def test_python_backend_forwards_geometry():
    from bench.backends.base import Geometry

    be = BACKENDS.create({"type": "python", "target": "bench.backends.classical:IdentityBackend"}, "b")
    be.inner.geometry = Geometry(pad_multiple=8)
    image, mask, gens = _batch(b=1)
    assert run_backend(be, image, mask, gens).model_sizes == [(24, 32)]
    be.inner.geometry = Geometry(fixed_size=16)
    assert run_backend(be, image, mask, gens).model_sizes == [(16, 16)]


@pytest.mark.parametrize("spec,msg", [
    ({"target": "bench.backends.classical"}, "module:Class"),
    ({"target": "bench.no_such_module:X"}, "cannot import module 'bench.no_such_module'"),
    ({"target": "bench.backends.classical:Nope"}, "has no attribute 'Nope'"),
    ({"target": "bench.backends.base:Geometry"}, "without an inpaint"),
    ({"target": "bench.backends.classical:TeleaBackend", "kwargs": {"radus": 2}},
     r"backends\[0\].kwargs.radus: unknown key .*did you mean 'radius'"),
    ({"target": "bench.backends.classical:TeleaBackend", "kwargs": {"radius": "2"}},
     r"backends\[0\].kwargs.radius: expected int, got str '2'"),
])
def test_python_backend_errors(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        BACKENDS.create({"type": "python", **spec}, "backends[0]")


# -- recipes ------------------------------------------------------------------------------------------------
def test_recipes_are_valid_suites_and_their_backends_build():
    from pathlib import Path

    from bench.config import load_suite

    recipes = sorted((Path(__file__).parents[1] / "configs" / "recipes").glob("*.yaml"))
    assert {p.stem for p in recipes} >= {"iopaint", "pixelhacker", "catdiffusion", "diffusers", "brushnet"}
    for path in recipes:
        suite = load_suite(path)
        for spec in suite.backends:
            be = spec.create()
            if spec.type == "command":
                assert "{input_dir}" in be.command and "{output_dir}" in be.command
                assert not be.args[0].startswith("~"), "the program path is expanded"


def test_iopaint_recipe_lets_iopaint_pad_lama_itself():
    """IOPaint pads LaMa's input to 8 by numpy's "symmetric" mode (iopaint 1.6.0 ``iopaint/helper.py``
    ``pad_img_to_modulo``); the adapter's reflect padding before it would change the hole near the border (measured
    with a scripted module through ``iopaint run``: up to several levels), so the recipe's lama entry must not pad."""
    from pathlib import Path

    from bench.config import load_suite

    suite = load_suite(Path(__file__).parents[1] / "configs" / "recipes" / "iopaint.yaml")
    lama = [spec.create() for spec in suite.backends if "--model=lama" in str(spec.params.get("command", ""))]
    assert len(lama) == 1
    assert lama[0].geometry.pad_multiple == 1 and lama[0].geometry.fixed_size is None


@pytest.mark.parametrize("model", ["mat", "migan"])
def test_iopaint_recipe_gives_mat_and_migan_the_image_as_it_is(model):
    """IOPaint 1.6.0 handles a non-512 image itself: MAT (``iopaint/model/mat.py``: ``pad_mod = 512``,
    ``min_size = 512``, ``pad_to_square``; ``model/base.py`` ``_pad_forward``) pads it by numpy's "symmetric" mode
    to a square multiple of 512 and crops the result; MI-GAN (``iopaint/model/mi_gan.py`` ``__call__``) runs a
    512 x 512 image whole and any other size by crops around each hole's box (margin 128), each resized down to a
    long side of 512 at most (aspect kept). Neither resizes to 512 x 512. With ``fixed_size: 512`` the adapter
    did (aspect lost, bilinear there and back, so IOPaint took MI-GAN's whole-image path where it would crop): run
    through ``iopaint run`` with random stand-ins, the hole differed from IOPaint's own output by many levels and
    pixels outside it changed. So the recipe's mat and migan entries must not resize, pad or crop."""
    from pathlib import Path

    from bench.config import load_suite

    suite = load_suite(Path(__file__).parents[1] / "configs" / "recipes" / "iopaint.yaml")
    entry = [spec.create() for spec in suite.backends
             if f"--model={model} " in str(spec.params.get("command", ""))]
    assert len(entry) == 1
    g = entry[0].geometry
    assert g.fixed_size is None and g.max_side is None and g.crop_margin is None and g.pad_multiple == 1


def test_through_the_runner_wrong_size_is_scored_by_the_resized_detector(tmp_path):
    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    s = _script(tmp_path, "fill.py", FILL)
    suite = parse_suite({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2, "resolution": 32,
        "backends": [
            {"type": "command", "name": "same", "command": f"{PY} {s} {{input_dir}} {{mask_dir}} {{output_dir}}"},
            {"type": "command", "name": "half", "command": f"{PY} {s} {{input_dir}} {{mask_dir}} {{output_dir}} 0.5"},
            {"type": "command", "name": "broken", "command": f"{PY} -c \"import sys; sys.exit(4)\" {{input_dir}} "
                                                             f"{{output_dir}}"},
        ],
        "datasets": [{"type": "synthetic", "n": 2}],
        "masks": [{"type": "box", "min_size": 0.2, "max_size": 0.4}],
        "metrics": ["psnr"],
        "detectors": ["resized"],
    })
    run_dir = Runner(suite, progress=False).run()
    with RunStore(run_dir / "records.sqlite") as st:
        recs = st.records()
    by = {}
    for r in recs:
        by.setdefault(r["backend"], []).append(r)
    assert all(r["error"] is None and r["resized_score"] == 0 for r in by["same"])
    assert all(r["error"] is None and r["resized_score"] == pytest.approx(0.5) for r in by["half"])
    assert all("exit status 4" in r["error"] for r in by["broken"])


def test_through_the_runner_a_missing_output_names_its_sample(tmp_path):
    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    # copies every input but the batch's second (000001.png) to the outputs
    s = _script(tmp_path, "skip.py", "import sys, shutil, pathlib\n"
                                     "for p in pathlib.Path(sys.argv[1]).glob('*.png'):\n"
                                     "    if p.stem != '000001':\n"
                                     "        shutil.copy(p, pathlib.Path(sys.argv[2]) / p.name)\n")
    suite = parse_suite({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2, "resolution": 32,
        "backends": [{"type": "command", "name": "skip", "command": f"{PY} {s} {{input_dir}} {{output_dir}}"}],
        "datasets": [{"type": "synthetic", "n": 3}],
        "masks": [{"type": "box", "min_size": 0.2, "max_size": 0.4}],
        "metrics": ["psnr"],
    })
    run_dir = Runner(suite, progress=False).run()
    with RunStore(run_dir / "records.sqlite") as st:
        recs = sorted(st.records(), key=lambda r: r["sample_id"])
    assert len(recs) == 3
    first, second, third = recs  # batches: (first, second), (third,)
    # the first batch fails as a whole; its rows name the sample whose output is missing, by its dataset id
    for r in (first, second):
        assert f"no output for 1 of 2 inputs: sample '{second['sample_id']}' (expected " in r["error"]
        assert "/output/000001.png" in r["error"]
        assert f"sample '{first['sample_id']}'" not in r["error"]
    # the run goes on: the next batch (a batch of one, its output 000000.png written) is scored
    assert third["error"] is None and np.isfinite(third["psnr_in"])
