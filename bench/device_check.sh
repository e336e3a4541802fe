#!/usr/bin/env bash
# The accelerator check, for a machine with a GPU (run from anywhere):
#   bash bench/device_check.sh [WORKDIR]
# 1. the devices (nvidia-smi, and what TensorFlow sees);
# 2. the Langevin benchmark (bench/langevin.py: float32, and mixed_bfloat16 where native);
# 3. the mirrored-equivalence test (tests/test_mirrored.py: every trainer's first step on 2
#    replicas equal to one replica's);
# 4. a 2-minute triangle on all GPUs (--strategy=mirrored --precision=mixed_bfloat16,
#    train.time_budget=120), then its steps/s and its samples' Fréchet distance.
# It installs nothing: it uses .venv (`make setup GPU=1`), else python3 with the packages of
# pyproject.toml. DATASET (default fashion_mnist) names the triangle's data; on a machine
# without a network, carry it (e.g. DATASET=npz:/path/fashion.npz, or the IDX files under
# ~/.keras/datasets/fashion-mnist). ALLOW_CPU=1 runs it where no GPU is visible (a dry run).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
WORKDIR=${1:-runs/device_check}
DATASET=${DATASET:-fashion_mnist}
status=0

echo "== devices"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
gpus=$("$PY" -c 'import tensorflow as tf
print(len(tf.config.list_physical_devices("GPU")))
print(tf.__version__, tf.config.list_physical_devices(), tf.sysconfig.get_build_info().get("cuda_version", "no CUDA"), file=__import__("sys").stderr)') || exit 1
echo "TensorFlow sees $gpus GPU(s)"
if [ "$gpus" = 0 ] && [ -z "${ALLOW_CPU:-}" ]; then
  echo "error: no GPU visible to TensorFlow; install the gpu extra (make setup GPU=1) on a machine with an NVIDIA driver, or ALLOW_CPU=1 for a dry run" >&2
  exit 2
fi

echo "== Langevin benchmark"
"$PY" bench/langevin.py || status=1

echo "== mirrored equivalence"
"$PY" -m pytest -q tests/test_mirrored.py || status=1

echo "== 2-minute triangle on all GPUs ($DATASET → $WORKDIR)"
rm -rf "$WORKDIR"
"$PY" -m tools.train --algo=triangle --dataset="$DATASET" --workdir="$WORKDIR" \
    --strategy=mirrored --precision=mixed_bfloat16 --set train.time_budget=120 || status=1
"$PY" - "$WORKDIR" <<'PYEOF' || status=1
import json, sys
m = json.load(open(f'{sys.argv[1]}/metrics.json'))
print(f"triangle: {m['steps']} steps in {m['wall_seconds']} s = {m['steps_per_second']} steps/s")
for key in ('fd', 'kid', 'classes_present', 'class_max_share', 'test_recon_mae'):
  if key in m:
    print(f'  {key}: {m[key]}')
PYEOF
exit $status
