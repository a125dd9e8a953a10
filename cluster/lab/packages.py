"""Debian packages the lab downloads and unpacks once, into its cache, and never installs.

The lab's guest kernels (Debian's ``user-mode-linux``, Debian's generic kernel for QEMU) and
the QEMU guest's early userland (``busybox-static``) come from the host's own apt sources, so
they match the host's suite (Debian 12 gets 6.1, Debian 13 gets 6.12) and nothing on the host
changes: ``apt-get download`` and ``dpkg -x`` into ``/var/cache/lvs-cluster``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from cluster.errors import LabError

CACHE = Path(os.environ.get("LVS_LAB_CACHE", "/var/cache/lvs-cluster"))

Progress = Callable[[str], None]


def _apt(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is missing: the lab needs a Debian or Ubuntu host") from None


def download(package: str, into: Path) -> Path:
    """The ``.deb`` of ``package`` from the host's apt sources (``apt-get update`` once if the
    package lists are stale)."""
    into.mkdir(mode=0o755, parents=True, exist_ok=True)
    argv = ["apt-get", "download", "-q", package]
    done = _apt(argv, cwd=into)
    if done.returncode != 0:
        _apt(["apt-get", "update", "-qq"])
        done = _apt(argv, cwd=into)
        if done.returncode != 0:
            raise LabError(f"apt-get download {package} failed: {done.stderr.strip()}")
    debs = sorted(into.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise LabError(f"apt-get download {package} left no .deb in {into}")
    return debs[-1]


def unpacked(package: str, root: Path, progress: Progress, size: str) -> Path:
    """``package``'s files under ``root`` (``root/usr/...``), downloaded and unpacked on the
    first call only; later calls return at once. The unpacking lands in ``root`` in one
    rename, so an interrupted download never looks finished."""
    if root.is_dir():
        return root
    progress(f"fetching {package} into {root} (once, about {size})")
    staging = root.with_name(root.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    deb = download(package, root.parent)
    try:
        done = _apt(["dpkg", "-x", str(deb), str(staging)])
        if done.returncode != 0:
            raise LabError(f"dpkg -x {deb.name} failed: {done.stderr.strip()}")
        staging.replace(root)
    finally:
        deb.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return root


def dependency(metapackage: str) -> str | None:
    """The versioned package a metapackage points at (``linux-image-amd64`` ->
    ``linux-image-6.1.0-57-amd64``), or None when apt does not know the metapackage."""
    done = _apt(["apt-cache", "depends", "--important", metapackage])
    for line in done.stdout.splitlines():
        kind, _, name = line.strip().partition(": ")
        if kind == "Depends" and not name.startswith("<"):
            return name.strip()
    return None
