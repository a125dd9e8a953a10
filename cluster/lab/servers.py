r"""The lab's own servers: each real server's web server, and the SMTP sink.

They run inside lab namespaces as ``python3 -m cluster.lab.servers www|smtp ...``, one small
process each, started by :meth:`cluster.lab.Lab.start_service`. This module imports only the
standard library, because a process start in the UML guest already costs most of a second.

**www** answers HTTP on port 80 and HTTPS on 443 with the same page on every real server
(:data:`PAGE`), sent with a Content-Length so that one genhash digest fits them all, and names
itself in an ``X-Real-Server`` header so that a client can count the distribution. A
:class:`Fault` file, read again whenever it changes, makes it slow, wrong or failing while it
runs, so health checks have something real to catch; "down" is a stopped process. Each
connection closes after its answer, unless the request asked for keep-alive (``ab -k``).

Its access log has one line per connection, written when the connection ends (see
:func:`access_line`): the benchmarks count requests from the real servers' own side with it,
and match each connection to the one IPVS scheduled, by the client's address and port.

>>> for line in response("realserver1", 503, b"hi\n").split(b"\r\n"):
...     print(line.decode().rstrip())
HTTP/1.1 503 Service Unavailable
Content-Type: text/html; charset=utf-8
Content-Length: 3
X-Real-Server: realserver1
Connection: close
<BLANKLINE>
hi

**smtp** speaks the few SMTP verbs keepalived's notifier uses (HELO/EHLO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT) and appends each mail as one JSON line to a file in the lab's share, which
:meth:`cluster.lab.Lab.mails` reads as :class:`Mail` records.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

PAGE = Path(__file__).with_name("www") / "index.html"
"""The page every real server sends; its MD5 is the seed spec's HTTP_GET digest."""
WRONG_PAGE = b"<!doctype html>\n<title>Maintenance</title>\n<p>Back soon.</p>\n"
READY = "ready: "
"""The log line a server prints once it listens; :meth:`Lab.start_service` waits for it."""
IDLE_TIMEOUT = 60.0
"""How long a server waits for a client's next line before it hangs up."""
KEEP_ALIVE = b"connection: keep-alive"


# --- faults ---------------------------------------------------------------------------------

FAULT_KINDS = ("slow", "wrong-body", "status", "down", "clear")


@dataclass(frozen=True)
class Fault:
    """What a real server does wrong; one at a time, the latest replaces the one before.

    ``slow`` waits ``value`` seconds after the request before it answers (the connect still
    succeeds, so a check fails on keepalived's connect_timeout, which also bounds each wait
    for data); ``wrong-body`` sends another page with status 200; ``status`` sends the right
    page with status ``value``, which only a status check catches, since genhash ignores the
    status; ``down`` stops the process (connection refused); ``clear`` is normal service.

    >>> Fault.parse("slow", "12.5"), Fault.parse("status", "503").describe()
    (Fault(kind='slow', value=12.5), 'status 503')
    >>> Fault.parse("status", "99")
    Traceback (most recent call last):
    ...
    ValueError: status wants an HTTP status code 100-599, not '99'
    >>> Fault.parse("wrong-body", "3")
    Traceback (most recent call last):
    ...
    ValueError: wrong-body takes no value
    """

    kind: str = "clear"
    value: float | int | None = None

    @classmethod
    def parse(cls, kind: str, value: str | float | None = None) -> Fault:
        """A fault from the words of ``cluster lab fault NODE KIND [VALUE]``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of: {', '.join(FAULT_KINDS)}")
        text = "" if value is None else str(value)
        if kind == "slow":
            try:
                seconds = float(text)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds < 86400:
                raise ValueError(f"slow wants a delay in seconds (0-86400), not {text!r}")
            return cls(kind, seconds)
        if kind == "status":
            if not text.isdigit() or not 100 <= int(text) <= 599:
                raise ValueError(f"status wants an HTTP status code 100-599, not {text!r}")
            return cls(kind, int(text))
        if value is not None:
            raise ValueError(f"{kind} takes no value")
        return cls(kind)

    def describe(self) -> str:
        return self.kind if self.value is None else f"{self.kind} {self.value:g}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Fault:
        return cls(**json.loads(text)) if text.strip() else cls()


def response(
    server: str, status: int, body: bytes, head: bool = False, keep_alive: bool = False
) -> bytes:
    """The whole answer, framed so that genhash cuts the body exactly at its end."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    header = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Real-Server: {server}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return header.encode() + (b"" if head else body)


