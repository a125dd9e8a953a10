"""Both back-ends loaded into a real kernel, in namespaces made here, judged by real packets.

Director01 of the seed cluster gets its rules in the "dir" namespace of :mod:`netlab`'s
topology. The kernel has no IPVS, so local listeners on the director stand in for the
virtual services (the input chain is the same either way) and a real server's reply is a
hand-made SYN-ACK from its service port, which is what IPVS would un-NAT after the forward
chain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import netlab
import pytest
from hypothesis import HealthCheck, given, settings
from needs import require
from netlab import (
    DIRECTOR6,
    DIRECTOR_IP,
    MAIL,
    PEER,
    PEER6,
    RS,
    SPOOF,
    SPOOF6,
    VIP,
    VIP6,
    Net,
    sh,
)
from test_firewall import specs

from cluster.errors import ToolError
from cluster.firewall import BackendName
from cluster.firewall.apply import (
    apply_with_confirm,
    ask,
    load,
    read_loaded,
    remove,
)
from cluster.firewall.rules import Rule, RuleSet, director_rules
from cluster.lab.adverts import vrrp_v3_advert
from cluster.spec import ClusterSpec, load_seed_spec, load_spec
from cluster.spec.load import DUAL_STACK_PATH
from cluster.sysctl import apply_sysctls, director_sysctls

BACKENDS: list[BackendName] = ["nftables", "iptables"]
NFT_TABLE = ("inet", "lvs_cluster")
RULES = director_rules(load_seed_spec(), "director01")
DUAL_STACK_RULES = director_rules(load_spec(str(DUAL_STACK_PATH)), "director01")


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    require(os.geteuid() == 0, "not root: network namespaces need root")
    topology = Net()
    try:
        topology.build()
        apply_sysctls(director_sysctls(load_seed_spec(), "director01"), topology.ns("dir"))
        yield topology
    finally:
        topology.destroy()
    assert not [n for n in sh("ip", "netns", "list").split() if n.startswith(topology.ns(""))]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, net: Net) -> Iterator[BackendName]:
    """The back-end under test; whatever a test loads is removed afterwards."""
    yield request.param
    remove(request.param, net.ns("dir"))


@pytest.fixture
def sockets() -> Iterator[contextlib.ExitStack]:
    """Closes the test's sockets: an open socket would keep its namespace alive."""
    with contextlib.ExitStack() as stack:
        yield stack


def keep(stack: contextlib.ExitStack, sock: socket.socket) -> socket.socket:
    return stack.enter_context(sock)


def counter(net: Net, backend: BackendName, comment: str, family: int = 4) -> int:
    """Packets counted by our rule with this comment, as the back-end's own tool reports
    (iptables' by ``family``; nftables has one table for both)."""
    if backend == "nftables":
        listing = sh(
            "ip", "netns", "exec", net.ns("dir"), "nft", "list", "table", "inet", "lvs_cluster"
        )
        line = next(line for line in listing.splitlines() if f'comment "{comment}"' in line)
        return int(re.search(r"counter packets (\d+)", line).group(1))  # type: ignore[union-attr]
    save = "iptables-save" if family == 4 else "ip6tables-save"
    listing = sh("ip", "netns", "exec", net.ns("dir"), save, "-c")
    line = next(line for line in listing.splitlines() if comment in line)
    return int(re.match(r"\[(\d+):", line).group(1))  # type: ignore[union-attr]


def test_vrrp_from_the_peer_is_accepted_and_from_a_spoofer_dropped(
    net: Net, backend: BackendName, sockets: contextlib.ExitStack
) -> None:
    listener = keep(sockets, netlab.vrrp_listener(net.ns("dir"), DIRECTOR_IP))
    peer = keep(sockets, netlab.vrrp_sender(net.ns("peer"), PEER))
    spoofer = keep(sockets, netlab.vrrp_sender(net.ns("spoof"), SPOOF))
    advert = netlab.vrrp_advert(41, 254, VIP)

    spoofer.sendto(advert, ("224.0.0.18", 0))  # control: without our rules it gets through
    assert netlab.received_from(listener) == [SPOOF]

    load(RULES, backend, net.ns("dir"))
    for _ in range(3):
        peer.sendto(advert, ("224.0.0.18", 0))
        spoofer.sendto(advert, ("224.0.0.18", 0))
    assert netlab.received_from(listener) == [PEER] * 3
    assert counter(net, backend, "VRRP VI_EXTERNAL from the peer director") == 3


