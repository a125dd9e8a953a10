"""The lab as one object: bring it up, run things on its nodes, take it down.

This is the API notebooks and tests use; ``cluster lab ...`` is a thin layer over it. It hides
the kernel choice (:mod:`cluster.lab.kernels`): the same calls work whether the namespaces
live in the host's kernel, a UML guest or a QEMU guest.

A session in a notebook (needs root)::

    from cluster.lab import Lab
    lab = Lab.up()                  # boots the guest if needed; starts real servers and SMTP
    lab.run("client1", "ping", "-c1", "192.168.0.204").ok
    lab.run("director01", "curl", "-si", "http://192.168.170.25/").stdout
    lab.fault("realserver1", "status", 503)          # or slow 12, wrong-body, down, clear
    lab.mails()                                      # what the SMTP sink received
    pid = lab.spawn("client1", ["sleep", "60"], name="sleeper")
    lab.stop(pid)
    Lab.down()
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cluster.errors import LabError, UsageError
from cluster.lab import builder, guest, kernels, machine, pki, services
from cluster.lab.client import AgentClient
from cluster.lab.guest import Progress
from cluster.lab.servers import READY, Fault, Mail
from cluster.lab.state import LabState, Paths, alive, kill_group, remove_dirs
from cluster.lab.topology import Node, Topology, seed_topology


@dataclass(frozen=True)
class Result:
    """A finished command on a node; ``ok`` when it exited 0."""

    node: str
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self) -> Result:
        if not self.ok:
            raise LabError(
                f"{self.node}: {' '.join(self.argv)} exited {self.rc}: {self.stderr.strip()}"
            )
        return self


def _quiet(_: str) -> None:
    pass


def code_stamp() -> str:
    """This package's source files as names, sizes and modification times, hashed."""
    package = Path(__file__).resolve().parents[1]
    listing = "".join(
        f"{path}:{info.st_size}:{info.st_mtime_ns}\n"
        for path in sorted(package.rglob("*.py"))
        for info in (path.stat(),)
    )
    return hashlib.sha256(listing.encode()).hexdigest()