def access_line(ended: float, peer: tuple[str, int], port: int, requests: int) -> str:
    """One connection in the access log: when it ended, the client's address and port, the
    server's port, and how many requests it answered (0: the client sent none).

    >>> access_line(1700000000.5, ("203.0.113.11", 40001), 80, 1)
    '1700000000.500000 203.0.113.11 40001 80 1\\n'
    >>> parse_access_line('1700000000.500000 203.0.113.11 40001 80 1')
    AccessEntry(ended=1700000000.5, client='203.0.113.11', port=40001, server_port=80, requests=1)
    """
    return f"{ended:.6f} {peer[0]} {peer[1]} {port} {requests}\n"


@dataclass(frozen=True)
class AccessEntry:
    """One line of a real server's access log: a connection that has ended."""

    ended: float
    client: str
    port: int
    server_port: int
    requests: int


def parse_access_line(line: str) -> AccessEntry:
    ended, client, port, server_port, requests = line.split()
    return AccessEntry(float(ended), client, int(port), int(server_port), int(requests))


class WebServer:
    """One real server: the same handler behind the plain and the TLS listener."""

    def __init__(
        self, name: str, page: bytes, fault_file: Path, access_log: Path | None = None
    ) -> None:
        self.name = name
        self.page = page
        self.fault_file = fault_file
        self._fault = Fault()
        self._seen: tuple[int, int, int] | None = None
        self._log = None
        if access_log is not None:
            access_log.parent.mkdir(parents=True, exist_ok=True)
            self._log = access_log.open("a", buffering=1)  # a line at a time: readers see it

    def fault(self) -> Fault:
        """The fault in force; one stat per request, so a change applies to the next one."""
        try:
            st = self.fault_file.stat()
        except FileNotFoundError:
            return Fault()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._seen:
            self._fault, self._seen = Fault.from_json(self.fault_file.read_text()), key
        return self._fault

    def answer(self, fault: Fault, method: str, path: str, keep_alive: bool = False) -> bytes:
        head = method == "HEAD"
        if fault.kind == "wrong-body":
            return response(self.name, 200, WRONG_PAGE, head, keep_alive)
        if path.split("?")[0] not in ("/", "/index.html"):
            return response(self.name, 404, b"not found\n", head, keep_alive)
        status = int(fault.value or 200) if fault.kind == "status" else 200
        return response(self.name, status, self.page, head, keep_alive)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests, keep_alive = 0, True
        try:
            while keep_alive:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
                method, path, *_ = [*head.decode("latin-1").split(" ", 2), "", ""]
                keep_alive = KEEP_ALIVE in head.lower()
                fault = self.fault()
                if fault.kind == "slow":
                    await asyncio.sleep(float(fault.value or 0))
                writer.write(self.answer(fault, method, path, keep_alive))
                await writer.drain()
                requests += 1
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # a TCP_CHECK connects and leaves; a client may give up on a slow answer
        finally:
            self._access(writer, requests)
            await _close(writer)

    def _access(self, writer: asyncio.StreamWriter, requests: int) -> None:
        peer, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
        if self._log is not None and peer and local:
            self._log.write(access_line(time.time(), peer[:2], local[1], requests))


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close, sending TLS close_notify where it applies, without waiting on a gone peer."""
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(5):
            await writer.wait_closed()


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def serve_www(args: argparse.Namespace) -> None:
    server = WebServer(args.name, PAGE.read_bytes(), args.fault, args.access_log)
    plain = await asyncio.start_server(server.handle, port=args.http_port, backlog=1024)
    tls = await asyncio.start_server(
        server.handle,
        port=args.https_port,
        ssl=tls_context(args.cert, args.key),
        ssl_handshake_timeout=IDLE_TIMEOUT,
        backlog=1024,
    )
    print(f"{READY}{args.name} on http :{args.http_port}, https :{args.https_port}", flush=True)
    async with plain, tls:
        await asyncio.gather(plain.serve_forever(), tls.serve_forever())


# --- the SMTP sink ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One mail the sink accepted: the envelope, the parsed subject and text, and when."""

    time: float
    sender: str
    recipients: list[str]
    subject: str
    body: str
    peer: str = ""
    helo: str = ""

    @classmethod
    def from_data(
        cls, data: bytes, sender: str, recipients: list[str], peer: str = "", helo: str = ""
    ) -> Mail:
        r"""Parse the DATA part (already dot-unstuffed) into subject and text body.

        >>> m = Mail.from_data(b"Subject: [DIRECTOR01] down\r\n\r\nrs1 is down\r\n",
        ...                    "lvs@x", ["admin@x"])
        >>> m.subject, m.body
        ('[DIRECTOR01] down', 'rs1 is down\n')
        """
        message = email.message_from_bytes(data, policy=email.policy.default)
        part = message.get_body(("plain", "html"))
        body = part.get_content().replace("\r\n", "\n") if part is not None else ""
        return cls(time.time(), sender, recipients, str(message["subject"] or ""), body, peer, helo)


