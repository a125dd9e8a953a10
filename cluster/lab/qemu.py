"""The lab's fallback guest kernel: Debian's generic kernel in QEMU's software emulation.

It runs on any x86_64 host, whatever its CPU or KVM, at a cost: a process start is about 5
times slower than in pinned UML. The kit picks it only when no faster kernel passes its
self-test (see :mod:`cluster.lab.kernels`), and CI boots it on every run so it cannot rot.

What it boots, all from the host's own apt sources and unpacked into the cache, never
installed (:mod:`cluster.lab.packages`), except QEMU itself (``qemu-system-x86``):

- Debian's generic kernel (``linux-image-amd64``'s target), booted as the uncompressed
  ``vmlinux``, which halves the time to the first line of userland (2.5 s instead of 5.5 s);
- a small initramfs: ``busybox-static`` and the modules that reach the host's root (virtio,
  9p, overlay) and the agent's channel (virtio-console). Its ``/init`` mounts the host's ``/``
  over 9p read-only at ``/lower`` and runs the lab's init from there (:mod:`cluster.lab.guest`);
- the agent talks over a virtio serial port, which QEMU offers as a unix socket.
"""

from __future__ import annotations

import hashlib
import lzma
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path

from cluster.errors import LabError
from cluster.lab import packages
from cluster.lab.guest import (
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

CACHE = packages.CACHE / "qemu"
QEMU = "qemu-system-x86_64"
MEMORY_MB = 1024
CPUS = 2  # virtual CPUs when QEMU may use every host CPU (LVS_LAB_CPU unset)
KERNEL_METAPACKAGES = ("linux-image-amd64", "linux-image-generic")
# what the initramfs loads: the host's root and the share over 9p, the overlay, the channel,
# and a lab machine's disk (ext4 checks its metadata with crc32c)
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "virtio_console",
                     "virtio_blk", "crc32c_generic", "ext4")  # fmt: skip
AGENT_PORT = "lvs-agent"

STAGE1 = """#!/bin/busybox sh
# Stage 1 of the lab's QEMU guest, written by cluster.lab.qemu: load the drivers for the
# host's root (virtio, 9p) and the overlay, mount that root read-only at /lower, and run the
# lab's init (its path is on the kernel command line) from it.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run /lower
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m || echo "lab: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose root /lower
for arg in $(cat /proc/cmdline); do
  case $arg in lab.init=*) init=${arg#lab.init=} ;; esac
done
exec sh /lower$init
"""

PREPARE = f"""mount -t tmpfs -o mode=755 tmp /run
say "kernel up"
AGENT_DEVICE=
for _ in $(seq 100); do
  for port in /sys/class/virtio-ports/*; do
    [ "$(cat $port/name 2>/dev/null)" = {AGENT_PORT} ] && AGENT_DEVICE=/dev/${{port##*/}}
  done
  [ -n "$AGENT_DEVICE" ] && break
  sleep 0.05
done"""


def installed() -> bool:
    return shutil.which(QEMU) is not None


class KernelPackage:
    """Debian's generic kernel, unpacked: ``vmlinuz``, its modules, and what the lab derives
    from them once (``modules.dep``, the uncompressed ``vmlinux``, the initramfs)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def version(self) -> str:
        versions = sorted(p.name for p in (self.root / "lib/modules").iterdir())
        if not versions:
            raise LabError(f"no modules in {self.root}; remove it and run lab up again")
        return versions[-1]

    @property
    def modules(self) -> Path:
        return self.root / "lib/modules" / self.version

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.version}"


def fetch_kernel(progress: Progress) -> KernelPackage:
    """The host suite's generic kernel, downloaded, unpacked and indexed on first use."""
    name = next(filter(None, map(packages.dependency, KERNEL_METAPACKAGES)), None)
    if name is None:
        raise LabError(f"apt knows none of {', '.join(KERNEL_METAPACKAGES)}: no kernel for QEMU")
    kernel = KernelPackage(packages.unpacked(name, CACHE / name, progress, "70 MB"))
    if not (kernel.modules / "modules.dep").exists():
        done = subprocess.run(
            ["depmod", "-b", str(kernel.root), kernel.version],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(f"depmod for {kernel.version} failed: {done.stderr.strip()}")
    return kernel


def decompress(data: bytes) -> bytes:
    """A module or kernel image's bytes, whether stored plain, xz, zstd or gzip."""
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        done = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=False)
        if done.returncode != 0:
            raise LabError("zstd could not unpack a kernel file (apt-get install zstd)")
        return done.stdout
    if data.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(wbits=31).decompress(data)
    return data


