"""The QEMU guest end to end, on every run: the fallback kernel of the chain must never rot.

Our hosts pick ``uml`` (or ``host``), so nothing else would boot QEMU until a machine needs
it. This module does, in a lab of its own: ``cluster lab apply``, 300 requests split 150/150,
three "master dies" trials within theory + 0.3 s, and ``lab down`` leaving nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.bench.load import load_test
from cluster.failover import bench, theory
from cluster.lab import Lab, directors
from cluster.lab.state import Paths, cmdline
from cluster.spec import load_seed_spec

SPEC = bench.lab_variant(load_seed_spec(), None, 1, 3)
PATHS = Paths(root=Path("/run/lvs-cluster-qemu-smoke"), tmp=Path("/dev/shm/lvs-cluster-qemu-smoke"))


@pytest.fixture(scope="module")
def qemu_lab() -> Iterator[Lab]:
    lab = Lab.up(mode="qemu", paths=PATHS)
    yield lab
    lab.close()
    Lab.down(PATHS)


def test_the_qemu_guest_runs_the_generic_kernel(qemu_lab: Lab) -> None:
    assert qemu_lab.state.mode == "qemu"
    assert qemu_lab.run("client1", "uname", "-r").check().stdout.strip() == qemu_lab.state.kernel
    assert "-amd64" in qemu_lab.state.kernel or "-generic" in qemu_lab.state.kernel


def test_apply_and_a_load_test_split_exactly(qemu_lab: Lab) -> None:
    lab = qemu_lab
    for node, result in directors.apply(lab, SPEC).items():
        assert result.ok, f"{node}: {result.stderr}"
    directors.wait_for_master(lab, SPEC, "director01", timeout=60)
    deadline = time.monotonic() + 60
    while not lab.run("client1", "curl", "-sf", "-m", "1", "-o", "/dev/null",
                      "http://192.168.0.174/").ok:  # fmt: skip
        assert time.monotonic() < deadline, "the VIP never served"
        time.sleep(1)
    document = load_test(lab, "http://192.168.0.174:80/", "director01", 300)
    assert document["failed"] == 0 and sorted(document["split"].values()) == [150, 150]


def test_three_master_deaths_within_theory(qemu_lab: Lab) -> None:
    high = theory.master_down_interval(50, 1, 3)
    for _ in range(3):
        result = bench.trial(qemu_lab, bench.Scenario("dies", advert_int=1, version=3), print)
        assert 0 < result["outage_s"] <= high + 0.3, result["outage_s"]
        assert not result["outage_open"]


def test_down_leaves_nothing(qemu_lab: Lab) -> None:
    pids = list(qemu_lab.state.pids.values())
    qemu_lab.close()
    Lab.down(PATHS)
    assert not PATHS.root.exists() and not PATHS.tmp.exists()
    assert [p for p in pids if cmdline(p)] == []
    assert [m for m in Path("/proc/mounts").read_text().splitlines() if "qemu-smoke" in m] == []
