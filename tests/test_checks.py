"""Health checks against loopback servers that misbehave on purpose, from the spec model."""

from __future__ import annotations

import asyncio
import doctest
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import CORPUS
from loopspec import service, write_spec
from rawserver import RawServer

from cluster.bench import listeners as listeners_module
from cluster.cli import main
from cluster.lab.servers import READY
from cluster.probes.checks import Job, Verdict, checks_in, run_check, run_round
from cluster.probes.digest import parse_response
from cluster.spec import load_spec
from cluster.spec.model import Check, Url

PAGE = CORPUS["content-length"]
DIGEST = parse_response(PAGE).digest


def check_once(job: Job) -> Verdict:
    return asyncio.run(run_check(job))


def http(port: int, *urls: Url, **options: Any) -> Job:
    check = Check(type="HTTP_GET", urls=list(urls) or [Url(digest=DIGEST)], **options)
    return Job("web", "127.0.0.1", port, check)


def tcp(port: int, **options: Any) -> Job:
    return Job("web", "127.0.0.1", port, Check(type="TCP_CHECK", **options))


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
    assert str(verdict) == f"HTTP_GET 127.0.0.1:{srv.port} /: DOWN: status 503 not in 200-299"


def test_status_code_replaces_the_default() -> None:
    with RawServer(CORPUS["301"]) as srv:
        assert check_once(http(srv.port, Url(status_code=301))).ok
        assert check_once(http(srv.port, Url(status_code=200), retry=0)).reason == (
            "status 301 is not 200"
        )


def test_wrong_body() -> None:
    with RawServer(CORPUS["content-length-shorter"]) as srv:
        verdict = check_once(http(srv.port, retry=0))
    got = parse_response(CORPUS["content-length-shorter"]).digest
    assert verdict.reason == f"digest mismatch: expected {DIGEST}, got {got}"


def test_the_first_failing_url_decides() -> None:
    with RawServer(PAGE) as srv:
        job = http(
            srv.port, Url(path="/a", digest=DIGEST), Url(path="/b", digest="0" * 32), retry=0
        )
        verdict = check_once(job)
    assert (verdict.url, verdict.reason.split(":")[0]) == ("/b", "digest mismatch")


@pytest.mark.parametrize("job", [tcp, http], ids=["TCP_CHECK", "HTTP_GET"])
def test_down(job: Any, closed_port: int) -> None:
    verdict = check_once(job(closed_port, retry=0))
    assert (verdict.ok, verdict.reason) == (False, "refused")


def test_slow_beyond_connect_timeout_http() -> None:
    with RawServer(b"", silent=True) as srv:
        verdict = check_once(http(srv.port, connect_timeout=0.2, retry=0))
    assert verdict.reason == "timeout after 0.2 s waiting for data (0 bytes in)"


def test_slow_beyond_connect_timeout_tcp(full_backlog: int) -> None:
    verdict = check_once(tcp(full_backlog, connect_timeout=0.2, retry=0))
    assert verdict.reason == "timeout after 0.2 s connecting"


def test_retry_then_give_up() -> None:
    with RawServer(b"HTTP/1.0 500 Oops\r\n\r\n") as srv:
        verdict = check_once(http(srv.port, retry=2, delay_before_retry=0.01))
    assert (verdict.ok, verdict.attempts, len(srv.seen)) == (False, 3, 3)
    assert str(verdict).endswith("(after 3 attempts)")


def test_keepalived_defaults_one_retry_three_seconds_apart() -> None:
    job = http(1)
    assert (job.retry, job.retry_delay, tcp(1).retry_delay) == (1, 3.0, 1.0)


def test_ssl_get_with_sni(tls_server_context: ssl.SSLContext) -> None:
    with RawServer(PAGE, tls=tls_server_context) as srv:
        check = Check(type="SSL_GET", urls=[Url(digest=DIGEST)],
                      virtualhost="www.example.test", enable_sni=True)  # fmt: skip
        verdict = check_once(Job("web", "127.0.0.1", srv.port, check))
    assert verdict.ok
    assert srv.seen[0].sni == "www.example.test"


def test_a_round_is_concurrent() -> None:
    """Ten servers that never answer cost one timeout, not ten."""
    servers = [RawServer(b"", silent=True).__enter__() for _ in range(10)]
    try:
        start = time.perf_counter()
        verdicts = asyncio.run(
            run_round(http(s.port, connect_timeout=0.3, retry=0) for s in servers)
        )
        elapsed = time.perf_counter() - start
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    assert not any(v.ok for v in verdicts)
    assert elapsed < 1.5


