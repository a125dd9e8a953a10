"""From raw samples to outage windows and a VIP timeline; pure, so it is tested without a lab.

A probe sample is ``[sent, latency, outcome, server]`` (see :mod:`cluster.lab.traffic`). An
outage is a gap between two answers: the client got no good answer from the end of one
successful request to the end of the next. Measured on answers rather than on send times,
a request that was sent into the gap and answered after it (its SYN waited in a director's
ARP queue, say) neither shortens nor lengthens the outage. Its resolution is the probe
interval (10 ms); the failed requests that were under way during the gap are counted.

>>> samples = [[0.00, 0.01, "ok", "rs1"], [0.01, 0.50, "timeout", ""],
...            [0.02, 0.50, "timeout", ""], [0.03, 0.60, "ok", "rs2"],
...            [0.64, 0.01, "ok", "rs1"]]
>>> outages(samples, min_gap=0.1)
[Outage(start=0.01, end=0.63, failed=2, outcomes={'timeout': 2}, open=False)]
>>> outages(samples, min_gap=0.1)[0].duration
0.62
>>> line = "[2026-11-24T16:43:01.525930] Deleted 2: eth0    inet 192.168.0.174/32 scope global"
>>> change, = parse_monitor(line, "director01", tz=timezone.utc)
>>> change.time, change.interface, change.address, change.added
(1795538581.52593, 'eth0', '192.168.0.174', False)
>>> line = "[2026-11-24T16:43:01.525930] 2: eth0    inet6 2001:db8::174/128 scope global nodad "
>>> parse_monitor(line, "director02", tz=timezone.utc)[0].address
'2001:db8::174'
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo  # noqa: F401 (timezone: the doctest)
from typing import Any

Sample = list[Any]  # [sent, latency, outcome, server]


@dataclass(frozen=True)
class Outage:
    start: float  # when the last good answer before the gap arrived
    end: float  # when the first good answer after it arrived (or the probe's end, if open)
    failed: int  # failed requests that were under way during the gap
    outcomes: dict[str, int] = field(default_factory=dict)
    open: bool = False  # no good answer came after it: the service stayed down

    @property
    def duration(self) -> float:
        return round(self.end - self.start, 6)


def outages(samples: list[Sample], min_gap: float) -> list[Outage]:
    """Every gap of at least ``min_gap`` seconds between good answers, oldest first."""
    answered = sorted(s[0] + s[1] for s in samples if s[2] == "ok")
    failures = [(s[0], s[0] + s[1], s[2]) for s in samples if s[2] != "ok"]
    if not samples:
        return []
    last = max(s[0] + s[1] for s in samples)
    first = min(s[0] for s in samples)
    bounds = [(a, b, False) for a, b in itertools.pairwise(answered)]
    bounds.append((answered[-1] if answered else first, last, True))
    found = []
    for start, end, is_open in bounds:
        inside = [kind for sent, done, kind in failures if sent < end and done > start]
        if end - start >= min_gap or (is_open and inside):
            found.append(Outage(round(start, 6), round(end, 6), len(inside),
                                dict(Counter(inside)), is_open))  # fmt: skip
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
    r"^\[(?P<ts>[0-9T:.-]+)\]\s+(?P<deleted>Deleted\s+)?\d+:\s+(?P<iface>\S+)\s+inet6?\s+"
    r"(?P<addr>[0-9a-f.:]+)/"
)


def parse_monitor(text: str, node: str, tz: tzinfo | None = None) -> list[AddressChange]:
    """IPv4 and IPv6 address events; ``ip -ts`` prints local time, read here in ``tz``
    (default local)."""
    changes = []
    for line in text.splitlines():
        m = _MONITOR.match(line)
        if m is None:
            continue
        stamp = datetime.fromisoformat(m["ts"])
        when = (stamp.replace(tzinfo=tz) if tz else stamp).timestamp()
        changes.append(AddressChange(when, node, m["iface"], m["addr"], not m["deleted"]))
    return changes


def first_change(
    changes: list[AddressChange], address: str, node: str, after: float, added: bool = True
) -> float | None:
    """When ``node`` first got (or, not ``added``, lost) ``address`` after ``after``: the
    moment a VIP reached a director, or left it."""
    times = [
        c.time for c in changes
        if c.added == added and c.address == address and c.node == node and c.time >= after
    ]  # fmt: skip
    return min(times) if times else None


def summarize(
    samples: list[Sample], fault_at: float, moved_at: float | None = None, min_gap: float = 0.03
) -> dict[str, Any]:
    """What the client saw around a fault: the outage it caused, failures, latencies.

    The fault's outage is the gap (of at least ``min_gap``, three probe intervals) in
    which the VIPs reached the backup (``moved_at``); when they did not move, the longest
    gap after the fault. Other gaps (a loaded guest stalls now and then, even right at the
    fault) go to ``other_outages``.
    """
    found = outages(samples, min_gap)
    after = [o for o in found if o.end >= fault_at]
    spanning = [o for o in after if moved_at is not None and o.start <= moved_at <= o.end]
    main = spanning[0] if spanning else max(after, key=lambda o: o.duration, default=None)
    ok = sorted(s[1] for s in samples if s[2] == "ok")
    return {
        "requests": len(samples),
        "failed": sum(1 for s in samples if s[2] != "ok"),
        "outage_s": main.duration if main else 0.0,
        "outage_start_after_fault_s": round(main.start - fault_at, 6) if main else None,
        "outage_end_after_fault_s": round(main.end - fault_at, 6) if main else None,
        "outage_open": main.open if main else False,
        "outage_failed": main.failed if main else 0,
        "outage_outcomes": main.outcomes if main else {},
        "other_outages": [o.duration for o in found if o is not main],
        "latency_ok_median_s": ok[len(ok) // 2] if ok else None,
        "latency_ok_max_s": ok[-1] if ok else None,
        "servers": dict(Counter(s[3] for s in samples if s[2] == "ok")),
    }


def stats(values: list[float]) -> dict[str, float | int]:
    """Median, min and max: how every figure of the benchmark is reported."""
    ordered = sorted(values)
    return {"n": len(ordered), "median": round(ordered[len(ordered) // 2] if len(ordered) % 2
            else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2, 4),
            "min": round(ordered[0], 4), "max": round(ordered[-1], 4)}  # fmt: skip


def moved_at(trial: dict[str, Any]) -> float | None:
    """When the last VIP reached the backup in a trial, if every one did."""
    delays = list(trial["takeover_s"].values())
    if not delays or None in delays:
        return None
    return float(trial["fault_at"] + max(delays))


def back_after_release(trial: dict[str, Any]) -> float | None:
    """From the master dropping its first VIP to the client's first good answer after the
    outage. For a graceful stop that is the theory's interval: keepalived sends priority 0
    and then deletes the instance's VIPs, and the backup's skew timer starts on that advert,
    not on the SIGTERM (keepalived takes 5-60 ms to get there in the lab's guest)."""
    released = [v for v in trial.get("left_master_s", {}).values() if v is not None]
    end = trial.get("outage_end_after_fault_s")
    return round(end - min(released), 4) if released and end is not None else None


def refresh(document: dict[str, Any]) -> dict[str, Any]:
    """A ``cluster bench failover`` document with every trial's client view computed again
    from its raw samples, so that results taken before a change to this analysis read the
    same as new ones."""
    trials = [t | summarize(t["samples"], t["fault_at"], moved_at(t)) for t in document["trials"]]
    return document | {
        "trials": trials,
        "outage_s": stats([t["outage_s"] for t in trials]),
        "failed_requests": stats([t["outage_failed"] for t in trials]),
    }


Change = tuple[float, str, str, bool]  # (time, node, what: an address or an instance, holds)


def held_twice(initial: dict[str, list[str]], changes: list[Change]) -> list[tuple[float, str]]:
    """Every moment something (a VIP, or an instance's MASTER state) had two holders at
    once, replaying ``changes`` from the ``initial`` holders of each: split brain, as the
    directors' own addresses and VRRP events tell it.

    >>> held_twice({"vip": ["d1"]}, [(1.0, "d2", "vip", True), (1.2, "d1", "vip", False)])
    [(1.0, 'vip')]
    >>> held_twice({"vip": ["d1"]}, [(1.0, "d1", "vip", False), (1.2, "d2", "vip", True)])
    []
    """
    held = {what: set(nodes) for what, nodes in initial.items()}
    found = []
    for when, node, what, holds in sorted(changes):
        owners = held.setdefault(what, set())
        if holds:
            owners.add(node)
        else:
            owners.discard(node)
        if len(owners) > 1:
            found.append((when, what))
    return found
