"""A lab node that is a machine of its own: a guest whose PID 1 is systemd, booted from a disk.

A real director comes back after a reboot only if its service manager starts keepalived, its
firewall and its modules again (:mod:`cluster.director.boot`). A namespace cannot reboot, so
the lab can make a node a *machine* instead (:func:`cluster.lab.topology.as_machines`). It
boots the host's own system, as the lab's guest does, over the host's ``/`` read-only, with
these differences:

- the overlay's upper layer is an ext4 disk image that the kit makes (``mkfs.ext4 -d``, no
  loop device), so whatever the machine writes (``/etc/keepalived``, units, the links that
  enable them) survives its reboots, and nothing reaches the host's files;
- its init names the network devices as the spec does (by the MAC of each
  :class:`~cluster.lab.topology.Tunnel`), then hands over to the host's systemd as PID 1;
- its first boot is a director's: the host's own choices (the units it enabled, its unit
  generators, which would add its gettys and init scripts) are masked, as are the units a
  guest without consoles, logins or a message bus cannot use (:data:`UNNEEDED`);
- the lab's agent runs as a unit on its serial line, so ``Lab.run("director01", ...)``
  reaches it as it reaches a namespace.

A reboot is the system's own: ``systemctl reboot`` stops every unit (keepalived sends its
priority-0 advert), unmounts and syncs. At the very end, instead of the reboot, a
system-shutdown hook powers the machine off with :data:`~cluster.lab.guest.REBOOT_CODE` as
UML's exit code, and the relay boots the same machine again from the same disk: UML's own
reboot runs the new kernel in the same host process, which keeps the old kernel's host files
and sockets open (its links' UDP ports among them, so the links would not come back). The
relay and the agent's socket stay; the new boot's agent announces itself to the relay, which
logs it. On ``qemu``, QEMU resets the machine in the same process instead, which keeps only
host-side state (its sockets and disk), so the hook leaves it alone.

The pure part, :func:`first_boot`, is what the disk holds before the first boot:

>>> from cluster.lab.topology import as_machines, seed_topology
>>> topo = as_machines(seed_topology(), ["director01"])
>>> tunnels = topo.tunnels()
>>> files = first_boot("director01", "[Unit]\\n", ["ssh.service"], [])
>>> files["etc/hostname"], files["etc/systemd/system/ssh.service"]
('director01\\n', Symlink(target='/dev/null'))
>>> print(network(topo.node("director01"), tunnels).splitlines()[-1])
ip route add default via 192.168.0.1
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import LabError
from cluster.lab import guest, qemu, uml
from cluster.lab.client import AgentClient
from cluster.lab.guest import REBOOT_CODE, SYSTEMD, Machine, Nic, Progress
from cluster.lab.state import LabState, Paths
from cluster.lab.topology import Node, Tunnel

DISK_SIZE = "512M"  # sparse: a first boot writes about 20 MB
AGENT_UNIT = "lvs-lab-agent.service"
#: units of the host's system that a lab machine cannot use or does not need: gettys (it has
#: no consoles to log in on), the message bus and logins (systemctl reaches PID 1 without
#: them), early loads of modules for desktops and disks, time sync (no network), and
#: systemd-sysusers, which cannot take its lock on the overlay
UNNEEDED = (
    "getty.target", "getty@.service", "serial-getty@.service", "console-getty.service",
    "dbus.service", "dbus.socket", "systemd-logind.service", "systemd-user-sessions.service",
    "modprobe@.service", "sys-fs-fuse-connections.mount", "sys-kernel-config.mount",
    "systemd-timesyncd.service", "systemd-sysusers.service",
)  # fmt: skip
#: never masked: what a director's own set-up may enable
KEPT = ("keepalived.service",)
#: systemd's settings for the machine: UML's watchdog device needs a host helper it lacks,
#: and a unit that will not stop must not hold a reboot for minutes
MANAGER = """[Manager]
RebootWatchdogSec=0
DefaultTimeoutStopSec=20s
"""
BOOT_TIMEOUT = 180.0


REBOOT_HOOK = f"""#!/bin/sh
# Written by cluster.lab.machine; systemd-shutdown runs it last, with the verb as $1. A reboot
# becomes a power-off with exit code {REBOOT_CODE}, and the lab's relay boots the machine again.
[ "$1" = reboot ] && [ -w /proc/exitcode ] || exit 0  # UML only: QEMU resets the machine
echo {REBOOT_CODE} > /proc/exitcode
exec systemctl poweroff --force --force
"""


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in the disk's upper layer; ``/dev/null`` masks a unit."""

    target: str


@dataclass(frozen=True)
class Script:
    """An executable file in the disk's upper layer."""

    text: str


