"""How long a director is away when it reboots, and how long its first boot takes.

director01 is a lab machine (:mod:`cluster.lab.machine`): systemd as PID 1 on the lab's
kernel, its peer and the rest of the cluster in the lab's namespaces. The benchmark takes any
lab down, brings this one up, runs ``cluster apply`` on both directors, and then reboots the
machine ``trials`` times. Each trial records, from the ``systemctl reboot``:

- ``peer_master_s``: until the peer's keepalived says MASTER (the machine's keepalived sent
  priority 0 on its way down), by the peer's stamped VRRP events;
- ``agent_s``: until the machine's agent is back (a new kernel, systemd, the agent's unit);
- ``up_s``: until the machine's systemd has started every unit;
- ``master_s``: until the machine holds every VIP again (it preempts its peer);
- ``status_clean``: whether ``cluster status`` inside it then exits 0 with no drift.

The figures are recorded, never asserted: they depend on the host's load. Run it with
``cluster bench reboot [--trials N] -o out/bench-reboot.json`` (root; it leaves the lab up).
"""

from __future__ import annotations

import time
from typing import Any

from cluster.errors import LabError
from cluster.failover.bench import lab_variant
from cluster.lab import Lab, directors
from cluster.lab.guest import Progress
from cluster.lab.topology import as_machines, seed_topology
from cluster.spec import ClusterSpec, load_seed_spec

MACHINE, PEER = "director01", "director02"
#: on every kernel: the nftables back-end reads back unlike its rendering, so status would
#: report drift that is not there (the director manual's "Not done yet")
BACKEND = ("--backend", "iptables")


def trial(lab: Lab, spec: ClusterSpec) -> dict[str, Any]:
    """One reboot of the machine, timed as the module says."""
    peer = directors.keepalived(lab, PEER)
    seen = len(peer.events())
    wall, started = time.time(), time.monotonic()
    timings: dict[str, Any] = dict(lab.reboot(MACHINE))
    directors.wait_for_master(lab, spec, MACHINE, timeout=120)
    timings["master_s"] = round(time.monotonic() - started, 2)
    masters = [
        e.time for e in peer.events()[seen:] if (e.name, e.state) == ("VI_EXTERNAL", "MASTER")
    ]
    timings["peer_master_s"] = round(masters[0] - wall, 2) if masters else None
    status = directors.status(lab, MACHINE, BACKEND)
    timings["status_clean"] = status.ok and "drift: none" in status.stdout
    return timings


def bench_reboot(progress: Progress = print, trials: int = 3) -> dict[str, Any]:
    progress("taking down any running lab")
    Lab.down()
    progress(f"timing lab up with {MACHINE} as a machine (systemd, its first boot)")
    start = time.perf_counter()
    lab = Lab.up(as_machines(seed_topology(), [MACHINE]), progress=progress)
    up_s = time.perf_counter() - start
    try:
        startup = lab.run(MACHINE, "systemd-analyze", "time").stdout.strip().splitlines()
        spec = lab_variant(load_seed_spec(), None, 1, 3)
        progress("timing cluster lab apply on both directors")
        start = time.perf_counter()
        for node, result in directors.apply(lab, spec, options=BACKEND).items():
            if not result.ok:
                raise LabError(f"lab apply failed on {node}: {result.stderr.strip()}")
        apply_s = time.perf_counter() - start
        directors.wait_for_master(lab, spec, MACHINE)
        results = []
        for number in range(1, trials + 1):
            progress(f"reboot {number} of {trials}")
            results.append(trial(lab, spec))
            progress(f"  {results[-1]}")
    finally:
        lab.close()
    return {
        "benchmark": "reboot",
        "machine": MACHINE,
        "lab_up_s": round(up_s, 2),
        "machine_first_startup": startup[0] if startup else "",
        "lab_apply_s": round(apply_s, 2),
        "trials": results,
    }
