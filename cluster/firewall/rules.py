"""A director's firewall as data: which packets each chain lets through, before any syntax.

Both back-ends (:mod:`cluster.firewall.nftables`, :mod:`cluster.firewall.iptables`) render this
one model, so what the firewall means is decided here once and only spelled twice.

Three chains, named after the netfilter hooks they sit on:

``input`` (policy drop)
    What may reach the director itself: loopback, replies to its own connections, SSH, VRRP
    from the peer directors, essential ICMP, the virtual services on the VIPs, ``allow`` rules.
``forward`` (policy drop)
    What may cross the director: the real servers' replies, their own outbound connections,
    ICMP errors, and VIP traffic relayed to the peer while a stale ARP cache points here.
``postrouting`` (nat, policy accept)
    Masquerading of the real servers' own outbound connections.

How IPVS (NAT) and these chains meet, from ``net/netfilter/ipvs/ip_vs_core.c``: IPVS hooks
LOCAL_IN at priority 98-99 and FORWARD at 99-100, *after* the filter chains at 0. So the input
chain sees a client's packet with its original destination, the VIP:port, and must accept that;
IPVS then rewrites it to a real server and sends it out through LOCAL_OUT, which we do not
filter. A real server's reply enters the forward chain still carrying the real server's own
address and port; only afterwards does IPVS rewrite its source back to the VIP. Hence:

- the forward chain accepts replies by the real servers' addresses and ports, never by the VIP;
- IPVS keeps its own connection table and, with the default ``net.ipv4.vs.conntrack = 0``,
  marks the packets it handles untracked. A real server's SYN-ACK or FIN therefore looks
  *invalid* to conntrack, so these chains accept IPVS traffic by address and port and have no
  ``ct state invalid drop`` (it would cut every NAT connection);
- the same untracking keeps NAT away from the VIP replies, so ``masquerade`` touches only the
  real servers' own connections (updates, DNS, mail). It is still limited to the internal
  networks as sources, which IPVS's un-NATed replies (source: the VIP) are not, so the
  article's blanket ``-o eth0 -j MASQUERADE`` is not needed to make LVS-NAT work.

What the 2007 article's rules got wrong, and this model does not repeat:

- VRRP is IP protocol 112 to 224.0.0.18; the article's ``udp --dport 694`` is heartbeat's
  port and let no advert through (its "multicast must be allowed" rule did that instead, for
  any multicast from the peer);
- ``FORWARD -i eth0 -d 192.168.170.0/24 -j ACCEPT`` lets anyone outside open connections to
  the real servers directly; here only replies to their own connections come in.

>>> from cluster.spec import load_seed_spec
>>> rules = director_rules(load_seed_spec(), "director01")
>>> [r.comment for r in rules.chains["input"]][:4]
['loopback', 'mail server 192.168.0.15 replies', "replies to the director's own connections", 'SSH']
>>> vrrp = next(r for r in rules.chains["input"] if r.protocol == "vrrp")
>>> [str(a) for a in vrrp.saddr], [str(a) for a in vrrp.daddr], vrrp.iif
(['192.168.0.176/32'], ['224.0.0.18/32'], ('eth0',))
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from cluster.errors import UsageError
from cluster.spec.model import ClusterSpec, Director, Interface, IPAddress, VirtualService

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Family = Literal[4, 6]
ChainName = Literal["input", "forward", "postrouting"]
Protocol = Literal["tcp", "udp", "sctp", "icmp", "icmpv6", "vrrp"]
CtState = Literal["new", "established", "related"]

FAMILIES: tuple[Family, ...] = (4, 6)
VRRP_GROUPS: dict[Family, Network] = {
    4: ipaddress.ip_network("224.0.0.18/32"),
    6: ipaddress.ip_network("ff02::12/128"),
}
LINK_LOCAL6 = ipaddress.ip_network("fe80::/10")
IPVS_SYNC_GROUP, IPVS_SYNC_PORT = ipaddress.ip_network("224.0.0.81/32"), 8848
SMTP_PORT = 25
L4: dict[str, Protocol] = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


@dataclass(frozen=True)
class Chain:
    """How a chain hooks into netfilter; a packet no rule accepts meets ``policy``."""

    kind: Literal["filter", "nat"]
    policy: Literal["accept", "drop"]


CHAINS: dict[ChainName, Chain] = {
    "input": Chain("filter", "drop"),
    "forward": Chain("filter", "drop"),
    "postrouting": Chain("nat", "accept"),
}

#: ICMP that must pass even where nothing is tracked: errors for IPVS's untracked connections
#: (IPVS itself maps them to its connections, after the filter), path MTU discovery, ping,
#: and for IPv6 the neighbour discovery and MLD without which the link does not work at all.
ICMP_INPUT: dict[Family, tuple[str, ...]] = {
    4: ("echo-request", "destination-unreachable", "time-exceeded", "parameter-problem"),
    6: (
        "echo-request",
        "destination-unreachable",
        "packet-too-big",
        "time-exceeded",
        "parameter-problem",
        "nd-neighbor-solicit",
        "nd-neighbor-advert",
        "nd-router-advert",
        "mld-listener-query",
    ),
}
ICMP_FORWARD: dict[Family, tuple[str, ...]] = {
    4: ("destination-unreachable", "time-exceeded", "parameter-problem"),
    6: ("destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem"),
}


@dataclass(frozen=True)
class Rule:
    """One accept (or masquerade) rule; every field left empty matches anything.

    A tuple is a set: the rule matches any one of its members. A rule with addresses belongs
    to their family; build rules with :func:`per_family` so that a rule never mixes them.
    """

    comment: str
    verdict: Literal["accept", "masquerade"] = "accept"
    family: Family | None = None
    iif: tuple[str, ...] = ()
    oif: tuple[str, ...] = ()
    saddr: tuple[Network, ...] = ()
    daddr: tuple[Network, ...] = ()
    protocol: Protocol | None = None
    sport: int | None = None
    dport: int | None = None
    icmp_types: tuple[str, ...] = ()
    ct_state: tuple[CtState, ...] = ()
    mark: int | None = None


@dataclass(frozen=True)
class RuleSet:
    """The rules of one director, chain by chain, in the order they are evaluated."""

    director: str
    chains: dict[ChainName, tuple[Rule, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Sides:
    """The director's interfaces split by what faces the real servers (NAT's inside)."""

    internal: tuple[Interface, ...]
    external: tuple[Interface, ...]

    @property
    def internal_networks(self) -> tuple[Network, ...]:
        return _unique(
            a.network for i in self.internal for a in i.addresses if not a.ip.is_link_local
        )

    @staticmethod
    def names(interfaces: Iterable[Interface]) -> tuple[str, ...]:
        return tuple(i.name for i in interfaces)


def per_family(rule: Rule) -> list[Rule]:
    """The rule once per address family that its addresses leave possible.

    Mixed IPv4/IPv6 lists are common (``ssh_sources``), but one iptables rule or one nft
    ``ip saddr`` match holds one family; no addresses at all means either family.
    """
    if not rule.saddr and not rule.daddr:
        return [rule]
    rules = []
    for family in FAMILIES:
        sources = tuple(n for n in rule.saddr if n.version == family)
        destinations = tuple(n for n in rule.daddr if n.version == family)
        if (rule.saddr and not sources) or (rule.daddr and not destinations):
            continue
        rules.append(replace(rule, family=family, saddr=sources, daddr=destinations))
    return rules


def director_rules(spec: ClusterSpec, node: str) -> RuleSet:
    """The rule set of director ``node``, rendered from the spec alone."""
    director = spec.director(node)
    if director is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"no director {node!r} in {spec.name!r}; use one of {names}")
    sides = split_sides(spec, director)
    return RuleSet(
        director.name,
        {
            "input": tuple(_input(spec, director, sides)),
            "forward": tuple(_forward(spec, sides)),
            "postrouting": tuple(_postrouting(sides)),
        },
    )


def split_sides(spec: ClusterSpec, director: Director) -> Sides:
    """Internal: the interfaces on a subnet of a NAT real server. External: all the others.

    Segment names are the operator's ("external", "lan", "dmz"), so the role of a link is
    read from where the real servers are, which is what NAT forwarding depends on.
    """
    servers = [
        rs.address
        for vs in spec.virtual_services
        if vs.forwarding == "NAT"
        for rs in vs.real_servers
    ]
    internal = tuple(
        i for i in director.interfaces if any(s in a.network for a in i.addresses for s in servers)
    )
    return Sides(internal, tuple(i for i in director.interfaces if i not in internal))


def _input(spec: ClusterSpec, director: Director, sides: Sides) -> Iterator[Rule]:
    yield Rule("loopback", iif=("lo",))
    if spec.notification is not None:
        # Also covered by the next rule; on its own so that its counter shows whether
        # keepalived's mails get answers (the article's firewall was stateless and needed it).
        yield from per_family(
            Rule(
                f"mail server {spec.notification.smtp_server} replies",
                saddr=(_host(spec.notification.smtp_server),),
                protocol="tcp",
                sport=SMTP_PORT,
                ct_state=("established",),
            )
        )
    # Health checks, mail, DNS and updates from the director itself come back this way.
    yield Rule("replies to the director's own connections", ct_state=("established", "related"))
    # Before anything else a rule set may grow, so that no later rule can shadow it.
    yield from per_family(
        Rule(
            "SSH",
            saddr=tuple(spec.firewall.ssh_sources),
            protocol="tcp",
            dport=spec.firewall.ssh_port,
        )
    )
    yield from _vrrp(spec, director)
    yield from _connection_sync(spec, director)
    for family in FAMILIES:
        yield _icmp("essential ICMP", family, ICMP_INPUT[family])
    for vs in spec.virtual_services:
        for mark in (m.fwmark for m in spec.members(vs) if m.fwmark is not None):
            # The spec says which mark, not which packets: the marking rule (mangle
            # PREROUTING, before this chain) is the operator's.
            yield Rule(f"virtual service {vs.name}: fwmark {mark}", mark=mark)
        for port, addresses in _ports(spec, vs).items():
            endpoint = vs.endpoint if vs.group is None else f"{vs.endpoint} port {port}"
            yield from per_family(
                Rule(
                    f"virtual service {vs.name}: {vs.protocol} {endpoint}",
                    daddr=addresses,
                    protocol=L4[vs.protocol],
                    dport=port,
                )
            )
    for allow in spec.firewall.allow:
        yield from per_family(
            Rule(
                f"allow {allow.protocol}/{allow.port}",
                saddr=tuple(allow.sources),
                iif=Sides.names(sides.external),
                protocol=allow.protocol,
                dport=allow.port,
            )
        )


def _vrrp(spec: ClusterSpec, director: Director) -> Iterator[Rule]:
    """Adverts to the VRRP group on each instance's link, from the peers on that segment only
    (or, for an instance with unicast peers, from those peers to this director).

    Any host on the segment can send an advert with a higher priority and take the VIPs; the
    source address is what the firewall can check. VRRPv3 over IPv6 sends from link-local
    addresses (RFC 5798), which the spec lists only if the operator adds them to the peers'
    interfaces; without them the rule falls back to any link-local source on that link.
    """
    for instance in spec.vrrp.instances:
        mine = director.interface(instance.interface)
        if mine is None:
            continue
        if instance.unicast_peers:
            # Unicast adverts come from the peers this director sends to, addressed to it.
            yield from per_family(
                Rule(
                    f"VRRP {instance.name} from its unicast peers",
                    iif=(mine.name,),
                    saddr=tuple(_host(p) for p in instance.peers_of(director)),
                    protocol="vrrp",
                )
            )
            continue
        peers = _peer_addresses(spec, director, mine.segment)
        for family in FAMILIES:
            if not any(vip.version == family for vip in instance.virtual_ipaddresses):
                continue
            who = "the peer director"
            if family == 4:
                sources = [_host(p) for p in peers if p.version == 4]
            else:
                sources = [_host(p) for p in peers if p.version == 6 and p.is_link_local]
                if not sources and peers:
                    sources, who = [LINK_LOCAL6], "any link-local address (peers' unknown)"
            if sources:  # else no peer on this segment, so no adverts to accept
                yield Rule(
                    f"VRRP {instance.name} from {who}",
                    family=family,
                    iif=(mine.name,),
                    saddr=tuple(sources),
                    daddr=(VRRP_GROUPS[family],),
                    protocol="vrrp",
                )


def _connection_sync(spec: ClusterSpec, director: Director) -> Iterator[Rule]:
    """IPVS connection sync (``lvs_sync_daemon``): the master multicasts its connection table
    to 224.0.0.81, UDP 8848 (the kernel's defaults), and a backup that drops it would take
    over with an empty table, cutting every established connection."""
    sync = spec.vrrp.sync_daemon
    mine = director.interface(sync.interface) if sync else None
    if mine is None:
        return
    peers = [_host(p) for p in _peer_addresses(spec, director, mine.segment) if p.version == 4]
    if peers:
        yield Rule(
            "IPVS connection sync from the peer director",
            family=4,
            iif=(mine.name,),
            saddr=tuple(peers),
            daddr=(IPVS_SYNC_GROUP,),
            protocol="udp",
            dport=IPVS_SYNC_PORT,
        )


def _peer_addresses(spec: ClusterSpec, director: Director, segment: str) -> list[IPAddress]:
    """The other directors' addresses on ``segment``: the only senders to trust there."""
    return [
        a.ip
        for d in spec.directors
        if d.name != director.name
        for i in d.interfaces
        if i.segment == segment
        for a in i.addresses
    ]


def _forward(spec: ClusterSpec, sides: Sides) -> Iterator[Rule]:
    inside, outside = Sides.names(sides.internal), Sides.names(sides.external)
    yield Rule("replies to the real servers' own connections", ct_state=("established", "related"))
    if sides.internal:
        for (protocol, port), servers in _nat_servers(spec).items():
            what = f"{protocol} port {port}" if port else "any port (fwmark service)"
            yield from per_family(
                Rule(
                    f"real servers' replies from {what}; IPVS restores the VIP after this chain",
                    saddr=tuple(servers),
                    iif=inside,
                    protocol=protocol if port else None,
                    sport=port,
                )
            )
        for family in FAMILIES:
            yield _icmp("ICMP errors from the real servers", family, ICMP_FORWARD[family], inside)
    if sides.external:
        # A client whose ARP cache still names this director after a failover: pass its
        # packets on to the director that now holds the VIP (send_redirects=0 keeps the
        # kernel from telling the client to go there itself, which it cannot do for a VIP).
        for vs in spec.virtual_services:
            for port, addresses in _ports(spec, vs).items():
                yield from per_family(
                    Rule(
                        f"virtual service {vs.name} to the VIP's current holder",
                        daddr=addresses,
                        iif=outside,
                        oif=outside,
                        protocol=L4[vs.protocol],
                        dport=port,
                    )
                )
    if sides.internal and sides.external:
        yield from per_family(
            Rule(
                "real servers' own connections out (masqueraded)",
                saddr=sides.internal_networks,
                iif=inside,
                oif=outside,
                ct_state=("new",),
            )
        )


def _ports(spec: ClusterSpec, vs: VirtualService) -> dict[int, tuple[Network, ...]]:
    """The service's VIPs by port: one, or those of its group's address members."""
    ports: defaultdict[int, list[Network]] = defaultdict(list)
    for member in spec.members(vs):
        if member.address is not None and member.port is not None:
            ports[member.port].append(_host(member.address))
    return {port: _unique(addresses) for port, addresses in ports.items()}


def _postrouting(sides: Sides) -> Iterator[Rule]:
    if sides.internal and sides.external:
        yield from per_family(
            Rule(
                "real servers' own connections leave with the director's address",
                saddr=sides.internal_networks,
                oif=Sides.names(sides.external),
                verdict="masquerade",
            )
        )


def _nat_servers(spec: ClusterSpec) -> dict[tuple[Protocol, int | None], list[Network]]:
    """NAT real servers by the protocol and port their replies come from; port None: any."""
    groups: defaultdict[tuple[Protocol, int | None], list[Network]] = defaultdict(list)
    for vs in spec.virtual_services:
        if vs.forwarding != "NAT":
            continue
        for rs in vs.real_servers:
            servers = groups[(L4[vs.protocol], rs.port)]
            if _host(rs.address) not in servers:
                servers.append(_host(rs.address))
    return groups


def _icmp(comment: str, family: Family, types: tuple[str, ...], iif: tuple[str, ...] = ()) -> Rule:
    protocol: Protocol = "icmp" if family == 4 else "icmpv6"
    return Rule(comment, family=family, iif=iif, protocol=protocol, icmp_types=types)


def _host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Network:
    return ipaddress.ip_network(address)


def _unique(items: Iterable[Network]) -> tuple[Network, ...]:
    return tuple(dict.fromkeys(items))
