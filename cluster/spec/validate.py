"""Rules that relate several parts of a cluster spec: the checks a reviewer would make.

Each rule is a small generator of :class:`Problem`; :func:`validate_spec` runs them all, so
adding a rule is adding one function to ``RULES``. A rule finds the line of what it blames
through ``locate``, a function from a path in the spec (``("directors", 1, "priority")``) to a
:class:`Location`, so the rules never see YAML.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence

from cluster.errors import Location, Problem
from cluster.spec.model import ClusterSpec

Locate = Callable[[Sequence[str | int]], Location]
Rule = Callable[[ClusterSpec, Locate], Iterator[Problem]]


def validate_spec(spec: ClusterSpec, locate: Locate) -> list[Problem]:
    """Every problem found by every rule, in file order."""
    return sorted((p for rule in RULES for p in rule(spec, locate)), key=lambda p: p.location)


def _unique_names(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    groups: list[tuple[str, list[str]]] = [
        ("directors", [d.name for d in spec.directors]),
        ("vrrp.instances", [i.name for i in spec.vrrp.instances]),
        ("vrrp.sync_groups", [g.name for g in spec.vrrp.sync_groups]),
        ("virtual_services", [v.name for v in spec.virtual_services]),
        ("virtual_server_groups", [g.name for g in spec.virtual_server_groups]),
    ]
    for where, names in groups:
        for index, name in enumerate(names):
            if names.index(name) != index:
                path = [*where.split("."), index, "name"]
                yield Problem(
                    locate(path),
                    f"{where} name {name!r} is used twice",
                    fix="give each one its own name",
                )
    ids = [d.router_id for d in spec.directors]
    for index, router_id in enumerate(ids):
        if ids.index(router_id) != index:
            yield Problem(
                locate(["directors", index, "router_id"]),
                f"router_id {router_id!r} is used by two directors",
                fix="router_id names the director in mails and logs; make it unique",
            )


def _priorities(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """Each election needs one clear winner, and 255 belongs to the addresses' owner."""
    found: dict[tuple[tuple[str | int, ...], str], Problem] = {}
    per_instance = any(director.priorities for director in spec.directors)
    for name in [instance.name for instance in spec.vrrp.instances] or [None]:
        where = f" for {name}" if per_instance and name else ""
        by_priority: defaultdict[int, list[int]] = defaultdict(list)
        for index, director in enumerate(spec.directors):
            by_priority[director.priority_for(name) if name else director.priority].append(index)
        for priority, indexes in by_priority.items():
            for index in indexes:
                path = _priority_path(spec, index, name)
                if index != indexes[0]:
                    message = (
                        f"priority {priority}{where} equals {spec.directors[indexes[0]].name}'s, "
                        "so the election falls to the higher IP address and the master is an "
                        "accident of addressing"
                    )
                    found[(tuple(path), message)] = Problem(
                        locate(path), message, fix="give the intended backup a lower priority, "
                        "e.g. 50")  # fmt: skip
                if priority == 255:
                    message = (
                        f"priority 255{where} is reserved for the owner of the virtual addresses"
                    )
                    found[(tuple(path), message)] = Problem(
                        locate(path), message, fix="use 254 or less; the VIPs are not this "
                        "director's own addresses")  # fmt: skip
    yield from found.values()


def _priority_path(spec: ClusterSpec, index: int, instance: str | None) -> list[str | int]:
    """Where a director's priority for ``instance`` is written: its override, or its own."""
    if instance is not None and instance in spec.directors[index].priorities:
        return ["directors", index, "priorities", instance]
    return ["directors", index, "priority"]


