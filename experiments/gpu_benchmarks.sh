#!/usr/bin/env bash
# Accelerator benchmarks in one go (README's GPU tables come from this script). Wheels
# the machine lacks go in .whl/ (gymnax and its needs; brax, mujoco, mujoco-core,
# mujoco-mjx, jaxopt, ml_collections and trimesh for brax-sac).
#
#   bash experiments/gpu_benchmarks.sh                 # all of them
#   bash experiments/gpu_benchmarks.sh brax-sac        # some of them: ppo, sweep, brax-sac
#
# ppo:      PPO on CartPole-v1 at 1, 64 and 2048 vmapped agents
# sweep:    the PPO sweep at 64, 512 and 2048 members against sequential runs
# brax-sac: SAC on brax hopper, jaxshape against brax's own SAC trainer
set -euo pipefail
OUT_DIR=${OUT:-experiments/results/gpu}
mkdir -p "$OUT_DIR"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site .
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 MUJOCO_GL=disable
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
for bench in "${@:-ppo sweep brax-sac}"; do
  for b in $bench; do
    case $b in
      ppo) python3 experiments/bench_ppo.py --agents 1 64 2048 --no-peers --out "$OUT_DIR/bench_ppo.json" ;;
      sweep) python3 experiments/bench_sweep.py --members 64 512 2048 --sequential-runs 1 \
               --json "$OUT_DIR/bench_sweep.json" ;;
      brax-sac) python3 experiments/bench_brax_sac.py --out "$OUT_DIR/bench_brax_sac.json" ;;
      *) echo "unknown benchmark $b: choose ppo, sweep or brax-sac" >&2; exit 2 ;;
    esac
  done
done
