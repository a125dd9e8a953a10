"""The smallest ordered list of IPVS changes that turns the live table into the desired one.

Rules, each for a reason:

- a setting of an existing service or real server changes with ``set``, never delete and
  re-add, because a delete drops the connections IPVS is tracking for it;
- services the desired table does not name belong to someone else (another tool, an
  operator's test) and are left alone unless ``prune=True``;
- within a service the spec owns, real servers the spec does not name are deleted: the spec
  is the whole truth for the services it names.

Pure: two tables in, a :class:`Plan` out; :meth:`Plan.applied_to` computes the result the way
the kernel would, so idempotence is testable without a kernel.

>>> import ipaddress
>>> from dataclasses import replace
>>> from cluster.ipvs.table import Destination, Service, ServiceKey, Table
>>> rs = Destination(ipaddress.ip_address("10.0.0.5"), 80, weight=1)
>>> live = Table((Service(ServiceKey.inet("TCP", "192.0.2.10", 80), "rr", destinations=(rs,)),))
>>> desired = Table((replace(live.services[0], destinations=(replace(rs, weight=3),)),))
>>> plan = make_plan(desired, live)
>>> print(plan.text(), end="")
  TCP 192.0.2.10:80 rr
~   -> 10.0.0.5:80 weight 1 -> 3
>>> make_plan(desired, plan.applied_to(live)).empty
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from cluster.ipvs.table import Destination, Service, Table, sched_flag_names

Op = Literal["add", "set", "del"]


@dataclass(frozen=True, slots=True)
class Change:
    """One netlink command: add, set or delete a service, or one of its real servers.

    ``service`` is the service as it should be after the change (as it was, for a delete);
    ``dest`` names the real server for a destination change. ``old`` is what a ``set``
    replaces, kept for the readable plan.
    """

    op: Op
    service: Service
    dest: Destination | None = None
    old: Service | Destination | None = None

    @property
    def target(self) -> Literal["service", "dest"]:
        return "service" if self.dest is None else "dest"

    def __str__(self) -> str:
        if self.dest is None:
            return f"{self.op} service {self.service.settings}"
        return f"{self.op} dest {self.service.key} -> {self.dest}"


DEST_SETTINGS = ("forwarding", "weight", "upper_threshold", "lower_threshold", "tunnel_type",
                 "tunnel_port", "tunnel_checksum")  # fmt: skip
SERVICE_SETTINGS = ("scheduler", "sched_flags", "timeout", "netmask", "one_packet", "pe_name")


def _diff(old: Service | Destination, new: Service | Destination, names: tuple[str, ...]) -> str:
    """``weight 1 -> 3``: only what differs, so a reviewer sees the change at a glance."""
    parts = []
    for name in names:
        before, after = getattr(old, name), getattr(new, name)
        if name == "sched_flags":
            before = ",".join(sched_flag_names(old.scheduler, before))  # type: ignore[union-attr]
            after = ",".join(sched_flag_names(new.scheduler, after))  # type: ignore[union-attr]
        if before != after:
            parts.append(f"{name.replace('_', ' ')} {before or '-'} -> {after or '-'}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Plan:
    """Changes in the order they must run: for each service, the service, then its servers;
    pruned services last."""

    changes: tuple[Change, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def text(self) -> str:
        """The plan as a diff for ``--dry-run``: ``+`` add, ``~`` set, ``-`` delete."""
        if self.empty:
            return "no changes\n"
        lines: list[str] = []
        shown = None
        for change in self.changes:
            mark = {"add": "+", "set": "~", "del": "-"}[change.op]
            if change.dest is None:
                settings = change.service.settings
                if change.op == "set" and isinstance(change.old, Service):
                    diff = _diff(change.old, settings, SERVICE_SETTINGS)
                    lines.append(f"~ {settings.key} {diff}")
                elif change.op == "del" and change.service.destinations:
                    count = len(change.service.destinations)
                    lines.append(f"- {settings} (and its {count} real servers)")
                else:
                    lines.append(f"{mark} {settings}")
                shown = change.service.key
                continue
            if shown != change.service.key:
                lines.append(f"  {change.service.settings}")
                shown = change.service.key
            if change.op == "set" and isinstance(change.old, Destination):
                detail = f"{change.dest.endpoint} {_diff(change.old, change.dest, DEST_SETTINGS)}"
            else:
                detail = str(change.dest)
            lines.append(f"{mark}   -> {detail}")
        return "\n".join(lines) + "\n"

    def applied_to(self, table: Table) -> Table:
        """The table after these changes, as the kernel would leave it."""
        services = table.by_key()
        for change in self.changes:
            key = change.service.key
            if change.dest is None:
                if change.op == "del":
                    services.pop(key)
                else:
                    kept = services[key].destinations if change.op == "set" else ()
                    services[key] = replace(change.service, destinations=kept)
                continue
            dests = {d.key: d for d in services[key].destinations}
            if change.op == "del":
                dests.pop(change.dest.key)
            else:
                dests[change.dest.key] = change.dest
            services[key] = replace(services[key], destinations=tuple(dests.values()))
        return replace(table, services=tuple(services.values()))


def _service_changes(want: Service, have: Service | None) -> list[Change]:
    settings = want.settings  # one copy per service: 50,000 services make it count
    if have is None:
        return [Change("add", settings)] + [
            Change("add", settings, dest) for dest in want.destinations
        ]
    changes = []
    if settings != have.settings:
        changes.append(Change("set", settings, old=have.settings))
    wanted = {d.key: d for d in want.destinations}
    for dest in have.destinations:
        if dest.key not in wanted:
            changes.append(Change("del", settings, dest))
    have_dests = {d.key: d for d in have.destinations}
    for dest in want.destinations:
        old = have_dests.get(dest.key)
        if old is None:
            changes.append(Change("add", settings, dest))
        elif old != dest:
            changes.append(Change("set", settings, dest, old=old))
    return changes


def make_plan(desired: Table, live: Table, prune: bool = False) -> Plan:
    """What to change so that ``live`` holds ``desired``; services ``desired`` does not name
    are deleted only with ``prune``."""
    have = live.by_key()
    changes = [c for want in desired for c in _service_changes(want, have.get(want.key))]
    if prune:
        wanted = desired.by_key()
        changes += [Change("del", s) for s in live if s.key not in wanted]
    return Plan(tuple(changes))
