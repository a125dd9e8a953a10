"""The lab agent's wire protocol: one JSON object per line, both ways, matched by ``id``.

JSON lines keep the protocol readable in a console log and trivial to speak from any
language; ids let many callers share one channel (the guest's serial line) at once, so a
long ``ab`` run does not block a ``kill`` of the master director.

A request names an ``op`` and its arguments; the reply carries the same ``id``:

>>> line = encode({"id": 7, "op": "run", "ns": "client1", "argv": ["true"]})
>>> line
b'{"id":7,"op":"run","ns":"client1","argv":["true"]}\\n'
>>> decode(line)["op"]
'run'
>>> decode(b'{"id":7,"ok":false,"error":"no such namespace: x"}')["error"]
'no such namespace: x'

Operations (see :mod:`cluster.lab.agent` for the arguments of each):

- ``ping``: the agent's pid, kernel, Python and uptime; the cheapest round trip.
- ``run``: run a program in a namespace and wait; returns ``rc``, ``stdout``, ``stderr``.
- ``spawn``: start a long-lived program (a server, keepalived) under a name, with output to a
  log file.
- ``ps``: the processes the agent spawned, with their exit status once they end.
- ``signal``: send a signal to a process the agent spawned.
- ``call``: run one of the agent's Python functions (netlink, files, sysctls) in a namespace.
- ``poweroff``: stop the guest kernel (guest mode) or the agent (host mode).

The agent announces itself with the unsolicited reply ``{"id": 0, "ok": true, "result":
{"ready": true, ...}}`` once it reads requests.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired, TypedDict

Op = Literal["ping", "run", "spawn", "ps", "signal", "call", "poweroff"]


class Request(TypedDict):
    id: int
    op: Op
    ns: NotRequired[str | None]
    argv: NotRequired[list[str]]
    input: NotRequired[str | None]
    timeout: NotRequired[float | None]
    log: NotRequired[str]
    name: NotRequired[str]
    pid: NotRequired[int]
    sig: NotRequired[int]
    fn: NotRequired[str]
    kwargs: NotRequired[dict[str, Any]]


class Reply(TypedDict):
    id: int
    ok: bool
    result: NotRequired[Any]
    error: NotRequired[str]


def encode(message: Request | Reply | dict[str, Any]) -> bytes:
    """One message as one line; compact separators keep serial-line traffic small."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line; raises ValueError on garbage (e.g. kernel chatter on the console)."""
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("id"), int):
        raise ValueError(f"not a protocol message: {line[:80]!r}")
    return message
