"""What ``cluster apply`` would change on one director: desired state, live state, the plan.

Pure: :func:`desired_state` renders everything the spec wants on a director, the adapters in
:mod:`cluster.director.apply` read the :class:`Live` state, and :func:`make_director_plan`
compares the two, part by part, in the order apply runs them:

1. sysctls (forwarding first, so the firewall's forward rules have traffic to judge);
2. the firewall (our own table or chains only);
3. keepalived.conf, then keepalived started, reloaded, or restarted when the IPVS table
   changes owner (``-P``, VRRP only, is a command-line flag);
4. the IPVS table, only with ``ipvs: direct``; otherwise keepalived's checkers own it. It
   comes after keepalived because a keepalived that stops its checkers removes the
   services they made. Handing the table back to keepalived is the one exception: the
   spec's services are deleted *before* keepalived restarts, since its checkers fail on
   services that exist;
5. under systemd only (:mod:`cluster.director.boot`): the drop-in and the event reader's
   unit before keepalived (re)starts under ``keepalived.service``, and after everything
   else the files that only the next boot reads (modules, the firewall's own files and its
   unit) and the units enabled;
6. the persistent /etc/sysctl.d file, last, so a failed apply never leaves a boot-time
   setting the running system does not have.

An empty plan is what makes a second apply print "no changes" and touch nothing.

>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> desired = desired_state(spec, "director01")
>>> plan = make_director_plan(desired, Live.nothing(desired.firewall_backend))
>>> [step for step, _ in plan.parts()]
['sysctl', 'firewall', 'keepalived.conf', 'keepalived', 'sysctl.d']
>>> plan.keepalived_action
'start'
>>> Layout("/srv/lab/director01").keepalived_conf
'/srv/lab/director01/etc/keepalived/keepalived.conf'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from cluster.director.boot import Boot, systemd_boot
from cluster.firewall import BACKENDS, BackendName
from cluster.firewall.rules import RuleSet, director_rules
from cluster.ipvs.plan import Plan, make_plan
from cluster.ipvs.table import Table, desired_table
from cluster.keepalived.daemon import Files
from cluster.keepalived.render import render_keepalived_conf
from cluster.spec.model import ClusterSpec
from cluster.sysctl import SYSCTL_FILE, director_sysctls, render_sysctl_conf

KeepalivedAction = Literal["start", "reload", "restart", "none"]
#: what starts keepalived at boot; without one (the lab's directors), ``cluster apply`` does
ServiceManager = Literal["systemd"]


@dataclass(frozen=True)
class Layout:
    """Where a director's files live. ``root`` is "/" on a real director; the lab gives each
    director a root of its own, since its namespaces share one file system."""

    root: str = "/"

    def _path(self, path: str) -> str:
        return path if self.root == "/" else f"{self.root.rstrip('/')}{path}"

    @property
    def keepalived_conf(self) -> str:
        return self._path("/etc/keepalived/keepalived.conf")

    @property
    def sysctl_conf(self) -> str:
        return self._path(str(SYSCTL_FILE))

    @property
    def run_dir(self) -> str:
        """keepalived's pid files, its notify FIFO, the stamped VRRP events and its log."""
        return self._path("/run/lvs-cluster")

    @property
    def keepalived_files(self) -> Files:
        return Files(self.run_dir, self.keepalived_conf)

    @property
    def modules_load(self) -> str:
        return self._path("/etc/modules-load.d/lvs-cluster.conf")

    def unit(self, name: str) -> str:
        """A systemd unit of ours, or a drop-in (``keepalived.service.d/NAME.conf``)."""
        return self._path(f"/etc/systemd/system/{name}")

    def firewall_file(self, program: str) -> str:
        """The rules that the boot-time firewall unit loads with ``program``."""
        return self._path(f"/etc/lvs-cluster/{program}.rules")


REAL_DIRECTOR = Layout()


