"""The pure half of ``cluster apply``: what it plans for a director, given what it has."""

from __future__ import annotations

from dataclasses import replace

from cluster.director.plan import Desired, Layout, Live, desired_state, make_director_plan
from cluster.director.status import DirectorStatus, pool_report
from cluster.ipvs.table import desired_table
from cluster.spec import load_seed_spec

SPEC = load_seed_spec()
LAB_ROOT = Layout("/srv/lab/director01")


def live_as(desired: Desired, running: bool = True, vrrp_only: bool = False) -> Live:
    """A director on which an earlier apply of ``desired`` succeeded."""
    return Live(
        sysctls=dict(desired.sysctls),
        sysctl_conf=desired.sysctl_conf,
        firewall=desired.firewall,
        ipvs=desired.ipvs or desired_table(SPEC),
        keepalived_conf=desired.keepalived_conf,
        keepalived_running=running,
        keepalived_vrrp_only=vrrp_only,
    )


def test_a_bare_director_gets_every_step_in_order() -> None:
    desired = desired_state(SPEC, "director01", "iptables", LAB_ROOT)
    plan = make_director_plan(desired, Live.nothing("iptables"))
    assert [step for step, _ in plan.parts()] == [
        "sysctl", "firewall", "keepalived.conf", "keepalived", "sysctl.d",
    ]  # fmt: skip
    text = plan.text()
    assert "~ net.ipv4.ip_forward = (missing) -> 1" in text
    assert "+-A LVS-INPUT" in text and "+++ keepalived.conf (spec)" in text
    assert f"notify_fifo {LAB_ROOT.run_dir}/notify.fifo" in desired.keepalived_conf


def test_an_applied_director_has_no_changes() -> None:
    desired = desired_state(SPEC, "director02")
    plan = make_director_plan(desired, live_as(desired))
    assert plan.empty and plan.text() == "director02: no changes\n"


def test_only_what_differs_is_planned() -> None:
    desired = desired_state(SPEC, "director01")
    sysctls = {**desired.sysctls, "net.ipv4.conf.eth1.send_redirects": "1"}
    live = replace(live_as(desired), sysctls=sysctls, keepalived_conf="! old\n")
    plan = make_director_plan(desired, live)
    assert plan.sysctls == {"net.ipv4.conf.eth1.send_redirects": ("1", "0")}
    assert [step for step, _ in plan.parts()] == ["sysctl", "keepalived.conf", "keepalived"]
    assert plan.keepalived_action == "reload"
    assert "-! old" in plan.text()


def test_direct_mode_plans_the_table_and_restarts_keepalived_with_minus_p() -> None:
    direct = SPEC.model_copy(update={"ipvs": "direct"})
    desired = desired_state(direct, "director01")
    assert desired.vrrp_only and desired.ipvs is not None
    # keepalived ran with checkers, which made the same services: its restart removes them
    plan = make_director_plan(desired, live_as(desired, vrrp_only=False))
    assert plan.keepalived_action == "restart"
    assert [step for step, _ in plan.parts()][-2:] == ["keepalived", "ipvs"]
    assert len(plan.ipvs) == 5  # two services, three real servers
    settled = make_director_plan(desired, live_as(desired, vrrp_only=True))
    assert settled.empty


def test_a_weight_change_is_one_set() -> None:
    direct = SPEC.model_copy(update={"ipvs": "direct"})
    desired = desired_state(direct, "director01")
    live = live_as(desired, vrrp_only=True)
    web = live.ipvs.services[0]
    lighter = replace(
        web, destinations=(replace(web.destinations[0], weight=5), *web.destinations[1:])
    )
    live = replace(live, ipvs=replace(live.ipvs, services=(lighter, *live.ipvs.services[1:])))
    plan = make_director_plan(desired, live)
    assert [(c.op, str(c.dest)) for c in plan.ipvs] == [("set", "192.168.170.25:80 NAT weight 1")]


def test_status_separates_down_from_drift() -> None:
    table = desired_table(SPEC)
    web = table.services[0]
    live = replace(table, services=(replace(web, destinations=()), table.services[1]))
    down = {("192.168.170.35", 80): "refused"}
    states = {(e.server, e.state) for e in pool_report(SPEC, live, down)}
    assert ("192.168.170.25:80", "missing") in states  # its check passes: drift
    assert ("192.168.170.35:80", "down") in states  # keepalived rightly took it out
    report = pool_report(SPEC, live, down)
    status = DirectorStatus("director01", "keepalived", [], {"parent": 1, "vrrp": 2}, {}, report)
    assert not status.healthy and "missing (its check passes)" in status.text()
    fine = pool_report(
        SPEC,
        replace(
            live, services=(replace(web, destinations=web.destinations[:1]), table.services[1])
        ),
        down,
    )
    assert DirectorStatus(
        "director01", "keepalived", [], {"parent": 1, "vrrp": 2}, {}, fine
    ).healthy


def test_handing_the_table_back_to_keepalived_clears_it_first() -> None:
    desired = desired_state(SPEC, "director01")  # ipvs: keepalived
    live = live_as(desired, vrrp_only=True)  # keepalived -P, and apply's own table
    plan = make_director_plan(desired, live)
    assert plan.keepalived_action == "restart" and plan.ipvs_first
    assert [step for step, _ in plan.parts()] == ["ipvs", "keepalived"]
    assert {(c.op, c.dest) for c in plan.ipvs} == {("del", None)}  # whole services, then gone
