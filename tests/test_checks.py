"""One round of health checks against loopback servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import CORPUS
from rawserver import RawServer

from cluster.cli import main
from cluster.probes.checks import Check, Url, Verdict, run_check, run_round
from cluster.probes.digest import parse_response

PAGE = CORPUS["content-length"]
DIGEST = parse_response(PAGE).digest


def check_once(check: Check) -> Verdict:
    return asyncio.run(run_check(check))


def http(port: int, *urls: Url, **options: object) -> Check:
    return Check("HTTP_GET", "127.0.0.1", port, urls or (Url("/", DIGEST),), **options)  # type: ignore[arg-type]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener that never accepts, its queue already full: new SYNs go unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # bounded: Linux queues backlog + 1
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.1)
    yield port
    for s in [*fillers, listener]:
        s.close()


def test_http_get_up() -> None:
    with RawServer(PAGE) as srv:
        verdict = check_once(http(srv.port))
    assert (verdict.ok, verdict.reason, verdict.attempts) == (True, "ok", 1)


def test_wrong_status() -> None:
    with RawServer(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy") as srv:
        verdict = check_once(http(srv.port, retry=0))
    assert str(verdict) == (f"HTTP_GET 127.0.0.1:{srv.port} /: DOWN: status 503 not in 200-299")


def test_status_codes_replace_the_default() -> None:
    with RawServer(CORPUS["301"]) as srv:
        assert check_once(http(srv.port, Url("/", status_codes=frozenset({301})))).ok


def test_wrong_body() -> None:
    with RawServer(CORPUS["content-length-shorter"]) as srv:
        verdict = check_once(http(srv.port, retry=0))
    got = parse_response(CORPUS["content-length-shorter"]).digest
    assert verdict.reason == f"digest mismatch: expected {DIGEST}, got {got}"


def test_the_first_failing_url_decides() -> None:
    with RawServer(PAGE) as srv:
        verdict = check_once(http(srv.port, Url("/a", DIGEST), Url("/b", "0" * 32), retry=0))
    assert (verdict.url, verdict.reason.split(":")[0]) == ("/b", "digest mismatch")


@pytest.mark.parametrize("kind", ["TCP_CHECK", "HTTP_GET"])
def test_down(kind: str, closed_port: int) -> None:
    verdict = check_once(Check(kind, "127.0.0.1", closed_port, (Url("/"),), retry=0))  # type: ignore[arg-type]
    assert (verdict.ok, verdict.reason) == (False, "refused")


def test_slow_beyond_connect_timeout_http() -> None:
    with RawServer(b"", silent=True) as srv:
        verdict = check_once(http(srv.port, connect_timeout=0.2, retry=0))
    assert verdict.reason == "timeout after 0.2 s waiting for data (0 bytes in)"


def test_slow_beyond_connect_timeout_tcp(full_backlog: int) -> None:
    verdict = check_once(Check("TCP_CHECK", "127.0.0.1", full_backlog, connect_timeout=0.2))
    assert verdict.reason == "timeout after 0.2 s connecting"


def test_retry_then_give_up() -> None:
    with RawServer(b"HTTP/1.0 500 Oops\r\n\r\n") as srv:
        verdict = check_once(http(srv.port, retry=2, delay_before_retry=0.01))
    assert (verdict.ok, verdict.attempts, len(srv.seen)) == (False, 3, 3)
    assert str(verdict).endswith("(after 3 attempts)")


def test_ssl_get_with_sni(tls_server_context: ssl.SSLContext) -> None:
    with RawServer(PAGE, tls=tls_server_context) as srv:
        check = Check("SSL_GET", "127.0.0.1", srv.port, (Url("/", DIGEST),),
                      virtualhost="www.example.test", enable_sni=True)  # fmt: skip
        verdict = check_once(check)
    assert verdict.ok
    assert srv.seen[0].sni == "www.example.test"


def test_a_round_is_concurrent() -> None:
    """Ten servers that never answer cost one timeout, not ten."""
    servers = [RawServer(b"", silent=True).__enter__() for _ in range(10)]
    try:
        start = time.perf_counter()
        checks = [http(s.port, connect_timeout=0.3, retry=0) for s in servers]
        verdicts = asyncio.run(run_round(checks))
        elapsed = time.perf_counter() - start
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    assert not any(v.ok for v in verdicts)
    assert elapsed < 1.5


def test_bench_check_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert (
        main(["bench", "check", "--endpoints", "40", "--ports-per-ip", "10", "-o", str(out)]) == 0
    )
    rounds = json.loads(out.read_text())["rounds"]
    assert [(r["kind"], r["checks"], r["up"]) for r in rounds] == [
        ("TCP_CHECK", 40, 40),
        ("HTTP_GET", 40, 40),
    ]
