"""``cluster bench ipvs``: how fast our netlink path programs IPVS, against ipvsadm-restore.

Issue 4's figures: the time to load 1,000 and 10,000 virtual services with 4 real servers
each, through :mod:`cluster.ipvs.netlink` and through ``ipvsadm-restore`` fed the same table
(the ratio is the figure; target: ours no slower), and the time of one weight change in the
10,000-service table (target: under 50 ms, touching nothing else).

``ipvsadm-restore`` is a process start plus a load, so ours is timed both ways: inside this
process (plan and apply, the interpreter and imports already paid), and as
``python -m cluster ipvs restore`` fed the same text, start included. Each figure is the
median of ``repeat`` runs; the runs themselves are in the result too. The weight change is
checked against ``ipvsadm-save`` dumps taken before and after: exactly one line may differ.

It needs a kernel with IPVS and clears the table of the namespace it runs in, so run it in a
lab node, where ``--node`` sends it (the host kernel has no IPVS)::

    cluster lab up
    cluster bench ipvs --node director02 -o out/bench-ipvs.json
"""

from __future__ import annotations

import ipaddress
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cluster.command import run as run_command
from cluster.errors import ToolError
from cluster.ipvs import netlink
from cluster.ipvs.ipvsadm import format_save
from cluster.ipvs.plan import Change, Plan, make_plan
from cluster.ipvs.table import Destination, Service, ServiceKey, Table

FIRST_VIP = ipaddress.IPv4Address("172.16.0.1")
REAL_SERVERS = [ipaddress.IPv4Address(f"192.168.170.{10 + i}") for i in range(4)]
#: ipvsadm-restore needs about 80 s for 10,000 services in the lab's UML guest.
TOOL_TIMEOUT = 1800.0
OURS_RESTORE = [sys.executable, "-m", "cluster", "ipvs", "restore"]


def bench_table(services: int) -> Table:
    """``services`` TCP services on consecutive VIPs, each with 4 NAT real servers."""
    dests = tuple(Destination(rs, 80) for rs in REAL_SERVERS)
    return Table(
        tuple(
            Service(ServiceKey.inet("TCP", FIRST_VIP + i, 80), "rr", destinations=dests)
            for i in range(services)
        )
    )


def _timed(job: Callable[[], object]) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def _tool(argv: list[str], input: str | None = None) -> str:
    return run_command(argv, input=input, timeout=TOOL_TIMEOUT)


def _count_services() -> int:
    """From /proc: reading 10,000 services back through pyroute2 takes more memory than the
    UML guest can map (it dies with "UML ran out of memory on the host side")."""
    with open("/proc/net/ip_vs") as table:
        return sum(1 for line in table if line.startswith("TCP "))


def _loaded(services: int, how: str) -> None:
    """Every timed load must have left the whole table, or its time means nothing."""
    held = _count_services()
    if held != services:
        raise ToolError(f"after {how}, the kernel holds {held} services, not {services}")
    _tool(["ipvsadm", "-C"])


def _load_once(table: Table, text: str) -> dict[str, float]:
    """One run of the three loads of ``table``, each into an empty table."""
    services = len(table)
    _tool(["ipvsadm", "-C"])
    in_process = _timed(lambda: netlink.apply_plan(make_plan(table, netlink.read_table())))
    _loaded(services, "our apply")
    process = _timed(lambda: _tool(OURS_RESTORE, text))
    _loaded(services, "cluster ipvs restore")
    restore = _timed(lambda: _tool(["ipvsadm-restore"], text))
    _loaded(services, "ipvsadm-restore")
    return {"ours_in_process_s": in_process, "ours_process_s": process,
            "ipvsadm_restore_s": restore}  # fmt: skip


def _median(runs: list[dict[str, float]], name: str) -> float:
    return statistics.median(r[name] for r in runs)


