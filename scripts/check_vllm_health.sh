#!/usr/bin/env bash
# Is a vLLM server up, healthy and serving the expected model?
#
# Usage: scripts/check_vllm_health.sh [--wait SECONDS] [URL]
#   URL   server root, e.g. http://localhost:8000 (a trailing /v1 is accepted);
#         default $VLLM_URL, else http://localhost:8000
#   --wait SECONDS  keep polling until healthy or SECONDS have passed (vLLM
#                   refuses connections while it loads, for minutes)
# Environment: MODEL (expected served model, default deepseek-ai/DeepSeek-OCR;
#   empty = any), VLLM_API_KEY (sent as a bearer token to /v1/models).
#
# Exit codes:
#   0  /health is 200 and /v1/models lists MODEL (its max_model_len is printed)
#   1  no answer: connection refused or timed out (down, or still loading)
#   2  /health answered but not 200 (503 = the engine died: restart it)
#   3  /v1/models failed (401 = API key) or does not list MODEL
#   64 usage error
set -euo pipefail

wait_s=0
url=""
while (( $# )); do
  case "$1" in
    --wait) [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "--wait needs a number of seconds" >&2; exit 64; }
            wait_s="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 64 ;;
    *) [[ -z "$url" ]] || { echo "one URL only" >&2; exit 64; }; url="$1"; shift ;;
  esac
done
url="${url:-${VLLM_URL:-http://localhost:8000}}"
url="${url%/}"
url="${url%/v1}"
model="${MODEL-deepseek-ai/DeepSeek-OCR}"
command -v curl >/dev/null 2>&1 || { echo "curl is required" >&2; exit 64; }

health_status() {
  curl -s -o /dev/null -w '%{http_code}' --connect-timeout 3 --max-time 10 "$url/health" || true
}

deadline=$(( $(date +%s) + wait_s ))
while :; do
  status="$(health_status)"
  [[ "$status" == 200 ]] && break
  if [[ "$status" != 000 ]]; then
    echo "UNHEALTHY $url/health answered HTTP $status (503 means the engine died: restart the server)" >&2
    exit 2
  fi
  if (( $(date +%s) >= deadline )); then
    echo "DOWN no answer from $url/health (refused or timed out; vLLM refuses connections while loading)" >&2
    exit 1
  fi
  sleep 2
done
echo "OK   $url/health 200"

auth=()
[[ -n "${VLLM_API_KEY:-}" ]] && auth=(-H "Authorization: Bearer $VLLM_API_KEY")
body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
status="$(curl -s -o "$body_file" -w '%{http_code}' --connect-timeout 3 --max-time 10 \
  "${auth[@]}" "$url/v1/models" || true)"
if [[ "$status" != 200 ]]; then
  hint=""
  [[ "$status" == 401 ]] && hint=" (set VLLM_API_KEY to the server's --api-key)"
  echo "FAIL $url/v1/models answered HTTP $status$hint" >&2
  exit 3
fi
listing="$(python3 - "$body_file" "$model" <<'PY'
import json, sys
cards = json.load(open(sys.argv[1], encoding="utf-8")).get("data", [])
wanted = sys.argv[2]
for card in cards:
    if not wanted or card.get("id") == wanted:
        print(f"{card.get('id')}\t{card.get('max_model_len', '?')}")
        sys.exit(0)
print("\t".join(str(c.get("id")) for c in cards))
sys.exit(1)
PY
)" || {
  echo "FAIL $url/v1/models does not list '$model' (served: ${listing:-nothing}); set MODEL or --model" >&2
  exit 3
}
IFS=$'\t' read -r served_id max_len <<<"$listing"
echo "OK   $url/v1/models serves $served_id (max_model_len $max_len)"
