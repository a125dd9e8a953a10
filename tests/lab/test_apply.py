"""``cluster apply`` on the lab's directors, judged by kernel state and by packets.

Each director runs the product's own ``cluster apply`` in its namespace (see
:func:`cluster.lab.directors.apply`). The ``uml`` kernel has no nftables NAT, so these tests
apply the iptables back-end on every kernel, and read it with ``iptables -S``.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from cluster.bench.load import load_test
from cluster.failover.bench import lab_variant
from cluster.lab import Lab, directors
from cluster.lab.adverts import vrrp_v3_advert
from cluster.lab.lab import Result
from cluster.spec import ClusterSpec, load_seed_spec
from cluster.spec.model import RealServer

SEED = load_seed_spec()
SPEC = lab_variant(SEED, None, 1, 3)  # VRRPv3, advert_int 1: the cluster settles in seconds
VIP, PEER_VIP_SEGMENT_SENDER = "192.168.0.174", "smtp"
BACKEND = ("--backend", "iptables")


def apply(lab: Lab, spec: ClusterSpec, *options: str) -> dict[str, Result]:
    return directors.apply(lab, spec, options=(*BACKEND, *options))


def iptables(lab: Lab, node: str) -> str:
    """Every rule of filter and nat, without the counters that iptables-save would add."""
    return "".join(
        lab.run(node, "iptables", "-t", t, "-S").check().stdout for t in ("filter", "nat")
    )


def sysctl(lab: Lab, node: str, key: str) -> str:
    return lab.run(node, "sysctl", "-n", key).check().stdout.strip()


def curl_server(lab: Lab, url: str, source: str | None = None) -> str:
    """The X-Real-Server that answered ``url`` from client1 (optionally from ``source``)."""
    bind = ["--interface", source] if source else []
    out = lab.run("client1", "curl", "-sk", "-m", "3", "-i", *bind, url).check().stdout
    found = re.search(r"X-Real-Server: (\S+)", out)
    assert found, out
    return found[1]


@pytest.fixture(scope="module")
def applied(lab: Lab) -> Lab:
    results = apply(lab, SPEC)
    for node, result in results.items():
        assert result.rc == 0, f"{node}: {result.stderr}"
        assert f"{node}: applied sysctl" in result.stdout or "no changes" in result.stdout
    directors.wait_for_master(lab, SPEC, "director01")
    return lab


def test_apply_leaves_the_kernel_and_files_as_the_spec_says(applied: Lab) -> None:
    lab = applied
    for director in SPEC.directors:
        node, root = director.name, directors.layout(lab, director.name)
        assert sysctl(lab, node, "net.ipv4.ip_forward") == "1"
        for name in ("all", "default", "eth0", "eth1"):
            assert sysctl(lab, node, f"net.ipv4.conf.{name}.send_redirects") == "0"
        rules = iptables(lab, node)
        assert "-A INPUT -j LVS-INPUT" in rules and "-A LVS-POSTROUTING" in rules
        peer = next(d for d in SPEC.directors if d.name != node).interfaces[0].addresses[0].ip
        assert re.search(rf"-A LVS-INPUT -s {peer}/32 -d 224.0.0.18/32 .*-p vrrp", rules)
        mode = lab.run(node, "stat", "-c", "%a", root.keepalived_conf).check().stdout.strip()
        assert mode == "600"  # it may hold auth_pass
        conf = lab.read_text(node, root.keepalived_conf)
        assert f"router_id {director.router_id}" in conf
        assert "net.ipv4.ip_forward = 1" in lab.read_text(node, root.sysctl_conf)
        assert directors.keepalived(lab, node).running()
        log = lab.read_text(node, f"{root.run_dir}/keepalived.log")
        assert "Starting VRRP child" in log and "Script user" not in log, log


def test_second_apply_changes_nothing(applied: Lab) -> None:
    lab = applied
    before = {
        n: (iptables(lab, n), directors.keepalived(lab, n).pids())
        for n in ("director01", "director02")
    }
    for node, result in apply(lab, SPEC).items():
        assert result.rc == 0 and result.stdout.strip().endswith(f"{node}: no changes"), result
    after = {
        n: (iptables(lab, n), directors.keepalived(lab, n).pids())
        for n in ("director01", "director02")
    }
    assert after == before


def test_dry_run_shows_the_plan_and_changes_nothing(applied: Lab) -> None:
    lab = applied
    conf = directors.keepalived(lab, "director01").files.conf
    before = (lab.read_text("director01", conf), directors.current_spec(lab))
    result = apply(lab, _weighted(SPEC, 3), "--dry-run")["director01"]
    assert result.rc == 0, result.stderr
    assert "== keepalived.conf ==" in result.stdout, result.stdout
    assert re.search(r"^\+\s+weight 3$", result.stdout, re.MULTILINE), result.stdout
    assert (lab.read_text("director01", conf), directors.current_spec(lab)) == before


def test_http_and_https_reach_the_real_servers_150_150(applied: Lab) -> None:
    lab = applied
    assert curl_server(lab, f"https://{VIP}/") == "realserver2"  # the seed's only one on 443
    result = load_test(lab, f"http://{VIP}/", "director01", requests=300)
    assert (result["complete"], result["failed"]) == (300, 0)
    assert result["split"] == {"192.168.170.25:80": 150, "192.168.170.35:80": 150}


def test_real_servers_only_through_the_vip(applied: Lab) -> None:
    for server in ("192.168.170.25", "192.168.170.35"):
        done = applied.run("client1", "curl", "-s", "-m", "2", f"http://{server}/")
        assert done.rc != 0, f"client1 reached {server} directly"


def test_a_port_the_spec_does_not_open_is_dropped(applied: Lab) -> None:
    lab = applied
    server = [lab.python, "-m", "http.server", "8080"]
    pid = lab.spawn("director01", server, name="http8080")
    try:
        deadline = time.monotonic() + 20
        url = "http://127.0.0.1:8080/"
        while lab.run("director01", "curl", "-s", "-m", "2", "-o", "/dev/null", url).rc != 0:
            assert time.monotonic() < deadline, "the listener never answered on loopback"
            time.sleep(0.5)
        # something listens on every address, so only the firewall can stop client1
        outside = lab.run("client1", "curl", "-s", "-m", "2", f"http://{VIP}:8080/")
        assert outside.rc == 28, outside  # 28: timed out, the SYN was dropped
    finally:
        lab.stop(pid)


def _counter(lab: Lab, node: str, comment: str) -> int:
    listing = lab.run(node, "iptables", "-L", "LVS-INPUT", "-v", "-x", "-n").check().stdout
    line = next(line for line in listing.splitlines() if comment in line)
    return int(line.split()[0])


def test_spoofed_vrrp_is_dropped_and_the_peers_accepted(applied: Lab) -> None:
    """smtp, on the external segment, claims VIP's router id with priority 254: accepted, it
    would make director01 step down (RFC 5798: a higher priority wins)."""
    lab = applied
    smtp = "192.168.0.15"
    advert = vrrp_v3_advert(smtp, 41, 254, VIP).hex()
    dropped = {n: _counter(lab, n, "policy: drop") for n in ("director01", "director02")}
    from_peer = _counter(lab, "director02", "VI_EXTERNAL from the peer")
    events = len(directors.keepalived(lab, "director01").events())
    sender = [lab.python, "-m", "cluster.lab.adverts", advert, "30"]
    lab.run(PEER_VIP_SEGMENT_SENDER, *sender).check()
    for node, before in dropped.items():
        assert _counter(lab, node, "policy: drop") - before >= 30, node
    assert _counter(lab, "director02", "VI_EXTERNAL from the peer") > from_peer
    assert len(directors.keepalived(lab, "director01").events()) == events  # no state change
    assert directors.holders(lab, SPEC)[VIP] == ["director01"]


def _https_on_both(spec: ClusterSpec) -> ClusterSpec:
    """The seed's persistent port 443 with realserver1 behind it too."""
    https = next(vs for vs in spec.virtual_services if vs.port == 443)
    second = RealServer(
        address="192.168.170.25", port=443, weight=1, check=https.real_servers[0].check
    )
    services = [
        vs.model_copy(update={"real_servers": [*vs.real_servers, second]}) if vs is https else vs
        for vs in spec.virtual_services
    ]
    return spec.model_copy(update={"virtual_services": services})


