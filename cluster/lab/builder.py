"""Builds a :class:`~cluster.lab.topology.Topology` through the agent, idempotently.

Each namespace gets one ``ip -force -batch`` run: under UML a process start costs 30-100 ms,
so nine batches beat a hundred ``ip`` commands, and a netlink library would first cost seconds
to import. Every verb is idempotent (``replace``) or fails only with "File exists", which the
builder accepts, so ``lab up`` on a built lab changes nothing.

:func:`plan` is pure, so the exact commands can be read without root:

>>> from cluster.lab.topology import seed_topology
>>> steps = plan(seed_topology())
>>> [s.ns for s in steps][:3]
[None, 'switch', 'client1']
>>> print("\\n".join(steps[0].lines[-1:]))
link add eth0 netns smtp type veth peer name p6.eth0 netns switch
>>> print("\\n".join(l for l in steps[-2].lines if "route" in l))
route replace default via 192.168.170.1
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cluster.errors import LabError
from cluster.lab.client import AgentClient
from cluster.lab.topology import SWITCH, Topology


@dataclass(frozen=True)
class Step:
    """One ``ip`` batch to run in ``ns`` (``None``: the kernel's initial namespace)."""

    ns: str | None
    lines: tuple[str, ...]
    sysctls: tuple[tuple[str, str], ...] = field(default=())


def plan(topo: Topology, devices: dict[str, str] | None = None) -> list[Step]:
    """The batches that build ``topo``: namespaces and veth pairs, bridges, then each node.

    A machine's interfaces are tunnels, whose lab-side devices the lab kernel made at boot:
    ``devices`` maps each one's MAC to its name, for those not yet moved into the switch
    namespace and named after their ports.
    """
    devices = devices or {}
    links = list(topo.links())
    tunnels = [t for t in topo.tunnels() if t.switch_mac in devices]
    create = [f"netns add {ns}" for ns in topo.namespaces]
    # the tunnels' devices leave this namespace first: the kernel looks a new link's name up
    # here, even one made in another namespace, and QEMU's NICs are eth0, eth1, ...
    create += [f"link set dev {devices[t.switch_mac]} netns {SWITCH}" for t in tunnels]
    create += [
        f"link add {link.ifname} netns {link.node} type veth peer name {link.port} netns {SWITCH}"
        for link in links
        if link.node in topo.namespaces
    ]
    switch = ["link set lo up"]
    switch += [f"link set dev {devices[t.switch_mac]} name {t.link.port}" for t in tunnels]
    for seg in topo.segments:
        switch += [
            # VRRP adverts are multicast; snooping could hold them back until a querier exists
            f"link add {seg.bridge} type bridge mcast_snooping 0",
            f"link set {seg.bridge} up",
        ]
    for link in links:
        switch += [
            f"link set {link.port} master {link.bridge} alias {link.node}:{link.ifname} up",
        ]
    steps = [Step(None, tuple(create)), Step(SWITCH, tuple(switch))]
    for node in (n for n in topo.nodes if not n.machine):
        lines = ["link set lo up"]
        for iface in node.interfaces:
            lines.append(f"link set {iface.name} up")
            # IPv6 addresses skip duplicate address detection, which would hold each one
            # back ("tentative") for a second after every build
            lines += [
                f"addr replace {addr} dev {iface.name}{' nodad' if ':' in addr else ''}"
                for addr in iface.addresses
            ]
        lines += [f"route replace {r.dst} via {r.via}" for r in node.routes]
        sysctls: list[tuple[str, str]] = []
        if node.forwarding:
            sysctls.append(("net.ipv4.ip_forward", "1"))
        if node.forwarding6:
            sysctls.append(("net.ipv6.conf.all.forwarding", "1"))
        if any(":" in addr for iface in node.interfaces for addr in iface.addresses):
            # a pulled cable keeps a link's addresses; the lab's faults down the link
            # instead, which would flush its IPv6 ones
            sysctls.append(("net.ipv6.conf.all.keep_addr_on_down", "1"))
        if node.role == "director":
            # as in the article: a NAT director must not redirect real servers past itself
            sysctls += [
                ("net.ipv4.conf.all.send_redirects", "0"),
                ("net.ipv4.conf.default.send_redirects", "0"),
            ]
        steps.append(Step(node.name, tuple(lines), tuple(sysctls)))
    return steps


def _run_step(agent: AgentClient, step: Step) -> None:
    result = agent.request(
        "run",
        ns=step.ns,
        argv=["ip", "-force", "-batch", "-"],
        input="\n".join(step.lines) + "\n",
        timeout=30,
    )
    problems = [
        line
        for line in result["stderr"].splitlines()
        if "File exists" not in line and not line.startswith("Command failed")
    ]
    if problems:
        where = step.ns or "the lab kernel"
        raise LabError(f"building {where} failed: {'; '.join(problems)}")
    for key, value in step.sysctls:
        agent.request("call", ns=step.ns, fn="sysctl", kwargs={"key": key, "value": value})


def build(agent: AgentClient, topo: Topology) -> None:
    """Create what is missing; the node batches run side by side after the shared steps.

    The switch's bridges and ports are up before any node's link: a link with IPv6 sends
    at once (neighbour and multicast listener messages), and with the switch's batch
    running beside the nodes' ones the UML guest's kernel hung in about half of the
    dual-stack builds (none of 8 with the switch first).
    """
    macs = {t.switch_mac for t in topo.tunnels()}
    devices = {
        link["mac"]: link["name"]
        for link in (agent.request("call", ns=None, fn="links") if macs else [])
        if link["mac"] in macs
    }
    first, switch, *nodes = plan(topo, devices)
    _run_step(agent, first)
    _run_step(agent, switch)
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:  # a bare guest has none
        for done in [pool.submit(_run_step, agent, s) for s in nodes]:
            done.result()
