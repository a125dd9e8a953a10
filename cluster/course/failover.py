"""Failover against VRRP theory, the 2007 cable pull and its fix, and the timing formula.

Thin over :mod:`cluster.failover` (the trials, the report and the chart); a notebook runs a
few trials by default and all of them with a parameter, and each document is saved as JSON
(with where it ran) in ``out/failover/``, where the timing notebook finds measured points.

>>> doc = {"benchmark": "failover", "scenario": {"fault": "dies", "advert_int": 0.1,
...        "version": 3}, "trials": [{"takeover_s": {"192.168.0.174": 0.31, "x": None}}]}
>>> points([doc])
[('dies', 0.1, 3, 0.31)]
>>> print(formula(50, (1.0,)).text())  # doctest: +NORMALIZE_WHITESPACE
VRRP timing for a backup of priority 50
advert_int  version  skew_time  master_down_interval  VIP moves after a crash  after a graceful stop
1 s         v2       0.805 s    3.805 s               2.805-3.805 s            0.805 s
1 s         v3       0.805 s    3.805 s               2.805-3.805 s            0.805 s
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cluster.course.figures import FIGURES, Chart, show
from cluster.course.target import Target
from cluster.failover import theory
from cluster.provenance import CHECKOUT
from cluster.views import Markdown, Note, Shows, SpecTable

RESULTS = CHECKOUT / "out" / "failover"
SCENARIOS: tuple[tuple[str, float, int], ...] = (("dies", 0.1, 3), ("stop", 0.1, 3))
CABLE_LAYOUTS = ("split", "fixed")
CABLE_ROWS: list[tuple[str, str | None, str]] = [("link-down", "eth0", "master")]
SAVED_CABLE_PULL = CHECKOUT / "notebooks" / "data" / "cable-pull.json"
"""A saved run of the default rows (raw samples left out): the cable-pull notebook shows it
unless told to run, since each layout costs a fresh election and a trial (about a minute)."""


def _save(document: dict[str, Any], name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"notebook-{name}.json").write_text(json.dumps(document, indent=1) + "\n")


def saved(folder: Path = RESULTS, kind: str = "failover") -> list[dict[str, Any]]:
    """The benchmark documents of ``kind`` saved in ``folder``, oldest first."""
    documents = [
        json.loads(p.read_text())
        for p in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    ]
    return [d for d in documents if d.get("benchmark") == kind]


def trials(
    target: Target,
    scenarios: Sequence[tuple[str, float, int]] = SCENARIOS,
    count: int = 1,
    folder: Path = RESULTS,
) -> list[dict[str, Any]]:
    """``count`` trials of each (fault, advert_int, VRRP version) in the lab; each document
    saved to ``folder``. On "this machine", the documents already saved there."""
    if target.lab is None:
        return saved(folder)
    from cluster.failover.bench import Scenario, run
    from cluster.provenance import collect

    documents = []
    for fault, advert, version in scenarios:
        scenario = Scenario(fault, advert, version)
        document = {**run(target.lab, scenario, count), "provenance": collect(target.lab.state)}
        _save(document, scenario.name, folder)
        documents.append(document)
    return documents


def measured(target: Target, folder: Path = RESULTS) -> list[dict[str, Any]]:
    """The failover documents saved in ``folder``; with none there, one trial of each
    default scenario now (on the lab)."""
    return saved(folder) or trials(target, folder=folder)


def report(documents: list[dict[str, Any]], name: str = "failover") -> Shows:
    """The measured times against the theory's window, as a table and a chart."""
    from cluster.failover.outage import refresh
    from cluster.failover.plot import chart
    from cluster.failover.report import markdown

    if not documents:
        return Shows((Note("no failover results: run this notebook on the lab", "skipped"),))
    documents = [refresh(d) for d in documents]
    drawn = Chart.drawn(chart(documents, FIGURES / name), documents)  # timelines follow
    return Shows((Markdown(markdown(documents)), drawn))


def cable_pull(
    target: Target,
    layouts: Sequence[str] = CABLE_LAYOUTS,
    rows: list[tuple[str, str | None, str]] | None = CABLE_ROWS,
    count: int = 1,
    run: bool = False,
    advert_int: float = 1.0,
    version: int = 2,
    folder: Path = RESULTS,
) -> Shows:
    """The article's cable pull on each layout (``rows``: the faults, by default the master's
    external cable; None for the whole table), its verdicts as a table and a chart. Without
    ``run``, the saved run (:data:`SAVED_CABLE_PULL`)."""
    from cluster.failover.report import markdown

    if not run:
        document = json.loads(SAVED_CABLE_PULL.read_text())
        note = Note(
            f"saved results ({SAVED_CABLE_PULL.name}); set RUN = True to measure them "
            "again in the lab",
            "note",
        )
        return Shows((note, Markdown(markdown([document])), cable_chart(document)))
    if target.lab is None:
        return Shows((Note("pulling cables needs the lab", "skipped"),))
    from cluster.failover.bench import CABLE_ROWS as ALL
    from cluster.failover.bench import run_cable_table
    from cluster.provenance import collect

    chosen = ALL if rows is None else rows
    document = run_cable_table(target.lab, list(layouts), count, advert_int, version, rows=chosen)
    document["provenance"] = collect(target.lab.state)
    _save(document, f"cable-pull-{'-'.join(layouts)}", folder)
    return Shows((Markdown(markdown([document])), cable_chart(document)))


