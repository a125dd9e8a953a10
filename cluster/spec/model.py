"""The cluster spec: one declarative description of an LVS director pair and its services.

These classes are the single model that every other part reads: the keepalived renderer, the
firewall and sysctl renderers, the IPVS table, the lab topology. They only check what a value
can be on its own (types, ranges, formats); rules that relate several parts of a cluster, such
as "the two directors' priorities differ", live in :mod:`cluster.spec.validate` so that each
can report the right file:line.

Names follow keepalived.conf where an operator would look them up there (``virtual_router_id``,
``advert_int``, ``delay_loop``, ``connect_timeout``, ``retry``), and plain words elsewhere
(``scheduler`` for ``lvs_sched``, ``forwarding`` for ``lvs_method``).

>>> from cluster.spec.model import VirtualService
>>> vs = VirtualService(name="web", address="192.0.2.10", port=80, scheduler="wrr",
...                     real_servers=[{"address": "10.0.0.5", "weight": 3}])
>>> vs.endpoint, vs.forwarding, vs.real_servers[0].port
('192.0.2.10:80', 'NAT', 80)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    model_validator,
)


def _parse_with(parse: Callable[[object], object], what: str) -> Callable[[object], object]:
    """One clear message per bad address, instead of one per member of an IPv4|IPv6 union."""

    def parse_value(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not {what}")
        try:
            return parse(value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise ValueError(f"{value!r} is not {what}") from None

    return parse_value


_as_text = PlainSerializer(str, return_type=str)
IPAddress = Annotated[
    ipaddress.IPv4Address | ipaddress.IPv6Address,
    PlainValidator(_parse_with(ipaddress.ip_address, "an IP address, such as 192.0.2.1")),
    _as_text,
]
IPInterface = Annotated[
    ipaddress.IPv4Interface | ipaddress.IPv6Interface,
    PlainValidator(
        _parse_with(ipaddress.ip_interface, "an address with its prefix, such as 192.0.2.1/24")
    ),
    _as_text,
]
IPNetwork = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    PlainValidator(_parse_with(ipaddress.ip_network, "a network, such as 192.0.2.0/24")),
    _as_text,
]

#: The IPVS schedulers of a current kernel; "twos" is newer than the kernels we test on.
SCHEDULERS = (
    "rr",
    "wrr",
    "lc",
    "wlc",
    "fo",
    "ovf",
    "lblc",
    "lblcr",
    "dh",
    "sh",
    "sed",
    "nq",
    "mh",
    "twos",
)
Scheduler = Literal[
    "rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "twos"
]
#: Flags that only the source-hashing schedulers read (ipvsadm -b).
SchedulerFlag = Literal["sh-fallback", "sh-port", "mh-fallback", "mh-port"]
Forwarding = Literal["NAT", "DR", "TUN"]
Protocol = Literal["TCP", "UDP", "SCTP"]
Port = Annotated[int, Field(ge=1, le=65535)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")]
#: A duration; written back as ``5`` rather than ``5.0``, as an operator would write it.
Seconds = Annotated[float, PlainSerializer(lambda v: int(v) if v == int(v) else v)]
StatusCodes = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
    Field(pattern=r"^[1-5][0-9]{2}(-[1-5][0-9]{2})?( +[1-5][0-9]{2}(-[1-5][0-9]{2})?)*$"),
]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)]


class Model(BaseModel):
    """Base of all spec classes: immutable, and unknown keys are errors, so typos surface."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Interface(Model):
    """A director's network interface and the segment (L2 network) it is plugged into."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,15}$")]
    segment: Name
    addresses: list[IPInterface] = []


InitialState = Literal["MASTER", "BACKUP"]
Priority = Annotated[int, Field(ge=1, le=255)]


class Director(Model):
    """One load balancer. Its ``priority`` decides which director is VRRP master.

    ``states`` pins the state a VRRP instance starts in on this director (keepalived's
    ``state``), by instance name; without it the master starts MASTER and the others BACKUP.
    An imported config keeps what its author wrote, such as BACKUP on both directors.

    ``priorities`` overrides ``priority`` for some instances, by instance name, so that
    each director can be master of some instances (active/active); without it every
    instance has the director's ``priority``.

    ``unicast_src_ips`` is, by instance name, the address this director sends unicast
    adverts from (keepalived's ``unicast_src_ip``); without one keepalived uses the primary
    address of the instance's interface. It matters only for instances with
    ``unicast_peers``.
    """

    name: Name
    router_id: Name
    priority: Priority
    interfaces: list[Interface]
    states: dict[Name, InitialState] = {}
    priorities: dict[Name, Priority] = {}
    unicast_src_ips: dict[Name, IPAddress] = {}

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def priority_for(self, instance: str) -> int:
        """This director's VRRP priority for the instance named ``instance``."""
        return self.priorities.get(instance, self.priority)

    def link_local(self, instance: VrrpInstance) -> IPv6Address | None:
        """The link-local address this director lists on an IPv6 instance's link, which
        VRRPv3 sends the instance's multicast adverts from; None for an IPv4 instance."""
        interface = self.interface(instance.interface)
        if interface is None or instance.virtual_ipaddresses[0].version != 6:
            return None
        return next(
            (a.ip for a in interface.addresses if a.version == 6 and a.ip.is_link_local), None
        )

    def own_addresses(self, instance: VrrpInstance) -> set[IPv4Address | IPv6Address]:
        """The addresses that are this director's on ``instance``'s link: the ones on its
        interface, and the unicast source address it sends the instance's adverts from."""
        interface = self.interface(instance.interface)
        own = {address.ip for address in interface.addresses} if interface else set()
        source = self.unicast_src_ips.get(instance.name)
        return own | ({source} if source is not None else set())


class Auth(Model):
    """VRRPv2 authentication. RFC 3768 dropped it and VRRPv3 has none; see the concepts page."""

    type: Literal["PASS", "AH"]
    password: Annotated[str, Field(min_length=1, max_length=8)]


class Notify(Model):
    """Scripts keepalived runs on a VRRP state change (each gets state and priority appended)."""

    master: str | None = None
    backup: str | None = None
    fault: str | None = None
    stop: str | None = None
    any: str | None = None


class TrackScript(Model):
    """A check keepalived runs every ``interval`` (``vrrp_script``); instances that track it
    go to FAULT after ``fall`` failures (``weight`` 0) or lose ``weight`` priority.

    A link can stay up and still lose every packet; only a probe across it notices, such
    as a ping from the director to a neighbour on that segment.
    """

    name: Name
    script: str
    interval: Annotated[Seconds, Field(gt=0)] = 1
    timeout: Annotated[Seconds, Field(gt=0)] | None = None
    fall: Annotated[int, Field(ge=1)] = 2
    rise: Annotated[int, Field(ge=1)] = 2
    weight: Annotated[int, Field(ge=-253, le=253)] = 0


class VipOptions(Model):
    """How keepalived adds one VIP: the device (default: the instance's interface), the
    ``ip addr`` label (15 characters at most), scope and broadcast address."""

    dev: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,15}$")] | None = None
    label: Annotated[str, Field(max_length=15)] | None = None
    scope: str | None = None
    brd: str | None = None


