"""The lab's kernel: the host's own when it has IPVS, else a User-Mode Linux guest.

Our CI hosts have no IPVS and no loadable modules, so the lab boots Debian's
``user-mode-linux`` kernel (unpacked, never installed) over the host's own root:

- ``/`` is shared read-only over hostfs under a tmpfs overlay, so the guest runs the host's
  ipvsadm, keepalived and Python without copying anything and cannot change host files;
- the package's modules are bound to ``/lib/modules/$(uname -r)``, so ``modprobe ip_vs`` works;
- one read-write hostfs share (the state dir's ``share/``, at the same path inside) carries
  results and logs out;
- the UML process runs as host user ``nobody`` where the paths it needs are world-readable,
  so even a root shell in the guest can write nothing on the host but that share;
- guest memory is a file under ``$TMPDIR``, which points at a tmpfs.

Boot to a ready agent takes 3-5 s (see ``cluster bench lab``).

>>> kernel_has_ipvs() in (True, False)
True
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyroute2

import cluster
from cluster.errors import LabError
from cluster.lab.state import LabState, Paths

UML_CACHE = Path(os.environ.get("LVS_LAB_UML_CACHE", "/var/cache/lvs-cluster/uml"))
GUEST_USER = "nobody"
GUEST_MEMORY = "1024M"
BOOT_TIMEOUT = 90.0

Progress = Callable[[str], None]


def kernel_has_ipvs() -> bool:
    """Host mode is possible when the running kernel has IPVS or can load it."""
    if Path("/proc/net/ip_vs").exists():
        return True
    if shutil.which("modprobe") is None:
        return False
    done = subprocess.run(["modprobe", "-q", "ip_vs"], capture_output=True, check=False)
    return done.returncode == 0 and Path("/proc/net/ip_vs").exists()


@dataclass(frozen=True)
class UmlPackage:
    """An unpacked ``user-mode-linux`` package: the kernel binary and its module tree."""

    root: Path

    @property
    def kernel(self) -> Path:
        return self.root / "usr/bin/linux.uml"

    @property
    def modules(self) -> Path:
        versions = sorted((self.root / "usr/lib/uml/modules").iterdir())
        if not versions:
            raise LabError(f"no modules in {self.root}; remove it and run lab up again")
        return versions[-1]


def fetch_uml(cache: Path = UML_CACHE, progress: Progress = print) -> UmlPackage:
    """Download and unpack Debian's UML kernel once; later calls return the cached copy."""
    package = UmlPackage(cache / "root")
    if package.kernel.exists():
        return package
    progress(f"fetching user-mode-linux into {cache} (once, about 40 MB)")
    cache.mkdir(mode=0o755, parents=True, exist_ok=True)
    for old in cache.glob("*.deb"):
        old.unlink()
    download = ["apt-get", "download", "-q", "user-mode-linux"]
    if subprocess.run(download, cwd=cache, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        done = subprocess.run(download, cwd=cache, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LabError(f"apt-get download user-mode-linux failed: {done.stderr.strip()}")
    deb = next(cache.glob("user-mode-linux_*.deb"))
    staging = cache / "root.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(["dpkg", "-x", str(deb), str(staging)], check=True)
    staging.replace(package.root)
    deb.unlink()
    return package


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
    """``nobody`` if it can read everything the guest needs, else root (empty string)."""
    try:
        pwd.getpwnam(GUEST_USER)
    except KeyError:
        return ""
    return GUEST_USER if all(_world_readable(p) for p in needed) else ""


INIT = """#!/bin/sh
# Stage 1 of the lab guest, written by cluster.lab.guest. Runs as PID 1 from the read-only
# hostfs root: builds a writable root (tmpfs over the host's /), then starts the agent.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() {{ echo "lab: $* ($(cut -d' ' -f1 /proc/uptime) s)"; }}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=755 tmp /run
say "kernel up"
insmod {modules}/kernel/fs/overlayfs/overlay.ko
R=/run/root
mkdir -p /run/ov/upper /run/ov/work $R
mount -t overlay overlay -o lowerdir=/,upperdir=/run/ov/upper,workdir=/run/ov/work $R
mkdir -p $R/lib/modules/$(uname -r)
mount --bind {modules} $R/lib/modules/$(uname -r)
mount -t devtmpfs dev $R/dev
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t tmpfs -o mode=755 run $R/run
mount -t tmpfs tmp $R/tmp
mkdir -p $R{share}
mount -t hostfs -o {share} hostfs $R{share}
say "root ready, starting agent"
exec chroot $R /bin/sh -c '
ip link set lo up
modprobe -a ip_vs ip_vs_rr &
# this kernel has no nftables NAT, so iptables means the legacy one, as on such a director
update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy
PYTHONPATH={pythonpath} PYTHONDONTWRITEBYTECODE=1 \\
  {python} -m cluster.lab.agent --serial /dev/ttyS1 >{share}/agent.log 2>&1
echo "lab: agent exited, powering off"
echo o >/proc/sysrq-trigger
'
"""


def _prepare_dirs(paths: Paths, user: str) -> None:
    uid, gid = (pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid) if user else (0, 0)
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    for d in (paths.uml_dir, paths.share, paths.tmp):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(d, uid, gid)
    paths.root.chmod(0o755)


def boot(paths: Paths, state: LabState, progress: Progress = print) -> None:
    """Boot the guest behind a relay and return once its agent answers; LabError otherwise."""
    uml = fetch_uml(progress=progress)
    python, pythonpath = guest_python()
    needed = [uml.kernel, uml.modules, Path(python), *map(Path, pythonpath.split(":"))]
    user = choose_user([*needed, paths.root.parent])
    _prepare_dirs(paths, user)
    paths.init.write_text(
        INIT.format(modules=uml.modules, share=paths.share, python=python, pythonpath=pythonpath)
    )
    paths.init.chmod(0o755)
    argv = [
        str(uml.kernel),
        f"mem={GUEST_MEMORY}",
        "root=/dev/root",
        "rootfstype=hostfs",
        "rootflags=/",
        "ro",
        f"uml_dir={paths.uml_dir}",
        f"init={paths.init}",
        "con0=fd:0,fd:1",
        "con=null",
        "ssl=null",
        "quiet",
    ]
    env = {"TMPDIR": str(paths.tmp), "PATH": "/usr/bin:/bin"}
    (paths.root / "guest.json").write_text(json.dumps({"argv": argv, "env": env, "user": user}))
    state.mode, state.guest_user = "guest", user or "root"
    state.marks = {"relay": "cluster.lab.relay", "uml": str(uml.kernel)}
    progress(f"booting the UML guest ({uml.modules.name}) as host user {state.guest_user}")
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
        if "uml" not in state.pids and (pid := paths.guest_pid()) is not None:
            state.pids["uml"] = pid
            state.save(paths)
        lines = (
            paths.console.read_text(errors="replace").splitlines() if paths.console.exists() else []
        )
        for line in lines[shown:]:
            if line.startswith("lab: "):
                progress(line.removeprefix("lab: "))
        shown = len(lines)
        if relay.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(lines[-15:])
            why = "the guest stopped" if relay.poll() is not None else "timed out"
            raise LabError(f"guest boot failed ({why}); console tail:\n{tail}")
        time.sleep(0.02)
    if "uml" not in state.pids and (pid := paths.guest_pid()) is not None:
        state.pids["uml"] = pid
        state.save(paths)


def start_host_agent(paths: Paths, state: LabState, progress: Progress = print) -> None:
    """Host mode: the same agent, listening on the socket the relay would have opened."""
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    paths.share.mkdir(mode=0o755, exist_ok=True)
    state.mode, state.marks = "host", {"agent": "cluster.lab.agent"}
    progress("host kernel has IPVS: building the lab in host namespaces")
    with (paths.share / "agent.log").open("ab") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "cluster.lab.agent", "--listen", str(paths.socket)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state.pids["agent"] = agent.pid
    state.save(paths)
    deadline = time.monotonic() + 30
    while not paths.socket.exists():
        if agent.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"the host agent did not start; see {paths.share / 'agent.log'}")
        time.sleep(0.02)
