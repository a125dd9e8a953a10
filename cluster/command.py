"""Run a system program for the kit, on the host or inside a named network namespace.

Firewall and sysctl changes are per network namespace, so the same code that sets up a real
director (``netns=None``) sets up a lab director or a test's throw-away namespace
(``ip netns exec NAME ...``). Failures become :class:`ToolError` carrying the program's own
words, which is what an operator needs to fix a rule that nft or iptables refused.

>>> run(["true"])
''
>>> try:
...     run(["sh", "-c", "echo nope >&2; exit 3"])
... except ToolError as err:
...     print(err)
sh -c echo nope >&2; exit 3: exit 3: nope
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from cluster.errors import ToolError

TIMEOUT = 60


def run(
    argv: Sequence[str],
    netns: str | None = None,
    input: str | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """``argv``'s standard output; raises :class:`ToolError` unless it exits 0."""
    done = run_status(argv, netns, input, timeout)
    if done.returncode != 0:
        where = f" (in network namespace {netns})" if netns else ""
        reason = done.stderr.strip() or done.stdout.strip()
        raise ToolError(f"{' '.join(argv)}{where}: exit {done.returncode}: {reason}")
    return done.stdout


def run_status(
    argv: Sequence[str],
    netns: str | None = None,
    input: str | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and hand back its exit code and output, for programs whose non-zero exit
    is an answer rather than a failure (``keepalived -t`` exits 5 on a config with errors).
    ``timeout`` is for the few that legitimately run long (loading a 10,000-service table)."""
    command = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    try:
        return subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as err:
        raise ToolError(f"{command[0]} is not installed (scripts/setup.sh installs it)") from err
    except subprocess.TimeoutExpired as err:
        where = f" (in network namespace {netns})" if netns else ""
        raise ToolError(f"{' '.join(argv)}{where} did not finish in {timeout:g} s") from err