def test_persistence_keeps_a_client_on_one_real_server(applied: Lab) -> None:
    lab = applied
    spec = _https_on_both(SPEC)
    for node, result in apply(lab, spec).items():
        assert result.rc == 0, f"{node}: {result.stderr}"
        assert "keepalived reload" in result.stderr
    try:
        deadline = time.monotonic() + 30  # keepalived adds the server once its check passes
        while "192.168.170.25:443" not in lab.run("director01", "ipvsadm", "-Ln").stdout:
            assert time.monotonic() < deadline, "realserver1:443 never joined"
            time.sleep(1)
        sources = ["203.0.113.11", "203.0.113.12", "203.0.113.13", "203.0.113.14"]
        seen = {
            src: Counter(curl_server(lab, f"https://{VIP}/", src) for _ in range(5))
            for src in sources
        }
        assert all(len(servers) == 1 for servers in seen.values()), seen
        assert {next(iter(servers)) for servers in seen.values()} == {"realserver1", "realserver2"}
    finally:
        for result in apply(lab, SPEC).values():
            assert result.rc == 0, result.stderr


def test_a_failed_step_rolls_back_what_came_before(applied: Lab) -> None:
    """keepalived refuses to run beside another keepalived (the distribution's, say): the
    sysctl and firewall steps before it must be undone."""
    lab = applied
    node, root = "director02", directors.layout(lab, "director02")
    lab.run(node, "sysctl", "-w", "net.ipv4.conf.eth0.send_redirects=1").check()
    lab.run(node, "iptables", "-D", "LVS-INPUT", "-p", "tcp", "-m", "tcp", "--dport", "22",
            "-m", "comment", "--comment", "SSH", "-j", "RETURN").check()  # fmt: skip
    firewall_before = iptables(lab, node)
    conf_before = lab.read_text(node, root.keepalived_conf)
    pids_before = directors.keepalived(lab, node).pids()
    foreign = f"{root.root}/run/keepalived.pid"
    lab.write_file(node, foreign, f"{pids_before['parent']}\n")
    try:
        changed = lab_variant(SEED, None, 2, 3)  # another advert_int: keepalived must reload
        result = directors.apply(lab, changed, [node], BACKEND)[node]
    finally:
        lab.run(node, "rm", "-f", foreign).check()
    assert result.rc == 7, result
    assert "keepalived -t: another keepalived runs" in result.stderr
    assert "rolled back" in result.stderr
    assert sysctl(lab, node, "net.ipv4.conf.eth0.send_redirects") == "1"
    assert iptables(lab, node) == firewall_before
    assert lab.read_text(node, root.keepalived_conf) == conf_before
    assert directors.keepalived(lab, node).pids() == pids_before
    for result in apply(lab, SPEC).values():  # and a good apply repairs it all
        assert result.rc == 0, result.stderr
    assert sysctl(lab, node, "net.ipv4.conf.eth0.send_redirects") == "0"


