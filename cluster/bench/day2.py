"""Day-2 operations under load in the lab (``cluster bench day2``): what a client saw.

The lab's pair runs the seed cluster over VRRPv2 at advert_int 1 with PASS auth (the one
set-up where a password can be rotated), plus a third real server node for ``add-server``.
One trial runs the operations in order, each under its own client probe
(:class:`cluster.failover.bench.Probe`: a request to the VIP every 10 ms, each on a
connection of its own), through the same plans and steps ``cluster op`` runs:

1. add the third real server to ``http``;
2. change its weight to 3;
3. drain the first real server, with a few connections through the VIP held open across
   the weight-0 step and released 2 s after it, so the drain waits on real ActiveConn;
4. rotate the VRRP password, with both directors' addresses (``ip -ts monitor``) and VRRP
   events watched for a moment when both hold a VIP or are MASTER;
5. restart keepalived on the backup;
6. restart it on the master: a graceful handover to the backup, and the master's return
   (the same way round).

Each operation's record keeps the client's failed requests and gaps, each step's time and
outcome, and both directors' IPVS tables (``ipvsadm -Sn``) after each step. The handover's
outage is compared with its target: the backup's skew time + 0.1 s. The trial starts from
the spec as it was, so trials repeat.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.errors import LabError
from cluster.failover import outage, theory
from cluster.failover.bench import (
    Probe,
    ensure_cluster,
    spawn_until_started,
    timeline,
    vrrp_events,
    wait_exit,
    wait_line,
)
from cluster.lab import directors
from cluster.lab.traffic import HOLDING
from cluster.operations import plan as ops
from cluster.operations.run import StepRecord, carry_out
from cluster.spec import ClusterSpec, dump_spec, load_seed_spec
from cluster.spec.load import read_spec
from cluster.spec.model import Auth
from cluster.spec.variants import timing

if TYPE_CHECKING:
    from cluster.lab.lab import Lab
    from cluster.lab.topology import Topology

Progress = Callable[[str], None]
FILENAME = "day2.yaml"
SERVICE = "http"
ADDED = "192.168.170.45"
DRAINED = "192.168.170.25"
HELD = 24
"""Connections held open through the VIP while a drain waits (the round robin spreads
them over the real servers)."""
RELEASE_AFTER_S = 2.0
BASELINE_S = 1.0
"""Seconds of probing before and after each operation."""
PROBE_TIMEOUT_S = 2.0
"""A request unanswered this long has failed. Longer than the failover trials' 0.5 s: in
the lab's one-CPU guest, a `cluster apply` (a Python start, seconds of CPU) beside the
forwarding and the real servers delays some answers past 0.5 s, and a late answer is
still an answer; answers slower than :data:`SLOW_S` are counted apart."""
SLOW_S = 0.5
PROBE_LIMIT_S = 900.0
"""The probe's longest run: an operation's applies take seconds each, minutes on a host
busy with other labs."""
MIN_GAP_S = 0.03
"""A gap between good answers shorter than three probe intervals is no outage."""
PASSWORDS = ("day2one", "day2two")
OPERATIONS = ("add-server", "weight", "drain", "rotate-password", "restart-backup",
              "restart-master")  # fmt: skip
"""The operations of a trial, in order: the summary's keys."""


def start_text(password: str = PASSWORDS[0]) -> str:
    """The spec the trials start from: the seed over VRRPv2, advert_int 1, PASS auth."""
    spec = timing(load_seed_spec(), 1, 2)
    auth = Auth(type="PASS", password=password)
    instances = [i.model_copy(update={"auth": auth}) for i in spec.vrrp.instances]
    return dump_spec(spec.model_copy(update={"vrrp": spec.vrrp.model_copy(
        update={"instances": instances})}))  # fmt: skip


def topology() -> Topology:
    """The lab for the trials: the start spec's nodes and the real server added later."""
    from cluster.lab.topology import from_spec

    return from_spec(ops.add_server(start_text(), FILENAME, SERVICE, ADDED).spec("new"))


def _tables(lab: Lab, spec: ClusterSpec) -> dict[str, str]:
    return {d.name: lab.run(d.name, "ipvsadm", "-Sn").stdout for d in spec.directors}


