"""Apply a :class:`~cluster.director.plan.DirectorPlan` to the director this runs on, as a whole.

Each step records how to undo itself *before* it changes anything, so a step that fails
half-way is undone too. When a step fails, every step already taken is undone in reverse
order and :class:`ApplyError` names the failed step and why; the director is left as it was.
``confirm`` (``--confirm SECONDS``) is the same undo for a change that worked but locked the
operator out: unless confirmed in time, all of it is rolled back, as ``iptables-apply`` does.

It runs in the network namespace it was started in: ``cluster apply`` on a real director,
``cluster lab apply`` inside a lab director (with a :class:`Layout` root of its own). Where
systemd runs the director (:func:`~cluster.director.systemd.service_manager`), keepalived runs
as the distribution's ``keepalived.service`` and the boot files of
:mod:`~cluster.director.boot` are written and enabled; elsewhere the kit starts keepalived
itself. Needs root. Example, on a director::

    from cluster.director.apply import apply_director, read_live
    from cluster.director.plan import desired_state, make_director_plan
    from cluster.director.systemd import service_manager
    from cluster.spec import load_spec

    manager = service_manager("/")
    desired = desired_state(load_spec("cluster.yaml"), "director01", manager=manager)
    plan = make_director_plan(desired, read_live(desired))
    print(plan.text())
    apply_director(plan, desired)
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cluster.command import run_status
from cluster.director.boot import EVENTS, KEEPALIVED
from cluster.director.plan import (
    REAL_DIRECTOR,
    Desired,
    DirectorPlan,
    Edit,
    Layout,
    Live,
    desired_state,
    make_director_plan,
)
from cluster.director.status import DirectorStatus, pool_report
from cluster.director.systemd import service_manager, systemctl, unit_states
from cluster.errors import ApplyError, ClusterError
from cluster.files import write_atomic
from cluster.firewall import BackendName
from cluster.firewall import apply as firewall
from cluster.ipvs.plan import make_plan
from cluster.ipvs.table import Table
from cluster.keepalived.daemon import Keepalived, current_states
from cluster.probes.checks import checks_in, run_round
from cluster.spec.model import ClusterSpec
from cluster.sysctl import apply_sysctls, read_sysctls

Progress = Callable[[str], None]
Undo = Callable[[], None]


@dataclass
class Completed:
    rc: int
    stdout: str
    stderr: str


class ThisMachine:
    """keepalived's :class:`~cluster.keepalived.daemon.Node` for the machine (and network
    namespace) this runs on; the node name is only a label in messages."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def run(
        self, node: str, *argv: str, input: str | None = None, timeout: float = 60
    ) -> Completed:
        done = run_status(argv, input=input, timeout=timeout)
        return Completed(done.returncode, done.stdout, done.stderr)

    def spawn(self, node: str, argv: list[str], name: str) -> int:
        """Start a daemon that outlives ``cluster apply``: its own session, output to a log."""
        log = Path(self.layout.run_dir) / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return proc.pid

    def write_file(self, node: str, path: str, data: bytes | str, mode: int = 0o644) -> None:
        write_atomic(Path(path), data if isinstance(data, str) else data.decode(), mode)


def keepalived_on_this_machine(node: str, layout: Layout = REAL_DIRECTOR) -> Keepalived:
    return Keepalived(ThisMachine(layout), node, layout.keepalived_files)


def _read(path: str) -> str | None:
    with contextlib.suppress(FileNotFoundError):
        return Path(path).read_text()
    return None


def read_live(desired: Desired, layout: Layout = REAL_DIRECTOR, table: bool = False) -> Live:
    """The director's current state, in the terms of ``desired``. The IPVS table is read
    when ``table`` asks for it or when it is, or was until now, apply's own."""
    pids = keepalived_on_this_machine(desired.node, layout).pids()
    running, argv = "parent" in pids, _argv(pids.get("parent"))
    boot_files: dict[str, str | None] = {}
    enabled: dict[str, bool] = {}
    if desired.boot is not None:  # systemd's keepalived.service runs it, whatever pid files say
        units = unit_states(KEEPALIVED, *desired.boot.enabled)
        running, argv = units[KEEPALIVED].active, _argv(units[KEEPALIVED].main_pid)
        boot_files = {path: _read(path) for path in (*desired.boot.service, *desired.boot.files)}
        enabled = {unit: units[unit].enabled for unit in desired.boot.enabled}
    vrrp_only = running and "-P" in argv
    ipvs = Table(())
    if table or desired.vrrp_only or vrrp_only:
        from cluster.ipvs.netlink import read_table  # pyroute2 costs seconds to import

        ipvs = read_table()
    return Live(
        sysctls=read_sysctls(list(desired.sysctls)),
        sysctl_conf=_read(layout.sysctl_conf),
        firewall=firewall.read_loaded(desired.firewall_backend),
        ipvs=ipvs,
        keepalived_conf=_read(layout.keepalived_conf),
        keepalived_running=running,
        keepalived_vrrp_only=vrrp_only,
        keepalived_argv=tuple(argv),
        boot_files=boot_files,
        enabled=enabled,
    )


