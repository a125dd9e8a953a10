"""The benchmarks' pure parts without a lab: counting and explaining a load run, the sweep's
plan and verdicts, ``bench compare``'s rule, and every chart drawn from a document."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from cluster.bench import compare, counts, plot, sweep
from cluster.errors import UsageError
from cluster.failover import plot as failover_plot
from cluster.ipvs.ipvsadm import Connection as Row
from cluster.lab.servers import AccessEntry

SERVERS = ["192.168.170.25", "192.168.170.35"]
NAMES = {"realserver1": "192.168.170.25:80", "realserver2": "192.168.170.35:80"}
PROVENANCE = {"time": "2026-11-29T23:00:00+0000", "code": {"revision": "abc1234", "dirty": False},
              "host": {"cpu_model": "Test CPU", "cpus": 2},
              "lab": {"mode": "uml", "kernel": "6.1.176", "pinned_cpus": [0]}}  # fmt: skip


# --- counting a load run ------------------------------------------------------------------


def test_reconcile_names_connections_no_server_saw_and_keep_alive() -> None:
    rows = [Row("TCP", f"203.0.113.11:{p}", "192.168.0.174:80", "a:80", "TIME_WAIT", 100)
            for p in (1, 2)]  # fmt: skip
    served = {"a:80": [AccessEntry(0, "203.0.113.11", 1, 80, 5),
                       AccessEntry(0, "203.0.113.11", 2, 80, 5)]}  # fmt: skip
    found = counts.reconcile(counts.table_by_client(rows, "192.168.0.174:80"), served,
                             {"a:80": 3}, complete=10)  # fmt: skip
    assert found["fates"] == {"keep-alive": 2, "not accepted": 1}
    assert found["server_requests"] == {"a:80": 10}
    assert any("never reached a server program" in line for line in found["explained"])


def test_reconcile_says_when_ab_and_the_servers_disagree() -> None:
    served = {"a:80": [AccessEntry(0, "203.0.113.11", 1, 80, 1)]}
    rows = {"203.0.113.11:1": Row("TCP", "203.0.113.11:1", "v:80", "b:80", "TIME_WAIT", 1)}
    found = counts.reconcile(rows, served, {"a:80": 1}, complete=0)
    assert found["fates"] == {"other server": 1}
    assert found["explained"][-1].endswith("ab counted 0 complete, +1 against the servers")


def test_latency_wants_the_whole_table() -> None:
    with pytest.raises(Exception, match="100 percentiles"):
        counts.latency([1.0] * 100)


# --- the sweep ------------------------------------------------------------------------------


def test_default_runs_cover_the_issue_and_fit_the_ports() -> None:
    sources = [f"203.0.113.{n}" for n in range(100, 160)]
    runs = sweep.default_runs(sources, 60)
    assert len(runs) <= len(sweep.PORTS) // 2  # two sweeps in a row need not wait
    weights = {(r.scheduler, r.weights) for r in runs}
    assert {("rr", w) for w in sweep.WEIGHT_SETS} | {
        ("wrr", w) for w in sweep.WEIGHT_SETS
    } <= weights
    assert {r.scheduler for r in runs} >= {"lc", "wlc", "sh", "mh"}
    lc = next(r for r in runs if r.scheduler == "lc")
    assert len({c.source for c in lc.connections}) == 60 and any(c.hold for c in lc.connections)
    sticky = next(r for r in runs if r.persistence)
    assert len(sticky.connections) == 4 * len({c.source for c in sticky.connections})
    moved = runs[0].on(sweep.PORTS[3])
    ports = [c.port for c in moved.connections]
    assert ports[0] == sweep.FIRST_SOURCE_PORT + 3 * sweep.PORTS_PER_RUN and len(set(ports)) == 60
    with pytest.raises(UsageError):
        sweep.default_runs(sources, sweep.PORTS_PER_RUN + 1)


def _measured(run: sweep.Run, servers: list[str]) -> list[dict[str, Any]]:
    by_address = {v.split(":")[0]: k for k, v in NAMES.items()}
    return [
        {"source": c.source, "port": c.port, "at": i * 0.01, "done": i * 0.01 + 0.002,
         "latency_s": 0.002, "outcome": "ok", "server": by_address[str(a.server.address)]}
        for i, (c, a) in enumerate(zip(run.connections, sweep.predict_run(run, servers, 80),
                                       strict=True))
    ]  # fmt: skip


def test_judge_is_exact_only_when_every_connection_matches() -> None:
    run = sweep.default_runs([f"203.0.113.{n}" for n in range(100, 112)], 12)[4]  # wrr 1:2
    measured = _measured(run, SERVERS)
    verdict = sweep.judge(run, SERVERS, 80, measured, NAMES)
    assert verdict["exact"] and verdict["predicted_split"] == verdict["measured_split"]
    measured[3]["server"] = (
        "realserver1" if measured[3]["server"] == "realserver2" else "realserver2"
    )
    wrong = sweep.judge(run, SERVERS, 80, measured, NAMES)
    assert not wrong["exact"] and len(wrong["mismatches"]) == 1
    counters = sweep.held_counters(run, SERVERS, 80)
    assert not sweep.judge(run, SERVERS, 80, _measured(run, SERVERS), NAMES,
                           {k: [v[0] + 1, v[1]] for k, v in counters.items()})["exact"]  # fmt: skip


# --- bench compare --------------------------------------------------------------------------


def _load(rps: list[float], p50: list[float], failed: int = 0) -> dict[str, Any]:
    runs = [{"requests_per_s": r, "latency_ms": {"p50": p}} for r, p in zip(rps, p50, strict=True)]
    return {"benchmark": "load", "requests": 300, "concurrency": 30, "url": "http://v/",
            "failed": failed, "provenance": PROVENANCE, "runs": runs}  # fmt: skip


def test_compare_is_quiet_on_noise_and_unjudged_with_few_trials() -> None:
    rng = random.Random(7)
    quiet = 0
    for _ in range(200):
        a = _load(
            [800 + rng.gauss(0, 20) for _ in range(5)], [35 + rng.gauss(0, 1) for _ in range(5)]
        )
        b = _load(
            [800 + rng.gauss(0, 20) for _ in range(5)], [35 + rng.gauss(0, 1) for _ in range(5)]
        )
        quiet += not compare.compare(a, b).flagged
    assert quiet >= 195  # about one in 200 per figure, two figures
    few = compare.compare(_load([800, 810], [35, 36]), _load([400, 410], [70, 71]))
    assert {f.verdict for f in few.findings if "ms" in f.name or "/s" in f.name} == {"unjudged"}


def test_compare_flags_both_directions_and_exact_outcomes() -> None:
    base = _load([800, 810, 790], [35, 36, 34])
    faster = compare.compare(base, _load([1600, 1610, 1590], [17, 18, 16]))
    assert {(f.name, f.verdict) for f in faster.flagged} == {
        ("requests/s", "better"), ("latency p50 ms", "better")}  # fmt: skip
    sweep_a = {"benchmark": "sweep", "runs": [{"name": "rr 1:1", "exact": True,
                                               "measured_split": {"a": 6}}]}  # fmt: skip
    sweep_b = {"benchmark": "sweep", "runs": [{"name": "rr 1:1", "exact": False,
                                               "measured_split": {"a": 5}}]}  # fmt: skip
    assert len(compare.compare(sweep_a, sweep_b).flagged) == 2
    text = compare.report(faster, "a.json", "b.json")
    assert "uml 6.1.176" in text and "2 beyond the noise" in text
    with pytest.raises(UsageError, match="compare like with like"):
        compare.compare(base, sweep_a)
    with pytest.raises(UsageError, match="cannot compare"):
        compare.compare({"benchmark": "x"}, {"benchmark": "x"})


def test_compare_reads_every_benchmarks_documents() -> None:
    failover = _failover()
    documents = [
        failover,
        {"benchmark": "failover-connections", "trials": {"sync": [{"survived_share": 1.0}] * 3}},
        {"benchmark": "failover-cable", "cells": [
            {"layout": "fixed", "on": "master", "fault": "link-down", "links": "eth0",
             "verdicts": ["both VIPs on director02, service ok"]}]},
        {"benchmark": "ipvs", "sizes": [{"services": 1000, "other_entries_unchanged": True,
                                         "runs": [{"ours_in_process_s": 0.1,
                                                   "weight_change_ms": 0.5}]}]},
        {"lab_up_s": 4.2, "agent_ping": {"samples_ms": [0.8, 0.9, 1.0]}},
        {"benchmark": "one round of health checks against the lab's real servers",
         "endpoints": 100, "rounds": [{"kind": "TCP_CHECK", "checks": 100, "up": 100,
                                       "wall_s": 0.5, "cpu_s": 0.2}]},
    ]  # fmt: skip
    for doc in documents:
        same = compare.compare(doc, doc)
        assert same.findings and not same.flagged, compare.kind(doc)
    later = failover | {"trials": [t | {"outage_s": 3.0} for t in failover["trials"]]}
    assert [f.name for f in compare.compare(failover, later).flagged] == [
        "dies-fixed-v3-adv0.1: client outage s"
    ]


# --- charts ---------------------------------------------------------------------------------


def _failover() -> dict[str, Any]:
    def trial(n: int) -> dict[str, Any]:
        at = 1000.0 + 100 * n
        samples = [[at - 1 + i * 0.01, 0.002, "ok" if not 0 < i - 100 < 30 else "timeout", ""]
                   for i in range(300)]  # fmt: skip
        return {"fault_at": at, "outage_s": 0.3 + 0.01 * n, "outage_failed": 29,
                "takeover_s": {"192.168.0.174": 0.28}, "theory_window_s": [0.28, 0.38],
                "samples": samples, "address_changes": [
                    {"time": at + 0.28, "node": "director02", "interface": "eth0",
                     "address": "192.168.0.174", "added": True},
                    {"time": at + 0.3, "node": "director01", "interface": "eth0",
                     "address": "192.168.0.174", "added": False}]}  # fmt: skip

    return {"benchmark": "failover", "provenance": PROVENANCE,
            "scenario": {"name": "dies-fixed-v3-adv0.1", "fault": "dies", "advert_int": 0.1,
                         "version": 3},
            "priorities": {"director01": 100, "director02": 50}, "theory_window_s": [0.28, 0.38],
            "trials": [trial(n) for n in range(3)]}  # fmt: skip


def test_every_chart_draws_from_a_document(tmp_path: Path) -> None:
    load = _load([800, 810, 790], [35, 36, 34]) | {
        "trials": 3,
        "keepalive": False,
        "complete": 900,
        "split": {"a:80": 450, "b:80": 450},
        "ipvs_split": {"a:80": 455, "b:80": 455},
        "servers": {"a:80": "rs1", "b:80": "rs2"},
    }
    for trial in load["runs"]:
        trial["percentiles_ms"] = [1 + p / 2 for p in range(101)]
        trial["latency_ms"] |= {"p90": 40.0}
    runs = sweep.default_runs([f"203.0.113.{n}" for n in range(100, 112)], 12)
    sweep_doc = {"benchmark": "sweep", "provenance": PROVENANCE, "servers": {
        v: k for k, v in NAMES.items()}, "runs": [
        sweep.judge(r, SERVERS, 80, _measured(r, SERVERS), NAMES) for r in runs]}  # fmt: skip
    medians = [{"ipvsadm_restore_s": n / 250, "ours_process_s": n / 1000,
                "ours_in_process_s": n / 10000, "weight_change_ms": 0.7, "read_plan_apply_ms": 3.0}
               for n in (1000, 10000, 50000)]  # fmt: skip
    sizes = [{"services": n, "median": m}
             for n, m in zip((1000, 10000, 50000), medians, strict=True)]  # fmt: skip
    ipvs = {"benchmark": "ipvs", "provenance": PROVENANCE, "sizes": sizes}
    drawn = [*plot.charts(load, tmp_path / "load"), *plot.charts(sweep_doc, tmp_path / "sweep"),
             *plot.charts(ipvs, tmp_path / "ipvs"),
             *failover_plot.chart([_failover()], tmp_path / "failover")]  # fmt: skip
    assert {p.name for p in drawn} >= {"load-split.svg", "load-latency.png", "sweep-split.png",
                                       "ipvs-scale.svg", "failover.png",
                                       "failover-timeline-1.svg"}  # fmt: skip
    svg = (tmp_path / "ipvs-scale.svg").read_text()
    assert "uml 6.1.176" in svg and "Test CPU" in svg  # where it ran, in the footer
    with pytest.raises(UsageError):
        plot.charts({"benchmark": "failover"}, tmp_path / "x")
