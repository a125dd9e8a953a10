"""``cluster apply`` under systemd: the plan for what brings a director back after a reboot."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from test_director_plan import live_as as applied

from cluster.director.boot import EVENTS, FIREWALL, KEEPALIVED
from cluster.director.plan import Desired, Layout, Live, desired_state, make_director_plan
from cluster.firewall import BackendName
from cluster.spec import ClusterSpec, load_seed_spec

SPEC = load_seed_spec()
DEBIAN_DEFAULT = ("/usr/sbin/keepalived", "--dont-fork")  # the unit with an empty DAEMON_ARGS


def systemd_desired(spec: ClusterSpec = SPEC, backend: BackendName = "iptables") -> Desired:
    return desired_state(spec, "director01", backend, manager="systemd")


def live_as(desired: Desired) -> Live:
    """A systemd director on which an earlier apply of ``desired`` succeeded."""
    assert desired.boot is not None
    return replace(
        applied(desired, vrrp_only=desired.vrrp_only),
        keepalived_argv=(*DEBIAN_DEFAULT, *desired.boot.options),
        boot_files={**desired.boot.service, **desired.boot.files},
        enabled=dict.fromkeys(desired.boot.enabled, True),
    )


def test_a_bare_systemd_director_gets_its_boot_files_and_units() -> None:
    desired = systemd_desired()
    plan = make_director_plan(desired, Live.nothing("iptables"))
    assert [step for step, _ in plan.parts()] == [
        "sysctl", "firewall", "keepalived.conf", "keepalived.service", "keepalived", "boot",
        "sysctl.d",
    ]  # fmt: skip
    assert plan.enable == (KEEPALIVED, FIREWALL)
    text = plan.text()
    assert "+++ /etc/systemd/system/keepalived.service.d/lvs-cluster.conf (spec)" in text
    assert "+++ /etc/modules-load.d/lvs-cluster.conf (spec)" in text
    assert "+++ /etc/lvs-cluster/iptables.rules (spec)" in text
    boot = dict(plan.parts())["boot"]
    assert boot.endswith(f"enable {KEEPALIVED}\nenable {FIREWALL}\n")


def test_an_applied_systemd_director_has_no_changes() -> None:
    desired = systemd_desired()
    plan = make_director_plan(desired, live_as(desired))
    assert plan.empty, plan.text()


def test_keepalived_with_the_distributions_options_is_restarted_with_ours() -> None:
    desired = systemd_desired()
    live = replace(live_as(desired), keepalived_argv=DEBIAN_DEFAULT)
    plan = make_director_plan(desired, live)
    assert plan.keepalived_action == "restart"
    assert "restart keepalived (its options changed)" in plan.text()


def test_a_changed_config_is_a_reload_not_a_restart() -> None:
    desired = systemd_desired()
    live = replace(live_as(desired), keepalived_conf="! older\n")
    plan = make_director_plan(desired, live)
    assert plan.keepalived_action == "reload"
    assert [step for step, _ in plan.parts()] == ["keepalived.conf", "keepalived"]


def test_vrrp_only_is_an_option_of_the_unit() -> None:
    direct = SPEC.model_copy(update={"ipvs": "direct"})
    desired = systemd_desired(direct)
    assert desired.boot is not None and desired.boot.options[-1] == "-P"
    drop_in = desired.boot.service["/etc/systemd/system/keepalived.service.d/lvs-cluster.conf"]
    assert 'Environment="DAEMON_ARGS=-D -f /etc/keepalived/keepalived.conf' in drop_in
    assert drop_in.rstrip().endswith(' -P"') and "EnvironmentFile=\n" in drop_in
    # keepalived ran with its checkers: -P needs a restart, and the drop-in says so
    before = systemd_desired()
    live = live_as(before)
    plan = make_director_plan(desired, live)
    assert plan.keepalived_action == "restart"
    assert [e.name for e in plan.service_files] == [
        "/etc/systemd/system/keepalived.service.d/lvs-cluster.conf"
    ]


def test_a_unit_disabled_by_hand_is_drift_that_apply_enables() -> None:
    desired = systemd_desired()
    live = replace(live_as(desired), enabled={KEEPALIVED: True, FIREWALL: False})
    plan = make_director_plan(desired, live)
    assert plan.parts() == [("boot", f"enable {FIREWALL}\n")]


def test_the_modules_are_the_specs_schedulers() -> None:
    services = [vs.model_copy(update={"scheduler": s}) for vs, s in
                zip(SPEC.virtual_services, ("wlc", "sh"), strict=True)]  # fmt: skip
    desired = systemd_desired(SPEC.model_copy(update={"virtual_services": services}))
    assert desired.boot is not None
    modules = desired.boot.files["/etc/modules-load.d/lvs-cluster.conf"]
    assert [line for line in modules.splitlines() if not line.startswith("#")] == [
        "ip_vs", "ip_vs_sh", "ip_vs_wlc",
    ]  # fmt: skip


def test_without_a_service_manager_nothing_changes_for_boot() -> None:
    desired = desired_state(SPEC, "director01", "iptables", Layout("/srv/lab/director01"))
    assert desired.boot is None
    plan = make_director_plan(desired, Live.nothing("iptables"))
    assert not plan.service_files and not plan.boot_files and not plan.enable


def unit_commands(unit: str, key: str) -> list[list[str]]:
    """The command lines of ``key`` (ExecStart, ExecStartPre) in a unit's text, as a shell
    splits them: the firewall's are plain words, which both read alike."""
    return [
        shlex.split(line.split("=", 1)[1].removeprefix("-"))
        for line in unit.splitlines()
        if line.startswith(f"{key}=")
    ]


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_the_firewall_unit_loads_our_own_files(backend: BackendName) -> None:
    desired = systemd_desired(backend=backend)
    assert desired.boot is not None
    unit = desired.boot.files[f"/etc/systemd/system/{FIREWALL}"]
    loads = unit_commands(unit, "ExecStart")
    files = [argv[-1] for argv in loads]
    assert files == [p for p in desired.boot.files if p.startswith("/etc/lvs-cluster/")]
    if backend == "nftables":
        assert loads == [["nft", "-f", "/etc/lvs-cluster/nft.rules"]]
        assert desired.boot.files[files[0]].startswith(
            "table inet lvs_cluster\ndelete table inet lvs_cluster\n"
        )
    else:
        assert loads[0] == ["iptables-restore", "--noflush", "/etc/lvs-cluster/iptables.rules"]
        assert ["iptables", "-t", "nat", "-D", "POSTROUTING", "-j", "LVS-POSTROUTING"] in (
            unit_commands(unit, "ExecStartPre")
        )
    assert "After=local-fs.target systemd-modules-load.service nftables.service" in unit


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """systemd's own parser, offline: every line of our units means something to it."""
    desired = systemd_desired()
    assert desired.boot is not None
    units = {**desired.boot.service, **desired.boot.files}
    names = [EVENTS, FIREWALL]
    for name in names:
        (tmp_path / name).write_text(units[f"/etc/systemd/system/{name}"])
    done = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", *(str(tmp_path / name) for name in names)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
