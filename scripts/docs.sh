#!/usr/bin/env bash
# Build or serve the documentation site, with the executed notebooks (docs/hooks/notebooks.py
# renders the copies in out/notebooks/ and executes the notebooks whose copy is stale).
#   scripts/docs.sh [build] [mkdocs options]   strict build into site/ (the default)
#   scripts/docs.sh serve [mkdocs options]     live preview on http://127.0.0.1:8000/
#   scripts/docs.sh kernel                     only install the notebooks' Jupyter kernel
# Executing a notebook runs the lab, so a build with stale copies runs as root.
# DOCS_NOTEBOOKS=saved scripts/docs.sh ...  renders the copies already in out/notebooks/, stale
#                                           or not (no lab, seconds): for writing pages only.
set -euo pipefail
cd "$(dirname "$0")/.."

KERNEL=lvs-cluster   # the name in mkdocs.yml and in each notebook's metadata

# The kernelspec lives inside .venv (--sys-prefix) and names .venv/bin/python by absolute path,
# so the build never runs the notebooks with some other python that lacks the package.
install_kernel() {
  local spec=.venv/share/jupyter/kernels/$KERNEL/kernel.json
  if ! grep -qF "\"$PWD/.venv/bin/python\"" "$spec" 2>/dev/null; then
    .venv/bin/python -m ipykernel install --sys-prefix --name "$KERNEL" \
      --display-name "Python (lvs-cluster .venv)" >/dev/null
    echo "==> installed Jupyter kernel $KERNEL -> $PWD/.venv/bin/python"
  fi
}

bash scripts/setup.sh
install_kernel

action=${1:-build}
[[ $# -gt 0 ]] && shift
case $action in
  build) exec .venv/bin/mkdocs build --strict "$@" ;;
  serve) exec .venv/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000 "$@" ;;
  kernel) ;;
  *) echo "usage: $0 [build|serve|kernel] [mkdocs options]" >&2; exit 2 ;;
esac