@dataclass(frozen=True)
class Desired:
    """Everything the spec wants on one director, rendered."""

    node: str
    sysctls: dict[str, str]
    sysctl_conf: str
    firewall_backend: BackendName
    firewall_rules: RuleSet
    table: Table  # the spec's IPVS table, whoever programs it
    keepalived_conf: str
    vrrp_only: bool  # ipvs: direct; keepalived runs with -P
    boot: Boot | None = None  # under systemd: what restores the director at boot

    @property
    def ipvs(self) -> Table | None:
        """The table ``apply`` programs; None when keepalived's checkers own it."""
        return self.table if self.vrrp_only else None

    @property
    def firewall(self) -> dict[str, str]:
        """Our rules per loader program, as that program lists them once loaded."""
        return BACKENDS[self.firewall_backend].ours(self.firewall_rules)


@dataclass(frozen=True)
class Live:
    """What the director has now, read by :func:`cluster.director.apply.read_live`."""

    sysctls: dict[str, str | None]
    sysctl_conf: str | None
    firewall: dict[str, str]
    ipvs: Table
    keepalived_conf: str | None
    keepalived_running: bool
    keepalived_vrrp_only: bool = False  # runs with -P: VRRP only, no checkers
    keepalived_argv: tuple[str, ...] = ()  # the running parent's command line
    boot_files: dict[str, str | None] = field(default_factory=dict)  # Boot's paths, as they are
    enabled: dict[str, bool] = field(default_factory=dict)  # Boot's units: enabled at boot?

    @classmethod
    def nothing(cls, backend: BackendName) -> Live:
        """A director that has none of it yet (for docs and tests)."""
        programs = BACKENDS[backend].PROGRAMS
        return cls({}, None, dict.fromkeys(programs, ""), Table(()), None, False)


def desired_state(
    spec: ClusterSpec,
    node: str,
    backend: BackendName | None = None,
    layout: Layout = REAL_DIRECTOR,
    manager: ServiceManager | None = None,
) -> Desired:
    """Render the spec for director ``node``; ``backend`` overrides ``firewall.backend``;
    ``manager`` is the service manager that starts keepalived and the firewall at boot."""
    chosen: BackendName = backend or spec.firewall.backend
    rules = director_rules(spec, node)
    vrrp_only = spec.ipvs == "direct"
    return Desired(
        node=node,
        sysctls=director_sysctls(spec, node),
        sysctl_conf=render_sysctl_conf(spec, node),
        firewall_backend=chosen,
        firewall_rules=rules,
        table=desired_table(spec),
        keepalived_conf=render_keepalived_conf(
            spec, node, notify_fifo=layout.keepalived_files.fifo
        ),
        vrrp_only=vrrp_only,
        boot=(
            systemd_boot(spec, node, layout, rules, chosen, vrrp_only)
            if manager == "systemd"
            else None
        ),
    )


@dataclass(frozen=True)
class Edit:
    """One file (or loaded rule set) going from ``old`` to ``new``; None means absent."""

    name: str
    old: str | None
    new: str | None

    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.old or "").splitlines(keepends=True),
            (self.new or "").splitlines(keepends=True),
            fromfile=f"{self.name} (now)" if self.old is not None else "/dev/null",
            tofile=f"{self.name} (spec)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class DirectorPlan:
    """The changes for one director, part by part; an empty part is left alone."""

    node: str
    sysctls: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    firewall: tuple[Edit, ...] = ()
    ipvs: Plan = field(default_factory=Plan)
    ipvs_first: bool = False  # a hand-over to keepalived: clear the table before it starts
    keepalived_conf: Edit | None = None
    keepalived_action: KeepalivedAction = "none"
    sysctl_conf: Edit | None = None
    keepalived_why: str = ""  # why it restarts, when not for the usual reason of its action
    service_files: tuple[Edit, ...] = ()  # systemd: what keepalived's unit reads at start
    boot_files: tuple[Edit, ...] = ()  # systemd: what only the next boot reads
    enable: tuple[str, ...] = ()  # systemd: units to enable

    def parts(self) -> list[tuple[str, str]]:
        """The non-empty parts in apply order, each as (step name, readable diff)."""
        parts = []
        if self.sysctls:
            lines = [f"~ {k} = {old if old is not None else '(missing)'} -> {new}"
                     for k, (old, new) in self.sysctls.items()]  # fmt: skip
            parts.append(("sysctl", "\n".join(lines) + "\n"))
        if self.firewall:
            parts.append(("firewall", "".join(edit.diff() for edit in self.firewall)))
        ipvs = [("ipvs", self.ipvs.text())] if not self.ipvs.empty else []
        parts += ipvs if self.ipvs_first else []
        if self.keepalived_conf is not None:
            parts.append(("keepalived.conf", self.keepalived_conf.diff()))
        if self.service_files:
            parts.append(("keepalived.service", "".join(e.diff() for e in self.service_files)))
        if self.keepalived_action != "none":
            why = self.keepalived_why or {"start": "not running", "reload": "config changed",
                   "restart": "ipvs ownership changed"}[self.keepalived_action]  # fmt: skip
            parts.append(("keepalived", f"{self.keepalived_action} keepalived ({why})\n"))
        parts += [] if self.ipvs_first else ipvs
        if self.boot_files or self.enable:
            enable = "".join(f"enable {unit}\n" for unit in self.enable)
            parts.append(("boot", "".join(e.diff() for e in self.boot_files) + enable))
        if self.sysctl_conf is not None:
            parts.append(("sysctl.d", self.sysctl_conf.diff()))
        return parts

    @property
    def empty(self) -> bool:
        return not self.parts()

    def text(self) -> str:
        """The plan as ``--dry-run`` prints it: one titled diff per step, or "no changes"."""
        if self.empty:
            return f"{self.node}: no changes\n"
        return "".join(f"== {step} ==\n{diff}" for step, diff in self.parts())


