"""The socket edge of genhash: fetch a page's raw bytes exactly as keepalived's genhash does.

Raw bytes, not a parsed response, because the digest is defined over what arrived on the wire
(chunk framing included); :mod:`cluster.probes.digest` does the maths. asyncio, so that a
round of health checks can run thousands of these at once on one core.

Timeouts follow keepalived: one value bounds the connect (TLS handshake included) and then
each wait for more data, not the whole transfer.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
from dataclasses import dataclass

from cluster.errors import ProbeError
from cluster.probes.digest import Protocol, Response, parse_response, request_bytes

MAX_RESPONSE = 64 * 2**20
"""A bound on what one probe buffers: genhash has none, but a server streaming forever must
not eat the memory of a round of thousands of checks."""
READ_SIZE = 2**16


@dataclass(frozen=True)
class Target:
    """Where and how to GET, with genhash's options (``-s -p -u -S -V -I -P -t -m``)."""

    server: str
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


def _connect_error(target: Target, err: OSError) -> ProbeError:
    reason = {
        errno.ECONNREFUSED: "connection refused",
        errno.EHOSTUNREACH: "host unreachable",
        errno.ENETUNREACH: "network unreachable",
    }.get(err.errno or 0, err.strerror or str(err))
    return ProbeError(f"cannot connect to {target.where}: {reason}")


async def _open(target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    family = socket.AF_INET6 if ipaddress.ip_address(target.server).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if target.fwmark is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, target.fwmark)
        await asyncio.get_running_loop().sock_connect(sock, (target.server, target.port))
        if not target.ssl:
            return await asyncio.open_connection(sock=sock, limit=READ_SIZE)
        # An empty server_hostname sends no SNI at all, as genhash without -I.
        sni = target.virtualhost if target.sni and target.virtualhost else ""
        return await asyncio.open_connection(
            sock=sock, ssl=_TLS, server_hostname=sni, limit=READ_SIZE
        )
    except BaseException:
        sock.close()
        raise


async def fetch(target: Target) -> bytes:
    """Send genhash's request and return every byte until the server closes the connection."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(target.timeout):
            reader, writer = await _open(target)
    except TimeoutError:
        raise ProbeError(
            f"timed out after {target.timeout:g} s connecting to {target.where}"
        ) from None
    except ssl.SSLError as err:
        raise ProbeError(f"TLS handshake with {target.where} failed: {err.reason or err}") from None
    except OSError as err:
        raise _connect_error(target, err) from None
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
                    raise ProbeError(f"{target.where} sent more than {MAX_RESPONSE} bytes")
    except TimeoutError:
        raise ProbeError(
            f"timed out after {target.timeout:g} s waiting for {target.where} "
            f"({len(received)} bytes received)"
        ) from None
    except ssl.SSLError as err:
        # genhash takes a close without TLS close_notify as the end of the page.
        if not received:
            raise ProbeError(f"TLS error from {target.where}: {err.reason or err}") from None
    except OSError as err:
        raise ProbeError(
            f"reading from {target.where} failed after {len(received)} bytes: {err.strerror or err}"
        ) from None
    finally:
        writer.close()
    return bytes(received)


async def genhash(target: Target) -> Response:
    """Fetch and split the page as genhash does; a ProbeError where genhash has nothing to hash."""
    raw = await fetch(target)
    try:
        return parse_response(raw)
    except ProbeError as err:
        raise ProbeError(f"{target.where}: {err}") from None
