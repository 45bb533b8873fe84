#!/usr/bin/env bash
# Accelerator benchmarks in one go (README's GPU tables come from this script). Wheels
# the machine lacks go in .whl/ (gymnax and its needs; brax, mujoco, mujoco-core,
# mujoco-mjx, jaxopt, ml_collections and trimesh for brax-sac and the brax parity steps;
# craftax and its needs for parity-craftax).
#
#   bash experiments/gpu_benchmarks.sh                 # ppo, sweep and brax-sac
#   bash experiments/gpu_benchmarks.sh brax-sac        # some of them: ppo, sweep, brax-sac, parity, parity-*
#
# ppo:      PPO on CartPole-v1 at 1, 64 and 2048 vmapped agents
# sweep:    the PPO sweep at 64, 512 and 2048 members against sequential runs
# brax-sac: SAC on brax hopper, jaxshape against brax's own SAC trainer
# parity:   every parity step below in turn (each fits a 10-minute command of its own;
#           run them one per command where commands are limited to 10 minutes):
#   parity-ant-brax, parity-ant-jaxshape, parity-humanoid-brax, parity-humanoid-jaxshape:
#           PPO at brax's published settings, brax's trainer or jaxshape's, 5e7 steps
#           (experiments/brax_ppo_parity.py; rows merge into one results file)
#   parity-craftax: one part of PPO+RND on Craftax-Classic-Symbolic-v1 (1e8 steps in 2
#           parts); call it until it prints the evaluation (the run folder under runs/
#           must survive between calls) (experiments/craftax_parity.py)
#   parity-report: the brax table from the results file
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
parity_brax() {  # env system
  python3 experiments/brax_ppo_parity.py --envs "brax/$1" --systems "$2" --out "$OUT_DIR/brax_ppo_parity.json"
}
for bench in "${@:-ppo sweep brax-sac}"; do
  for b in $bench; do
    case $b in
      ppo) python3 experiments/bench_ppo.py --agents 1 64 2048 --no-peers --out "$OUT_DIR/bench_ppo.json" ;;
      sweep) python3 experiments/bench_sweep.py --members 64 512 2048 --sequential-runs 1 \
               --json "$OUT_DIR/bench_sweep.json" ;;
      brax-sac) python3 experiments/bench_brax_sac.py --out "$OUT_DIR/bench_brax_sac.json" ;;
      parity-ant-brax) parity_brax ant brax ;;
      parity-ant-jaxshape) parity_brax ant jaxshape ;;
      parity-humanoid-brax) parity_brax humanoid brax ;;
      parity-humanoid-jaxshape) parity_brax humanoid jaxshape ;;
      parity-craftax) python3 experiments/craftax_parity.py --chunks 2 --part-seconds 420 --out "$OUT_DIR/craftax_parity.json" ;;
      parity-report) python3 experiments/brax_ppo_parity.py --report --out "$OUT_DIR/brax_ppo_parity.json" ;;
      parity)
        for step in ant-brax ant-jaxshape humanoid-brax humanoid-jaxshape; do
          parity_brax "${step%-*}" "${step#*-}"
        done
        python3 experiments/craftax_parity.py --chunks 2 --part all --out "$OUT_DIR/craftax_parity.json" ;;
      *) echo "unknown benchmark $b: choose ppo, sweep, brax-sac, parity, parity-ant-brax, parity-ant-jaxshape," \
              "parity-humanoid-brax, parity-humanoid-jaxshape, parity-craftax or parity-report" >&2; exit 2 ;;
    esac
  done
done
