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
pytest=(.venv/bin/python -m pytest --doctest-modules)
if (($#)); then
  echo "==> pytest $*"
  exec "${pytest[@]}" cluster tests "$@"
fi
# The lab's tests share its one state directory, so they run one after the other (and the
# docs build with them: it executes notebooks that bring up the lab). Everything else runs at
# the same time on the other CPU; its report follows once the lab's tests are done.
others=$(mktemp)
trap 'rm -f "$others"' EXIT
echo "==> pytest: the lab's tests here; the others beside them (their report follows)"
"${pytest[@]}" -p no:cacheprovider cluster tests --ignore=tests/lab \
  --ignore=tests/test_docs.py >"$others" 2>&1 &
status=0
"${pytest[@]}" tests/lab tests/test_docs.py || status=$?
wait $! || status=$?
echo "==> pytest: everything but the lab's tests"
cat "$others"
exit "$status"
