"""keepalived on the lab's directors: start the pair from a spec, and read the cluster's state.

Two ways to get keepalived running. :func:`apply` runs the product's own ``cluster apply``
inside each director's namespace, as an operator would on a real director: sysctls, firewall,
keepalived.conf and keepalived. The failover trials set the directors up that way, so VRRP
and IPVS sync cross the real firewall. :func:`start` (``cluster lab keepalived start``) only
(re)starts keepalived with a spec, without sysctls or firewall: a quick way to try a
keepalived.conf; undoing a fault that killed keepalived starts it again the same way.

The spec that runs is kept in the lab's share (``keepalived/spec.yaml``), so a later command
(``cluster lab state``, ``cluster lab fault``) knows the VIPs, the directors and their links
without being told again. Each director has a file-system root of its own in the lab's state
dir (``nodes/<node>/etc/keepalived/...``, ``.../run/lvs-cluster/``): the namespaces share one
file system, and two directors must never share a config or a pid file. In a guest that dir is
the guest's own tmpfs, not the share: keepalived's notify FIFO cannot be made on QEMU's 9p
share, and everything there is read through the agent anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.director.plan import Layout
from cluster.errors import LabError
from cluster.keepalived.daemon import Keepalived, current_states
from cluster.keepalived.render import render_keepalived_conf
from cluster.spec import ClusterSpec, dump_spec, load_spec

if TYPE_CHECKING:  # the CLI imports this module; Lab would pull in pyroute2
    from cluster.lab.lab import Lab, Result


def _home(lab: Lab) -> Path:
    return lab.paths.share / "keepalived"


def layout(lab: Lab, node: str) -> Layout:
    """Director ``node``'s root: what ``cluster apply --root`` is given. A machine is a
    director of its own, with its own ``/``."""
    if node in lab.state.machines:
        return Layout()
    return Layout(str(lab.paths.root / "nodes" / node))


def keepalived(lab: Lab, node: str) -> Keepalived:
    return Keepalived(lab, node, layout(lab, node).keepalived_files)


def _record(lab: Lab, spec: ClusterSpec, name: str = "spec.yaml") -> Path:
    # written from inside: in guest mode only the guest's user may write to the share
    path = _home(lab) / name
    inside = next(node for node in lab.nodes if node not in lab.state.machines)
    lab.write_file(inside, str(path), dump_spec(spec))
    return path


def apply(
    lab: Lab,
    spec: ClusterSpec,
    nodes: list[str] | None = None,
    options: tuple[str, ...] = (),
) -> dict[str, Result]:
    """Run ``cluster apply`` (with ``options``, e.g. ``--dry-run``) inside each director.

    The backups go first, so the master's first election meets them listening. Without a
    ``--backend`` in ``options``, the firewall is iptables where the lab's kernel has no
    nftables NAT (:func:`has_nftables_nat`). Returns each director's result; the caller
    decides what a non-zero exit means. ``spec`` becomes the lab's current spec only when
    every director applied it: a dry run or a rolled-back apply leaves the last one in place.
    """
    candidate = _record(lab, spec, "candidate.yaml")
    results = {
        director.name: _on_director(lab, "apply", director.name, options, candidate)
        for director in sorted(spec.directors, key=lambda d: d.priority)
        if not nodes or director.name in nodes
    }
    if "--dry-run" not in options and all(r.ok for r in results.values()):
        _record(lab, spec)
    return results


def status(lab: Lab, node: str, options: tuple[str, ...] = ()) -> Result:
    """``cluster status`` inside director ``node``, against the spec last applied (with
    :func:`apply`'s choice of firewall back-end)."""
    return _on_director(lab, "status", node, options, _home(lab) / "spec.yaml")


def _on_director(
    lab: Lab, command: str, node: str, options: tuple[str, ...], spec_path: Path
) -> Result:
    if "--backend" not in options and not has_nftables_nat(lab, node):
        options = ("--backend", "iptables", *options)
    if node in lab.state.machines:  # a guest of its own: the lab's share is not there
        lab.write_file(node, str(spec_path), spec_path.read_text())
    root = layout(lab, node).root
    argv = [command, "--node", node, "--root", root, *options, str(spec_path)]
    return lab.run_cluster(node, *argv, timeout=300)


NAT_PROBE = (
    "add table ip lvs_probe; "
    "add chain ip lvs_probe nat { type nat hook postrouting priority 100; }; "
    "delete table ip lvs_probe"
)


def has_nftables_nat(lab: Lab, node: str) -> bool:
    """Whether the lab's kernel can hold our nftables rule set (its NAT chain): Debian's UML
    kernel cannot, so there the directors get the iptables back-end, as on such a director."""
    return lab.run(node, "nft", NAT_PROBE).ok


def current_spec(lab: Lab) -> ClusterSpec | None:
    """The spec the directors were last started with, if keepalived was started."""
    path = _home(lab) / "spec.yaml"
    return load_spec(str(path)) if path.exists() else None


def running_spec(lab: Lab) -> ClusterSpec:
    spec = current_spec(lab)
    if spec is None:
        raise LabError("keepalived is not running in the lab; start it: cluster lab keepalived")
    return spec


def floating(spec: ClusterSpec) -> dict[str, str]:
    """Every VRRP address (no prefix) and the instance that owns it."""
    return {str(a.ip): inst.name for inst in spec.vrrp.instances for a in inst.virtual_ipaddresses}


def addresses(lab: Lab, node: str, up_only: bool = False) -> dict[str, list[str]]:
    """``ip -br addr``: each interface's addresses, IPv4 and IPv6, without prefix.

    ``up_only`` leaves out links that are down: a crashed director keeps its VIPs on its
    dead links, but holds them for nobody.
    """
    return parse_brief(lab.run(node, "ip", "-br", "addr").check().stdout, up_only)


def parse_brief(text: str, up_only: bool = False) -> dict[str, list[str]]:
    """``ip -br addr``'s lines (either family or both) as each interface's addresses, without
    prefix.

    >>> parse_brief("eth0@if9  UP  192.168.0.204/24 192.168.0.174/32\\neth1@if7  DOWN\\n", True)
    {'eth0': ['192.168.0.204', '192.168.0.174']}
    """
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, state, *addrs = line.split()
        if not (up_only and state in ("DOWN", "LOWERLAYERDOWN")):
            table[name.split("@")[0]] = [a.split("/")[0] for a in addrs]
    return table


def drop_floating(lab: Lab, spec: ClusterSpec, node: str) -> None:
    """Remove VRRP addresses a killed keepalived left behind, before it starts again."""
    vips = floating(spec)
    for iface, addrs in addresses(lab, node).items():
        for addr in addrs:
            if addr in vips:
                host = 128 if ":" in addr else 32
                lab.run(node, "ip", "addr", "del", f"{addr}/{host}", "dev", iface)


def start(lab: Lab, spec: ClusterSpec) -> dict[str, str]:
    """(Re)start keepalived on every director with ``spec``; returns ``keepalived -t`` output.

    The backups start first, so the master's first election meets them listening.
    """
    _record(lab, spec)
    warnings = {}
    for director in sorted(spec.directors, key=lambda d: d.priority):
        ka = keepalived(lab, director.name)
        ka.stop()
        drop_floating(lab, spec, director.name)
        conf = render_keepalived_conf(spec, director.name, notify_fifo=ka.files.fifo)
        warnings[director.name] = ka.start(conf, vrrp_only=spec.ipvs == "direct")
    return warnings


def stop(lab: Lab) -> None:
    spec = running_spec(lab)
    for director in spec.directors:
        keepalived(lab, director.name).stop()
        drop_floating(lab, spec, director.name)
    lab.run(spec.directors[0].name, "rm", "-f", str(_home(lab) / "spec.yaml")).check()


@dataclass
class DirectorState:
    name: str
    pids: dict[str, int]
    vrrp: dict[str, str]  # instance -> MASTER/BACKUP/FAULT/STOP
    holds: list[str]  # the VRRP addresses on its interfaces
    links: dict[str, list[str]] = field(default_factory=dict)
    ipvs: str = ""


def state(lab: Lab, spec: ClusterSpec | None = None) -> list[DirectorState]:
    """Who holds each VIP, each instance's VRRP state, and each director's IPVS table."""
    spec = spec or running_spec(lab)
    vips = floating(spec)
    result = []
    for director in spec.directors:
        ka = keepalived(lab, director.name)
        links = addresses(lab, director.name)
        result.append(
            DirectorState(
                name=director.name,
                pids=ka.pids(),
                vrrp=current_states(ka.events()),
                holds=[a for addrs in links.values() for a in addrs if a in vips],
                links=links,
                ipvs=lab.run(director.name, "ipvsadm", "-Ln").stdout,
            )
        )
    return result


def holders(lab: Lab, spec: ClusterSpec) -> dict[str, list[str]]:
    """Each VRRP address and the directors holding it on a live link: one is right, two is
    split brain."""
    table: dict[str, list[str]] = {vip: [] for vip in floating(spec)}
    for director in spec.directors:
        for addrs in addresses(lab, director.name, up_only=True).values():
            for addr in addrs:
                if addr in table:
                    table[addr].append(director.name)
    return table


def wait_for_master(lab: Lab, spec: ClusterSpec, node: str, timeout: float = 30) -> None:
    """Until ``node`` alone holds every VRRP address (the cluster has settled)."""
    deadline = time.monotonic() + timeout
    while True:
        table = holders(lab, spec)
        if all(owners == [node] for owners in table.values()):
            return
        if time.monotonic() > deadline:
            raise LabError(f"{node} did not become master within {timeout} s: {table}")
        time.sleep(0.2)
