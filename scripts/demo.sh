#!/usr/bin/env bash
# The main job: set up the machine, take the seed cluster (the 2007 article's, corrected)
# through validate, show, render (checked by the real keepalived -t) and lint, lint the
# article's original config to show what was wrong with it, build the lab with the real
# keepalived on both directors, load-test it through the VIP, measure failover against VRRP
# theory (JSON and charts in out/failover/), and build the docs into site/.
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

step "Build the lab: every host of the seed cluster in its own network namespace"
$cluster lab up
trap '$cluster lab down >/dev/null 2>&1 || true' EXIT

step "Set up both directors with cluster apply (VRRPv3, advert_int 1): plan, then apply"
$cluster lab apply --advert-int 1 --vrrp-version 3 --dry-run | grep -E "^== |^~ " || true
$cluster lab apply --advert-int 1 --vrrp-version 3 >/dev/null
$cluster lab apply --advert-int 1 --vrrp-version 3   # a second run: "no changes"
for _ in $(seq 30); do  # the checkers add the real servers within a few seconds
  $cluster lab exec client1 -- curl -sf -m 1 -o /dev/null http://192.168.0.174/ && break
  sleep 1
done
$cluster lab state

step "Load test through the VIP: the article's ab -c 30 -n 300, three trials, each counted from ab, IPVS and the real servers"
$cluster bench load -o out/load.json --chart out/load
$cluster lab exec director01 -- ipvsadm -Ln --stats

step "Failover: the master dies, 3 trials, measured against VRRP theory; charts"
$cluster bench failover --scenario dies --advert-int 1 --vrrp-version 3 --trials 3 \
  -o out/failover/demo-dies.json
$cluster bench failover --chart out/failover/demo-dies.json -o out/failover/demo-chart >/dev/null

step "Take the lab down"
$cluster lab down
trap - EXIT

step "Build the docs (with the executed notebooks; executes those whose copy is stale)"
bash scripts/docs.sh build

printf '\nDone. Configs in %s/, failover results and charts in out/failover/, the site in site/\n(open site/index.html or run scripts/docs.sh serve).\n' "$out"
