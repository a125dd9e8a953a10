"""The boot-time firewall unit's commands, run in a network namespace made here: they load
exactly our rules, beside rules that are not ours, and loading them again (a restarted unit)
changes nothing."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import require

from cluster.director.boot import FIREWALL
from cluster.director.plan import Layout, desired_state
from cluster.files import write_atomic
from cluster.firewall import BACKENDS, BackendName
from cluster.firewall.apply import load, read_loaded, remove
from cluster.spec import load_seed_spec

NS = f"lvs-boot-fw-{os.getpid()}"
FOREIGN = {
    "nftables": ["nft", "add table inet theirs; add chain inet theirs input "
                 "{ type filter hook input priority 0; }; add rule inet theirs input accept"],
    "iptables": ["iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
}  # fmt: skip


@pytest.fixture
def netns() -> Iterator[str]:
    require(os.geteuid() == 0, "not root: network namespaces need root")
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=True)


def in_ns(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", NS, *argv], capture_output=True, text=True, check=check
    )


def start_unit(unit: str) -> None:
    """What systemd runs for the oneshot unit: every ExecStartPre (a "-" may fail), then every
    ExecStart, which must not."""
    for key in ("ExecStartPre", "ExecStart"):
        for line in unit.splitlines():
            if line.startswith(f"{key}="):
                command = line.split("=", 1)[1]
                done = in_ns(shlex.split(command.removeprefix("-")), check=False)
                assert done.returncode == 0 or command.startswith("-"), done.stderr


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_boot_loads_ours_once_and_leaves_theirs(
    backend: BackendName, netns: str, tmp_path: Path
) -> None:
    desired = desired_state(load_seed_spec(), "director01", backend, Layout(str(tmp_path)),
                            manager="systemd")  # fmt: skip
    assert desired.boot is not None
    for path, text in desired.boot.files.items():
        write_atomic(Path(path), text)
    load(desired.firewall_rules, backend, netns)  # what `cluster apply` loads
    applied = ours(backend)
    remove(backend, netns)
    in_ns(FOREIGN[backend])
    theirs = listing(backend)
    unit = desired.boot.files[str(tmp_path / "etc/systemd/system" / FIREWALL)]
    start_unit(unit)
    assert ours(backend) == applied
    once = listing(backend)
    start_unit(unit)  # systemctl restart: the same rules, no second jump
    assert ours(backend) == applied and listing(backend) == once
    for line in theirs.splitlines():
        assert line in once, f"{line!r} of a rule set not ours is gone"


def ours(backend: BackendName) -> dict[str, str]:
    """Our rules as loaded, without nft's packet counters."""
    loaded = read_loaded(backend, NS)
    return {p: re.sub(r"counter packets \d+ bytes \d+", "counter", t) for p, t in loaded.items()}


def listing(backend: BackendName) -> str:
    """Every rule of the namespace, ours and not, without counters and save's comments."""
    module = BACKENDS[backend]
    text = "".join(in_ns(module.list_command(p)).stdout for p in module.PROGRAMS)
    text = re.sub(r"counter packets \d+ bytes \d+", "counter", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))
