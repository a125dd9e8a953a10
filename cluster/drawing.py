"""A drawing of the cluster from its spec: segments, hosts, addresses, and who holds the VIPs.

The first thing a reader of the 2007 article looked at was its hand-drawn overview of the
addresses. Here the picture is drawn from the spec (through the lab's topology, which adds the
router, the client and the mail server the spec implies), so it cannot disagree with the
cluster: every segment is a bus, every host a box on it, every interface labelled with its
address, and the floating addresses (the VIP, the DIP) sit on the director that holds them.

Who holds them is the spec's answer (the master) unless live ``holders`` are given, as
:func:`cluster.lab.directors.holders` reads them; two holders of one address are drawn on both
directors and the drawing says "split brain".

Pure: it returns a matplotlib figure and draws nothing on screen;
:func:`cluster.charts.save` writes it as PNG and SVG.

>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> [(b.name, b.level) for b in buses(from_spec(spec))]
[('client', 0), ('external', 1), ('internal', 2)]
>>> [(p.node.name, p.band) for p in places(from_spec(spec))]  # doctest: +NORMALIZE_WHITESPACE
[('client1', -0.5), ('router', 0.5), ('smtp', 0.5), ('director01', 1.5), ('director02', 1.5),
 ('realserver1', 2.5), ('realserver2', 2.5)]
>>> roles(spec, None)
{'director01': 'MASTER', 'director02': 'BACKUP'}
>>> roles(spec, {"192.168.0.174": ["director01", "director02"], "192.168.170.1": ["director02"]})
{'director01': 'split brain', 'director02': 'split brain'}
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from cluster.lab.topology import Node, Topology, from_spec
from cluster.spec.model import ClusterSpec

Holders = dict[str, list[str]]
"""A floating address and the directors that hold it (see ``directors.holders``)."""

COLOURS = {
    "client": "#e8eef7",
    "router": "#eeeeee",
    "director": "#dbe9d4",
    "realserver": "#fdf0d5",
    "smtp": "#eeeeee",
}
FLOATING = "#c0392b"


@dataclass(frozen=True)
class Bus:
    """A segment drawn as a horizontal line; ``level`` 0 is the top one."""

    name: str
    subnet: str
    level: int


@dataclass(frozen=True)
class Place:
    """Where a host goes: ``band`` is a level between buses (1.5: between buses 1 and 2)."""

    node: Node
    band: float


def buses(topo: Topology) -> list[Bus]:
    """The segments top down in the order the topology lists them (clients first)."""
    return [Bus(s.name, s.subnet, level) for level, s in enumerate(topo.segments)]


def places(topo: Topology) -> list[Place]:
    """A host joining two segments sits between their buses; a client above its one bus; a
    real server below it; any other host with one link (the router's neighbours: the mail
    server) above it, beside the router."""
    level = {b.name: b.level for b in buses(topo)}
    found = []
    for node in topo.nodes:
        levels = sorted({level[i.segment] for i in node.interfaces})
        if len(levels) > 1:
            band = (levels[0] + levels[-1]) / 2
        elif node.role == "realserver":
            band = levels[0] + 0.5
        else:
            band = levels[0] - 0.5
        found.append(Place(node, band))
    return sorted(found, key=lambda p: p.band)


def roles(spec: ClusterSpec, holders: Holders | None) -> dict[str, str]:
    """Each director's role as the drawing labels it: MASTER if it holds every floating
    address, BACKUP if none, "split brain" if another director holds one it holds too.
    Without ``holders``, the spec's answer: the highest priority is the master."""
    if holders is None:
        master = spec.master().name
        return {d.name: "MASTER" if d.name == master else "BACKUP" for d in spec.directors}
    result = {}
    for director in spec.directors:
        held = [vip for vip, owners in holders.items() if director.name in owners]
        if any(len(holders[vip]) > 1 for vip in held):
            result[director.name] = "split brain"
        elif held and len(held) == len(holders):
            result[director.name] = "MASTER"
        else:
            result[director.name] = "holds " + ", ".join(held) if held else "BACKUP"
    return result


