"""``lab down`` leaves nothing, even when the agent or the whole guest was killed mid-run."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from cluster.errors import LabError
from cluster.lab import Lab
from cluster.lab.state import Paths, cmdline
from cluster.lab.topology import Route, seed_topology


def leftovers(paths: Paths, pids: list[int]) -> list[str]:
    found = [str(d) for d in (paths.root, paths.tmp) if d.exists()]
    found += [f"pid {p}: {cmdline(p)}" for p in pids if Path(f"/proc/{p}").exists()]
    found += [m for m in Path("/proc/mounts").read_text().splitlines() if "lvs-cluster" in m]
    ours = set(seed_topology().namespaces)  # other tools may hold scratch namespaces meanwhile
    netns = Path("/run/netns")
    found += (
        [f"netns {n.name}" for n in netns.iterdir() if n.name in ours] if netns.is_dir() else []
    )
    return found


def everything_pids(lab: Lab) -> list[int]:
    """The lab's host processes; in host mode its servers are host processes too (in guest
    mode they die with the guest, whose processes are among the state's pids)."""
    servers = lab.running_services()
    assert set(servers) == {"realserver1", "realserver2", "smtp"}, servers
    return [*lab.state.pids.values(), *(servers.values() if lab.state.mode == "host" else ())]


@pytest.mark.parametrize("crash", ["agent", "guest", "none"])
@pytest.mark.parametrize("mode", [None, "qemu"], ids=["auto", "qemu"])
def test_down_leaves_nothing(mode: str | None, crash: str) -> None:
    """On the kernel ``auto`` picks, and on QEMU, the fallback (host mode: test_modes.py)."""
    paths = Paths()
    lab = Lab.up(mode=mode)
    pids = everything_pids(lab)
    lab.spawn("realserver1", ["sleep", "600"], name="sleeper")
    if crash == "agent":
        agent_pid = lab.agent.request("ping")["pid"]
        # the reply never comes: the agent dies, and the guest's init powers it off
        with contextlib.suppress(LabError):
            lab.run("client1", "kill", "-9", str(agent_pid))
    elif crash == "guest":
        for pid in pids:
            os.killpg(pid, signal.SIGKILL)
    lab.close()
    Lab.down()
    assert leftovers(paths, pids) == []


def test_failed_up_says_why_and_leaves_nothing() -> None:
    topo = seed_topology()
    broken = replace(topo.node("smtp"), routes=(Route("default", "10.9.9.9"),))
    topo = replace(topo, nodes=tuple(broken if n.name == "smtp" else n for n in topo.nodes))
    with pytest.raises(LabError, match=r"building smtp failed: .*(gateway|unreachable)"):
        Lab.up(topo)
    assert leftovers(Paths(), []) == []
