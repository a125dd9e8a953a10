"""``cluster bench ipvs``: how fast our netlink path programs IPVS, against ipvsadm-restore.

At each size (by default 1,000, 10,000 and 50,000 virtual services with 4 real servers each)
the same table is loaded three ways, each into a network namespace made for it (see
:func:`_fresh_netns`: a cleared IPVS is slower to fill than a new one) and its services
counted by a netlink dump: through :mod:`cluster.ipvs.netlink` inside this process (plan and
apply; the interpreter and imports already paid), as ``python -m cluster ipvs restore`` fed
the ``ipvsadm-save`` text (a process, start included), and through ``ipvsadm-restore`` fed
the same text. Targets: ours faster than ipvsadm-restore at every size, as a process too.

With the table loaded, at each size: one weight change (the netlink ``set`` alone, and a
read-plan-apply cycle over the one service, as an apply that knows which services a spec
edit touched; target under 50 ms), checked against ``ipvsadm-save`` dumps before and after
(exactly one line differs, then none); and a full diff of the unchanged table (read every
service and real server back, plan: nothing to do).

Where the time goes, measured rather than guessed:

- the process path's phases, each timed in this process on the same input: the
  interpreter's start and imports (``restore`` of an empty file), parsing the text, reading
  the live table and planning, printing the plan, applying;
- the kernel's part of the in-process load: the plan is applied 1,000 services at a time,
  each batch's messages encoded first (Python), then sent (the kernel runs each message
  inside the send), so the two are timed apart, and the kernel's part of the first batch
  beside the last shows how it grows with the table (the guest's rusage cannot say: UML
  counts its kernel's time as the process's user time);
- the kernel's trash: the same load again into the same namespace right after clearing it
  (up to 10,000 services);
- memory: this process's peak RSS, and each ``cluster ipvs restore`` process's.

Each figure is the median of ``repeat`` runs, and every run is in the result. It needs a
kernel with IPVS and clears the table of the namespace it runs in, so run it in a lab node,
where ``--node`` sends it (the host kernel has no IPVS)::

    cluster lab up
    cluster bench ipvs --node director02 -o out/bench-ipvs.json
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.command import run as run_command
from cluster.errors import LabError, ToolError
from cluster.ipvs import netlink
from cluster.ipvs.ipvsadm import format_save, parse_save
from cluster.ipvs.plan import Change, Plan, make_plan
from cluster.ipvs.table import Destination, Service, ServiceKey, Table

if TYPE_CHECKING:
    from cluster.lab.lab import Lab

Progress = Callable[[str], None]
FIRST_VIP = ipaddress.IPv4Address("172.16.0.1")
REAL_SERVERS = [ipaddress.IPv4Address(f"192.168.170.{10 + i}") for i in range(4)]
#: ipvsadm-restore needs about 220 s for 50,000 services in the lab's UML guest.
TOOL_TIMEOUT = 1800.0
OURS_RESTORE = [sys.executable, "-m", "cluster", "ipvs", "restore"]
#: Services per timed batch of the in-process load.
BATCH = 1000
#: After a namespace is removed, for its cleanup to finish before the next load.
SETTLE_S = 2.0
#: The largest table loaded again right after a clear: the trash walk grows with the
#: square of the table (60 s at 10,000 services in the lab's UML guest; some 25 minutes
#: at 50,000).
AFTER_CLEAR_MAX = 10_000


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


def _process(argv: list[str], text: str) -> tuple[float, float]:
    """Run ``argv`` fed ``text``; its wall time and peak RSS (MiB), from its own rusage."""
    assert sys.platform == "linux"  # os.wait4's rusage
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=err)  # fmt: skip
        assert child.stdin is not None
        with child.stdin:
            child.stdin.write(text.encode())
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            err.seek(0)
            raise ToolError(f"{' '.join(argv[:5])} exited {child.returncode}: "
                            f"{err.read().decode(errors='replace').strip()[-300:]}")  # fmt: skip
    return wall, usage.ru_maxrss / 1024


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_loaded(services: int, how: str) -> None:
    """Every timed load must have left the whole table, or its time means nothing."""
    held = netlink.count_services()
    if held != services:
        raise ToolError(f"after {how}, the kernel holds {held} services, not {services}")


def _clear() -> None:
    _tool(["ipvsadm", "-C"])


@contextlib.contextmanager
def _fresh_netns(name: str) -> Iterator[None]:
    """This process (and what it starts) in a new network namespace, so each load meets an
    IPVS that has never held a table. A cleared one has not forgotten it: every real server
    deleted waits in the namespace's trash for two minutes, and each real server added
    meanwhile walks that list (``ip_vs_trash_get_dest``), 200,000 entries after a clear of
    50,000 services. The table is cleared before the namespace goes, so that its cleanup
    does not run under the next load. Its only route, to the real servers' subnet, is
    there because IPVS takes a NAT real server only where a unicast route leads to it."""
    from pyroute2.netns import popns, pushns

    if Path(f"/run/netns/{name}").exists():  # left by a benchmark that was killed
        _tool(["ip", "netns", "del", name])
    _tool(["ip", "netns", "add", name])
    pushns(name)
    try:
        _tool(["ip", "link", "set", "lo", "up"])
        _tool(
            [
                "ip",
                "route",
                "add",
                str(ipaddress.ip_network(f"{REAL_SERVERS[0]}/24", strict=False)),
                "dev",
                "lo",
            ]
        )
        yield
    finally:
        try:
            _clear()
        finally:
            popns()
            _tool(["ip", "netns", "del", name])
            time.sleep(SETTLE_S)


def _apply_in_batches(plan: Plan) -> list[tuple[float, float]]:
    """Apply ``plan`` :data:`BATCH` services at a time; each batch's seconds encoding its
    messages (Python) and sending them (the kernel runs each message as it is sent, and
    answers)."""
    changes, batches = plan.changes, []
    per = len(changes) // max(1, len({c.service.key for c in changes})) * BATCH
    with netlink.ipvs_socket() as (sock, family):
        for start in range(0, len(changes), per):
            batch = Plan(changes[start : start + per])
            begin = time.perf_counter()
            encoded = list(netlink.writes(batch, family))
            python = time.perf_counter() - begin
            for indexes, data in encoded:
                netlink.send(sock, batch, indexes, data)
            batches.append((python, time.perf_counter() - begin - python))
    return batches


def _dump_diff(before: str, after: str) -> list[str]:
    """The lines of two ``ipvsadm-save`` dumps that differ, ``-`` gone and ``+`` new."""
    old, new = set(before.splitlines()), set(after.splitlines())
    return [f"- {line}" for line in sorted(old - new)] + [f"+ {line}" for line in sorted(new - old)]


def _weight_change(table: Table, weight: int, check: bool) -> dict[str, Any]:
    """One weight in the loaded ``table``: the netlink ``set`` alone, then a read-plan-apply
    cycle over that one service that sets it back. With ``check``, a dump of the whole
    table around each must differ in that real server's line and nothing else."""
    target = table.services[len(table) // 2]
    old = target.destinations[0]
    changed = replace(old, weight=weight)
    before = _tool(["ipvsadm-save", "-n"]) if check else ""
    one = Plan((Change("set", target.settings, changed, old=old),))
    set_ms = _timed(lambda: netlink.apply_plan(one)) * 1000
    unchanged = True
    if check:
        want = Table((replace(target, destinations=(changed, *target.destinations[1:])),))
        expected = _dump_diff(format_save(Table((target,))), format_save(want))
        unchanged = _dump_diff(before, _tool(["ipvsadm-save", "-n"])) == expected
    start = time.perf_counter()
    live = netlink.read_table(keys=[target.key])
    read_ms = (time.perf_counter() - start) * 1000
    plan = make_plan(Table((target,)), live)
    netlink.apply_plan(plan)
    cycle_ms = (time.perf_counter() - start) * 1000
    if check:
        unchanged &= _dump_diff(before, _tool(["ipvsadm-save", "-n"])) == []
    return {"weight_change_ms": round(set_ms, 2), "read_one_service_ms": round(read_ms, 2),
            "read_plan_apply_ms": round(cycle_ms, 2), "cycle_plan": [str(c) for c in plan],
            "unchanged": unchanged}  # fmt: skip


def _unchanged_diff(table: Table) -> dict[str, float]:
    """Read the whole live table back and plan against it: nothing may be left to do."""
    start = time.perf_counter()
    live = netlink.read_table()
    read = time.perf_counter() - start
    plan = make_plan(table, live)
    total = time.perf_counter() - start
    if not plan.empty:
        raise ToolError(f"the unchanged table planned {len(plan.changes)} changes")
    return {"unchanged_diff_s": round(total, 3), "unchanged_read_s": round(read, 3)}


def _load_in_process(table: Table) -> tuple[float, list[tuple[float, float]]]:
    start = time.perf_counter()
    plan = make_plan(table, netlink.read_table())
    batches = _apply_in_batches(plan)
    return time.perf_counter() - start, batches


def _run(services: int, text: str, first: bool, progress: Progress) -> dict[str, Any]:
    """One run at one size: each load into a namespace of its own; with the table loaded by
    ours, the weight change, the unchanged diff, and the same load again after a clear."""
    table = bench_table(services)
    with _fresh_netns("bench-ipvs-ours"):
        in_process, batches = _load_in_process(table)
        _check_loaded(services, "our apply")
        run: dict[str, Any] = {
            "ours_in_process_s": round(in_process, 3),
            "batch_python_s": [round(python, 4) for python, _ in batches],
            "batch_kernel_s": [round(kernel, 4) for _, kernel in batches],
        }
        progress(
            f"{services:,} services: ours in process {in_process:.2f} s; the kernel's part "
            f"of a batch of {BATCH:,} services: first {batches[0][1]:.3f} s, last "
            f"{batches[-1][1]:.3f} s"
        )
        run |= _weight_change(table, 5, check=first)
        run |= _unchanged_diff(table)
        progress(f"{services:,} services: one weight change {run['weight_change_ms']} ms "
                 f"({run['read_plan_apply_ms']} ms with read and plan), full diff of the "
                 f"unchanged table {run['unchanged_diff_s']} s")  # fmt: skip
        run["clear_s"] = round(_timed(_clear), 3)
        if services <= AFTER_CLEAR_MAX:
            again, _ = _load_in_process(table)
            run["ours_in_process_after_clear_s"] = round(again, 3)
            _check_loaded(services, "our apply after a clear")
            progress(f"{services:,} services: cleared in {run['clear_s']} s; ours in process "
                     f"again, right after the clear: {again:.2f} s")  # fmt: skip
    with _fresh_netns("bench-ipvs-process"):
        run["ours_process_s"], run["ours_process_peak_mib"] = (
            round(x, 3) for x in _process(OURS_RESTORE, text)
        )
        _check_loaded(services, "cluster ipvs restore")
    progress(f"{services:,} services: cluster ipvs restore {run['ours_process_s']} s")
    with _fresh_netns("bench-ipvs-ipvsadm"):
        run["ipvsadm_restore_s"] = round(_process(["ipvsadm-restore"], text)[0], 3)
        _check_loaded(services, "ipvsadm-restore")
    progress(f"{services:,} services: ipvsadm-restore {run['ipvsadm_restore_s']} s")
    return run


def _phases(text: str) -> dict[str, float]:
    """The process path's work after its start, each timed here on the same input: parse
    the text, read the (empty) live table and plan, print the plan. Applying is the
    in-process load."""
    with _fresh_netns("bench-ipvs-phases"):
        start = time.perf_counter()
        desired = parse_save(text)
        parsed = time.perf_counter()
        plan = make_plan(desired, netlink.read_table())
        planned = time.perf_counter()
        plan.text()
        return {"parse_s": round(parsed - start, 3),
                "read_and_plan_s": round(planned - parsed, 3),
                "plan_text_s": round(time.perf_counter() - planned, 3)}  # fmt: skip


def _median(runs: list[dict[str, Any]], name: str) -> float:
    return round(statistics.median(r[name] for r in runs), 3)


def _size(services: int, repeat: int, start_s: float, progress: Progress) -> dict[str, Any]:
    text = format_save(bench_table(services))
    runs = [_run(services, text, n == 0, progress) for n in range(repeat)]
    median = {name: _median(runs, name) for name, value in runs[0].items()
              if isinstance(value, (int, float)) and not isinstance(value, bool)}  # fmt: skip
    phases = {"start_s": start_s, **_phases(text), "apply_s": median["ours_in_process_s"]}
    # the kernel's part of each batch of the same size: how it grows with the table
    kernel = [statistics.median(r["batch_kernel_s"][i] for r in runs)
              for i in range(len(runs[0]["batch_kernel_s"]))]  # fmt: skip
    python = statistics.median(sum(r["batch_python_s"]) for r in runs)
    return {
        "services": services,
        "real_servers": services * len(REAL_SERVERS),
        "netlink_changes": len(make_plan(bench_table(services), Table())),
        "median": median
        | {
            "ours_in_process_over_ipvsadm": round(
                median["ours_in_process_s"] / median["ipvsadm_restore_s"], 3
            ),
            "ours_process_over_ipvsadm": round(
                median["ours_process_s"] / median["ipvsadm_restore_s"], 3
            ),
        },
        "process_phases_s": phases,
        # the apply split: encoding (Python) against sending (the kernel's work on each
        # message happens in the send), and the kernel's part of the first and last batch
        "apply_python_s": round(python, 3),
        "apply_kernel_s": round(sum(kernel), 3),
        "kernel_first_batch_s": kernel[0],
        "kernel_last_batch_s": kernel[-1],
        "other_entries_unchanged": runs[0]["unchanged"],
        "peak_rss_mib": round(_peak(), 1),
        "runs": runs,
    }


def run(sizes: list[int], repeat: int = 3, progress: Progress = lambda _: None) -> dict[str, Any]:
    """Every measurement, as one JSON-ready dict; each load in a network namespace of its
    own, made and removed here."""
    netlink.read_table()  # fails early, with the clear message, on a kernel without IPVS
    with _fresh_netns("bench-ipvs-start"):
        start = statistics.median(_process(OURS_RESTORE, "")[0] for _ in range(repeat))
        theirs = statistics.median(_process(["ipvsadm-restore"], "")[0] for _ in range(repeat))
    progress(f"start of an empty restore: ours {start:.3f} s, ipvsadm-restore {theirs:.3f} s")
    return {
        "benchmark": "ipvs",
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "batch_services": BATCH,
        "start_cost": {
            "ours_process_empty_s": round(start, 3),
            "ipvsadm_restore_empty_s": round(theirs, 3),
        },
        "sizes": [_size(n, repeat, round(start, 3), progress) for n in sizes],
    }


def run_in_node(lab: Lab, node: str, argv: list[str], progress: Progress) -> dict[str, Any]:
    """``cluster bench ipvs ARGV`` inside lab ``node``, its progress relayed as it comes; the
    document it wrote."""
    from cluster.lab.guest import python_argv

    out = lab.paths.share / "bench" / f"ipvs-{node}.json"
    lab.run(node, "mkdir", "-p", str(out.parent)).check()  # from inside: the guest's share
    lab.run(node, "rm", "-f", str(out)).check()
    lab.refresh_code()
    name = "bench-ipvs"
    log = lab.log_path(node, name)
    offset = log.stat().st_size if log.exists() else 0
    pid = lab.spawn(node, python_argv("-m", "cluster", "bench", "ipvs", *argv, "-o", str(out)),
                    name)  # fmt: skip
    code = None
    while code is None:
        time.sleep(1)
        code = next((s["returncode"] for s in lab.services() if s["pid"] == pid), None)
        text = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
        lines = text.splitlines(keepends=True)
        for line in lines if code is not None else lines[: len(lines) - 1]:
            if line.endswith("\n") or code is not None:
                progress(f"{node}: {line.rstrip().removeprefix('==> ')}")
                offset += len(line.encode())
    if code != 0:
        raise LabError(f"cluster bench ipvs in {node} exited {code}; see {log}")
    return dict(json.loads(lab.read_text(node, str(out))))