class VrrpInstance(Model):
    """One VRRP router: a set of virtual addresses that moves between the directors.

    ``track_interface_weights`` and ``track_script_weights`` give a tracked link or script a
    weight (a failure lowers the priority by it instead of faulting the instance);
    ``vip_options`` holds a VIP's dev/label/scope/brd, by the VIP as written in
    ``virtual_ipaddresses``.

    ``unicast_peers`` switches the instance from multicast adverts to unicast, for networks
    that do not carry multicast (clouds, some switches): it lists the addresses of *all* the
    routers of this instance, and each director sends its adverts to the ones that are not
    its own (:meth:`peers_of`), so that one list serves both directors' files.
    """

    name: Name
    interface: str
    virtual_router_id: Annotated[int, Field(ge=1, le=255)]
    advert_int: Annotated[Seconds, Field(ge=0.01, le=255)] = 1.0
    version: Annotated[int, Field(ge=2, le=3)] = 2
    auth: Auth | None = None
    virtual_ipaddresses: Annotated[list[IPInterface], Field(min_length=1)]
    track_interfaces: list[str] = []
    track_scripts: list[Name] = []
    nopreempt: bool = False
    notify: Notify = Notify()
    track_interface_weights: dict[str, Annotated[int, Field(ge=-253, le=253)]] = {}
    track_script_weights: dict[Name, Annotated[int, Field(ge=-253, le=253)]] = {}
    vip_options: dict[str, VipOptions] = {}
    unicast_peers: list[IPAddress] = []

    def peers_of(self, director: Director) -> list[IPv4Address | IPv6Address]:
        """The unicast peers ``director`` sends its adverts to: all but its own addresses."""
        own = director.own_addresses(self)
        return [peer for peer in self.unicast_peers if peer not in own]


