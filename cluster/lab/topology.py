"""The lab's network as pure data: nodes, their interfaces and routes, and the segments.

Kept apart from building (:mod:`cluster.lab.builder`), in the manner of Mininet, so the
shape of the lab can be read, tested and drawn without root, and so one description serves
both kernel modes.

Every node is a network namespace; every interface is one end of a veth pair whose other end
is a port of the segment's bridge. The bridges live in their own namespace (``switch``), so
nothing of the lab ever touches the host's network, even in host mode.

A node can instead be a *machine* (:func:`as_machines`): a guest of its own that boots
systemd from a disk and can reboot (:mod:`cluster.lab.machine`). Each of its interfaces is one
end of a point-to-point :class:`Tunnel` whose other end is the segment's bridge port in the
lab's guest; the two guests' kernels carry it over UDP on the host's loopback.

The topology is derived from the cluster spec (:func:`from_spec`), so the seed cluster comes
out as in the 2007 article: directors with eth0 (external) and eth1 (internal), real servers
that route only through the DIP. A router joins the client segment to the external one and
knows no route to the internal segment, so a client reaches the VIP but not the real servers,
as behind a real director pair.

>>> topo = seed_topology()
>>> [n.name for n in topo.nodes]
['client1', 'router', 'director01', 'director02', 'realserver1', 'realserver2', 'smtp']
>>> d1 = topo.node("director01")
>>> [(i.name, i.segment, i.addresses) for i in d1.interfaces]
[('eth0', 'external', ('192.168.0.204/24',)), ('eth1', 'internal', ('192.168.170.179/24',))]
>>> topo.node("realserver1").routes
(Route(dst='default', via='192.168.170.1'),)
>>> topo.vip, topo.dip, topo.virtualhosts
('192.168.0.174', '192.168.170.1', ('test.mydomain',))
>>> [(link.port, link.bridge) for link in topo.links() if link.node == "realserver2"]
[('p5.eth0', 'br-internal')]
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from cluster.spec import ClusterSpec, load_seed_spec

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
    machine: bool = False  # a guest of its own (systemd, a disk) instead of a namespace
    forwarding6: bool = False  # IPv6 too; a director's is `cluster apply`'s to set

    def interface(self, name: str) -> Interface:
        return next(i for i in self.interfaces if i.name == name)

    @property
    def address(self) -> str:
        """The primary address without prefix: what a test pings or connects to."""
        return self.interfaces[0].addresses[0].split("/")[0]


@dataclass(frozen=True)
class Segment:
    name: str
    subnet: str  # the IPv4 subnet, or the first one
    subnets: tuple[str, ...] = ()  # every subnet, one per address family

    @property
    def networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ipaddress.ip_network(s) for s in self.subnets or (self.subnet,))

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
class Tunnel:
    """A machine's interface: an Ethernet link from the machine to a bridge port in the lab's
    guest. Each end has a MAC address of its own, by which each guest finds the device its
    kernel made for the link (``02:4c:56``: locally administered, "LV"); ``session`` is the
    link's L2TPv3 session id, both ways."""

    link: Link
    index: int

    @property
    def machine_mac(self) -> str:
        return f"02:4c:56:{self.index >> 8:02x}:{self.index & 0xFF:02x}:01"

    @property
    def switch_mac(self) -> str:
        return f"02:4c:56:{self.index >> 8:02x}:{self.index & 0xFF:02x}:02"

    @property
    def session(self) -> int:
        return 0x4C560000 + self.index


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...]
    segments: tuple[Segment, ...]
    vip: str  # the floating addresses keepalived moves; not assigned by the builder
    dip: str
    virtualhosts: tuple[str, ...] = ()  # names the real servers' certificates carry
    vip6: str = ""  # the IPv6 VIP and DIP of a dual-stack spec
    dip6: str = ""

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
        """Every interface's link to its bridge: a veth pair, or a machine's tunnel."""
        for index, node in enumerate(self.nodes):
            for iface in node.interfaces:
                yield Link(
                    node.name,
                    iface.name,
                    f"p{index}.{iface.name}",
                    self.segment(iface.segment).bridge,
                )

    def neighbours(self, director: str) -> dict[str, list[str]]:
        """Each of ``director``'s links and the addresses on its segment that belong to no
        director: what a director can ping to prove that the link carries traffic."""
        return {
            iface.name: [
                i.addresses[0].split("/")[0]
                for node in self.nodes
                if node.role != "director"
                for i in node.interfaces
                if i.segment == iface.segment
            ]
            for iface in self.node(director).interfaces
        }

    @property
    def namespaces(self) -> list[str]:
        return [SWITCH, *(n.name for n in self.nodes if not n.machine)]

    @property
    def machines(self) -> list[Node]:
        return [n for n in self.nodes if n.machine]

    def tunnels(self, node: str | None = None) -> list[Tunnel]:
        """The machines' links (only ``node``'s, if given), numbered across the lab."""
        machines = {n.name for n in self.machines}
        links = [link for link in self.links() if link.node in machines]
        return [Tunnel(link, i) for i, link in enumerate(links) if node in (None, link.node)]


