"""Failover trials in the lab: inject a fault, watch the client and the VIPs, undo, repeat.

One trial:

1. both directors are set up by ``cluster apply`` with the scenario's spec (firewall and
   sysctls included), and the master holds every VRRP address (the last trial's fault is
   undone and the master has taken over again);
2. ``ip -ts monitor address`` runs in every director (started once, it stays), and a
   probe in the client sends a request to the VIP every 10 ms;
3. after a second of good service the fault strikes (its time read on the lab's clock);
4. when the probe ends, its samples, the address changes and the VRRP events since the
   fault are kept raw, next to the theory's window; then the fault is undone.

:func:`run` repeats that N times and returns one JSON-ready document; ``cluster bench
failover`` writes it to ``out/failover/``. :func:`connection_trial` does the same for
long-lived connections through the VIP, with and without IPVS connection sync.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cluster.errors import LabError
from cluster.failover import outage, theory
from cluster.ipvs import ipvsadm
from cluster.ipvs.table import join_host_port
from cluster.keepalived.daemon import VrrpEvent
from cluster.lab import directors, faults
from cluster.lab.lab import Lab
from cluster.lab.topology import from_spec
from cluster.lab.traffic import STARTED
from cluster.spec import ClusterSpec, load_seed_spec, load_spec
from cluster.spec.load import DUAL_STACK_PATH
from cluster.spec.model import Check, RealServer, VirtualService
from cluster.spec.variants import variant

Progress = Callable[[str], None]
BASELINE = 1.0
"""Seconds of good service before the fault, so the outage has a clean start."""
ECHO_PORT = 7007
SERVICE_UP_SHARE = 0.9
"""The share of requests in a trial's last seconds that must succeed for the service to
count as up at the end."""
SYNC_FLUSH_S = 2.0
"""IPVS's master sync thread sends a part-filled buffer once it is this old (the kernel's
``IPVS_SYNC_FLUSH_TIME``)."""


@dataclass(frozen=True)
class Scenario:
    """One fault on one configuration; ``layout`` is one of :data:`LAYOUTS`."""

    fault: str
    advert_int: float = 1.0
    version: int = 3
    layout: str = "fixed"  # one of cluster.spec.variants.LAYOUT_NAMES
    interface: str | None = None
    on: str = "master"  # or "backup": which director the fault hits
    family: int = 4  # 6: the dual-stack spec, its client probing the IPv6 VIP

    @property
    def name(self) -> str:
        where = f"-{self.interface}" if self.interface else ""
        on = "" if self.on == "master" else f"-on-{self.on}"
        six = "-ipv6" if self.family == 6 else ""
        return f"{self.fault}{where}{on}-{self.layout}-v{self.version}-adv{self.advert_int:g}{six}"

    def spec(self, base: ClusterSpec | None = None) -> ClusterSpec:
        base = base or (load_spec(DUAL_STACK_PATH) if self.family == 6 else load_seed_spec())
        return lab_variant(base, self.layout, self.advert_int, self.version)


def lab_variant(
    spec: ClusterSpec,
    layout: str | None,
    advert_int: float | None,
    version: int | None,
    sync: bool = False,
) -> ClusterSpec:
    """:func:`~cluster.spec.variants.variant`, with the lab's router and real servers as
    the neighbours the ``watched`` layout pings."""
    neighbours = from_spec(spec).neighbours(spec.master().name)
    return variant(spec, layout, advert_int, version, sync, neighbours)


def _roles(spec: ClusterSpec) -> tuple[str, str, int]:
    """(master, the best backup, that backup's priority)."""
    ranked = sorted(spec.directors, key=lambda d: d.priority, reverse=True)
    return ranked[0].name, ranked[1].name, ranked[1].priority


def window(scenario: Scenario, spec: ClusterSpec) -> tuple[float, float] | None:
    """The theory's takeover window, where there is one (a pulled link with tracking,
    say, has no single formula: see the note's table). A killed VRRP child sends no
    priority 0, so the backup waits as for a crash."""
    if scenario.fault not in ("dies", "stop", "vrrp-child") or scenario.on != "master":
        return None
    return theory.takeover_window(_roles(spec)[2], scenario.advert_int, scenario.version,
                                  graceful=scenario.fault == "stop")  # fmt: skip


def ensure_cluster(lab: Lab, spec: ClusterSpec, progress: Progress) -> None:
    """Every director set up by ``cluster apply`` with ``spec`` (sysctls, firewall,
    keepalived), settled with the master holding all.

    A new spec stops keepalived first: a reload would keep the last scenario's VRRP state
    and timers, and each scenario starts from a fresh election instead.
    """
    current = directors.current_spec(lab)
    if current != spec or not all(
        directors.keepalived(lab, d.name).running() for d in spec.directors
    ):
        if current is not None and current != spec:
            directors.stop(lab)
        progress("cluster apply on the directors")
        failed = [r for r in directors.apply(lab, spec).values() if not r.ok]
        if failed:
            raise LabError("; ".join(f"{r.node}: cluster apply exited {r.rc}: "
                                     f"{r.stderr.strip()}" for r in failed))  # fmt: skip
    master = _roles(spec)[0]
    directors.wait_for_master(lab, spec, master, timeout=10 + 4 * _advert(spec))
    ensure_monitors(lab, spec)


def _advert(spec: ClusterSpec) -> float:
    return max(theory.effective_advert(i.advert_int, i.version) for i in spec.vrrp.instances)


def ensure_monitors(lab: Lab, spec: ClusterSpec) -> None:
    """``ip -ts monitor address`` in every director (once; it stays): the VIPs' timeline."""
    running = {
        s["ns"] for s in lab.services() if s["returncode"] is None and "monitor" in s["argv"]
    }
    for director in spec.directors:
        if director.name not in running:
            lab.spawn(director.name, ["ip", "-ts", "monitor", "address"], name="ip-monitor")


def spawn_until_started(lab: Lab, node: str, argv: list[str], name: str) -> tuple[int, float]:
    """Spawn a traffic job (:mod:`cluster.lab.traffic`) and wait for its ``started`` line;
    returns (pid, start time)."""
    log = lab.log_path(node, name)
    offset = log.stat().st_size if log.exists() else 0
    pid = lab.spawn(node, [lab.python, "-m", "cluster.lab.traffic", *argv], name=name)
    line = wait_line(lab, pid, log, offset, STARTED, 30)
    if line is None:
        raise LabError(f"the {name} job on {node} did not start; see {log}")
    return pid, float(line.split()[1])


def wait_line(
    lab: Lab, pid: int, log: Path, offset: int, prefix: str, timeout: float
) -> str | None:
    """The first line from ``offset`` on in a job's log that starts with ``prefix``; None once
    the job has exited without one, or the timeout has passed."""
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while time.monotonic() < deadline:
        text = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
        for line in text.splitlines():
            if line.startswith(prefix):
                return line
        if time.monotonic() - checked > 0.25:
            checked = time.monotonic()
            if any(s["pid"] == pid and s["returncode"] is not None for s in lab.services()):
                return None
        time.sleep(0.02)
    return None


def wait_exit(lab: Lab, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(s["pid"] == pid and s["returncode"] is not None for s in lab.services()):
            return
        time.sleep(0.1)
    lab.stop(pid)
    raise LabError(f"traffic job {pid} overran its time; stopped it")


def timeline(lab: Lab, spec: ClusterSpec, since: float) -> list[dict[str, Any]]:
    """Every director's address changes since ``since``, oldest first."""
    changes = [
        c
        for d in spec.directors
        for c in outage.parse_monitor(lab.log_path(d.name, "ip-monitor").read_text(), d.name)
        if c.time >= since
    ]
    return [asdict(c) for c in sorted(changes, key=lambda c: c.time)]


def vrrp_events(lab: Lab, spec: ClusterSpec, since: float) -> list[dict[str, Any]]:
    """Every director's VRRP state changes since ``since``, oldest first."""
    events: list[tuple[str, VrrpEvent]] = [
        (d.name, e)
        for d in spec.directors
        for e in directors.keepalived(lab, d.name).events()
        if e.time >= since
    ]
    return [{"node": n, **asdict(e)} for n, e in sorted(events, key=lambda p: p[1].time)]


@dataclass(frozen=True)
class Probe:
    """The client probe (:func:`cluster.lab.traffic.probe`) running in the lab's first
    client against the spec's VIP, port 80: a request every 10 ms, each on a connection of
    its own, until :meth:`finish` (or ``limit`` seconds). Failover trials and day-2
    operations (:mod:`cluster.bench.day2`) count what it saw."""

    lab: Lab
    pid: int
    started: float
    limit: float
    out: Path
    stop: Path

    @classmethod
    def start(
        cls, lab: Lab, spec: ClusterSpec, limit: float, timeout: float = 0.5, family: int = 4
    ) -> Probe:
        """``timeout``: a request not answered within it counts as failed (the probe's
        default, 0.5 s, catches a lost SYN, which TCP retries after 1 s); ``family``: the
        VIP probed, the spec's first of that address family."""
        client = next(n for n in lab.nodes if n.startswith("client"))
        out, stop = lab.paths.share / "probe.json", lab.paths.share / "probe.stop"
        stop.unlink(missing_ok=True)
        url = join_host_port(ipaddress.ip_address(_vip(spec, family)), 80)
        pid, started = spawn_until_started(
            lab, client,
            ["probe", url, "--duration", f"{limit:.2f}", "--timeout", f"{timeout:g}",
             "--stop-file", str(stop), "--out", str(out)],
            "probe",
        )  # fmt: skip
        return cls(lab, pid, started, limit, out, stop)

    def finish(self) -> dict[str, Any]:
        """Stop the probe and return its document (``samples``: see :mod:`.outage`)."""
        self.stop.touch()
        wait_exit(self.lab, self.pid, self.limit)
        return dict(json.loads(self.out.read_text()))


def trial(lab: Lab, scenario: Scenario, progress: Progress, tail: float = 2.0) -> dict[str, Any]:
    spec = scenario.spec()
    ensure_cluster(lab, spec, progress)
    master, backup, _ = _roles(spec)
    target = master if scenario.on == "master" else backup
    expected = window(scenario, spec)
    horizon = (expected[1] if expected else 3 * _advert(spec) + 1) + tail + _advert(spec)
    # the fault's own start-up may be slow on a loaded host
    running = Probe.start(lab, spec, BASELINE + horizon + 30, family=scenario.family)
    time.sleep(max(0.0, running.started + BASELINE - time.time()))
    fault = faults.DirectorFault(scenario.fault, target, scenario.interface)
    at = faults.inject_director(lab, fault, spec)
    time.sleep(max(0.0, at + horizon - time.time()))
    probe = running.finish()
    # the state the fault left, before it is undone: split brain, a stuck VIP, or a clean move
    after = directors.holders(lab, spec)
    changed = timeline(lab, spec, at - 0.5)
    events = vrrp_events(lab, spec, at - 0.5)
    faults.undo_director(lab, fault, spec)
    end = probe["samples"][-1][0] if probe["samples"] else at
    tail_samples = [s for s in probe["samples"] if s[0] > end - tail]
    tail_failed = [[round(s[0] - at, 3), s[2]] for s in tail_samples if s[2] != "ok"]
    tail_ok_share = 1 - len(tail_failed) / len(tail_samples) if tail_samples else 0.0
    changes = [outage.AddressChange(**c) for c in changed]

    def after_fault(node: str, added: bool = True) -> dict[str, float | None]:
        first = {
            v: outage.first_change(changes, v, node, at, added) for v in directors.floating(spec)
        }
        return {vip: (round(t - at, 4) if t else None) for vip, t in first.items()}

    takeover = after_fault(backup)
    summary = outage.summarize(
        probe["samples"], at, outage.moved_at({"fault_at": at, "takeover_s": takeover})
    )
    return {
        "scenario": scenario.name,
        "fault_at": at,
        "theory_window_s": expected,
        "takeover_s": takeover,
        # when each VIP left the master: a stopping keepalived sends priority 0 and then
        # deletes the instance's VIPs, so for a graceful stop this is when the backup's skew
        # timer starts; a restarted VRRP child deletes them too
        "left_master_s": after_fault(master, added=False),
        # when the master held each VIP again before the undo: a restarted VRRP child
        # takes them back
        "returned_s": after_fault(master),
        "holders_after": after,
        # up or down, as a user would call it: a stray failed request (a one-CPU guest's
        # hiccup) does not make a service down, and a cluster that answers nothing is not up
        "service_at_end": tail_ok_share >= SERVICE_UP_SHARE,
        "tail_ok_share": round(tail_ok_share, 4),
        "tail_failed": tail_failed,  # [seconds after the fault, outcome]
        **summary,
        "vrrp_events": events,
        "address_changes": changed,
        "samples": probe["samples"],
    }


def _vip(spec: ClusterSpec, family: int = 4) -> str:
    """The first virtual service address of ``family``: what the client probes."""
    return str(
        next(
            vs.address
            for vs in spec.virtual_services
            if vs.address is not None and vs.address.version == family
        )
    )


def _context() -> dict[str, Any]:
    """The host's load as the trials start (the document's provenance has the rest)."""
    return {
        # other labs on the host slow the guest; timings are read with this in mind
        "loadavg_1m_start": os.getloadavg()[0],
        "time": time.time(),
    }


def run(lab: Lab, scenario: Scenario, trials: int, progress: Progress = print) -> dict[str, Any]:
    """``trials`` trials of ``scenario``; the document keeps every raw sample."""
    context = _context()
    results = []
    for n in range(1, trials + 1):
        result = trial(lab, scenario, progress)
        results.append(result)
        took = ", ".join(f"{v}" for v in result["takeover_s"].values())
        progress(
            f"{scenario.name} trial {n}/{trials}: outage {result['outage_s']:.3f} s, "
            f"{result['outage_failed']} failed, takeover {took} s, "
            f"holders {result['holders_after']}"
        )
    spec = scenario.spec()
    return {
        "benchmark": "failover",
        "scenario": asdict(scenario) | {"name": scenario.name},
        "priorities": {d.name: d.priority for d in spec.directors},
        "theory_window_s": window(scenario, spec),
        "outage_s": outage.stats([r["outage_s"] for r in results]),
        "failed_requests": outage.stats([r["outage_failed"] for r in results]),
        "context": context | {"loadavg_1m_end": os.getloadavg()[0]},
        "trials": results,
    }


# --- connections across a failover ----------------------------------------------------------


def with_echo(spec: ClusterSpec) -> ClusterSpec:
    """``spec`` plus an echo service on the VIP, for long-lived connections."""
    servers = {rs.address for vs in spec.virtual_services for rs in vs.real_servers}
    echo = VirtualService(
        name="echo", address=_vip(spec), port=ECHO_PORT, scheduler="rr", delay_loop=2,
        real_servers=[
            RealServer(address=a, port=ECHO_PORT, check=Check(type="TCP_CHECK", connect_timeout=1))
            for a in sorted(servers, key=str)
        ],
    )  # fmt: skip
    return spec.model_copy(update={"virtual_services": [*spec.virtual_services, echo]})


def _ensure_echo(lab: Lab, spec: ClusterSpec) -> None:
    running = {s["ns"] for s in lab.services() if s["returncode"] is None and "echo" in s["argv"]}
    for node in lab.nodes:
        if node.startswith("realserver") and node not in running:
            spawn_until_started(lab, node, ["echo", "--port", str(ECHO_PORT)], "echo")


def _echo_clients(lab: Lab, node: str) -> set[str]:
    """The clients (``host:port``) of every established echo connection in ``node``'s IPVS."""
    text = lab.read_text(node, "/proc/thread-self/net/ip_vs_conn")
    return {
        c.client
        for c in ipvsadm.parse_connections(text)
        if c.state == "ESTABLISHED" and c.virtual.endswith(f":{ECHO_PORT}")
    }


def _wait_synced(lab: Lab, backup: str, stale: set[str], conns: int, timeout: float) -> set[str]:
    """Wait until the backup holds ``conns`` new established echo connections (or the
    timeout ends); returns the new ones."""
    deadline = time.monotonic() + timeout
    while True:
        new = _echo_clients(lab, backup) - stale
        if len(new) >= conns or time.monotonic() > deadline:
            return new
        time.sleep(0.05)


def connection_trial(
    lab: Lab, sync: bool, conns: int, advert_int: float, progress: Progress
) -> dict[str, Any]:
    """Hold ``conns`` connections through the VIP while the master dies; count survivors.

    With sync the master strikes only once the backup holds every connection: IPVS's
    master sync thread sends its buffer when it is full or :data:`SYNC_FLUSH_S` old, so a
    connection younger than that may not be on the backup yet, and dies with the master.
    ``synced_after_s`` records how long that took.
    """
    spec = with_echo(lab_variant(load_seed_spec(), "fixed", advert_int, 3, sync))
    _ensure_echo(lab, spec)
    ensure_cluster(lab, spec, progress)
    master, backup, priority = _roles(spec)
    wait = theory.master_down_interval(priority, advert_int, 3)
    client = next(n for n in lab.nodes if n.startswith("client"))
    out = lab.paths.share / "hold.json"
    sync_wait = 2 * SYNC_FLUSH_S if sync else 0.0
    duration = 2 * BASELINE + sync_wait + wait + 3
    stale = _echo_clients(lab, backup)
    pid, started = spawn_until_started(
        lab, client,
        ["hold", f"{_vip(spec)}:{ECHO_PORT}", "--conns", str(conns), "--duration",
         f"{duration:.2f}", "--out", str(out)],
        "hold",
    )  # fmt: skip
    # the sync daemon sends a connection after its third packet: let each exchange a few
    time.sleep(max(0.0, started + 2 * BASELINE - time.time()))
    synced = _wait_synced(lab, backup, stale, conns, sync_wait) if sync else set()
    synced_after = round(time.time() - started, 3) if sync else None
    fault = faults.DirectorFault("dies", master)
    at = faults.inject_director(lab, fault, spec)
    wait_exit(lab, pid, duration + 60)
    held = json.loads(out.read_text())
    faults.undo_director(lab, fault, spec)
    alive = [c for c in held["connections"] if c["error"] is None]
    return {
        "sync": sync,
        "advert_int": advert_int,
        "fault_at": at,
        "connections": conns,
        "synced_to_backup_before": len({c.get("local") for c in held["connections"]} & synced),
        "synced_after_s": synced_after,
        "survived": len(alive),
        "survived_share": round(len(alive) / conns, 4),
        "errors": sorted({c["error"] for c in held["connections"] if c["error"]}),
        "raw": held,
    }


def run_connections(
    lab: Lab, trials: int, conns: int = 20, advert_int: float = 1.0, progress: Progress = print
) -> dict[str, Any]:
    context = _context()
    results: dict[str, list[dict[str, Any]]] = {"sync": [], "no-sync": []}
    for n in range(1, trials + 1):
        for sync in (True, False):
            result = connection_trial(lab, sync, conns, advert_int, progress)
            results["sync" if sync else "no-sync"].append(result)
            progress(
                f"connections {'with' if sync else 'without'} sync, trial {n}/{trials}: "
                f"{result['survived']}/{conns} survived ({', '.join(result['errors']) or 'ok'})"
            )
    return {
        "benchmark": "failover-connections",
        "conns": conns,
        "advert_int": advert_int,
        "survived_share": {
            k: outage.stats([r["survived_share"] for r in v]) for k, v in results.items()
        },
        "context": context | {"loadavg_1m_end": os.getloadavg()[0]},
        "trials": results,
    }


# --- the 2007 article's cable-pull table, and the silent drop ----------------------------------

#: (fault, interface, director) rows: the article's six pulls, then a silent drop and a
#: partition of the master.
CABLE_ROWS: list[tuple[str, str | None, str]] = [
    *(("link-down", links, on) for on in ("master", "backup")
       for links in ("eth0,eth1", "eth0", "eth1")),
    ("link-drop", "eth0", "master"),
    ("link-drop", "eth1", "master"),
    ("partition", None, "master"),
]  # fmt: skip


def verdict(trial: dict[str, Any]) -> str:
    """Where the VIPs ended up, in words: the outcome a table row reports."""
    holders = trial["holders_after"]
    owners = {tuple(v) for v in holders.values()}
    if any(len(o) > 1 for o in owners):
        where = "split brain (both hold a VIP)"
    elif any(len(o) == 0 for o in owners):
        where = "a VIP held by nobody"
    elif len(owners) > 1:
        where = "VIPs split across the directors"
    else:
        where = f"both VIPs on {owners.pop()[0]}"
    service = "service ok" if trial["service_at_end"] else "service DOWN"
    return f"{where}, {service}"


def run_cable_table(
    lab: Lab, layouts: list[str], trials: int, advert_int: float, version: int,
    progress: Progress = print, rows: list[tuple[str, str | None, str]] = CABLE_ROWS,
) -> dict[str, Any]:  # fmt: skip
    """Every fault of ``rows`` (all :data:`CABLE_ROWS` by default) on every layout; each
    cell keeps its trials raw."""
    context = _context()
    cells = []
    for layout in layouts:
        for fault, links, on in rows:
            scenario = Scenario(fault, advert_int, version, layout, links, on)
            runs = [trial(lab, scenario, progress) for _ in range(trials)]
            verdicts = sorted({verdict(r) for r in runs})
            progress(f"{scenario.name}: {'; '.join(verdicts)}")
            cells.append({"layout": layout, "fault": fault, "links": links, "on": on,
                          "verdicts": verdicts, "trials": runs})  # fmt: skip
    context["loadavg_1m_end"] = os.getloadavg()[0]
    return {"benchmark": "failover-cable", "advert_int": advert_int, "version": version,
            "context": context, "cells": cells}  # fmt: skip
