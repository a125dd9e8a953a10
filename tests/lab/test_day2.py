"""Day-2 operations under a client's load, in the lab: one trial of ``cluster bench day2``
(add a real server, change its weight, drain another, rotate the VRRP password, restart the
backup, restart the master), each through the plans ``cluster op`` runs, while a probe sends
a request to the VIP every 10 ms. Asserted: what the client saw (failed requests), both
directors' IPVS tables after the steps, nobody MASTER twice, and the VIPs back after the
master's restart, and the spec file each operation wrote back, as ``cluster op`` does.

The speed (the handover's outage against skew + 0.1 s) is the benchmark's, never asserted
here. One lab build with a third real server; about 3 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.bench import day2
from cluster.ipvs.ipvsadm import parse_save
from cluster.lab import Lab, directors

VIP = "192.168.0.174"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    handle = Lab.up(day2.topology())
    yield handle
    handle.close()
    Lab.down()


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("day2") / "cluster.yaml"


@pytest.fixture(scope="module")
def results(lab: Lab, spec_file: Path) -> dict[str, dict[str, Any]]:
    return dict(zip(day2.OPERATIONS, day2.trial(lab, spec_file, print), strict=True))


def weights(save: str) -> dict[str, int]:
    """The http service's real servers and their weights, from ``ipvsadm -Sn``."""
    table = parse_save(save)
    service = next(s for s in table if str(s.key) == f"TCP {VIP}:80")
    return {str(d.address): d.weight for d in service.destinations}


def after(result: dict[str, Any], step: str) -> dict[str, dict[str, int]]:
    """Each director's http weights right after the (last) step described as ``step``."""
    tables = [t["ipvs"] for t in result["tables"] if t["step"] == step][-1]
    return {node: weights(save) for node, save in tables.items()}


BOTH = ("director01", "director02")


def test_add_server_under_load(results: dict[str, dict[str, Any]]) -> None:
    add = results["add-server"]
    assert add["failed"] == 0, add["failed_outcomes"]
    last = add["tables"][-1]["ipvs"]
    for node in BOTH:
        assert weights(last[node]) == {"192.168.170.25": 1, "192.168.170.35": 1,
                                       day2.ADDED: 1}  # fmt: skip


def test_backup_changes_first(results: dict[str, dict[str, Any]]) -> None:
    weight = results["weight"]
    assert weight["failed"] == 0, weight["failed_outcomes"]
    first = after(weight, "director02: cluster apply with the new spec")
    assert first["director02"][day2.ADDED] == 3
    assert first["director01"][day2.ADDED] == 1  # the master not yet
    last = weight["tables"][-1]["ipvs"]
    assert all(weights(last[node])[day2.ADDED] == 3 for node in BOTH)


def test_drain_waits_for_connections_then_removes(results: dict[str, dict[str, Any]]) -> None:
    drain = results["drain"]
    assert drain["failed"] == 0, drain["failed_outcomes"]
    drained = after(drain, "director01: cluster apply with the drained spec")
    assert all(drained[node][day2.DRAINED] == 0 for node in BOTH)
    waits = [s for s in drain["steps"] if s["kind"] == "wait-drained"]
    master = next(s for s in waits if s["node"] == "director01")
    assert master["detail"].startswith("drained (") and not master["detail"].startswith(
        "drained (0 "
    ), master["detail"]  # it had held connections to wait for, and they ended
    last = drain["tables"][-1]["ipvs"]
    assert all(day2.DRAINED not in weights(last[node]) for node in BOTH)


def test_password_rotation_never_two_masters(results: dict[str, dict[str, Any]]) -> None:
    rotation = results["rotate-password"]
    assert rotation["vip_held_twice"] == []
    assert rotation["master_twice"] == []
    assert all(owners == ["director01"] for owners in rotation["holders_after"].values())
    assert rotation["failed"] == 0, rotation["failed_outcomes"]


def test_backup_restart_unseen(results: dict[str, dict[str, Any]]) -> None:
    restart = results["restart-backup"]
    assert restart["failed"] == 0, restart["failed_outcomes"]
    assert restart["vip_held_twice"] == []
    assert all(owners == ["director01"] for owners in restart["holders_after"].values())


def test_master_restart_hands_over_and_returns(lab: Lab, results: dict[str, Any]) -> None:
    restart = results["restart-master"]
    holders = [s for s in restart["steps"] if s["kind"] == "wait-master"]
    assert [s["node"] for s in holders] == ["director02", "director01"]
    assert all(owners == ["director01"] for owners in restart["holders_after"].values())
    spec = directors.current_spec(lab)
    assert spec is not None and {i.auth.password for i in spec.vrrp.instances if i.auth} == {
        day2.PASSWORDS[1]
    }


def test_the_spec_file_follows(results: dict[str, Any], spec_file: Path) -> None:
    """Each operation wrote its change back to the spec file, as ``cluster op`` does."""
    from cluster.spec import load_spec

    spec = load_spec(spec_file)
    http = next(vs for vs in spec.virtual_services if vs.name == "http")
    assert {str(rs.address): rs.weight for rs in http.real_servers} == {
        "192.168.170.35": 1, day2.ADDED: 3}  # fmt: skip
    assert {i.auth.password for i in spec.vrrp.instances if i.auth} == {day2.PASSWORDS[1]}
    assert spec_file.read_text().startswith(day2.start_text().split("\n")[0])