CLIENT_SUBNET = ipaddress.ip_network("203.0.113.0/24")  # TEST-NET-3: never routed anywhere
CLIENT_SUBNET6 = ipaddress.ip_network("2001:db8:0:113::/64")  # its twin in the IPv6 doc prefix
Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def _segment_of(address: Address, segments: dict[str, list[Network]]) -> str:
    for name, subnets in segments.items():
        if any(address in subnet for subnet in subnets):
            return name
    raise ValueError(
        f"{address} is in none of the directors' segments "
        f"({', '.join(f'{n} {s}' for n, nets in segments.items() for s in nets)})"
    )


def _free_host(subnet: Network, used: set[Address]) -> Address:
    return next(h for h in subnet.hosts() if h not in used)


def _numbered(subnet: Network, host: int) -> str:
    """Host ``host`` of ``subnet`` with its prefix. An IPv6 host reads as the IPv4 one: host
    11 of 2001:db8:0:113::/64 is ``2001:db8:0:113::11``, the twin of ``203.0.113.11``."""
    number = host if subnet.version == 4 else int(str(host), 16)
    return f"{subnet.network_address + number}/{subnet.prefixlen}"


def _by_family(addresses: list[Address]) -> dict[int, list[Address]]:
    found: dict[int, list[Address]] = {4: [], 6: []}
    for address in dict.fromkeys(addresses):
        found[address.version].append(address)
    return found


