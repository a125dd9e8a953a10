"""``cluster bench load``: ApacheBench through the VIP, counted exactly from three sides.

``ab`` runs in a lab client, so the load crosses the router and the director as a user's
would. Each trial is counted three ways (:mod:`cluster.bench.counts`): ``ab``'s complete
requests; IPVS's per-destination connection counters on the VIP holder (``ipvsadm -Ln
--stats --exact``, read after one 2 s fold of its per-CPU counters) and its connection
table; and the real servers' access logs, which name the client address and port of every
connection and the requests it carried. At ``-c 30`` ab opens a few connections more than
it sends requests and closes them unused, so IPVS counts more connections than there were
requests; the document says how many and what became of each, rather than hide them.

Requests per second and the latency percentiles (p50, p90, p99, max) come from ``ab``, the
percentiles from ``ab -e`` (microseconds). Several ``--trials`` give each figure a spread,
which ``cluster bench compare`` takes as the run's noise.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cluster.bench import counts, sweep
from cluster.errors import LabError, UsageError
from cluster.failover.bench import spawn_until_started, wait_exit, wait_line
from cluster.failover.outage import stats
from cluster.ipvs.ipvsadm import format_save, parse_connections, parse_save
from cluster.ipvs.schedulers import Connection, predict, split
from cluster.ipvs.table import ServiceKey, Table
from cluster.lab import directors
from cluster.lab.servers import parse_access_line
from cluster.lab.traffic import HOLDING

if TYPE_CHECKING:
    from cluster.ipvs.table import Service
    from cluster.lab.lab import Lab

Progress = Callable[[str], None]
FOLD_S = 2.5  # IPVS's counters reach the totals every 2 s
CONN_TABLE = "/proc/thread-self/net/ip_vs_conn"


def vip_port(url: str) -> tuple[str, int]:
    """The address and port ``url`` connects to: the virtual service under load.

    >>> vip_port("https://192.168.0.174/"), vip_port("http://[2001:db8::1]:8080/x")
    (('192.168.0.174', 443), ('2001:db8::1', 8080))
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r}: want http://VIP[:PORT]/PATH or https://...")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def live_service(lab: Lab, director: str, vip: str, port: int) -> Service:
    """The virtual service as the director's kernel holds it (``ipvsadm-save -n``)."""
    table = parse_save(lab.run(director, "ipvsadm-save", "-n").check().stdout, director)
    service = table.service(ServiceKey.inet("TCP", vip, port))
    if service is None or not service.destinations:
        raise LabError(f"{director} has no real servers for TCP {vip}:{port}")
    return service


def server_nodes(lab: Lab) -> dict[str, str]:
    """Real server address -> the lab node that is that server."""
    return {
        address: node
        for node, role in lab.state.services.items()
        if role == "realserver"
        for address in node_addresses(lab, node)
    }


def node_addresses(lab: Lab, node: str) -> set[str]:
    """A node's IPv4 addresses, loopback left out."""
    return {a["address"].split("/")[0] for a in lab.call(node, "addresses") if a["ifname"] != "lo"}


class AccessLogs:
    """The real servers' access logs, read through the lab (the guest's own view of the
    share, so no line the server wrote is missed); :meth:`since` gives what a run added."""

    def __init__(self, lab: Lab, nodes: dict[str, str]) -> None:
        self.lab, self.nodes = lab, nodes
        self.offsets = {address: self._size(node) for address, node in nodes.items()}

    def _size(self, node: str) -> int:
        path = str(self.lab.paths.access_log(node))
        done = self.lab.run(node, "stat", "-c", "%s", path)
        if not done.ok:
            raise LabError(
                f"{node} keeps no access log ({path}): its server predates access logs; "
                f"restart it with `cluster lab fault {node} down` and `... clear`"
            )
        return int(done.stdout)

    def since(self, port: int, clients: set[str]) -> dict[str, list[Any]]:
        """Each real server's (``ip:port``) connections from ``clients`` since the offsets."""
        found = {}
        for address, node in self.nodes.items():
            path = str(self.lab.paths.access_log(node))
            text = self.lab.run(node, "tail", "-c", f"+{self.offsets[address] + 1}", path)
            entries = [parse_access_line(line) for line in text.check().stdout.splitlines()]
            found[f"{address}:{port}"] = [
                e for e in entries if e.client in clients and e.server_port == port
            ]
        return found