def make_director_plan(desired: Desired, live: Live, prune: bool = False) -> DirectorPlan:
    """What to change so that the director described by ``live`` is as ``desired`` says.

    ``prune`` deletes IPVS services the spec does not name (``ipvs: direct`` only).
    """
    sysctls = {
        key: (live.sysctls.get(key), value)
        for key, value in desired.sysctls.items()
        if live.sysctls.get(key) != value
    }
    firewall = tuple(
        Edit(program, live.firewall.get(program) or None, text or None)
        for program, text in desired.firewall.items()
        if live.firewall.get(program, "") != text
    )
    conf_changed = live.keepalived_conf != desired.keepalived_conf
    boot = desired.boot
    action: KeepalivedAction = "none"
    why = ""
    if not live.keepalived_running:
        action = "start"
    elif live.keepalived_vrrp_only != desired.vrrp_only:
        action = "restart"  # -P is a command-line flag: a reload cannot add or drop it
    elif boot is not None and live.keepalived_argv[-len(boot.options) :] != boot.options:
        action, why = "restart", "its options changed"
    elif conf_changed:
        action = "reload"
    ipvs, handover = Plan(), False
    spec_keys = desired.table.by_key()
    if desired.ipvs is not None:
        table = live.ipvs
        if action == "restart":  # keepalived's checkers stop, and take their services along
            table = Table(tuple(s for s in live.ipvs if s.key not in spec_keys))
        ipvs = make_plan(desired.ipvs, table, prune)
    elif action == "restart":
        # from direct to keepalived: its checkers add the spec's services themselves and
        # fail on any that exist ("Service already exists"), so ours go first
        ours = Table(tuple(s for s in live.ipvs if s.key in spec_keys))
        ipvs, handover = make_plan(Table(()), ours, prune=True), True
    return DirectorPlan(
        node=desired.node,
        sysctls=sysctls,
        firewall=firewall,
        ipvs=ipvs,
        ipvs_first=handover,
        keepalived_conf=(
            Edit("keepalived.conf", live.keepalived_conf, desired.keepalived_conf)
            if conf_changed
            else None
        ),
        keepalived_action=action,
        sysctl_conf=(
            Edit("sysctl.d", live.sysctl_conf, desired.sysctl_conf)
            if live.sysctl_conf != desired.sysctl_conf
            else None
        ),
        keepalived_why=why,
        service_files=_edits(boot.service if boot else {}, live.boot_files),
        boot_files=_edits(boot.files if boot else {}, live.boot_files),
        enable=tuple(unit for unit in boot.enabled if not live.enabled.get(unit)) if boot else (),
    )


def _edits(wanted: dict[str, str], have: dict[str, str | None]) -> tuple[Edit, ...]:
    """One edit per file whose text is not what ``wanted`` says, named by its path."""
    return tuple(
        Edit(path, have.get(path), text) for path, text in wanted.items() if have.get(path) != text
    )
