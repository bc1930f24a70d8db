"""Does the shipped thresholds file reproduce? Run the calibration ``bench/data/thresholds.json`` records (its
seeds, n, photos, size and check seed; the thresholds fitted on real outputs carried, as ``--out`` carries them)
and compare the thresholds it chooses with the file's (``bench calibrate --reproduce FILE`` does the same and
writes nothing).

    python benchmarks/thresholds_reproduce.py [--file bench/data/thresholds.json]

About 8 minutes on 2 CPU cores for the shipped file. Written to ``benchmarks/results/thresholds_reproduce.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(Path(__file__).resolve().parents[1] / "bench" / "data" / "thresholds.json"))
    args = ap.parse_args()
    from _common import Printer, save

    from bench.cli.calibrate import reproduce

    print = Printer()  # noqa: A001
    t0 = time.perf_counter()
    res = reproduce(args.file)
    name = Path(args.file).name
    print(f"{name} v{res['version']}: {'reproduced' if res['reproduced'] else 'NOT reproduced'} by its own "
          f"calibration ({time.perf_counter() - t0:.0f} s); detectors section sha256 file {res['sha256'][0][:12]}, "
          f"now {res['sha256'][1][:12]}")
    print(f"  its command: {res['command']}")
    for det, key, was, now in res["differences"]:
        print(f"  {det}.{key}: file {was}, now {now}")
    path = save("thresholds_reproduce", {"file": name, **res}, print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0 if res["reproduced"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
