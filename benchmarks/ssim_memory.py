"""Peak memory and time of masked SSIM (the hole and its complement, one map) on one large photo-sized image.

Prints, and writes to ``benchmarks/results/ssim_memory.json``: the process's peak resident memory before (the
inputs) and after ``masked_ssim_many`` on a random 4000 x 6000 RGB pair (24 MP, float32 inputs), in one piece
(``STRIP_ELEMENTS`` raised so the image is one strip) and in row strips (the default), in separate processes (peak
RSS only grows). Both must give the same values.

Usage: ``python benchmarks/ssim_memory.py [--height 4000 --width 6000]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Printer, save  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
import bench.metrics.pixel as P
h, w, one_piece = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
if one_piece:
    P.STRIP_ELEMENTS = 10**12
rng = np.random.default_rng(0)
x = torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32))
y = (x + 0.05).clamp(0, 1)
m = torch.zeros(1, 1, h, w, dtype=torch.bool)
m[..., h // 4:h // 2, w // 3:w // 2] = True
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
a, b = P.masked_ssim_many(x, y, [m, ~m])
s = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_inputs_gb": before / 1e6, "rss_peak_gb": after / 1e6, "seconds": s,
                  "ssim_hole": a.item(), "ssim_rest": b.item()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--width", type=int, default=6000)
    args = ap.parse_args()
    out = Printer()
    res = {}
    for name, flag in (("one piece", "1"), ("row strips", "0")):
        r = subprocess.run([sys.executable, "-c", CHILD, str(args.height), str(args.width), flag],
                           capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        res[name] = json.loads(r.stdout.strip().splitlines()[-1])
        v = res[name]
        out(f"{name:10s}  peak RSS {v['rss_peak_gb']:.2f} GB (inputs {v['rss_inputs_gb']:.2f} GB), "
            f"{v['seconds']:.1f} s, ssim hole {v['ssim_hole']:.6f} rest {v['ssim_rest']:.6f}")
    same = all(abs(res["one piece"][k] - res["row strips"][k]) < 1e-12 for k in ("ssim_hole", "ssim_rest"))
    out(f"masked SSIM of a {args.height} x {args.width} RGB pair, 2 masks, CPU; same values: {same}")
    save("ssim_memory", {"height": args.height, "width": args.width, **res, "same_values": same}, out.lines)


if __name__ == "__main__":
    main()