def model_split(service: Service, scheduled: int) -> dict[str, Any] | None:
    """rr's spread of ``scheduled`` connections (and wrr's with equal weights), as counts
    largest first: which server a long-running service is at is unknown, but not how the
    counts come out. Other schedulers depend on more than the count: see the sweep."""
    weights = {d.weight for d in service.destinations}
    if not (service.scheduler == "rr" or (service.scheduler == "wrr" and len(weights) == 1)):
        return None
    one = Connection("198.51.100.1")
    counts_ = split(predict(service.scheduler, service.destinations, [one] * scheduled))
    return {"scheduler": service.scheduler, "counts": sorted(counts_.values(), reverse=True)}


def _ipvs_reading(lab: Lab, director: str, service: str) -> dict[str, int]:
    time.sleep(FOLD_S)
    listing = lab.run(director, "ipvsadm", "-Ln", "--stats", "--exact").check().stdout
    return counts.stats_connections(listing, service)


def _trial(
    lab: Lab, url: str, director: str, ab: list[str], client: str, before: dict[str, int],
    clients: set[str], nodes: dict[str, str],
) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    vip, port = vip_port(url)
    csv = lab.paths.share / "ab" / f"{client}-percentiles.csv"
    lab.run(client, "mkdir", "-p", str(csv.parent)).check()
    logs = AccessLogs(lab, nodes)
    done = lab.run(client, *ab, "-e", str(csv), url, timeout=3600).check()
    after = _ipvs_reading(lab, director, f"TCP  {vip}:{port}")
    rows = parse_connections(lab.read_text(director, CONN_TABLE))
    result = counts.parse_ab(done.stdout)
    scheduled = {rs: after[rs] - before.get(rs, 0) for rs in sorted(after)}
    server_ports = {int(rs.rsplit(":", 1)[1]) for rs in after}
    served = {k: v for p in server_ports for k, v in logs.since(p, clients).items() if k in after}
    seen = sum(len(entries) for entries in served.values())
    if sum(scheduled.values()) < seen:
        raise LabError(
            f"IPVS on {director} counted {sum(scheduled.values())} connections, the real "
            f"servers {seen}: the VIP moved during the run (an election after keepalived "
            "started?); run again once `cluster lab state` shows the master"
        )
    table = counts.percentiles(lab.read_text(client, str(csv)))
    trial = {
        **result,
        "latency_ms": counts.latency(table),
        "percentiles_ms": table,
        **counts.reconcile(
            counts.table_by_client(rows, f"{vip}:{port}"), served, scheduled, result["complete"]
        ),
    }
    return trial, after


