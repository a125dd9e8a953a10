"""Run the real keepalived binary: ``keepalived -t`` on a candidate configuration.

keepalived checks interface names against the network namespace it runs in, so a config for
a director with eth0 and eth1 fails ``-t`` on a laptop that has neither. :func:`check_config`
can therefore run the test inside a scratch namespace that has exactly the interfaces the
config names (veth ends, never connected to anything), and removes it afterwards. That needs
root; without interfaces it runs in the caller's namespace.

``keepalived -t`` exit codes (2.2.7): 0 clean, 5 errors it would still start with, 6 only the
script-security warning. A clean result for this kit means exit 0 *and* nothing on stderr.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cluster.command import run, run_status
from cluster.errors import ToolError

_scratch_ids = itertools.count()

TEST_TIMEOUT = 10.0
"""Seconds ``keepalived -t`` may take: it reads a config in milliseconds, but loops forever
on some it cannot handle."""

LEFTOVER_GRACE = 1.0
"""Seconds the output may stay open after keepalived exits, before its children are killed."""


@dataclass(frozen=True)
class ConfigTest:
    """What ``keepalived -t`` said about one configuration."""

    exit_code: int
    output: str

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not self.output.strip()


def keepalived_binary() -> str:
    path = shutil.which("keepalived") or shutil.which("keepalived", path="/usr/sbin:/sbin")
    if path is None:
        raise ToolError(
            "keepalived is not installed; run scripts/setup.sh (apt-get install keepalived)"
        )
    return path


def check_config(text: str, interfaces: Sequence[str] = ()) -> ConfigTest:
    """Run ``keepalived -t`` on ``text``, inside a scratch namespace with ``interfaces``."""
    if not interfaces:
        return _test(text, None)
    return check_configs([text], interfaces)[0]


def check_configs(
    texts: Sequence[str], interfaces: Sequence[str], jobs: int = 8
) -> list[ConfigTest]:
    """``keepalived -t`` on many configurations, ``jobs`` at a time, in one scratch namespace.

    ``-t`` only reads the namespace, so the runs can share it; the namespace costs more than a
    run, which is what makes thousands of runs (the differential test) take seconds.
    """
    with scratch_namespace(interfaces) as name, ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda text: _test(text, name), texts))


def _test(text: str, netns: str | None) -> ConfigTest:
    """One ``keepalived -t`` run, which must end even when keepalived does not.

    keepalived 2.2.7 crashes on some configs (an undefined ``track_file`` in a vrrp_instance
    is a segfault), and then a child process it forked keeps the output pipe open forever.
    So the run gets its own process group, and once keepalived itself has exited, whatever
    it left behind is killed after a short grace.
    """
    with tempfile.TemporaryDirectory(prefix="cluster-kt-") as tmp:
        conf = Path(tmp, "keepalived.conf")
        conf.write_bytes(text.encode(errors="surrogateescape"))
        conf.chmod(0o600)
        command = [keepalived_binary(), "-t", "-f", str(conf)]
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        with subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as process:
            deadline = time.monotonic() + TEST_TIMEOUT
            while True:
                try:
                    output, _ = process.communicate(timeout=LEFTOVER_GRACE)
                    break
                except subprocess.TimeoutExpired:
                    if process.poll() is not None or time.monotonic() > deadline:
                        os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
    text_out = output.decode(errors="replace").replace(str(conf), "-")
    if code < 0:
        text_out += f"keepalived -t died of signal {-code}\n"
    return ConfigTest(code, text_out)


@contextmanager
def scratch_namespace(interfaces: Sequence[str]) -> Iterator[str]:
    """A throw-away network namespace holding unconnected veth ends with the given names."""
    if os.geteuid() != 0:
        raise ToolError("testing a config against its interfaces needs root (network namespaces)")
    name = f"cluster-kt-{os.getpid()}-{next(_scratch_ids)}"
    run(["ip", "netns", "add", name])
    try:
        for index, interface in enumerate(interfaces):
            run(["ip", "-n", name, "link", "add", interface, "type", "veth",
                 "peer", "name", f"kt{index}"])  # fmt: skip
        yield name
    finally:
        run_status(["ip", "netns", "del", name])