class SyncGroup(Model):
    """Instances that change state together, so the VIP and the DIP stay on one director."""

    name: Name
    instances: Annotated[list[str], Field(min_length=1)]
    notify: Notify = Notify()


class SyncDaemon(Model):
    """IPVS connection sync (keepalived's ``lvs_sync_daemon``), so established connections
    survive a failover: the master director multicasts its connection table on
    ``interface`` and the backup keeps a copy. ``instance``'s VRRP state decides which
    director sends; ``id`` tells several clusters on one segment apart.
    """

    interface: str
    instance: Name
    id: Annotated[int, Field(ge=0, le=255)] | None = None


class Garp(Model):
    """Gratuitous ARP/NA timing (keepalived's ``vrrp_garp_*`` and ``vrrp_gna_interval`` in
    global_defs): how a new master tells the segment where the VIPs are now."""

    master_delay: Annotated[int, Field(ge=0)] | None = None
    master_repeat: Annotated[int, Field(ge=1)] | None = None
    master_refresh: Annotated[int, Field(ge=0)] | None = None
    master_refresh_repeat: Annotated[int, Field(ge=1)] | None = None
    lower_prio_delay: Annotated[int, Field(ge=0)] | None = None
    lower_prio_repeat: Annotated[int, Field(ge=0)] | None = None
    interval: Annotated[Seconds, Field(gt=0)] | None = None
    gna_interval: Annotated[Seconds, Field(gt=0)] | None = None


class Vrrp(Model):
    """The VRRP side of the cluster. ``strict`` is keepalived's ``vrrp_strict``: RFC
    compliance, which among other things makes keepalived ignore ``authentication``."""

    scripts: list[TrackScript] = []
    instances: list[VrrpInstance] = []
    sync_groups: list[SyncGroup] = []
    sync_daemon: SyncDaemon | None = None
    strict: bool = False
    garp: Garp | None = None


class Url(Model):
    """A page an HTTP_GET/SSL_GET check fetches; it passes on the digest and/or the status.

    ``status_code`` is keepalived's: codes and ranges, such as ``200-299 503``. Without it,
    any 2xx status passes.
    """

    path: str = "/"
    digest: Digest | None = None
    status_code: StatusCodes | None = None

    def accepts(self, status: int) -> bool:
        """Whether keepalived's checker would count this HTTP status as up."""
        ranges = [
            (int(a), int(b or a))
            for a, _, b in (part.partition("-") for part in (self.status_code or "200-299").split())
        ]
        return any(low <= status <= high for low, high in ranges)


class Check(Model):
    """A keepalived health checker for one real server."""

    type: Literal["TCP_CHECK", "HTTP_GET", "SSL_GET"]
    connect_timeout: Annotated[Seconds, Field(gt=0)] = 5
    connect_port: Port | None = None
    retry: Annotated[int, Field(ge=0)] | None = None
    delay_before_retry: Annotated[Seconds, Field(ge=0)] | None = None
    delay_loop: Annotated[Seconds, Field(gt=0)] | None = None
    virtualhost: str | None = None
    #: SSL_GET only: send the virtual host as TLS SNI, for servers that pick a cert by name.
    enable_sni: bool = False
    urls: list[Url] = []

    @model_validator(mode="after")
    def _urls_match_type(self) -> Check:
        if self.type == "TCP_CHECK" and self.urls:
            raise ValueError("TCP_CHECK takes no urls; use HTTP_GET or SSL_GET to fetch a page")
        if self.type != "TCP_CHECK" and not self.urls:
            raise ValueError(f"{self.type} needs at least one url with a digest or status_code")
        if self.enable_sni and self.type != "SSL_GET":
            raise ValueError("enable_sni is an SSL_GET option; plain HTTP has no SNI")
        return self


