"""Edge: systemd on the director this runs on: is it the service manager, how its units stand,
and ``systemctl``.

``cluster apply`` hands keepalived and the boot-time firewall to systemd when systemd is the
running service manager (``/run/systemd/system`` exists, the test of sd_booted(3)) and the
director's root is ``/``. The lab's directors have roots of their own inside one guest and
no service manager of their own, so there the kit starts keepalived itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cluster.command import run
from cluster.director.plan import ServiceManager

RUNNING = Path("/run/systemd/system")


def service_manager(root: str) -> ServiceManager | None:
    """``systemd`` where it runs this machine and ``root`` is the machine's own ``/``."""
    return "systemd" if root == "/" and RUNNING.is_dir() else None


@dataclass(frozen=True)
class UnitState:
    """One unit as ``systemctl show`` reports it; a unit without a file is neither."""

    active: bool
    enabled: bool
    main_pid: int


def unit_states(*units: str) -> dict[str, UnitState]:
    """The state of each of ``units``, in one ``systemctl show``."""
    out = run(["systemctl", "show", "--property=Id,ActiveState,UnitFileState,MainPID", *units])
    found = {}
    for block in out.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        found[props.get("Id", "")] = UnitState(
            active=props.get("ActiveState") in ("active", "reloading"),
            enabled=props.get("UnitFileState") == "enabled",
            main_pid=int(props.get("MainPID") or 0),
        )
    return {unit: found.get(unit, UnitState(False, False, 0)) for unit in units}


def systemctl(*args: str) -> None:
    """``systemctl ARGS``; a failure is a ToolError carrying systemctl's words."""
    run(["systemctl", *args], timeout=120)