def _held(lab: Lab, spec: ClusterSpec) -> tuple[int, Path]:
    """Connections through the VIP, established and held open until the release file."""
    client = next(n for n in lab.nodes if n.startswith("client"))
    work = lab.paths.share / "day2"
    plan, out, release = work / "hold.json", work / "hold.out.json", work / "hold.release"
    lab.run(client, "mkdir", "-p", str(work)).check()
    lab.run(client, "rm", "-f", str(release), str(out)).check()
    source = topology().node(client).address
    lab.write_file(client, str(plan), json.dumps([[source, 0, True]] * HELD))
    vip = str(next(vs.address for vs in spec.virtual_services if vs.name == SERVICE))
    log = lab.log_path(client, "day2-hold")
    offset = log.stat().st_size if log.exists() else 0
    pid, _ = spawn_until_started(
        lab, client,
        ["connect", f"{vip}:80", "--plan", str(plan), "--release", str(release), "--out",
         str(out), "--timeout", f"{PROBE_LIMIT_S:g}"],
        "day2-hold",
    )  # fmt: skip
    if wait_line(lab, pid, log, offset, HOLDING, 60) is None:
        raise LabError(f"the held connections never opened; see {log}")
    return pid, release


def _measure(
    lab: Lab,
    plan: ops.OperationPlan,
    path: Path,
    progress: Progress,
    after_step: Callable[[StepRecord], None] | None = None,
) -> dict[str, Any]:
    """``plan`` carried out on the spec file ``path`` (as ``cluster op --confirm --lab``
    does) under the client probe; the client's view and each step."""
    spec = plan.spec("before")
    initial = directors.holders(lab, spec)
    masters = {i.name: [spec.master().name] for i in spec.vrrp.instances}
    tables: list[dict[str, Any]] = []

    def record(step: StepRecord) -> None:
        tables.append({"step": step.step.describe(), "ipvs": _tables(lab, spec)})
        if after_step is not None:
            after_step(step)

    probe = Probe.start(lab, spec, limit=PROBE_LIMIT_S, timeout=PROBE_TIMEOUT_S)
    time.sleep(max(0.0, probe.started + BASELINE_S - time.time()))
    began = time.time()
    steps = carry_out(lab, plan, path, progress, record)
    time.sleep(BASELINE_S)
    samples = probe.finish()["samples"]
    addresses = timeline(lab, spec, began)
    events = vrrp_events(lab, spec, began)
    failed = [s for s in samples if s[2] != "ok"]
    return {
        "operation": plan.title,
        "requests": len(samples),
        "failed": len(failed),
        "failed_outcomes": dict(Counter(s[2] for s in failed)),
        "slow": sum(1 for s in samples if s[2] == "ok" and s[1] > SLOW_S),
        "latency_ok_max_s": max((s[1] for s in samples if s[2] == "ok"), default=None),
        "gaps": [
            {"start_s": round(o.start - began, 4), "duration_s": o.duration, "failed": o.failed}
            for o in outage.outages(samples, MIN_GAP_S)
        ],
        "vip_held_twice": outage.held_twice(
            initial, [(c["time"], c["node"], c["address"], c["added"]) for c in addresses]
        ),
        "master_twice": outage.held_twice(
            masters,
            [
                (e["time"], e["node"], e["name"], e["state"] == "MASTER")
                for e in events
                if e["kind"] == "INSTANCE"
            ],
        ),
        "holders_after": directors.holders(lab, spec),
        "steps": [
            {
                "step": r.step.describe(),
                "kind": r.step.kind,
                "node": r.step.node,
                "stage": r.step.stage,
                "at_s": round(r.started - began, 4),
                "took_s": round(r.ended - r.started, 4),
                "detail": r.detail,
            }
            for r in steps
        ],
        "tables": tables,
        "began": began,
        "samples": samples,
    }


def _handover(result: dict[str, Any], spec: ClusterSpec) -> dict[str, Any]:
    """The master restart's two outages (the longest gap between good answers in each
    window): the handover, from its first change until keepalived stops on the master
    (a backup by then), against the backup's skew time + 0.1 s; and the master's return,
    from then on."""
    steps = result["steps"]
    first = next(s["at_s"] for s in steps if s["kind"] in ("apply", "stop"))
    stop = next(s["at_s"] for s in steps if s["kind"] == "stop")
    handover = [g for g in result["gaps"] if first <= g["start_s"] < stop]
    back = [g for g in result["gaps"] if g["start_s"] >= stop]
    failed = [s[0] - result["began"] for s in result["samples"] if s[2] != "ok"]
    backup = sorted(spec.directors, key=lambda d: d.priority)[-2]
    instance = spec.vrrp.instances[0]
    skew = theory.skew_time(backup.priority, instance.advert_int, instance.version)
    outage_s = max((g["duration_s"] for g in handover), default=0.0)
    return {
        "handover_outage_s": outage_s,
        "handover_failed": sum(1 for at in failed if first <= at < stop),
        "return_outage_s": max((g["duration_s"] for g in back), default=0.0),
        "return_failed": sum(1 for at in failed if at >= stop),
        "skew_s": round(skew, 4),
        "target_s": round(skew + 0.1, 4),
        "within_target": outage_s <= skew + 0.1,
    }


