"""One load run counted three ways, and every difference between the counts explained (pure).

``ab`` counts the requests it completed; IPVS counts the connections it scheduled, per real
server; each real server's access log has one line per connection it accepted, with the
client's address and port and the requests it answered on it. At ``-c 30`` these differ:
``ab`` opens a few connections more than it sends requests and closes them unused when it is
done, so IPVS schedules, say, 316 connections for 300 requests. Rather than hide that, each
connection a real server saw is looked up by client address and port in IPVS's connection
table, and :func:`reconcile` says what became of every one.

>>> from cluster.ipvs.ipvsadm import Connection as Row
>>> from cluster.lab.servers import AccessEntry
>>> rows = [Row("TCP", f"203.0.113.11:{p}", "192.168.0.174:80", rs, "TIME_WAIT", 119)
...         for p, rs in ((40001, "10.1:80"), (40002, "10.2:80"), (40003, "10.1:80"))]
>>> served = {"10.1:80": [AccessEntry(1.0, "203.0.113.11", 40001, 80, 1),
...                       AccessEntry(1.0, "203.0.113.11", 40003, 80, 0)],
...           "10.2:80": [AccessEntry(1.0, "203.0.113.11", 40002, 80, 1)]}
>>> table = table_by_client(rows, "192.168.0.174:80")
>>> found = reconcile(table, served, {"10.1:80": 2, "10.2:80": 1}, complete=2)
>>> found["server_requests"], found["fates"]
({'10.1:80': 1, '10.2:80': 1}, {'one request': 2, 'no request': 1})
>>> for line in found["explained"]:
...     print(line)
IPVS scheduled 3 connections (10.1:80 2, 10.2:80 1); the real servers saw 3 (10.1:80 2, 10.2:80 1)
2 carried one request each
1 carried no request: the client opened it and closed it unused (ab does at its end with -c > 1)
the real servers answered 2 requests (10.1:80 1, 10.2:80 1): ab counted 2 complete
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from cluster.errors import LabError
from cluster.ipvs.ipvsadm import connection_counts

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cluster.ipvs.ipvsadm import Connection
    from cluster.lab.servers import AccessEntry

#: What became of one connection IPVS scheduled, as the real server's log tells it.
FATES = {
    "one request": "carried one request each",
    "keep-alive": "carried several requests each (keep-alive)",
    "no request": "carried no request: the client opened it and closed it unused (ab does at "
    "its end with -c > 1)",
    "not accepted": "were scheduled by IPVS but never reached a server program (reset or "
    "dropped before accept)",
    "other server": "reached another server than the one IPVS's table names",
    "not in the table": "are not in IPVS's connection table (it expired, or they came another way)",
}
PERCENTILES = {"p50": 50, "p90": 90, "p99": 99, "max": 100}


def parse_ab(output: str) -> dict[str, Any]:
    """The summary of ``ab``'s output.

    >>> parse_ab('''Complete requests:      300
    ... Failed requests:        0
    ... Time taken for tests:   0.360 seconds
    ... Requests per second:    301.5 [#/sec] (mean)''')
    {'complete': 300, 'failed': 0, 'time_s': 0.36, 'requests_per_s': 301.5}
    """
    found = {
        key: re.search(rf"^{label}:\s+([\d.]+)", output, re.M)
        for key, label in (("complete", "Complete requests"), ("failed", "Failed requests"),
                           ("time_s", "Time taken for tests"),
                           ("requests_per_s", "Requests per second"))
    }  # fmt: skip
    if not all(found.values()):
        raise LabError(f"ab printed no summary:\n{output.strip()[-500:]}")
    return {k: float(m[1]) if "." in m[1] else int(m[1]) for k, m in found.items() if m}


def percentiles(csv_text: str) -> list[float]:
    """``ab -e``'s table: the time in ms within which 0, 1, ... 100 % of requests were served
    (microsecond resolution; 100 % is the slowest request).

    >>> table = percentiles("Percentage served,Time in ms\\n0,4.574\\n50,36.1\\n100,61.368\\n")
    >>> table
    [4.574, 36.1, 61.368]
    >>> latency(percentiles("served,ms\\n" + "\\n".join(f"{p},{p / 10}" for p in range(101))))
    {'p50': 5.0, 'p90': 9.0, 'p99': 9.9, 'max': 10.0}
    """
    rows = [line.split(",") for line in csv_text.splitlines()[1:] if line.strip()]
    return [float(ms) for _, ms in rows]


def latency(table: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max (ms) from :func:`percentiles`' full 0-100 table."""
    if len(table) != 101:
        raise LabError(f"ab -e wrote {len(table)} percentiles, not 101")
    return {name: table[p] for name, p in PERCENTILES.items()}


