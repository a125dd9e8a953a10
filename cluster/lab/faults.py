"""Director faults in the lab, each one undoable: what the failover experiments inject.

======================  ===================================================================
``dies``                keepalived killed (SIGKILL, all processes) and every link down
``stop``                keepalived stopped gracefully (SIGTERM: priority 0 is sent)
``vrrp-child``          keepalived's VRRP child killed; the parent starts a new one
``link-down IFACE``     ``ip link set IFACE down`` on the director's side of the cable
                        (``eth0,eth1``: both cables)
``link-drop IFACE``     the link stays up but drops everything, both ways (tc: netem loss
                        100 % out, a matchall drop in)
``partition``           the director drops every packet from the other directors, and they
                        drop its packets, while clients and real servers still reach both
``deaf``                the director drops every packet from the other directors, but they
                        still hear it: one way, as a firewall that admits the wrong peer
                        address does (the 2007 article's director02 rule had that typo)
======================  ===================================================================

Real servers have their own faults (:meth:`cluster.lab.Lab.fault`); :func:`inject` sends
those there, so ``cluster lab fault NODE KIND`` covers both.

Each fault is a bash script run in the director's namespace that prints ``$EPOCHREALTIME``
the moment its effect holds, so the trial knows the fault's time on the lab's own clock.
Faults in force are listed in the share (``director-faults.json``), so ``clear`` works from
another process, after the one that injected them has gone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from cluster.errors import LabError, UsageError
from cluster.lab import directors
from cluster.lab.topology import from_spec
from cluster.spec import ClusterSpec

if TYPE_CHECKING:  # the CLI imports this module; Lab would pull in pyroute2
    from cluster.lab.lab import Lab

KINDS = ("dies", "stop", "vrrp-child", "link-down", "link-drop", "partition", "deaf")
NEEDS_INTERFACE = ("link-down", "link-drop")
COMMENT = "cluster-lab-partition"


@dataclass(frozen=True)
class DirectorFault:
    kind: str
    node: str
    interface: str | None = None

    @property
    def interfaces(self) -> list[str]:
        """``eth0,eth1`` pulls (or silences) both cables at once."""
        return self.interface.split(",") if self.interface else []

    def describe(self) -> str:
        return f"{self.node}: {self.kind}{f' {self.interface}' if self.interface else ''}"


def _record(lab: Lab) -> str:
    return str(lab.paths.share / "director-faults.json")


def active(lab: Lab) -> list[DirectorFault]:
    path = lab.paths.share / "director-faults.json"
    return [DirectorFault(**f) for f in json.loads(path.read_text())] if path.exists() else []


def _save(lab: Lab, node: str, faults: list[DirectorFault]) -> None:
    lab.write_file(node, _record(lab), json.dumps([asdict(f) for f in faults]))


def _check(spec: ClusterSpec, fault: DirectorFault) -> None:
    director = spec.director(fault.node)
    if director is None:
        raise UsageError(f"{fault.node!r} is not a director of the running cluster")
    if fault.kind not in KINDS:
        raise UsageError(f"unknown director fault {fault.kind!r}; one of: {', '.join(KINDS)}")
    if (fault.kind in NEEDS_INTERFACE) != (fault.interface is not None):
        need = "needs an interface" if fault.kind in NEEDS_INTERFACE else "takes no interface"
        raise UsageError(f"{fault.kind} {need}")
    for name in fault.interfaces:
        if director.interface(name) is None:
            names = ", ".join(i.name for i in director.interfaces)
            raise UsageError(f"{fault.node} has no interface {name!r}; it has {names}")


def _peer_rules(spec: ClusterSpec, node: str) -> dict[str, list[str]]:
    """Director -> the source addresses it must drop so that ``node`` and its peers hear
    nothing of each other. Both sides drop on input: VRRP is multicast, so dropping output
    by destination would not do. ``node`` comes first: its rules strike first."""

    def own(name: str) -> list[str]:
        director = spec.director(name)
        assert director is not None
        return [str(a.ip) for i in director.interfaces for a in i.addresses]

    peers = [d.name for d in spec.directors if d.name != node]
    rules = {node: [addr for peer in peers for addr in own(peer)]}
    rules.update({peer: own(node) for peer in peers})
    return rules


def _iptables(verb: str, sources: list[str]) -> str:
    return "; ".join(
        f"iptables-legacy {verb} INPUT -s {source} -m comment --comment {COMMENT} -j DROP"
        for source in sources
    )


def _strike(lab: Lab, node: str, effect: str, then: str = "") -> float:
    """Run ``effect`` on ``node``; the time is taken right after it, when it holds (an ``ip``
    or ``tc`` process takes ~0.1 s to start in the guest), and ``then`` runs after that."""
    done = lab.run(node, "bash", "-c", f"{effect}; echo $EPOCHREALTIME; {then or 'true'}").check()
    return float(done.stdout.split()[-1])


def inject_director(lab: Lab, fault: DirectorFault, spec: ClusterSpec | None = None) -> float:
    """Inject ``fault``; returns when it struck (the lab's clock, epoch seconds)."""
    spec = spec or directors.running_spec(lab)
    _check(spec, fault)
    ka = directors.keepalived(lab, fault.node)
    links = [i.name for i in spec.director(fault.node).interfaces]  # type: ignore[union-attr]
    pids = ka.pids()
    if fault.kind in ("dies", "stop", "vrrp-child") and not pids:
        raise LabError(f"{fault.node}: keepalived is not running")
    if fault.kind == "dies":
        # links first, in one ip process, so that the adverts and the data path stop
        # together; then keepalived dies, as in a machine that lost its power
        downs = "".join(f"link set {link} down\\n" for link in links)
        at = _strike(lab, fault.node, f"printf '{downs}' | ip -batch -", ka.kill_command())
    elif fault.kind == "stop":
        # a signal acts at once, and keepalived may run before bash reads the clock again:
        # the time is taken before the kill. Its exit is not polled here (undo waits for
        # it): each poll starts processes in the guest's one CPU while the backup's skew
        # timer runs, and the measurement paid for them
        at = _strike(lab, fault.node, "true", f"kill -TERM {pids['parent']}")
    elif fault.kind == "vrrp-child":
        at = _strike(lab, fault.node, "true", f"kill -9 {pids['vrrp']}")
    elif fault.kind == "link-down":
        downs = "".join(f"link set {i} down\\n" for i in fault.interfaces)
        at = _strike(lab, fault.node, f"printf '{downs}' | ip -batch -")
    elif fault.kind == "link-drop":
        drop = "".join(
            f"qdisc add dev {i} root netem loss 100%\\nqdisc add dev {i} ingress\\n"
            f"filter add dev {i} ingress matchall action drop\\n"
            for i in fault.interfaces
        )
        at = _strike(lab, fault.node, f"printf '{drop}' | tc -batch -")
    elif fault.kind == "deaf":
        at = _strike(lab, fault.node, _iptables("-I", _peer_rules(spec, fault.node)[fault.node]))
    else:
        at = 0.0
        for node, sources in _peer_rules(spec, fault.node).items():
            struck = _strike(lab, node, _iptables("-I", sources))
            at = at or struck
    _save(lab, fault.node, [*active(lab), fault])
    return at


def undo_director(lab: Lab, fault: DirectorFault, spec: ClusterSpec | None = None) -> None:
    """Put the director back as it was before ``fault``, keepalived running again."""
    spec = spec or directors.running_spec(lab)
    node = fault.node
    ka = directors.keepalived(lab, node)
    if fault.kind in ("dies", "link-down"):
        # a link that went down took its routes along; the topology knows them
        topo = from_spec(spec).node(node)
        links = fault.interfaces or [i.name for i in topo.interfaces]
        script = [f"ip link set {link} up" for link in links]
        script += [f"ip route replace {r.dst} via {r.via}" for r in topo.routes]
        lab.run(node, "bash", "-c", "; ".join(script)).check()
    elif fault.kind == "link-drop":
        script = [
            f"tc qdisc del dev {i} root; tc qdisc del dev {i} ingress" for i in fault.interfaces
        ]
        lab.run(node, "bash", "-c", "; ".join(script))
    elif fault.kind == "partition":
        for peer, sources in _peer_rules(spec, node).items():
            lab.run(peer, "bash", "-c", _iptables("-D", sources))
    elif fault.kind == "deaf":
        lab.run(node, "bash", "-c", _iptables("-D", _peer_rules(spec, node)[node]))
    if fault.kind == "stop":
        ka.wait_stopped()
    elif fault.kind == "vrrp-child":
        # the parent delays each new child twice as long as the last (1, 2, 4 ... s after
        # the death) "to limit respawn rate": a fresh daemon is what the next kill must meet
        ka.stop()
    if fault.kind in ("dies", "stop", "vrrp-child") and not ka.running():
        directors.drop_floating(lab, spec, node)
        ka.start(vrrp_only=spec.ipvs == "direct")
    _save(lab, node, [f for f in active(lab) if f != fault])


def clear(lab: Lab, node: str | None = None) -> list[DirectorFault]:
    """Undo every fault in force (on ``node`` only, if given), newest first."""
    undone = [f for f in reversed(active(lab)) if node is None or f.node == node]
    spec = directors.running_spec(lab) if undone else None
    for fault in undone:
        undo_director(lab, fault, spec)
    return undone


def inject(lab: Lab, node: str, kind: str, value: str | None = None) -> str:
    """``cluster lab fault NODE KIND [VALUE]``: a director fault, or a real server's own.

    ``clear`` undoes every fault on the node. Returns what is now in force, as words.
    """
    spec = directors.current_spec(lab)
    if spec is None or spec.director(node) is None:
        return f"{node}: {lab.fault(node, kind, value).describe()}"
    if kind == "clear":
        undone = clear(lab, node)
        return f"{node}: cleared {', '.join(f.kind for f in undone) or 'nothing'}"
    fault = DirectorFault(kind, node, value)
    inject_director(lab, fault, spec)
    return fault.describe()