def foreign_owner_of_our_table(lab: Lab, node: str) -> int | None:
    """Make our nftables rule set fail to load on ``node``: where the kernel has nftables'
    inet family, another program holds a table of our name with ``flags owner`` (nobody else
    may change it); UML's kernel has no inet family at all, so there it fails by itself.
    Returns the owner's pid, if one was started."""
    if not lab.run(node, "nft", "add table inet lvs_probe; delete table inet lvs_probe").ok:
        return None
    owner = "(echo 'add table inet lvs_cluster { flags owner; }'; sleep 600) | nft -i"
    pid = lab.spawn(node, ["sh", "-c", owner], name="nft-owner")
    deadline = time.monotonic() + 10
    while "lvs_cluster" not in lab.run(node, "nft", "list", "tables").stdout:
        assert time.monotonic() < deadline, "the owned table never appeared"
        time.sleep(0.1)
    return pid


def test_a_firewall_that_does_not_load_changes_nothing(applied: Lab) -> None:
    lab = applied
    node = "director02"
    lab.run(node, "sysctl", "-w", "net.ipv4.conf.eth1.send_redirects=1").check()
    owner = foreign_owner_of_our_table(lab, node)
    try:
        firewall_before = iptables(lab, node)
        nft_before = lab.run(node, "nft", "list", "ruleset").check().stdout
        result = directors.apply(lab, SPEC, [node], ("--backend", "nftables"))[node]
        assert result.rc == 7 and "firewall (nftables):" in result.stderr, result
        assert "rolled back" in result.stderr
        assert sysctl(lab, node, "net.ipv4.conf.eth1.send_redirects") == "1"
        assert iptables(lab, node) == firewall_before
        assert lab.run(node, "nft", "list", "ruleset").check().stdout == nft_before
    finally:
        if owner is not None:
            lab.stop(owner)
    for result in apply(lab, SPEC).values():
        assert result.rc == 0, result.stderr


