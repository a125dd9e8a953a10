"""IPv6 end to end on the dual-stack spec: the IPv6 VIP under VRRPv3, LVS-NAT to IPv6 real
servers beside the IPv4 service, health checks over IPv6, the firewall's IPv6 VRRP rule, and
a failover that moves the IPv6 VIP.

One lab of the dual-stack topology for the module, set up once with the spec the failover
trial uses (``cluster apply`` on both directors, iptables and ip6tables on every kernel).
Counts come from the real servers' access logs (one line per connection, with the client's
address). Timing is not asserted here: ``cluster bench failover --family 6`` measures it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cluster.bench.load import AccessLogs
from cluster.failover import bench
from cluster.ipvs.ipvsadm import parse_save
from cluster.ipvs.table import ServiceKey
from cluster.lab import Lab, directors, faults
from cluster.lab.adverts import vrrp_v3_advert
from cluster.lab.topology import from_spec

SCENARIO = bench.Scenario("dies", advert_int=1, version=3, family=6)
SPEC = SCENARIO.spec()
VIP, VIP6 = "192.168.0.174", "2001:db8::174"
CLIENT, CLIENT6 = "203.0.113.11", "2001:db8:0:113::11"
SERVERS = {"192.168.170.25": "realserver1", "192.168.170.35": "realserver2"}
CURL = ("curl", "-sf", "-m", "3", "-o", "/dev/null", "--interface")  # then a client address
SERVERS6 = {"2001:db8:0:170::25": "realserver1", "2001:db8:0:170::35": "realserver2"}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """The dual-stack lab, set up as the failover trial wants it, master settled."""
    handle = Lab.up(from_spec(SPEC))
    try:
        bench.ensure_cluster(handle, SPEC, lambda _: None)
        yield handle
    finally:
        faults.clear(handle)
        handle.close()
        Lab.down()


def pool(lab: Lab, vip: str) -> set[str]:
    """The real servers (addresses) IPVS has for ``vip`` port 80 on director01."""
    table = parse_save(lab.run("director01", "ipvsadm-save", "-n").check().stdout)
    key = ServiceKey.inet("TCP", vip, 80)
    return {str(d.address) for s in table if s.key == key for d in s.destinations}


def wait_pool(lab: Lab, vip: str, expected: set[str], timeout: float = 40) -> None:
    """Until keepalived's checks leave exactly ``expected`` behind ``vip``."""
    deadline = time.monotonic() + timeout
    while (found := pool(lab, vip)) != expected:
        assert time.monotonic() < deadline, f"{vip}: {found}, not {expected}"
        time.sleep(0.5)


def ip6_counter(lab: Lab, node: str, comment: str) -> int:
    """Packets counted by the ip6tables rule of ours with this comment."""
    listing = lab.run(node, "ip6tables", "-L", "LVS-INPUT", "-v", "-x", "-n").check().stdout
    return int(next(line for line in listing.splitlines() if comment in line).split()[0])


def link_local(lab: Lab, node: str, iface: str = "eth0") -> str:
    out = lab.run(node, "ip", "-6", "-br", "addr", "show", "dev", iface, "scope", "link")
    return out.check().stdout.split()[2].split("/")[0]


def test_ipv6_requests_split_exactly_by_rr(lab: Lab) -> None:
    """Ten sequential requests to [VIP6]:80 from one client address: rr gives five to each real
    server, as their access logs show (the clients' own lines, health checks left out)."""
    logs = AccessLogs(lab, SERVERS6)
    for _ in range(10):
        lab.run("client1", *CURL, CLIENT6, f"http://[{VIP6}]/").check()
    seen = logs.since(80, {CLIENT6})
    assert {server: len(lines) for server, lines in seen.items()} == {
        f"{address}:80": 5 for address in SERVERS6
    }


def test_both_families_are_served_at_once(lab: Lab) -> None:
    """IPv4 and IPv6 requests side by side from one client, each family through its own VIP,
    reach both real servers; neither family's service takes the other's connections."""
    logs, logs6 = AccessLogs(lab, SERVERS), AccessLogs(lab, SERVERS6)
    curl = " ".join(CURL)
    four = [
        f"(for i in 1 2 3 4; do {curl} {url} || exit 1; done) & p{n}=$!"
        for n, url in ((4, f"{CLIENT} http://{VIP}/"), (6, f"{CLIENT6} http://[{VIP6}]/"))
    ]
    lab.run("client1", "sh", "-c", "; ".join([*four, "wait $p4 && wait $p6"])).check()
    for got in (logs.since(80, {CLIENT}), logs6.since(80, {CLIENT6})):
        assert sorted(len(lines) for lines in got.values()) == [2, 2], got


def test_health_checks_over_ipv6_take_a_real_server_out_and_back(lab: Lab) -> None:
    """HTTP_GET over IPv6 (and TCP_CHECK over IPv4): realserver2 stopped leaves both pools,
    served again it comes back to both."""
    wait_pool(lab, VIP6, set(SERVERS6))
    lab.fault("realserver2", "down")
    try:
        wait_pool(lab, VIP6, {"2001:db8:0:170::25"})
        wait_pool(lab, VIP, {"192.168.170.25"})
    finally:
        lab.fault("realserver2", "clear")
    wait_pool(lab, VIP6, set(SERVERS6))
    wait_pool(lab, VIP, set(SERVERS))


def test_spoofed_ipv6_advert_is_dropped_and_the_peers_accepted(lab: Lab) -> None:
    """smtp claims the IPv6 VIP's virtual router with priority 254, from its own link-local
    address, with a valid VRRPv3 checksum: both directors drop it, director02 keeps accepting
    director01's adverts, and nobody changes state."""
    source = link_local(lab, "smtp")
    advert = vrrp_v3_advert(source, 41, 254, VIP6).hex()
    dropped = {n: ip6_counter(lab, n, "policy: drop") for n in ("director01", "director02")}
    from_peer = ip6_counter(lab, "director02", "VI_EXTERNAL6 from the peer")
    events = {n: len(directors.keepalived(lab, n).events()) for n in dropped}
    lab.run("smtp", lab.python, "-m", "cluster.lab.adverts", advert, "20", f"{source}%eth0").check()
    for node, before in dropped.items():
        assert ip6_counter(lab, node, "policy: drop") - before >= 20, node
    assert ip6_counter(lab, "director02", "VI_EXTERNAL6 from the peer") > from_peer
    assert {n: len(directors.keepalived(lab, n).events()) for n in dropped} == events
    assert directors.holders(lab, SPEC)[VIP6] == ["director01"]


def test_master_dies_and_the_ipv6_vip_moves(lab: Lab) -> None:
    """One trial of the failover benchmark on the IPv6 VIP: director01's keepalived killed,
    director02 takes the IPv6 VIP (and the rest of the sync group), and the client's
    requests to [VIP6]:80 are answered again before the trial ends."""
    result = bench.trial(lab, SCENARIO, lambda _: None)
    assert result["takeover_s"][VIP6] is not None, result["takeover_s"]
    assert result["holders_after"][VIP6] == ["director02"]
    assert not result["outage_open"] and result["service_at_end"]