class Lab:
    """A handle on the running lab; cheap to create, one agent connection per handle."""

    def __init__(self, paths: Paths | None = None) -> None:
        self.paths = paths or Paths()
        state = LabState.load(self.paths)
        if state is None or not self.paths.socket.exists():
            raise LabError("no lab is running; start one with `cluster lab up`")
        self.state = state
        self.agent = AgentClient(self.paths.socket)
        self._machines: dict[str, AgentClient] = {}
        self._code_fresh = False

    # --- life cycle -------------------------------------------------------------------------

    @classmethod
    def up(
        cls,
        topology: Topology | None = None,
        progress: Progress = _quiet,
        mode: str | None = None,
        paths: Paths | None = None,
    ) -> Lab:
        """Boot (unless running) and build; idempotent. On failure nothing is left behind.

        ``mode`` is ``auto`` (the first kernel of the chain that passes its self-test),
        ``host``, ``uml`` or ``qemu``; by default ``LVS_LAB_MODE``, else ``auto``. The
        topology's machines (:mod:`cluster.lab.machine`) boot last, each a guest of its own.
        """
        paths = paths or Paths()
        mode = kernels.requested_mode(mode)
        topo = topology or seed_topology()
        lab = cls._running(paths)
        if lab is not None and mode not in ("auto", lab.state.mode):
            lab.close()
            raise LabError(f"a lab runs in {lab.state.mode} mode; take it down first to use {mode}")
        if lab is not None and {m.name for m in topo.machines} != set(lab.state.machines):
            lab.close()
            raise LabError("the running lab has other machines; take it down first")
        if lab is None:
            cls.down(paths, progress=_quiet)  # the remains of a crashed lab, if any
            state = LabState()
            ends = machine.tunnel_ends(topo.tunnels())
            state.nics = [asdict(lab_end) for _, lab_end, _ in ends]
            for node in topo.machines:
                state.machines[node.name] = [
                    asdict(m) for t, _, m in ends if t.link.node == node.name
                ]
            try:
                kernels.start(mode, paths, state, progress, lambda: cls.down(paths))
                lab = cls(paths)
                paths.code_stamp.write_text(code_stamp())  # what the new guest will read
            except BaseException:
                cls.down(paths, progress=_quiet)
                raise
        else:
            progress(f"lab already running ({lab.state.mode} mode), checking the topology")
        try:
            lab.state.namespaces = sorted(set(lab.state.namespaces) | set(topo.namespaces))
            lab.state.services = {**lab.state.services, **services.roles(topo)}
            lab.state.save(paths)
            progress(f"building {len(topo.nodes)} nodes, {len(topo.segments)} segments")
            builder.build(lab.agent, topo)
            if made := pki.ensure(paths.pki, services.certificates(topo)):
                progress(f"made {', '.join(p.name for p in made)} in {paths.pki}")
            progress(f"starting the servers on {', '.join(lab.state.services)}")
            lab.start_services()
            for node in topo.machines:
                lab.boot_machine(node, topo, progress)
        except BaseException:
            lab.close()
            cls.down(paths, progress=_quiet)
            raise
        progress("lab is up")
        return lab

    @classmethod
    def _running(cls, paths: Paths) -> Lab | None:
        try:
            lab = cls(paths)
            lab.agent.request("ping", timeout=5)
        except (LabError, TimeoutError):
            return None
        return lab

    @staticmethod
    def down(paths: Paths | None = None, progress: Progress = _quiet) -> list[str]:
        """Remove everything a lab made, even after a crash; returns what it removed."""
        paths = paths or Paths()
        state = LabState.load(paths) or LabState()
        removed: list[str] = []
        for node in state.machines:
            removed += Lab.down(machine.machine_paths(paths, node))
        if paths.socket.exists():
            with (
                contextlib.suppress(LabError, OSError, TimeoutError),
                AgentClient(paths.socket) as agent,
            ):
                agent.request("poweroff", timeout=2)
                removed.append("agent (powered off)")
        if state.mode == "host":
            removed += _delete_host_namespaces(state.namespaces)
        if (pid := paths.guest_pid()) is not None:
            # the relay's record is the newest: lab up may have died before it noted the pid,
            # and a machine's relay boots a new process for each reboot
            state.pids["guest"] = pid
        if "guest" not in state.marks and paths.guest_spec.exists():
            state.marks["guest"] = json.loads(paths.guest_spec.read_text()).get("mark", "linux.uml")
        for name, pid in state.pids.items():
            if kill_group(pid, state.marks.get(name, name)):
                removed.append(f"{name} pid {pid}")
        removed += [str(d) for d in (paths.root, paths.tmp) if d.exists()]
        remove_dirs(paths)
        for item in removed:
            progress(f"removed {item}")
        return removed

    def close(self) -> None:
        self.agent.close()
        for agent in self._machines.values():
            agent.close()

    # --- machines ---------------------------------------------------------------------------

    def boot_machine(self, node: Node, topo: Topology, progress: Progress = _quiet) -> None:
        """Boot machine ``node`` unless its agent answers already."""
        paths = machine.machine_paths(self.paths, node.name)
        if paths.socket.exists():
            return
        Lab.down(paths)  # the remains of a crashed machine, if any
        nics = [guest.Nic(**nic) for nic in self.state.machines[node.name]]
        tunnels = topo.tunnels(node.name)
        machine.boot(self.paths, node, tunnels, nics, self.state.mode, progress)

    def reboot(self, node: str) -> dict[str, float]:
        """Reboot machine ``node`` (``systemctl reboot``) and wait until its system is up
        again; the seconds it took (see :func:`cluster.lab.machine.reboot`)."""
        if node not in self.state.machines:
            raise UsageError(
                f"{node!r} is not a machine; machines: {', '.join(self.state.machines)}"
            )
        agent = self._machines.pop(node, None)
        if agent is not None:  # its requests would meet the reboot: a new one afterwards
            agent.close()
        return machine.reboot(self.paths, node)

    # --- running things ---------------------------------------------------------------------

    def _ns(self, node: str) -> str:
        if node not in self.state.namespaces:
            raise UsageError(f"no lab node {node!r}; nodes: {', '.join(self.nodes)}")
        return node

    def _target(self, node: str) -> tuple[AgentClient, str | None]:
        """The agent that reaches ``node``, and its namespace there (a machine's own: None)."""
        if node not in self.state.machines:
            return self.agent, self._ns(node)
        if node not in self._machines:
            socket = machine.machine_paths(self.paths, node).socket
            self._machines[node] = AgentClient(socket)
        return self._machines[node], None

    @property
    def nodes(self) -> list[str]:
        return [ns for ns in self.state.namespaces if ns != "switch"] + list(self.state.machines)

    def run(self, node: str, *argv: str, input: str | None = None, timeout: float = 60) -> Result:
        """Run a program on ``node`` and wait for it."""
        agent, ns = self._target(node)
        res = agent.request("run", ns=ns, argv=list(argv), input=input, timeout=timeout)
        return Result(node, argv, res["rc"], res["stdout"], res["stderr"])

    def sh(self, node: str, script: str, timeout: float = 60) -> Result:
        """Run a shell script on ``node``: handy for pipelines in notebooks."""
        return self.run(node, "sh", "-c", script, timeout=timeout)

    def spawn(self, node: str, argv: list[str], name: str) -> int:
        """Start a long-running service on a namespace ``node``; its output goes to
        ``log_path``. (A machine runs its services as units.)"""
        log = self.log_path(node, name)
        reply = self.agent.request("spawn", ns=self._ns(node), argv=argv, log=str(log), name=name)
        return int(reply["pid"])

    def stop(self, pid: int, sig: int = 15, timeout: float = 5) -> int | None:
        """Signal a spawned service's process group and wait up to ``timeout`` for it to end."""
        return self.agent.request("signal", pid=pid, sig=sig, timeout=timeout)["returncode"]

    def services(self) -> list[dict[str, Any]]:
        return list(self.agent.request("ps"))

    def log_path(self, node: str, name: str) -> Path:
        """Logs live in the share, so the host reads them at the same path."""
        return self.paths.share / "logs" / f"{node}-{name}.log"

    def call(self, node: str | None, fn: str, **kwargs: Any) -> Any:
        """One of the agent's Python functions (``links``, ``addresses``, ``routes``, ...)."""
        agent, ns = self._target(node) if node else (self.agent, None)
        return agent.request("call", ns=ns, fn=fn, kwargs=kwargs)

    def read_file(self, node: str, path: str) -> bytes:
        """A file as the node sees it (namespaces share the lab kernel's file system)."""
        return base64.b64decode(self.call(node, "read_file", path=path))

    def read_text(self, node: str, path: str) -> str:
        return self.read_file(node, path).decode()

    def write_file(self, node: str, path: str, data: bytes | str, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.call(node, "write_file", path=path, data=base64.b64encode(raw).decode(), mode=mode)

    @functools.cached_property
    def python(self) -> str:
        """The lab's interpreter: the agent's (in the guest, the host's system Python)."""
        return str(self.agent.request("ping")["python"])

    def run_python(self, node: str, code: str, *args: str, timeout: float = 60) -> Result:
        """Run Python code on ``node`` with this package importable (``sys.argv[1:]`` = args)."""
        return self.run(node, self.python, "-c", code, *args, timeout=timeout)

    def run_cluster(
        self, node: str, *args: str, input: str | None = None, timeout: float = 60
    ) -> Result:
        """Run the ``cluster`` command on ``node`` from the caller's own package, which need not
        be the one the agent was started from: a test or a ``--node`` benchmark runs the code
        under test."""
        self.refresh_code()
        argv = guest.python_argv("-m", "cluster", *args)
        return self.run(node, *argv, input=input, timeout=timeout)

    def refresh_code(self) -> None:
        """Make the guest read the package anew if its source changed since the guest last
        read it: the guest caches the host's files over hostfs and misses later edits, so a
        lab left up while the code changes would run a stale mix of old and new modules.

        Only then: dropping the guest's caches is kernel-wide, and every process pages its
        code back in over hostfs afterwards.
        """
        if self.state.mode != "host" and not self._code_fresh:
            stamp = code_stamp()
            path = self.paths.code_stamp
            if not path.exists() or path.read_text() != stamp:
                for node in [self.nodes[0], *self.state.machines]:  # each kernel its own cache
                    self.sh(node, "echo 3 > /proc/sys/vm/drop_caches").check()
                path.write_text(stamp)
        self._code_fresh = True

    # --- the lab's servers: real servers (www) and the SMTP sink -----------------------------

    def _service(self, node: str) -> services.Service:
        role = self.state.services.get(node)
        if role is None:
            known = ", ".join(self.state.services) or "none"
            raise UsageError(f"{node!r} runs none of the lab's servers; those that do: {known}")
        return services.service(node, role, self.paths)

    def running_services(self) -> dict[str, int]:
        """Node -> pid of each of the lab's servers that runs now."""
        names = {node: self._service(node).name for node in self.state.services}
        return {
            s["ns"]: s["pid"]
            for s in self.services()
            if s["returncode"] is None and names.get(s["ns"]) == s.get("name")
        }

    def start_services(self, nodes: Iterable[str] | None = None, timeout: float = 30) -> None:
        """Start those of the lab's servers that are not running and wait until they listen."""
        running = self.running_services()
        wanted = [self._service(n) for n in (self.state.services if nodes is None else nodes)]
        self.start(
            [(s.node, [self.python, *s.args], s.name) for s in wanted if s.node not in running],
            timeout,
        )

    def start(
        self, servers: Iterable[tuple[str, list[str], str]], timeout: float = 30
    ) -> list[int]:
        """Spawn each ``(node, argv, name)`` and wait until it prints :data:`READY` in its log;
        returns their pids.

        All are spawned before any is waited for: each is a Python start, most of a second in
        the guest, and they overlap.
        """
        started = []
        for node, argv, name in servers:
            log = self.log_path(node, name)
            offset = log.stat().st_size if log.exists() else 0
            started.append((node, self.spawn(node, argv, name=name), log, offset))
        deadline = time.monotonic() + timeout
        try:
            for node, pid, log, offset in started:
                self._wait_ready(node, pid, log, offset, deadline)
        except BaseException:  # none half-started is left behind
            for _, pid, _, _ in started:
                self.stop(pid)
            raise
        return [pid for _, pid, _, _ in started]

    def _wait_ready(self, node: str, pid: int, log: Path, offset: int, deadline: float) -> None:
        """Wait for the server's ready line in its log (the share: no agent round trip)."""
        checked = time.monotonic()
        while True:
            text = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
            if READY in text:
                return
            exited = False
            if time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                exited = any(
                    s["returncode"] is not None for s in self.services() if s["pid"] == pid
                )
            if exited or time.monotonic() > deadline:
                why = "exited" if exited else "did not start listening in time"
                raise LabError(f"the server on {node} {why}; its log ({log}):\n{text[-2000:]}")
            time.sleep(0.02)

    def stop_service(self, node: str) -> bool:
        """Stop ``node``'s server; returns whether it was running."""
        self._service(node)  # a UsageError for a node that runs none
        pid = self.running_services().get(node)
        if pid is not None:
            self.stop(pid)
        return pid is not None

    def fault(self, node: str, kind: str, value: str | float | None = None) -> Fault:
        """Make a real server misbehave from its next request on (see :class:`Fault`).

        ``down`` stops it; any other fault, ``clear`` included, starts it if it is down.
        """
        if self.state.services.get(node) != "realserver":
            real = [n for n, role in self.state.services.items() if role == "realserver"]
            raise UsageError(f"faults apply to real servers ({', '.join(real)}), not {node!r}")
        try:
            fault = Fault.parse(kind, value)
        except ValueError as err:
            raise UsageError(str(err)) from None
        if fault.kind == "down":
            self.stop_service(node)
        else:
            self.write_file(node, str(self.paths.fault(node)), fault.to_json())
            self.start_services([node])
        return fault

    def faults(self) -> dict[str, str]:
        """Real server -> its fault as words (``clear``, ``slow 12``, ``down``, ...)."""
        running = self.running_services()
        found = {}
        for node, role in self.state.services.items():
            if role != "realserver":
                continue
            path = self.paths.fault(node)
            fault = Fault.from_json(path.read_text()) if path.exists() else Fault()
            found[node] = fault.describe() if node in running else "down"
        return found

    def mails(self) -> list[Mail]:
        """Every mail the SMTP sink has received, oldest first."""
        if not self.paths.mails.exists():
            return []
        lines = self.paths.mails.read_text().splitlines()
        return [Mail(**json.loads(line)) for line in lines if line.strip()]

    def status(self) -> dict[str, Any]:
        """Mode and provenance, processes, the lab's servers and faults, and, per node,
        interfaces with their addresses."""
        info = self.agent.request("ping")
        running, faults = self.running_services(), self.faults()
        nodes: dict[str, Any] = {}
        for node in self.nodes:
            addrs: dict[str, list[str]] = {}
            for a in self.call(node, "addresses"):
                addrs.setdefault(a["ifname"], []).append(a["address"])
            nodes[node] = {
                link["name"]: {"state": link["state"], "addresses": addrs.get(link["name"], [])}
                for link in self.call(node, "links")
            }
        from cluster.provenance import collect

        return {
            "mode": self.state.mode,
            "kernel": info["kernel"],
            "provenance": collect(self.state),
            "guest_user": self.state.guest_user,
            "pids": {
                k: v for k, v in self.state.pids.items() if alive(v, self.state.marks.get(k, k))
            },
            "nodes": nodes,
            "services": self.services(),
            "servers": {
                node: {"role": role, "pid": running.get(node), "fault": faults.get(node)}
                for node, role in self.state.services.items()
            },
            "mails": len(self.mails()),
        }

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _delete_host_namespaces(namespaces: list[str]) -> list[str]:
    """Host mode: kill what runs in our namespaces, then delete them; needs no agent."""
    removed = []
    ip = shutil.which("ip") or "ip"
    for ns in namespaces:
        if not Path(f"/run/netns/{ns}").exists():
            continue
        pids = subprocess.run(
            [ip, "netns", "pids", ns], capture_output=True, text=True, check=False
        ).stdout.split()
        if pids:
            subprocess.run(["kill", "-9", *pids], capture_output=True, check=False)
        subprocess.run([ip, "netns", "del", ns], capture_output=True, check=False)
        removed.append(f"namespace {ns}")
    return removed
