#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12/13 or Ubuntu machine, run as root. Two steps:
#   scripts/setup.sh debs   the Debian packages the kit drives (keepalived, ipvsadm, iptables,
#                           nftables, ab, ip, ping for track scripts, kmod, openssl), and what
#                           the lab's guest kernels need: gcc for UML's register fix-up,
#                           qemu-system-x86 for the QEMU guest, zstd for newer kernel images,
#                           systemd and e2fsprogs for a lab machine (systemd as its PID 1, its
#                           disk made by mkfs.ext4), and chromium, the real browser that
#                           tests/test_docs.py opens the site in
#   scripts/setup.sh venv   a virtual environment in .venv with the package and its dev tools
#   scripts/setup.sh        both (what the other scripts call)
# A second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(keepalived ipvsadm iptables nftables apache2-utils iproute2 iputils-ping kmod openssl
  python3-venv gcc libc6-dev qemu-system-x86 zstd systemd e2fsprogs chromium)

install_debs() {
  local missing=() p
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
}

create_venv() {
  local stamp
  stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
  if [[ ! -e $stamp ]]; then
    echo "==> creating .venv and installing the package (about a minute)"
    [[ -x .venv/bin/python ]] || "${PYTHON:-python3}" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

case ${1:-all} in
  debs) install_debs ;;
  venv) create_venv ;;
  all) install_debs; create_venv ;;
  *) echo "usage: $0 [debs|venv|all]" >&2; exit 2 ;;
esac
echo "==> set-up done: $(.venv/bin/cluster --version 2>/dev/null || echo 'run: scripts/setup.sh venv')"
