"""The seed topology behaves like the article's network, and IPVS carries real traffic."""

from __future__ import annotations

import re
import time

import pytest

from cluster.lab import Lab
from cluster.lab.topology import seed_topology

TOPO = seed_topology()
VIP, DIP = TOPO.vip, TOPO.dip
REAL_SERVERS = TOPO.by_role("realserver")
CLIENT = TOPO.by_role("client")[0]


def curl(lab: Lab, node: str, url: str, timeout: float = 3) -> tuple[int, str]:
    res = lab.run(node, "curl", "-sS", "--max-time", str(timeout), url, timeout=timeout + 5)
    return res.rc, res.stdout + res.stderr


def serve(lab: Lab, node: str, port: int, body: str) -> int:
    """A trivial HTTP server; waits until it listens, since Python starts slowly in a guest."""
    root = f"/run/www-{node}-{port}"
    lab.write_file(node, f"{root}/index.html", body)
    pid = lab.spawn(node, ["python3", "-m", "http.server", "-d", root, str(port)],
                    name=f"http{port}")
    for _ in range(200):
        if f":{port} " in lab.run(node, "ss", "-Hltn").stdout:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no HTTP server on {node}:{port}")


@pytest.fixture
def floating(lab: Lab):
    """The VIP and DIP on director01, as keepalived's master would hold them."""
    d1 = TOPO.node("director01")
    lab.run(d1.name, "ip", "addr", "add", f"{VIP}/24", "dev", "eth0").check()
    lab.run(d1.name, "ip", "addr", "add", f"{DIP}/24", "dev", "eth1").check()
    yield d1.name
    lab.run(d1.name, "ip", "addr", "del", f"{VIP}/24", "dev", "eth0")
    lab.run(d1.name, "ip", "addr", "del", f"{DIP}/24", "dev", "eth1")


def test_lab_runs_the_article_addresses(lab: Lab) -> None:
    status = lab.status()
    assert status["nodes"]["director01"]["eth0"]["addresses"] == ["192.168.0.204/24"]
    assert status["nodes"]["director02"]["eth1"]["addresses"] == ["192.168.170.180/24"]
    assert status["nodes"]["realserver2"]["eth0"]["addresses"] == ["192.168.170.35/24"]
    assert status["nodes"]["smtp"]["eth0"]["addresses"] == ["192.168.0.15/24"]


def test_client_cannot_reach_real_servers(lab: Lab) -> None:
    for rs in REAL_SERVERS:
        serve(lab, rs.name, 8081, "direct\n")
        rc, out = curl(lab, CLIENT.name, f"http://{rs.address}:8081/")
        assert rc != 0, f"{CLIENT.name} reached {rs.name} directly: {out}"
        # the directors' own segment is reachable, so the failure is routing, not a dead lab
        rc, out = curl(lab, rs.name, f"http://{rs.address}:8081/")
        assert rc == 0 and "direct" in out


def test_real_server_reaches_client_only_via_dip(lab: Lab, floating: str) -> None:
    serve(lab, CLIENT.name, 8080, "client\n")
    rs = REAL_SERVERS[0].name
    route = lab.run(rs, "ip", "route", "get", CLIENT.address).check().stdout
    assert f"via {DIP}" in route
    # the article's firewall masquerades the real servers' own traffic on the director; the
    # guest kernel has no nft "nat" chain type, so the legacy back end is the one that works
    masquerade = ["POSTROUTING", "-o", "eth0", "-j", "MASQUERADE"]
    lab.run(floating, "iptables-legacy", "-t", "nat", "-A", *masquerade).check()
    try:
        rc, out = curl(lab, rs, f"http://{CLIENT.address}:8080/")
        assert rc == 0 and "client" in out
        seen_from = lab.log_path(CLIENT.name, "http8080").read_text()
        assert TOPO.node(floating).address in seen_from  # it came out of director01
        lab.run(floating, "ip", "addr", "del", f"{DIP}/24", "dev", "eth1").check()
        lab.run(rs, "ip", "neigh", "flush", "dev", "eth0").check()  # forget the DIP's MAC
        rc, out = curl(lab, rs, f"http://{CLIENT.address}:8080/", timeout=2)
        assert rc != 0, f"reached the client without the DIP: {out}"
        lab.run(floating, "ip", "addr", "add", f"{DIP}/24", "dev", "eth1").check()
    finally:
        lab.run(floating, "iptables-legacy", "-t", "nat", "-D", *masquerade)


def test_ipvs_nat_smoke(lab: Lab, floating: str) -> None:
    for rs in REAL_SERVERS:
        serve(lab, rs.name, 80, f"hello from {rs.name}\n")
    vs = f"{VIP}:80"
    lab.run(floating, "ipvsadm", "-A", "-t", vs, "-s", "rr").check()
    try:
        for rs in REAL_SERVERS:
            lab.run(floating, "ipvsadm", "-a", "-t", vs, "-r", f"{rs.address}:80", "-m").check()
        answers = {curl(lab, CLIENT.name, f"http://{VIP}/")[1].strip() for _ in REAL_SERVERS}
        assert answers == {f"hello from {rs.name}" for rs in REAL_SERVERS}
        # IPVS folds its per-CPU counters into these totals every 2 s
        deadline = time.monotonic() + 6
        while True:
            stats = lab.run(floating, "ipvsadm", "-Ln", "--stats").check().stdout
            conns = re.search(rf"TCP\s+{re.escape(vs)}\s+(\d+)", stats)
            if conns and int(conns.group(1)) >= len(REAL_SERVERS):
                break
            assert time.monotonic() < deadline, f"IPVS did not count the requests:\n{stats}"
            time.sleep(0.5)
    finally:
        lab.run(floating, "ipvsadm", "-D", "-t", vs)


def test_lab_up_is_idempotent(lab: Lab) -> None:
    before = dict(lab.state.pids)
    start = time.monotonic()
    again = Lab.up()
    try:
        assert again.state.pids == before
        assert time.monotonic() - start < 5
        assert lab.status()["nodes"]["router"]["eth1"]["addresses"] == ["192.168.0.1/24"]
    finally:
        again.close()