class RealServer(Model):
    """A machine behind the director. ``port`` defaults to the virtual service's port.

    Behind a fwmark service a real server has no port: each packet keeps its own.
    """

    address: IPAddress
    port: Port | None = None
    weight: Annotated[int, Field(ge=0, le=65535)] = 1
    check: Check | None = None


class Persistence(Model):
    """Send one client to the same real server for ``timeout`` seconds (ipvsadm -p)."""

    timeout: Annotated[int, Field(ge=1)] = 300
    netmask: IPAddress | None = None


class SorryServer(Model):
    """Where keepalived sends clients when every real server is down."""

    address: IPAddress
    port: Port | None = None


Fwmark = Annotated[int, Field(ge=1, le=0xFFFFFFFF)]


class GroupMember(Model):
    """One entry of a virtual server group: a VIP and a port, a range of VIPs on one port,
    or a firewall mark. Each is one IPVS service with the group's settings and real servers.

    A range runs from ``address`` to ``last``, which differ only in the last byte (IPv4) or
    the last 16 bits (IPv6), as keepalived's ``192.0.2.10-20`` form requires.

    >>> GroupMember(address="192.0.2.10", last="192.0.2.12", port=80).spelled_out()
    ['192.0.2.10:80', '192.0.2.11:80', '192.0.2.12:80']
    """

    address: IPAddress | None = None
    last: IPAddress | None = None
    port: Port | None = None
    fwmark: Fwmark | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GroupMember:
        if self.fwmark is not None and (self.address or self.last or self.port):
            raise ValueError("a group member is a fwmark alone, or an address and a port")
        if self.fwmark is None and (self.address is None or self.port is None):
            raise ValueError("give the member an address and a port, or a fwmark")
        if self.address is not None and self.last is not None:
            span = int(self.last) - int(self.address)
            width = 0xFF if self.address.version == 4 else 0xFFFF
            if self.last.version != self.address.version or not 0 < span <= width - (
                int(self.address) & width
            ):
                raise ValueError(
                    f"the range {self.address} to {self.last} must rise within the last "
                    f"{'byte' if self.address.version == 4 else '16 bits'} of the address"
                )
        return self

    def endpoints(self) -> list[GroupMember]:
        """The member with its range spelled out: one member per address."""
        if self.address is None or self.last is None:
            return [self]
        first, last = int(self.address), int(self.last)
        return [
            GroupMember(address=ipaddress.ip_address(n), port=self.port)
            for n in range(first, last + 1)
        ]

    def spelled_out(self) -> list[str]:
        """How ipvsadm names each service of the member: ``IP:port`` or ``FWM n``."""
        return [member.endpoint for member in self.endpoints()]

    @property
    def endpoint(self) -> str:
        """``IP:port``, ``[IPv6]:port`` or ``FWM n`` as ipvsadm writes them; a range is
        ``FIRST-LAST:port``."""
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        hosts = [f"[{a}]" if a.version == 6 else str(a) for a in (self.address, self.last) if a]
        return f"{'-'.join(hosts)}:{self.port}"


class VirtualServerGroup(Model):
    """Several VIP:port pairs and marks served alike (keepalived's ``virtual_server_group``):
    one ``virtual_services`` entry with ``group`` set stands for them all, with one set of
    real servers and checks, so the checks run once rather than once per address."""

    name: Name
    members: Annotated[list[GroupMember], Field(min_length=1)]


