"""The endpoints of ``cluster bench check``: many listening ports, one tiny page, little CPU.

Standard library only, and runnable as ``python3 -m cluster.bench.listeners``, because
``cluster bench check --lab`` starts one in each lab real server, where every import costs
(the UML guest has one slow CPU, shared with the checker being timed).
"""

from __future__ import annotations

import argparse
import asyncio
import resource

from cluster.lab.servers import READY

PAGE = b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n<p>alive</p>\n"


class Responder(asyncio.Protocol):
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


def allow_open_files(count: int) -> None:
    """Raise the soft open-file limit towards ``count``: a round holds one socket per endpoint
    at once, and the soft limit is often 1,024 (the lab guest's is) while the hard one is not."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def listen(binds: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Listen on every (address, port), port 0 meaning any; returns where each one listens.

    The servers stay open until the event loop ends.
    """
    allow_open_files(2 * len(binds) + 256)  # a listener and the connection it accepted
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(Responder, a, p, backlog=256) for a, p in binds]
    return [s.sockets[0].getsockname()[:2] for s in servers]


def port_range(text: str) -> range:
    """``FIRST-LAST`` (both included) or one port.

    >>> port_range("20000-20999"), port_range("8080")
    (range(20000, 21000), range(8080, 8081))
    """
    first, _, last = text.partition("-")
    try:
        ports = range(int(first), int(last or first) + 1)
    except ValueError:
        raise ValueError(f"{text!r} is not PORT or FIRST-LAST") from None
    if not ports or ports[0] < 1 or ports[-1] > 65535:
        raise ValueError(f"{text!r} is not a range within 1-65535")
    return ports


async def _serve_forever(address: str, ports: range) -> None:
    await listen([(address, p) for p in ports])
    print(f"{READY}{len(ports)} listeners on {address}:{ports[0]}-{ports[-1]}", flush=True)
    await asyncio.Event().wait()  # until the lab stops the process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m cluster.bench.listeners")
    parser.add_argument("address", help="the IP address to listen on")
    parser.add_argument("ports", type=port_range, help="FIRST-LAST, both included")
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.address, args.ports))


if __name__ == "__main__":
    main()
