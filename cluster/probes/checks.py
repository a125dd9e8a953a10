r"""One round of keepalived health checks (TCP_CHECK, HTTP_GET, SSL_GET), all concurrently.

The verdicts must be the ones keepalived would reach, so the rules are its rules:

- a URL is tried up to ``retry + 1`` times, ``delay_before_retry`` apart, and the server
  fails with the reason of its last attempt; URLs are checked in order, the first failing
  URL decides;
- ``connect_timeout`` bounds the connect (and TLS handshake) and each wait for data;
- the checker connects to ``connect_port`` when given, else to the real server's port, and
  sends the check's ``virtualhost``, else the virtual service's, else ``ip:port``;
- an HTTP answer must first have headers (else "no data received"), then a status in the
  URL's ``status_code`` (200-299 when none is given, even with a digest), then the
  digest, computed as genhash computes it.

The input is the spec model itself: :func:`checks_in` is the one place that turns a
:class:`~cluster.spec.model.ClusterSpec` into :class:`Job` s, so a keepalived.conf imported
into a spec is checked by the same code. The judgement of one response is pure:

>>> from cluster.probes.digest import parse_response
>>> judge(Url(digest="0" * 32), parse_response(b"HTTP/1.0 503 Busy\r\n\r\n"))
'status 503 not in 200-299'
>>> judge(Url(digest="0" * 32), parse_response(b"HTTP/1.0 200 OK\r\n\r\nhello"))
'digest mismatch: expected 00000000000000000000000000000000, got 5d41402abc4b2a76b9719d911017c592'
>>> judge(Url(status_code=301), parse_response(b"HTTP/1.0 301 Moved\r\n\r\n"))
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cluster.errors import ProbeError, UsageError
from cluster.probes.digest import Response
from cluster.probes.http import Target, genhash, tcp_connect
from cluster.spec.model import Check, ClusterSpec, Url

_DEFAULT_RETRY = 1
_DEFAULT_DELAY_BEFORE_RETRY = {"TCP_CHECK": 1.0, "HTTP_GET": 3.0, "SSL_GET": 3.0}


def status_problem(url: Url, status: int) -> str | None:
    """Why keepalived's checker rejects this HTTP status for this URL, or None if it passes.

    >>> status_problem(Url(), 503), status_problem(Url(status_code="200-299 503"), 503)
    ('status 503 not in 200-299', None)
    >>> status_problem(Url(status_code=301), 200)
    'status 200 is not 301'
    """
    if url.accepts(status):
        return None
    wanted = url.status_code or "200-299"
    return f"status {status} {'is not' if wanted.isdigit() else 'not in'} {wanted}"


@dataclass(frozen=True)
class Job:
    """One checker on one real server: the spec's check and where keepalived points it."""

    service: str
    address: str
    port: int | None
    """The real server's port; None behind a fwmark service, where connect_port is required."""
    check: Check
    service_virtualhost: str | None = None
    path: tuple[str | int, ...] = ()
    """Where the real server is in the spec, for messages and for rewriting its digests."""

    @property
    def connect_port(self) -> int:
        port = self.check.connect_port or self.port
        assert port is not None, "the spec model demands connect_port behind a fwmark"
        return port

    @property
    def _host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address

    @property
    def server(self) -> str:
        """``ip:port`` of the real server as the pool lists it (``[v6]:port``)."""
        return self._host if self.port is None else f"{self._host}:{self.port}"

    @property
    def connects_to(self) -> str:
        return f"{self._host}:{self.connect_port}"

    @property
    def endpoint(self) -> str:
        return f"{self.check.type} {self.connects_to}"

    @property
    def retry(self) -> int:
        return _DEFAULT_RETRY if self.check.retry is None else self.check.retry

    @property
    def retry_delay(self) -> float:
        if self.check.delay_before_retry is None:
            return _DEFAULT_DELAY_BEFORE_RETRY[self.check.type]
        return self.check.delay_before_retry

    def target(self, url: Url) -> Target:
        return Target(
            server=self.address,
            port=self.connect_port,
            url=url.path,
            ssl=self.check.type == "SSL_GET",
            virtualhost=self.check.virtualhost or self.service_virtualhost,
            sni=self.check.enable_sni,
            timeout=self.check.connect_timeout,
        )


