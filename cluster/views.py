"""Human-readable views of a cluster spec and of a round of checks, for the CLI and notebooks.

The tables are built as data first (:func:`spec_tables`, :func:`verdict_table`), so a notebook
can show them as it likes and a test can read them without parsing terminal output;
:func:`print_table` draws them with rich.

In a notebook, a :class:`SpecTable`, a :class:`Block` of program output, :class:`Columns` of
them side by side and a :class:`Note` show themselves: Jupyter calls their ``_repr_html_``
(the page) and ``_repr_pretty_`` (the plain text, which is also what the tests read), so a
notebook cell is one package call and nothing else.

>>> table = SpecTable("Real servers", ("address", "weight"), [("192.168.170.25", "1")])
>>> print(table.text())
Real servers
address         weight
192.168.170.25  1
>>> SpecTable("VIP", ("address",), [("192.168.0.174",)]).html()
'<h4>VIP</h4><table><tr><th>address</th></tr><tr><td>192.168.0.174</td></tr></table>'
>>> Block("ipvsadm -Ln", "TCP  192.168.0.174:80 rr\\n").html()
'<div class="lvs-block"><h4>ipvsadm -Ln</h4><pre>TCP  192.168.0.174:80 rr</pre></div>'
>>> print(Note("needs the lab: this machine has no client", "skipped").text())
[skipped] needs the lab: this machine has no client
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from cluster.errors import Problem
from cluster.probes.checks import Verdict
from cluster.spec.model import Check, ClusterSpec


class Shown(Protocol):
    """What a notebook cell can end with: HTML for the page, text for the terminal and tests."""

    def html(self) -> str: ...

    def text(self) -> str: ...


class Displayed:
    """Jupyter's display hooks, from :meth:`html` and :meth:`text`. The views are dataclasses
    made with ``repr=False``: IPython takes a class's own ``__repr__`` before an inherited
    ``_repr_pretty_``, and the plain text must be :meth:`text`."""

    def html(self) -> str:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


@dataclass(frozen=True, repr=False)
class SpecTable(Displayed):
    """A titled table of strings: data first, so the CLI, a notebook and a test each read it
    their own way."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]

    def html(self) -> str:
        def row(cells: Sequence[str], tag: str) -> str:
            return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

        body = "".join([row(self.columns, "th"), *(row(r, "td") for r in self.rows)])
        return f"<h4>{html.escape(self.title)}</h4><table>{body}</table>"

    def text(self) -> str:
        rows = [self.columns, *self.rows]
        widths = [max(len(str(c)) for c in column) for column in zip(*rows, strict=True)]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        return "\n".join([self.title, *lines])


@dataclass(frozen=True, repr=False)
class Block(Displayed):
    """A program's output or a file, verbatim, under a title (a command line or a path)."""

    title: str
    body: str

    def html(self) -> str:
        return (
            f'<div class="lvs-block"><h4>{html.escape(self.title)}</h4>'
            f"<pre>{html.escape(self.body.rstrip())}</pre></div>"
        )

    def text(self) -> str:
        return f"== {self.title} ==\n{self.body.rstrip()}"


@dataclass(frozen=True, repr=False)
class Columns(Displayed):
    """Views side by side on the page (one after the other as text): a command's output
    beside another's, a rendered config beside the one it replaces."""

    items: tuple[Shown, ...]

    def html(self) -> str:
        cells = "".join(
            f'<div style="flex: 1 1 0; min-width: 18em; overflow-x: auto">{item.html()}</div>'
            for item in self.items
        )
        return f'<div style="display: flex; flex-wrap: wrap; gap: 1em">{cells}</div>'

    def text(self) -> str:
        return "\n\n".join(item.text() for item in self.items)


@dataclass(frozen=True, repr=False)
class Note(Displayed):
    """A sentence the reader must not miss: a finding, or a step skipped and why."""

    message: str
    kind: str = "note"  # note, ok, problem, skipped

    def html(self) -> str:
        return f'<p class="lvs-{self.kind}"><b>{self.kind}:</b> {html.escape(self.message)}</p>'

    def text(self) -> str:
        return f"[{self.kind}] {self.message}"


@dataclass(frozen=True, repr=False)
class Markdown(Displayed):
    """A Markdown table or text from the package's reports, rendered for the page."""

    source: str

    def html(self) -> str:
        import markdown  # Python-Markdown, which mkdocs brings

        return markdown.markdown(self.source, extensions=["tables"])

    def text(self) -> str:
        return self.source.rstrip()


@dataclass(frozen=True, repr=False)
class Shows(Displayed):
    """Several views, one after the other: what one step of a notebook shows."""

    items: tuple[Shown, ...]

    def html(self) -> str:
        return "".join(item.html() for item in self.items)

    def text(self) -> str:
        return "\n\n".join(item.text() for item in self.items)


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


def problem_table(problems: list[Problem], title: str) -> SpecTable:
    """Lint or validation findings, one row each, with the line they are about.

    >>> from cluster.errors import Location
    >>> found = [Problem(Location("lb1.conf", 79), "unknown keyword 'nat_mask'", "remove it")]
    >>> problem_table(found, "lb1.conf").rows
    [('lb1.conf:79', 'error', '', "unknown keyword 'nat_mask'", 'remove it')]
    """
    counts = ", ".join(
        f"{sum(p.severity == s for p in problems)} {s}s"
        for s in ("error", "warning", "info")
        if any(p.severity == s for p in problems)
    )
    return SpecTable(
        f"{title}: {counts or 'no findings'}",
        ("where", "severity", "code", "finding", "fix"),
        [(str(p.location), p.severity, p.code, p.message, p.fix) for p in problems],
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
