"""Step 9: the article's troubleshooting checklist, run and judged, and its "lower prio
advert" symptom reproduced in the lab and diagnosed.

The article checks routes, addresses, ``ipvsadm`` and the log on the master, and routes,
addresses and listening sockets on the real servers; it names one symptom of directors that
do not hear each other: "Received lower prio advert, forcing new election". Here each check
runs on the director and gets a verdict. In the lab, the symptom is made the way the article's
own firewall would have made it (its director02 rule admits ``$192.168.0.204``, which the
shell turns into 92.168.0.204): the backup drops the master's adverts (the lab fault
``deaf``), takes the VIPs as well, and the master's keepalived logs the line on every advert
it hears from it. :func:`diagnose` reads the logs and the holders and names the cause.

>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> line = ("Sun Nov 29 23:40:12 2026: (VI_EXTERNAL) Received advert from 192.168.0.176 "
...         "with lower priority 50, ours 100, forcing new election")
>>> for note in diagnose(spec, {"director01": [line]}, {"192.168.0.174": ["director01",
...                                                                        "director02"]}):
...     print(note.text())  # doctest: +NORMALIZE_WHITESPACE
[problem] split brain: 192.168.0.174 is held by director01 and director02
[problem] director01 (VI_EXTERNAL) hears director02 (192.168.0.176) as a master too, so
director02 does not hear director01's adverts: check that director02's firewall admits VRRP
(IP protocol 112 to 224.0.0.18) from 192.168.0.204, and that both have the addresses the spec
gives
"""

from __future__ import annotations

import re
import time

from cluster.course import article
from cluster.course.firewall import DROPPED, counters
from cluster.course.table import missing
from cluster.course.target import Target
from cluster.errors import ToolError
from cluster.lab.directors import DirectorState, floating, parse_brief
from cluster.spec.model import ClusterSpec
from cluster.views import Block, Note, Shows

LOWER = re.compile(r"\((\S+)\) Received advert from (\S+) with lower priority (\d+), ours (\d+)")
RECENT_S = 30.0


def _log(target: Target) -> str:
    return f"{target.layout.run_dir}/keepalived.log"


