"""``cluster bench ipvs``: how fast our netlink path programs IPVS, against ipvsadm-restore.

Issue 4's figures: the time to load 1,000 and 10,000 virtual services with 4 real servers
each, through :mod:`cluster.ipvs.netlink` and through ``ipvsadm-restore`` fed the same table
(the ratio is the figure; target: ours no slower), and the time of one weight change in the
10,000-service table (target: under 50 ms, touching nothing else).

It needs a kernel with IPVS and clears the table of the namespace it runs in, so run it in a
lab node, where ``--node`` sends it (the host kernel has no IPVS)::

    cluster lab up
    cluster bench ipvs --node director02 -o out/bench-ipvs.json
"""

from __future__ import annotations

import ipaddress
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cluster.errors import ToolError
from cluster.ipvs import netlink
from cluster.ipvs.ipvsadm import format_save
from cluster.ipvs.plan import Change, Plan, make_plan
from cluster.ipvs.table import Destination, Service, ServiceKey, Table

FIRST_VIP = ipaddress.IPv4Address("172.16.0.1")
REAL_SERVERS = [ipaddress.IPv4Address(f"192.168.170.{10 + i}") for i in range(4)]


def bench_table(services: int) -> Table:
    """``services`` TCP services on consecutive VIPs, each with 4 NAT real servers."""
    dests = tuple(Destination(rs, 80) for rs in REAL_SERVERS)
    return Table(
        tuple(
            Service(ServiceKey.inet("TCP", FIRST_VIP + i, 80), "rr", destinations=dests)
            for i in range(services)
        )
    )


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _count_services() -> int:
    """From /proc: reading 10,000 services back through pyroute2 takes more memory than the
    UML guest can map (it dies with "UML ran out of memory on the host side")."""
    with open("/proc/net/ip_vs") as table:
        return sum(1 for line in table if line.startswith("TCP "))


def _clear() -> None:
    subprocess.run(["ipvsadm", "-C"], check=True)


def _restore(text: str) -> None:
    done = subprocess.run(["ipvsadm-restore"], input=text, text=True, capture_output=True)
    if done.returncode != 0:
        raise ToolError(f"ipvsadm-restore failed: {done.stderr.strip()}")


def _saved() -> str:
    return subprocess.run(["ipvsadm-save", "-n"], capture_output=True, text=True).stdout


def _load(services: int) -> dict[str, Any]:
    table = bench_table(services)
    _clear()
    start = time.perf_counter()
    plan = make_plan(table, netlink.read_table())
    plan_s = time.perf_counter() - start
    apply_s = _timed(lambda: netlink.apply_plan(plan))
    held = _count_services()
    if held != services:
        raise ToolError(f"the kernel holds {held} services, not {services}")
    text = format_save(table)
    _clear()
    restore_s = _timed(lambda: _restore(text))
    _clear()
    ours = plan_s + apply_s
    return {
        "services": services,
        "real_servers": services * len(REAL_SERVERS),
        "netlink_changes": len(plan),
        "ours_read_and_plan_s": round(plan_s, 3),
        "ours_apply_s": round(apply_s, 3),
        "ours_total_s": round(ours, 3),
        "ipvsadm_restore_s": round(restore_s, 3),
        "ours_over_ipvsadm": round(ours / restore_s, 2),
    }


def _weight_change(services: int) -> dict[str, Any]:
    """One weight in a big table: the netlink ``set`` alone, and a read-plan-apply cycle over
    the one service that changed (``read_table(keys=...)``), as an apply does when it knows
    which services a spec edit touched."""
    table = bench_table(services)
    _clear()
    _restore(format_save(table))
    target = table.services[services // 2]
    changed = replace(target.destinations[0], weight=5)
    one = Plan((Change("set", target.settings, changed, old=target.destinations[0]),))
    set_s = _timed(lambda: netlink.apply_plan(one))
    desired = Table(
        tuple(
            replace(s, destinations=(replace(changed, weight=7), *s.destinations[1:]))
            if s.key == target.key
            else s
            for s in table.services
        )
    )
    start = time.perf_counter()
    live = netlink.read_table(keys=[target.key])
    read_s = time.perf_counter() - start
    plan = make_plan(Table(tuple(s for s in desired if s.key == target.key)), live)
    plan_s = time.perf_counter() - start - read_s
    netlink.apply_plan(plan)
    cycle_s = time.perf_counter() - start
    after = _saved()
    expected = format_save(desired)
    _clear()
    return {
        "services": services,
        "plan_changes": [str(c) for c in plan],
        "set_only_ms": round(set_s * 1000, 2),
        "read_table_ms": round(read_s * 1000, 1),
        "plan_ms": round(plan_s * 1000, 1),
        "read_plan_apply_ms": round(cycle_s * 1000, 1),
        "table_is_desired_after": after == expected,
    }


def run(sizes: list[int], weight_in: int) -> dict[str, Any]:
    """Every measurement, as one JSON-ready dict; clears this namespace's IPVS table."""
    netlink.read_table()  # fails early, with the clear message, on a kernel without IPVS
    return {
        "benchmark": "ipvs",
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load": [_load(n) for n in sizes],
        "weight_change": _weight_change(weight_in),
    }
