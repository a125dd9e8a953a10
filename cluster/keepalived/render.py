"""Render one keepalived.conf per director from the cluster spec.

As the 2007 article notes, the directors' files differ only in ``state``, ``router_id`` and
``priority``; everything else comes from the shared spec, so the pair cannot drift apart.
The output uses today's keywords (``lvs_sched``/``lvs_method``, ``retry``) and the
script-security settings that work on Debian (``enable_script_security`` with
``script_user root``, as Debian ships no ``keepalived_script`` user).

>>> from cluster.spec import load_seed_spec
>>> conf = render_keepalived_conf(load_seed_spec(), "director02")
>>> [line.strip() for line in conf.splitlines() if "state" in line or "priority" in line]
['state BACKUP', 'priority 50', 'state BACKUP', 'priority 50']
>>> "nb_get_retry" in conf or "nat_mask" in conf
False
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cluster.errors import UsageError
from cluster.spec.becomes import garp_keyword
from cluster.spec.model import (
    Check,
    ClusterSpec,
    Director,
    GroupMember,
    Notify,
    RealServer,
    TrackScript,
    VirtualServerGroup,
    VirtualService,
    VrrpInstance,
)

INDENT = "  "


class Block:
    """A keepalived.conf block being built: ``keyword args {`` ... ``}``."""

    def __init__(self, head: str) -> None:
        self.head = head
        self.items: list[str | Block] = []

    def add(self, keyword: str, *args: object) -> Block:
        self.items.append(" ".join([keyword, *map(str, args)]))
        return self

    def block(self, head: str) -> Block:
        child = Block(head)
        self.items.append(child)
        return child

    def list_block(self, head: str, words: Iterable[object]) -> None:
        child = self.block(head)
        for word in words:
            child.add(str(word))

    def lines(self, depth: int = 0) -> Iterator[str]:
        yield f"{INDENT * depth}{self.head} {{"
        for item in self.items:
            if isinstance(item, Block):
                yield from item.lines(depth + 1)
            else:
                yield f"{INDENT * (depth + 1)}{item}"
        yield f"{INDENT * depth}}}"


def render_keepalived_conf(
    spec: ClusterSpec, director_name: str, notify_fifo: str | None = None
) -> str:
    """The complete keepalived.conf for one director of ``spec``.

    ``notify_fifo`` is where the running daemon should report VRRP state changes; it is a
    property of a deployment (see :mod:`cluster.keepalived.daemon`), not of the cluster.
    """
    director = spec.director(director_name)
    if director is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"no director {director_name!r} in spec {spec.name!r}; use one of {names}")
    blocks = [_global_defs(spec, director, notify_fifo)]
    blocks += [_vrrp_script(script) for script in spec.vrrp.scripts]
    blocks += [
        _sync_group(group.name, group.instances, group.notify) for group in spec.vrrp.sync_groups
    ]
    blocks += [_vrrp_instance(spec, director, instance) for instance in spec.vrrp.instances]
    if spec.ipvs == "keepalived":
        blocks += [_group(group) for group in spec.virtual_server_groups]
        blocks += [_virtual_server(service) for service in spec.virtual_services]
    header = [
        f"! keepalived.conf for {director.name} of cluster {spec.name!r}.",
        "! Rendered by `cluster render`; change the spec and render again rather than edit.",
    ]
    if spec.ipvs == "direct":
        header.append("! ipvs: direct -- `cluster apply` programs IPVS; keepalived does VRRP only.")
    body = "\n\n".join("\n".join(block.lines()) for block in blocks)
    return "\n".join(header) + "\n\n" + body + "\n"


def _global_defs(spec: ClusterSpec, director: Director, notify_fifo: str | None) -> Block:
    block = Block("global_defs")
    block.add("router_id", director.router_id)
    # Scripts stay runnable and keepalived -t stays quiet only with both lines on Debian.
    # They come first: keepalived looks the default script user up at notify_fifo already,
    # and logs "Script user 'keepalived_script' does not exist" if script_user comes later.
    block.add("enable_script_security")
    block.add("script_user", "root")
    sync = spec.vrrp.sync_daemon
    if sync is not None:
        # keepalived 2.x reads it here; in a vrrp_instance it is deprecated (keepalived -t)
        block.add("lvs_sync_daemon", sync.interface, sync.instance,
                  *(() if sync.id is None else ("id", sync.id)))  # fmt: skip
    if spec.vrrp.strict:
        block.add("vrrp_strict")
    garp = spec.vrrp.garp
    for field, value in garp.model_dump(exclude_none=True).items() if garp else ():
        block.add(garp_keyword(field), _number(value))
    if notify_fifo is not None:
        block.add("notify_fifo", notify_fifo)
    if spec.notification is not None:
        mail = spec.notification
        if mail.email:
            block.list_block("notification_email", mail.email)
        if mail.email_from:
            block.add("notification_email_from", mail.email_from)
        block.add("smtp_server", mail.smtp_server)
        block.add("smtp_connect_timeout", mail.smtp_connect_timeout)
        block.add("smtp_alert")
    return block


def _vrrp_script(script: TrackScript) -> Block:
    block = Block(f"vrrp_script {script.name}")
    block.add("script", _quoted(script.script))
    block.add("interval", _number(script.interval))
    if script.timeout is not None:
        block.add("timeout", _number(script.timeout))
    block.add("fall", script.fall)
    block.add("rise", script.rise)
    block.add("weight", script.weight)
    return block


def _sync_group(name: str, instances: list[str], notify: Notify) -> Block:
    block = Block(f"vrrp_sync_group {name}")
    block.list_block("group", instances)
    _add_notify(block, notify)
    return block


def _vrrp_instance(spec: ClusterSpec, director: Director, instance: VrrpInstance) -> Block:
    # The master is decided by priority; "state" is only where each director starts.
    # keepalived clears a MASTER start with nopreempt or AH auth, and -t says so.
    is_master = (
        director is spec.master_of(instance.name)
        and not instance.nopreempt
        and (instance.auth is None or instance.auth.type != "AH")
    )
    block = Block(f"vrrp_instance {instance.name}")
    block.add("state", director.states.get(instance.name, "MASTER" if is_master else "BACKUP"))
    block.add("interface", instance.interface)
    block.add("virtual_router_id", instance.virtual_router_id)
    block.add("priority", director.priority_for(instance.name))
    block.add("advert_int", _number(instance.advert_int))
    if instance.version == 3:
        block.add("version", 3)
    if instance.nopreempt:
        block.add("nopreempt")
    if instance.auth is not None:
        auth = block.block("authentication")
        auth.add("auth_type", instance.auth.type)
        auth.add("auth_pass", instance.auth.password)
    if instance.track_interfaces:
        tracked = _weighted(instance.track_interfaces, instance.track_interface_weights)
        block.list_block("track_interface", tracked)
    if instance.track_scripts:
        block.list_block(
            "track_script", _weighted(instance.track_scripts, instance.track_script_weights)
        )
    if instance.unicast_peers:
        if (source := director.unicast_src_ips.get(instance.name)) is not None:
            block.add("unicast_src_ip", source)
        block.list_block("unicast_peer", instance.peers_of(director))
    elif (source := director.link_local(instance)) is not None:
        # IPv6 adverts leave from a link-local address; from the one the spec names, the
        # peers' firewalls admit them (an interface has others of its own)
        block.add("mcast_src_ip", source)
    block.list_block(
        "virtual_ipaddress", [_vip(instance, vip) for vip in instance.virtual_ipaddresses]
    )
    _add_notify(block, instance.notify)
    return block


def _virtual_server(service: VirtualService) -> Block:
    if service.group is not None:
        head = f"virtual_server group {service.group}"
    elif service.fwmark is not None:
        head = f"virtual_server fwmark {service.fwmark}"
    else:
        head = f"virtual_server {service.address} {service.port}"
    block = Block(head)
    block.add("delay_loop", _number(service.delay_loop))
    block.add("lvs_sched", service.scheduler)
    for flag in service.scheduler_flags:
        block.add(flag)
    block.add("lvs_method", service.forwarding)
    if service.fwmark is None:  # the mark already selected the packets; keepalived warns
        block.add("protocol", service.protocol)
    if service.persistence is not None:
        block.add("persistence_timeout", service.persistence.timeout)
        if service.persistence.netmask is not None:
            block.add("persistence_granularity", service.persistence.netmask)
    if service.quorum is not None:
        block.add("quorum", service.quorum)
    if service.virtualhost:
        block.add("virtualhost", service.virtualhost)
    if service.sorry_server is not None:
        sorry = service.sorry_server
        block.add("sorry_server", sorry.address, *(() if sorry.port is None else (sorry.port,)))
    for server in service.real_servers:
        block.items.append(_real_server(server))
    return block


def _real_server(server: RealServer) -> Block:
    port = "" if server.port is None else f" {server.port}"
    block = Block(f"real_server {server.address}{port}")
    block.add("weight", server.weight)
    if server.check is not None:
        block.items.append(_check(server.check))
    return block


def _check(check: Check) -> Block:
    block = Block(check.type)
    for url in check.urls:
        url_block = block.block("url")
        url_block.add("path", url.path)
        if url.digest:
            url_block.add("digest", url.digest.lower())
        if url.status_code is not None:
            url_block.add("status_code", url.status_code)
    block.add("connect_timeout", _number(check.connect_timeout))
    if check.connect_port is not None:
        block.add("connect_port", check.connect_port)
    if check.retry is not None:
        block.add("retry", check.retry)
    if check.delay_before_retry is not None:
        block.add("delay_before_retry", _number(check.delay_before_retry))
    if check.delay_loop is not None:
        block.add("delay_loop", _number(check.delay_loop))
    if check.virtualhost:
        block.add("virtualhost", check.virtualhost)
    if check.enable_sni:
        block.add("enable_sni")
    return block


def _group(group: VirtualServerGroup) -> Block:
    block = Block(f"virtual_server_group {group.name}")
    for member in group.members:
        block.add(_member(member))
    return block


def _member(member: GroupMember) -> str:
    """A virtual_server_group line: ``fwmark N``, ``IP PORT`` or ``FIRST-LAST PORT``, where
    LAST is the range's last byte (IPv4) or last 16 bits in hex (IPv6), as keepalived reads
    it."""
    if member.fwmark is not None:
        return f"fwmark {member.fwmark}"
    last = ""
    if member.address is not None and member.last is not None:
        end = int(member.last) & (0xFF if member.address.version == 4 else 0xFFFF)
        last = f"-{end}" if member.address.version == 4 else f"-{end:x}"
    return f"{member.address}{last} {member.port}"


def _vip(instance: VrrpInstance, vip: object) -> str:
    """A VIP line: the address, then its dev/label/scope/brd when the spec gives them."""
    options = instance.vip_options.get(str(vip))
    words = options.model_dump(exclude_none=True).items() if options else ()
    return " ".join([str(vip), *(f"{key} {value}" for key, value in words)])


def _weighted(names: list[str], weights: dict[str, int]) -> list[str]:
    """Tracked names, each with ``weight N`` where the spec gives one."""
    return [f"{name} weight {weights[name]}" if name in weights else name for name in names]


def _add_notify(block: Block, notify: Notify) -> None:
    for state in ("master", "backup", "fault", "stop"):
        script = getattr(notify, state)
        if script:
            block.add(f"notify_{state}", _quoted(script))
    if notify.any:
        block.add("notify", _quoted(notify.any))


def _number(value: float) -> str:
    """keepalived reads ``5`` and ``0.1``; Python would print ``5.0``."""
    return f"{value:g}"


def _quoted(script: str) -> str:
    """A script with arguments is one quoted word to keepalived."""
    return f'"{script}"' if " " in script else script
