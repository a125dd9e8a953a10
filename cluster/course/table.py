"""Step 4: the IPVS table: ``cluster apply`` on the director, then the table keepalived's
checkers build, seen through our netlink reader beside ``ipvsadm -Ln``.

:func:`pool` compares a live table with the spec (pure, through
:func:`cluster.director.status.pool_report`); :func:`wait_for_pool` waits on the target
until keepalived's checkers have added every real server whose check passes.

>>> from cluster.ipvs.ipvsadm import format_save
>>> from cluster.ipvs.table import desired_table
>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> full = format_save(desired_table(spec))
>>> missing(spec, full)
[]
>>> missing(spec, "\\n".join(line for line in full.splitlines() if ".25:80" not in line))
['TCP 192.168.0.174:80 -> 192.168.170.25:80: missing (its check passes)']
"""

from __future__ import annotations

import time

from cluster.course.target import Target
from cluster.director.status import pool_report
from cluster.errors import ToolError
from cluster.ipvs.ipvsadm import format_list, parse_save
from cluster.ipvs.table import Table, desired_table
from cluster.spec.model import ClusterSpec
from cluster.views import Block, Columns, Shows


def apply(target: Target, options: tuple[str, ...] = ()) -> Shows:
    """``cluster apply`` on the target's director: the plan it printed, and what it did."""
    blocks = []
    for node, result in target.apply(options).items():
        result.check()
        blocks.append(
            Block(f"cluster apply --node {node} {' '.join(options)}".strip(), result.stdout)
        )
    return Shows(tuple(blocks))


def live_table(target: Target) -> Table:
    """The director's IPVS table, as ``ipvsadm-save -n`` prints it."""
    return parse_save(target.run("ipvsadm-save", "-n").check().stdout, target.node)


def missing(spec: ClusterSpec, saved: str) -> list[str]:
    """What the spec wants in the table and ``saved`` (``ipvsadm-save -n``) lacks or has
    otherwise, as words; [] when every real server is in."""
    report = pool_report(spec, parse_save(saved), {})
    return [str(entry) for entry in report if entry.state != "ok"]


def wait_for_pool(target: Target, timeout: float = 60) -> Table:
    """Wait until every real server of the spec is in the director's table (keepalived adds
    each once its check passes: within ``delay_loop`` seconds of starting)."""
    deadline = time.monotonic() + timeout
    while True:
        saved = target.run("ipvsadm-save", "-n").check().stdout
        lacking = missing(target.spec, saved)
        if not lacking:
            return parse_save(saved, target.node)
        if time.monotonic() > deadline:
            raise ToolError(
                f"{target.node}: the IPVS table is not complete after "
                f"{timeout:g} s: {'; '.join(lacking)}"
            )
        time.sleep(0.5)


def views(target: Target) -> Columns:
    """The table three ways: what the spec asks for, our netlink reader (``cluster ipvs
    list``, byte for byte ``ipvsadm -Ln``), and ``ipvsadm -Ln`` itself."""
    wanted = format_list(desired_table(target.spec))
    ours = target.cluster("ipvs", "list").check().stdout
    theirs = target.run("ipvsadm", "-Ln").check().stdout
    return Columns(
        (
            Block("the spec's table (every check passing)", wanted),
            Block(f"{target.node}: cluster ipvs list", ours),
            Block(f"{target.node}: ipvsadm -Ln", theirs),
        )
    )