def from_spec(spec: ClusterSpec, clients: int = 1, sources: int = 4, spares: int = 0) -> Topology:
    """The lab for ``spec``: its directors as written, a node per real server, the SMTP sink,
    a router, and ``clients`` clients with ``sources`` source addresses each (to show
    persistence and source hashing).

    Segments and their subnets come from the directors' interfaces, one per address family
    (link-local addresses aside). Real servers sit on the segment holding their address and
    route through the VRRP address there (the DIP). A spec that names IPv6 real servers
    too gives the n-th one to the node of the n-th IPv4 one (a dual-stack server). The
    router takes the first free address of the segment that holds the first virtual
    service (where clients come from), in each family it has, and gets no route to any
    other segment, so clients reach the VIP but not the real servers. Clients live in
    TEST-NET-3, and in 2001:db8:0:113::/64 when the front segment has IPv6.

    ``spares`` adds real servers that the spec does not name (``realserver3`` ...), next
    on the real servers' segment, for adding one to a running cluster.
    """
    subnets: dict[str, list[Network]] = {}
    for director in spec.directors:
        for iface in director.interfaces:
            for addr in iface.addresses:
                nets = subnets.setdefault(iface.segment, [])
                if not addr.ip.is_link_local and addr.network not in nets:
                    nets.append(addr.network)
    floating = [a.ip for inst in spec.vrrp.instances for a in inst.virtual_ipaddresses]
    services = [vs for vs in spec.virtual_services if vs.address is not None]
    if not services:
        raise ValueError("the lab needs a virtual service with an address for clients to reach")
    vips = _by_family([vs.address for vs in services if vs.address is not None])
    vip = services[0].address
    front = _segment_of(vip, subnets)
    used = {a.ip for d in spec.directors for i in d.interfaces for a in i.addresses}
    servers = _by_family([rs.address for vs in services for rs in vs.real_servers])
    used |= {*floating, *servers[4], *servers[6]}
    smtp = spec.notification.smtp_server if spec.notification else None
    if smtp is not None:
        used.add(smtp)
    routers = {net.version: _free_host(net, used) for net in subnets[front]}

    def gateways(segment: str) -> tuple[Route, ...]:
        """Per family, the floating address on ``segment`` if there is one (the DIP), else
        the router."""
        found = []
        for router in routers.values():
            on_segment = [
                ip for ip in floating
                if ip.version == router.version and ip not in vips[ip.version]
                and any(ip in net for net in subnets[segment])
            ]  # fmt: skip
            found.append(Route("default", str(on_segment[0] if on_segment else router)))
        return tuple(found)

    def plug(segment: str, *addresses: Address) -> Interface:
        prefix = {net.version: net.prefixlen for net in subnets[segment]}
        return Interface("eth0", segment, tuple(f"{a}/{prefix[a.version]}" for a in addresses))

    client_nets = [net for net in (CLIENT_SUBNET, CLIENT_SUBNET6) if net.version in routers]
    client_routes = tuple(Route("default", str(net.network_address + 1)) for net in client_nets)
    client_hosts = [(net, s) for net in client_nets for s in range(1, sources + 1)]
    nodes: list[Node] = [
        Node(
            f"client{c}",
            "client",
            (
                Interface(
                    "eth0", "client", tuple(_numbered(n, 10 * c + s) for n, s in client_hosts)
                ),
            ),
            client_routes,
        )
        for c in range(1, clients + 1)
    ]
    nodes.append(
        Node(
            "router",
            "router",
            (
                Interface("eth0", "client", tuple(_numbered(net, 1) for net in client_nets)),
                Interface(
                    "eth1",
                    front,
                    tuple(f"{routers[net.version]}/{net.prefixlen}" for net in subnets[front]),
                ),
            ),
            forwarding=4 in routers,
            forwarding6=6 in routers,
        )
    )
    nodes += [
        Node(
            d.name,
            "director",
            tuple(
                Interface(i.name, i.segment, tuple(str(a) for a in i.addresses))
                for i in d.interfaces
            ),
            tuple(Route("default", str(router)) for router in routers.values()),
            forwarding=True,
        )
        for d in spec.directors
    ]
    back = _segment_of(servers[4][0], subnets) if servers[4] else front
    spare = set(used)
    for _ in range(spares):
        servers[4].append(_free_host(next(n for n in subnets[back] if n.version == 4), spare))
        if any(n.version == 6 for n in subnets[back]):
            servers[6].append(_free_host(next(n for n in subnets[back] if n.version == 6), spare))
        spare |= {servers[4][-1], *servers[6][-1:]}
    for n, address in enumerate(servers[4], 1):
        segment = _segment_of(address, subnets)
        twin = servers[6][n - 1 : n]
        nodes.append(Node(f"realserver{n}", "realserver", (plug(segment, address, *twin),),
                          gateways(segment)))  # fmt: skip
    if smtp is not None:
        segment = _segment_of(smtp, subnets)
        routes = tuple(r for r in gateways(segment) if (":" in r.via) == (smtp.version == 6))
        nodes.append(Node("smtp", "smtp", (plug(segment, smtp),), routes))
    segments = (
        Segment("client", str(CLIENT_SUBNET), tuple(map(str, client_nets))),
        *(Segment(name, str(nets[0]), tuple(map(str, nets))) for name, nets in subnets.items()),
    )
    dips = gateways(back)
    return Topology(
        tuple(nodes),
        segments,
        vip=str(vip),
        dip=dips[0].via,
        virtualhosts=tuple(dict.fromkeys(vs.virtualhost for vs in services if vs.virtualhost)),
        vip6=str(vips[6][0]) if vips[6] else "",
        dip6=dips[1].via if len(dips) > 1 else "",
    )


def as_machines(topo: Topology, names: Iterable[str]) -> Topology:
    """``topo`` with the nodes ``names`` as machines of their own (see :class:`Tunnel`).

    >>> topo = as_machines(seed_topology(), ["director01"])
    >>> "director01" in topo.namespaces, [t.link.port for t in topo.tunnels()]
    (False, ['p2.eth0', 'p2.eth1'])
    >>> topo.tunnels()[1].machine_mac, hex(topo.tunnels()[1].session)
    ('02:4c:56:00:01:01', '0x4c560001')
    """
    wanted = set(names)
    unknown = wanted - {n.name for n in topo.nodes}
    if unknown:
        raise ValueError(f"no node {', '.join(sorted(unknown))} in the lab to make a machine")
    nodes = tuple(replace(n, machine=True) if n.name in wanted else n for n in topo.nodes)
    return replace(topo, nodes=nodes)


def seed_topology(clients: int = 1, sources: int = 4) -> Topology:
    """The lab for the built-in seed spec (the 2007 article's cluster)."""
    return from_spec(load_seed_spec(), clients, sources)
