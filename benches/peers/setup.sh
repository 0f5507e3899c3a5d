#!/usr/bin/env bash
# Installs the two peers of benches/peers/run.sh, pinned, into this folder:
# openai-python (requirements.txt) into .venv and openai-node
# (package-lock.json) into node_modules. 1.109.1 and 4.104.0, the last 1.x
# and 4.x releases, both have the Assistants streaming helpers the bench
# drives (`AssistantEventHandler` with `AssistantStreamManager`, and
# `AssistantStream`); tests/node pins the same openai-node.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
.venv/bin/python -c "import openai; print('openai-python', openai.__version__, 'in benches/peers/.venv')"
node -e "console.log('openai-node', require('openai/version').VERSION, 'in benches/peers/node_modules')"
