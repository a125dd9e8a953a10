"""The host half of guest mode: owns the UML process and its serial-line pipes.

The guest's agent talks over one UML serial line (``ssl1=fd:R,fd:W``), a pair of host pipes
that must outlive the ``cluster lab up`` that booted it. This small daemon holds them and
offers the line on a unix socket, so any number of host callers share it: it renumbers each
request's ``id`` on the way in and restores it on the way out. A round trip through it costs
about a millisecond, against 70-90 ms for the shared-directory polling it replaces.

It creates the socket only once the agent has said it is ready, so the socket's existence
*is* the readiness signal, and removes it when the guest stops.

Started by :func:`cluster.lab.guest.boot` as
``python3 -m cluster.lab.relay STATE_DIR`` with the UML command in ``STATE_DIR/guest.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

from cluster.files import write_atomic
from cluster.lab.protocol import decode, encode
from cluster.lab.state import Paths


class Relay:
    def __init__(self, paths: Paths, spec: dict[str, Any]) -> None:
        self.paths = paths
        self.spec = spec
        self.ids = itertools.count(1)
        self.pending: dict[int, tuple[asyncio.StreamWriter, int]] = {}
        self.ready = asyncio.Event()

    async def run(self) -> int:
        to_guest_r, to_guest_w = os.pipe()
        from_guest_r, from_guest_w = os.pipe()
        argv = [*self.spec["argv"], f"ssl1=fd:{to_guest_r},fd:{from_guest_w}"]
        with self.paths.console.open("ab") as console:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                pass_fds=(to_guest_r, from_guest_w),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=asyncio.subprocess.STDOUT,
                env=self.spec["env"],
                user=self.spec["user"] or None,
                start_new_session=True,
            )
        os.close(to_guest_r)
        os.close(from_guest_w)
        write_atomic(self.paths.uml_pid, f"{proc.pid}\n")
        print(f"relay: guest pid {proc.pid}", flush=True)

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 26)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_guest_r, "rb")
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_guest_w, "wb")
        )
        self.guest = asyncio.StreamWriter(transport, protocol, None, loop)

        pump = asyncio.create_task(self.from_guest(reader))
        server_task = asyncio.create_task(self.serve_when_ready())
        rc = await proc.wait()
        print(f"relay: guest exited with {rc}", flush=True)
        for task in (pump, server_task):
            task.cancel()
        self.paths.socket.unlink(missing_ok=True)
        return rc

    async def serve_when_ready(self) -> None:
        await self.ready.wait()
        server = await asyncio.start_unix_server(
            self.client, path=str(self.paths.socket), limit=1 << 26
        )
        self.paths.socket.chmod(0o600)
        print("relay: agent ready, socket open", flush=True)
        async with server:
            await server.serve_forever()

    async def from_guest(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                msg = decode(line)
            except ValueError:
                continue
            if msg["id"] == 0:
                print(f"relay: agent says {msg.get('result')}", flush=True)
                self.ready.set()
                continue
            caller = self.pending.pop(msg["id"], None)
            if caller is None:
                continue
            writer, their_id = caller
            msg["id"] = their_id
            if not writer.is_closing():
                writer.write(encode(msg))

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                try:
                    req = decode(line)
                except ValueError:
                    continue
                ours = next(self.ids)
                self.pending[ours] = (writer, req["id"])
                req["id"] = ours
                self.guest.write(encode(req))
                await self.guest.drain()
        writer.close()


def main() -> int:
    paths = Paths(root=Path(sys.argv[1]))
    spec = json.loads((paths.root / "guest.json").read_text())
    return asyncio.run(Relay(paths, spec).run())


if __name__ == "__main__":
    raise SystemExit(main())
