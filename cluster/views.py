"""Human-readable views of a cluster spec and of a round of checks, for the CLI and notebooks.

The tables are built as data first (:func:`spec_tables`, :func:`verdict_table`), so a notebook
can show them as it likes and a test can read them without parsing terminal output;
:func:`print_table` draws them with rich.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from cluster.probes.checks import Verdict
from cluster.spec.model import Check, ClusterSpec


@dataclass(frozen=True)
class SpecTable:
    """A titled table of strings."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


def summary(spec: ClusterSpec) -> str:
    servers = {(str(rs.address), rs.port) for v in spec.virtual_services for rs in v.real_servers}
    return (
        f"{len(spec.directors)} directors, {len(spec.vrrp.instances)} VRRP instances, "
        f"{len(spec.virtual_services)} virtual services, {len(servers)} real server ports"
    )


def spec_tables(spec: ClusterSpec) -> list[SpecTable]:
    master = spec.master().name
    directors = SpecTable(
        "Directors",
        ("director (router_id)", "priority", "interface", "segment", "addresses"),
        [
            (
                f"{d.name} ({d.router_id})",
                f"{d.priority} {'MASTER' if d.name == master else 'BACKUP'}",
                i.name,
                i.segment,
                ", ".join(map(str, i.addresses)) or "-",
            )
            for d in spec.directors
            for i in d.interfaces
        ],
    )
    groups = {name: g.name for g in spec.vrrp.sync_groups for name in g.instances}
    vrrp = SpecTable(
        "VRRP instances",
        ("instance", "vrid", "interface", "virtual addresses", "advert", "tracks", "sync group"),
        [
            (
                i.name,
                str(i.virtual_router_id),
                i.interface,
                ", ".join(map(str, i.virtual_ipaddresses)),
                f"v{i.version} {i.advert_int:g} s",
                ", ".join(i.track_interfaces) or "-",
                groups.get(i.name, "-"),
            )
            for i in spec.vrrp.instances
        ],
    )
    services = SpecTable(
        f"Virtual services (IPVS owned by {spec.ipvs})",
        ("service", "scheduling", "real server", "weight", "check"),
        [
            (
                f"{v.name} {v.protocol} {v.endpoint}",
                " ".join([v.scheduler, *v.scheduler_flags, v.forwarding])
                + (f" persistent {v.persistence.timeout} s" if v.persistence else ""),
                f"{rs.address}:{rs.port}",
                str(rs.weight),
                describe_check(rs.check),
            )
            for v in spec.virtual_services
            for rs in v.real_servers
        ],
    )
    return [directors, vrrp, services]


def describe_check(check: Check | None) -> str:
    if check is None:
        return "none"
    parts = [check.type]
    for url in check.urls:
        wants = [
            f"md5 {url.digest[:8]}..." if url.digest else "",
            f"status {url.status_code}" if url.status_code else "",
        ]
        parts.append(f"{url.path} ({', '.join(w for w in wants if w)})")
    parts.append(f"timeout {check.connect_timeout:g} s")
    return " ".join(parts)


def print_spec(spec: ClusterSpec, console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    console.print(f"[bold]{spec.name}[/bold]: {spec.description or summary(spec)}")
    for table in spec_tables(spec):
        print_table(table, console)


def verdict_table(verdicts: list[Verdict]) -> SpecTable:
    """One row per checker, down first: the reason is what an operator acts on."""
    down = sum(not v.ok for v in verdicts)
    return SpecTable(
        f"{len(verdicts)} checks: {len(verdicts) - down} up, {down} down",
        ("service", "real server", "check", "verdict", "reason", "time"),
        [
            (
                v.job.service,
                v.job.server,
                " ".join(filter(None, [v.job.endpoint, v.url])),
                "up" if v.ok else "DOWN",
                v.reason + (f" (after {v.attempts} attempts)" if v.attempts > 1 else ""),
                f"{v.seconds:.3f} s",
            )
            for v in sorted(verdicts, key=lambda v: v.ok)
        ],
    )


def print_table(table: SpecTable, console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    rich_table = Table(title=table.title, title_justify="left")
    for column in table.columns:
        rich_table.add_column(column, overflow="fold")
    for row in table.rows:
        rich_table.add_row(*row)
    console.print(rich_table)
