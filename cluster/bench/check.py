"""``cluster bench check``: the wall and CPU time of one round of health checks.

The issue's targets are one round of 2,000 TCP_CHECKs in under 2 s and 2,000 HTTP_GETs in
under 5 s on one core. The endpoints are :mod:`cluster.bench.listeners`, in one of two places:

- loopback (the default): many 127.0.1.x addresses times many ports, served by a child
  process pinned to another core when there is one, so that the CPU time measured is the
  checker's alone;
- the lab (``--lab``): listeners on the lab's real servers, checked from director01's
  namespace, so every probe crosses the lab network as keepalived's would. In the UML guest
  the checker and the listeners share its one CPU, so the wall time includes serving.

Run ``cluster bench check --lab -o out/bench-check-lab.json`` with the lab up.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from cluster.bench.listeners import PAGE, allow_open_files, listen
from cluster.errors import UsageError
from cluster.lab.topology import seed_topology
from cluster.probes.checks import Job, run_round
from cluster.probes.digest import parse_response
from cluster.spec.model import Check, Url

if TYPE_CHECKING:
    from cluster.lab import Lab

SERVER_CORE, CHECKER_CORE = 1, 0
LAB_FIRST_PORT = 20000
"""The lab's listeners use ports from here up on each real server, clear of 80 and 443."""
CONNECT_TIMEOUT = 10.0
"""The seed spec's: a round in the lab's one-CPU guest takes seconds, and a tighter timeout
would time the checker failing on its own slowness rather than a full round."""

Progress = Callable[[str], None]
Endpoint = tuple[str, int]


async def _serve(ips: int, ports: int, pipe: Connection) -> None:
    addresses = await listen([(f"127.0.1.{i + 1}", 0) for i in range(ips) for _ in range(ports)])
    pipe.send(addresses)
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # any message, or EOF


def _server_process(ips: int, ports: int, pipe: Connection) -> None:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {SERVER_CORE})
    asyncio.run(_serve(ips, ports, pipe))


@dataclass(frozen=True)
class RoundResult:
    kind: str
    checks: int
    up: int
    wall_s: float
    cpu_s: float
    first_failure: str | None


def _timed_round(kind: str, jobs: list[Job]) -> RoundResult:
    cpu, wall = time.process_time(), time.perf_counter()
    verdicts = asyncio.run(run_round(jobs))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    down = [v for v in verdicts if not v.ok]
    return RoundResult(kind, len(jobs), len(verdicts) - len(down), round(wall, 3),
                       round(cpu, 3), str(down[0]) if down else None)  # fmt: skip


def time_rounds(endpoints: list[Endpoint], progress: Progress) -> dict[str, Any]:
    """One TCP_CHECK round, then one HTTP_GET round with a digest, over every endpoint."""
    allow_open_files(len(endpoints) + 256)
    # One spec check shared by every real server, as a service's servers often share one.
    url = Url(path="/", digest=parse_response(PAGE).digest)
    rounds = []
    for kind, check in [
        ("TCP_CHECK", Check(type="TCP_CHECK", connect_timeout=CONNECT_TIMEOUT, retry=0)),
        ("HTTP_GET", Check(type="HTTP_GET", urls=[url], connect_timeout=CONNECT_TIMEOUT, retry=0)),
    ]:
        progress(f"one round of {len(endpoints)} {kind}s")
        rounds.append(_timed_round(kind, [Job("bench", ip, port, check) for ip, port in endpoints]))
        progress(f"{kind}: {rounds[-1].wall_s} s wall, {rounds[-1].cpu_s} s CPU")
    return {
        "endpoints": len(endpoints),
        "checker_cpu_affinity": sorted(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "rounds": [asdict(r) for r in rounds],
    }


def run(
    endpoints: int = 2000, ports_per_ip: int = 100, progress: Progress = print
) -> dict[str, Any]:
    """Serve ``endpoints`` loopback listeners, then time one TCP round and one HTTP round."""
    ips = -(-endpoints // ports_per_ip)
    if ips > 254:
        raise UsageError(f"{endpoints} endpoints need over 254 addresses; raise --ports-per-ip")
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_server_process, args=(ips, ports_per_ip, child), daemon=True
    )
    progress(f"starting {endpoints} loopback listeners on {ips} addresses")
    server.start()
    try:
        if not parent.poll(60):
            raise TimeoutError("the benchmark's loopback servers did not start within 60 s")
        addresses = parent.recv()[:endpoints]
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {CHECKER_CORE})
        result = time_rounds(addresses, progress)
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    return {
        "benchmark": "one round of health checks against loopback endpoints",
        "addresses": ips,
        **result,
    }


def run_lab(lab: Lab, endpoints: int = 2000, progress: Progress = print) -> dict[str, Any]:
    """Start listeners on the lab's real servers, time the rounds from director01, stop them.

    The rounds run as ``cluster bench check --targets`` in the director's namespace; the
    listeners are spread evenly over the real servers, ports from :data:`LAB_FIRST_PORT` on.
    """
    from cluster.lab.guest import python_argv

    topo = seed_topology()
    servers, director = topo.by_role("realserver"), topo.by_role("director")[0].name
    share, extra = divmod(endpoints, len(servers))
    counts = [share + (i < extra) for i in range(len(servers))]
    if max(counts) > 65536 - LAB_FIRST_PORT:
        raise UsageError(f"{endpoints} endpoints need more ports than the real servers have")
    listeners = [(rs, f"{LAB_FIRST_PORT}-{LAB_FIRST_PORT + n - 1}")
                 for rs, n in zip(servers, counts, strict=True) if n]  # fmt: skip
    targets = {rs.name: f"{rs.address}:{ports}" for rs, ports in listeners}
    progress(f"starting listeners: {', '.join(f'{k} {v}' for k, v in targets.items())}")
    lab.refresh_code()
    argv = ["-m", "cluster.bench.listeners"]
    pids = lab.start(
        (rs.name, python_argv(*argv, rs.address, ports), "bench-listeners")
        for rs, ports in listeners
    )
    try:
        progress(f"timing the rounds on {director} (its progress comes when it is done)")
        done = lab.run_cluster(director, "bench", "check", "--targets", *targets.values(),
                               timeout=900)  # fmt: skip
        for line in done.stderr.splitlines():
            progress(f"{director}: {line.removeprefix('==> ')}")
        result = json.loads(done.check().stdout)
    finally:
        for pid in pids:
            lab.stop(pid)
    return {
        **result,
        "benchmark": "one round of health checks against the lab's real servers",
        "checker_node": director,
        "listeners": targets,
    }


def run_targets(targets: list[tuple[str, range]], progress: Progress = print) -> dict[str, Any]:
    """Time the rounds against listeners that already run (``--targets``, what ``--lab`` runs
    inside the director)."""
    endpoints = [(address, port) for address, ports in targets for port in ports]
    return {"benchmark": "one round of health checks against listed endpoints",
            **time_rounds(endpoints, progress)}  # fmt: skip
