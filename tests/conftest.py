"""Shared test helpers.

Tests that need root, network namespaces or a Debian package skip on a developer's laptop
but fail in CI (``CI=true``), where scripts/setup.sh has installed everything: a skipped test
there would hide a missing install step.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


@pytest.fixture
def root_with_keepalived() -> None:
    """keepalived -t in a scratch network namespace needs root and the keepalived binary."""
    require(os.geteuid() == 0, "not root: network namespaces need root")
    require(
        shutil.which("keepalived", path="/usr/sbin:/usr/bin:/sbin") is not None,
        "keepalived is not installed (scripts/setup.sh installs it)",
    )


@pytest.fixture(scope="session")
def tls_server_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A throwaway self-signed certificate; the openssl CLI avoids a cryptography dependency."""
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not installed")
    d: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=www.example.test", "-keyout", d / "key.pem", "-out", d / "cert.pem"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "cert.pem", d / "key.pem")
    return context