def mailbox(argument: str) -> str:
    """The address in ``FROM:<a@b>`` / ``TO:<a@b> SIZE=10``; empty for the null sender.

    >>> mailbox("FROM:<lvs@mydomain> BODY=8BITMIME"), mailbox("TO: admin@x"), mailbox("FROM:<>")
    ('lvs@mydomain', 'admin@x', '')
    """
    value = argument.partition(":")[2].strip()
    if value.startswith("<"):
        return value[1 : value.find(">")] if ">" in value else value[1:]
    return value.split(" ")[0]


class SmtpSink:
    """Accepts every mail for every recipient and stores it; it never relays anything."""

    def __init__(self, store: Path, hostname: str = "smtp.lab") -> None:
        self.store = store
        self.hostname = hostname

    def keep(self, mail: Mail) -> None:
        # one write of one line: sessions share this process, and readers see whole records
        with self.store.open("a") as out:
            out.write(json.dumps(asdict(mail)) + "\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if peer else ""

        async def reply(line: str) -> None:
            writer.write(f"{line}\r\n".encode())
            await writer.drain()

        async def line() -> bytes:
            async with asyncio.timeout(IDLE_TIMEOUT):
                return await reader.readline()

        helo, sender, recipients = "", None, []
        try:
            await reply(f"220 {self.hostname} cluster lab SMTP sink")
            while raw := await line():
                verb, _, argument = raw.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                verb = verb.upper()
                if verb in ("HELO", "EHLO"):
                    helo, sender, recipients = argument.strip(), None, []
                    await reply(f"250 {self.hostname}")
                elif verb == "MAIL":
                    sender, recipients = mailbox(argument), []
                    await reply("250 OK")
                elif verb == "RCPT" and sender is not None:
                    recipients.append(mailbox(argument))
                    await reply("250 OK")
                elif verb == "DATA" and recipients:
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    data = bytearray()
                    while (chunk := await line()) and chunk.rstrip(b"\r\n") != b".":
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    self.keep(
                        Mail.from_data(bytes(data), sender or "", recipients, peer_text, helo)
                    )
                    sender, recipients = None, []
                    await reply("250 OK stored")
                elif verb in ("RCPT", "DATA"):
                    await reply("503 Bad sequence of commands")
                elif verb == "RSET":
                    sender, recipients = None, []
                    await reply("250 OK")
                elif verb == "NOOP":
                    await reply("250 OK")
                elif verb == "QUIT":
                    await reply(f"221 {self.hostname} closing")
                    break
                else:
                    await reply("502 Command not implemented")
        except (TimeoutError, OSError, ValueError):
            pass  # a silent or vanished client; ValueError: a line beyond the stream limit
        finally:
            await _close(writer)


async def serve_smtp(args: argparse.Namespace) -> None:
    args.store.parent.mkdir(parents=True, exist_ok=True)
    sink = SmtpSink(args.store)
    server = await asyncio.start_server(sink.handle, port=args.port)
    print(f"{READY}SMTP sink on :{args.port}, mails to {args.store}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m cluster.lab.servers")
    kinds = parser.add_subparsers(dest="kind", required=True)
    www = kinds.add_parser("www", help="a real server: HTTP and HTTPS with the lab page")
    www.add_argument("--name", required=True, help="sent in the X-Real-Server header")
    www.add_argument("--cert", type=Path, required=True)
    www.add_argument("--key", type=Path, required=True)
    www.add_argument("--fault", type=Path, required=True, help="JSON fault file, may be absent")
    www.add_argument("--access-log", type=Path, help="one line per connection (access_line)")
    www.add_argument("--http-port", type=int, default=80)
    www.add_argument("--https-port", type=int, default=443)
    smtp = kinds.add_parser("smtp", help="the SMTP sink")
    smtp.add_argument("--store", type=Path, required=True, help="JSON lines, one per mail")
    smtp.add_argument("--port", type=int, default=25)
    args = parser.parse_args(argv)
    serve: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
        "www": serve_www,
        "smtp": serve_smtp,
    }
    print(f"{args.kind}: pid {os.getpid()}, python {sys.version.split()[0]}", flush=True)
    asyncio.run(serve[args.kind](args))


if __name__ == "__main__":
    main()
