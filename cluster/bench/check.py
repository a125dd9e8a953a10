"""``cluster bench check``: the wall and CPU time of one round of health checks.

The issue's targets are one round of 2,000 TCP_CHECKs in under 2 s and 2,000 HTTP_GETs in
under 5 s on one core. The endpoints are loopback listeners (many 127.0.1.x addresses times
many ports) in a child process pinned to another core when there is one, so that the CPU time
measured is the checker's alone.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from cluster.errors import UsageError
from cluster.probes.checks import Job, run_round
from cluster.probes.digest import parse_response
from cluster.spec.model import Check, Url

PAGE = b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n<p>alive</p>\n"
SERVER_CORE, CHECKER_CORE = 1, 0


class _Responder(asyncio.Protocol):
    """Answers the first request on a connection with PAGE and closes, as a tiny web server."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.received = b""

    def data_received(self, data: bytes) -> None:
        self.received += data
        if b"\r\n\r\n" in self.received:
            self.transport.write(PAGE)
            self.transport.close()


async def _serve(ips: int, ports: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(_Responder, f"127.0.1.{i + 1}", 0, backlog=256)
        for i in range(ips)
        for _ in range(ports)
    ]
    pipe.send([s.sockets[0].getsockname()[:2] for s in servers])
    await loop.run_in_executor(None, pipe.recv)  # any message, or EOF, means stop


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


def run(endpoints: int = 2000, ports_per_ip: int = 100) -> dict[str, Any]:
    """Serve ``endpoints`` loopback listeners, then time one TCP round and one HTTP round."""
    ips = -(-endpoints // ports_per_ip)
    if ips > 254:
        raise UsageError(f"{endpoints} endpoints need over 254 addresses; raise --ports-per-ip")
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_server_process, args=(ips, ports_per_ip, child), daemon=True
    )
    server.start()
    try:
        if not parent.poll(60):
            raise TimeoutError("the benchmark's loopback servers did not start within 60 s")
        addresses = parent.recv()[:endpoints]
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {CHECKER_CORE})
        # One spec check shared by every real server, as a service's servers often share one.
        url = Url(path="/", digest=parse_response(PAGE).digest)
        rounds = [
            _timed_round(kind, [Job("bench", ip, port, check) for ip, port in addresses])
            for kind, check in [
                ("TCP_CHECK", Check(type="TCP_CHECK", connect_timeout=3, retry=0)),
                ("HTTP_GET", Check(type="HTTP_GET", urls=[url], connect_timeout=3, retry=0)),
            ]
        ]
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    return {
        "benchmark": "one round of health checks against loopback endpoints",
        "endpoints": len(addresses),
        "addresses": ips,
        "checker_cpu_affinity": sorted(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "rounds": [asdict(r) for r in rounds],
    }
