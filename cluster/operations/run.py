"""Carry out an :class:`~cluster.operations.plan.OperationPlan` on the lab's directors.

Each ``apply`` step is the product's own ``cluster apply``, run inside the director as
``cluster lab apply`` runs it (:func:`cluster.lab.directors.apply`); ``stop`` is keepalived's
graceful SIGTERM; the waits read the directors' addresses (who holds the VIPs) and their
``ipvsadm -Ln`` (ActiveConn). Every step is timed on the lab's clock, so a benchmark can
lay the client's failed requests beside them.

When a step fails, the directors touched so far are set back to the spec as it was (the
ones whose keepalived still runs first, so that a stopped backup starts into a master that
already speaks its password), and :class:`~cluster.errors.ApplyError` names the step.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.errors import ApplyError, ClusterError, UsageError
from cluster.files import write_atomic
from cluster.ipvs.ipvsadm import connection_counts
from cluster.lab import directors
from cluster.operations.plan import OperationPlan, Step
from cluster.spec import ClusterSpec

if TYPE_CHECKING:
    from cluster.lab.lab import Lab

Progress = Callable[[str], None]
POLL_S = 0.5
"""How often a drain reads the directors' ActiveConn."""


@dataclass(frozen=True)
class StepRecord:
    """One step as it ran: when (the lab's clock, seconds since the epoch), and what it found."""

    step: Step
    started: float
    ended: float
    detail: str = ""


def _settle_timeout(spec: ClusterSpec) -> float:
    """Long enough for any election: several master-down intervals, and a slow guest."""
    return 10 + 4 * max((i.advert_int for i in spec.vrrp.instances), default=1)


def _expect_master(lab: Lab, spec: ClusterSpec, node: str) -> str:
    table = directors.holders(lab, spec)
    if any(owners != [node] for owners in table.values()):
        held = "; ".join(f"{vip} by {', '.join(o) or 'nobody'}" for vip, o in table.items())
        raise ClusterError(
            f"the VIPs are held {held}, not by {node} alone; the safe order assumes the "
            "spec's master holds them: wait for the cluster to settle (cluster lab state)"
        )
    return "holds every VIP"


def _wait_drained(lab: Lab, step: Step) -> str:
    deadline = time.monotonic() + step.timeout
    first = None
    while True:
        listing = lab.run(step.node, "ipvsadm", "-Ln").check().stdout
        counts = connection_counts(listing)
        active = sum(counts.get(pair, (0, 0))[0] for pair in step.servers)
        first = active if first is None else first
        if active == 0:
            return f"drained ({first} active at first)"
        if time.monotonic() > deadline:
            return f"timed out with {active} still active; removed anyway, as kube-proxy does"
        time.sleep(POLL_S)


def _do(lab: Lab, plan: OperationPlan, step: Step) -> str:
    spec = plan.spec(step.stage if step.kind == "apply" else "new")
    if step.kind == "expect-master":
        return _expect_master(lab, spec, step.node)
    if step.kind == "apply":
        result = directors.apply(lab, spec, nodes=[step.node])[step.node]
        if not result.ok:
            raise ClusterError(f"cluster apply exited {result.rc}: {result.stderr.strip()}")
        return "applied"
    if step.kind == "stop":
        directors.keepalived(lab, step.node).stop()
        return "stopped"
    if step.kind == "wait-master":
        directors.wait_for_master(lab, spec, step.node, _settle_timeout(spec))
        return "holds every VIP"
    return _wait_drained(lab, step)


def run_in_lab(
    lab: Lab,
    plan: OperationPlan,
    progress: Progress = print,
    after_step: Callable[[StepRecord], None] | None = None,
) -> list[StepRecord]:
    """Every step of ``plan`` in order, on the lab's directors; ``after_step`` sees each
    one's record as it completes (a test checks the directors there)."""
    records: list[StepRecord] = []
    for number, step in enumerate(plan.steps, 1):
        progress(f"{number}. {step.describe()}")
        started = time.time()
        try:
            detail = _do(lab, plan, step)
        except ClusterError as err:
            touched = [r.step for r in records if r.step.kind in ("apply", "stop")] + [step]
            undone = _roll_back(lab, plan, touched, progress)
            raise ApplyError(f"step {number} ({step.describe()})", f"{err}{undone}") from err
        record = StepRecord(step, started, time.time(), detail)
        records.append(record)
        if detail not in ("applied", "stopped"):
            progress(f"   {detail}")
        if after_step is not None:
            after_step(record)
    return records


def _roll_back(lab: Lab, plan: OperationPlan, touched: list[Step], progress: Progress) -> str:
    """The spec as it was, on every director a step touched: running ones first."""
    spec = plan.spec("before")
    nodes = list(dict.fromkeys(s.node for s in touched))
    running = [n for n in nodes if directors.keepalived(lab, n).running()]
    failed = []
    for node in running + [n for n in nodes if n not in running]:
        progress(f"rolling back {node}")
        result = directors.apply(lab, spec, nodes=[node])[node]
        if not result.ok:
            failed.append(f"{node}: {result.stderr.strip()}")
    if failed:
        return "; rolling back also failed for " + "; ".join(failed)
    return f"; {', '.join(nodes)} set back to the spec as it was" if nodes else ""


def carry_out(
    lab: Lab,
    plan: OperationPlan,
    path: Path,
    progress: Progress = print,
    after_step: Callable[[StepRecord], None] | None = None,
) -> list[StepRecord]:
    """``cluster op --confirm --lab``: the plan on the lab's directors, which must run the
    spec ``path`` holds, then the changed spec written to ``path`` (same mode): the file
    says what runs, once it does."""
    if directors.current_spec(lab) != plan.spec("before"):
        raise UsageError(f"the lab's directors do not run {path}; "
                         f"run cluster lab apply {path} first")  # fmt: skip
    records = run_in_lab(lab, plan, progress, after_step)
    if plan.after != plan.before:
        write_atomic(path, plan.after, stat.S_IMODE(path.stat().st_mode))
    return records
