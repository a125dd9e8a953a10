"""The IPVS table as data: what the kernel holds, or what a spec wants it to hold.

One model serves every side: :func:`desired_table` builds it from a spec, the netlink adapter
reads the kernel into it, :mod:`cluster.ipvs.ipvsadm` prints and parses it as ipvsadm does,
and :mod:`cluster.ipvs.plan` diffs two of them. Only the settings an operator chooses take part
in equality; the kernel's counters ride along with ``compare=False``, so a busy live table
still equals the spec's.

Pure: no netlink, no files.

>>> from cluster.spec.load import SEED_TEXT, read_spec
>>> spec, _ = read_spec(SEED_TEXT, "seed.yaml")
>>> table = desired_table(spec)
>>> [str(s.key) for s in table.services]
['TCP 192.168.0.174:80', 'TCP 192.168.0.174:443']
>>> https = table.service(ServiceKey.inet("TCP", "192.168.0.174", 443))
>>> https.scheduler, https.timeout, [str(d) for d in https.destinations]
('rr', 3600, ['192.168.170.35:443 NAT weight 1'])
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # only read here: pydantic costs a second to import in the lab's guest
    from cluster.spec.model import ClusterSpec, GroupMember, VirtualService

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Protocol = Literal["TCP", "UDP", "SCTP"]
#: The kernel's forwarding methods; LOCAL is what IPVS picks for a real server that is the
#: director itself, so it is only ever read, never asked for.
Forwarding = Literal["NAT", "LOCAL", "TUN", "DR"]
TunnelType = Literal["ipip", "gue", "gre"]
TunnelChecksum = Literal["nocsum", "csum", "remcsum"]

PROTOCOL_NUMBERS: dict[Protocol, int] = {"TCP": 6, "UDP": 17, "SCTP": 132}
#: ``IP_VS_CONN_F_*`` values; the order is the kernel's (MASQ is 0).
FORWARDING_CODES: dict[Forwarding, int] = {"NAT": 0, "LOCAL": 1, "TUN": 2, "DR": 3}
TUNNEL_TYPES: tuple[TunnelType, ...] = ("ipip", "gue", "gre")
#: ``IP_VS_TUNNEL_ENCAP_FLAG_*``: GUE and GRE tunnels only; ipip has no checksum option.
TUNNEL_CHECKSUMS: dict[TunnelChecksum, int] = {"nocsum": 0, "csum": 1, "remcsum": 2}

#: ``IP_VS_SVC_F_*`` service flags.
F_PERSISTENT, F_HASHED, F_ONEPACKET = 0x1, 0x2, 0x4
SCHED_FLAG_BITS = (0x8, 0x10, 0x20)
#: What ipvsadm calls the three scheduler flags; only sh and mh give them meaning.
SCHED_FLAG_NAMES: dict[str, tuple[str, str, str]] = {
    "sh": ("sh-fallback", "sh-port", "flag-3"),
    "mh": ("mh-fallback", "mh-port", "flag-3"),
}
GENERIC_FLAG_NAMES = ("flag-1", "flag-2", "flag-3")


def sched_flag_names(scheduler: str, bits: int) -> list[str]:
    """The names ipvsadm prints for ``bits``, in its order (``sh-fallback,sh-port``)."""
    names = SCHED_FLAG_NAMES.get(scheduler, GENERIC_FLAG_NAMES)
    return [name for name, bit in zip(names, SCHED_FLAG_BITS, strict=True) if bits & bit]


def sched_flag_bits(names: Iterable[str]) -> int:
    """The bit mask for flag names; ``sh-port`` and ``mh-port`` share a bit, as in the kernel."""
    bits = 0
    for name in names:
        for names_of_scheduler in (*SCHED_FLAG_NAMES.values(), GENERIC_FLAG_NAMES):
            if name in names_of_scheduler:
                bits |= SCHED_FLAG_BITS[names_of_scheduler.index(name)]
                break
        else:
            raise ValueError(f"unknown scheduler flag {name!r}")
    return bits


@dataclass(frozen=True, slots=True)
class Stats:
    """IPVS counters (totals) and rates (per second, over the kernel's 2 s estimator)."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0
    cps: int = 0
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """What identifies a virtual service to the kernel: protocol, VIP and port, or a mark.

    A fwmark service has no protocol, address or port; its ``family`` says whether the marked
    packets are IPv4 or IPv6 (``ipvsadm -f N -6``).
    """

    family: Literal[4, 6]
    protocol: Protocol | None = None
    address: IPAddress | None = None
    port: int = 0
    fwmark: int = 0

    @classmethod
    def inet(cls, protocol: Protocol, address: str | IPAddress, port: int) -> ServiceKey:
        # an address object as it is: ip_address() would print and parse it again
        ip = address if isinstance(address, IPAddress) else ipaddress.ip_address(address)
        return cls(family=ip.version, protocol=protocol, address=ip, port=port)

    @classmethod
    def mark(cls, fwmark: int, family: Literal[4, 6] = 4) -> ServiceKey:
        return cls(family=family, fwmark=fwmark)

    @property
    def endpoint(self) -> str:
        """``VIP:port`` with IPv6 in brackets, or ``FWM n`` (``FWM n IPv6``)."""
        if self.fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.family == 6 else "")
        return join_host_port(self.address, self.port)

    def __str__(self) -> str:
        return self.endpoint if self.fwmark else f"{self.protocol} {self.endpoint}"


