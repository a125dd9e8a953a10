"""The lab's own certificate authority and one server certificate per real server.

Made with the ``openssl`` command line, which every Debian host has, rather than a Python
crypto library: no new dependency for the kit or the guest, and an EC P-256 key with its
certificate takes about 10 ms. The files live in the lab's share, so ``lab down`` removes them
and a test can verify a real server against ``ca.pem`` from the host or inside the lab.

Each server certificate names the server's address, its node name and the spec's virtual
hosts, so ``curl --cacert ca.pem https://192.168.170.25/`` verifies, and so does SSL_GET with
SNI for ``test.mydomain``. The plan is pure:

>>> steps = plan(Path("/pki"), [ServerCert("realserver1", ("192.168.170.25",), ("a.test",))])
>>> [str(s.creates) for s in steps]
['/pki/ca.pem', '/pki/realserver1.pem']
>>> [a for a in steps[1].argv if a.startswith("subjectAltName")]
['subjectAltName=IP:192.168.170.25,DNS:realserver1,DNS:a.test']
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import ToolError

DAYS = 30
"""Long enough for any lab session, short enough that a copied key is soon worthless."""
_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


@dataclass(frozen=True)
class ServerCert:
    name: str
    addresses: tuple[str, ...]
    hostnames: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One ``openssl`` run; skipped when ``creates`` exists, so a second ``lab up`` keeps the
    CA that clients may already trust."""

    creates: Path
    argv: tuple[str, ...]


def ca_cert(pki: Path) -> Path:
    return pki / "ca.pem"


def cert(pki: Path, name: str) -> Path:
    return pki / f"{name}.pem"


def key(pki: Path, name: str) -> Path:
    return pki / f"{name}.key"


def plan(pki: Path, servers: list[ServerCert]) -> list[Step]:
    """The CA first, then each server's key and certificate signed by it."""
    ca = ca_cert(pki)
    steps = [
        Step(
            ca,
            (
                "openssl", "req", "-x509", *_NEW_KEY, "-days", str(DAYS),
                "-subj", "/CN=cluster lab CA", "-keyout", str(key(pki, "ca")), "-out", str(ca),
            ),
        )
    ]  # fmt: skip
    for server in servers:
        sans = [f"IP:{a}" for a in server.addresses]
        sans += [f"DNS:{h}" for h in (server.name, *server.hostnames)]
        steps.append(
            Step(
                cert(pki, server.name),
                (
                    "openssl", "req", "-x509", *_NEW_KEY, "-days", str(DAYS),
                    "-subj", f"/CN={server.name}",
                    "-CA", str(ca), "-CAkey", str(key(pki, "ca")),
                    "-addext", f"subjectAltName={','.join(sans)}",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "extendedKeyUsage=serverAuth",
                    "-keyout", str(key(pki, server.name)), "-out", str(cert(pki, server.name)),
                ),
            )
        )  # fmt: skip
    return steps


def ensure(pki: Path, servers: list[ServerCert]) -> list[Path]:
    """Create what is missing; files take the owner of ``pki``'s parent (the share), which
    is the unprivileged user the guest reads the host's files as."""
    if shutil.which("openssl") is None:
        raise ToolError("openssl is missing: the lab makes its certificates with it")
    owner = pki.parent.stat()
    pki.mkdir(mode=0o700, exist_ok=True)
    made = []
    for step in plan(pki, servers):
        if step.creates.exists():
            continue
        done = subprocess.run(step.argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ToolError(f"openssl failed making {step.creates.name}: {done.stderr.strip()}")
        made.append(step.creates)
    for path in [pki, *pki.iterdir()]:
        os.chown(path, owner.st_uid, owner.st_gid)
    return made
