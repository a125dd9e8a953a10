"""The lab's other kernel modes, each in a lab of its own beside the module labs' default one.

- ``host`` mode is what most users get: a distribution kernel with the ``ip_vs`` module. Our
  hosts have no IPVS, so the test does what such a user does, inside a bare guest whose kernel
  has it: ``cluster lab up --mode host``, apply, a load test, a failover trial, ``lab down``,
  and ``lab down`` again after the host agent was killed.
- A checkout under ``/tmp``: the guest's ``/tmp`` is the host's, so a lab started from a
  clone there boots and runs the clone's code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.lab import Lab
from cluster.lab.guest import python_argv
from cluster.lab.state import Paths
from cluster.lab.topology import Topology

SEED_NAMESPACES = {"client1", "director01", "director02", "realserver1", "realserver2",
                   "router", "smtp", "switch"}  # fmt: skip


def private_paths(name: str) -> Paths:
    return Paths(root=Path(f"/run/lvs-cluster-{name}"), tmp=Path(f"/dev/shm/lvs-cluster-{name}"))


@pytest.fixture(scope="module")
def bare_guest() -> Iterator[Lab]:
    """A guest with no lab network in it: a machine whose kernel has IPVS. The chain's
    first guest kernel, never ``host`` (that is what runs inside)."""
    paths = private_paths("host-mode-test")
    mode = os.environ.get("LVS_LAB_MODE") or "uml"
    lab = Lab.up(Topology(nodes=(), segments=(), vip="", dip=""), mode=mode, paths=paths)
    yield lab
    lab.close()
    Lab.down(paths)


def in_guest(lab: Lab, *argv: str, timeout: float = 300) -> str:
    """Run ``argv`` in the guest's own (root) network namespace, as a user's shell would."""
    reply = lab.agent.request("run", ns=None, argv=list(argv), timeout=timeout)
    assert reply["rc"] == 0, f"{' '.join(argv)}: exit {reply['rc']}\n{reply['stderr']}"
    return str(reply["stdout"])


def cluster_in_guest(lab: Lab, *args: str, timeout: float = 600) -> str:
    return in_guest(lab, *python_argv("-m", "cluster", *args), timeout=timeout)


def leftovers(lab: Lab) -> dict[str, str]:
    """What a host-mode lab could leave in the guest: namespaces, processes, its state. (The
    guest's own agent, ``cluster.lab.agent --serial``, is the test's, not the lab's.)"""
    ps = in_guest(lab, "ps", "-eo", "args")
    return {
        "namespaces": in_guest(lab, "ip", "netns", "list"),
        "processes": "\n".join(
            line for line in ps.splitlines()
            if any(p in line for p in ("keepalived", "cluster.lab", "ab -n"))
            and "ps -eo" not in line and "--serial" not in line and "GLIBC_TUNABLES" not in line
        ),
        "state": in_guest(lab, "sh", "-c", "ls -d /run/lvs-cluster-lab 2>/dev/null || true"),
    }  # fmt: skip


def test_host_mode_sets_up_serves_fails_over_and_leaves_nothing(bare_guest: Lab) -> None:
    lab = bare_guest
    up = cluster_in_guest(lab, "lab", "up", "--mode", "host")
    assert "lab up (host mode)" in up
    assert set(in_guest(lab, "ip", "netns", "list").split()) >= SEED_NAMESPACES
    cluster_in_guest(lab, "lab", "apply", "--advert-int", "1", "--vrrp-version", "3")
    in_guest(lab, "sh", "-c", "for i in $(seq 30); do ip netns exec client1 curl -sf -m 1 "
             "-o /dev/null http://192.168.0.174/ && exit 0; sleep 1; done; exit 1")  # fmt: skip

    cluster_in_guest(
        lab, "bench", "load", "-n", "300", "-c", "1", "--trials", "1", "-o", "/tmp/load.json"
    )
    load = json.loads(in_guest(lab, "cat", "/tmp/load.json"))
    assert load["provenance"]["lab"]["mode"] == "host"
    assert (load["failed"], sorted(load["split"].values())) == (0, [150, 150])

    cluster_in_guest(lab, "bench", "failover", "--scenario", "dies", "--advert-int", "1",
                     "--trials", "1", "-o", "/tmp/failover.json")  # fmt: skip
    trial = json.loads(in_guest(lab, "cat", "/tmp/failover.json"))["trials"][0]
    _, high = trial["theory_window_s"]
    assert 0 < trial["outage_s"] <= high + 0.3 and not trial["outage_open"], trial["outage_s"]

    cluster_in_guest(lab, "lab", "down")
    assert leftovers(lab) == {"namespaces": "", "processes": "", "state": ""}


def test_host_mode_down_after_its_agent_was_killed(bare_guest: Lab) -> None:
    lab = bare_guest
    cluster_in_guest(lab, "lab", "up", "--mode", "host")
    state = json.loads(in_guest(lab, "cat", "/run/lvs-cluster-lab/state.json"))
    in_guest(lab, "kill", "-9", str(state["pids"]["agent"]))
    cluster_in_guest(lab, "lab", "down")
    assert leftovers(lab) == {"namespaces": "", "processes": "", "state": ""}


def test_a_lab_started_from_a_checkout_under_tmp() -> None:
    """The whole package copied under /tmp, and the lab booted from that copy: the guest's
    agent imports it from there, and so does every command run in a node."""
    import pyroute2

    import cluster

    copy = Path("/tmp") / f"lvs-cluster-checkout-{os.getpid()}"
    shutil.copytree(Path(cluster.__file__).parent, copy / "cluster",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    paths = private_paths("tmp-checkout-test")
    # the interpreter itself, not the venv's, and not from this checkout's directory: either
    # would import the checkout the tests run from, whatever PYTHONPATH says
    site_packages = Path(pyroute2.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": f"{copy}:{site_packages}",
           "LVS_LAB_STATE": str(paths.root), "LVS_LAB_TMP": str(paths.tmp)}  # fmt: skip
    cli = [str(Path(sys.executable).resolve()), "-m", "cluster", "lab"]
    try:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        mode = os.environ.get("LVS_LAB_MODE") or "uml"
        up = subprocess.run([*cli, "up", "--mode", mode], env=env, capture_output=True,
                            text=True, check=False, cwd="/")  # fmt: skip
        assert up.returncode == 0, up.stderr
        where = subprocess.run(
            [*cli, "exec", "client1", "--", "sh", "-c", "cat /proc/$PPID/cmdline | tr '\\0' ' ';"
             "echo; echo $PYTHONPATH"],
            env=env, capture_output=True, text=True, check=True, cwd="/",
        ).stdout  # fmt: skip
        assert "-m cluster.lab.agent" in where and where.split()[-1].startswith(str(copy))
        status = json.loads(
            subprocess.run(
                [*cli, "status", "--json"], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        assert status["provenance"]["lab"]["mode"] == mode
    finally:
        subprocess.run([*cli, "down"], env=env, capture_output=True, check=False, cwd="/")
        shutil.rmtree(copy)
    assert not paths.root.exists() and not paths.tmp.exists()
