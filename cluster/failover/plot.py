"""A chart of measured failover times against VRRP theory, from the benchmark's JSON files.

One column per scenario: every trial's client outage (dots) and VIP takeover (crosses), and
the theory's window as a bar (from the earliest to the latest takeover the formulas allow).
Written as PNG and SVG, so docs and notebooks can take either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib import ticker

from cluster.charts import save


def chart(documents: list[dict[str, Any]], prefix: Path) -> list[Path]:
    """Draw ``documents`` (``cluster bench failover`` output) to ``prefix``.png and .svg."""
    from matplotlib import pyplot as plt  # after cluster.charts chose the off-screen back-end

    docs = [d for d in documents if d.get("benchmark") == "failover"]
    docs.sort(key=lambda d: (d["scenario"]["fault"], -d["scenario"]["advert_int"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(docs)), 4.5))
    for x, doc in enumerate(docs):
        window = doc.get("theory_window_s")
        if window:
            low, high = window
            ax.bar(x, max(high - low, 0.01), bottom=low, width=0.5, color="#cfe3f5",
                   edgecolor="#4a90c2", label="theory window" if x == 0 else None)  # fmt: skip
        trials = doc["trials"]
        spread = [x - 0.12 + 0.24 * i / max(1, len(trials) - 1) for i in range(len(trials))]
        ax.scatter(spread, [t["outage_s"] for t in trials], color="#d9534f", s=18, zorder=3,
                   label="client outage" if x == 0 else None)  # fmt: skip
        takeovers = [max(v for v in t["takeover_s"].values() if v is not None) for t in trials
                     if any(v is not None for v in t["takeover_s"].values())]  # fmt: skip
        ax.scatter(spread[: len(takeovers)], takeovers, marker="x", color="#333333", s=22,
                   zorder=3, label="VIP on the backup" if x == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(docs)))
    ax.set_xticklabels([_label(d["scenario"]) for d in docs], fontsize=8)
    ax.set_yscale("log")
    # Plain seconds on the axis: "3.5", not "3.5 x 10^0", whatever the range.
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    ax.set_ylabel("seconds after the fault (log)")
    ax.set_title("Director failover: measured against VRRP theory")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return save(fig, prefix)


def _label(scenario: dict[str, Any]) -> str:
    fault = {"dies": "master dies", "stop": "graceful stop"}.get(
        scenario["fault"], scenario["fault"]
    )
    return f"{fault}\nadvert {scenario['advert_int']:g} s, v{scenario['version']}"
