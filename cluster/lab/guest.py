"""What the lab's two guest kernels share: the host's own root as the guest's, one init, the
agent's Python, and the boot behind the relay.

Both guests (:mod:`cluster.lab.uml`, :mod:`cluster.lab.qemu`) boot over the host's own root:

- ``/`` is shared read-only (UML's hostfs, QEMU's 9p) under a tmpfs overlay, so the guest runs
  the host's ipvsadm, keepalived and Python without copying anything, and cannot change host
  files. The overlay's ``/tmp`` shows the host's, so a checkout under ``/tmp`` works too;
- the guest kernel's modules are bound to ``/lib/modules/$(uname -r)``, so the lab's kernel
  loads modules as a director's does, on request (a scheduler that keepalived names, veth, a
  netfilter match);
- one read-write share (the state dir's ``share/``, at the same path inside) carries results
  and logs out;
- the kernel's process runs as host user ``nobody`` where the paths it needs are
  world-readable, so even a root shell in the guest can write nothing on the host but that
  share.

A kernel module here names how its guest boots (:class:`GuestBoot`); :func:`boot` starts it
behind :mod:`cluster.lab.relay` and returns once the agent answers.

>>> "exec chroot" in init_script(InitParts("", ":", "mount share", "/dev/ttyS1", ""), "/p", "x")
True
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyroute2

import cluster
from cluster.errors import LabError
from cluster.lab.state import LabState, Paths

GUEST_USER = "nobody"
BOOT_TIMEOUT = 90.0

Progress = Callable[[str], None]


def _world_readable(path: Path) -> bool:
    """Whether an unprivileged host user can reach ``path`` (every parent searchable)."""
    path = path.resolve()
    for part in [*reversed(path.parents), path]:
        mode = part.stat().st_mode
        need = stat.S_IXOTH if part.is_dir() else stat.S_IROTH
        if not mode & need:
            return False
    return True


def guest_python() -> tuple[str, str]:
    """The interpreter and PYTHONPATH the guest's agent runs with.

    The agent needs only the standard library, this package and pyroute2, so the host's
    system Python of the same minor version serves when a virtualenv's base (e.g. under a
    private /root) is out of an unprivileged guest's reach.
    """
    paths = [Path(cluster.__file__).parent.parent, Path(pyroute2.__file__).parent.parent]
    pythonpath = ":".join(dict.fromkeys(str(p) for p in paths))
    real = Path(sys.executable).resolve()
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    for candidate in (real, system):
        if candidate.exists() and _world_readable(candidate):
            return str(candidate), pythonpath
    return str(real), pythonpath


def python_argv(*args: str) -> list[str]:
    """A command line that runs :func:`guest_python` with ``args`` in a lab node: this package
    as the caller has it, whatever the agent's own import path."""
    python, pythonpath = guest_python()
    return ["env", f"PYTHONPATH={pythonpath}", python, *args]


def choose_user(needed: list[Path]) -> str:
    """``nobody`` if it can read ``needed`` and the agent's Python, else root (empty string)."""
    try:
        pwd.getpwnam(GUEST_USER)
    except KeyError:
        return ""
    python, pythonpath = guest_python()
    needed = [*needed, Path(python), *map(Path, pythonpath.split(":"))]
    return GUEST_USER if all(_world_readable(p) for p in needed) else ""


@dataclass(frozen=True)
class InitParts:
    """What differs between the guest kernels in the one init script.

    ``lower`` is where the host's root is mounted when the init runs (UML boots straight
    from it: empty; QEMU's initramfs mounts it at ``/lower``); ``prepare`` runs first;
    ``share`` mounts the read-write share at ``$R<share path>``; ``device`` is the agent's
    channel inside the guest (a shell word); ``setup`` runs in the final root before the agent.
    ``start`` replaces the agent's start in the final root: a machine starts systemd there
    (:mod:`cluster.lab.machine`), with the overlay's upper layer on its disk, which its
    ``prepare`` mounts at ``/run/ov``.
    """

    lower: str
    prepare: str
    share: str
    device: str
    setup: str
    start: str = ""


INIT = """#!/bin/sh
# The lab guest's init, written by cluster.lab.guest for one boot. It builds a writable root
# (a tmpfs over the host's read-only /) and starts the agent on its channel. It must stay
# PID 1 through the chroot: the kernel shares PID 1's root with the helpers it starts, so its
# module requests (veth, a scheduler keepalived names) find modprobe and the modules there.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
LOWER={lower}
say() {{ echo "lab: $* ($(cut -d' ' -f1 /proc/uptime) s)"; }}
{prepare}
R=/run/root
mkdir -p /run/ov/upper /run/ov/work $R
mount -t overlay overlay -o lowerdir=$LOWER/,upperdir=/run/ov/upper,workdir=/run/ov/work $R
mkdir -p $R/lib/modules/$(uname -r)
mount -o bind $LOWER{modules} $R/lib/modules/$(uname -r)
mount -t devtmpfs dev $R/dev
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t tmpfs -o mode=755 run $R/run
mkdir -p $R{share_dir}
{share}
{start}
"""

AGENT_START = """DEVICE={device}
say "root ready, starting agent"
export DEVICE
exec chroot $R /bin/sh -c '
ip link set lo up
{setup}
PYTHONPATH={pythonpath} PYTHONDONTWRITEBYTECODE=1 \\
  {python} -m cluster.lab.agent --serial "$DEVICE" >{share_dir}/agent.log 2>&1
echo "lab: agent exited, powering off"
echo o >/proc/sysrq-trigger
'"""


