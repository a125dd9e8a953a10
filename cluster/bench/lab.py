"""How fast the lab is on its kernel: ``lab up``, the agent's round trips, a process start in
a node, a real server's start, and ``cluster lab apply`` on both directors.

Targets: ``lab up`` (boot, network, real servers and SMTP sink) under 5 s on ``uml`` and under
30 s on ``qemu``; a process start in a node under 20 ms on ``uml``. Each round trip is timed
from the caller, through the relay and the guest's serial line, so the figures are what a
test or a notebook sees. The document's provenance says which kernel it ran on.

Run it with ``cluster bench lab [--mode M] -o out/bench-lab.json`` (root; it takes a running
lab down first, and leaves the lab up afterwards, with keepalived on both directors).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from cluster.errors import LabError
from cluster.failover.bench import lab_variant
from cluster.lab import Lab, directors
from cluster.lab.guest import Progress
from cluster.spec import load_seed_spec


def _summary(samples: list[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
        "min_ms": round(ms[0], 2),
        "max_ms": round(ms[-1], 2),
        "samples_ms": [round(s * 1000, 3) for s in samples],  # raw, for bench compare
    }


def _time(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _restart(lab: Lab, node: str, n: int) -> list[float]:
    """Seconds from ``fault NODE clear`` on a stopped server to it listening again."""
    samples = []
    for _ in range(n):
        lab.fault(node, "down")
        start = time.perf_counter()
        lab.fault(node, "clear")
        samples.append(time.perf_counter() - start)
    return samples


def _apply(lab: Lab, progress: Progress) -> float:
    """Seconds for ``cluster lab apply`` (the seed spec, VRRPv3, advert 1) on both directors
    from nothing: two Python starts, sysctls, firewall, keepalived -t and keepalived. The lab
    is left once the master holds the VIPs, so a load test right after measures one director."""
    progress("timing cluster lab apply on both directors")
    spec = lab_variant(load_seed_spec(), None, 1, 3)
    start = time.perf_counter()
    for node, result in directors.apply(lab, spec).items():
        if not result.ok:
            raise LabError(f"lab apply failed on {node}: {result.stderr.strip()}")
    took = round(time.perf_counter() - start, 2)
    directors.wait_for_master(lab, spec, spec.master().name)
    return took


def bench_lab(mode: str | None = None, progress: Progress = print, n: int = 30) -> dict[str, Any]:
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
            "lab_up_s": round(up_s, 2),
            "agent_ping": _summary(_time(lambda: lab.agent.request("ping"), n)),
            "agent_run_true": _summary(_time(lambda: lab.run("client1", "true").check(), n)),
            "netlink_first_call_s": round(first_netlink_s, 2),
            "netlink_links_dump": _summary(_time(lambda: lab.call("director01", "links"), n)),
            "netlink_routes_dump": _summary(_time(lambda: lab.call("director01", "routes"), n)),
            "realserver_start": _summary(_restart(lab, "realserver1", 5)),
            "lab_apply_s": _apply(lab, progress),
        }
    finally:
        lab.close()
    return results