def _instance_interfaces(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """Every director must have every interface an instance uses, tracks or puts a VIP on."""
    for i, instance in enumerate(spec.vrrp.instances):
        used: list[tuple[list[str | int], str]] = [(["interface"], instance.interface)]
        used += [
            (["track_interfaces", n], name) for n, name in enumerate(instance.track_interfaces)
        ]
        used += [
            (["vip_options", vip, "dev"], options.dev)
            for vip, options in instance.vip_options.items()
            if options.dev is not None
        ]
        for key, name in used:
            path = ["vrrp", "instances", i, *key]
            if key[0] == "track_interfaces" and name == instance.interface:
                yield Problem(
                    locate(path),
                    f"{instance.name} already watches its own interface {name}; "
                    "keepalived ignores this entry and `keepalived -t` exits 5",
                    fix="track only the director's other links",
                )
            for director in spec.directors:
                if director.interface(name) is None:
                    yield Problem(
                        locate(path),
                        f"{instance.name} uses interface {name}, which {director.name} "
                        "does not have",
                        fix=f"add {name} to {director.name}'s interfaces or use one of "
                        f"{', '.join(x.name for x in director.interfaces)}",
                    )


def _vips_on_subnet(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """A VIP outside its interface's subnets has no route to the clients that should use it."""
    for i, instance in enumerate(spec.vrrp.instances):
        for j, vip in enumerate(instance.virtual_ipaddresses):
            for director in spec.directors:
                interface = director.interface(instance.interface)
                if interface is None or not interface.addresses:
                    continue
                if not any(vip.ip in a.network for a in interface.addresses):
                    nets = ", ".join(str(a.network) for a in interface.addresses)
                    yield Problem(
                        locate(["vrrp", "instances", i, "virtual_ipaddresses", j]),
                        f"VIP {vip.ip} is outside {director.name}'s {interface.name} subnet {nets}",
                        fix=f"pick an address in {nets}, or put the instance on the interface "
                        "that faces the VIP's clients",
                    )


def _router_ids_per_segment(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """Two VRRP routers with one virtual_router_id on one segment fight over one MAC address.

    IPv4 and IPv6 routers are apart (VRRP's MAC addresses differ per family, and keepalived
    counts ids per address family), so they may share an id.
    """
    seen: dict[tuple[str, int, int], str] = {}
    for i, instance in enumerate(spec.vrrp.instances):
        segments = {
            iface.segment
            for d in spec.directors
            if (iface := d.interface(instance.interface)) is not None
        }
        family = instance.virtual_ipaddresses[0].version
        for segment in sorted(segments):
            key = (segment, instance.virtual_router_id, family)
            if key in seen and seen[key] != instance.name:
                yield Problem(
                    locate(["vrrp", "instances", i, "virtual_router_id"]),
                    f"virtual_router_id {instance.virtual_router_id} is already used by "
                    f"{seen[key]} on segment {segment}",
                    fix="give every VRRP instance on a segment its own id (1-255)",
                )
            seen.setdefault(key, instance.name)


def _advert_int(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    for i, instance in enumerate(spec.vrrp.instances):
        where = locate(["vrrp", "instances", i, "advert_int"])
        if instance.version == 2 and instance.advert_int != int(instance.advert_int):
            yield Problem(
                where,
                f"VRRPv2 counts advert_int in whole seconds; "
                f"{instance.advert_int} would be rounded up",
                fix="use version: 3 for sub-second adverts, or a whole number",
            )
        if instance.version == 3 and (
            instance.advert_int > 40.95
            or round(instance.advert_int * 100) != instance.advert_int * 100
        ):
            yield Problem(
                where,
                f"VRRPv3 advert_int is 0.01 to 40.95 s in steps of 0.01, not {instance.advert_int}",
                fix="round it to centiseconds, at most 40.95",
            )
        if instance.version == 3 and instance.auth is not None:
            yield Problem(
                locate(["vrrp", "instances", i, "auth"]),
                "VRRPv3 has no authentication",
                fix="remove auth; filter VRRP with the firewall, which the rendered rule sets do",
            )


def _sync_groups(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    known = {instance.name for instance in spec.vrrp.instances}
    membership: Counter[str] = Counter()
    for g, group in enumerate(spec.vrrp.sync_groups):
        for k, name in enumerate(group.instances):
            membership[name] += 1
            if name not in known:
                yield Problem(
                    locate(["vrrp", "sync_groups", g, "instances", k]),
                    f"sync group {group.name} names unknown instance {name!r}",
                    fix=f"use one of {', '.join(sorted(known)) or '(none defined)'}",
                )
            elif membership[name] == 2:
                yield Problem(
                    locate(["vrrp", "sync_groups", g, "instances", k]),
                    f"instance {name} is in two sync groups",
                    fix="an instance can follow only one group",
                )
        if len(group.instances) == 1:
            yield Problem(
                locate(["vrrp", "sync_groups", g]),
                f"sync group {group.name} has one instance and syncs nothing",
                severity="warning",
                fix="add the instance it must move with",
            )
    scripts = {script.name for script in spec.vrrp.scripts}
    for i, instance in enumerate(spec.vrrp.instances):
        for k, name in enumerate(instance.track_scripts):
            if name not in scripts:
                yield Problem(
                    locate(["vrrp", "instances", i, "track_scripts", k]),
                    f"instance {instance.name} tracks unknown script {name!r}",
                    fix=f"define it under vrrp.scripts ({', '.join(sorted(scripts)) or 'none'})",
                )
    sync = spec.vrrp.sync_daemon
    if sync is not None and sync.instance not in known:
        yield Problem(
            locate(["vrrp", "sync_daemon", "instance"]),
            f"sync_daemon follows unknown instance {sync.instance!r}",
            fix=f"use one of {', '.join(sorted(known)) or '(none defined)'}",
        )
    for director in spec.directors if sync is not None else ():
        if director.interface(sync.interface) is None:
            yield Problem(
                locate(["vrrp", "sync_daemon", "interface"]),
                f"director {director.name} has no interface {sync.interface!r} to sync on",
                fix="name one of the directors' interfaces, usually the internal one",
            )


def _virtual_services(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    vips = {vip.ip for inst in spec.vrrp.instances for vip in inst.virtual_ipaddresses}
    endpoints: dict[tuple[str, str], str] = {}
    director_nets = [a.network for d in spec.directors for i in d.interfaces for a in i.addresses]
    for v, service in enumerate(spec.virtual_services):
        here = ["virtual_services", v]
        key_path = [*here, "group" if service.group else "port" if service.port else "fwmark"]
        for member in spec.members(service):
            protocol = "" if member.fwmark else f"{service.protocol} "
            key = (protocol, member.endpoint)
            if key in endpoints:
                yield Problem(
                    locate(key_path),
                    f"{protocol}{member.endpoint} is already virtual service {endpoints[key]}",
                    fix="merge the two services",
                )
            endpoints.setdefault(key, service.name)
            if member.address is not None and vips and member.address not in vips:
                yield Problem(
                    locate([*here, "group" if service.group else "address"]),
                    f"{member.address} is not a VRRP virtual address, so it stays put "
                    "when the directors fail over",
                    severity="warning",
                    fix="add it to a vrrp instance's virtual_ipaddresses",
                )
        for f, flag in enumerate(service.scheduler_flags):
            if not flag.startswith(service.scheduler + "-"):
                yield Problem(
                    locate([*here, "scheduler_flags", f]),
                    f"{flag} is read only by the {flag[:2]} scheduler, not {service.scheduler}",
                    fix=f"remove it or use scheduler: {flag[:2]}",
                )
        netmask = service.persistence.netmask if service.persistence else None
        if netmask is not None and any(
            m.address is not None and m.address.version != netmask.version
            for m in spec.members(service)
        ):
            yield Problem(
                locate([*here, "persistence", "netmask"]),
                "the persistence netmask is not of the service's address family",
                fix="use a mask such as 255.255.255.0 (IPv4) or 64 (IPv6)",
            )
        if service.quorum is not None and service.quorum > sum(
            rs.weight for rs in service.real_servers
        ):
            yield Problem(
                locate([*here, "quorum"]),
                f"quorum {service.quorum} exceeds the real servers' total weight, so "
                "the service is never up",
                fix="lower the quorum",
            )
        seen: set[tuple[str, int | None]] = set()
        for r, server in enumerate(service.real_servers):
            rs_key = (str(server.address), server.port)
            if rs_key in seen:
                yield Problem(
                    locate([*here, "real_servers", r]),
                    f"real server {server.address}:{server.port} is listed twice",
                    fix="list each real server once; use weight for a bigger share",
                )
            seen.add(rs_key)
            if (
                service.forwarding == "NAT"
                and director_nets
                and not any(server.address in net for net in director_nets)
            ):
                yield Problem(
                    locate([*here, "real_servers", r, "address"]),
                    f"NAT real server {server.address} is on no director subnet, so "
                    "its replies would not come back through the director",
                    fix="put it on the internal segment, behind the DIP",
                )
            if server.check is None:
                yield Problem(
                    locate([*here, "real_servers", r]),
                    f"real server {server.address} has no health check, so keepalived "
                    "keeps sending clients to it when it is down",
                    severity="warning",
                    fix="add a check (TCP_CHECK at least)",
                )


def _virtual_server_groups(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """A group service names a group that exists; a group serves some service."""
    names = [group.name for group in spec.virtual_server_groups]
    used = {service.group for service in spec.virtual_services}
    for v, service in enumerate(spec.virtual_services):
        if service.group is not None and service.group not in names:
            yield Problem(
                locate(["virtual_services", v, "group"]),
                f"virtual service {service.name} uses unknown group {service.group!r}",
                fix=f"define it under virtual_server_groups ({', '.join(names) or 'none yet'})",
            )
    for g, name in enumerate(names):
        if name not in used:
            yield Problem(
                locate(["virtual_server_groups", g, "name"]),
                f"virtual server group {name} is used by no virtual service, so nothing "
                "listens on its addresses",
                severity="warning",
                fix=f"add a virtual service with 'group: {name}', or delete the group",
            )


def _notification(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    if spec.notification is not None and not spec.notification.email:
        yield Problem(
            locate(["notification"]),
            "notification has an smtp_server but no email",
            severity="warning",
            fix="add 'email: [admin@example.org]'",
        )


def _director_instances(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """A director's per-instance settings must name instances that exist."""
    known = sorted(instance.name for instance in spec.vrrp.instances)
    for d, director in enumerate(spec.directors):
        for key, names in (("states", director.states), ("priorities", director.priorities),
                           ("unicast_src_ips", director.unicast_src_ips)):  # fmt: skip
            for name in names:
                if name not in known:
                    yield Problem(
                        locate(["directors", d, key, name]),
                        f"{director.name}'s {key} names unknown instance {name!r}",
                        fix=f"use one of {', '.join(known) or '(none defined)'}",
                    )


def _unicast(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """Unicast adverts reach only the listed peers, so every director must be one of them.

    keepalived refuses unicast in strict mode, and skips a peer or source address of the
    other address family than the instance's VIPs.
    """
    for i, instance in enumerate(spec.vrrp.instances):
        here = ["vrrp", "instances", i]
        family = instance.virtual_ipaddresses[0].version
        sources = [
            (["directors", d, "unicast_src_ips", instance.name], address)
            for d, director in enumerate(spec.directors)
            if (address := director.unicast_src_ips.get(instance.name)) is not None
        ]
        for path, address in [
            *((["unicast_peers", p], peer) for p, peer in enumerate(instance.unicast_peers)),
            *sources,
        ]:
            if address.version != family:
                yield Problem(
                    locate(path if path[0] == "directors" else [*here, *path]),
                    f"{address} is not IPv{family} like {instance.name}'s VIPs; keepalived "
                    "skips it",
                    fix=f"use the director's IPv{family} address on {instance.interface}",
                )
        for p, peer in enumerate(instance.unicast_peers):
            if instance.unicast_peers.index(peer) != p:
                yield Problem(
                    locate([*here, "unicast_peers", p]),
                    f"unicast peer {peer} is listed twice",
                    fix="list each director's address once",
                )
        if not instance.unicast_peers:
            for path, address in sources:
                yield Problem(
                    locate(path),
                    f"{instance.name} has no unicast_peers, so it sends multicast adverts and "
                    f"the unicast source {address} is not used",
                    severity="warning",
                    fix="add the directors' addresses to the instance's unicast_peers, or "
                    "delete this line",
                )
            continue
        if spec.vrrp.strict:
            yield Problem(
                locate([*here, "unicast_peers"]),
                f"{instance.name} has unicast_peers, which keepalived refuses in strict mode "
                "(vrrp.strict)",
                fix="drop vrrp.strict, or use multicast (no unicast_peers)",
            )
        for d in range(len(spec.directors)):
            yield from _unicast_director(spec, locate, i, d)


def _unicast_director(spec: ClusterSpec, locate: Locate, i: int, d: int) -> Iterator[Problem]:
    """One director of a unicast instance: it has someone to send to, sends from an address
    it has, and is among the peers the others send to."""
    instance, director = spec.vrrp.instances[i], spec.directors[d]
    interface = director.interface(instance.interface)
    addresses = {a.ip for a in interface.addresses} if interface else set()
    source = director.unicast_src_ips.get(instance.name)
    if source is not None and addresses and source not in addresses:
        yield Problem(
            locate(["directors", d, "unicast_src_ips", instance.name]),
            f"{director.name} has no address {source} on {instance.interface} to send "
            f"{instance.name}'s adverts from",
            fix=f"use one of {', '.join(sorted(map(str, addresses)))}",
        )
    if not instance.peers_of(director):
        yield Problem(
            locate(["vrrp", "instances", i, "unicast_peers"]),
            f"every unicast peer of {instance.name} is {director.name}'s own address, so it "
            "has no one to send adverts to",
            fix="list the other directors' addresses on the link too",
        )
    own = director.own_addresses(instance)
    if len(spec.directors) > 1 and own and not own & set(instance.unicast_peers):
        yield Problem(
            locate(["vrrp", "instances", i, "unicast_peers"]),
            f"none of {director.name}'s addresses on {instance.interface} is a unicast peer "
            f"of {instance.name}, so no other director sends it adverts and both become master",
            fix=f"add {director.name}'s address ({', '.join(sorted(map(str, own)))})",
        )


def _ipv6_vips_need_v3(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    for i, instance in enumerate(spec.vrrp.instances):
        has_v6 = any(isinstance(v, ipaddress.IPv6Interface) for v in instance.virtual_ipaddresses)
        if has_v6 and instance.version == 2:
            yield Problem(
                locate(["vrrp", "instances", i, "version"]),
                "VRRPv2 carries only IPv4 addresses",
                fix="use version: 3 for IPv6",
            )


def _one_family_per_instance(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """keepalived keeps the family of an instance's first address and ignores VIPs of the
    other, so a dual-stack VIP needs an instance per family."""
    for i, instance in enumerate(spec.vrrp.instances):
        family = instance.virtual_ipaddresses[0].version
        for j, vip in enumerate(instance.virtual_ipaddresses):
            if vip.version != family:
                yield Problem(
                    locate(["vrrp", "instances", i, "virtual_ipaddresses", j]),
                    f"{instance.name} is an IPv{family} instance; keepalived ignores its "
                    f"IPv{vip.version} address {vip}",
                    fix=f"move {vip} to a VRRP instance of its own (version: 3), in the same "
                    "sync group",
                )


def _ipv6_link_locals(spec: ClusterSpec, locate: Locate) -> Iterator[Problem]:
    """IPv6 adverts come from link-local addresses. Only those the spec lists can the peers'
    firewalls admit alone; without them, any host's link-local address on the link passes."""
    for instance in spec.vrrp.instances:
        if instance.unicast_peers or instance.virtual_ipaddresses[0].version != 6:
            continue
        for d, director in enumerate(spec.directors):
            interface = director.interface(instance.interface)
            if len(spec.directors) > 1 and interface and not director.link_local(instance):
                yield Problem(
                    locate(["directors", d, "interfaces",
                            director.interfaces.index(interface), "addresses"]),
                    f"{director.name} lists no link-local address on {interface.name}, where "
                    f"{instance.name} sends IPv6 adverts from one, so the other directors' "
                    "firewalls admit VRRP from any host's link-local address there",
                    severity="warning",
                    fix=f"give {interface.name} a fixed link-local address (such as "
                    "fe80::1/64), here and on the host",
                )  # fmt: skip


RULES: tuple[Rule, ...] = (
    _unique_names,
    _priorities,
    _instance_interfaces,
    _vips_on_subnet,
    _router_ids_per_segment,
    _advert_int,
    _sync_groups,
    _virtual_services,
    _virtual_server_groups,
    _notification,
    _ipv6_vips_need_v3,
    _one_family_per_instance,
    _ipv6_link_locals,
    _director_instances,
    _unicast,
)
