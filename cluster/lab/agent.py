"""The lab agent: one long-lived process that runs programs and Python calls in lab namespaces.

A process start costs 60-120 ms in the UML guest and ``import pyroute2`` several seconds, so
the lab keeps this one process alive: it imports pyroute2 once, enters a namespace per call
with ``setns(2)`` on the calling *thread* (other requests are unaffected) and answers over a
byte channel in the :mod:`cluster.lab.protocol` format.

The same code serves both kernel choices, so callers never know which one runs:

- in a guest (UML or QEMU): the guest's init starts ``python3 -m cluster.lab.agent --serial
  DEVICE``, UML's second serial line or QEMU's virtio port, held on the host side by
  :mod:`cluster.lab.relay`;
- host mode (the host kernel has IPVS): ``python3 -m cluster.lab.agent --listen SOCKET``.

It imports only the standard library (and pyroute2 on first use), because the guest runs it
with the host's system Python and nothing but the package and pyroute2 on its path.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from cluster.lab.protocol import Reply, decode, encode

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ns_fd(ns: str) -> int:
    try:
        return os.open(NETNS_DIR / ns, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LookupError(f"no such namespace: {ns}") from None


@contextlib.contextmanager
def in_netns(ns: str | None) -> Iterator[None]:
    """Move the calling thread (only) into ``ns`` for the block; ``None`` stays put.

    Sockets, netlink handles and /proc/sys/net files opened inside belong to ``ns`` for life,
    and so do processes started inside: without a ``preexec_fn`` subprocess can use vfork(),
    which under UML is several times cheaper than copying the agent's page tables.
    """
    if ns is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = _ns_fd(ns)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


@functools.lru_cache(maxsize=256)
def _which(program: str) -> str:
    """Resolve a bare program name once: exec's PATH walk costs a failed lookup per directory,
    and each one crosses hostfs in the guest."""
    return shutil.which(program, path=PATH) or program


def _argv(argv: list[str]) -> list[str]:
    return [_which(argv[0]) if "/" not in argv[0] else argv[0], *argv[1:]]


def _child_env() -> dict[str, str]:
    """A clean environment that still finds this package, so ``python3 -m cluster...`` runs
    in any node (the lab's servers, a probe in a test) with the agent's own import path."""
    paths = [str(Path(__file__).resolve().parents[2]), *os.environ.get("PYTHONPATH", "").split(":")]
    env = {
        "PATH": PATH,
        "LC_ALL": "C",
        "PYTHONPATH": ":".join(dict.fromkeys(p for p in paths if p)),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if "GLIBC_TUNABLES" in os.environ:  # the UML guest keeps glibc off AVX-512 (lab.uml)
        env["GLIBC_TUNABLES"] = os.environ["GLIBC_TUNABLES"]
    return env


CHILD_ENV = _child_env()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# --- Python functions callable in a namespace (op "call") -----------------------------------

_pyroute2_lock = threading.Lock()


def _iproute() -> Any:
    """A fresh IPRoute in the calling thread's namespace; the module is imported only once."""
    with _pyroute2_lock:
        from pyroute2 import IPRoute
    return IPRoute()


def fn_links() -> list[dict[str, Any]]:
    """Interfaces with their state and kind, as ``ip link`` would show them."""
    with _iproute() as ipr:
        return [
            {
                "index": link["index"],
                "name": link.get("IFLA_IFNAME"),
                "state": link.get("state"),
                "mac": link.get("IFLA_ADDRESS"),
                "kind": link.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")),
                "master": link.get("IFLA_MASTER"),
            }
            for link in ipr.get_links()
        ]


def fn_addresses() -> list[dict[str, Any]]:
    """IPv4 addresses as (interface, address/prefix)."""
    with _iproute() as ipr:
        names = {link["index"]: link.get("IFLA_IFNAME") for link in ipr.get_links()}
        return [
            {
                "ifname": names.get(addr["index"]),
                "address": f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}",
            }
            for addr in ipr.get_addr(family=socket.AF_INET)
        ]


def fn_routes() -> list[dict[str, Any]]:
    """IPv4 routes of the main table: destination, gateway, output interface index."""
    with _iproute() as ipr:
        return [
            {
                "dst": f"{r.get('RTA_DST', '0.0.0.0')}/{r['dst_len']}",
                "gateway": r.get("RTA_GATEWAY"),
                "oif": r.get("RTA_OIF"),
            }
            for r in ipr.get_routes(family=socket.AF_INET, table=254)
        ]


def fn_read_file(path: str) -> str:
    """A file's bytes, base64, so binary files and odd encodings survive JSON."""
    return base64.b64encode(Path(path).read_bytes()).decode()


def fn_write_file(path: str, data: str, mode: int = 0o644) -> int:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = base64.b64decode(data)
    target.write_bytes(raw)
    target.chmod(mode)
    return len(raw)


def fn_sysctl(key: str, value: str | None = None) -> str:
    """Read or set a sysctl of the thread's namespace (``net.ipv4.ip_forward`` style keys)."""
    path = Path("/proc/sys") / key.replace(".", "/")
    if value is not None:
        path.write_text(f"{value}\n")
    return path.read_text().strip()


def fn_namespaces() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "links": fn_links,
    "addresses": fn_addresses,
    "routes": fn_routes,
    "read_file": fn_read_file,
    "write_file": fn_write_file,
    "sysctl": fn_sysctl,
    "namespaces": fn_namespaces,
}


# --- the agent ------------------------------------------------------------------------------


