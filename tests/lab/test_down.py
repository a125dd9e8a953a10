"""``lab down`` leaves nothing, even when the agent or the whole guest was killed mid-run."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from cluster.errors import LabError
from cluster.lab import Lab
from cluster.lab.state import Paths, cmdline


def leftovers(paths: Paths, pids: list[int]) -> list[str]:
    found = [str(d) for d in (paths.root, paths.tmp) if d.exists()]
    found += [f"pid {p}: {cmdline(p)}" for p in pids if Path(f"/proc/{p}").exists()]
    found += [m for m in Path("/proc/mounts").read_text().splitlines() if "lvs-cluster" in m]
    netns = Path("/run/netns")
    found += [f"netns {n.name}" for n in netns.iterdir()] if netns.is_dir() else []
    return found


def everything_pids(lab: Lab) -> list[int]:
    return list(lab.state.pids.values())


@pytest.mark.parametrize("crash", ["agent", "guest", "none"])
def test_down_leaves_nothing(crash: str) -> None:
    paths = Paths()
    lab = Lab.up()
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
