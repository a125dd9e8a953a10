"""How fast the lab is: ``lab up`` wall time and the agent's round trips.

Targets from issue 3: ``lab up`` under 15 s with the guest boot, a trivial command under
50 ms. Each round trip is timed from the caller, through the relay and the serial line in
guest mode, so the figures are what a test or a notebook sees.

Run it with ``cluster bench lab --out out/bench-lab.json`` (root; it takes a running lab
down first, and leaves the lab up afterwards).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from cluster.lab import Lab
from cluster.lab.guest import Progress


def _summary(samples: list[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
        "min_ms": round(ms[0], 2),
        "max_ms": round(ms[-1], 2),
    }


def _time(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def bench_lab(mode: str = "auto", progress: Progress = print, n: int = 30) -> dict[str, Any]:
    progress("taking down any running lab")
    Lab.down()
    progress("timing lab up from nothing")
    start = time.perf_counter()
    lab = Lab.up(mode=mode, progress=progress)
    up_s = time.perf_counter() - start
    start = time.perf_counter()
    lab.call("director01", "links")
    first_netlink_s = time.perf_counter() - start
    progress(f"lab up in {up_s:.2f} s; timing {n} round trips of each kind")
    try:
        results = {
            "mode": lab.state.mode,
            "guest_user": lab.state.guest_user,
            "host": {"kernel": platform.release(), "python": platform.python_version()},
            "lab_up_s": round(up_s, 2),
            "agent_ping": _summary(_time(lambda: lab.agent.request("ping"), n)),
            "agent_run_true": _summary(_time(lambda: lab.run("client1", "true").check(), n)),
            "netlink_first_call_s": round(first_netlink_s, 2),
            "netlink_links_dump": _summary(_time(lambda: lab.call("director01", "links"), n)),
            "netlink_routes_dump": _summary(_time(lambda: lab.call("director01", "routes"), n)),
        }
    finally:
        lab.close()
    return results
