"""Which real server gets each connection: the scheduler model's prediction beside a live run.

:mod:`cluster.ipvs.schedulers` models Linux's IPVS schedulers connection by connection. Here
the first virtual service of the spec is given a scheduler and weights
(:func:`variant`), applied to the lab's directors with ``cluster apply`` (keepalived reloads
and changes the live service), and loaded through the VIP with ``ab``, one connection at a
time; the split read from IPVS's counters is set beside the model's.

Live runs are made for rr and wrr: over a whole number of their cycles (a multiple of
:func:`period` connections) the count per server is the same wherever in its cycle the
kernel's pointer stood, so the prediction is exact without knowing the service's history.
The other schedulers also depend on the order keepalived added the servers, their open and
lingering connections, or the client addresses; their prediction is shown per client, and
the live comparison needs a service built fresh in a known order (``cluster bench load
--sweep``).

>>> from cluster.spec import load_seed_spec
>>> spec = variant(load_seed_spec(), "wrr", (3, 1))
>>> [(rs.address.compressed, rs.weight) for rs in spec.virtual_services[0].real_servers]
[('192.168.170.25', 3), ('192.168.170.35', 1)]
>>> period((3, 1)), period((2, 4)), period((1, 1))
(4, 3, 2)
>>> predicted(spec, 60)
{'192.168.170.25:80': 45, '192.168.170.35:80': 15}
>>> four = [f"203.0.113.{n}" for n in range(11, 15)]
>>> predicted(variant(load_seed_spec(), "sh", (1, 1)), 8, four)  # all four hash to one
{'192.168.170.25:80': 8}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cluster.course.figures import Chart, show
from cluster.course.target import LabTarget, Target
from cluster.ipvs.schedulers import Connection, predict, split
from cluster.ipvs.table import services_from_spec
from cluster.spec.model import ClusterSpec
from cluster.views import Note, Shows, SpecTable

LIVE = ("rr", "wrr")
RUNS: tuple[tuple[str, tuple[int, ...]], ...] = (("rr", (1, 1)), ("wrr", (3, 1)))
CLIENT = "203.0.113.11"  # client1's first address: where ab connects from


def variant(spec: ClusterSpec, scheduler: str, weights: Sequence[int]) -> ClusterSpec:
    """``spec`` with its first virtual service on ``scheduler``, its real servers weighted
    ``weights`` in the spec's order."""
    first = spec.virtual_services[0]
    if len(weights) != len(first.real_servers):
        raise ValueError(
            f"{first.name} has {len(first.real_servers)} real servers, not {len(weights)} weights"
        )
    servers = [
        rs.model_copy(update={"weight": w})
        for rs, w in zip(first.real_servers, weights, strict=True)
    ]
    changed = first.model_copy(update={"scheduler": scheduler, "real_servers": servers})
    return spec.model_copy(update={"virtual_services": [changed, *spec.virtual_services[1:]]})


def period(weights: Sequence[int]) -> int:
    """Connections in one cycle of rr or wrr over these weights."""
    return sum(weights) // math.gcd(*weights)


def predicted(spec: ClusterSpec, connections: int, clients: Sequence[str] = (CLIENT,)) -> dict:
    """The model's split of ``connections`` new connections (from ``clients`` in turn) on the
    spec's first service, built as keepalived builds it: its real servers added in order."""
    service = services_from_spec(spec, spec.virtual_services[0])[0]
    first = spec.virtual_services[0]
    order = [
        d for rs in first.real_servers for d in service.destinations if d.address == rs.address
    ]
    conns = [Connection(clients[n % len(clients)], open=False) for n in range(connections)]
    return split(predict(service.scheduler, order, conns))


def live(target: Target, scheduler: str, weights: Sequence[int], connections: int) -> dict:
    """One live run in the lab: the variant applied to the target's director (the VIP's
    holder; the backup's table plays no part), ``connections`` requests through the VIP one
    at a time, and the split beside the prediction."""
    from cluster.course import load, pair
    from cluster.course.table import wait_for_pool

    assert target.lab is not None
    spec = variant(target.spec, scheduler, weights)
    trial = LabTarget(target.lab, spec, target.node)
    pair.ready(trial)
    wait_for_pool(trial)
    document = load.run(trial, connections, 1)
    return {
        "scheduler": scheduler,
        "weights": list(weights),
        "connections": connections,
        "predicted": predicted(spec, connections),
        "measured": document["split"],
        "provenance": document["provenance"],
    }


def table(runs: list[dict[str, Any]]) -> SpecTable:
    rows = [
        (
            f"{r['scheduler']} {':'.join(map(str, r['weights']))}",
            server,
            str(n),
            str(r["measured"].get(server, 0)),
            "matches" if r["measured"].get(server, 0) == n else "DIFFERS",
        )
        for r in runs
        for server, n in r["predicted"].items()
    ]
    return SpecTable(
        "Predicted and measured connections per real server",
        ("scheduler, weights", "real server", "predicted", "measured", "verdict"),
        rows,
    )