def _stamp(line: str) -> float | None:
    """The time keepalived wrote a log line (``Sun Nov 29 23:40:12 2026: ...``)."""
    try:
        return time.mktime(time.strptime(line.split(": ", 1)[0], "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        return None


def checklist(target: Target) -> Shows:
    """The article's checks on the director, each with what it shows here."""
    spec, shown = target.spec, []
    routes = target.run("ip", "route").check().stdout
    default = [r for r in routes.splitlines() if r.startswith("default")]
    shown += [
        Block(f"{target.node}: ip route (the article's route -n)", routes),
        Note(
            f"default route: {default[0]}"
            if default
            else "no default route: replies to clients cannot leave",
            "ok" if default else "problem",
        ),
    ]
    links = parse_brief(target.run("ip", "-br", "-4", "addr").check().stdout)
    vips = floating(spec)
    held = sorted(a for addrs in links.values() for a in addrs if a in vips)
    shown += [
        Block(f"{target.node}: ip addr list", target.run("ip", "addr", "list").check().stdout),
        Note(
            f"holds {', '.join(held)}: it is the master"
            if len(held) == len(vips)
            else f"holds {', '.join(held) or 'no floating address'} of {', '.join(vips)}: "
            "a backup holds none, a master all; anything between is a split",
            "ok" if len(held) in (0, len(vips)) else "problem",
        ),
    ]
    lacking = missing(spec, target.run("ipvsadm-save", "-n").check().stdout)
    shown += [
        Block(f"{target.node}: ipvsadm -Ln", target.run("ipvsadm", "-Ln").check().stdout),
        Note(
            "every real server of the spec is in the table"
            if not lacking
            else "not as the spec says: " + "; ".join(lacking),
            "ok" if not lacking else "problem",
        ),
    ]
    log = target.run("tail", "-n", "400", _log(target)).stdout.splitlines()
    now = time.time()
    recent = [line for line in log if LOWER.search(line) and now - (_stamp(line) or 0) < RECENT_S]
    shown += [
        Block(
            f"{target.node}: tail {_log(target)} (the article's /var/log/messages)",
            "\n".join(log[-12:]),
        ),
        Note(
            f"{len(recent)} '{article.SYMPTOM}' lines in the last {RECENT_S:g} s"
            + (": see below" if recent else ""),
            "problem" if recent else "ok",
        ),
    ]
    drops = counters(target).get(DROPPED)
    shown.append(
        Note(
            f"the firewall dropped {drops} packets so far (iptables' LOG is not used: "
            "the counters say as much)"
            if drops is not None
            else "no counter for dropped packets in this back-end",
            "note",
        )
    )
    return Shows(tuple(shown))


def real_servers(target: Target) -> Shows:
    """The article's checks on the real servers: their routes (the DIP must be their
    gateway) and what listens (netstat -tan's job); in the lab only."""
    if target.lab is None:
        return Shows(
            (
                Note(
                    "the real servers are other machines: run "
                    f"{', '.join(article.REAL_SERVER_CHECKLIST)} on each",
                    "skipped",
                ),
            )
        )
    from cluster.lab.topology import from_spec

    topo = from_spec(target.spec)
    shown = []
    for node in topo.by_role("realserver"):
        routes = target.lab.run(node.name, "ip", "route").check().stdout
        listening = target.lab.run(node.name, "ss", "-tln").check().stdout
        via = f"default via {topo.dip}"
        shown += [
            Block(f"{node.name}: ip route", routes),
            Block(f"{node.name}: ss -tln (the article's netstat -tan)", listening),
            Note(
                f"{node.name} routes through the DIP ({via})"
                if via in routes
                else f"{node.name} does not route through the DIP {topo.dip}: its replies "
                "bypass the director and never reach the client",
                "ok" if via in routes else "problem",
            ),
        ]
    return Shows(tuple(shown))


def diagnose(
    spec: ClusterSpec, logs: dict[str, list[str]], holders: dict[str, list[str]]
) -> list[Note]:
    """What the directors' log lines and the VIP holders say is wrong, and where to look."""
    notes = [
        Note(f"split brain: {vip} is held by {' and '.join(owners)}", "problem")
        for vip, owners in holders.items()
        if len(owners) > 1
    ]
    owner = {str(a.ip): d.name for d in spec.directors for i in d.interfaces for a in i.addresses}
    seen = set()
    for node, lines in logs.items():
        for line in lines:
            found = LOWER.search(line)
            if not found or (node, found[1], found[2]) in seen:
                continue
            seen.add((node, found[1], found[2]))
            instance, sender = found[1], found[2]
            other = owner.get(sender, sender)
            director = spec.director(node)
            assert director is not None
            segment_of = {i.name: i for i in director.interfaces}
            vrrp = next(i for i in spec.vrrp.instances if i.name == instance)
            ours = str(segment_of[vrrp.interface].addresses[0].ip)
            notes.append(
                Note(
                    f"{node} ({instance}) hears {other} ({sender}) as a master too, so {other} "
                    f"does not hear {node}'s adverts: check that {other}'s firewall admits VRRP "
                    f"(IP protocol 112 to 224.0.0.18) from {ours}, and that both have the "
                    "addresses the spec gives",
                    "problem",
                )
            )
    return notes


def _states(table: list[DirectorState]) -> str:
    """Each director's VRRP instances and their states, on one line."""
    return "; ".join(
        f"{d.name}: {', '.join(f'{i} {state}' for i, state in d.vrrp.items())}" for d in table
    )


def reproduce(target: Target, timeout: float = 60) -> Shows:
    """The backup drops the master's adverts; the symptom, the diagnosis, and the cure."""
    if target.lab is None:
        return Shows(
            (
                Note(
                    "reproducing the symptom needs the lab: it makes one director deaf "
                    "to the other",
                    "skipped",
                ),
            )
        )
    from cluster.lab import directors, faults

    lab, spec = target.lab, target.spec
    master = spec.master().name
    backup = next(d.name for d in sorted(spec.directors, key=lambda d: -d.priority)[1:])
    log = f"{directors.layout(lab, master).run_dir}/keepalived.log"
    offset = int(lab.run(master, "stat", "-c", "%s", log).check().stdout)
    fault = faults.DirectorFault("deaf", backup)
    faults.inject_director(lab, fault, spec)
    try:
        deadline = time.monotonic() + timeout
        while True:
            lines = lab.run(master, "tail", "-c", f"+{offset + 1}", log).stdout.splitlines()
            if any(LOWER.search(line) for line in lines):
                break
            if time.monotonic() > deadline:
                raise ToolError(
                    f"{master} logged no lower-priority advert in {timeout:g} s (VRRP states: "
                    f"{_states(directors.state(lab, spec))}; its log since the fault: "
                    f"{' | '.join(lines[-5:]) or 'nothing'})"
                )
            time.sleep(0.5)
        holders = directors.holders(lab, spec)
        table = directors.state(lab, spec)
    finally:
        faults.undo_director(lab, fault, spec)
    directors.wait_for_master(lab, spec, master)
    symptom = [line for line in lines if LOWER.search(line)][:3]
    return Shows(
        (
            Note(
                f"made {backup} deaf to {master} (it drops every packet from {master}'s "
                "addresses), as the article's firewall typo would",
                "note",
            ),
            Block(f"{master}: {log}, the symptom", "\n".join(symptom)),
            Block("VRRP states meanwhile", _states(table)),
            *diagnose(spec, {master: lines}, holders),
            Note(f"fault undone: {master} alone holds {', '.join(floating(spec))} again", "ok"),
        )
    )
