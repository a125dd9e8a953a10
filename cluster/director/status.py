"""How a director stands against its spec: drift, keepalived, and every real server's place.

Pure: it judges state that :func:`cluster.director.apply.read_status` gathered. The one
subtle rule is the issue's: when keepalived owns the IPVS table, a real server missing from
it because its health check fails is keepalived doing its job, not drift for ``cluster
apply`` to repair; only a real server missing while its check passes is drift.

>>> import ipaddress
>>> from dataclasses import replace
>>> from cluster.ipvs.table import desired_table
>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> want = desired_table(spec)
>>> web = want.services[0]
>>> live = replace(want, services=(replace(web, destinations=web.destinations[:1]),))
>>> for entry in pool_report(spec, live, down={("192.168.170.35", 80): "refused"}):
...     print(entry)
TCP 192.168.0.174:80 -> 192.168.170.25:80: ok
TCP 192.168.0.174:80 -> 192.168.170.35:80: down (its check fails: refused; keepalived took it out)
TCP 192.168.0.174:443: missing (the service is not in the table)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cluster.ipvs.table import Table, desired_table
from cluster.spec.model import ClusterSpec

EntryState = Literal["ok", "down", "missing", "extra", "differs"]
DRIFT: tuple[EntryState, ...] = ("missing", "extra", "differs")


@dataclass(frozen=True)
class PoolEntry:
    """One virtual service, or one real server of it, as the kernel has it."""

    service: str
    server: str | None
    state: EntryState
    detail: str = ""

    def __str__(self) -> str:
        where = self.service if self.server is None else f"{self.service} -> {self.server}"
        return f"{where}: {self.state}" + (f" ({self.detail})" if self.detail else "")


def pool_report(
    spec: ClusterSpec, live: Table, down: dict[tuple[str, int], str] | None = None
) -> list[PoolEntry]:
    """Each spec service and real server against ``live``.

    ``down`` maps a real server's (address, port; 0 behind a fwmark) to why its health
    check fails, for the
    servers keepalived may rightly have removed; pass None when the spec says ``ipvs:
    direct``, where nothing but ``cluster apply`` adds or removes real servers.
    """
    entries = []
    for want in desired_table(spec).services:
        name = str(want.key)
        have = live.service(want.key)
        if have is None:
            entries.append(PoolEntry(name, None, "missing", "the service is not in the table"))
            continue
        if have.settings != want.settings:
            entries.append(PoolEntry(name, None, "differs", f"kernel: {have.settings}"))
        wanted = {dest.key for dest in want.destinations}
        for dest in want.destinations:
            got = have.destination(*dest.key)
            if got is not None and got.weight == dest.weight:
                entries.append(PoolEntry(name, dest.endpoint, "ok"))
            elif got is not None:
                detail = f"weight {got.weight}, the spec says {dest.weight}"
                entries.append(PoolEntry(name, dest.endpoint, "differs", detail))
            elif down is not None and (str(dest.address), dest.port) in down:
                reason = down[str(dest.address), dest.port]
                why = f"its check fails: {reason}; keepalived took it out"
                entries.append(PoolEntry(name, dest.endpoint, "down", why))
            else:
                why = "its check passes" if down is not None else "ipvs: direct"
                entries.append(PoolEntry(name, dest.endpoint, "missing", why))
        entries += [
            PoolEntry(name, dest.endpoint, "extra", "not in the spec")
            for dest in have.destinations
            if dest.key not in wanted
        ]
    return entries


@dataclass(frozen=True)
class DirectorStatus:
    """What ``cluster status`` prints; ``healthy`` decides its exit code."""

    node: str
    ipvs_owner: str
    drift: list[str]  # the apply steps that would change something
    keepalived_pids: dict[str, int]
    vrrp: dict[str, str]  # instance -> MASTER/BACKUP/FAULT/STOP
    pool: list[PoolEntry] = field(default_factory=list)
    unit: str = ""  # the systemd unit that runs keepalived, if one does

    @property
    def healthy(self) -> bool:
        running = {"parent", "vrrp"} <= set(self.keepalived_pids)
        return running and not self.drift and not any(e.state in DRIFT for e in self.pool)

    def text(self) -> str:
        pids = ", ".join(f"{role} {pid}" for role, pid in self.keepalived_pids.items())
        vrrp = ", ".join(f"{name} {state}" for name, state in self.vrrp.items()) or "no state yet"
        lines = [
            f"director {self.node} (IPVS table owned by {self.ipvs_owner})",
            f"keepalived{f' ({self.unit})' if self.unit else ''}: "
            f"{'running: ' + pids if pids else 'NOT RUNNING'}; VRRP: {vrrp}",
            f"drift: {', '.join(self.drift) if self.drift else 'none'}"
            + (" (see: cluster apply --dry-run)" if self.drift else ""),
            "ipvs:",
            *(f"  {entry}" for entry in self.pool),
            f"verdict: {'healthy' if self.healthy else 'NOT healthy'}",
        ]
        return "\n".join(lines) + "\n"
