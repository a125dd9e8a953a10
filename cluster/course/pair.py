"""Step 7: both directors up: who is MASTER and BACKUP, and who holds which floating address.

:func:`ready` is what the later steps start with: in the lab, it sets up (with ``cluster
apply``) those directors that do not run keepalived with the notebook's spec yet, so a
notebook opened on its own still finds the cluster it needs; on "this machine" the director
is as its operator left it.
"""

from __future__ import annotations

from cluster.course.target import Target
from cluster.keepalived.daemon import current_states
from cluster.lab.directors import floating, parse_brief
from cluster.views import Block, Note, Shows, SpecTable

COLUMNS = ("director", "priority", "keepalived", "VRRP", "holds")


def ready(target: Target, both: bool = False) -> Note:
    """In the lab, the target's director (``both``: every director) running keepalived with
    the target's spec, set up with ``cluster apply`` where it is not; the master settled."""
    if target.lab is None:
        return Note(f"{target.node}: this machine, as it is", "note")
    from cluster.lab import directors

    lab, spec = target.lab, target.spec
    wanted = [d.name for d in spec.directors] if both else [target.node]
    current = directors.current_spec(lab) == spec
    todo = [n for n in wanted if not (current and directors.keepalived(lab, n).running())]
    if not todo:
        return Note(f"{', '.join(wanted)}: keepalived runs with this spec", "ok")
    for result in directors.apply(lab, spec, todo).values():
        result.check()
    directors.wait_for_master(lab, spec, spec.master().name)
    return Note(f"set up with cluster apply: {', '.join(todo)}", "ok")


def bring_up_peers(target: Target) -> Shows:
    """``cluster apply`` on every other director, backups first; then the master settles."""
    if target.lab is None:
        return Shows(
            (
                Note(
                    "run this notebook on the other director too, backups first: "
                    "each director sets up only itself",
                    "skipped",
                ),
            )
        )
    from cluster.lab import directors

    others = [d.name for d in target.spec.directors if d.name != target.node]
    blocks = []
    for node, result in directors.apply(target.lab, target.spec, others).items():
        result.check()
        blocks.append(Block(f"cluster apply --node {node}", result.stdout))
    directors.wait_for_master(target.lab, target.spec, target.spec.master().name)
    return Shows(tuple(blocks))


def _row(
    name: str, priority: int, pids: dict[str, int], vrrp: dict[str, str], holds: list[str]
) -> tuple[str, ...]:
    running = ", ".join(f"{role} {pid}" for role, pid in pids.items()) or "NOT RUNNING"
    states = ", ".join(f"{i} {s}" for i, s in vrrp.items()) or "-"
    return (name, str(priority), running, states, ", ".join(holds) or "-")


def state(target: Target) -> SpecTable:
    """Each director's keepalived, VRRP state per instance and the floating addresses it
    holds; on "this machine", this director alone."""
    spec = target.spec
    if target.lab is not None:
        from cluster.lab import directors

        rows = [
            _row(d.name, spec.director(d.name).priority, d.pids, d.vrrp, d.holds)  # type: ignore[union-attr]
            for d in directors.state(target.lab, spec)
        ]
        return SpecTable("The directors", COLUMNS, rows)
    keepalived = target.keepalived()
    vips = floating(spec)
    links = parse_brief(target.run("ip", "-br", "-4", "addr").check().stdout)
    holds = [a for addrs in links.values() for a in addrs if a in vips]
    director = spec.director(target.node)
    assert director is not None
    row = _row(
        target.node,
        director.priority,
        keepalived.pids(),
        current_states(keepalived.events()),
        holds,
    )
    return SpecTable(f"{target.node} (this machine)", COLUMNS, [row])


def status(target: Target) -> Block:
    """``cluster status`` on the target's director: drift, keepalived, every real server."""
    done = target.status()
    return Block(f"{target.node}: cluster status (exit {done.rc})", done.stdout + done.stderr)
