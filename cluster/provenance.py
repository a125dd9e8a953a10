"""Where a figure came from: the code, the host, the lab's kernel and the tools.

Every benchmark document (``cluster bench ...``) and ``cluster lab status --json`` carry this
record, so that figures from different kernels, CPUs or commits are never compared without
knowing it: a process start costs 7 ms in pinned UML and 35 ms under QEMU, and a host with
AVX-512 runs UML through a register fix-up that a host without it does not need.

An edge module: it reads ``/proc``, ``/etc/os-release`` and the lab's state, and runs ``git``
and ``dpkg-query``.

>>> record = collect()
>>> sorted(record)
['code', 'host', 'lab', 'time', 'tools']
>>> record["host"]["cpus"] >= 1
True
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import cluster
from cluster.lab.state import LabState, Paths

CHECKOUT = Path(cluster.__file__).resolve().parents[1]
# CPU features that change what the lab runs (UML's register fix-up) or how fast
NOTABLE_FLAGS = ("avx2", "avx512f", "amx_tile", "vmx", "svm", "hypervisor")


def _output(argv: list[str], cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text if done.returncode == 0 and text else None


def cpuinfo(text: str) -> dict[str, Any]:
    """The CPU model and the notable flags from ``/proc/cpuinfo``'s text.

    >>> cpuinfo("model name\\t: AMD EPYC\\nflags\\t\\t: fpu avx2 avx512f\\n")
    {'cpu_model': 'AMD EPYC', 'cpu_flags': ['avx2', 'avx512f']}
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name", platform.processor() or platform.machine()),
        "cpu_flags": [f for f in NOTABLE_FLAGS if f in flags],
    }


def _os_release() -> str:
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        return platform.system()
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    return values.get("PRETTY_NAME", "").strip('"') or platform.system()


def host() -> dict[str, Any]:
    try:
        cpu = cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        cpu = cpuinfo("")
    return {
        "os": _os_release(),
        "kernel": platform.release(),
        **cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # other work on the host slows a guest: figures are read with this in mind
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def code() -> dict[str, Any]:
    """The package's version, and the git revision of its checkout if it is one."""
    revision = _output(["git", "rev-parse", "HEAD"], cwd=CHECKOUT)
    status = _output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=CHECKOUT)
    return {
        "version": cluster.__version__,
        "revision": revision,
        "dirty": bool(status) if revision else None,
    }


TOOLS = ("keepalived", "ipvsadm", "iptables", "nftables", "apache2-utils")


def tools() -> dict[str, str | None]:
    """The Debian package version of each program the kit drives (None when not installed).
    The packages', because ``ipvsadm --version`` fails on a host kernel without IPVS."""
    return {name: _output(["dpkg-query", "-W", "-f", "${Version}", name]) for name in TOOLS}


def lab(state: LabState | None) -> dict[str, Any] | None:
    """The lab's kernel, as its state recorded it; None when no lab runs."""
    if state is None:
        return None
    return {
        "mode": state.mode,
        "kernel": state.kernel,
        "pinned_cpus": state.cpus,
        "guest_user": state.guest_user,
        "passed_over": state.chain,
    }


def running_lab_state(paths: Paths | None = None) -> LabState | None:
    """The running lab's state, or None when there is no lab."""
    paths = paths or Paths()
    return LabState.load(paths) if paths.socket.exists() else None


def collect(state: LabState | None = None) -> dict[str, Any]:
    """The whole record; ``state`` defaults to the running lab's, if one runs."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code": code(),
        "host": host(),
        "lab": lab(state or running_lab_state()),
        "tools": tools(),
    }
