#!/usr/bin/env bash
# The main job: set up the machine, take the seed cluster (the 2007 article's, corrected)
# through validate, show, render (checked by the real keepalived -t) and lint, lint the
# article's original config to show what was wrong with it, and build the docs into site/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cluster=.venv/bin/cluster
out=out/seed
step() { printf '\n\033[1m==> %s\033[0m\n' "$1"; }

step "Validate the seed cluster spec"
$cluster validate

step "The seed cluster"
$cluster show

step "Render keepalived.conf for both directors; the real keepalived -t must accept them"
$cluster render --check --out "$out"

step "Lint the rendered configs"
$cluster lint "$out"/*/keepalived.conf

step "Lint the 2007 article's director01 config (it has mistakes; findings expected)"
$cluster lint tests/data/article/director01.conf || [[ $? == 1 ]]

step "Build the docs (executes the notebooks)"
bash scripts/docs.sh build

printf '\nDone. Configs in %s/, the site in site/ (open site/index.html or run scripts/docs.sh serve).\n' "$out"
