"""Charts of measured failover against VRRP theory, from the benchmark's JSON files.

- :func:`chart`: one column per scenario (fault and advert_int): every trial's client outage
  as a box plot with its trials as dots, the VIP's takeover as crosses, and the theory's
  window (from the earliest to the latest takeover the formulas allow) as a shaded band;
- :func:`timeline`: one trial second by second: which director held the VIP, and each
  failed request as a tick, against the fault and the theory's window.

Written as PNG and SVG, each with a footer that says where the trials ran, so docs and
notebooks can take either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib import ticker

from cluster.charts import save
from cluster.failover.outage import moved_at

THEORY, OUTAGE, TAKEOVER = "#cfe3f5", "#d9534f", "#333333"


def _takeovers(trials: list[dict[str, Any]]) -> list[float]:
    return [
        max(v for v in t["takeover_s"].values() if v is not None)
        for t in trials
        if any(v is not None for v in t["takeover_s"].values())
    ]


def chart(documents: list[dict[str, Any]], prefix: Path) -> list[Path]:
    """Draw ``documents`` (``cluster bench failover`` output) to ``prefix``.png and .svg,
    and the first trial of each as ``prefix-timeline-N``."""
    from matplotlib import pyplot as plt  # after cluster.charts chose the off-screen back-end

    docs = [d for d in documents if d.get("benchmark") == "failover"]
    docs.sort(key=lambda d: (d["scenario"]["fault"], -d["scenario"]["advert_int"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(docs)), 4.8))
    for x, doc in enumerate(docs):
        window = doc.get("theory_window_s")
        if window:
            low, high = window
            ax.fill_between(
                [x - 0.35, x + 0.35], low, max(high, low * 1.02), color=THEORY,
                edgecolor="#4a90c2", label="theory window" if x == 0 else None,
            )  # fmt: skip
        outages = [t["outage_s"] for t in doc["trials"]]
        ax.boxplot([outages], positions=[x], widths=0.4, showfliers=False,
                   medianprops={"color": OUTAGE}, manage_ticks=False)  # fmt: skip
        spread = [x - 0.1 + 0.2 * i / max(1, len(outages) - 1) for i in range(len(outages))]
        ax.scatter(spread, outages, color=OUTAGE, s=14, zorder=3,
                   label="client outage (a trial)" if x == 0 else None)  # fmt: skip
        takeovers = _takeovers(doc["trials"])
        ax.scatter(spread[: len(takeovers)], takeovers, marker="x", color=TAKEOVER, s=22,
                   zorder=3, label="VIP on the backup" if x == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(docs)), [_label(d["scenario"]) for d in docs], fontsize=8)
    ax.set_yscale("log")
    # Plain seconds on the axis: "3.5", not "3.5 x 10^0", whatever the range.
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    ax.set_ylabel("seconds after the fault (log)")
    ax.set_title("Director failover: client outage per scenario against VRRP theory",
                 fontsize=10)  # fmt: skip
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    paths = save(fig, prefix, docs)
    for n, doc in enumerate(docs, 1):
        paths += timeline(doc, prefix.with_name(f"{prefix.name}-timeline-{n}"))
    return paths


def holders(trial: dict[str, Any], first: str, vip: str) -> list[tuple[str, float, float]]:
    """(director, from, to) in seconds after the fault: who held ``vip`` when, from the
    trial's address changes; ``first`` held it before them.

    >>> trial = {"fault_at": 100.0, "samples": [[99.0, 0.01, "ok", "rs1"], [104.0, 0.01, "ok", ""]],
    ...          "address_changes": [
    ...     {"time": 103.5, "node": "d2", "interface": "eth0", "address": "v", "added": True},
    ...     {"time": 103.6, "node": "d1", "interface": "eth0", "address": "v", "added": False}]}
    >>> holders(trial, "d1", "v")
    [('d1', -1.0, 3.6), ('d2', 3.5, 4.01)]
    """
    at, samples = trial["fault_at"], trial["samples"]
    start = min(s[0] for s in samples) - at if samples else -1.0
    end = max(s[0] + s[1] for s in samples) - at if samples else 0.0
    held: dict[str, float] = {first: start}
    spans = []
    for change in sorted(trial["address_changes"], key=lambda c: c["time"]):
        if change["address"] != vip:
            continue
        node, when = change["node"], round(change["time"] - at, 4)
        if change["added"] and node not in held:
            held[node] = when
        elif not change["added"] and node in held:
            spans.append((node, held.pop(node), when))
    spans += [(node, since, round(end, 4)) for node, since in held.items()]
    return sorted(spans, key=lambda s: s[1])


def timeline(doc: dict[str, Any], prefix: Path, trial: int = 0) -> list[Path]:
    """One trial: the VIP's holder over time and each failed request as a tick."""
    from matplotlib import pyplot as plt

    run = doc["trials"][trial]
    at = run["fault_at"]
    priorities = doc.get("priorities") or {}
    directors = sorted(priorities, key=lambda d: -priorities[d]) or sorted(
        {c["node"] for c in run["address_changes"]}
    )
    vip = next((c["address"] for c in run["address_changes"]), "")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    rows = {name: i for i, name in enumerate(reversed(directors), 1)}
    for node, start, end in holders(run, directors[0] if directors else "", vip):
        ax.broken_barh([(start, end - start)], (rows.get(node, 0) - 0.3, 0.6),
                       color="#4a90c2")  # fmt: skip
    failed = [s[0] - at for s in run["samples"] if s[2] != "ok"]
    ax.vlines(failed, -0.3, 0.3, color=OUTAGE, linewidth=0.8, label=f"{len(failed)} failed")
    window = run.get("theory_window_s")
    if window:
        ax.axvspan(window[0], max(window[1], window[0] + 0.01), color=THEORY, alpha=0.6,
                   label="theory: VIP moves")  # fmt: skip
    moved = moved_at(run)
    if moved is not None:
        ax.axvline(moved - at, color=TAKEOVER, linestyle=":", label="VIP on the backup")
    ax.axvline(0, color="#c62828", label="fault")
    ax.set_yticks([0, *rows.values()], ["failed requests", *rows])
    ax.set_ylim(-0.6, len(rows) + 0.6)
    ax.set_xlabel("seconds after the fault")
    ax.set_title(
        f"{doc['scenario']['name']}, trial {trial + 1}: who holds {vip}, and the client's "
        f"failed requests (outage {run['outage_s']:.3f} s)",
        fontsize=9,
    )
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right", ncol=4)
    return save(fig, prefix, [doc])


def _label(scenario: dict[str, Any]) -> str:
    fault = {"dies": "master dies", "stop": "graceful stop"}.get(
        scenario["fault"], scenario["fault"]
    )
    return f"{fault}\nadvert {scenario['advert_int']:g} s, v{scenario['version']}"
