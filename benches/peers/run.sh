#!/usr/bin/env bash
# assistant-stream next to its peers, in one run:
#
#   bash benches/peers/run.sh
#
# Installs what is missing (openai-python into .venv, openai-node into
# node_modules: setup.sh), builds the CLI and the stream writer in release,
# then feeds the same bytes, in 16 KiB chunks and with snapshots on, to
#   - assistant-stream: `assistant-stream bench FILE` (the whole pipeline),
#   - openai-python's AssistantEventHandler (peer_python.py),
#   - openai-node's AssistantStream (peer_node.mjs),
# on two inputs: the generated stream of the criterion benches
# (PEERS_STREAM_BYTES, 4 MiB by default) and each real recording of
# ../shared/fixtures/real (PEERS_REAL_DIR; skipped if absent). Prints a table of
# MB/s, events/s and the ratios, and checks that each peer handled the same
# events and text as assistant-stream (exit status 1 if not).
#
# A benchmark, not a test: not run in CI. Ratios are taken within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
stream_bytes=${PEERS_STREAM_BYTES:-4194304}
real_dir=${PEERS_REAL_DIR:-$root/../shared/fixtures/real}
# Replays per input: enough for a second or more each at the speeds seen.
ours_iterations=${PEERS_OURS_ITERATIONS:-50}
ours_real_iterations=${PEERS_OURS_REAL_ITERATIONS:-300}
python_iterations=${PEERS_PYTHON_ITERATIONS:-1}
python_real_iterations=${PEERS_PYTHON_REAL_ITERATIONS:-5}
node_iterations=${PEERS_NODE_ITERATIONS:-3}
node_real_iterations=${PEERS_NODE_REAL_ITERATIONS:-20}

cd "$here"
if ! .venv/bin/python -c 'import openai, sys; sys.exit(openai.__version__ != "1.109.1")' 2>/dev/null ||
  ! node -e 'process.exit(require("openai/version").VERSION === "4.104.0" ? 0 : 1)' 2>/dev/null; then
  echo "== installing the peers (setup.sh)" >&2
  bash ./setup.sh >&2
fi

cd "$root"
echo "== building assistant-stream (release)" >&2
cargo build --release --quiet --features cli --bin assistant-stream
cargo build --release --quiet -p assistant-stream-benches --bin synth-stream
target=$(cargo metadata --format-version 1 --no-deps |
  "$here/.venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ours="$target/release/assistant-stream"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
generated="$work/generated.sse"
"$target/release/synth-stream" "$stream_bytes" "$generated"
generated_label="generated stream, $(($(wc -c <"$generated") / 1000)) kB"

results="$work/results.tsv"
measure() { # LABEL IMPLEMENTATION ARGUMENTS... -- FILE... (the command is IMPLEMENTATION's)
  local label=$1 implementation=$2
  shift 2
  local arguments=()
  while [ "$1" != -- ]; do
    arguments+=("$1")
    shift
  done
  shift
  local command
  case $implementation in
  assistant-stream) command=("$ours" bench) ;;
  openai-python) command=("$here/.venv/bin/python" "$here/peer_python.py") ;;
  openai-node) command=(node "$here/peer_node.mjs") ;;
  esac
  if [ $# -eq 1 ]; then
    echo "== $implementation on $(basename "$1")" >&2
  else
    echo "== $implementation on the $label" >&2
  fi
  local result
  result=$("${command[@]}" "${arguments[@]}" "$@" | tail -n 1)
  {
    printf '%s\t%s\t%s' "$label" "$implementation" "$result"
    printf '\t%s' "$@"
    printf '\n'
  } >>"$results"
}

measure "$generated_label" assistant-stream --iterations "$ours_iterations" -- "$generated"
measure "$generated_label" openai-python --iterations "$python_iterations" -- "$generated"
measure "$generated_label" openai-node --iterations "$node_iterations" -- "$generated"

if compgen -G "$real_dir/*.sse" >/dev/null; then
  real=("$real_dir"/*.sse)
  real_label="${#real[@]} real recordings, $(($(cat "${real[@]}" | wc -c) / 1000)) kB"
  # One process per recording: the CLI benches one file.
  for file in "${real[@]}"; do
    measure "$real_label" assistant-stream --iterations "$ours_real_iterations" -- "$file"
  done
  measure "$real_label" openai-python --iterations "$python_real_iterations" -- "${real[@]}"
  measure "$real_label" openai-node --iterations "$node_real_iterations" -- "${real[@]}"
else
  echo "== no recordings in $real_dir: the generated stream only" >&2
fi

echo
echo "openai-python $("$here/.venv/bin/python" -c 'import openai; print(openai.__version__)')," \
  "openai-node $(cd "$here" && node -p 'require("openai/version").VERSION')," \
  "Python $("$here/.venv/bin/python" -c 'import platform; print(platform.python_version())')," \
  "Node $(node --version), $(nproc) cores"
echo
"$here/.venv/bin/python" "$here/report.py" <"$results"