def vmlinux(kernel: KernelPackage) -> Path:
    """The uncompressed kernel inside ``vmlinuz`` (QEMU boots it through its PVH note), or
    ``vmlinuz`` itself when no payload is found."""
    target = kernel.root / "vmlinux"
    if target.exists():
        return target
    image = kernel.vmlinuz.read_bytes()
    for magic in (b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\x1f\x8b\x08\x00"):
        at = image.find(magic)
        if at < 0:
            continue
        try:
            payload = decompress(image[at:])
        except (LabError, lzma.LZMAError, zlib.error):
            continue
        if payload.startswith(b"\x7fELF"):
            staging = target.with_suffix(".tmp")
            staging.write_bytes(payload)
            staging.replace(target)
            return target
    return kernel.vmlinuz


def module_order(modules_dep: str, wanted: tuple[str, ...]) -> list[str]:
    """The module files to load for ``wanted``, each after everything it depends on.

    >>> dep = "kernel/a.ko: kernel/b.ko kernel/c.ko\\nkernel/b.ko: kernel/c.ko\\nkernel/c.ko:\\n"
    >>> module_order(dep, ("a",))
    ['kernel/c.ko', 'kernel/b.ko', 'kernel/a.ko']
    """
    deps: dict[str, list[str]] = {}
    for line in modules_dep.splitlines():
        module, _, rest = line.partition(":")
        deps[module] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    order: list[str] = []

    def visit(module: str) -> None:
        if module in order:
            return
        for dep in reversed(deps.get(module, [])):
            visit(dep)
        order.append(module)

    for name in wanted:
        if name not in by_name:
            raise LabError(f"the QEMU guest's kernel has no module {name}")
        visit(by_name[name])
    return order


def initramfs(kernel: KernelPackage, progress: Progress) -> Path:
    """busybox, the stage-1 init and the modules it loads, as one newc cpio archive."""
    modules = module_order((kernel.modules / "modules.dep").read_text(), INITRAMFS_MODULES)
    stamp = hashlib.sha256((STAGE1 + "".join(modules)).encode()).hexdigest()[:12]
    target = kernel.root / f"initramfs-{stamp}.cpio"
    if target.exists():
        return target
    busybox = packages.unpacked("busybox-static", CACHE / "busybox", progress, "1 MB")
    staging = kernel.root / "initramfs.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    (staging / "modules").mkdir()
    shutil.copy2(busybox / "bin/busybox", staging / "bin/busybox")
    names = []
    for module in modules:
        name = Path(module).name.split(".ko")[0] + ".ko"
        (staging / "modules" / name).write_bytes(decompress((kernel.modules / module).read_bytes()))
        names.append(name)
    (staging / "modules/order").write_text("\n".join(names) + "\n")
    (staging / "init").write_text(STAGE1)
    (staging / "init").chmod(0o755)
    files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*"))
    done = subprocess.run(
        [str(staging / "bin/busybox"), "cpio", "-o", "-H", "newc"],
        cwd=staging,
        input="\n".join(files).encode(),
        capture_output=True,
        check=False,
    )
    shutil.rmtree(staging, ignore_errors=True)
    if done.returncode != 0:
        raise LabError(f"building the initramfs failed: {done.stderr.decode().strip()}")
    partial = target.with_suffix(".tmp")
    partial.write_bytes(done.stdout)
    partial.replace(target)
    return target


#: where a machine's agent unit finds the port: the kernel names it by probe order
#: (``vportNp1``), so the init links it (devtmpfs is one tree, the same under systemd)
MACHINE_AGENT_DEVICE = "/dev/lvs-agent"
# a machine's disk: the overlay's upper layer, mounted where the init looks for it
MACHINE_DISK = f"""ln -sf "$AGENT_DEVICE" {MACHINE_AGENT_DEVICE}
mkdir -p /run/ov
mount -t ext4 /dev/vda /run/ov"""
# nothing loads a NIC's driver in the lab's guest (no udev), and a machine's init names its
# NICs before udev runs
NIC_SETUP = "modprobe virtio_net"


def nic_arguments(index: int, nic: Nic) -> list[str]:
    """A virtio NIC on an L2TPv3 tunnel over UDP on 127.0.0.1, as UML's vector driver has."""
    netdev = (
        f"l2tpv3,id=nic{index},src=127.0.0.1,dst=127.0.0.1,udp=on,srcport={nic.port},"
        f"dstport={nic.peer},rxsession={nic.session},txsession={nic.session}"
    )
    return ["-netdev", netdev, "-device", f"virtio-net-pci,netdev=nic{index},mac={nic.mac}"]


def guest_boot(
    paths: Paths, progress: Progress, nics: Sequence[Nic] = (), machine: Machine | None = None
) -> GuestBoot:
    """Everything the relay needs to boot the generic kernel in QEMU; ``nics`` are links to
    other guests, ``machine`` boots systemd from a disk (and a reboot resets it in place)."""
    kernel = fetch_kernel(progress)
    image, ramdisk = vmlinux(kernel), initramfs(kernel, progress)
    setup = NIC_SETUP if nics else ""
    parts = InitParts(
        lower="/lower",
        prepare=f"{PREPARE}\n{MACHINE_DISK}" if machine else PREPARE,
        share=f"mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share $R{paths.share}",
        device='"$AGENT_DEVICE"',
        setup=setup,
        start=machine.start(setup or ":", "") if machine else "",
    )
    paths.init.write_text(init_script(parts, str(kernel.modules), str(paths.share)))
    paths.init.chmod(0o755)
    user = choose_user([image, ramdisk, kernel.modules, paths.init, paths.root.parent])
    channel = paths.guest_dir / "agent.chr"
    cpus = pinned_cpus(default=[])
    argv = [
        QEMU,
        "-machine", "q35",
        "-accel", "tcg,thread=multi",
        "-cpu", "max",  # the host's instruction set, so floating-point results match it
        # one virtual CPU per host CPU it may use: two vCPU threads on one host CPU take
        # turns, and a vCPU descheduled while it holds a lock stalls the other
        "-smp", str(len(cpus) or CPUS),
        "-m", str(MEMORY_MB),
        "-nodefaults", "-nic", "none", "-display", "none",
        "-serial", "stdio",
        "-kernel", str(image),
        "-initrd", str(ramdisk),
        "-append", f"console=ttyS0 quiet panic=-1 lab.init={paths.init}",
        "-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=root,mount_tag=root",
        "-fsdev", f"local,id=share,path={paths.share},security_model=none",
        "-device", "virtio-9p-pci,fsdev=share,mount_tag=share",
        "-device", "virtio-serial-pci",
        "-chardev", f"socket,id=agent,path={channel},server=on,wait=off",
        "-device", f"virtserialport,chardev=agent,name={AGENT_PORT}",
        *(arg for index, nic in enumerate(nics) for arg in nic_arguments(index, nic)),
    ]  # fmt: skip
    if machine:
        argv += ["-drive", f"file={machine.disk},format=raw,if=virtio"]
    else:
        argv.append("-no-reboot")  # a reboot of the lab's guest ends it
    return GuestBoot(
        argv=argv,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(paths.tmp)},
        user=user,
        channel={"socket": str(channel)},
        mark=QEMU,
        cpus=cpus,
    )
