#!/usr/bin/env sh
# Installs the official openai-node SDK into tests/node/node_modules, for
# `tests/openai_node.rs`, exactly as package-lock.json pins it. 4.104.0 is the
# last 4.x release, the line that still has the Assistants API
# (`client.beta.threads`, `AssistantStream`).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
node -e "console.log('openai', require('openai/version').VERSION, 'installed in tests/node/node_modules')"
