"""The kernel chain: which kernel the lab's namespaces live in, chosen by a self-test.

| mode | kernel | taken when |
|---|---|---|
| ``host`` | the host's own | it has IPVS, or loads ``ip_vs``: most distribution kernels |
| ``uml`` | Debian's User-Mode Linux, pinned to one host CPU | the host kernel lacks IPVS |
| ``qemu`` | Debian's generic kernel in QEMU's software emulation | neither of the above works |

``auto`` (the default; ``cluster lab up --mode``, ``Lab.up(mode=...)`` or ``LVS_LAB_MODE``)
takes the first that passes its self-test, and records why each one before it was passed
over (``cluster lab status`` shows it). The tests:

- ``host``: ``/proc/net/ip_vs`` exists, or ``modprobe ip_vs`` makes it exist;
- ``uml`` and ``qemu``: the guest's files can be had, the guest boots, its agent answers and
  ``modprobe ip_vs`` works inside. The boot is the test, so a kernel that passes costs
  nothing extra; one that fails costs its boot attempt.

Everything above this module (the builder, the agent protocol, tests, notebooks, benchmarks)
is the same on all three: only :class:`LabState`'s ``mode`` and ``kernel`` say where it ran.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cluster.errors import LabError, UsageError
from cluster.lab import guest, qemu, uml
from cluster.lab.client import AgentClient
from cluster.lab.guest import Progress
from cluster.lab.state import LabState, Paths

MODES = ("host", "uml", "qemu")
CHOICES = ("auto", *MODES)


def requested_mode(mode: str | None = None) -> str:
    """``mode`` if given, else ``LVS_LAB_MODE``, else ``auto``; a UsageError if unknown."""
    chosen = mode or os.environ.get("LVS_LAB_MODE") or "auto"
    if chosen not in CHOICES:
        raise UsageError(f"unknown lab mode {chosen!r}; use one of {', '.join(CHOICES)}")
    return chosen


def host_lacks_ipvs() -> str | None:
    """Why the host kernel cannot hold the lab, or None when it has IPVS."""
    if Path("/proc/net/ip_vs").exists():
        return None
    if shutil.which("modprobe") is None:
        return "the host kernel has no IPVS, and modprobe is missing to load it"
    done = subprocess.run(["modprobe", "ip_vs"], capture_output=True, text=True, check=False)
    if done.returncode == 0 and Path("/proc/net/ip_vs").exists():
        return None
    said = done.stderr.strip().splitlines()
    return "the host kernel has no IPVS" + (f" ({said[-1]})" if said else "")


def uml_unavailable() -> str | None:
    if platform.machine() != "x86_64":
        return f"Debian's UML is built for x86_64, this host is {platform.machine()}"
    return None


def qemu_unavailable() -> str | None:
    if platform.machine() != "x86_64":
        return f"the QEMU guest is built for x86_64, this host is {platform.machine()}"
    if not qemu.installed():
        return f"{qemu.QEMU} is not installed (scripts/setup.sh installs qemu-system-x86)"
    return None


UNAVAILABLE: dict[str, Callable[[], str | None]] = {
    "host": host_lacks_ipvs,
    "uml": uml_unavailable,
    "qemu": qemu_unavailable,
}


def start(
    mode: str, paths: Paths, state: LabState, progress: Progress, reset: Callable[[], None]
) -> None:
    """Start the lab's kernel and its agent, trying the chain for ``auto``.

    ``reset`` removes what a failed attempt left (processes, directories) before the next
    kernel is tried. Raises LabError naming every kernel's reason when none works.
    """
    chain = MODES if mode == "auto" else (mode,)
    verdicts: list[dict[str, str]] = []
    for name in chain:
        why = UNAVAILABLE[name]()
        if state.nics and name == "host" and why is None:
            why = "the lab's machines link to its bridges from a guest kernel"
        if why is None:
            started = time.monotonic()
            try:
                _start(name, paths, state, progress)
            except (LabError, TimeoutError) as err:
                why = f"failed its self-test: {err or 'the agent did not answer in time'}"
                reset()
                state.pids.clear()
                state.marks.clear()
            else:
                state.mode = name
                state.chain = verdicts
                state.save(paths)
                taken = f"{time.monotonic() - started:.1f} s"
                progress(f"lab kernel: {name} ({state.kernel}), up in {taken}")
                return
        verdicts.append({"mode": name, "passed over": why})
        if mode != "auto":
            raise LabError(f"lab mode {name}: {why}")
        progress(f"lab kernel: not {name}: {why.splitlines()[0]}")
    reasons = "; ".join(f"{v['mode']}: {v['passed over'].splitlines()[0]}" for v in verdicts)
    raise LabError(f"no kernel can hold the lab: {reasons}")


def _start(name: str, paths: Paths, state: LabState, progress: Progress) -> None:
    if name == "host":
        start_host_agent(paths, state, progress)
    else:
        paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        kernel = uml if name == "uml" else qemu
        spec = kernel.guest_boot(paths, progress, [guest.Nic(**nic) for nic in state.nics])
        guest.prepare_dirs(paths, spec.user)
        state.cpus = spec.cpus
        pinned = f", pinned to host CPU {spec.cpus[0]}" if spec.cpus else ""
        progress(f"booting the {name} guest as host user {spec.user or 'root'}{pinned}")
        guest.boot(paths, state, spec, progress)
    _self_test(paths, state)


def _self_test(paths: Paths, state: LabState) -> None:
    """The agent answers and IPVS loads in the lab's kernel; records the kernel's release."""
    with AgentClient(paths.socket) as agent:
        state.kernel = str(agent.request("ping", timeout=30)["kernel"])
        done = agent.request("run", ns=None, argv=["modprobe", "ip_vs"], timeout=60)
        ipvs = agent.request("run", ns=None, argv=["cat", "/proc/net/ip_vs"], timeout=30)
    if done["rc"] != 0 or ipvs["rc"] != 0:
        raise LabError(f"IPVS did not load in the lab kernel: {done['stderr'].strip()}")


def start_host_agent(paths: Paths, state: LabState, progress: Progress) -> None:
    """Host mode: the agent on the host, listening on the socket the relay would have
    opened."""
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    paths.share.mkdir(mode=0o755, exist_ok=True)
    state.marks = {**state.marks, "agent": "cluster.lab.agent"}
    progress("the host kernel has IPVS: building the lab in host namespaces")
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
