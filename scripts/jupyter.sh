#!/usr/bin/env bash
# Start JupyterLab on notebooks/, reachable only from this machine, with a fresh token.
#   scripts/jupyter.sh [port]          (default port 8888; JUPYTER_TOKEN=... to choose the token)
# From another machine, tunnel it: ssh -L 8888:127.0.0.1:8888 root@director
# Clear the outputs before committing a notebook: `cluster notebooks execute` runs it afresh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/docs.sh kernel
port=${1:-8888}
token=${JUPYTER_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')}

echo "==> JupyterLab: http://127.0.0.1:$port/lab?token=$token"
exec .venv/bin/jupyter lab notebooks \
  --ip=127.0.0.1 --port="$port" --no-browser --allow-root \
  --IdentityProvider.token="$token" --ServerApp.root_dir="$PWD/notebooks"
