"""The seed topology and its build plan, checked without root."""

from __future__ import annotations

import ipaddress

import pytest

from cluster.lab.builder import plan
from cluster.lab.topology import Topology, from_spec, seed_topology
from cluster.spec.load import DUAL_STACK_PATH, load_spec

DUAL = from_spec(load_spec(DUAL_STACK_PATH), clients=2, spares=1)


@pytest.mark.parametrize("topo", [seed_topology(clients=2), DUAL], ids=["seed", "dual-stack"])
def test_every_address_is_unique_and_in_its_segment(topo: Topology) -> None:
    seen = []
    for node in topo.nodes:
        for iface in node.interfaces:
            networks = topo.segment(iface.segment).networks
            for addr in map(ipaddress.ip_interface, iface.addresses):
                assert addr.ip.is_link_local or any(addr.ip in n for n in networks), (node, addr)
                seen.append(addr.ip)
    assert len(seen) == len(set(seen))
    floating = {topo.vip, topo.dip, topo.vip6, topo.dip6} - {""}
    assert len(floating) == (4 if topo is DUAL else 2)
    assert not floating & {str(ip) for ip in seen}


def test_dual_stack_real_servers_route_each_family_through_its_dip() -> None:
    assert (DUAL.vip6, DUAL.dip6) == ("2001:db8::174", "2001:db8:0:170::1")
    for name, host in (("realserver1", 25), ("realserver2", 35), ("realserver3", 2)):
        node = DUAL.node(name)
        assert node.interfaces[0].addresses == (
            f"192.168.170.{host}/24",
            f"2001:db8:0:170::{host}/64",
        )
        assert [r.via for r in node.routes] == ["192.168.170.1", "2001:db8:0:170::1"]
    router = DUAL.node("router")
    assert router.forwarding6 and router.interface("eth1").addresses[1] == "2001:db8::1/64"
    client = DUAL.node("client2").interfaces[0].addresses
    assert "203.0.113.21/24" in client and "2001:db8:0:113::21/64" in client
    assert not any(node.forwarding6 for node in DUAL.nodes if node.name != "router")


def test_ipv6_addresses_skip_duplicate_address_detection() -> None:
    lines = [line for step in plan(DUAL) for line in step.lines if line.startswith("addr")]
    assert lines and all(("nodad" in line) == (":" in line) for line in lines)


def test_real_servers_route_only_through_the_dip() -> None:
    topo = seed_topology()
    for rs in topo.by_role("realserver"):
        assert [(r.dst, r.via) for r in rs.routes] == [("default", topo.dip)]


def test_nothing_routes_clients_to_the_internal_segment() -> None:
    topo = seed_topology()
    internal = ipaddress.ip_network(topo.segment("internal").subnet)
    router = topo.node("router")
    assert not any(i.segment == "internal" for i in router.interfaces)
    assert not any(
        r.dst != "default" and ipaddress.ip_network(r.dst).overlaps(internal) for r in router.routes
    )
    assert router.routes == ()  # no default either: unknown destinations are unreachable


def test_clients_have_several_source_addresses() -> None:
    topo = seed_topology(clients=2, sources=3)
    assert [len(c.interfaces[0].addresses) for c in topo.by_role("client")] == [3, 3]


def test_port_names_fit_linux_limits() -> None:
    for link in seed_topology(clients=9).links():
        assert len(link.port) <= 15 and len(link.ifname) <= 15


def test_plan_uses_only_idempotent_or_exists_failing_verbs() -> None:
    for step in plan(seed_topology()):
        for line in step.lines:
            verb = line.split()[:2]
            assert verb[1] in {"replace", "set", "add"}, line
            if verb[0] in {"addr", "route"}:
                assert verb[1] == "replace", line
