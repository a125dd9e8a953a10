r"""One round of keepalived health checks (TCP_CHECK, HTTP_GET, SSL_GET), all concurrently.

The verdicts must be the ones keepalived would reach, so the rules are its rules:

- a URL is tried up to ``retry + 1`` times, ``delay_before_retry`` apart, and the server
  fails with the reason of its last attempt; URLs are checked in order, the first failing
  URL decides;
- ``connect_timeout`` bounds the connect (and TLS handshake) and each wait for data;
- an HTTP answer must first have headers (else "no data received"), then a status in the
  URL's ``status_code`` set (200-299 when none is given, even with a digest), then the
  digest, computed as genhash computes it.

Input is a small dataclass of this module's own for now; the spec model will be adapted to
it. The judgement of one response is pure:

>>> from cluster.probes.digest import parse_response
>>> judge(Url("/", digest="0" * 32), parse_response(b"HTTP/1.0 503 Busy\r\n\r\n"))
'status 503 not in 200-299'
>>> judge(Url("/", digest="0" * 32), parse_response(b"HTTP/1.0 200 OK\r\n\r\nhello"))
'digest mismatch: expected 00000000000000000000000000000000, got 5d41402abc4b2a76b9719d911017c592'
>>> judge(Url("/", status_codes=frozenset({301})), parse_response(b"HTTP/1.0 301 Moved\r\n\r\n"))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from cluster.errors import ProbeError
from cluster.probes.digest import Protocol, Response
from cluster.probes.http import Target, genhash, tcp_connect

Kind = Literal["TCP_CHECK", "HTTP_GET", "SSL_GET"]
DEFAULT_STATUS = frozenset(range(200, 300))
_DEFAULT_DELAY_BEFORE_RETRY: dict[Kind, float] = {"TCP_CHECK": 1.0, "HTTP_GET": 3.0, "SSL_GET": 3.0}


def format_codes(codes: Iterable[int]) -> str:
    """Status codes as keepalived's ``status_code`` line writes them.

    >>> format_codes([200, 201, 202, 301, 404, 405])
    '200-202 301 404-405'
    """
    runs: list[list[int]] = []
    for code in sorted(codes):
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return " ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True)
class Url:
    path: str
    digest: str | None = None
    status_codes: frozenset[int] = DEFAULT_STATUS
    virtualhost: str | None = None


@dataclass(frozen=True)
class Check:
    """One checker on one real server, with keepalived's option names and defaults."""

    kind: Kind
    server: str
    port: int
    urls: tuple[Url, ...] = ()
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float | None = None
    """None: keepalived's default, 1 s for TCP_CHECK and 3 s for HTTP_GET/SSL_GET."""
    virtualhost: str | None = None
    enable_sni: bool = False
    http_protocol: Protocol = "1.0"

    @property
    def endpoint(self) -> str:
        host = f"[{self.server}]" if ":" in self.server else self.server
        return f"{self.kind} {host}:{self.port}"

    @property
    def retry_delay(self) -> float:
        if self.delay_before_retry is None:
            return _DEFAULT_DELAY_BEFORE_RETRY[self.kind]
        return self.delay_before_retry

    def target(self, url: Url) -> Target:
        return Target(
            server=self.server,
            port=self.port,
            url=url.path,
            ssl=self.kind == "SSL_GET",
            virtualhost=url.virtualhost or self.virtualhost,
            sni=self.enable_sni,
            protocol=self.http_protocol,
            timeout=self.connect_timeout,
        )


@dataclass(frozen=True)
class Verdict:
    check: Check
    ok: bool
    reason: str = "ok"
    attempts: int = 1
    url: str | None = None
    seconds: float = field(default=0.0, compare=False)

    def __str__(self) -> str:
        where = f" {self.url}" if self.url else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.check.endpoint}{where}: {'up' if self.ok else 'DOWN'}: {self.reason}{tries}"


def judge(url: Url, response: Response) -> str | None:
    """Why keepalived would fail this response for this URL, or None if it passes."""
    if response.status not in url.status_codes:
        return f"status {response.status} not in {format_codes(url.status_codes)}"
    if url.digest and response.digest != url.digest.lower():
        return f"digest mismatch: expected {url.digest.lower()}, got {response.digest}"
    return None


async def _tcp_once(check: Check) -> str | None:
    try:
        await tcp_connect(check.server, check.port, check.connect_timeout)
    except ProbeError as err:
        return err.reason
    return None


async def _http_once(check: Check, url: Url) -> str | None:
    try:
        response = await genhash(check.target(url))
    except ProbeError as err:
        return err.reason
    return judge(url, response)


async def _attempts(
    check: Check, once: Callable[[], Awaitable[str | None]]
) -> tuple[str | None, int]:
    """Try up to retry + 1 times, delay_before_retry apart, as keepalived from a cold start."""
    attempt = 1
    while True:
        reason = await once()
        if reason is None or attempt > check.retry:
            return reason, attempt
        attempt += 1
        await asyncio.sleep(check.retry_delay)


async def run_check(check: Check) -> Verdict:
    start = time.perf_counter()
    if check.kind == "TCP_CHECK":
        reason, attempts = await _attempts(check, lambda: _tcp_once(check))
        return Verdict(check, reason is None, reason or "ok", attempts, None,
                       time.perf_counter() - start)  # fmt: skip
    for url in check.urls:
        reason, attempts = await _attempts(check, lambda url=url: _http_once(check, url))
        if reason is not None:
            return Verdict(check, False, reason, attempts, url.path, time.perf_counter() - start)
    return Verdict(check, True, "ok", 1, None, time.perf_counter() - start)


async def run_round(checks: Iterable[Check]) -> list[Verdict]:
    """Every check at once: a round takes as long as its slowest server, not their sum."""
    return list(await asyncio.gather(*(run_check(c) for c in checks)))