def load_test(
    lab: Lab, url: str, director: str, requests: int = 300, concurrency: int = 1,
    client: str = "client1", keepalive: bool = False, trials: int = 1,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:  # fmt: skip
    """``trials`` runs of ``ab`` from ``client`` against ``url``, each counted from ab, IPVS
    and the real servers; ``director`` is the one holding the VIP."""
    vip, port = vip_port(url)
    service = live_service(lab, director, vip, port)
    nodes = server_nodes(lab)
    clients = node_addresses(lab, client)
    ab = ["ab", "-q", "-n", str(requests), "-c", str(concurrency), *(["-k"] if keepalive else [])]
    reading = _ipvs_reading(lab, director, f"TCP  {vip}:{port}")
    runs = []
    started = time.monotonic()
    for n in range(1, trials + 1):
        trial, reading = _trial(lab, url, director, ab, client, reading, clients, nodes)
        runs.append(trial)
        late = trial["latency_ms"]
        progress(
            f"trial {n}/{trials}: {trial['complete']} requests, {trial['failed']} failed, "
            f"{trial['requests_per_s']:g} requests/s; ms p50 {late['p50']:g} p90 "
            f"{late['p90']:g} p99 {late['p99']:g} max {late['max']:g}"
        )
        for line in trial["explained"]:
            progress(f"  {line}")
    total: dict[str, int] = {}
    for trial in runs:
        for server, n in trial["server_requests"].items():
            total[server] = total.get(server, 0) + n
    scheduled = sum(sum(t["ipvs_connections"].values()) for t in runs)
    return {
        "benchmark": "load",
        "url": url,
        "client": client,
        "director": director,
        "service": str(service),
        "servers": {f"{a}:{port}": node for a, node in nodes.items()},
        "requests": requests,
        "concurrency": concurrency,
        "keepalive": keepalive,
        "trials": trials,
        "wall_s": round(time.monotonic() - started, 3),
        "complete": sum(t["complete"] for t in runs),
        "failed": sum(t["failed"] for t in runs),
        "split": dict(sorted(total.items())),
        "model": model_split(service, scheduled),
        "ipvs_split": {
            rs: sum(t["ipvs_connections"].get(rs, 0) for t in runs) for rs in sorted(total)
        },
        "requests_per_s": stats([t["requests_per_s"] for t in runs]),
        "latency_ms": {
            name: stats([t["latency_ms"][name] for t in runs]) for name in counts.PERCENTILES
        },
        "runs": runs,
    }


# --- the scheduler sweep ---------------------------------------------------------------------


def _ensure_ports(lab: Lab, progress: Progress) -> None:
    """The sweep's ports open in both directors' firewalls: ``cluster apply`` with the
    running spec plus ``allow`` rules (only the firewall changes; keepalived keeps running)."""
    spec = directors.running_spec(lab)
    opened = sweep.open_ports(spec)
    if opened == spec:
        return
    progress(f"opening ports {sweep.PORTS[0]}-{sweep.PORTS[-1]} on the directors (cluster apply)")
    failed = [r for r in directors.apply(lab, opened).values() if not r.ok]
    if failed:
        raise LabError("; ".join(f"{r.node}: cluster apply exited {r.rc}: {r.stderr.strip()}"
                                 for r in failed))  # fmt: skip
    directors.wait_for_master(lab, opened, opened.master().name)


def _sources(lab: Lab, client: str, wanted: int) -> tuple[list[str], list[str]]:
    """``wanted`` source addresses on ``client``: its own, then free ones of its subnet added
    to its interface. Returns (all in order, the added ones, to remove afterwards)."""
    found = [a for a in lab.call(client, "addresses") if a["ifname"] != "lo"]
    own = sorted((a["address"].split("/")[0] for a in found), key=ipaddress.ip_address)
    if len(own) >= wanted:
        return own[:wanted], []
    network = ipaddress.ip_interface(found[0]["address"]).network
    used = {a for node in lab.nodes for a in node_addresses(lab, node)}
    free = [str(h) for h in network.hosts() if h.packed[-1] >= 100 and str(h) not in used]
    added = free[: wanted - len(own)]
    if len(own) + len(added) < wanted:
        raise UsageError(f"{client}'s subnet {network} has room for {len(own) + len(added)} "
                         f"source addresses, not {wanted}")  # fmt: skip
    batch = "".join(f"address add {a}/{network.prefixlen} dev {found[0]['ifname']}\n"
                    for a in added)  # fmt: skip
    lab.run(client, "ip", "-batch", "-", input=batch).check()
    return own + added, added


def _drop_sources(lab: Lab, client: str, added: list[str]) -> None:
    found = {a["address"].split("/")[0]: a for a in lab.call(client, "addresses")}
    batch = "".join(f"address del {found[a]['address']} dev {found[a]['ifname']}\n"
                    for a in added if a in found)  # fmt: skip
    if batch:
        lab.run(client, "ip", "-batch", "-", input=batch).check()


def _free_ports(lab: Lab, director: str, vip: str, count: int, progress: Progress) -> list[int]:
    """``count`` of the sweep's ports on which IPVS holds no connection or persistence
    template of an earlier sweep (see :data:`cluster.bench.sweep.PORTS`); waits for
    entries to expire when too few are free."""
    deadline, told = time.monotonic() + 400, False
    while True:
        ours = {f"{vip}:{p}" for p in sweep.PORTS}
        rows = [r for r in parse_connections(lab.read_text(director, CONN_TABLE))
                if r.virtual in ours]  # fmt: skip
        free = [p for p in sweep.PORTS if f"{vip}:{p}" not in {r.virtual for r in rows}]
        if len(free) >= count:
            return free[:count]
        if time.monotonic() > deadline:
            raise LabError(f"only {len(free)} of the sweep's ports are free of IPVS entries")
        if not told:
            longest = max(r.expires_s for r in rows)
            progress(f"{len(free)} sweep ports free, {count} needed: waiting for the entries "
                     f"of earlier sweeps to expire (up to {longest} s)")  # fmt: skip
            told = True
        time.sleep(2)


def _connect(lab: Lab, client: str, vip: str, vport: int, run: sweep.Run, director: str,
             ) -> tuple[list[dict[str, Any]], dict[str, list[int]] | None]:  # fmt: skip
    """Run the traffic job for one run; with held connections, read the service's active
    and inactive counts while they are open."""
    work = lab.paths.share / "sweep"  # written from inside: the share is the guest user's
    plan, out = work / f"{vport}.plan.json", work / f"{vport}.out.json"
    release = work / f"{vport}.release"
    lab.run(client, "mkdir", "-p", str(work)).check()
    lab.run(client, "rm", "-f", str(release), str(out)).check()
    lab.write_file(
        client, str(plan), json.dumps([[c.source, c.port, c.hold] for c in run.connections])
    )
    name = f"sweep-{vport}"
    log = lab.log_path(client, name)
    offset = log.stat().st_size if log.exists() else 0
    pid, _ = spawn_until_started(lab, client, ["connect", f"{vip}:{vport}", "--plan", str(plan),
                                               "--release", str(release), "--out", str(out)],
                                 name)  # fmt: skip
    counters = None
    if any(c.hold for c in run.connections):
        if wait_line(lab, pid, log, offset, HOLDING, 120) is None:
            raise LabError(f"the sweep's traffic job for {run.name} never held; see {log}")
        listing = lab.run(director, "ipvsadm", "-Ln", "-t", f"{vip}:{vport}").check().stdout
        counters = counts.active_inactive(listing)
        lab.write_file(client, str(release), "")
    wait_exit(lab, pid, 120)
    return json.loads(out.read_text())["connections"], counters


def run_sweep(
    lab: Lab, director: str, vip: str, client: str = "client1", connections: int = 60,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:  # fmt: skip
    """Every run of :func:`cluster.bench.sweep.default_runs` through the VIP, each on a
    service of its own, its prediction beside its measurement."""
    nodes = server_nodes(lab)
    port = sweep.SERVER_PORT
    addresses = sorted(nodes, key=ipaddress.ip_address)
    names = {node: f"{address}:{port}" for address, node in nodes.items()}
    _ensure_ports(lab, progress)
    sources, added = _sources(lab, client, max(4, connections))
    planned = sweep.default_runs(sources, connections)
    ports = _free_ports(lab, director, vip, len(planned), progress)
    runs = [run.on(p) for run, p in zip(planned, ports, strict=True)]
    services = [sweep.service(r, vip, p, addresses, port) for r, p in zip(runs, ports, strict=True)]
    drop = "".join(f"ipvsadm -D -t {vip}:{p} 2>/dev/null; " for p in sweep.PORTS) + "true"
    results = []
    try:
        lab.sh(director, drop).check()
        progress(f"{len(runs)} services on {vip}, ports {', '.join(map(str, ports))}, "
                 f"real servers added in address order (cluster ipvs restore)")  # fmt: skip
        lab.run_cluster(director, "ipvs", "restore", input=format_save(Table(tuple(services))),
                        timeout=300).check()  # fmt: skip
        for n, (run, vport) in enumerate(zip(runs, ports, strict=True), 1):
            records, counters = _connect(lab, client, vip, vport, run, director)
            listing = lab.run(director, "ipvsadm", "-Ln", "-t", f"{vip}:{vport}").check().stdout
            verdict = sweep.judge(run, addresses, port, records, names, counters)
            result = {
                **verdict,
                "virtual": f"{vip}:{vport}",
                "ipvs_split": {s: sum(c) for s, c in counts.active_inactive(listing).items()},
                **sweep.timing(records),
                "records": records,
            }
            results.append(result)
            progress(f"{n}/{len(runs)} {run.name}: predicted {verdict['predicted_split']}, "
                     f"measured {verdict['measured_split']}, "
                     f"{'exact' if verdict['exact'] else 'MISMATCH'}"
                     + (f", counters {counters}" if counters else ""))  # fmt: skip
    finally:
        lab.sh(director, drop)
        _drop_sources(lab, client, added)
    return {
        "benchmark": "sweep",
        "vip": vip,
        "director": director,
        "client": client,
        "servers": {f"{a}:{port}": n for a, n in nodes.items()},
        "sources": len(sources),
        "connections_per_run": connections,
        "exact": all(r["exact"] for r in results),
        "runs": results,
    }
