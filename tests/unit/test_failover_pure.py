"""The pure side of failover: VRRP theory, outage windows, the spec variants and their configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.failover import outage, theory
from cluster.keepalived.importer import import_keepalived_confs
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import parse_file
from cluster.spec import load_seed_spec
from cluster.spec.variants import article, split, sync_daemon, variant

ARTICLE = Path(__file__).parents[1] / "data" / "article"


@pytest.mark.parametrize(
    ("priority", "advert", "version", "down", "skew"),
    [
        (50, 1, 3, 3.8046875, 0.8046875),
        (50, 0.1, 3, 0.38046875, 0.08046875),
        (50, 5, 2, 15.8046875, 0.8046875),
        (50, 0.1, 2, 3.8046875, 0.8046875),  # v2 rounds the advert up to 1 s
        (254, 1, 2, 3.0078125, 0.0078125),
    ],
)
def test_master_down_interval_and_skew(
    priority: int, advert: float, version: int, down: float, skew: float
) -> None:
    assert theory.master_down_interval(priority, advert, version) == pytest.approx(down)
    assert theory.skew_time(priority, advert, version) == pytest.approx(skew)


def test_takeover_window_spans_one_advert_for_a_silent_master() -> None:
    low, high = theory.takeover_window(50, 1, 3)
    assert high - low == pytest.approx(1)
    stop = theory.takeover_window(50, 0.1, 3, graceful=True)
    assert stop == pytest.approx((0.0805, 0.0805), abs=1e-3)


def _probe(pattern: str, start: float = 0.0) -> list[list[object]]:
    """A sample every 10 ms: '.' answered in 5 ms, 'x' timed out after 0.5 s."""
    return [
        [start + n * 0.01, 0.005 if c == "." else 0.5, "ok" if c == "." else "timeout", ""]
        for n, c in enumerate(pattern)
    ]


def test_outage_spans_the_gap_between_answers() -> None:
    samples = _probe("." * 100 + "x" * 50 + "." * 100)
    (found,) = outage.outages(samples, min_gap=0.1)
    assert found.duration == pytest.approx(0.51)  # last answer at 0.995, next at 1.505
    assert found.failed == 50 and not found.open
    summary = outage.summarize(samples, fault_at=1.0)
    assert summary["outage_failed"] == 50 and summary["failed"] == 50


def test_an_outage_that_never_ends_is_open() -> None:
    samples = _probe("." * 100 + "x" * 100)
    summary = outage.summarize(samples, fault_at=1.0)
    assert summary["outage_open"]


def test_noise_before_the_fault_is_not_the_faults_outage() -> None:
    samples = _probe("." * 50 + "x" * 15 + "." * 100 + "x" * 40 + "." * 50)
    summary = outage.summarize(samples, fault_at=1.6)
    assert summary["outage_failed"] == 40
    assert len(summary["other_outages"]) == 1


def test_article_variant_is_the_articles_own_vrrp_section() -> None:
    """The experiment's "article" layout equals what the importer reads from the article."""
    imported, _ = import_keepalived_confs(
        [parse_file(ARTICLE / "director01.conf"), parse_file(ARTICLE / "director02.conf")]
    )
    ours = variant(load_seed_spec(), "article", 5, 2)
    strip = {"notify"}  # the article's arping script: keepalived sends the GARPs itself
    theirs = {i.name: i.model_dump(exclude=strip) for i in imported.vrrp.instances}
    assert {i.name: i.model_dump(exclude=strip) for i in ours.vrrp.instances} == theirs
    assert [set(g.instances) for g in ours.vrrp.sync_groups] == [
        set(g.instances) for g in imported.vrrp.sync_groups
    ]


def test_split_has_no_sync_group_and_no_tracking() -> None:
    conf = render_keepalived_conf(split(load_seed_spec()), "director01")
    assert "vrrp_sync_group" not in conf and "track_interface" not in conf
    assert "track_interface" not in render_keepalived_conf(article(load_seed_spec()), "director01")


def test_sync_daemon_renders_in_global_defs() -> None:
    conf = render_keepalived_conf(sync_daemon(load_seed_spec()), "director02", "/run/k.fifo")
    global_defs = conf.split("global_defs {")[1].split("}")[0]
    assert "lvs_sync_daemon eth1 VI_INTERNAL" in global_defs
    assert "notify_fifo /run/k.fifo" in global_defs


@pytest.mark.keepalived
def test_variants_pass_keepalived_t(root_with_keepalived: None) -> None:
    from cluster.keepalived.process import check_config

    for spec in (
        variant(load_seed_spec(), "article", 1, 2),
        variant(load_seed_spec(), "split", 0.1, 3, sync=True),
    ):
        result = check_config(render_keepalived_conf(spec, "director01", "/tmp/k.fifo"),
                              ["eth0", "eth1"])  # fmt: skip
        assert result.clean, result.output


def test_the_outage_is_the_gap_in_which_the_vip_moved() -> None:
    """A stall right at the fault is not the outage; the gap spanning the takeover is."""
    samples = _probe("." * 100 + "xxxx" + "." * 6 + "x" * 30 + "." * 50)
    summary = outage.summarize(samples, fault_at=1.0, moved_at=1.3)
    assert summary["outage_failed"] == 34  # the stall's 4 requests were still waiting in it
    assert summary["other_outages"] and summary["other_outages"][0] < 0.1


def test_graceful_stop_is_timed_from_the_master_letting_go() -> None:
    """The skew starts at the priority-0 advert (the master drops its VIPs right after it),
    not at the SIGTERM: the service is back 0.83 s after the first VIP left, not 0.86 s."""
    samples = _probe("." * 100 + "x" * 83 + "." * 50)
    trial = {"left_master_s": {"vip": 0.03, "dip": 0.031}, "takeover_s": {"vip": 0.82}}
    trial |= outage.summarize(samples, fault_at=1.0)
    assert trial["outage_end_after_fault_s"] == pytest.approx(0.835)
    assert outage.back_after_release(trial) == pytest.approx(0.805)
    assert outage.back_after_release(trial | {"left_master_s": {"vip": None}}) is None


def test_a_killed_vrrp_child_ends_at_the_first_takeover() -> None:
    """The backup waits as after a crash; a child restarted early enough wins instead."""
    assert theory.vrrp_child_window(100, 50, 1, 3, 0.3) == theory.takeover_window(50, 1, 3)
    low, high = theory.vrrp_child_window(100, 50, 0.1, 3, respawn=0.0)
    assert (low, high) == pytest.approx((0.2805, 0.3609), abs=1e-4)


def test_first_change_finds_a_vip_arriving_and_leaving() -> None:
    changes = [
        outage.AddressChange(1.0, "director01", "eth0", "vip", added=False),
        outage.AddressChange(1.8, "director02", "eth0", "vip", added=True),
        outage.AddressChange(3.9, "director01", "eth0", "vip", added=True),
    ]
    assert outage.first_change(changes, "vip", "director01", 0.5, added=False) == 1.0
    assert outage.first_change(changes, "vip", "director01", 0.5) == 3.9
    assert outage.first_change(changes, "vip", "director02", 2.0) is None
