"""The lab's network as pure data: nodes, their interfaces and routes, and the segments.

Kept apart from building (:mod:`cluster.lab.builder`), in the manner of Mininet, so the
shape of the lab can be read, tested and drawn without root, and so one description serves
both kernel modes.

Every node is a network namespace; every interface is one end of a veth pair whose other end
is a port of the segment's bridge. The bridges live in their own namespace (``switch``), so
nothing of the lab ever touches the host's network, even in host mode.

The seed cluster follows the 2007 article: directors with eth0 (external) and eth1 (internal),
real servers that route only through the DIP. A router joins the client segment to the
external one and knows no route to the internal segment, so a client reaches the VIP but not
the real servers, as behind a real director pair.

>>> topo = seed_topology()
>>> [n.name for n in topo.nodes]
['client1', 'router', 'director01', 'director02', 'realserver1', 'realserver2', 'smtp']
>>> d1 = topo.node("director01")
>>> [(i.name, i.segment, i.addresses) for i in d1.interfaces]
[('eth0', 'external', ('192.168.0.204/24',)), ('eth1', 'internal', ('192.168.170.179/24',))]
>>> topo.node("realserver1").routes
(Route(dst='default', via='192.168.170.1'),)
>>> topo.vip, topo.dip
('192.168.0.174', '192.168.170.1')
>>> [(link.port, link.bridge) for link in topo.links() if link.node == "realserver2"]
[('p5.eth0', 'br-internal')]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

SWITCH = "switch"


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or a CIDR
    via: str


@dataclass(frozen=True)
class Interface:
    name: str
    segment: str
    addresses: tuple[str, ...]  # CIDR, the first is the primary


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # client, router, director, realserver, smtp
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...] = ()
    forwarding: bool = False

    def interface(self, name: str) -> Interface:
        return next(i for i in self.interfaces if i.name == name)

    @property
    def address(self) -> str:
        """The primary address without prefix: what a test pings or connects to."""
        return self.interfaces[0].addresses[0].split("/")[0]


@dataclass(frozen=True)
class Segment:
    name: str
    subnet: str

    @property
    def bridge(self) -> str:
        return f"br-{self.name}"


@dataclass(frozen=True)
class Link:
    """One veth pair: ``node:ifname`` on one end, bridge port ``port`` in the switch on the other.

    Port names are short and positional because Linux allows 15 characters, fewer than
    ``realserver1-eth0``; the builder puts ``node:ifname`` in the port's alias instead.
    """

    node: str
    ifname: str
    port: str
    bridge: str


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...]
    segments: tuple[Segment, ...]
    vip: str  # the floating addresses keepalived moves; not assigned by the builder
    dip: str

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def segment(self, name: str) -> Segment:
        return next(s for s in self.segments if s.name == name)

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def links(self) -> Iterator[Link]:
        for index, node in enumerate(self.nodes):
            for iface in node.interfaces:
                yield Link(
                    node.name, iface.name, f"p{index}.{iface.name}",
                    self.segment(iface.segment).bridge,
                )

    @property
    def namespaces(self) -> list[str]:
        return [SWITCH, *(n.name for n in self.nodes)]


def seed_topology(clients: int = 1, sources: int = 4) -> Topology:
    """The article's cluster, plus a router, ``clients`` clients with ``sources`` source
    addresses each (to show persistence and source hashing) and the SMTP sink at 192.168.0.15.

    The client segment uses TEST-NET-3 (203.0.113.0/24), an address block that is never
    routed, so a mistake cannot reach a real network.
    """
    client_nodes = tuple(
        Node(
            f"client{c}",
            "client",
            (Interface("eth0", "client", tuple(
                f"203.0.113.{10 * c + s}/24" for s in range(1, sources + 1))),),
            (Route("default", "203.0.113.1"),),
        )
        for c in range(1, clients + 1)
    )
    to_router = (Route("default", "192.168.0.1"),)
    to_dip = (Route("default", "192.168.170.1"),)
    nodes = (
        *client_nodes,
        Node(
            "router",
            "router",
            (Interface("eth0", "client", ("203.0.113.1/24",)),
             Interface("eth1", "external", ("192.168.0.1/24",))),
            forwarding=True,
        ),
        Node(
            "director01",
            "director",
            (Interface("eth0", "external", ("192.168.0.204/24",)),
             Interface("eth1", "internal", ("192.168.170.179/24",))),
            to_router,
            forwarding=True,
        ),
        Node(
            "director02",
            "director",
            (Interface("eth0", "external", ("192.168.0.176/24",)),
             Interface("eth1", "internal", ("192.168.170.180/24",))),
            to_router,
            forwarding=True,
        ),
        Node("realserver1", "realserver", (Interface("eth0", "internal", ("192.168.170.25/24",)),),
             to_dip),
        Node("realserver2", "realserver", (Interface("eth0", "internal", ("192.168.170.35/24",)),),
             to_dip),
        Node("smtp", "smtp", (Interface("eth0", "external", ("192.168.0.15/24",)),), to_router),
    )
    segments = (
        Segment("client", "203.0.113.0/24"),
        Segment("external", "192.168.0.0/24"),
        Segment("internal", "192.168.170.0/24"),
    )
    return Topology(nodes, segments, vip="192.168.0.174", dip="192.168.170.1")