def _floating(spec: ClusterSpec) -> dict[str, tuple[str, str]]:
    """Each floating address -> (its name for the reader, the interface it lives on)."""
    names = {}
    for instance in spec.vrrp.instances:
        for address in instance.virtual_ipaddresses:
            ip = str(address.ip)
            served = any(str(vs.address) == ip for vs in spec.virtual_services)
            names[ip] = ("VIP" if served else "DIP", instance.interface)
    return names


def topology_figure(
    spec: ClusterSpec, holders: Holders | None = None, this: str | None = None
) -> Figure:
    """The cluster of ``spec`` on one page; ``this`` (a director) is framed in bold."""
    from matplotlib import pyplot as plt  # after cluster.charts chose the off-screen back-end

    topo = from_spec(spec)
    lines = buses(topo)
    spots = places(topo)
    owners = (
        holders if holders is not None else {ip: [spec.master().name] for ip in _floating(spec)}
    )
    labels = roles(spec, holders)
    floating = _floating(spec)
    width = 2 + 3.2 * max(
        sum(1 for p in spots if p.band == band) for band in {p.band for p in spots}
    )
    fig, ax = plt.subplots(figsize=(max(9.0, width), 1.9 * (len(lines) + 1)))
    scale = 2.4  # vertical distance between two buses
    x_of: dict[str, float] = {}
    for number, band in enumerate(sorted({p.band for p in spots})):
        row = [p for p in spots if p.band == band]
        # every other band is moved half a step, so that no two hosts' links line up
        shift = 1.6 if number % 2 or len(row) == 1 else 0.0
        for index, spot in enumerate(row):
            x_of[spot.node.name] = 1.5 + 3.2 * index + shift
    right = max(x_of.values()) + 1.8
    for bus in lines:
        y = -bus.level * scale
        ax.plot([0, right], [y, y], color="#34495e", linewidth=3, solid_capstyle="round")
        ax.text(0, y + 0.12, f"{bus.name}  {bus.subnet}", fontsize=8, color="#34495e")
    level = {b.name: b.level for b in lines}
    for spot in spots:
        node, x, y = spot.node, x_of[spot.node.name], -spot.band * scale
        for iface in node.interfaces:
            bus_y = -level[iface.segment] * scale
            side = 1 if bus_y > y else -1
            ax.plot([x, x], [y + side * 0.45, bus_y], color="#7f8c8d", linewidth=1)
            text = [f"{iface.name} {', '.join(a.split('/')[0] for a in iface.addresses[:2])}"]
            if len(iface.addresses) > 2:
                text[0] += f" (+{len(iface.addresses) - 2})"
            if node.role == "realserver":
                text = [f"RIP {iface.addresses[0].split('/')[0]}"]
            mid = (y + side * 0.45 + bus_y) / 2
            ax.text(x + 0.08, mid, "\n".join(text), fontsize=7, va="center")
            held = [
                f"{floating[ip][0]} {ip}"
                for ip, who in owners.items()
                if node.name in who and floating[ip][1] == iface.name
            ]
            if held:
                ax.text(
                    x - 0.08,
                    mid,
                    "\n".join(held),
                    fontsize=7.5,
                    va="center",
                    ha="right",
                    color=FLOATING,
                    fontweight="bold",
                )
        title = node.name
        if node.role == "director":
            director = spec.director(node.name)
            assert director is not None
            title += f"\npriority {director.priority}: {labels[node.name]}"
        bold = node.name == this
        ax.text(
            x,
            y,
            title,
            ha="center",
            va="center",
            fontsize=8.5,
            fontweight="bold" if bold else "normal",
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": COLOURS.get(node.role, "#ffffff"),
                "edgecolor": "#111111" if bold else "#7f8c8d",
                "linewidth": 2 if bold else 1,
            },
        )
    vips = ", ".join(f"{name} {ip}" for ip, (name, _) in floating.items())
    split = [ip for ip, who in owners.items() if len(who) > 1]
    title = f"{spec.name}: {vips}" + (f"; split brain on {', '.join(split)}" if split else "")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-0.5, right + 0.5)
    bands = [p.band for p in spots]
    ax.set_ylim(-max(bands) * scale - 0.6, -min(bands) * scale + 0.6)
    ax.axis("off")
    return fig