def test_ipv6_vrrp_from_the_peers_link_local_is_accepted_and_from_others_dropped(
    net: Net, backend: BackendName, sockets: contextlib.ExitStack
) -> None:
    """The dual-stack spec's VRRPv3 over IPv6: adverts to ff02::12 from director02's listed
    link-local only. The adverts are valid VRRPv3 (checksum over the IPv6 pseudo-header)."""
    listener = keep(sockets, netlab.vrrp_listener(net.ns("dir"), f"{DIRECTOR6}%eth0"))
    spoofed = vrrp_v3_advert(SPOOF6, 41, 254, VIP6)
    netlab.send_adverts(net.ns("spoof"), spoofed, f"{SPOOF6}%eth0")  # control: no rules yet
    assert netlab.received_from(listener) == [SPOOF6]

    load(DUAL_STACK_RULES, backend, net.ns("dir"))
    netlab.send_adverts(net.ns("peer"), vrrp_v3_advert(PEER6, 41, 50, VIP6), f"{PEER6}%eth0", 3)
    netlab.send_adverts(net.ns("spoof"), spoofed, f"{SPOOF6}%eth0", 3)
    assert netlab.received_from(listener) == [PEER6] * 3
    assert counter(net, backend, "VRRP VI_EXTERNAL6 from the peer director", family=6) == 3


def test_ssh_and_the_services_are_open_and_nothing_else(
    net: Net, backend: BackendName, sockets: contextlib.ExitStack
) -> None:
    for port in (22, 80, 443, 8080):
        keep(sockets, netlab.tcp_listener(net.ns("dir"), "0.0.0.0", port))
    assert netlab.tcp_connects(net.ns("spoof"), VIP, 8080)  # control: open without rules
    load(RULES, backend, net.ns("dir"))
    client = net.ns("spoof")
    assert netlab.tcp_connects(client, DIRECTOR_IP, 22)
    assert netlab.tcp_connects(client, VIP, 22)
    assert netlab.tcp_connects(client, VIP, 80)
    assert netlab.tcp_connects(client, VIP, 443)
    started = time.monotonic()
    assert not netlab.tcp_connects(client, VIP, 8080)  # not in the spec: dropped
    assert time.monotonic() - started >= 0.9  # silently, not refused
    assert not netlab.tcp_connects(client, DIRECTOR_IP, 80)  # services are on the VIP only
    assert netlab.tcp_connects(net.ns("peer"), DIRECTOR_IP, 22)


def replies_seen(net: Net, sockets: contextlib.ExitStack) -> list[tuple[str, int]]:
    """What the client receives of SYN-ACKs that the real server sends from ports 80 and 8080.

    Conntrack on the director never saw a SYN for them, so it calls them invalid, as it does
    the replies of real servers behind IPVS.
    """
    sniffer = keep(sockets, netlab.raw_tcp(net.ns("spoof")))
    sender = keep(sockets, netlab.raw_tcp(net.ns("rs")))
    for sport in (80, 8080):
        sender.sendto(netlab.tcp_segment(RS, sport, SPOOF, 40000, 0x12), (SPOOF, 0))
    seen = []
    with contextlib.suppress(TimeoutError):
        while True:
            packet = sniffer.recv(2048)
            seen.append((socket.inet_ntoa(packet[12:16]), int.from_bytes(packet[20:22])))
    return seen


def test_forwarding_replies_masquerade_and_no_way_in(
    net: Net, backend: BackendName, sockets: contextlib.ExitStack
) -> None:
    keep(sockets, netlab.tcp_listener(net.ns("rs"), RS, 80))
    # Controls: without our rules the client reaches the real server, and both replies cross.
    assert netlab.tcp_connects(net.ns("spoof"), RS, 80)
    assert {(RS, 80), (RS, 8080)} <= set(replies_seen(net, sockets))

    load(RULES, backend, net.ns("dir"))
    # The real server's own connection out leaves with the director's address.
    mail = keep(sockets, netlab.tcp_listener(net.ns("spoof"), MAIL, 25))
    mail.settimeout(2)
    assert netlab.tcp_connects(net.ns("rs"), MAIL, 25)
    accepted, (seen_from, _) = mail.accept()
    accepted.close()
    assert seen_from == DIRECTOR_IP
    # Nobody outside opens a connection to a real server directly.
    assert not netlab.tcp_connects(net.ns("spoof"), RS, 80)
    # A reply from a service port crosses unmasqueraded (IPVS would now restore the VIP);
    # one from a port no service uses does not.
    seen = replies_seen(net, sockets)
    assert (RS, 80) in seen and (RS, 8080) not in seen


