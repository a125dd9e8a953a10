"""The lab's web server and SMTP sink on loopback, without root: the same handlers the lab runs
in its namespaces, judged by the kit's own genhash and by Python's smtplib."""

from __future__ import annotations

import asyncio
import hashlib
import json
import smtplib
import socket
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import pytest

from cluster.errors import ProbeError
from cluster.lab.servers import PAGE, Fault, Mail, SmtpSink, WebServer, parse_access_line
from cluster.probes.http import Target, fetch, genhash

SEED_DIGEST = "a0dcbc1a6e5dc4201a5a495fa858cdf6"
T = TypeVar("T")


def on_loopback(handler: Callable[..., Awaitable[None]], client: Callable[[int], T]) -> T:
    """Serve ``handler`` on a free loopback port and run the blocking ``client`` against it."""

    async def run() -> T:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await asyncio.to_thread(client, port)

    return asyncio.run(run())


def test_page_digest_is_the_seed_digest() -> None:
    assert hashlib.md5(PAGE.read_bytes()).hexdigest() == SEED_DIGEST


def test_each_fault_as_genhash_sees_it(tmp_path: Path) -> None:
    fault_file = tmp_path / "fault.json"
    www = WebServer("rs1", PAGE.read_bytes(), fault_file)

    def probe(port: int) -> list[tuple[str, ...]]:
        seen: list[tuple[str, ...]] = []
        for kind, value in [("clear", None), ("wrong-body", None), ("status", "503")]:
            fault_file.write_text(Fault.parse(kind, value).to_json())
            answer = asyncio.run(genhash(Target("127.0.0.1", port, timeout=2)))
            seen.append((answer.status_line, answer.digest, *answer.header_values("X-Real-Server")))
        fault_file.write_text(Fault.parse("slow", 1).to_json())
        with pytest.raises(ProbeError) as slow:
            asyncio.run(fetch(Target("127.0.0.1", port, timeout=0.3)))
        seen.append(("slow", str(slow.value)))
        return seen

    clear, wrong, status, slow = on_loopback(www.handle, probe)
    assert clear == ("HTTP/1.1 200 OK", SEED_DIGEST, "rs1")
    assert wrong[0] == "HTTP/1.1 200 OK" and wrong[1] != SEED_DIGEST
    assert status == ("HTTP/1.1 503 Service Unavailable", SEED_DIGEST, "rs1")
    assert "timeout after 0.3 s waiting for data" in slow[1]


def test_access_log_has_each_connection_with_its_requests(tmp_path: Path) -> None:
    """One line per connection: the client's port, and 0, 1 or several requests (keep-alive
    only when asked for, as ab -k does)."""
    log = tmp_path / "access" / "rs1.log"
    www = WebServer("rs1", PAGE.read_bytes(), tmp_path / "fault.json", log)
    get = b"GET / HTTP/1.0\r\nHost: x\r\n%s\r\n"

    def clients(port: int) -> list[tuple[int, bytes]]:
        sent = []
        for request, times in ((b"", 0), (get % b"", 1), (get % b"Connection: Keep-Alive\r\n", 3)):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sent.append((sock.getsockname()[1], b""))
                for _ in range(times):
                    sock.sendall(request)
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += sock.recv(4096)
                    sent[-1] = (sent[-1][0], head.split(b"\r\n\r\n")[0])
        return sent

    sent = on_loopback(www.handle, clients)
    for _ in range(100):  # the server logs a connection once it has closed its side
        if log.exists() and len(log.read_text().splitlines()) == 3:
            break
        time.sleep(0.02)
    entries = {e.port: e for e in map(parse_access_line, log.read_text().splitlines())}
    assert [(entries[port].client, entries[port].requests) for port, _ in sent] == [
        ("127.0.0.1", 0),
        ("127.0.0.1", 1),
        ("127.0.0.1", 3),
    ]
    assert b"Connection: close" in sent[1][1] and b"Connection: keep-alive" in sent[2][1]


def test_smtp_sink_stores_what_smtplib_sends(tmp_path: Path) -> None:
    store = tmp_path / "mails.jsonl"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "lvs@x", "a@x, b@x", "[D1] rs down"
    message.set_content("first\n.starts with a dot\n")

    def send(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            smtp.send_message(message)
            smtp.send_message(message, to_addrs=["c@x"])

    on_loopback(SmtpSink(store).handle, send)
    first, second = (Mail(**json.loads(line)) for line in store.read_text().splitlines())
    assert (first.sender, first.subject) == ("lvs@x", "[D1] rs down")
    assert first.recipients == ["a@x", "b@x"]
    assert first.body == "first\n.starts with a dot\n"
    assert first.peer.startswith("127.0.0.1:") and first.helo
    assert second.recipients == ["c@x"]
