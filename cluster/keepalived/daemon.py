"""Run the real keepalived on one node: start, reload, stop, kill, and read its VRRP events.

The node is reached through a :class:`Node` runner, so the same code drives keepalived in a
lab namespace (:class:`cluster.lab.Lab` is one) and, later, on a real director for
``cluster apply``. Every file of one daemon lives in one directory (:class:`Files`): the
config (mode 0600, it may hold auth_pass), the three pid files, and the notify FIFO.

keepalived runs in the foreground (``-n``), logs to its console (``-l -D``, caught in the
spawn log) and never to syslog (``-G``: a namespace has no /dev/log). ``-P`` (VRRP only) is
added only when the spec says ``ipvs: direct``; otherwise the checker child programs IPVS.

VRRP state changes come from keepalived's own ``notify_fifo`` (global_defs), read by a
bash loop that stamps each line with ``$EPOCHREALTIME`` as it arrives: the daemon's log has
whole seconds only, and a notify script would cost a process start (60-120 ms in the UML
guest) before it could read the clock. The reader holds the FIFO open for writing too, so it
never sees EOF and outlives keepalived restarts.

>>> f = Files("/run/ka/director01")
>>> f.conf, f.fifo
('/run/ka/director01/keepalived.conf', '/run/ka/director01/notify.fifo')
>>> parse_events("1700000000.250000 INSTANCE \\"VI_1\\" MASTER 100\\ngarbage\\n")
[VrrpEvent(time=1700000000.25, kind='INSTANCE', name='VI_1', state='MASTER', priority=100)]
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Protocol

from cluster.errors import ToolError

START_TIMEOUT = 15.0
"""Seconds for keepalived to write its VRRP child's pid file; a guest start takes ~1 s."""


class Completed(Protocol):
    rc: int
    stdout: str
    stderr: str


class Node(Protocol):
    """What keepalived needs from the machine it runs on (the lab's :class:`Lab` is one)."""

    def run(
        self, node: str, *argv: str, input: str | None = None, timeout: float = 60
    ) -> Completed: ...

    def spawn(self, node: str, argv: list[str], name: str) -> int: ...

    def write_file(self, node: str, path: str, data: bytes | str, mode: int = 0o644) -> None: ...


@dataclass(frozen=True)
class Files:
    """Where one keepalived keeps its files: a run directory of its own per node, and its
    config (by default in that directory; a director's is /etc/keepalived/keepalived.conf)."""

    base: str
    config: str = ""

    @property
    def conf(self) -> str:
        return self.config or f"{self.base}/keepalived.conf"

    @property
    def candidate(self) -> str:
        """Where a new config is tested before it replaces :attr:`conf`."""
        return f"{self.base}/keepalived.conf.new"

    @property
    def pid(self) -> str:
        return f"{self.base}/keepalived.pid"

    @property
    def vrrp_pid(self) -> str:
        return f"{self.base}/vrrp.pid"

    @property
    def check_pid(self) -> str:
        return f"{self.base}/checker.pid"

    @property
    def fifo(self) -> str:
        return f"{self.base}/notify.fifo"

    @property
    def events(self) -> str:
        """The FIFO's lines, each stamped with its arrival time."""
        return f"{self.base}/events.log"


@dataclass(frozen=True)
class VrrpEvent:
    """One line of keepalived's notify FIFO, stamped with the time the reader got it."""

    time: float
    kind: str  # INSTANCE or GROUP
    name: str
    state: str  # MASTER BACKUP FAULT STOP
    priority: int


def parse_events(text: str) -> list[VrrpEvent]:
    """The reader's lines: ``<epoch> INSTANCE "<name>" <STATE> <priority>``; others skipped."""
    events = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 5 or fields[1] not in ("INSTANCE", "GROUP"):
            continue
        try:
            events.append(
                VrrpEvent(float(fields[0]), fields[1], fields[2].strip('"'), fields[3],
                          int(fields[4]))
            )  # fmt: skip
        except ValueError:
            continue
    return events


def current_states(events: list[VrrpEvent]) -> dict[str, str]:
    """Each instance's latest state; a keepalived that stopped leaves them at STOP."""
    return {e.name: e.state for e in events if e.kind == "INSTANCE"}


def options(files: Files, vrrp_only: bool) -> list[str]:
    """The options that name keepalived's files and mode, whoever starts it (the kit, or a
    service manager's unit)."""
    named = ["-f", files.conf, "-p", files.pid, "-r", files.vrrp_pid, "-c", files.check_pid]
    return [*named, "-P"] if vrrp_only else named


def argv(files: Files, vrrp_only: bool) -> list[str]:
    """keepalived as the kit starts it: in the foreground, logging to its console only."""
    return ["keepalived", "-n", "-l", "-D", "-G", *options(files, vrrp_only)]


def reader_loop(files: Files) -> str:
    """The bash loop that stamps each line of the notify FIFO into the events file. It holds
    the FIFO open for writing too, so it never sees EOF and outlives keepalived restarts."""
    fifo = shlex.quote(files.fifo)
    return (
        f"exec 3<>{fifo}; while IFS= read -r line <&3; do "
        f'printf "%s %s\\n" "$EPOCHREALTIME" "$line" >>{shlex.quote(files.events)}; done'
    )


