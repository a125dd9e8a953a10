"""Client traffic for failover measurements, run inside lab namespaces.

``python3 -m cluster.lab.traffic probe|hold|echo ...`` starts one small process per job. Like
the agent, it imports only the standard library: a process start in the UML guest already
costs most of a second, and the timings must come from the lab's own clock, next to the
``ip monitor`` and VRRP event timestamps they are compared with.

- **probe** sends an HTTP/1.0 GET to the VIP every ``interval`` seconds, each on its own
  connection and on a fixed schedule (a slow answer does not delay the next request), and
  records each request's send time, latency and outcome. A request that takes longer than
  ``timeout`` counts as failed: during a failover the kernel would retry a lost SYN after 1 s,
  and a user would call that second an outage, not a success.
- **hold** keeps long-lived TCP connections open through the VIP and echoes a line on each
  every ``interval``; at the end each connection must still echo, so a connection that the
  new master does not know (no IPVS sync) shows up as reset.
- **echo** is the real servers' side of ``hold``.
- **connect** opens connections one after another from given source addresses and ports, as
  the scheduler sweep plans them, and records which real server answered each; those marked
  ``hold`` send half a request and stay open (active, to IPVS) until a release file appears.

Each job prints ``started <epoch>`` when its first request goes out and writes its results as
one JSON document to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import selectors
import socket
import time
from pathlib import Path
from typing import Any

STARTED = "started "


def _outcome(err: BaseException) -> str:
    """A short, stable word for why a request failed: it is grouped and counted later."""
    if isinstance(err, TimeoutError):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ConnectionResetError):
        return "reset"
    if isinstance(err, OSError) and err.errno is not None:
        return errno.errorcode.get(err.errno, str(err.errno)).lower()
    return type(err).__name__


class _Request:
    """One GET on its own non-blocking socket, driven by :func:`probe`'s selector."""

    def __init__(self, host: str, port: int, sent: float) -> None:
        self.sent = sent
        self.data = b""
        name = f"[{host}]" if ":" in host else host
        self.request = f"GET / HTTP/1.0\r\nHost: {name}\r\nUser-Agent: lab-probe\r\n\r\n".encode()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex((host, port))

    def sample(self, outcome: str, now: float) -> list[Any]:
        self.sock.close()
        server = ""
        if outcome == "ok":
            outcome, server = answer(self.data)
        return [round(self.sent, 6), round(now - self.sent, 6), outcome, server]


def answer(data: bytes) -> tuple[str, str]:
    """The outcome of a whole HTTP answer (``ok``, ``status-503``, ``bad-response``) and the
    real server that sent it (its ``X-Real-Server`` header).

    >>> answer(b"HTTP/1.1 200 OK\\r\\nX-Real-Server: realserver1\\r\\n\\r\\nhi")
    ('ok', 'realserver1')
    """
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    fields = head[0].split()
    outcome = "ok"
    if len(fields) < 2 or not fields[1].isdigit():
        outcome = "bad-response"
    elif fields[1] != "200":
        outcome = f"status-{fields[1]}"
    server = next(
        (h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("x-real")), ""
    )
    return outcome, server


def probe(
    host: str, port: int, interval: float, duration: float, timeout: float, stop: Path | None
) -> dict:
    """Requests on a fixed schedule, all in one selector loop, for at most ``duration`` s
    or until the file ``stop`` appears (the trial knows when it has seen enough).

    A plain selector rather than asyncio: under UML every system call is costly, and the
    probe shares the guest's one CPU with the servers it measures.
    """
    samples: list[list[Any]] = []
    pending: dict[socket.socket, _Request] = {}
    sel = selectors.DefaultSelector()
    start = time.time()
    print(f"{STARTED}{start:.6f}", flush=True)
    count, sent, look = int(duration / interval), 0, start
    while sent < count or pending:
        now = time.time()
        if stop is not None and now >= look:
            look = now + 0.1  # a stat crosses hostfs in the guest: not on every turn
            if stop.exists():
                count = min(count, sent)
        if sent < count and now >= start + sent * interval:
            req = _Request(host, port, now)
            pending[req.sock] = req
            sel.register(req.sock, selectors.EVENT_WRITE)
            sent += 1
        wake = start + sent * interval if sent < count else now + 0.05
        for key, events in sel.select(max(0.0, min(wake - time.time(), 0.05))):
            req = pending[key.fileobj]  # type: ignore[index]
            try:
                if events & selectors.EVENT_WRITE:
                    err = req.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    req.sock.send(req.request)
                    sel.modify(req.sock, selectors.EVENT_READ)
                    continue
                chunk = req.sock.recv(65536)
                if chunk:
                    req.data += chunk
                    continue
                outcome = "ok"
            except OSError as err:
                outcome = _outcome(err)
            sel.unregister(req.sock)
            del pending[req.sock]
            samples.append(req.sample(outcome, time.time()))
        now = time.time()
        for sock, req in list(pending.items()):
            if now - req.sent > timeout:
                sel.unregister(sock)
                del pending[sock]
                samples.append(req.sample("timeout", now))
    samples.sort()
    return {"target": f"{host}:{port}", "interval": interval, "timeout": timeout,
            "start": start, "samples": samples}  # fmt: skip


