"""The seed topology and its build plan, checked without root."""

from __future__ import annotations

import ipaddress

from cluster.lab.builder import plan
from cluster.lab.topology import seed_topology


def test_every_address_is_unique_and_in_its_segment() -> None:
    topo = seed_topology(clients=2)
    seen = []
    for node in topo.nodes:
        for iface in node.interfaces:
            subnet = ipaddress.ip_network(topo.segment(iface.segment).subnet)
            for addr in iface.addresses:
                assert ipaddress.ip_interface(addr).ip in subnet, (node.name, addr)
                seen.append(addr.split("/")[0])
    assert len(seen) == len(set(seen))
    assert topo.vip not in seen and topo.dip not in seen


def test_real_servers_route_only_through_the_dip() -> None:
    topo = seed_topology()
    for rs in topo.by_role("realserver"):
        assert [(r.dst, r.via) for r in rs.routes] == [("default", topo.dip)]


def test_nothing_routes_clients_to_the_internal_segment() -> None:
    topo = seed_topology()
    internal = ipaddress.ip_network(topo.segment("internal").subnet)
    router = topo.node("router")
    assert not any(i.segment == "internal" for i in router.interfaces)
    assert not any(r.dst != "default" and ipaddress.ip_network(r.dst).overlaps(internal)
                   for r in router.routes)
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
