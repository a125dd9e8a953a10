"""The kernel settings an LVS-NAT director needs, as a dict, a sysctl.d file, and a change.

The 2007 article sets four values by hand; the reasons, which it leaves out:

``net.ipv4.ip_forward = 1``
    The real servers' replies reach the director addressed to the clients, so the director
    must route them (IPVS un-NATs them on the way through FORWARD), and so must it the real
    servers' own connections, which the firewall masquerades.
``net.ipv4.conf.{all,default,<interface>}.send_redirects = 0``
    When the director forwards a packet out of the link it came in on, the kernel tells the
    sender (ICMP redirect) to use the next hop directly. For a real server that would mean
    replying to clients around the director, unNATed; for a client whose ARP cache still
    points at the old master it would mean a redirect to the VIP's holder. The kernel sends
    redirects if ``all`` *or* the interface says so, so both are set; ``default`` covers
    interfaces created later (a VLAN, a bond). The article set only eth0; every interface of
    the director is set here, since the internal link forwards too.
    (Measured in namespaces: with the firewall's nat chain loaded, netfilter already drops
    redirects for connections whose NAT is not done yet, but the setting must hold without
    it: IPVS's connections are untracked, and the firewall may be off.)
``net.ipv6.conf.all.forwarding = 1`` (only with IPv6 NAT real servers)
    The same as ip_forward, for IPv6. It also stops the director from taking router
    advertisements unless an interface has ``accept_ra = 2``, which a director with static
    addresses does not need.

Not set, on purpose: ``net.ipv4.vs.conntrack``. The firewall accepts IPVS traffic by address
and port, without conntrack (see :mod:`cluster.firewall.rules`), so the cheaper default 0
holds; the ``vs`` keys only exist once ip_vs is loaded.

Reading and writing go through ``sysctl`` inside a network namespace or on the machine; net.*
settings are per namespace, so a lab director's are its own.

>>> from cluster.spec import load_seed_spec
>>> for key, value in director_sysctls(load_seed_spec(), "director01").items():
...     print(key, "=", value)
net.ipv4.ip_forward = 1
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.eth0.send_redirects = 0
net.ipv4.conf.eth1.send_redirects = 0
"""

from __future__ import annotations

from pathlib import Path

from cluster.command import run
from cluster.errors import ToolError, UsageError
from cluster.spec.model import ClusterSpec

#: Where ``cluster apply`` writes the file; the number orders it after Debian's own 50-*.
SYSCTL_FILE = Path("/etc/sysctl.d/60-lvs-cluster.conf")

_WHY = {
    "ip_forward": "route the real servers' replies (IPVS un-NATs them) and their own traffic",
    "send_redirects": "never tell a real server or client to go around the director",
    "forwarding": "route IPv6 real servers' replies and traffic, as ip_forward does for IPv4",
}


def director_sysctls(spec: ClusterSpec, node: str) -> dict[str, str]:
    """The settings for director ``node``, in the order they should be applied."""
    director = spec.director(node)
    if director is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"no director {node!r} in {spec.name!r}; use one of {names}")
    values = {"net.ipv4.ip_forward": "1"}
    for name in ("all", "default", *(i.name for i in director.interfaces)):
        # sysctl separates with dots, so a dot in a name (eth0.100, a VLAN) is written "/".
        values[f"net.ipv4.conf.{name.replace('.', '/')}.send_redirects"] = "0"
    nat_servers = [
        rs.address
        for vs in spec.virtual_services
        if vs.forwarding == "NAT"
        for rs in vs.real_servers
    ]
    if any(address.version == 6 for address in nat_servers):
        values["net.ipv6.conf.all.forwarding"] = "1"
    return values


def why(key: str) -> str:
    """The reason a director sets ``key``, in one line.

    >>> why("net.ipv4.conf.eth0.send_redirects")
    'never tell a real server or client to go around the director'
    """
    return _WHY[key.rsplit(".", 1)[-1]]


def render_sysctl_conf(spec: ClusterSpec, node: str) -> str:
    """The /etc/sysctl.d file for ``node``: each setting under the line that says why."""
    lines = [f"# LVS-NAT director {node} of cluster {spec.name}; written by `cluster apply`."]
    said = ""
    for key, value in director_sysctls(spec, node).items():
        reason = why(key)
        lines += [f"\n# {reason}"] if reason != said else []
        lines.append(f"{key} = {value}")
        said = reason
    return "\n".join(lines) + "\n"


def read_sysctls(keys: list[str], netns: str | None = None) -> dict[str, str | None]:
    """Current values of ``keys``; None for a key this kernel (or namespace) does not have."""
    return parse_sysctls(run(["sysctl", "-e", *keys], netns), keys)


def parse_sysctls(output: str, keys: list[str]) -> dict[str, str | None]:
    """``sysctl -e KEY...``'s output as each key's value; None for a key it did not print.

    >>> parse_sysctls("net.ipv4.ip_forward = 1\\n", ["net.ipv4.ip_forward", "net.x"])
    {'net.ipv4.ip_forward': '1', 'net.x': None}
    """
    found = dict(line.split(" = ", 1) for line in output.splitlines() if " = " in line)
    return {key: found.get(key) for key in keys}


def apply_sysctls(values: dict[str, str], netns: str | None = None) -> dict[str, str | None]:
    """Set ``values``; returns the previous ones, to hand back here for a rollback.

    If one setting fails (a missing interface, say), those already changed are put back
    before the error is raised, so a failure changes nothing.
    """
    previous = read_sysctls(list(values), netns)
    try:
        run(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())], netns)
    except ToolError:
        back = {k: v for k, v in previous.items() if v is not None}
        run(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in back.items())], netns)
        raise
    return previous