def chart(runs: list[dict[str, Any]], name: str) -> Chart:
    """One group per run: the measured connections per real server as bars, the model's
    prediction as a black mark on each."""
    from matplotlib import pyplot as plt

    servers = sorted({s for r in runs for s in r["predicted"]})
    width = 0.8 / len(servers)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.8 * len(runs)), 3.8))
    for index, server in enumerate(servers):
        xs = [n + (index - (len(servers) - 1) / 2) * width for n in range(len(runs))]
        ax.bar(
            xs,
            [r["measured"].get(server, 0) for r in runs],
            width * 0.9,
            label=server,
            hatch="//" if index % 2 else "",
        )
        ax.scatter(
            xs,
            [r["predicted"].get(server, 0) for r in runs],
            marker="_",
            s=400,
            color="#222222",
            zorder=3,
            label="predicted" if index == 0 else None,
        )
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels(
        [
            f"{r['scheduler']} {':'.join(map(str, r['weights']))}\n{r['connections']} conns"
            for r in runs
        ]
    )
    ax.set_ylabel("connections")
    ax.set_title("IPVS's split against the scheduler model", fontsize=10)
    ax.legend(fontsize=8)
    return show(fig, name, runs[0]["provenance"])


def verdicts(runs: list[dict[str, Any]]) -> tuple[Note, ...]:
    return tuple(
        Note(
            f"{r['scheduler']} {':'.join(map(str, r['weights']))}, {r['connections']} "
            f"connections: measured {r['measured']}, predicted {r['predicted']}: "
            + (
                "the split matches the prediction"
                if r["measured"] == r["predicted"]
                else "DIFFERENT"
            ),
            "ok" if r["measured"] == r["predicted"] else "problem",
        )
        for r in runs
    )


def compare(
    target: Target, runs: Sequence[tuple[str, Sequence[int]]] = RUNS, connections: int = 60
) -> Shows:
    """Each (scheduler, weights) of ``runs`` live, beside the model; then the target's spec
    back on its director."""
    if target.lab is None:
        return Shows(
            (
                Note(
                    "live runs change the scheduler of a live service: the lab only; "
                    "the prediction alone is in the playground notebook",
                    "skipped",
                ),
            )
        )
    from cluster.course import pair

    results = [live(target, scheduler, weights, connections) for scheduler, weights in runs]
    pair.ready(target)
    return Shows((table(results), *verdicts(results), chart(results, "schedulers-live")))


def clients_table(spec: ClusterSpec, clients: Sequence[str]) -> SpecTable:
    """Where the model sends each client's first connection: what hashing schedulers
    (sh, mh) and persistence decide per client address."""
    service = services_from_spec(spec, spec.virtual_services[0])[0]
    first = spec.virtual_services[0]
    order = [
        d for rs in first.real_servers for d in service.destinations if d.address == rs.address
    ]
    assignments = predict(service.scheduler, order, [Connection(c, open=False) for c in clients])
    rows = [
        (str(a.connection.client), a.server.endpoint if a.server else "none") for a in assignments
    ]
    return SpecTable(
        f"{service.scheduler}: each client's first connection", ("client", "real server"), rows
    )


def playground(
    target: Target,
    scheduler: str,
    weights: Sequence[int],
    clients: Sequence[str],
    connections: int,
) -> Shows:
    """The model's split for the chosen scheduler, weights and clients, and where the model
    is exact whatever the service's past (rr, wrr), a live run beside it."""
    spec = variant(target.spec, scheduler, weights)
    shown: list[Any] = [
        SpecTable(
            f"{scheduler} {':'.join(map(str, weights))}: the model's split of "
            f"{connections} connections from {len(clients)} clients",
            ("real server", "connections"),
            [(s, str(n)) for s, n in predicted(spec, connections, clients).items()],
        ),
        clients_table(spec, clients),
    ]
    if scheduler not in LIVE:
        shown.append(
            Note(
                f"{scheduler} also depends on the order the servers were added and "
                "on their connections: compared live on a fresh service by "
                "`cluster bench load --sweep`",
                "note",
            )
        )
    elif target.lab is None:
        shown.append(
            Note("a live run changes the scheduler of a live service: lab only", "skipped")
        )
    elif connections % period(weights):
        shown.append(
            Note(
                f"a live run needs a multiple of {period(weights)} connections (one "
                f"{scheduler} cycle), not {connections}",
                "skipped",
            )
        )
    else:
        from cluster.course import pair

        run = live(target, scheduler, weights, connections)
        pair.ready(target)
        shown += [*verdicts([run]), chart([run], "playground")]
    return Shows(tuple(shown))
