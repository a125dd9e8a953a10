"""The control plane at scale: how long loading an IPVS table takes through our netlink path
and through ``ipvsadm-restore``, and one weight change in the loaded table.

Thin over ``cluster bench ipvs`` (:mod:`cluster.bench.ipvs`), which clears the IPVS table of
the namespace it runs in: in the lab it runs in the router, which holds no service; never on
a director in service. Its chart is the benchmark's own (:func:`cluster.bench.plot.charts`).

>>> doc = {"sizes": [{"services": 100, "other_entries_unchanged": True, "median": {
...        "ours_in_process_s": 0.05, "ours_process_s": 0.4, "ipvsadm_restore_s": 0.2,
...        "weight_change_ms": 0.4, "read_plan_apply_ms": 3.0}}]}
>>> print(table(doc).text())  # doctest: +NORMALIZE_WHITESPACE
Loading a table of N services, 4 real servers each (median); one weight change in it
services  ours, in process (s)  cluster ipvs restore (s)  ipvsadm-restore (s)  weight change (ms)
100       0.05                  0.4                       0.2                  0.4
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cluster.course.figures import FIGURES, Chart
from cluster.course.target import Target
from cluster.views import Note, Shows, SpecTable

NODE = "router"
SERIES = (
    ("ours_in_process_s", "ours, in process (s)"),
    ("ours_process_s", "cluster ipvs restore (s)"),
    ("ipvsadm_restore_s", "ipvsadm-restore (s)"),
    ("weight_change_ms", "weight change (ms)"),
)


def table(document: dict[str, Any]) -> SpecTable:
    """One row per table size: the three ways to load it, and one weight change in it."""
    rows = [
        (str(size["services"]), *(f"{size['median'][key]:g}" for key, _ in SERIES))
        for size in document["sizes"]
    ]
    return SpecTable(
        "Loading a table of N services, 4 real servers each (median); one weight change in it",
        ("services", *(label for _, label in SERIES)),
        rows,
    )


def chart(document: dict[str, Any]) -> Chart:
    """Load time against size, and the weight change against its 50 ms target."""
    from cluster.bench.plot import charts

    return Chart.drawn(charts(document, FIGURES / "control-plane"), [document])


def run(target: Target, sizes: Sequence[int] = (100, 1000), repeat: int = 1) -> Shows:
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

    argv = ["bench", "ipvs", "--sizes", ",".join(map(str, sizes)), "--repeat", str(repeat)]
    done = target.lab.run_cluster(NODE, *argv, timeout=3600).check()
    document = {**json.loads(done.stdout), "provenance": collect(target.lab.state)}
    biggest = document["sizes"][-1]
    unchanged = all(size["other_entries_unchanged"] for size in document["sizes"])
    note = Note(
        f"one weight change in a table of {biggest['services']} services: "
        f"{biggest['median']['weight_change_ms']} ms for the netlink set, "
        f"{biggest['median']['read_plan_apply_ms']} ms to read, plan and apply; every other "
        f"entry unchanged at every size: {unchanged}",
        "ok" if unchanged else "problem",
    )
    return Shows((table(document), note, chart(document)))
