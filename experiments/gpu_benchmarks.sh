#!/usr/bin/env bash
# Accelerator benchmarks in one go (README's GPU tables come from this script). Wheels
# the machine lacks go in .whl/ (gymnax and its needs; brax, mujoco, mujoco-core,
# mujoco-mjx, jaxopt, ml_collections and trimesh for brax-sac and the brax parity steps;
# craftax and its needs for parity-craftax).
#
#   bash experiments/gpu_benchmarks.sh                 # ppo, sweep and brax-sac
#   bash experiments/gpu_benchmarks.sh brax-sac        # some of them: ppo, sweep, brax-sac, precision, parity, parity-*
#   bash experiments/gpu_benchmarks.sh all             # every GPU table README quotes, in one 10-minute call
#   GPU_BENCH_TINY=1 bash experiments/gpu_benchmarks.sh all   # each part for seconds: checks the commands (CPU)
#
# all:      in one command that fits a 10-minute call on one H100 (about 9 minutes,
#           estimated below), writing $OUT_DIR/all_*.json and printing each part's
#           elapsed seconds:
#   all-ppo:     PPO on CartPole-v1, 100k env steps per agent, at 1, 64 and 2048 agents:
#                `jaxshape train --num-seeds N` (the product path), the bare compiled
#                PPO.train at 1 agent (at 64 and 2048 it is all-sweep's bare row, the same
#                jit(vmap(PPO.train)) at the same settings) and rejax (bench_ppo.py --product)
#   all-sweep:   the sweep at 64, 512 and 2048 members against the bare jit(vmap(PPO.train))
#                and rejax (its 64 and 2048 rows reused from all-ppo, the same command) and
#                64 sequential runs (1 timed), 100k env steps per member (bench_sweep.py)
#   all-sac:     brax-sac below (bench_brax_sac.py)
#   all-devices: `jaxshape train --devices N` at 1, 2, 4, 8 devices, capped at those present
#                (bench_devices.py)
#           Each part is skipped, with a note, when its estimate would take the total past
#           $ALL_LIMIT_S (default 570 s, counted from the script's start, installs included).
#           rejax runs only when .whl/rejax/ holds its wheels: rejax 0.1.3, gymnax 0.0.9 and
#           what they import that the machine lacks (distrax, tfp-nightly, dm-tree, flax,
#           optax, chex, gymnasium, farama-notifications, cloudpickle, matplotlib, seaborn,
#           pandas, pyyaml and their needs), e.g. `pip download --only-binary=:all:
#           --python-version 3.X --platform manylinux_2_28_x86_64 -d .whl/rejax rejax==0.1.3
#           gymnax==0.0.9` for the machine's Python; they go into /tmp/rejax-site with
#           --target (jax, jaxlib, numpy, scipy, ml_dtypes and nvidia wheels there are skipped,
#           so the machine's CUDA jax stays in use) and rejax's python sees
#           PYTHONPATH=/tmp/rejax-site:/tmp/site, its gymnax 0.0.9 ahead of jaxshape's 1.x.
#
# ppo:      PPO on CartPole-v1 at 1, 64 and 2048 vmapped agents
# sweep:    the PPO sweep at 64, 512 and 2048 members against sequential runs
# brax-sac: SAC on brax hopper, jaxshape against brax's own SAC trainer
# precision: PPO on CartPole-v1 at 1 and 2048 agents, 100k steps each, the bare function with
#           float32 products against the same with bfloat16 products (--matmul-dtype bfloat16)
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
# rejax (needs gymnax 0.0.9) in its own --target folder, found by the benchmarks through
# $PEERS_DIR/rejax/bin/python: a wrapper that puts that folder first on PYTHONPATH
if ls .whl/rejax/*.whl >/dev/null 2>&1; then
  rejax_wheels=$(ls .whl/rejax/*.whl | grep -v -E '/(jax|jaxlib|jax_cuda[a-z0-9_]*|numpy|scipy|ml_dtypes|nvidia_[a-z0-9_]*)-[0-9]' || true)
  # shellcheck disable=SC2086
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/rejax-site $rejax_wheels
  mkdir -p /tmp/rejax-peers/rejax/bin
  printf '#!/bin/sh\nPYTHONPATH=/tmp/rejax-site:/tmp/site exec %s "$@"\n' "$(command -v python3)" \
    > /tmp/rejax-peers/rejax/bin/python
  chmod +x /tmp/rejax-peers/rejax/bin/python
  export PEERS_DIR=/tmp/rejax-peers
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
parity_brax() {  # env system
  python3 experiments/brax_ppo_parity.py --envs "brax/$1" --systems "$2" --out "$OUT_DIR/brax_ppo_parity.json"
}
START=$SECONDS
# H100 estimates (seconds) of each part of `all`, from the H200 figures in
# experiments/results/gpu/ (PPO compile 9-12 s per process, CartPole PPO at 2048 agents
# 36M steps/s; brax SAC: jaxshape's compile 40 s, brax's whole call 68 s) with run times
# x1.4 for the H100's lower memory bandwidth and about 6 s per process to start python,
# jax and the GPU: ppo 8 processes 160 s, sweep 8 processes 185 s, sac 2 processes 150 s,
# devices 1 process (one GPU) 25 s; 520 s plus the installs above.
declare -A ESTIMATE=([all-ppo]=160 [all-sweep]=185 [all-sac]=150 [all-devices]=25)
ALL_LIMIT_S=${ALL_LIMIT_S:-570}
if [ -n "${GPU_BENCH_TINY:-}" ]; then  # seconds per part on a CPU: checks that every command runs
  STEPS=4096 AGENTS="1 2 4" MEMBERS="2 4 8" SAC_FLAGS="--smoke"
  DEVICE_FLAGS="--devices 1,2 --force-host-devices 2 --num-envs 16 --total-steps 8192"
else
  STEPS=100000 AGENTS="1 64 2048" MEMBERS="64 512 2048" SAC_FLAGS="" DEVICE_FLAGS=""
fi
part() {  # name command...: run one part of `all` unless its estimate no longer fits; print its seconds
  local name=$1 began=$SECONDS; shift
  if [ -z "${GPU_BENCH_TINY:-}" ] && (( SECONDS - START + ESTIMATE[$name] > ALL_LIMIT_S )); then
    echo "== $name skipped: $((SECONDS - START)) s gone, estimate ${ESTIMATE[$name]} s, limit $ALL_LIMIT_S s" \
         "(run: bash experiments/gpu_benchmarks.sh $name)"
    return 0
  fi
  echo "== $name ($((SECONDS - START)) s since start)"
  "$@" || echo "== $name FAILED (exit $?)"
  echo "== $name: $((SECONDS - began)) s (estimate ${ESTIMATE[$name]} s); $((SECONDS - START)) s since start"
}
all_ppo() {
  part all-ppo python3 experiments/bench_ppo.py --agents $AGENTS --bare-agents 1 --product \
    --total-steps "$STEPS" --out "$OUT_DIR/all_ppo.json"
}
all_sweep() {
  part all-sweep python3 experiments/bench_sweep.py --members $MEMBERS --total-steps "$STEPS" --sequential-runs 1 \
    --reuse-rejax "$OUT_DIR/all_ppo.json" --json "$OUT_DIR/all_sweep.json"
}
all_sac() { part all-sac python3 experiments/bench_brax_sac.py $SAC_FLAGS --out "$OUT_DIR/all_brax_sac.json"; }
all_devices() {
  # shellcheck disable=SC2086
  part all-devices python3 experiments/bench_devices.py $DEVICE_FLAGS --out "$OUT_DIR/all_devices.json"
}
for bench in "${@:-ppo sweep brax-sac}"; do
  for b in $bench; do
    case $b in
      ppo) python3 experiments/bench_ppo.py --agents 1 64 2048 --no-peers --out "$OUT_DIR/bench_ppo.json" ;;
      sweep) python3 experiments/bench_sweep.py --members 64 512 2048 --sequential-runs 1 \
               --json "$OUT_DIR/bench_sweep.json" ;;
      brax-sac) python3 experiments/bench_brax_sac.py --out "$OUT_DIR/bench_brax_sac.json" ;;
      precision) python3 experiments/bench_ppo.py --agents 1 2048 --total-steps 100000 --no-peers --bfloat16 \
                   --out "$OUT_DIR/bench_ppo_bfloat16.json" ;;
      parity-ant-brax) parity_brax ant brax ;;
      parity-ant-jaxshape) parity_brax ant jaxshape ;;
      parity-humanoid-brax) parity_brax humanoid brax ;;
      parity-humanoid-jaxshape) parity_brax humanoid jaxshape ;;
      parity-craftax) python3 experiments/craftax_parity.py --chunks 2 --part-seconds 420 --out "$OUT_DIR/craftax_parity.json" ;;
      parity-report) python3 experiments/brax_ppo_parity.py --report --out "$OUT_DIR/brax_ppo_parity.json" ;;
      all) rm -f "$OUT_DIR"/all_*.json  # no stale rows for all-sweep to reuse
           all_ppo; all_sweep; all_sac; all_devices
           echo "== all: $((SECONDS - START)) s since start" ;;
      all-ppo) all_ppo ;;
      all-sweep) all_sweep ;;
      all-sac) all_sac ;;
      all-devices) all_devices ;;
      parity)
        for step in ant-brax ant-jaxshape humanoid-brax humanoid-jaxshape; do
          parity_brax "${step%-*}" "${step#*-}"
        done
        python3 experiments/craftax_parity.py --chunks 2 --part all --out "$OUT_DIR/craftax_parity.json" ;;
      *) echo "unknown benchmark $b: choose all, all-ppo, all-sweep, all-sac, all-devices, ppo, sweep, brax-sac," \
              "precision, parity, parity-ant-brax, parity-ant-jaxshape, parity-humanoid-brax, parity-humanoid-jaxshape," \
              "parity-craftax or parity-report" >&2; exit 2 ;;
    esac
  done
done