class Agent:
    """Dispatches requests; each runs in its own thread so slow ones never block fast ones."""

    def __init__(self, mode: str, on_poweroff: Callable[[], None]) -> None:
        self.mode = mode
        self.on_poweroff = on_poweroff
        self.spawned: dict[int, subprocess.Popen[bytes]] = {}
        self.spawn_info: dict[int, dict[str, Any]] = {}
        # reused threads: creating one per request costs milliseconds under UML
        self.pool = ThreadPoolExecutor(max_workers=64)

    def op_ping(self, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "mode": self.mode,
            "kernel": os.uname().release,
            "python": sys.executable,
            "uptime": float(Path("/proc/uptime").read_text().split()[0]),
        }

    def op_run(self, req: dict[str, Any]) -> dict[str, Any]:
        # no input: /dev/null, not an empty pipe (a pipe costs about 1 ms of system calls in
        # the UML guest, on every command)
        data = req.get("input")
        stdin = {"input": data.encode()} if data is not None else {"stdin": subprocess.DEVNULL}
        with in_netns(req.get("ns")):
            done = subprocess.run(
                _argv(req["argv"]),
                **stdin,
                capture_output=True,
                timeout=req.get("timeout"),
                start_new_session=True,
                env=CHILD_ENV,
                check=False,
            )
        return {"rc": done.returncode, "stdout": _text(done.stdout), "stderr": _text(done.stderr)}

    def op_spawn(self, req: dict[str, Any]) -> dict[str, Any]:
        log = Path(req["log"])
        log.parent.mkdir(parents=True, exist_ok=True)
        with in_netns(req.get("ns")), log.open("ab") as out:
            proc = subprocess.Popen(
                _argv(req["argv"]),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=CHILD_ENV,
            )
        self.spawned[proc.pid] = proc
        self.spawn_info[proc.pid] = {
            "pid": proc.pid,
            "ns": req.get("ns"),
            "name": req.get("name", ""),
            "argv": req["argv"],
            "log": str(log),
        }
        return {"pid": proc.pid}

    def op_ps(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """The processes this agent spawned; ``returncode`` is None while one runs."""
        return [
            {**self.spawn_info[pid], "returncode": proc.poll()}
            for pid, proc in self.spawned.items()
        ]

    def op_signal(self, req: dict[str, Any]) -> dict[str, Any]:
        proc = self.spawned.get(req["pid"])
        if proc is None:
            raise LookupError(f"pid {req['pid']} was not spawned by this agent")
        if proc.poll() is None:
            os.killpg(proc.pid, req.get("sig", signal.SIGTERM))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=req.get("timeout") or 0)
        return {"pid": proc.pid, "returncode": proc.poll()}

    def op_call(self, req: dict[str, Any]) -> Any:
        fn = FUNCTIONS.get(req["fn"])
        if fn is None:
            raise LookupError(f"no agent function {req['fn']!r}; known: {sorted(FUNCTIONS)}")
        with in_netns(req.get("ns")):
            return fn(**req.get("kwargs", {}))

    def op_poweroff(self, req: dict[str, Any]) -> dict[str, Any]:
        for proc in self.spawned.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        threading.Timer(0.05, self.on_poweroff).start()
        return {}

    def handle(self, req: dict[str, Any]) -> Reply:
        handler = getattr(self, f"op_{req.get('op')}", None)
        if handler is None:
            return {"id": req["id"], "ok": False, "error": f"unknown op {req.get('op')!r}"}
        try:
            return {"id": req["id"], "ok": True, "result": handler(req)}
        except subprocess.TimeoutExpired as err:
            return {"id": req["id"], "ok": False, "error": f"timed out after {err.timeout} s"}
        except Exception as err:  # reported to the caller, who raises LabError
            return {"id": req["id"], "ok": False, "error": f"{type(err).__name__}: {err}"}

    def serve(self, rfile: BinaryIO, write: Callable[[bytes], None]) -> None:
        """Read requests until EOF, answering each from its own thread."""

        def answer(req: dict[str, Any]) -> None:
            write(encode(self.handle(req)))

        for line in rfile:
            try:
                req = decode(line)
            except ValueError:
                continue
            self.pool.submit(answer, req)


def _locked_writer(fd: int) -> Callable[[bytes], None]:
    lock = threading.Lock()

    def write(data: bytes) -> None:
        with lock:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

    return write


def serve_serial(device: str) -> None:
    """In a guest: a serial line is the channel. UML's is a terminal, put in raw mode so that
    bytes pass untouched; QEMU's virtio port is not a terminal and passes them anyway."""
    fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    if os.isatty(fd):
        tty.setraw(fd)
    write = _locked_writer(fd)

    def poweroff() -> None:
        Path("/proc/sysrq-trigger").write_text("o")

    agent = Agent("guest", poweroff)
    write(encode({"id": 0, "ok": True, "result": {"ready": True, **agent.op_ping({})}}))
    with os.fdopen(os.dup(fd), "rb") as rfile:
        agent.serve(rfile, write)


def serve_unix(path: str) -> None:
    """Host mode: a unix socket, one thread per connection, root-only by its mode."""
    sock_path = Path(path)
    sock_path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    sock_path.chmod(0o600)
    server.listen(16)
    agent = Agent("host", lambda: os._exit(0))

    def connection(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            agent.serve(rfile, _locked_writer(conn.fileno()))

    while True:
        conn, _ = server.accept()
        threading.Thread(target=connection, args=(conn,), daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m cluster.lab.agent")
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--serial", metavar="DEVICE", help="in a guest: its serial line")
    channel.add_argument("--listen", metavar="SOCKET", help="host mode: a unix socket path")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"lab agent: pid {os.getpid()}, python {sys.version.split()[0]}", flush=True)
    if args.serial:
        serve_serial(args.serial)
    else:
        serve_unix(args.listen)
    print(f"lab agent: channel closed after {time.monotonic() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