def checks_in(spec: ClusterSpec) -> list[Job]:
    """Every checker the spec configures, in file order; real servers without one have none."""
    return [
        Job(
            service.name,
            str(server.address),
            server.port,
            server.check,
            service.virtualhost,
            ("virtual_services", v, "real_servers", r),
        )
        for v, service in enumerate(spec.virtual_services)
        for r, server in enumerate(service.real_servers)
        if server.check is not None
    ]


def parse_server(text: str) -> tuple[str, int | None]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT``, as ``--server`` takes it.

    >>> parse_server("10.0.0.5:8080"), parse_server("[::1]:80"), parse_server("::1")
    (('10.0.0.5', 8080), ('::1', 80), ('::1', None))
    """
    host, port = text, None
    if text.startswith("[") and "]:" in text:
        host, _, port = text[1:].partition("]:")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        raise ValueError(f"{text!r} is not IP or IP:PORT") from None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{text!r} has no port 1-65535 after the colon")
    return address, None if port is None else int(port)


def select(
    jobs: Sequence[Job], service: str | None = None, server: tuple[str, int | None] | None = None
) -> list[Job]:
    """The jobs of one service and/or one real server; asking for one the spec lacks is a
    usage error naming what there is, so a typo does not pass as "all up"."""
    if service is not None:
        names = sorted({j.service for j in jobs})
        jobs = [j for j in jobs if j.service == service]
        if not jobs:
            raise UsageError(
                f"--service {service}: no checked service of that name; use {', '.join(names)}"
            )
    if server is not None:
        address, port = server
        servers = sorted({j.server for j in jobs})
        jobs = [j for j in jobs if j.address == address and port in (None, j.port)]
        if not jobs:
            wanted = address if port is None else f"{address}:{port}"
            raise UsageError(
                f"--server {wanted}: no checked real server there; use {', '.join(servers)}"
            )
    return list(jobs)


@dataclass(frozen=True)
class Verdict:
    job: Job
    ok: bool
    reason: str = "ok"
    attempts: int = 1
    url: str | None = None
    seconds: float = field(default=0.0, compare=False)

    def __str__(self) -> str:
        where = f" {self.url}" if self.url else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.job.endpoint}{where}: {'up' if self.ok else 'DOWN'}: {self.reason}{tries}"

    def as_dict(self) -> dict[str, object]:
        return {
            "service": self.job.service,
            "server": self.job.server,
            "check": self.job.check.type,
            "connect": self.job.connects_to,
            "up": self.ok,
            "reason": self.reason,
            "url": self.url,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
        }


def judge(url: Url, response: Response) -> str | None:
    """Why keepalived would fail this response for this URL, or None if it passes."""
    problem = status_problem(url, response.status)
    if problem:
        return problem
    if url.digest and response.digest != url.digest.lower():
        return f"digest mismatch: expected {url.digest.lower()}, got {response.digest}"
    return None


async def _tcp_once(job: Job) -> str | None:
    try:
        await tcp_connect(job.address, job.connect_port, job.check.connect_timeout)
    except ProbeError as err:
        return err.reason
    return None


async def _http_once(job: Job, url: Url) -> str | None:
    try:
        response = await genhash(job.target(url))
    except ProbeError as err:
        return err.reason
    return judge(url, response)


async def _attempts(job: Job, once: Callable[[], Awaitable[str | None]]) -> tuple[str | None, int]:
    """Try up to retry + 1 times, delay_before_retry apart, as keepalived from a cold start."""
    attempt = 1
    while True:
        reason = await once()
        if reason is None or attempt > job.retry:
            return reason, attempt
        attempt += 1
        await asyncio.sleep(job.retry_delay)


async def run_check(job: Job) -> Verdict:
    start = time.perf_counter()
    if job.check.type == "TCP_CHECK":
        reason, attempts = await _attempts(job, lambda: _tcp_once(job))
        return Verdict(job, reason is None, reason or "ok", attempts, None,
                       time.perf_counter() - start)  # fmt: skip
    for url in job.check.urls:
        reason, attempts = await _attempts(job, lambda url=url: _http_once(job, url))
        if reason is not None:
            return Verdict(job, False, reason, attempts, url.path, time.perf_counter() - start)
    return Verdict(job, True, "ok", 1, None, time.perf_counter() - start)


async def run_round(jobs: Iterable[Job]) -> list[Verdict]:
    """Every check at once: a round takes as long as its slowest server, not their sum."""
    return list(await asyncio.gather(*(run_check(j) for j in jobs)))
