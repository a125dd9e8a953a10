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
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cluster.command import run, run_status
from cluster.errors import ToolError

_scratch_ids = itertools.count()


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
    with tempfile.TemporaryDirectory(prefix="cluster-kt-") as tmp:
        conf = Path(tmp, "keepalived.conf")
        conf.write_text(text)
        conf.chmod(0o600)
        command = [keepalived_binary(), "-t", "-f", str(conf)]
        if interfaces:
            with scratch_namespace(interfaces) as name:
                result = run_status(command, netns=name)
        else:
            result = run_status(command)
    return ConfigTest(result.returncode, (result.stdout + result.stderr).replace(str(conf), "-"))


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
