#!/usr/bin/env bash
# Everything the GPU issues need from one device lease, in one call (about 6 minutes):
#   1. the CUDA tests (tests/test_cuda.py; skipped on CPU-only machines),
#   2. benchmarks/gpu.py at full size: table 1 (vectorised vmap / grouped vs one-after-another vs
#      torchensemble), table 2 (the 32 px pipeline at batch 8192), table 3 (accuracy vs seconds).
# Outputs land in $OUT (the device tool brings that folder back): cuda-tests.log, gpu/gpu.md,
# gpu/gpu.json, gpu/gpu_accuracy.png, gpu.log, card.txt.
#
# Prepare here, once (both folders are git-ignored, 45 MiB together):
#   .venv/bin/python benchmarks/gpu.py --export-npy .cache/cifar-npy --export-format jpeg
#   .venv/bin/pip install --no-deps --target .cache/te torchensemble
# Then run it with the device tool:
#   run(command="bash benchmarks/gpu_lease.sh", carry=[".cache/cifar-npy", ".cache/te"], timeout_s=480)
# Extra arguments go to gpu.py, e.g. `bash benchmarks/gpu_lease.sh --tables 3 --tune-lr 0.4,0.8,1.6`.
set -uo pipefail
PY=${PYTHON:-python3}  # the GPU image's python3 holds torch; here: PYTHON=.venv/bin/python
OUT=${OUT:-augkit-out/lease}
mkdir -p "$OUT"
export PYTHONPATH=".:.cache/te${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/card.txt"
"$PY" -c "import torch, sklearn; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'sklearn', sklearn.__version__)" | tee -a "$OUT/card.txt"
if [ -z "${SKIP_TESTS:-}" ]; then
  timeout 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/cuda-tests.log"
fi
timeout 330 "$PY" benchmarks/gpu.py --data-npy .cache/cifar-npy --out "$OUT/gpu" "$@" 2>&1 | tee "$OUT/gpu.log"