class Keepalived:
    """One keepalived on ``node`` of ``host``; its files live under ``base``."""

    def __init__(self, host: Node, node: str, files: Files) -> None:
        self.host, self.node, self.files = host, node, files

    def _sh(self, script: str, timeout: float = 30) -> Completed:
        return self.host.run(self.node, "bash", "-c", script, timeout=timeout)

    def test(self, text: str) -> str:
        """``keepalived -t`` on ``text`` in the node's namespace (its interfaces are checked).

        The text goes to a candidate file next to the pid files, never over the live config:
        a config that fails the test must not be what the next restart reads. Exit 0
        passes; anything else is a ToolError carrying keepalived's own words. What it prints
        on exit 0 (warnings) is returned, so callers can show it.
        """
        self.host.write_file(self.node, self.files.candidate, text, mode=0o600)
        done = self.host.run(self.node, "keepalived", "-t", "-f", self.files.candidate)
        output = (done.stdout + done.stderr).strip()
        if done.rc != 0:
            raise ToolError(f"{self.node}: keepalived -t exited {done.rc}:\n{output}")
        return output

    def install(self, text: str) -> None:
        """Make ``text`` the config; mode 0600, because it may hold ``auth_pass``."""
        self.host.write_file(self.node, self.files.conf, text, mode=0o600)

    def _pid(self, path: str) -> int | None:
        text = self._sh(f"cat {path} 2>/dev/null").stdout.strip()
        return int(text) if text.isdigit() else None

    def pids(self) -> dict[str, int]:
        """The live processes, by role (parent, vrrp, checker); a dead one is left out."""
        paths = {"parent": self.files.pid, "vrrp": self.files.vrrp_pid,
                 "checker": self.files.check_pid}  # fmt: skip
        script = "; ".join(
            f'p=$(cat {path} 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo {role} $p'
            for role, path in paths.items()
        )
        return {
            role: int(pid)
            for role, pid in (line.split() for line in self._sh(script).stdout.splitlines())
        }

    def running(self) -> bool:
        return "parent" in self.pids()

    def start(self, text: str | None = None, vrrp_only: bool = False) -> str:
        """Test the config (``text``, or the one installed before), install it and start
        keepalived; returns ``keepalived -t``'s warnings."""
        if text is None:
            text = self.config()
            if text is None:
                raise ToolError(f"{self.node}: no keepalived config at {self.files.conf}")
        warnings = self.test(text)
        self.install(text)
        self.launch(vrrp_only)
        return warnings

    def launch(self, vrrp_only: bool = False) -> None:
        """Start keepalived on the installed config, which passed ``keepalived -t`` before it
        was installed. Waits until the VRRP child runs, so a fault injected right after
        meets a working daemon."""
        if self.running():
            raise ToolError(f"{self.node}: keepalived already runs (pid {self.pids()['parent']})")
        if self.config() is None:
            raise ToolError(f"{self.node}: no keepalived config at {self.files.conf}")
        self._start_reader()
        self.forget_pids()
        self.host.spawn(self.node, argv(self.files, vrrp_only), name="keepalived")
        self.wait_started()

    def forget_pids(self) -> None:
        """Remove the pid files, so that only a new keepalived's count as started."""
        self._sh(f"rm -f {self.files.pid} {self.files.vrrp_pid} {self.files.check_pid}")

    def wait_started(self) -> None:
        """Until the VRRP child runs (its pid file names a live process)."""
        deadline = time.monotonic() + START_TIMEOUT
        while "vrrp" not in self.pids():
            if time.monotonic() > deadline:
                raise ToolError(f"{self.node}: keepalived did not start; see its log")
            time.sleep(0.1)

    def _start_reader(self) -> None:
        """The FIFO and its stamping reader, once per node (it survives restarts)."""
        fifo = shlex.quote(self.files.fifo)
        if self._sh(f"test -p {fifo}").rc == 0:
            return
        made = self._sh(f"mkfifo -m 600 {fifo}")
        if made.rc != 0:
            raise ToolError(f"{self.node}: cannot create {self.files.fifo}: {made.stderr.strip()}")
        self.host.spawn(self.node, ["bash", "-c", reader_loop(self.files)], name="vrrp-events")

    def events(self) -> list[VrrpEvent]:
        """Every VRRP state change since the reader started, oldest first."""
        return parse_events(self._sh(f"cat {self.files.events} 2>/dev/null").stdout)

    def signal(self, sig: str, role: str = "parent") -> int:
        """Send ``sig`` (a name: HUP, TERM, KILL) to one of keepalived's processes."""
        pid = self.pids().get(role)
        if pid is None:
            raise ToolError(f"{self.node}: keepalived's {role} process is not running")
        self._sh(f"kill -s {sig} {pid}")
        return pid

    def reload(self) -> None:
        """SIGHUP: keepalived re-reads its config and keeps VRRP state where it can."""
        self.signal("HUP")

    def config(self) -> str | None:
        """The installed config, or None when there is none yet."""
        done = self._sh(f"cat {shlex.quote(self.files.conf)}")
        return done.stdout if done.rc == 0 else None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM and wait: the VRRP child sends priority 0 and drops the VIPs first."""
        if self.running():
            self.signal("TERM")
            self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                raise ToolError(f"{self.node}: keepalived did not stop within {timeout} s")
            time.sleep(0.1)

    def kill_command(self) -> str:
        """The shell command that kills every keepalived process at once, as a crash would.

        Children first, and all frozen before any dies: a dying parent sends its children
        SIGTERM (PR_SET_PDEATHSIG), and the VRRP child would then resign gracefully.
        """
        pids = self.pids()
        procs = " ".join(str(pids[r]) for r in ("vrrp", "checker", "parent") if r in pids)
        return f"kill -STOP {procs}; kill -9 {procs}" if procs else "true"
