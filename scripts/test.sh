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
# Two runs side by side, one per CPU. tests/lab share the lab at its default state directory,
# so they run one after the other, with UML pinned to the last CPU. Everything else runs at
# the same time, on the first CPU: pure tests, guests of their own (tests/guests), and the
# docs build, whose notebooks bring up a lab of their own. Its report follows the lab's.
others=$(mktemp)
trap 'rm -f "$others"' EXIT
echo "==> pytest: the lab's tests here; the others beside them (their report follows)"
LVS_LAB_STATE=/run/lvs-cluster-lab-tests LVS_LAB_TMP=/dev/shm/lvs-cluster-lab-tests \
  LVS_LAB_CPU=0 "${pytest[@]}" -p no:cacheprovider cluster tests --ignore=tests/lab \
  >"$others" 2>&1 &
status=0
"${pytest[@]}" tests/lab || status=$?
wait $! || status=$?
echo "==> pytest: everything but the lab's tests"
cat "$others"
exit "$status"
