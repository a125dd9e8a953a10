"""scripts/jupyter.sh: JupyterLab on the notebooks, on 127.0.0.1 only, behind a token.

The script is started for real on a free port with a token of the test's choosing; the lab
page and one notebook come back through the HTTP API with the token, and the API refuses the
same request without it. The server is stopped by its process group, which the test made.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789abcdef"
NOTEBOOK = "01-topology.ipynb"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except urllib.error.URLError:  # not listening yet
        return 0, b""


@pytest.fixture(scope="module")
def jupyter() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "jupyter.sh"), str(port)],
        env={**os.environ, "JUPYTER_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _get(f"{base}/api/status", TOKEN)[0] != 200:
            assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "JupyterLab did not answer in 120 s"
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_jupyterlab_listens_on_loopback_only(jupyter: str) -> None:
    port = int(jupyter.rsplit(":", 1)[1])
    listing = subprocess.run(
        ["ss", "-tlnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    local = [line.split()[3] for line in listing.splitlines()]  # State Recv-Q Send-Q Local
    assert local == [f"127.0.0.1:{port}"]


def test_the_lab_page_and_a_notebook_come_with_the_token(jupyter: str) -> None:
    status, page = _get(f"{jupyter}/lab?token={TOKEN}")
    assert status == 200 and b"JupyterLab" in page
    status, body = _get(f"{jupyter}/api/contents/{NOTEBOOK}", TOKEN)
    assert status == 200
    content = json.loads(body)
    assert content["type"] == "notebook" and content["name"] == NOTEBOOK
    assert content["content"]["metadata"]["kernelspec"]["name"] == "lvs-cluster"


def test_without_the_token_the_api_refuses(jupyter: str) -> None:
    assert _get(f"{jupyter}/api/contents/{NOTEBOOK}")[0] == 403
    assert _get(f"{jupyter}/api/contents/{NOTEBOOK}", "wrong-token")[0] == 403
