"""The lab's fast guest kernel: Debian's User-Mode Linux, pinned to one host CPU.

Debian's ``user-mode-linux`` (6.1 on Debian 12, 6.12 on Debian 13) is a Linux kernel built as
a host program, with IPVS, netfilter, veth and bridges. It boots over the host's root in 1-4 s
(see :mod:`cluster.lab.guest` for the root it builds).

Two things make it work on every machine of ours:

- **Hosts with AVX-512 or AMX.** UML saves each guest task's vector registers with a ptrace
  call whose buffer size was fixed when UML was built; hosts whose full register state is
  larger refuse it, and UML panics at once ("ptrace set fp regs failed, errno = 14"). The
  small C library in ``uml_xstate.c``, built here with the system compiler and preloaded into
  the UML process, gives every guest task a full-size buffer of its own (the file explains
  how). glibc in the guest is kept off AVX-512, because UML's signal frames do not carry the
  registers its buffer lacks.
- **One host CPU.** The guest has one CPU anyway, and UML's ptrace round trips are 3-5 times
  faster when they stay on one core (measured: ``/bin/true`` 7 ms instead of 37 ms). The CPU is
  the last one the caller may use, or ``LVS_LAB_CPU`` (``all``: unpinned).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from cluster.errors import LabError
from cluster.lab import packages
from cluster.lab.guest import (
    REBOOT_CODE,
    GuestBoot,
    InitParts,
    Machine,
    Nic,
    Progress,
    choose_user,
    init_script,
    pinned_cpus,
)
from cluster.lab.state import Paths

CACHE = packages.CACHE / "uml"
MEMORY = "1024M"
# glibc's string and math routines stay off AVX-512 in the guest (see the module docstring)
GLIBC_TUNABLES = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"

PREPARE = """mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=755 tmp /run
say "kernel up"
insmod {modules}/kernel/fs/overlayfs/overlay.ko"""

# this kernel has no nftables NAT, so iptables means the legacy one, as on such a director
SETUP = f"""export GLIBC_TUNABLES={GLIBC_TUNABLES}
update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy"""


class UmlPackage:
    """An unpacked ``user-mode-linux`` package: the kernel binary and its module tree."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def kernel(self) -> Path:
        return self.root / "usr/bin/linux.uml"

    @property
    def modules(self) -> Path:
        versions = sorted((self.root / "usr/lib/uml/modules").iterdir())
        if not versions:
            raise LabError(f"no modules in {self.root}; remove it and run lab up again")
        return versions[-1]


def fetch(progress: Progress) -> UmlPackage:
    """Debian's UML kernel, downloaded and unpacked on first use."""
    return UmlPackage(packages.unpacked("user-mode-linux", CACHE / "root", progress, "40 MB"))


def xstate_fixup(progress: Progress, cache: Path = CACHE) -> Path:
    """The preload library from ``uml_xstate.c``, compiled once per version of its source."""
    source = resources.files("cluster.lab").joinpath("uml_xstate.c").read_bytes()
    library = cache / f"uml_xstate-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if library.exists():
        return library
    progress(f"compiling the UML register fix-up into {library}")
    cache.mkdir(mode=0o755, parents=True, exist_ok=True)
    c_file = library.with_suffix(".c")
    c_file.write_bytes(source)
    staging = library.with_suffix(".tmp")
    argv = ["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", str(staging), str(c_file), "-ldl"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LabError("gcc is missing: UML's register fix-up is built with it "
                       "(scripts/setup.sh installs it)") from None  # fmt: skip
    finally:
        c_file.unlink(missing_ok=True)
    if done.returncode != 0:
        raise LabError(f"compiling {c_file.name} failed:\n{done.stderr.strip()}")
    staging.chmod(0o755)
    staging.replace(library)
    return library


# a machine's disk: the overlay's upper layer, mounted where the init looks for it
MACHINE_DISK = """mount -t devtmpfs dev /dev
mkdir -p /run/ov
mount -t ext4 /dev/ubda /run/ov"""


def nic_argument(index: int, nic: Nic) -> str:
    """A vector device (``vecN`` in the guest) on an L2TPv3 tunnel over UDP on 127.0.0.1."""
    return (
        f"vec{index}:transport=l2tpv3,udp=1,src=127.0.0.1,dst=127.0.0.1,srcport={nic.port},"
        f"dstport={nic.peer},rx_session={nic.session},tx_session={nic.session},mac={nic.mac}"
    )


def guest_boot(
    paths: Paths, progress: Progress, nics: Sequence[Nic] = (), machine: Machine | None = None
) -> GuestBoot:
    """Everything the relay needs to boot UML: its command line, environment and user;
    ``nics`` are links to other guests, ``machine`` boots systemd from a disk."""
    uml = fetch(progress)
    fixup = xstate_fixup(progress)
    prepare = PREPARE.format(modules=uml.modules)
    parts = InitParts(
        lower="",
        prepare=f"{prepare}\n{MACHINE_DISK}" if machine else prepare,
        share=f"mount -t hostfs -o {paths.share} hostfs $R{paths.share}",
        device="/dev/ttyS1",
        setup=SETUP,
        start=machine.start(SETUP, f"GLIBC_TUNABLES={GLIBC_TUNABLES}") if machine else "",
    )
    paths.init.write_text(init_script(parts, str(uml.modules), str(paths.share)))
    paths.init.chmod(0o755)
    user = choose_user([uml.kernel, uml.modules, fixup, paths.init, paths.root.parent])
    argv = [
        str(uml.kernel),
        f"mem={MEMORY}",
        "root=/dev/root",
        "rootfstype=hostfs",
        "rootflags=/",
        "ro",
        f"uml_dir={paths.guest_dir}",
        f"init={paths.init}",
        "con0=fd:0,fd:1",
        "con=null",
        "ssl=null",
        "quiet",
        *(nic_argument(index, nic) for index, nic in enumerate(nics)),
    ]
    if machine:
        # systemd hands the variable to every service it starts
        argv += [f"ubd0={machine.disk}", f"systemd.setenv=GLIBC_TUNABLES={GLIBC_TUNABLES}"]
    # guest memory is a file under TMPDIR, a tmpfs: on a disk it would be written back
    env = {"TMPDIR": str(paths.tmp), "PATH": "/usr/bin:/bin", "LD_PRELOAD": str(fixup)}
    return GuestBoot(
        argv=argv,
        env=env,
        user=user,
        channel={"pipes": "ssl1=fd:{r},fd:{w}"},
        mark=str(uml.kernel),
        cpus=pinned_cpus(default=[sorted(os.sched_getaffinity(0))[-1]]),
        reboot_code=REBOOT_CODE if machine else None,
    )
