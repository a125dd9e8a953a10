"""The kernel chain's choice, and the pure parts of the guests' boot: no root, no guest."""

from __future__ import annotations

import gzip
import lzma
import subprocess
from pathlib import Path

import pytest

from cluster.errors import LabError, UsageError
from cluster.lab import guest, kernels, qemu, uml
from cluster.lab.state import LabState, Paths


def test_requested_mode_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LVS_LAB_MODE", raising=False)
    assert kernels.requested_mode(None) == "auto"
    monkeypatch.setenv("LVS_LAB_MODE", "qemu")
    assert kernels.requested_mode(None) == "qemu"
    assert kernels.requested_mode("uml") == "uml"
    monkeypatch.setenv("LVS_LAB_MODE", "kvm")
    with pytest.raises(UsageError, match="unknown lab mode 'kvm'; use one of auto, host"):
        kernels.requested_mode(None)


def chain_with(monkeypatch: pytest.MonkeyPatch, outcomes: dict[str, str | None]) -> list[str]:
    """Run the chain where each kernel is unavailable (a reason), fails to boot ("boot"), or
    works (None); returns the calls made, in order."""
    calls: list[str] = []

    def fake_start(name: str, paths: Paths, state: LabState, progress: object) -> None:
        calls.append(f"start {name}")
        if outcomes[name] == "boot":
            raise LabError("guest boot failed (the guest stopped)")
        state.kernel = f"{name}-kernel"

    unavailable = {name: (lambda w=why: None if w in (None, "boot") else w) for name, why
                   in outcomes.items()}  # fmt: skip
    monkeypatch.setattr(kernels, "UNAVAILABLE", unavailable)
    monkeypatch.setattr(kernels, "_start", fake_start)
    monkeypatch.setattr(LabState, "save", lambda self, paths: None)
    return calls


def test_auto_takes_the_first_kernel_that_passes_and_says_why_not_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = chain_with(monkeypatch, {"host": "no IPVS", "uml": "boot", "qemu": None})
    state, resets = LabState(), []
    kernels.start("auto", Paths(), state, lambda _: None, lambda: resets.append(1))
    assert calls == ["start uml", "start qemu"] and resets == [1]
    assert (state.mode, state.kernel) == ("qemu", "qemu-kernel")
    assert [v["mode"] for v in state.chain] == ["host", "uml"]
    assert state.chain[0]["passed over"] == "no IPVS"
    assert state.chain[1]["passed over"].startswith("failed its self-test: guest boot failed")


def test_a_named_mode_is_not_replaced_by_another(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = chain_with(monkeypatch, {"host": None, "uml": "boot", "qemu": None})
    with pytest.raises(LabError, match="lab mode uml: failed its self-test"):
        kernels.start("uml", Paths(), LabState(), lambda _: None, lambda: None)
    assert calls == ["start uml"]


def test_no_kernel_at_all_names_every_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    chain_with(monkeypatch, {"host": "no IPVS", "uml": "boot", "qemu": "not installed"})
    with pytest.raises(LabError, match=r"host: no IPVS; uml: failed .*; qemu: not installed"):
        kernels.start("auto", Paths(), LabState(), lambda _: None, lambda: None)


def test_decompress_reads_every_kernel_packing() -> None:
    data = b"\x7fELF" + bytes(range(256)) * 64
    assert qemu.decompress(lzma.compress(data, format=lzma.FORMAT_XZ)) == data
    assert qemu.decompress(gzip.compress(data)) == data
    assert qemu.decompress(data) == data


def test_vmlinux_is_cut_out_of_a_compressed_image(tmp_path: Path) -> None:
    elf = b"\x7fELF" + b"kernel" * 1000
    boot = tmp_path / "boot"
    (tmp_path / "lib/modules/6.1.0-9-amd64").mkdir(parents=True)
    boot.mkdir()
    (boot / "vmlinuz-6.1.0-9-amd64").write_bytes(
        b"MZ setup code" + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"trailer"
    )
    kernel = qemu.KernelPackage(tmp_path)
    assert qemu.vmlinux(kernel).read_bytes() == elf
    # no payload found: QEMU boots the compressed image itself
    other = tmp_path / "other"
    (other / "lib/modules/6.1.0-9-amd64").mkdir(parents=True)
    (other / "boot").mkdir()
    (other / "boot/vmlinuz-6.1.0-9-amd64").write_bytes(b"MZ nothing packed here")
    assert qemu.vmlinux(qemu.KernelPackage(other)).name == "vmlinuz-6.1.0-9-amd64"


def test_module_order_loads_dependencies_first_and_names_what_is_missing() -> None:
    dep = (
        "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
        "kernel/net/9p/9pnet.ko:\nkernel/fs/netfs/netfs.ko:\n"
        "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\n"
    )
    order = qemu.module_order(dep, ("9pnet_virtio", "9p"))
    assert order == [
        "kernel/net/9p/9pnet.ko",
        "kernel/net/9p/9pnet_virtio.ko",
        "kernel/fs/netfs/netfs.ko",
        "kernel/fs/9p/9p.ko",
    ]
    with pytest.raises(LabError, match="no module overlay"):
        qemu.module_order(dep, ("overlay",))


@pytest.mark.parametrize(
    "parts",
    [
        guest.InitParts("", uml.PREPARE.format(modules="/m"), "mount share", "/dev/ttyS1",
                        uml.SETUP),
        guest.InitParts("/lower", qemu.PREPARE, "mount share", '"$AGENT_DEVICE"', ""),
    ],
    ids=["uml", "qemu"],
)  # fmt: skip
def test_the_init_scripts_are_valid_shell(parts: guest.InitParts, tmp_path: Path) -> None:
    script = tmp_path / "init.sh"
    script.write_text(guest.init_script(parts, "/cache/modules/6.1", "/run/lab/share"))
    done = subprocess.run(["sh", "-n", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = script.read_text()
    assert "-m cluster.lab.agent --serial" in text and "mount share" in text
    assert f"\nLOWER={parts.lower}\n" in text and "lowerdir=$LOWER/," in text
    stage1 = tmp_path / "stage1"
    stage1.write_text(qemu.STAGE1)
    assert subprocess.run(["sh", "-n", stage1], check=False).returncode == 0