class VirtualService(Model):
    """An IPVS virtual service: VIP:port, a firewall mark, or a virtual server group, and the
    real servers behind it."""

    name: Name
    address: IPAddress | None = None
    port: Port | None = None
    fwmark: Fwmark | None = None
    group: Name | None = None
    protocol: Protocol = "TCP"
    scheduler: Scheduler = "wlc"
    scheduler_flags: list[SchedulerFlag] = []
    forwarding: Forwarding = "NAT"
    persistence: Persistence | None = None
    quorum: Annotated[int, Field(ge=1)] | None = None
    virtualhost: str | None = None
    delay_loop: Annotated[Seconds, Field(gt=0)] = 60
    real_servers: list[RealServer] = []
    sorry_server: SorryServer | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_real_server_ports(cls, data: object) -> object:
        """A real server's port defaults to the service's, as in ``ipvsadm -a -r IP``."""
        if isinstance(data, dict) and isinstance(data.get("real_servers"), list):
            port = data.get("port")
            data = dict(data)
            data["real_servers"] = [
                {**rs, "port": rs.get("port", port)} if isinstance(rs, dict) else rs
                for rs in data["real_servers"]
            ]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> VirtualService:
        kinds = [self.address is not None or self.port is not None, self.fwmark is not None,
                 self.group is not None]  # fmt: skip
        if kinds.count(True) != 1 or (kinds[0] and (self.address is None or self.port is None)):
            raise ValueError("give either address and port, or fwmark, or group")
        if self.fwmark is not None and any(rs.port is not None for rs in self.real_servers):
            raise ValueError(
                "real servers of a fwmark service keep each packet's own port; remove their port"
            )
        if self.port is None and any(
            rs.check is not None and rs.check.connect_port is None and rs.port is None
            for rs in self.real_servers
        ):
            raise ValueError(
                "a check behind a fwmark or group service has no port to connect to; give the "
                "check a connect_port (or, in a group, the real server a port)"
            )
        if self.forwarding != "NAT" and any(
            rs.port != self.port for rs in self.real_servers if self.port is not None
        ):
            raise ValueError(
                f"{self.forwarding} forwarding cannot change the port; only NAT "
                "rewrites packets, so give real servers the service's port"
            )
        return self

    @property
    def endpoint(self) -> str:
        """How ipvsadm names the service: ``IP:port``, ``[IPv6]:port`` or ``FWM n``; a group
        service is ``group NAME``, since it is several IPVS services."""
        if self.group is not None:
            return f"group {self.group}"
        return self.own_member().endpoint

    def own_member(self) -> GroupMember:
        """The service's own address and port, or mark, as a group member (not for groups)."""
        return GroupMember(address=self.address, port=self.port, fwmark=self.fwmark)


class Notification(Model):
    """Where keepalived mails state changes and real servers coming and going."""

    email: list[str] = []
    email_from: str | None = None
    smtp_server: IPAddress
    smtp_connect_timeout: Annotated[int, Field(ge=1)] = 30


class AllowRule(Model):
    """An extra port the director's firewall opens on its external side."""

    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"
    sources: list[IPNetwork] = []


class Firewall(Model):
    """What the directors' firewalls let in besides the services, VRRP and NAT forwarding."""

    backend: Literal["nftables", "iptables"] = "nftables"
    ssh_port: Port = 22
    ssh_sources: list[IPNetwork] = []
    allow: list[AllowRule] = []


class ClusterSpec(Model):
    """A whole director cluster; load it with :func:`cluster.spec.load_spec`."""

    name: Name
    description: str = ""
    #: Who programs the IPVS table: keepalived's checkers, or ``cluster apply`` over netlink.
    ipvs: Literal["keepalived", "direct"] = "keepalived"
    directors: Annotated[list[Director], Field(min_length=1)]
    vrrp: Vrrp = Vrrp()
    virtual_server_groups: list[VirtualServerGroup] = []
    virtual_services: list[VirtualService] = []
    notification: Notification | None = None
    firewall: Firewall = Firewall()

    def director(self, name: str) -> Director | None:
        return next((d for d in self.directors if d.name == name), None)

    def members(self, service: VirtualService) -> list[GroupMember]:
        """What ``service`` listens on, one member per IPVS service: its own address and
        port (or mark), or its group's members with each range spelled out (none when the
        group is not defined, which validation reports)."""
        if service.group is None:
            return [service.own_member()]
        group = next((g for g in self.virtual_server_groups if g.name == service.group), None)
        return [one for member in group.members for one in member.endpoints()] if group else []

    def master(self) -> Director:
        """The director that starts as VRRP master: the highest priority wins the election."""
        return max(self.directors, key=lambda d: d.priority)

    def master_of(self, instance: str) -> Director:
        """The director that wins ``instance``'s election: its highest priority there."""
        return max(self.directors, key=lambda d: d.priority_for(instance))
