"""The host half of a guest lab: owns the guest kernel's process and the agent's channel.

The guest's agent talks over one serial line: UML's (``ssl1=fd:R,fd:W``, a pair of host
pipes that the relay makes) or QEMU's virtio port (a unix socket that QEMU listens on). The
channel must outlive the ``cluster lab up`` that booted the guest. This small daemon holds it
and offers it on the lab's agent socket, so any number of host callers share it: it renumbers
each request's ``id`` on the way in and restores it on the way out. A round trip through it
costs about a millisecond.

It creates the socket only once the agent has said it is ready, so the socket's existence
*is* the readiness signal, and removes it when the guest stops. A guest that exits with its
``reboot_code`` (a lab machine that was rebooted, :mod:`cluster.lab.machine`) is booted
again behind the same socket; meanwhile, requests get an error reply at once.

Started by :func:`cluster.lab.guest.boot` as ``python3 -m cluster.lab.relay STATE_DIR``, with
the guest's :class:`~cluster.lab.guest.GuestBoot` in ``STATE_DIR/guest.json``.
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
    """Starts the guest, then pumps lines between the guest's channel and host callers."""

    def __init__(self, paths: Paths, spec: dict[str, Any]) -> None:
        self.paths = paths
        self.spec = spec
        self.ids = itertools.count(1)
        self.pending: dict[int, tuple[asyncio.StreamWriter, int]] = {}
        self.ready = asyncio.Event()
        self.guest: asyncio.StreamWriter | None = None

    async def run(self) -> int:
        server_task = asyncio.create_task(self.serve_when_ready())
        while (rc := await self.boot()) == self.spec.get("reboot_code"):
            print("relay: the guest asks to be booted again", flush=True)
        server_task.cancel()
        self.paths.socket.unlink(missing_ok=True)
        return rc

    async def boot(self) -> int:
        """Start the guest, pump its channel until it exits, and return its exit code."""
        channel = self.spec["channel"]
        argv, pass_fds = list(self.spec["argv"]), ()
        if "pipes" in channel:
            to_guest_r, to_guest_w = os.pipe()
            from_guest_r, from_guest_w = os.pipe()
            argv.append(channel["pipes"].format(r=to_guest_r, w=from_guest_w))
            pass_fds = (to_guest_r, from_guest_w)
        cpus = set(self.spec.get("cpus") or ())
        with self.paths.console.open("ab") as console:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                pass_fds=pass_fds,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=asyncio.subprocess.STDOUT,
                env=self.spec["env"],
                user=self.spec["user"] or None,
                start_new_session=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        write_atomic(self.paths.guest_pid_file, f"{proc.pid}\n")
        print(f"relay: guest pid {proc.pid}", flush=True)
        if "pipes" in channel:
            for fd in pass_fds:
                os.close(fd)
            reader, self.guest = await _pipe_streams(from_guest_r, to_guest_w)
        else:
            reader, self.guest = await _socket_streams(Path(channel["socket"]), proc)

        pump = asyncio.create_task(self.from_guest(reader))
        rc = await proc.wait()
        print(f"relay: guest exited with {rc}", flush=True)
        pump.cancel()
        self.guest = None
        for writer, their_id in self.pending.values():
            self.refuse(writer, their_id)
        self.pending.clear()
        return rc

    @staticmethod
    def refuse(writer: asyncio.StreamWriter, their_id: int) -> None:
        if not writer.is_closing():
            error = "the guest is not running (it stopped, or reboots)"
            writer.write(encode({"id": their_id, "ok": False, "error": error}))

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
                if self.guest is None:
                    self.refuse(writer, req["id"])
                    continue
                ours = next(self.ids)
                self.pending[ours] = (writer, req["id"])
                req["id"] = ours
                self.guest.write(encode(req))
                await self.guest.drain()
        writer.close()


async def _pipe_streams(
    read_fd: int, write_fd: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over UML's serial-line pipes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb")
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb")
    )
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


async def _socket_streams(
    path: Path, proc: asyncio.subprocess.Process
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over QEMU's chardev socket, once QEMU has made it (within 30 s)."""
    for _ in range(3000):
        if path.exists():
            with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):
                return await asyncio.open_unix_connection(str(path), limit=1 << 26)
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.01)
    raise SystemExit(f"relay: the guest's channel {path} never opened")


def main() -> int:
    paths = Paths(root=Path(sys.argv[1]))
    spec = json.loads(paths.guest_spec.read_text())
    return asyncio.run(Relay(paths, spec).run())


if __name__ == "__main__":
    raise SystemExit(main())
