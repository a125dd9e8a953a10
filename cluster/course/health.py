"""Step 6: health checks: genhash's digests, one round of every check, and a real server that
fails its check, leaves the IPVS table, comes back, and is reported by mail.

keepalived's checkers run on each director: a real server whose check fails is removed from
the table (and keepalived mails ``notification_email`` through ``smtp_server``); when the check
passes again, it is added back. In the lab a real server can be made to fail for real
(``lab.fault``) and the SMTP sink keeps every mail, so the notebook watches the whole cycle.

>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> [" ".join(argv) for _, argv, _ in genhash_runs(spec)]  # doctest: +NORMALIZE_WHITESPACE
['genhash -s 192.168.170.35 -p 80 -u /', 'genhash -S -s 192.168.170.35 -p 443 -u /']
>>> served("192.168.170.25", spec)
['TCP 192.168.0.174:80 -> 192.168.170.25:80']
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cluster.course.table import live_table, wait_for_pool
from cluster.course.target import Target
from cluster.errors import ToolError
from cluster.ipvs.table import desired_table
from cluster.probes.checks import Job, checks_in
from cluster.spec.model import ClusterSpec
from cluster.views import Block, Note, Shows, SpecTable


def genhash_runs(spec: ClusterSpec) -> list[tuple[Job, list[str], str]]:
    """Each HTTP_GET and SSL_GET url with a digest: its job, the genhash command that
    computes the digest, and the digest the spec pins."""
    runs = []
    for job in checks_in(spec):
        for url in job.check.urls:
            if url.digest and job.check.type in ("HTTP_GET", "SSL_GET"):
                tls = ["-S"] if job.check.type == "SSL_GET" else []
                argv = [
                    "genhash",
                    *tls,
                    "-s",
                    job.address,
                    "-p",
                    str(job.connect_port),
                    "-u",
                    url.path,
                ]
                runs.append((job, argv, url.digest))
    return runs


def digests(target: Target) -> SpecTable:
    """genhash run on the director against each real server, beside the spec's digest."""
    rows = []
    for job, argv, pinned in genhash_runs(target.spec):
        done = target.run(*argv)
        got = done.stdout.split()[-1] if done.ok and done.stdout.split() else done.stderr.strip()
        rows.append(
            (job.endpoint, " ".join(argv), got, pinned, "matches" if got == pinned else "DIFFERS")
        )
    return SpecTable(
        f"{target.node}: genhash against the spec's digests",
        ("check", "command", "genhash", "the spec", "verdict"),
        rows,
    )


def check_round(target: Target) -> Block:
    """``cluster check``: one round of every check, judged as keepalived judges."""
    done = target.cluster("check", target.spec_path)
    return Block(f"{target.node}: cluster check (exit {done.rc})", done.stdout + done.stderr)


def served(address: str, spec: ClusterSpec) -> list[str]:
    """Every ``service -> real server`` entry of the spec's table at ``address``."""
    return [
        f"{service.key} -> {dest.endpoint}"
        for service in desired_table(spec)
        for dest in service.destinations
        if str(dest.address) == address
    ]


def _in_table(target: Target, entries: list[str]) -> list[str]:
    table = live_table(target)
    have = {f"{s.key} -> {d.endpoint}" for s in table for d in s.destinations}
    return [entry for entry in entries if entry in have]


@dataclass
class Cycle:
    """What happened to one real server, in seconds after the fault struck."""

    server: str
    entries: list[str]
    left_s: float
    back_s: float
    cleared_s: float
    during: str
    mails: list[tuple[float, str, str]]  # (seconds, subject, body)

    def shows(self, node: str) -> Shows:
        rows = [
            ("0.0", f"{self.server} stops answering (lab fault: down)"),
            (f"{self.left_s:.1f}", f"gone from {node}'s table: {', '.join(self.entries)}"),
            *((f"{at:.1f}", f"mail: {subject}") for at, subject, _ in self.mails),
            (f"{self.cleared_s:.1f}", f"{self.server} serves again (lab fault: clear)"),
            (f"{self.back_s:.1f}", f"back in {node}'s table"),
        ]
        rows.sort(key=lambda row: float(row[0]))
        timeline = SpecTable(
            f"{self.server}: fails its check and comes back", ("seconds", "what happened"), rows
        )
        mails = [Block(f"mail at {at:.1f} s: {subject}", body) for at, subject, body in self.mails]
        verdict = Note(
            f"{self.server} left the IPVS table {self.left_s:.1f} s after it failed and came "
            f"back {self.back_s - self.cleared_s:.1f} s after it recovered; "
            f"{len(self.mails)} mails arrived",
            "ok" if self.mails else "problem",
        )
        return Shows(
            (
                timeline,
                Block(f"{node}: ipvsadm -Ln while it was down", self.during),
                *mails,
                verdict,
            )
        )


def _until(probe: object, timeout: float, what: str) -> float:
    """Poll ``probe`` (a callable) until it returns true; returns when, on the monotonic
    clock."""
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise ToolError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.25)
    return time.monotonic()


def fail_and_return(target: Target, node: str = "realserver1", timeout: float = 60) -> Shows:
    """Stop real server ``node``, wait until the director's checkers take it out of the
    table and keepalived's mail arrives, start it again and wait until it is back."""
    if target.lab is None:
        return Shows(
            (
                Note(
                    "breaking a real server on purpose needs the lab; on a director, "
                    "watch `ipvsadm -Ln` and the mail while one is down",
                    "skipped",
                ),
            )
        )
    lab = target.lab
    address = from_node(target, node)
    entries = served(address, target.spec)
    wait_for_pool(target)
    mails_before = len(lab.mails())
    wall, start = time.time(), time.monotonic()
    lab.fault(node, "down")
    left = _until(lambda: not _in_table(target, entries), timeout, f"{node} leaving the table")
    during = target.run("ipvsadm", "-Ln").check().stdout

    def down_mails() -> bool:
        return any(address in m.subject and "DOWN" in m.subject for m in lab.mails()[mails_before:])

    _until(down_mails, timeout, f"keepalived's mail about {node}")
    cleared = time.monotonic()
    lab.fault(node, "clear")
    back = _until(lambda: _in_table(target, entries) == entries, timeout, f"{node} coming back")

    def up_mails() -> bool:
        return any(address in m.subject and "UP" in m.subject for m in lab.mails()[mails_before:])

    _until(up_mails, timeout, f"keepalived's mail about {node} coming back")
    mails = [
        (round(m.time - wall, 1), m.subject, m.body)
        for m in lab.mails()[mails_before:]
        if address in m.subject
    ]
    return Cycle(
        f"{node} ({address})", entries, left - start, back - start, cleared - start, during, mails
    ).shows(target.node)


def from_node(target: Target, node: str) -> str:
    """A lab node's primary address, from the spec's topology."""
    from cluster.lab.topology import from_spec

    return from_spec(target.spec).node(node).address
