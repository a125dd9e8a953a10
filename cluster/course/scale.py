"""The control plane at scale: how long loading an IPVS table takes through our netlink path
and through ``ipvsadm-restore``, and one weight change in a big table.

Thin over ``cluster bench ipvs`` (:mod:`cluster.bench.ipvs`), which clears the IPVS table of
the namespace it runs in: in the lab it runs in the router, which holds no service; never on
a director in service.

>>> doc = {"load": [{"services": 100, "median": {"ours_in_process_s": 0.05,
...        "ours_process_s": 0.4, "ipvsadm_restore_s": 0.2}}],
...        "weight_change": {"services": 100, "set_only_ms": 0.4, "read_plan_apply_ms": 3.0,
...                          "other_entries_unchanged": True}}
>>> print(table(doc).text())  # doctest: +NORMALIZE_WHITESPACE
Loading a table of N services, 4 real servers each (median seconds)
services  ours, in process  cluster ipvs restore  ipvsadm-restore
100       0.05              0.4                   0.2
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cluster.course.figures import Chart, show
from cluster.course.target import Target
from cluster.views import Note, Shows, SpecTable

NODE = "router"
SERIES = (
    ("ours_in_process_s", "ours, in process"),
    ("ours_process_s", "cluster ipvs restore"),
    ("ipvsadm_restore_s", "ipvsadm-restore"),
)


def table(document: dict[str, Any]) -> SpecTable:
    rows = [
        (str(load["services"]), *(f"{load['median'][key]:g}" for key, _ in SERIES))
        for load in document["load"]
    ]
    return SpecTable(
        "Loading a table of N services, 4 real servers each (median seconds)",
        ("services", *(label for _, label in SERIES)),
        rows,
    )


def chart(document: dict[str, Any]) -> Chart:
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [load["services"] for load in document["load"]]
    for (key, label), marker in zip(SERIES, "os^", strict=True):
        ax.plot(
            sizes, [load["median"][key] for load in document["load"]], marker=marker, label=label
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("services (4 real servers each)")
    ax.set_ylabel("seconds to load into an empty table")
    ax.set_title("IPVS control plane: netlink against ipvsadm-restore", fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return show(fig, "control-plane", document["provenance"])


def run(
    target: Target, sizes: Sequence[int] = (10, 25), weight_in: int = 25, repeat: int = 1
) -> Shows:
    """``cluster bench ipvs`` in the lab's router, with ``sizes`` services."""
    if target.lab is None:
        return Shows(
            (
                Note(
                    "the benchmark clears the IPVS table where it runs: never on a "
                    "director in service; run it on the lab",
                    "skipped",
                ),
            )
        )
    from cluster.provenance import collect

    argv = [
        "bench",
        "ipvs",
        "--sizes",
        ",".join(map(str, sizes)),
        "--weight-in",
        str(weight_in),
        "--repeat",
        str(repeat),
    ]
    done = target.lab.run_cluster(NODE, *argv, timeout=3600).check()
    document = {**json.loads(done.stdout), "provenance": collect(target.lab.state)}
    change = document["weight_change"]
    note = Note(
        f"one weight change in a table of {change['services']} services: "
        f"{change['set_only_ms']} ms for the netlink set, {change['read_plan_apply_ms']} "
        "ms to read, plan and apply; every other entry unchanged: "
        f"{change['other_entries_unchanged']}",
        "ok" if change["other_entries_unchanged"] else "problem",
    )
    return Shows((table(document), note, chart(document)))