def test_rules_read_back_as_rendered(net: Net, backend: BackendName) -> None:
    from cluster.firewall import BACKENDS as MODULES

    load(RULES, backend, net.ns("dir"))
    loaded = read_loaded(backend, net.ns("dir"))
    wanted = MODULES[backend].ours(RULES)
    if backend == "iptables":
        # line for line; save's "-p vrrp" (its /etc/protocols name) is read back as "-p 112"
        assert loaded == wanted
        listing = sh("ip", "netns", "exec", net.ns("dir"), "iptables-save")
        assert "-p vrrp " in listing and "-p 112 " not in listing
    else:
        comments = re.findall(r'comment "([^"]*)"', loaded["nft"])
        assert comments == [r.comment for rules in RULES.chains.values() for r in rules]
        assert "policy drop" in loaded["nft"] and "udp dport 694" not in loaded["nft"]
    assert load(RULES, backend, net.ns("dir")).keys() == loaded.keys()  # again: no change
    assert read_loaded(backend, net.ns("dir")) == loaded


def bogus(rules: RuleSet) -> RuleSet:
    """The rule set plus a rule the kernel refuses, as late as possible (IPv6 nat for iptables,
    after IPv4 and IPv6 filter have been committed)."""
    bad = Rule("bogus", family=6, oif=("an-interface-name-too-long",), verdict="masquerade")
    chains = dict(rules.chains)
    chains["postrouting"] = (*chains["postrouting"], bad)
    return dataclasses.replace(rules, chains=chains)


def test_a_rule_set_that_fails_leaves_the_previous_one(net: Net, backend: BackendName) -> None:
    other = director_rules(load_seed_spec(), "director02")
    load(other, backend, net.ns("dir"))
    before = read_loaded(backend, net.ns("dir"))
    with pytest.raises(ToolError, match="previous ones kept"):
        load(bogus(RULES), backend, net.ns("dir"))
    assert read_loaded(backend, net.ns("dir")) == before


FOREIGN_NFT = """table inet foreign {
\tchain input {
\t\ttype filter hook input priority 10; policy accept;
\t\ttcp dport 9999 accept
\t}
}
"""
FOREIGN_IPTABLES = """*filter
:FOREIGN - [0:0]
-A INPUT -s 10.9.9.9/32 -j FOREIGN
-A FOREIGN -j ACCEPT
COMMIT
"""


def foreign_state(net: Net) -> tuple[str, str]:
    dir_ns = net.ns("dir")
    nft = sh("ip", "netns", "exec", dir_ns, "nft", "list", "table", "inet", "foreign")
    saved = sh("ip", "netns", "exec", dir_ns, "iptables-save", "-t", "filter")
    kept = [line for line in saved.splitlines() if not line.startswith("#") and "LVS-" not in line]
    return nft, "\n".join(kept)


def test_foreign_tables_and_rules_are_never_touched(net: Net, backend: BackendName) -> None:
    dir_ns = net.ns("dir")
    subprocess.run(
        ["ip", "netns", "exec", dir_ns, "nft", "-f", "-"], input=FOREIGN_NFT, text=True, check=True
    )
    subprocess.run(
        ["ip", "netns", "exec", dir_ns, "iptables-restore", "--noflush"],
        input=FOREIGN_IPTABLES,
        text=True,
        check=True,
    )
    try:
        before = foreign_state(net)
        load(RULES, backend, dir_ns)
        load(RULES, backend, dir_ns)
        with contextlib.suppress(ToolError):
            load(bogus(RULES), backend, dir_ns)
        assert foreign_state(net) == before
        remove(backend, dir_ns)
        assert foreign_state(net) == before
    finally:
        sh("ip", "netns", "exec", dir_ns, "nft", "delete", "table", "inet", "foreign")
        subprocess.run(
            ["ip", "netns", "exec", dir_ns, "iptables-restore", "--noflush"],
            input="*filter\n-D INPUT -s 10.9.9.9/32 -j FOREIGN\n-F FOREIGN\n-X FOREIGN\nCOMMIT\n",
            text=True,
            check=True,
        )


