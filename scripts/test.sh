#!/usr/bin/env bash
# The test suite, as CI runs it: lint, then every test and doctest.
# Tests that need root, namespaces or keepalived skip on a laptop and fail in CI (CI=true).
#   ./scripts/test.sh            everything
#   ./scripts/test.sh -k render  pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> ruff"
.venv/bin/ruff check cluster tests docs notebooks
.venv/bin/ruff format --check cluster tests docs notebooks
echo "==> pytest"
exec .venv/bin/python -m pytest --doctest-modules cluster tests "$@"
