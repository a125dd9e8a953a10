"""``cluster genhash`` against keepalived's own genhash, on the same loopback responses.

Each canned response is served raw (see rawserver.py) to both programs in turn; the digests,
and the request bytes each program sent, must be identical.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess

import pytest
from corpus import CORPUS, NO_DATA
from rawserver import RawServer

from cluster.cli import main
from cluster.probes.digest import parse_response

GENHASH = shutil.which("genhash")
pytestmark = [
    pytest.mark.keepalived,
    pytest.mark.skipif(GENHASH is None, reason="keepalived's genhash is not installed"),
]
VHOST = "www.example.test"


def real(srv: RawServer, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [GENHASH or "genhash", "-s", srv.host, "-p", str(srv.port), "-u", "/x?y=1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def ours(capsys: pytest.CaptureFixture[str], srv: RawServer, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["genhash", "-s", srv.host, "-p", str(srv.port), "-u", "/x?y=1", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", CORPUS)
def test_same_digest_as_genhash(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with RawServer(CORPUS[name]) as srv:
        theirs = real(srv)
        rc, out, _ = ours(capsys, srv)
    assert theirs.stdout == out == parse_response(CORPUS[name]).digest + "\n"
    assert rc == 0


@pytest.mark.parametrize("name", NO_DATA)
def test_no_data_is_an_error_not_silence(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with RawServer(NO_DATA[name]) as srv:
        theirs = real(srv)
        rc, out, err = ours(capsys, srv)
    assert theirs.stderr == "no data received from remote webserver\n"
    assert theirs.returncode == 0
    assert (rc, out) == (5, "")
    assert len(err.splitlines()) == 1
    assert "no data received" in err


@pytest.mark.parametrize(
    ("host", "args"),
    [
        ("127.0.0.1", ()),
        ("127.0.0.1", ("-P", "1.0")),
        ("127.0.0.1", ("-P", "1.0c")),
        ("127.0.0.1", ("-P", "1.1")),
        ("127.0.0.1", ("-V", VHOST)),
        ("127.0.0.1", ("-m", "7")),
        ("::1", ()),
    ],
)
def test_same_request_bytes(host: str, args: tuple[str, ...], capsys) -> None:
    with RawServer(CORPUS["content-length"], host=host) as srv:
        real(srv, *args)
        ours(capsys, srv, *args)
    assert len(srv.seen) == 2
    assert srv.seen[0].request == srv.seen[1].request


@pytest.mark.parametrize(("args", "sni"), [(("-I", "-V", VHOST), VHOST), (("-V", VHOST), None)])
@pytest.mark.parametrize("name", ["content-length", "chunked", "5MB"])
def test_https_with_sni_and_virtual_host(
    name: str,
    args: tuple[str, ...],
    sni: str | None,
    tls_server_context: ssl.SSLContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with RawServer(CORPUS[name], tls=tls_server_context) as srv:
        theirs = real(srv, "-S", *args)
        rc, out, _ = ours(capsys, srv, "-S", *args)
    assert rc == 0
    assert theirs.stdout == out == parse_response(CORPUS[name]).digest + "\n"
    assert [s.sni for s in srv.seen] == [sni, sni]
    assert srv.seen[0].request == srv.seen[1].request
    assert b"Host: " + VHOST.encode() in srv.seen[1].request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    assert (rc, out) == (5, "")
    assert len(err.splitlines()) == 1
    return err


def test_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = str(free_port())
    err = one_error_line(capsys, ["genhash", "-s", "127.0.0.1", "-p", port, "-u", "/"])
    assert f"cannot connect to http://127.0.0.1:{port}/: refused" in err


def test_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with RawServer(b"", silent=True) as srv:
        argv = ["genhash", "-s", "127.0.0.1", "-p", str(srv.port), "-u", "/", "-t", "0.3"]
        err = one_error_line(capsys, argv)
    assert "timeout after 0.3 s waiting for data (0 bytes in)" in err


def test_tls_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with RawServer(b"SSH-2.0-OpenSSH_9.2\r\n", eager=True) as srv:
        argv = ["genhash", "-S", "-s", "127.0.0.1", "-p", str(srv.port), "-u", "/", "-t", "2"]
        err = one_error_line(capsys, argv)
    assert "TLS handshake failed (wrong version number)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-s", "localhost", "-p", "80", "-u", "/"], "server should be an IP address"),
        (["-s", "127.0.0.1", "-p", "0", "-u", "/"], "invalid port '0'"),
        (["-s", "127.0.0.1", "-p", "80"], "required: -u/--url"),
        (["-s", "127.0.0.1", "-p", "80", "-u", "/ HTTP/1.1"], "invalid url"),
        (["-s", "127.0.0.1", "-p", "80", "-u", "/", "-P", "2"], "invalid choice: '2'"),
        (["-s", "127.0.0.1", "-p", "80", "-u", "/", "-t", "-1"], "invalid timeout"),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["genhash", *argv])
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert len(err.splitlines()) == 1
    assert message in err
