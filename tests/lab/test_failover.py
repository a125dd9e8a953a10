"""Director failover with the real keepalived on both lab directors, measured from a client.

Each assertion is a real outcome: a client's outage against VRRP theory, where the VIPs end
up after a pulled cable, established connections that live through a failover, and the
mails keepalived sends to the lab's SMTP sink. Trials are few (3) to keep the module near
three minutes; ``cluster bench failover`` runs the same trials with more.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cluster.failover import bench, outage, theory
from cluster.lab import Lab, directors, faults
from cluster.spec import load_seed_spec
from cluster.spec.variants import variant

TRIALS = 3


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def cluster(lab: Lab) -> Iterator[Lab]:
    yield lab
    faults.clear(lab)
    if directors.current_spec(lab) is not None:
        directors.stop(lab)


def _wait_for_mail(lab: Lab, before: int, words: tuple[str, ...]) -> None:
    """Wait until a mail after the first ``before`` has every one of ``words`` in its subject."""
    deadline, subjects = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        subjects = [m.subject for m in lab.mails()[before:]]
        if any(all(w in s for w in words) for s in subjects):
            return
        time.sleep(0.5)
    raise AssertionError(f"no mail with {words}; got {subjects}")


def test_master_dies_within_theory(cluster: Lab) -> None:
    """advert_int 1, VRRPv3, priorities 100/50: every outage within theory + 0.3 s; the new
    master's keepalived mails its state change to the SMTP sink."""
    scenario = bench.Scenario("dies", advert_int=1, version=3)
    high = theory.master_down_interval(50, 1, 3)
    before = len(cluster.mails())
    for _ in range(TRIALS):
        result = bench.trial(cluster, scenario, _quiet)
        assert 0 < result["outage_s"] <= high + 0.3, result["outage_s"]
        assert not result["outage_open"]
        low, _ = result["theory_window_s"]
        for vip, took in result["takeover_s"].items():
            assert took is not None and low - 0.05 <= took <= high + 0.3, (vip, took)
    _wait_for_mail(cluster, before, ("[DIRECTOR02] VRRP Group VG1", "Entering MASTER state"))


def test_graceful_stop_within_skew(cluster: Lab) -> None:
    """The skew runs from the priority-0 advert, which keepalived sends right before it
    drops its VIPs (5-60 ms after the SIGTERM in the guest): from there the backup holds the
    VIPs, and the client has its first good answer again, within skew + 0.1 s."""
    scenario = bench.Scenario("stop", advert_int=1, version=3)
    skew = theory.skew_time(50, 1, 3)
    for _ in range(TRIALS):
        result = bench.trial(cluster, scenario, _quiet)
        released = min(result["left_master_s"].values())
        took = [t - released for t in result["takeover_s"].values()]
        assert all(skew - 0.05 <= t <= skew + 0.1 for t in took), (released, took)
        back = outage.back_after_release(result)
        assert back is not None and back <= skew + 0.1, back


def test_killed_vrrp_child_is_restarted_and_takes_the_vips_back(cluster: Lab) -> None:
    """No priority 0: the service is back when the backup's timer or the restarted
    child's own master-down interval runs out, and the master ends up holding all."""
    result = bench.trial(cluster, bench.Scenario("vrrp-child", advert_int=1, version=3), _quiet)
    states = [e["state"] for e in result["vrrp_events"]
              if e["node"] == "director01" and e["kind"] == "INSTANCE"]  # fmt: skip
    # the parent never stopped (no STOP); its new child came up as backup and won again
    assert "STOP" not in states and states[:2] == ["BACKUP", "BACKUP"], states
    assert states[-2:] == ["MASTER", "MASTER"], states
    respawn = min(result["left_master_s"].values())
    low, high = theory.vrrp_child_window(100, 50, 1, 3, respawn)
    back = result["outage_end_after_fault_s"]
    assert low - 0.05 <= back <= high + 0.3, (respawn, back)
    returned = result["returned_s"].values()
    assert all(t is not None and t >= respawn for t in returned), returned
    assert all(owners == ["director01"] for owners in result["holders_after"].values())
    assert result["service_at_end"]


def test_subsecond_preset_fails_over_in_under_half_a_second(cluster: Lab) -> None:
    scenario = bench.Scenario("dies", advert_int=0.1, version=3)
    for _ in range(TRIALS):
        result = bench.trial(cluster, scenario, _quiet)
        assert result["outage_s"] <= theory.master_down_interval(50, 0.1, 3) + 0.3


@pytest.mark.parametrize("link", ["eth0", "eth1"])
def test_fixed_config_moves_both_vips_on_a_single_link_pull(cluster: Lab, link: str) -> None:
    result = bench.trial(cluster, bench.Scenario("link-down", 1, 2, "fixed", link), _quiet)
    holders = result["holders_after"]
    assert all(owners == ["director02"] for owners in holders.values()), holders
    assert result["service_at_end"], (result["tail_failed"], result["vrrp_events"])


def test_without_sync_group_a_single_link_pull_splits_the_vips(cluster: Lab) -> None:
    """The article's "cluster service down": VIP on one director, DIP on the other."""
    result = bench.trial(cluster, bench.Scenario("link-down", 1, 2, "split", "eth1"), _quiet)
    assert result["holders_after"] == {
        "192.168.0.174": ["director01"],
        "192.168.170.1": ["director02"],
    }
    assert result["outage_open"] and not result["service_at_end"]


def test_connections_survive_failover_only_with_sync(cluster: Lab) -> None:
    """The master strikes once the backup holds all 10 (IPVS syncs in batches up to 2 s old);
    then every one lives on, and without sync none does."""
    synced = bench.connection_trial(cluster, True, conns=10, advert_int=1, progress=_quiet)
    assert synced["synced_to_backup_before"] == 10, synced["synced_after_s"]
    assert synced["survived"] == 10, synced["errors"]
    unsynced = bench.connection_trial(cluster, False, conns=10, advert_int=1, progress=_quiet)
    assert unsynced["survived"] < 10


def test_real_server_down_and_up_mail_the_sink(cluster: Lab) -> None:
    spec = variant(load_seed_spec(), "fixed", 1, 3)
    bench.ensure_cluster(cluster, spec, _quiet)
    before = len(cluster.mails())
    cluster.fault("realserver1", "down")
    try:
        _wait_for_mail(cluster, before, ("192.168.170.25", "DOWN"))
    finally:
        cluster.fault("realserver1", "clear")
    _wait_for_mail(cluster, before, ("192.168.170.25", "UP"))