def _argv(pid: int | None) -> list[str]:
    """A process's command line; empty when there is none (no pid, or it is gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0") if pid else []
    return []


def _restore_file(path: str, text: str | None, mode: int) -> Undo:
    def undo() -> None:
        if text is None:
            Path(path).unlink(missing_ok=True)
        else:
            write_atomic(Path(path), text, mode)

    return undo


class _Steps:
    """Runs named steps, keeping each one's undo; on failure, undoes them all, newest first."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.undos: list[tuple[str, Undo]] = []

    def run(self, name: str, undo: Undo, do: Callable[[], object]) -> None:
        self.progress(f"{name} ...")
        self.undos.append((name, undo))
        try:
            do()
        except (ClusterError, OSError) as err:
            reason = err.reason if isinstance(err, ApplyError) else str(err)
            raise ApplyError(name, f"{reason}{self.rollback()}") from err

    def rollback(self) -> str:
        """Undo every step taken; returns what to append to the error message."""
        failed = []
        for name, undo in reversed(self.undos):
            try:
                undo()
            except (ClusterError, OSError) as err:
                failed.append(f"{name}: {err}")
        self.undos.clear()
        if failed:
            return "; rolling back also failed for " + "; ".join(failed)
        return "; every step before it was rolled back, the director is as it was"


def apply_director(
    plan: DirectorPlan,
    desired: Desired,
    layout: Layout = REAL_DIRECTOR,
    progress: Progress = print,
    confirm: Callable[[], bool] | None = None,
) -> None:
    """Make the director as ``desired`` says, step by step as ``plan`` lists them.

    ``confirm``, if given, is asked once everything is applied; anything but True rolls it
    all back and raises :class:`ApplyError` (step "confirm").
    """
    steps = _Steps(progress)
    if plan.sysctls:
        values = {key: new for key, (_, new) in plan.sysctls.items()}
        before = {key: old for key, (old, _) in plan.sysctls.items() if old is not None}
        steps.run("sysctl", lambda: apply_sysctls(before), lambda: apply_sysctls(values))
    if plan.firewall:
        backend = desired.firewall_backend
        previous = firewall.read_loaded(backend)
        steps.run(
            f"firewall ({backend})",
            lambda: firewall.restore(previous, backend),
            lambda: firewall.load(desired.firewall_rules, backend),
        )
    if plan.ipvs_first and not plan.ipvs.empty:
        _ipvs_step(steps, plan)
    if plan.service_files:
        steps.run(
            "keepalived.service",
            lambda: _write_unit_files(plan.service_files, undo=True),
            lambda: _write_unit_files(plan.service_files, undo=False),
        )
    if plan.keepalived_action != "none":
        _keepalived_step(steps, plan, desired, layout)
    if not plan.ipvs_first and not plan.ipvs.empty:
        _ipvs_step(steps, plan)
    if plan.boot_files or plan.enable:
        _boot_step(steps, plan)
    if plan.sysctl_conf is not None:
        steps.run(
            f"write {layout.sysctl_conf}",
            _restore_file(layout.sysctl_conf, plan.sysctl_conf.old, 0o644),
            lambda: write_atomic(Path(layout.sysctl_conf), desired.sysctl_conf),
        )
    if confirm is not None and not confirm():
        raise ApplyError("confirm", f"not confirmed in time{steps.rollback()}")


def _ipvs_step(steps: _Steps, plan: DirectorPlan) -> None:
    from cluster.ipvs.netlink import apply_plan, read_table

    keys = {change.service.key for change in plan.ipvs}
    before = read_table(keys=keys)

    def undo() -> None:
        apply_plan(make_plan(before, read_table(keys=keys), prune=True))

    steps.run("ipvs", undo, lambda: apply_plan(plan.ipvs))


def _write_unit_files(edits: tuple[Edit, ...], undo: bool) -> None:
    """Write (or, to undo, put back) unit files, and have systemd read them again. The VRRP
    event reader restarts if its own unit changed (the FIFO keeps what comes meanwhile)."""
    for edit in edits:
        _restore_file(edit.name, edit.old if undo else edit.new, 0o644)()
    systemctl("daemon-reload")
    if any(edit.name.endswith(f"/{EVENTS}") for edit in edits):
        systemctl("try-restart", EVENTS)


def _boot_step(steps: _Steps, plan: DirectorPlan) -> None:
    """The files only the next boot reads, then the units it starts; undone in reverse."""

    def do() -> None:
        _write_unit_files(plan.boot_files, undo=False)
        if plan.enable:
            systemctl("enable", *plan.enable)

    def undo() -> None:
        if plan.enable:
            systemctl("disable", *plan.enable)
        _write_unit_files(plan.boot_files, undo=True)

    steps.run("boot", undo, do)


