"""The scheduler sweep as data: which runs, the model's prediction of each, and the verdict.

A run is one scheduler, one weight set and one list of planned connections (source address,
source port, held open or not). Each run gets a virtual service of its own, made for it and
empty, and its real servers are added in address order, the order ``cluster ipvs restore``
uses: that is the order :func:`predict_run` gives the model
(:mod:`cluster.ipvs.schedulers`), so the prediction is exact, connection by connection:

- rr and wrr for the weight sets 1:1, 1:2 and 3:1 (rr ignores weights);
- lc and wlc over many client addresses, every other connection held open (active) and the
  rest closed at once (inactive), so the active and inactive counts both matter; the counts
  ``ipvsadm -Ln`` shows while the held ones are open are predicted too;
- sh (also with ``sh-port``) and mh, each client address once: each lands where its hash
  says;
- persistence: rr with a 300 s timeout, each client address coming back four times.

Pure: :mod:`cluster.bench.load` runs the plan in the lab and hands the measurements back to
:func:`judge`.

>>> runs = default_runs([f"203.0.113.{n}" for n in range(100, 164)], connections=12)
>>> [run.name for run in runs][:7]
['rr 1:1', 'rr 1:2', 'rr 3:1', 'wrr 1:1', 'wrr 1:2', 'wrr 3:1', 'lc 1:1']
>>> servers = ["10.0.0.1", "10.0.0.2"]  # weights 3 and 1: the kernel lists 10.0.0.2 first
>>> "".join(str(a.server.address)[-1] for a in predict_run(runs[5], servers, 80))
'211121112111'
>>> held_counters(runs[6], servers, 80)  # lc, 12 clients, 6 of them still open
{'10.0.0.2:80': [3, 3], '10.0.0.1:80': [3, 3]}
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cluster.errors import UsageError
from cluster.ipvs.schedulers import Assignment, Connection, Persistence, ServiceModel, split
from cluster.ipvs.table import Destination, Service, ServiceKey, sched_flag_bits
from cluster.spec.model import AllowRule, ClusterSpec

#: The sweep's virtual ports on the VIP, one per run; ``cluster bench load --sweep`` opens
#: them in the directors' firewalls (``allow`` rules of the spec). A run takes a port on
#: which IPVS holds no entry of an earlier run (they stay two minutes, and a persistence
#: template longer): a real server added again to a service of the same address and port is
#: revived with the counters of the connections that still point to it. Twice the runs of
#: a sweep, so that two sweeps in a row need not wait for each other.
PORTS = tuple(range(8001, 8033))
#: Each port's runs bind source ports from ``FIRST_SOURCE_PORT + index * PORTS_PER_RUN``:
#: below Linux's ephemeral range (32768), so no other client on the node takes one, and
#: fresh for every connection that reaches a real server within its TIME_WAIT.
FIRST_SOURCE_PORT = 1024
PORTS_PER_RUN = 960
#: The lab's real servers' HTTP port, where every sweep service sends its connections (NAT).
SERVER_PORT = 80
WEIGHT_SETS = ((1, 1), (1, 2), (3, 1))
PERSISTENCE_S = 300


@dataclass(frozen=True)
class Planned:
    """One connection of a run: from ``source``:``port``; ``hold`` keeps it open (active)
    until every connection of the run has been scheduled."""

    source: str
    port: int
    hold: bool = False

    def moved(self, offset: int) -> Planned:
        return replace(self, port=self.port + offset)


@dataclass(frozen=True)
class Run:
    """One service and the connections sent to it; ``weights`` follow the real servers in
    address order, the order they are added in."""

    scheduler: str
    weights: tuple[int, ...]
    connections: tuple[Planned, ...]
    flags: tuple[str, ...] = ()
    persistence: int = 0
    shows: str = ""
    name: str = field(init=False)

    def __post_init__(self) -> None:
        words = [self.scheduler, ":".join(map(str, self.weights)), *self.flags]
        if self.persistence:
            words.append(f"persistent {self.persistence}")
        object.__setattr__(self, "name", " ".join(words))

    def on(self, vport: int) -> Run:
        """This run as sent to virtual port ``vport``: with that port's source ports."""
        offset = FIRST_SOURCE_PORT + PORTS.index(vport) * PORTS_PER_RUN
        return replace(self, connections=tuple(c.moved(offset) for c in self.connections))


