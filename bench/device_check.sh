#!/usr/bin/env bash
# The device check (made to fit in 8 minutes on one H100-class GPU: its steps' time limits add up to 7.8):
#   1. installs: convlab from this checkout on the machine's own torch and numpy
#      (PYTHONPATH, nothing fetched), plotext and platformdirs from wheels in .whl/
#      if the machine lacks them;
#   2. the CUDA path against the CPU on tiny runs of every preset's shape, dropout
#      included (bench/device_check.py);
#   3. optimizer steps/s at mini-batch 10: eager, batched (3 and 5 members),
#      captured (1, 3 and 5), the dropout network eager, batched and captured
#      (bench/bench_steps.py --dropout), and the book protocol's projected time;
#   4. the wall time of `convlab reproduce --quick`.
# Exits non-zero if a comparison fails. Output files (the quick report) go to $OUT.
#
# Where the machine has no network, fetch these pure-Python wheels once beside the checkout:
#   python3 -m pip download --no-deps --only-binary=:all: plotext==5.3.2 platformdirs==4.14.8 -d .whl
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/convlab-device-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! $PY -c "import plotext, platformdirs" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/convlab-site .whl/*.whl || exit 2
        export PYTHONPATH=/tmp/convlab-site
    else
        echo "plotext or platformdirs is missing and .whl/ holds no wheel (see the top of this script)"; exit 2
    fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
nvidia-smi -L 2>/dev/null || true
status=0

echo "== 1. the CUDA path against the CPU"
timeout 120 $PY bench/device_check.py || status=1

echo "== 2. optimizer steps per second, mini-batch 10, relu and dropout networks"
device=cpu
$PY -c "import torch; raise SystemExit(0 if torch.cuda.is_available() else 1)" && device=cuda
timeout 150 $PY bench/bench_steps.py --device $device --steps 300 --dropout || status=1

echo "== 3. convlab reproduce --quick"
start=$(date +%s.%N)
timeout 200 $PY -m convlab reproduce --quick --seed 1 --new --device $device --store "$OUT/quick.sqlite" \
    -o "$OUT/reproduce-quick.html" > "$OUT/reproduce-quick.txt" 2>&1 || status=1
end=$(date +%s.%N)
tail -n 20 "$OUT/reproduce-quick.txt"
echo "reproduce --quick on $device: $($PY -c "print(round($end - $start, 1))") s wall"
exit $status