OUTCOMES = {"service ok": "#5cb85c", "service DOWN": "#d9534f"}


def cable_chart(document: dict[str, Any]) -> Chart:
    """A grid: one row per fault, one column per layout, green where the service stayed up,
    red where it went down; each cell says where the VIPs ended."""
    from matplotlib import pyplot as plt

    layouts = list(dict.fromkeys(c["layout"] for c in document["cells"]))
    faults = list(dict.fromkeys((c["fault"], c["links"], c["on"]) for c in document["cells"]))
    fig, ax = plt.subplots(figsize=(2.6 * len(layouts) + 2.5, 0.9 * len(faults) + 1.2))
    for y, fault in enumerate(faults):
        for x, layout in enumerate(layouts):
            cell = next(
                c
                for c in document["cells"]
                if c["layout"] == layout and (c["fault"], c["links"], c["on"]) == fault
            )
            words = "; ".join(cell["verdicts"])
            colour = OUTCOMES["service DOWN"] if "DOWN" in words else OUTCOMES["service ok"]
            ax.add_patch(plt.Rectangle((x, y), 0.96, 0.9, color=colour, alpha=0.35))
            ax.text(
                x + 0.48, y + 0.45, words.replace(", ", "\n"), ha="center", va="center", fontsize=7
            )
    ax.set_xlim(0, len(layouts))
    ax.set_ylim(len(faults), 0)
    ax.set_xticks([x + 0.48 for x in range(len(layouts))])
    ax.set_xticklabels(layouts)
    ax.set_yticks([y + 0.45 for y in range(len(faults))])
    ax.set_yticklabels([f"{on}: {kind} {links or ''}" for kind, links, on in faults], fontsize=8)
    ax.set_title(
        f"Cable pulls, advert_int {document['advert_int']:g}, VRRPv{document['version']}",
        fontsize=10,
    )
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return show(fig, "cable-pull", document["provenance"])


def points(documents: list[dict[str, Any]]) -> list[tuple[str, float, int, float]]:
    """Every trial's takeover (the later VIP's), as (fault, advert_int, version, seconds)."""
    found = []
    for doc in documents:
        scenario = doc["scenario"]
        for trial in doc["trials"]:
            moves = [v for v in trial["takeover_s"].values() if v is not None]
            if moves:
                found.append(
                    (scenario["fault"], scenario["advert_int"], scenario["version"], max(moves))
                )
    return found


def formula(priority: int, adverts: Sequence[float] = (0.1, 1.0, 5.0)) -> SpecTable:
    """``master_down_interval`` and the takeover windows at a few advert intervals."""
    rows = []
    for advert in adverts:
        for version in (2, 3):
            low, high = theory.takeover_window(priority, advert, version)
            rows.append(
                (
                    f"{advert:g} s",
                    f"v{version}",
                    f"{theory.skew_time(priority, advert, version):.3f} s",
                    f"{theory.master_down_interval(priority, advert, version):.3f} s",
                    f"{low:.3f}-{high:.3f} s",
                    f"{theory.takeover_window(priority, advert, version, True)[0]:.3f} s",
                )
            )
    return SpecTable(
        f"VRRP timing for a backup of priority {priority}",
        (
            "advert_int",
            "version",
            "skew_time",
            "master_down_interval",
            "VIP moves after a crash",
            "after a graceful stop",
        ),
        rows,
    )


def timing_chart(
    priority: int, documents: list[dict[str, Any]], provenance: dict[str, Any]
) -> Chart:
    """The formula against advert_int, VRRPv2 and v3, with every measured takeover on it."""
    from matplotlib import pyplot as plt

    adverts = [0.05 * 1.06**n for n in range(90)]
    adverts = [a for a in adverts if a <= 10]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for version, colour in ((3, "#4a90c2"), (2, "#8e44ad")):
        usable = [a for a in adverts if a >= 1] if version == 2 else adverts
        low = [theory.takeover_window(priority, a, version)[0] for a in usable]
        high = [theory.takeover_window(priority, a, version)[1] for a in usable]
        ax.fill_between(
            usable,
            low,
            high,
            color=colour,
            alpha=0.2,
            label=f"VRRPv{version}: crash, the VIP moves in here",
        )
        ax.plot(
            usable,
            [theory.skew_time(priority, a, version) for a in usable],
            color=colour,
            linestyle="--",
            label=f"VRRPv{version}: graceful stop (skew_time)",
        )
    marks = {"dies": ("o", "measured: master dies"), "stop": ("x", "measured: graceful stop")}
    shown = set()
    for fault, advert, version, seconds in points(documents):
        marker, words = marks.get(fault, ("s", f"measured: {fault}"))
        label = f"{words}, v{version}"
        ax.scatter(
            [advert],
            [seconds],
            marker=marker,
            color="#d9534f",
            zorder=3,
            s=30,
            label=None if label in shown else label,
        )
        shown.add(label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("advert_int (s)")
    ax.set_ylabel("seconds from the fault to the VIP on the backup")
    ax.set_title(
        f"master_down_interval = 3 x advert_int + skew_time (backup priority {priority})",
        fontsize=10,
    )
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return show(fig, "vrrp-timing", provenance)
