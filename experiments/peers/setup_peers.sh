#!/usr/bin/env bash
# Create (if missing) the two isolated virtual environments used by the peer
# baselines and install pinned packages into them.  Idempotent: a venv whose
# recorded pin list matches and whose imports work is left alone.
#
#   PEERS_DIR        root folder for the venvs     (default /tmp/jaxshape-peers)
#   PYTHON           interpreter used to make venvs (default python3, needs >=3.10)
#   PEERS_FORCE=1    reinstall even if the stamp matches
#   PEERS_TORCH_PIP_ARGS  extra pip args for the torch install only, e.g.
#                    "--index-url <a CPU-only torch index>" on machines where
#                    torch==2.13.0 would otherwise resolve to a CUDA build.
#   PEERS_ALLOW_CUDA_TORCH=1  skip the "is this a CPU build?" guard.
#
# Why separate venvs: rejax 0.1.3 calls env.step() expecting gymnax 0.0.x's
# 5-tuple; gymnax>=1.0 (what jaxshape uses) returns a different tuple and rejax
# fails with "too many values to unpack".  So rejax gets gymnax==0.0.9 here.
set -euo pipefail

PEERS_DIR="${PEERS_DIR:-/tmp/jaxshape-peers}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$PEERS_DIR"

# Versions verified together on CPU (Python 3.11).
REJAX_PINS=(
  "rejax==0.1.3"
  "gymnax==0.0.9"
  "jax==0.10.2"
  "jaxlib==0.10.2"
  "flax==0.12.8"
  "optax==0.2.8"
  "distrax==0.1.9"
  "chex==0.1.92"
)
TORCH_PIN="torch==2.13.0"
SB3_PINS=(
  "stable-baselines3==2.9.2"
  "gymnasium==1.4.0"
)

log() { echo "[setup_peers] $*" >&2; }

make_venv() {  # $1 = venv dir
  if [[ ! -x "$1/bin/python" ]]; then
    log "creating venv $1"
    "$PYTHON" -m venv "$1"
  fi
}

# stamp_ok DIR STAMP_TEXT IMPORT_CHECK
stamp_ok() {
  [[ "${PEERS_FORCE:-0}" != 1 ]] || return 1
  [[ -f "$1/.peers-stamp" ]] || return 1
  [[ "$(cat "$1/.peers-stamp")" == "$2" ]] || return 1
  "$1/bin/python" -c "$3" >/dev/null 2>&1
}

# ---------------------------------------------------------------- rejax venv
REJAX_VENV="$PEERS_DIR/rejax"
REJAX_STAMP="$(printf '%s\n' "${REJAX_PINS[@]}")"
make_venv "$REJAX_VENV"
if stamp_ok "$REJAX_VENV" "$REJAX_STAMP" "import rejax, gymnax, jax"; then
  log "rejax venv up to date ($REJAX_VENV)"
else
  log "installing into $REJAX_VENV: ${REJAX_PINS[*]}"
  "$REJAX_VENV/bin/pip" install -q "${REJAX_PINS[@]}"
  "$REJAX_VENV/bin/python" -c "import rejax, gymnax, jax"
  printf '%s' "$REJAX_STAMP" > "$REJAX_VENV/.peers-stamp"
fi

# ------------------------------------------------------------------ sb3 venv
SB3_VENV="$PEERS_DIR/sb3"
SB3_STAMP="$(printf '%s\n' "$TORCH_PIN ${PEERS_TORCH_PIP_ARGS:-}" "${SB3_PINS[@]}")"
make_venv "$SB3_VENV"
if stamp_ok "$SB3_VENV" "$SB3_STAMP" "import torch, stable_baselines3, gymnasium"; then
  log "sb3 venv up to date ($SB3_VENV)"
else
  # shellcheck disable=SC2086  # PEERS_TORCH_PIP_ARGS is deliberately word-split
  if [[ "${PEERS_ALLOW_CUDA_TORCH:-0}" != 1 ]]; then
    # Ask pip what it *would* install; refuse a non-CPU torch (multi-GB CUDA
    # wheels + nvidia-* deps).  Only metadata is fetched for a dry run.
    report="$(mktemp)"
    "$SB3_VENV/bin/pip" install -q --dry-run --no-deps --ignore-installed \
      --report "$report" ${PEERS_TORCH_PIP_ARGS:-} "$TORCH_PIN"
    if ! "$SB3_VENV/bin/python" - "$report" <<'EOF'
import json, sys
rep = json.load(open(sys.argv[1]))
for item in rep.get("install", []):
    if item["metadata"]["name"].lower() == "torch":
        ver = item["metadata"]["version"]
        url = item.get("download_info", {}).get("url", "")
        print(f"[setup_peers] torch would resolve to {ver} from {url}", file=sys.stderr)
        sys.exit(0 if "+cpu" in ver else 1)
sys.exit(1)
EOF
    then
      rm -f "$report"
      log "refusing: torch would not be a +cpu build. Set PEERS_TORCH_PIP_ARGS to"
      log "point pip at a CPU-only torch index, or PEERS_ALLOW_CUDA_TORCH=1."
      exit 1
    fi
    rm -f "$report"
  fi
  log "installing into $SB3_VENV: $TORCH_PIN ${SB3_PINS[*]}"
  "$SB3_VENV/bin/pip" install -q ${PEERS_TORCH_PIP_ARGS:-} "$TORCH_PIN"
  # Install sb3 with torch already present so the resolver keeps the CPU build.
  "$SB3_VENV/bin/pip" install -q "${SB3_PINS[@]}" "$TORCH_PIN"
  "$SB3_VENV/bin/python" -c "import torch, stable_baselines3, gymnasium"
  printf '%s' "$SB3_STAMP" > "$SB3_VENV/.peers-stamp"
fi

log "done: $REJAX_VENV/bin/python, $SB3_VENV/bin/python"