def machine_paths(lab: Paths, node: str) -> Paths:
    """A machine's own state and memory directories, beside the lab's."""
    return Paths(root=Path(f"{lab.root}-{node}"), tmp=Path(f"{lab.tmp}-{node}"))


def network(node: Node, tunnels: Iterable[Tunnel]) -> str:
    """Shell that wires the machine as the lab wires a namespace: each tunnel's device
    (``vecN`` in UML) gets the name the spec uses, then addresses and routes. Like cables and
    a distribution's network configuration, this is the machine's, not ``cluster apply``'s."""
    # by way of a name of our own first, so that no new name is still another device's
    cases = "".join(
        f'    {t.machine_mac}) ip link set dev "${{dev##*/}}" name lab-{t.link.ifname} ;;\n'
        for t in tunnels
    )
    lines = [
        f"for dev in /sys/class/net/*; do\n  case $(cat $dev/address) in\n{cases}  esac\ndone",
        *(f"ip link set dev lab-{t.link.ifname} name {t.link.ifname}" for t in tunnels),
        "ip link set lo up",
    ]
    for iface in node.interfaces:
        lines.append(f"ip link set {iface.name} up")
        lines += [f"ip addr add {address} dev {iface.name}" for address in iface.addresses]
    lines += [f"ip route add {route.dst} via {route.via}" for route in node.routes]
    return "\n".join(lines)


def agent_unit(device: str) -> str:
    """The lab's agent on the machine's serial line, started before anything else."""
    python, pythonpath = guest.guest_python()
    return f"""# The lab's agent (cluster.lab.agent), written by cluster.lab.machine.
[Unit]
Description=The lab's agent on the serial line {device}
DefaultDependencies=no

[Service]
Environment=PYTHONPATH={pythonpath} PYTHONDONTWRITEBYTECODE=1
ExecStart={python} -m cluster.lab.agent --serial {device}

[Install]
WantedBy=sysinit.target
"""


def first_boot(
    node: str, agent: str, host_enabled: Iterable[str], host_generators: Iterable[str]
) -> dict[str, str | Symlink | Script]:
    """The upper layer of a new machine's disk: path (relative to ``/``) -> file or link.

    ``agent`` is the agent's unit; ``host_enabled`` are the units the host enabled,
    ``host_generators`` its unit generators.
    """
    system = "etc/systemd/system"
    files: dict[str, str | Symlink | Script] = {
        "etc/hostname": f"{node}\n",
        "etc/machine-id": hashlib.md5(f"lvs-cluster lab {node}".encode()).hexdigest() + "\n",
        # the host's mounts are not the machine's; its root is the init's overlay
        "etc/fstab": "# a lab machine: its root is an overlay that its init mounts\n",
        # the host's /tmp shows through the overlay (a checkout there must work); cleaning
        # it at boot would only bury the host's files under whiteouts
        "etc/tmpfiles.d/tmp.conf": Symlink("/dev/null"),
        "etc/systemd/system.conf.d/lab-machine.conf": MANAGER,
        f"{system}/default.target": Symlink("/lib/systemd/system/multi-user.target"),
        f"{system}/{AGENT_UNIT}": agent,
        f"{system}/sysinit.target.wants/{AGENT_UNIT}": Symlink(f"/{system}/{AGENT_UNIT}"),
        "usr/lib/systemd/system-shutdown/lab-machine-reboot": Script(REBOOT_HOOK),
    }
    for unit in sorted({*UNNEEDED, *host_enabled} - set(KEPT)):
        files[f"{system}/{unit}"] = Symlink("/dev/null")
    for generator in sorted(set(host_generators) - {"systemd-fstab-generator"}):
        files[f"etc/systemd/system-generators/{generator}"] = Symlink("/dev/null")
    return files


def host_choices(root: Path = Path("/")) -> tuple[list[str], list[str]]:
    """The units the host enabled (its ``*.wants`` and ``*.requires`` links in /etc) and its
    unit generators: what a machine booting the host's system must not inherit."""
    enabled = [
        link.name
        for pattern in ("*.wants/*", "*.requires/*")
        for link in (root / "etc/systemd/system").glob(pattern)
    ]
    generators = [
        path.name
        for folder in ("lib/systemd/system-generators", "usr/lib/systemd/system-generators")
        if (root / folder).is_dir()
        for path in (root / folder).iterdir()
    ]
    return sorted(set(enabled)), sorted(set(generators))


