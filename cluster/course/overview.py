"""Step 1: the cluster as the spec describes it, as tables and as a drawing.

>>> from cluster.spec import load_seed_spec
>>> print(addresses(load_seed_spec()).text())  # doctest: +NORMALIZE_WHITESPACE
Every address of seed
address               kind  where                                 what for
192.168.0.174/32      VIP   the MASTER's eth0 (VRRP VI_EXTERNAL)  what clients connect to
192.168.170.1/32      DIP   the MASTER's eth1 (VRRP VI_INTERNAL)  the real servers' default gateway
192.168.0.204/24      -     director01 eth0 (segment external)    the director's own address: ...
192.168.170.179/24    -     director01 eth1 (segment internal)    the director's own address: ...
192.168.0.176/24      -     director02 eth0 (segment external)    the director's own address: ...
192.168.170.180/24    -     director02 eth1 (segment internal)    the director's own address: ...
192.168.170.25:80     RIP   real server of http                   reached only through the DIP
192.168.170.35:80     RIP   real server of http                   reached only through the DIP
192.168.170.35:443    RIP   real server of https                  reached only through the DIP
"""

from __future__ import annotations

from cluster.course.figures import Chart, show
from cluster.course.target import Target
from cluster.drawing import topology_figure
from cluster.spec.model import ClusterSpec
from cluster.views import SpecTable

OWN = "the director's own address: logins, and keepalived needs one on every VRRP link"


def addresses(spec: ClusterSpec) -> SpecTable:
    """Every address of the cluster, and what it is for: the floating ones (VIPs and DIPs,
    which keepalived moves to the master), the directors' own, and the real servers'."""
    served = {str(vs.address) for vs in spec.virtual_services if vs.address is not None}
    rows = [
        (
            str(address),
            "VIP" if str(address.ip) in served else "DIP",
            f"the MASTER's {instance.interface} (VRRP {instance.name})",
            "what clients connect to"
            if str(address.ip) in served
            else "the real servers' default gateway",
        )
        for instance in spec.vrrp.instances
        for address in instance.virtual_ipaddresses
    ]
    rows += [
        (str(a), "-", f"{d.name} {i.name} (segment {i.segment})", OWN)
        for d in spec.directors
        for i in d.interfaces
        for a in i.addresses
    ]
    seen = dict.fromkeys(
        (f"{rs.address}:{rs.port}", vs.name)
        for vs in spec.virtual_services
        for rs in vs.real_servers
    )
    rows += [
        (server, "RIP", f"real server of {name}", "reached only through the DIP")
        for server, name in seen
    ]
    return SpecTable(
        f"Every address of {spec.name}", ("address", "kind", "where", "what for"), rows
    )


def drawing(target: Target) -> Chart:
    """The cluster drawn from the target's spec; in the lab, with whoever holds the VIPs now
    (the spec's master until keepalived runs), and the target's director framed."""
    holders = None
    if target.lab is not None:
        from cluster.lab import directors

        if directors.current_spec(target.lab) is not None:
            holders = directors.holders(target.lab, target.spec)
    figure = topology_figure(target.spec, holders, this=target.node)
    return show(figure, f"topology-{target.spec.name}", target.provenance())
