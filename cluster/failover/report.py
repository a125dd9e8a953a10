"""The benchmark's JSON documents as a Markdown table: measured next to theory (pure).

Every figure is median / min / max over the trials, so a reader sees the spread, not only a
typical value.
"""

from __future__ import annotations

from typing import Any

from cluster.failover.outage import back_after_release, stats


def _mmm(stats: dict[str, float]) -> str:
    return f"{stats['median']:g} / {stats['min']:g} / {stats['max']:g}"


def _takeovers(doc: dict[str, Any]) -> dict[str, float]:
    """The later of the VIPs' takeover times per trial, as median/min/max."""
    return _mmm_of(
        [
            max(v for v in t["takeover_s"].values() if v is not None)
            for t in doc["trials"]
            if any(v is not None for v in t["takeover_s"].values())
        ]
    )


def _mmm_of(values: list[float]) -> dict[str, float]:
    nan = float("nan")
    return stats(values) if values else {"median": nan, "min": nan, "max": nan}


def markdown(documents: list[dict[str, Any]]) -> str:
    timed = [d for d in documents if d.get("benchmark") == "failover"]
    rows = []
    if timed:
        rows += [
            "| scenario | trials | theory: VIP moves after (s) | VIP on the backup (s) "
            "| client outage (s) | service back after the master let go (s) "
            "| failed requests |",
            "|---|---|---|---|---|---|---|",
        ]
    for doc in timed:
        window = doc.get("theory_window_s")
        if not window:
            theory = "-"
        elif window[0] == window[1]:
            theory = f"{window[0]:.3f}"
        else:
            theory = f"{window[0]:.3f}-{window[1]:.3f}"
        released = [b for t in doc["trials"] if (b := back_after_release(t)) is not None]
        back = _mmm(_mmm_of(released)) if released else "-"
        rows.append(
            f"| {doc['scenario']['name']} | {doc['outage_s']['n']} | {theory} "
            f"| {_mmm(_takeovers(doc))} | {_mmm(doc['outage_s'])} | {back} "
            f"| {_mmm(doc['failed_requests'])} |"
        )
    connections = [d for d in documents if d.get("benchmark") == "failover-connections"]
    for doc in connections:
        rows += [
            *([""] if rows else []),
            f"| connections held through a master crash ({doc['conns']} per trial, advert_int "
            f"{doc['advert_int']:g}) | trials | share that survived |",
            "|---|---|---|",
        ]
        for kind, shares in doc["survived_share"].items():
            rows.append(f"| {kind} | {shares['n']} | {_mmm(shares)} |")
    for doc in (d for d in documents if d.get("benchmark") == "failover-cable"):
        layouts = list(dict.fromkeys(c["layout"] for c in doc["cells"]))
        rows += [
            *([""] if rows else []),
            f"| fault (advert_int {doc['advert_int']:g}, VRRPv{doc['version']}) | "
            + " | ".join(layouts)
            + " |",
            "|---|" + "---|" * len(layouts),
        ]
        faults = list(dict.fromkeys((c["fault"], c["links"], c["on"]) for c in doc["cells"]))
        for fault, links, on in faults:
            cells = {c["layout"]: c for c in doc["cells"]
                     if (c["fault"], c["links"], c["on"]) == (fault, links, on)}  # fmt: skip
            words = " | ".join("; ".join(cells[layout]["verdicts"]) for layout in layouts)
            rows.append(f"| {on}: {fault} {links or ''} | {words} |")
    return "\n".join(rows) + "\n"