def stats_connections(stats: str, service: str) -> dict[str, int]:
    """Each real server's connection count under ``service`` ("TCP  VIP:PORT") in a
    ``ipvsadm -Ln --stats --exact`` listing.

    >>> stats = '''TCP  192.168.0.174:80     12    60    50    4200    8000
    ...   -> 192.168.170.25:80     6    30    25    2100    4000
    ...   -> 192.168.170.35:80     6    30    25    2100    4000
    ... TCP  192.168.0.174:443     1    10     6    1236    2148
    ...   -> 192.168.170.35:443    1    10     6    1236    2148'''
    >>> stats_connections(stats, "TCP  192.168.0.174:80")
    {'192.168.170.25:80': 6, '192.168.170.35:80': 6}
    """
    counts: dict[str, int] = {}
    inside = False
    for line in stats.splitlines():
        if not line.startswith(" "):
            inside = line.split()[:2] == service.split()
        elif inside and line.strip().startswith("->") and line.split()[2].isdigit():
            counts[line.split()[1]] = int(line.split()[2])
    return counts


def table_by_client(rows: Iterable[Connection], virtual: str) -> dict[str, Connection]:
    """IPVS's connection-table rows for ``virtual``, by client ``ip:port``: the kernel keeps
    one entry per client address and port to a virtual service, for two minutes after the
    connection closed (a client port used again replaces its entry)."""
    return {row.client: row for row in rows if row.virtual == virtual}


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def reconcile(
    table: dict[str, Connection],
    served: dict[str, list[AccessEntry]],
    ipvs_counts: dict[str, int],
    complete: int,
) -> dict[str, Any]:
    """Say, in lines a reader can check, how the counts of ``ab`` (``complete``), IPVS
    (``ipvs_counts``, its per-destination counters over the run) and the real servers
    (``served``: real server ``ip:port`` -> the run's access-log entries from the client)
    fit together. Each connection a server saw is looked up by its client address and port
    in IPVS's connection ``table`` (:func:`table_by_client`, read after the run); those IPVS
    scheduled and no server program saw are what its counters hold beyond the logs."""
    fates: Counter[str] = Counter()
    for server, entries in served.items():
        for entry in entries:
            row = table.get(f"{entry.client}:{entry.port}")
            if row is None:
                fates["not in the table"] += 1
            elif row.destination != server:
                fates["other server"] += 1
            else:
                fates[{0: "no request", 1: "one request"}.get(entry.requests, "keep-alive")] += 1
    requests = {server: sum(e.requests for e in entries) for server, entries in served.items()}
    connections = {server: len(entries) for server, entries in served.items()}
    unseen = {s: n - connections.get(s, 0) for s, n in ipvs_counts.items()}
    if any(unseen.values()):
        fates["not accepted"] = sum(unseen.values())
    explained = [
        f"IPVS scheduled {sum(ipvs_counts.values())} connections ({_listing(ipvs_counts)}); "
        f"the real servers saw {sum(connections.values())} ({_listing(connections)})"
    ]
    explained += [f"{n} {FATES[fate]}" for fate, n in fates.most_common()]
    answered = sum(requests.values())
    explained.append(
        f"the real servers answered {answered} requests ({_listing(requests)}): "
        + (f"ab counted {complete} complete" if answered == complete
           else f"ab counted {complete} complete, {answered - complete:+d} against the servers")
    )  # fmt: skip
    return {
        "server_requests": dict(sorted(requests.items())),
        "server_connections": dict(sorted(connections.items())),
        "ipvs_connections": dict(sorted(ipvs_counts.items())),
        "fates": dict(fates.most_common()),
        "explained": explained,
    }


def active_inactive(listing: str) -> dict[str, list[int]]:
    """Each real server's [ActiveConn, InActConn] in an ``ipvsadm -Ln`` listing of one
    service.

    >>> active_inactive('''TCP  192.168.0.174:8001 lc
    ...   -> 192.168.170.25:80            Masq    1      3          3
    ...   -> 192.168.170.35:80            Masq    1      2          4''')
    {'192.168.170.25:80': [3, 3], '192.168.170.35:80': [2, 4]}
    """
    return {server: list(pair) for (_, server), pair in connection_counts(listing).items()}
