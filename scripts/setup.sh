#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 / Ubuntu machine, run as root:
#   1. the Debian packages the kit drives (keepalived, ipvsadm, iptables, nftables, ab, ip, kmod);
#   2. a virtual environment in .venv with the package and its dev tools.
# A second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(keepalived ipvsadm iptables nftables apache2-utils iproute2 kmod python3-venv)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's keepalived unit would start a daemon on the host; the kit runs keepalived itself.
if command -v systemctl >/dev/null && systemctl is-enabled keepalived >/dev/null 2>&1; then
  systemctl disable --now keepalived >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -e $stamp ]]; then
  echo "==> creating .venv and installing the package (about a minute)"
  [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "==> set-up done: $(.venv/bin/cluster --version)"
