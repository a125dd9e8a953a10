"""What each field of the cluster spec becomes on a director: the keepalived.conf keyword
it is rendered as, or, for the fields keepalived never sees, the part of the director they
set up (firewall, sysctls, the lab, the IPVS table).

An operator who knows keepalived.conf reads the spec through this table, and the reference
page of the spec schema is generated from it (``docs/hooks/spec_reference.py``). The test
``tests/test_docs.py::test_every_spec_field_says_what_it_becomes`` fails when a model field
has no entry here, or an entry names a keyword that keepalived 2.2.7 does not know in that
block (:data:`cluster.keepalived.keywords.GRAMMAR`).

>>> BECOMES["VrrpInstance.advert_int"]
Keyword(block='vrrp_instance', keyword='advert_int', note='')
>>> BECOMES["Firewall.ssh_port"].what
'the firewall: SSH is accepted on this port on every director'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cluster.keepalived.keywords import TOP


@dataclass(frozen=True)
class Keyword:
    """A keepalived.conf keyword, in the block (a key of the keyword grammar) it stands in;
    ``note`` says how the value is written when that is not simply the value."""

    block: str
    keyword: str
    note: str = ""


@dataclass(frozen=True)
class Elsewhere:
    """A field that is no keepalived keyword of its own, and what it sets up instead."""

    what: str


def _vrrp(keyword: str, note: str = "") -> Keyword:
    return Keyword("vrrp_instance", keyword, note)


def _global(keyword: str, note: str = "") -> Keyword:
    return Keyword("global_defs", keyword, note)


def _script(keyword: str) -> Keyword:
    return Keyword("vrrp_script", keyword)


def _server(keyword: str, note: str = "") -> Keyword:
    return Keyword("virtual_server", keyword, note)


def _real(keyword: str, note: str = "") -> Keyword:
    return Keyword("real_server", keyword, note)


def _check(keyword: str, note: str = "") -> Keyword:
    return Keyword("HTTP_GET", keyword, note)


_NOTIFY = "in each vrrp_instance and vrrp_sync_group that has it"

#: ``Class.field`` of :mod:`cluster.spec.model` → what it becomes.
BECOMES: Final[dict[str, Keyword | Elsewhere]] = {
    "ClusterSpec.name": Elsewhere("the first comment line of each keepalived.conf"),
    "ClusterSpec.description": Elsewhere("nothing on the director; for readers of the spec"),
    "ClusterSpec.ipvs": Elsewhere(
        "who programs IPVS: `keepalived` renders virtual_server blocks; `direct` renders none, "
        "starts keepalived with -P (VRRP only) and `cluster apply` programs the table"
    ),
    "ClusterSpec.directors": Elsewhere("one keepalived.conf per director (`--node`)"),
    "ClusterSpec.vrrp": Elsewhere("the VRRP blocks below"),
    "ClusterSpec.virtual_server_groups": Keyword(TOP, "virtual_server_group"),
    "ClusterSpec.virtual_services": Keyword(TOP, "virtual_server"),
    "ClusterSpec.notification": Elsewhere("the mail keywords of global_defs, below"),
    "ClusterSpec.firewall": Elsewhere("the director's firewall rules (nftables or iptables)"),
    "Director.name": Elsewhere("the `--node` that picks this director's keepalived.conf"),
    "Director.router_id": _global("router_id"),
    "Director.priority": _vrrp("priority", "in every instance without an entry in priorities"),
    "Director.interfaces": Elsewhere(
        "the firewall's and sysctls' interfaces, and the lab's links; not in keepalived.conf"
    ),
    "Director.states": _vrrp("state", "default: MASTER on the master, BACKUP elsewhere"),
    "Director.priorities": _vrrp("priority", "for the instance named"),
    "Director.unicast_src_ips": _vrrp("unicast_src_ip", "for the instance named"),
    "Interface.name": Elsewhere("an interface name: firewall rules and send_redirects"),
    "Interface.segment": Elsewhere("which directors share a link (validation, the lab)"),
    "Interface.addresses": Elsewhere(
        "the director's own addresses: the peer's VRRP adverts are accepted from them, "
        "and an IPv6 instance sends its adverts from the listed link-local (mcast_src_ip)"
    ),
    "Vrrp.scripts": Keyword(TOP, "vrrp_script"),
    "Vrrp.instances": Keyword(TOP, "vrrp_instance"),
    "Vrrp.sync_groups": Keyword(TOP, "vrrp_sync_group"),
    "Vrrp.sync_daemon": _global("lvs_sync_daemon"),
    "Vrrp.strict": _global("vrrp_strict"),
    "Vrrp.garp": Elsewhere("the vrrp_garp_* and vrrp_gna_interval keywords of global_defs"),
    "TrackScript.name": Keyword(TOP, "vrrp_script", "the block's name"),
    "TrackScript.script": _script("script"),
    "TrackScript.interval": _script("interval"),
    "TrackScript.timeout": _script("timeout"),
    "TrackScript.fall": _script("fall"),
    "TrackScript.rise": _script("rise"),
    "TrackScript.weight": _script("weight"),
    "VrrpInstance.name": Keyword(TOP, "vrrp_instance", "the block's name"),
    "VrrpInstance.interface": _vrrp("interface"),
    "VrrpInstance.virtual_router_id": _vrrp("virtual_router_id"),
    "VrrpInstance.advert_int": _vrrp("advert_int"),
    "VrrpInstance.version": _vrrp("version", "written only for 3"),
    "VrrpInstance.auth": _vrrp("authentication"),
    "VrrpInstance.virtual_ipaddresses": _vrrp("virtual_ipaddress"),
    "VrrpInstance.track_interfaces": _vrrp("track_interface"),
    "VrrpInstance.track_scripts": _vrrp("track_script"),
    "VrrpInstance.nopreempt": _vrrp("nopreempt"),
    "VrrpInstance.notify": Elsewhere("notify_master, notify_backup, ... in the vrrp_instance"),
    "VrrpInstance.track_interface_weights": _vrrp(
        "track_interface", "`weight N` after the interface's name"
    ),
    "VrrpInstance.track_script_weights": _vrrp("track_script", "`weight N` after the name"),
    "VrrpInstance.vip_options": _vrrp(
        "virtual_ipaddress", "`dev`, `label`, `scope`, `brd` after the VIP"
    ),
    "VrrpInstance.unicast_peers": _vrrp("unicast_peer", "all but this director's own"),
    "Auth.type": Keyword("authentication", "auth_type"),
    "Auth.password": Keyword("authentication", "auth_pass"),
    "Notify.master": _vrrp("notify_master", _NOTIFY),
    "Notify.backup": _vrrp("notify_backup", _NOTIFY),
    "Notify.fault": _vrrp("notify_fault", _NOTIFY),
    "Notify.stop": _vrrp("notify_stop", _NOTIFY),
    "Notify.any": _vrrp("notify", _NOTIFY),
    "VipOptions.dev": _vrrp("virtual_ipaddress", "`dev NAME` after the VIP"),
    "VipOptions.label": _vrrp("virtual_ipaddress", "`label NAME` after the VIP"),
    "VipOptions.scope": _vrrp("virtual_ipaddress", "`scope NAME` after the VIP"),
    "VipOptions.brd": _vrrp("virtual_ipaddress", "`brd ADDRESS` after the VIP"),
    "SyncGroup.name": Keyword(TOP, "vrrp_sync_group", "the block's name"),
    "SyncGroup.instances": Keyword("vrrp_sync_group", "group"),
    "SyncGroup.notify": Elsewhere("notify_master, notify_backup, ... in the vrrp_sync_group"),
    "SyncDaemon.interface": _global("lvs_sync_daemon", "its first argument"),
    "SyncDaemon.instance": _global("lvs_sync_daemon", "its second argument"),
    "SyncDaemon.id": _global("lvs_sync_daemon", "`id N` after the instance"),
    "Garp.master_delay": _global("vrrp_garp_master_delay"),
    "Garp.master_repeat": _global("vrrp_garp_master_repeat"),
    "Garp.master_refresh": _global("vrrp_garp_master_refresh"),
    "Garp.master_refresh_repeat": _global("vrrp_garp_master_refresh_repeat"),
    "Garp.lower_prio_delay": _global("vrrp_garp_lower_prio_delay"),
    "Garp.lower_prio_repeat": _global("vrrp_garp_lower_prio_repeat"),
    "Garp.interval": _global("vrrp_garp_interval"),
    "Garp.gna_interval": _global("vrrp_gna_interval"),
    "VirtualServerGroup.name": Keyword(TOP, "virtual_server_group", "the block's name"),
    "VirtualServerGroup.members": Keyword(TOP, "virtual_server_group", "one line each"),
    "GroupMember.address": Elsewhere("a virtual_server_group line: `IP PORT`"),
    "GroupMember.last": Elsewhere("a virtual_server_group line: `FIRST-LAST PORT`"),
    "GroupMember.port": Elsewhere("a virtual_server_group line: the PORT"),
    "GroupMember.fwmark": Elsewhere("a virtual_server_group line: `fwmark N`"),
    "VirtualService.name": Elsewhere("the name `cluster show` and `cluster status` use"),
    "VirtualService.address": Keyword(TOP, "virtual_server", "`virtual_server IP PORT`"),
    "VirtualService.port": Keyword(TOP, "virtual_server", "`virtual_server IP PORT`"),
    "VirtualService.fwmark": Keyword(TOP, "virtual_server", "`virtual_server fwmark N`"),
    "VirtualService.group": Keyword(TOP, "virtual_server", "`virtual_server group NAME`"),
    "VirtualService.protocol": _server("protocol", "not for fwmark services"),
    "VirtualService.scheduler": _server("lvs_sched"),
    "VirtualService.scheduler_flags": Elsewhere("ipvsadm -b flags (direct mode)"),
    "VirtualService.forwarding": _server("lvs_method"),
    "VirtualService.persistence": _server("persistence_timeout"),
    "VirtualService.quorum": _server("quorum"),
    "VirtualService.virtualhost": _server("virtualhost"),
    "VirtualService.delay_loop": _server("delay_loop"),
    "VirtualService.real_servers": _server("real_server"),
    "VirtualService.sorry_server": _server("sorry_server"),
    "Persistence.timeout": _server("persistence_timeout"),
    "Persistence.netmask": _server("persistence_granularity"),
    "SorryServer.address": _server("sorry_server", "`sorry_server IP PORT`"),
    "SorryServer.port": _server("sorry_server", "`sorry_server IP PORT`"),
    "RealServer.address": _server("real_server", "`real_server IP PORT`"),
    "RealServer.port": _server("real_server", "`real_server IP PORT`"),
    "RealServer.weight": _real("weight"),
    "RealServer.check": _real("HTTP_GET", "or TCP_CHECK, SSL_GET: the check's type"),
    "Check.type": _real("HTTP_GET", "the block's keyword: TCP_CHECK, HTTP_GET or SSL_GET"),
    "Check.connect_timeout": _check("connect_timeout"),
    "Check.connect_port": _check("connect_port"),
    "Check.retry": _check("retry"),
    "Check.delay_before_retry": _check("delay_before_retry"),
    "Check.delay_loop": _check("delay_loop"),
    "Check.virtualhost": _check("virtualhost"),
    "Check.enable_sni": Keyword("SSL_GET", "enable_sni"),
    "Check.urls": _check("url"),
    "Url.path": Keyword("url", "path"),
    "Url.digest": Keyword("url", "digest"),
    "Url.status_code": Keyword("url", "status_code"),
    "Notification.email": _global("notification_email"),
    "Notification.email_from": _global("notification_email_from"),
    "Notification.smtp_server": _global("smtp_server"),
    "Notification.smtp_connect_timeout": _global("smtp_connect_timeout"),
    "Firewall.backend": Elsewhere("which firewall `cluster apply` loads: nftables or iptables"),
    "Firewall.ssh_port": Elsewhere("the firewall: SSH is accepted on this port on every director"),
    "Firewall.ssh_sources": Elsewhere("the firewall: SSH only from these networks"),
    "Firewall.allow": Elsewhere("the firewall: extra ports opened on the external side"),
    "AllowRule.port": Elsewhere("the firewall: the port opened"),
    "AllowRule.protocol": Elsewhere("the firewall: tcp or udp"),
    "AllowRule.sources": Elsewhere("the firewall: only from these networks"),
}


def garp_keyword(field: str) -> str:
    """The global_defs keyword of a :class:`~cluster.spec.model.Garp` field, for the renderer."""
    entry = BECOMES[f"Garp.{field}"]
    assert isinstance(entry, Keyword)
    return entry.keyword
