"""The benchmarks' charts, from their JSON documents: PNG and SVG, each with a footer that says
where its figures came from (:func:`cluster.charts.where`).

- ``load``: requests per real server (from the servers' logs) beside IPVS's connections, and
  the latency CDF of each trial;
- ``sweep``: requests per real server for each scheduler and weight set, the model's
  prediction marked on each bar;
- ``ipvs``: the time to load a table against its size, ours and ``ipvsadm-restore``, on log
  axes.

Colours are told apart by hatching as well, so the charts survive a black-and-white print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib import ticker

from cluster.charts import save
from cluster.errors import UsageError

MEASURED, IPVS, PREDICTED = "#4a90c2", "#f0ad4e", "#222222"


def charts(document: dict[str, Any], prefix: Path) -> list[Path]:
    """Every chart of one benchmark document, as ``PREFIX-<what>.png`` and ``.svg``."""
    kind = document.get("benchmark")
    draw = {"load": _load, "sweep": _sweep, "ipvs": _ipvs}.get(str(kind))
    if draw is None:
        raise UsageError(f"no charts for a {kind!r} document; charts draw load, sweep, ipvs")
    return draw(document, prefix)


def _named(prefix: Path, what: str) -> Path:
    return prefix.with_name(f"{prefix.name}-{what}")


def _load(document: dict[str, Any], prefix: Path) -> list[Path]:
    return _load_split(document, prefix) + latency_cdf([document], _named(prefix, "latency"))


def _load_split(document: dict[str, Any], prefix: Path) -> list[Path]:
    from matplotlib import pyplot as plt  # after cluster.charts chose the off-screen back-end

    servers = list(document["split"])
    names = [f"{document['servers'].get(s, s)}\n{s}" for s in servers]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = range(len(servers))
    requests = [document["split"][s] for s in servers]
    conns = [document["ipvs_split"].get(s, 0) for s in servers]
    ax.bar([x - 0.2 for x in xs], requests, 0.4, color=MEASURED, label="requests (real server)")
    ax.bar([x + 0.2 for x in xs], conns, 0.4, color=IPVS, hatch="//",
           label="connections (IPVS)")  # fmt: skip
    for x, n in zip(xs, requests, strict=True):
        ax.annotate(str(n), (x - 0.2, n), ha="center", va="bottom", fontsize=8)
    for x, n in zip(xs, conns, strict=True):
        ax.annotate(str(n), (x + 0.2, n), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), names, fontsize=8)
    ax.set_ylabel(f"over {document['trials']} trials")
    ax.set_title(
        f"ab -n {document['requests']} -c {document['concurrency']}"
        f"{' -k' if document['keepalive'] else ''} to {document['url']}: "
        f"{document['complete']} requests",
        fontsize=9,
    )
    ax.set_ylim(0, max([*requests, *conns, 1]) * 1.3)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    return save(fig, _named(prefix, "split"), [document])


def latency_cdf(documents: list[dict[str, Any]], prefix: Path) -> list[Path]:
    """Each load trial's latency as a CDF, from ``ab -e``'s percentile table."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for doc in documents:
        for n, trial in enumerate(doc["runs"], 1):
            table = trial["percentiles_ms"]
            label = f"-c {doc['concurrency']}, trial {n}: p50 {trial['latency_ms']['p50']:g} ms"
            ax.step(table, [p / 100 for p in range(len(table))], where="post", label=label)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("share of requests served within")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Latency through the VIP (ab)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save(fig, prefix, documents)


def _sweep(document: dict[str, Any], prefix: Path) -> list[Path]:
    """One group of bars per run, one bar per real server; the model's count is a black mark
    across each bar, and a run whose connections all went where the model said is ticked."""
    from matplotlib import pyplot as plt

    runs = document["runs"]
    servers = sorted(document["servers"])
    fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * len(runs)), 4.8))
    width = 0.8 / len(servers)
    colours, hatches = (MEASURED, IPVS, "#5cb85c", "#9b59b6"), ("", "//", "..", "xx")
    for i, server in enumerate(servers):
        xs = [x - 0.4 + width * (i + 0.5) for x in range(len(runs))]
        measured = [r["measured_split"].get(server, 0) for r in runs]
        predicted = [r["predicted_split"].get(server, 0) for r in runs]
        ax.bar(xs, measured, width, color=colours[i % 4], hatch=hatches[i % 4],
               edgecolor="white", label=f"{document['servers'][server]} ({server})")  # fmt: skip
        ax.scatter(xs, predicted, marker="_", s=(width * 60) ** 2, color=PREDICTED, zorder=3,
                   linewidths=2, label="model's prediction" if i == 0 else None)  # fmt: skip
    top = max(r["connections"] for r in runs)
    for x, run in enumerate(runs):
        ax.annotate("exact" if run["exact"] else "DIFFERS", (x, top * 1.02), ha="center",
                    fontsize=7, color="#2e7d32" if run["exact"] else "#c62828")  # fmt: skip
    ax.set_xticks(range(len(runs)), [r["name"].replace(" ", "\n", 1) for r in runs], fontsize=7)
    ax.set_ylim(0, top * 1.25)
    ax.set_ylabel("connections (one request each)")
    exact = sum(r["exact"] for r in runs)
    ax.set_title(f"Scheduler sweep: requests per real server, measured and predicted "
                 f"({exact} of {len(runs)} runs exact)", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7, loc="upper center", ncol=len(servers) + 1, bbox_to_anchor=(0.5, -0.2))
    return save(fig, _named(prefix, "split"), [document])


def _ipvs(document: dict[str, Any], prefix: Path) -> list[Path]:
    """Left: the time to load a table against its size, on log axes; right: one weight
    change in that table, against the 50 ms target."""
    from matplotlib import pyplot as plt

    sizes = document["sizes"]
    xs = [s["services"] for s in sizes]
    fig, (load, change) = plt.subplots(1, 2, figsize=(10, 4.2))
    for key, label, style in (
        ("ipvsadm_restore_s", "ipvsadm-restore", dict(color=IPVS, marker="s", linestyle="--")),
        ("ours_process_s", "cluster ipvs restore (a process)", dict(color=MEASURED, marker="o")),
        ("ours_in_process_s", "ours in process (netlink)",
         dict(color=MEASURED, marker="^", linestyle=":")),
    ):  # fmt: skip
        ys = [s["median"][key] for s in sizes]
        load.plot(xs, ys, label=label, **style)  # type: ignore[arg-type]
        for x, y in zip(xs, ys, strict=True):
            load.annotate(f"{y:.3g} s", (x, y), textcoords="offset points", xytext=(4, 4),
                          fontsize=7)  # fmt: skip
    for ax in (load, change):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.grid(alpha=0.3, which="both")
        ax.set_xlabel("virtual services (4 real servers each, log)")
    load.set_ylabel("seconds to load an empty table (log)")
    load.set_title("Loading the table", fontsize=9)
    load.legend(fontsize=7, loc="upper left")
    for key, label, marker in (
        ("weight_change_ms", "the netlink set alone", "o"),
        ("read_plan_apply_ms", "read, plan and apply one service", "^"),
    ):
        change.plot(xs, [s["median"][key] for s in sizes], marker=marker, label=label,
                    color=MEASURED if marker == "o" else PREDICTED)  # fmt: skip
    change.axhline(50, color="#c62828", linestyle="--", label="target: 50 ms")
    change.set_ylabel("milliseconds (log)")
    change.set_title("One weight change in the loaded table", fontsize=9)
    change.legend(fontsize=7, loc="center right")
    return save(fig, _named(prefix, "scale"), [document])
