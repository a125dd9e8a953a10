"""``cluster bench load``: ApacheBench through the VIP, and how IPVS split the connections.

``ab`` runs in a lab client, so the load crosses the router and the director as a user's
would. The split comes from the kernel, not from the responses: the connection counters of
the VIP holder's IPVS table before and after the run (``ipvsadm -Ln --stats --exact``).
IPVS folds its per-CPU counters into those totals every 2 s, so each reading waits for one
fold. With rr and equal weights, 300 requests split exactly 150/150, as the 2007 article
expects, when each request is one connection. By default ``ab`` runs one request at a
time: with ``-c 10`` in the one-CPU lab guest, ab now and then opens a few connections more
than it counts requests (measured with a SYN counter in the client: 304 SYNs for 300
requests, split 152/152). IPVS counts connections, so the split stays even but is then not
150/150.

>>> stats = '''TCP  192.168.0.174:80     12    60    50    4200    8000
...   -> 192.168.170.25:80     6    30    25    2100    4000
...   -> 192.168.170.35:80     6    30    25    2100    4000
... TCP  192.168.0.174:443     1    10     6    1236    2148
...   -> 192.168.170.35:443    1    10     6    1236    2148'''
>>> connections(stats, "TCP  192.168.0.174:80")
{'192.168.170.25:80': 6, '192.168.170.35:80': 6}
>>> parse_ab('''Complete requests:      300
... Failed requests:        0
... Requests per second:    301.5 [#/sec] (mean)''')
{'complete': 300, 'failed': 0, 'requests_per_s': 301.5}
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cluster.charts import save
from cluster.errors import LabError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from cluster.lab.lab import Lab

FOLD_S = 2.5  # IPVS's counters reach the totals every 2 s


def connections(stats: str, service: str) -> dict[str, int]:
    """Each real server's connection count under ``service`` ("TCP  VIP:PORT") in a
    ``ipvsadm -Ln --stats --exact`` listing."""
    counts: dict[str, int] = {}
    inside = False
    for line in stats.splitlines():
        if not line.startswith(" "):
            inside = line.split()[:2] == service.split()
        elif inside and line.strip().startswith("->") and line.split()[2].isdigit():
            counts[line.split()[1]] = int(line.split()[2])
    return counts


def parse_ab(output: str) -> dict[str, Any]:
    found = {
        key: re.search(rf"^{label}:\s+([\d.]+)", output, re.M)
        for key, label in (("complete", "Complete requests"), ("failed", "Failed requests"),
                           ("requests_per_s", "Requests per second"))
    }  # fmt: skip
    if not all(found.values()):
        raise LabError(f"ab printed no summary:\n{output.strip()[-500:]}")
    return {k: float(m[1]) if "." in m[1] else int(m[1]) for k, m in found.items() if m}


def vip_port(url: str) -> tuple[str, int]:
    """The address and port ``url`` connects to: the virtual service under load.

    >>> vip_port("https://192.168.0.174/"), vip_port("http://[2001:db8::1]:8080/x")
    (('192.168.0.174', 443), ('2001:db8::1', 8080))
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r}: want http://VIP[:PORT]/PATH or https://...")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def load_test(
    lab: Lab, url: str, director: str, requests: int = 300, concurrency: int = 1,
    client: str = "client1",
) -> dict[str, Any]:  # fmt: skip
    """Run ``ab`` from ``client`` against ``url``; ``director`` is the one holding the VIP."""
    vip, port = vip_port(url)
    service = f"TCP  {vip}:{port}"

    def reading() -> dict[str, int]:
        time.sleep(FOLD_S)
        listing = lab.run(director, "ipvsadm", "-Ln", "--stats", "--exact").check().stdout
        return connections(listing, service)

    before = reading()
    started = time.monotonic()
    ab = ["ab", "-q", "-n", str(requests), "-c", str(concurrency)]
    done = lab.run(client, *ab, url, timeout=600).check()
    wall = time.monotonic() - started
    after = reading()
    split = {rs: after[rs] - before.get(rs, 0) for rs in sorted(after)}
    result = parse_ab(done.stdout)
    if sum(split.values()) < result["complete"]:
        raise LabError(
            f"IPVS on {director} counted {sum(split.values())} connections for "
            f"{result['complete']} requests: the VIP moved during the run (an election after "
            "keepalived started?); run again once `cluster lab state` shows the master"
        )
    return {
        "benchmark": "load",
        "url": url,
        "client": client,
        "director": director,
        "requests": requests,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        **result,
        "split": split,
    }


def chart(document: dict[str, Any], prefix: Path) -> list[Path]:
    """The split as one bar per real server, with the even share marked."""
    from matplotlib import pyplot as plt  # after cluster.charts chose the off-screen back-end

    split = document["split"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(list(split), list(split.values()), color="#4a90c2")
    even = document["complete"] / max(1, len(split))
    ax.axhline(even, color="#d9534f", linestyle="--", label=f"even share ({even:g})")
    ax.set_ylabel("connections")
    ax.set_title(f"{document['complete']} requests to {document['url']}", fontsize=9)
    ax.legend(fontsize=8)
    return save(fig, prefix)
