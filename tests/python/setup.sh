#!/usr/bin/env sh
# Creates `.venv` at the repository root with the official openai SDK, for
# `tests/openai_python.rs`. The version is pinned to the last 1.x release,
# which still has the Assistants API (`client.beta.threads`).
set -eu
cd "$(dirname "$0")/../.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check openai==1.109.1
.venv/bin/python -c "import openai; print('openai', openai.__version__, 'installed in .venv')"

# `.venv-marvin`: Marvin 2.3.8 and the set pip resolved for it (it brings a
# newer openai of its own), for `tests/marvin.rs`.
python3 -m venv .venv-marvin
.venv-marvin/bin/pip install -q --disable-pip-version-check -r tests/python/marvin-requirements.txt
.venv-marvin/bin/python -c "import importlib.metadata as m; print('marvin', m.version('marvin'), 'installed in .venv-marvin')"

# `.venv-autogen`: AutoGen 0.2.40 (autogen-agentchat) and the set pip resolved
# for it, with openai 1.109.1, for `tests/autogen.rs`.
python3 -m venv .venv-autogen
.venv-autogen/bin/pip install -q --disable-pip-version-check -r tests/python/autogen-requirements.txt
.venv-autogen/bin/python -c "import importlib.metadata as m; print('autogen-agentchat', m.version('autogen-agentchat'), 'installed in .venv-autogen')"