def test_confirm_or_revert(net: Net, backend: BackendName) -> None:
    dir_ns = net.ns("dir")
    other = director_rules(load_seed_spec(), "director02")
    load(other, backend, dir_ns)
    before = read_loaded(backend, dir_ns)
    waited = []

    def silent(seconds: float) -> bool:
        waited.append(seconds)
        assert read_loaded(backend, dir_ns) != before  # the new rules are live meanwhile
        return False

    assert not apply_with_confirm(RULES, backend, 0.5, silent, dir_ns)
    assert waited == [0.5] and read_loaded(backend, dir_ns) == before
    assert apply_with_confirm(RULES, backend, 0.5, lambda s: True, dir_ns)
    assert read_loaded(backend, dir_ns) != before


def test_ask_waits_for_yes(tmp_path: object) -> None:
    import io

    read, write = os.pipe()
    with os.fdopen(read) as stream, os.fdopen(write, "w") as typed:
        out = io.StringIO()
        started = time.monotonic()
        assert not ask(0.3, stream, out)  # silence
        assert 0.3 <= time.monotonic() - started < 1
        typed.write("yes\n")
        typed.flush()
        assert ask(5, stream, out)
        typed.write("no\n")
        typed.flush()
        assert not ask(5, stream, out)
        assert "type 'yes' within 5 s" in out.getvalue()


@pytest.fixture(scope="module")
def scratch() -> Iterator[str]:
    require(os.geteuid() == 0, "not root: network namespaces need root")
    name = Net().ns("scratch")
    sh("ip", "netns", "add", name)
    try:
        yield name
    finally:
        sh("ip", "netns", "del", name)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=specs())
def test_every_random_spec_loads_into_a_kernel(scratch: str, spec: ClusterSpec) -> None:
    """Whatever the spec (VLAN names, IPv6, SCTP, fwmarks, 64-character names), both
    renderings load, read back and go away again."""
    rules = director_rules(spec, spec.directors[0].name)
    for backend in BACKENDS:
        load(rules, backend, scratch)
        assert all(read_loaded(backend, scratch).values())
        remove(backend, scratch)
        assert set(read_loaded(backend, scratch).values()) == {""}


def redirects(icmp: socket.socket) -> int:
    """ICMP redirects (type 5) queued on a raw ICMP socket, until it is quiet."""
    count = 0
    with contextlib.suppress(TimeoutError):
        while True:
            count += icmp.recv(2048)[20] == 5
    return count


def test_stale_arp_traffic_goes_on_to_the_vip_holder_without_redirects(
    net: Net, backend: BackendName, sockets: contextlib.ExitStack
) -> None:
    """After a failover the peer holds the VIP and a client still sends to this director:
    send_redirects=0 keeps the director from redirecting the client, and the article's
    FORWARD -i eth0 -o eth0 rules (ours: per service port) pass the packets on."""
    dir_ns, peer_ns, client = net.ns("dir"), net.ns("peer"), net.ns("spoof")
    sh("ip", "-n", dir_ns, "addr", "del", f"{VIP}/32", "dev", "eth0")
    sh("ip", "-n", peer_ns, "addr", "add", f"{VIP}/32", "dev", "eth0")
    sh("ip", "-n", client, "route", "add", f"{VIP}/32", "via", DIRECTOR_IP)
    try:
        keep(sockets, netlab.tcp_listener(peer_ns, VIP, 80))
        keep(sockets, netlab.tcp_listener(peer_ns, VIP, 8080))
        icmp = keep(sockets, netlab.inside(client, lambda: netlab.raw_socket(socket.IPPROTO_ICMP)))
        # The sysctls alone, before any rules: a NAT chain would hide redirects by itself
        # (netfilter drops them for connections whose NAT is not done yet).
        assert netlab.tcp_connects(client, VIP, 80)
        assert redirects(icmp) == 0
        changed = {
            "net.ipv4.conf.all.send_redirects": "1",
            "net.ipv4.conf.eth0.send_redirects": "1",
        }
        previous = apply_sysctls(changed, dir_ns)
        try:
            assert netlab.tcp_connects(client, VIP, 80)
            assert redirects(icmp) >= 1  # control: the kernel's default redirects the client
        finally:
            apply_sysctls({k: v for k, v in previous.items() if v is not None}, dir_ns)
        load(RULES, backend, dir_ns)
        assert netlab.tcp_connects(client, VIP, 80)
        assert not netlab.tcp_connects(client, VIP, 8080)  # only the services' ports
    finally:
        sh("ip", "-n", client, "route", "del", f"{VIP}/32")
        sh("ip", "-n", client, "route", "flush", "cache")
        sh("ip", "-n", peer_ns, "addr", "del", f"{VIP}/32", "dev", "eth0")
        sh("ip", "-n", dir_ns, "addr", "add", f"{VIP}/32", "dev", "eth0")
