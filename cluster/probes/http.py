"""The socket edge of the probes: connect as TCP_CHECK does, and fetch a page's raw bytes
exactly as keepalived's genhash and HTTP_GET/SSL_GET do.

Raw bytes, not a parsed response, because the digest is defined over what arrived on the wire
(chunk framing included); :mod:`cluster.probes.digest` does the maths. asyncio, so that a
round of health checks can run thousands of these at once on one core; sockets are made by
hand, not through ``open_connection(host, port)``, to skip its resolver thread per call.

Timeouts follow keepalived: one value bounds the connect (TLS handshake included) and then
each wait for more data, not the whole transfer.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass

from cluster.errors import ProbeError
from cluster.probes.digest import Protocol, Response, parse_response, request_bytes

MAX_RESPONSE = 64 * 2**20
"""A bound on what one probe buffers: genhash has none, but a server streaming forever must
not eat the memory of a round of thousands of checks."""
READ_SIZE = 2**16
_ERRNO_REASONS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


@dataclass(frozen=True)
class Target:
    """Where and how to GET, with genhash's options (``-s -p -u -S -V -I -P -t -m``)."""

    server: str
    """An IP address, as genhash and keepalived want: no name lookups in a health check."""
    port: int
    url: str = "/"
    ssl: bool = False
    virtualhost: str | None = None
    sni: bool = False
    """Send the virtual host as TLS SNI; like genhash, only with ``ssl`` and a virtual host."""
    protocol: Protocol = "1.0"
    timeout: float = 5.0
    fwmark: int | None = None

    @property
    def where(self) -> str:
        host = f"[{self.server}]" if ":" in self.server else self.server
        return f"{'https' if self.ssl else 'http'}://{host}:{self.port}{self.url}"

    @property
    def request(self) -> bytes:
        return request_bytes(self.url, self.server, self.port, self.protocol, self.virtualhost)


def _tls_context() -> ssl.SSLContext:
    """No verification, as genhash and SSL_GET: real servers often sit behind self-signed certs."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_TLS = _tls_context()


async def _connect(server: str, port: int, fwmark: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET)
    try:
        sock.setblocking(False)
        if fwmark is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, fwmark)
        await asyncio.get_running_loop().sock_connect(sock, (server, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _failed(what: str, reason: str) -> ProbeError:
    return ProbeError(f"{what}: {reason}", reason)


async def tcp_connect(server: str, port: int, timeout: float, fwmark: int | None = None) -> None:
    """TCP_CHECK: a completed handshake within the timeout is success; nothing is sent."""
    what = f"cannot connect to {f'[{server}]' if ':' in server else server}:{port}"
    try:
        async with asyncio.timeout(timeout):
            sock = await _connect(server, port, fwmark)
    except TimeoutError:
        raise _failed(what, f"timeout after {timeout:g} s connecting") from None
    except OSError as err:
        raise _failed(what, _ERRNO_REASONS.get(err.errno or 0, err.strerror or str(err))) from None
    sock.close()


async def _open(target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    what = f"cannot connect to {target.where}"
    try:
        async with asyncio.timeout(target.timeout):
            sock = await _connect(target.server, target.port, target.fwmark)
            if not target.ssl:
                return await asyncio.open_connection(sock=sock, limit=READ_SIZE)
            # An empty server_hostname sends no SNI at all, as genhash without -I.
            sni = target.virtualhost if target.sni and target.virtualhost else ""
            try:
                return await asyncio.open_connection(
                    sock=sock, ssl=_TLS, server_hostname=sni, limit=READ_SIZE
                )
            except BaseException:
                sock.close()
                raise
    except TimeoutError:
        raise _failed(what, f"timeout after {target.timeout:g} s connecting") from None
    except ssl.SSLError as err:
        reason = (err.reason or str(err)).lower().replace("_", " ")
        raise _failed(what, f"TLS handshake failed ({reason})") from None
    except OSError as err:
        raise _failed(what, _ERRNO_REASONS.get(err.errno or 0, err.strerror or str(err))) from None


async def fetch(target: Target) -> bytes:
    """Send genhash's request and return every byte until the server closes the connection."""
    reader, writer = await _open(target)
    loop = asyncio.get_running_loop()
    what = f"reading {target.where} failed"
    received = bytearray()
    try:
        writer.write(target.request)
        async with asyncio.timeout(None) as idle:
            while True:
                idle.reschedule(loop.time() + target.timeout)
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    break
                received += chunk
                if len(received) > MAX_RESPONSE:
                    raise _failed(what, f"more than {MAX_RESPONSE} bytes")
    except TimeoutError:
        reason = f"timeout after {target.timeout:g} s waiting for data ({len(received)} bytes in)"
        raise _failed(what, reason) from None
    except ssl.SSLError as err:
        # genhash takes a close without TLS close_notify as the end of the page.
        if not received:
            raise _failed(what, f"TLS error ({err.reason or err})") from None
    except OSError as err:
        reason = f"{err.strerror or err} after {len(received)} bytes"
        raise _failed(what, reason) from None
    finally:
        writer.close()
    return bytes(received)


async def genhash(target: Target) -> Response:
    """Fetch and split the page as genhash does; a ProbeError where genhash has nothing to hash."""
    raw = await fetch(target)
    try:
        return parse_response(raw)
    except ProbeError as err:
        raise ProbeError(f"{target.where}: {err}", str(err)) from None
