"""Canned raw responses that exercise each of genhash's digest rules, shared by the tests."""

from __future__ import annotations

HTML = b"<html><body>It works</body></html>\n"
BIG = bytes(range(256)) * (5 * 2**20 // 256)

CORPUS: dict[str, bytes] = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 35\r\n\r\n" + HTML,
    "no-content-length": b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + HTML,
    "content-length-shorter": b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + HTML,
    "content-length-longer": b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" + HTML,
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"c\r\n<html><body\r\n17\r\n>It works</body></html>\n\r\n0\r\n\r\n",
    "404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    "301": b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://127.0.0.1/new/\r\n"
    b"Content-Length: 22\r\n\r\n<a href=/new/>moved</a>",
    "empty-body": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "empty-body-bytes-follow": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nignored",
    "headers-only": b"HTTP/1.0 204 No Content\r\n\r\n",
    "5MB": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG,
    "5MB-to-eof": b"HTTP/1.0 200 OK\r\n\r\n" + BIG,
    "lowercase-content-length": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n" + HTML,
    "content-length-not-a-number": b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n" + HTML,
    "content-length-in-body": b"HTTP/1.0 200 OK\r\n\r\nContent-Length: 3\r\n" + HTML,
    "status-without-reason": b"HTTP/1.0 503\r\nContent-Length: 4\r\n\r\nbusy",
    "nul-in-header": b"HTTP/1.0 200 OK\r\nX-A: a\0b\r\nContent-Length: 3\r\n\r\n" + HTML,
    "header-4095-bytes": b"HTTP/1.0 200 OK\r\nX: " + b"a" * 4071 + b"\r\n\r\n" + HTML,
}
"""Responses genhash hashes: our digest must equal its digest for every one."""

NO_DATA: dict[str, bytes] = {
    "bare-lf": b"HTTP/1.0 200 OK\nContent-Length: 35\n\n" + HTML,
    "header-4096-bytes": b"HTTP/1.0 200 OK\r\nX: " + b"a" * 4072 + b"\r\n\r\n" + HTML,
    "nothing": b"",
}
"""Responses genhash answers with "no data received from remote webserver"."""