def _load(services: int, repeat: int) -> dict[str, Any]:
    table = bench_table(services)
    text = format_save(table)
    runs = [_load_once(table, text) for _ in range(repeat)]
    medians = {name: round(_median(runs, name), 3) for name in runs[0]}
    restore = _median(runs, "ipvsadm_restore_s")
    return {
        "services": services,
        "real_servers": services * len(REAL_SERVERS),
        "netlink_changes": len(make_plan(table, Table())),
        "median": medians
        | {
            "ours_in_process_over_ipvsadm": round(_median(runs, "ours_in_process_s") / restore, 3),
            "ours_process_over_ipvsadm": round(_median(runs, "ours_process_s") / restore, 3),
        },
        "runs": [{name: round(value, 3) for name, value in r.items()} for r in runs],
    }


def _start_cost(repeat: int) -> dict[str, float]:
    """The fixed cost of each tool loading nothing into an empty table: for ours, the
    interpreter, the imports and one read of the table."""
    _tool(["ipvsadm", "-C"])
    ours = [_timed(lambda: _tool(OURS_RESTORE, "")) for _ in range(repeat)]
    theirs = [_timed(lambda: _tool(["ipvsadm-restore"], "")) for _ in range(repeat)]
    return {"ours_process_empty_s": round(statistics.median(ours), 3),
            "ipvsadm_restore_empty_s": round(statistics.median(theirs), 3)}  # fmt: skip


def _dump_diff(before: str, after: str) -> list[str]:
    """The lines of two ``ipvsadm-save`` dumps that differ, ``-`` gone and ``+`` new."""
    old, new = set(before.splitlines()), set(after.splitlines())
    return [f"- {line}" for line in sorted(old - new)] + [f"+ {line}" for line in sorted(new - old)]


def _weight_change(services: int, repeat: int) -> dict[str, Any]:
    """One weight in a big table, ``repeat`` times: the netlink ``set`` alone, and a
    read-plan-apply cycle over the one service that changed (``read_table(keys=...)``), as an
    apply does when it knows which services a spec edit touched, setting it back. Around
    each, a dump of the whole table must differ in that real server's line and nothing else."""
    table = bench_table(services)
    _tool(["ipvsadm", "-C"])
    _tool(["ipvsadm-restore"], format_save(table))
    target = table.services[services // 2]
    old = target.destinations[0]
    set_ms, read_ms, cycle_ms, unchanged = [], [], [], True
    for weight in range(5, 5 + repeat):
        before = _tool(["ipvsadm-save", "-n"])
        changed = replace(old, weight=weight)
        one = Plan((Change("set", target.settings, changed, old=old),))
        start = time.perf_counter()
        netlink.apply_plan(one)
        set_ms.append((time.perf_counter() - start) * 1000)
        want = Table((replace(target, destinations=(changed, *target.destinations[1:])),))
        expected = _dump_diff(format_save(Table((target,))), format_save(want))
        unchanged &= _dump_diff(before, _tool(["ipvsadm-save", "-n"])) == expected
        start = time.perf_counter()
        live = netlink.read_table(keys=[target.key])
        read_ms.append((time.perf_counter() - start) * 1000)
        plan = make_plan(Table((target,)), live)
        netlink.apply_plan(plan)
        cycle_ms.append((time.perf_counter() - start) * 1000)
        unchanged &= _dump_diff(before, _tool(["ipvsadm-save", "-n"])) == []
    _tool(["ipvsadm", "-C"])
    return {
        "services": services,
        "cycle_plan": [str(c) for c in plan],
        "set_only_ms": round(statistics.median(set_ms), 2),
        "read_table_ms": round(statistics.median(read_ms), 2),
        "read_plan_apply_ms": round(statistics.median(cycle_ms), 2),
        "runs_set_only_ms": [round(ms, 2) for ms in set_ms],
        "runs_read_plan_apply_ms": [round(ms, 2) for ms in cycle_ms],
        "other_entries_unchanged": unchanged,
    }


def run(sizes: list[int], weight_in: int, repeat: int = 3) -> dict[str, Any]:
    """Every measurement, as one JSON-ready dict; clears this namespace's IPVS table."""
    netlink.read_table()  # fails early, with the clear message, on a kernel without IPVS
    return {
        "benchmark": "ipvs",
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "start_cost": _start_cost(repeat),
        "load": [_load(n, repeat) for n in sizes],
        "weight_change": _weight_change(weight_in, repeat),
    }
