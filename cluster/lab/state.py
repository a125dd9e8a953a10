"""Where a running lab keeps its state, so that ``lab down`` can clean up even after a crash.

Everything a lab creates on the host is named here: one state directory (pids, the agent
socket, logs, the guest's init script and its read-write share) and one directory on a tmpfs
for the guest's memory file. ``lab down`` needs nothing else; it kills only the pids recorded
here, and only after checking that each still runs the program the lab started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_DIR = Path(os.environ.get("LVS_LAB_STATE", "/run/lvs-cluster-lab"))
# UML keeps guest memory in a file under $TMPDIR; on a disk it would be written back.
TMP_DIR = Path(os.environ.get("LVS_LAB_TMP", "/dev/shm/lvs-cluster-lab"))


@dataclass
class Paths:
    """The files of one lab; ``share`` has the same path on the host and in the guest."""

    root: Path = STATE_DIR
    tmp: Path = TMP_DIR

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def console(self) -> Path:
        return self.root / "console.log"

    @property
    def relay_log(self) -> Path:
        return self.root / "relay.log"

    @property
    def guest_spec(self) -> Path:
        """How the relay boots the guest (a :class:`~cluster.lab.guest.GuestBoot` as JSON)."""
        return self.root / "guest.json"

    @property
    def guest_pid_file(self) -> Path:
        """Written by the relay, atomically, once the guest kernel's process exists."""
        return self.root / "guest.pid"

    def guest_pid(self) -> int | None:
        """The guest kernel's host PID (UML or QEMU), or None before the relay started it."""
        try:
            return int(self.guest_pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def init(self) -> Path:
        return self.root / "init.sh"

    @property
    def guest_dir(self) -> Path:
        """Owned by the guest's host user: UML's ``uml_dir``, QEMU's agent socket."""
        return self.root / "guest"

    @property
    def share(self) -> Path:
        return self.root / "share"

    @property
    def code_stamp(self) -> Path:
        """The package's source as the guest last read it (see ``Lab.refresh_code``)."""
        return self.root / "code-stamp"

    @property
    def pki(self) -> Path:
        """The lab CA and the real servers' keys and certificates."""
        return self.share / "pki"

    @property
    def mails(self) -> Path:
        """The SMTP sink's store: one JSON line per mail."""
        return self.share / "mail" / "mails.jsonl"

    def access_log(self, node: str) -> Path:
        """A real server's access log: one line per connection (``servers.access_line``).

        In the guest's own memory, like the director nodes' roots, not in the share: a write
        per connection over QEMU's 9p stalled the server enough for the failover probe's
        requests to time out. Read it through the lab (``lab.run``), as the benchmarks do."""
        return self.root / "access" / f"{node}.log"

    def fault(self, node: str) -> Path:
        """A real server's fault; written only from the lab side, where the server reads it
        (the guest caches hostfs pages, so a host-side write could go unseen)."""
        return self.share / "faults" / f"{node}.json"


@dataclass
class LabState:
    """What ``lab up`` started; written before each process starts, so a crash leaves a trail.

    ``mode`` is the kernel the lab runs on (``host``, ``uml`` or ``qemu``), ``kernel`` that
    kernel's release, and ``chain`` why each kernel before it was passed over.
    """

    mode: str = ""
    kernel: str = ""
    chain: list[dict[str, str]] = field(default_factory=list)
    cpus: list[int] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    # process name -> the string its /proc/PID/cmdline must contain before we kill it
    marks: dict[str, str] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    # node -> role ("realserver", "smtp") for the nodes that run one of the lab's servers
    services: dict[str, str] = field(default_factory=dict)
    guest_user: str = ""
    started: float = field(default_factory=time.time)
    # the lab guest's ends of the machines' links (guest.Nic fields), and per machine its own
    nics: list[dict[str, Any]] = field(default_factory=list)
    machines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def save(self, paths: Paths) -> None:
        paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp = paths.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(paths.state)

    @classmethod
    def load(cls, paths: Paths) -> LabState | None:
        try:
            return cls(**json.loads(paths.state.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int, mark: str) -> bool:
    """True if ``pid`` runs and is still ours: pids are reused, so a match on the command
    line guards against killing a stranger after a crash and a reboot of the counter."""
    return mark in cmdline(pid)


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists():
        # the relay is our child when the same Python booted the lab: reap it, not leave a zombie
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill_group(pid: int, mark: str, grace: float = 2.0) -> bool:
    """SIGTERM then SIGKILL the process group led by ``pid`` (UML's helpers share it).

    Returns whether it was running. A process already exiting (empty command line, e.g. a
    guest powering off) is waited for, so that "down" means gone.
    """
    line = cmdline(pid)
    if not Path(f"/proc/{pid}").exists() or (line and mark not in line):
        return False
    if not line:
        if _wait_gone(pid, 5.0):
            return True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        return _wait_gone(pid, 2.0)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        if _wait_gone(pid, wait):
            return True
    return not alive(pid, mark)


def remove_dirs(paths: Paths) -> None:
    for d in (paths.root, paths.tmp):
        shutil.rmtree(d, ignore_errors=True)
