"""A loopback server that answers every connection with canned raw bytes, then closes.

Raw bytes rather than an HTTP library, so that a test controls the framing exactly (bare LF,
wrong Content-Length, chunks): the digest is defined over what is on the wire. It records
each request and the TLS SNI it was sent, to compare genhash's bytes with ours.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from types import TracebackType

HEADER_END = b"\r\n\r\n"


@dataclass
class Seen:
    request: bytes = b""
    sni: str | None = None


@dataclass
class RawServer:
    response: bytes
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    silent: bool = False
    """Accept and read, but never answer: a server slower than any timeout."""
    eager: bool = False
    """Answer at once without reading a request, as a plain server greeting a TLS client."""
    seen: list[Seen] = field(default_factory=list)

    def __enter__(self) -> RawServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.bind((self.host, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        seen = Seen()
        self.seen.append(seen)
        conn.settimeout(5)
        try:
            if self.tls:
                self.tls.sni_callback = lambda _s, name, _c: setattr(seen, "sni", name) or None
                conn = self.tls.wrap_socket(conn, server_side=True)
            while not self.eager and HEADER_END not in seen.request:
                data = conn.recv(4096)
                if not data:
                    return
                seen.request += data
            if self.silent:
                self._stop.wait(10)
                return
            conn.sendall(self.response)
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()