def make_disk(disk: Path, node: str, files: dict[str, str | Symlink | Script], work: Path) -> None:
    """An ext4 image at ``disk`` whose ``upper/`` holds ``files`` (and an empty ``work/``, the
    overlay's), made by ``mkfs.ext4 -d`` from a scratch tree under ``work``: no loop device."""
    tree = work / "disk-tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "work").mkdir(parents=True)
    for name, content in files.items():
        path = tree / "upper" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            path.symlink_to(content.target)
        elif isinstance(content, Script):
            path.write_text(content.text)
            path.chmod(0o755)
        else:
            path.write_text(content)
    argv = ["mkfs.ext4", "-q", "-F", "-L", node[:16], "-d", str(tree), str(disk), DISK_SIZE]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LabError("mkfs.ext4 is missing (apt-get install e2fsprogs)") from None
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    if done.returncode != 0:
        raise LabError(f"making {node}'s disk failed: {done.stderr.strip()}")


def free_udp_ports(count: int) -> list[int]:
    """``count`` distinct UDP ports free on 127.0.0.1 now (held together while chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def tunnel_ends(tunnels: list[Tunnel]) -> list[tuple[Tunnel, Nic, Nic]]:
    """Each tunnel with its two ends: (tunnel, the lab guest's end, the machine's end)."""
    ports = free_udp_ports(2 * len(tunnels))
    return [
        (t, Nic(t.switch_mac, lab, machine, t.session), Nic(t.machine_mac, machine, lab, t.session))
        for t, lab, machine in zip(tunnels, ports[::2], ports[1::2], strict=True)
    ]


def boot(
    lab: Paths, node: Node, tunnels: list[Tunnel], nics: list[Nic], mode: str, progress: Progress
) -> LabState:
    """Make machine ``node``'s disk and boot it; returns once its system is up (every unit
    of the boot started, or failed). LabError if it does not come up."""
    if mode not in ("uml", "qemu"):
        raise LabError(f"a lab machine boots on a guest kernel (uml, qemu), not on {mode}")
    if not SYSTEMD.exists():
        raise LabError(f"a lab machine boots the host's systemd, and {SYSTEMD} is missing "
                       "(scripts/setup.sh installs it)")  # fmt: skip
    paths = machine_paths(lab, node.name)
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    paths.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    disk = paths.tmp / "disk.img"
    enabled, generators = host_choices()
    device = "/dev/ttyS1" if mode == "uml" else qemu.MACHINE_AGENT_DEVICE
    files = first_boot(node.name, agent_unit(device), enabled, generators)
    make_disk(disk, node.name, files, paths.root)
    kernel = uml if mode == "uml" else qemu
    spec = kernel.guest_boot(paths, progress, nics, Machine(disk, network(node, tunnels)))
    guest.prepare_dirs(paths, spec.user)
    if spec.user:
        user = pwd.getpwnam(spec.user)
        os.chown(disk, user.pw_uid, user.pw_gid)
    state = LabState(mode=mode, cpus=spec.cpus)
    progress(f"booting machine {node.name} (systemd) on {mode}")
    started = time.monotonic()
    guest.boot(paths, state, spec, progress)
    with AgentClient(paths.socket) as agent:
        state.kernel = str(agent.request("ping", timeout=30)["kernel"])
    state.save(paths)
    system_up(paths, BOOT_TIMEOUT - (time.monotonic() - started))
    return state


def agent_ready_count(paths: Paths) -> int:
    """How many times a machine's agent has announced itself: once per boot."""
    if not paths.relay_log.exists():
        return 0
    return paths.relay_log.read_text(errors="replace").count("relay: agent says")


def system_up(paths: Paths, timeout: float) -> str:
    """Wait until the machine's systemd has finished starting up; its state (``running``, or
    ``degraded`` when a unit failed)."""
    with AgentClient(paths.socket) as agent:
        done = agent.request(
            "run", ns=None, argv=["systemctl", "is-system-running", "--wait"], timeout=timeout
        )
    state = str(done["stdout"]).strip()
    if state not in ("running", "degraded"):
        raise LabError(f"the machine's system did not come up: {state} {done['stderr']}")
    return state


def reboot(lab: Paths, node: str, timeout: float = BOOT_TIMEOUT) -> dict[str, float]:
    """``systemctl reboot`` on machine ``node``, and wait until it is up again. Returns the
    seconds from the command to its agent's return (``agent_s``) and to the end of its
    system's start-up (``up_s``)."""
    paths = machine_paths(lab, node)
    before = agent_ready_count(paths)
    with AgentClient(paths.socket) as agent:
        agent.request("run", ns=None, argv=["systemctl", "reboot", "--no-block"], timeout=30)
    started = time.monotonic()
    deadline = started + timeout
    # no request goes to the machine until its new agent says it is there: the serial line
    # echoes what it receives before the agent sets it raw
    while agent_ready_count(paths) <= before:
        if time.monotonic() > deadline:
            raise LabError(f"{node} did not come back within {timeout:g} s; see {paths.console}")
        time.sleep(0.1)
    agent_s = time.monotonic() - started
    system_up(paths, deadline - time.monotonic())
    return {"agent_s": round(agent_s, 2), "up_s": round(time.monotonic() - started, 2)}