def _plan(sources: Sequence[str], count: int, hold: bool = False,
          rounds: int = 1) -> tuple[Planned, ...]:  # fmt: skip
    """``count`` connections over ``sources`` in turn (``rounds`` passes over each when
    given), from source ports 0, 1, ... (:meth:`Run.on` moves them); every other one held
    when ``hold``."""
    picks = [sources[i % len(sources)] for i in range(count)] if rounds == 1 else [
        source for _ in range(rounds) for source in sources[: count // rounds]
    ]  # fmt: skip
    return tuple(Planned(source, i, hold and i % 2 == 0) for i, source in enumerate(picks))


def default_runs(sources: Sequence[str], connections: int = 60) -> list[Run]:
    """The sweep: rr and wrr for each weight set, lc and wlc, sh and mh, persistence; each
    run ``connections`` long, over ``sources`` (sh, mh, lc and wlc take one connection per
    address, so give them as many addresses as connections)."""
    if connections > PORTS_PER_RUN:
        raise UsageError(f"at most {PORTS_PER_RUN} connections per run, not {connections}")
    runs: list[Run] = []

    def add(scheduler: str, weights: tuple[int, ...], plan: tuple[Planned, ...],
            shows: str, **options: Any) -> None:  # fmt: skip
        runs.append(Run(scheduler, weights, plan, shows=shows, **options))

    few = sources[:4]
    for scheduler in ("rr", "wrr"):
        for weights in WEIGHT_SETS:
            add(scheduler, weights, _plan(few, connections), "the split, in turn")
    many = sources[: min(connections, len(sources))]
    for scheduler, weights in (("lc", (1, 1)), ("wlc", (1, 2)), ("wlc", (3, 1))):
        add(scheduler, weights, _plan(many, len(many), hold=True),
            "active and inactive connections decide")  # fmt: skip
    for weights in ((1, 1), (3, 1)):
        add("sh", weights, _plan(many, len(many)), "each client address's server")
    per_port = max(1, len(many) // 4)
    add("sh", (1, 1), _plan(many[:per_port], 4 * per_port, rounds=4),
        "the source port hashed too", flags=("sh-port",))  # fmt: skip
    for weights in ((1, 1), (1, 2)):
        add("mh", weights, _plan(many, len(many)), "each client address's server")
    clients = many[: max(1, len(many) // 4)]
    add("rr", (1, 1), _plan(clients, 4 * len(clients), rounds=4),
        "each client keeps its server", persistence=PERSISTENCE_S)  # fmt: skip
    return runs


def servers_of(run: Run, addresses: Sequence[str], port: int) -> list[Destination]:
    """The run's real servers, in the order they are added (address order), with weights."""
    ordered = sorted(addresses, key=ipaddress.ip_address)
    return [
        Destination(ipaddress.ip_address(a), port, weight=w)
        for a, w in zip(ordered, run.weights, strict=True)
    ]


def service(run: Run, vip: str, vport: int, addresses: Sequence[str], port: int) -> Service:
    """The run's virtual service, as ``cluster ipvs restore`` is given it."""
    return Service(
        ServiceKey.inet("TCP", vip, vport),
        run.scheduler,
        timeout=run.persistence,
        sched_flags=sched_flag_bits(run.flags),
        destinations=tuple(servers_of(run, addresses, port)),
    )


def predict_run(
    run: Run, addresses: Sequence[str], port: int, at: Sequence[float] | None = None
) -> list[Assignment]:
    """Where the model sends each planned connection; ``at`` (seconds from the first) only
    matters with persistence, whose timeout is far longer than a run."""
    model = ServiceModel(
        run.scheduler,
        run.flags,
        Persistence(run.persistence) if run.persistence else None,
    )
    for server in servers_of(run, addresses, port):
        model.add(server)
    times = at or [0.0] * len(run.connections)
    return [
        model.connect(Connection(c.source, c.port, t, open=c.hold))
        for c, t in zip(run.connections, times, strict=True)
    ]


def held_counters(run: Run, addresses: Sequence[str], port: int) -> dict[str, list[int]]:
    """Each real server's [active, inactive] connections once the run's connections are
    all scheduled, the held ones open: what ``ipvsadm -Ln`` shows at that moment."""
    model = ServiceModel(run.scheduler, run.flags)
    for server in servers_of(run, addresses, port):
        model.add(server)
    for c in run.connections:
        model.connect(Connection(c.source, c.port, open=c.hold))
    return {d.endpoint: [d.active_conns, d.inact_conns] for d in model.servers}


def judge(
    run: Run,
    addresses: Sequence[str],
    port: int,
    measured: list[dict[str, Any]],
    names: dict[str, str],
    counters: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """The run's prediction beside its measurement. ``measured`` are the traffic job's
    records in plan order (``server`` the node that answered); ``names`` maps a node to its
    ``ip:port``; ``counters`` are ``ipvsadm -Ln``'s [active, inactive] per real server while
    the held connections were open.

    Exact when every connection reached the predicted server (and the counters, where read,
    equal the model's).
    """
    start = measured[0]["at"] if measured else 0.0
    predicted = predict_run(run, addresses, port, [m["at"] - start for m in measured])
    got = [names.get(m["server"], m["server"] or m["outcome"]) for m in measured]
    want = [a.server.endpoint if a.server else "none" for a in predicted]
    wrong = [
        {"source": m["source"], "port": m["port"], "predicted": w, "measured": g}
        for m, w, g in zip(measured, want, got, strict=True)
        if w != g
    ]
    result: dict[str, Any] = {
        "name": run.name,
        "scheduler": run.scheduler,
        "weights": list(run.weights),
        "flags": list(run.flags),
        "persistence_s": run.persistence,
        "shows": run.shows,
        "connections": len(measured),
        "clients": len({c.source for c in run.connections}),
        "predicted_split": split(predicted),
        "measured_split": dict(sorted(Counter(got).items())),
        "mismatches": wrong,
        "exact": not wrong and len(measured) == len(run.connections),
    }
    if counters is not None:
        expected = held_counters(run, addresses, port)
        result["counters"] = {"predicted": expected, "measured": counters}
        result["exact"] = result["exact"] and counters == expected
    return result


def open_ports(spec: ClusterSpec) -> ClusterSpec:
    """``spec`` with the sweep's virtual ports open in the directors' firewalls (an ``allow``
    rule each), so that a client's packet to VIP:port reaches IPVS.

    >>> from cluster.spec import load_seed_spec
    >>> opened = open_ports(load_seed_spec())
    >>> [rule.port for rule in opened.firewall.allow] == list(PORTS), open_ports(opened) == opened
    (True, True)
    """
    have = {(rule.port, rule.protocol) for rule in spec.firewall.allow}
    extra = [AllowRule(port=port) for port in PORTS if (port, "tcp") not in have]
    if not extra:
        return spec
    firewall = spec.firewall.model_copy(update={"allow": [*spec.firewall.allow, *extra]})
    return spec.model_copy(update={"firewall": firewall})


def timing(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests per second over the run, and each connection's time to its answer as
    p50/p90/p99/max (ms, nearest rank): from connect to the answer's end, or from the
    release for a held connection.

    >>> timing([{"at": 0.0, "done": 0.002, "latency_s": 0.002},
    ...         {"at": 0.01, "done": 0.014, "latency_s": 0.004}])
    {'requests_per_s': 142.86, 'latency_ms': {'p50': 2.0, 'p90': 4.0, 'p99': 4.0, 'max': 4.0}}
    """
    done = sorted(r["latency_s"] * 1000 for r in records if r.get("latency_s") is not None)
    if not done:
        return {"requests_per_s": 0.0, "latency_ms": {}}
    wall = max(r["done"] or r["at"] for r in records) - min(r["at"] for r in records)

    def rank(p: int) -> float:
        return round(done[max(0, -(-p * len(done) // 100) - 1)], 3)

    return {
        "requests_per_s": round(len(done) / wall, 2) if wall > 0 else 0.0,
        "latency_ms": {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": rank(100)},
    }
