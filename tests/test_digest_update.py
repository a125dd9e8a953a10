"""``cluster digest``: fetch the pinned pages from loopback servers and rewrite digests in place."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import CORPUS
from loopspec import service, write_spec
from rawserver import RawServer

from cluster.cli import main
from cluster.probes.digest import parse_response
from cluster.spec import load_spec
from cluster.spec.load import SEED_TEXT

PAGE = CORPUS["content-length"]
DIGEST = parse_response(PAGE).digest
SEED_DIGEST = "a0dcbc1a6e5dc4201a5a495fa858cdf6"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seed_servers(
    tls_server_context: ssl.SSLContext,
) -> Iterator[tuple[RawServer, RawServer]]:
    """The seed's web server 192.168.170.35 as 127.0.0.35: plain and TLS, same page."""
    with (
        RawServer(PAGE, host="127.0.0.35") as plain,
        RawServer(PAGE, host="127.0.0.35", tls=tls_server_context) as tls,
    ):
        yield plain, tls


def loopback_seed(tmp_path: Path, http_port: int, https_port: int) -> tuple[Path, str]:
    """The seed spec, comments and all, with its internal network moved onto loopback."""
    text = (
        SEED_TEXT.replace("192.168.170.", "127.0.0.")
        .replace("connect_port: 80\n", f"connect_port: {http_port}\n")
        .replace("connect_port: 443\n", f"connect_port: {https_port}\n")
    )
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    return path, text


def test_update_rewrites_only_the_digests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_servers: tuple[RawServer, RawServer]
) -> None:
    plain, tls = seed_servers
    path, before = loopback_seed(tmp_path, plain.port, tls.port)
    code, out, err = run(capsys, "digest", "--update", "--yes", str(path))
    assert code == 0, err
    assert err.endswith(f"wrote 2 of 2 digests to {path}\n")
    after = path.read_text()
    # Byte for byte the same file, comments and quoting included, but for the two digests.
    assert after == before.replace(SEED_DIGEST, DIGEST)
    assert f"digest: {DIGEST}   # the lab page; see `cluster genhash`\n" in after
    assert out.count(f"\n-              digest: {SEED_DIGEST}") == 2
    assert out.count(f"\n+              digest: {DIGEST}") == 2
    # Each checker's own request: virtualhost from the service, no SNI unless enable_sni.
    for server in (plain, tls):
        assert b"\r\nHost: test.mydomain\r\n" in server.seen[0].request
    assert tls.seen[0].sni is None
    code, _, err = run(capsys, "digest", "--update", "--yes", str(path))
    assert (code, err) == (0, f"{path}: all 2 digests are current\n")
    # What was pinned is what the checkers accept.
    code, out, _ = run(capsys, "check", str(path), "--server", "127.0.0.35", "--json")
    assert code == 0 and out.count('"up": true') == 2


def test_without_update_only_the_diff(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_servers: tuple[RawServer, RawServer]
) -> None:
    path, before = loopback_seed(tmp_path, *(s.port for s in seed_servers))
    code, out, err = run(capsys, "digest", str(path))
    assert (code, path.read_text()) == (0, before)
    assert out.startswith(f"--- {path}\n+++ {path}\n@@ ")
    assert "2 of 2 digests differ; `cluster digest --update` writes them" in err


def test_update_without_a_terminal_needs_yes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_servers: tuple[RawServer, RawServer]
) -> None:
    path, before = loopback_seed(tmp_path, *(s.port for s in seed_servers))
    code, out, err = run(capsys, "digest", "--update", str(path))
    assert (code, path.read_text()) == (2, before)
    assert "+              digest:" in out  # the diff came first
    assert (
        err
        == "cluster: not written: no terminal to confirm on; add --yes to write 2 of 2 digests\n"
    )


def test_update_asks_on_a_terminal(
    tmp_path: Path, seed_servers: tuple[RawServer, RawServer]
) -> None:
    path, before = loopback_seed(tmp_path, *(s.port for s in seed_servers))
    primary, secondary = os.openpty()
    with os.fdopen(primary, "wb", buffering=0) as keyboard:
        keyboard.write(b"y\n")
        done = subprocess.run(
            [sys.executable, "-m", "cluster", "digest", "--update", str(path)],
            stdin=secondary, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    os.close(secondary)
    assert done.returncode == 0, done.stderr
    assert f"write 2 of 2 digests to {path}? [y/N] " in done.stderr
    assert path.read_text() == before.replace(SEED_DIGEST, DIGEST)


def test_one_unreachable_page_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_server_context: ssl.SSLContext
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.35", 0))
        closed = s.getsockname()[1]
    with RawServer(PAGE, host="127.0.0.35") as plain:
        path, before = loopback_seed(tmp_path, plain.port, closed)
        code, out, err = run(capsys, "digest", "--update", "--yes", str(path))
    assert (code, out, path.read_text()) == (5, "", before)
    assert (
        err
        == f"cluster: cannot connect to https://127.0.0.35:{closed}/: refused; nothing written\n"
    )


def test_a_page_the_check_would_fail_on_status_is_not_pinned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with RawServer(CORPUS["404"], host="127.0.0.2") as srv:
        check = {"type": "HTTP_GET", "connect_port": srv.port, "urls": [{"digest": None}]}
        path = write_spec(tmp_path, service("web", {"address": "127.0.0.2", "check": check}))
        before = path.read_text()
        code, out, err = run(capsys, "digest", "--update", "--yes", str(path))
    assert (code, out, path.read_text()) == (5, "", before)
    assert err == (
        f"cluster: http://127.0.0.2:{srv.port}/: status 404 not in 200-299, so its check "
        "fails before the digest counts; nothing written\n"
    )


def test_placeholders_are_filled_and_status_checks_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with RawServer(PAGE, host="127.0.0.2") as srv:
        path = tmp_path / "spec.yaml"
        write_spec(tmp_path, service("web", {"address": "127.0.0.2", "check": {
            "type": "HTTP_GET", "connect_port": srv.port, "virtualhost": "www.test",
            "urls": [{"path": "/pinned", "digest": None}, {"path": "/health"}]}}))  # fmt: skip
        code, _, err = run(capsys, "digest", "--update", "--yes", str(path))
    assert code == 0, err
    assert f"note: web 127.0.0.2:80 http://127.0.0.2:{srv.port}/health: no digest key" in err
    urls = load_spec(path).virtual_services[0].real_servers[0].check.urls  # type: ignore[union-attr]
    assert [(u.path, u.digest) for u in urls] == [("/pinned", DIGEST), ("/health", None)]
    assert [s.request.split(b"\r\n")[0] for s in srv.seen] == [b"GET /pinned HTTP/1.0"]


def test_yes_needs_update(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "digest", "--yes", str(tmp_path / "spec.yaml"))
    assert (code, err) == (
        2,
        "cluster: --yes confirms --update; add --update to write the digests\n",
    )
