"""Shared test helpers.

Tests that need root, network namespaces or a Debian package skip on a developer's laptop,
with the reason. In CI (``CI=true``) every skip is turned into a failure: scripts/setup.sh has
installed everything there, so a skip would only hide a missing install step.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import require

# tests/lab shares the default lab; tests/guests boot guests of their own. Both need root.
NEEDS_ROOT = ("tests/lab/", "tests/guests/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="lab tests need root (network namespaces, a guest kernel)")
        for item in items:
            if any(folder in str(item.path) for folder in NEEDS_ROOT):
                item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("CI") == "true":
        report.outcome = "failed"
        report.longrepr = f"CI must run every test, but this one skipped: {report.longrepr}"


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
