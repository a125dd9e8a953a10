r"""What keepalived's ``genhash`` (and HTTP_GET's ``digest``) computes, over raw response bytes.

An HTTP_GET ``digest`` only matches if it is computed exactly as keepalived does, quirks
included, so this module copies keepalived 2.2.7's rules rather than HTTP's:

- the body is whatever follows the first ``\r\n\r\n``; headers ending in a bare ``\n\n``
  (or not ending within genhash's first 4095-byte read buffer) mean "no data received";
- ``Content-Length:`` is found by a case-sensitive substring search of that first buffer and
  only cuts the body when the number is followed by the end of its line; a lower-case
  ``content-length`` or a bad number means "hash to EOF";
- chunked framing is hashed as it arrived, not decoded, and the status code is not looked at.

>>> page = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more"
>>> r = parse_response(page)
>>> r.status_line, r.content_length, r.hashed
('HTTP/1.1 200 OK', 5, b'hello')
>>> r.digest
'5d41402abc4b2a76b9719d911017c592'
>>> chunked = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
...                          b"5\r\nhello\r\n0\r\n\r\n")
>>> chunked.hashed
b'5\r\nhello\r\n0\r\n\r\n'
>>> chunked.hashes_chunk_framing, parse_response(b"HTTP/1.0 404 Not Found\r\n\r\n").is_error_page
(True, True)
>>> parse_response(b"HTTP/1.0 200 OK\nContent-Length: 5\n\nhello")
Traceback (most recent call last):
...
cluster.errors.ProbeError: no data received: the headers end in bare LF, not CRLF CRLF
>>> request_bytes("/", "10.0.0.2", 80)
b'GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:80\r\n\r\n'
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from cluster.errors import ProbeError

Protocol = Literal["1.0", "1.0c", "1.1"]
PROTOCOLS: tuple[Protocol, ...] = ("1.0", "1.0c", "1.1")

HEADER_END = b"\r\n\r\n"
FIRST_BUFFER = 4095
"""genhash reads into a 4096-byte buffer kept NUL-terminated: the headers must end inside it,
and it is the text searched for ``Content-Length:`` (on loopback the whole first read)."""

_CONTENT_LENGTH = b"Content-Length:"
# strtoul's view of the value, plus keepalived's demand that the number ends its line.
_CONTENT_LENGTH_VALUE = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)(?=[\r\n])")
_ULONG_MAX = 2**64 - 1
_C_ATOI = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def request_bytes(
    url: str,
    server: str,
    port: int,
    protocol: Protocol = "1.0",
    virtualhost: str | None = None,
) -> bytes:
    r"""genhash's GET request, byte for byte (captured from keepalived 2.2.7 on a socket).

    A virtual host replaces ``ip:port`` in ``Host:`` whole; an IPv6 server is bracketed.

    >>> for line in request_bytes("/a", "::1", 8080, "1.1").split(b"\r\n")[:4]:
    ...     print(line.decode())
    GET /a HTTP/1.1
    User-Agent: KeepAliveClient
    Connection: close
    Host: [::1]:8080
    """
    if virtualhost:
        host = virtualhost
    elif ipaddress.ip_address(server).version == 6:
        host = f"[{server}]:{port}"
    else:
        host = f"{server}:{port}"
    version = "1.1" if protocol == "1.1" else "1.0"
    close = "Connection: close\r\n" if protocol in ("1.0c", "1.1") else ""
    return (
        f"GET {url} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    ).encode("latin-1")


def content_length(first_buffer: bytes) -> int | None:
    r"""The Content-Length genhash honours, or None when it hashes to EOF.

    >>> [content_length(b"Content-Length:" + v + b"\r\n") for v in (b" 3", b"3", b" 3 ", b" -1")]
    [3, 3, None, None]
    >>> content_length(b"content-length: 3\r\n") is None
    True
    """
    text = first_buffer.split(b"\0", 1)[0]
    at = text.find(_CONTENT_LENGTH)
    if at < 0:
        return None
    m = _CONTENT_LENGTH_VALUE.match(text, at + len(_CONTENT_LENGTH))
    if not m:
        return None
    value = int(m[2])
    # strtoul turns "-3" into a huge number, which never cuts; "-0" is still 0.
    if (m[1] == b"-" and value) or value >= _ULONG_MAX:
        return None
    return value


def _c_atoi(text: bytes) -> int:
    m = _C_ATOI.match(text)
    return int(m[1]) if m else 0


@dataclass(frozen=True)
class Response:
    """One raw HTTP response split as genhash splits it, with what the digest covers."""

    header: bytes
    """The status line and headers up to, not including, the first CRLF CRLF."""
    body: bytes
    """Everything after the first CRLF CRLF, as received (chunk framing and all)."""
    content_length: int | None
    """The Content-Length genhash honoured; None when it hashed to EOF."""

    @property
    def header_lines(self) -> list[str]:
        return self.header.decode("latin-1").split("\r\n")

    @property
    def status_line(self) -> str:
        return self.header_lines[0]

    @property
    def status(self) -> int:
        """keepalived's status: atoi of the text between the first two spaces; 0 if none."""
        after = self.header.partition(b" ")[2]
        return _c_atoi(after.partition(b" ")[0]) if after else 0

    @property
    def headers(self) -> list[tuple[str, str]]:
        pairs = (line.partition(":") for line in self.header_lines[1:])
        return [(name.strip(), value.strip()) for name, colon, value in pairs if colon]

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def hashed(self) -> bytes:
        """The bytes the MD5 covers: the body cut at the honoured Content-Length."""
        return self.body if self.content_length is None else self.body[: self.content_length]

    @property
    def digest(self) -> str:
        return hashlib.md5(self.hashed, usedforsecurity=False).hexdigest()

    @property
    def hashes_chunk_framing(self) -> bool:
        return any("chunked" in v.lower() for v in self.header_values("Transfer-Encoding"))

    @property
    def is_error_page(self) -> bool:
        return not 200 <= self.status <= 299

    @property
    def warnings(self) -> list[str]:
        """Why this digest may not be what the operator means to pin in keepalived.conf."""
        found = []
        if self.hashes_chunk_framing:
            found.append(
                "the digest covers the chunk framing (Transfer-Encoding: chunked), "
                "so the same page chunked differently gives another digest"
            )
        if self.is_error_page:
            found.append(
                f"status {self.status} is not 2xx: this is the digest of an error page, "
                "and genhash ignores the status"
            )
        if self.content_length is None and self.header_values("Content-Length"):
            found.append(
                "the Content-Length header is ignored (genhash wants exactly "
                "'Content-Length:' followed by a number ending the line), so it hashes to EOF"
            )
        elif self.content_length is not None and self.content_length > len(self.body):
            found.append(
                f"Content-Length is {self.content_length} but only {len(self.body)} "
                "body bytes arrived"
            )
        return found

    def describe(self) -> list[str]:
        """The --verbose report: status line, headers, what was hashed, then the digest."""
        cut = (
            "to EOF (no usable Content-Length)"
            if self.content_length is None
            else f"cut at Content-Length {self.content_length}"
        )
        return [
            *self.header_lines,
            "",
            f"body: {len(self.body)} bytes received, {len(self.hashed)} hashed, {cut}",
            self.digest,
        ]


def parse_response(raw: bytes) -> Response:
    """Split a raw response as genhash does; a ProbeError where genhash says "no data"."""
    end = raw.find(HEADER_END, 0, FIRST_BUFFER)
    if end < 0:
        if not raw:
            reason = "the server closed the connection without answering"
        elif b"\n\n" in raw[:FIRST_BUFFER]:
            reason = "the headers end in bare LF, not CRLF CRLF"
        else:
            reason = f"the headers do not end within genhash's first {FIRST_BUFFER} bytes"
        raise ProbeError(f"no data received: {reason}")
    return Response(
        header=raw[:end],
        body=raw[end + len(HEADER_END) :],
        content_length=content_length(raw[:FIRST_BUFFER]),
    )