async def hold(host: str, port: int, conns: int, interval: float, duration: float) -> dict:
    """Open ``conns`` connections, echo on each until ``duration`` ends, then check each once.

    Each exchange may wait a whole failover out (TCP retransmits for a while), so only a
    reset, an EOF or a wrong echo ends a connection early.
    """

    async def keep(n: int) -> dict[str, Any]:
        record: dict[str, Any] = {"conn": n, "exchanges": 0, "error": None, "failed_at": None}
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError) as err:
            return {**record, "error": f"connect: {_outcome(err)}", "failed_at": time.time()}
        local = writer.get_extra_info("sockname")
        record["local"] = f"{local[0]}:{local[1]}"
        deadline = time.time() + duration
        try:
            while True:
                line = f"{n} {record['exchanges']}\n".encode()
                writer.write(line)
                echoed = await asyncio.wait_for(reader.readline(), max(5.0, duration))
                if echoed != line:
                    raise ConnectionResetError(errno.ECONNRESET, "EOF" if not echoed else "echo")
                record["exchanges"] += 1
                if time.time() >= deadline:
                    break
                await asyncio.sleep(interval)
        except (OSError, TimeoutError) as err:
            record.update(error=_outcome(err), failed_at=time.time())
        finally:
            writer.close()
        return record

    start = time.time()
    print(f"{STARTED}{start:.6f}", flush=True)
    records = await asyncio.gather(*(keep(n) for n in range(conns)))
    return {"target": f"{host}:{port}", "start": start, "connections": records}


async def echo(port: int) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "0.0.0.0", port, reuse_address=True)
    print(f"{STARTED}{time.time():.6f} echo on port {port}", flush=True)
    async with server:
        await server.serve_forever()


HOLDING = "holding "


def connect(host: str, port: int, plan: list[list[Any]], release: Path, timeout: float) -> dict:
    """Each planned ``[source, port, hold]`` connection in turn, from that address and port.

    A connection not held sends its GET and reads the answer to the end before the next
    starts, so IPVS has seen it close (an inactive connection) when it schedules the next. A
    held one is established (connect returned, its first bytes sent) before the next starts
    and stays open, an active connection, until ``release`` exists; then each finishes its
    request. Each record: source, port, start and end times, seconds to the answer (from the
    release, for a held one), outcome, and the ``X-Real-Server`` that answered.
    """
    request = f"GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lab-sweep\r\n".encode()
    records: list[dict[str, Any]] = []
    held: list[tuple[socket.socket, dict[str, Any]]] = []

    def finish(sock: socket.socket, record: dict[str, Any], rest: bytes, since: float) -> None:
        data = b""
        try:
            sock.sendall(rest)
            while chunk := sock.recv(65536):
                data += chunk
            record["outcome"], record["server"] = answer(data)
        except OSError as err:
            record["outcome"] = _outcome(err)
        record["done"] = time.time()
        record["latency_s"] = round(record["done"] - since, 6)
        sock.close()

    print(f"{STARTED}{time.time():.6f}", flush=True)
    for source, sport, hold_it in plan:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.settimeout(timeout)
        record = {"source": source, "port": sport, "hold": bool(hold_it), "at": time.time(),
                  "done": None, "latency_s": None, "outcome": "", "server": ""}  # fmt: skip
        records.append(record)
        try:
            sock.bind((source, sport))
            sock.connect((host, port))
            if hold_it:
                sock.sendall(request)
                held.append((sock, record))
                continue
        except OSError as err:
            record["outcome"] = _outcome(err)
            sock.close()
            continue
        finish(sock, record, request + b"\r\n", record["at"])
    if held:
        print(f"{HOLDING}{len(held)}", flush=True)
        deadline = time.time() + timeout
        while not release.exists() and time.time() < deadline:
            time.sleep(0.02)
        released = time.time()
        for sock, record in held:
            finish(sock, record, b"\r\n", released)
    return {"target": f"{host}:{port}", "connections": records}


def _target(text: str) -> tuple[str, int]:
    """``HOST:PORT``, an IPv6 host in brackets: ``[2001:db8::174]:80``."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m cluster.lab.traffic")
    jobs = parser.add_subparsers(dest="job", required=True)
    p = jobs.add_parser("probe", help="a request every INTERVAL to HOST:PORT")
    p.add_argument("target", type=_target, metavar="HOST:PORT")
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--timeout", type=float, default=0.5)
    p.add_argument("--stop-file", type=Path, help="stop early once this file exists")
    p.add_argument("--out", type=Path, required=True)
    p = jobs.add_parser("hold", help="long-lived echo connections to HOST:PORT")
    p.add_argument("target", type=_target, metavar="HOST:PORT")
    p.add_argument("--conns", type=int, default=20)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = jobs.add_parser("connect", help="planned connections to HOST:PORT, one at a time")
    p.add_argument("target", type=_target, metavar="HOST:PORT")
    p.add_argument("--plan", type=Path, required=True, help="JSON: [[source, port, hold], ...]")
    p.add_argument("--release", type=Path, required=True, help="held connections finish then")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--out", type=Path, required=True)
    p = jobs.add_parser("echo", help="echo lines back on PORT")
    p.add_argument("--port", type=int, default=7007)
    args = parser.parse_args(argv)
    if args.job == "echo":
        asyncio.run(echo(args.port))
        return
    if args.job == "probe":
        result = probe(*args.target, args.interval, args.duration, args.timeout, args.stop_file)
    elif args.job == "connect":
        plan = json.loads(args.plan.read_text())
        result = connect(*args.target, plan, args.release, args.timeout)
    else:
        result = asyncio.run(hold(*args.target, args.conns, args.interval, args.duration))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