def full_mask(family: int) -> int:
    """A persistence netmask that keeps each client address apart (/32 or /128)."""
    return 32 if family == 4 else 128


def join_host_port(address: IPAddress | None, port: int) -> str:
    return (
        f"[{address}]:{port}" if isinstance(address, ipaddress.IPv6Address) else f"{address}:{port}"
    )


@dataclass(frozen=True, slots=True)
class Destination:
    """A real server behind a virtual service, as the kernel keeps it.

    A fwmark service's real servers have port 0: each packet keeps its own port.
    """

    address: IPAddress
    port: int = 0
    weight: int = 1
    forwarding: Forwarding = "NAT"
    upper_threshold: int = 0
    lower_threshold: int = 0
    tunnel_type: TunnelType = "ipip"
    tunnel_port: int = 0
    tunnel_checksum: TunnelChecksum = "nocsum"
    active_conns: int = field(default=0, compare=False)
    inact_conns: int = field(default=0, compare=False)
    persist_conns: int = field(default=0, compare=False)
    stats: Stats = field(default=Stats(), compare=False)

    @property
    def key(self) -> tuple[IPAddress, int]:
        return (self.address, self.port)

    @property
    def endpoint(self) -> str:
        return join_host_port(self.address, self.port)

    def __str__(self) -> str:
        return f"{self.endpoint} {self.forwarding} weight {self.weight}"


@dataclass(frozen=True, slots=True)
class Service:
    """A virtual service and its real servers.

    ``timeout`` is the persistence timeout in seconds, 0 when not persistent; ``netmask`` is
    the persistence granularity as a prefix length (ipvsadm shows IPv4 masks dotted), so that
    one client network sticks to one real server.
    """

    key: ServiceKey
    scheduler: str = "wlc"
    timeout: int = 0
    netmask: int = None  # type: ignore[assignment]  # the full mask; set in __post_init__
    sched_flags: int = 0
    one_packet: bool = False
    pe_name: str = ""
    destinations: tuple[Destination, ...] = ()
    stats: Stats = field(default=Stats(), compare=False)

    def __post_init__(self) -> None:
        if self.netmask is None:
            object.__setattr__(self, "netmask", full_mask(self.key.family))
        # the kernel's order of real servers is no setting; sorted, equal tables compare equal
        ordered = tuple(sorted(self.destinations, key=_dest_order))
        object.__setattr__(self, "destinations", ordered)

    @property
    def persistent(self) -> bool:
        return self.timeout > 0

    @property
    def flags(self) -> int:
        """The kernel's flag word (without HASHED, which the kernel sets on its own)."""
        return (
            (F_PERSISTENT if self.persistent else 0)
            | (F_ONEPACKET if self.one_packet else 0)
            | self.sched_flags
        )

    @property
    def settings(self) -> Service:
        """This service without its real servers: what a ``set`` of the service changes."""
        return replace(self, destinations=())

    def destination(self, address: str | IPAddress, port: int) -> Destination | None:
        ip = ipaddress.ip_address(address)
        return next((d for d in self.destinations if d.key == (ip, port)), None)

    def __str__(self) -> str:
        words = [str(self.key), self.scheduler]
        if self.sched_flags:
            words.append(f"({','.join(sched_flag_names(self.scheduler, self.sched_flags))})")
        if self.persistent:
            words.append(f"persistent {self.timeout}")
            if self.netmask != full_mask(self.key.family):
                words.append(f"mask {self.netmask}")
        if self.pe_name:
            words.append(f"pe {self.pe_name}")
        if self.one_packet:
            words.append("ops")
        return " ".join(words)