def test_spec_mapping_connect_port_and_virtualhost(tmp_path: Path, closed_port: int) -> None:
    """The pool port may be closed: the checker goes to connect_port. Host is the check's
    virtualhost, else the service's, else ip:port, as keepalived picks it."""
    with RawServer(PAGE, host="127.0.0.2") as a, RawServer(PAGE, host="127.0.0.3") as b:
        spec = load_spec(write_spec(tmp_path, service(
            "web",
            {"address": "127.0.0.2", "port": closed_port, "check": {
                "type": "HTTP_GET", "connect_port": a.port, "virtualhost": "check.test",
                "urls": [{"path": "/a", "digest": DIGEST}]}},
            {"address": "127.0.0.3", "check": {
                "type": "HTTP_GET", "connect_port": b.port, "urls": [{"path": "/b"}]}},
            virtualhost="service.test",
        )))  # fmt: skip
        verdicts = asyncio.run(run_round(checks_in(spec)))
    assert [v.ok for v in verdicts] == [True, True]
    assert [v.job.server for v in verdicts] == [f"127.0.0.2:{closed_port}", "127.0.0.3:80"]
    assert a.seen[0].request.startswith(b"GET /a HTTP/1.0\r\n")
    assert b"\r\nHost: check.test\r\n" in a.seen[0].request
    assert b"\r\nHost: service.test\r\n" in b.seen[0].request


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


def test_listeners_doctests() -> None:
    assert doctest.testmod(listeners_module).failed == 0


@pytest.fixture
def listeners() -> Iterator[str]:
    """20 ports of ``python -m cluster.bench.listeners``, as --lab starts in a real server."""
    address, ports = "127.0.1.77", "31000-31019"
    with subprocess.Popen(
        [sys.executable, "-m", "cluster.bench.listeners", address, ports],
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            assert server.stdout.readline().startswith(READY)
            yield f"{address}:{ports}"
        finally:
            server.terminate()


def test_bench_check_targets_checks_running_listeners(listeners: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "check", "--targets", listeners, "-o", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["endpoints"] == 20
    assert [(r["kind"], r["up"], r["first_failure"]) for r in result["rounds"]] == [
        ("TCP_CHECK", 20, None),
        ("HTTP_GET", 20, None),
    ]


@pytest.mark.parametrize("bad", ["127.0.0.1", "127.0.0.1:80-79", "localhost:80", "::1:0-3"])
def test_bench_check_refuses_bad_targets(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, _, err = run_cli(capsys, "bench", "check", "--targets", bad)
    assert code == 2 and "--targets" in err


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse exits on its own for usage errors
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_names_each_reason_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, closed_port: int, full_backlog: int
) -> None:
    def server(address: str, port: int, kind: str = "HTTP_GET", **check: Any) -> dict[str, Any]:
        if kind != "TCP_CHECK":
            check["urls"] = [{"path": "/", "digest": DIGEST}]
        check = {"type": kind, "retry": 0, "connect_timeout": 0.3, **check}
        return {"address": address, "port": port, "check": check}

    with (
        RawServer(PAGE, host="127.0.0.2") as good,
        RawServer(b"HTTP/1.0 503 Busy\r\n\r\n", host="127.0.0.3") as busy,
        RawServer(CORPUS["404"].replace(b"404 Not Found", b"200 OK"), host="127.0.0.4") as wrong,
        RawServer(b"", host="127.0.0.5", silent=True) as slow,
    ):
        spec = write_spec(tmp_path, service(
            "web",
            server("127.0.0.2", good.port),
            server("127.0.0.3", busy.port),
            server("127.0.0.4", wrong.port),
            server("127.0.0.5", slow.port),
            server("127.0.0.1", closed_port, "TCP_CHECK"),
        ), service("tcp", server("127.0.0.1", full_backlog, "TCP_CHECK"), port=81))  # fmt: skip
        code, out, err = run_cli(capsys, "check", str(spec), "--json")
    assert (code, err) == (1, "")
    reasons = {(v["service"], v["server"]): (v["up"], v["reason"]) for v in json.loads(out)}
    wrong_digest = parse_response(CORPUS["404"]).digest
    assert reasons == {
        ("web", f"127.0.0.2:{good.port}"): (True, "ok"),
        ("web", f"127.0.0.3:{busy.port}"): (False, "status 503 not in 200-299"),
        ("web", f"127.0.0.4:{wrong.port}"): (
            False, f"digest mismatch: expected {DIGEST}, got {wrong_digest}"),
        ("web", f"127.0.0.5:{slow.port}"): (
            False, "timeout after 0.3 s waiting for data (0 bytes in)"),
        ("web", f"127.0.0.1:{closed_port}"): (False, "refused"),
        ("tcp", f"127.0.0.1:{full_backlog}"): (False, "timeout after 0.3 s connecting"),
    }  # fmt: skip


def test_cli_table_and_filters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, closed_port: int
) -> None:
    with RawServer(PAGE, host="127.0.0.2") as good:
        spec = write_spec(tmp_path, service(
            "web",
            {"address": "127.0.0.2", "port": good.port, "check": {"type": "TCP_CHECK"}},
            {"address": "127.0.0.1", "port": closed_port,
             "check": {"type": "TCP_CHECK", "retry": 0}},
        ))  # fmt: skip
        code, out, err = run_cli(capsys, "check", str(spec), "--server", "127.0.0.2")
        assert (code, err) == (0, "")
        assert "1 checks: 1 up, 0 down" in out and f"TCP_CHECK 127.0.0.2:{good.port}" in out
        code, out, _ = run_cli(capsys, "check", str(spec), "--service", "web")
    assert code == 1
    assert "2 checks: 1 up, 1 down" in out and "refused" in out
    # Down servers come first: they are what the operator acts on.
    assert out.index("DOWN") < out.index(" up ")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["--server", "web01"],
            2,
            "argument --server: invalid server 'web01' is not IP or IP:PORT",
        ),
        (["--server", "127.0.0.1:99999"], 2, "'127.0.0.1:99999' has no port 1-65535"),
        (["--server", "127.0.0.9"], 2, "cluster: --server 127.0.0.9: no checked real server there"),
        (["--conf", "keepalived.conf"], 2, "cluster: give a SPEC or --conf keepalived.conf"),
        (
            ["--service", "mail"],
            2,
            "cluster: --service mail: no checked service of that name; use web",
        ),
    ],
)
def test_cli_bad_arguments_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], code: int, message: str
) -> None:
    check = {"type": "TCP_CHECK", "retry": 0}
    spec = write_spec(tmp_path, service("web", {"address": "127.0.0.2", "check": check}))
    got, out, err = run_cli(capsys, "check", str(spec), *argv)
    assert (got, out) == (code, "")
    assert len(err.splitlines()) == 1 and message in err