def _weighted(spec: ClusterSpec, weight: int) -> ClusterSpec:
    """``spec`` with the first real server of port 80 at ``weight``."""
    http = spec.virtual_services[0]
    first = http.real_servers[0].model_copy(update={"weight": weight})
    servers = [first, *http.real_servers[1:]]
    services = [http.model_copy(update={"real_servers": servers}), *spec.virtual_services[1:]]
    return spec.model_copy(update={"virtual_services": services})


def test_direct_mode_programs_the_table_itself(applied: Lab) -> None:
    """``ipvs: direct``: keepalived restarts with -P (VRRP only) and apply owns the table.
    Last in the module: the lab goes down after it."""
    lab = applied
    direct = SPEC.model_copy(update={"ipvs": "direct"})
    for node, result in apply(lab, direct).items():
        assert result.rc == 0, f"{node}: {result.stderr}"
        assert "==> keepalived restart" in result.stderr and "== ipvs ==" in result.stdout
        parent = directors.keepalived(lab, node).pids()["parent"]
        argv = lab.read_text(node, f"/proc/{parent}/cmdline").split("\0")
        assert "-P" in argv
        table = lab.run(node, "ipvsadm", "-Ln").check().stdout
        for server in ("192.168.170.25:80", "192.168.170.35:80", "192.168.170.35:443"):
            assert re.search(rf"-> {re.escape(server)}\s+Masq\s+1\b", table), table
    assert all("no changes" in r.stdout for r in apply(lab, direct).values())
    assert curl_server(lab, f"https://{VIP}/") == "realserver2"
    result = directors.apply(lab, _weighted(direct, 3), ["director01"], BACKEND)["director01"]
    assert result.rc == 0, result.stderr
    assert "~   -> 192.168.170.25:80 weight 1 -> 3" in result.stdout
    assert "keepalived" not in result.stderr  # a weight is IPVS's alone: no reload
    table = lab.run("director01", "ipvsadm", "-Ln").check().stdout
    assert re.search(r"-> 192\.168\.170\.25:80\s+Masq\s+3\b", table), table
    assert re.search(r"-> 192\.168\.170\.35:80\s+Masq\s+1\b", table), table
    # and back: the table is cleared before keepalived's checkers start, so none of their
    # adds meets "Service already exists"
    log = f"{directors.layout(lab, 'director01').run_dir}/keepalived.log"
    lines_before = len(lab.read_text("director01", log).splitlines())
    result = directors.apply(lab, SPEC, ["director01"], BACKEND)["director01"]
    assert result.rc == 0, result.stderr
    assert result.stdout.index("== ipvs ==") < result.stdout.index("== keepalived ==")
    deadline, table = time.monotonic() + 30, ""
    while not re.search(r"-> 192\.168\.170\.25:80\s+Masq\s+1\b", table):
        assert time.monotonic() < deadline, table
        time.sleep(1)
        table = lab.run("director01", "ipvsadm", "-Ln").check().stdout
    new_log = lab.read_text("director01", log).splitlines()[lines_before:]
    assert not [line for line in new_log if "already exists" in line], new_log