def trial(
    lab: Lab, path: Path, progress: Progress, after_step: Callable[[StepRecord], None] | None = None
) -> list[dict[str, Any]]:
    """The six operations in order from the start spec, written to the spec file ``path``
    that each operation then changes; one record each."""
    text = start_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    spec = read_spec(text, FILENAME)[0]
    ensure_cluster(lab, spec, progress)
    master, backup = spec.master().name, min(spec.directors, key=lambda d: d.priority).name
    plans: dict[str, Callable[[str], ops.OperationPlan]] = {
        "add-server": lambda t: ops.add_server(t, FILENAME, SERVICE, ADDED),
        "weight": lambda t: ops.set_weight(t, FILENAME, SERVICE, ADDED, 3),
        "drain": lambda t: ops.drain(t, FILENAME, DRAINED, timeout=60),
        "rotate-password": lambda t: ops.rotate_password(t, FILENAME, PASSWORDS[1]),
        "restart-backup": lambda t: ops.restart(t, FILENAME, backup),
        "restart-master": lambda t: ops.restart(t, FILENAME, master),
    }
    results = []
    for kind in OPERATIONS:
        plan = plans[kind](path.read_text())
        progress(plan.title)
        if kind == "drain":
            pid, release_file = _held(lab, plan.spec("before"))

            def release(step: StepRecord, flag: Path = release_file) -> None:
                if step.step.stage == "drained" and step.step.node == master:
                    threading.Timer(RELEASE_AFTER_S, flag.touch).start()

            result = _measure(lab, plan, path, progress, _chain(release, after_step))
            wait_exit(lab, pid, 60)
        else:
            result = _measure(lab, plan, path, progress, after_step)
        if kind == "restart-master":
            result |= _handover(result, plan.spec("before"))
        progress(f"  {result['failed']} of {result['requests']} requests failed"
                 + (f"; handover outage {result['handover_outage_s']} s (target "
                    f"{result['target_s']} s)" if "target_s" in result else ""))  # fmt: skip
        results.append(result | {"spec_after": path.read_text()})
    return results


def _chain(
    first: Callable[[StepRecord], None], second: Callable[[StepRecord], None] | None
) -> Callable[[StepRecord], None]:
    def both(step: StepRecord) -> None:
        first(step)
        if second is not None:
            second(step)

    return both


def run(lab: Lab, trials: int, path: Path, progress: Progress = print) -> dict[str, Any]:
    """``trials`` trials on the spec file ``path``; per operation, the failed requests of
    each, and the handover's outages against the target."""
    context = {"loadavg_1m_start": os.getloadavg()[0], "time": time.time()}
    runs = []
    for n in range(1, trials + 1):
        progress(f"trial {n}/{trials}")
        runs.append(trial(lab, path, progress))
    by_operation: dict[str, dict[str, Any]] = {}
    for results in runs:
        for kind, result in zip(OPERATIONS, results, strict=True):
            entry = by_operation.setdefault(kind, {"operation": result["operation"]})
            for key in ("failed", "slow", "handover_outage_s", "handover_failed",
                        "return_outage_s", "return_failed"):  # fmt: skip
                if key in result:
                    entry.setdefault(key, []).append(result[key])
            if "target_s" in result:
                entry["target_s"] = result["target_s"]
    for entry in by_operation.values():
        if "handover_outage_s" in entry:
            entry["handover_stats"] = outage.stats(entry["handover_outage_s"])
            entry["within_target"] = all(o <= entry["target_s"] for o in entry["handover_outage_s"])
    return {
        "benchmark": "day2",
        "spec": start_text(),
        "trials": trials,
        "summary": by_operation,
        "context": context | {"loadavg_1m_end": os.getloadavg()[0]},
        "runs": runs,
    }
