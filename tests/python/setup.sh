#!/usr/bin/env sh
# Creates `.venv` at the repository root with the official openai SDK, for
# `tests/openai_python.rs`. The version is pinned to the last 1.x release,
# which still has the Assistants API (`client.beta.threads`).
set -eu
cd "$(dirname "$0")/../.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check openai==1.109.1
.venv/bin/python -c "import openai; print('openai', openai.__version__, 'installed in .venv')"