def _keepalived_step(steps: _Steps, plan: DirectorPlan, desired: Desired, layout: Layout) -> None:
    keepalived = keepalived_on_this_machine(desired.node, layout)
    old_conf = plan.keepalived_conf.old if plan.keepalived_conf else desired.keepalived_conf
    action = plan.keepalived_action
    if desired.boot is not None:
        _systemd_keepalived_step(steps, plan, desired, layout, keepalived, old_conf)
        return

    def test() -> None:
        _refuse_foreign_keepalived(layout)
        warnings = keepalived.test(desired.keepalived_conf)
        if warnings:
            raise ApplyError("keepalived -t", f"warned, so nothing was written:\n{warnings}")

    def do() -> None:
        keepalived.install(desired.keepalived_conf)
        if action == "reload":
            keepalived.reload()
            return
        keepalived.stop()
        keepalived.launch(vrrp_only=desired.vrrp_only)

    def undo() -> None:
        _restore_file(layout.keepalived_conf, old_conf, 0o600)()
        if action == "reload":
            keepalived.reload()
            return
        keepalived.stop()
        if action == "restart" and old_conf is not None:
            keepalived.launch(vrrp_only=not desired.vrrp_only)

    steps.run("keepalived -t", lambda: None, test)
    steps.run(f"keepalived {plan.keepalived_action}", undo, do)


def _systemd_keepalived_step(
    steps: _Steps,
    plan: DirectorPlan,
    desired: Desired,
    layout: Layout,
    keepalived: Keepalived,
    old_conf: str | None,
) -> None:
    """keepalived as ``keepalived.service``: started, reloaded (SIGHUP, through the unit) or
    restarted by systemd. A keepalived that an earlier ``cluster apply`` started itself (the
    kit before systemd ran it) is stopped first, and started again by the undo."""
    action = plan.keepalived_action
    unit_pid = unit_states(KEEPALIVED)[KEEPALIVED].main_pid
    kit_started = action == "start" and keepalived.running()
    kit_vrrp_only = kit_started and "-P" in _argv(keepalived.pids().get("parent"))

    def test() -> None:
        _refuse_foreign_keepalived(layout, unit_pid)
        warnings = keepalived.test(desired.keepalived_conf)
        if warnings:
            raise ApplyError("keepalived -t", f"warned, so nothing was written:\n{warnings}")

    def run_unit(verb: str) -> None:
        if verb == "reload":
            systemctl("reload", KEEPALIVED)
            return
        keepalived.forget_pids()
        systemctl(verb, KEEPALIVED)
        keepalived.wait_started()

    def do() -> None:
        keepalived.install(desired.keepalived_conf)
        if kit_started:
            keepalived.stop()
        run_unit(action)

    def undo() -> None:
        _restore_file(layout.keepalived_conf, old_conf, 0o600)()
        if plan.service_files:
            _write_unit_files(plan.service_files, undo=True)
        if action != "start":
            run_unit(action)
            return
        systemctl("stop", KEEPALIVED)
        if kit_started:
            keepalived.launch(vrrp_only=kit_vrrp_only)

    steps.run("keepalived -t", lambda: None, test)
    steps.run(f"keepalived {action} ({KEEPALIVED})", undo, do)


def _refuse_foreign_keepalived(layout: Layout, ours: int = 0) -> None:
    """A keepalived started by systemd would fight ours over the VIPs and the IPVS table;
    ``ours`` is the pid of the keepalived.service that apply itself restarts."""
    pid_file = Path(layout.root) / "run/keepalived.pid"
    text = _read(str(pid_file))
    if (
        text
        and text.strip().isdigit()
        and int(text) != ours
        and Path(f"/proc/{text.strip()}").exists()
    ):
        raise ApplyError(
            "keepalived",
            f"another keepalived runs (pid {text.strip()}, {pid_file}), probably the "
            "distribution's service; stop it first: systemctl disable --now keepalived",
        )


def read_status(
    spec: ClusterSpec,
    node: str,
    backend: BackendName | None = None,
    layout: Layout = REAL_DIRECTOR,
) -> DirectorStatus:
    """The director against ``spec``: drift per apply step, keepalived, the IPVS pool.

    With keepalived owning the table, the real servers missing from it are probed once with
    their own health checks, to tell "down, rightly removed" from drift.
    """
    desired = desired_state(spec, node, backend, layout, service_manager(layout.root))
    live = read_live(desired, layout, table=True)
    plan = make_director_plan(desired, live)
    table = live.ipvs
    down: dict[tuple[str, int], str] | None = None
    if spec.ipvs == "keepalived":
        missing = {e.server for e in pool_report(spec, table, {}) if e.state == "missing"}
        jobs = [job for job in checks_in(spec) if job.server in missing]
        verdicts = asyncio.run(run_round(jobs)) if jobs else []
        down = {(v.job.address, v.job.port or 0): v.reason for v in verdicts if not v.ok}
    keepalived = keepalived_on_this_machine(node, layout)
    return DirectorStatus(
        node=node,
        ipvs_owner="keepalived" if spec.ipvs == "keepalived" else "cluster apply (ipvs: direct)",
        drift=[step for step, _ in plan.parts() if step != "keepalived"],
        keepalived_pids=keepalived.pids(),
        vrrp=current_states(keepalived.events()),
        pool=pool_report(spec, table, down),
        unit=KEEPALIVED if desired.boot is not None else "",
    )