def init_script(parts: InitParts, modules: str, share_dir: str) -> str:
    """The init for one boot: ``modules`` is the kernel's module tree on the host."""
    python, pythonpath = guest_python()
    fields = {**asdict(parts), "share_dir": share_dir, "python": python, "pythonpath": pythonpath}
    start = parts.start or AGENT_START.format(**fields)
    return INIT.format(**{**fields, "start": start, "modules": modules})


MACHINE_START = """chroot $R /bin/sh -c '{setup}'
{network}
say "root ready, starting systemd"
cd $R
mount --move . /
exec chroot . /usr/bin/env {env} {systemd}"""
SYSTEMD = Path("/lib/systemd/systemd")  # a machine's PID 1: the host's own


#: a UML machine that reboots powers off with this exit code, and its relay boots it again
REBOOT_CODE = 3


@dataclass(frozen=True)
class Machine:
    """What makes a guest a machine (:mod:`cluster.lab.machine`): ``disk`` holds its root's
    upper layer, so what it writes survives a reboot; ``network`` is the shell that names its
    network devices as the spec does and gives them addresses, before systemd starts."""

    disk: Path
    network: str

    def start(self, setup: str, env: str) -> str:
        """The init's last lines: ``setup`` in the new root, the network, then systemd as
        PID 1 there (``mount --move`` and ``chroot``, as switch_root does), with ``env``."""
        return MACHINE_START.format(network=self.network, setup=setup, env=env, systemd=SYSTEMD)


@dataclass(frozen=True)
class Nic:
    """One end of a point-to-point Ethernet link between two guests (a machine's interface,
    see :class:`cluster.lab.topology.Tunnel`): L2TPv3 over UDP on the host's loopback, which
    UML's vector driver and QEMU's ``l2tpv3`` netdev both speak. ``port`` is this end's UDP
    port on 127.0.0.1, ``peer`` the other end's."""

    mac: str
    port: int
    peer: int
    session: int


@dataclass(frozen=True)
class GuestBoot:
    """How the relay starts one guest kernel and reaches its agent.

    ``channel`` is either ``{"pipes": "ssl1=fd:{r},fd:{w}"}`` (the relay makes two pipes and
    adds the argument: UML's serial line) or ``{"socket": PATH}`` (the kernel's process
    listens there: QEMU's chardev). ``cpus`` pins the kernel's process (UML runs 3-5 times
    faster on one host CPU); ``mark`` is what its command line must contain before ``lab
    down`` kills it; ``reboot_code`` is the exit code with which a lab machine asks the
    relay to boot it again.
    """

    argv: list[str]
    env: dict[str, str]
    user: str
    channel: dict[str, str]
    mark: str
    cpus: list[int] = field(default_factory=list)
    reboot_code: int | None = None  # the exit code by which the guest asks to boot again


def pinned_cpus(default: list[int]) -> list[int]:
    """The host CPUs a guest's process may use: ``LVS_LAB_CPU=N`` pins it to CPU N,
    ``LVS_LAB_CPU=all`` leaves it free, and without it the kernel's own ``default`` holds
    (UML: the last CPU; QEMU: all of them). Two labs side by side each get a CPU this way."""
    allowed = sorted(os.sched_getaffinity(0))
    wanted = os.environ.get("LVS_LAB_CPU")
    if wanted is None:
        return default
    if wanted == "all":
        return []
    if not wanted.isdigit() or int(wanted) not in allowed:
        raise LabError(f"LVS_LAB_CPU={wanted}: use one of this process's CPUs {allowed}, or all")
    return [int(wanted)]


def prepare_dirs(paths: Paths, user: str) -> None:
    """The state dir, and the dirs the kernel's process writes, owned by the guest's user."""
    uid, gid = (pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid) if user else (0, 0)
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    for d in (paths.guest_dir, paths.share, paths.tmp):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(d, uid, gid)
    paths.root.chmod(0o755)


def boot(paths: Paths, state: LabState, spec: GuestBoot, progress: Progress) -> None:
    """Start the guest behind a relay and return once its agent answers; LabError otherwise."""
    paths.guest_spec.write_text(json.dumps(asdict(spec)))
    state.guest_user = spec.user or "root"
    state.marks = {**state.marks, "relay": "cluster.lab.relay", "guest": spec.mark}
    with paths.relay_log.open("ab") as log:
        relay = subprocess.Popen(
            [sys.executable, "-m", "cluster.lab.relay", str(paths.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state.pids["relay"] = relay.pid
    state.save(paths)
    _wait_ready(paths, state, relay, progress)


def _wait_ready(
    paths: Paths, state: LabState, relay: subprocess.Popen[bytes], progress: Progress
) -> None:
    """Show the guest's ``lab:`` console lines until the relay opens the agent socket."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    shown = 0
    while not paths.socket.exists():
        _note_guest_pid(paths, state)
        lines = console_lines(paths)
        for line in lines[shown:]:
            if line.startswith("lab: "):
                progress(line.removeprefix("lab: "))
        shown = len(lines)
        if relay.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(lines[-15:])
            why = "the guest stopped" if relay.poll() is not None else "timed out"
            raise LabError(f"guest boot failed ({why}); console tail:\n{tail}")
        time.sleep(0.02)
    _note_guest_pid(paths, state)


def _note_guest_pid(paths: Paths, state: LabState) -> None:
    if "guest" not in state.pids and (pid := paths.guest_pid()) is not None:
        state.pids["guest"] = pid
        state.save(paths)


def console_lines(paths: Paths) -> list[str]:
    """The guest's console so far (kernel messages and the init's ``lab:`` lines)."""
    if not paths.console.exists():
        return []
    return paths.console.read_text(errors="replace").splitlines()