def _dest_order(dest: Destination) -> tuple[int, bytes, int]:
    return (dest.address.version, dest.address.packed, dest.port)


def _service_order(service: Service) -> tuple[int, int, str, bytes, int]:
    key = service.key
    packed = key.address.packed if key.address else b""
    return (key.fwmark, key.family, key.protocol or "", packed, key.port)


@dataclass(frozen=True, slots=True)
class Table:
    """A whole IPVS table; ``version`` and ``size`` are the kernel's, for ipvsadm's header."""

    services: tuple[Service, ...] = ()
    version: str = field(default="1.2.1", compare=False)
    size: int = field(default=4096, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", tuple(sorted(self.services, key=_service_order)))

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def service(self, key: ServiceKey) -> Service | None:
        return next((s for s in self.services if s.key == key), None)

    def by_key(self) -> dict[ServiceKey, Service]:
        return {s.key: s for s in self.services}


def _netmask_prefix(vs: VirtualService, family: Literal[4, 6]) -> int:
    netmask = vs.persistence.netmask if vs.persistence else None
    if netmask is None:
        return full_mask(family)
    if netmask.version != family:
        raise ValueError(f"{vs.name}: persistence netmask {netmask} is not IPv{family}")
    return ipaddress.ip_network(f"0.0.0.0/{netmask}" if family == 4 else f"::/{netmask}").prefixlen


def services_from_spec(spec: ClusterSpec, vs: VirtualService) -> list[Service]:
    """The kernel's view of one spec service, with all of its real servers up: one IPVS
    service, or one per member of its virtual server group."""
    return [_service(vs, member) for member in spec.members(vs)]


def _service(vs: VirtualService, member: GroupMember) -> Service:
    if member.fwmark is not None:
        family: Literal[4, 6] = next((rs.address.version for rs in vs.real_servers), 4)
        key = ServiceKey.mark(member.fwmark, family)
    else:
        assert member.address is not None and member.port is not None  # the model checks this
        key = ServiceKey.inet(vs.protocol, member.address, member.port)
    return Service(
        key=key,
        scheduler=vs.scheduler,
        timeout=vs.persistence.timeout if vs.persistence else 0,
        netmask=_netmask_prefix(vs, key.family),
        sched_flags=sched_flag_bits(vs.scheduler_flags),
        destinations=tuple(
            Destination(
                address=rs.address,
                port=rs.port or 0,
                weight=rs.weight,
                forwarding=vs.forwarding,
            )
            for rs in vs.real_servers
        ),
    )


def desired_table(spec: ClusterSpec) -> Table:
    """The table a director of ``spec`` should hold when every health check passes.

    With ``ipvs: direct`` the kit programs exactly this; with ``ipvs: keepalived`` it is what
    keepalived's checkers build, and a real server missing from the live table is one whose
    check fails.
    """
    return Table(tuple(s for vs in spec.virtual_services for s in services_from_spec(spec, vs)))
