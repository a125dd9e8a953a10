"""curl inside the lab, for the lab tests: the real client, from any node."""

from __future__ import annotations

from cluster.lab import Lab


def curl(lab: Lab, node: str, url: str, *options: str, timeout: float = 3) -> tuple[int, str]:
    """curl's exit code (0, 7 refused, 28 timeout, ...) and its output, errors included."""
    res = lab.run(
        node, "curl", "-sS", "--max-time", str(timeout), *options, url, timeout=timeout + 5
    )
    return res.rc, res.stdout + res.stderr
