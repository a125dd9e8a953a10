"""The caller's side of the agent channel: a unix socket, in either kernel mode.

Thread-safe: requests from many threads share one connection and are matched to their
replies by ``id``, so a notebook can run a load test in one thread and kill a director in
another.
"""

from __future__ import annotations

import itertools
import socket
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from cluster.errors import LabError
from cluster.lab.protocol import decode, encode


class AgentClient:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
        except OSError as err:
            self.sock.close()
            raise LabError(f"cannot reach the lab agent at {path}: {err.strerror}") from None
        self.ids = itertools.count(1)
        self.pending: dict[int, Future[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        with self.sock.makefile("rb") as rfile:
            for line in rfile:
                msg = decode(line)
                future = self.pending.pop(msg["id"], None)
                if future is not None:
                    future.set_result(msg)
        with self.lock:
            for future in self.pending.values():
                future.set_exception(LabError("the lab agent closed the channel"))
            self.pending.clear()

    def request(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        """Send one request and wait for its result; an agent-side failure is a LabError."""
        future: Future[dict[str, Any]] = Future()
        with self.lock:
            if not self.reader.is_alive():
                raise LabError("the lab agent closed the channel")
            req_id = next(self.ids)
            self.pending[req_id] = future
            self.sock.sendall(encode({"id": req_id, "op": op, "timeout": timeout, **args}))
        # the agent enforces a command's own timeout; allow it a margin to report it
        reply = future.result(None if timeout is None else timeout + 10)
        if not reply["ok"]:
            raise LabError(f"agent {op}: {reply['error']}")
        return reply.get("result")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