def test_cli_bad_spec_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    check = {"type": "TCP_CHECK", "urls": [{"path": "/"}]}
    spec = write_spec(tmp_path, service("web", {"address": "127.0.0.2", "check": check}))
    code, _, err = run_cli(capsys, "check", str(spec))
    assert code == 3 and "TCP_CHECK takes no urls" in err
    code, _, err = run_cli(capsys, "check", str(tmp_path / "missing.yaml"))
    assert code == 3 and "cannot read the spec" in err


def test_cli_needs_a_spec_rather_than_probing_the_seeds_addresses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "check")
    assert (code, out, err) == (
        2,
        "",
        "cluster: give a SPEC or --conf keepalived.conf, one of the two\n",
    )


def test_cli_checks_a_keepalived_conf_as_its_spec(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_server_context: ssl.SSLContext
) -> None:
    """Rendered to keepalived.conf and imported back, a spec's checks give the same verdicts."""
    with (
        RawServer(PAGE, host="127.0.0.2") as web,
        RawServer(PAGE, host="127.0.0.3", tls=tls_server_context) as tls,
    ):
        spec = write_spec(tmp_path, service(
            "web",
            {"address": "127.0.0.2", "check": {
                "type": "HTTP_GET", "connect_port": web.port, "retry": 0,
                "urls": [{"path": "/", "digest": DIGEST, "status_code": "200-299 503"},
                         {"path": "/gone", "digest": "0" * 32}]}},
            {"address": "127.0.0.3", "port": tls.port, "check": {
                "type": "SSL_GET", "enable_sni": True, "urls": [{"digest": DIGEST}]}},
            virtualhost="www.example.test",
        ))  # fmt: skip
        assert run_cli(capsys, "render", str(spec), "--out", str(tmp_path))[0] == 0
        conf = tmp_path / "d1" / "keepalived.conf"
        from_spec = run_cli(capsys, "check", str(spec), "--json")
        from_conf = run_cli(capsys, "check", "--conf", str(conf), "--json")
    assert from_spec[0] == from_conf[0] == 1
    verdicts = [json.loads(out) for _, out, _ in (from_spec, from_conf)]
    for verdict in verdicts:
        for v in verdict:
            del v["service"], v["seconds"]  # the import names services by VIP and port
    assert verdicts[0] == verdicts[1]
    assert [(v["up"], v["url"]) for v in verdicts[0]] == [(False, "/gone"), (True, None)]
    assert [s.sni for s in tls.seen] == ["www.example.test"] * 2
