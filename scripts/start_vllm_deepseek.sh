#!/usr/bin/env bash
# Start vLLM's OpenAI-compatible server with DeepSeek-OCR and the flags of the
# vLLM DeepSeek-OCR recipe (see docs/DEPLOYMENT_VLLM.md for why each flag).
#
# Usage: scripts/start_vllm_deepseek.sh [extra vllm flags...]
#
# Environment (all optional):
#   MODEL                   model id or local dir        (deepseek-ai/DeepSeek-OCR)
#   SERVED_MODEL_NAME       name clients send as "model" (deepseek-ai/DeepSeek-OCR)
#   HOST / PORT             listen address               (127.0.0.1 / 8000)
#   MAX_MODEL_LEN           context length, tokens       (8192)
#   GPU_MEMORY_UTILIZATION  share of VRAM vLLM may take  (0.90)
#   MAX_NUM_SEQS            requests batched at once     (vLLM's default)
#   MIN_FREE_GPU_MB         refuse to start below this   (8000)
#   DEVICE                  gpu or cpu                   (gpu; cpu = test server, see below)
#   LOAD_FORMAT             vLLM --load-format           (vLLM's default; "dummy" = random weights)
#   VLLM_PYTHON             start "$VLLM_PYTHON -m vllm.entrypoints.openai.api_server"
#                           instead of the `vllm serve` console script
#   DRY_RUN=1               print the command and exit (no checks, nothing started)
#   VLLM_API_KEY            if set, vLLM requires "Authorization: Bearer <key>" on /v1
#
# Exit codes: 0 dry run printed; 2 bad settings; 3 no NVIDIA GPU / driver;
# 4 not enough free GPU memory; 5 vLLM not installed. Otherwise the server
# replaces this shell (exec), so its PID is this script's PID.
set -euo pipefail

MODEL="${MODEL:-deepseek-ai/DeepSeek-OCR}"
SERVED_MODEL_NAME="${SERVED_MODEL_NAME:-deepseek-ai/DeepSeek-OCR}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
MAX_MODEL_LEN="${MAX_MODEL_LEN:-8192}"
GPU_MEMORY_UTILIZATION="${GPU_MEMORY_UTILIZATION:-0.90}"
MIN_FREE_GPU_MB="${MIN_FREE_GPU_MB:-8000}"
DEVICE="${DEVICE:-gpu}"

die() { echo "start_vllm_deepseek: $2" >&2; exit "$1"; }

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT > 65535 )); then
  die 2 "PORT must be 1-65535, got '$PORT'"
fi
[[ "$MAX_MODEL_LEN" =~ ^[0-9]+$ ]] || die 2 "MAX_MODEL_LEN must be a number, got '$MAX_MODEL_LEN'"
[[ "$DEVICE" == gpu || "$DEVICE" == cpu ]] || die 2 "DEVICE must be gpu or cpu, got '$DEVICE'"

# The recipe: the n-gram logits processor is what stops DeepSeek-OCR's
# repetition loops (requests switch it on with vllm_xargs); OCR never reuses a
# prefix or an image, so both caches only cost memory.
args=(
  --served-model-name "$SERVED_MODEL_NAME"
  --host "$HOST"
  --port "$PORT"
  --max-model-len "$MAX_MODEL_LEN"
  --logits-processors vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor
  --no-enable-prefix-caching
  --mm-processor-cache-gb 0
)
if [[ "$DEVICE" == gpu ]]; then
  args+=(--gpu-memory-utilization "$GPU_MEMORY_UTILIZATION")
else
  # CPU test server: fp32 is ~80x faster than bf16 without AVX-512, and
  # eager mode skips a compile warm-up that needs ~20 GB of RAM.
  args+=(--dtype float32 --enforce-eager)
  export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
  export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}"
fi
[[ -n "${MAX_NUM_SEQS:-}" ]] && args+=(--max-num-seqs "$MAX_NUM_SEQS")
[[ -n "${LOAD_FORMAT:-}" ]] && args+=(--load-format "$LOAD_FORMAT")
args+=("$@")

if [[ -n "${VLLM_PYTHON:-}" ]]; then
  cmd=("$VLLM_PYTHON" -m vllm.entrypoints.openai.api_server --model "$MODEL" "${args[@]}")
else
  cmd=(vllm serve "$MODEL" "${args[@]}")
fi

if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi

if [[ "$DEVICE" == gpu ]]; then
  command -v nvidia-smi >/dev/null 2>&1 \
    || die 3 "nvidia-smi not found: no NVIDIA driver on this machine (DEVICE=cpu is for tests only)"
  gpus="$(nvidia-smi --query-gpu=index,name,memory.total,memory.free --format=csv,noheader,nounits 2>/dev/null)" \
    || die 3 "nvidia-smi failed: is the driver loaded? (try: nvidia-smi)"
  [[ -n "$gpus" ]] || die 3 "nvidia-smi lists no GPU"
  wanted="${CUDA_VISIBLE_DEVICES:-0}"
  wanted="${wanted%%,*}"
  line="$(awk -F', *' -v i="$wanted" '$1 == i' <<<"$gpus")"
  [[ -n "$line" ]] || line="$(head -n 1 <<<"$gpus")"
  IFS=',' read -r index name total free <<<"$line"
  free="${free// /}"
  echo "start_vllm_deepseek: GPU $index:${name} — ${free// /} MiB free of ${total// /} MiB" >&2
  (( free >= MIN_FREE_GPU_MB )) \
    || die 4 "GPU $index has ${free} MiB free; DeepSeek-OCR needs >= ${MIN_FREE_GPU_MB} MiB (set MIN_FREE_GPU_MB to override)"
fi

if [[ -n "${VLLM_PYTHON:-}" ]]; then
  "$VLLM_PYTHON" -c 'import vllm' 2>/dev/null || die 5 "vllm is not importable by $VLLM_PYTHON"
else
  command -v vllm >/dev/null 2>&1 || die 5 "vllm not found on PATH (pip install 'vllm>=0.12'; see docs/DEPLOYMENT_VLLM.md)"
fi

echo "start_vllm_deepseek: serving $MODEL as $SERVED_MODEL_NAME on http://$HOST:$PORT/v1" >&2
unset VLLM_PYTHON  # vLLM warns about VLLM_* variables it does not know
exec "${cmd[@]}"
