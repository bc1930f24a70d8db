#!/usr/bin/env bash
# Every check that needs a GPU, in one call of a lent GPU machine (a few minutes; each check under its own timeout).
#
#   bash benchmarks/gpu_session.sh fetch   # here, online: the wheels the GPU image lacks, into .whl/ (git-ignored)
#   bash benchmarks/gpu_session.sh         # there, in the repository root, with .whl carried along
#
# On the GPU machine it installs .whl/*.whl into /tmp/site (no index: that machine reaches nothing), then runs
# benchmarks/features_gpu.py, benchmarks/gpu_check.py and benchmarks/overlap.py --limit 32, and copies their results
# (benchmarks/results/*.json) and a log to $OUT (or ./gpu-session-out). Commit the JSON files it brings back and run
# `python benchmarks/figures.py`. Exit status: the number of checks that failed.
set -u
cd "$(dirname "$0")/.."
WHEELS="diffusers==0.42.1 lpips==0.1.4 clean-fid==0.1.35 importlib_metadata==8.7.0"

if [ "${1:-}" = "fetch" ]; then
  mkdir -p .whl  # (git-ignored)
  # the GPU image's Python is 3.12 and already holds torch, transformers, OpenCV, scikit-image, SciPy, pandas
  exec python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl $WHEELS
fi

OUTDIR="${OUT:-$PWD/gpu-session-out}"
mkdir -p "$OUTDIR"
STAMP=$(mktemp)  # a results file older than this was not written by this session
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site" || { echo "installing .whl failed"; exit 9; }
fi
{
  date -u +"%Y-%m-%d %H:%M UTC"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$OUTDIR/gpu_session.log"
failed=0
run() {  # name, timeout (s), command...
  local name=$1 limit=$2
  shift 2
  echo "== $name" | tee -a "$OUTDIR/gpu_session.log"
  timeout "$limit" "$@" 2>&1 | tee -a "$OUTDIR/gpu_session.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc" | tee -a "$OUTDIR/gpu_session.log"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
  if [ "benchmarks/results/$name.json" -nt "$STAMP" ]; then cp "benchmarks/results/$name.json" "$OUTDIR/"; fi
}
run features_gpu 170 python3 benchmarks/features_gpu.py
run gpu_check 170 python3 benchmarks/gpu_check.py
run overlap_gpu 170 python3 benchmarks/overlap.py --limit 32
exit "$failed"
