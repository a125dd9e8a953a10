"""From raw samples to outage windows and a VIP timeline; pure, so it is tested without a lab.

A probe sample is ``[sent, latency, outcome, server]`` (see :mod:`cluster.lab.traffic`). An
outage is a run of failed requests; it lasts from the last request that succeeded before the
run to the first that succeeded after it, by send time, so its resolution is the probe
interval (10 ms) and it never undercounts.

>>> samples = [[0.00, 0.01, "ok", "rs1"], [0.01, 0.50, "timeout", ""],
...            [0.02, 0.50, "timeout", ""], [0.03, 0.01, "ok", "rs2"]]
>>> outages(samples)
[Outage(start=0.0, end=0.03, failed=2, outcomes={'timeout': 2})]
>>> outages(samples)[0].duration
0.03
>>> line = "[2026-11-24T16:43:01.525930] Deleted 2: eth0    inet 192.168.0.174/32 scope global"
>>> change, = parse_monitor(line, "director01", tz=timezone.utc)
>>> change.time, change.interface, change.address, change.added
(1795538581.52593, 'eth0', '192.168.0.174', False)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo  # noqa: F401 (timezone: the doctest)
from typing import Any

Sample = list[Any]  # [sent, latency, outcome, server]


@dataclass(frozen=True)
class Outage:
    start: float  # send time of the last good request before the failures
    end: float  # send time of the first good request after them
    failed: int
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return round(self.end - self.start, 6)


def outages(samples: list[Sample]) -> list[Outage]:
    """Every run of failed requests; one still open at the end ends at the last send."""
    found: list[Outage] = []
    last_ok: float | None = None
    run: list[Sample] = []
    for sample in sorted(samples, key=lambda s: s[0]):
        if sample[2] != "ok":
            run.append(sample)
            continue
        if run:
            start = last_ok if last_ok is not None else run[0][0]
            found.append(Outage(start, sample[0], len(run), dict(Counter(s[2] for s in run))))
            run = []
        last_ok = sample[0]
    if run:
        start = last_ok if last_ok is not None else run[0][0]
        found.append(Outage(start, run[-1][0], len(run), dict(Counter(s[2] for s in run))))
    return found


@dataclass(frozen=True)
class AddressChange:
    """One line of ``ip -ts monitor address``: an address added to or removed from a link."""

    time: float
    node: str
    interface: str
    address: str
    added: bool


_MONITOR = re.compile(
    r"^\[(?P<ts>[0-9T:.-]+)\]\s+(?P<deleted>Deleted\s+)?\d+:\s+(?P<iface>\S+)\s+inet\s+"
    r"(?P<addr>[0-9.]+)/"
)


def parse_monitor(text: str, node: str, tz: tzinfo | None = None) -> list[AddressChange]:
    """IPv4 address events; ``ip -ts`` prints local time, read here in ``tz`` (default local)."""
    changes = []
    for line in text.splitlines():
        m = _MONITOR.match(line)
        if m is None:
            continue
        stamp = datetime.fromisoformat(m["ts"])
        when = (stamp.replace(tzinfo=tz) if tz else stamp).timestamp()
        changes.append(AddressChange(when, node, m["iface"], m["addr"], not m["deleted"]))
    return changes


def first_added(
    changes: list[AddressChange], address: str, node: str, after: float
) -> float | None:
    """When ``node`` got ``address`` after ``after``: the moment a VIP moved there."""
    times = [
        c.time for c in changes
        if c.added and c.address == address and c.node == node and c.time >= after
    ]  # fmt: skip
    return min(times) if times else None


def summarize(samples: list[Sample], fault_at: float) -> dict[str, Any]:
    """What the client saw around a fault: the outage that spans it, failures, latencies.

    The relevant outage is the first that ends after the fault (a failure before it is
    noise, reported among ``other_outages``).
    """
    found = outages(samples)
    main = next((o for o in found if o.end >= fault_at), None)
    ok = sorted(s[1] for s in samples if s[2] == "ok")
    return {
        "requests": len(samples),
        "failed": sum(1 for s in samples if s[2] != "ok"),
        "outage_s": main.duration if main else 0.0,
        "outage_from_fault_s": round(main.end - fault_at, 6) if main else 0.0,
        "outage_failed": main.failed if main else 0,
        "outage_outcomes": main.outcomes if main else {},
        "other_outages": [o.duration for o in found if o is not main],
        "latency_ok_median_s": ok[len(ok) // 2] if ok else None,
        "latency_ok_max_s": ok[-1] if ok else None,
        "servers": dict(Counter(s[3] for s in samples if s[2] == "ok")),
    }
